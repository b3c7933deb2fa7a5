"""Placing a call and hearing how it went.

`place` asks the conduct engine first: a refused call is recorded as refused and raises `ConductBlocked` before
any gateway is asked, and a call needing approval opens the request and dials nothing. An allowed call becomes a
pending contact attempt and a `Call`, and the gateway dials the number, decrypted here on the server. With the
softphone gateway (tel:) the browser dials, so a role that sees phones masked gets the number as an audited reveal,
and only on a case it may work.

`report` is the gateway's callback: answered, no answer, busy or failed, and for how long. No answer, busy and
failed record the attempt's outcome (nobody was reached); answered leaves the conversation's outcome to the
collector. The first report of a call stands: a repeated callback changes nothing.
"""
import uuid
from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy import select

from tenants import audit, clock, references
from tenants.casework import assignment
from tenants.conduct import service as conduct
from tenants.conduct.models import AttemptStatus, ContactAttempt
from tenants.context import current_tenant_id, platform_scope, tenant_scope
from tenants.db import db
from tenants.errors import NotFound, PermissionDenied, ValidationFailed
from tenants.pii import mask
from tenants.portfolios.accounts import get_account
from tenants.portfolios.models import AccountPhone
from tenants.telephony.gateways import CallEvent, DialRequest, Gateway, GatewayError
from tenants.telephony.models import Call, CallStatus

NOBODY_REACHED = "no_answer"  # the attempt's outcome when the phone was not picked up


@dataclass
class Placed:
    attempt: ContactAttempt
    call: Call | None  # None: the call needs the lender's approval first, nothing was dialled
    dial_url: str | None = None  # the softphone's link (tel: gateway)
    failed: bool = False  # the gateway could not place it


def place(account_id: uuid.UUID, phone_id: uuid.UUID, *, gateway: Gateway, user_id: uuid.UUID | None,
          role: str | None, callback_url: Callable[[uuid.UUID], str] | None = None,
          idempotency_key: str | None = None) -> Placed:
    """Decide, record and dial one call to one of the account's phones. Commits the decision (conduct.attempt);
    the call's own rows are left to the caller's commit."""
    if idempotency_key:
        earlier = db.session.scalar(select(ContactAttempt).where(ContactAttempt.idempotency_key == idempotency_key,
                                                                 ContactAttempt.tenant_id == current_tenant_id()))
        if earlier is not None:
            return Placed(earlier, call_of(earlier.id))
    account = get_account(account_id)
    phone = references.of_account(AccountPhone, phone_id, account.id, code="phone.not_found", field="phone_id",
                                  message="Not a phone of this account.")
    reveals = not gateway.places_calls and mask("phone", phone.phone, role or "") != phone.phone
    if reveals and not assignment.may_work(account.id, user_id=user_id, role=role):
        raise PermissionDenied("Only a supervisor or the case's collector may dial this number.",
                               code="call.not_allowed")
    attempt, _decision = conduct.attempt(account.id, conduct.AttemptRequest(channel="call",
                                                                            phone_position=phone.position),
                                         collector_user_id=user_id, idempotency_key=idempotency_key)
    if attempt.status != AttemptStatus.PENDING:
        return Placed(attempt, None)
    call = Call(id=uuid.uuid4(), tenant_id=current_tenant_id(), account_id=account.id, attempt_id=attempt.id,
                gateway=gateway.name, status=CallStatus.DIALLING, placed_at=clock.now(), placed_by_user_id=user_id)
    db.session.add(call)
    db.session.flush()
    try:
        dialled = gateway.dial(DialRequest(reference=str(call.id), number=phone.phone,
                                           callback_url=callback_url(call.id) if callback_url else None))
    except GatewayError as exc:
        _apply(call, CallEvent(CallStatus.FAILED), detail=str(exc))
        return Placed(attempt, call, failed=True)
    call.gateway_call_id = dialled.gateway_call_id
    if reveals:
        audit.record("pii.revealed", object_type="account", object_id=account.id,
                     after={"field": "phone", "phone_position": phone.position, "purpose": "dial"})
    audit.record("call.placed", object_type="call", object_id=call.id,
                 after={"attempt_id": attempt.id, "gateway": gateway.name, "phone_position": phone.position})
    for event in dialled.events:
        _apply(call, event)
    return Placed(attempt, call, dial_url=dialled.dial_url)


def report(gateway_call_id: str, event: CallEvent) -> Call:
    """The gateway says how a call went (its callback, outside any tenant's request). Commits. An id no call of
    ours carries is not found."""
    if event.status not in CallStatus.REPORTED:
        raise ValidationFailed(details={"fields": {"status": [f"One of {', '.join(CallStatus.REPORTED)}."]}})
    if event.duration_s is not None and not 0 <= event.duration_s <= 86_400:
        raise ValidationFailed(details={"fields": {"duration_s": ["Seconds, from 0 to 86400."]}})
    with platform_scope("telephony callback: whose call"):
        found = db.session.execute(select(Call.id, Call.tenant_id).where(
            Call.gateway_call_id == gateway_call_id)).first() if gateway_call_id else None
    if found is None:
        raise NotFound(code="call.not_found")
    with tenant_scope(found.tenant_id):
        call = db.session.scalar(select(Call).where(Call.id == found.id))
        _apply(call, event)
        db.session.commit()
    return call


def _apply(call: Call, event: CallEvent, detail: str | None = None) -> None:
    if call.status in CallStatus.REPORTED:
        return
    call.status, call.duration_s, call.ended_at = event.status, event.duration_s, clock.now()
    attempt = db.session.scalar(select(ContactAttempt).where(ContactAttempt.id == call.attempt_id))
    if event.status != CallStatus.ANSWERED and attempt is not None and attempt.status == AttemptStatus.PENDING:
        conduct.record_outcome(attempt.id, NOBODY_REACHED)
    audit.record("call.reported", object_type="call", object_id=call.id,
                 after={"status": event.status, "duration_s": event.duration_s, "detail": detail})


def call_of(attempt_id: uuid.UUID) -> Call | None:
    return db.session.scalar(select(Call).where(Call.attempt_id == attempt_id))
