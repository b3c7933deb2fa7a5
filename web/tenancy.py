"""Per-request tenant context: entered by the blueprint that resolved the tenant, left at teardown."""
from flask import Flask, g

from tenants import audit
from tenants.casework import own_cases
from tenants.context import TenantContext, activate, deactivate
from tenants.tenancy.models import Tenant


def enter_tenant(tenant: Tenant) -> None:
    entered_tenant(tenant, activate(TenantContext(tenant_id=tenant.id)))


def entered_tenant(tenant: Tenant, context_token) -> None:
    """A tenant context entered elsewhere (the bearer lookup hands over to it), left at teardown like any other."""
    g.tenant = tenant
    g.context_token = context_token


def set_actor(label: str, user_id=None) -> None:
    g.actor_token = audit.set_actor(audit.Actor(label=label, user_id=user_id))


def set_viewer(user_id, role: str) -> None:
    """Whose cases the request may open (an agency may keep collectors to their own: tenants.casework.own_cases)."""
    g.viewer_token = own_cases.set_viewer(user_id, role)


def _leave(_exc=None) -> None:
    viewer_token = g.pop("viewer_token", None)
    if viewer_token is not None:
        own_cases.reset_viewer(viewer_token)
    actor_token = g.pop("actor_token", None)
    if actor_token is not None:
        audit.reset_actor(actor_token)
    context_token = g.pop("context_token", None)
    if context_token is not None:
        deactivate(context_token)


def init_app(app: Flask) -> None:
    app.teardown_request(_leave)
