"""Shared fixtures.

Default backend: a SQLite file, an embedded Redis and localstripe, all under a temporary folder. With
DATABASE_URL (+ MIGRATION_DATABASE_URL) and REDIS_URL set, the same suite runs on PostgreSQL and Redis.
The schema is built once per run by the migrations; each test runs in a transaction rolled back at the end.
Under CI=true a skipped test fails the run: a missing service or browser is an error, not a pass.
"""
import contextvars
import os
import tempfile
from pathlib import Path

import pytest

_RUN_DIR = Path(tempfile.mkdtemp(prefix="recoverly-tests-"))
os.environ.setdefault("RECOVERLY_INSTANCE_DIR", str(_RUN_DIR / "instance"))
os.environ.setdefault("SECRET_KEY", "test-secret-key-not-for-production-0123456789")
os.environ["RECOVERLY_ENV"] = "development"
DB_LOCK_KEY = os.environ.setdefault("DB_LOCK_KEY", "test-db-lock-key-not-for-production-0123456789")

from flask.testing import FlaskClient  # noqa: E402
from sqlalchemy import create_engine, text  # noqa: E402

from tenants import clock  # noqa: E402
from tenants.db import db  # noqa: E402
from workers.embedded import EmbeddedRedis  # noqa: E402

IN_CI = os.environ.get("CI", "").lower() == "true"
DATABASE_URL = os.environ.get("DATABASE_URL") or f"sqlite:///{_RUN_DIR / 'recoverly-test.db'}"
ON_POSTGRES = DATABASE_URL.startswith("postgresql")


def pytest_runtest_makereport(item, call):
    if IN_CI and call.excinfo is not None and call.excinfo.errisinstance(pytest.skip.Exception):
        if item.get_closest_marker("postgres") and not ON_POSTGRES:
            return None  # the SQLite leg of a local run; CI always runs on PostgreSQL
        raise AssertionError(f"skipped under CI: {call.excinfo.value}")
    return None


def pytest_collection_modifyitems(config, items):
    if ON_POSTGRES:
        return
    skip = pytest.mark.skip(reason="needs PostgreSQL: set DATABASE_URL (see .ci/run)")
    for item in items:
        if item.get_closest_marker("postgres"):
            item.add_marker(skip)


@pytest.fixture(scope="session")
def redis_url():
    url = os.environ.get("REDIS_URL")
    if url:
        yield url
        return
    server = EmbeddedRedis(_RUN_DIR / "redis").start()
    os.environ["REDIS_URL"] = server.url
    yield server.url
    server.stop()


@pytest.fixture(scope="session")
def app(redis_url):
    from flask_migrate import upgrade

    from web import create_app

    application = create_app({
        "SQLALCHEMY_DATABASE_URI": DATABASE_URL,
        "REDIS_URL": redis_url,
        "TESTING": True,
    })
    with application.app_context():
        upgrade()
    return application


@pytest.fixture(autouse=True)
def _flush_redis(request):
    if "redis_url" in request.fixturenames or "app" in request.fixturenames:
        from workers.connection import connection

        connection().flushdb()
    yield


@pytest.fixture
def frozen_clock():
    from datetime import datetime, timezone

    test_clock = clock.FrozenClock(datetime(2026, 12, 1, 1, 0, tzinfo=timezone.utc))
    previous = clock.use(test_clock)
    yield test_clock
    clock.use(previous)


@pytest.fixture
def db_session(app):
    """One transaction per test, rolled back at the end; service commits become savepoint releases."""
    with app.app_context():
        engines = db.engines
        engine = engines[None]
        connection = engine.connect()
        transaction = connection.begin()
        engines[None] = connection
        db.session.remove()
        db.session.session_factory.kw["join_transaction_mode"] = "create_savepoint"
        try:
            yield db.session
        finally:
            db.session.remove()
            engines[None] = engine
            transaction.rollback()
            connection.close()


class FreshContextClient(FlaskClient):
    """Runs each request in an empty contextvars context, as a server would: the test body's app context,
    `g` and tenant context must not leak into the request (they would hide real bugs)."""

    def open(self, *args, **kwargs):
        return contextvars.Context().run(super().open, *args, **kwargs)


@pytest.fixture
def client(app, db_session):
    app.config["WTF_CSRF_ENABLED"] = False
    yield FreshContextClient(app, app.response_class, use_cookies=True)
    app.config["WTF_CSRF_ENABLED"] = True


@pytest.fixture
def csrf_client(app, db_session):
    app.config["WTF_CSRF_ENABLED"] = True
    yield FreshContextClient(app, app.response_class, use_cookies=True)


@pytest.fixture
def factory(db_session):
    from tests.factories import Factory

    return Factory(db_session)


def pg_scalar(connection, sql, **params):
    return connection.execute(text(sql), params).scalar()


@pytest.fixture
def rotate_pii_keys(app):
    """`flask pii rotate` to a new first key, then the old keys retired: returns the command's output. The key ring
    in force before the test comes back after it."""
    from cryptography.fernet import Fernet

    from tenants import pii

    previous = pii.keyring()

    def rotate() -> str:
        rotating = previous.with_new_key(Fernet.generate_key())
        pii.configure(rotating)
        result = app.test_cli_runner().invoke(args=["pii", "rotate"])
        assert result.exit_code == 0, result.output
        pii.configure(rotating.retiring_old_keys())
        return result.output

    rotate.previous = previous
    yield rotate
    pii.configure(previous)


def act_as(connection, tenant_id) -> None:
    """What the app does when a tenant's transaction starts (tenants.context): raw SQL tests of the database lock
    go through the same door."""
    connection.execute(text("SELECT app_enter_tenant(:t, :key)"), {"t": tenant_id, "key": DB_LOCK_KEY})


# ---- PostgreSQL: what other connections see (row-level security), so the data is really committed -------------

@pytest.fixture
def app_engine():
    engine = create_engine(os.environ["DATABASE_URL"], pool_size=1, max_overflow=0)
    yield engine
    engine.dispose()


@pytest.fixture
def owner_engine():
    """The schema owner (migrations' role): row-level security is forced on it too."""
    engine = create_engine(os.environ["MIGRATION_DATABASE_URL"], pool_size=1, max_overflow=0)
    yield engine
    engine.dispose()


@pytest.fixture
def placed_committed(app):
    from tenants.context import tenant_scope
    from tenants.placements.models import Placement
    from tests.factories import Factory

    with app.app_context():
        factory = Factory(db.session)
        lender, other_agency = factory.tenant("lender"), factory.tenant("agency")
        objects = factory.placed_portfolio(lender)
        with tenant_scope(lender.id):
            agency_id = db.session.get(Placement, objects["placement_id"]).agency_tenant_id
        db.session.commit()
        ids = (lender.id, agency_id, other_agency.id, objects)
        db.session.remove()
    return ids


# ---- Stripe: the real `stripe` library against localstripe on loopback ------------------------------------------

@pytest.fixture(scope="session")
def localstripe_url():
    from web.demo.localstripe_server import running

    with running(_RUN_DIR / "localstripe.log") as url:
        yield url


@pytest.fixture
def stripe_settings(app, localstripe_url):
    from tenants.billing.stripe_gateway import StripeSettings

    app.config.update(STRIPE_API_BASE=localstripe_url, STRIPE_API_KEY="sk_test_recoverly",
                      STRIPE_WEBHOOK_SECRET="whsec_recoverly_tests")
    return StripeSettings.from_config(app.config)


@pytest.fixture
def gateway(stripe_settings):
    from tenants.billing.stripe_gateway import StripeGateway

    return StripeGateway(stripe_settings)
