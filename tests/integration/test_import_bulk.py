"""The import's set-wise write (tenants.portfolios.bulk): what lands is what the ORM would have stored — ciphertext
that decrypts, blind indexes that find the person — a re-import replaces phones, and on PostgreSQL the staged rows
still pass row-level security (COPY itself cannot write a table under it)."""
import uuid

import pytest
from sqlalchemy import select, text
from sqlalchemy.exc import DBAPIError

from tenants import clock
from tenants.context import tenant_scope
from tenants.db import db
from tenants.pii import blind_index, keyring
from tenants.portfolios import bulk, imports
from tenants.portfolios.models import Account, ImportJob
from tenants.portfolios.rows import AccountRecord

from .test_imports import resident_id, upload

HEADER = "external_ref,debtor_name,id_number,phone,phone_2,email,principal,days_past_due,third_party_name," \
         "third_party_phone,third_party_relationship\n"


@pytest.fixture
def lender(factory, frozen_clock):
    return factory.tenant("lender")


def _line(ref: str, phones: tuple[str, str], email="zhang@example.cn") -> str:
    return f"{ref},张三,{resident_id(7)},{phones[0]},{phones[1]},{email},1000,95,李四,13900139000,mother\n"


def test_an_imported_account_reads_back_as_the_orm_stores_it(db_session, lender):
    job = upload(lender, (HEADER + _line("B1", ("13800138000", "13800138001"))).encode())
    assert (job.status, job.rows_created) == ("completed", 1)
    with tenant_scope(lender.id):
        account = db_session.scalar(select(Account).where(Account.external_ref == "B1"))
        assert (account.debtor_name, account.id_number, account.email) == ("张三", resident_id(7), "zhang@example.cn")
        assert account.id_number_index == blind_index(f"id:{account.id_type}", resident_id(7)) == account.subject_key
        assert [(p.phone, p.phone_index) for p in account.phones] == [
            ("+8613800138000", blind_index("phone", "+8613800138000")),
            ("+8613800138001", blind_index("phone", "+8613800138001"))]
        [mother] = account.third_parties
        assert (mother.name, mother.phone, mother.relationship_label) == ("李四", "+8613900139000", "mother")
        assert account.time_zones == ["Asia/Shanghai"] and account.outstanding_minor == 100_000
        stored = db_session.execute(text("SELECT debtor_name FROM accounts WHERE external_ref = 'B1'")).scalar_one()
        assert "张三" not in stored and keyring().decrypt(stored) == "张三"


def test_a_reimport_replaces_phones_and_keeps_the_contact_row(db_session, lender):
    upload(lender, (HEADER + _line("B1", ("13800138000", "13800138001"))).encode())
    with tenant_scope(lender.id):
        first_contact = db_session.scalar(select(Account).where(Account.external_ref == "B1")).third_parties[0].id
    job = upload(lender, (HEADER + _line("B1", ("13700137000", ""), email="")).encode())
    assert (job.rows_created, job.rows_updated) == (0, 1)
    with tenant_scope(lender.id):
        account = db_session.scalar(select(Account).where(Account.external_ref == "B1"))
        db_session.refresh(account)
        assert [p.phone for p in account.phones] == ["+8613700137000"] and account.email is None
        assert [c.id for c in account.third_parties] == [first_contact]


@pytest.mark.postgres
def test_staged_rows_of_another_tenant_are_refused_by_row_level_security(db_session, factory, lender):
    other = factory.tenant("lender")
    with tenant_scope(lender.id):
        portfolio = imports.get_or_create_portfolio("p")
        db_session.flush()
    job = ImportJob(id=uuid.uuid4(), tenant_id=lender.id, portfolio_id=portfolio.id)
    record = AccountRecord(
        external_ref="X1", debtor_name="张三", id_type="cn_resident", id_number=None, phones=["+8613800138000"],
        email=None, address=None, region=None, time_zones=["Asia/Shanghai"], time_zone_source="phone", product=None,
        currency="CNY", original_minor=1, principal_minor=1, interest_minor=0, fees_minor=0, penalty_minor=0,
        loan_date=None, due_date=None, days_past_due=1, last_payment_date=None, last_payment_minor=None,
        charge_off_date=None, limitation_date=None)
    with tenant_scope(other.id), pytest.raises(DBAPIError, match="row-level security"):
        with db.session.begin_nested():
            bulk.write(job, [record], clock.now())


@pytest.mark.postgres
def test_the_staging_tables_keep_no_row_past_the_batchs_commit(app):
    """The staging tables stay with the database session, so a pooled connection (PgBouncer in transaction mode
    too) hands the next transaction — whoever's — tables that are there and empty."""
    from tests.factories import Factory

    with app.app_context():
        lender = Factory(db.session).tenant("lender")
        db.session.commit()
        backend = db.session.execute(text("SELECT pg_backend_pid()")).scalar()
        job = upload(lender, (HEADER + _line(f"S{uuid.uuid4().hex[:8]}", ("13800138000", "13800138001"))).encode())
        assert job.rows_created == 1
        db.session.commit()
        assert db.session.execute(text("SELECT pg_backend_pid()")).scalar() == backend
        staged = db.session.execute(text(f"SELECT (SELECT count(*) FROM {bulk.A}) + (SELECT count(*) FROM {bulk.P}) "
                                         f"+ (SELECT count(*) FROM {bulk.C})")).scalar()
        assert staged == 0
        db.session.remove()
