"""Complaints: taken in by the lender (pages) or a platform admin (API) on the lender's account, linked to the
agency and the contact attempt complained of, investigated and resolved — every step in the audit trail without
the debtor's words; read by the agency concerned (its words only while it holds the account); hidden from
everyone else."""
import re
import uuid
from datetime import datetime, timezone
from types import SimpleNamespace

import pytest
from sqlalchemy import select

from tenants.audit import AuditEvent, verify_chain
from tenants.conduct import service as conduct
from tenants.context import tenant_scope
from tenants.placements import services as placements
from tenants.placements.models import Placement
from tests.factories import login

SHANGHAI_11PM = datetime(2026, 12, 1, 15, 0, tzinfo=timezone.utc)
NEXT_MORNING = datetime(2026, 12, 2, 2, 0, tzinfo=timezone.utc)
WORDS = "Zhang San says the collector rang at 23:00 and shouted."


def bearer(secret):
    return {"Authorization": f"Bearer {secret}"}


@pytest.fixture
def case(factory, db_session, frozen_clock):
    """A lender's account placed with an agency, which called the debtor at 23:00 Shanghai (refused, recorded)."""
    lender, agency, account = factory.placed_account()
    factory.user(lender, "lender_admin", email="admin@lender.test")
    factory.user(lender, "lender_analyst", email="analyst@lender.test")
    factory.user(agency, "agency_admin", email="admin@agency.test")
    frozen_clock.set(SHANGHAI_11PM)
    # What the tests read of the account, taken now: the service commits, expiring it, and on PostgreSQL
    # row-level security hides the lender's row from a reload outside its tenant's context.
    seen = SimpleNamespace(id=account.id, external_ref=account.external_ref)
    with tenant_scope(agency.id), pytest.raises(conduct.ConductBlocked) as refused:
        conduct.attempt(account.id, conduct.AttemptRequest(channel="call"), collector_user_id=None)
    return dict(lender=lender, agency=agency, account=seen,
                attempt_id=uuid.UUID(refused.value.details["attempt_id"]))


def complaint_events(db_session, tenant_id, complaint_id):
    with tenant_scope(tenant_id):
        return db_session.scalars(select(AuditEvent).where(AuditEvent.object_id == str(complaint_id))
                                  .order_by(AuditEvent.seq)).all()


def test_a_lender_takes_in_a_complaint_investigates_and_upholds_it_all_audited(client, case, db_session,
                                                                               frozen_clock):
    lender, agency, account = case["lender"], case["agency"], case["account"]
    frozen_clock.set(NEXT_MORNING)
    login(client, "admin@lender.test")
    made = client.post(f"/t/{lender.slug}/compliance/complaints/new", data={
        "external_ref": account.external_ref, "attempt_id": str(case["attempt_id"]), "received_via": "phone",
        "category": "time_of_day", "received_at": "2026-12-02T09:15", "description": WORDS})
    assert made.status_code == 302, made.get_data(as_text=True)
    complaint_id = re.search(r"/complaints/([0-9a-f-]{36})$", made.headers["Location"]).group(1)
    page = client.get(made.headers["Location"]).get_data(as_text=True)
    assert WORDS in page and agency.name in page, "linked to the attempt, the complaint is about its agency"
    assert "Review the decision" in page

    status = f"/t/{lender.slug}/compliance/complaints/{complaint_id}/status"
    assert client.post(status, data={"status": "investigating"}).status_code == 302
    no_reason = client.post(status, data={"status": "upheld"})
    assert no_reason.status_code == 422 and "Say what was found and done." in no_reason.get_data(as_text=True)
    assert client.post(status, data={"status": "upheld", "resolution": "Call logged at 23:00; collector "
                                                                      "retrained."}).status_code == 302
    again = client.post(status, data={"status": "rejected", "resolution": "changed my mind"})
    assert again.status_code == 409

    page = client.get(f"/t/{lender.slug}/compliance/complaints/{complaint_id}").get_data(as_text=True)
    assert "collector retrained" in page and 'id="complaint-status-form"' not in page
    events = complaint_events(db_session, lender.id, complaint_id)
    assert [e.action for e in events] == ["complaint.received", "complaint.investigating", "complaint.upheld"]
    assert events[0].after["agency_tenant_id"] == str(agency.id)
    assert events[0].after["received_at"] == "2026-12-02T01:15:00+00:00", "09:15 in the lender's zone"
    assert events[-1].before["status"] == "investigating" and events[-1].after["resolution_recorded"] is True
    assert not any("Zhang San" in str(e.after) or "retrained" in str(e.after) for e in events)
    with tenant_scope(lender.id):
        assert verify_chain(lender.id).ok


def test_an_analyst_reads_complaints_but_cannot_change_them(client, case, factory):
    lender = case["lender"]
    complaint = factory.complaint(lender, case["account"].id)
    login(client, "analyst@lender.test")
    assert client.get(f"/t/{lender.slug}/compliance/complaints").status_code == 200
    assert client.get(f"/t/{lender.slug}/compliance/complaints/new").status_code == 403
    refused = client.post(f"/t/{lender.slug}/compliance/complaints/{complaint.id}/status",
                          data={"status": "withdrawn"})
    assert refused.status_code == 403


def test_a_platform_admin_takes_in_and_closes_a_complaint_in_both_audit_chains(client, case, factory,
                                                                                 db_session):
    lender, account = case["lender"], case["account"]
    platform = factory.tenant("platform", slug=f"platform-{factory.tenant().slug}")
    token = bearer(factory.token(platform, "platform_admin")[1])
    made = client.post("/api/v1/complaints", headers=token, json={
        "lender_id": str(lender.id), "external_ref": account.external_ref, "received_via": "regulator",
        "category": "harassment", "description": WORDS})
    assert made.status_code == 201, made.json
    assert made.json["agency_id"] is None and made.json["status"] == "open" and made.json["description"] == WORDS
    complaint_id = made.json["id"]
    closed = client.patch(f"/api/v1/complaints/{complaint_id}", headers=token, json={"status": "withdrawn"})
    assert closed.status_code == 200 and closed.json["resolved_at"] is not None

    for chain in (lender.id, platform.id):
        assert [e.action for e in complaint_events(db_session, chain, complaint_id)] == [
            "complaint.received", "complaint.withdrawn"]
    lender_token = bearer(factory.token(lender, "lender_analyst")[1])
    listed = client.get("/api/v1/complaints?status=withdrawn", headers=lender_token).json["items"]
    assert [c["id"] for c in listed] == [complaint_id]


def test_intake_refuses_an_agency_that_never_held_the_account_and_a_foreign_attempt(client, case, factory):
    lender, account = case["lender"], case["account"]
    token = bearer(factory.token(lender, "lender_manager")[1])
    stranger = factory.tenant("agency", name="Never Placed")
    _, _, other_account = factory.placed_account()
    body = {"account_id": str(account.id), "received_via": "email", "category": "privacy", "description": WORDS}

    unplaced = client.post("/api/v1/complaints", headers=token, json={**body, "agency_id": str(stranger.id)})
    assert unplaced.status_code == 422 and "agency_id" in unplaced.json["error"]["details"]["fields"]
    foreign = client.post("/api/v1/complaints", headers=token, json={**body, "attempt_id": str(uuid.uuid4())})
    assert foreign.status_code == 404 and "attempt_id" in foreign.json["error"]["details"]["fields"]
    not_ours = client.post("/api/v1/complaints", headers=token, json={**body, "account_id": str(other_account.id)})
    assert not_ours.status_code == 404 and not_ours.json["error"]["code"] == "account.not_found"
    nothing = client.post("/api/v1/complaints", headers=token, json={k: v for k, v in body.items()
                                                                      if k != "account_id"})
    assert "external_ref" in nothing.json["error"]["details"]["fields"]


def test_the_agency_reads_complaints_about_it_and_loses_the_words_after_a_recall(client, case, factory,
                                                                               db_session):
    lender, agency, account = case["lender"], case["agency"], case["account"]
    complaint = factory.complaint(lender, account.id, attempt_id=case["attempt_id"], description=WORDS)
    db_session.flush()
    token = bearer(factory.token(agency, "agency_admin")[1])
    seen = client.get(f"/api/v1/complaints/{complaint.id}", headers=token)
    assert seen.status_code == 200 and seen.json["description"] == WORDS
    assert client.patch(f"/api/v1/complaints/{complaint.id}", headers=token,
                        json={"status": "withdrawn"}).status_code == 404, "an agency changes nothing"
    login(client, "admin@agency.test")
    assert WORDS in client.get(f"/t/{agency.slug}/complaints").get_data(as_text=True)

    with tenant_scope(lender.id):
        placement = db_session.scalar(select(Placement).where(Placement.account_id == account.id))
        placements.recall([placement.id], reason="end of trial", force=False, role="lender_admin")
    after = client.get(f"/api/v1/complaints/{complaint.id}", headers=token).json
    assert after["description"] is None and after["category"] == "harassment"
    page = client.get(f"/t/{agency.slug}/complaints").get_data(as_text=True)
    assert WORDS not in page and "no longer held" in page


def test_other_tenants_never_see_a_complaint(client, case, factory):
    complaint = factory.complaint(case["lender"], case["account"].id, description=WORDS)
    other_lender, other_agency, _ = factory.placed_account()
    for tenant, role in ((other_lender, "lender_admin"), (other_agency, "agency_admin"), (case["agency"],
                                                                                         "agency_admin")):
        token = bearer(factory.token(tenant, role)[1])
        assert client.get(f"/api/v1/complaints/{complaint.id}", headers=token).status_code == 404, tenant.kind
        assert client.get("/api/v1/complaints", headers=token).json["items"] == []


def test_a_platform_admin_logs_a_complaint_from_a_reviewed_decision(client, case, factory):
    platform = factory.tenant("platform", slug=f"platform-{factory.tenant().slug}")
    factory.user(platform, "platform_admin", email="compliance@platform.test")
    login(client, "compliance@platform.test")
    review = client.get(f"/admin/compliance/decisions/{case['attempt_id']}").get_data(as_text=True)
    link = re.search(r'href="(/admin/complaints/new\?[^"]+)"', review).group(1).replace("&amp;", "&")
    form = client.get(link).get_data(as_text=True)
    assert f'value="{case["account"].external_ref}"' in form and f'value="{case["attempt_id"]}"' in form
    made = client.post("/admin/complaints/new", data={
        "lender_id": str(case["lender"].id), "external_ref": case["account"].external_ref,
        "attempt_id": str(case["attempt_id"]), "received_via": "regulator", "category": "time_of_day",
        "description": WORDS})
    assert made.status_code == 302
    listed = client.get("/admin/complaints?status=unresolved").get_data(as_text=True)
    row = listed.split('id="complaint-list"')[1]
    assert case["lender"].name in row and case["agency"].name in row and case["account"].external_ref in row
    review = client.get(f"/admin/compliance/decisions/{case['attempt_id']}").get_data(as_text=True)
    assert "Time of day" in review.split("Complaints about this attempt")[1]
