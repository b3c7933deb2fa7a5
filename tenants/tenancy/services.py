"""Tenant lifecycle, invitations, membership and login."""
import hashlib
import secrets
import uuid
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import select

from tenants import audit, clock
from tenants.context import current_tenant_id, platform_scope, tenant_scope
from tenants.db import db, get_visible
from tenants.errors import Conflict, NotFound, PermissionDenied, Unauthenticated, ValidationFailed
from tenants.identifiers import normalize_email
from tenants.pii import blind_index
from tenants.tenancy.models import Invitation, Membership, Tenant, TenantStatus, User
from tenants.tenancy.passwords import hash_password, needs_rehash, verify_password
from tenants.tenancy.roles import ADMIN_ROLE, TenantKind, roles_for
from tenants.tenancy.sessions import end_sessions, end_sessions_of_tenant

INVITATION_LIFETIME = timedelta(days=7)


def _secret_hash(secret: str) -> str:
    # Secrets are 256-bit random, so a fast hash suffices; argon2 is for low-entropy passwords.
    return hashlib.sha256(secret.encode()).hexdigest()


def email_index(email: str) -> str:
    return blind_index("email", normalize_email(email))


def get_tenant(tenant_id: uuid.UUID) -> Tenant:
    """A lender or agency by id, for the platform operator (who reads it past the lock); the platform tenant itself
    is not administered like one. Anyone else gets the same 404 as for a missing id."""
    if db.session.get(Tenant, current_tenant_id()).kind != TenantKind.PLATFORM:
        raise NotFound(code="tenant.not_found")
    with platform_scope("platform console: a tenant by id"):
        tenant = db.session.get(Tenant, tenant_id)
    if tenant is None or tenant.kind == TenantKind.PLATFORM:
        raise NotFound(code="tenant.not_found")
    return tenant


# ---- tenants (platform admins) -------------------------------------------------------------------

def create_tenant(*, kind: str, slug: str, name: str, time_zone: str, locale: str, currency: str,
                  first_admin_email: str, platform_tenant_id: uuid.UUID) -> tuple[Tenant, str]:
    """Create a lender or agency and invite its first admin; returns the tenant and the one-time link secret."""
    with platform_scope("platform console: create a tenant"):
        if db.session.scalar(select(Tenant.id).where(Tenant.slug == slug)):
            raise Conflict(f"The address {slug!r} is taken.", code="tenant.slug_taken",
                           details={"fields": {"slug": ["Already taken."]}})
        tenant = Tenant(kind=kind, slug=slug, name=name, time_zone=time_zone, locale=locale,
                        currency=currency.upper())
        db.session.add(tenant)
        db.session.flush()
    with tenant_scope(tenant.id):
        audit.record("tenant.created", object_type="tenant", object_id=tenant.id, after=_tenant_view(tenant))
        secret = invite_user(tenant=tenant, email=first_admin_email, role=ADMIN_ROLE[TenantKind(kind)])
    with tenant_scope(platform_tenant_id):
        audit.record("tenant.created", object_type="tenant", object_id=tenant.id, after=_tenant_view(tenant))
    return tenant, secret


def set_tenant_status(tenant: Tenant, status: str, *, platform_tenant_id: uuid.UUID, reason: str = "") -> Tenant:
    if tenant.kind == TenantKind.PLATFORM:
        raise PermissionDenied("The platform tenant cannot be suspended.", code="tenant.platform_immutable")
    if status not in (TenantStatus.ACTIVE, TenantStatus.SUSPENDED):
        raise ValidationFailed(code="tenant.bad_status")
    before = {"status": tenant.status}
    with platform_scope("platform console: suspend or reactivate a tenant"):
        tenant.status = status
        db.session.flush()
    if status == TenantStatus.SUSPENDED:
        end_sessions_of_tenant(tenant.id)
    action = "tenant.suspended" if status == TenantStatus.SUSPENDED else "tenant.reactivated"
    for scope in (tenant.id, platform_tenant_id):
        with tenant_scope(scope):
            audit.record(action, object_type="tenant", object_id=tenant.id, before=before,
                         after={"status": status, "reason": reason})
    return tenant


def _tenant_view(tenant: Tenant) -> dict:
    return {"kind": tenant.kind, "slug": tenant.slug, "name": tenant.name, "status": tenant.status,
            "time_zone": tenant.time_zone, "locale": tenant.locale, "currency": tenant.currency}


# ---- invitations -----------------------------------------------------------------------------------

def invite_user(*, tenant: Tenant, email: str, role: str, invited_by: uuid.UUID | None = None) -> str:
    """Runs in the tenant's context. Returns the secret for the one-time link (never stored)."""
    if role not in roles_for(tenant.kind):
        raise ValidationFailed(f"{role} is not a role of a {tenant.kind}.", code="membership.bad_role",
                               details={"fields": {"role": ["Not a role of this organisation."]}})
    email = normalize_email(email)
    secret = secrets.token_urlsafe(32)
    invitation = Invitation(
        tenant_id=tenant.id, token_hash=_secret_hash(secret), email_index=email_index(email), email=email,
        role=role, invited_by_user_id=invited_by, expires_at=clock.now() + INVITATION_LIFETIME,
    )
    db.session.add(invitation)
    db.session.flush()
    audit.record("invitation.created", object_type="invitation", object_id=invitation.id,
                 after={"role": role, "email_index": invitation.email_index})
    return secret


def open_invitation(secret: str) -> Invitation:
    with platform_scope("invitation lookup by one-time secret"):
        invitation = db.session.scalar(select(Invitation).where(Invitation.token_hash == _secret_hash(secret)))
    if invitation is None or invitation.accepted_at or invitation.revoked_at:
        raise NotFound("This invitation link is not valid or was already used.", code="invitation.invalid")
    if invitation.expires_at <= clock.now():
        raise NotFound("This invitation link has expired. Ask for a new one.", code="invitation.expired")
    return invitation


def accept_invitation(secret: str, *, name: str, password: str) -> tuple[User, Tenant]:
    """New people set a name and password; an existing user proves the password they already have."""
    invitation = open_invitation(secret)
    with platform_scope("invitation: the person accepting it, by email, not yet a member"):
        user = db.session.scalar(select(User).where(User.email_index == invitation.email_index))
        if user is None:
            user = User(email_index=invitation.email_index, email=invitation.email, name=name,
                        password_hash=hash_password(password), locale=invitation.tenant.locale)
            db.session.add(user)
            db.session.flush()
        elif not verify_password(user.password_hash, password):
            raise Unauthenticated("This email already has an account: enter its current password.",
                                  code="invitation.password_mismatch")
    with tenant_scope(invitation.tenant_id):
        membership = db.session.scalar(select(Membership).where(Membership.user_id == user.id))
        if membership is None:
            membership = Membership(tenant_id=invitation.tenant_id, user_id=user.id, role=invitation.role)
            db.session.add(membership)
        elif (membership.role, membership.is_active) != (invitation.role, True):
            membership.role, membership.is_active = invitation.role, True
            end_sessions([user.id])
        invitation.accepted_at = clock.now()
        db.session.flush()
        with audit.acting_as(audit.Actor(label=f"user:{user.id}", user_id=user.id)):
            audit.record("invitation.accepted", object_type="membership", object_id=membership.id,
                         after={"role": membership.role})
    return user, invitation.tenant


# ---- members -----------------------------------------------------------------------------------------

def list_members() -> list[Membership]:
    return list(db.session.scalars(select(Membership).order_by(Membership.created_at)))


def get_member(membership_id: uuid.UUID) -> Membership:
    membership = get_visible(Membership, membership_id, "membership.not_found")
    return membership


def set_member_active(membership: Membership, active: bool, *, by_user_id: uuid.UUID) -> Membership:
    if membership.user_id == by_user_id and not active:
        raise Conflict("You cannot deactivate yourself.", code="membership.self")
    before = {"is_active": membership.is_active}
    if membership.is_active != active:
        membership.is_active = active
        end_sessions([membership.user_id])
    audit.record("membership.activated" if active else "membership.deactivated", object_type="membership",
                 object_id=membership.id, before=before, after={"is_active": active})
    return membership


# ---- login ----------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class MembershipView:
    membership_id: uuid.UUID
    tenant_id: uuid.UUID
    tenant_slug: str
    tenant_name: str
    tenant_kind: str
    tenant_status: str
    role: str


def authenticate(email: str, password: str) -> User:
    try:
        index = email_index(email)
    except ValidationFailed:
        verify_password(None, password)
        raise Unauthenticated("Wrong email or password.", code="auth.invalid_credentials") from None
    with platform_scope("login: the person with this email, before any tenant is chosen"):
        user = db.session.scalar(select(User).where(User.email_index == index))
        if user is None or not user.is_active or not verify_password(user.password_hash, password):
            raise Unauthenticated("Wrong email or password.", code="auth.invalid_credentials")
        if needs_rehash(user.password_hash):
            user.password_hash = hash_password(password)
        user.last_login_at = clock.now()
        db.session.flush()
    return user


def change_password(user: User, *, current: str, new: str) -> None:
    """Ends every session of the user; the caller logs the person back in where they made the change."""
    if not verify_password(user.password_hash, current):
        raise Unauthenticated("The current password is wrong.", code="auth.wrong_password",
                              details={"fields": {"current_password": ["Wrong password."]}})
    with platform_scope("password change: the logged-in person's own row"):
        user.password_hash = hash_password(new)
        db.session.flush()
    end_sessions([user.id])


def memberships_of(user_id: uuid.UUID) -> list[MembershipView]:
    """Every active membership of a user, across tenants: for the tenant switcher only."""
    with platform_scope("tenant switcher: memberships of the logged-in user"):
        rows = db.session.scalars(
            select(Membership).where(Membership.user_id == user_id, Membership.is_active.is_(True))
        ).all()
        return sorted(
            (MembershipView(m.id, m.tenant_id, m.tenant.slug, m.tenant.name, m.tenant.kind, m.tenant.status, m.role)
             for m in rows),
            key=lambda v: (v.tenant_kind != TenantKind.PLATFORM, v.tenant_name),
        )


def membership_in_current_tenant(user_id: uuid.UUID) -> Membership | None:
    """Runs in the tenant context of the URL: a user of another tenant simply is not found."""
    return db.session.scalar(
        select(Membership).where(Membership.user_id == user_id, Membership.is_active.is_(True))
    )
