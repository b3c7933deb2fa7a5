"""When each case of a work queue may next be contacted, per channel, and why not now — for a few hundred cases at
once.

`tenants.conduct.service.next_permitted` answers for one account: four queries, two Redis round trips and, when its
cache misses, the engine once per channel. A queue needs that for every case it holds, and it needs the rule that
blocks, which that cache does not keep. So this module reads everything the engine reads for all the cases in one
query per kind (holds, consent, the people's ledgers through `conduct_ledger_peek_many`, lenders), decides each
channel with the same pure `engine.decide`, and caches each case's answer in Redis under the conduct cache's own
version counters (bumped after every attempt on the person and every hold or consent change on the account) until
the first instant it may stop being true (`windows.valid_until`, at most `windows.MAX_AGE`). Three Redis round trips
for the whole queue when warm.

Like the conduct cache this is advisory: contacting still goes through `service.attempt`, decided live under the
person's lock.
"""
import json
import logging
import uuid
from dataclasses import dataclass, field
from datetime import date, datetime

from sqlalchemy import select

from tenants.conduct import consent, engine, ledger, windows
from tenants.conduct.baseline import baseline_of
from tenants.conduct.ledger import debt_key
from tenants.conduct.models import AccountConsent, ConductHold
from tenants.conduct.rulebook import PERSON_WIDE_HOLDS
from tenants.conduct.service import FLAG_HOLDS, WELL_STAFFED, rulebook_for
from tenants.context import current_tenant_id
from tenants.db import db
from tenants.tenancy.models import Tenant

log = logging.getLogger(__name__)

READY = ("allow", "allow_with_warnings")
UNAVAILABLE = "unavailable"  # the case cannot use the channel at all (a call to an account without a phone)


@dataclass(frozen=True)
class CaseFacts:
    """What the engine reads about one placed case, as the queue's query returns it."""

    account_id: uuid.UUID
    lender_id: uuid.UUID
    subject_key: str | None
    time_zones: tuple[str, ...]
    limitation_date: date | None
    flags: dict  # the lender's hold flags: disputed, cease_requested, attorney, bankrupt, deceased
    created_at: datetime
    first_phone_index: str | None
    placement_id: uuid.UUID
    channels: tuple[str, ...]  # the channels to judge (the placement's, narrowed by the caller)
    conduct_overrides: dict = field(default_factory=dict)
    debtor_notified_at: datetime | None = None

    @property
    def id(self) -> uuid.UUID:  # `debt_key` reads an account's id
        return self.account_id


@dataclass(frozen=True)
class ChannelState:
    channel: str
    outcome: str  # allow, allow_with_warnings, needs_approval, block or unavailable
    at: datetime | None  # when next permitted: now when allowed, None when not by waiting
    rules: tuple[str, ...] = ()
    message_en: str = ""
    message_zh: str = ""

    @property
    def ready(self) -> bool:
        return self.outcome in READY


def channel_states(cases: list[CaseFacts], now: datetime) -> dict[uuid.UUID, dict[str, ChannelState]]:
    lenders = {t.id: t for t in db.session.scalars(select(Tenant).where(Tenant.id.in_({c.lender_id for c in cases})))}
    prints = {c.account_id: _fingerprint(c, lenders[c.lender_id]) for c in cases}
    redis = windows.safe_redis()
    keys = _cache_keys(redis, cases, prints)
    found = _cached(redis, keys, now)
    missing = [c for c in cases if c.account_id not in found]
    if missing:
        computed = _compute(missing, lenders, now)
        found.update({account_id: states for account_id, (states, _) in computed.items()})
        _store(redis, keys, computed, now)
    return found


# ---- the cache ------------------------------------------------------------------------------------------------------

def _fingerprint(case: CaseFacts, lender: Tenant) -> str:
    return windows.fingerprint(sorted(k for k, v in case.flags.items() if v), case.time_zones, case.limitation_date,
                               case.first_phone_index, case.lender_id, baseline_of(lender), case.placement_id,
                               case.debtor_notified_at, case.channels, case.conduct_overrides)


def _cache_keys(redis, cases: list[CaseFacts], prints: dict) -> dict[uuid.UUID, str]:
    if redis is None:
        return {}
    try:
        # The conduct cache's version counters: whatever invalidates `next_permitted` invalidates these entries.
        names = [name for c in cases for name in (windows.subject_version_key(c.subject_key or debt_key(c)),
                                                  windows.account_version_key(c.account_id))]
        versions = redis.mget(names) if names else []
    except Exception:
        log.warning("work-queue conduct cache unavailable", exc_info=True)
        return {}
    tenant = current_tenant_id()
    return {c.account_id: "casework:np:{}:{}:{}:{}:{}".format(tenant, c.account_id, prints[c.account_id],
                                                             int(versions[2 * i] or 0), int(versions[2 * i + 1] or 0))
            for i, c in enumerate(cases)}


def _cached(redis, keys: dict, now: datetime) -> dict[uuid.UUID, dict[str, ChannelState]]:
    if not keys:
        return {}
    ids = list(keys)
    try:
        values = redis.mget([keys[i] for i in ids])
    except Exception:
        log.warning("work-queue conduct cache unavailable", exc_info=True)
        return {}
    found = {}
    for account_id, raw in zip(ids, values):
        if raw is None:
            continue
        stored = json.loads(raw)
        if datetime.fromisoformat(stored["valid_until"]) > now:
            found[account_id] = {ch: ChannelState(ch, outcome, _parse(at, now), tuple(rules), en, zh)
                                 for ch, (outcome, at, rules, en, zh) in stored["states"].items()}
    return found


def _store(redis, keys: dict, computed: dict, now: datetime) -> None:
    if not keys:
        return
    try:
        pipe = redis.pipeline(transaction=False)
        for account_id, (states, valid_until) in computed.items():
            valid_until = min(valid_until, now + windows.MAX_AGE)
            payload = {"valid_until": valid_until.isoformat(), "states": {
                ch: [s.outcome, _format(s.at, now), list(s.rules), s.message_en, s.message_zh]
                for ch, s in states.items()}}
            pipe.set(keys[account_id], json.dumps(payload),
                     px=max(1, int((valid_until - now).total_seconds() * 1000)))
        pipe.execute()
    except Exception:
        log.warning("work-queue conduct cache: store failed", exc_info=True)


def _format(at: datetime | None, now: datetime) -> str | None:
    # "now" rather than the instant computed: an allowed channel answers the reader's own now.
    if at is None:
        return None
    return "now" if at <= now else at.isoformat()


def _parse(value: str | None, now: datetime) -> datetime | None:
    if value is None:
        return None
    return now if value == "now" else datetime.fromisoformat(value)


# ---- deciding -------------------------------------------------------------------------------------------------------

def _compute(cases: list[CaseFacts], lenders: dict, now: datetime) -> dict:
    ids = [c.account_id for c in cases]
    holds, consents = _holds(cases, now), _consents(ids)
    subjects = {c.subject_key or debt_key(c) for c in cases}
    histories = ledger.history_many(subjects, now)
    # The queue reads the default person-wide types; an attempt reads its own rulebook's (ledger.person).
    elsewhere = ledger.person_holds_many(subjects, PERSON_WIDE_HOLDS)
    books: dict = {}
    result = {}
    for case in cases:
        lender = lenders[case.lender_id]
        overrides = case.conduct_overrides or {}
        book_key = (case.lender_id, json.dumps(overrides, sort_keys=True))
        if book_key not in books:
            books[book_key] = rulebook_for(lender, _Terms(overrides))
        book = books[book_key]
        debtor_consent, consent_until = consents.get(case.account_id, (engine.Consent(), None))
        subject = case.subject_key or debt_key(case)
        history = histories.get(subject, [])
        case_holds = holds.get(case.account_id, []) + elsewhere.get(subject, [])
        states = {ch: _decide(case, ch, subject, history, case_holds, debtor_consent,
                              consent_until, book, now) for ch in case.channels}
        zones = list(case.time_zones) or list(book.default_zones)
        valid_until = windows.valid_until({ch: s.at for ch, s in states.items()}, now=now, zones=zones,
                                          rulebook=book, consent=debtor_consent)
        result[case.account_id] = (states, valid_until)
    return result


@dataclass(frozen=True)
class _Terms:
    """The one field of a placement that `rulebook_for` reads."""

    conduct_overrides: dict


def _decide(case: CaseFacts, channel: str, subject: str, history, holds, consent, consent_until, book,
            now: datetime) -> ChannelState:
    # The same request `service.next_permitted` builds: the debtor, the first phone, a visit fully staffed.
    number_key = None
    if channel in ("call", "sms"):
        if case.first_phone_index is None:
            return ChannelState(channel, UNAVAILABLE, None)
        number_key = case.first_phone_index
    request = engine.ContactRequest(
        channel=channel, target="debtor", debt_id=debt_key(case), subject_key=subject, number_key=number_key,
        time_zones=case.time_zones, staff_count=WELL_STAFFED, limitation_date=case.limitation_date,
        consent_after_conversation_until=consent_until,
        agency_notice_given=case.debtor_notified_at is not None)
    decision = engine.decide(request, history, holds, consent, book, now)
    if decision.outcome in READY:
        return ChannelState(channel, decision.outcome, now)
    if decision.outcome == "needs_approval":
        asked = [h for h in decision.hits if h.action == "APPROVE"]
        return ChannelState(channel, decision.outcome, None, tuple(h.rule_id for h in asked),
                            asked[0].message_en if asked else "", asked[0].message_zh if asked else "")
    blocking = decision.blocking
    return ChannelState(channel, decision.outcome, decision.earliest_allowed_at, tuple(h.rule_id for h in blocking),
                        blocking[0].message_en, blocking[0].message_zh)


def _holds(cases: list[CaseFacts], now: datetime) -> dict[uuid.UUID, list[engine.Hold]]:
    """`service.active_holds` for many accounts: the lender's flags, then open hold rows."""
    found = {c.account_id: [engine.Hold(type=kind, debt_id=debt_key(c), starts_at=c.created_at,
                                        reason=f"account flagged {flag.replace('_', ' ')} by the lender")
                            for flag, kind in FLAG_HOLDS.items() if c.flags.get(flag)] for c in cases}
    by_id = {c.account_id: c for c in cases}
    # Mapped columns, not the Core table: the tenant lock filters ORM statements only.
    for row in db.session.execute(select(ConductHold.account_id, ConductHold.type, ConductHold.starts_at,
                                         ConductHold.ends_at, ConductHold.allow, ConductHold.reason)
                                  .where(ConductHold.account_id.in_(list(by_id)), ConductHold.resolved_at.is_(None))):
        found[row.account_id].append(engine.Hold(
            type=row.type, debt_id=debt_key(by_id[row.account_id]), starts_at=row.starts_at,
            ends_at=row.ends_at, allow=frozenset(row.allow or []), reason=row.reason))
    return {k: [h for h in v if h.ends_at is None or h.ends_at > now] for k, v in found.items()}


def _consents(ids: list[uuid.UUID]) -> dict[uuid.UUID, tuple[engine.Consent, datetime | None]]:
    """`consent.of` for many accounts."""
    found = {}
    for row in db.session.execute(select(AccountConsent.account_id, AccountConsent.opted_out_channels,
                                         AccountConsent.inconvenient_windows, AccountConsent.agreed_hours,
                                         AccountConsent.consent_until).where(AccountConsent.account_id.in_(ids))):
        found[row.account_id] = (consent.engine_view(row), row.consent_until)
    return found

