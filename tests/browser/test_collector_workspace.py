"""A collector's day in Chromium, in 简体中文 at 1366×768: from his work queue he works ten cases one after another
with the keyboard — call (through the stand-in phone system), the outcome, a promise on some — then "save and
next", in at most four actions a case (clicks, key presses and form submissions; fields that come filled in are
not typed), never scrolling: the action panel and the save button are on screen every time. Afterwards the queue
puts the two cases he has not worked first and the ten he worked below them. Screenshots of the workspace in
English and Chinese land in tests/browser/screenshots/ (ignored by git)."""
import re
from pathlib import Path

import pytest

from tenants.casework import assignment
from tenants.context import tenant_scope
from tenants.db import db
from tests.factories import PASSWORD, Factory
from tests.integration.test_assignment import make_desk

pytestmark = pytest.mark.browser

VIEWPORT = {"width": 1366, "height": 768}
SCREENSHOTS = Path(__file__).parent / "screenshots"
CASES, WORKED = 12, 10
MAX_ACTIONS = 4


@pytest.fixture
def collectors_day(app, pinned_clock, monkeypatch):
    monkeypatch.setitem(app.config, "TELEPHONY_GATEWAY", "standin")
    with app.app_context():
        factory = Factory(db.session)
        # Balances fall with the reference, so the queue starts at DAY-00 and goes down the list.
        desk = make_desk(factory, [dict(external_ref=f"DAY-{i:02d}", principal_minor=900_000 - i * 10_000,
                                        days_past_due=30 + i) for i in range(CASES)], collectors=1)
        collector = desk.collectors[0]
        collector.locale = "zh_CN"
        english, _ = factory.user(desk.agency, "agency_supervisor", email=f"en-{desk.agency.slug}@example.test")
        with tenant_scope(desk.agency.id):
            assignment.assign(desk.ids, collector.id, by_user_id=desk.supervisor.id)
        db.session.commit()
        found = dict(slug=desk.agency.slug, email=desk.collector_emails[0], english=english.email,
                     ids=[str(i) for i in desk.ids])
        db.session.remove()
    return found


def _login(browser, live_server, email, locale):
    page = browser.new_page(locale=locale, viewport=VIEWPORT)
    page.goto(f"{live_server}/login")
    page.fill("input[name=email]", email)
    page.fill("input[name=password]", PASSWORD)
    page.press("input[name=password]", "Enter")
    page.wait_for_url(re.compile(r".*/t/.*"))
    return page


def _on_screen(page, selector):
    box = page.locator(selector).bounding_box()
    assert box is not None, f"{selector} is not shown"
    assert box["y"] >= 0 and box["y"] + box["height"] <= VIEWPORT["height"], f"{selector} is below the fold: {box}"
    assert box["x"] >= 0 and box["x"] + box["width"] <= VIEWPORT["width"], f"{selector} is off to the side: {box}"


def _case_id(page) -> str:
    return re.search(r"/cases/([0-9a-f-]{36})", page.url).group(1)


def test_ten_cases_with_save_and_next_in_chinese_without_scrolling(live_server, browser, collectors_day):
    day = collectors_day
    page = _login(browser, live_server, day["email"], "zh-CN")
    page.goto(f"{live_server}/t/{day['slug']}/queue")
    assert "工作队列" in page.inner_text("h1")

    page.click("#start-queue")
    actions = 1  # opening the first case counts against it
    worked, promised, log = [], [], []
    for n in range(WORKED):
        page.wait_for_selector("#action-panel")
        case = _case_id(page)
        assert case == day["ids"][n], f"case {n} of the day is not the next of the queue"
        _on_screen(page, "#action-panel")
        _on_screen(page, "#call-button")
        page.keyboard.press("c")
        actions += 1
        page.wait_for_selector("#save-next")
        _on_screen(page, "#action-panel")
        _on_screen(page, "#save-next")
        answered = page.locator("#wrap-up-form").count() == 1
        if answered and n % 2 == 0:  # every other debtor who picks up promises to pay
            page.keyboard.press("p")
            actions += 1
            assert page.locator("#wrap-up-promise").is_visible()
            assert page.input_value("#wrap-amount") and page.input_value("#wrap-due_on")  # filled in already
            _on_screen(page, "#save-next")
            promised.append(case)
        assert page.evaluate("window.scrollY") == 0
        page.keyboard.press("Enter")  # "save and next" has the focus
        actions += 1
        page.wait_for_url(lambda url, case=case: case not in url)
        log.append((case, answered, actions))
        assert actions <= MAX_ACTIONS, f"case {n}: {actions} actions"
        worked.append(case)
        actions = 0

    page.goto(f"{live_server}/t/{day['slug']}/queue")
    rows = page.locator("#queue-ready tr.queue-item")
    order = [rows.nth(i).get_attribute("id").removeprefix("queue-") for i in range(rows.count())]
    whys = [rows.nth(i).locator("td.queue-why").get_attribute("data-why") for i in range(rows.count())]
    assert order[:2] == day["ids"][WORKED:], "the cases not worked today come first"
    assert sorted(order[2:]) == sorted(worked) and set(whys[2:]) == {"worked_today"}
    assert order[2:] == worked  # among the worked ones, still the larger balance first
    assert "今天已处理" in page.inner_text("#queue-ready")
    assert promised, log  # at least one debtor answered and promised


def test_screenshots_of_the_workspace_in_both_languages(live_server, browser, collectors_day):
    SCREENSHOTS.mkdir(exist_ok=True)
    day = collectors_day
    for email, locale, name in ((day["email"], "zh-CN", "zh"), (day["english"], "en-US", "en")):
        page = _login(browser, live_server, email, locale)
        page.goto(f"{live_server}/t/{day['slug']}/cases/{day['ids'][0]}")
        page.keyboard.press("c")
        page.wait_for_selector("#save-next")
        if page.locator("#wrap-up-form").count():
            page.keyboard.press("p")
        _on_screen(page, "#action-panel")
        page.screenshot(path=str(SCREENSHOTS / f"workspace-{name}.png"))
        page.close()
