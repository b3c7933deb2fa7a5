"""A lender and agencies on its panel, for the billing tests."""
import pytest

from tenants.tenancy.roles import TenantKind


@pytest.fixture
def lender(factory):
    return factory.tenant(TenantKind.LENDER, name="Jade Lending")


@pytest.fixture
def agency(factory, lender):
    found = factory.tenant(TenantKind.AGENCY, name="催收公司 Alpha")
    factory.panel(lender, found)
    return found


@pytest.fixture
def other_agency(factory, lender):
    found = factory.tenant(TenantKind.AGENCY, name="Beta Recovery")
    factory.panel(lender, found)
    return found


@pytest.fixture
def agencies(factory, lender):
    found = [factory.tenant(TenantKind.AGENCY) for _ in range(3)]
    for agency in found:
        factory.panel(lender, agency)
    return found
