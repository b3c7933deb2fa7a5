"""Pages of a lender or agency, under /t/<tenant-slug>/."""
from flask import Blueprint, g
from sqlalchemy import select

from tenants.context import platform_scope
from tenants.db import db
from tenants.tenancy.models import Tenant
from tenants.tenancy.roles import TenantKind
from web.access import open_tenant_for_member

bp = Blueprint("tenant", __name__, url_prefix="/t/<tenant_slug>")


@bp.url_value_preprocessor
def _pull_slug(endpoint, values):
    g.tenant_slug = values.pop("tenant_slug", None)


@bp.url_defaults
def _add_slug(endpoint, values):
    if "tenant_slug" not in values and g.get("tenant") is not None:
        values["tenant_slug"] = g.tenant.slug


@bp.before_request
def _open():
    with platform_scope("the tenant named in the URL"):
        tenant = db.session.scalar(
            select(Tenant).where(Tenant.slug == g.tenant_slug, Tenant.kind != TenantKind.PLATFORM)
        )
    return open_tenant_for_member(tenant)


# The view modules register their routes on this blueprint when imported, so they come after it.
from web.tenant import (  # noqa: E402,F401
    accounts,
    agency_views,
    analytics,
    audit_views,
    billing,
    casework_legal,
    casework_money,
    commission,
    compliance,
    conduct_views,
    dashboard,
    exchange,
    mapping,
    members,
    messaging,
    performance,
    placements,
    portal_staff,
    portfolios,
    telephony,
    tokens,
    webhooks,
    worklist,
    workspace,
)
