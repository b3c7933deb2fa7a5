"""The usage ledger: one record per accepted case, written in the transaction that accepts it.

Rules (documented for lenders and agencies on the billing page):
- A case is an account accepted by an agency; it is billed to the payer (the agency, or the lender when the
  lender's plan says so) in the payer's billing period that contains the acceptance (payer's time zone).
- Recalling a case does not refund it: the agency accepted the work.
- An account placed again with the same agency within the same period is not billed again; placed with another
  agency, or in a later period, it is a new case.
- The first `free_cases` cases of each period cost nothing (they are listed, at 0).
"""
from collections import defaultdict

from sqlalchemy import func, select

from tenants import clock
from tenants.billing.models import UsageRecord
from tenants.billing.periods import local_day, period_containing
from tenants.billing.plans import payer_for, plan_of
from tenants.context import platform_scope
from tenants.db import db
from tenants.placements.models import Placement
from tenants.portfolios.models import Account
from tenants.tenancy.models import Tenant


def record_acceptances(placements: list[Placement]) -> int:
    """Bill the accepted placements; returns how many new cases were recorded. Runs inside the caller's
    transaction, in a platform context: the payer is often not the tenant accepting (a lender auto-placing with
    an agency that pays)."""
    if not placements:
        return 0
    by_lender_agency = defaultdict(list)
    for placement in placements:
        by_lender_agency[(placement.tenant_id, placement.agency_tenant_id)].append(placement)
    with platform_scope("billing: usage of accepted placements"):
        tenants = {t.id: t for t in db.session.scalars(
            select(Tenant).where(Tenant.id.in_({tid for pair in by_lender_agency for tid in pair})))}
        by_payer = defaultdict(list)
        for (lender_id, agency_id), accepted in by_lender_agency.items():
            payer_id = payer_for(plan_of(tenants[lender_id]), lender_id, agency_id)
            by_payer[payer_id].extend(accepted)
        refs = dict(db.session.execute(select(Account.id, Account.external_ref).where(
            Account.id.in_([p.account_id for p in placements]))).all())
        return sum(_record_for_payer(tenants[payer_id], accepted, refs)
                   for payer_id, accepted in sorted(by_payer.items()))


def _record_for_payer(payer: Tenant, placements: list[Placement], refs: dict) -> int:
    plan = plan_of(payer, lock=True)  # numbers and free allowance are handed out in order
    # Dated under the lock the billing jobs take: once a period's invoice exists, no case can still join it.
    accepted_at = clock.now()
    period = period_containing(local_day(accepted_at, payer.time_zone), plan.billing_day)
    already = set(db.session.execute(select(UsageRecord.agency_tenant_id, UsageRecord.account_id).where(
        UsageRecord.tenant_id == payer.id, UsageRecord.period_start == period.start,
        UsageRecord.account_id.in_([p.account_id for p in placements]))).all())
    in_period = db.session.scalar(select(func.count(UsageRecord.id)).where(
        UsageRecord.tenant_id == payer.id, UsageRecord.period_start == period.start))
    recorded = 0
    for placement in placements:
        key = (placement.agency_tenant_id, placement.account_id)
        if key in already:
            continue
        already.add(key)
        free = in_period + recorded < plan.free_cases
        db.session.add(UsageRecord(
            tenant_id=payer.id, seq=plan.next_usage_seq + recorded, placement_id=placement.id,
            account_id=placement.account_id, account_ref=refs[placement.account_id],
            lender_tenant_id=placement.tenant_id, agency_tenant_id=placement.agency_tenant_id,
            period_start=period.start, period_end=period.end, accepted_at=accepted_at, currency=plan.currency,
            unit_price_minor=plan.unit_price_minor, free=free, amount_minor=0 if free else plan.unit_price_minor))
        recorded += 1
    plan.next_usage_seq += recorded
    db.session.flush()
    return recorded
