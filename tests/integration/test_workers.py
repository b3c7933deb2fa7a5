"""Real jobs through a real rq worker (forking work horse), the outbox and its sweeper, periodic scheduling."""
from datetime import timedelta

import pytest
from rq.registry import ScheduledJobRegistry
from sqlalchemy import select

from tenants import audit, outbox
from tenants.audit import AuditEvent
from tenants.context import platform_scope, tenant_scope
from tenants.db import db
from workers import dispatch, periodic
from workers.connection import connection
from workers.queues import enqueue, queue
from workers.worker import RecoverlyWorker


@pytest.fixture
def committed_tenant(app):
    """A forked worker opens its own connections, so it only sees committed rows."""
    from tests.factories import Factory

    with app.app_context():
        tenant = Factory(db.session).tenant()
        with tenant_scope(tenant.id):
            audit.record("test.event", object_type="tenant", object_id=tenant.id)
        db.session.commit()
        tenant_id = tenant.id
        db.session.remove()
    return tenant_id


def run_worker(app):
    worker = RecoverlyWorker(["default"], connection=connection(), flask_app=app)
    worker.work(burst=True, with_scheduler=False)


def _actions(app, tenant_id):
    with app.app_context(), tenant_scope(tenant_id):
        return [e.action for e in db.session.scalars(select(AuditEvent).order_by(AuditEvent.seq))]


def test_a_job_runs_in_a_forked_worker_inside_its_tenants_context(app, committed_tenant):
    job = enqueue("workers.jobs.verify_audit_chain", tenant_id=committed_tenant)
    run_worker(app)
    job.refresh()
    assert job.get_status() == "finished", job.latest_result().exc_string if job.latest_result() else None
    assert job.return_value() == {"ok": True, "checked": 1, "first_broken_seq": None}
    assert _actions(app, committed_tenant) == ["test.event", "audit.chain_verified"]


def test_running_the_same_job_twice_changes_nothing_it_should_not(app, committed_tenant):
    enqueue("workers.jobs.verify_audit_chain", tenant_id=committed_tenant)
    enqueue("workers.jobs.verify_audit_chain", tenant_id=committed_tenant)
    run_worker(app)
    with app.app_context(), tenant_scope(committed_tenant):
        assert audit.verify_chain(committed_tenant).ok, "two runs still leave one unbroken chain"


def test_outbox_work_survives_a_redis_outage_through_the_sweeper(app, committed_tenant, frozen_clock):
    def redis_is_down(task):
        raise ConnectionError("redis unreachable")

    outbox.set_dispatcher(redis_is_down)
    try:
        with app.app_context(), tenant_scope(committed_tenant):
            task_id = outbox.schedule("workers.jobs.verify_audit_chain").id
            db.session.commit()
            db.session.remove()
    finally:
        dispatch.install()
    assert queue("default").count == 0, "the enqueue failed, but the row remembers the work"

    frozen_clock.advance(outbox.STALE_AFTER + timedelta(seconds=1))
    with app.app_context(), platform_scope("test: sweeper"):
        from workers.jobs import sweep_outbox

        assert sweep_outbox() >= 1
    run_worker(app)
    with app.app_context(), tenant_scope(committed_tenant):
        task = db.session.get(outbox.OutboxTask, task_id)
        assert task.status == outbox.TaskStatus.DONE
    assert "audit.chain_verified" in _actions(app, committed_tenant)


def test_committed_outbox_tasks_are_enqueued_at_once(app, committed_tenant):
    with app.app_context(), tenant_scope(committed_tenant):
        outbox.schedule("workers.jobs.verify_audit_chain")
        db.session.commit()
        db.session.remove()
    assert queue("default").count == 1


def test_periodic_jobs_are_scheduled_once_per_slot_however_many_workers_ask(app):
    first = periodic.ensure_scheduled()
    second = periodic.ensure_scheduled()
    assert first == second
    registry = ScheduledJobRegistry(queue=queue("default"))
    assert set(first) <= set(registry.get_job_ids())


def test_an_uploaded_portfolio_is_imported_by_a_real_worker_on_the_imports_queue(app, committed_tenant):
    import io

    from tenants.portfolios import imports
    from tenants.portfolios.models import ImportJob

    csv = "external_ref,debtor_name,principal,days_past_due,phone\nQ1,Ann,10,40,13800138000\nQ2,Bob,x,40,1\n"
    with app.app_context(), tenant_scope(committed_tenant):
        portfolio = imports.get_or_create_portfolio("queued")
        import_id = imports.create_import(portfolio=portfolio, filename="q.csv", stream=io.BytesIO(csv.encode()),
                                          mapping=None, uploaded_by=None).id
        db.session.commit()
        db.session.remove()
    assert queue("imports").count == 1
    RecoverlyWorker(["imports"], connection=connection(), flask_app=app).work(burst=True, with_scheduler=False)
    with app.app_context(), tenant_scope(committed_tenant):
        job = db.session.get(ImportJob, import_id)
        assert (job.status, job.rows_created, job.rows_failed) == ("completed", 1, 1)
        task = db.session.scalar(select(outbox.OutboxTask).where(outbox.OutboxTask.job == "workers.jobs.run_import"))
        assert task.status == outbox.TaskStatus.DONE
