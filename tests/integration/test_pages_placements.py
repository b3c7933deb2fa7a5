"""The placement pages: the agency panel, placing 70/30 through the form, the allocation explained, the agency
accepting on its offers page and working its cases (masked by role), recall, and the lender's league table."""
import re
import uuid
from datetime import timedelta

import pytest
from sqlalchemy import select

from tenants.context import tenant_scope
from tenants.placements.models import AgencyRelationship, Placement
from tenants.portfolios.models import Account
from tests.factories import login


@pytest.fixture
def setup(factory, frozen_clock):
    lender = factory.tenant("lender", name="Eastern Lending")
    factory.user(lender, "lender_admin", email="admin@lender.test")
    factory.user(lender, "lender_manager", email="manager@lender.test")
    champion = factory.tenant("agency", name="Champion Collect")
    challenger = factory.tenant("agency", name="Challenger Recovery")
    factory.user(champion, "agency_admin", email="boss@champion.test")
    factory.user(champion, "agency_supervisor", email="supervisor@champion.test")
    factory.user(champion, "agency_collector", email="collector@champion.test")
    factory.panel(lender, champion)
    factory.panel(lender, challenger, commission_bps=2000)
    portfolio = factory.portfolio(lender)
    accounts = [factory.account(lender, portfolio, days_past_due=10 + 7 * i, principal_minor=100_000 + 997 * i)
                for i in range(40)]
    return lender, champion, challenger, accounts


def _place(client, lender, champion, challenger, **extra):
    data = {"agency_1": str(champion.id), "weight_1": "70", "agency_2": str(challenger.id), "weight_2": "30",
            "seed": "7", **extra}
    return client.post(f"/t/{lender.slug}/placements", data=data)


def _batch_id(response) -> str:
    return re.search(r"/placements/batches/([0-9a-f-]{36})$", response.headers["Location"]).group(1)


def test_the_panel_adds_an_agency_and_records_its_review(client, factory, setup, db_session):
    lender, *_ = setup
    newcomer = factory.tenant("agency", name="Newcomer Collect")
    login(client, "manager@lender.test")
    refused = client.post(f"/t/{lender.slug}/agencies", data={
        "agency_slug": newcomer.slug, "contract_start": "2025-11-01", "commission_percent": "12.5",
        "period_days": "120", "channels": ["call"]})
    assert refused.status_code == 403, "only a lender admin adds agencies, as in the API"
    login(client, "admin@lender.test")
    bad = client.post(f"/t/{lender.slug}/agencies", data={
        "agency_slug": "no-such-agency", "contract_start": "2025-11-01", "commission_percent": "150",
        "period_days": "90", "channels": ["call"]})
    assert bad.status_code == 422 and "is-invalid" in bad.get_data(as_text=True)
    added = client.post(f"/t/{lender.slug}/agencies", data={
        "agency_slug": newcomer.slug, "contract_start": "2025-11-01", "commission_percent": "12.5",
        "period_days": "120", "channels": ["call", "letter"]})
    assert added.status_code == 302
    page = client.get(f"/t/{lender.slug}/agencies").get_data(as_text=True)
    assert "Newcomer Collect" in page and "12.5% commission, 120 days" in page and "Letter" in page
    assert page.count('class="badge bg-warning text-dark review-due"') == 1, "a year since 2025-11-01 has passed"
    with tenant_scope(lender.id):
        relationship = db_session.scalar(select(AgencyRelationship).where(
            AgencyRelationship.agency_tenant_id == newcomer.id))
        assert relationship.default_commission_bps == 1250
    login(client, "manager@lender.test")
    assert client.post(f"/t/{lender.slug}/agencies/{relationship.id}/review").status_code == 302
    assert "review-due" not in client.get(f"/t/{lender.slug}/agencies").get_data(as_text=True)


def test_placing_70_30_through_the_form_explains_the_split(client, setup, db_session):
    lender, champion, challenger, _ = setup
    login(client, "manager@lender.test")
    form = client.get(f"/t/{lender.slug}/placements").get_data(as_text=True)
    assert 'id="place-form"' in form and "Champion Collect" in form

    response = _place(client, lender, champion, challenger)
    assert response.status_code == 302
    page = client.get(response.headers["Location"]).get_data(as_text=True)
    summary = re.search(r'id="allocation-summary">([^<]+)<', page).group(1)
    assert "40 accounts split 28/12 across Champion Collect, Challenger Recovery (weights 70/30)" in summary
    assert "seed 7" in summary
    assert "70.0%" in page and "30.0%" in page
    assert page.count('name="placement"') == 40, "every offered placement can be recalled"
    with tenant_scope(lender.id):
        placed = db_session.scalars(select(Placement)).all()
    assert sorted(p.agency_tenant_id == champion.id for p in placed).count(True) == 28
    overview = client.get(f"/t/{lender.slug}/placements").get_data(as_text=True)
    assert "Champion Collect" in overview.split('id="placements-by-agency"')[1]


def test_the_place_form_explains_what_is_wrong(client, setup, db_session):
    lender, champion, challenger, _ = setup
    login(client, "manager@lender.test")
    nothing = client.post(f"/t/{lender.slug}/placements", data={"dpd_min": "10"})
    assert nothing.status_code == 422 and "Choose at least one agency." in nothing.get_data(as_text=True)
    twice = _place(client, lender, champion, challenger, agency_2=str(champion.id))
    assert twice.status_code == 422 and "Choose each agency once." in twice.get_data(as_text=True)
    none_match = _place(client, lender, champion, challenger, dpd_min="9999")
    assert none_match.status_code == 422
    assert "No open, unplaced account matches this selection." in none_match.get_data(as_text=True)
    bad_terms = _place(client, lender, champion, challenger, commission_percent="101")
    assert bad_terms.status_code == 422
    with tenant_scope(lender.id):
        assert db_session.scalars(select(Placement)).all() == []


def test_the_agency_accepts_on_its_offers_page_and_works_the_cases_masked_by_role(client, setup, db_session):
    lender, champion, challenger, accounts = setup
    login(client, "manager@lender.test")
    _place(client, lender, champion, challenger)
    client.post("/logout")

    login(client, "collector@champion.test")
    offers = client.get(f"/t/{champion.slug}/offers").get_data(as_text=True)
    assert "Eastern Lending" in offers and "/accept" not in offers, "a collector cannot answer offers"
    assert "0 active cases" in client.get(f"/t/{champion.slug}/").get_data(as_text=True)
    client.post("/logout")

    login(client, "boss@champion.test")
    dashboard = client.get(f"/t/{champion.slug}/").get_data(as_text=True)
    assert "1 offer waiting for your answer" in dashboard and "(28 accounts)" in dashboard
    offers = client.get(f"/t/{champion.slug}/offers").get_data(as_text=True)
    batch_id = re.search(r"/placement-batches/([0-9a-f-]{36})/accept", offers).group(1)
    assert client.get(f"/t/{champion.slug}/cases").get_data(as_text=True).count("/cases/") == 0
    assert client.post(f"/t/{champion.slug}/placement-batches/{batch_id}/accept").status_code == 302
    again = client.post(f"/t/{champion.slug}/placement-batches/{batch_id}/accept", follow_redirects=True)
    assert "already answered" in again.get_data(as_text=True)
    cases = client.get(f"/t/{champion.slug}/cases").get_data(as_text=True)
    assert cases.count(f'href="/t/{champion.slug}/cases/') == 28
    client.post("/logout")

    with tenant_scope(champion.id):
        held = db_session.scalars(select(Account)).all()
    account = next(a for a in accounts if a.id in {h.id for h in held})
    phone = account.phones[0].phone
    login(client, "collector@champion.test")
    case = client.get(f"/t/{champion.slug}/cases/{account.id}").get_data(as_text=True)
    assert phone not in case and phone[:6] + "****" + phone[-4:] in case, "a collector sees the phone masked"
    assert "Placement terms" in case and "15%" in case and 'id="payment-form"' not in case
    assert phone not in client.get(f"/t/{champion.slug}/cases").get_data(as_text=True)
    other = next(a for a in accounts if a.id not in {h.id for h in held})
    assert client.get(f"/t/{champion.slug}/cases/{other.id}").status_code == 404
    client.post("/logout")

    login(client, "supervisor@champion.test")
    assert phone in client.get(f"/t/{champion.slug}/cases/{account.id}").get_data(as_text=True)
    client.post("/logout")

    login(client, "manager@lender.test")
    dashboard = client.get(f"/t/{lender.slug}/").get_data(as_text=True)
    league = dashboard.split('id="league-table"')[1]
    assert "Liquidation rate = recovered ÷ balance placed" in dashboard
    assert "Champion Collect" in league and "Challenger Recovery" not in league, "only accepted placements count"
    assert "0.0%" in league


def test_recall_through_the_batch_page(client, setup, db_session):
    lender, champion, challenger, _ = setup
    login(client, "manager@lender.test")
    batch_id = _batch_id(_place(client, lender, champion, challenger))
    page = client.get(f"/t/{lender.slug}/placements/batches/{batch_id}").get_data(as_text=True)
    ids = re.findall(r'name="placement" value="([0-9a-f-]{36})"', page)
    assert 'name="force"' not in page, "only a lender admin may force"

    no_reason = client.post(f"/t/{lender.slug}/placements/recall",
                            data={"batch_id": batch_id, "placement": ids[:2], "reason": " "})
    assert no_reason.status_code == 422 and "Required." in no_reason.get_data(as_text=True)
    nothing = client.post(f"/t/{lender.slug}/placements/recall", data={"batch_id": batch_id, "reason": "x"})
    assert nothing.status_code == 422 and "Tick the placements to recall." in nothing.get_data(as_text=True)

    recalled = client.post(f"/t/{lender.slug}/placements/recall",
                           data={"batch_id": batch_id, "placement": ids[:2], "reason": "switching agency"})
    assert recalled.status_code == 302 and recalled.headers["Location"].endswith(batch_id)
    page = client.get(recalled.headers["Location"]).get_data(as_text=True)
    assert "2 placements recalled." in page and page.count('name="placement"') == 38
    with tenant_scope(lender.id):
        statuses = {str(p.id): p.status for p in db_session.scalars(select(Placement))}
    assert [statuses[i] for i in ids[:2]] == ["recalled", "recalled"]

    with tenant_scope(lender.id):
        disputed = db_session.get(Placement, uuid.UUID(ids[2]))
        db_session.get(Account, disputed.account_id).disputed = True
        db_session.commit()
    blocked = client.post(f"/t/{lender.slug}/placements/recall",
                          data={"batch_id": batch_id, "placement": [ids[2]], "reason": "switch"})
    assert blocked.status_code == 409 and "cannot be recalled now" in blocked.get_data(as_text=True)
    forced_by_manager = client.post(f"/t/{lender.slug}/placements/recall",
                                    data={"batch_id": batch_id, "placement": [ids[2]], "reason": "switch",
                                          "force": "y"})
    assert forced_by_manager.status_code == 403
    client.post("/logout")
    login(client, "admin@lender.test")
    assert 'name="force"' in client.get(f"/t/{lender.slug}/placements/batches/{batch_id}").get_data(as_text=True)
    forced = client.post(f"/t/{lender.slug}/placements/recall",
                         data={"batch_id": batch_id, "placement": [ids[2]], "reason": "switch", "force": "y"})
    assert forced.status_code == 302


def test_declining_an_offer_returns_the_accounts(client, setup, db_session, frozen_clock):
    lender, champion, challenger, _ = setup
    login(client, "manager@lender.test")
    _place(client, lender, champion, challenger)
    client.post("/logout")
    login(client, "boss@champion.test")
    offers = client.get(f"/t/{champion.slug}/offers").get_data(as_text=True)
    batch_id = re.search(r"/placement-batches/([0-9a-f-]{36})/decline", offers).group(1)
    frozen_clock.advance(timedelta(hours=1))
    declined = client.post(f"/t/{champion.slug}/placement-batches/{batch_id}/decline", follow_redirects=True)
    page = declined.get_data(as_text=True)
    assert "28 accounts declined." in page and "/accept" not in page
    assert "No active cases" in client.get(f"/t/{champion.slug}/cases").get_data(as_text=True)
