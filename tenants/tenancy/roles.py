"""The roles of each kind of tenant (what each role may do: tenants/capabilities.py)."""
from enum import StrEnum


class TenantKind(StrEnum):
    PLATFORM = "platform"
    LENDER = "lender"
    AGENCY = "agency"


ROLES_BY_KIND = {
    TenantKind.PLATFORM: ("platform_admin",),
    TenantKind.LENDER: ("lender_admin", "lender_manager", "lender_analyst"),
    TenantKind.AGENCY: ("agency_admin", "agency_supervisor", "agency_collector"),
}

ALL_ROLES = tuple(role for roles in ROLES_BY_KIND.values() for role in roles)

ADMIN_ROLE = {
    TenantKind.PLATFORM: "platform_admin",
    TenantKind.LENDER: "lender_admin",
    TenantKind.AGENCY: "agency_admin",
}


def roles_for(kind: str) -> tuple[str, ...]:
    return ROLES_BY_KIND[TenantKind(kind)]
