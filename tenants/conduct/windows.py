"""A cache of each case's next permitted time per channel, for work queues.

An answer stays true until something the engine reads changes: a new or settled attempt on the person (any
tenant), a hold or consent change on the account, or time reaching a boundary — the end of a blocked period, a
time of day named by the rulebook or the consent (hours windows, midnight). So an
entry is keyed by the person's and the account's versions (bumped after each commit that changes them) and
expires at the first boundary, at most `MAX_AGE` ahead.

The cache is advisory: an attempt is always decided live under the person's lock, so a stale entry can misplace a
case in a queue but can never let a contact through. Without Redis it is simply skipped.
"""
import hashlib
import json
import logging
import uuid
from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import event
from sqlalchemy.orm import Session

from tenants.conduct import calendar as cal

log = logging.getLogger(__name__)

MAX_AGE = timedelta(minutes=15)
_redis_factory = None


def set_redis(factory) -> None:
    """Installed by the web app and the worker (the domain does not pick its infrastructure)."""
    global _redis_factory
    _redis_factory = factory


def _redis():
    return _redis_factory() if _redis_factory else None


def subject_version_key(subject_key: str) -> str:
    return f"conduct:v:subject:{subject_key}"


def account_version_key(account_id: uuid.UUID) -> str:
    return f"conduct:v:account:{account_id}"


# ---- invalidation (after commit: a reader never caches pre-commit state under the new version) ---------------

def invalidate_subject(subject_key: str) -> None:
    _pending().add(subject_version_key(subject_key))


def invalidate_account(account_id: uuid.UUID) -> None:
    _pending().add(account_version_key(account_id))


def _pending() -> set:
    from tenants.db import db

    return db.session.info.setdefault("conduct_invalidations", set())


@event.listens_for(Session, "after_commit")
def _bump_committed(session):
    keys = session.info.pop("conduct_invalidations", None)
    if not keys:
        return
    try:
        redis = _redis()
        if redis is not None:
            pipe = redis.pipeline(transaction=False)
            for key in keys:
                pipe.incr(key)
                pipe.expire(key, int(timedelta(days=45).total_seconds()))
            pipe.execute()
    except Exception:  # the cache is advisory; entries still expire at their boundary
        log.warning("next-permitted cache: invalidation failed", exc_info=True)


@event.listens_for(Session, "after_rollback")
def _forget_rolled_back(session):
    session.info.pop("conduct_invalidations", None)


# ---- lookup -------------------------------------------------------------------------------------------------

def cached(tenant_id: uuid.UUID, account_id: uuid.UUID, subject_key: str, fingerprint: str, now: datetime,
           compute) -> dict[str, datetime | None]:
    """`compute()` → ({channel: next time or None}, valid_until); its answer is reused while still true."""
    redis = safe_redis()
    if redis is None:
        return compute()[0]
    try:
        versions = redis.mget([subject_version_key(subject_key), account_version_key(account_id)])
        key = "conduct:np:{}:{}:{}:{}:{}".format(tenant_id, account_id, fingerprint,
                                                 *(int(v or 0) for v in versions))
        hit = redis.get(key)
        if hit is not None:
            stored = json.loads(hit)
            if datetime.fromisoformat(stored["valid_until"]) > now:
                return {ch: _parse(v, now) for ch, v in stored["next"].items()}
    except Exception:
        log.warning("next-permitted cache unavailable", exc_info=True)
        return compute()[0]
    result, valid_until = compute()
    valid_until = min(valid_until, now + MAX_AGE)
    try:
        payload = {"valid_until": valid_until.isoformat(),
                   "next": {ch: (None if v is None else "now" if v <= now else v.isoformat())
                            for ch, v in result.items()}}
        redis.set(key, json.dumps(payload), px=max(1, int((valid_until - now).total_seconds() * 1000)))
    except Exception:
        log.warning("next-permitted cache: store failed", exc_info=True)
    return result


def safe_redis():
    try:
        return _redis()
    except Exception:
        log.warning("next-permitted cache: no Redis", exc_info=True)
        return None


def _parse(value: str | None, now: datetime) -> datetime | None:
    # "now" is stored rather than the instant it was computed: an allowed channel answers the caller's own now.
    if value is None:
        return None
    return now if value == "now" else datetime.fromisoformat(value)


def fingerprint(*parts) -> str:
    return hashlib.blake2b(json.dumps(parts, default=str, sort_keys=True).encode(), digest_size=12).hexdigest()


def valid_until(result: dict[str, datetime | None], *, now: datetime, zones: list[str], rulebook,
                consent) -> datetime:
    """The first instant at which a cached answer may stop being true without any new event."""
    candidates = [t for t in result.values() if t is not None and t > now]
    candidates.append(_next_time_of_day(now, zones, _times_of_day(rulebook, consent)))
    return min(candidates)


def _times_of_day(rulebook, consent) -> set[time]:
    found = {time(0)}
    for rule in rulebook.rules:
        found.update(p.value for p in rule.params.values() if isinstance(p.value, time))
    for window in (*consent.inconvenient_windows, *((consent.agreed_hours,) if consent.agreed_hours else ())):
        found.update(window)
    return found


def _next_time_of_day(now: datetime, zones: list[str], times: set[time]) -> datetime:
    best = now + MAX_AGE
    for name in zones:
        zone = ZoneInfo(name)
        today = cal.local(now, zone).date()
        for day in (today, today + timedelta(days=1)):
            for tod in times:
                at = cal.at_local(day, tod, zone)
                if now < at < best:
                    best = at
    return best
