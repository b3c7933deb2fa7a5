"""Who may see a page: members of the URL's tenant only (others get 404), then by role."""
from functools import wraps

from flask import abort, g, session
from flask_login import current_user

from tenants.capabilities import Capability, can
from tenants.errors import PermissionDenied, TenantSuspended
from tenants.tenancy.models import Tenant
from web.extensions import login_manager
from web.tenancy import enter_tenant, set_actor, set_viewer


def open_tenant_for_member(tenant: Tenant | None):
    """Before-request body for tenant pages. Anonymous visitors go to the login page whatever the slug,
    so an unknown and a foreign tenant look alike (no existence oracle)."""
    if not session.get("_user_id"):
        return login_manager.unauthorized()
    if tenant is None:
        abort(404)
    enter_tenant(tenant)
    if not current_user.is_authenticated:
        return login_manager.unauthorized()  # a revoked session (logout, password change, suspension …)
    if current_user.membership is None:
        abort(404)
    if not tenant.is_active:
        raise TenantSuspended()
    g.role = current_user.role
    set_viewer(current_user.id, g.role)
    set_actor(f"user:{current_user.id}", current_user.id)
    return None


def allowed(capability: Capability) -> bool:
    """Whether the current member or token may do this (for showing a page's buttons and forms)."""
    return can(g.get("role"), capability)


def require_capability(capability: Capability):
    """Pages and API routes alike: the caller's role (a member's, or an API token's) must hold `capability`."""
    def decorator(view):
        @wraps(view)
        def wrapped(*args, **kwargs):
            if not allowed(capability):
                raise PermissionDenied()
            return view(*args, **kwargs)

        wrapped.required_capability = capability
        return wrapped

    return decorator
