"""An import that fails for any reason ends `failed` with a code and a short message, never `running` for ever;
the batches before the failure stay imported, a rerun of the job changes nothing, and only a timeout is left to
rq's retries (which resume after the checkpoint)."""
import io

import pytest
from rq.timeouts import JobTimeoutException
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError

from tenants.context import tenant_scope
from tenants.db import db
from tenants.portfolios import imports
from tenants.portfolios.models import Account, ImportJob
from workers import jobs

ROWS = "external_ref,debtor_name,principal,days_past_due\n" + "".join(f"R{n},Debtor {n},100,40\n" for n in range(9))


@pytest.fixture
def queued(db_session, factory, frozen_clock, monkeypatch):
    """A committed import of 9 rows in batches of 3, as the worker finds it."""
    monkeypatch.setattr(imports, "BATCH_SIZE", 3)
    lender = factory.tenant("lender")
    with tenant_scope(lender.id):
        job = imports.create_import(portfolio=imports.get_or_create_portfolio("Failing"), filename="f.csv",
                                    stream=io.BytesIO(ROWS.encode()), mapping=None, uploaded_by=None)
    db_session.commit()
    return lender, job.id


def fail_on_batch(monkeypatch, number: int, error: BaseException) -> None:
    real, calls = imports._commit_batch, {"n": 0}

    def commit_batch(*args):
        calls["n"] += 1
        if calls["n"] == number:
            raise error
        return real(*args)

    monkeypatch.setattr(imports, "_commit_batch", commit_batch)


def worker_runs(lender, import_id) -> tuple[dict, ImportJob]:
    with tenant_scope(lender.id):
        result = jobs.run_import(str(lender.id), str(import_id))
        return result, db.session.get(ImportJob, import_id)


def accounts(lender) -> int:
    with tenant_scope(lender.id):
        return db.session.scalar(select(func.count()).select_from(Account))


def test_a_database_error_ends_the_import_failed_with_a_reason_that_quotes_no_data(queued, monkeypatch):
    lender, import_id = queued
    real = imports._commit_batch
    violation = IntegrityError("INSERT INTO third_party_contacts …", {"name": "张三丰"},
                               Exception('violates foreign key constraint, Key (name)=(张三丰)'))
    fail_on_batch(monkeypatch, 2, violation)
    result, job = worker_runs(lender, import_id)
    assert result["status"] == "failed" and result["error_code"] == "import.failed"
    assert (job.status, job.error_code, job.checkpoint_line, job.rows_created) == ("failed", "import.failed", 4, 3)
    assert "after line 4" in job.error_message and "IntegrityError" in job.error_message
    assert "张三丰" not in job.error_message, "a database error's text stays in the log"
    assert job.finished_at and accounts(lender) == 3, "the first batch stays imported"

    monkeypatch.setattr(imports, "_commit_batch", real)
    again, job = worker_runs(lender, import_id)
    assert (again["status"], job.rows_created, accounts(lender)) == ("failed", 3, 3), "a rerun changes nothing"


def test_any_exception_in_the_job_ends_it_failed(queued, monkeypatch):
    lender, import_id = queued
    fail_on_batch(monkeypatch, 1, RuntimeError("boom"))
    _, job = worker_runs(lender, import_id)
    assert (job.status, job.error_code, job.rows_processed) == ("failed", "import.failed", 0)
    assert "RuntimeError" in job.error_message and "boom" not in job.error_message


def test_a_timeout_is_left_to_rqs_retry_which_resumes_after_the_checkpoint(queued, monkeypatch):
    lender, import_id = queued
    real = imports._commit_batch
    fail_on_batch(monkeypatch, 3, JobTimeoutException("Task exceeded maximum timeout value"))
    with pytest.raises(JobTimeoutException):
        worker_runs(lender, import_id)
    db.session.rollback()
    with tenant_scope(lender.id):
        assert db.session.get(ImportJob, import_id).status == "running"
    monkeypatch.setattr(imports, "_commit_batch", real)
    result, job = worker_runs(lender, import_id)
    assert (result["status"], job.rows_created, job.rows_processed, accounts(lender)) == ("completed", 9, 9, 9)
