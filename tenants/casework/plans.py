"""Payment plans: instalments agreed with the debtor by the agency holding the account.

A plan is proposed from a total, a count and a frequency (weekly, fortnightly, monthly; the amounts add up exactly,
the remainder on the last instalment) or from an explicit schedule, and may run at most the rulebook's maximum
plan length (CN.PLAN.PAUSE: 5 years; the same default elsewhere). Signing — the debtor's acknowledgement, or a
signed copy in the evidence store (`evidence_id`) — makes it active and opens a `plan` hold: collection pauses
while the plan is kept, instalment reminders (message kind `plan_reminder`) still go out. The daily review marks
each instalment kept (confirmed payments since the plan was agreed cover it and every earlier one by its due date
plus grace days) or missed; a missed instalment breaks the plan and resolves the hold, so collection resumes and
the case is back in the queue. All instalments kept completes the plan. A plan left unsigned past its first due
date lapses (cancelled); an open plan whose placement has ended is cancelled.
"""
import uuid
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import select

from tenants import audit, clock, references, webhooks
from tenants.capabilities import Capability, can
from tenants.casework import schedule
from tenants.casework.debtor_dates import debtor_zone, grace_days, last_day_to_pay, today_in
from tenants.casework.evidence import Evidence
from tenants.casework.money_models import InstalmentStatus, PaymentPlan, PaymentStatus, PlanInstalment, PlanStatus
from tenants.casework.promises import active_placements, held_case, own_attempt, payments_by_account
from tenants.conduct import service as conduct
from tenants.conduct.models import ConductHold
from tenants.context import current_tenant_id
from tenants.db import db, get_visible
from tenants.errors import Conflict, PermissionDenied, ValidationFailed, required_text
from tenants.money import Money
from tenants.placements.models import Placement
from tenants.placements.services import RECALL_BLOCKERS
from tenants.tenancy.models import Tenant

DEFAULT_MAX_YEARS = 5
REMINDER = "plan_reminder"
REVIEW_BATCH = 200


def max_plan_years(lender: Tenant, placement: Placement | None) -> int:
    """The rulebook's maximum plan length (a lender may only have tightened it)."""
    book = conduct.rulebook_for(lender, placement)
    for rule in book.rules:
        if "max_plan_years" in rule.params:
            return int(rule.params["max_plan_years"].value)
    return DEFAULT_MAX_YEARS


def by_idempotency_key(key: str) -> PaymentPlan | None:
    return db.session.scalar(select(PaymentPlan).where(PaymentPlan.tenant_id == current_tenant_id(),
                                                       PaymentPlan.idempotency_key == key))


def propose(account_id: uuid.UUID, *, user_id: uuid.UUID | None, total: str | None = None,
            count: int | None = None, frequency: str | None = None, first_due_on: date | None = None,
            explicit: list[tuple[date, str]] | None = None, attempt_id: uuid.UUID | None = None,
            note: str | None = None, idempotency_key: str | None = None) -> PaymentPlan:
    """A plan from (total, count, frequency, first due date) or from an explicit [(due date, amount)] schedule
    (with `total`, the amounts must add up to it)."""
    if idempotency_key:
        earlier = by_idempotency_key(idempotency_key)
        if earlier is not None:
            if earlier.account_id != account_id:
                raise Conflict("This Idempotency-Key was already used for another account.",
                               code="idempotency.key_reused")
            return earlier
    account, placement = held_case(account_id)
    if db.session.scalar(select(PaymentPlan.id).where(PaymentPlan.account_id == account.id,
                                                      PaymentPlan.tenant_id == current_tenant_id(),
                                                      PaymentPlan.status.in_(PlanStatus.OPEN)).limit(1)):
        raise Conflict("This account already has a proposed or active plan; cancel it first.",
                       code="plan.already_open")
    instalments, frequency = _instalments(account, total, count, frequency, first_due_on, explicit)
    total_minor = sum(i.amount_minor for i in instalments)
    if total_minor > account.outstanding_minor:
        raise ValidationFailed("The plan is larger than the outstanding balance.", code="money.over_balance",
                               details={"fields": {"total": ["Larger than the outstanding balance."]}})
    zone = debtor_zone(account)
    today = today_in(zone)
    lender = db.session.get(Tenant, account.tenant_id)
    schedule.check_within(instalments, today, max_plan_years(lender, placement))
    agency = db.session.get(Tenant, current_tenant_id())
    plan = PaymentPlan(
        tenant_id=agency.id, lender_tenant_id=account.tenant_id, account_id=account.id, placement_id=placement.id,
        currency=account.currency, total_minor=total_minor, instalment_count=len(instalments), frequency=frequency,
        agreed_on=today, grace_days=grace_days(agency), zone=zone, status=PlanStatus.PROPOSED,
        note=(note or "").strip() or None, created_by_user_id=user_id, attempt_id=own_attempt(attempt_id, account),
        idempotency_key=idempotency_key,
        instalments=[PlanInstalment(tenant_id=agency.id, lender_tenant_id=account.tenant_id, number=i.number,
                                    due_on=i.due_on, amount_minor=i.amount_minor, status=InstalmentStatus.DUE,
                                    paid_minor=0) for i in instalments])
    db.session.add(plan)
    db.session.flush()
    audit.record("plan.proposed", object_type="payment_plan", object_id=plan.id,
                 after={"account_id": account.id, "total_minor": total_minor, "currency": plan.currency,
                        "frequency": frequency, "grace_days": plan.grace_days,
                        "instalments": [[i.due_on.isoformat(), i.amount_minor] for i in instalments]})
    return plan


def _instalments(account, total, count, frequency, first_due_on, explicit):
    if explicit:
        rows = [(due_on, Money.parse(amount, account.currency).minor) for due_on, amount in explicit]
        total_minor = Money.parse(total, account.currency).minor if total else None
        return schedule.explicit(rows, total_minor), schedule.CUSTOM
    missing = {name: ["Required (or give an explicit schedule)."] for name, value in
               (("total", total), ("instalment_count", count), ("frequency", frequency),
                ("first_due_on", first_due_on)) if value in (None, "")}
    if missing:
        raise ValidationFailed(details={"fields": missing})
    total_minor = Money.parse(total, account.currency).minor
    if total_minor <= 0:
        raise ValidationFailed("The total must be more than zero.", code="money.not_positive",
                               details={"fields": {"total": ["Must be more than zero."]}})
    return schedule.regular(total_minor, count, frequency, first_due_on), frequency


def get_plan(plan_id: uuid.UUID) -> PaymentPlan:
    return get_visible(PaymentPlan, plan_id, "plan.not_found")


def _own(plan_id: uuid.UUID) -> PaymentPlan:
    plan = get_plan(plan_id)
    if plan.tenant_id != current_tenant_id():
        raise PermissionDenied("Only the agency that agreed this plan may change it.", code="plan.not_yours")
    return plan


def sign(plan_id: uuid.UUID, *, user_id: uuid.UUID | None, acknowledgement: str | None = None,
         evidence_id: uuid.UUID | None = None) -> PaymentPlan:
    """The debtor signed: an acknowledgement (who, when, how — "verbal on recorded call …", "e-signature") or a
    signed copy in the evidence store. Activates the plan and pauses collection while it is kept."""
    plan = _own(plan_id)
    if plan.status != PlanStatus.PROPOSED:
        raise Conflict("Only a proposed plan can be signed.", code="plan.not_proposed")
    acknowledgement = (acknowledgement or "").strip() or None
    if acknowledgement is None and evidence_id is None:
        raise ValidationFailed("Say how the debtor agreed, or attach the signed agreement.",
                               code="plan.signature_required",
                               details={"fields": {"acknowledgement": ["Required without a signed document."]}})
    if evidence_id is not None:
        references.of_account(Evidence, evidence_id, plan.account_id, code="evidence.not_found", field="evidence_id")
    held_case(plan.account_id)
    last = plan.instalments[-1]
    if today_in(plan.zone) > plan.instalments[0].due_on:
        raise Conflict("The first instalment is already past due; propose a new plan.", code="plan.lapsed")
    resume_at = datetime.combine(last_day_to_pay(last.due_on, plan.grace_days) + timedelta(days=1), time(0),
                                 tzinfo=ZoneInfo(plan.zone))
    hold = conduct.open_hold(plan.account_id, "plan", source="plan", ends_at=resume_at, allow=[REMINDER],
                             created_by_user_id=user_id,
                             reason=f"payment plan: {Money(plan.total_minor, plan.currency)} in "
                                    f"{plan.instalment_count} instalment(s) until {last.due_on.isoformat()}")
    plan.status, plan.signed_at, plan.signed_by_user_id = PlanStatus.ACTIVE, clock.now(), user_id
    plan.acknowledgement, plan.evidence_id, plan.hold_id = acknowledgement, evidence_id, hold.id
    db.session.flush()
    audit.record("plan.signed", object_type="payment_plan", object_id=plan.id,
                 before={"status": PlanStatus.PROPOSED},
                 after={"status": plan.status, "acknowledgement": acknowledgement, "evidence_id": evidence_id,
                        "hold_id": hold.id})
    webhooks.emit_for("plan.signed", plan, total_minor=plan.total_minor, currency=plan.currency,
                      instalments=plan.instalment_count)
    return plan


def cancel(plan_id: uuid.UUID, reason: str, *, role: str | None) -> PaymentPlan:
    """Withdraw a proposed plan, or end an active one (a supervisor's call: the debtor signed it)."""
    plan = _own(plan_id)
    if plan.status not in PlanStatus.OPEN:
        raise Conflict("Only a proposed or active plan can be cancelled.", code="plan.not_open")
    if plan.status == PlanStatus.ACTIVE and not can(role, Capability.PLAN_CANCEL_ACTIVE):
        raise PermissionDenied("Only a supervisor or an agency admin may end a signed plan.",
                               code="plan.cancel_needs_supervisor")
    _end(plan, PlanStatus.CANCELLED,
         required_text(reason, message="Say why the plan is cancelled.", code="plan.reason_required"))
    return plan


def of_account(account_id: uuid.UUID) -> list[PaymentPlan]:
    return list(db.session.scalars(select(PaymentPlan).where(PaymentPlan.account_id == account_id)
                                   .order_by(PaymentPlan.created_at.desc(), PaymentPlan.id)))


# ---- the daily review ----------------------------------------------------------------------------------------------

def review(now: datetime | None = None) -> dict:
    """Judge the current agency's open plans against confirmed payments; running it again changes nothing."""
    now = now or clock.now()
    counts = {"active": 0, "completed": 0, "broken": 0, "cancelled": 0, "proposed": 0}
    plans = list(db.session.scalars(select(PaymentPlan).where(PaymentPlan.tenant_id == current_tenant_id(),
                                                              PaymentPlan.status.in_(PlanStatus.OPEN))
                                    .order_by(PaymentPlan.created_at, PaymentPlan.id)))
    for start in range(0, len(plans), REVIEW_BATCH):
        batch = plans[start:start + REVIEW_BATCH]
        payments = payments_by_account({p.account_id for p in batch}, min(p.agreed_on for p in batch))
        live = active_placements({p.placement_id for p in batch})
        for plan in batch:
            counts[_judge(plan, payments.get(plan.account_id, []), plan.placement_id in live, now)] += 1
    return counts


def _judge(plan: PaymentPlan, payments, placement_active: bool, now: datetime) -> str:
    today = today_in(plan.zone, now)
    if plan.status == PlanStatus.PROPOSED:
        if not placement_active:
            _end(plan, PlanStatus.CANCELLED, "the placement ended")
        elif today > plan.instalments[0].due_on:
            _end(plan, PlanStatus.CANCELLED, "not signed before the first instalment fell due")
        return plan.status
    counted = [(day, amount, status) for day, amount, status in payments if day >= plan.agreed_on]
    confirmed_total = sum(amount for _, amount, status in counted if status == PaymentStatus.CONFIRMED)
    owed_before = 0
    for instalment in plan.instalments:
        owed = owed_before + instalment.amount_minor
        paid = max(0, min(instalment.amount_minor, confirmed_total - owed_before))
        if instalment.paid_minor != paid:
            instalment.paid_minor = paid
        if instalment.status == InstalmentStatus.DUE:
            last_day = last_day_to_pay(instalment.due_on, plan.grace_days)
            in_time = [(amount, status) for day, amount, status in counted if day <= last_day]
            confirmed = sum(amount for amount, status in in_time if status == PaymentStatus.CONFIRMED)
            if confirmed >= owed:
                _settle(plan, instalment, InstalmentStatus.KEPT)
            elif today > last_day and sum(amount for amount, _ in in_time) < owed:
                _settle(plan, instalment, InstalmentStatus.MISSED)
                _end(plan, PlanStatus.BROKEN, f"instalment {instalment.number} missed (due "
                                              f"{instalment.due_on.isoformat()})")
                return plan.status
        owed_before = owed
    if all(i.status == InstalmentStatus.KEPT for i in plan.instalments):
        _end(plan, PlanStatus.COMPLETED, "every instalment paid")
    elif not placement_active:
        _end(plan, PlanStatus.CANCELLED, "the placement ended")
    return plan.status


def _settle(plan: PaymentPlan, instalment: PlanInstalment, status: str) -> None:
    instalment.status, instalment.settled_at = status, clock.now()
    audit.record(f"plan.instalment_{status}", object_type="payment_plan", object_id=plan.id,
                 before={"number": instalment.number, "status": InstalmentStatus.DUE},
                 after={"number": instalment.number, "status": status, "due_on": instalment.due_on.isoformat(),
                        "amount_minor": instalment.amount_minor, "paid_minor": instalment.paid_minor})


def _end(plan: PaymentPlan, status: str, reason: str) -> None:
    before = plan.status
    plan.status, plan.ended_at, plan.end_reason = status, clock.now(), reason
    webhooks.emit_for("plan.broken", plan, when=status == "broken", total_minor=plan.total_minor,
                      currency=plan.currency)
    resumed = _resume_collection(plan, reason)
    audit.record(f"plan.{status}", object_type="payment_plan", object_id=plan.id, before={"status": before},
                 after={"status": status, "reason": reason, "hold_resolved": resumed})


def _resume_collection(plan: PaymentPlan, reason: str) -> bool:
    """Resolve the plan's hold. Once the placement has ended the agency no longer sees the hold: the lender may
    resolve it, and it ends by itself after the last instalment's grace days."""
    if plan.hold_id is None:
        return False
    hold = db.session.scalar(select(ConductHold).where(ConductHold.id == plan.hold_id))
    if hold is None or hold.resolved_at is not None:
        return False
    conduct.resolve_hold(hold.id, f"payment plan {plan.status}: {reason}")
    return True


def _open_plans(account_ids) -> dict:
    rows = db.session.scalars(select(PaymentPlan.account_id).where(PaymentPlan.account_id.in_(list(account_ids)),
                                                                   PaymentPlan.status == PlanStatus.ACTIVE))
    return {account_id: "a signed payment plan is active" for account_id in rows}


RECALL_BLOCKERS.append(_open_plans)
