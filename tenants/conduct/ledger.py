"""The only way to the per-person conduct ledger.

On PostgreSQL every call goes through SECURITY DEFINER functions (migration 0003): the application role cannot
read the table, and reading a person's history first takes a transaction-level advisory lock on that person, so
check-and-record is atomic per subject across every web node and agency. SQLite (the demo) has one writer at a
time; an in-process lock per subject covers the threads of the one web server.
"""
import threading
import uuid
from collections import defaultdict
from contextlib import contextmanager
from datetime import datetime, timedelta

from sqlalchemy import select, text, update

from tenants.conduct.engine import PastAttempt
from tenants.conduct.models import LedgerEntry
from tenants.db import db
from tenants.pii import blind_index

# An attempt whose outcome never arrives stops counting as connected after this long.
PENDING_TIMEOUT = timedelta(hours=2)
# Longest window any rule looks back: a calendar month plus a week of quiet period, with margin.
HISTORY_WINDOW = timedelta(days=40)

_sqlite_locks: dict[str, threading.Lock] = defaultdict(threading.Lock)


def _postgres() -> bool:
    return db.session.get_bind().dialect.name == "postgresql"


@contextmanager
def serialised(subject_key: str):
    """Hold for the whole check-and-record transaction (commit inside the block)."""
    if _postgres():
        yield  # the advisory lock taken by history() lasts until the transaction ends
        return
    with _sqlite_locks[subject_key]:
        yield


def debt_key(account) -> str:
    # Opaque across tenants: the ledger must not tell an agency which lender's debt another contact was about.
    return blind_index("debt", str(account.id))


def person_key(account) -> str:
    """The person across every lender and agency (the resident-ID blind index), else this debt alone."""
    return account.subject_key or debt_key(account)


def lock_person(subject_key: str) -> None:
    """Take the person's lock until the transaction ends, for a write the engine reads (a hold, a consent)."""
    if _postgres():
        db.session.execute(text("SELECT pg_advisory_xact_lock(hashtextextended('conduct:' || :subject, 0))"),
                           {"subject": subject_key})


def history(subject_key: str, now: datetime, *, lock: bool = True) -> list[PastAttempt]:
    """The person's attempts in the longest window any rule reads. `lock=False` reads without taking the
    person's lock: for answers that record nothing (next permitted times), never before recording an attempt."""
    since = now - HISTORY_WINDOW
    if _postgres():
        function = "conduct_ledger_history" if lock else "conduct_ledger_peek"
        rows = db.session.execute(text(f"SELECT * FROM {function}(:subject, :since)"),
                                  {"subject": subject_key, "since": since}).all()
    else:
        rows = db.session.execute(select(LedgerEntry).where(LedgerEntry.subject_key == subject_key,
                                                            LedgerEntry.at >= since)
                                  .order_by(LedgerEntry.at)).scalars().all()
    return [past_attempt(row, subject_key, now) for row in rows]


def past_attempt(row, subject_key: str, now: datetime) -> PastAttempt:
    at = row.at if row.at.tzinfo else row.at.replace(tzinfo=now.tzinfo)
    timed_out = row.pending and at < now - PENDING_TIMEOUT
    return PastAttempt(at=at, channel=row.channel, debt_id=row.debt_key, subject_key=subject_key,
                       number_key=row.number_key, connected=row.connected, conversation=row.conversation,
                       pending=row.pending and not timed_out, target=row.target, third_party_id=row.third_party_key)


def history_many(subjects: set[str], now: datetime) -> dict[str, list[PastAttempt]]:
    """`history(lock=False)` for many people (a work queue): one call on PostgreSQL, one query on SQLite."""
    since = now - HISTORY_WINDOW
    if _postgres():
        rows = db.session.execute(text("SELECT * FROM conduct_ledger_peek_many(CAST(:subjects AS text[]), :since)"),
                                  {"subjects": sorted(subjects), "since": since}).all()
    else:
        rows = db.session.execute(select(LedgerEntry).where(LedgerEntry.subject_key.in_(subjects),
                                                            LedgerEntry.at >= since)
                                  .order_by(LedgerEntry.subject_key, LedgerEntry.at)).scalars().all()
    found: dict[str, list[PastAttempt]] = {}
    for row in rows:
        found.setdefault(row.subject_key, []).append(past_attempt(row, row.subject_key, now))
    return found


def append(*, subject_key: str, debt_key: str, number_key: str | None, third_party_key: str | None,
           channel: str, target: str, at: datetime) -> uuid.UUID:
    entry_id = uuid.uuid4()
    if _postgres():
        db.session.execute(text("SELECT conduct_ledger_append(:id, :subject, :debt, :number, :third, :channel, "
                                ":target, :at)"),
                           {"id": entry_id, "subject": subject_key, "debt": debt_key, "number": number_key,
                            "third": third_party_key, "channel": channel, "target": target, "at": at})
    else:
        db.session.add(LedgerEntry(id=entry_id, subject_key=subject_key, debt_key=debt_key, number_key=number_key,
                                   third_party_key=third_party_key, channel=channel, target=target, at=at,
                                   connected=False, conversation=False, pending=True))
        db.session.flush()
    return entry_id


def settle(entry_id: uuid.UUID, *, connected: bool, conversation: bool) -> None:
    if _postgres():
        db.session.execute(text("SELECT conduct_ledger_settle(:id, :connected, :conversation)"),
                           {"id": entry_id, "connected": connected, "conversation": conversation})
    else:
        db.session.execute(update(LedgerEntry).where(LedgerEntry.id == entry_id)
                           .values(connected=connected, conversation=conversation, pending=False))
