"""Outbound webhooks end to end: events written by the services, delivered by a real rq worker (forking work horse)
to a real HTTP receiver on loopback, signed, retried, ordered per account, disabled when failing for long, asked
for again — and never carrying the debtor's personal data."""
import json
import uuid
from datetime import date, timedelta

import pytest
from sqlalchemy import select

from tenants import clock, webhooks
from tenants.audit import AuditEvent
from tenants.casework import payments, promises
from tenants.conduct import service as conduct
from tenants.context import tenant_scope
from tenants.db import db
from tenants.placements.models import Placement
from tenants.portfolios.models import Account, AccountPhone
from tenants.webhooks import delivery as webhook_delivery
from tenants.webhooks import endpoints
from tenants.webhooks.models import DeliveryStatus, WebhookDelivery, WebhookEndpoint, WebhookEvent
from tests.factories import Factory
from web.demo import webhook_receiver
from workers.connection import connection
from workers.queues import enqueue
from workers.worker import RecoverlyWorker

pytestmark = pytest.mark.postgres

ID_NUMBER = "11010519491231002X"


def run_worker(app):
    RecoverlyWorker(["default"], connection=connection(), flask_app=app).work(burst=True, with_scheduler=False)


@pytest.fixture
def receiver(app):
    previous = app.config.get("WEBHOOKS_ALLOW_PRIVATE_URLS")
    app.config["WEBHOOKS_ALLOW_PRIVATE_URLS"] = True  # the receiver is on loopback: development and tests only
    with webhook_receiver.running() as running:
        yield running
    app.config["WEBHOOKS_ALLOW_PRIVATE_URLS"] = previous


class World:
    lender_id: uuid.UUID
    agency_id: uuid.UUID
    account_id: uuid.UUID
    external_ref: str
    endpoint_id: uuid.UUID
    secret: str
    debtor_name: str
    phone: str


@pytest.fixture
def world(app, receiver):
    """A lender with an account placed with an agency (committed: the forked worker reads only committed rows),
    the debtor's resident ID on file, and the lender's endpoint on the receiver for every event type."""
    w = World()
    with app.app_context():
        factory = Factory(db.session)
        lender = factory.tenant("lender")
        objects = factory.placed_portfolio(lender)
        with tenant_scope(lender.id):
            account = db.session.get(Account, objects["account_id"])
            account.id_number = ID_NUMBER
            w.agency_id = db.session.get(Placement, objects["placement_id"]).agency_tenant_id
            w.debtor_name, w.external_ref = account.debtor_name, account.external_ref
            w.phone = db.session.scalar(select(AccountPhone.phone).where(AccountPhone.account_id == account.id))
            endpoint, w.secret = endpoints.create(url=f"{receiver.url}/hooks/lender", event_types=["*"],
                                                  description="loan system", created_by=None, allow_private=True)
            endpoint.created_at = clock.now() - timedelta(seconds=1)  # only what happens from here on
            w.endpoint_id = endpoint.id
            # What the placement told before the endpoint existed is not sent.
            db.session.execute(WebhookEvent.__table__.update().where(WebhookEvent.tenant_id == lender.id)
                               .values(dispatched_at=clock.now()))
        db.session.commit()
        w.lender_id, w.account_id = lender.id, objects["account_id"]
        db.session.remove()
    receiver.secrets["/hooks/lender"] = w.secret
    run_worker(app)  # the commit's nudge: nothing to send yet
    return w


def _agency_works_the_case(app, w, *, promise=True, payment=True, contact=True):
    with app.app_context(), tenant_scope(w.agency_id):
        if contact:
            try:
                conduct.attempt(w.account_id, conduct.AttemptRequest(channel="sms"), collector_user_id=None)
            except conduct.ConductBlocked:
                pass  # decided (refused) all the same: told all the same
        if promise:
            promises.take(w.account_id, amount="50", due_on=clock.now().date() + timedelta(days=3), user_id=None)
            db.session.commit()
        if payment:
            payments.record(w.account_id, amount="20", received_on=clock.now().date(), method="bank_transfer")
            db.session.commit()
        db.session.remove()


def _deliveries(app, w) -> list[WebhookDelivery]:
    with app.app_context(), tenant_scope(w.lender_id):
        found = list(db.session.scalars(select(WebhookDelivery).where(WebhookDelivery.endpoint_id == w.endpoint_id)
                                        .order_by(WebhookDelivery.event_seq, WebhookDelivery.created_at)))
        for d in found:
            db.session.expunge(d)
        db.session.remove()
        return found


def _endpoint(app, w) -> WebhookEndpoint:
    with app.app_context(), tenant_scope(w.lender_id):
        endpoint = db.session.get(WebhookEndpoint, w.endpoint_id)
        db.session.expunge(endpoint)
        db.session.remove()
        return endpoint


def test_the_lender_learns_of_the_agencys_work_signed_and_without_personal_data(app, world, receiver):
    _agency_works_the_case(app, world)
    run_worker(app)

    received = [r for r in receiver.received if r.path == "/hooks/lender"]
    types = [r.json["type"] for r in received]
    assert types == ["contact_attempt.decided", "promise.made", "payment.recorded"]
    assert all(r.verified for r in received), "every request verifies with the endpoint's secret"
    for r in received:
        body = r.json
        assert r.headers["Recoverly-Event-Id"] == body["id"]
        assert body["tenant"] == str(world.lender_id)
        assert body["account"] == {"id": str(world.account_id), "external_ref": world.external_ref}
        text = r.body.decode()
        for personal in (world.debtor_name, world.phone, world.phone.lstrip("+"), world.phone[-11:], ID_NUMBER):
            assert personal not in text, f"personal data in a {body['type']} event"
    contact = received[0].json
    assert contact["data"]["channel"] == "sms" and contact["data"]["verdict"] in ("allow", "block", "needs_approval")
    assert isinstance(contact["data"]["rule_ids"], list)
    assert received[2].json["data"] == {"amount_minor": 2000, "currency": "CNY", "method": "bank_transfer",
                                        "received_on": clock.now().date().isoformat(), "source": "staff"}
    assert all(d.status == DeliveryStatus.SUCCEEDED and d.response_status == 200 for d in _deliveries(app, world))


def test_a_failed_delivery_is_retried_after_its_backoff_with_the_same_event_id(app, frozen_clock, world, receiver):
    receiver.fail_next(1)
    _agency_works_the_case(app, world, contact=False, payment=False)
    run_worker(app)
    [first] = _deliveries(app, world)
    assert (first.status, first.attempts, first.response_status) == (DeliveryStatus.PENDING, 1, 500)
    assert first.response_excerpt == "temporarily unavailable"
    assert first.next_attempt_at == clock.now() + webhook_delivery.BACKOFF[0]
    assert receiver.received == []

    enqueue("workers.jobs.deliver_webhooks", tenant_id=world.lender_id)
    run_worker(app)
    assert _deliveries(app, world)[0].attempts == 1, "not due yet: not tried again"

    frozen_clock.advance(webhook_delivery.BACKOFF[0])
    enqueue("workers.jobs.deliver_webhooks", tenant_id=world.lender_id)
    run_worker(app)
    [again] = _deliveries(app, world)
    assert (again.status, again.attempts, again.response_status) == (DeliveryStatus.SUCCEEDED, 2, 200)
    assert [r.json["id"] for r in receiver.received] == [str(again.event_id)]


def test_an_accounts_later_event_waits_until_the_earlier_one_is_delivered(app, frozen_clock, world, receiver):
    receiver.fail_next(1)
    _agency_works_the_case(app, world, contact=False)  # promise.made, then payment.recorded: one account
    run_worker(app)
    made, paid = _deliveries(app, world)
    assert (made.attempts, paid.attempts) == (1, 0), "the payment waits behind the promise"
    assert receiver.received == []

    frozen_clock.advance(webhook_delivery.BACKOFF[0])
    enqueue("workers.jobs.deliver_webhooks", tenant_id=world.lender_id)
    run_worker(app)
    assert [r.json["type"] for r in receiver.received] == ["promise.made", "payment.recorded"]


def test_a_delivery_given_up_no_longer_holds_the_account_back(app, frozen_clock, world, receiver):
    receiver.fail_next(webhook_delivery.MAX_ATTEMPTS)
    _agency_works_the_case(app, world, contact=False)
    for wait in (timedelta(0), *webhook_delivery.BACKOFF):
        frozen_clock.advance(wait)
        enqueue("workers.jobs.deliver_webhooks", tenant_id=world.lender_id)
        run_worker(app)
    made, paid = _deliveries(app, world)
    assert (made.status, made.attempts) == (DeliveryStatus.GAVE_UP, webhook_delivery.MAX_ATTEMPTS)
    assert paid.status == DeliveryStatus.SUCCEEDED
    assert [r.json["type"] for r in receiver.received] == ["payment.recorded"]


def test_an_endpoint_failing_for_hours_is_disabled_with_a_notice(app, frozen_clock, world, receiver):
    receiver.fail_next(100, status=503)
    with app.app_context(), tenant_scope(world.lender_id):
        for n in range(webhook_delivery.DISABLE_AFTER_FAILURES):
            webhooks.emit("import.completed", refs={"import_id": uuid.uuid4()}, data={"created": n})
        db.session.commit()
        db.session.remove()
    run_worker(app)
    endpoint = _endpoint(app, world)
    assert endpoint.active and endpoint.consecutive_failures == webhook_delivery.DISABLE_AFTER_FAILURES

    frozen_clock.advance(webhook_delivery.DISABLE_AFTER)
    enqueue("workers.jobs.deliver_webhooks", tenant_id=world.lender_id)
    run_worker(app)
    endpoint = _endpoint(app, world)
    assert (endpoint.active, endpoint.disabled_reason) == (False, "failures")
    with app.app_context(), tenant_scope(world.lender_id):
        actions = list(db.session.scalars(select(AuditEvent.action).where(
            AuditEvent.tenant_id == world.lender_id, AuditEvent.object_id == str(world.endpoint_id))))
        db.session.remove()
    assert "webhook.endpoint_disabled" in actions
    attempts = sum(d.attempts for d in _deliveries(app, world))
    enqueue("workers.jobs.deliver_webhooks", tenant_id=world.lender_id)
    frozen_clock.advance(timedelta(days=1))
    run_worker(app)
    assert sum(d.attempts for d in _deliveries(app, world)) == attempts, "a disabled endpoint is not called"


def test_redeliver_sends_the_same_event_again(app, world, receiver):
    _agency_works_the_case(app, world, contact=False, payment=False)
    run_worker(app)
    [delivered] = _deliveries(app, world)
    with app.app_context(), tenant_scope(world.lender_id):
        endpoints.redeliver(endpoints.get_delivery(delivered.id))
        db.session.commit()
        db.session.remove()
    run_worker(app)
    assert [r.json["id"] for r in receiver.received] == [str(delivered.event_id)] * 2
    assert [d.status for d in _deliveries(app, world)] == [DeliveryStatus.SUCCEEDED] * 2


def test_during_a_rotation_both_secrets_sign(app, world, receiver):
    with app.app_context(), tenant_scope(world.lender_id):
        new_secret = endpoints.rotate_secret(endpoints.get(world.endpoint_id), overlap_hours=24)
        db.session.commit()
        db.session.remove()
    _agency_works_the_case(app, world, contact=False, payment=False)
    run_worker(app)
    [request] = receiver.received
    from tenants.webhooks import signing

    header = request.headers[signing.HEADER]
    assert header.count("v1=") == 2
    assert signing.verify(header, request.body, world.secret) and signing.verify(header, request.body, new_secret)


def test_an_agency_writes_events_for_its_lender_but_cannot_read_them(app, world):
    _agency_works_the_case(app, world, contact=False, payment=False)
    with app.app_context():
        with tenant_scope(world.agency_id):
            seen = set(db.session.scalars(select(WebhookEvent.tenant_id)))
            db.session.remove()
        with tenant_scope(world.lender_id):
            lender_types = list(db.session.scalars(select(WebhookEvent.type).where(
                WebhookEvent.dispatched_at.is_(None) | (WebhookEvent.type == "promise.made"))))
            db.session.remove()
    assert seen == {world.agency_id}
    assert "promise.made" in lender_types


def test_a_url_turning_internal_after_registration_is_refused_at_delivery(app, world, receiver, monkeypatch):
    app.config["WEBHOOKS_ALLOW_PRIVATE_URLS"] = False  # as in production: the receiver's loopback is refused now
    _agency_works_the_case(app, world, contact=False, payment=False)
    run_worker(app)
    [refused] = _deliveries(app, world)
    assert refused.response_status is None and refused.error.startswith("webhook.url_blocked_address")
    assert receiver.received == []


def test_event_body_is_json_with_references_only(app, world):
    _agency_works_the_case(app, world, contact=False, payment=False)
    with app.app_context(), tenant_scope(world.lender_id):
        event = db.session.scalar(select(WebhookEvent).where(WebhookEvent.type == "promise.made")
                                  .order_by(WebhookEvent.seq.desc()).limit(1))
        body = json.loads(webhook_delivery.payload(event))
        db.session.remove()
    assert set(body) == {"id", "type", "created", "tenant", "account", "refs", "data"}
    assert set(body["refs"]) == {"promise_id"}
    assert body["data"]["due_on"] == (clock.now().date() + timedelta(days=3)).isoformat(), body
    assert date.fromisoformat(body["data"]["due_on"])


def test_the_demo_registers_jinxins_endpoint_on_the_receiver_stand_in_with_events_waiting(db_session):
    from tenants import demo_data
    from tenants.tenancy.models import Tenant
    from tenants.webhooks.demo import DEMO_URL

    demo_data.seed()
    demo_data.seed()  # seeding twice registers it once
    from tenants.context import platform_scope

    with platform_scope("test: the demo lender"):
        jinxin = db_session.scalar(select(Tenant).where(Tenant.slug == "jinxin-lending"))
    with tenant_scope(jinxin.id):
        [endpoint] = db_session.scalars(select(WebhookEndpoint)).all()
        types = set(db_session.scalars(select(WebhookEvent.type).where(WebhookEvent.dispatched_at.is_(None))))
    assert endpoint.url == DEMO_URL and endpoint.event_types == ["*"] and endpoint.active
    assert {"placement.offered", "placement.accepted", "contact_attempt.decided", "payment.recorded"} <= types


def test_a_hold_whose_end_has_come_is_resolved_and_told_once(app, frozen_clock, world):
    """The agency pauses the case for a week of hardship; when the week is over the hold is resolved as of its end
    and hold.ended reaches the lender and the agency holding the account. A second run tells nothing again; a hold
    without an end, or ending later, stays open."""
    from tenants.conduct.models import ConductHold
    from tenants.context import platform_scope

    with app.app_context(), tenant_scope(world.agency_id):
        week = conduct.open_hold(world.account_id, "hardship", reason="lost job", source="api",
                                 ends_at=clock.now() + timedelta(days=7))
        later = conduct.open_hold(world.account_id, "hardship", reason="surgery", source="api",
                                  ends_at=clock.now() + timedelta(days=30))
        endless = conduct.open_hold(world.account_id, "dispute", reason="amount", source="api")
        ids, week_end = (week.id, later.id, endless.id), week.ends_at
        db.session.commit()
        db.session.remove()
    frozen_clock.advance(timedelta(days=8))
    with app.app_context():
        with platform_scope("test: the periodic job"):
            assert conduct.end_lapsed_holds() == 1
            db.session.commit()
            assert conduct.end_lapsed_holds() == 0
            db.session.commit()
            holds = {h.id: (h.resolved_at, h.resolution) for h in db.session.scalars(
                select(ConductHold).where(ConductHold.id.in_(ids)))}
            told = [(e.tenant_id, json.loads(e.body)) for e in db.session.scalars(
                select(WebhookEvent).where(WebhookEvent.type == "hold.ended"))]
        db.session.remove()
    assert holds == {ids[0]: (week_end, ConductHold.EXPIRED), ids[1]: (None, None), ids[2]: (None, None)}
    assert sorted(tenant for tenant, _ in told) == sorted([world.lender_id, world.agency_id])
    assert all(body["refs"] == {"hold_id": str(ids[0])} and body["data"] == {"type": "hardship", "ended_by": "expiry"}
               for _, body in told), told
