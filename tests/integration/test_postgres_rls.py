"""The database lock: row-level security binds the application role even for raw SQL."""
import uuid

import pytest
from sqlalchemy import text

from tenants import audit
from tenants.context import platform_scope, tenant_scope
from tenants.db import db
from tests.conftest import act_as

pytestmark = pytest.mark.postgres


@pytest.fixture
def two_tenants_committed(app):
    """RLS is about what other connections see, so this data is really committed."""
    from tests.factories import Factory

    with app.app_context():
        factory = Factory(db.session)
        a, b = factory.tenant(), factory.tenant()
        factory.user(a)
        factory.user(b)
        for tenant in (a, b):
            with tenant_scope(tenant.id):
                audit.record("test.event", object_type="tenant", object_id=tenant.id)
        db.session.commit()
        ids = (a.id, b.id)
        db.session.remove()
    return ids


def _rows(connection, table="memberships"):
    return {row.tenant_id for row in connection.execute(text(f"SELECT tenant_id FROM {table}"))}


def test_app_role_owns_nothing_and_cannot_bypass_rls(app_engine):
    with app_engine.connect() as connection:
        flags = connection.execute(text(
            "SELECT rolsuper, rolbypassrls FROM pg_roles WHERE rolname = current_user")).one()
        owned = connection.execute(text(
            "SELECT count(*) FROM pg_tables WHERE schemaname = 'public' AND tableowner = current_user")).scalar()
    assert tuple(flags) == (False, False)
    assert owned == 0


def test_raw_sql_sees_only_the_tenant_set_for_the_transaction(app_engine, two_tenants_committed):
    a, b = two_tenants_committed
    with app_engine.begin() as connection:
        act_as(connection, a)
        assert _rows(connection) == {a}
        assert _rows(connection, "audit_events") <= {a}


def test_raw_sql_without_a_tenant_sees_no_tenant_rows(app_engine, two_tenants_committed):
    with app_engine.begin() as connection:
        assert _rows(connection) == set()


def test_raw_insert_for_another_tenant_is_refused(app_engine, two_tenants_committed):
    a, b = two_tenants_committed
    with app_engine.connect() as connection:
        transaction = connection.begin()
        act_as(connection, a)
        user_id = connection.execute(text("SELECT user_id FROM memberships LIMIT 1")).scalar()
        with pytest.raises(Exception) as exc:
            connection.execute(text(
                "INSERT INTO memberships (id, tenant_id, user_id, role, is_active, created_at) "
                "VALUES (:id, :t, :u, 'lender_admin', true, now())"), {"id": uuid.uuid4(), "t": b, "u": user_id})
        assert "row-level security" in str(exc.value)
        transaction.rollback()


def test_a_pooled_connection_never_carries_one_tenants_setting_into_the_next_transaction(
        app_engine, two_tenants_committed):
    a, _ = two_tenants_committed
    with app_engine.begin() as connection:
        act_as(connection, a)
        first_pid = connection.execute(text("SELECT pg_backend_pid()")).scalar()
        assert _rows(connection) == {a}
    with app_engine.begin() as connection:
        assert connection.execute(text("SELECT pg_backend_pid()")).scalar() == first_pid, "same pooled connection"
        assert connection.execute(text("SELECT current_setting('app.tenant_id', true)")).scalar() in ("", None)
        assert _rows(connection) == set()


def test_the_orm_session_sets_the_tenant_per_transaction(app, two_tenants_committed):
    a, b = two_tenants_committed
    with app.app_context():
        with tenant_scope(a):
            assert _rows(db.session.connection()) == {a}
            db.session.commit()
        with tenant_scope(b):
            assert _rows(db.session.connection()) == {b}
            db.session.commit()
        with platform_scope("test: platform sees all"):
            assert {a, b} <= _rows(db.session.connection())
            db.session.commit()
        db.session.remove()


def test_audit_events_are_append_only_even_for_the_owner(app, owner_engine, two_tenants_committed):
    with owner_engine.connect() as connection:
        transaction = connection.begin()
        connection.execute(text("SELECT app_enter_platform(:key)"), {"key": app.config["DB_LOCK_KEY"]})
        with pytest.raises(Exception) as exc:
            connection.execute(text("UPDATE audit_events SET action = 'forged'"))
        assert "append-only" in str(exc.value)
        transaction.rollback()


def test_raw_sql_shows_an_agency_only_the_accounts_it_actively_holds(app_engine, placed_committed):
    lender_id, agency_id, other_agency_id, objects = placed_committed

    def visible(tenant_id, table):
        with app_engine.begin() as connection:
            act_as(connection, tenant_id)
            return {row[0] for row in connection.execute(text(f"SELECT id FROM {table}"))}

    assert objects["account_id"] in visible(agency_id, "accounts")
    assert visible(other_agency_id, "accounts") == set()
    assert visible(other_agency_id, "account_phones") == set()
    assert objects["placement_id"] in visible(agency_id, "placements")
    assert visible(other_agency_id, "placements") == set()
    assert visible(agency_id, "import_jobs") == set(), "imports stay the lender's"
    with app_engine.begin() as connection:
        act_as(connection, agency_id)
        # The agency sees the account but the write rule is the lender's: the UPDATE finds no row it may change.
        changed = connection.execute(text("UPDATE accounts SET principal_minor = 0 WHERE id = :id"),
                                     {"id": objects["account_id"]})
        assert changed.rowcount == 0
    with app_engine.begin() as connection:
        act_as(connection, lender_id)
        connection.execute(text("UPDATE placements SET status = 'recalled' WHERE id = :id"),
                           {"id": objects["placement_id"]})
    assert visible(agency_id, "accounts") == set(), "after a recall the agency loses the account"
    assert objects["placement_id"] in visible(agency_id, "placements"), "but keeps its placement history"


def test_raw_sql_shows_conduct_rows_to_the_maker_and_the_lender_only(app_engine, placed_committed):
    """Attempts: the agency that made them and the account's lender. Approval requests and complaints: the
    lender and the agency concerned. Nobody else, whatever SQL it runs."""
    lender_id, agency_id, other_agency_id, objects = placed_committed

    def visible(tenant_id, table):
        with app_engine.begin() as connection:
            act_as(connection, tenant_id)
            return {row[0] for row in connection.execute(text(f"SELECT id FROM {table}"))}

    for table, key in (("contact_attempts", "attempt_id"), ("approval_requests", "approval_id"),
                       ("complaints", "complaint_id")):
        assert objects[key] in visible(lender_id, table), table
        assert objects[key] in visible(agency_id, table), table
        assert objects[key] not in visible(other_agency_id, table), table
    with app_engine.begin() as connection:
        act_as(connection, lender_id)
        with pytest.raises(Exception) as exc:
            connection.execute(text("UPDATE contact_attempts SET outcome_code = 'refused' WHERE id = :id "
                                    "RETURNING id"), {"id": objects["attempt_id"]}).one()
        assert "row-level security" in str(exc.value) or "No row was found" in str(exc.value), \
            "the lender reads its agency's attempts but cannot rewrite them"


@pytest.fixture
def token_hash_committed(app):
    """A committed tenant with an API token, and the hash the API looks the token up by."""
    from tenants.tenancy.tokens import _hash
    from tests.factories import Factory

    with app.app_context():
        factory = Factory(db.session)
        tenant, other = factory.tenant(), factory.tenant()
        _, secret = factory.token(tenant)
        db.session.commit()
        ids = (tenant.id, other.id)
        db.session.remove()
    return ids, _hash(secret)


def _context(connection):
    return tuple(connection.execute(text("SELECT app_tenant(), app_platform()")).one())


def test_the_bearer_lookup_enters_the_tokens_own_tenant_and_nothing_else(app_engine, token_hash_committed):
    """app_enter_bearer resolves a token and enters its tenant in one call: as app_enter_tenant would, with the
    key checked; an unknown token enters nothing, and no call leaves platform work on."""
    from tests.conftest import DB_LOCK_KEY

    (tenant, other), token_hash = token_hash_committed
    lookup = text("SELECT (b.token).tenant_id, (b.tenant).id FROM app_enter_bearer(:hash, :key) b")
    with app_engine.begin() as connection:
        assert tuple(connection.execute(lookup, {"hash": token_hash, "key": DB_LOCK_KEY}).one()) == (tenant, tenant)
        assert _context(connection) == (tenant, False)
        assert {row.id for row in connection.execute(text("SELECT id FROM tenants"))} == {tenant}
    with app_engine.begin() as connection:
        act_as(connection, other)
        assert connection.execute(lookup, {"hash": "0" * 64, "key": DB_LOCK_KEY}).all() == []
        assert _context(connection) == (None, False)
    with app_engine.begin() as connection, pytest.raises(Exception) as refused:
        connection.execute(lookup, {"hash": token_hash, "key": "guessed"})
    assert "database lock key refused" in str(refused.value)
