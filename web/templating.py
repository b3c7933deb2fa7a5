"""Template helpers: translated labels, the tenant switcher, local times, sizes and domain messages, the billing
delinquency banner.

Filters every page uses for what differs by reader: `localtime` (a UTC time in the tenant's zone, or a zone given,
e.g. the debtor's for a rule about the debtor's hours), `filesize` (228 bytes / 228字节), `describe` (a domain
message from its code and parameters, web/domain_messages.py). Amounts: the `money` filter (web/tenant/portfolios.py,
babel's currency format for the reader's locale), dates: `day`."""
from datetime import UTC, datetime
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from babel.units import format_unit
from flask import Flask, g
from flask_babel import format_datetime, format_decimal, get_locale
from flask_babel import lazy_gettext as _l
from flask_login import current_user

from tenants.billing.reports import delinquency
from tenants.capabilities import Capability
from tenants.tenancy.roles import TenantKind
from tenants.tenancy.services import memberships_of
from web.access import allowed
from web.auth.views import landing_url
from web.domain_messages import describe, field_label

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


def _zone(name: str | None) -> ZoneInfo:
    if name:
        try:
            return ZoneInfo(name)
        except (ZoneInfoNotFoundError, ValueError):
            pass
    return ZoneInfo(g.tenant.time_zone) if g.get("tenant") is not None else ZoneInfo("UTC")


def _localtime(value: datetime | None, zone: str | None = None, format: str = "medium") -> str:
    """A stored (UTC) time in the tenant's zone, or in `zone` (an IANA name, e.g. the debtor's), with the zone
    named: the reader may sit elsewhere."""
    if value is None:
        return ""
    if value.tzinfo is None:  # SQLite hands back naive UTC
        value = value.replace(tzinfo=UTC)
    where = _zone(zone)
    return format_datetime(value.astimezone(where), format, rebase=False) + " " + where.key


_SIZE_UNITS = ("digital-kilobyte", "digital-megabyte", "digital-gigabyte")


def _filesize(size: int | None) -> str:
    """228 bytes / 228字节, 3.4 kB, 12 MB — in the reader's locale (1 kB = 1,024 bytes, as the upload limit)."""
    locale = str(get_locale() or "en")
    size = int(size or 0)
    if size < 1024:
        return format_unit(size, "digital-byte", length="long", locale=locale)
    value, unit = size / 1024, _SIZE_UNITS[0]
    for unit in _SIZE_UNITS:
        if value < 1024 or unit == _SIZE_UNITS[-1]:
            break
        value /= 1024
    return format_unit(format_decimal(round(value, 1)), unit, length="short", locale=locale)


def init_app(app: Flask) -> None:
    app.jinja_env.filters["localtime"] = _localtime
    app.jinja_env.filters["filesize"] = _filesize
    app.jinja_env.filters["describe"] = lambda code, params=None, fallback=None: describe(code, params, fallback)
    app.jinja_env.filters["field_label"] = field_label

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
