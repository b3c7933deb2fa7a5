"""The collector's loop on the case page and the queue behind it: a worked case does not come back on top the same
day (a broken promise followed by a new promise, a payment or a contact included) unless a callback falls due; each
row says why it is where it is; a call is decided before anything dials and its outcome, promise and note are saved
together; "save and next" opens the next case of the same filtered queue; the gateway's signed callback records how
the call went, once."""
import json
import re
import uuid
from datetime import date, time, timedelta

import pytest
from sqlalchemy import func, select

from tenants.audit import AuditEvent
from tenants.casework import notes, payments, promises, worklist
from tenants.casework.money_models import Promise
from tenants.conduct import service as conduct
from tenants.conduct.models import AttemptStatus, ContactAttempt
from tenants.context import tenant_scope
from tenants.db import db
from tenants.telephony import gateways
from tenants.telephony.models import Call
from tests.factories import login
from tests.integration.test_worklist import SHANGHAI_10AM, build, refs
from tests.integration.test_worklist import queue_desk as queue_desk  # noqa: F401  (a fixture)

SECRET = "telephony-test-secret"


class ScriptedGateway:
    """A CTI that answers as told and counts what it dialled (the numbers stay in memory only)."""

    name, places_calls = "cti", True

    def __init__(self, *events):
        self.events, self.dialled = events, []

    def dial(self, request):
        self.dialled.append(request.number)
        return gateways.Dialled(gateway_call_id=f"cti-{request.reference}", events=self.events)


@pytest.fixture
def phone_system(monkeypatch, app):
    def use(*events):
        gateway = ScriptedGateway(*events)
        monkeypatch.setattr(gateways, "from_config", lambda config: gateway)
        return gateway
    monkeypatch.setitem(app.config, "TELEPHONY_SECRET", SECRET)
    return use


def _phone_id(desk, index):
    with tenant_scope(desk.agency.id):
        return conduct.get_account(desk.ids[index]).phones[0].id


def _contact(desk, index, outcome="right_party_contact"):
    with tenant_scope(desk.agency.id):
        record, _ = conduct.attempt(desk.ids[index], conduct.AttemptRequest(channel="call"),
                                    collector_user_id=desk.collectors[0].id)
        conduct.record_outcome(record.id, outcome)
        db.session.commit()


def _broken_promise(desk, index, frozen_clock):
    frozen_clock.set(SHANGHAI_10AM - timedelta(days=6))
    with tenant_scope(desk.agency.id):
        promises.take(desk.ids[index], amount="100.00", due_on=date(2026, 11, 26), user_id=desk.collectors[0].id)
        db.session.commit()
    frozen_clock.set(SHANGHAI_10AM - timedelta(hours=8))  # the nightly review, today 02:00 in Shanghai
    with tenant_scope(desk.agency.id):
        assert promises.review()["broken"] == 1
        db.session.commit()
    frozen_clock.set(SHANGHAI_10AM)


@pytest.mark.parametrize("then", ["new promise", "payment", "contact"])
def test_a_broken_promise_followed_by_work_no_longer_ranks_the_case_first(queue_desk, frozen_clock, then):
    _broken_promise(queue_desk, 0, frozen_clock)
    queue = build(queue_desk)
    assert refs(queue.ready)[0] == "A-SMALL" and queue.ready[0].why == worklist.Why.PROMISE_BROKEN
    with tenant_scope(queue_desk.agency.id):
        if then == "new promise":
            promises.take(queue_desk.ids[0], amount="100.00", due_on=date(2026, 12, 4),
                          user_id=queue_desk.collectors[0].id)
        elif then == "payment":
            payments.record(queue_desk.ids[0], amount="50.00", received_on=date(2026, 12, 1), method="alipay",
                            user_id=queue_desk.collectors[0].id)
        db.session.commit()
    if then == "contact":
        _contact(queue_desk, 0)
    queue = build(queue_desk)
    assert refs(queue.ready)[0] == "C-BIG-OLDER"
    worked = {i.external_ref: i for i in queue.ready}["A-SMALL"]
    assert worked.promise is None
    if then != "payment":  # a payment the lender has not confirmed is not the collector's work of the day
        assert worked.why == worklist.Why.WORKED_TODAY and refs(queue.ready)[-1] == "A-SMALL"


def test_a_case_worked_today_waits_below_the_others_until_its_callback_falls_due(queue_desk, frozen_clock):
    _contact(queue_desk, 2)  # C-BIG-OLDER, first until now
    queue = build(queue_desk)
    assert refs(queue.ready) == ["B-BIG", "A-SMALL", "D-CALLBACK", "C-BIG-OLDER"]
    assert [i.why for i in queue.ready][-1] == worklist.Why.WORKED_TODAY
    with tenant_scope(queue_desk.agency.id):
        notes.schedule_callback(queue_desk.ids[2], on=date(2026, 12, 1), at=time(15),
                                zone=None, note="after work", collector_user_id=None,
                                user_id=queue_desk.collectors[0].id, role="agency_collector",
                                fallback_zone="Asia/Shanghai")
        db.session.commit()
    frozen_clock.advance(timedelta(hours=5, minutes=5))  # 15:05 in Shanghai: both callbacks have fallen due
    queue = build(queue_desk)
    assert refs(queue.ready)[:2] == ["C-BIG-OLDER", "D-CALLBACK"]
    assert queue.ready[0].why == worklist.Why.CALLBACK_DUE


def test_the_queue_page_says_why_and_its_links_carry_the_filters(queue_desk, client):
    _contact(queue_desk, 1)
    login(client, queue_desk.collector_emails[0])
    page = client.get(f"/t/{queue_desk.agency.slug}/queue?dpd_min=5").get_data(as_text=True)
    assert "Never contacted" in page and "Worked today: after the others" in page
    assert re.search(rf'/cases/{queue_desk.ids[2]}\?dpd_min=5"', page)


def _open_call(client, desk, phone_system, *events, index=2, query="dpd_min=5"):
    gateway = phone_system(*events)
    called = client.post(f"/t/{desk.agency.slug}/cases/{desk.ids[index]}/call?{query}",
                         data={"phone_id": str(_phone_id(desk, index))})
    assert called.status_code == 302, called.get_data(as_text=True)[:500]
    assert called.headers["Location"].endswith(f"/cases/{desk.ids[index]}?tab=contact&{query}")
    page = client.get(called.headers["Location"]).get_data(as_text=True)
    attempt_id = re.search(r"/contact-attempts/([0-9a-f-]{36})/wrap-up", page)
    return gateway, page, uuid.UUID(attempt_id.group(1)) if attempt_id else None


def test_call_promise_and_save_and_next_in_one_flow(queue_desk, client, phone_system):
    login(client, queue_desk.collector_emails[0])
    gateway, page, attempt_id = _open_call(client, queue_desk, phone_system, gateways.CallEvent("answered", 95))
    assert len(gateway.dialled) == 1 and gateway.dialled[0] not in page  # dialled server-side, never shown
    assert "answered" in page and 'id="wrap-up-promise"' in page
    with tenant_scope(queue_desk.agency.id):
        balance = conduct.get_account(queue_desk.ids[2]).outstanding_minor
    assert f'value="{balance // 100}.{balance % 100:02d}"' in page  # the whole balance, the promise to start from
    saved = client.post(f"/t/{queue_desk.agency.slug}/contact-attempts/{attempt_id}/wrap-up?dpd_min=5", data={
        "wrap-outcome_code": "promise_to_pay", "wrap-amount": "300.00", "wrap-due_on": "2026-12-04",
        "wrap-note": "pays on payday", "then": "next"})
    assert saved.status_code == 302 and "/queue/next?" in saved.headers["Location"]
    assert f"done={queue_desk.ids[2]}" in saved.headers["Location"] and "dpd_min=5" in saved.headers["Location"]
    following = client.get(saved.headers["Location"])
    assert following.headers["Location"].endswith(f"/cases/{queue_desk.ids[1]}?dpd_min=5")  # B-BIG, then the rest
    with tenant_scope(queue_desk.agency.id):
        attempt = db.session.get(ContactAttempt, attempt_id)
        promise = db.session.scalar(select(Promise).where(Promise.account_id == queue_desk.ids[2]))
        assert attempt.outcome_code == "promise_to_pay" and attempt.status == AttemptStatus.COMPLETED
        assert promise.amount_minor == 30_000 and promise.attempt_id == attempt_id
        assert [n.body for n in notes.notes_of(queue_desk.ids[2])] == ["pays on payday"]


def test_a_refused_piece_of_the_wrap_up_saves_nothing(queue_desk, client, phone_system):
    login(client, queue_desk.collector_emails[0])
    _, _, attempt_id = _open_call(client, queue_desk, phone_system, gateways.CallEvent("answered", 40))
    saved = client.post(f"/t/{queue_desk.agency.slug}/contact-attempts/{attempt_id}/wrap-up", data={
        "wrap-outcome_code": "promise_to_pay", "wrap-amount": "999999.00", "wrap-due_on": "2026-12-04",
        "then": "next"})
    assert saved.status_code == 302 and saved.headers["Location"].endswith("?tab=contact")
    with tenant_scope(queue_desk.agency.id):
        assert db.session.get(ContactAttempt, attempt_id).status == AttemptStatus.PENDING
        assert promises.of_account(queue_desk.ids[2]) == []


def test_no_answer_is_recorded_by_the_phone_system_and_next_moves_on(queue_desk, client, phone_system):
    login(client, queue_desk.collector_emails[0])
    _, page, attempt_id = _open_call(client, queue_desk, phone_system, gateways.CallEvent("no_answer", 0))
    assert attempt_id is None and "No answer: recorded." in page and 'id="save-next"' in page
    with tenant_scope(queue_desk.agency.id):
        [call] = db.session.scalars(select(Call)).all()
        assert db.session.get(ContactAttempt, call.attempt_id).outcome_code == "no_answer"


def test_a_refused_call_never_dials(queue_desk, client, phone_system):
    for _ in range(3):
        _contact(queue_desk, 2)
    login(client, queue_desk.collector_emails[0])
    gateway = phone_system(gateways.CallEvent("answered", 10))
    refused = client.post(f"/t/{queue_desk.agency.slug}/cases/{queue_desk.ids[2]}/call",
                          data={"phone_id": str(_phone_id(queue_desk, 2))})
    assert refused.status_code == 422 and "CN.CALLS.CONNECTED" in refused.get_data(as_text=True)
    assert gateway.dialled == []
    with tenant_scope(queue_desk.agency.id):
        assert db.session.scalar(select(func.count()).select_from(Call)) == 0


def test_the_softphone_link_is_an_audited_reveal_shown_once(queue_desk, client, app, monkeypatch):
    monkeypatch.setitem(app.config, "TELEPHONY_GATEWAY", "tel")
    login(client, queue_desk.collector_emails[0])
    answer = client.post(f"/t/{queue_desk.agency.slug}/cases/{queue_desk.ids[2]}/call",
                         data={"phone_id": str(_phone_id(queue_desk, 2))}, follow_redirects=True)
    with tenant_scope(queue_desk.agency.id):
        number = conduct.get_account(queue_desk.ids[2]).phones[0].phone
        reveals = db.session.scalars(select(AuditEvent).where(AuditEvent.action == "pii.revealed")).all()
        attempts = db.session.scalar(select(func.count()).select_from(ContactAttempt))
    assert answer.status_code == 200 and f'href="tel:{number}"' in answer.get_data(as_text=True)
    assert [e.after["purpose"] for e in reveals] == ["dial"]
    # the answer was a redirect: reloading the page it led to neither shows the number again nor dials again
    reloaded = client.get(answer.request.full_path).get_data(as_text=True)
    assert number not in reloaded
    with tenant_scope(queue_desk.agency.id):
        assert db.session.scalar(select(func.count()).select_from(ContactAttempt)) == attempts


def _signed(client, payload, secret=SECRET):
    body = json.dumps(payload).encode()
    return client.post("/telephony/events", data=body, content_type="application/json",
                       headers={gateways.SIGNATURE_HEADER: gateways.sign(secret, body)})


def test_the_gateway_callback_is_signed_known_and_applied_once(queue_desk, client, phone_system):
    login(client, queue_desk.collector_emails[0])
    _, _, attempt_id = _open_call(client, queue_desk, phone_system)  # rings; nothing reported yet
    with tenant_scope(queue_desk.agency.id):
        call = db.session.scalar(select(Call))
        gateway_call_id, call_id = call.gateway_call_id, call.id
    report = {"call_id": gateway_call_id, "status": "busy", "duration_s": 0}
    assert _signed(client, report, secret="wrong").status_code == 401
    assert _signed(client, {**report, "call_id": "cti-unknown"}).status_code == 404
    assert _signed(client, {**report, "status": "exploded"}).status_code == 422
    assert _signed(client, report).status_code == 200
    with tenant_scope(queue_desk.agency.id):
        events = db.session.scalar(select(func.count()).select_from(AuditEvent))
    again = _signed(client, {**report, "status": "answered", "duration_s": 60})
    assert again.status_code == 200 and again.get_json()["status"] == "busy"
    db.session.expire_all()
    with tenant_scope(queue_desk.agency.id):
        assert db.session.scalar(select(func.count()).select_from(AuditEvent)) == events
        assert db.session.get(Call, call_id).status == "busy"
        assert db.session.get(ContactAttempt, attempt_id).outcome_code == "no_answer"


def test_the_api_places_a_call_and_refuses_a_foreign_phone(queue_desk, client, factory, phone_system):
    gateway = phone_system(gateways.CallEvent("answered", 12))
    _, token = factory.token(queue_desk.agency, "agency_collector", creator=queue_desk.collectors[0])
    headers = {"Authorization": f"Bearer {token}"}
    url = f"/api/v1/accounts/{queue_desk.ids[2]}/calls"
    placed = client.post(url, json={"phone_id": str(_phone_id(queue_desk, 2))}, headers=headers)
    assert placed.status_code == 201, placed.get_json()
    body = placed.get_json()
    assert body["decision"] == "allow" and body["call"]["status"] == "answered" and body["dial_url"] is None
    foreign = client.post(url, json={"phone_id": str(_phone_id(queue_desk, 5))}, headers=headers)
    assert foreign.status_code in (404, 422) and len(gateway.dialled) == 1


def test_the_stand_in_answers_by_the_numbers_last_digit():
    standin = gateways.StandinGateway()
    assert standin.dial(gateways.DialRequest("r1", "+8613800000010")).events[0].status == "no_answer"
    assert standin.dial(gateways.DialRequest("r2", "+8613800000019")).events[0].status == "busy"
    answered = standin.dial(gateways.DialRequest("r3", "+8613800000025"))
    assert answered.events[0] == gateways.CallEvent("answered", 55) and answered.gateway_call_id == "standin-r3"
