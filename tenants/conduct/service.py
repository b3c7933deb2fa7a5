"""Deciding and recording contacts: the engine's inputs gathered from an account, its holds and the person's
platform-wide ledger; the decision and the attempt recorded in one transaction per person."""
import logging
import uuid
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select, update

from tenants import audit, clock, references, webhooks
from tenants.conduct import approvals, baseline, consent, engine, ledger, replay, windows
from tenants.conduct.cases import Case, case_of, read_with_person
from tenants.conduct.models import AttemptStatus, ConductHold, ContactAttempt
from tenants.conduct.presets import preset, terms_unreadable
from tenants.conduct.rulebook import Rulebook, parse_overrides, tighten_by_terms
from tenants.context import current_tenant_id, may_write
from tenants.db import commit_keeping_state, db, get_visible
from tenants.errors import Conflict, NotFound, PermissionDenied, ValidationFailed
from tenants.pii import blind_index
from tenants.placements.models import Placement, PlacementStatus
from tenants.portfolios.accounts import get_account
from tenants.portfolios.models import Account, ThirdPartyContact
from tenants.tenancy.models import Tenant

log = logging.getLogger(__name__)

FLAG_HOLDS = {"disputed": "dispute", "cease_requested": "cease", "attorney": "attorney", "bankrupt": "bankruptcy",
              "deceased": "deceased"}
# outcome code → (connected, conversation) unless the caller says otherwise
OUTCOMES = {
    "no_answer": (False, False), "voicemail": (False, False), "wrong_number": (True, False),
    "right_party_contact": (True, True), "promise_to_pay": (True, True), "refused": (True, True),
    "dispute_raised": (True, True), "cease_requested": (True, True), "callback_requested": (True, True),
    "delivered": (False, False), "bounced": (False, False),
}
OUTCOME_HOLDS = {"dispute_raised": "dispute", "cease_requested": "cease"}
WELL_STAFFED = 10


class ConductBlocked(ValidationFailed):
    """The engine refused: the attempt is recorded (committed) before this is raised."""

    status = 422


def jurisdiction(lender: Tenant) -> str:
    return baseline.baseline_of(lender)


def rulebook_for(lender: Tenant, placement: Placement | None) -> Rulebook:
    """The lender's jurisdiction's baseline tightened by the placement's terms. Never raises: terms are checked
    when saved (`check_terms`), and stored terms that still cannot be read (saved before that check) refuse every
    contact on the placement rather than fail it or fall back to the looser baseline."""
    book = preset(jurisdiction(lender))
    overrides = _overrides(placement)
    if not overrides:
        return book
    try:
        return tighten_by_terms(book, overrides)
    except ValueError as exc:
        log.error("placement %s: conduct terms cannot be read (%s): contact refused",
                  getattr(placement, "id", "?"), exc)
        return terms_unreadable(book)


def check_terms(lender: Tenant, overrides) -> dict:
    """A placement's conduct terms, checked when saved: typed, known, and only tightening the lender's rulebook.
    ValidationFailed (422) naming the field otherwise."""
    book = preset(jurisdiction(lender))
    try:
        parse_overrides(book, overrides or {})
    except ValueError as exc:
        raise ValidationFailed(str(exc), code="placement.terms_invalid",
                               details={"problem": str(exc), "fields": {"conduct_overrides": [str(exc)]}}) from None
    return dict(overrides or {})


def _overrides(placement: Placement | None) -> dict:
    return (placement.conduct_overrides or {}) if placement else {}


def active_holds(account: Account, now: datetime, open_rows: list[ConductHold] | None = None) -> list[engine.Hold]:
    """The lender's flags and the account's open holds in force at `now` (`open_rows`: its unresolved hold rows,
    when the caller has read them)."""
    holds = [engine.Hold(type=kind, debt_id=ledger.debt_key(account), starts_at=account.created_at,
                         reason=f"account flagged {flag.replace('_', ' ')} by the lender")
             for flag, kind in FLAG_HOLDS.items() if getattr(account, flag)]
    if open_rows is None:
        open_rows = db.session.scalars(select(ConductHold).where(ConductHold.account_id == account.id,
                                                                 ConductHold.resolved_at.is_(None))).all()
    for hold in open_rows:
        holds.append(engine.Hold(type=hold.type, debt_id=ledger.debt_key(account), starts_at=hold.starts_at,
                                 ends_at=hold.ends_at, allow=frozenset(hold.allow or []), reason=hold.reason))
    return [h for h in holds if h.ends_at is None or h.ends_at > now]


def _placement_of(account: Account) -> Placement | None:
    return db.session.scalar(select(Placement).where(Placement.account_id == account.id,
                                                     Placement.status == PlacementStatus.ACTIVE))


@dataclass(frozen=True)
class AttemptRequest:
    channel: str
    target: str = "debtor"
    phone_position: int = 0
    third_party_id: uuid.UUID | None = None
    approval_id: uuid.UUID | None = None  # an approved request covering this contact (needs-approval rules)
    staff_count: int = 0
    purpose: str = "collect"
    message_kind: str | None = None


def _contact_request(account: Account, ask: AttemptRequest, *, agency_placement: Placement | None = None,
                     approved: bool = False, consent_until: datetime | None = None) -> engine.ContactRequest:
    number_key, third_party_key = None, None
    if ask.target == "third_party" or ask.third_party_id is not None:
        contact = third_party_of(account, ask.third_party_id)  # resolved first: a foreign id is a 404 either way
        if ask.target != "third_party":
            raise ValidationFailed(details={"fields": {"third_party_id": ["Only for target third_party."]}})
        number_key, third_party_key = contact.phone_index, blind_index("third_party", str(contact.id))
    elif ask.channel in ("call", "sms"):
        phones = account.phones
        if not phones or not 0 <= ask.phone_position < len(phones):
            raise ValidationFailed(details={"fields": {"phone_position": ["The account has no such phone."]}})
        number_key = phones[ask.phone_position].phone_index
    return engine.ContactRequest(
        channel=ask.channel, target=ask.target, debt_id=ledger.debt_key(account),
        subject_key=ledger.person_key(account), number_key=number_key, time_zones=tuple(account.time_zones or ()),
        third_party_id=third_party_key, approved=approved, staff_count=ask.staff_count,
        limitation_date=account.limitation_date, purpose=ask.purpose,
        message_kind=ask.message_kind, consent_after_conversation_until=consent_until,
        # None: the lender contacts its own customer; an agency must have had the hand-over notified.
        agency_notice_given=None if agency_placement is None else agency_placement.debtor_notified_at is not None,
    )


def third_party_of(account: Account, third_party_id: uuid.UUID | None) -> ThirdPartyContact:
    """A current third-party contact of this account, as the caller sees it (another tenant's: 404)."""
    if third_party_id is None:
        raise ValidationFailed(details={"fields": {"third_party_id": ["Required when target is third_party."]}})
    contact = references.of_account(ThirdPartyContact, third_party_id, account.id, code="third_party.not_found",
                                    field="third_party_id", message="Not a contact of this account.")
    if not contact.is_current:
        raise ValidationFailed(details={"fields": {"third_party_id": ["No longer a contact of this account."]}})
    return contact


def attempt(account_or_case: uuid.UUID | Case, ask: AttemptRequest, *, collector_user_id: uuid.UUID | None,
            idempotency_key: str | None = None, note: str | None = None) -> tuple[ContactAttempt, engine.Decision]:
    """Decide an outbound contact and record it (blocked ones too). Commits; raises ConductBlocked if refused.
    A decision needing approval opens an approval request for the lender (`note` tells the approver why).
    `account_or_case`: the account's id, or its `case_of` when the caller has read it."""
    if idempotency_key:
        earlier = db.session.scalar(select(ContactAttempt).where(ContactAttempt.idempotency_key == idempotency_key))
        if earlier is not None:
            return earlier, None
    case = account_or_case if isinstance(account_or_case, Case) else case_of(account_or_case)
    account, lender, placement, consent_row = case.account, case.lender, case.placement, case.consent
    references.member(collector_user_id, field="collector_user_id")
    acting_as_agency = current_tenant_id() != account.tenant_id
    if acting_as_agency and (placement is None or placement.agency_tenant_id != current_tenant_id()):
        raise NotFound(code="account.not_found")
    if acting_as_agency and ask.channel not in (placement.allowed_channels or []):
        raise ValidationFailed(f"This placement does not allow {ask.channel}.", code="placement.channel_not_allowed")
    agency_placement = placement if acting_as_agency else None
    approval = (approvals.usable(ask.approval_id, account_id=account.id, channel=ask.channel, target=ask.target)
                if ask.approval_id else None)
    debtor_consent, consent_until = ((consent.engine_view(consent_row), consent_row.consent_until) if consent_row
                                     else (engine.Consent(), None))
    book = rulebook_for(lender, agency_placement)
    subject_key = ledger.person_key(account)
    with ledger.serialised(subject_key):
        # Waits for the person's lock; the person-wide holds on their other debts come with the history.
        # Holds and phones are read after the lock, in the same statement (a hold opened meanwhile, under the same
        # lock, is seen).
        history, person_holds, open_rows = read_with_person(account, subject_key, clock.now(),
                                                            hold_types=book.person_wide_holds)
        # After the lock, and never before an entry of the history: whoever held the lock meanwhile (or a web node
        # whose clock runs ahead) may have recorded an attempt later than an instant read before the lock, and the
        # engine counts only attempts up to `now`.
        now = max([clock.now(), *(h.at for h in history)])
        holds = active_holds(account, now, open_rows) + person_holds
        request = _contact_request(account, ask, agency_placement=agency_placement, approved=approval is not None,
                                   consent_until=consent_until)
        decision = engine.decide(request, history, holds, debtor_consent, book, now)
        inputs = replay.capture(request, history, holds, debtor_consent, preset_code=jurisdiction(lender),
                                overrides=_overrides(agency_placement))
        record = _record(account, agency_placement, ask, request, decision, now, collector_user_id,
                         idempotency_key, inputs)
        if decision.outcome == "needs_approval":
            approvals.open_for(record, decision, lender_id=account.tenant_id,
                               requested_by_user_id=collector_user_id, note=note)
        elif approval is not None and decision.outcome != "block":
            approvals.mark_used(approval, record)
        commit_keeping_state()
    if decision.outcome == "block":
        first = decision.blocking[0]
        raise ConductBlocked(first.message_en, code=f"conduct.{first.rule_id.lower()}",
                             details=decision_view(record, decision))
    return record, decision


def _record(account, placement, ask, request, decision, now, collector_user_id, idempotency_key,
            inputs) -> ContactAttempt:
    status = {"block": AttemptStatus.BLOCKED, "needs_approval": AttemptStatus.NEEDS_APPROVAL}.get(
        decision.outcome, AttemptStatus.PENDING)
    record = ContactAttempt(
        id=uuid.uuid4(), tenant_id=current_tenant_id(), lender_tenant_id=account.tenant_id, account_id=account.id,
        placement_id=placement.id if placement else None,
        channel=ask.channel, target=ask.target, third_party_id=ask.third_party_id, number_key=request.number_key,
        status=status, decision=decision.outcome, rulebook_version=decision.rulebook_version,
        hits=[_hit(h) for h in decision.hits], inputs=inputs, decided_at=now,
        earliest_allowed_at=decision.earliest_allowed_at, collector_user_id=collector_user_id,
        idempotency_key=idempotency_key,
    )
    entry = None
    if status == AttemptStatus.PENDING:
        entry = ledger.Entry(subject_key=request.subject_key, debt_key=request.debt_id, number_key=request.number_key,
                             third_party_key=request.third_party_id, channel=request.channel, target=request.target,
                             at=now)
    event = audit.unlinked("contact.decided", object_type="contact_attempt", object_id=record.id,
                           after={"channel": record.channel, "target": record.target, "decision": record.decision,
                                  "rules": [h["rule_id"] for h in record.hits],
                                  "rulebook": record.rulebook_version})
    ledger.record_attempt(record, entry, event, told=webhooks.contact_decided(record, account))
    if entry:
        windows.invalidate_subject(request.subject_key)
    return record


def _hit(hit: engine.RuleHit) -> dict:
    return {"rule_id": hit.rule_id, "action": hit.action, "message_en": hit.message_en, "message_zh": hit.message_zh,
            "earliest_allowed_at": hit.earliest_allowed_at.isoformat() if hit.earliest_allowed_at else None,
            "citation": hit.citation}


def decision_view(record: ContactAttempt, decision: engine.Decision | None) -> dict:
    return {"attempt_id": str(record.id), "decision": record.decision, "rulebook_version": record.rulebook_version,
            "earliest_allowed_at": record.earliest_allowed_at.isoformat() if record.earliest_allowed_at else None,
            "hits": record.hits}


def record_outcome(attempt_id: uuid.UUID, outcome_code: str, *, connected: bool | None = None,
                   conversation: bool | None = None, note: str | None = None) -> ContactAttempt:
    record = get_visible(ContactAttempt, attempt_id, "contact_attempt.not_found")
    if record.tenant_id != current_tenant_id():  # the lender reads its agencies' attempts; only the maker writes
        raise PermissionDenied("Only the tenant that made this attempt records its outcome.",
                               code="contact_attempt.not_yours")
    if record.status != AttemptStatus.PENDING:
        raise Conflict("Only an attempt under way takes an outcome.", code="contact_attempt.not_pending")
    if outcome_code not in OUTCOMES:
        raise ValidationFailed(details={"fields": {"outcome_code": [f"One of {', '.join(OUTCOMES)}."]}})
    default_connected, default_conversation = OUTCOMES[outcome_code]
    record.connected = default_connected if connected is None else connected
    record.conversation = default_conversation if conversation is None else conversation
    record.outcome_code, record.outcome_at, record.status = outcome_code, clock.now(), AttemptStatus.COMPLETED
    ledger.settle(record.ledger_id, connected=record.connected, conversation=record.conversation)
    windows.invalidate_subject(record.inputs["request"]["subject_key"])
    if outcome_code in OUTCOME_HOLDS:
        open_hold(record.account_id, OUTCOME_HOLDS[outcome_code], reason=note or outcome_code.replace("_", " "),
                  source="contact_outcome")
    audit.record("contact.outcome", object_type="contact_attempt", object_id=record.id,
                 after={"outcome": outcome_code, "connected": record.connected, "conversation": record.conversation})
    return record


def record_inbound(account_id: uuid.UUID, channel: str, outcome_code: str, *, note: str | None = None,
                   collector_user_id: uuid.UUID | None = None) -> ContactAttempt:
    """The debtor called or wrote in: nothing to decide, but what they said can open a hold (a dispute, a
    request to stop). Inbound contacts do not count against outbound caps."""
    if outcome_code not in OUTCOMES:
        raise ValidationFailed(details={"fields": {"outcome_code": [f"One of {', '.join(OUTCOMES)}."]}})
    account = get_account(account_id)
    now = clock.now()
    connected, conversation = OUTCOMES[outcome_code]
    record = ContactAttempt(
        tenant_id=current_tenant_id(), lender_tenant_id=account.tenant_id, account_id=account.id, channel=channel,
        direction="inbound", target="debtor",
        status=AttemptStatus.COMPLETED, decision="inbound", rulebook_version="", hits=[], inputs={},
        decided_at=now, outcome_code=outcome_code, connected=connected, conversation=conversation, outcome_at=now,
        collector_user_id=collector_user_id)
    db.session.add(record)
    db.session.flush()
    if outcome_code in OUTCOME_HOLDS:
        open_hold(account.id, OUTCOME_HOLDS[outcome_code], reason=note or outcome_code.replace("_", " "),
                  source="contact_outcome")
    audit.record("contact.inbound", object_type="contact_attempt", object_id=record.id,
                 after={"channel": channel, "outcome": outcome_code})
    return record


def open_hold(account_id: uuid.UUID, kind: str, *, reason: str, source: str, ends_at: datetime | None = None,
              allow: list[str] | None = None, created_by_user_id: uuid.UUID | None = None) -> ConductHold:
    if kind not in engine.HOLD_TYPES:
        raise ValidationFailed(details={"fields": {"type": [f"One of {', '.join(engine.HOLD_TYPES)}."]}})
    account = get_account(account_id)
    # Under the person's lock: an attempt being decided either sees this hold or was decided before it started.
    ledger.lock_person(ledger.person_key(account))
    hold = ConductHold(tenant_id=account.tenant_id, account_id=account.id, type=kind, reason=reason,
                       starts_at=clock.now(), ends_at=ends_at, allow=list(allow or []), source=source,
                       created_by_tenant_id=current_tenant_id(), created_by_user_id=created_by_user_id)
    db.session.add(hold)
    db.session.flush()
    audit.record("hold.opened", object_type="hold", object_id=hold.id,
                 after={"type": kind, "reason": reason, "source": source})
    webhooks.emit_for("hold.opened", hold, type=kind, source=source, ends_at=ends_at)
    windows.invalidate_account(account.id)
    windows.invalidate_subject(ledger.person_key(account))  # a person-wide hold changes their other debts' answers
    return hold


def resolve_hold(hold_id: uuid.UUID, resolution: str) -> ConductHold:
    """End a hold now. The lender or the tenant that opened it may; others that see it get PermissionDenied."""
    hold = db.session.scalar(select(ConductHold).where(ConductHold.id == hold_id))
    if hold is None:
        raise NotFound(code="hold.not_found")
    if not may_write(hold):
        raise PermissionDenied("Only the lender or the tenant that opened this hold may resolve it.",
                               code="hold.not_writable")
    if hold.resolved_at is not None:
        raise Conflict("This hold is already resolved.", code="hold.already_resolved")
    hold.resolved_at, hold.resolution = clock.now(), resolution
    audit.record("hold.resolved", object_type="hold", object_id=hold.id, before={"resolved_at": None},
                 after={"type": hold.type, "resolution": resolution})
    webhooks.emit_for("hold.ended", hold, type=hold.type, ended_by="resolution")
    windows.invalidate_account(hold.account_id)
    return hold


def end_lapsed_holds() -> int:
    """Holds whose end has come are resolved as of that end (`ConductHold.EXPIRED`) and told as hold.ended, once:
    the engine stopped applying them at `ends_at` already, and the lender's systems, and the agency's that holds
    the account now, learn it as they learn of a hold resolved by hand. An agency that opened the hold but no
    longer holds the account is not told: nothing of an account it lost reaches it. Run in a platform context
    (a periodic job); a second run finds nothing."""
    ended = db.session.execute(
        update(ConductHold).where(ConductHold.resolved_at.is_(None), ConductHold.ends_at <= clock.now())
        .values(resolved_at=ConductHold.ends_at, resolution=ConductHold.EXPIRED)
        .returning(ConductHold.id, ConductHold.account_id, ConductHold.type)
        .execution_options(synchronize_session=False)).all()
    holders = dict(db.session.execute(select(Placement.account_id, Placement.agency_tenant_id).where(
        Placement.account_id.in_({hold.account_id for hold in ended}),
        Placement.status == PlacementStatus.ACTIVE)).all()) if ended else {}
    webhooks.emit_each("hold.ended", [
        webhooks.Item(account_id=hold.account_id, to=(holders.get(hold.account_id),), refs={"hold_id": hold.id},
                      data={"type": hold.type, "ended_by": "expiry"}) for hold in ended])
    for account_id in {hold.account_id for hold in ended}:
        windows.invalidate_account(account_id)
    return len(ended)


def next_permitted(account_id: uuid.UUID, now: datetime | None = None) -> dict[str, datetime | None]:
    """Per channel, when the current tenant may next contact the debtor (now, a later time, or None: not by
    waiting). Records nothing and takes no lock. A channel allowed now answers exactly `now`: pass the caller's
    instant when it compares against its own (a page rendering "allowed now"). Cached (see `windows`)."""
    account = get_account(account_id)
    placement = _placement_of(account)
    agency_placement = placement if current_tenant_id() != account.tenant_id else None
    now = now or clock.now()
    subject_key = ledger.person_key(account)
    fingerprint = windows.fingerprint(
        [account.disputed, account.cease_requested, account.attorney, account.bankrupt, account.deceased],
        account.time_zones, account.limitation_date, len(account.phones), account.tenant_id,
        agency_placement and [agency_placement.id, agency_placement.debtor_notified_at])
    return windows.cached(current_tenant_id(), account.id, subject_key, fingerprint, now,
                          lambda: _compute_next_permitted(account, agency_placement, now))


def _compute_next_permitted(account: Account, agency_placement: Placement | None, now: datetime):
    lender = db.session.get(Tenant, account.tenant_id)
    channels = agency_placement.allowed_channels if agency_placement else list(engine.CHANNELS)
    book = rulebook_for(lender, agency_placement)
    history, person_holds = ledger.person(ledger.person_key(account), now, hold_types=book.person_wide_holds,
                                          account_id=account.id, lock=False)
    holds = active_holds(account, now) + person_holds
    debtor_consent, consent_until = consent.of(account)
    result = {}
    for channel in channels:
        try:
            # When, not how: a visit is assumed staffed as the rules require (the attempt itself checks).
            request = _contact_request(account, AttemptRequest(channel=channel, staff_count=WELL_STAFFED),
                                       agency_placement=agency_placement, consent_until=consent_until)
        except ValidationFailed:  # e.g. calls to an account without a phone
            result[channel] = None
            continue
        result[channel] = engine.next_permitted(channel, request, history, holds, debtor_consent, book, now)
    zones = list(account.time_zones or ()) or list(book.default_zones)
    return result, windows.valid_until(result, now=now, zones=zones, rulebook=book, consent=debtor_consent)
