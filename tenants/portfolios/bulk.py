"""An import batch's accounts, phones and third-party contacts, written set-wise.

On PostgreSQL a batch is COPied (psycopg's `copy`) into three staging tables of the session, then one statement
links the staged people to their subjects (`subject_link`, tenants.conduct.subjects), upserts the accounts
(`INSERT … SELECT … ON CONFLICT`) and adds the phones and third-party contacts of the accounts it created. COPY
cannot write a table under row-level security, which is why the rows pass through staging tables: the `INSERT …
SELECT` runs under the tenant's token like any other statement, so the policies still check every row. Python
sends only what the columns store (ciphertext from the key ring the columns' type uses, blind indexes, the file's
values) and reads back only what it acts on: the staged accounts the upsert did not create (updated, or left
alone) and the subjects a link merged.

The staging tables are made once per database session (`ON COMMIT DELETE ROWS`: empty again at every commit, so
also behind PgBouncer in transaction mode) rather than per batch, whose catalog work cost more than the rows did;
their names carry a digest of the models' columns, so a session kept across a schema change never stages into an
old shape.

Accounts a re-import updates take the longer way: their phones are replaced and their third-party contacts
matched to the rows they have (tenants.portfolios.contacts), in statements of their own.

Elsewhere (SQLite: the demo) the same answer comes from multi-row `INSERT … ON CONFLICT` statements.
"""
import hashlib
import json
import uuid
from collections.abc import Iterable
from contextlib import contextmanager
from datetime import timezone
from operator import attrgetter

from sqlalchemy import Table, and_, bindparam, select, true
from sqlalchemy.dialects import postgresql
from sqlalchemy.dialects.postgresql import ARRAY

from tenants.conduct import subjects
from tenants.db import db
from tenants.pii import blind_index, keyring
from tenants.portfolios import contacts, regions
from tenants.portfolios.models import Account, AccountPhone, AccountStatus, ImportJob, Portfolio, ThirdPartyContact
from tenants.portfolios.rows import AccountRecord

ACCOUNTS = Account.__table__
PHONES = AccountPhone.__table__
CONTACTS = ThirdPartyContact.__table__

ACCOUNT_FIELDS = ("debtor_name", "id_type", "id_number", "email", "address", "region", "time_zones",
                  "time_zone_source", "product", "currency", "original_minor", "principal_minor", "interest_minor",
                  "fees_minor", "penalty_minor", "loan_date", "due_date", "days_past_due", "last_payment_date",
                  "last_payment_minor", "charge_off_date", "limitation_date", "deceased", "bankrupt", "disputed",
                  "attorney", "cease_requested")
# What a re-import changes on an account it already holds: the file's values, never its status or history.
UPDATED_ON_CONFLICT = (*ACCOUNT_FIELDS, "portfolio_id", "last_import_id", "id_number_index", "subject_key",
                       "outstanding_minor", "updated_at")
ACCOUNT_COLUMNS = tuple(column.name for column in ACCOUNTS.columns)
PHONE_COLUMNS = ("id", "tenant_id", "account_id", "position", "phone", "phone_index")
CONTACT_COLUMNS = ("id", "tenant_id", "account_id", *contacts.VALUE_COLUMNS)

Written = dict[str, tuple[uuid.UUID, bool]]


def write(job: ImportJob, records: list[AccountRecord], now, *, moving: bool = False) -> Written:
    """Upsert the accounts by external_ref and make their phones and contacts match the file; answers
    external_ref → (account id, created?). A reference this import already wrote (an earlier batch or range), or
    one the lender holds in another portfolio, is left alone and missing from the answer (`held_elsewhere` tells
    the two apart): the upsert itself refuses them, so a batch costs no read beforehand. `moving`: the lender
    said to move such accounts into the import's portfolio (`imports.move_accounts`)."""
    if not records:
        return {}
    if db.session.get_bind().dialect.name == "postgresql":
        return _copy_path(job, records, now, moving)
    rows = [account_row(job, record, now) for record in records]
    phone_indexes = {record.external_ref: [blind_index("phone", phone) for phone in record.phones]
                     for record in records}
    _link_subjects(records, rows, phone_indexes)
    return _statement_path(job, records, rows, moving)


def held_elsewhere(job: ImportJob, refs: list[str]) -> dict[str, str]:
    """Which of these references the lender already holds in a portfolio other than the import's: reference →
    that portfolio's name. One indexed read (the lender's unique key on external_ref), for the few references
    an upsert left alone."""
    if not refs:
        return {}
    return dict(db.session.execute(
        select(ACCOUNTS.c.external_ref, Portfolio.name).join(Portfolio, Portfolio.id == ACCOUNTS.c.portfolio_id)
        .where(ACCOUNTS.c.tenant_id == job.tenant_id, ACCOUNTS.c.external_ref.in_(refs),
               ACCOUNTS.c.portfolio_id != job.portfolio_id)).all())


def account_row(job: ImportJob, record: AccountRecord, now) -> dict:
    row = {name: getattr(record, name) for name in ACCOUNT_FIELDS}
    if not record.region:  # most Chinese files have no region column: the ID or the mobile names the province
        row["region"] = regions.derive(record.id_type, record.id_number, record.phones)
    id_number_index = blind_index(f"id:{record.id_type}", record.id_number) if record.id_number else None
    row.update(
        id=uuid.uuid4(), tenant_id=job.tenant_id, external_ref=record.external_ref, portfolio_id=job.portfolio_id,
        last_import_id=job.id, subject_key=None, status=AccountStatus.OPEN,
        id_number_index=id_number_index,
        outstanding_minor=record.principal_minor + record.interest_minor + record.fees_minor + record.penalty_minor,
        created_at=now, updated_at=now,
    )
    return row


def _link_subjects(records: list[AccountRecord], rows: list[dict], phone_indexes: dict[str, list[str]]) -> None:
    """The person across every lender and agency: accounts sharing any identifier (resident ID, phone, email)
    with each other or with anything linked before get one subject, in one call for the batch."""
    keys = subjects.link({row["id"]: subjects.identifiers(row["id_number_index"], phone_indexes[record.external_ref],
                                                           record.email)
                          for record, row in zip(records, rows, strict=True)})
    for row in rows:
        row["subject_key"] = keys.get(row["id"])


def _answer(returned: Iterable, rows: list[dict]) -> Written:
    new_ids = {row["id"] for row in rows}  # an updated account keeps its old id: that tells created from updated
    return {ref: (account_id, account_id in new_ids) for account_id, ref in returned}


# ---- SQLite (and any other dialect) -------------------------------------------------------------------------

def _statement_path(job: ImportJob, records: list[AccountRecord], rows: list[dict], moving: bool) -> Written:
    from sqlalchemy.dialects.sqlite import insert

    statement = insert(ACCOUNTS)
    statement = statement.on_conflict_do_update(
        index_elements=[ACCOUNTS.c.tenant_id, ACCOUNTS.c.external_ref],
        set_={name: statement.excluded[name] for name in UPDATED_ON_CONFLICT},
        where=and_(ACCOUNTS.c.last_import_id.is_distinct_from(job.id),
                   true() if moving else ACCOUNTS.c.portfolio_id == statement.excluded.portfolio_id),
    ).returning(ACCOUNTS.c.id, ACCOUNTS.c.external_ref)
    written = _answer(db.session.execute(statement, rows), rows)
    by_ref = {record.external_ref: record for record in records}
    contacts.replace(job.tenant_id, {account_id: by_ref[ref] for ref, (account_id, _) in written.items()})
    return written


# ---- PostgreSQL ----------------------------------------------------------------------------------------------

# A staged account: the file's values as the columns store them, `seq` its place in the batch. What every account
# of a batch shares (tenant, portfolio, import, status, times) comes as statement parameters; the subject key and
# the balance are the statement's own work.
STAGED_ACCOUNT = ("seq", "id", "external_ref", *ACCOUNT_FIELDS, "id_number_index", "email_index")
STAGED_PHONE = ("seq", "position", "phone", "phone_index")
STAGED_CONTACT = ("seq", "id", "account_id", *contacts.VALUE_COLUMNS)
_ENCRYPTED = tuple(ACCOUNT_FIELDS.index(name) for name in ("debtor_name", "id_number", "email", "address"))
_ZONES, _REGION = ACCOUNT_FIELDS.index("time_zones"), ACCOUNT_FIELDS.index("region")
_file_values = attrgetter(*ACCOUNT_FIELDS)
EMAIL_POSITION = 1 << 30  # after every phone: a person's identifiers in subjects.identifiers' order


def _shape(*tables: Table) -> str:
    columns = [(table.name, [(column.name, repr(column.type)) for column in table.columns]) for table in tables]
    return hashlib.blake2s(repr(columns).encode(), digest_size=4).hexdigest()


_SHAPE = _shape(ACCOUNTS, PHONES, CONTACTS)
# Staged columns that are not the target's: the batch's order, the email's blind index (only the link reads it),
# and the zones as the JSON text Python wrote (binary COPY would take a str for a json column as a JSON string).
_OWN_COLUMNS = {"seq": ("0", "integer"), "email_index": ("NULL::text", "text"),
                "time_zones": ("t.time_zones::text", "text")}


class _Stage:
    """A staging table typed like the columns it feeds (CREATE TABLE AS takes their types, not constraints), filled
    by binary COPY: neither psycopg nor PostgreSQL writes or parses the values as text (measured: half the time of
    a text COPY on both sides)."""

    def __init__(self, name: str, table: Table, columns: tuple[str, ...]):
        self.name, self.columns = f"pg_temp.import_stage_{name}_{_SHAPE}", columns
        select_list = ", ".join(f"{_OWN_COLUMNS[c][0]} AS {c}" if c in _OWN_COLUMNS else f"t.{c}" for c in columns)
        self.create = (f"CREATE TEMPORARY TABLE {self.name} ON COMMIT DELETE ROWS AS "
                       f"SELECT {select_list} FROM public.{table.name} AS t WITH NO DATA")
        self.types = [_OWN_COLUMNS[c][1] if c in _OWN_COLUMNS else _type_name(table.c[c]) for c in columns]

    @contextmanager
    def copy(self, cursor):
        with cursor.copy(f"COPY {self.name} ({', '.join(self.columns)}) FROM STDIN (FORMAT BINARY)") as copy:
            copy.set_types(self.types)
            yield copy


def _type_name(column) -> str:
    """The column's PostgreSQL type as psycopg names it ("varchar" for VARCHAR(100))."""
    return column.type.compile(dialect=postgresql.dialect()).split("(")[0].lower()


STAGE_ACCOUNTS = _Stage("accounts", ACCOUNTS, STAGED_ACCOUNT)
STAGE_PHONES = _Stage("phones", PHONES, STAGED_PHONE)
STAGE_CONTACTS = _Stage("contacts", CONTACTS, STAGED_CONTACT)
STAGES = (STAGE_ACCOUNTS, STAGE_PHONES, STAGE_CONTACTS)
_CREATE_STAGES = "; ".join(stage.create for stage in STAGES)
# Emptied first: a transaction may write several batches before it commits (move_accounts, a test's savepoints).
_EMPTY_STAGES = "; ".join(f"DELETE FROM {stage.name}" for stage in STAGES)
A, P, C = STAGE_ACCOUNTS.name, STAGE_PHONES.name, STAGE_CONTACTS.name  # as the statements below name them

# A person's identifiers as subjects.identifiers lists them: resident ID, phones, email.
_IDENTIFIERS = (f"(SELECT s.id AS account, s.seq, 0 AS pos, s.id_number_index AS identifier "
                f"FROM {A} s WHERE s.id_number_index IS NOT NULL "
                f"UNION ALL SELECT s.id, s.seq, 1 + p.position, p.phone_index "
                f"FROM {P} p JOIN {A} s ON s.seq = p.seq "
                f"UNION ALL SELECT s.id, s.seq, {EMAIL_POSITION}, s.email_index "
                f"FROM {A} s WHERE s.email_index IS NOT NULL)")
_SHARED = {"tenant_id": "%(tenant_id)s", "portfolio_id": "%(portfolio_id)s", "last_import_id": "%(import_id)s",
           "status": "%(status)s", "created_at": "%(now)s", "updated_at": "%(now)s", "subject_key": "l.subject_key",
           "time_zones": "s.time_zones::json",
           "outstanding_minor": "s.principal_minor + s.interest_minor + s.fees_minor + s.penalty_minor"}


def _write_sql(*, moving: bool) -> str:
    """Link, upsert, add the created accounts' phones and contacts. Answers a row per staged account it did not
    create — (seq, the account's id when it updated one, else NULL: left alone) — and one per subject a link
    merged (NULL, NULL, the survivor, the subjects merged into it)."""
    names = ", ".join(ACCOUNT_COLUMNS)
    values = ", ".join(_SHARED.get(name, f"s.{name}") for name in ACCOUNT_COLUMNS)
    updates = ", ".join(f"{name} = EXCLUDED.{name}" for name in UPDATED_ON_CONFLICT)
    contact_values = ", ".join(f"t.{name}" for name in contacts.VALUE_COLUMNS)
    # The accounts in the order of the unique key: ranges of one import upserting at once lock rows in the same
    # order, so a reference in two of them makes one wait for the other, never a deadlock.
    return (f"WITH linked AS MATERIALIZED ({subjects.link_in_sql(_IDENTIFIERS)}), "
            f"up AS (INSERT INTO accounts ({names}) SELECT {values} "
            f"FROM {A} s LEFT JOIN linked l ON l.account_id = s.id ORDER BY s.external_ref "
            f"ON CONFLICT (tenant_id, external_ref) DO UPDATE SET {updates} "
            "WHERE accounts.last_import_id IS DISTINCT FROM %(import_id)s "
            + ("" if moving else "AND accounts.portfolio_id = EXCLUDED.portfolio_id ")
            + "RETURNING id, external_ref), "
            f"created AS (SELECT s.seq, s.id FROM up JOIN {A} s ON s.id = up.id), "
            f"phones AS (INSERT INTO account_phones ({', '.join(PHONE_COLUMNS)}) "
            "SELECT gen_random_uuid(), %(tenant_id)s, c.id, p.position, p.phone, p.phone_index "
            f"FROM created c JOIN {P} p ON p.seq = c.seq), "
            f"contacts AS (INSERT INTO third_party_contacts ({', '.join(CONTACT_COLUMNS)}) "
            f"SELECT gen_random_uuid(), %(tenant_id)s, c.id, {contact_values} "
            f"FROM created c JOIN {C} t ON t.seq = c.seq) "
            f"SELECT s.seq, up.id, NULL::text, NULL::text[] FROM {A} s "
            "LEFT JOIN up ON up.external_ref = s.external_ref WHERE up.id IS DISTINCT FROM s.id "
            "UNION ALL SELECT NULL, NULL, l.subject_key, l.merged_from FROM linked l "
            "WHERE cardinality(l.merged_from) > 0")


_WRITE = _write_sql(moving=False)
_WRITE_MOVING = _write_sql(moving=True)


def _copy_path(job: ImportJob, records: list[AccountRecord], now, moving: bool) -> Written:
    # The session's connection: its transaction carries the tenant's token. The statement goes through SQLAlchemy
    # (its errors, its events); COPY, which only the driver's cursor speaks, and the staging tables' upkeep do not.
    connection = db.session.connection()
    ids = [uuid.uuid4() for _ in records]
    with connection.connection.driver_connection.cursor() as cursor:
        _ready_stages(cursor)
        _stage(cursor, records, ids)
    answer = connection.exec_driver_sql(_WRITE_MOVING if moving else _WRITE, {
        "tenant_id": job.tenant_id, "portfolio_id": job.portfolio_id, "import_id": job.id,
        "status": AccountStatus.OPEN, "now": now.astimezone(timezone.utc), **subjects.link_params()}).all()
    not_created = {seq: account_id for seq, account_id, _, _ in answer if seq is not None}
    subjects.forget_merged({subject for seq, _, survivor, merged in answer if seq is None
                            for subject in (survivor, *merged)})
    written: Written = {}
    updated: dict[uuid.UUID, tuple[int, AccountRecord]] = {}
    for seq, (record, account_id) in enumerate(zip(records, ids, strict=True)):
        if seq not in not_created:
            written[record.external_ref] = (account_id, True)
        elif not_created[seq] is not None:
            written[record.external_ref] = (not_created[seq], False)
            updated[not_created[seq]] = (seq, record)
    if updated:
        _replace_phones(connection, job.tenant_id, updated)
        _match_contacts(connection, job.tenant_id, {account_id: record for account_id, (_, record) in updated.items()})
    return written


def _ready_stages(cursor) -> None:
    """Empty staging tables, made by the session's first batch. Asked first rather than CREATE … IF NOT EXISTS,
    whose notice that each exists SQLAlchemy would log, three lines a batch."""
    cursor.execute(f"SELECT to_regclass('{STAGE_ACCOUNTS.name}') IS NOT NULL")
    cursor.execute(_EMPTY_STAGES if cursor.fetchone()[0] else _CREATE_STAGES)


def _stage(cursor, records: list[AccountRecord], ids: list[uuid.UUID]) -> None:
    """COPY the batch into the staging tables as the columns store it: ciphertext from the key ring the columns'
    type encrypts with, JSON text as psycopg writes the JSON column's values (json.dumps)."""
    ring = keyring()
    encrypt, index = ring.encrypt, ring.blind_index
    zones_json: dict[tuple, str] = {}
    phones, third_parties = [], []
    with STAGE_ACCOUNTS.copy(cursor) as copy:
        for seq, (record, account_id) in enumerate(zip(records, ids, strict=True)):
            values = list(_file_values(record))
            for i in _ENCRYPTED:
                if values[i] is not None:
                    values[i] = encrypt(values[i])
            zones = tuple(record.time_zones)
            if zones not in zones_json:  # a file's rows have few sets of zones between them
                zones_json[zones] = json.dumps(record.time_zones)
            values[_ZONES] = zones_json[zones]
            if not record.region:  # most Chinese files have no region column: the ID or the mobile names it
                values[_REGION] = regions.derive(record.id_type, record.id_number, record.phones)
            copy.write_row((seq, account_id, record.external_ref, *values,
                            index(f"id:{record.id_type}", record.id_number) if record.id_number else None,
                            index("email", record.email) if record.email else None))
            phones.extend((seq, position, encrypt(phone), index("phone", phone))
                          for position, phone in enumerate(record.phones))
            for position, contact in enumerate(record.third_parties):
                third_parties.append((seq, None, None, position, encrypt(contact.name),
                                      encrypt(contact.phone) if contact.phone is not None else None,
                                      index("phone", contact.phone) if contact.phone else None,
                                      contact.relationship))
    _copy(cursor, STAGE_PHONES, phones)
    _copy(cursor, STAGE_CONTACTS, third_parties)


def _copy(cursor, stage: _Stage, rows: list[tuple]) -> None:
    if rows:
        with stage.copy(cursor) as copy:
            for row in rows:
                copy.write_row(row)


def _replace_phones(connection, tenant_id: uuid.UUID, updated: dict[uuid.UUID, tuple[int, AccountRecord]]) -> None:
    """An updated account's phones are the file's: the old rows go (nothing references a phone row), the staged
    ones come in under the account's own id."""
    connection.exec_driver_sql("DELETE FROM account_phones WHERE account_id = ANY(%s)", (list(updated),))
    connection.exec_driver_sql(
        f"INSERT INTO account_phones ({', '.join(PHONE_COLUMNS)}) "
        "SELECT gen_random_uuid(), %(tenant_id)s, u.id, p.position, p.phone, p.phone_index "
        f"FROM unnest(%(seqs)s::integer[], %(ids)s::uuid[]) AS u(seq, id) JOIN {P} p ON p.seq = u.seq",
        {"tenant_id": tenant_id, "seqs": [seq for seq, _ in updated.values()], "ids": list(updated)})


def _match_contacts(connection, tenant_id: uuid.UUID, by_account: dict[uuid.UUID, AccountRecord]) -> None:
    kept, added, dropped = contacts.plan(tenant_id, by_account, _contacts_on_file(list(by_account)))
    if kept or added:  # a kept contact takes the file's values under its own id, a new one is inserted
        with connection.connection.driver_connection.cursor() as cursor:
            cursor.execute(f"DELETE FROM {C}")
            _copy(cursor, STAGE_CONTACTS, [_staged_contact(row) for row in (*kept, *added)])
        names = ", ".join(CONTACT_COLUMNS)
        updates = ", ".join(f"{name} = EXCLUDED.{name}" for name in contacts.VALUE_COLUMNS)
        connection.exec_driver_sql(
            f"INSERT INTO third_party_contacts ({names}) "
            f"SELECT t.id, %(tenant_id)s, t.account_id, {', '.join('t.' + n for n in contacts.VALUE_COLUMNS)} "
            f"FROM {C} t ON CONFLICT (id) DO UPDATE SET {updates}", {"tenant_id": tenant_id})
    contacts.remove(dropped)


def _staged_contact(row: dict) -> tuple:
    encrypt = keyring().encrypt
    return (0, row["id"], row["account_id"], row["position"], encrypt(row["name"]),
            encrypt(row["phone"]) if row["phone"] is not None else None, row["phone_index"],
            row["relationship_label"])


def _contacts_on_file(account_ids: list[uuid.UUID]) -> list:
    """The contacts the accounts have now, names decrypted: a contact is matched by name when it has no phone."""
    ids = bindparam("ids", account_ids, type_=ARRAY(CONTACTS.c.account_id.type))
    return list(db.session.execute(select(CONTACTS.c.id, CONTACTS.c.account_id, CONTACTS.c.position,
                                          CONTACTS.c.phone_index, CONTACTS.c.name)
                                   .where(CONTACTS.c.account_id == ids.any_())))
