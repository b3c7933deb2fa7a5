"""Connects the domain to its infrastructure: committed outbox tasks are enqueued to rq by dotted name, and the
conduct engine's next-permitted cache lives in the same Redis."""
from tenants import outbox, webhooks
from tenants.conduct import windows
from workers.connection import connection
from workers.queues import enqueue
from workers.webhook_nudges import nudge_dispatch


def job_id_of(task) -> str:
    """One rq job id per outbox task: the sweeper asks Redis whether the task's job is still there."""
    return f"outbox-{task.id}"


def enqueue_task(task) -> None:
    enqueue(task.job, tenant_id=task.tenant_id, queue_name=task.queue, outbox_task_id=task.id,
            job_id=job_id_of(task), **task.arguments)


def install() -> None:
    outbox.set_dispatcher(enqueue_task)
    windows.set_redis(connection)
    webhooks.set_nudger(nudge_dispatch)
