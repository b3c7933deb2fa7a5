"""The outbox: a row says what background work must happen; the queued job is only the nudge.

A service calls `schedule()` inside its own transaction, which also records the enqueue time. After the commit
the dispatcher installed by the workers package enqueues the job; if Redis is down the row simply waits, and the
periodic sweeper (workers.jobs.sweep_outbox) re-enqueues every pending task whose job Redis no longer holds. A
Redis outage delays work, never loses it.

One run at a time: a job claims its task with a lease in PostgreSQL (`claim`) before it works and renews it while
it works (`renew`); a second copy of the job finds the claim and leaves. A run whose worker died stops renewing,
its lease lapses after `LEASE`, and the sweeper hands the task to another worker. Leases run on real time, like
the queues (the test clock only moves business time).
"""
import uuid
from datetime import datetime, timedelta, timezone

from sqlalchemy import JSON, Integer, String, Text, event, or_, select, text, update
from sqlalchemy.orm import Mapped, Session, mapped_column

from tenants import clock
from tenants.context import TenantScoped, current_tenant_id
from tenants.db import UtcDateTime, UuidPrimaryKey, db

STALE_AFTER = timedelta(minutes=5)
# How long a claim holds without renewal; the holder renews it every LEASE / 3 (workers.leases).
LEASE = timedelta(seconds=30)


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
    lease_holder: Mapped[str | None] = mapped_column(String(100))
    leased_until: Mapped[datetime | None] = mapped_column(UtcDateTime)


_dispatcher = None


def set_dispatcher(dispatch) -> None:
    """`dispatch(task)` enqueues one task; installed by the workers package."""
    global _dispatcher
    _dispatcher = dispatch


def schedule(job: str, *, queue: str = "default", **arguments) -> OutboxTask:
    # Enqueued right after this transaction commits: the time is recorded with the task, so the sweeper gives that
    # nudge its time instead of taking the task for lost.
    task = OutboxTask(tenant_id=current_tenant_id(), job=job, queue=queue, arguments=arguments,
                      last_enqueued_at=clock.now(), attempts=1)
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
    """Pending tasks never enqueued or enqueued long ago, and not held by a live run. Call in a platform
    context."""
    cutoff = clock.now() - STALE_AFTER
    return [task for task in unclaimed_tasks(limit)
            if task.last_enqueued_at is None or task.last_enqueued_at < cutoff]


def unclaimed_tasks(limit: int = 500) -> list[OutboxTask]:
    """Pending tasks no live run holds (no lease, or one that lapsed): the sweeper's candidates, which it checks
    against what Redis still holds. Call in a platform context."""
    return list(db.session.scalars(
        select(OutboxTask).where(OutboxTask.status == TaskStatus.PENDING,
                                 or_(OutboxTask.leased_until.is_(None), OutboxTask.leased_until < real_now()))
        .order_by(OutboxTask.created_at).limit(limit)
    ))


def lease_lapsed(task: OutboxTask) -> bool:
    """A run claimed the task and stopped renewing its claim (its worker died)."""
    return task.leased_until is not None and task.leased_until < real_now()


def mark_done(task_id: uuid.UUID) -> None:
    task = db.session.get(OutboxTask, task_id)
    if task is not None and task.status != TaskStatus.DONE:
        task.status, task.done_at = TaskStatus.DONE, clock.now()
        task.lease_holder = task.leased_until = None


# ---- leases: one run at a time per task ---------------------------------------------------------------------
# Each is a short transaction of its own on its own connection, in the platform context (the lease is the worker's
# business, not the tenant's), so it commits whatever the job's own transaction does.

def real_now() -> datetime:
    return datetime.now(timezone.utc)


def claim(task_id: uuid.UUID, holder: str, lease: timedelta = LEASE) -> bool:
    """Take the task for `holder` unless it is done or another run holds a live lease."""
    now = real_now()
    return _lease_update(update(OutboxTask).where(
        OutboxTask.id == task_id, OutboxTask.status == TaskStatus.PENDING,
        or_(OutboxTask.leased_until.is_(None), OutboxTask.leased_until < now, OutboxTask.lease_holder == holder),
    ).values(lease_holder=holder, leased_until=now + lease))


def renew(task_id: uuid.UUID, holder: str, lease: timedelta = LEASE) -> bool:
    """Extend the holder's claim; False when it lost it (it lapsed and another run took the task)."""
    return _lease_update(update(OutboxTask).where(OutboxTask.id == task_id, OutboxTask.lease_holder == holder)
                         .values(leased_until=real_now() + lease))


def release(task_id: uuid.UUID, holder: str) -> bool:
    """Give the task back (the run failed and will be retried): the next run need not wait for the lease."""
    return _lease_update(update(OutboxTask).where(OutboxTask.id == task_id, OutboxTask.lease_holder == holder)
                         .values(lease_holder=None, leased_until=None))


def finish(task_id: uuid.UUID, holder: str) -> bool:
    """The run's work is committed: the task is done and its lease cleared."""
    return _lease_update(update(OutboxTask).where(OutboxTask.id == task_id, OutboxTask.status == TaskStatus.PENDING)
                         .values(status=TaskStatus.DONE, done_at=clock.now(), lease_holder=None, leased_until=None))


_PLATFORM_SQL = text("SELECT app_enter_platform(:key)")


def _lease_update(statement) -> bool:
    from tenants.context import lock_key

    with db.engine.connect() as connection:
        with connection.begin():
            if connection.dialect.name == "postgresql":
                connection.execute(_PLATFORM_SQL, {"key": lock_key()})
            moved = connection.execute(statement.execution_options(synchronize_session=False))
            return moved.rowcount == 1


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
