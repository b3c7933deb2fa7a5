"""A lender in Chromium sorts its accounts, exports what the list shows, and previews a placement before
confirming it. Screenshots of the accounts page and the placement preview at 1366×768 in English and Chinese land in
tests/browser/screenshots/ (ignored by git)."""
import csv
import io
from pathlib import Path

import pytest

from tenants.db import db
from tests.factories import PASSWORD, Factory

pytestmark = pytest.mark.browser

SCREENSHOTS = Path(__file__).parent / "screenshots"
VIEWPORT = {"width": 1366, "height": 768}
BALANCES = [120_000, 980_000, 45_000, 610_000, 980_000, 300_000, 75_000, 1_500_000, 230_000, 410_000, 66_000,
            820_000]


@pytest.fixture
def lender_desk(app):
    with app.app_context():
        factory = Factory(db.session)
        lender = factory.tenant("lender", name="Browser Lending")
        english = f"admin-{lender.slug}@example.test"
        chinese = f"manager-{lender.slug}@example.test"
        factory.user(lender, "lender_admin", email=english)
        factory.user(lender, "lender_manager", email=chinese, locale="zh_CN")
        for name in ("Champion Collect", "Challenger Recovery"):
            factory.panel(lender, factory.tenant("agency", name=name))
        portfolio = factory.portfolio(lender, "2026-11 batch")
        regions = ("广东省", "江苏省", "四川省", None)
        for n, principal in enumerate(BALANCES):
            factory.account(lender, portfolio, external_ref=f"LT{n:03d}", principal_minor=principal,
                            interest_minor=0, fees_minor=0, penalty_minor=0, days_past_due=15 + 29 * n,
                            debtor_name=f"客户{n}", region=regions[n % 4])
        db.session.commit()
        result = {"slug": lender.slug, "english": english, "chinese": chinese}
        db.session.remove()
    return result


def _login(browser, live_server, email: str, locale: str):
    page = browser.new_page(locale=locale, viewport=VIEWPORT, accept_downloads=True)
    page.goto(f"{live_server}/login")
    page.fill("input[name=email]", email)
    page.fill("input[name=password]", PASSWORD)
    page.press("input[name=password]", "Enter")
    page.wait_for_url("**/t/**")
    return page


def _refs(page) -> list[str]:
    return page.locator("#account-list tbody tr td:first-child a").all_inner_texts()


def test_sort_export_and_preview_a_placement(live_server, browser, lender_desk):
    desk = lender_desk
    page = _login(browser, live_server, desk["english"], "en-US")
    page.goto(f"{live_server}/t/{desk['slug']}/accounts")
    page.click("#sort-balance")  # the largest balance first
    page.wait_for_url("**sort=-balance**")
    by_balance = [f"LT{n:03d}" for n, _ in sorted(enumerate(BALANCES), key=lambda nb: -nb[1])]
    assert _refs(page)[:1] == ["LT007"] and set(_refs(page)[1:3]) == {"LT001", "LT004"}
    page.fill("#account-filters input[name=dpd_min]", "100")
    page.click("#account-filters button[type=submit]")
    page.wait_for_url("**dpd_min=100**")
    assert "sort=-balance" in page.url  # filtering keeps the order
    shown = _refs(page)
    assert shown == [ref for ref in by_balance if 15 + 29 * int(ref[2:]) >= 100]

    with page.expect_download() as download:
        page.click("#export-csv")
    rows = list(csv.reader(io.StringIO(Path(download.value.path()).read_bytes().decode("utf-8-sig"))))
    assert rows[0][:2] == ["External reference", "Portfolio"]
    assert [row[0] for row in rows[1:]] == shown  # the list's accounts, in its order
    assert download.value.suggested_filename.endswith(".csv")

    page.goto(f"{live_server}/t/{desk['slug']}/placements")
    page.select_option("#place-form select[name=agency_1]", label="Champion Collect")
    page.fill("#place-form input[name=weight_1]", "70")
    page.select_option("#place-form select[name=agency_2]", label="Challenger Recovery")
    page.fill("#place-form input[name=weight_2]", "30")
    page.click("#preview-placement")
    page.wait_for_selector("#placement-preview")
    assert "12 accounts with" in page.inner_text("#preview-summary")
    preview = page.inner_text("#preview-agencies")
    assert "Champion Collect" in preview and "Challenger Recovery" in preview
    assert page.locator("#preview-dpd tbody tr").count() == 2
    page.click("#confirm-placement")
    page.wait_for_url("**/placements/batches/*")
    assert "12 accounts split" in page.inner_text("body")


@pytest.mark.parametrize("language", ["en", "zh"])
def test_screenshots_of_the_accounts_page_and_the_placement_preview(live_server, browser, lender_desk, language):
    SCREENSHOTS.mkdir(exist_ok=True)
    desk = lender_desk
    email, locale = (desk["english"], "en-US") if language == "en" else (desk["chinese"], "zh-CN")
    page = _login(browser, live_server, email, locale)
    page.goto(f"{live_server}/t/{desk['slug']}/accounts?sort=-balance")
    page.screenshot(path=str(SCREENSHOTS / f"lender-accounts-{language}.png"))
    assert page.evaluate("document.documentElement.scrollWidth") <= VIEWPORT["width"]

    page.goto(f"{live_server}/t/{desk['slug']}/placements")
    page.select_option("#place-form select[name=agency_1]", index=1)
    page.fill("#place-form input[name=weight_1]", "70")
    page.select_option("#place-form select[name=agency_2]", index=2)
    page.fill("#place-form input[name=weight_2]", "30")
    page.click("#preview-placement")
    page.wait_for_selector("#placement-preview")
    page.evaluate("window.scrollTo(0, document.getElementById('placement-preview').offsetTop - 70)")
    if language == "zh":
        assert "预览" in page.inner_text("#placement-preview")
    page.screenshot(path=str(SCREENSHOTS / f"lender-placement-preview-{language}.png"))
    assert page.evaluate("document.documentElement.scrollWidth") <= VIEWPORT["width"]
