"""Approval requests (a contact that needs the lender's named role first), debtor consent that every decision
reads, and next permitted times that follow every change on the person, whichever tenant made it."""
from datetime import datetime, timedelta, timezone

import pytest

from tenants.audit import AuditEvent
from tenants.context import tenant_scope

SHANGHAI_10AM = datetime(2026, 12, 1, 2, 0, tzinfo=timezone.utc)
NEW_YORK_NOON = datetime(2026, 12, 1, 17, 0, tzinfo=timezone.utc)


def bearer(secret):
    return {"Authorization": f"Bearer {secret}"}


@pytest.fixture
def case(factory, db_session, frozen_clock):
    """A Chinese debtor placed with an agency that may visit; tokens for each role involved."""
    frozen_clock.set(SHANGHAI_10AM)

    def build(**kwargs):
        lender, agency, account = factory.placed_account(channels=("call", "sms", "visit"),
                                                         time_zones=["Asia/Shanghai"], **kwargs)
        return dict(lender=lender, agency=agency, account=account,
                    collector=bearer(factory.token(agency, "agency_collector")[1]),
                    manager=bearer(factory.token(lender, "lender_manager")[1]),
                    analyst=bearer(factory.token(lender, "lender_analyst")[1]))
    return build


def attempt(client, c, channel="call", **body):
    return client.post(f"/api/v1/accounts/{c['account'].id}/contact-attempts", json={"channel": channel, **body},
                       headers=c["collector"])


def decide(client, c, approval_id, approve=True, headers=None):
    return client.post(f"/api/v1/approvals/{approval_id}/decision", json={"approve": approve, "note": "ok"},
                       headers=headers or c["manager"])


def test_a_visit_waits_for_the_lender_manager_and_the_approval_is_used_once(client, case, frozen_clock):
    c = case()
    asked = attempt(client, c, "visit", staff_count=2, note="Debtor asked to meet at home")
    assert asked.status_code == 201
    assert asked.json["decision"]["outcome"] == "needs_approval"
    approval_id = asked.json["approval_id"]
    request = client.get(f"/api/v1/approvals/{approval_id}", headers=c["manager"]).json
    assert request["status"] == "pending" and request["approver_role"] == "lender_manager"
    assert request["rule_ids"] == ["CN.VISIT"] and request["note"] == "Debtor asked to meet at home"

    assert attempt(client, c, "visit", staff_count=2, approval_id=approval_id).json["error"]["code"] == \
        "approval.pending", "not before the lender decides"
    assert decide(client, c, approval_id, headers=c["collector"]).status_code == 404, "agencies do not approve"
    assert decide(client, c, approval_id, headers=c["analyst"]).status_code == 403
    approved = decide(client, c, approval_id)
    assert approved.status_code == 200 and approved.json["status"] == "approved"
    assert decide(client, c, approval_id).status_code == 409, "decided once"

    went = attempt(client, c, "visit", staff_count=2, approval_id=approval_id)
    assert went.status_code == 201 and went.json["decision"]["outcome"] == "allow"
    assert client.get(f"/api/v1/approvals/{approval_id}", headers=c["collector"]).json["status"] == "used"
    again = attempt(client, c, "visit", staff_count=2, approval_id=approval_id)
    assert again.status_code == 409 and again.json["error"]["code"] == "approval.used"
    with tenant_scope(c["lender"].id):  # both sides audited, each in its own chain
        assert "approval.approved" in {e.action for e in AuditEvent.query.all()}
    with tenant_scope(c["agency"].id):
        assert {"approval.requested", "approval.used"} <= {e.action for e in AuditEvent.query.all()}


def test_an_approval_expires_and_covers_only_its_own_contact(client, case, frozen_clock):
    c, other = case(), case()
    approval_id = attempt(client, c, "visit", staff_count=2).json["approval_id"]
    decide(client, c, approval_id)
    assert attempt(client, c, "call", approval_id=approval_id).json["error"]["code"] == "approval.mismatch"
    foreign = client.post(f"/api/v1/accounts/{other['account'].id}/contact-attempts",
                          json={"channel": "visit", "staff_count": 2, "approval_id": approval_id},
                          headers=other["collector"])
    assert foreign.status_code == 404, "another agency cannot even see the approval"
    frozen_clock.advance(timedelta(days=3, minutes=1))
    late = attempt(client, c, "visit", staff_count=2, approval_id=approval_id)
    assert late.status_code == 409 and late.json["error"]["code"] == "approval.expired"


def test_a_declined_request_cannot_be_used(client, case):
    c = case()
    approval_id = attempt(client, c, "visit", staff_count=2).json["approval_id"]
    assert decide(client, c, approval_id, approve=False).json["status"] == "declined"
    assert attempt(client, c, "visit", staff_count=2, approval_id=approval_id).json["error"]["code"] == \
        "approval.declined"


def test_without_hand_over_notice_the_first_agency_call_needs_approval_which_records_the_notice(client, case):
    """CBIRC Order 2022 No. 9: the debtor is told before an agency collects."""
    c = case(debtors_notified=False)
    asked = attempt(client, c, "call")
    assert asked.json["decision"]["outcome"] == "needs_approval"
    assert [h["rule_id"] for h in asked.json["decision"]["hits"]] == ["CN.OUTSOURCE.NOTICE"]
    pending = client.get("/api/v1/approvals?status=pending", headers=c["manager"]).json["items"]
    assert [p["id"] for p in pending] == [asked.json["approval_id"]]
    decide(client, c, asked.json["approval_id"])
    assert attempt(client, c, "call").json["decision"]["outcome"] == "allow", "the notice is on record now"


@pytest.fixture
def us_case(factory, db_session, frozen_clock):
    frozen_clock.set(NEW_YORK_NOON)
    lender, agency, account = factory.placed_account(
        lender_values=dict(currency="USD", time_zone="America/New_York"),
        time_zones=["America/New_York"])
    return dict(lender=lender, agency=agency, account=account,
                collector=bearer(factory.token(agency, "agency_collector")[1]),
                lender_admin=bearer(factory.token(lender, "lender_admin")[1]))


def put_consent(client, c, headers=None, **body):
    return client.put(f"/api/v1/accounts/{c['account'].id}/consent", json=body,
                      headers=headers or c["collector"])


def test_a_time_the_consumer_called_inconvenient_is_refused_until_it_ends(client, us_case):
    """Reg F 12 CFR 1006.6(b)(1): a time the consumer said is inconvenient stays blocked."""
    saved = put_consent(client, us_case, inconvenient_windows=[["11:30", "14:00"]])
    assert saved.status_code == 200 and saved.json["inconvenient_windows"] == [["11:30", "14:00"]]
    refused = attempt(client, us_case, "call")
    assert refused.status_code == 422 and refused.json["error"]["code"] == "conduct.us.inconvenient"
    assert refused.json["error"]["details"]["earliest_allowed_at"].startswith("2026-12-01T19:00")  # 14:00 NY
    lender_view = client.get(f"/api/v1/accounts/{us_case['account'].id}/consent", headers=us_case["lender_admin"])
    assert lender_view.json["inconvenient_windows"] == [["11:30", "14:00"]], "the lender reads what was captured"


def test_consent_input_is_checked(client, us_case):
    too_long = put_consent(client, us_case, consent_until=(NEW_YORK_NOON + timedelta(days=8)).isoformat())
    assert too_long.status_code == 422 and "consent_until" in too_long.json["error"]["details"]["fields"]
    bad_time = put_consent(client, us_case, agreed_hours=["9:00", "25:00"])
    assert bad_time.status_code == 422
    backwards = put_consent(client, us_case, agreed_hours=["18:00", "09:00"])
    assert backwards.status_code == 422 and "agreed_hours" in backwards.json["error"]["details"]["fields"]


def test_next_permitted_follows_another_agencys_calls_on_the_same_person(client, factory, db_session, frozen_clock):
    """The cached answer is dropped when any tenant's attempt on the person changes the count."""
    frozen_clock.set(SHANGHAI_10AM)
    cases = []
    for _ in range(2):
        lender, agency, account = factory.placed_account(subject_key="person-cache", time_zones=["Asia/Shanghai"])
        cases.append(dict(account=account, headers=bearer(factory.token(agency, "agency_collector")[1])))
    a, b = cases

    def next_call(c):
        return client.get(f"/api/v1/accounts/{c['account'].id}/next-permitted", headers=c["headers"]).json["call"]

    assert next_call(a).startswith("2026-12-01T02:00"), "allowed now"
    for _ in range(3):
        made = client.post(f"/api/v1/accounts/{b['account'].id}/contact-attempts", json={"channel": "call"},
                           headers=b["headers"]).json["attempt"]["id"]
        if _ < 2:
            assert next_call(a).startswith("2026-12-01T02:00"), "a pending call still leaves room"
        client.post(f"/api/v1/contact-attempts/{made}/outcome", json={"outcome_code": "right_party_contact"},
                    headers=b["headers"])
    assert next_call(a).startswith("2026-12-02T00:00"), "three connected calls today: tomorrow 08:00 Shanghai"

    hold = client.post(f"/api/v1/accounts/{a['account'].id}/holds", json={"type": "dispute", "reason": "wrong"},
                       headers=a["headers"]).json
    assert next_call(a) is None, "a dispute is not resolved by waiting"
    client.post(f"/api/v1/holds/{hold['id']}/resolve", json={"resolution": "verified"}, headers=a["headers"])
    assert next_call(a).startswith("2026-12-02T00:00")


def test_the_next_permitted_cache_is_reused_until_the_person_changes(app, db_session, frozen_clock):
    import uuid

    from tenants.conduct import windows
    from tenants.db import db

    frozen_clock.set(SHANGHAI_10AM)
    now, calls = SHANGHAI_10AM, []
    tenant_id, account_id, subject = uuid.uuid4(), uuid.uuid4(), f"cache-{uuid.uuid4()}"

    def compute():
        calls.append(1)
        return {"call": now}, now + timedelta(hours=1)

    assert windows.cached(tenant_id, account_id, subject, "fp", now, compute) == {"call": now}
    assert windows.cached(tenant_id, account_id, subject, "fp", now + timedelta(minutes=1), compute) == \
        {"call": now + timedelta(minutes=1)}, "an allowed channel answers the caller's own now"
    assert len(calls) == 1, "served from the cache"
    windows.invalidate_subject(subject)
    db.session.commit()
    windows.cached(tenant_id, account_id, subject, "fp", now, compute)
    assert len(calls) == 2, "a committed change on the person drops the entry"
    windows.cached(tenant_id, account_id, subject, "fp", now + timedelta(hours=1), compute)
    assert len(calls) == 3, "and it expires at its boundary"


def test_the_asking_agency_cannot_approve_its_own_request(case, db_session):
    from sqlalchemy import select

    from tenants.conduct import service
    from tenants.conduct.models import ApprovalRequest, ApprovalStatus
    from tenants.db import db
    from tenants.errors import WriteRefused

    c = case()
    with tenant_scope(c["agency"].id):
        record, _ = service.attempt(c["account"].id, service.AttemptRequest(channel="visit", staff_count=2),
                                    collector_user_id=None)
        request = db.session.scalar(select(ApprovalRequest).where(ApprovalRequest.attempt_id == record.id))
        request.status = ApprovalStatus.APPROVED
        with pytest.raises(WriteRefused):
            db.session.flush()
        db.session.rollback()
