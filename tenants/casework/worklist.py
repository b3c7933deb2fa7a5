"""The work queue: for one collector (or a supervisor's view of the team, or of the unassigned cases), the cases
that may be contacted now on at least one channel, in priority order, and the rest with the rule that stops them
and when they may next be contacted.

Priority, highest first (ties fall through to the next line):
  0. the debtor asked for something in the self-service portal that waits for a collector (a plan beyond the
     agency's rules, more time, a proof of payment: tenants/portal/requests.py);
  1. a promise to pay due today (or overdue within its grace days) that nobody has worked since it fell due;
  2. a scheduled callback that has fallen due and nobody has called back since;
  3. a promise broken in the last 7 days with nothing since — no contact, no new promise, no payment;
  4. a case not worked today (debtor's date) before one that was: a contact made or a promise taken today sends
     the case below the others for the rest of the day, unless a callback or a promise falls due later;
  5. the larger outstanding balance;
  6. the more days past due;
  7. the oldest last contact (never contacted first).
Each case says which of these put it where it is (`QueueItem.why`).
Cases waiting on the rules are listed soonest-permitted first; a case that waiting will not free (a hold, a barred
debt) comes last, with its rule.

Which channels count: the placement's desk channels (call, SMS, email) — letters, visits and legal steps are
planned, not worked from a queue — or, for a placement allowing none of those, whatever it allows; a channel filter
judges that one channel only. A channel needing the lender's approval does not make a case contactable now.

One query reads the cases (the agency's current assignments ⋈ its active placements ⋈ accounts, with the first
phone's number key, the agency's last contact and the next callback as correlated index lookups), then
`permitted.channel_states` judges them in bulk. A team or unassigned view reads at most `LIMIT` cases, the largest
balances first.
"""
import json
import uuid
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from functools import cached_property, lru_cache
from zoneinfo import ZoneInfo

from sqlalchemy import Text, and_, cast, func, or_, select, type_coerce

from tenants import clock
from tenants.casework import permitted
from tenants.casework.desk_models import CallbackStatus
from tenants.context import current_tenant_id
from tenants.db import db
from tenants.errors import ValidationFailed
from tenants.identifiers import normalize_phone
from tenants.pii import blind_index, keyring

DESK_CHANNELS = ("call", "sms", "email")
LIMIT = 1000
BROKEN_PROMISE_DAYS = 7
MADE = ("pending", "completed")  # attempts that reached the debtor's side (blocked ones did not)


class Scope:
    COLLECTOR = "collector"  # one collector's current cases
    TEAM = "team"  # every assigned case of the agency
    UNASSIGNED = "unassigned"  # active cases nobody holds
    ALL = (COLLECTOR, TEAM, UNASSIGNED)


class Why:
    """Why a case stands where it does in the queue, highest first."""
    PORTAL_REQUEST = "portal_request"
    PROMISE_DUE = "promise_due"
    CALLBACK_DUE = "callback_due"
    PROMISE_BROKEN = "promise_broken"
    NEVER_CONTACTED = "never_contacted"
    BALANCE = "balance"  # not worked today: by balance, then days past due, then the oldest last contact
    WORKED_TODAY = "worked_today"
    ORDER = (PORTAL_REQUEST, PROMISE_DUE, CALLBACK_DUE, PROMISE_BROKEN, NEVER_CONTACTED, BALANCE, WORKED_TODAY)


class Status:
    READY = "ready"  # contactable now on at least one channel
    APPROVAL = "approval"  # only with the lender's approval first
    WAITING = "waiting"  # permitted again at `next_at`
    STOPPED = "stopped"  # not by waiting: a hold, an opt-out, a barred debt...


@dataclass(frozen=True)
class QueueFilter:
    channel: str | None = None
    lender_id: uuid.UUID | None = None
    dpd_min: int | None = None
    dpd_max: int | None = None
    balance_min_minor: int | None = None
    balance_max_minor: int | None = None
    search: str | None = None  # an external reference or a phone number


@dataclass
class QueueItem:
    account_id: uuid.UUID
    external_ref: str
    debtor_cipher: str
    lender_id: uuid.UUID
    currency: str
    outstanding_minor: int
    days_past_due: int
    region: str | None
    zone: str
    collector_user_id: uuid.UUID | None
    last_contact_at: datetime | None
    callback_at: datetime | None
    callback_due: bool  # fallen due and not called back since
    last_promise_at: datetime | None = None  # the agency's latest promise taken on the case
    last_payment_at: datetime | None = None  # the latest payment recorded on the case (reversed ones aside)
    worked_today: bool = False
    # This agency's calls and messages that went ahead with no outcome recorded yet: each counts against the
    # debtor's caps as connected until it is (CONDUCT_RULES "an unanswered question counts against the caller").
    awaiting_outcome: int = 0
    promise: str | None = None  # "due" or "broken", only while nothing was done about it since
    portal_request: bool = False  # the debtor's portal request waits for a collector
    states: dict[str, permitted.ChannelState] = field(default_factory=dict)

    @property
    def last_worked_at(self) -> datetime | None:
        times = [t for t in (self.last_contact_at, self.last_promise_at) if t is not None]
        return max(times) if times else None

    @property
    def why(self) -> str:
        if self.portal_request:
            return Why.PORTAL_REQUEST
        if self.promise == "due":
            return Why.PROMISE_DUE
        if self.callback_due:
            return Why.CALLBACK_DUE
        if self.promise == "broken":
            return Why.PROMISE_BROKEN
        if self.worked_today:
            return Why.WORKED_TODAY
        return Why.NEVER_CONTACTED if self.last_contact_at is None else Why.BALANCE

    @cached_property
    def debtor_name(self) -> str:
        return keyring().decrypt(self.debtor_cipher)

    @property
    def ready_channels(self) -> list[str]:
        return [ch for ch, s in self.states.items() if s.ready]

    @property
    def status(self) -> str:
        if self.ready_channels:
            return Status.READY
        if any(s.outcome == "needs_approval" for s in self.states.values()):
            return Status.APPROVAL
        return Status.WAITING if self.next_at is not None else Status.STOPPED

    @property
    def next_at(self) -> datetime | None:
        times = [s.at for s in self.states.values() if s.at is not None]
        return min(times) if times else None

    @property
    def reason(self) -> permitted.ChannelState | None:
        """The channel state that explains the wait: the channel that opens soonest, else the first one."""
        waiting = [s for s in self.states.values() if not s.ready]
        if not waiting or self.ready_channels:
            return None
        timed = [s for s in waiting if s.at is not None]
        return min(timed, key=lambda s: s.at) if timed else waiting[0]


@dataclass
class Queue:
    ready: list[QueueItem]
    waiting: list[QueueItem]
    now: datetime
    truncated: bool

    @property
    def total(self) -> int:
        return len(self.ready) + len(self.waiting)


def build(*, scope: str = Scope.COLLECTOR, collector_user_id: uuid.UUID | None = None,
          filters: QueueFilter = QueueFilter(), default_region: str = "CN", default_zone: str = "Asia/Shanghai",
          now: datetime | None = None) -> Queue:
    if scope not in Scope.ALL:
        raise ValidationFailed(details={"fields": {"scope": [f"One of {', '.join(Scope.ALL)}."]}})
    if scope == Scope.COLLECTOR and collector_user_id is None:
        raise ValidationFailed(details={"fields": {"collector_user_id": ["Whose queue?"]}})
    now = now or clock.now()
    rows = db.session.execute(_cases_query(scope, collector_user_id, filters, default_region)).all()
    truncated = len(rows) > LIMIT
    rows = rows[:LIMIT]
    items, facts = [], []
    for row in rows:
        channels = _channels(_json(row.allowed_channels) or [], filters.channel)
        if not channels:
            continue
        zones = tuple(_json(row.time_zones) or ())
        item = QueueItem(
            account_id=row.id, external_ref=row.external_ref, debtor_cipher=row.debtor_cipher,
            lender_id=row.tenant_id, currency=row.currency, outstanding_minor=row.outstanding_minor,
            days_past_due=row.days_past_due, region=row.region, zone=(zones or (default_zone,))[0],
            collector_user_id=row.collector_user_id, last_contact_at=row.last_contact_at,
            callback_at=row.callback_at, callback_due=_callback_due(row.callback_at, row.last_contact_at, now),
            last_promise_at=row.last_promise_at, last_payment_at=row.last_payment_at,
            awaiting_outcome=row.awaiting_outcome or 0)
        worked = item.last_worked_at
        item.worked_today = worked is not None and _today(worked, item.zone) == _today(now, item.zone)
        items.append(item)
        facts.append(permitted.CaseFacts(
            account_id=row.id, lender_id=row.tenant_id, subject_key=row.subject_key,
            time_zones=zones, limitation_date=row.limitation_date,
            flags={flag: getattr(row, flag) for flag in ("disputed", "cease_requested", "attorney", "bankrupt",
                                                         "deceased")},
            created_at=row.created_at, first_phone_index=row.first_phone_index, placement_id=row.placement_id,
            channels=channels, conduct_overrides=_json(row.conduct_overrides) or {},
            debtor_notified_at=row.debtor_notified_at))
    states = permitted.channel_states(facts, now) if facts else {}
    promises = promise_flags(items, now)
    waiting_requests = _portal_requests(items)
    for item in items:
        item.states, item.promise = states[item.account_id], promises.get(item.account_id)
        item.portal_request = item.account_id in waiting_requests
    ready = sorted((i for i in items if i.status == Status.READY), key=priority)
    waiting = sorted((i for i in items if i.status != Status.READY), key=_waiting_order)
    return Queue(ready=ready, waiting=waiting, now=now, truncated=truncated)


def _portal_requests(items: list[QueueItem]) -> dict:
    from tenants.portal import requests as portal_requests

    return portal_requests.waiting(i.account_id for i in items)


def priority(item: QueueItem) -> tuple:
    tier = {Why.PORTAL_REQUEST: -1, Why.PROMISE_DUE: 0, Why.CALLBACK_DUE: 1, Why.PROMISE_BROKEN: 2,
            Why.WORKED_TODAY: 4}.get(item.why, 3)
    return (tier, -item.outstanding_minor, -item.days_past_due,
            item.last_contact_at is not None, item.last_contact_at or datetime.min, item.external_ref)


def _callback_due(callback_at: datetime | None, last_contact_at: datetime | None, now: datetime) -> bool:
    """Due, and nobody has contacted the debtor since it fell due (the call back was made, only not ticked off)."""
    return callback_at is not None and callback_at <= now and (last_contact_at is None
                                                                or last_contact_at < callback_at)


def next_case(queue: Queue, *, after: uuid.UUID | None = None, done: uuid.UUID | None = None) -> QueueItem | None:
    """The case to open next. `after`: the one following it in the queue (skipping ahead; the first if it is not
    listed). `done`: the first other case not worked today, or due again — what "save and next" opens, so a worked
    case is not handed back before the rest."""
    if done is not None:
        return next((i for i in queue.ready if i.account_id != done and i.why != Why.WORKED_TODAY), None)
    ids = [i.account_id for i in queue.ready]
    if after in ids:
        position = ids.index(after) + 1
        return queue.ready[position] if position < len(ids) else None
    return queue.ready[0] if queue.ready else None


def _waiting_order(item: QueueItem) -> tuple:
    at = item.next_at
    return ({Status.APPROVAL: 0, Status.WAITING: 1}.get(item.status, 2), at is None, at or datetime.min,
            *priority(item))


@lru_cache(maxsize=1024)
def _json(value: str | None):
    """Shared between rows: callers never change what it returns."""
    return None if value is None else json.loads(value)


def _channels(allowed: list[str], wanted: str | None) -> tuple[str, ...]:
    if wanted:
        return (wanted,) if wanted in allowed else ()
    desk = tuple(ch for ch in DESK_CHANNELS if ch in allowed)
    return desk or tuple(allowed)


# ---- the query ------------------------------------------------------------------------------------------------------

def _cases_query(scope: str, collector_user_id, filters: QueueFilter, default_region: str):
    """The agency's active cases in scope. Written on the tables with the agency in every join (its assignments, its
    placements, its own attempts and callbacks) rather than through the ORM lock's `Account.visible_to`, whose
    subquery lists every case the agency holds; row-level security still guards each table on PostgreSQL."""
    t = db.metadata.tables
    accounts, placements, assignments = t["accounts"], t["placements"], t["case_assignments"]
    phones, attempts, callbacks = t["account_phones"], t["contact_attempts"], t["callbacks"]
    promises, payments = t["promises"], t["payments"]
    agency = current_tenant_id()
    first_phone = (select(phones.c.phone_index).where(phones.c.account_id == accounts.c.id)
                   .order_by(phones.c.position).limit(1).scalar_subquery())
    last_contact = (select(func.max(attempts.c.decided_at))
                    .where(attempts.c.account_id == accounts.c.id, attempts.c.tenant_id == agency,
                           attempts.c.status.in_(MADE)).scalar_subquery())
    awaiting_outcome = (select(func.count()).select_from(attempts)
                        .where(attempts.c.account_id == accounts.c.id, attempts.c.tenant_id == agency,
                               attempts.c.status == "pending").scalar_subquery())
    next_callback = (select(func.min(callbacks.c.due_at))
                     .where(callbacks.c.account_id == accounts.c.id, callbacks.c.tenant_id == agency,
                            callbacks.c.status == CallbackStatus.SCHEDULED).scalar_subquery())
    last_promise = (select(func.max(promises.c.created_at))
                    .where(promises.c.account_id == accounts.c.id, promises.c.tenant_id == agency).scalar_subquery())
    last_payment = (select(func.max(payments.c.recorded_at))
                    .where(payments.c.account_id == accounts.c.id, payments.c.agency_tenant_id == agency,
                           payments.c.status != "reversed").scalar_subquery())
    current = and_(assignments.c.placement_id == placements.c.id, assignments.c.tenant_id == agency,
                   assignments.c.ended_at.is_(None))
    # JSON as its text (a queue repeats a handful of values: parsed once each) and the name still encrypted
    # (decrypted only if shown): per row, decoding cost more than the query.
    query = select(
        accounts.c.id, accounts.c.tenant_id, accounts.c.external_ref,
        type_coerce(accounts.c.debtor_name, Text).label("debtor_cipher"), accounts.c.currency,
        accounts.c.outstanding_minor, accounts.c.days_past_due, accounts.c.region,
        cast(accounts.c.time_zones, Text).label("time_zones"), accounts.c.subject_key, accounts.c.limitation_date,
        accounts.c.created_at, accounts.c.disputed, accounts.c.cease_requested, accounts.c.attorney,
        accounts.c.bankrupt, accounts.c.deceased, placements.c.id.label("placement_id"),
        cast(placements.c.allowed_channels, Text).label("allowed_channels"),
        cast(placements.c.conduct_overrides, Text).label("conduct_overrides"),
        placements.c.debtor_notified_at, assignments.c.collector_user_id, first_phone.label("first_phone_index"),
        last_contact.label("last_contact_at"), next_callback.label("callback_at"),
        last_promise.label("last_promise_at"), last_payment.label("last_payment_at"),
        awaiting_outcome.label("awaiting_outcome"),
    )
    if scope == Scope.UNASSIGNED:
        query = query.select_from(placements.outerjoin(assignments, current)).where(assignments.c.id.is_(None))
    else:
        query = query.select_from(placements.join(assignments, current))
        if scope == Scope.COLLECTOR:
            query = query.where(assignments.c.collector_user_id == collector_user_id)
    query = query.join(accounts, accounts.c.id == placements.c.account_id).where(
        placements.c.agency_tenant_id == agency, placements.c.status == "active", accounts.c.status == "open")
    if filters.lender_id:
        query = query.where(accounts.c.tenant_id == filters.lender_id)
    if filters.dpd_min is not None:
        query = query.where(accounts.c.days_past_due >= filters.dpd_min)
    if filters.dpd_max is not None:
        query = query.where(accounts.c.days_past_due <= filters.dpd_max)
    if filters.balance_min_minor is not None:
        query = query.where(accounts.c.outstanding_minor >= filters.balance_min_minor)
    if filters.balance_max_minor is not None:
        query = query.where(accounts.c.outstanding_minor <= filters.balance_max_minor)
    if filters.search and filters.search.strip():
        query = query.where(_search(filters.search.strip(), accounts, phones, default_region))
    return query.order_by(accounts.c.outstanding_minor.desc(), accounts.c.id).limit(LIMIT + 1)


def _search(term: str, accounts, phones, default_region: str):
    """An external reference as typed, or a phone in any written form (matched by its blind index)."""
    by_ref = accounts.c.external_ref == term
    try:
        index = blind_index("phone", normalize_phone(term, default_region))
    except ValidationFailed:
        return by_ref
    return or_(by_ref, accounts.c.id.in_(select(phones.c.account_id).where(phones.c.phone_index == index)))


# ---- promises (tenants.casework.promises, built beside this module) ---------------------------------------------

def promise_flags(items: list[QueueItem], now: datetime) -> dict[uuid.UUID, str]:
    """"due" for a promise due by the debtor's today that nobody has worked since the start of its due day;
    "broken" for one broken in the last week with nothing since (a contact, a new promise, a payment): the case
    was worked, and it ranks as any other worked case."""
    from tenants.casework import promises

    if not items:
        return {}
    by_id = {i.account_id: i for i in items}
    ids = list(by_id)
    flags = {}
    for account_id, promise in promises.broken_since(ids, now - timedelta(days=BROKEN_PROMISE_DAYS)).items():
        item = by_id[account_id]
        since = [t for t in (item.last_worked_at, item.last_payment_at) if t is not None]
        if not since or max(since) < promise.resolved_at:
            flags[account_id] = "broken"
    # One query up to the latest debtor's today, then each case against its own debtor's today.
    today = {i.account_id: _today(now, i.zone) for i in items}
    for account_id, promise in promises.promises_due(ids, max(today.values())).items():
        item = by_id[account_id]
        worked = item.last_worked_at
        if promise.due_on <= today[account_id] and (worked is None or _today(worked, item.zone) < promise.due_on):
            flags[account_id] = "due"
    return flags


def _today(now: datetime, zone: str) -> date:
    return now.astimezone(ZoneInfo(zone)).date()
