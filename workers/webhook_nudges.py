"""Nudges for webhook delivery. The events table is the outbox (tenants.webhooks): these only wake the workers.

After a commit that wrote events, one platform job (`dispatch_webhooks`) is queued unless one is already waiting;
it queues one delivery job per tenant with work, again unless one is waiting for that tenant. A job clears its
"waiting" mark before it reads, so work committed while it runs gets a job of its own. Lost nudges (Redis down) are
made good by the outbox sweeper (workers.jobs.sweep_outbox), which asks the same question of the database.
"""
from datetime import datetime, timezone

from tenants import clock
from workers.connection import connection
from workers.queues import enqueue, enqueue_platform, queue

DISPATCH_MARK = "webhooks:dispatch:queued"
MARK_TTL_S = 300


def deliver_mark(tenant_id) -> str:
    return f"webhooks:{tenant_id}:deliver:queued"


def nudge_dispatch() -> None:
    if connection().set(DISPATCH_MARK, "1", nx=True, ex=MARK_TTL_S):
        enqueue_platform("workers.jobs.dispatch_webhooks", reason="webhooks: which tenants have events to deliver")


def nudge_tenant(tenant_id) -> bool:
    if connection().set(deliver_mark(tenant_id), "1", nx=True, ex=MARK_TTL_S):
        enqueue("workers.jobs.deliver_webhooks", tenant_id=tenant_id)
        return True
    return False


def nudge_tenant_at(tenant_id, due: datetime) -> None:
    """A delivery job when the next retry is due (the worker's scheduler runs it; business time may be a test
    clock, so the wait is measured on it and applied to real time)."""
    wait = max((due - clock.now()).total_seconds(), 1)
    at = datetime.fromtimestamp(datetime.now(timezone.utc).timestamp() + wait, tz=timezone.utc)
    meta = {"tenant_id": str(tenant_id)}
    queue("default").enqueue_at(at, "workers.jobs.deliver_webhooks", kwargs={"tenant_id": str(tenant_id)},
                                meta=meta, job_id=f"webhooks-retry-{tenant_id}-{int(at.timestamp())}")
