"""Placing accounts with agencies, their answer, what each side sees, recall and expiry."""
from datetime import date, timedelta

import pytest
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from tenants.context import platform_scope, tenant_scope
from tenants.errors import Conflict, PermissionDenied, ValidationFailed
from tenants.placements import services
from tenants.placements.models import Placement, PlacementStatus
from tenants.placements.services import Selection
from tenants.portfolios.models import Account, AccountPhone


@pytest.fixture
def lender_with_panel(factory, frozen_clock):
    lender = factory.tenant("lender")
    agency_a, agency_b = factory.tenant("agency"), factory.tenant("agency")
    factory.panel(lender, agency_a)
    factory.panel(lender, agency_b, commission_bps=2000)
    portfolio = factory.portfolio(lender)
    accounts = [factory.account(lender, portfolio, days_past_due=10 + 7 * i, principal_minor=100_000 + 997 * i)
                for i in range(40)]
    return lender, agency_a, agency_b, portfolio, accounts


def _place(lender, weights, **selection):
    with tenant_scope(lender.id):
        return services.place(lender=lender, selection=Selection(**selection), weights=weights, terms={},
                              created_by=None, seed=7)


def _visible_accounts(db_session, tenant):
    with tenant_scope(tenant.id):
        return {a.external_ref for a in db_session.scalars(select(Account))}


def test_a_70_30_split_is_exact_reproducible_and_explained(db_session, lender_with_panel):
    lender, agency_a, agency_b, _, accounts = lender_with_panel
    batch = _place(lender, {agency_a.id: 70, agency_b.id: 30})
    with tenant_scope(lender.id):
        placements = services.batch_placements(batch)
    counts = {agency_a.id: 0, agency_b.id: 0}
    for p in placements:
        counts[p.agency_tenant_id] += 1
    assert counts == {agency_a.id: 28, agency_b.id: 12}
    assert batch.seed == 7 and "28/12" in batch.allocation["summary"]
    assert {p.commission_bps for p in placements if p.agency_tenant_id == agency_b.id} == {2000}


def test_agencies_see_nothing_until_they_accept_and_then_exactly_their_accounts(db_session, lender_with_panel):
    lender, agency_a, agency_b, _, accounts = lender_with_panel
    batch = _place(lender, {agency_a.id: 1, agency_b.id: 1})
    assert _visible_accounts(db_session, agency_a) == set()
    with tenant_scope(agency_a.id):
        offers = services.offers_for_agency()
        assert [(o.accounts, o.status) for o in offers] == [(20, "offered")]
        services.respond(batch.id, accept=True)
        with pytest.raises(Conflict):
            services.respond(batch.id, accept=True)
    with tenant_scope(agency_b.id):
        services.respond(batch.id, accept=False)
    seen_by_a = _visible_accounts(db_session, agency_a)
    assert len(seen_by_a) == 20
    assert _visible_accounts(db_session, agency_b) == set()
    with tenant_scope(agency_a.id):
        phones = db_session.scalars(select(AccountPhone)).all()
    assert len(phones) == 20, "an agency sees the phones of its own active accounts only"


def test_accounts_already_placed_or_on_hold_are_not_placed_again(db_session, factory, lender_with_panel):
    lender, agency_a, agency_b, portfolio, accounts = lender_with_panel
    factory.account(lender, portfolio, disputed=True)
    _place(lender, {agency_a.id: 1})
    with pytest.raises(ValidationFailed) as exc:
        _place(lender, {agency_b.id: 1})
    assert exc.value.code == "placement.nothing_selected"


def test_the_database_refuses_a_second_open_placement_for_an_account(db_session, lender_with_panel):
    lender, agency_a, agency_b, _, accounts = lender_with_panel
    batch = _place(lender, {agency_a.id: 1}, external_refs=(accounts[0].external_ref,))
    with tenant_scope(lender.id):
        first = services.batch_placements(batch)[0]
        duplicate = Placement(tenant_id=lender.id, agency_tenant_id=agency_b.id, account_id=accounts[0].id,
                              batch_id=batch.id, status=PlacementStatus.OFFERED, commission_bps=1000,
                              starts_on=first.starts_on, ends_on=first.ends_on, allowed_channels=["call"],
                              currency="CNY", balance_at_placement_minor=1, dpd_at_placement=1)
        savepoint = db_session.begin_nested()
        db_session.add(duplicate)
        with pytest.raises(IntegrityError):
            db_session.flush()
        savepoint.rollback()


def test_placements_go_only_to_agencies_on_the_panel(db_session, factory, lender_with_panel):
    lender, *_ = lender_with_panel
    stranger = factory.tenant("agency")
    with pytest.raises(ValidationFailed) as exc:
        _place(lender, {stranger.id: 1})
    assert exc.value.code == "placement.agency_not_approved"


def test_selection_filters_by_dpd_and_balance(db_session, lender_with_panel):
    lender, agency_a, *_ = lender_with_panel
    batch = _place(lender, {agency_a.id: 1}, dpd_min=30, dpd_max=100, balance_min="1,500")
    with tenant_scope(lender.id):
        placed = services.batch_placements(batch)
    assert placed and all(30 <= p.dpd_at_placement <= 100 and p.balance_at_placement_minor >= 150_000
                          for p in placed)


def test_recall_takes_the_accounts_back_and_keeps_the_agencys_history(db_session, lender_with_panel):
    lender, agency_a, _, _, accounts = lender_with_panel
    batch = _place(lender, {agency_a.id: 1}, external_refs=tuple(a.external_ref for a in accounts[:3]))
    with tenant_scope(agency_a.id):
        services.respond(batch.id, accept=True)
    with tenant_scope(lender.id):
        ids = [p.id for p in services.batch_placements(batch)]
        with pytest.raises(ValidationFailed):
            services.recall(ids, reason=" ", force=False, role="lender_manager")
        services.recall(ids[:2], reason="performance review", force=False, role="lender_manager")
    assert len(_visible_accounts(db_session, agency_a)) == 1
    with tenant_scope(agency_a.id):
        statuses = sorted(p.status for p in db_session.scalars(select(Placement)))
    assert statuses == ["active", "recalled", "recalled"], "the agency keeps its own placement history"


def test_recall_of_a_disputed_account_needs_a_lender_admin_to_force_it(db_session, lender_with_panel):
    lender, agency_a, _, _, accounts = lender_with_panel
    batch = _place(lender, {agency_a.id: 1}, external_refs=(accounts[0].external_ref,))
    with tenant_scope(lender.id):
        placement = services.batch_placements(batch)[0]
        db_session.get(Account, placement.account_id).disputed = True
        with pytest.raises(Conflict) as exc:
            services.recall([placement.id], reason="switch agency", force=False, role="lender_manager")
        assert exc.value.code == "recall.blocked"
        with pytest.raises(PermissionDenied):
            services.recall([placement.id], reason="switch agency", force=True, role="lender_manager")
        services.recall([placement.id], reason="switch agency", force=True, role="lender_admin")
        assert placement.status == "recalled" and placement.recall_forced


def test_placements_expire_at_the_end_of_their_period(db_session, lender_with_panel, frozen_clock):
    lender, agency_a, _, _, accounts = lender_with_panel
    batch = _place(lender, {agency_a.id: 1}, external_refs=(accounts[0].external_ref,))
    with tenant_scope(agency_a.id):
        services.respond(batch.id, accept=True)
    frozen_clock.advance(timedelta(days=91))
    with platform_scope("test: daily expiry"):
        assert services.expire_due() >= 1  # other tests' committed placements may expire too
    assert _visible_accounts(db_session, agency_a) == set()


def test_the_yearly_review_is_due_a_year_after_the_contract_starts(db_session, factory):
    lender, agency = factory.tenant("lender"), factory.tenant("agency")
    relationship = factory.panel(lender, agency)
    assert relationship.next_review_on == date(2027, 1, 1)
    assert not relationship.review_due(date(2026, 12, 31)) and relationship.review_due(date(2027, 1, 1))


def test_an_agency_that_auto_accepts_gets_active_placements_at_once(db_session, lender_with_panel):
    from tenants.tenancy.settings import update_settings

    lender, agency_a, _, _, accounts = lender_with_panel
    with tenant_scope(agency_a.id):
        update_settings(agency_a, {"auto_accept_placements": True})
        with pytest.raises(ValidationFailed):
            update_settings(agency_a, {"country": "CN"})
    batch = _place(lender, {agency_a.id: 1}, external_refs=(accounts[0].external_ref,))
    with tenant_scope(lender.id):
        assert [p.status for p in services.batch_placements(batch)] == ["active"]
    assert _visible_accounts(db_session, agency_a) == {accounts[0].external_ref}
