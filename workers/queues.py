"""Named queues and the one way to enqueue: by dotted name, with the tenant (or platform reason) in the job."""
from datetime import datetime

from rq import Queue, Retry

from workers.connection import connection

QUEUES = ("default", "imports", "billing")
DEFAULT_RETRY = Retry(max=5, interval=[10, 30, 120, 600, 1800])
# rq's default of 180 s would cut a million-row import into many resumed runs; an hour lets one run finish.
JOB_TIMEOUTS = {"imports": 3600}


def queue(name: str = "default") -> Queue:
    if name not in QUEUES:
        raise ValueError(f"unknown queue {name!r}")
    return Queue(name, connection=connection())


def enqueue(func: str, *, tenant_id, queue_name: str = "default", job_id: str | None = None,
            outbox_task_id=None, **kwargs):
    """Enqueue a tenant job. The worker enters the tenant's context from `meta` before running it."""
    meta = {"tenant_id": str(tenant_id)}
    if outbox_task_id is not None:
        meta["outbox_task_id"] = str(outbox_task_id)
    return queue(queue_name).enqueue(
        func, kwargs={"tenant_id": str(tenant_id), **kwargs}, job_id=job_id, meta=meta, retry=DEFAULT_RETRY,
        job_timeout=JOB_TIMEOUTS.get(queue_name),
    )


def enqueue_platform(func: str, *, reason: str, queue_name: str = "default", at: datetime | None = None,
                     job_id: str | None = None, **kwargs):
    """Enqueue cross-tenant work; it runs in an explicit platform context named by `reason`."""
    q = queue(queue_name)
    options = dict(kwargs=kwargs, job_id=job_id, meta={"platform_reason": reason}, retry=DEFAULT_RETRY)
    if at is not None:
        return q.enqueue_at(at, func, **options)
    return q.enqueue(func, **options)
