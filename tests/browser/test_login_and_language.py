"""A real browser (Debian's Chromium through Playwright) logs in and switches the UI to Simplified Chinese."""
import pytest

from tenants.db import db

pytestmark = pytest.mark.browser

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
