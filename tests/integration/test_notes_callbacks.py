"""Notes and callbacks on a case, its timeline, and revealing a full ID number or phone: written by supervisors or
the case's collector, in the debtor's time for callbacks, audited (never with the words or the value), and
another agency's cases are 404."""
from datetime import date, datetime, time, timedelta, timezone

import pytest
from flask import g, render_template_string
from flask_login import login_user
from sqlalchemy import Uuid, bindparam, select, text

from tenants.audit import AuditEvent
from tenants.casework import assignment, notes, timeline, worklist
from tenants.casework.desk_models import Callback
from tenants.conduct import service as conduct
from tenants.context import tenant_scope
from tenants.db import db
from tenants.pii import mask
from tenants.tenancy.models import Membership
from tests.factories import login
from tests.integration.test_assignment import make_desk

SHANGHAI_10AM = datetime(2026, 12, 1, 2, 0, tzinfo=timezone.utc)
RESIDENT_ID = "11010119900307803X"
# What web.tenant.agency_views._render_case passes to tenant/case.html besides conduct_panel's context.
RENDER_CASE_NAMES = {"account", "placement", "lender", "updates", "next_times", "hold_reason", "debtor_time",
                     "contact_form", "refusal", "pending", "attempt_status_labels", "contact_roles",
                     "templates", "now", "money"}


@pytest.fixture
def case(factory, frozen_clock):
    """One case assigned to the first of two collectors."""
    frozen_clock.set(SHANGHAI_10AM)
    desk = make_desk(factory, [dict(external_ref="NOTE-1", id_number=RESIDENT_ID)])
    with tenant_scope(desk.agency.id):
        assignment.assign(desk.ids, desk.collectors[0].id, by_user_id=desk.supervisor.id)
        db.session.commit()
    return desk


def events(desk, action):
    with tenant_scope(desk.agency.id):
        return list(db.session.scalars(select(AuditEvent).where(AuditEvent.action == action)
                                       .order_by(AuditEvent.seq)))


def test_the_collector_adds_a_note_kept_encrypted_and_audited_without_its_words(case, client, db_session):
    login(client, case.collector_emails[0])
    words = "债务人说下周一发工资后还款"
    response = client.post(f"/t/{case.agency.slug}/cases/{case.ids[0]}/notes", data={"body": words})
    assert response.status_code == 302 and response.headers["Location"].endswith("?tab=note")
    assert "Note added." in client.get(response.headers["Location"]).get_data(as_text=True)
    with tenant_scope(case.agency.id):
        [entry] = [e for e in timeline.timeline(case.ids[0]) if e.kind == "note"]
        assert entry.fields["body"] == words and entry.user_id == case.collectors[0].id
        stored = db_session.execute(text("SELECT body FROM case_notes WHERE id = :id")
                                    .bindparams(bindparam("id", type_=Uuid())), {"id": entry.object_id})
        assert words not in stored.scalar()
    [event] = events(case, "case.note_added")
    assert event.object_id == str(case.ids[0]) and words not in str(event.after)


def test_another_collector_may_not_write_on_the_case_but_a_supervisor_may(case, client):
    login(client, case.collector_emails[1])
    response = client.post(f"/t/{case.agency.slug}/cases/{case.ids[0]}/notes", data={"body": "not mine"})
    assert "assigned to another collector" in client.get(response.headers["Location"]).get_data(as_text=True)
    login(client, case.supervisor_email)
    client.post(f"/t/{case.agency.slug}/cases/{case.ids[0]}/notes", data={"body": "checked the file"})
    with tenant_scope(case.agency.id):
        assert [n.body for n in notes.notes_of(case.ids[0])] == ["checked the file"]


def test_a_callback_is_set_in_the_debtors_time_and_raises_the_case_when_due(case, client, frozen_clock):
    login(client, case.collector_emails[0])
    response = client.post(f"/t/{case.agency.slug}/cases/{case.ids[0]}/callbacks",
                           data={"on": "2026-12-01", "at": "15:00", "note": "after work"})
    assert response.status_code == 302
    page = client.get(response.headers["Location"]).get_data(as_text=True)
    assert "Callback scheduled for" in page and "Asia/Shanghai" in page
    with tenant_scope(case.agency.id):
        [callback] = db.session.scalars(select(Callback)).all()
        assert callback.due_at == datetime(2026, 12, 1, 7, 0, tzinfo=timezone.utc)
        assert callback.collector_user_id == case.collectors[0].id and callback.local_zone == "Asia/Shanghai"
        queue = worklist.build(collector_user_id=case.collectors[0].id)
        assert not queue.ready[0].callback_due
    frozen_clock.set(datetime(2026, 12, 1, 7, 5, tzinfo=timezone.utc))
    with tenant_scope(case.agency.id):
        assert worklist.build(collector_user_id=case.collectors[0].id).ready[0].callback_due
    done = client.post(f"/t/{case.agency.slug}/callbacks/{callback.id}/done")
    assert "Callback marked done." in client.get(done.headers["Location"]).get_data(as_text=True)
    with tenant_scope(case.agency.id):
        assert not worklist.build(collector_user_id=case.collectors[0].id).ready[0].callback_due
    assert [e.action for e in events(case, "callback.scheduled") + events(case, "callback.done")] == [
        "callback.scheduled", "callback.done"]
    again = client.post(f"/t/{case.agency.slug}/callbacks/{callback.id}/cancel")
    assert "already closed" in client.get(again.headers["Location"]).get_data(as_text=True)


def test_a_callback_in_the_past_is_refused(case, client):
    login(client, case.collector_emails[0])
    response = client.post(f"/t/{case.agency.slug}/cases/{case.ids[0]}/callbacks",
                           data={"on": "2026-12-01", "at": "09:00"})
    assert "Must be in the future." in client.get(response.headers["Location"]).get_data(as_text=True)
    with tenant_scope(case.agency.id):
        assert db.session.scalars(select(Callback)).all() == []


def test_the_api_writes_and_lists_notes_and_callbacks(case, client, factory):
    headers = case.bearer(factory, "agency_collector", case.collectors[0])
    base = f"/api/v1/accounts/{case.ids[0]}"
    made = client.post(f"{base}/notes", json={"body": "left a message"}, headers=headers)
    assert made.status_code == 201, made.json
    assert client.get(f"{base}/notes", headers=headers).json["items"][0]["body"] == "left a message"
    scheduled = client.post(f"{base}/callbacks", json={"on": "2026-12-02", "at": "09:30"}, headers=headers)
    assert scheduled.status_code == 201, scheduled.json
    assert scheduled.json["due_at"].startswith("2026-12-02T01:30")
    cancelled = client.post(f"/api/v1/callbacks/{scheduled.json['id']}/cancel", headers=headers)
    assert cancelled.json["status"] == "cancelled"
    other = case.bearer(factory, "agency_collector", case.collectors[1])
    refused = client.post(f"{base}/notes", json={"body": "x"}, headers=other)
    assert refused.status_code == 403 and refused.json["error"]["code"] == "assignment.not_yours"


def test_another_agency_gets_404_for_the_case_and_its_callbacks(case, client, factory):
    with tenant_scope(case.agency.id):
        callback = notes.schedule_callback(case.ids[0], on=date(2026, 12, 2), at=time(9), zone=None, note=None,
                                           collector_user_id=None, user_id=case.supervisor.id,
                                           role="agency_supervisor", fallback_zone="Asia/Shanghai")
        db.session.commit()
    other = make_desk(factory)
    headers = other.bearer(factory)
    assert client.post(f"/api/v1/accounts/{case.ids[0]}/notes", json={"body": "x"}, headers=headers).status_code == 404
    assert client.get(f"/api/v1/accounts/{case.ids[0]}/callbacks", headers=headers).status_code == 404
    assert client.post(f"/api/v1/callbacks/{callback.id}/done", headers=headers).status_code == 404
    login(client, other.supervisor_email)
    assert client.post(f"/t/{other.agency.slug}/cases/{case.ids[0]}/notes", data={"body": "x"}).status_code == 404
    assert client.post(f"/t/{other.agency.slug}/callbacks/{callback.id}/done").status_code == 404
    assert client.post(f"/t/{other.agency.slug}/cases/{case.ids[0]}/reveal",
                       data={"field": "id_number"}).status_code == 404
    with tenant_scope(case.agency.id):
        assert notes.notes_of(case.ids[0]) == [] and db.session.get(Callback, callback.id).status == "scheduled"


def test_the_assigned_collector_reveals_the_full_id_number_and_it_is_audited(case, client):
    login(client, case.collector_emails[0])
    response = client.post(f"/t/{case.agency.slug}/cases/{case.ids[0]}/reveal", data={"field": "id_number"})
    assert response.status_code == 200 and response.headers["Cache-Control"] == "no-store"
    assert RESIDENT_ID in response.get_data(as_text=True)
    phone = client.post(f"/t/{case.agency.slug}/cases/{case.ids[0]}/reveal",
                        data={"field": "phone", "phone_position": "0"})
    assert "+86138" in phone.get_data(as_text=True)
    revealed = events(case, "pii.revealed")
    assert [e.after for e in revealed] == [{"field": "id_number"}, {"field": "phone", "phone_position": 0}]
    assert all(e.actor_user_id == case.collectors[0].id for e in revealed)
    assert RESIDENT_ID not in str([e.after for e in revealed])


def test_a_collector_not_on_the_case_may_not_reveal(case, client):
    login(client, case.collector_emails[1])
    response = client.post(f"/t/{case.agency.slug}/cases/{case.ids[0]}/reveal", data={"field": "id_number"})
    assert response.status_code == 403 and RESIDENT_ID not in response.get_data(as_text=True)
    assert events(case, "pii.revealed") == []
    login(client, case.supervisor_email)
    assert client.post(f"/t/{case.agency.slug}/cases/{case.ids[0]}/reveal",
                       data={"field": "id_number"}).status_code == 200


def test_the_timeline_tells_the_case_newest_first(case, frozen_clock):
    collector = case.collectors[0]
    with tenant_scope(case.agency.id):
        record, _ = conduct.attempt(case.ids[0], conduct.AttemptRequest(channel="call"), collector_user_id=collector.id)
        conduct.record_outcome(record.id, "callback_requested")
        frozen_clock.advance(timedelta(minutes=5))
        notes.schedule_callback(case.ids[0], on=date(2026, 12, 1), at=time(16), zone=None, note="call back at 4",
                                collector_user_id=None, user_id=collector.id, role="agency_collector",
                                fallback_zone="Asia/Shanghai")
        frozen_clock.advance(timedelta(minutes=5))
        notes.add_note(case.ids[0], "wants to pay in two parts", user_id=collector.id, role="agency_collector")
        db.session.commit()
        kinds = [(e.kind, e.user_id) for e in timeline.timeline(case.ids[0])]
    assert kinds == [("note", collector.id), ("callback", collector.id), ("contact", collector.id)]


def test_the_case_page_pieces_show_the_desk_masked_and_the_timeline(case, app, db_session):
    """The partials as `_render_case` includes them, rendered for the case's collector."""
    from web.auth import SessionUser
    from web.tenancy import enter_tenant
    from web.tenant.conduct_views import conduct_panel
    from web.tenant.worklist import queue_context

    collector = case.collectors[0]
    with app.test_request_context(f"/t/{case.agency.slug}/cases/{case.ids[0]}"):
        enter_tenant(case.agency)
        g.role = "agency_collector"
        membership = db.session.scalar(select(Membership).where(Membership.user_id == collector.id))
        login_user(SessionUser(collector, membership))
        notes.add_note(case.ids[0], "promised Friday", user_id=collector.id, role="agency_collector")
        account = conduct.get_account(case.ids[0])
        placement = assignment.held_placement(case.ids[0])
        notes.schedule_callback(case.ids[0], on=date(2026, 12, 1), at=time(18), zone=None, note="evening",
                                collector_user_id=None, user_id=collector.id, role="agency_collector",
                                fallback_zone="Asia/Shanghai")
        context = queue_context(account, placement)
        # `_render_case` merges this context with its own names and conduct_panel's: none may clash.
        assert not set(context) & (set(conduct_panel(account)) | RENDER_CASE_NAMES)
        html = render_template_string(
            '{% from "tenant/_case_worklist.html" import note_tab, callback_tab, reveal_card with context %}'
            '{{ note_tab() }}{{ callback_tab() }}{{ reveal_card() }}{% include "tenant/_case_timeline.html" %}',
            **context)
        masked_id = mask("id_number", RESIDENT_ID, "agency_collector")
    assert f"Assigned to {collector.name}" in html
    assert 'id="note-form"' in html and 'id="callback-form"' in html and "Asia/Shanghai" in html
    assert masked_id in html and RESIDENT_ID not in html
    assert "promised Friday" in html and 'class="timeline-note"' in html
    assert 'id="open-callbacks"' in html and "evening" in html
