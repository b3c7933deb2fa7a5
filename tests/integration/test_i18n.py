"""English and Simplified Chinese, switchable per user."""
from tests.factories import login


def test_switching_to_chinese_translates_the_dashboard_and_sticks_to_the_user(client, factory):
    tenant = factory.tenant("lender")
    factory.user(tenant, email="li@example.test")
    login(client, "li@example.test")
    assert "Lender dashboard" in client.get(f"/t/{tenant.slug}/").get_data(as_text=True)
    response = client.post("/lang", data={"lang": "zh_CN", "next": f"/t/{tenant.slug}/"})
    assert response.headers["Location"].endswith(f"/t/{tenant.slug}/")
    page = client.get(f"/t/{tenant.slug}/").get_data(as_text=True)
    assert "放贷机构工作台" in page and 'lang="zh-CN"' in page
    client.post("/logout")
    login(client, "li@example.test")
    assert "退出登录" in client.get(f"/t/{tenant.slug}/").get_data(as_text=True), "the choice is saved"


def test_anonymous_visitors_get_their_browsers_language(client):
    page = client.get("/login", headers={"Accept-Language": "zh-CN,zh;q=0.9"}).get_data(as_text=True)
    assert "登录" in page
    assert "Log in to Recoverly" in client.get("/login", headers={"Accept-Language": "en-US"}).get_data(as_text=True)


def test_language_switch_never_redirects_off_site(client):
    response = client.post("/lang", data={"lang": "en", "next": "https://evil.example/"})
    assert response.headers["Location"] == "/"
