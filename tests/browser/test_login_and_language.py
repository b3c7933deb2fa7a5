"""A real browser (Debian's Chromium through Playwright) logs in and switches the UI to Simplified Chinese."""
import os
import shutil
import threading

import pytest
from werkzeug.serving import make_server

from tenants.db import db

pytestmark = pytest.mark.browser

CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                  "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-quic"]


def _chromium_path() -> str:
    path = os.environ.get("CHROMIUM_PATH") or shutil.which("chromium") or "/usr/bin/chromium"
    if not os.path.exists(path):
        pytest.skip("Debian's chromium is not installed (apt-get install chromium)")
    return path


@pytest.fixture
def live_server(app):
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://localhost:{server.server_port}"
    server.shutdown()
    thread.join(timeout=5)


@pytest.fixture
def browser():
    from playwright.sync_api import sync_playwright

    executable = _chromium_path()
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=executable, args=CHROMIUM_FLAGS)
        yield launched
        launched.close()


@pytest.fixture
def lender_admin(app):
    """The live server reads through its own connections, so this user is really committed."""
    from tests.factories import PASSWORD, Factory

    with app.app_context():
        factory = Factory(db.session)
        tenant = factory.tenant("lender", name="Harbor Credit")
        email = f"browser-{tenant.slug}@example.test"
        factory.user(tenant, "lender_admin", email=email)
        db.session.commit()
        slug = tenant.slug
        db.session.remove()
    return email, PASSWORD, slug


def test_log_in_and_switch_to_simplified_chinese(live_server, browser, lender_admin):
    email, password, slug = lender_admin
    page = browser.new_page(locale="en-US")
    page.goto(f"{live_server}/login")
    page.fill("input[name=email]", email)
    page.fill("input[name=password]", password)
    page.click("#login-form button[type=submit]")
    page.wait_for_url(f"**/t/{slug}/")
    assert "Lender dashboard" in page.inner_text("#dashboard-title")

    page.click("#language-switch button[value=zh_CN]")
    page.wait_for_load_state()
    assert "放贷机构工作台" in page.inner_text("#dashboard-title")
    assert page.get_attribute("html", "lang") == "zh-CN"
    assert page.is_visible("text=退出登录")

    page.click("text=退出登录")
    page.wait_for_url("**/login")
    assert page.is_visible("text=登录")
