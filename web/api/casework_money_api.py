"""Promises to pay, payments and payment plans.

The agency holding an account takes promises, agrees plans and records payments (pending until the lender
confirms); the account's lender reads them, reports payments itself (confirmed at once), and confirms or reverses
the agency's. Amounts are decimal strings in the account's currency (`amount`) with their integer minor units
(`amount_minor`). POSTs that create a promise, a payment or a plan honour an `Idempotency-Key` header (up to 100
characters): a retried request returns the first answer instead of recording twice. Foreign ids are 404.
"""
import uuid

from flask import g
from flask_smorest import Blueprint
from marshmallow import Schema, ValidationError, fields, validate, validates_schema
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from tenants import references
from tenants.capabilities import Capability
from tenants.casework import payments as payment_service
from tenants.casework import plans as plan_service
from tenants.casework import promises as promise_service
from tenants.casework.debtor_dates import last_day_to_pay
from tenants.casework.money_models import Payment, PaymentMethod, PaymentPlan, PaymentStatus, Promise
from tenants.casework.schedule import FREQUENCIES
from tenants.db import db, get_visible
from tenants.money import Money
from tenants.portfolios.models import Account
from web.access import require_capability
from web.api.idempotency import idempotency_key
from web.api.pagination import PageArgs, paginate
from web.api.portfolio_schemas import agencies_only, lenders_and_agencies, lenders_only, loads

blp = Blueprint("api_casework_money", __name__, url_prefix="/api/v1",
                description="Promises to pay, payments (confirmed or reversed by the lender) and payment plans")



# ---- loaders (the tenant lock decides what a tenant sees) -------------------------------------------------------

def _account(account_id: uuid.UUID) -> Account:
    return get_visible(Account, account_id, "account.not_found")


def _promise(promise_id: uuid.UUID) -> Promise:
    return get_visible(Promise, promise_id, "promise.not_found")


def _payment(payment_id: uuid.UUID) -> Payment:
    return get_visible(Payment, payment_id, "payment.not_found")


def _plan(plan_id: uuid.UUID) -> PaymentPlan:
    return get_visible(PaymentPlan, plan_id, "plan.not_found")


def _decimal(minor_attr: str):
    return fields.Function(lambda obj: str(Money(getattr(obj, minor_attr), obj.currency).decimal()),
                           metadata={"description": "Decimal string in the currency."})


def _commit_once(create, lookup, key: str | None):
    """Create and commit; when the same key raced in from a parallel retry, answer with the winner."""
    created = create()
    try:
        db.session.commit()
    except IntegrityError:
        db.session.rollback()
        earlier = lookup(key) if key else None
        if earlier is None:
            raise
        return earlier
    return created


def _member(user_id: uuid.UUID | None, field: str) -> uuid.UUID | None:
    references.member(user_id, field=field)
    return user_id


# ---- schemas ------------------------------------------------------------------------------------------------

class PromiseIn(Schema):
    amount = fields.String(required=True, validate=validate.Length(min=1, max=40),
                           metadata={"description": "Decimal string in the account's currency."})
    due_on = fields.Date(required=True, metadata={"description": "The debtor's local date."})
    attempt_id = fields.UUID(load_default=None, allow_none=True,
                             metadata={"description": "The contact it was agreed on (one of yours on this account)."})
    taken_by_user_id = fields.UUID(load_default=None, allow_none=True,
                                   metadata={"description": "The member of this agency who took it."})
    note = fields.String(load_default=None, allow_none=True, validate=validate.Length(max=2000))


class PromiseOut(Schema):
    id = fields.UUID()
    account_id = fields.UUID()
    placement_id = fields.UUID()
    agency_id = fields.UUID(attribute="tenant_id")
    lender_id = fields.UUID(attribute="lender_tenant_id")
    amount = _decimal("amount_minor")
    amount_minor = fields.Integer()
    currency = fields.String()
    taken_on = fields.Date()
    due_on = fields.Date()
    grace_days = fields.Integer()
    last_day_to_pay = fields.Function(lambda p: last_day_to_pay(p.due_on, p.grace_days).isoformat(),
                                      metadata={"description": "Due date plus grace days (debtor's date)."})
    zone = fields.String(metadata={"description": "The debtor's zone the dates are judged in."})
    status = fields.String(metadata={"description": "open, kept, broken or cancelled"})
    paid_minor = fields.Integer(metadata={"description": "Confirmed payments counted, as last reviewed."})
    note = fields.String(allow_none=True)
    taken_by_user_id = fields.UUID(allow_none=True)
    attempt_id = fields.UUID(allow_none=True)
    created_at = fields.DateTime()
    resolved_at = fields.DateTime(allow_none=True)
    resolution = fields.String(allow_none=True)


class PromiseList(Schema):
    items = fields.List(fields.Nested(PromiseOut))


class ReasonIn(Schema):
    reason = fields.String(required=True, validate=validate.Length(min=1, max=2000))


class PaymentIn(Schema):
    amount = fields.String(required=True, validate=validate.Length(min=1, max=40),
                           metadata={"description": "Decimal string in the account's currency."})
    currency = fields.String(load_default=None, allow_none=True,
                             metadata={"description": "Optional; must be the account's currency."})
    received_on = fields.Date(required=True)
    method = fields.String(required=True, validate=validate.OneOf(PaymentMethod.ALL))
    reference = fields.String(load_default=None, allow_none=True, validate=validate.Length(max=100))


class PaymentOut(Schema):
    id = fields.UUID()
    account_id = fields.UUID()
    placement_id = fields.UUID(allow_none=True)
    lender_id = fields.UUID(attribute="tenant_id")
    agency_id = fields.UUID(attribute="agency_tenant_id", allow_none=True,
                            metadata={"description": "The agency credited with it (its placement's agency)."})
    recorded_by_tenant_id = fields.UUID()
    recorded_by_user_id = fields.UUID(allow_none=True)
    amount = _decimal("amount_minor")
    amount_minor = fields.Integer()
    currency = fields.String()
    received_on = fields.Date()
    method = fields.String()
    reference = fields.String(allow_none=True)
    status = fields.String(metadata={"description": "pending, confirmed or reversed"})
    allocation = fields.Dict(keys=fields.String(), values=fields.Integer(), allow_none=True, metadata={
        "description": "Minor units taken from each balance component when confirmed (fees, penalty, interest, "
                       "principal, in that order)."})
    closed_account = fields.Boolean(metadata={"description": "Confirming it paid the account in full."})
    recorded_at = fields.DateTime()
    confirmed_at = fields.DateTime(allow_none=True)
    reversed_at = fields.DateTime(allow_none=True)
    reversal_reason = fields.String(allow_none=True)


class PaymentListArgs(PageArgs):
    status = fields.String(load_default=None,
                           validate=validate.OneOf((PaymentStatus.PENDING, PaymentStatus.CONFIRMED,
                                                    PaymentStatus.REVERSED)))
    account_id = fields.UUID(load_default=None)


class PaymentPage(Schema):
    items = fields.List(fields.Nested(PaymentOut))
    next_cursor = fields.String(allow_none=True)


class ScheduleRow(Schema):
    due_on = fields.Date(required=True)
    amount = fields.String(required=True, validate=validate.Length(min=1, max=40))


class PlanIn(Schema):
    total = fields.String(load_default=None, allow_none=True, validate=validate.Length(min=1, max=40), metadata={
        "description": "Decimal string. With a count and frequency, split into equal instalments (the remainder "
                       "on the last); with an explicit schedule, the amounts must add up to it."})
    instalment_count = fields.Integer(load_default=None, allow_none=True, validate=validate.Range(min=1, max=260))
    frequency = fields.String(load_default=None, allow_none=True, validate=validate.OneOf(FREQUENCIES))
    first_due_on = fields.Date(load_default=None, allow_none=True,
                               metadata={"description": "The debtor's local date."})
    schedule = fields.List(fields.Nested(ScheduleRow), load_default=None, allow_none=True,
                           validate=validate.Length(min=1, max=260),
                           metadata={"description": "Explicit instalments instead of count and frequency."})
    attempt_id = fields.UUID(load_default=None, allow_none=True)
    created_by_user_id = fields.UUID(load_default=None, allow_none=True)
    note = fields.String(load_default=None, allow_none=True, validate=validate.Length(max=2000))

    @validates_schema
    def _one_way(self, data, **_):
        if data.get("schedule") and (data.get("instalment_count") or data.get("frequency")):
            raise ValidationError({"schedule": ["Give either a schedule or a count and frequency, not both."]})


class InstalmentOut(Schema):
    number = fields.Integer()
    due_on = fields.Date()
    amount = fields.Function(lambda i: str(Money(i.amount_minor, i.plan.currency).decimal()))
    amount_minor = fields.Integer()
    status = fields.String(metadata={"description": "due, kept or missed"})
    paid_minor = fields.Integer()
    settled_at = fields.DateTime(allow_none=True)


class PlanOut(Schema):
    id = fields.UUID()
    account_id = fields.UUID()
    placement_id = fields.UUID()
    agency_id = fields.UUID(attribute="tenant_id")
    lender_id = fields.UUID(attribute="lender_tenant_id")
    total = _decimal("total_minor")
    total_minor = fields.Integer()
    currency = fields.String()
    instalment_count = fields.Integer()
    frequency = fields.String(metadata={"description": "weekly, fortnightly, monthly or custom"})
    agreed_on = fields.Date()
    grace_days = fields.Integer()
    zone = fields.String()
    status = fields.String(metadata={"description": "proposed, active, completed, broken or cancelled"})
    note = fields.String(allow_none=True)
    created_by_user_id = fields.UUID(allow_none=True)
    attempt_id = fields.UUID(allow_none=True)
    created_at = fields.DateTime()
    signed_at = fields.DateTime(allow_none=True)
    acknowledgement = fields.String(allow_none=True)
    evidence_id = fields.UUID(allow_none=True)
    hold_id = fields.UUID(allow_none=True, metadata={"description": "The `plan` hold pausing collection."})
    ended_at = fields.DateTime(allow_none=True)
    end_reason = fields.String(allow_none=True)
    instalments = fields.List(fields.Nested(InstalmentOut))


class PlanList(Schema):
    items = fields.List(fields.Nested(PlanOut))


class SignIn(Schema):
    acknowledgement = fields.String(load_default=None, allow_none=True, validate=validate.Length(max=2000),
                                    metadata={"description": "Who agreed, when and how (\"verbal on recorded call "
                                                             "…\", \"e-signature\")."})
    evidence_id = fields.UUID(load_default=None, allow_none=True,
                              metadata={"description": "The signed agreement in the evidence store."})
    signed_by_user_id = fields.UUID(load_default=None, allow_none=True)

    @validates_schema
    def _something(self, data, **_):
        if not (data.get("acknowledgement") or "").strip() and not data.get("evidence_id"):
            raise ValidationError({"acknowledgement": ["Required without evidence_id."]})


# ---- promises -----------------------------------------------------------------------------------------------

@blp.route("/accounts/<uuid:account_id>/promises")
@lenders_and_agencies
@loads(_account, "account_id", "found")
@blp.response(200, PromiseList)
def list_promises(found: Account):
    """Promises on the account, newest first: an agency sees its own, the lender every agency's."""
    return {"items": promise_service.of_account(found.id)}


@blp.route("/accounts/<uuid:account_id>/promises", methods=["POST"])
@agencies_only
@require_capability(Capability.CASE_WORK)
@loads(_account, "account_id", "found")
@blp.arguments(PromiseIn)
@blp.response(201, PromiseOut)
def take_promise(data, found: Account):
    """Record a promise to pay (replacing this agency's open promise on the account, if any). Kept when
    confirmed payments since today reach the amount by the due date plus the agency's grace days (default 2);
    broken otherwise — judged daily."""
    key = idempotency_key()
    user = _member(data["taken_by_user_id"], "taken_by_user_id")
    return _commit_once(lambda: promise_service.take(found.id, amount=data["amount"], due_on=data["due_on"],
                                                     user_id=user, attempt_id=data["attempt_id"],
                                                     note=data["note"], idempotency_key=key),
                        promise_service.by_idempotency_key, key)


@blp.route("/promises/<uuid:promise_id>")
@lenders_and_agencies
@loads(_promise, "promise_id", "found")
@blp.response(200, PromiseOut)
def promise_detail(found: Promise):
    return found


@blp.route("/promises/<uuid:promise_id>/cancel", methods=["POST"])
@agencies_only
@require_capability(Capability.CASE_WORK)
@loads(_promise, "promise_id", "found")
@blp.arguments(ReasonIn)
@blp.response(200, PromiseOut)
def cancel_promise(data, found: Promise):
    """Withdraw an open promise (409 when it is no longer open)."""
    promise = promise_service.cancel(found.id, data["reason"])
    db.session.commit()
    return promise


# ---- payments -----------------------------------------------------------------------------------------------

@blp.route("/payments")
@lenders_and_agencies
@blp.arguments(PaymentListArgs, location="query")
@blp.response(200, PaymentPage)
def list_payments(args):
    """Payments this tenant sees, newest first (cursor pagination on recorded_at, id): a lender every payment on
    its accounts (`status=pending`: those awaiting its confirmation), an agency those paid under its placements —
    after a recall too."""
    query = select(Payment)
    status, account_id = args.pop("status"), args.pop("account_id")
    if status:
        query = query.where(Payment.status == status)
    if account_id:
        query = query.where(Payment.account_id == account_id)
    return paginate(query, Payment.recorded_at, Payment.id, newest_first=True, **args)


@blp.route("/accounts/<uuid:account_id>/payments")
@lenders_and_agencies
@loads(_account, "account_id", "found")
@blp.response(200, PaymentPage)
def account_payments(found: Account):
    """Payments on the account that this tenant sees, newest first."""
    return {"items": payment_service.of_account(found.id), "next_cursor": None}


@blp.route("/accounts/<uuid:account_id>/payments", methods=["POST"])
@lenders_and_agencies
@require_capability(Capability.PAYMENT_RECORD)
@loads(_account, "account_id", "found")
@blp.arguments(PaymentIn)
@blp.response(201, PaymentOut)
def record_payment(data, found: Account):
    """The agency holding the account records a payment the debtor made: pending until the lender confirms it.
    The lender reports one: confirmed at once (balances, recovered amount, closure when paid in full) and
    credited to the agency holding the account. An amount above the outstanding balance is refused (422)."""
    key = idempotency_key()
    return _commit_once(lambda: payment_service.record(found.id, amount=data["amount"], currency=data["currency"],
                                                       received_on=data["received_on"], method=data["method"],
                                                       reference=data["reference"], user_id=None,
                                                       idempotency_key=key),
                        payment_service.by_idempotency_key, key)


@blp.route("/payments/<uuid:payment_id>")
@lenders_and_agencies
@loads(_payment, "payment_id", "found")
@blp.response(200, PaymentOut)
def payment_detail(found: Payment):
    return found


@blp.route("/payments/<uuid:payment_id>/confirm", methods=["POST"])
@lenders_only
@require_capability(Capability.PAYMENT_CONFIRM)
@loads(_payment, "payment_id", "found")
@blp.response(200, PaymentOut)
def confirm_payment(found: Payment):
    """Confirm a payment the agency recorded: it pays fees, then penalty, interest and principal, adds to the
    placement's recovered amount, and closes the account and its placement when nothing is left outstanding.
    409 when it is not pending, the account is closed, or the amount now exceeds the balance."""
    payment = payment_service.confirm(found.id, None)
    db.session.commit()
    return payment


@blp.route("/payments/<uuid:payment_id>/reverse", methods=["POST"])
@lenders_only
@require_capability(Capability.PAYMENT_CONFIRM)
@loads(_payment, "payment_id", "found")
@blp.arguments(ReasonIn)
@blp.response(200, PaymentOut)
def reverse_payment(data, found: Payment):
    """Reverse a payment: a confirmed one has exactly its allocation put back (and reopens the account if it
    closed it; the closed placement stays closed), a pending one is rejected. 409 when already reversed."""
    payment = payment_service.reverse(found.id, data["reason"], None)
    db.session.commit()
    return payment


# ---- plans --------------------------------------------------------------------------------------------------

@blp.route("/accounts/<uuid:account_id>/plans")
@lenders_and_agencies
@loads(_account, "account_id", "found")
@blp.response(200, PlanList)
def list_plans(found: Account):
    """Payment plans on the account with their instalments, newest first."""
    return {"items": plan_service.of_account(found.id)}


@blp.route("/accounts/<uuid:account_id>/plans", methods=["POST"])
@agencies_only
@require_capability(Capability.CASE_WORK)
@loads(_account, "account_id", "found")
@blp.arguments(PlanIn)
@blp.response(201, PlanOut)
def propose_plan(data, found: Account):
    """Propose a plan: total, instalment_count, frequency and first_due_on, or an explicit schedule. At most the
    rulebook's maximum plan length (CN.PLAN.PAUSE: 5 years); 409 while another plan is proposed or active."""
    key = idempotency_key()
    user = _member(data["created_by_user_id"], "created_by_user_id")
    explicit = [(row["due_on"], row["amount"]) for row in data["schedule"]] if data["schedule"] else None
    return _commit_once(lambda: plan_service.propose(
        found.id, user_id=user, total=data["total"], count=data["instalment_count"], frequency=data["frequency"],
        first_due_on=data["first_due_on"], explicit=explicit, attempt_id=data["attempt_id"], note=data["note"],
        idempotency_key=key), plan_service.by_idempotency_key, key)


@blp.route("/plans/<uuid:plan_id>")
@lenders_and_agencies
@loads(_plan, "plan_id", "found")
@blp.response(200, PlanOut)
def plan_detail(found: PaymentPlan):
    return found


@blp.route("/plans/<uuid:plan_id>/sign", methods=["POST"])
@agencies_only
@require_capability(Capability.CASE_WORK)
@loads(_plan, "plan_id", "found")
@blp.arguments(SignIn)
@blp.response(200, PlanOut)
def sign_plan(data, found: PaymentPlan):
    """The debtor signed (an acknowledgement, or a signed agreement in the evidence store): the plan becomes
    active and a `plan` hold pauses collection while it is kept (instalment reminders still allowed)."""
    user = _member(data["signed_by_user_id"], "signed_by_user_id")
    plan = plan_service.sign(found.id, user_id=user, acknowledgement=data["acknowledgement"],
                             evidence_id=data["evidence_id"])
    db.session.commit()
    return plan


@blp.route("/plans/<uuid:plan_id>/cancel", methods=["POST"])
@agencies_only
@require_capability(Capability.CASE_WORK)
@loads(_plan, "plan_id", "found")
@blp.arguments(ReasonIn)
@blp.response(200, PlanOut)
def cancel_plan(data, found: PaymentPlan):
    """Withdraw a proposed plan, or end an active one (agency admins and supervisors): collection resumes."""
    plan = plan_service.cancel(found.id, data["reason"], role=g.get("role"))
    db.session.commit()
    return plan

