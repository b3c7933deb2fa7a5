"""What a lender meets re-uploading files: an account already in another portfolio is left there until the lender
says "move them", a header-only file is refused with nothing kept, the size refusal names both sizes, and the
region a file leaves out is derived from the resident ID or the mobile number."""
import io
import re

import pytest
from sqlalchemy import func, select

from tenants.audit import AuditEvent
from tenants.context import tenant_scope
from tenants.db import db
from tenants.errors import Conflict
from tenants.identifiers import cn_resident_id_check_char
from tenants.portfolios import imports, limits
from tenants.portfolios.models import Account, ImportJob, Portfolio
from tenants.portfolios.parsing import FileRejected
from tests.factories import login

HEADER = "合同号,姓名,身份证号,手机号,本金,到期日\n"


def resident_id(province: str, n: int) -> str:
    body = f"{province}0105{1980 + n % 20}0101{n % 1000:03d}"
    return body + cn_resident_id_check_char(body)


def row(n: int, *, province="44", phone="", principal="1000.00") -> str:
    id_number = resident_id(province, n) if province else ""
    return f"HT{n:05d},张{n},{id_number},{phone},{principal},2026-09-01\n"


def csv_bytes(*rows) -> bytes:
    return (HEADER + "".join(rows)).encode("gbk")


@pytest.fixture
def lender(factory, frozen_clock):
    tenant = factory.tenant("lender")
    factory.user(tenant, "lender_manager", email=f"manager-{tenant.slug}@lender.test")
    factory.user(tenant, "lender_analyst", email=f"analyst-{tenant.slug}@lender.test", locale="zh_CN")
    return tenant


def upload(lender, data: bytes, portfolio="November", filename="portfolio.csv") -> ImportJob:
    with tenant_scope(lender.id):
        job = imports.create_import(portfolio=imports.get_or_create_portfolio(portfolio), filename=filename,
                                    stream=io.BytesIO(data), mapping=None, uploaded_by=None)
        db.session.commit()  # as the upload request does: a failing worker's rollback must not reach past it
        job = imports.run_import(job.id)
        db.session.refresh(job)
        return job


def portfolio_of(lender, ref: str) -> str:
    with tenant_scope(lender.id):
        return db.session.scalar(select(Portfolio.name).join(Account, Account.portfolio_id == Portfolio.id)
                                 .where(Account.external_ref == ref))


# ---- another portfolio ---------------------------------------------------------------------------------------

def test_an_account_in_another_portfolio_stays_there_until_the_lender_moves_it(db_session, lender):
    upload(lender, csv_bytes(row(1), row(2)), portfolio="November")
    job = upload(lender, csv_bytes(row(1, principal="900"), row(3)), portfolio="December")

    assert (job.status, job.rows_created, job.rows_updated, job.rows_failed) == ("completed", 1, 0, 1)
    assert portfolio_of(lender, "HT00001") == "November"
    with tenant_scope(lender.id):
        assert db.session.scalar(select(Account.principal_minor).where(Account.external_ref == "HT00001")) == 100_000
        (refused,) = imports.row_errors(job)
        assert refused.line == 2 and refused.errors[0]["code"] == "account.in_other_portfolio"
        assert refused.errors[0]["params"] == {"ref": "HT00001", "portfolio": "November"}
        assert imports.held_elsewhere_count(job) == 1

        assert imports.move_accounts(job) == 1
        db.session.commit()
        assert imports.move_accounts(job) == 0  # a second answer finds nothing left to move
        db.session.refresh(job)
        assert (job.rows_updated, job.rows_failed, imports.held_elsewhere_count(job)) == (1, 0, 0)
        assert db.session.scalar(select(Account.principal_minor).where(Account.external_ref == "HT00001")) == 90_000
        moved = db.session.scalar(select(AuditEvent).where(AuditEvent.action == "import.accounts_moved"))
        assert moved.after["moved"] == 1 and moved.after["from"] == {"November": 1}
    assert portfolio_of(lender, "HT00001") == "December"


def test_reuploading_into_the_same_portfolio_still_updates(db_session, lender):
    upload(lender, csv_bytes(row(1)))
    job = upload(lender, csv_bytes(row(1, principal="900")))
    assert (job.rows_updated, job.rows_failed) == (1, 0)


def test_moving_waits_for_the_import_to_finish(db_session, lender):
    with tenant_scope(lender.id):
        job = imports.create_import(portfolio=imports.get_or_create_portfolio("P"), filename="p.csv",
                                    stream=io.BytesIO(csv_bytes(row(1))), mapping=None, uploaded_by=None)
        with pytest.raises(Conflict) as refused:
            imports.move_accounts(job)
        assert refused.value.code == "import.not_finished"


def test_the_import_page_asks_and_moves_on_the_lenders_word(client, db_session, lender):
    upload(lender, csv_bytes(row(1), row(2)), portfolio="November")
    job = upload(lender, csv_bytes(row(1), row(2), row(3)), portfolio="December")
    db.session.commit()
    login(client, f"analyst-{lender.slug}@lender.test")
    chinese = client.get(f"/t/{lender.slug}/imports/{job.id}").get_data(as_text=True)
    assert 'id="import-elsewhere"' in chinese and "2 个账户" in chinese
    assert 'id="move-accounts"' not in chinese  # an analyst may read, not import
    client.post("/logout")

    login(client, f"manager-{lender.slug}@lender.test")
    page = client.get(f"/t/{lender.slug}/imports/{job.id}").get_data(as_text=True)
    assert "2 accounts in this file are already in other portfolios" in page and "Move them into December" in page
    moved = client.post(f"/t/{lender.slug}/imports/{job.id}/move-accounts", follow_redirects=True)
    assert moved.status_code == 200 and "2 accounts moved into December." in moved.get_data(as_text=True)
    assert 'id="import-elsewhere"' not in moved.get_data(as_text=True)
    assert portfolio_of(lender, "HT00002") == "December"


def test_the_api_reports_and_moves_them(client, db_session, factory, lender):
    upload(lender, csv_bytes(row(1)), portfolio="November")
    job = upload(lender, csv_bytes(row(1)), portfolio="December")
    db.session.commit()
    headers = {"Authorization": f"Bearer {factory.token(lender, 'lender_manager')[1]}"}
    assert client.get(f"/api/v1/imports/{job.id}", headers=headers).json["rows_in_other_portfolios"] == 1
    moved = client.post(f"/api/v1/imports/{job.id}/move-accounts", headers=headers)
    assert moved.status_code == 200 and moved.json["rows_in_other_portfolios"] == 0
    assert moved.json["rows_updated"] == 1
    analyst = {"Authorization": f"Bearer {factory.token(lender, 'lender_analyst')[1]}"}
    assert client.post(f"/api/v1/imports/{job.id}/move-accounts", headers=analyst).status_code == 403


# ---- empty files and the size limit --------------------------------------------------------------------------

def test_a_header_only_file_is_refused_at_upload(db_session, lender):
    with pytest.raises(FileRejected) as refused:
        upload(lender, csv_bytes(), portfolio="Empty")
    assert refused.value.code == "import.no_rows"


def test_a_header_only_file_leaves_no_portfolio_and_no_import_behind(client, db_session, lender):
    login(client, f"manager-{lender.slug}@lender.test")
    page = client.post(f"/t/{lender.slug}/imports", content_type="multipart/form-data",
                       data={"file": (io.BytesIO(csv_bytes()), "empty.csv"), "portfolio": "Empty"})
    assert page.status_code == 422 and "The file has a header but no rows" in page.get_data(as_text=True)
    with tenant_scope(lender.id):
        assert db.session.scalar(select(func.count()).select_from(Portfolio)) == 0
        assert db.session.scalar(select(func.count()).select_from(ImportJob)) == 0


def test_a_file_whose_rows_the_request_cannot_see_fails_in_the_worker(db_session, lender):
    job = upload(lender, csv_bytes() + b",,,,,\n" * 20_000)  # blank rows past the request's 64 KB sample
    assert (job.status, job.error_code, job.rows_created) == ("failed", "import.no_rows", 0)


def test_the_size_refusal_names_the_file_and_the_limit(app, client, db_session, lender, monkeypatch):
    monkeypatch.setitem(app.config, "UPLOAD_MAX_BYTES", 2 * limits.MIB)
    login(client, f"manager-{lender.slug}@lender.test")
    data = HEADER.encode("gbk") + b"x" * (3 * limits.MIB)
    page = client.post(f"/t/{lender.slug}/imports", content_type="multipart/form-data",
                       data={"file": (io.BytesIO(data), "big.csv"), "portfolio": "Big"})
    assert page.status_code == 422
    assert re.search(r"3\.1 MB\W.*limit[^.]* 2 MB", page.get_data(as_text=True))
    with tenant_scope(lender.id):
        assert db.session.scalar(select(func.count()).select_from(ImportJob)) == 0


def test_megabytes_never_rounds_a_file_down_to_the_limit():
    assert limits.megabytes(2 * limits.MIB + 1, round_up=True) == "2.1 MB"
    assert limits.megabytes(120 * limits.MIB) == "120 MB"


# ---- region --------------------------------------------------------------------------------------------------

def test_a_file_without_region_gets_the_province_of_the_id_else_of_the_mobile(db_session, lender):
    upload(lender, csv_bytes(row(1, province="44", phone="13912345678"),  # ID from 广东, mobile from 江苏
                             row(2, province="", phone="13912345678"),
                             row(3, province="", phone="")))
    with tenant_scope(lender.id):
        regions = dict(db.session.execute(select(Account.external_ref, Account.region)).all())
    assert regions == {"HT00001": "广东省", "HT00002": "江苏省", "HT00003": None}


def test_a_region_the_file_gives_is_kept(db_session, lender):
    data = ("合同号,姓名,身份证号,本金,到期日,省份\n"
            f"HT1,张三,{resident_id('44', 1)},100,2026-09-01,浙江\n").encode("utf-8")
    upload(lender, data)
    with tenant_scope(lender.id):
        assert db.session.scalar(select(Account.region).where(Account.external_ref == "HT1")) == "浙江"
