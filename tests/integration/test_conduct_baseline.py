"""The platform assigns each lender's conduct baseline; a lender cannot switch itself to a looser jurisdiction."""
from datetime import datetime, timezone

from tenants.audit import AuditEvent
from tenants.context import tenant_scope
from tenants.tenancy.roles import TenantKind

SHANGHAI_10AM = datetime(2026, 12, 1, 2, 0, tzinfo=timezone.utc)


def bearer(secret):
    return {"Authorization": f"Bearer {secret}"}


def test_the_platform_assigns_the_baseline_every_decision_then_uses(client, factory, db_session, frozen_clock):
    frozen_clock.set(SHANGHAI_10AM)
    lender, agency, account = factory.placed_account(time_zones=["Asia/Shanghai"])
    platform = factory.tenant(TenantKind.PLATFORM)
    admin = bearer(factory.token(platform, "platform_admin")[1])
    lender_admin = bearer(factory.token(lender, "lender_admin")[1])
    collector = bearer(factory.token(agency, "agency_collector")[1])

    def rulebook_used():
        made = client.post(f"/api/v1/accounts/{account.id}/contact-attempts", json={"channel": "sms"},
                           headers=collector)
        return made.json["decision"]["rulebook_version"]

    assert rulebook_used().startswith("cn"), "a CNY lender starts on the Chinese preset"
    assert client.get(f"/api/v1/tenants/{lender.id}", headers=admin).json["conduct_baseline"] == "cn"

    assert client.put(f"/api/v1/tenants/{lender.id}/conduct-baseline", json={"baseline": "us"},
                      headers=lender_admin).status_code == 404, "a lender cannot choose its own rules"
    client.patch("/api/v1/settings", json={"country": "US"}, headers=lender_admin)
    assert rulebook_used().startswith("cn"), "the phone-region setting does not switch the rulebook"

    bad = client.put(f"/api/v1/tenants/{lender.id}/conduct-baseline", json={"baseline": "mars"}, headers=admin)
    assert bad.status_code == 422
    done = client.put(f"/api/v1/tenants/{lender.id}/conduct-baseline", json={"baseline": "uk"}, headers=admin)
    assert done.status_code == 200 and done.json["conduct_baseline"] == "uk"
    assert rulebook_used().startswith("uk")
    with tenant_scope(lender.id):
        event = AuditEvent.query.filter_by(action="conduct.baseline_assigned").one()
    assert event.before == {"baseline": "cn"} and event.after["baseline"] == "uk"
