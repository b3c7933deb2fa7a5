"""Which rulebook preset is a lender's baseline. The platform assigns it (a lender could otherwise pick a looser
jurisdiction); until assigned, the lender's currency decides (CNY → cn, USD → us, GBP → uk, INR → in, EUR → ie)."""
import uuid

from tenants import audit
from tenants.conduct.presets import PRESETS, preset
from tenants.context import platform_scope, tenant_scope
from tenants.db import db
from tenants.errors import ValidationFailed
from tenants.tenancy.models import Tenant

BY_CURRENCY = {"CNY": "cn", "USD": "us", "GBP": "uk", "INR": "in", "EUR": "ie"}
SETTING = "conduct_baseline"


def baseline_of(lender: Tenant) -> str:
    return (lender.settings or {}).get(SETTING) or BY_CURRENCY.get(lender.currency, "cn")


def assign(lender: Tenant, code: str, *, platform_tenant_id: uuid.UUID) -> str:
    """Called from the platform console (platform admins only); audited in the lender's and the platform's chains.
    Parameters a lender tightened per placement stay tightened: they apply on top of the new baseline."""
    if code not in PRESETS:
        raise ValidationFailed(details={"fields": {"baseline": [f"One of {', '.join(PRESETS)}."]}})
    if lender.kind != "lender":
        raise ValidationFailed("Only lenders have a conduct baseline.", code="conduct.baseline_lenders_only")
    before = baseline_of(lender)
    with platform_scope("platform console: a lender's conduct baseline"):
        lender.settings = {**(lender.settings or {}), SETTING: code}
        db.session.flush()
    for scope in (lender.id, platform_tenant_id):
        with tenant_scope(scope):
            audit.record("conduct.baseline_assigned", object_type="tenant", object_id=lender.id,
                         before={"baseline": before}, after={"baseline": code, "version": preset(code).version})
    return code
