"""The demo's portfolios: imported through the real path (with an error file), placed 70/30, one offer accepted
and one pending, and a second seed changes nothing."""
from sqlalchemy import func, select

from tenants import demo_data
from tenants.audit import AuditEvent
from tenants.billing.models import UsageRecord
from tenants.conduct.models import ContactAttempt
from tenants.context import platform_scope, tenant_scope
from tenants.outbox import OutboxTask
from tenants.placements import services
from tenants.placements.models import AgencyRelationship, Placement, PlacementBatch, PlacementStatus
from tenants.portfolios import imports
from tenants.portfolios.models import Account, ImportJob, ImportRowError, Portfolio
from tenants.tenancy.models import Tenant

COUNTED = (Tenant, Portfolio, Account, ImportJob, ImportRowError, AgencyRelationship, PlacementBatch, Placement,
           AuditEvent, OutboxTask, ContactAttempt)


def _tenants(db_session) -> dict[str, Tenant]:
    with platform_scope("test: the demo's tenants by address"):
        return {t.slug: t for t in db_session.scalars(select(Tenant))}


def _counts(db_session) -> dict[str, int]:
    with platform_scope("test: count demo rows"):
        return {model.__name__: db_session.scalar(select(func.count()).select_from(model)) for model in COUNTED}


def _visible_refs(db_session, tenant) -> set[str]:
    with tenant_scope(tenant.id):
        return set(db_session.scalars(select(Account.external_ref)))


def test_the_demo_portfolio_is_imported_placed_and_answered(db_session):
    demo_data.seed()
    tenants = _tenants(db_session)
    lender, huaxia, eastwind = tenants["jinxin-lending"], tenants["huaxia-collect"], tenants["eastwind-recovery"]

    with tenant_scope(lender.id):
        portfolio = db_session.scalar(select(Portfolio).where(Portfolio.name == "2026-11 逾期资产包"))
        accounts = db_session.scalars(select(Account).where(Account.portfolio_id == portfolio.id)).all()
        assert len(accounts) == 300
        job = db_session.scalar(select(ImportJob).where(ImportJob.portfolio_id == portfolio.id))
        assert (job.status, job.encoding, job.rows_total, job.rows_created, job.rows_failed) == (
            "completed", "gb18030", 303, 300, 3)
        codes = {e["code"] for row in imports.row_errors(job) for e in row.errors}
        assert codes == {"cn_id.checksum", "money.too_precise", "date.invalid"}
        assert sum(1 for a in accounts if a.third_parties) > 50 and all(a.phones and a.subject_key for a in accounts)
        everything = db_session.scalars(select(Placement).where(  # this file's; the history's are tested below
            Placement.tenant_id == lender.id, Placement.account_id.in_([a.id for a in accounts]))).all()
        trial = [p for p in everything if p.status == PlacementStatus.RECALLED]
        assert len(trial) == 30 and {p.agency_tenant_id for p in trial} == {huaxia.id, eastwind.id}
        placements = [p for p in everything if p.status != PlacementStatus.RECALLED]
        by_agency = {(p.agency_tenant_id, p.status) for p in placements}
        assert by_agency == {(huaxia.id, PlacementStatus.ACTIVE), (eastwind.id, PlacementStatus.OFFERED)}
        held_by_huaxia = {p.account_id for p in placements if p.agency_tenant_id == huaxia.id}
        assert (len(held_by_huaxia), len(placements)) == (140, 200)
        assert {p.commission_bps for p in placements if p.agency_tenant_id == eastwind.id} == {1800}
        refs_held_by_huaxia = {a.external_ref for a in accounts if a.id in held_by_huaxia}

    history = {"JXH"}  # the champion/challenger history's accounts (champion_challenger_history)
    assert _visible_refs(db_session, huaxia) - _prefixed(db_session, huaxia, history) == refs_held_by_huaxia
    yinhe_refs = {f"YH202611{i:06d}" for i in range(1, 13)}
    assert _visible_refs(db_session, eastwind) - _prefixed(db_session, eastwind, history) == yinhe_refs, \
        "Jinxin's offer is pending; Yinhe's accepted"
    with tenant_scope(eastwind.id):
        assert sorted((o.accounts, o.status) for o in services.offers_for_agency()
                      if o.status != PlacementStatus.RECALLED) == [(12, PlacementStatus.ACTIVE),
                                                                   (48, PlacementStatus.ACTIVE),
                                                                   (60, PlacementStatus.OFFERED)]

    for agency, price in ((huaxia, 500), (eastwind, 400)):  # billed: the history, last month's trial, this month's
        with tenant_scope(agency.id):
            usage = db_session.scalars(select(UsageRecord).where(UsageRecord.tenant_id == agency.id)).all()
            assert len({r.period_start for r in usage}) == 3 and {r.unit_price_minor for r in usage} == {price}

    harbor, atlas = tenants["harbor-credit"], tenants["atlas-recovery"]
    with tenant_scope(harbor.id):
        us_accounts = db_session.scalars(select(Account)).all()
        assert len(us_accounts) == 20 and all(a.phones[0].phone.startswith("+1") for a in us_accounts)
    assert _visible_refs(db_session, atlas) == {a.external_ref for a in us_accounts}


def _prefixed(db_session, tenant, prefixes) -> set[str]:
    return {ref for ref in _visible_refs(db_session, tenant) if ref.startswith(tuple(prefixes))}


def test_the_champion_challenger_history_shows_a_result_with_its_interval(db_session):
    from tenants import clock
    from tenants.analytics import comparison, liquidation
    from tenants.analytics.common import Viewer

    demo_data.seed()
    tenants = _tenants(db_session)
    lender, huaxia, eastwind = tenants["jinxin-lending"], tenants["huaxia-collect"], tenants["eastwind-recovery"]
    today = clock.now().date()
    with tenant_scope(lender.id):
        viewer = Viewer.of(lender)
        history = comparison.allocations(viewer)[-1]  # the oldest split
        found = comparison.compare(viewer, history.id, today=today)
        assert [(a.agency_id, a.champion) for a in found.arms] == [(huaxia.id, True), (eastwind.id, False)]
        assert sum(a.accounts for a in found.arms) + found.left_out == demo_data.HISTORY_ACCOUNTS
        assert found.months_on_book == demo_data.HISTORY_MONTHS
        recovery = found.contrast("recovery", eastwind.id)
        assert recovery.difference.low < recovery.difference.estimate < recovery.difference.high
        assert all(a.recovery.estimate > 0 for a in found.arms)
        arms = liquidation.curves(viewer, today=today, group="arm", batch_id=history.id)
        assert [len(c.points) for c in arms.curves] == [demo_data.HISTORY_MONTHS + 1] * 2


def test_seeding_twice_creates_nothing_new(db_session):
    before = _counts(db_session)  # the shared test database may hold rows other tests committed
    first = demo_data.seed()
    counts = _counts(db_session)
    # 232 placements now, last month's trial batch of 30 (returned, billed in its own period), and the
    # champion/challenger history's 160
    assert (counts["Account"] - before["Account"], counts["Placement"] - before["Placement"]) == (492, 422)
    # the calls of two agencies on shared people, and the SMS carrying a portal link to one of Huaxia's debtors
    assert counts["ContactAttempt"] - before["ContactAttempt"] == 11
    assert demo_data.seed() == first
    assert _counts(db_session) == counts


def test_the_demo_shows_two_agencies_calling_the_same_people_under_one_count(db_session):
    demo_data.seed()
    tenants = _tenants(db_session)
    decided = {}
    for slug in ("huaxia-collect", "eastwind-recovery"):
        with tenant_scope(tenants[slug].id):
            decided[slug] = db_session.scalars(select(ContactAttempt).where(
                ContactAttempt.tenant_id == tenants[slug].id).order_by(ContactAttempt.decided_at)).all()
    refusals = {(slug, h["rule_id"]) for slug, attempts in decided.items() for a in attempts
                if a.decision == "block" for h in a.hits if h["action"] in ("BLOCK", "PAUSE")}
    assert ("eastwind-recovery", "CN.CALLS.CONNECTED") in refusals, "Huaxia's calls count against Eastwind's"
    assert ("huaxia-collect", "CN.HOURS") in refusals
    assert ("eastwind-recovery", "CN.DISPUTE") in refusals or any(
        slug == "eastwind-recovery" and rule.startswith("HOLD.") for slug, rule in refusals)
    allowed = [a for attempts in decided.values() for a in attempts if a.decision == "allow"]
    # and the SMS with a portal link to one of Huaxia's debtors (tenants.portal.demo), delivered later by the worker
    pending = [a for a in allowed if not a.outcome_code]
    assert len(allowed) == 8 and [a.channel for a in pending] == ["sms"]
    with tenant_scope(tenants["yinhe-finance"].id):
        seen_by_lender = db_session.scalars(select(ContactAttempt)).all()
    assert {a.tenant_id for a in seen_by_lender} == {tenants["eastwind-recovery"].id}, \
        "Yinhe reads the attempts on its own accounts, not Huaxia's on the same people"


def test_demo_collectors_have_approved_templates_to_send(db_session):
    from tenants.messaging.templates import approved_for

    demo_data.seed()
    tenants = _tenants(db_session)
    with tenant_scope(tenants["huaxia-collect"].id):
        names = {t.name for t in approved_for(tenants["jinxin-lending"].id, ["sms"])}
    assert names == {"还款提醒", "Repayment reminder", "在线自助处理"}  # the last carries a portal link


def test_the_demo_collector_has_promises_a_plan_payments_and_a_dispute(db_session):
    from tenants.casework.disputes import Dispute
    from tenants.casework.money_models import Payment, PaymentPlan, Promise

    demo_data.seed()
    huaxia = _tenants(db_session)["huaxia-collect"]
    with tenant_scope(huaxia.id):
        promises = db_session.scalars(select(Promise)).all()
        assert sorted(p.status for p in promises) == ["broken", "open"], "last week's promise broke"
        desk = select(Payment).where(Payment.reference.is_not(None))  # the history's payments carry no reference
        assert sorted(p.status for p in db_session.scalars(desk)) == ["confirmed", "pending"]
        assert [p.status for p in db_session.scalars(select(PaymentPlan))] == ["active"]
        assert [d.status for d in db_session.scalars(select(Dispute))] == ["open"]
