"""Staff revoke a debtor's portal links from the page they work the account on: the agency from the case page, the
lender from its account page. The debtor's open session ends at once; the panel then shows the link revoked and no
button. An analyst (who records nothing) sees the links but no button, and another lender's account is a 404."""
import re

import pytest

from tests.conftest import FreshContextClient
from tests.factories import login
from tests.integration.test_portal import open_session
from tests.integration.test_portal_isolation import issue

pytestmark = pytest.mark.usefixtures("frozen_clock")


@pytest.fixture
def opened(app, client, factory):
    lender, agency, account = factory.placed_account(time_zones=["Asia/Shanghai"])
    debtor = FreshContextClient(app, app.response_class, use_cookies=True)
    open_session(debtor, agency, account, issue(agency, account))
    return lender, agency, account, debtor


def staff(app, factory, tenant, role):
    email = f"{role}-{tenant.slug}@revoke.test"
    factory.user(tenant, role, email=email)
    member = FreshContextClient(app, app.response_class, use_cookies=True)
    login(member, email)
    return member


def panel(html: str) -> str:
    return html.split('id="portal-links"')[1].split("</div></div>")[0]


def test_the_agency_revokes_from_the_case_page_and_the_debtors_session_ends(app, factory, opened):
    lender, agency, account, debtor = opened
    collector = staff(app, factory, agency, "agency_collector")
    case_url = f"/t/{agency.slug}/cases/{account.id}"
    before = panel(collector.get(case_url).get_data(as_text=True))
    assert 'id="portal-revoke"' in before and "opens until" in before and "opened" in before

    answer = collector.post(f"/t/{agency.slug}/accounts/{account.id}/portal/revoke", data={})
    assert answer.status_code == 302 and f"/cases/{account.id}" in answer.headers["Location"]
    after = collector.get(answer.headers["Location"]).get_data(as_text=True)
    assert "The debtor&#39;s portal links are revoked" in after or "portal links are revoked" in after
    assert 'id="portal-revoke"' not in panel(after) and "revoked" in panel(after)
    assert debtor.get("/p/home").status_code == 401


def test_the_lender_revokes_from_its_account_page(app, factory, opened):
    lender, agency, account, debtor = opened
    manager = staff(app, factory, lender, "lender_manager")
    page = manager.get(f"/t/{lender.slug}/accounts/{account.id}").get_data(as_text=True)
    assert 'id="portal-revoke"' in panel(page)
    answer = manager.post(f"/t/{lender.slug}/accounts/{account.id}/portal/revoke", data={})
    assert answer.status_code == 302
    assert re.search(rf"/t/{lender.slug}/accounts/{account.id}(#portal-links)?$", answer.headers["Location"])
    assert manager.get(answer.headers["Location"]).status_code == 200
    assert debtor.get("/p/home").status_code == 401


def test_an_analyst_sees_no_button_and_another_lender_cannot_revoke(app, factory, opened):
    lender, agency, account, debtor = opened
    analyst = staff(app, factory, lender, "lender_analyst")
    page = analyst.get(f"/t/{lender.slug}/accounts/{account.id}").get_data(as_text=True)
    assert 'id="portal-links"' in page and 'id="portal-revoke"' not in panel(page)
    other = factory.tenant("lender")
    stranger = staff(app, factory, other, "lender_manager")
    assert stranger.post(f"/t/{other.slug}/accounts/{account.id}/portal/revoke", data={}).status_code == 404
    assert debtor.get("/p/home").status_code == 200
