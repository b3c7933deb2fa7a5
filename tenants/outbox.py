"""The outbox: a row says what background work must happen; the queued job is only the nudge.

A service calls `schedule()` inside its own transaction. After the commit the dispatcher installed by the
workers package enqueues the job; if Redis is down the row simply waits, and the periodic sweeper re-enqueues
every task that is still pending after `STALE_AFTER`. A Redis outage delays work, never loses it.
"""
import uuid
from datetime import datetime, timedelta

from sqlalchemy import JSON, Integer, String, Text, event, select
from sqlalchemy.orm import Mapped, Session, mapped_column

from tenants import clock
from tenants.context import TenantScoped, current_tenant_id
from tenants.db import UtcDateTime, UuidPrimaryKey, db

STALE_AFTER = timedelta(minutes=5)


class TaskStatus:
    PENDING = "pending"
    DONE = "done"


class OutboxTask(UuidPrimaryKey, TenantScoped, db.Model):
    __tablename__ = "outbox_tasks"

    job: Mapped[str] = mapped_column(String(200))
    queue: Mapped[str] = mapped_column(String(32), default="default")
    arguments: Mapped[dict] = mapped_column(JSON, default=dict)
    status: Mapped[str] = mapped_column(String(16), default=TaskStatus.PENDING, index=True)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=clock.now)
    last_enqueued_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    done_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    last_error: Mapped[str | None] = mapped_column(Text)


_dispatcher = None


def set_dispatcher(dispatch) -> None:
    """`dispatch(task)` enqueues one task; installed by the workers package."""
    global _dispatcher
    _dispatcher = dispatch


def schedule(job: str, *, queue: str = "default", **arguments) -> OutboxTask:
    task = OutboxTask(tenant_id=current_tenant_id(), job=job, queue=queue, arguments=arguments)
    db.session.add(task)
    db.session.flush()
    db.session.info.setdefault("outbox_new", []).append(
        _Detached(task.id, task.tenant_id, job, queue, dict(arguments))
    )
    return task


def dispatch(task: OutboxTask) -> bool:
    """Hand a task to the queue; a failure leaves it pending for the sweeper."""
    if _dispatcher is None:
        return False
    try:
        _dispatcher(task)
    except Exception as exc:  # Redis down, network blip: the sweeper retries later.
        task.last_error = f"enqueue failed: {exc}"[:2000]
        return False
    task.last_enqueued_at = clock.now()
    task.attempts += 1
    return True


def stale_tasks(limit: int = 500) -> list[OutboxTask]:
    """Pending tasks never enqueued or enqueued long ago. Call in a platform context."""
    cutoff = clock.now() - STALE_AFTER
    return list(db.session.scalars(
        select(OutboxTask).where(
            OutboxTask.status == TaskStatus.PENDING,
            # Enqueued after commit without a timestamp: give that nudge time before repeating it.
            ((OutboxTask.last_enqueued_at.is_(None)) & (OutboxTask.created_at < cutoff))
            | (OutboxTask.last_enqueued_at < cutoff),
        ).order_by(OutboxTask.created_at).limit(limit)
    ))


def mark_done(task_id: uuid.UUID) -> None:
    task = db.session.get(OutboxTask, task_id)
    if task is not None and task.status != TaskStatus.DONE:
        task.status, task.done_at = TaskStatus.DONE, clock.now()


@event.listens_for(Session, "after_commit")
def _dispatch_committed(session):
    tasks = session.info.pop("outbox_new", [])
    if _dispatcher is None:
        return
    for task in tasks:
        try:
            _dispatcher(task)
        except Exception:  # The sweeper picks it up.
            continue


@event.listens_for(Session, "after_rollback")
def _forget_rolled_back(session):
    session.info.pop("outbox_new", None)


class _Detached:
    """What the dispatcher needs of a task, captured at flush: after a commit the ORM object is expired."""

    def __init__(self, task_id, tenant_id, job, queue, arguments):
        self.id, self.tenant_id, self.job, self.queue, self.arguments = task_id, tenant_id, job, queue, arguments
