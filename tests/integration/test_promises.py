"""Promises to pay: taken on a call, kept when confirmed payments reach the amount by the promised date plus grace
days (the debtor's date), broken otherwise — and back in the collector's queue; the daily review decides and a
second run changes nothing."""
import uuid
from datetime import date, datetime, timedelta, timezone

import pytest
from flask import g, render_template_string
from sqlalchemy import func, select

from tenants.audit import AuditEvent
from tenants.casework import payments, promises
from tenants.casework.money_models import Promise
from tenants.conduct import service as conduct
from tenants.context import platform_scope, tenant_scope
from tenants.placements import services as placement_service
from tenants.placements.models import Placement
from tests.factories import login
from workers import jobs
from workers.queues import queue

SHANGHAI_10AM = datetime(2026, 12, 1, 2, 0, tzinfo=timezone.utc)  # 1 Dec, 10:00 in Shanghai


def shanghai(day: int, hour: int, minute: int = 0) -> datetime:
    return datetime(2026, 12, day, hour, minute, tzinfo=timezone(timedelta(hours=8)))


def bearer(secret, **extra):
    return {"Authorization": f"Bearer {secret}", **extra}


@pytest.fixture
def case(factory, db_session, frozen_clock):
    frozen_clock.set(SHANGHAI_10AM)
    lender, agency, account = factory.placed_account()
    collector, _ = factory.user(agency, "agency_collector", email="collector@promise.test")
    return dict(lender=lender, agency=agency, account_id=account.id, collector=collector,
                agency_headers=bearer(factory.token(agency, "agency_collector")[1]),
                lender_headers=bearer(factory.token(lender, "lender_admin")[1]))


def promise_call(case) -> uuid.UUID:
    """A call that ended with a promise to pay."""
    with tenant_scope(case["agency"].id):
        attempt, _ = conduct.attempt(case["account_id"], conduct.AttemptRequest(channel="call"),
                                     collector_user_id=case["collector"].id)
        conduct.record_outcome(attempt.id, "promise_to_pay")
        return attempt.id


def take(client, case, amount="500.00", due_on="2026-12-05", headers=None, **body):
    return client.post(f"/api/v1/accounts/{case['account_id']}/promises",
                       json={"amount": amount, "due_on": due_on, **body}, headers=headers or case["agency_headers"])


def pay(case, amount: str, received_on: date, confirm: bool = True) -> uuid.UUID:
    with tenant_scope(case["agency"].id):
        payment_id = payments.record(case["account_id"], amount=amount, received_on=received_on,
                                     method="bank_transfer").id
    if confirm:
        with tenant_scope(case["lender"].id):
            payments.confirm(payment_id, None)
    return payment_id


def review(case, db_session):
    with tenant_scope(case["agency"].id):
        result = promises.review()
        db_session.flush()
        db_session.expire_all()
        return result


def state(case, db_session, promise_id) -> tuple:
    with tenant_scope(case["agency"].id):
        db_session.expire_all()
        found = db_session.get(Promise, uuid.UUID(str(promise_id)))
        return found.status, found.paid_minor, found.resolution


def audit_count(case, db_session) -> int:
    with tenant_scope(case["agency"].id):
        return db_session.scalar(select(func.count()).select_from(AuditEvent))


def test_a_promise_is_kept_when_confirmed_payments_reach_it_by_the_last_day_and_a_rerun_changes_nothing(
        client, case, db_session, frozen_clock):
    attempt_id = promise_call(case)
    made = take(client, case, attempt_id=str(attempt_id), note="will pay from salary")
    assert made.status_code == 201, made.json
    assert (made.json["status"], made.json["amount_minor"], made.json["grace_days"]) == ("open", 50_000, 2)
    assert made.json["last_day_to_pay"] == "2026-12-07" and made.json["zone"] == "Asia/Shanghai"
    assert made.json["attempt_id"] == str(attempt_id)

    frozen_clock.set(shanghai(3, 11))
    pay(case, "300.00", date(2026, 12, 3))
    assert review(case, db_session)["open"] == 1
    assert state(case, db_session, made.json["id"])[:2] == ("open", 30_000)
    frozen_clock.set(shanghai(7, 20))  # within the grace days
    pay(case, "200.00", date(2026, 12, 7))
    assert review(case, db_session)["kept"] == 1
    assert state(case, db_session, made.json["id"]) == ("kept", 50_000, "paid")

    events = audit_count(case, db_session)
    frozen_clock.set(shanghai(9, 9))
    assert review(case, db_session) == {"kept": 0, "broken": 0, "cancelled": 0, "open": 0}
    assert audit_count(case, db_session) == events
    lender_view = client.get(f"/api/v1/promises/{made.json['id']}", headers=case["lender_headers"])
    assert lender_view.status_code == 200 and lender_view.json["status"] == "kept"


def test_an_unpaid_promise_breaks_after_the_grace_days_and_comes_back_to_the_queue(client, case, db_session,
                                                                                   frozen_clock):
    made = take(client, case).json
    pay(case, "100.00", date(2026, 12, 1))
    account_ids = [case["account_id"]]
    with tenant_scope(case["agency"].id):
        assert promises.promises_due(account_ids, date(2026, 12, 4)) == {}
        assert str(promises.promises_due(account_ids, date(2026, 12, 5))[case["account_id"]].id) == made["id"]

    frozen_clock.set(shanghai(7, 23, 30))  # the last day to pay, in the debtor's zone
    review(case, db_session)
    assert state(case, db_session, made["id"])[0] == "open"
    with tenant_scope(case["agency"].id):
        assert case["account_id"] in promises.promises_due(account_ids, date(2026, 12, 7)), "still due in grace"

    frozen_clock.set(shanghai(8, 0, 30))
    assert review(case, db_session)["broken"] == 1
    status, paid, resolution = state(case, db_session, made["id"])
    assert (status, paid, resolution) == ("broken", 10_000, "not paid by 2026-12-07")
    with tenant_scope(case["agency"].id):
        back = promises.broken_since(account_ids, shanghai(8, 0))
        assert str(back[case["account_id"]].id) == made["id"]
        assert promises.broken_since(account_ids, shanghai(8, 1)) == {}
        assert promises.promises_due(account_ids, date(2026, 12, 8)) == {}
    events = audit_count(case, db_session)
    assert review(case, db_session)["broken"] == 0 and audit_count(case, db_session) == events


def test_a_payment_awaiting_confirmation_keeps_the_promise_open_until_the_lender_decides(client, case, db_session,
                                                                                         frozen_clock):
    made = take(client, case).json
    frozen_clock.set(shanghai(4, 18))
    payment_id = pay(case, "500.00", date(2026, 12, 4), confirm=False)
    frozen_clock.set(shanghai(9, 10))
    review(case, db_session)
    assert state(case, db_session, made["id"])[0] == "open"
    with tenant_scope(case["lender"].id):
        payments.reverse(payment_id, "never arrived", None)
    review(case, db_session)
    assert state(case, db_session, made["id"])[0] == "broken"


def test_a_new_promise_replaces_the_open_one(client, case, db_session, frozen_clock):
    first = take(client, case).json
    frozen_clock.advance(timedelta(minutes=3))
    second = take(client, case, amount="300", due_on="2026-12-10").json
    assert state(case, db_session, first["id"]) == ("cancelled", 0, "replaced by a new promise")
    listed = client.get(f"/api/v1/accounts/{case['account_id']}/promises", headers=case["agency_headers"]).json
    assert [(p["id"], p["status"]) for p in listed["items"]] == [(second["id"], "open"), (first["id"], "cancelled")]


@pytest.mark.parametrize("body,code", [
    ({"due_on": "2026-11-30"}, "promise.due_in_past"),
    ({"amount": "4450.01"}, "money.over_balance"),
    ({"amount": "0"}, "money.not_positive"),
    ({"amount": "12.345"}, "money.too_precise"),
])
def test_bad_promises_are_refused(client, case, body, code):
    response = take(client, case, **body)
    assert response.status_code == 422 and response.json["error"]["code"] == code


def test_a_promise_names_only_an_attempt_the_agency_sees(client, case):
    response = take(client, case, attempt_id=str(uuid.uuid4()))
    assert response.status_code == 404 and "attempt_id" in response.json["error"]["details"]["fields"]


def test_the_lender_reads_promises_and_other_tenants_get_404(client, case, factory):
    made = take(client, case).json
    lender_list = client.get(f"/api/v1/accounts/{case['account_id']}/promises", headers=case["lender_headers"])
    assert [p["id"] for p in lender_list.json["items"]] == [made["id"]]
    assert client.post(f"/api/v1/promises/{made['id']}/cancel", json={"reason": "x"},
                       headers=case["lender_headers"]).status_code == 404, "only agencies take or cancel promises"
    assert take(client, case, headers=case["lender_headers"]).status_code == 404
    outsider_lender, outsider_agency, _ = factory.placed_account()
    for outsider in (outsider_lender, outsider_agency):
        headers = bearer(factory.token(outsider)[1])
        assert client.get(f"/api/v1/promises/{made['id']}", headers=headers).status_code == 404
        assert client.get(f"/api/v1/accounts/{case['account_id']}/promises", headers=headers).status_code == 404
        assert client.post(f"/api/v1/promises/{made['id']}/cancel", json={"reason": "x"},
                           headers=headers).status_code == 404
    assert take(client, case, headers=bearer(factory.token(outsider_agency)[1])).status_code == 404

    cancelled = client.post(f"/api/v1/promises/{made['id']}/cancel", json={"reason": "debtor withdrew"},
                            headers=case["agency_headers"])
    assert cancelled.status_code == 200 and cancelled.json["status"] == "cancelled"
    again = client.post(f"/api/v1/promises/{made['id']}/cancel", json={"reason": "x"}, headers=case["agency_headers"])
    assert again.status_code == 409


def test_a_recalled_cases_open_promise_is_cancelled_by_the_review(client, case, db_session):
    made = take(client, case).json
    with tenant_scope(case["lender"].id):
        placement_id = db_session.scalar(select(Placement.id).where(Placement.account_id == case["account_id"]))
        placement_service.recall([placement_id], reason="returned", force=False, role="lender_admin")
    assert review(case, db_session)["cancelled"] == 1
    assert state(case, db_session, made["id"]) == ("cancelled", 0, "the placement ended")


def test_the_daily_job_reviews_every_agency_with_something_open(client, case, db_session, frozen_clock):
    made = take(client, case).json
    with platform_scope("test: periodic review"):
        enqueued = jobs.review_promises_and_plans()
    queued = [job.meta["tenant_id"] for job in queue("default").jobs
              if job.func_name.endswith("review_agency_promises_and_plans")]
    assert str(case["agency"].id) in queued and enqueued == len(queued) == len(set(queued)), "one job per agency"
    frozen_clock.set(shanghai(8, 9))
    with tenant_scope(case["agency"].id):
        first = jobs.review_agency_promises_and_plans(str(case["agency"].id))
        second = jobs.review_agency_promises_and_plans(str(case["agency"].id))
    assert first["promises"]["broken"] == 1 and second["promises"]["broken"] == 0
    assert state(case, db_session, made["id"])[0] == "broken"


def test_the_case_page_takes_and_cancels_a_promise(app, client, case, db_session):
    from tenants.portfolios.accounts import get_account
    from web.tenant.casework_money import money_panel

    agency, account_id = case["agency"], case["account_id"]
    login(client, "collector@promise.test")
    posted = client.post(f"/t/{agency.slug}/cases/{account_id}/promises",
                         data={"promise-amount": "1,000.00", "promise-due_on": "2026-12-06"})
    assert posted.status_code == 302 and posted.headers["Location"].endswith(f"/cases/{account_id}?tab=promise")
    with app.test_request_context(f"/t/{agency.slug}/cases/{account_id}"), tenant_scope(agency.id):
        g.tenant, g.role = agency, "agency_collector"
        db_session.expire_all()
        placement = db_session.scalar(select(Placement).where(Placement.account_id == account_id))
        page = render_template_string('{% include "tenant/_promises.html" %}',
                                      **money_panel(get_account(account_id), placement))
        promise = db_session.scalar(select(Promise))
        assert (promise.amount_minor, promise.due_on, promise.taken_by_user_id) == (
            100_000, date(2026, 12, 6), case["collector"].id)
    assert f"/promises/{promise.id}/cancel" in page and 'id="promise-form"' in page
    assert "Person collector" in page, "who took it, for the agency's own staff"
    refused = client.post(f"/t/{agency.slug}/promises/{promise.id}/cancel", data={"reason": ""})
    assert refused.status_code == 302 and state(case, db_session, promise.id)[0] == "open"
    client.post(f"/t/{agency.slug}/promises/{promise.id}/cancel", data={"reason": "wrong amount"})
    assert state(case, db_session, promise.id) == ("cancelled", 0, "wrong amount")
