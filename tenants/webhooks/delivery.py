"""Delivery: events fanned out to the endpoints subscribed to them, posted, retried with exponential backoff.

- At least once: a delivery is marked done only after a 2xx; a worker dying mid-post posts it again. The event id
  (`id` in the body, `Recoverly-Event-Id` header) is the receiver's de-duplication key.
- Ordered per account: an endpoint does not get an account's event N+1 before N succeeded or was given up.
  Redeliveries asked for by hand are outside that order.
- Retries: after a failed attempt the next waits BACKOFF[n] (30 s, 2 min, 10 min, 30 min, 1 h, 3 h, 6 h); after
  MAX_ATTEMPTS the delivery is given up.
- An endpoint that keeps failing (DISABLE_AFTER_FAILURES consecutive failed attempts spread over at least
  DISABLE_AFTER) is disabled, with an audit event and a notice on its page; enabling it resumes what waited.
- Each request: the URL checked again and its host resolved once (DNS rebinding), the connection made to that
  checked address with the URL's Host header and TLS server name, a 5 s timeout, no redirect followed, the first
  EXCERPT_CHARS of the answer kept.

Runs in the receiving tenant's context (a job per tenant); `tenants_with_work` (platform context) names the tenants
the nudge and the sweeper hand to those jobs.
"""
import http.client
import json
import socket
import ssl
import time
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import func, select, text

from tenants import audit, clock
from tenants.db import db
from tenants.webhooks import signing, urls
from tenants.webhooks.endpoints import secrets_in_force
from tenants.webhooks.models import DeliveryStatus, WebhookDelivery, WebhookEndpoint, WebhookEvent

BACKOFF = (timedelta(seconds=30), timedelta(minutes=2), timedelta(minutes=10), timedelta(minutes=30),
           timedelta(hours=1), timedelta(hours=3), timedelta(hours=6))
MAX_ATTEMPTS = len(BACKOFF) + 1
DISABLE_AFTER_FAILURES = 10
DISABLE_AFTER = timedelta(hours=6)
TIMEOUT_S = 5
EXCERPT_CHARS = 500
FAN_OUT_BATCH = 500
DELIVERY_BATCH = 200
TIME_BUDGET_S = 45
STALE_AFTER = timedelta(minutes=1)
USER_AGENT = "Recoverly-Webhooks/1"


@dataclass
class Answer:
    status: int | None
    excerpt: str | None
    ms: int
    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.status is not None and 200 <= self.status < 300


def payload(event: WebhookEvent) -> bytes:
    """The body: the same bytes on every attempt of an event."""
    stored = json.loads(event.body)
    document = {
        "id": str(event.id), "type": event.type, "created": int(event.created_at.timestamp()),
        "tenant": str(event.tenant_id),
        "account": ({"id": str(event.account_id), "external_ref": event.account_ref}
                    if event.account_id else None),
        "refs": stored.get("refs", {}), "data": stored.get("data", {}),
    }
    return json.dumps(document, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


class _PinnedHTTP(http.client.HTTPConnection):
    """Connects to the checked address, speaking to the URL's host."""

    def __init__(self, host, port, address, timeout):
        super().__init__(host, port, timeout=timeout)
        self._address = address

    def connect(self):
        self.sock = socket.create_connection((self._address, self.port), self.timeout)


class _PinnedHTTPS(http.client.HTTPSConnection):
    def __init__(self, host, port, address, timeout):
        super().__init__(host, port, timeout=timeout, context=ssl.create_default_context())
        self._address = address

    def connect(self):
        sock = socket.create_connection((self._address, self.port), self.timeout)
        self.sock = self._context.wrap_socket(sock, server_hostname=self.host)


def post(target: urls.Target, body: bytes, headers: dict, *, timeout: float = TIMEOUT_S) -> Answer:
    kind = _PinnedHTTPS if target.scheme == "https" else _PinnedHTTP
    connection = kind(target.host, target.port, target.address, timeout)
    started = time.monotonic()
    try:
        connection.request("POST", target.path, body=body, headers=headers)
        response = connection.getresponse()
        raw = response.read(EXCERPT_CHARS * 4)
        excerpt = raw.decode("utf-8", errors="replace")[:EXCERPT_CHARS]
        error = None
        if 300 <= response.status < 400:
            error = "redirect not followed"
        return Answer(response.status, excerpt, int((time.monotonic() - started) * 1000), error)
    except (OSError, http.client.HTTPException, ssl.SSLError) as exc:
        name = "timeout" if isinstance(exc, (socket.timeout, TimeoutError)) else type(exc).__name__
        return Answer(None, None, int((time.monotonic() - started) * 1000), f"{name}: {exc}"[:200])
    finally:
        connection.close()


def _attempt(delivery: WebhookDelivery, allow_private: bool) -> Answer:
    endpoint, event = delivery.endpoint, delivery.event
    try:
        target = urls.check(endpoint.url, allow_private=allow_private)
    except urls.UrlRefused as refused:
        return Answer(None, None, 0, f"{refused.code}: {refused.message}"[:200])
    body = payload(event)
    timestamp = int(time.time())  # the receiver compares it with its own clock: real time, not business time
    headers = {"Content-Type": "application/json; charset=utf-8", "User-Agent": USER_AGENT,
               signing.HEADER: signing.header(secrets_in_force(endpoint), timestamp, body),
               "Recoverly-Event-Id": str(event.id), "Recoverly-Event-Type": event.type,
               "Recoverly-Delivery-Id": str(delivery.id)}
    # No transaction stays open across the network: a slow receiver (up to the timeout) would otherwise pin a
    # connection and a snapshot on PostgreSQL, and hold the write lock every other process waits for on SQLite.
    db.session.commit()
    return post(target, body, headers)


def _record(delivery: WebhookDelivery, answer: Answer) -> None:
    now = clock.now()
    endpoint = delivery.endpoint
    delivery.attempts += 1
    delivery.last_attempt_at = now
    delivery.response_status, delivery.response_ms = answer.status, answer.ms
    delivery.response_excerpt, delivery.error = answer.excerpt, answer.error
    if answer.ok:
        delivery.status, delivery.delivered_at = DeliveryStatus.SUCCEEDED, now
        endpoint.consecutive_failures, endpoint.failing_since, endpoint.last_success_at = 0, None, now
        return
    if delivery.attempts >= MAX_ATTEMPTS:
        delivery.status = DeliveryStatus.GAVE_UP
    else:
        delivery.next_attempt_at = now + BACKOFF[delivery.attempts - 1]
    endpoint.consecutive_failures += 1
    endpoint.failing_since = endpoint.failing_since or now
    if (endpoint.active and endpoint.consecutive_failures >= DISABLE_AFTER_FAILURES
            and now - endpoint.failing_since >= DISABLE_AFTER):
        endpoint.active, endpoint.disabled_at, endpoint.disabled_reason = False, now, "failures"
        audit.record("webhook.endpoint_disabled", object_type="webhook_endpoint", object_id=endpoint.id,
                     before={"active": True},
                     after={"active": False, "disabled_reason": "failures",
                            "consecutive_failures": endpoint.consecutive_failures,
                            "failing_since": endpoint.failing_since.isoformat()})


def fan_out() -> int:
    """New events → one pending delivery per active endpoint subscribed to their type. Returns events handled."""
    handled = 0
    endpoints = [e for e in db.session.scalars(select(WebhookEndpoint).where(WebhookEndpoint.active.is_(True)))]
    while True:
        events = list(db.session.scalars(select(WebhookEvent).where(WebhookEvent.dispatched_at.is_(None))
                                         .order_by(WebhookEvent.seq).limit(FAN_OUT_BATCH)))
        if not events:
            return handled
        now = clock.now()
        for event in events:
            for endpoint in endpoints:
                if endpoint.subscribes(event.type) and endpoint.created_at <= event.created_at:
                    db.session.add(WebhookDelivery(
                        tenant_id=event.tenant_id, endpoint_id=endpoint.id, event_id=event.id, event_seq=event.seq,
                        account_id=event.account_id, status=DeliveryStatus.PENDING, next_attempt_at=now,
                        created_at=now))
            event.dispatched_at = now
        db.session.commit()
        handled += len(events)


def _deliver_endpoint(endpoint_id: uuid.UUID, allow_private: bool, deadline: float) -> int:
    sent = 0
    pending = list(db.session.scalars(
        select(WebhookDelivery).where(WebhookDelivery.endpoint_id == endpoint_id,
                                      WebhookDelivery.status == DeliveryStatus.PENDING)
        .order_by(WebhookDelivery.event_seq, WebhookDelivery.created_at).limit(DELIVERY_BATCH)))
    blocked: set = set()
    for delivery in pending:
        ordered = delivery.account_id is not None and not delivery.redelivery
        if ordered and delivery.account_id in blocked:
            continue
        if delivery.next_attempt_at > clock.now() or time.monotonic() > deadline or not delivery.endpoint.active:
            if ordered:
                blocked.add(delivery.account_id)
            continue
        answer = _attempt(delivery, allow_private)
        _record(delivery, answer)
        db.session.commit()
        sent += 1
        if ordered and delivery.status == DeliveryStatus.PENDING:
            blocked.add(delivery.account_id)
    return sent


def next_due() -> datetime | None:
    return db.session.scalar(select(func.min(WebhookDelivery.next_attempt_at)).join(
        WebhookEndpoint, WebhookEndpoint.id == WebhookDelivery.endpoint_id).where(
        WebhookDelivery.status == DeliveryStatus.PENDING, WebhookEndpoint.active.is_(True)))


def run(tenant_id: uuid.UUID, *, allow_private: bool) -> dict:
    """The tenant's delivery pass: fan out, post what is due, and say when the next attempt is due. One pass per
    tenant at a time (an advisory lock), so per-account order holds across workers."""
    with _tenant_lock(tenant_id):
        fanned = fan_out()
        deadline = time.monotonic() + TIME_BUDGET_S
        endpoint_ids = list(db.session.scalars(select(WebhookEndpoint.id).where(WebhookEndpoint.active.is_(True))
                                               .order_by(WebhookEndpoint.created_at)))
        sent = sum(_deliver_endpoint(endpoint_id, allow_private, deadline) for endpoint_id in endpoint_ids)
        due = next_due()
        db.session.commit()
    return {"fanned_out": fanned, "attempts": sent, "next_due": due, "out_of_time": time.monotonic() > deadline}


class _tenant_lock:
    """A session-level advisory lock on a connection of its own (PostgreSQL); SQLite serialises writers anyway."""

    def __init__(self, tenant_id):
        self.key = f"webhooks:{tenant_id}"
        self.connection = None

    def __enter__(self):
        if db.engine.dialect.name == "postgresql":
            self.connection = db.engine.connect()
            self.connection.execute(text("SELECT pg_advisory_lock(hashtextextended(:k, 0))"), {"k": self.key})
            self.connection.commit()
        return self

    def __exit__(self, *exc):
        if self.connection is not None:
            try:
                self.connection.execute(text("SELECT pg_advisory_unlock(hashtextextended(:k, 0))"), {"k": self.key})
                self.connection.commit()
            finally:
                self.connection.close()
        return False


def tenants_with_work(*, stale_only: bool) -> list[uuid.UUID]:
    """Tenants with events not fanned out yet or deliveries due (platform context). `stale_only`: only work whose
    nudge should have come by now (the sweeper's question)."""
    now = clock.now()
    cutoff = now - STALE_AFTER if stale_only else now + timedelta(days=1)
    undispatched = select(WebhookEvent.tenant_id).where(WebhookEvent.dispatched_at.is_(None),
                                                        WebhookEvent.created_at <= cutoff).distinct()
    due = select(WebhookDelivery.tenant_id).join(WebhookEndpoint, WebhookEndpoint.id == WebhookDelivery.endpoint_id
                                                 ).where(WebhookDelivery.status == DeliveryStatus.PENDING,
                                                         WebhookEndpoint.active.is_(True),
                                                         WebhookDelivery.next_attempt_at <= (
                                                             now - STALE_AFTER if stale_only else now)).distinct()
    found = set(db.session.scalars(undispatched)) | set(db.session.scalars(due))
    return sorted(found, key=str)
