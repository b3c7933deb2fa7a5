"""API tokens: shown once, stored hashed, bound to one tenant and role, revocable."""
import hashlib
import secrets
import uuid
from datetime import timedelta

from sqlalchemy import select

from tenants import audit, clock
from tenants.context import current_tenant_id, platform_scope
from tenants.db import commit_keeping_state, db, get_visible
from tenants.errors import Unauthenticated, ValidationFailed
from tenants.tenancy.models import ApiToken, Tenant
from tenants.tenancy.roles import roles_for

PREFIX = "rcv_"
# Writing last_used_at on every request would turn every read into a write.
LAST_USED_RESOLUTION = timedelta(minutes=1)


def _hash(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def create_token(*, tenant: Tenant, name: str, role: str, created_by: uuid.UUID | None) -> tuple[ApiToken, str]:
    if role not in roles_for(tenant.kind):
        raise ValidationFailed(f"{role} is not a role of a {tenant.kind}.", code="token.bad_role",
                               details={"fields": {"role": ["Not a role of this organisation."]}})
    secret = PREFIX + secrets.token_urlsafe(32)
    token = ApiToken(tenant_id=current_tenant_id(), name=name, role=role, token_hash=_hash(secret),
                     prefix=secret[:10], created_by_user_id=created_by)
    db.session.add(token)
    db.session.flush()
    audit.record("api_token.created", object_type="api_token", object_id=token.id,
                 after={"name": name, "role": role, "prefix": token.prefix})
    return token, secret


def list_tokens() -> list[ApiToken]:
    return list(db.session.scalars(select(ApiToken).order_by(ApiToken.created_at.desc())))


def get_token(token_id: uuid.UUID) -> ApiToken:
    token = get_visible(ApiToken, token_id, "api_token.not_found")
    return token


def revoke_token(token: ApiToken) -> ApiToken:
    if token.revoked_at is None:
        token.revoked_at = clock.now()
        audit.record("api_token.revoked", object_type="api_token", object_id=token.id,
                     before={"revoked": False}, after={"revoked": True})
    return token


def resolve_bearer(secret: str) -> tuple[ApiToken, Tenant]:
    """The token behind a bearer secret, and its tenant. The tenant is not known yet, hence the platform lookup,
    committed inside the platform scope (leaving the scope then changes no setting of an open transaction) and
    without expiring the two rows the request goes on reading."""
    if not secret.startswith(PREFIX):
        raise Unauthenticated("The bearer token is not valid.", code="auth.invalid_token")
    with platform_scope("API bearer token lookup"):
        token = db.session.scalar(select(ApiToken).where(ApiToken.token_hash == _hash(secret)))
        if token is None or not token.is_active:
            raise Unauthenticated("The bearer token is not valid or was revoked.", code="auth.invalid_token")
        now = clock.now()
        if token.last_used_at is None or now - token.last_used_at >= LAST_USED_RESOLUTION:
            token.last_used_at = now
        tenant = db.session.get(Tenant, token.tenant_id)
        commit_keeping_state()
    return token, tenant
