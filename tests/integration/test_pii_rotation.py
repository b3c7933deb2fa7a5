"""Rotating the PII key: every encrypted column is rewritten under the new key; the old key can then go."""
from sqlalchemy import Text, select, type_coerce

from tenants.context import platform_scope, tenant_scope
from tenants.tenancy.models import Invitation, User
from tenants.tenancy.services import invite_user


def test_flask_pii_rotate_rewrites_every_encrypted_value(factory, db_session, rotate_pii_keys):
    tenant = factory.tenant()
    user, _ = factory.user(tenant, email="rotate@example.test")
    with tenant_scope(tenant.id):
        invite_user(tenant=tenant, email="invitee@example.test", role="lender_analyst")
    db_session.flush()
    with platform_scope("test: the stored ciphertext"):
        raw_before = db_session.scalar(select(type_coerce(User.email, Text)).where(User.id == user.id))

    output = rotate_pii_keys()
    assert "users.email:" in output and "invitations.email:" in output

    db_session.expire_all()
    with platform_scope("test: the person and the stored ciphertext"):
        assert db_session.get(User, user.id).email == "rotate@example.test"
        assert db_session.scalar(select(type_coerce(User.email, Text)).where(User.id == user.id)) != raw_before
    with tenant_scope(tenant.id):
        assert [i.email for i in db_session.scalars(select(Invitation))] == ["invitee@example.test"]
