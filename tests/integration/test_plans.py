"""Payment plans: instalments that add up exactly, at most the rulebook's plan length; signing pauses collection
(reminders still allowed); the daily review keeps instalments from confirmed payments, completes the plan, or
breaks it on a missed instalment and resumes collection; only the agency that agreed it changes it."""
import uuid
from datetime import date, datetime, timedelta, timezone

import pytest
from flask import g, render_template_string
from sqlalchemy import func, select

from tenants.audit import AuditEvent
from tenants.casework import payments, plans
from tenants.casework.money_models import PaymentPlan
from tenants.conduct.models import ConductHold
from tenants.context import tenant_scope
from tenants.errors import Conflict
from tenants.placements import services as placement_service
from tenants.placements.models import Placement
from tenants.portfolios.accounts import get_account
from tests.factories import login

SHANGHAI_10AM = datetime(2026, 12, 1, 2, 0, tzinfo=timezone.utc)  # 1 Dec, 10:00 in Shanghai


def shanghai(month: int, day: int, hour: int, minute: int = 0) -> datetime:
    year = 2027 if month < 12 else 2026
    return datetime(year, month, day, hour, minute, tzinfo=timezone(timedelta(hours=8)))


def bearer(secret):
    return {"Authorization": f"Bearer {secret}"}


@pytest.fixture
def case(factory, db_session, frozen_clock):
    frozen_clock.set(SHANGHAI_10AM)
    lender, agency, account = factory.placed_account()
    factory.user(agency, "agency_collector", email="collector@plan.test")
    return dict(lender=lender, agency=agency, account_id=account.id,
                agency_headers=bearer(factory.token(agency, "agency_collector")[1]),
                supervisor_headers=bearer(factory.token(agency, "agency_supervisor")[1]),
                lender_headers=bearer(factory.token(lender, "lender_admin")[1]))


def propose(client, case, headers=None, **body):
    body = body or {"total": "600.00", "instalment_count": 3, "frequency": "weekly", "first_due_on": "2026-12-08"}
    return client.post(f"/api/v1/accounts/{case['account_id']}/plans", json=body,
                       headers=headers or case["agency_headers"])


def sign(client, case, plan_id, headers=None):
    return client.post(f"/api/v1/plans/{plan_id}/sign", headers=headers or case["agency_headers"],
                       json={"acknowledgement": "verbal, on the recorded call of 1 Dec 10:05"})


def next_call(client, case):
    response = client.get(f"/api/v1/accounts/{case['account_id']}/next-permitted", headers=case["agency_headers"])
    assert response.status_code == 200, response.json
    return datetime.fromisoformat(response.json["call"]) if response.json["call"] else None


def pay(case, amount: str, received_on: date) -> None:
    with tenant_scope(case["agency"].id):
        payment_id = payments.record(case["account_id"], amount=amount, received_on=received_on,
                                     method="alipay").id
    with tenant_scope(case["lender"].id):
        payments.confirm(payment_id, None)


def review(case, db_session) -> dict:
    with tenant_scope(case["agency"].id):
        result = plans.review()
        db_session.flush()
        db_session.expire_all()
        return result


def plan_state(case, db_session, plan_id):
    with tenant_scope(case["agency"].id):
        db_session.expire_all()
        plan = db_session.get(PaymentPlan, uuid.UUID(str(plan_id)))
        return plan.status, [(i.status, i.paid_minor) for i in plan.instalments], plan.end_reason


def plan_hold(case, db_session, plan_id) -> ConductHold:
    with tenant_scope(case["lender"].id):
        db_session.expire_all()
        hold_id = db_session.get(PaymentPlan, uuid.UUID(str(plan_id))).hold_id
        return db_session.get(ConductHold, hold_id)


def audit_count(case, db_session) -> int:
    with tenant_scope(case["agency"].id):
        return db_session.scalar(select(func.count()).select_from(AuditEvent))


def test_a_plan_splits_its_total_exactly_and_signing_pauses_collection_but_not_reminders(client, case):
    made = propose(client, case, total="1000.00", instalment_count=3, frequency="monthly",
                   first_due_on="2026-12-10")
    assert made.status_code == 201, made.json
    plan = made.json
    assert (plan["status"], plan["total_minor"], plan["frequency"], plan["grace_days"]) == (
        "proposed", 100_000, "monthly", 2)
    assert [(i["number"], i["due_on"], i["amount"], i["status"]) for i in plan["instalments"]] == [
        (1, "2026-12-10", "333.33", "due"), (2, "2027-01-10", "333.33", "due"), (3, "2027-02-10", "333.34", "due")]
    assert next_call(client, case) == SHANGHAI_10AM, "a proposal alone does not pause collection"

    signed = sign(client, case, plan["id"])
    assert signed.status_code == 200 and signed.json["status"] == "active" and signed.json["hold_id"]
    holds = client.get(f"/api/v1/accounts/{case['account_id']}/holds", headers=case["lender_headers"]).json["items"]
    assert [(h["type"], h["allow"], h["active"], h["source"]) for h in holds] == [
        ("plan", ["plan_reminder"], True, "plan")]
    assert holds[0]["ends_at"].startswith("2027-02-12T16:00"), "resumes by itself after the last grace day"
    assert next_call(client, case) == shanghai(2, 13, 8), "after the last instalment's grace days, at 08:00"

    attempts = f"/api/v1/accounts/{case['account_id']}/contact-attempts"
    chase = client.post(attempts, json={"channel": "sms"}, headers=case["agency_headers"])
    assert chase.status_code == 422 and chase.json["error"]["code"] == "conduct.cn.plan.pause"
    reminder = client.post(attempts, json={"channel": "sms", "message_kind": "plan_reminder"},
                           headers=case["agency_headers"])
    assert reminder.status_code == 201 and reminder.json["decision"]["outcome"] == "allow"
    assert sign(client, case, plan["id"]).status_code == 409


def test_instalments_are_kept_from_confirmed_payments_and_the_plan_completes(client, case, db_session,
                                                                            frozen_clock):
    plan = propose(client, case).json
    sign(client, case, plan["id"])
    frozen_clock.set(shanghai(12, 8, 12))
    pay(case, "200.00", date(2026, 12, 8))
    assert review(case, db_session)["active"] == 1
    assert plan_state(case, db_session, plan["id"])[1] == [("kept", 20_000), ("due", 0), ("due", 0)]

    frozen_clock.set(shanghai(12, 10, 12))
    pay(case, "400.00", date(2026, 12, 10))  # paid ahead of time
    assert review(case, db_session)["completed"] == 1
    status, instalments, reason = plan_state(case, db_session, plan["id"])
    assert (status, reason) == ("completed", "every instalment paid")
    assert instalments == [("kept", 20_000)] * 3
    assert plan_hold(case, db_session, plan["id"]).resolved_at is not None
    assert next_call(client, case) == shanghai(12, 10, 12), "collection resumes on the rest of the balance"

    events = audit_count(case, db_session)
    assert review(case, db_session) == {"active": 0, "completed": 0, "broken": 0, "cancelled": 0, "proposed": 0}
    assert audit_count(case, db_session) == events


def test_a_missed_instalment_breaks_the_plan_and_collection_resumes(client, case, db_session, frozen_clock):
    plan = propose(client, case).json
    sign(client, case, plan["id"])
    frozen_clock.set(shanghai(12, 10, 9))  # within the first instalment's grace days
    pay(case, "199.99", date(2026, 12, 10))
    review(case, db_session)
    assert plan_state(case, db_session, plan["id"])[0] == "active"
    pay(case, "0.01", date(2026, 12, 10))
    review(case, db_session)
    assert plan_state(case, db_session, plan["id"])[1][0] == ("kept", 20_000)

    frozen_clock.set(shanghai(12, 17, 23, 59))  # last day to pay the second instalment
    review(case, db_session)
    assert plan_state(case, db_session, plan["id"])[0] == "active"
    assert next_call(client, case) == shanghai(12, 25, 8), "paused until the plan's natural end"
    frozen_clock.set(shanghai(12, 18, 8, 30))
    assert review(case, db_session)["broken"] == 1
    status, instalments, reason = plan_state(case, db_session, plan["id"])
    assert status == "broken" and reason == "instalment 2 missed (due 2026-12-15)"
    assert instalments == [("kept", 20_000), ("missed", 0), ("due", 0)]
    hold = plan_hold(case, db_session, plan["id"])
    assert hold.resolved_at is not None and "instalment 2 missed" in hold.resolution
    assert next_call(client, case) == shanghai(12, 18, 8, 30), "the case is back in the queue"

    events = audit_count(case, db_session)
    review(case, db_session)
    assert audit_count(case, db_session) == events


@pytest.mark.parametrize("body,status,code", [
    ({"total": "100.00", "schedule": [{"due_on": "2026-12-05", "amount": "60"},
                                      {"due_on": "2026-12-20", "amount": "50"}]}, 422, "plan.invalid_schedule"),
    ({"total": "6100.00", "instalment_count": 61, "frequency": "monthly", "first_due_on": "2026-12-10"}, 422,
     "money.over_balance"),
    ({"total": "4000.00", "instalment_count": 61, "frequency": "monthly", "first_due_on": "2026-12-10"}, 422,
     "plan.too_long"),
    ({"total": "100.00", "instalment_count": 2, "frequency": "weekly", "first_due_on": "2026-11-30"}, 422,
     "plan.invalid_schedule"),
    ({"total": "100.00", "instalment_count": 2}, 422, "validation.failed"),
    ({"total": "100.005", "instalment_count": 2, "frequency": "weekly", "first_due_on": "2026-12-10"}, 422,
     "money.too_precise"),
])
def test_bad_plans_are_refused(client, case, body, status, code):
    response = propose(client, case, **body)
    assert response.status_code == status and response.json["error"]["code"] == code, response.json


def test_a_plan_may_run_five_years_from_an_explicit_schedule(client, case):
    made = propose(client, case, total="4000.00", instalment_count=60, frequency="monthly",
                   first_due_on="2026-12-01")
    assert made.status_code == 201 and made.json["instalments"][-1]["due_on"] == "2031-11-01"
    client.post(f"/api/v1/plans/{made.json['id']}/cancel", json={"reason": "re-planning"},
                headers=case["agency_headers"])
    explicit = propose(client, case, total="150.00", schedule=[{"due_on": "2026-12-05", "amount": "100"},
                                                               {"due_on": "2027-01-05", "amount": "50.00"}])
    assert explicit.status_code == 201 and explicit.json["frequency"] == "custom"
    assert [i["amount_minor"] for i in explicit.json["instalments"]] == [10_000, 5_000]
    second = propose(client, case)
    assert second.status_code == 409 and second.json["error"]["code"] == "plan.already_open"


def test_an_active_plan_blocks_a_recall_and_only_a_supervisor_ends_it(client, case, db_session):
    plan = propose(client, case).json
    sign(client, case, plan["id"])
    with tenant_scope(case["lender"].id):
        placement_id = db_session.scalar(select(Placement.id).where(Placement.account_id == case["account_id"]))
        with pytest.raises(Conflict) as exc:
            placement_service.recall([placement_id], reason="sold", force=False, role="lender_admin")
        assert "signed payment plan" in str(exc.value.details["blocked"])
    refused = client.post(f"/api/v1/plans/{plan['id']}/cancel", json={"reason": "debtor asked"},
                          headers=case["agency_headers"])
    assert refused.status_code == 403 and refused.json["error"]["code"] == "plan.cancel_needs_supervisor"
    ended = client.post(f"/api/v1/plans/{plan['id']}/cancel", json={"reason": "debtor asked"},
                        headers=case["supervisor_headers"])
    assert ended.status_code == 200 and ended.json["status"] == "cancelled"
    assert plan_hold(case, db_session, plan["id"]).resolved_at is not None
    assert next_call(client, case) == SHANGHAI_10AM


def test_an_unsigned_plan_lapses_after_its_first_due_date(client, case, db_session, frozen_clock):
    plan = propose(client, case).json
    frozen_clock.set(shanghai(12, 8, 23))
    review(case, db_session)
    assert plan_state(case, db_session, plan["id"])[0] == "proposed"
    frozen_clock.set(shanghai(12, 9, 8))
    assert sign(client, case, plan["id"]).json["error"]["code"] == "plan.lapsed"
    review(case, db_session)
    assert plan_state(case, db_session, plan["id"])[::2] == ("cancelled",
                                                             "not signed before the first instalment fell due")


def test_the_lender_reads_plans_and_other_tenants_get_404(client, case, factory):
    plan = propose(client, case).json
    lender_view = client.get(f"/api/v1/plans/{plan['id']}", headers=case["lender_headers"])
    assert lender_view.status_code == 200 and len(lender_view.json["instalments"]) == 3
    assert sign(client, case, plan["id"], headers=case["lender_headers"]).status_code == 404
    outsider_lender, outsider_agency, _ = factory.placed_account()
    for outsider in (outsider_lender, outsider_agency):
        headers = bearer(factory.token(outsider)[1])
        assert client.get(f"/api/v1/plans/{plan['id']}", headers=headers).status_code == 404
        assert client.get(f"/api/v1/accounts/{case['account_id']}/plans", headers=headers).status_code == 404
        assert sign(client, case, plan["id"], headers=headers).status_code == 404
        assert client.post(f"/api/v1/plans/{plan['id']}/cancel", json={"reason": "x"},
                           headers=headers).status_code == 404
    assert propose(client, case, headers=bearer(factory.token(outsider_agency)[1])).status_code == 404


def test_the_case_page_proposes_and_signs_a_plan(app, client, case, db_session):
    from web.tenant.casework_money import money_panel

    agency, account_id = case["agency"], case["account_id"]
    login(client, "collector@plan.test")
    posted = client.post(f"/t/{agency.slug}/cases/{account_id}/plans",
                         data={"plan-total": "90.00", "plan-frequency": "weekly", "plan-instalment_count": "1",
                               "plan-first_due_on": "2026-12-02",
                               "plan-schedule": "2026-12-03 40.00\n2026-12-17 50.00"})
    assert posted.status_code == 302 and posted.headers["Location"].endswith(f"/cases/{account_id}?tab=plan")
    with tenant_scope(agency.id):
        plan = db_session.scalar(select(PaymentPlan))
        assert [(i.due_on, i.amount_minor) for i in plan.instalments] == [
            (date(2026, 12, 3), 4_000), (date(2026, 12, 17), 5_000)], "the explicit schedule wins"
        plan_id = plan.id
    signed = client.post(f"/t/{agency.slug}/plans/{plan_id}/sign",
                         data={"sign-acknowledgement": "signed the agreement in person"})
    assert signed.status_code == 302
    with app.test_request_context(f"/t/{agency.slug}/cases/{account_id}"), tenant_scope(agency.id):
        g.tenant, g.role = agency, "agency_collector"
        db_session.expire_all()
        placement = db_session.scalar(select(Placement).where(Placement.account_id == account_id))
        page = render_template_string('{% include "tenant/_plans.html" %}',
                                      **money_panel(get_account(account_id), placement))
    assert "signed, collection paused" in page and "signed the agreement in person" in page
    assert 'id="plan-form"' not in page, "one open plan at a time"
    assert f"/plans/{plan_id}/cancel" not in page, "a collector does not end a signed plan"
