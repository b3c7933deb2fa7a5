"""A collector's work queue: only cases he may contact now, in the documented order (promises due, callbacks due,
balance, days past due, oldest last contact); the rest listed with the rule that stops them and when contact is next
permitted; filters and search by reference or phone (blind index); his cases only; another agency sees nothing."""
import re
from datetime import date, datetime, time, timedelta, timezone

import pytest

from tenants.casework import assignment, notes, worklist
from tenants.conduct import service as conduct
from tenants.context import tenant_scope
from tenants.db import db
from tests.factories import login
from tests.integration.test_assignment import make_desk

SHANGHAI_10AM = datetime(2026, 12, 1, 2, 0, tzinfo=timezone.utc)
SHANGHAI_11PM = datetime(2026, 12, 1, 15, 0, tzinfo=timezone.utc)


@pytest.fixture
def queue_desk(factory, frozen_clock):
    """Five cases of one collector (A–E) and one of another collector (F)."""
    frozen_clock.set(SHANGHAI_10AM)
    desk = make_desk(factory, [
        dict(external_ref="A-SMALL", principal_minor=100_000, days_past_due=30),
        dict(external_ref="B-BIG", principal_minor=500_000, days_past_due=30),
        dict(external_ref="C-BIG-OLDER", principal_minor=500_000, days_past_due=90),
        dict(external_ref="D-CALLBACK", principal_minor=10_000, days_past_due=10),
        dict(external_ref="E-DISPUTED", principal_minor=900_000, days_past_due=10),
        dict(external_ref="F-OTHERS", principal_minor=700_000, days_past_due=10),
    ])
    mine, theirs = desk.collectors
    with tenant_scope(desk.agency.id):
        assignment.assign(desk.ids[:5], mine.id, by_user_id=desk.supervisor.id)
        assignment.assign(desk.ids[5:], theirs.id, by_user_id=desk.supervisor.id)
        conduct.open_hold(desk.ids[4], "dispute", reason="debtor says it was paid", source="api")
        notes.schedule_callback(desk.ids[3], on=date(2026, 12, 1), at=time(10, 30), zone=None, note="after lunch",
                                collector_user_id=None, user_id=mine.id, role="agency_collector",
                                fallback_zone="Asia/Shanghai")
        db.session.commit()
    return desk


def build(desk, collector=None, **filters):
    with tenant_scope(desk.agency.id):
        return worklist.build(collector_user_id=(collector or desk.collectors[0]).id,
                              filters=worklist.QueueFilter(**filters))


def refs(items) -> list[str]:
    return [i.external_ref for i in items]


def test_the_queue_orders_contactable_cases_by_callback_due_balance_and_days_past_due(queue_desk, frozen_clock):
    queue = build(queue_desk)
    assert refs(queue.ready) == ["C-BIG-OLDER", "B-BIG", "A-SMALL", "D-CALLBACK"]  # the callback is not due yet
    frozen_clock.advance(timedelta(minutes=45))
    queue = build(queue_desk)
    assert refs(queue.ready) == ["D-CALLBACK", "C-BIG-OLDER", "B-BIG", "A-SMALL"]
    assert queue.ready[0].callback_due and queue.ready[0].ready_channels == ["call", "sms"]


def test_a_case_on_hold_is_listed_apart_with_its_rule_and_no_time_to_wait_for(queue_desk):
    queue = build(queue_desk)
    assert refs(queue.waiting) == ["E-DISPUTED"]
    held = queue.waiting[0]
    assert held.status == worklist.Status.STOPPED and held.next_at is None
    assert held.reason.rules == ("HOLD.DISPUTE",)


def test_never_contacted_comes_before_the_oldest_contact(factory, frozen_clock):
    frozen_clock.set(SHANGHAI_10AM - timedelta(days=1))
    desk = make_desk(factory, [dict(external_ref="CALLED", days_past_due=20),
                               dict(external_ref="NEVER", days_past_due=20)])
    collector = desk.collectors[0]
    with tenant_scope(desk.agency.id):
        assignment.assign(desk.ids, collector.id, by_user_id=desk.supervisor.id)
        record, _ = conduct.attempt(desk.ids[0], conduct.AttemptRequest(channel="sms"), collector_user_id=collector.id)
        conduct.record_outcome(record.id, "delivered")
        db.session.commit()
    frozen_clock.set(SHANGHAI_10AM)
    queue = build(desk)
    assert refs(queue.ready) == ["NEVER", "CALLED"]
    assert queue.ready[1].last_contact_at == SHANGHAI_10AM - timedelta(days=1)


def test_a_promise_falling_due_today_comes_first(queue_desk, frozen_clock):
    from tenants.casework import promises

    frozen_clock.set(SHANGHAI_10AM - timedelta(days=3))
    with tenant_scope(queue_desk.agency.id):
        promises.take(queue_desk.ids[0], amount="100.00", due_on=date(2026, 12, 1),
                      user_id=queue_desk.collectors[0].id)
        db.session.commit()
    frozen_clock.set(SHANGHAI_10AM)
    queue = build(queue_desk)
    assert refs(queue.ready)[0] == "A-SMALL" and queue.ready[0].promise == "due"
    assert queue.ready[0].why == worklist.Why.PROMISE_DUE


def test_three_connected_calls_send_the_case_to_the_waiting_list_until_tomorrow(queue_desk):
    collector = queue_desk.collectors[0]
    assert "B-BIG" in refs(build(queue_desk).ready)  # the queue is cached now: the calls must invalidate it
    with tenant_scope(queue_desk.agency.id):
        for _ in range(3):
            record, _ = conduct.attempt(queue_desk.ids[1], conduct.AttemptRequest(channel="call"),
                                        collector_user_id=collector.id)
            conduct.record_outcome(record.id, "right_party_contact")
            db.session.commit()
    texts_only = {i.external_ref: i for i in build(queue_desk).ready}["B-BIG"]
    assert texts_only.ready_channels == ["sms"]  # a text message is still allowed today
    calls = build(queue_desk, channel="call")
    called = {i.external_ref: i for i in calls.waiting}["B-BIG"]
    assert "B-BIG" not in refs(calls.ready) and called.status == worklist.Status.WAITING
    assert called.reason.rules == ("CN.CALLS.CONNECTED",)
    assert called.next_at == datetime(2026, 12, 2, 0, 0, tzinfo=timezone.utc)  # 08:00 tomorrow in Shanghai


def test_at_night_every_case_waits_for_8am_debtor_time(queue_desk, frozen_clock, client):
    frozen_clock.set(SHANGHAI_11PM)
    queue = build(queue_desk)
    assert queue.ready == []
    timed = [i for i in queue.waiting if i.status == worklist.Status.WAITING]
    assert refs(timed) == ["D-CALLBACK", "C-BIG-OLDER", "B-BIG", "A-SMALL"]  # the callback fell due at 10:30
    assert {i.next_at for i in timed} == {datetime(2026, 12, 2, 0, 0, tzinfo=timezone.utc)}
    assert {i.reason.rules for i in timed} == {("CN.HOURS",)}
    login(client, queue_desk.collector_emails[0])
    page = client.get(f"/t/{queue_desk.agency.slug}/queue").get_data(as_text=True)
    assert "CN.HOURS" in page and "Asia/Shanghai" in page and "Nobody may be contacted right now." in page


def test_filters_narrow_the_queue(queue_desk):
    assert refs(build(queue_desk, dpd_min=31).ready) == ["C-BIG-OLDER"]
    assert refs(build(queue_desk, balance_max_minor=200_000).ready) == ["A-SMALL", "D-CALLBACK"]
    assert refs(build(queue_desk, lender_id=queue_desk.lender.id).ready) == ["C-BIG-OLDER", "B-BIG", "A-SMALL",
                                                                            "D-CALLBACK"]
    other_lender = build(queue_desk, lender_id=queue_desk.agency.id)
    assert other_lender.ready == [] and other_lender.waiting == []
    assert build(queue_desk, channel="email").total == 0  # the placement does not allow email


def test_search_finds_a_case_by_external_reference_or_by_phone_in_any_written_form(queue_desk):
    with tenant_scope(queue_desk.lender.id):
        phone = queue_desk.accounts[2].phones[0].phone  # +86138…
    assert refs(build(queue_desk, search="B-BIG").ready) == ["B-BIG"]
    assert refs(build(queue_desk, search=phone[3:]).ready) == ["C-BIG-OLDER"]
    assert refs(build(queue_desk, search=f"{phone[:3]} {phone[3:6]}-{phone[6:]}").ready) == ["C-BIG-OLDER"]
    assert build(queue_desk, search="+8613900000000").total == 0


def test_the_queue_page_lists_the_collectors_own_cases_in_order(queue_desk, client):
    login(client, queue_desk.collector_emails[0])
    page = client.get(f"/t/{queue_desk.agency.slug}/queue").get_data(as_text=True)
    ready = page.split('id="queue-ready"')[1].split('id="queue-waiting"')[0]
    assert re.findall(r">([A-F]-[A-Z-]+)</a>", ready) == ["C-BIG-OLDER", "B-BIG", "A-SMALL", "D-CALLBACK"]
    waiting = page.split('id="queue-waiting"')[1]
    assert "E-DISPUTED" in waiting and "HOLD.DISPUTE" in waiting and "not by waiting" in waiting
    assert "F-OTHERS" not in page


def test_a_collector_sees_only_his_own_queue(queue_desk, client, factory):
    mine, theirs = queue_desk.collectors
    login(client, queue_desk.collector_emails[0])
    assert client.get(f"/t/{queue_desk.agency.slug}/queue?collector={theirs.id}").status_code == 403
    assert client.get(f"/t/{queue_desk.agency.slug}/queue?collector=team").status_code == 403
    headers = queue_desk.bearer(factory, "agency_collector", mine)
    own = client.get("/api/v1/queue", headers=headers)
    assert own.status_code == 200, own.json
    assert [i["external_ref"] for i in own.json["ready"]] == ["C-BIG-OLDER", "B-BIG", "A-SMALL", "D-CALLBACK"]
    assert own.json["waiting"][0]["reason"]["rules"] == ["HOLD.DISPUTE"]
    assert client.get(f"/api/v1/queue?collector_user_id={theirs.id}", headers=headers).status_code == 403


def test_a_supervisor_sees_any_collectors_queue_the_team_and_the_unassigned(queue_desk, client, factory):
    with tenant_scope(queue_desk.agency.id):
        assignment.release([queue_desk.ids[0]], by_user_id=queue_desk.supervisor.id)
        db.session.commit()
    login(client, queue_desk.supervisor_email)
    theirs = client.get(f"/t/{queue_desk.agency.slug}/queue?collector={queue_desk.collectors[1].id}")
    assert "F-OTHERS" in theirs.get_data(as_text=True) and "B-BIG" not in theirs.get_data(as_text=True)
    team = client.get(f"/t/{queue_desk.agency.slug}/queue").get_data(as_text=True)
    assert "F-OTHERS" in team and "B-BIG" in team and "A-SMALL" not in team
    headers = queue_desk.bearer(factory)
    unassigned = client.get("/api/v1/queue?scope=unassigned", headers=headers).json
    assert [i["external_ref"] for i in unassigned["ready"]] == ["A-SMALL"]
    assert unassigned["ready"][0]["channels"]["call"]["outcome"] == "allow"


def test_another_agency_and_the_lender_see_no_queue(queue_desk, client, factory):
    other = make_desk(factory)
    login(client, other.supervisor_email)
    assert client.get(f"/t/{queue_desk.agency.slug}/queue").status_code == 404
    team = client.get(f"/t/{other.agency.slug}/queue").get_data(as_text=True)
    assert "B-BIG" not in team
    foreign = client.get(f"/api/v1/queue?collector_user_id={queue_desk.collectors[0].id}",
                         headers=other.bearer(factory))
    assert foreign.status_code == 404  # not a collector of this agency: as if nobody had that id
    lender_headers = {"Authorization": f"Bearer {factory.token(queue_desk.lender, 'lender_admin')[1]}"}
    assert client.get("/api/v1/queue", headers=lender_headers).status_code == 404


def test_a_call_waiting_for_its_outcome_is_flagged_on_the_queue_until_recorded(queue_desk, client):
    """CONDUCT_RULES "an unanswered question counts against the caller": until its outcome is recorded the call
    counts as connected, so the queue shows it as something to finish, with a link to the case's contact tab."""
    collector = queue_desk.collectors[0]
    with tenant_scope(queue_desk.agency.id):
        record, _ = conduct.attempt(queue_desk.ids[1], conduct.AttemptRequest(channel="call"),
                                    collector_user_id=collector.id)
        db.session.commit()
    queue = build(queue_desk)
    items = {i.external_ref: i for i in [*queue.ready, *queue.waiting]}
    assert items["B-BIG"].awaiting_outcome == 1 and items["A-SMALL"].awaiting_outcome == 0
    login(client, queue_desk.collector_emails[0])
    page = client.get(f"/t/{queue_desk.agency.slug}/queue").get_data(as_text=True)
    row = page.split(f'id="queue-{queue_desk.ids[1]}"')[1].split("</tr>")[0]
    assert "1 outcome to record" in row and "tab=contact" in row
    with tenant_scope(queue_desk.agency.id):
        conduct.record_outcome(record.id, "no_answer")
        db.session.commit()
    queue = build(queue_desk)
    assert {i.external_ref: i for i in [*queue.ready, *queue.waiting]}["B-BIG"].awaiting_outcome == 0
