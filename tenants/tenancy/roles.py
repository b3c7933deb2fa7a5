"""The roles of each kind of tenant, and what each role may do."""
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

ADMIN_ROLES = frozenset(ADMIN_ROLE.values())

# What the platform charges a tenant: its admins.
BILLING_ROLES = ("lender_admin", "agency_admin")
# Commission statements (money owed between a lender and an agency): admins and the lender's managers.
FINANCE_ROLES = ("lender_admin", "lender_manager", "agency_admin")


def roles_for(kind: str) -> tuple[str, ...]:
    return ROLES_BY_KIND[TenantKind(kind)]
