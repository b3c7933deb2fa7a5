"""Connects the domain's outbox to rq: committed tasks are enqueued by dotted name."""
from tenants import outbox
from workers.queues import enqueue


def enqueue_task(task) -> None:
    enqueue(task.job, tenant_id=task.tenant_id, queue_name=task.queue, outbox_task_id=task.id, **task.arguments)


def install() -> None:
    outbox.set_dispatcher(enqueue_task)
