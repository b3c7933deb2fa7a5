"""An agency that keeps collectors to their own cases: a collector opens, contacts and lists only the cases assigned
to them — another collector's case and an unassigned one are 404, in pages and API — while supervisors see every
case; with the setting off (the default) a collector opens any case of the agency. Only the agency's admin turns it
on, on the assignment page or through the settings API."""
import pytest

from tenants.casework import assignment
from tenants.context import tenant_scope
from tenants.db import db
from tests.factories import login
from tests.integration.test_assignment import SHANGHAI_10AM, make_desk


@pytest.fixture
def desk(factory, frozen_clock):
    """Three cases: the first assigned to collector 0, the second to collector 1, the third to nobody."""
    frozen_clock.set(SHANGHAI_10AM)
    made = make_desk(factory, [{}, {}, {}])
    with tenant_scope(made.agency.id):
        assignment.assign([made.ids[0]], made.collectors[0].id, by_user_id=None)
        assignment.assign([made.ids[1]], made.collectors[1].id, by_user_id=None)
    admin_email = f"admin-{made.agency.slug}@desk.test"
    made.admin, _ = factory.user(made.agency, "agency_admin", email=admin_email)
    made.admin_email = admin_email
    return made


def _restrict(client, desk, enabled: bool):
    login(client, desk.admin_email)
    response = client.post(f"/t/{desk.agency.slug}/team/own-cases", data={"enabled": "1" if enabled else "0"})
    assert response.status_code == 302
    db.session.expire_all()


def _case_pages(client, desk) -> list[int]:
    return [client.get(f"/t/{desk.agency.slug}/cases/{account_id}").status_code for account_id in desk.ids]


def test_a_collector_opens_any_case_until_the_agency_restricts_collectors(client, desk):
    login(client, desk.collector_emails[0])
    assert _case_pages(client, desk) == [200, 200, 200]

    _restrict(client, desk, True)
    login(client, desk.collector_emails[0])
    assert _case_pages(client, desk) == [200, 404, 404]
    listed = client.get(f"/t/{desk.agency.slug}/cases").get_data(as_text=True)
    assert desk.accounts[0].external_ref in listed
    assert desk.accounts[1].external_ref not in listed and desk.accounts[2].external_ref not in listed
    contact = client.post(f"/t/{desk.agency.slug}/cases/{desk.ids[1]}/contact", data={"channel": "call"})
    assert contact.status_code == 404, "contacting another collector's case"
    promise = client.post(f"/t/{desk.agency.slug}/cases/{desk.ids[2]}/promises",
                          data={"amount": "10", "due_on": "2026-12-05"})
    assert promise.status_code == 404, "acting on an unassigned case"

    login(client, desk.supervisor_email)
    assert _case_pages(client, desk) == [200, 200, 200], "supervisors are not fenced"

    _restrict(client, desk, False)
    login(client, desk.collector_emails[0])
    assert _case_pages(client, desk) == [200, 200, 200]


def test_a_collectors_token_reads_only_its_makers_cases(client, desk, factory):
    collector = desk.bearer(factory, "agency_collector", desk.collectors[0])
    supervisor = desk.bearer(factory)
    admin = desk.bearer(factory, "agency_admin", desk.admin)
    assert client.put("/api/v1/settings", json={"collectors_own_cases_only": True},
                      headers=supervisor).status_code == 403, "a setting is the admin's"
    changed = client.put("/api/v1/settings", json={"collectors_own_cases_only": True}, headers=admin)
    assert changed.status_code == 200 and changed.json["collectors_own_cases_only"] is True

    statuses = [client.get(f"/api/v1/accounts/{account_id}", headers=collector).status_code for account_id in desk.ids]
    assert statuses == [200, 404, 404]
    listed = {item["id"] for item in client.get("/api/v1/accounts", headers=collector).json["items"]}
    assert listed == {str(desk.ids[0])}
    attempt = client.post(f"/api/v1/accounts/{desk.ids[1]}/contact-attempts",
                          json={"channel": "call", "target": "debtor"}, headers=collector)
    assert attempt.status_code == 404
    note = client.post(f"/api/v1/accounts/{desk.ids[2]}/notes", json={"body": "mine now"}, headers=collector)
    assert note.status_code == 404
    everyone = {item["id"] for item in client.get("/api/v1/accounts", headers=supervisor).json["items"]}
    assert everyone == {str(i) for i in desk.ids}


def test_only_an_agency_has_the_setting(client, factory):
    lender = factory.world("lender")
    refused = client.put("/api/v1/settings", json={"collectors_own_cases_only": True},
                         headers={"Authorization": f"Bearer {lender.token_secret}"})
    assert refused.status_code == 422
