"""An agency admin in Chromium: the billing page shows last month's invoice (billed through localstripe) and this
month's cases, and the case CSV downloads and adds up to the invoice."""
import csv
import io
from datetime import timedelta
from decimal import Decimal

import pytest

from tenants import clock
from tenants.billing import invoicing
from tenants.billing.plans import update_plan
from tenants.billing.stripe_gateway import StripeGateway
from tenants.context import platform_scope, tenant_scope
from tenants.db import db
from tests.billing.helpers import accept_cases
from tests.browser.conftest import SHANGHAI_10AM
from tests.factories import PASSWORD, Factory

pytestmark = pytest.mark.browser


@pytest.fixture
def billed_agency(app, pinned_clock, stripe_settings):
    """Committed: 3 cases accepted last month at ¥6.00 (invoiced and paid at localstripe), 2 this month."""
    with app.app_context():
        factory = Factory(db.session)
        lender, agency = factory.tenant("lender"), factory.tenant("agency")
        factory.panel(lender, agency)
        with platform_scope("test: plan"):
            update_plan(agency, {"unit_price": "6.00"})
        email = f"admin-{agency.slug}@example.test"
        factory.user(agency, "agency_admin", email=email)
        previous = clock.use(clock.FrozenClock(SHANGHAI_10AM - timedelta(days=10)))
        try:
            last_month = [a.external_ref for a in accept_cases(factory, lender, agency, 3)[0]]
        finally:
            clock.use(previous)
        accept_cases(factory, lender, agency, 2)
        db.session.commit()
        with tenant_scope(agency.id):
            invoicing.bill(agency, StripeGateway(stripe_settings))
        slug = agency.slug
        db.session.remove()
    return {"slug": slug, "email": email, "last_month": last_month}


def test_an_agency_admin_reads_its_invoice_and_downloads_its_billed_cases(live_server, browser, billed_agency):
    slug = billed_agency["slug"]
    page = browser.new_page(locale="en-US", accept_downloads=True)
    page.goto(f"{live_server}/login")
    page.fill("input[name=email]", billed_agency["email"])
    page.fill("input[name=password]", PASSWORD)
    page.click("#login-form button[type=submit]")
    page.wait_for_url(f"**/t/{slug}/**")

    page.click("nav >> text=Billing")
    page.wait_for_url(f"**/t/{slug}/billing")
    invoice = page.locator("#invoices tr[data-status]")
    assert invoice.count() == 1
    assert invoice.get_attribute("data-status") == "paid"
    assert invoice.get_attribute("data-amount-minor") == "1800"
    assert page.inner_text("#current-cases") == "2"

    with page.expect_download() as download:
        page.click("#cases-csv")
    text = open(download.value.path(), encoding="utf-8-sig").read()
    header, *rows = list(csv.reader(io.StringIO(text)))
    cases = [dict(zip(header, row)) for row in rows if row and row[0].isdigit()]
    assert sorted(c["account_ref"] for c in cases if c["period"] == "2026-11-01") == sorted(billed_agency["last_month"])
    assert {c["invoice_status"] for c in cases if c["period"] == "2026-11-01"} == {"paid"}
    assert len(cases) == 5 and sum(Decimal(c["amount"]) for c in cases) == Decimal("30.00")  # 5 cases × ¥6.00
