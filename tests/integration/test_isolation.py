"""The ORM lock: tenant criteria from the context, fail closed without one, refuse foreign rows on flush."""
import pytest
from sqlalchemy import select

from tenants.context import platform_scope, tenant_scope
from tenants.errors import TenantIsolationError, WriteRefused
from tenants.tenancy.models import Membership, User


def test_queries_see_only_the_current_tenants_rows(factory, db_session):
    a, b = factory.tenant(), factory.tenant()
    factory.user(a)
    factory.user(b)
    with tenant_scope(a.id):
        rows = db_session.scalars(select(Membership)).all()
    assert {m.tenant_id for m in rows} == {a.id}


def test_get_by_primary_key_of_another_tenant_returns_nothing(factory, db_session):
    a, b = factory.tenant(), factory.tenant()
    _, foreign = factory.user(b)
    foreign_id = foreign.id
    db_session.expunge_all()
    with tenant_scope(a.id):
        assert db_session.get(Membership, foreign_id) is None


def test_tenant_data_without_a_context_fails_closed(factory, db_session):
    factory.user(factory.tenant())
    with pytest.raises(TenantIsolationError):
        db_session.scalars(select(Membership)).all()


def test_people_are_tenant_data_too(factory, db_session):
    """Users are seen through their memberships: without a context even a join through them fails closed."""
    factory.user(factory.tenant())
    with pytest.raises(TenantIsolationError):
        db_session.scalars(select(User).join(Membership, Membership.user_id == User.id)).all()


def test_bulk_update_is_scoped_too(factory, db_session):
    from sqlalchemy import update

    a, b = factory.tenant(), factory.tenant()
    factory.user(a)
    _, foreign = factory.user(b)
    with tenant_scope(a.id):
        db_session.execute(update(Membership).values(role="lender_analyst"))
    with tenant_scope(b.id):
        db_session.refresh(foreign)
        assert foreign.role == "lender_admin"


def test_flush_refuses_a_row_of_another_tenant(factory, db_session):
    a, b = factory.tenant(), factory.tenant()
    user, _ = factory.user(a)
    with tenant_scope(a.id):
        db_session.add(Membership(tenant_id=b.id, user_id=user.id, role="lender_admin"))
        with pytest.raises(WriteRefused):
            db_session.flush()
    db_session.rollback()


def test_flush_refuses_moving_a_row_to_another_tenant(factory, db_session):
    a, b = factory.tenant(), factory.tenant()
    _, membership = factory.user(a)
    with tenant_scope(a.id):
        membership.tenant_id = b.id
        with pytest.raises(WriteRefused):
            db_session.flush()
    db_session.rollback()


def test_new_rows_take_the_context_tenant(factory, db_session):
    a = factory.tenant()
    user, _ = factory.user(factory.tenant())
    with tenant_scope(a.id):
        membership = Membership(user_id=user.id, role="lender_analyst")
        db_session.add(membership)
        db_session.flush()
    assert membership.tenant_id == a.id


def test_platform_context_is_explicit_and_sees_every_tenant(factory, db_session):
    a, b = factory.tenant(), factory.tenant()
    factory.user(a)
    factory.user(b)
    with pytest.raises(ValueError):
        with platform_scope(""):
            pass
    with platform_scope("test: cross-tenant report"):
        tenants = {m.tenant_id for m in db_session.scalars(select(Membership))}
    assert {a.id, b.id} <= tenants
