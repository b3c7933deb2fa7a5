"""A worker process killed with SIGKILL in the middle of an import range — between batches or inside one — loses
and duplicates nothing: the batch it was writing vanishes with its transaction, and the range, run again by another
process, resumes after the last committed checkpoint (issue 12). A real process and a real kill on PostgreSQL,
not a raised exception in this one."""
import io
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
from sqlalchemy import func, select

from tenants.context import tenant_scope
from tenants.db import db
from tenants.portfolios import imports
from tenants.portfolios.models import Account, ImportJob, ImportRange, ImportRowError
from tests.conftest import DATABASE_URL
from workers import jobs

from .test_imports import csv_bytes, good_row

pytestmark = pytest.mark.postgres

ROWS, RANGE_ROWS = 240, 80
# The killed worker writes batches of 8 rows and holds each batch's transaction open for a moment before its
# commit, so the kill lands inside a batch as often as between two.
WORKER = textwrap.dedent("""
    import sys, time, uuid
    from web import create_app
    from tenants.context import tenant_scope
    from tenants.portfolios import bulk, imports
    from workers import jobs

    imports.BATCH_SIZE = 8
    write = bulk.write

    def slow_write(*args, **kwargs):
        written = write(*args, **kwargs)
        time.sleep(0.05)
        return written

    bulk.write = slow_write
    tenant_id, import_id, range_id = sys.argv[1:4]
    app = create_app({"SQLALCHEMY_DATABASE_URI": sys.argv[4], "REDIS_URL": sys.argv[5], "TESTING": True})
    with app.app_context(), tenant_scope(uuid.UUID(tenant_id)):
        print("started", flush=True)
        jobs.run_import_range(tenant_id, import_id, range_id)
""")


@pytest.fixture
def split_import(app, monkeypatch):
    """A committed lender and a committed import of ROWS rows, split into ranges by its first job."""
    from tests.factories import Factory

    monkeypatch.setattr(imports, "RANGE_ROWS", RANGE_ROWS)
    monkeypatch.setattr(imports, "RANGE_MARK_EVERY", 8)
    with app.app_context():
        lender = Factory(db.session).tenant("lender")
        db.session.commit()
        with tenant_scope(lender.id):
            portfolio = imports.get_or_create_portfolio("kill test")
            job = imports.create_import(portfolio=portfolio, filename="kill.csv",
                                        stream=io.BytesIO(csv_bytes([good_row(n) for n in range(1, ROWS + 1)])),
                                        mapping=None, uploaded_by=None)
            db.session.commit()
            job = imports.run_import(job.id)
            ranges = [part.id for part in imports.ranges_of(job)]
            db.session.commit()
        ids = lender.id, job.id, ranges
        db.session.remove()
    return ids


def _checkpoint(app, tenant_id, range_id) -> tuple[int, int]:
    with app.app_context(), tenant_scope(tenant_id):
        part = db.session.get(ImportRange, range_id)
        found = part.first_line, part.checkpoint_line
        db.session.remove()
        return found


def _kill_mid_range(app, redis_url, tenant_id, import_id, range_id) -> int:
    """Start a worker process on the range, SIGKILL it once it has committed a few batches; the checkpoint then."""
    worker = subprocess.Popen([sys.executable, "-c", WORKER, str(tenant_id), str(import_id), str(range_id),
                               DATABASE_URL, redis_url], cwd=Path(__file__).resolve().parents[2],
                              env=os.environ.copy(), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            first, checkpoint = _checkpoint(app, tenant_id, range_id)
            if checkpoint >= first - 1 + 3 * 8:
                break
            assert worker.poll() is None, worker.stdout.read()
            time.sleep(0.01)
        else:
            pytest.fail("the worker committed no batch within a minute")
        worker.send_signal(signal.SIGKILL)
        assert worker.wait(timeout=10) == -signal.SIGKILL
    finally:
        if worker.poll() is None:
            worker.kill()
    time.sleep(0.2)  # the server notices the dead connection and rolls its open batch back
    return _checkpoint(app, tenant_id, range_id)[1]


def test_a_worker_killed_mid_range_loses_and_duplicates_no_row(app, redis_url, split_import):
    tenant_id, import_id, ranges = split_import
    assert len(ranges) == ROWS // RANGE_ROWS
    killed_at = _kill_mid_range(app, redis_url, tenant_id, import_id, ranges[1])
    with app.app_context(), tenant_scope(tenant_id):
        first_line = db.session.get(ImportRange, ranges[1]).first_line
        landed = db.session.scalar(select(func.count()).select_from(Account))
        assert landed == killed_at - first_line + 1, "only the committed batches of the killed range landed"
        assert first_line + 3 * 8 - 1 <= killed_at < first_line + RANGE_ROWS - 1, "it was killed mid-way"
        for range_id in ranges:  # another worker takes the range up, and the others
            jobs.run_import_range(str(tenant_id), str(import_id), str(range_id))
        db.session.expire_all()
        job = db.session.get(ImportJob, import_id)
        assert (job.status, job.rows_processed, job.rows_created, job.rows_updated, job.rows_failed) == \
               ("completed", ROWS, ROWS, 0, 0)
        assert db.session.scalar(select(func.count()).select_from(Account)) == ROWS
        refs = db.session.scalars(select(Account.external_ref)).all()
        assert sorted(refs) == sorted(f"HT{n:05d}" for n in range(1, ROWS + 1))
        assert db.session.scalar(select(func.count()).select_from(ImportRowError)
                                 .where(ImportRowError.import_id == import_id)) == 0
        db.session.remove()
