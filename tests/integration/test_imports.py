"""Importing a messy portfolio: valid rows land, broken rows come back with line, column and code, re-upload
upserts, whole-file problems are refused with nothing kept, and an interrupted import resumes cleanly."""
import io

import pytest
from sqlalchemy import func, select

from tenants.context import tenant_scope
from tenants.db import db
from tenants.identifiers import cn_resident_id_check_char
from tenants.portfolios import imports
from tenants.portfolios.models import Account, ImportFileChunk, ImportJob
from tenants.portfolios.parsing import FileRejected


def resident_id(n: int) -> str:
    body = f"11010519{80 + n % 20:02d}0101{n % 1000:03d}"
    return body + cn_resident_id_check_char(body)


HEADER = "合同号,姓名,身份证号,手机号,本金,利息,到期日\n"


def good_row(n: int, principal="1000.00") -> str:
    return f"HT{n:05d},张{n},{resident_id(n)},1380013{n:04d},{principal},50.5,2026-09-01\n"


def csv_bytes(rows, encoding="gbk") -> bytes:
    return (HEADER + "".join(rows)).encode(encoding)


@pytest.fixture
def lender(factory, frozen_clock):
    return factory.tenant("lender")


def upload(lender, data: bytes, filename="portfolio.csv", mapping=None):
    with tenant_scope(lender.id):
        portfolio = imports.get_or_create_portfolio("2026-11 batch")
        job = imports.create_import(portfolio=portfolio, filename=filename, stream=io.BytesIO(data), mapping=mapping,
                                    uploaded_by=None)
        job = imports.run_import(job.id)
        db.session.refresh(job)  # loaded while the tenant is set: on PostgreSQL RLS hides it otherwise
        return job


def test_a_gbk_file_with_broken_rows_lands_the_good_ones_and_explains_the_rest(db_session, lender):
    rows = [good_row(n) for n in range(1, 9)]
    rows.insert(3, "HT90001,李四,110105198001010010,13800139999,12.345,0,2026-09-01\n")  # bad checksum, bad amount
    rows.insert(6, "HT90002,王五,,not-a-phone,800,0,31/12/2026\n")
    job = upload(lender, csv_bytes(rows))
    assert (job.status, job.rows_total, job.rows_created, job.rows_failed) == ("completed", 10, 8, 2)
    assert job.encoding == "gb18030"
    with tenant_scope(lender.id):
        errors = {e.line: {(c["column"], c["code"]) for c in e.errors} for e in imports.row_errors(job)}
        assert errors[5] >= {("身份证号", "cn_id.checksum"), ("本金", "money.too_precise")}
        assert ("手机号", "phone.invalid") in errors[8]
        report = b"".join(imports.error_file(job)).decode("utf-8-sig")
        assert report.splitlines()[0].startswith("line,合同号") and "cn_id.checksum" in report
        account = db_session.scalar(select(Account).where(Account.external_ref == "HT00001"))
        assert (account.principal_minor, account.interest_minor, account.days_past_due) == (100_000, 5_050, 91)
        assert account.time_zones == ["Asia/Shanghai"] and account.subject_key


def test_reuploading_a_corrected_file_updates_and_never_duplicates(db_session, lender):
    upload(lender, csv_bytes([good_row(1), good_row(2)]))
    job = upload(lender, csv_bytes([good_row(1, principal="900"), good_row(3)]))
    assert (job.rows_created, job.rows_updated) == (1, 1)
    with tenant_scope(lender.id):
        assert db_session.scalar(select(func.count()).select_from(Account)) == 3
        assert db_session.scalar(select(Account.principal_minor).where(Account.external_ref == "HT00001")) == 90_000


def test_a_reference_twice_in_one_file_is_an_error_not_a_silent_overwrite(db_session, lender):
    job = upload(lender, csv_bytes([good_row(1), good_row(1, principal="5")]))
    assert (job.rows_created, job.rows_failed) == (1, 1)


def test_the_mapping_is_saved_and_reused(db_session, lender):
    upload(lender, "ref\tname\tamount\tdpd\nA1\tAnn\t10\t40\n".encode(),
           mapping={"ref": "external_ref", "name": "debtor_name", "amount": "principal", "dpd": "days_past_due"})
    job = upload(lender, "ref\tname\tamount\tdpd\nA2\tBob\t20\t50\n".encode())
    assert job.rows_created == 1 and job.mapping["amount"] == "principal"


@pytest.mark.parametrize("data,filename,code", [
    (b"", "p.csv", "import.empty_file"),
    ("合同号,姓名\nHT1,张三\n".encode("gbk"), "p.csv", "import.missing_columns"),
    (b"external_ref,debtor_name,principal,days_past_due\n\xff\xfe\xfa\xfb,x,1,1\n", "p.csv", "import.undecodable"),
    (b"a,b", "p.pdf", "import.bad_format"),
])
def test_whole_file_problems_are_refused_with_nothing_kept(db_session, lender, data, filename, code):
    with pytest.raises(FileRejected) as exc:
        upload(lender, data, filename=filename)
    assert exc.value.code == code and exc.value.message
    db_session.rollback()
    with tenant_scope(lender.id):
        assert db_session.scalar(select(func.count()).select_from(ImportJob)) == 0
        assert db_session.scalar(select(func.count()).select_from(ImportFileChunk)) == 0


def test_an_interrupted_import_resumes_after_its_checkpoint_without_duplicates(db_session, lender, monkeypatch):
    monkeypatch.setattr(imports, "BATCH_SIZE", 3)
    data = csv_bytes([good_row(n) for n in range(1, 11)])
    calls = {"n": 0}
    real = imports._commit_batch

    def dies_on_third_batch(*args):
        calls["n"] += 1
        if calls["n"] == 3:
            raise KeyboardInterrupt("worker killed")
        return real(*args)

    monkeypatch.setattr(imports, "_commit_batch", dies_on_third_batch)
    with tenant_scope(lender.id):
        portfolio = imports.get_or_create_portfolio("resume")
        job = imports.create_import(portfolio=portfolio, filename="p.csv", stream=io.BytesIO(data), mapping=None,
                                    uploaded_by=None)
        db_session.commit()
        with pytest.raises(KeyboardInterrupt):
            imports.run_import(job.id)
        db_session.rollback()
        assert db_session.get(ImportJob, job.id).rows_processed == 6
        monkeypatch.setattr(imports, "_commit_batch", real)
        finished = imports.run_import(job.id)
        assert (finished.status, finished.rows_created, finished.rows_processed) == ("completed", 10, 10)
        assert db_session.scalar(select(func.count()).select_from(Account)) == 10
        assert imports.run_import(job.id).rows_created == 10, "running a finished import again changes nothing"
