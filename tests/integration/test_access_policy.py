"""The one declaration (tenants/access_policy.py) against the live database, and the platform lock the app role
cannot lift."""

import pytest
from sqlalchemy import text

from tenants import access_policy, database_lock
from tenants.context import platform_scope, tenant_scope
from tenants.db import db
from tenants.portfolios.models import Account
from tests.conftest import act_as

POLICY_SQL = ("SELECT tablename, policyname, cmd, qual, with_check FROM pg_policies "
              "WHERE schemaname = current_schema() ORDER BY 1, 2")
TABLE_SQL = ("SELECT relname, relrowsecurity, relforcerowsecurity FROM pg_class "
             "WHERE relkind = 'r' AND relnamespace = current_schema()::regnamespace")


def test_every_mapped_table_is_declared(app):
    mapped = {mapper.local_table.name for mapper in db.Model.registry.mappers}
    undeclared = mapped - set(access_policy.declared_tables()) - set(access_policy.SEALED)
    assert undeclared == set(), f"declare who sees these in tenants/access_policy.py: {sorted(undeclared)}"


@pytest.mark.postgres
def test_live_policies_are_exactly_the_declaration(owner_engine):
    """Regenerating the policies from the declaration (rolled back) changes nothing: the live database is the
    declaration, normalised by PostgreSQL the same way."""
    with owner_engine.connect() as connection:
        live_policies = connection.execute(text(POLICY_SQL)).all()
        live_tables = {row.relname: (row.relrowsecurity, row.relforcerowsecurity)
                       for row in connection.execute(text(TABLE_SQL))}
        connection.rollback()
        transaction = connection.begin()
        database_lock.sync_policies(connection)
        declared_policies = connection.execute(text(POLICY_SQL)).all()
        transaction.rollback()
    assert live_policies == declared_policies
    assert {row.policyname for row in live_policies} == {"read", "insert", "update", "delete"}
    assert {row.tablename for row in live_policies} == set(access_policy.declared_tables())

    unlisted = set(live_tables) - set(access_policy.declared_tables()) - set(access_policy.SEALED) \
        - set(access_policy.UNSCOPED)
    assert unlisted == set(), f"tables outside the declaration: {sorted(unlisted)}"
    for table in access_policy.declared_tables():
        assert live_tables[table] == (True, True), f"{table} must ENABLE and FORCE row-level security"
    for table in access_policy.SEALED:
        assert live_tables[table] == (True, False), f"{table} is sealed: RLS on, not forced, no policy"


@pytest.mark.postgres
def test_a_setting_alone_neither_lifts_the_lock_nor_poses_as_another_tenant(app_engine, placed_committed):
    """What an SQL injection under the app role could try: name the lender, or claim platform work."""
    lender, agency, other_agency, objects = placed_committed
    with app_engine.begin() as connection:
        connection.execute(text("SELECT set_config('app.tenant_id', :t, true), set_config('app.platform', 'on', true)"),
                           {"t": str(lender)})
        assert connection.execute(text("SELECT count(*) FROM accounts")).scalar() == 0
        assert connection.execute(text("SELECT count(*) FROM tenants")).scalar() == 0


@pytest.mark.postgres
def test_a_tenant_token_read_in_one_transaction_opens_nothing_for_another_tenant(app_engine, placed_committed):
    lender, agency, other_agency, objects = placed_committed
    with app_engine.begin() as connection:
        act_as(connection, agency)
        token = connection.execute(text("SELECT current_setting('app.tenant_token')")).scalar()
        assert objects["account_id"] in set(connection.scalars(text("SELECT id FROM accounts")))
        connection.execute(text("SELECT set_config('app.tenant_id', :t, true)"), {"t": str(lender)})
        assert connection.execute(text("SELECT count(*) FROM accounts")).scalar() == 0
    with app_engine.begin() as connection:
        connection.execute(text("SELECT set_config('app.tenant_id', :t, true), set_config('app.tenant_token', :k, "
                                "true)"), {"t": str(agency), "k": token})
        assert connection.execute(text("SELECT count(*) FROM accounts")).scalar() == 0


@pytest.mark.postgres
def test_a_wrong_platform_key_is_refused_and_the_key_table_is_sealed(app_engine):
    with app_engine.connect() as connection:
        with pytest.raises(Exception) as refused:
            connection.execute(text("SELECT app_enter_platform('guessed')"))
        assert "database lock key refused" in str(refused.value)
        connection.rollback()
        with pytest.raises(Exception) as sealed:
            connection.execute(text("SELECT key_hash, token_salt FROM platform_keys"))
        assert "permission denied" in str(sealed.value)


@pytest.mark.postgres
def test_a_temporary_table_cannot_stand_in_for_the_platform_key(app_engine):
    """The app role may create temporary tables; a look-alike of the key table must not mint a platform token."""
    with app_engine.connect() as connection:
        connection.execute(text("CREATE TEMP TABLE platform_keys (id int, key_hash bytea, token_salt text)"))
        connection.execute(text("GRANT ALL ON pg_temp.platform_keys TO PUBLIC"))
        connection.execute(text("INSERT INTO pg_temp.platform_keys VALUES (1, sha256('mine'::bytea), 'salt')"))
        with pytest.raises(Exception) as refused:
            connection.execute(text("SELECT app_enter_platform('mine')"))
        assert "database lock key refused" in str(refused.value)
        connection.rollback()


@pytest.mark.postgres
def test_every_security_definer_function_searches_temporary_tables_last(app_engine):
    """Otherwise a temporary `conduct_ledger` of the app role's would take the per-person counts."""
    with app_engine.connect() as connection:
        unpinned = connection.scalars(text(
            "SELECT p.proname FROM pg_proc p WHERE p.pronamespace = 'public'::regnamespace AND p.prosecdef "
            "AND NOT coalesce('search_path=pg_catalog, public, pg_temp' = ANY (p.proconfig), false)")).all()
    assert unpinned == []


@pytest.mark.postgres
def test_a_platform_token_read_in_one_transaction_is_worthless_in_the_next(app, app_engine, placed_committed):
    """An injection into platform work could read the setting; it opens nothing afterwards."""
    lender, *_ = placed_committed
    with app_engine.begin() as connection:
        connection.execute(text("SELECT app_enter_platform(:key)"), {"key": app.config["DB_LOCK_KEY"]})
        token = connection.execute(text("SELECT current_setting('app.platform')")).scalar()
        assert connection.execute(text("SELECT count(*) FROM tenants WHERE id = :l"), {"l": lender}).scalar() == 1
    with app_engine.begin() as connection:
        connection.execute(text("SELECT set_config('app.platform', :token, true)"), {"token": token})
        assert connection.execute(text("SELECT count(*) FROM tenants WHERE id = :l"), {"l": lender}).scalar() == 0


@pytest.mark.postgres
def test_users_and_tenants_are_seen_as_the_policy_says(app_engine, placed_committed):
    lender, agency, other_agency, _ = placed_committed
    with app_engine.begin() as connection:
        act_as(connection, agency)
        seen = set(connection.scalars(text("SELECT id FROM tenants")))
        members = set(connection.scalars(text("SELECT m.user_id FROM memberships m")))
        users = set(connection.scalars(text("SELECT id FROM users")))
    assert seen == {agency, lender}, "an agency sees itself and the lender it works for, not other agencies"
    assert users == members


def test_the_identity_map_never_hands_a_platform_loaded_row_to_another_tenant(factory, db_session):
    lender, stranger = factory.tenant("lender"), factory.tenant("agency")
    account_id = factory.account(lender).id
    db.session.expunge_all()
    with platform_scope("test: a platform report reads the account"):
        assert db.session.get(Account, account_id) is not None
    with tenant_scope(stranger.id):
        assert db.session.get(Account, account_id) is None
    with tenant_scope(lender.id):
        assert db.session.get(Account, account_id) is not None
