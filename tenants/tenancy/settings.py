"""Per-tenant settings that change behaviour (kept in `tenants.settings`, audited when changed)."""
from tenants import audit
from tenants.db import db
from tenants.errors import ValidationFailed
from tenants.tenancy.models import Tenant

# setting → (the kinds of tenant it applies to, its type)
KNOWN = {
    "auto_accept_placements": (("agency",), bool),
    "collectors_own_cases_only": (("agency",), bool),  # tenants.casework.own_cases
    "country": (("lender",), str),
    "payment_grace_days": (("agency",), int),
}


def update_settings(tenant: Tenant, changes: dict) -> dict:
    problems = {}
    for key, value in changes.items():
        kinds, kind_type = KNOWN.get(key, ((), None))
        if tenant.kind not in kinds:
            problems[key] = ["Not a setting of this kind of organisation."]
        elif not isinstance(value, kind_type):
            problems[key] = [f"Must be a {kind_type.__name__}."]
    if problems:
        raise ValidationFailed(details={"fields": problems})
    before = dict(tenant.settings or {})
    tenant.settings = {**before, **changes}
    db.session.flush()
    audit.record("tenant.settings_changed", object_type="tenant", object_id=tenant.id, before=before,
                 after=tenant.settings)
    return tenant.settings
