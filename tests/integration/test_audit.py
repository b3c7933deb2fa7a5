"""The audit trail is append-only and hash-chained; tampering is found and named."""
import pytest
from sqlalchemy import create_engine, select, text
from sqlalchemy.exc import DBAPIError

from tenants import audit
from tenants.audit import AuditEvent, verify_chain
from tenants.context import tenant_scope
from tenants.db import db


def _events(factory, n=4):
    tenant = factory.tenant()
    with tenant_scope(tenant.id):
        for i in range(n):
            audit.record("thing.changed", object_type="thing", object_id=i, before={"v": i}, after={"v": i + 1})
    return tenant


def test_each_event_links_to_the_previous_one(factory, db_session):
    tenant = _events(factory)
    with tenant_scope(tenant.id):
        events = db_session.scalars(select(AuditEvent).order_by(AuditEvent.seq)).all()
        assert [e.seq for e in events] == [1, 2, 3, 4]
        assert events[0].prev_hash == audit.GENESIS
        assert all(later.prev_hash == earlier.hash for earlier, later in zip(events, events[1:]))
        assert verify_chain(tenant.id).ok


def test_chains_are_per_tenant(factory, db_session):
    a, b = _events(factory, 2), _events(factory, 3)
    with tenant_scope(a.id):
        assert verify_chain(a.id).checked == 2
    with tenant_scope(b.id):
        assert verify_chain(b.id).checked == 3


def test_updates_and_deletes_are_refused_by_the_database(factory, db_session, app):
    tenant = _events(factory, 1)
    for statement in ("UPDATE audit_events SET action = 'forged'", "DELETE FROM audit_events"):
        with tenant_scope(tenant.id):
            savepoint = db_session.begin_nested()
            with pytest.raises(DBAPIError) as exc:
                db_session.execute(text(statement + " WHERE tenant_id = :t"), {"t": _db_id(db_session, tenant.id)})
            savepoint.rollback()
        assert "append-only" in str(exc.value)


def _db_id(db_session, tenant_id):
    return tenant_id if db_session.get_bind().dialect.name == "postgresql" else tenant_id.hex


@pytest.fixture
def committed_chain(app):
    """Tampering happens on another connection, so these events are really committed."""
    from tests.factories import Factory

    with app.app_context():
        tenant = _events(Factory(db.session), 5)
        db.session.commit()
        ids = (tenant.id, tenant.slug)
        db.session.remove()
    return ids


def _tamper(app, tenant_id, sql):
    """What an attacker with DDL rights could do: switch the guard off, edit history, switch it back on."""
    url = app.config["MIGRATION_DATABASE_URL"] or app.config["SQLALCHEMY_DATABASE_URI"]
    owner = create_engine(url)
    with owner.begin() as connection:
        if owner.dialect.name == "postgresql":
            connection.execute(text("SELECT app_enter_platform(:key)"), {"key": app.config["DB_LOCK_KEY"]})
            connection.execute(text("ALTER TABLE audit_events DISABLE TRIGGER audit_events_no_update"))
            connection.execute(text(sql), {"t": tenant_id})
            connection.execute(text("ALTER TABLE audit_events ENABLE TRIGGER audit_events_no_update"))
        else:
            triggers = connection.execute(text(
                "SELECT name, sql FROM sqlite_master WHERE type = 'trigger' AND tbl_name = 'audit_events'")).all()
            for name, _ in triggers:
                connection.execute(text(f"DROP TRIGGER {name}"))
            connection.execute(text(sql), {"t": tenant_id.hex})
            for _, create in triggers:
                connection.execute(text(create))
    owner.dispose()


def test_verify_reports_the_first_broken_link_after_tampering(app, committed_chain):
    tenant_id, _ = committed_chain
    _tamper(app, tenant_id, "UPDATE audit_events SET after = '{\"v\": 99}' WHERE tenant_id = :t AND seq = 3")
    with app.app_context(), tenant_scope(tenant_id):
        report = verify_chain(tenant_id)
    assert not report.ok
    assert report.first_broken_seq == 3
    assert report.checked == 2


def test_flask_audit_verify_names_the_broken_tenant_and_fails(app, committed_chain):
    tenant_id, slug = committed_chain
    runner = app.test_cli_runner()
    result = runner.invoke(args=["audit", "verify", "--tenant", slug])
    assert result.exit_code == 0 and f"ok      {slug}: 5 events" in result.output
    _tamper(app, tenant_id, "DELETE FROM audit_events WHERE tenant_id = :t AND seq = 2")
    result = runner.invoke(args=["audit", "verify", "--tenant", slug])
    assert result.exit_code == 1
    assert "first broken link at event 2 (event 2 is missing)" in result.output


def _version_one_events(tenant, n):
    """Events as written before migration 0014: the hash covers the whole event's canonical JSON, link included."""
    previous = audit.GENESIS
    with tenant_scope(tenant.id):
        for seq in range(1, n + 1):
            event = audit.unlinked("legacy.changed", object_type="thing", object_id=seq, after={"v": seq})
            event.seq, event.prev_hash, event.hash_version = seq, previous, 1
            event.hash = previous = event.compute_hash()
            db.session.add(event)
        db.session.flush()


def test_events_hashed_before_the_database_linked_them_stay_verifiable(app):
    """Version-1 events keep their hash; new ones link onto them with version 2, and tampering with an old one is
    still found."""
    from tests.factories import Factory

    with app.app_context():
        tenant = Factory(db.session).tenant()
        _version_one_events(tenant, 3)
        with tenant_scope(tenant.id):
            audit.record("thing.changed", object_type="thing", object_id=4, after={"v": "四"})
        db.session.commit()
        tenant_id = tenant.id
        db.session.remove()
    with app.app_context(), tenant_scope(tenant_id):
        versions = db.session.scalars(select(AuditEvent.hash_version).order_by(AuditEvent.seq)).all()
        assert versions == [1, 1, 1, audit.HASH_VERSION]
        assert verify_chain(tenant_id) == audit.ChainReport(ok=True, checked=4)
    _tamper(app, tenant_id, "UPDATE audit_events SET after = '{\"v\": 99}' WHERE tenant_id = :t AND seq = 2")
    with app.app_context(), tenant_scope(tenant_id):
        report = verify_chain(tenant_id)
    assert (report.ok, report.first_broken_seq) == (False, 2)
