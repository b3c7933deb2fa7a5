"""The only way to the per-person conduct ledger.

On PostgreSQL every call goes through SECURITY DEFINER functions (migration 0003): the application role cannot
read the table, and reading a person's history first takes a transaction-level advisory lock on that person, so
check-and-record is atomic per subject across every web node and agency. Recording an attempt (its entry, the
attempt and its audit event) is one call there (`conduct_record_attempt`, migration 0014). SQLite (the demo) has one
writer at a time; an in-process lock per subject covers the threads of the one web server.
"""
import json
import threading
import uuid
from collections import defaultdict
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import cache

from sqlalchemy import String, bindparam, inspect, select, text, update
from sqlalchemy.orm import make_transient_to_detached

from tenants import audit, webhooks
from tenants.conduct.engine import Hold, PastAttempt
from tenants.conduct.models import ContactAttempt, LedgerEntry
from tenants.context import lock_key
from tenants.db import UtcDateTime, db, on_postgres
from tenants.pii import blind_index

# Longest window any rule looks back: a calendar month plus a week of quiet period, with margin.
HISTORY_WINDOW = timedelta(days=40)

_sqlite_locks: dict[str, threading.Lock] = defaultdict(threading.Lock)


@contextmanager
def serialised(subject_key: str):
    """Hold for the whole check-and-record transaction (commit inside the block)."""
    if on_postgres():
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
    if on_postgres():
        db.session.execute(text("SELECT pg_advisory_xact_lock(hashtextextended('conduct:' || :subject, 0))"),
                           {"subject": subject_key})


# The person's history (through `function`, which takes the lock or not) and then, in the same statement and so
# after the lock, the person-wide holds. On the session's connection: plain rows, nothing for the ORM to fence.
# `with_account` adds the account's own phones and open holds (conduct_account_phones_holds, migration 0028): its
# statements, like conduct_person_holds', take their snapshot when they run, after the lock, so a hold opened
# meanwhile under the same lock is seen — the read a decision that records needs, one round trip instead of two.
_NO_ACCOUNT_ROW = "NULL::integer, NULL::text, NULL::uuid, NULL::json, NULL::text"


@cache
def _person_sql(function: str, with_account: bool):
    parts = [
        "SELECT 'attempt' AS kind, h.debt_key, h.number_key, h.third_party_key, h.channel, h.target, h.at, "
        "h.connected, h.conversation, h.pending, NULL::text AS type, NULL::timestamptz AS starts_at, "
        "NULL::timestamptz AS ends_at, NULL::integer AS position, NULL::text AS phone_index, NULL::uuid AS hold_id, "
        f"NULL::json AS allow, NULL::text AS reason FROM {function}(:subject, :since) h",
        "SELECT 'person_hold', NULL, NULL, NULL, NULL, NULL, NULL, false, false, false, p.type, p.starts_at, "
        f"p.ends_at, {_NO_ACCOUNT_ROW} FROM conduct_person_holds(ARRAY[CAST(:subject AS text)], "
        "CAST(:types AS text[]), :account, :key) p"]
    if with_account:
        parts.append(
            "SELECT CASE WHEN a.hold_id IS NULL THEN 'phone' ELSE 'hold' END, NULL, NULL, NULL, NULL, NULL, NULL, "
            "false, false, false, a.hold_type, a.starts_at, a.ends_at, a.phone_position, a.phone_index, a.hold_id, "
            "a.allow, a.reason FROM conduct_account_phones_holds(:account) a")
    return text(" UNION ALL ".join(parts))


def person(subject_key: str, now: datetime, *, hold_types: frozenset[str], account_id: uuid.UUID,
           lock: bool = True) -> tuple[list[PastAttempt], list[Hold]]:
    """The person's attempts in the longest window any rule reads, and the person-wide holds (of `hold_types`)
    open on their other debts, anyone's — in one statement, the holds read after the person's lock. `lock=False`
    reads without taking the lock: for answers that record nothing (next permitted times), never before recording
    an attempt."""
    since = now - HISTORY_WINDOW
    if not on_postgres():
        rows = db.session.execute(select(LedgerEntry).where(LedgerEntry.subject_key == subject_key,
                                                            LedgerEntry.at >= since)
                                  .order_by(LedgerEntry.at)).scalars().all()
        return ([past_attempt(row, subject_key, now) for row in rows],
                person_holds_many({subject_key}, hold_types, except_account=account_id).get(subject_key, []))
    history, holds, _ = _person_rows(subject_key, now, hold_types, account_id, lock=lock, with_account=False)
    return history, holds


def person_and_account(subject_key: str, now: datetime, *, hold_types: frozenset[str],
                       account_id: uuid.UUID) -> tuple[list[PastAttempt], list[Hold], list]:
    """`person()` with the person's lock, and after it the account's phone and open-hold rows (kinds 'phone' and
    'hold'; see `tenants.conduct.cases`), in one statement. PostgreSQL only."""
    return _person_rows(subject_key, now, hold_types, account_id, lock=True, with_account=True)


def _person_rows(subject_key, now, hold_types, account_id, *, lock: bool, with_account: bool):
    rows = db.session.connection().execute(
        _person_sql("conduct_ledger_history" if lock else "conduct_ledger_peek", with_account),
        {"subject": subject_key, "since": now - HISTORY_WINDOW, "types": sorted(hold_types), "account": account_id,
         "key": lock_key()}).all()
    return ([past_attempt(row, subject_key, now) for row in rows if row.kind == "attempt"],
            [_person_hold(row.type, row.starts_at, row.ends_at) for row in rows if row.kind == "person_hold"],
            [row for row in rows if row.kind in ("phone", "hold")])


def person_holds_many(subjects: set[str], hold_types: frozenset[str], *,
                      except_account: uuid.UUID | None = None) -> dict[str, list[Hold]]:
    """Per person, the person-wide holds open on any of their debts (but `except_account`), whoever holds them:
    type and dates only."""
    if not subjects or not hold_types:
        return {}
    if on_postgres():
        rows = db.session.execute(text(
            "SELECT subject_key, type, starts_at, ends_at FROM conduct_person_holds(CAST(:subjects AS text[]), "
            "CAST(:types AS text[]), :account, :key)"),
            {"subjects": sorted(subjects), "types": sorted(hold_types), "account": except_account,
             "key": lock_key()}).all()
    else:  # no row-level security: the same read in plain SQL
        rows = db.session.execute(text(
            "SELECT a.subject_key, h.type, h.starts_at, h.ends_at FROM holds h JOIN accounts a ON a.id = h.account_id "
            "WHERE a.subject_key IN :subjects AND h.type IN :types AND h.resolved_at IS NULL AND a.id IS NOT :account "
            "UNION ALL SELECT a.subject_key, 'deceased', a.created_at, NULL FROM accounts a "
            "WHERE a.subject_key IN :subjects AND a.deceased AND 'deceased' IN :types AND a.id IS NOT :account "
            "UNION ALL SELECT a.subject_key, 'bankruptcy', a.created_at, NULL FROM accounts a "
            "WHERE a.subject_key IN :subjects AND a.bankrupt AND 'bankruptcy' IN :types AND a.id IS NOT :account"
        ).bindparams(bindparam("subjects", expanding=True), bindparam("types", expanding=True))
            .columns(subject_key=String, type=String, starts_at=UtcDateTime, ends_at=UtcDateTime),
            {"subjects": sorted(subjects), "types": sorted(hold_types),
             "account": except_account.hex if except_account else None}).all()
    found: dict[str, list[Hold]] = {}
    for subject, kind, starts_at, ends_at in rows:
        found.setdefault(subject, []).append(_person_hold(kind, starts_at, ends_at))
    return found


def _person_hold(kind: str, starts_at, ends_at) -> Hold:
    return Hold(type=kind, debt_id="person", starts_at=starts_at, ends_at=ends_at, person_wide=True)


def past_attempt(row, subject_key: str, now: datetime) -> PastAttempt:
    at = row.at if row.at.tzinfo else row.at.replace(tzinfo=now.tzinfo)
    return PastAttempt(at=at, channel=row.channel, debt_id=row.debt_key, subject_key=subject_key,
                       number_key=row.number_key, connected=row.connected, conversation=row.conversation,
                       pending=row.pending, target=row.target, third_party_id=row.third_party_key)


def history_many(subjects: set[str], now: datetime) -> dict[str, list[PastAttempt]]:
    """`history(lock=False)` for many people (a work queue): one call on PostgreSQL, one query on SQLite."""
    since = now - HISTORY_WINDOW
    if on_postgres():
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


@dataclass(frozen=True)
class Entry:
    """A new entry: an attempt under way, pending until its outcome settles it."""

    subject_key: str
    debt_key: str
    number_key: str | None
    third_party_key: str | None
    channel: str
    target: str
    at: datetime
    id: uuid.UUID = field(default_factory=uuid.uuid4)


_RECORD_SQL = text(
    "SELECT * FROM conduct_record_attempt(CAST(:ledger_id AS uuid), :subject, :debt, :number, :third, :channel, "
    f":target, :at, CAST(:attempt AS json), {audit.APPEND_ARGUMENTS})")


@cache
def _record_telling_sql():
    """_RECORD_SQL with the webhook events written by the same statement (a data-modifying CTE)."""
    return _RECORD_SQL.columns().add_cte(webhooks.guarded_insert().cte("told_events"))


def record_attempt(attempt: ContactAttempt, entry: Entry | None, event: audit.AuditEvent,
                   told: webhooks.Emission | None = None) -> None:
    """Store a decided attempt (with `id` set), its ledger entry if it goes ahead, its unlinked audit event and the
    webhook events `told` about it. On PostgreSQL in one statement, the tenant's audit chain locked from there to
    the commit; the attempt and the events are inserted as the application (row-level security applies, and the
    events' declared write rule) and the attempt and audit event held by the session as stored rows."""
    attempt.ledger_id = entry.id if entry else None
    if not on_postgres():
        if entry:
            _sqlite_append(entry)
        db.session.add(attempt)
        db.session.flush()
        audit.append(event)
        webhooks.write(told)
        return
    db.session.flush()
    row = _complete_row(attempt)
    telling = told is not None and told.guarded
    # On the session's connection, not through the ORM: nothing here is an entity to fence (the functions and the
    # events' guarded INSERT carry their own rules), and the ORM would walk the whole statement on every call
    # looking for tables to fence.
    link = db.session.connection().execute(_record_telling_sql() if telling else _RECORD_SQL, {
        "ledger_id": entry.id if entry else None, "subject": entry and entry.subject_key,
        "debt": entry and entry.debt_key, "number": entry and entry.number_key,
        "third": entry and entry.third_party_key, "channel": entry and entry.channel,
        "target": entry and entry.target, "at": entry and entry.at,
        "attempt": json.dumps(row, default=_json_scalar, ensure_ascii=False), **audit.append_parameters(event),
        **(told.guarded_parameters() if telling else {}),
    }).one()
    if telling:
        webhooks.written()
    else:
        webhooks.write(told)
    make_transient_to_detached(attempt)
    db.session.add(attempt)
    audit.linked(event, link)


def _complete_row(attempt: ContactAttempt) -> dict:
    """Every column of the attempt, its defaults applied as a flush would: the row the database stores and the
    session holds as loaded (an attribute left unset would cost a read when first used)."""
    row = {}
    for prop in inspect(ContactAttempt).column_attrs:
        column = prop.columns[0]
        value = getattr(attempt, prop.key)
        if value is None and column.default is not None:
            value = column.default.arg(None) if column.default.is_callable else column.default.arg
        setattr(attempt, prop.key, value)
        row[column.name] = value
    return row


def _json_scalar(value):
    if isinstance(value, uuid.UUID):
        return str(value)
    if isinstance(value, datetime):
        if value.tzinfo is None:
            raise ValueError("naive datetime: store aware datetimes only")
        return value.isoformat()
    raise TypeError(f"{type(value).__name__} is not a column value the attempt stores")


def _sqlite_append(entry: Entry) -> None:
    db.session.add(LedgerEntry(id=entry.id, subject_key=entry.subject_key, debt_key=entry.debt_key,
                               number_key=entry.number_key, third_party_key=entry.third_party_key,
                               channel=entry.channel, target=entry.target, at=entry.at, connected=False,
                               conversation=False, pending=True))
    db.session.flush()


_SETTLE_SQL = text("SELECT conduct_ledger_settle(:id, :connected, :conversation)")


def settle(entry_id: uuid.UUID, *, connected: bool, conversation: bool) -> None:
    if on_postgres():
        db.session.connection().execute(_SETTLE_SQL, {"id": entry_id, "connected": connected,
                                                      "conversation": conversation})
    else:
        db.session.execute(update(LedgerEntry).where(LedgerEntry.id == entry_id)
                           .values(connected=connected, conversation=conversation, pending=False))
