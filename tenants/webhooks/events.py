"""Events: what a tenant's systems learn, written in the transaction of the change they tell of.

A service calls `emit` (or `emit_for`, `placements`, `contact_decided`) once, inside its own transaction: the
event exists if and only if the change committed. An event is written for each tenant that receives it — the
tenant that acted, the lender of the account (an agency's contact, promise or payment on a lender's account), an
agency named in the change (an offered placement) — as the receiver's own row. The actor may write a row for
another tenant only where the access policy says so (`webhook_events`: a counterparty through a placement), and
never reads it back. On PostgreSQL the rows go in with one INSERT whose WHERE is that rule (the ORM lock) under
row-level security (the database lock): the contact decision's hot path pays one statement.

Payloads carry references, never personal data: the lender's external reference of the account, our ids, codes,
amounts in minor units and dates. Nothing decrypted from tenants.pii may be passed in `data`.
"""
import json
import threading
import time
import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, datetime
from functools import cache
from types import SimpleNamespace

from sqlalchemy import BigInteger, String, Text, Uuid, bindparam, column, event, func, insert, select
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.orm import Session

from tenants import access_policy, clock
from tenants.context import current
from tenants.db import db
from tenants.webhooks.models import WebhookEvent

# type → what it tells (English; shown on the endpoint form and in the README).
EVENT_TYPES: dict[str, str] = {
    "placement.offered": "An account was offered to an agency.",
    "placement.accepted": "The agency accepted the account.",
    "placement.declined": "The agency declined the account.",
    "placement.recalled": "The lender recalled the account.",
    "placement.expired": "The placement period ended.",
    "contact_attempt.decided": "The conduct engine decided a contact (channel, verdict, rule ids).",
    "promise.made": "A promise to pay was taken.",
    "promise.kept": "A promise to pay was kept.",
    "promise.broken": "A promise to pay was broken.",
    "payment.recorded": "A payment was recorded.",
    "payment.confirmed": "The lender confirmed a payment.",
    "payment.reversed": "A payment was reversed.",
    "plan.signed": "A repayment plan was signed.",
    "plan.broken": "A repayment plan was broken.",
    "settlement.proposed": "A settlement was proposed.",
    "settlement.decided": "The lender approved or declined a settlement.",
    "dispute.opened": "A dispute was opened.",
    "dispute.resolved": "A dispute was resolved.",
    "hold.opened": "A hold was opened on the account.",
    "hold.ended": "A hold ended.",
    "account.closed": "The account was closed (paid, settled or written off).",
    "import.completed": "A portfolio import completed.",
    "import.failed": "A portfolio import failed.",
    "invoice.paid": "A platform invoice was paid.",
    "invoice.failed": "A platform invoice payment failed.",
}

# The reference each kind of row is named by in `refs`.
_REF_NAMES = {"promises": "promise_id", "payments": "payment_id", "payment_plans": "plan_id",
              "settlements": "settlement_id", "disputes": "dispute_id", "holds": "hold_id",
              "contact_attempts": "attempt_id", "placements": "placement_id", "import_jobs": "import_id",
              "billing_invoices": "invoice_id", "accounts": "account_id"}


@dataclass
class Item:
    """One event to write: about an account (or about the tenant itself), for the tenants in `to` besides the
    actor and the account's lender."""

    account_id: uuid.UUID | None = None
    refs: dict = field(default_factory=dict)
    data: dict = field(default_factory=dict)
    to: tuple = ()
    account: object | None = None  # the account row, when the caller holds it (saves a read)


class _Seq:
    """Microseconds since the epoch, strictly increasing in this process: the order deliveries per account keep."""

    def __init__(self):
        self._last = 0
        self._lock = threading.Lock()

    def next(self) -> int:
        with self._lock:
            self._last = max(self._last + 1, time.time_ns() // 1000)
            return self._last


_seq = _Seq()


def _jsonable(value):
    if isinstance(value, uuid.UUID):
        return str(value)
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, set, frozenset)):
        return [_jsonable(v) for v in value]
    return value


def emit(event_type: str | None, *, account_id=None, account=None, refs: dict | None = None, data: dict | None = None,
         to: Iterable = ()) -> None:
    """Write one event (for the actor, the account's lender and `to`) in the caller's transaction."""
    emit_each(event_type, [Item(account_id=account_id or getattr(account, "id", None), refs=refs or {},
                                data=data or {}, to=tuple(to), account=account)])


def emit_for(event_type: str, row, *, when: bool = True, **data) -> None:
    """An event about one row of a case (a promise, a payment …): its id and account, its agency as a recipient.
    `when`: False writes nothing (a resolution that is not told, such as a cancelled promise)."""
    if not when:
        return
    refs = {_REF_NAMES.get(row.__table__.name, "id"): row.id}
    to = [getattr(row, name, None) for name in ("tenant_id", "agency_tenant_id", "lender_tenant_id")]
    emit(event_type, account_id=getattr(row, "account_id", None), refs=refs, data=data, to=[t for t in to if t])


def placements(event_type: str, rows) -> None:
    """Placement events, one per placement (rows: Placement objects or rows with the same attributes)."""
    emit_each(event_type, [Item(account_id=p.account_id, to=(p.agency_tenant_id,),
                                refs={"placement_id": p.id, "batch_id": p.batch_id},
                                data={"agency_tenant_id": p.agency_tenant_id}) for p in rows])


@dataclass
class Emission:
    """Event rows built for the current transaction, not yet written."""

    rows: list[dict]
    source: uuid.UUID | None  # the acting tenant; None for platform work

    @property
    def guarded(self) -> bool:
        """Written by `guarded_insert` (a tenant acting on PostgreSQL), so it may join another statement."""
        return self.source is not None and db.session.get_bind().dialect.name == "postgresql"

    def guarded_parameters(self) -> dict:
        columns = {name: [row[name] for row in self.rows] for name, _ in _COLUMNS}
        return {**columns, "source": self.source, "created_at": self.rows[0]["created_at"]}


def contact_decided(record, account) -> Emission | None:
    """The conduct engine's decision, for the agency and the lender: channel, target kind, verdict, rule ids.
    Built, not written: the contact decision writes it in the statement that records the attempt
    (tenants.conduct.ledger.record_attempt), or `write`s it."""
    return emission("contact_attempt.decided", [Item(
        account_id=account.id, account=account, to=(record.lender_tenant_id,),
        refs={"attempt_id": record.id, "placement_id": record.placement_id},
        data={"channel": record.channel, "target": record.target, "verdict": record.decision,
              "rule_ids": [h["rule_id"] for h in record.hits or []], "rulebook": record.rulebook_version})])


def emit_each(event_type: str | None, items: list[Item]) -> None:
    """Write the events (None: a change that is not told, e.g. an invoice voided)."""
    write(emission(event_type, items))


def emission(event_type: str | None, items: list[Item]) -> Emission | None:
    """The rows telling `event_type` about `items`, or None when there is nothing to tell."""
    if event_type is None:
        return None
    if event_type not in EVENT_TYPES:
        raise ValueError(f"unknown webhook event type {event_type!r}")
    if not items:
        return None
    ctx = current()
    source = ctx.tenant_id if ctx is not None and not ctx.is_platform else None
    accounts = _accounts_of([i for i in items if i.account_id is not None and i.account is None])
    now = clock.now()
    rows = []
    for item in items:
        account = item.account if item.account is not None else accounts.get(item.account_id)
        if item.account_id is not None and account is None:
            continue  # an account the actor no longer sees: nothing of it is told
        recipients = {source, getattr(account, "tenant_id", None), *item.to} - {None}
        body = json.dumps({"refs": _jsonable(item.refs), "data": _jsonable(item.data)}, sort_keys=True,
                          ensure_ascii=False)
        seq = _seq.next()
        for recipient in sorted(recipients, key=str):
            rows.append({"id": uuid.uuid4(), "seq": seq, "tenant_id": recipient, "source_tenant_id": source,
                         "type": event_type, "account_id": item.account_id,
                         "account_ref": getattr(account, "external_ref", None), "body": body, "created_at": now})
    return Emission(rows, source) if rows else None


def write(emitted: Emission | None) -> None:
    """Write the rows in the caller's transaction."""
    if emitted is None:
        return
    table = WebhookEvent.__table__
    if db.session.get_bind().dialect.name != "postgresql":
        # SQLite (the demo's default): through the ORM, whose flush guard checks the same rule per row.
        db.session.add_all(WebhookEvent(**row) for row in emitted.rows)
        db.session.flush()
    elif not emitted.guarded:
        db.session.execute(insert(table), emitted.rows)
    else:
        db.session.execute(guarded_insert(), emitted.guarded_parameters())
    written()


def written() -> None:
    """The rows are in (by `write`, or by a statement holding `guarded_insert`): the workers are nudged once the
    transaction commits."""
    db.session.info["webhooks_emitted"] = True


def _accounts_of(items: list[Item]) -> dict:
    if not items:
        return {}
    from tenants.portfolios.models import Account

    found = db.session.execute(select(Account.id, Account.tenant_id, Account.external_ref).where(
        Account.id.in_({i.account_id for i in items}))).all()
    return {row.id: row for row in found}


_COLUMNS = (("id", Uuid), ("seq", BigInteger), ("tenant_id", Uuid), ("type", String), ("account_id", Uuid),
            ("account_ref", String), ("body", Text))


@cache
def guarded_insert():
    """INSERT … SELECT over the rows given as arrays, kept where the access policy lets the actor write them: one
    statement whatever the number of receivers, compiled once and prepared by the driver like any other (the
    contact decision runs it on every attempt)."""
    table = WebhookEvent.__table__
    given = func.unnest(*(bindparam(name, type_=ARRAY(kind)) for name, kind in _COLUMNS)).table_valued(
        *(column(name, kind) for name, kind in _COLUMNS)).render_derived(name="emitted")
    source = bindparam("source", type_=Uuid)
    rule = access_policy.access_of("webhook_events").insert_rule
    row = SimpleNamespace(tenant_id=given.c.tenant_id, source_tenant_id=source)
    names = [name for name, _ in _COLUMNS]
    return insert(table).from_select(
        [*names, "created_at", "source_tenant_id"],
        select(*(given.c[name] for name in names), bindparam("created_at", type_=table.c.created_at.type), source)
        .where(rule.sql(row, source)))


@event.listens_for(Session, "after_commit")
def _nudge_after_commit(session):
    if session.info.pop("webhooks_emitted", False) and _nudger is not None:
        try:
            _nudger()
        except Exception:  # noqa: BLE001 - Redis down: the sweeper delivers within a minute or two
            pass


@event.listens_for(Session, "after_rollback")
def _forget(session):
    session.info.pop("webhooks_emitted", None)


_nudger = None


def set_nudger(nudge) -> None:
    """`nudge()` asks the workers to deliver what was just committed; installed by the workers package."""
    global _nudger
    _nudger = nudge
