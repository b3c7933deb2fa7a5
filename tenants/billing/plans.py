"""Billing plans: who pays for a case, at what price, and whether a payer in arrears may take new cases.

Platform admins set each tenant's plan. A tenant without one is billed on the default terms below, written down
as its plan the first time it is needed (so its Stripe customer and standing have a home).
"""
import uuid

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from tenants import audit, clock, outbox
from tenants.billing.models import BillingPlan, Payer, UsageRecord
from tenants.context import platform_scope, tenant_scope
from tenants.db import db
from tenants.errors import Conflict, ValidationFailed
from tenants.money import Money
from tenants.tenancy.models import Tenant
from tenants.tenancy.roles import TenantKind

# The list price per accepted case, by currency (decimal strings in the currency's units).
DEFAULT_UNIT_PRICE = {"CNY": "5.00", "USD": "1.00", "GBP": "1.00", "EUR": "1.00", "INR": "50.00"}
FALLBACK_UNIT_PRICE = "1"
EDITABLE = ("payer", "unit_price", "free_cases", "billing_day", "stop_when_delinquent")


def default_plan(tenant: Tenant) -> BillingPlan:
    price = Money.parse(DEFAULT_UNIT_PRICE.get(tenant.currency, FALLBACK_UNIT_PRICE), tenant.currency)
    return BillingPlan(tenant_id=tenant.id, payer=Payer.AGENCY, unit_price_minor=price.minor,
                       currency=tenant.currency, free_cases=0, billing_day=1, stop_when_delinquent=True)


def plan_of(tenant: Tenant, *, lock: bool = False) -> BillingPlan:
    """The tenant's plan (created on the default terms if it has none), in the caller's context."""
    query = select(BillingPlan).where(BillingPlan.tenant_id == tenant.id)
    plan = db.session.scalar(query.with_for_update() if lock else query)
    if plan is not None:
        return plan
    try:
        with db.session.begin_nested():
            db.session.add(default_plan(tenant))
    except IntegrityError:  # another transaction wrote it first
        pass
    return db.session.scalar(query.with_for_update() if lock else query)


def update_plan(tenant: Tenant, changes: dict) -> BillingPlan:
    """A platform admin changes a tenant's terms (call in a platform context). The price applies to cases accepted
    from now on; cases already recorded keep the price they were recorded at."""
    problems = {}
    unknown = set(changes) - set(EDITABLE)
    for key in unknown:
        problems[key] = ["Not a plan field."]
    payer = changes.get("payer")
    if payer is not None and payer not in Payer.ALL:
        problems["payer"] = [f"One of: {', '.join(Payer.ALL)}."]
    elif payer == Payer.LENDER and tenant.kind != TenantKind.LENDER:
        problems["payer"] = ["Only a lender's plan can make the lender pay."]
    price = None
    if "unit_price" in changes:
        try:
            price = Money.parse(str(changes["unit_price"]), tenant.currency)
        except ValidationFailed as exc:
            problems["unit_price"] = [exc.message]
        else:
            if price.minor < 0:
                problems["unit_price"] = ["Must not be negative."]
    free = changes.get("free_cases")
    if free is not None and (not isinstance(free, int) or isinstance(free, bool) or free < 0):
        problems["free_cases"] = ["A whole number, 0 or more."]
    day = changes.get("billing_day")
    if day is not None and (not isinstance(day, int) or isinstance(day, bool) or not 1 <= day <= 28):
        problems["billing_day"] = ["A day of the month from 1 to 28."]
    stop = changes.get("stop_when_delinquent")
    if stop is not None and not isinstance(stop, bool):
        problems["stop_when_delinquent"] = ["true or false."]
    if problems:
        raise ValidationFailed(details={"fields": problems})
    if tenant.kind == TenantKind.PLATFORM:
        raise Conflict("The platform does not bill itself.", code="billing.platform_tenant")

    with tenant_scope(tenant.id):
        plan = plan_of(tenant, lock=True)
        before = plan_terms(plan)
        if day is not None and day != plan.billing_day and _has_usage(plan):
            # Periods already billed were cut on the old day: a new day would overlap them (and their free
            # allowance and once-per-period cases).
            raise Conflict("The billing day is fixed once a case has been billed.", code="billing.day_fixed",
                           details={"fields": {"billing_day": ["Fixed once a case has been billed."]}})
        if payer is not None:
            plan.payer = payer
        if price is not None:
            plan.unit_price_minor = price.minor
        if free is not None:
            plan.free_cases = free
        if day is not None:
            plan.billing_day = day
        if stop is not None:
            plan.stop_when_delinquent = stop
        plan.updated_at = clock.now()
        db.session.flush()
        audit.record("billing.plan_changed", object_type="billing_plan", object_id=plan.id, before=before,
                     after=plan_terms(plan))
        if plan.stripe_customer_id is None:
            outbox.schedule("workers.jobs.ensure_stripe_customer", queue="billing")
        return plan


def _has_usage(plan: BillingPlan) -> bool:
    return db.session.scalar(select(UsageRecord.id).where(UsageRecord.tenant_id == plan.tenant_id)
                             .limit(1)) is not None


def plan_terms(plan: BillingPlan) -> dict:
    return {"payer": plan.payer, "unit_price": str(Money(plan.unit_price_minor, plan.currency).decimal()),
            "currency": plan.currency, "free_cases": plan.free_cases, "billing_day": plan.billing_day,
            "stop_when_delinquent": plan.stop_when_delinquent}


def payer_for(lender_plan: BillingPlan, lender_id: uuid.UUID, agency_id: uuid.UUID) -> uuid.UUID:
    return lender_id if lender_plan.payer == Payer.LENDER else agency_id


def suspended_payers(lender: Tenant, agency_ids) -> dict[uuid.UUID, uuid.UUID]:
    """Agencies that may not receive new cases from this lender because whoever pays for them is in arrears and
    its plan stops placements: {agency_id: the payer in arrears}. Reads other tenants' standing, so in a platform
    context; callers tell a tenant only about its own arrears."""
    with platform_scope("billing: may these agencies receive new cases"):
        plans = {p.tenant_id: p for p in db.session.scalars(
            select(BillingPlan).where(BillingPlan.tenant_id.in_([lender.id, *agency_ids])))}
        lender_plan = plans.get(lender.id)
        if lender_plan is not None and lender_plan.payer == Payer.LENDER:
            return {agency_id: lender.id for agency_id in agency_ids} if lender_plan.suspends_placements else {}
        return {agency_id: agency_id for agency_id in agency_ids
                if plans.get(agency_id) is not None and plans[agency_id].suspends_placements}
