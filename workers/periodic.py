"""Periodic jobs, declared here and nowhere else, scheduled by the workers rather than an external cron.

Each run is scheduled for the next slot aligned to its interval, with the slot in the job id, so any number of
workers calling `ensure_scheduled()` schedule each slot once. Every worker calls it at start and again every tick
(workers.worker), so schedules lost with Redis (a restart without persistence, a flush, a failover) come back
without restarting anything.
"""
from datetime import datetime, timedelta, timezone

from rq.job import Job

from workers.connection import connection
from workers.queues import enqueue_platform

PERIODIC = {
    "workers.jobs.sweep_outbox": timedelta(seconds=30),  # stranded tasks back within a minute (issue 17)
    "workers.jobs.verify_all_audit_chains": timedelta(hours=24),
    "workers.jobs.expire_placements": timedelta(hours=24),
    "workers.jobs.review_promises_and_plans": timedelta(hours=24),
    "workers.jobs.lapse_settlements": timedelta(hours=24),
    "workers.jobs.end_lapsed_holds": timedelta(minutes=15),  # hold.ended within 15 minutes of a hold's end
    "workers.jobs.bill_all_tenants": timedelta(hours=1),
    "workers.jobs.run_exchange": timedelta(hours=1),  # due export schedules, expired files purged
}


def next_slot(interval: timedelta, now: datetime) -> datetime:
    seconds = int(interval.total_seconds())
    return datetime.fromtimestamp((int(now.timestamp()) // seconds + 1) * seconds, tz=timezone.utc)


def ensure_scheduled(now: datetime | None = None) -> list[str]:
    # rq's scheduler runs on real time, so periodic slots do too (the test clock only moves business time).
    now = now or datetime.now(timezone.utc)
    scheduled = []
    for func, interval in PERIODIC.items():
        slot = next_slot(interval, now)
        job_id = f"periodic-{func.rsplit('.', 1)[1]}-{int(slot.timestamp())}"
        if not Job.exists(job_id, connection=connection()):
            enqueue_platform(func, reason=f"periodic {func}", at=slot, job_id=job_id)
        scheduled.append(job_id)
    return scheduled
