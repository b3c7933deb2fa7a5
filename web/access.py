"""Who may see a page: members of the URL's tenant only (others get 404), then by role."""
from functools import wraps

from flask import abort, g, session
from flask_login import current_user

from tenants.errors import PermissionDenied, TenantSuspended
from tenants.tenancy.models import Tenant
from web.extensions import login_manager
from web.tenancy import enter_tenant, set_actor


def open_tenant_for_member(tenant: Tenant | None):
    """Before-request body for tenant pages. Anonymous visitors go to the login page whatever the slug,
    so an unknown and a foreign tenant look alike (no existence oracle)."""
    if not session.get("_user_id"):
        return login_manager.unauthorized()
    if tenant is None:
        abort(404)
    enter_tenant(tenant)
    if not current_user.is_authenticated or current_user.membership is None:
        abort(404)
    if not tenant.is_active:
        raise TenantSuspended()
    g.role = current_user.role
    set_actor(f"user:{current_user.id}", current_user.id)
    return None


def require_role(*roles: str):
    def decorator(view):
        @wraps(view)
        def wrapped(*args, **kwargs):
            if g.get("role") not in roles:
                raise PermissionDenied()
            return view(*args, **kwargs)

        return wrapped

    return decorator
