"""What an import stores is what validation made of each row, whichever way the batch was written — on PostgreSQL
COPY into staging tables and one statement that links the people, upserts the accounts and adds their phones and
contacts; elsewhere multi-row statements with the people linked in Python. A generated Chinese file with broken
rows, rows without a province, and people met again (a phone or resident ID of an earlier row, in the same batch
or an earlier one, sometimes joining two people known apart) is imported in small batches, then imported again
with phones and contacts changed: every account reads back as its record says (decrypted values, derived region,
balances, phones and contacts in order with their blind indexes), and every subject key is the one the reference
plan (`subjects._link_in_python`, migration 0018's plan for a single writer) gives the same batches in the same
order."""
import csv
import io
import random
import uuid

import pytest
from sqlalchemy import create_engine, select

from tenants.conduct import subjects
from tenants.context import tenant_scope
from tenants.db import db
from tenants.demo_data import CN_HEADER, cn_account_rows
from tenants.identifiers import cn_resident_id_check_char
from tenants.pii import blind_index
from tenants.portfolios import imports, regions
from tenants.portfolios.models import Account
from tenants.portfolios.rows import AccountRecord, validate_row
from tenants.tenancy.models import Tenant

from .test_imports import upload

ROWS, BATCH = 240, 40


@pytest.fixture
def lender(factory, frozen_clock):
    return factory.tenant("lender")


def _first_file(rng: random.Random) -> list[list[str]]:
    rows = [list(row) for row in cn_account_rows(rng, ROWS, broken=6, ref_prefix=f"EQ{rng.randrange(10**6)}-")]
    for i in range(3, ROWS, 3):
        rows[i][4] = ""  # no province: the ID (or the mobile) names it
    for i in range(5, ROWS, 7):  # someone met again: an earlier row's phone or resident ID
        earlier = rows[rng.randrange(i)]
        if rng.random() < 0.5:
            rows[i][3] = f"{rows[i][3]};{earlier[3].split(';')[0]}"
        else:
            rows[i][2] = earlier[2]
    for i in range(60, ROWS, 37):  # two people known apart (written by earlier batches), joined by one row
        first, second = rng.sample([n for n in range(i // BATCH * BATCH) if _valid_id(rows[n][2])], 2)
        rows[i][2], rows[i][3] = rows[first][2], rows[second][3]
    return rows


def _valid_id(number: str) -> bool:
    return cn_resident_id_check_char(number[:17]) == number[17]


def _second_file(rng: random.Random, rows: list[list[str]]) -> list[list[str]]:
    changed = [list(row) for row in rows]
    for i in range(0, ROWS, 5):
        changed[i][3] = f"139{rng.randrange(10**8):08d}"
    for i in range(1, ROWS, 4):
        changed[i][14:17] = ["", "", ""] if changed[i][14] else ["新联系人", f"137{rng.randrange(10**8):08d}", "朋友"]
    return changed


def _csv(rows: list[list[str]]) -> bytes:
    text = io.StringIO()
    csv.writer(text).writerows([CN_HEADER, *rows])
    return text.getvalue().encode("gbk")


def _batches(job, lender, rows: list[list[str]]) -> list[list[AccountRecord]]:
    """The records each batch of the import wrote, as validation makes them."""
    with tenant_scope(lender.id):
        ctx = imports.row_context(db.session.get(Tenant, lender.id))
    records = [validate_row(dict(zip(CN_HEADER, row)), job.mapping, ctx)[0] for row in rows]
    return [[record for record in records[start:start + BATCH] if record is not None]
            for start in range(0, len(records), BATCH)]


def _identifiers(record: AccountRecord) -> list[str]:
    return subjects.identifiers(blind_index(f"id:{record.id_type}", record.id_number) if record.id_number else None,
                                [blind_index("phone", phone) for phone in record.phones], record.email)


def _reference_subjects(batches: list[list[AccountRecord]]) -> tuple[dict[str, str], int]:
    """Each reference's subject key after these batches, by the reference plan on a database of its own, and how
    many subjects were merged into others on the way."""
    engine = create_engine("sqlite://")
    with engine.begin() as connection:
        subjects.LINKS.create(connection)
        subjects.ALIASES.create(connection)
        connection.exec_driver_sql("CREATE TABLE accounts (id TEXT PRIMARY KEY, subject_key TEXT)")
        connection.exec_driver_sql("CREATE TABLE conduct_ledger (subject_key TEXT)")
        for records in batches:
            found, _ = subjects._link_in_python(connection.execute,
                                                {record.external_ref: _identifiers(record) for record in records})
            for ref, subject in found.items():
                connection.exec_driver_sql("INSERT INTO accounts VALUES (?, ?) ON CONFLICT (id) DO UPDATE "
                                           "SET subject_key = excluded.subject_key", (ref, subject))
        merged = connection.exec_driver_sql("SELECT count(*) FROM subject_aliases").scalar()
        return dict(connection.exec_driver_sql("SELECT id, subject_key FROM accounts").all()), merged


def _expected(record: AccountRecord, subject: str) -> tuple:
    region = record.region or regions.derive(record.id_type, record.id_number, record.phones)
    return (record.debtor_name, record.id_type, record.id_number, record.email, record.address, region,
            record.time_zones, record.time_zone_source, record.product, record.currency, record.original_minor,
            record.principal_minor, record.interest_minor, record.fees_minor, record.penalty_minor,
            record.principal_minor + record.interest_minor + record.fees_minor + record.penalty_minor,
            record.loan_date, record.due_date, record.days_past_due, record.last_payment_date,
            record.last_payment_minor, record.charge_off_date, record.limitation_date,
            (record.deceased, record.bankrupt, record.disputed, record.attorney, record.cease_requested),
            blind_index(f"id:{record.id_type}", record.id_number) if record.id_number else None, subject,
            [(phone, blind_index("phone", phone)) for phone in record.phones],
            [(c.name, c.phone, blind_index("phone", c.phone) if c.phone else None, c.relationship, position)
             for position, c in enumerate(record.third_parties)])


def _stored(account: Account) -> tuple:
    return (account.debtor_name, account.id_type, account.id_number, account.email, account.address,
            account.region, account.time_zones, account.time_zone_source, account.product, account.currency,
            account.original_minor, account.principal_minor, account.interest_minor, account.fees_minor,
            account.penalty_minor, account.outstanding_minor, account.loan_date, account.due_date,
            account.days_past_due, account.last_payment_date, account.last_payment_minor, account.charge_off_date,
            account.limitation_date,
            (account.deceased, account.bankrupt, account.disputed, account.attorney, account.cease_requested),
            account.id_number_index, account.subject_key,
            [(phone.phone, phone.phone_index) for phone in account.phones],
            [(c.name, c.phone, c.phone_index, c.relationship_label, c.position) for c in account.third_parties])


def _check(lender, batches: list[list[AccountRecord]], written_by: list[list[AccountRecord]]) -> int:
    """Every account as its record says; answers how many subjects the reference merged."""
    subject_of, merged = _reference_subjects(written_by)
    records = {record.external_ref: record for records in batches for record in records}
    db.session.expire_all()
    with tenant_scope(lender.id):
        accounts = {account.external_ref: account for account in db.session.scalars(select(Account))}
        assert set(accounts) == set(records)
        for ref, record in records.items():
            assert _stored(accounts[ref]) == _expected(record, subject_of[ref]), ref
    return merged


def test_every_account_reads_back_as_validation_made_it_and_every_person_is_one_subject(db_session, lender,
                                                                                     monkeypatch):
    monkeypatch.setattr(imports, "BATCH_SIZE", BATCH)
    rng = random.Random(uuid.uuid4().int)
    first = _first_file(rng)
    job = upload(lender, _csv(first))
    assert job.rows_failed >= 6 and job.rows_created + job.rows_failed == ROWS
    first_batches = _batches(job, lender, first)
    named = [key for records in first_batches for record in records for key in _identifiers(record)]
    assert len(named) - len(set(named)) > 20, "people met again"
    assert _check(lender, first_batches, first_batches) > 0, "people known apart joined"

    second = _second_file(rng, first)
    job = upload(lender, _csv(second))
    assert job.rows_created == 0 and job.rows_updated + job.rows_failed == ROWS
    second_batches = _batches(job, lender, second)
    _check(lender, second_batches, first_batches + second_batches)
