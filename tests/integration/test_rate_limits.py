"""Rate limits: failed logins per account and per client address, the API per token, uploads; 429 with
Retry-After; logins refused (503) while the limiter's Redis is unreachable. Each test sets the limits it needs."""
import io

import pytest
from limits.storage import storage_from_string
from limits.strategies import SlidingWindowCounterRateLimiter

from tests.factories import PASSWORD
from web.extensions import limiter


@pytest.fixture
def limits(app, monkeypatch):
    def set_limits(**values):
        for name, value in values.items():
            monkeypatch.setitem(app.config, f"RATE_LIMIT_{name.upper()}", value)

    return set_limits


def bearer(secret):
    return {"Authorization": f"Bearer {secret}"}


def login_from(client, address: str, email: str, password: str = PASSWORD):
    return client.post("/login", data={"email": email, "password": password}, environ_base={"REMOTE_ADDR": address})


def test_an_account_locked_by_failed_logins_says_when_to_retry_in_the_readers_language(client, factory, limits):
    limits(login_account="2 per 15 minutes")
    factory.user(factory.tenant(), email="li@example.test")
    for _ in range(2):
        assert login_from(client, "10.0.0.1", "li@example.test", "wrong-password").status_code == 401
    locked = client.post("/login", data={"email": "li@example.test", "password": PASSWORD},
                         environ_base={"REMOTE_ADDR": "10.0.0.2"}, headers={"Accept-Language": "zh-CN"})
    assert locked.status_code == 429
    assert 0 < int(locked.headers["Retry-After"]) <= 15 * 60
    assert "登录失败次数过多" in locked.get_data(as_text=True)


def test_successful_logins_do_not_count_towards_the_lock(client, factory, limits):
    limits(login_account="2 per 15 minutes")
    factory.user(factory.tenant(), email="li@example.test")
    for _ in range(3):
        assert login_from(client, "10.0.0.1", "li@example.test").status_code == 302


def test_failed_logins_lock_one_client_address_not_the_others(client, factory, limits):
    limits(login_address="3 per 15 minutes")
    factory.user(factory.tenant(), email="li@example.test")
    for n in range(3):
        login_from(client, "10.0.0.1", f"someone{n}@example.test", "wrong-password")
    assert login_from(client, "10.0.0.1", "li@example.test").status_code == 429
    assert login_from(client, "10.0.0.2", "li@example.test").status_code == 302


def test_the_api_is_limited_per_token_with_the_error_shape_and_retry_after(client, factory, limits):
    limits(api="3 per minute")
    tenant = factory.tenant()
    _, busy = factory.token(tenant)
    _, other = factory.token(tenant)
    for _ in range(3):
        assert client.get("/api/v1/me", headers=bearer(busy)).status_code == 200
    refused = client.get("/api/v1/me", headers=bearer(busy))
    assert refused.status_code == 429
    assert refused.json["error"]["code"] == "rate_limited"
    assert refused.json["error"]["details"]["retry_after_seconds"] == int(refused.headers["Retry-After"]) > 0
    assert client.get("/api/v1/me", headers=bearer(other)).status_code == 200


def test_uploads_are_limited_per_token(client, factory, limits, frozen_clock):
    limits(uploads="1 per minute")
    lender = factory.tenant("lender")
    headers = bearer(factory.token(lender)[1])

    def upload():
        body = {"file": (io.BytesIO(b"external_ref,name\nL-1,Li\n"), "p.csv"), "portfolio": "batch"}
        return client.post("/api/v1/imports", data=body, headers=headers, content_type="multipart/form-data")

    assert upload().status_code != 429
    assert upload().status_code == 429
    assert client.get("/api/v1/imports", headers=headers).status_code == 200  # reading is not uploading


@pytest.fixture
def limiter_storage_down(monkeypatch):
    dead = storage_from_string("redis://127.0.0.1:1/0", socket_connect_timeout=0.2, socket_timeout=0.2)
    monkeypatch.setattr(limiter, "_storage", dead)
    monkeypatch.setattr(limiter, "_limiter", SlidingWindowCounterRateLimiter(dead))


def test_without_the_limiters_redis_logins_are_refused_but_the_api_goes_on(client, factory, limiter_storage_down):
    tenant = factory.tenant()
    factory.user(tenant, email="li@example.test")
    _, secret = factory.token(tenant)
    refused = login_from(client, "10.0.0.1", "li@example.test")
    assert refused.status_code == 503
    assert "Login is briefly unavailable" in refused.get_data(as_text=True)
    assert client.get("/login").status_code == 200
    assert client.get("/api/v1/me", headers=bearer(secret)).status_code == 200


def test_rate_limits_are_validated_at_start(monkeypatch):
    from web import config as app_config

    monkeypatch.setenv("RECOVERLY_RATE_LIMIT_API", "lots")
    with pytest.raises(app_config.ConfigError, match="RATE_LIMIT_API"):
        app_config.build()
