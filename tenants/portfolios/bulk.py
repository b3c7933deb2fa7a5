"""An import batch's accounts, phones and third-party contacts, written set-wise.

On PostgreSQL the rows are COPied (psycopg's `copy`) into temporary staging tables dropped at commit, then moved by
one `INSERT … SELECT … ON CONFLICT … RETURNING` per table: a handful of short statements psycopg prepares once,
instead of 500-row `INSERT … VALUES` statements it would parse again for every batch. COPY cannot write a table under
row-level security, which is why the rows pass through staging tables of the transaction's own: the `INSERT …
SELECT` runs under the tenant's token like any other statement, so the policies still check every row. Values are
turned into what the columns store (Fernet ciphertext, JSON text) by the columns' own SQLAlchemy types in Python, so
a row written here is byte for byte what the ORM writes.

Elsewhere (SQLite: the demo) the same answer comes from multi-row `INSERT … ON CONFLICT` statements.
"""
import uuid
from collections.abc import Iterable

from sqlalchemy import Table, and_, bindparam, select, true
from sqlalchemy.dialects.postgresql import ARRAY

from tenants.conduct import subjects
from tenants.db import db
from tenants.pii import blind_index
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
    rows = [account_row(job, record, now) for record in records]
    phone_indexes = {record.external_ref: [blind_index("phone", phone) for phone in record.phones]
                     for record in records}
    _link_subjects(records, rows, phone_indexes)
    if db.session.get_bind().dialect.name == "postgresql":
        return _copy_path(job, records, rows, moving, phone_indexes)
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

def _copy_path(job: ImportJob, records: list[AccountRecord], rows: list[dict], moving: bool,
               phone_indexes: dict[str, list[str]]) -> Written:
    # The session's connection: its transaction carries the tenant's token, and statements go through SQLAlchemy
    # (its errors, its events) except COPY, which only the driver's cursor speaks.
    connection = db.session.connection()
    _stage(connection, ACCOUNTS, ACCOUNT_COLUMNS, [[row[name] for name in ACCOUNT_COLUMNS] for row in rows])
    upsert = _UPSERT_MOVING if moving else _UPSERT_ACCOUNTS
    written = _answer(connection.exec_driver_sql(upsert, {"import_id": job.id}), rows)
    if not written:
        return written
    by_ref = {record.external_ref: record for record in records}
    by_account = {account_id: by_ref[ref] for ref, (account_id, _) in written.items()}
    # Only an account that was already there can have phones or contacts to replace.
    existing = [account_id for account_id, created in written.values() if not created]
    _replace_phones(connection, job.tenant_id, by_account, existing, phone_indexes)
    _match_contacts(connection, job.tenant_id, by_account, existing)
    return written


def _stage(connection, table: Table, columns: tuple[str, ...], values: list[list]) -> None:
    """COPY rows (in `columns` order, plain Python values) into a temporary table shaped like `table`, after
    turning each value into what the column stores."""
    stage = f"import_stage_{table.name}"
    dialect = db.session.get_bind().dialect
    processors = [(i, table.c[name].type.dialect_impl(dialect).bind_processor(dialect))
                  for i, name in enumerate(columns)]
    processors = [(i, process) for i, process in processors if process is not None]
    # Dropped at commit; dropped first too, for a transaction that writes several batches (a test's savepoints).
    with connection.connection.driver_connection.cursor() as cursor:
        cursor.execute(f"DROP TABLE IF EXISTS pg_temp.{stage}; "
                       f"CREATE TEMPORARY TABLE {stage} (LIKE public.{table.name}) ON COMMIT DROP")
        with cursor.copy(f"COPY {stage} ({', '.join(columns)}) FROM STDIN") as copy:
            for row in values:
                for i, process in processors:
                    row[i] = process(row[i])
                copy.write_row(row)


def _upsert_accounts_sql(*, moving: bool) -> str:
    names = ", ".join(ACCOUNT_COLUMNS)
    updates = ", ".join(f"{name} = EXCLUDED.{name}" for name in UPDATED_ON_CONFLICT)
    # In the order of the unique key: ranges of one import upserting at once lock rows in the same order, so a
    # reference in two of them makes one wait for the other, never a deadlock.
    return (f"INSERT INTO accounts ({names}) SELECT {names} FROM import_stage_accounts ORDER BY external_ref "
            f"ON CONFLICT (tenant_id, external_ref) DO UPDATE SET {updates} "
            "WHERE accounts.last_import_id IS DISTINCT FROM %(import_id)s "
            + ("" if moving else "AND accounts.portfolio_id = EXCLUDED.portfolio_id ") + "RETURNING id, external_ref")


_UPSERT_ACCOUNTS = _upsert_accounts_sql(moving=False)
_UPSERT_MOVING = _upsert_accounts_sql(moving=True)


def _replace_phones(connection, tenant_id: uuid.UUID, by_account: dict[uuid.UUID, AccountRecord],
                    existing: list[uuid.UUID], phone_indexes: dict[str, list[str]]) -> None:
    if existing:
        connection.exec_driver_sql("DELETE FROM account_phones WHERE account_id = ANY(%s)", (existing,))
    phones = [[uuid.uuid4(), tenant_id, account_id, position, phone, index]
              for account_id, record in by_account.items()
              for position, (phone, index) in enumerate(zip(record.phones, phone_indexes[record.external_ref],
                                                            strict=True))]
    if phones:
        _stage(connection, PHONES, PHONE_COLUMNS, phones)
        names = ", ".join(PHONE_COLUMNS)
        connection.exec_driver_sql(f"INSERT INTO account_phones ({names}) SELECT {names} "
                                   "FROM import_stage_account_phones")


def _match_contacts(connection, tenant_id: uuid.UUID, by_account: dict[uuid.UUID, AccountRecord],
                    existing: list[uuid.UUID]) -> None:
    on_file = _contacts_on_file(existing) if existing else []
    kept, added, dropped = contacts.plan(tenant_id, by_account, on_file)
    if kept or added:  # a kept contact takes the file's values under its own id, a new one is inserted
        staged = [[row["id"], tenant_id, row["account_id"], *(row[name] for name in contacts.VALUE_COLUMNS)]
                  for row in (*kept, *added)]
        _stage(connection, CONTACTS, CONTACT_COLUMNS, staged)
        names = ", ".join(CONTACT_COLUMNS)
        values = ", ".join(f"{name} = EXCLUDED.{name}" for name in contacts.VALUE_COLUMNS)
        connection.exec_driver_sql(f"INSERT INTO third_party_contacts ({names}) SELECT {names} "
                       f"FROM import_stage_third_party_contacts ON CONFLICT (id) DO UPDATE SET {values}")
    contacts.remove(dropped)


def _contacts_on_file(account_ids: list[uuid.UUID]) -> list:
    """The contacts the accounts have now, names decrypted: a contact is matched by name when it has no phone."""
    ids = bindparam("ids", account_ids, type_=ARRAY(CONTACTS.c.account_id.type))
    return list(db.session.execute(select(CONTACTS.c.id, CONTACTS.c.account_id, CONTACTS.c.position,
                                          CONTACTS.c.phone_index, CONTACTS.c.name)
                                   .where(CONTACTS.c.account_id == ids.any_())))
