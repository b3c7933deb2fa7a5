"""Template helpers: translated labels, the tenant switcher, local times, the billing delinquency banner."""
from zoneinfo import ZoneInfo

from flask import Flask, g
from flask_babel import format_datetime, get_locale
from flask_babel import lazy_gettext as _l
from flask_login import current_user

from tenants.billing.reports import delinquency
from tenants.capabilities import Capability
from tenants.tenancy.roles import TenantKind
from tenants.tenancy.services import memberships_of
from web.access import allowed
from web.auth.views import landing_url

ROLE_LABELS = {
    "platform_admin": _l("Platform admin"),
    "lender_admin": _l("Lender admin"),
    "lender_manager": _l("Lender manager"),
    "lender_analyst": _l("Lender analyst"),
    "agency_admin": _l("Agency admin"),
    "agency_supervisor": _l("Agency supervisor"),
    "agency_collector": _l("Collector"),
}
KIND_LABELS = {"platform": _l("Platform"), "lender": _l("Lender"), "agency": _l("Agency")}
STATUS_LABELS = {"active": _l("active"), "suspended": _l("suspended")}


def _tenant_switcher():
    if not current_user.is_authenticated:
        return []
    if "switcher" not in g:
        g.switcher = memberships_of(current_user.id)
    return g.switcher


def _billing_delinquency():
    """The current lender's or agency's delinquency for the banner of every page: one indexed read per request,
    and only once membership is established (g.role), so a foreign tenant's 404 page reveals nothing."""
    if "billing_delinquency" not in g:
        tenant = g.get("tenant")
        member = g.get("role") is not None and tenant is not None
        g.billing_delinquency = (delinquency(tenant.id)
                                 if member and tenant.kind in (TenantKind.LENDER, TenantKind.AGENCY) else None)
    return g.billing_delinquency


def _localtime(value):
    if value is None:
        return ""
    zone = ZoneInfo(g.tenant.time_zone) if g.get("tenant") is not None else ZoneInfo("UTC")
    return format_datetime(value.astimezone(zone), "medium", rebase=False) + " " + zone.key


def init_app(app: Flask) -> None:
    app.jinja_env.filters["localtime"] = _localtime

    @app.context_processor
    def _helpers():
        locale = get_locale()
        return {
            "current_locale": str(locale) if locale else "en",
            "can": lambda capability: allowed(Capability(capability)),
            "tenant_switcher": _tenant_switcher,
            "billing_delinquency": _billing_delinquency,
            "landing_url": landing_url,
            "role_label": lambda role: ROLE_LABELS.get(role, role),
            "kind_label": lambda kind: KIND_LABELS.get(kind, kind),
            "status_label": lambda status: STATUS_LABELS.get(status, status),
        }
