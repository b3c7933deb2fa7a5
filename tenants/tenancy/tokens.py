"""API tokens: shown once, stored hashed, bound to one tenant and role, revocable.

A token's role is chosen at creation and is at most its creator's (not above it in the seniority order of the
tenant kind's roles, tenants.tenancy.roles.ROLES_BY_KIND, most senior first). A request with the token acts with
that role and is audited as `token:<id>`. A token made by a person keeps working only while that person is an active
user and an active member of the token's tenant, and never acts above the person's current role (a demoted admin's
tokens are demoted too).
"""
import hashlib
import secrets
import uuid
from dataclasses import dataclass
from datetime import timedelta
from functools import cache

from sqlalchemy import String, column, select, text

from tenants import audit, clock
from tenants.context import (
    TenantContext,
    activate,
    current_tenant_id,
    deactivate,
    entered_by_statement,
    hand_over_to_tenant,
    lock_key,
    statement_timeout,
)
from tenants.db import commit_keeping_state, db, get_visible
from tenants.errors import TenantSuspended, Unauthenticated, ValidationFailed
from tenants.tenancy.models import ApiToken, Membership, Tenant, User
from tenants.tenancy.roles import ROLES_BY_KIND, roles_for

PREFIX = "rcv_"
# Writing last_used_at on every request would turn every read into a write.
LAST_USED_RESOLUTION = timedelta(minutes=1)


def _hash(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def within(role: str, ceiling: str) -> bool:
    """Whether `role` is at most `ceiling`: a role of the same kind of tenant, not more senior. (Not "holds no
    capability the ceiling lacks": some capabilities are traits, e.g. only collectors and supervisors hold cases.)"""
    for roles in ROLES_BY_KIND.values():
        if role in roles and ceiling in roles:
            return roles.index(role) >= roles.index(ceiling)
    return False


def roles_up_to(kind: str, ceiling: str) -> tuple[str, ...]:
    """The roles a token of this kind of tenant may have when made by someone (or a token) with `ceiling`."""
    return tuple(role for role in roles_for(kind) if within(role, ceiling))


def create_token(*, tenant: Tenant, name: str, role: str, created_by: uuid.UUID | None,
                 creator_role: str | None) -> tuple[ApiToken, str]:
    """`creator_role` caps the token's role (None only for tokens the platform itself makes: fixtures, the demo);
    `created_by` is the person accountable for the token (for a token made with a token: that token's person)."""
    if role not in roles_for(tenant.kind):
        raise ValidationFailed(f"{role} is not a role of a {tenant.kind}.", code="token.bad_role",
                               details={"fields": {"role": ["Not a role of this organisation."]}})
    if creator_role is not None and not within(role, creator_role):
        raise ValidationFailed(f"A token's role is at most its creator's ({creator_role}).",
                               code="token.role_above_creator",
                               details={"fields": {"role": ["At most your own role."]}})
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


@dataclass(frozen=True)
class Bearer:
    token: ApiToken
    tenant: Tenant
    role: str  # what the request may do: the token's role, lowered to its creator's current role


def _creator_role():
    """The creator's current role in the token's tenant, for the token row of the same statement; NULL when the
    creator is suspended or no longer a member (then the token stops working)."""
    return (select(Membership.role).join(User, User.id == Membership.user_id)
            .where(Membership.tenant_id == ApiToken.tenant_id, Membership.user_id == ApiToken.created_by_user_id,
                   Membership.is_active.is_(True), User.is_active.is_(True))
            .correlate(ApiToken).scalar_subquery())


def enter_bearer(secret: str):
    """Resolve a bearer secret and enter its tenant's context in the request's own transaction: the token, its
    tenant and its creator's role in one platform read (the tenant is not known before it), then straight on to the
    tenant — on PostgreSQL all in one call, `app_enter_bearer` (tenants.database_lock). Returns the Bearer and the
    context token `tenants.context.deactivate` needs."""
    if not secret.startswith(PREFIX):
        raise Unauthenticated("The bearer token is not valid.", code="auth.invalid_token")
    platform = activate(TenantContext(tenant_id=None, platform_reason="API bearer token lookup"))
    try:
        bearer = _resolve(secret)
    except BaseException:
        deactivate(platform)  # the open transaction leaves the tenant the lookup may have entered
        raise
    return bearer, hand_over_to_tenant(platform, bearer.tenant)


def _lookup(token_hash: str):
    """(token, tenant, creator role) for a token hash, or None. On PostgreSQL the transaction then acts for the
    token's tenant: `app_enter_bearer` checks DB_LOCK_KEY, reads as the platform and enters the tenant."""
    if db.session.get_bind().dialect.name != "postgresql":
        return db.session.execute(select(ApiToken, Tenant, _creator_role())
                                  .join(Tenant, Tenant.id == ApiToken.tenant_id)
                                  .where(ApiToken.token_hash == token_hash)).first()
    timeout = statement_timeout()
    parameters = {} if timeout is None else {"statement_timeout": timeout}
    with entered_by_statement():
        return db.session.execute(_bearer_statement(timed=timeout is not None),
                                  {"token_hash": token_hash, "key": lock_key(), **parameters}).first()


@cache
def _bearer_statement(timed: bool):
    """Built once: the ORM computes a statement's cache key on each execution of a new one (every API request)."""
    return select(ApiToken, Tenant, column("creator_role", String)).from_statement(_bearer_sql(timed))


def _bearer_sql(timed: bool = False):
    """app_enter_bearer's row, column by column as the models map them (the composite columns named, not expanded
    with *, so the order is the models' whatever order the table's columns were added in). `timed`: the same
    statement also sets the web transactions' statement timeout (SET LOCAL), as entering a context does elsewhere
    (tenants.context), in the same round trip."""
    token_columns, tenant_columns = ApiToken.__table__.c, Tenant.__table__.c
    names = ([f"(b.token).{c.name}" for c in token_columns] + [f"(b.tenant).{c.name}" for c in tenant_columns]
             + ["b.creator_role"])
    timeout = (", LATERAL (SELECT set_config('statement_timeout', :statement_timeout, true)) AS timed"
               if timed else "")
    return (text(f"SELECT {', '.join(names)} FROM app_enter_bearer(:token_hash, :key) b{timeout}")
            .columns(*token_columns, *tenant_columns, column("creator_role", String)))



def _resolve(secret: str) -> Bearer:
    found = _lookup(_hash(secret))
    if found is None or not found[0].is_active:
        raise Unauthenticated("The bearer token is not valid or was revoked.", code="auth.invalid_token")
    token, tenant, creator_role = found
    role = token.role
    if token.created_by_user_id is not None:
        if creator_role is None:
            raise Unauthenticated("The person who made this token is no longer an active member; ask an "
                                  "admin for a new token.", code="auth.token_creator_inactive")
        if not within(role, creator_role):
            role = creator_role
    if not tenant.is_active:
        raise TenantSuspended()
    now = clock.now()
    if token.last_used_at is None or now - token.last_used_at >= LAST_USED_RESOLUTION:
        # Committed at once (at most once a minute per token): a request that only reads never commits.
        token.last_used_at = now
        commit_keeping_state()
    return Bearer(token, tenant, role)
