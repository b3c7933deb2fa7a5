"""The compliance consoles show what debtors did themselves in the portal that compliance watches: disputes (with
their documents and whether still open) and contact-preference changes. A lender's console lists those on its own
accounts only; the platform's lists every lender's; an agency has no such page. Both languages."""
import io
import re

import pytest

from tests.conftest import FreshContextClient
from tests.factories import login
from tests.integration.test_portal import csrf_of, open_session
from tests.integration.test_portal_isolation import issue

pytestmark = pytest.mark.usefixtures("frozen_clock")


def debtor_client(app):
    return FreshContextClient(app, app.response_class, use_cookies=True)


def dispute(app, agency, account, *, category="wrong_amount", documents=1):
    debtor = debtor_client(app)
    open_session(debtor, agency, account, issue(agency, account))
    page = debtor.get("/p/dispute")
    files = [(io.BytesIO(b"%PDF-1.4 statement"), f"statement-{n}.pdf") for n in range(documents)]
    made = debtor.post("/p/dispute", data={"csrf": csrf_of(page), "category": category,
                                           "reason": "I paid 500 in October; the balance is wrong.",
                                           "documents": files}, content_type="multipart/form-data")
    assert made.status_code == 302, made.get_data(as_text=True)
    return debtor


def preferences(debtor):
    page = debtor.get("/p/preferences")
    made = debtor.post("/p/preferences", data={"csrf": csrf_of(page), "opted_out": ["call", "visit"],
                                               "inconvenient_from": "12:00", "inconvenient_to": "14:00",
                                               "preferred_from": "18:00", "preferred_to": "20:00"})
    assert made.status_code == 302, made.get_data(as_text=True)


@pytest.fixture
def portal_acts(app, factory):
    """Jade's debtor disputes (one document) and sets preferences; Harbor's debtor disputes (two documents)."""
    jade, jade_agency, jade_account = factory.placed_account(lender_values={"name": "Jade Lending"},
                                                             time_zones=["Asia/Shanghai"])
    harbor, harbor_agency, harbor_account = factory.placed_account(lender_values={"name": "Harbor Lending"},
                                                                   time_zones=["Asia/Shanghai"])
    preferences(dispute(app, jade_agency, jade_account))
    dispute(app, harbor_agency, harbor_account, category="not_my_debt", documents=2)
    return {"jade": jade, "jade_agency": jade_agency, "jade_account": jade_account, "harbor": harbor,
            "harbor_agency": harbor_agency, "harbor_account": harbor_account}


def rows(html: str) -> list[str]:
    table = html.split('id="portal-requests"')[1].split("</table>")[0]
    return re.findall(r'<tr id="portal-request-[^"]+" class="portal-(\w+)">(.*?)</tr>', table, re.S)


def test_a_lender_sees_its_own_accounts_disputes_and_preferences_only(client, factory, portal_acts):
    jade = portal_acts["jade"]
    factory.user(jade, "lender_analyst", email="analyst@jade-portal.test")
    login(client, "analyst@jade-portal.test")
    page = client.get(f"/t/{jade.slug}/compliance/portal")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    listed = rows(html)
    assert sorted(kind for kind, _ in listed) == ["dispute", "preferences"]
    assert portal_acts["harbor_account"].external_ref not in html
    dispute_row = next(body for kind, body in listed if kind == "dispute")
    assert portal_acts["jade_account"].external_ref in dispute_row and portal_acts["jade_agency"].name in dispute_row
    assert "Wrong amount" in dispute_row and "1 document" in dispute_row and "open" in dispute_row
    prefs = next(body for kind, body in listed if kind == "preferences")
    assert "Phone call" in prefs and "Home visit" in prefs and "12:00" in prefs and "18:00" in prefs
    # The tab is in the console's navigation, and the filter narrows to one kind.
    assert f'href="/t/{jade.slug}/compliance/portal"' in client.get(f"/t/{jade.slug}/compliance").get_data(
        as_text=True)
    only = rows(client.get(f"/t/{jade.slug}/compliance/portal?kind=preferences").get_data(as_text=True))
    assert [kind for kind, _ in only] == ["preferences"]

    client.post("/lang", data={"lang": "zh_CN", "next": f"/t/{jade.slug}/"})
    chinese = client.get(f"/t/{jade.slug}/compliance/portal").get_data(as_text=True)
    assert "提出了异议" in chinese and "修改了联系偏好" in chinese and "Wrong amount" not in chinese
    assert "Opted out of" not in chinese


def test_the_platform_console_lists_every_lenders_and_an_agency_has_no_such_page(client, factory, portal_acts):
    platform = factory.tenant("platform", slug=f"platform-{factory.tenant().slug}")
    factory.user(platform, "platform_admin", email="compliance@portal-platform.test")
    login(client, "compliance@portal-platform.test")
    html = client.get("/admin/compliance/portal?kind=dispute").get_data(as_text=True)
    listed = rows(html)
    for name, account in (("Jade Lending", "jade_account"), ("Harbor Lending", "harbor_account")):
        assert any(name in body and portal_acts[account].external_ref in body for _, body in listed), name
    harbor_row = next(body for _, body in listed if portal_acts["harbor_account"].external_ref in body)
    assert "Not my debt" in harbor_row and "2 documents" in harbor_row
    assert all(kind == "dispute" for kind, _ in listed)

    agency_client = debtor_client(client.application)
    factory.user(portal_acts["jade_agency"], "agency_admin", email="boss@jade-agency-portal.test")
    login(agency_client, "boss@jade-agency-portal.test")
    assert agency_client.get(f"/t/{portal_acts['jade_agency'].slug}/compliance/portal").status_code == 404
    assert agency_client.get("/admin/compliance/portal").status_code == 404
