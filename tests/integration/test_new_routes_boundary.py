"""Ids the new routes take in a body or query string (a call's phone and collector, an export's portfolio, a
preview's agencies) are resolved as the caller sees them: another tenant's id answers 404 / 4xx and changes
nothing. The cross-tenant matrix walks the ids in paths; these are the ones it does not."""
import uuid

import pytest
from sqlalchemy import func, select

from tenants.audit import AuditEvent
from tenants.conduct.models import ContactAttempt
from tenants.context import tenant_scope
from tenants.db import db
from tenants.placements import panel
from tenants.portfolios.models import AccountPhone
from tenants.telephony.models import Call
from tenants.tenancy.roles import TenantKind
from tests.factories import login


def bearer(world):
    return {"Authorization": f"Bearer {world.token_secret}"}


def phone_of(world) -> uuid.UUID:
    with tenant_scope(world.tenant.id):
        return db.session.scalar(select(AccountPhone.id).where(
            AccountPhone.account_id == world.objects["account_id"]))


def made(world) -> tuple[int, int]:
    with tenant_scope(world.tenant.id):
        return (db.session.scalar(select(func.count()).select_from(ContactAttempt)),
                db.session.scalar(select(func.count()).select_from(Call)))


@pytest.fixture
def agencies(factory, frozen_clock):
    return factory.world(TenantKind.AGENCY), factory.world(TenantKind.AGENCY)


def test_a_call_names_only_its_own_phone_and_member(client, agencies):
    mine, theirs = agencies
    url = f"/api/v1/accounts/{mine.objects['account_id']}/calls"
    before = made(mine)
    for foreign in (phone_of(theirs), uuid.uuid4()):
        refused = client.post(url, json={"phone_id": str(foreign)}, headers=bearer(mine))
        assert refused.status_code == 404, refused.json
        assert refused.json["error"]["code"] == "phone.not_found"
    stranger = client.post(url, json={"phone_id": str(phone_of(mine)), "collector_user_id": str(theirs.admin.id)},
                           headers=bearer(mine))
    assert stranger.status_code == 404 and stranger.json["error"]["code"] == "member.not_found"
    assert made(mine) == before and made(theirs)[1] == 0


def test_the_case_page_calls_no_phone_of_another_tenant(client, agencies):
    mine, theirs = agencies
    login(client, mine.admin_email)
    before = made(mine)
    refused = client.post(f"/t/{mine.tenant.slug}/cases/{mine.objects['account_id']}/call",
                          data={"phone_id": str(phone_of(theirs))})
    assert refused.status_code == 404
    assert made(mine) == before


def test_an_export_of_another_lenders_portfolio_is_not_found_and_not_audited(client, factory, frozen_clock):
    mine, theirs = factory.world(TenantKind.LENDER), factory.world(TenantKind.LENDER)
    db.session.commit()
    response = client.get(f"/api/v1/accounts/export?portfolio_id={theirs.objects['portfolio_id']}",
                          headers=bearer(mine))
    assert response.status_code == 404, response.get_data(as_text=True)[:300]
    assert response.json["error"]["code"] == "portfolio.not_found"
    with tenant_scope(mine.tenant.id):
        assert db.session.scalar(select(func.count()).select_from(AuditEvent).where(
            AuditEvent.action == "accounts.exported")) == 0
    own = client.get(f"/api/v1/accounts/export?portfolio_id={mine.objects['portfolio_id']}", headers=bearer(mine))
    assert own.status_code == 200


def test_a_preview_splits_only_among_the_lenders_own_panel(client, factory, frozen_clock):
    mine, theirs = factory.world(TenantKind.LENDER), factory.world(TenantKind.LENDER)
    with tenant_scope(theirs.tenant.id):
        slug = panel.list_panel()[0].agency.slug
    with tenant_scope(mine.tenant.id):
        assert slug not in {r.agency.slug for r in panel.list_panel()}
    refused = client.post("/api/v1/placements/preview", json={"agencies": [{"agency_slug": slug, "weight": 1}]},
                          headers=bearer(mine))
    assert refused.status_code == 422 and refused.json["error"]["code"] == "placement.agency_not_approved"


def test_the_preview_page_names_no_agency_off_the_lenders_panel(client, factory, frozen_clock):
    mine, theirs = factory.world(TenantKind.LENDER), factory.world(TenantKind.LENDER)
    with tenant_scope(theirs.tenant.id):
        relationship = panel.list_panel()[0]
        agency_id, name = relationship.agency_tenant_id, relationship.agency.name
    db.session.commit()
    login(client, mine.admin_email)
    refused = client.post(f"/t/{mine.tenant.slug}/placements/preview", data={"agency_1": str(agency_id),
                                                                               "weight_1": "1"})
    page = refused.get_data(as_text=True)
    assert 400 <= refused.status_code < 500 and 'id="placement-preview"' not in page
    assert name not in page
