"""Fail closed: production (the default) refuses to start without its real secrets; after login only a plain path
on this site is followed."""
import base64
import secrets

import pytest

from tests.factories import PASSWORD
from web import config as app_config

PRODUCTION_SECRETS = {
    "SECRET_KEY": secrets.token_urlsafe(48),
    "PII_KEYS": base64.urlsafe_b64encode(secrets.token_bytes(32)).decode(),
    "BLIND_INDEX_KEY": secrets.token_urlsafe(48),
    "DB_LOCK_KEY": secrets.token_urlsafe(48),
    "REDIS_URL": "redis://127.0.0.1:6379/0",
}


@pytest.fixture
def production(monkeypatch):
    """The environment of a production start with every secret; tests take one away."""
    monkeypatch.delenv("RECOVERLY_ENV", raising=False)
    for name in ("RECOVERLY_TEST_CLOCK", "STRIPE_API_KEY", "STRIPE_WEBHOOK_SECRET"):
        monkeypatch.delenv(name, raising=False)
    for name, value in PRODUCTION_SECRETS.items():
        monkeypatch.setenv(name, value)
    return monkeypatch


def test_without_recoverly_env_the_app_is_production_and_starts_with_real_secrets(production):
    config = app_config.build()
    assert config["ENV_NAME"] == "production"
    assert config["SESSION_COOKIE_SECURE"] is True
    assert config["STRIPE_WEBHOOK_SECRET"] is None


@pytest.mark.parametrize("missing", sorted(PRODUCTION_SECRETS))
def test_production_refuses_to_start_without_each_secret(production, missing):
    production.delenv(missing)
    with pytest.raises(app_config.ConfigError, match=missing):
        app_config.build()


def test_production_refuses_a_short_secret_key_and_unusable_pii_keys(production):
    production.setenv("SECRET_KEY", "too-short")
    with pytest.raises(app_config.ConfigError, match="SECRET_KEY"):
        app_config.build()
    production.setenv("SECRET_KEY", PRODUCTION_SECRETS["SECRET_KEY"])
    production.setenv("PII_KEYS", "not-a-fernet-key")
    with pytest.raises(app_config.ConfigError, match="PII_KEYS"):
        app_config.keyring(app_config.build())


def test_stripe_in_production_needs_the_webhook_signing_secret(production):
    production.setenv("STRIPE_API_KEY", "sk_live_example")
    with pytest.raises(app_config.ConfigError, match="STRIPE_WEBHOOK_SECRET"):
        app_config.build()


def test_an_unknown_environment_name_is_refused_not_taken_for_development(monkeypatch):
    monkeypatch.setenv("RECOVERLY_ENV", "staging")
    with pytest.raises(app_config.ConfigError, match="RECOVERLY_ENV"):
        app_config.build()


def test_keys_are_derived_in_development_only(monkeypatch):
    monkeypatch.delenv("PII_KEYS", raising=False)
    development = app_config.build()
    assert app_config.keyring(development).blind_index("email", "a@b.c")
    with pytest.raises(app_config.ConfigError, match="PII_KEYS"):
        app_config.keyring({**development, "ENV_NAME": "production"})


def test_without_a_signing_secret_no_webhook_is_accepted(client, app, monkeypatch):
    monkeypatch.setitem(app.config, "STRIPE_WEBHOOK_SECRET", None)
    response = client.post("/billing/stripe/webhook", data=b'{"type": "invoice.paid"}',
                           headers={"Stripe-Signature": "t=1,v1=whatever"})
    assert response.status_code == 400
    assert response.json["error"]["code"] == "stripe.bad_signature"


# ---- next= after login ----------------------------------------------------------------------------------------

@pytest.mark.parametrize("target", [
    "//evil.com", "/\\evil.com", "/%2F%2Fevil.com", "/%2f%5cevil.com", "https://evil.com", "javascript:alert(1)",
    "/\t/evil.com", "/\n/evil.com", "\\\\evil.com", "evil.com", "/ /evil.com",
])
def test_login_never_redirects_off_site(client, factory, target):
    factory.user(factory.tenant(), email="li@example.test")
    response = client.post("/login", query_string={"next": target},
                           data={"email": "li@example.test", "password": PASSWORD})
    assert response.status_code == 302
    assert response.headers["Location"] == "/choose"


@pytest.mark.parametrize("target", ["/t/lender-1/accounts?page=2", "/admin/", "/t/x/cases?q=a%2Fb"])
def test_login_returns_to_the_page_asked_for(client, factory, target):
    factory.user(factory.tenant(), email="li@example.test")
    response = client.post("/login", query_string={"next": target},
                           data={"email": "li@example.test", "password": PASSWORD})
    assert response.headers["Location"] == target
