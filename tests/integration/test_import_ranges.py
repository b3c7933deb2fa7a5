"""A large import split into line ranges, each a job any worker may run: every row lands once, progress is the sum of
the ranges, the import completes when the last range does and fails when one fails, a range resumes after its own
checkpoint, and a reference in two ranges lands once with the other line reported as a duplicate."""
import io

import pytest
from sqlalchemy import func, select

from tenants.audit import AuditEvent
from tenants.context import tenant_scope
from tenants.db import db
from tenants.outbox import OutboxTask
from tenants.portfolios import imports
from tenants.portfolios.models import Account, ImportJob
from workers import jobs

from .test_imports import csv_bytes, good_row, resident_id


@pytest.fixture
def lender(factory, frozen_clock):
    return factory.tenant("lender")


@pytest.fixture(autouse=True)
def small_ranges(monkeypatch):
    monkeypatch.setattr(imports, "RANGE_ROWS", 4)
    monkeypatch.setattr(imports, "RANGE_MARK_EVERY", 1)
    monkeypatch.setattr(imports, "BATCH_SIZE", 2)


def split(lender, rows: list[str]) -> tuple[ImportJob, list]:
    """Upload and run the import's first job, which counts the rows and splits them."""
    with tenant_scope(lender.id):
        portfolio = imports.get_or_create_portfolio("2026-12 batch")
        job = imports.create_import(portfolio=portfolio, filename="p.csv", stream=io.BytesIO(csv_bytes(rows)),
                                    mapping=None, uploaded_by=None)
        job = imports.run_import(job.id)
        return job, [(part.id, part.first_line, part.last_line) for part in imports.ranges_of(job)]


def run(lender, job, range_id) -> ImportJob:
    with tenant_scope(lender.id):
        job = imports.run_range(job.id, range_id)
        db.session.refresh(job)
        return job


def accounts(lender) -> int:
    with tenant_scope(lender.id):
        return db.session.scalar(select(func.count()).select_from(Account))


def test_ranges_run_in_any_order_add_up_to_one_import(db_session, lender):
    rows = [good_row(n) for n in range(1, 11)]
    rows.insert(5, "HT90001,李四,110105198001010010,13800139999,12.345,0,2026-09-01\n")
    job, ranges = split(lender, rows)
    assert job.status == "running" and job.rows_total == 11 and job.rows_processed == 0
    assert [(first, last) for _, first, last in ranges] == [(2, 4), (5, 8), (9, 12)]
    with tenant_scope(lender.id):
        tasks = db_session.scalars(select(OutboxTask).where(OutboxTask.job == "workers.jobs.run_import_range"))
        assert sorted(task.arguments["range_id"] for task in tasks) == sorted(str(r[0]) for r in ranges)

    assert run(lender, job, ranges[2][0]).status == "running"
    job = run(lender, job, ranges[0][0])
    assert (job.status, job.rows_processed) == ("running", 7)
    job = run(lender, job, ranges[1][0])
    assert (job.status, job.rows_processed, job.rows_created, job.rows_failed) == ("completed", 11, 10, 1)
    assert accounts(lender) == 10
    with tenant_scope(lender.id):
        assert [e.line for e in imports.row_errors(job)] == [7]
        assert db_session.scalar(select(func.count()).select_from(AuditEvent).where(
            AuditEvent.action == "import.finished", AuditEvent.object_id == str(job.id))) == 1
    assert run(lender, job, ranges[1][0]).rows_processed == 11  # a range run again changes nothing


def test_a_file_within_one_range_is_imported_by_its_first_job_as_before(db_session, lender):
    job, ranges = split(lender, [good_row(n) for n in range(1, 5)])
    assert ranges == [] and (job.status, job.rows_created) == ("completed", 4)


@pytest.mark.parametrize("order,reported_line", [((0, 1, 2), 10), ((2, 1, 0), 2)])
def test_a_reference_in_two_ranges_lands_once_the_line_written_second_is_the_duplicate(db_session, lender, order,
                                                                                       reported_line):
    rows = [good_row(n) for n in range(1, 10)]
    rows.insert(8, good_row(1, principal="5"))  # line 10, in the last range; HT00001 is first on line 2
    job, ranges = split(lender, rows)
    for index in order:
        job = run(lender, job, ranges[index][0])
    assert (job.status, job.rows_created, job.rows_failed) == ("completed", 9, 1)
    with tenant_scope(lender.id):
        [error] = imports.row_errors(job)
        assert (error.line, error.errors[0]["code"]) == (reported_line, "external_ref.duplicate_in_file")
        principal = db_session.scalar(select(Account.principal_minor).where(Account.external_ref == "HT00001"))
        assert principal == (500 if reported_line == 2 else 100_000)


def test_a_range_killed_mid_way_resumes_after_its_own_checkpoint(db_session, lender, monkeypatch):
    job, ranges = split(lender, [good_row(n) for n in range(1, 13)])
    real, calls = imports._commit_batch, {"n": 0}

    def dies_on_second_batch(*args, **kwargs):
        calls["n"] += 1
        if calls["n"] == 2:
            raise ConnectionError("worker killed")
        return real(*args, **kwargs)

    monkeypatch.setattr(imports, "_commit_batch", dies_on_second_batch)
    with pytest.raises(ConnectionError):
        run(lender, job, ranges[1][0])
    db_session.rollback()
    monkeypatch.setattr(imports, "_commit_batch", real)
    for range_id, _, _ in ranges:
        job = run(lender, job, range_id)
    assert (job.status, job.rows_processed, job.rows_created, job.rows_failed) == ("completed", 12, 12, 0)
    assert accounts(lender) == 12


def test_a_second_worker_on_a_range_another_has_moved_writes_nothing(db_session, lender):
    job, ranges = split(lender, [good_row(n) for n in range(1, 9)])
    range_id, first, _ = ranges[0]
    run(lender, job, range_id)
    with tenant_scope(lender.id):
        job = imports.get_import(job.id)
        late = [(first, {"合同号": "HT00001", "姓名": "张1", "身份证号": resident_id(1), "手机号": "13800130001",
                         "本金": "1000.00", "利息": "50.5", "到期日": "2026-09-01"})]
        assert imports._commit_batch(job, late, imports.row_context(lender), claim=(range_id, first - 1)) is False
        db.session.refresh(job)
        assert (job.rows_processed, len(imports.row_errors(job))) == (4, 0)


def test_a_worker_that_finds_its_range_taken_leaves_the_import_running_for_a_retry(db_session, lender, monkeypatch):
    job, ranges = split(lender, [good_row(n) for n in range(1, 9)])
    monkeypatch.setattr(imports, "_claim", lambda *args, **kwargs: False)
    with tenant_scope(lender.id), pytest.raises(imports.RangeBusy):
        jobs.run_import_range(str(lender.id), str(job.id), str(ranges[0][0]))
    db_session.rollback()
    with tenant_scope(lender.id):
        job = imports.get_import(job.id)
        assert (job.status, job.rows_processed, job.error_code) == ("running", 0, None)


def test_a_failing_range_fails_the_import_and_the_others_stop(db_session, lender, monkeypatch):
    job, ranges = split(lender, [good_row(n) for n in range(1, 13)])

    def broken(*args, **kwargs):
        raise RuntimeError("disk full")

    real = imports._commit_batch
    monkeypatch.setattr(imports, "_commit_batch", broken)
    with tenant_scope(lender.id):
        jobs.run_import_range(str(lender.id), str(job.id), str(ranges[0][0]))
    monkeypatch.setattr(imports, "_commit_batch", real)
    job = run(lender, job, ranges[1][0])
    assert (job.status, job.error_code, job.rows_processed) == ("failed", "import.failed", 0)
    assert "in one of its ranges" in job.error_message and accounts(lender) == 0
