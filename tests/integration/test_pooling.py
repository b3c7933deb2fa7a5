"""Connection pooling leaks no tenant: behind PgBouncer in transaction mode one server connection serves the
transactions of many clients in turn, so whatever a transaction tells the database lock must end with it. Here one
physical connection (pool_size=1) serves tenant A, tenant B, nobody, a transaction rolled back mid-way, platform
work and a replayed token in turn, and each sees only what its own transaction was entitled to."""
import pytest
from sqlalchemy import text
from sqlalchemy.orm import Session

from tenants.context import platform_scope, tenant_scope
from tenants.db import db

pytestmark = pytest.mark.postgres

COUNTS = text("SELECT (SELECT count(*) FROM accounts) AS accounts, (SELECT count(*) FROM memberships) AS members")
SETTINGS = text("SELECT current_setting('app.tenant_id', true) AS tenant_id, "
                "current_setting('app.tenant_token', true) AS tenant_token, "
                "current_setting('app.platform', true) AS platform, app_tenant() AS app_tenant, "
                "app_platform() AS app_platform")


@pytest.fixture
def two_lenders_committed(app):
    """Lender A: 1 member, 2 accounts; lender B: 2 members, 3 accounts. Committed, as a pool's other clients see."""
    from tests.factories import Factory

    with app.app_context():
        factory = Factory(db.session)
        a, b = factory.tenant(), factory.tenant()
        factory.user(a)
        for _ in range(2):
            factory.user(b)
            factory.account(a)
        factory.account(b)
        factory.account(b)
        factory.account(b)
        db.session.commit()
        ids = (a.id, b.id)
        db.session.remove()
    return ids


def _counts(connection) -> tuple[int, int]:
    row = connection.execute(COUNTS).one()
    return row.accounts, row.members


def _backend(connection) -> int:
    return connection.execute(text("SELECT pg_backend_pid()")).scalar()


def _untouched_next_transaction(engine, backend: int) -> None:
    """A client that says nothing about its context, as a PgBouncer client after another's transaction: no rows of
    any tenant and nothing left of the previous transaction's settings."""
    with engine.begin() as connection:
        assert _backend(connection) == backend, "the same server connection"
        assert _counts(connection) == (0, 0)
        settings = connection.execute(SETTINGS).one()
        assert (settings.tenant_id or "", settings.tenant_token or "", settings.platform or "") == ("", "", "")
        assert settings.app_tenant is None and settings.app_platform is False


def test_one_server_connection_serves_each_transaction_only_its_own_tenant(app_engine,
                                                                          two_lenders_committed):
    engine, (a, b) = app_engine, two_lenders_committed
    with tenant_scope(a), Session(bind=engine) as session:
        assert _counts(session) == (2, 1)
        backend = _backend(session)
        session.commit()
    with tenant_scope(b), Session(bind=engine) as session:
        assert _backend(session) == backend
        assert _counts(session) == (3, 2)
        session.commit()
    _untouched_next_transaction(engine, backend)


def test_a_transaction_rolled_back_mid_way_leaves_nothing_behind(app_engine, two_lenders_committed):
    engine, (a, _b) = app_engine, two_lenders_committed
    with tenant_scope(a), Session(bind=engine) as session:
        assert _counts(session) == (2, 1)
        backend = _backend(session)
        with pytest.raises(Exception, match="division by zero"):
            session.execute(text("SELECT 1 / 0"))
        session.rollback()
    _untouched_next_transaction(engine, backend)
    with Session(bind=engine) as session:
        assert _counts(session) == (0, 0), "the ORM session of a request without a tenant sees nothing either"


def test_platform_work_ends_with_its_transaction(app_engine, two_lenders_committed):
    engine = app_engine
    with platform_scope("test: pooled platform work"), Session(bind=engine) as session:
        accounts, members = _counts(session)
        assert accounts >= 5 and members >= 3
        backend = _backend(session)
        session.commit()
    _untouched_next_transaction(engine, backend)


def test_a_token_read_in_one_transaction_opens_nothing_in_the_next(app_engine, two_lenders_committed):
    """The next client on the same backend replays the previous transaction's tenant and token: refused, the token
    belongs to the transaction that minted it."""
    engine, (a, _b) = app_engine, two_lenders_committed
    with tenant_scope(a), Session(bind=engine) as session:
        token = session.execute(text("SELECT current_setting('app.tenant_token')")).scalar()
        backend = _backend(session)
        session.commit()
    with engine.begin() as connection:
        assert _backend(connection) == backend
        connection.execute(text("SELECT set_config('app.tenant_id', :t, true), set_config('app.tenant_token', :k, "
                                "true)"), {"t": str(a), "k": token})
        assert _counts(connection) == (0, 0)
