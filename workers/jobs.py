"""Jobs: take ids and the tenant id, re-read state, and change nothing when run a second time."""
import logging
import uuid
from datetime import timedelta

from sqlalchemy import select

from tenants import audit, clock, outbox
from tenants.db import db
from tenants.tenancy.models import Tenant
from workers import periodic
from workers.queues import enqueue

log = logging.getLogger(__name__)


# rq job states in which a run of the task is still to come.
_COMING = {"queued", "scheduled", "deferred"}
SWEEP_GRACE = timedelta(seconds=15)


def sweep_outbox() -> int:
    """Re-enqueue outbox tasks whose job was lost, asking PostgreSQL what must run and Redis what is on its way.

    A pending task no live run holds (its lease free or lapsed) is enqueued again when its job is gone from Redis
    (Redis restarted empty, the enqueue after commit failed) — once its first nudge had `SWEEP_GRACE`, or on the
    second sweep that finds it missing — or when the run that claimed it died (its lease lapsed), or when its job
    ended without finishing it (retries used up) `outbox.STALE_AFTER` ago. A job still queued, scheduled or
    deferred is left to come. A task held by a live lease is never touched: one run at a time."""
    from rq.job import Job

    from workers.dispatch import job_id_of
    from workers.webhook_nudges import connection

    now = clock.now()
    tasks = outbox.unclaimed_tasks()
    redis = connection()
    states = _job_states(redis, [job_id_of(task) for task in tasks])
    seen_missing = _seen_missing(redis, [task for task, state in zip(tasks, states) if state is None])
    nudged = 0
    for task, state in zip(tasks, states):
        if state in _COMING:
            continue
        enqueued = task.last_enqueued_at
        if outbox.lease_lapsed(task):
            due = True
        elif state is None:
            due = enqueued is None or enqueued < now - SWEEP_GRACE or task.id in seen_missing
        elif state == "started":
            due = enqueued is None or enqueued < now - outbox.STALE_AFTER  # its run is about to claim it
        else:  # finished, failed, stopped, canceled without the task done
            due = enqueued is None or enqueued < now - outbox.STALE_AFTER
        if due:
            if state not in (None, "started"):
                _forget(Job, job_id_of(task), redis)  # its ended job, so the new one starts clean
            nudged += bool(outbox.dispatch(task))
    db.session.commit()
    nudged += dispatch_webhooks(stale_only=True)
    periodic.ensure_scheduled()
    if nudged:
        log.info("outbox sweeper re-enqueued %d task(s)", nudged)
    return nudged


def _forget(job_class, job_id: str, redis) -> None:
    try:
        job_class.fetch(job_id, connection=redis).delete()
    except Exception:  # noqa: BLE001 - gone already, or unreadable: the enqueue overwrites it
        pass


def _job_states(redis, job_ids: list[str]) -> list[str | None]:
    if not job_ids:
        return []
    pipe = redis.pipeline(transaction=False)
    for job_id in job_ids:
        pipe.hget(f"rq:job:{job_id}", "status")
    return [state.decode() if state else None for state in pipe.execute()]


def _seen_missing(redis, tasks) -> set:
    """Tasks whose job an earlier sweep also found missing (a second sighting, whatever the clock says)."""
    if not tasks:
        return set()
    keys = [f"outbox:missing:{task.id}" for task in tasks]
    pipe = redis.pipeline(transaction=False)
    for key in keys:
        pipe.set(key, "1", nx=True, ex=3600)
    fresh = pipe.execute()
    return {task.id for task, was_set in zip(tasks, fresh) if not was_set}


def verify_audit_chain(tenant_id: str) -> dict:
    """Check one tenant's chain and record the result in that chain."""
    report = audit.verify_chain(uuid.UUID(tenant_id))
    audit.record("audit.chain_verified" if report.ok else "audit.chain_broken", object_type="audit_chain",
                 object_id=tenant_id, after={"ok": report.ok, "checked": report.checked,
                                             "first_broken_seq": report.first_broken_seq, "reason": report.reason})
    db.session.commit()
    return {"ok": report.ok, "checked": report.checked, "first_broken_seq": report.first_broken_seq}


def verify_all_audit_chains() -> int:
    tenant_ids = [str(t) for t in db.session.scalars(select(Tenant.id))]
    for tenant_id in tenant_ids:
        enqueue("workers.jobs.verify_audit_chain", tenant_id=tenant_id)
    periodic.ensure_scheduled()
    return len(tenant_ids)


def run_import(tenant_id: str, import_id: str) -> dict:
    """Validate and upsert an uploaded portfolio; safe to rerun (it resumes after its last checkpoint).

    Whatever goes wrong, the import ends `failed` with its reason rather than `running` for ever. Only a timeout
    is left to rq's retries, since each retry resumes where the last one stopped; if even the failure cannot be
    written (the database is gone), the job fails, rq retries it and the outbox sweeper brings it back."""
    from rq.timeouts import JobTimeoutException

    from tenants.portfolios.imports import mark_failed
    from tenants.portfolios.imports import run_import as run

    try:
        job = run(uuid.UUID(import_id))
    except JobTimeoutException:
        raise
    except Exception as exc:  # noqa: BLE001 - any error: recorded on the import, logged in full by mark_failed
        job = mark_failed(uuid.UUID(import_id), exc)
    return {"status": job.status, "created": job.rows_created, "updated": job.rows_updated, "failed": job.rows_failed,
            "error_code": job.error_code}


def run_import_range(tenant_id: str, import_id: str, range_id: str) -> dict:
    """One line range of a split import (tenants.portfolios.imports.run_range); safe to rerun, and to run beside
    the other ranges on any worker. Fails the import like `run_import` does, except when another worker holds the
    range: then this job fails and is retried (rq, the outbox sweeper) until the range is done."""
    from rq.timeouts import JobTimeoutException

    from tenants.portfolios.imports import RangeBusy, mark_failed, run_range

    try:
        job = run_range(uuid.UUID(import_id), uuid.UUID(range_id))
    except (JobTimeoutException, RangeBusy):
        raise
    except Exception as exc:  # noqa: BLE001 - any error: recorded on the import, logged in full by mark_failed
        job = mark_failed(uuid.UUID(import_id), exc)
    return {"status": job.status, "processed": job.rows_processed, "error_code": job.error_code}


def expire_placements() -> int:
    """Daily: active placements past their period go back to their lenders."""
    from tenants.placements.services import expire_due

    expired = expire_due()
    db.session.commit()
    periodic.ensure_scheduled()
    return expired


def end_lapsed_holds() -> int:
    """Holds whose end has come are resolved and told (hold.ended); a rerun changes nothing."""
    from tenants.conduct.service import end_lapsed_holds as end_them

    ended = end_them()
    db.session.commit()
    periodic.ensure_scheduled()
    return ended


def send_message(tenant_id: str, message_id: str) -> dict:
    """Deliver one queued message through its gateway; a message already sent is not sent again."""
    from flask import current_app

    from tenants.messaging.sending import deliver

    message = deliver(uuid.UUID(message_id), current_app.config)
    return {"status": message.status, "attempts": message.attempts}


def review_promises_and_plans() -> int:
    """Daily: a review job for each agency with open promises or plans."""
    from tenants.casework.review import agencies_to_review

    tenant_ids = [str(t) for t in agencies_to_review()]
    for tenant_id in tenant_ids:
        enqueue("workers.jobs.review_agency_promises_and_plans", tenant_id=tenant_id)
    periodic.ensure_scheduled()
    return len(tenant_ids)


def review_agency_promises_and_plans(tenant_id: str) -> dict:
    """Promises kept or broken, instalments kept or missed, plans completed or broken; a rerun changes nothing."""
    from tenants.casework.review import review_agency

    result = review_agency()
    db.session.commit()
    return result


def lapse_settlements() -> int:
    """Daily: settlement offers past their deadline lapse."""
    from tenants.casework.settlements import lapse_due

    lapsed = lapse_due()
    db.session.commit()
    periodic.ensure_scheduled()
    return lapsed


def _stripe_gateway():
    from flask import current_app

    from tenants.billing.stripe_gateway import StripeGateway, StripeSettings

    return StripeGateway(StripeSettings.from_config(current_app.config))


def ensure_stripe_customer(tenant_id: str) -> dict:
    """The payer's Stripe customer and subscription; a rerun finds them (at Stripe too) and creates nothing."""
    from tenants.billing.invoicing import ensure_customer

    plan = ensure_customer(db.session.get(Tenant, uuid.UUID(tenant_id)), _stripe_gateway())
    return {"customer": plan.stripe_customer_id, "subscription": plan.stripe_subscription_id}


def bill_tenant(tenant_id: str) -> dict:
    """Push the payer's unbilled cases to Stripe and invoice its ended periods; exactly once however often it
    runs, even after dying between Stripe's answer and our commit (tenants.billing.invoicing)."""
    from tenants.billing.invoicing import bill

    gateway = _stripe_gateway()
    run = bill(db.session.get(Tenant, uuid.UUID(tenant_id)), gateway)
    return {**run.as_dict(), "stripe_calls": gateway.total_calls}


def bill_all_tenants() -> int:
    """Hourly: a billing job for every payer with cases not yet invoiced (the usage rows are the outbox)."""
    from tenants.billing.invoicing import payers_to_bill

    tenant_ids = [str(t) for t in payers_to_bill()]
    for tenant_id in tenant_ids:
        enqueue("workers.jobs.bill_tenant", tenant_id=tenant_id, queue_name="billing")
    periodic.ensure_scheduled()
    return len(tenant_ids)


def dispatch_webhooks(stale_only: bool = False) -> int:
    """Platform: queue a delivery job for each tenant with webhook events to fan out or deliveries due
    (`stale_only`: the sweeper's question, work whose nudge should have come by now)."""
    from tenants.webhooks.delivery import tenants_with_work
    from workers import webhook_nudges

    if not stale_only:
        webhook_nudges.connection().delete(webhook_nudges.DISPATCH_MARK)
    tenant_ids = tenants_with_work(stale_only=stale_only)
    return sum(1 for tenant_id in tenant_ids if webhook_nudges.nudge_tenant(tenant_id))


def deliver_webhooks(tenant_id: str) -> dict:
    """One tenant's webhook pass (tenants.webhooks.delivery.run); a retry due later gets a job at that time."""
    from flask import current_app

    from tenants.webhooks import delivery
    from tenants.webhooks.endpoints import allow_private
    from workers import webhook_nudges

    webhook_nudges.connection().delete(webhook_nudges.deliver_mark(tenant_id))
    result = delivery.run(uuid.UUID(tenant_id), allow_private=allow_private(current_app.config))
    if result["out_of_time"]:
        webhook_nudges.nudge_tenant(tenant_id)
    elif result["next_due"] is not None:
        webhook_nudges.nudge_tenant_at(tenant_id, result["next_due"])
    return {**result, "next_due": result["next_due"].isoformat() if result["next_due"] else None}


def generate_export(tenant_id: str, export_id: str) -> dict:
    """Make one export's file (tenants.exchange.files.generate); a finished export is left as it is, a failed run
    raises for rq's retries (and the outbox sweeper) to run it again."""
    from tenants.exchange import files

    export = files.generate(uuid.UUID(export_id))
    if export is None:
        return {"status": "missing"}
    return {"status": export.status, "rows": export.row_count, "size_bytes": export.size_bytes}


def run_exchange() -> dict:
    """Hourly: every tenant's due export schedules asked for (a file each, or one per agency for "what changed"),
    and files past their download window purged."""
    from tenants.exchange import service

    made = service.run_due()
    periodic.ensure_scheduled()
    return {"exports": made}
