"""An account's phones and third-party contacts, made to match the lender's latest file.

Contact attempts name the third party they reached (a foreign key), and the conduct ledger counts contacts per
third party by that row's id, so a re-import must not swap the rows under them: a contact still in the file
keeps its row (matched by its phone's blind index, else by name) and takes the file's values and position; a new
one is added; one no longer in the file is deleted, or retired when an attempt names it (it stays for that
attempt's history and can no longer be picked). Nothing references a phone row: phones are simply replaced.
"""
import uuid
from collections import defaultdict

from sqlalchemy import bindparam, delete, insert, select, update
from sqlalchemy.exc import IntegrityError

from tenants.db import db
from tenants.pii import blind_index
from tenants.portfolios.models import AccountPhone, ThirdPartyContact
from tenants.portfolios.rows import AccountRecord, ThirdParty

PHONES = AccountPhone.__table__
CONTACTS = ThirdPartyContact.__table__
VALUE_COLUMNS = ("position", "name", "phone", "phone_index", "relationship_label")


def replace(tenant_id: uuid.UUID, by_account: dict[uuid.UUID, AccountRecord]) -> None:
    if not by_account:
        return
    _replace_phones(tenant_id, by_account)
    _match_third_parties(tenant_id, by_account)


def _replace_phones(tenant_id: uuid.UUID, by_account: dict[uuid.UUID, AccountRecord]) -> None:
    db.session.execute(delete(PHONES).where(PHONES.c.account_id.in_(list(by_account))))
    phones = [{"id": uuid.uuid4(), "tenant_id": tenant_id, "account_id": account_id, "position": i,
               "phone": phone, "phone_index": blind_index("phone", phone)}
              for account_id, record in by_account.items() for i, phone in enumerate(record.phones)]
    if phones:
        db.session.execute(insert(PHONES), phones)


def _identity(phone_index: str | None, name: str) -> tuple[str, str]:
    return ("phone", phone_index) if phone_index else ("name", name.strip())


def _match_third_parties(tenant_id: uuid.UUID, by_account: dict[uuid.UUID, AccountRecord]) -> None:
    rows = db.session.execute(select(CONTACTS.c.id, CONTACTS.c.account_id, CONTACTS.c.position,
                                     CONTACTS.c.phone_index, CONTACTS.c.name)
                              .where(CONTACTS.c.account_id.in_(list(by_account)))).all()
    kept, added, dropped = plan(tenant_id, by_account, rows)
    if kept:
        db.session.execute(update(CONTACTS).where(CONTACTS.c.id == bindparam("row_id")).values(
            {name: bindparam(name, type_=CONTACTS.c[name].type) for name in VALUE_COLUMNS}),
            [{"row_id": row["id"], **{name: row[name] for name in VALUE_COLUMNS}} for row in kept])
    if added:
        db.session.execute(insert(CONTACTS), added)
    remove(dropped)


def plan(tenant_id: uuid.UUID, by_account: dict[uuid.UUID, AccountRecord],
         on_file: list) -> tuple[list[dict], list[dict], list[uuid.UUID]]:
    """Match the file's contacts to the rows the accounts have (`on_file`: id, account_id, position, phone_index
    and the decrypted name): (rows kept, under their id, with the file's values; rows to add; ids no longer in
    the file and not yet retired)."""
    existing: dict[tuple[uuid.UUID, tuple[str, str]], list] = defaultdict(list)
    for row in sorted(on_file, key=lambda r: (r.position == ThirdPartyContact.RETIRED, r.position)):
        existing[(row.account_id, _identity(row.phone_index, row.name))].append(row)
    kept, added = [], []
    for account_id, record in by_account.items():
        for position, contact in enumerate(record.third_parties):
            values = _values(contact, position)
            same = existing.get((account_id, _identity(values["phone_index"], contact.name)))
            if same:  # a retired contact back in the file comes back to life, history and all
                kept.append({"id": same.pop(0).id, "tenant_id": tenant_id, "account_id": account_id, **values})
            else:
                added.append({"id": uuid.uuid4(), "tenant_id": tenant_id, "account_id": account_id, **values})
    dropped = [row.id for left in existing.values() for row in left if row.position != ThirdPartyContact.RETIRED]
    return kept, added, dropped


def _values(contact: ThirdParty, position: int) -> dict:
    values = {"position": position, "name": contact.name, "phone": contact.phone,
              "phone_index": blind_index("phone", contact.phone) if contact.phone else None,
              "relationship_label": contact.relationship}
    return values


def remove(row_ids: list[uuid.UUID]) -> None:
    """Delete contacts dropped from the file; retire those an attempt names. The attempts may be another tenant's
    (the holding agency's), invisible here, so the database's foreign key is what tells them apart."""
    if not row_ids:
        return
    try:
        with db.session.begin_nested():
            db.session.execute(delete(CONTACTS).where(CONTACTS.c.id.in_(row_ids)))
        return
    except IntegrityError:
        pass
    for row_id in row_ids:
        try:
            with db.session.begin_nested():
                db.session.execute(delete(CONTACTS).where(CONTACTS.c.id == row_id))
        except IntegrityError:
            db.session.execute(update(CONTACTS).where(CONTACTS.c.id == row_id)
                               .values(position=ThirdPartyContact.RETIRED))
