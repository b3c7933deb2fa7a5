"""The rq worker: each job runs inside the app context and the tenant (or platform) context its meta names.

Resilience (issue 17), all inside the worker process, no cron and no other daemon:

- **Schedules that rebuild themselves.** Every `TICK` seconds each worker re-declares the periodic jobs
  (workers.periodic: one place, idempotent per slot), so a Redis restart, flush or failover loses them for one tick
  at most. One worker at a time holds the scheduler lock — short-lived (`LOCK_TTL`) and renewed on every poll —
  and moves due scheduled jobs (periodic slots, retries) onto their queues; when it dies, the lock lapses and the
  next worker to tick takes it (within LOCK_TTL + TICK). rq's own scheduler process, which dies on a Redis
  reconnect, is not used.
- **Abandoned jobs.** The worker's heartbeat for a running job lapses `JOB_HEARTBEAT_GRACE` seconds after its last
  beat (rq's default: 90), and registries are cleaned every TICK, so a job whose worker died is retried within a
  minute; an outbox task's lease lapses after `outbox.LEASE` and the sweeper hands it on (workers.jobs.sweep_outbox).
- **One run at a time.** A job that carries an outbox task claims the task's lease in PostgreSQL first
  (`RecoverlyJob`) and renews it while it runs; a second copy finds the claim and leaves without working.
- **Workers that die whole.** The work horse asks the kernel to kill it when the worker dies
  (PR_SET_PDEATHSIG), and exits at once if the worker is already gone; where prctl is missing a thread polls the
  parent. Killing the worker (even with SIGKILL, even its process group) ends its current job too.
- **Redis outages do not end the worker.** Lost connections and timeouts in its loop are waited out and the
  loop goes on; the periodic jobs come back at the next tick after Redis does.
"""
import ctypes
import logging
import os
import signal
import socket
import threading
import time
import uuid
from datetime import timedelta

import redis
from rq import Worker
from rq.job import Job
from rq.registry import ScheduledJobRegistry
from rq.scheduler import RQScheduler
from rq.scripts import acquire_or_refresh_lock, release_lock

from tenants import audit, outbox
from tenants.context import TenantContext, activate, deactivate
from tenants.db import db
from workers import periodic
from workers.connection import blocking_connection
from workers.queues import QUEUES

log = logging.getLogger(__name__)


def _seconds(name: str, default: float) -> float:
    return float(os.environ.get(name) or default)


POLL = _seconds("RECOVERLY_WORKER_POLL", 2)            # dequeue wait; the lock holder moves due jobs this often
TICK = _seconds("RECOVERLY_WORKER_TICK", 15)           # re-declare schedules, try the lock, clean registries
LOCK_TTL = _seconds("RECOVERLY_SCHEDULER_LOCK_TTL", 30)
JOB_MONITORING = _seconds("RECOVERLY_JOB_MONITORING_INTERVAL", 5)
JOB_HEARTBEAT_GRACE = _seconds("RECOVERLY_JOB_HEARTBEAT_GRACE", 20)
LEASE = timedelta(seconds=_seconds("RECOVERLY_OUTBOX_LEASE", outbox.LEASE.total_seconds()))
SCHEDULER_LOCK = "recoverly:scheduler-lock"
PR_SET_PDEATHSIG = 1


def job_context(meta: dict) -> TenantContext:
    if meta.get("platform_reason"):
        return TenantContext(tenant_id=None, platform_reason=f"job: {meta['platform_reason']}")
    tenant_id = meta.get("tenant_id")
    if not tenant_id:
        raise ValueError("job carries neither a tenant nor a platform reason")
    return TenantContext(tenant_id=uuid.UUID(tenant_id))


# ---- one run at a time per outbox task -------------------------------------------------------------------------

class LeaseKeeper(threading.Thread):
    """Renews a claim every third of its length until stopped, on connections of its own."""

    def __init__(self, app, task_id: uuid.UUID, holder: str):
        super().__init__(name=f"lease-{task_id}", daemon=True)
        self.app, self.task_id, self.holder = app, task_id, holder
        self.stopped = threading.Event()

    def run(self):
        while not self.stopped.wait(LEASE.total_seconds() / 3):
            try:
                with self.app.app_context():
                    if not outbox.renew(self.task_id, self.holder, LEASE):
                        log.warning("outbox task %s: this run's lease was taken over", self.task_id)
                        return
            except Exception as error:  # noqa: BLE001 - a database blip: the next beat tries again
                log.warning("outbox task %s: lease renewal failed: %s", self.task_id, type(error).__name__)


class RecoverlyJob(Job):
    def _execute(self):
        task_id = self.meta.get("outbox_task_id")
        if not task_id:
            return super()._execute()
        from flask import current_app

        task_id = uuid.UUID(task_id)
        holder = f"{socket.gethostname()}:{os.getpid()}:{self.id}"[:100]
        if not outbox.claim(task_id, holder, LEASE):
            log.info("outbox task %s is done or held by another run: job %s leaves it", task_id, self.id)
            return {"skipped": "outbox task done or claimed by another run"}
        keeper = LeaseKeeper(current_app._get_current_object(), task_id, holder)
        keeper.start()
        try:
            result = super()._execute()
        except BaseException:
            keeper.stopped.set()
            db.session.remove()  # what the run left open, before the lease is written (see below)
            try:
                outbox.release(task_id, holder)  # a retry need not wait for the lease to lapse
            except Exception:  # noqa: BLE001 - then the lease lapses by itself
                log.warning("outbox task %s: could not release the lease", task_id)
            raise
        keeper.stopped.set()
        # The run's work is committed; a transaction it left open (a read after its commit) ends here, before the
        # lease is written on a connection of its own. On SQLite (the demo) that open transaction held the write
        # lock, and the lease waited for it in the same process: "database is locked" after busy_timeout, the job
        # failed and ran again.
        db.session.remove()
        outbox.finish(task_id, holder)
        return result


# ---- the horse dies with its worker ----------------------------------------------------------------------------

def die_with_parent(parent_pid: int) -> None:
    """In the work horse, right after the fork: the kernel kills it when the worker dies."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        if libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0) != 0:
            raise OSError(ctypes.get_errno(), "prctl(PR_SET_PDEATHSIG) failed")
    except (OSError, AttributeError):
        threading.Thread(target=_watch_parent, args=(parent_pid,), name="watch-parent", daemon=True).start()
    if os.getppid() != parent_pid:  # the worker died between the fork and the prctl
        os._exit(1)


def _watch_parent(parent_pid: int) -> None:
    while os.getppid() == parent_pid:
        time.sleep(1)
    os._exit(1)


# ---- the worker --------------------------------------------------------------------------------------------------

class RecoverlyWorker(Worker):
    flask_app = None
    job_class = RecoverlyJob

    def __init__(self, *args, flask_app=None, schedule: bool = False, **kwargs):
        kwargs.setdefault("job_class", RecoverlyJob)
        kwargs.setdefault("job_monitoring_interval", max(1, int(JOB_MONITORING)))
        kwargs.setdefault("maintenance_interval", TICK)
        super().__init__(*args, **kwargs)
        self.flask_app = flask_app
        self._parent_pid = os.getpid()
        self.schedules = schedule
        self.holds_scheduler_lock = False
        self._last_tick = self._last_move = 0.0
        self._redis_trouble_logged = False
        self._mover = None
        self.stop_signalled = False

    def request_stop(self, signum, frame):
        self.stop_signalled = True  # rq only notes a stop while busy; run() must not start the loop again
        super().request_stop(signum, frame)

    # rq waits for a job this long between heartbeats (and ticks)
    @property
    def dequeue_timeout(self) -> int:
        return max(1, int(POLL))

    def get_heartbeat_ttl(self, job) -> int:
        return int(self.job_monitoring_interval + JOB_HEARTBEAT_GRACE)

    def main_work_horse(self, job, queue):
        die_with_parent(self._parent_pid)
        super().main_work_horse(job, queue)

    def perform_job(self, job, queue):
        with self.flask_app.app_context():
            if os.getpid() != self._parent_pid:
                # A forked work horse must not share the parent's pooled sockets.
                db.engine.dispose(close=False)
            context_token = activate(job_context(job.meta))
            actor_token = audit.set_actor(audit.Actor(label=f"job:{job.func_name}"))
            try:
                return super().perform_job(job, queue)
            finally:
                audit.reset_actor(actor_token)
                deactivate(context_token)
                db.session.remove()

    # ---- Redis trouble is waited out, never the end of the worker ----

    def _redis_trouble(self, where: str, error: Exception) -> None:
        if not self._redis_trouble_logged:
            log.error("worker %s: Redis unavailable (%s: %s); waiting for it", self.name, where, type(error).__name__)
            self._redis_trouble_logged = True

    def dequeue_job_and_maintain_ttl(self, timeout, max_idle_time=None):
        wait = 1.0
        while True:
            try:
                found = super().dequeue_job_and_maintain_ttl(timeout, max_idle_time)
            except redis.TimeoutError as error:  # rq would end the worker on this one
                self._redis_trouble("dequeue", error)
                time.sleep(wait)
                wait = min(wait * 2, 15)
                continue
            if self._redis_trouble_logged:
                log.warning("worker %s: Redis is back", self.name)
                self._redis_trouble_logged = False
            return found

    def heartbeat(self, timeout=None, pipeline=None):
        try:
            super().heartbeat(timeout, pipeline)
        except redis.RedisError as error:  # the dequeue that follows waits for Redis
            self._redis_trouble("heartbeat", error)
            return
        if pipeline is None:
            self.tick()

    def maintain_heartbeats(self, job):
        try:
            super().maintain_heartbeats(job)
        except redis.RedisError as error:
            self._redis_trouble("job heartbeat", error)
        self.tick()

    def check_for_suspension(self, burst):
        try:
            return super().check_for_suspension(burst)
        except redis.RedisError as error:
            self._redis_trouble("suspension check", error)

    def run_maintenance_tasks(self):
        try:
            super().run_maintenance_tasks()
        except redis.RedisError as error:
            self._redis_trouble("registry cleanup", error)

    def execute_job(self, job, queue):
        try:
            super().execute_job(job, queue)
        except redis.RedisError as error:
            # The horse ended but its status could not be read or written; the outbox lease and the registries'
            # cleanup settle it once Redis is back.
            self._redis_trouble("job bookkeeping", error)
            if self.horse_pid:
                self.wait_for_horse()

    # ---- schedules that rebuild themselves ----

    def tick(self) -> None:
        if not self.schedules or os.getpid() != self._parent_pid:
            return
        now = time.monotonic()
        try:
            if now - self._last_tick >= TICK:
                self._last_tick = now
                periodic.ensure_scheduled()
                self._hold_lock()
            if self.holds_scheduler_lock and now - self._last_move >= POLL:
                self._last_move = now
                self._hold_lock()
                if self.holds_scheduler_lock:
                    self._move_due_jobs()
        except Exception as error:  # noqa: BLE001 - never the end of the worker: the next tick tries again
            self.holds_scheduler_lock = False
            self._redis_trouble("scheduler", error)

    def _hold_lock(self) -> None:
        outcome = acquire_or_refresh_lock(self.connection, SCHEDULER_LOCK, self.name, max(1, int(LOCK_TTL)))
        held = outcome in ("acquired", "refreshed")
        if held and not self.holds_scheduler_lock:
            log.info("worker %s holds the scheduler lock", self.name)
            self._last_move = 0.0
        self.holds_scheduler_lock = held

    def _move_due_jobs(self) -> None:
        if self._mover is None:
            self._mover = RQScheduler(list(QUEUES), connection=self.connection, name=f"{self.name}-scheduler")
        self._mover._scheduled_job_registries = [ScheduledJobRegistry(name, connection=self._mover.connection)
                                                 for name in QUEUES]
        self._mover.enqueue_scheduled_jobs()

    def teardown(self):
        if self.holds_scheduler_lock:
            try:
                release_lock(self.connection, SCHEDULER_LOCK, self.name)
            except redis.RedisError:
                pass
            self.holds_scheduler_lock = False
        super().teardown()


def run(flask_app, queue_names=QUEUES, *, with_scheduler: bool = True, burst: bool = False) -> None:
    from tenants.context import set_statement_timeout

    # Jobs are not web requests: imports and billing may run statements longer than a page may wait.
    set_statement_timeout(int(_seconds("RECOVERLY_WORKER_STATEMENT_TIMEOUT", 0) * 1000))
    while True:
        worker = RecoverlyWorker(list(queue_names), connection=blocking_connection(), flask_app=flask_app,
                                 schedule=with_scheduler)
        try:
            periodic.ensure_scheduled()
        except redis.RedisError as error:
            log.error("Redis unavailable at start (%s); the schedules follow when it answers", type(error).__name__)
        try:
            worker.work(with_scheduler=False, burst=burst)
        except redis.RedisError as error:  # e.g. Redis down while the worker registers itself
            log.error("worker %s: Redis unavailable (%s)", worker.name, type(error).__name__)
        if burst or worker._stop_requested or worker.stop_signalled:
            return
        log.error("worker %s stopped on an error; starting again in %g s", worker.name, POLL)
        time.sleep(POLL)
