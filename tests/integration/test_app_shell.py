"""The app shell: the sidebar offers each role the pages its capabilities open, and a foreign tenant's 404 page
names nothing of that tenant (it must look like an unknown slug's)."""
import re

import pytest

from tests.factories import login


def _nav_links(body: str) -> set[str]:
    nav = body.split('id="app-nav"', 1)[1].split("</nav>", 1)[0]
    return set(re.findall(r'href="/t/[^/"]+(/[^"]*)"', nav))


@pytest.mark.parametrize(("role", "present", "absent"), [
    ("lender_admin", {"/billing", "/billing/commission", "/tokens", "/audit", "/portfolios"}, {"/queue"}),
    ("lender_analyst", {"/portfolios", "/accounts", "/members"},
     {"/billing", "/billing/commission", "/tokens", "/audit"}),
    ("agency_admin", {"/queue", "/team/assign", "/complaints", "/billing", "/tokens"}, {"/portfolios"}),
    ("agency_collector", {"/queue", "/cases", "/members"}, {"/team/assign", "/complaints", "/billing", "/tokens"}),
])
def test_the_sidebar_offers_each_role_the_pages_it_may_open(client, factory, role, present, absent):
    tenant = factory.tenant(role.split("_")[0])
    email = f"shell-{role}-{tenant.slug}@example.test"
    factory.user(tenant, role, email=email)
    login(client, email)
    links = _nav_links(client.get(f"/t/{tenant.slug}/").get_data(as_text=True))
    assert present <= links
    assert not absent & links
    for link in links:
        assert client.get(f"/t/{tenant.slug}{link}").status_code == 200, link


def test_a_foreign_tenants_404_page_names_nothing_of_it(client, factory):
    mine, foreign = factory.tenant("lender"), factory.tenant("lender", name="Foreign Lending Ltd")
    email = f"shell-404-{mine.slug}@example.test"
    factory.user(mine, "lender_admin", email=email)
    login(client, email)
    page = client.get(f"/t/{foreign.slug}/accounts")
    assert page.status_code == 404
    body = page.get_data(as_text=True)
    assert "Foreign Lending" not in body
    assert 'id="app-nav"' not in body
