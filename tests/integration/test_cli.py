"""Operator commands: the test clock, seeding the demo."""
import pytest
from sqlalchemy import select

from tenants import clock
from tenants.context import platform_scope
from tenants.tenancy.models import Membership, Tenant
from web import config as app_config


@pytest.fixture
def test_clock_app(app, redis_url):
    from web import create_app

    previous = clock.current_clock()
    clock_app = create_app({"SQLALCHEMY_DATABASE_URI": app.config["SQLALCHEMY_DATABASE_URI"], "REDIS_URL": redis_url,
                            "TEST_CLOCK": "2026-12-01T09:00:00+08:00"})
    yield clock_app
    clock.current_clock().reset()
    clock.use(previous)


def test_the_test_clock_is_pinned_advanced_and_reset_from_the_command_line(test_clock_app):
    runner = test_clock_app.test_cli_runner()
    assert "2026-12-01T01:00:00+00:00 (pinned test clock)" in runner.invoke(args=["clock", "show"]).output
    assert "2026-12-01T03:30:00+00:00" in runner.invoke(args=["clock", "advance", "150m"]).output
    assert clock.now().isoformat() == "2026-12-01T03:30:00+00:00"
    assert runner.invoke(args=["clock", "set", "2026-12-24T22:00:00-05:00"]).exit_code == 0
    assert clock.now().isoformat() == "2026-12-25T03:00:00+00:00"
    bad = runner.invoke(args=["clock", "set", "tomorrow"])
    assert bad.exit_code == 2 and "tomorrow" in bad.output
    runner.invoke(args=["clock", "reset"])
    assert "(real time)" in runner.invoke(args=["clock", "show"]).output


def test_the_clock_commands_refuse_when_the_test_clock_is_off(app):
    result = app.test_cli_runner().invoke(args=["clock", "advance", "1h"])
    assert result.exit_code == 1 and "test clock is off" in result.output


def test_production_refuses_a_test_clock(monkeypatch):
    monkeypatch.setenv("RECOVERLY_ENV", "production")
    monkeypatch.setenv("RECOVERLY_TEST_CLOCK", "on")
    monkeypatch.setenv("PII_KEYS", "x")
    monkeypatch.setenv("BLIND_INDEX_KEY", "y" * 32)
    with pytest.raises(app_config.ConfigError, match="refused in production"):
        app_config.build()


def test_production_requires_real_secrets(monkeypatch):
    monkeypatch.setenv("RECOVERLY_ENV", "production")
    monkeypatch.delenv("SECRET_KEY", raising=False)
    with pytest.raises(app_config.ConfigError, match="SECRET_KEY"):
        app_config.build()


def test_seed_demo_is_idempotent_and_prints_a_login_for_every_role(app, db_session):
    runner = app.test_cli_runner()
    first = runner.invoke(args=["seed-demo"])
    assert first.exit_code == 0, first.output
    with platform_scope("test: count demo rows"):
        counts = (len(db_session.scalars(select(Tenant)).all()), len(db_session.scalars(select(Membership)).all()))
    second = runner.invoke(args=["seed-demo"])
    assert second.output == first.output
    with platform_scope("test: count demo rows"):
        assert counts == (len(db_session.scalars(select(Tenant)).all()),
                          len(db_session.scalars(select(Membership)).all()))
    for role in ("platform_admin", "lender_admin", "lender_manager", "lender_analyst", "agency_admin",
                 "agency_supervisor", "agency_collector"):
        assert role in first.output
    with platform_scope("test: the demo's tenants"):
        kinds = [t.kind for t in db_session.scalars(select(Tenant).where(Tenant.slug.in_(
            ["platform", "jinxin-lending", "harbor-credit", "huaxia-collect", "eastwind-recovery",
             "atlas-recovery"])))]
    assert sorted(kinds) == ["agency"] * 3 + ["lender"] * 2 + ["platform"]
