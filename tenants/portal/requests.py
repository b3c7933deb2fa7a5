"""Staff's side of the portal: what debtors asked for that waits for a collector, and the answer sent back.

A queued plan, a request for more time beyond the lender's limit, or a proof of payment made elsewhere waits here
(`awaiting_collector`) and puts the case at the top of the work queue (tenants/casework/worklist.py). Accepting it
does what the debtor asked through the usual casework service (the plan is proposed and its agreement prepared for
the debtor to sign; the promise is taken; the payment is recorded, pending the lender's confirmation); declining
records why. A settlement beyond the agency's discount limit waits for the lender instead (`awaiting_lender`): the
lender's decision on the offer answers it (`settlement_decided`). Either way the answer is shown in the portal and a
short notice goes to the debtor through the message gateway, where the link's message went.
"""
import uuid
from datetime import date

from sqlalchemy import select

from tenants import audit, clock
from tenants.casework import agreements, plans, promises, settlements
from tenants.casework import payments as casework_payments
from tenants.casework.settlements import SettlementStatus
from tenants.context import current_tenant_id
from tenants.db import db, get_visible
from tenants.errors import Conflict, PermissionDenied, ValidationFailed
from tenants.money import Money
from tenants.portal import access
from tenants.portal.models import PortalCode, PortalLink, PortalRequest, RequestKind, RequestStatus
from tenants.portfolios.models import Account
from tenants.tenancy.models import Tenant


def get_request(request_id: uuid.UUID) -> PortalRequest:
    return get_visible(PortalRequest, request_id, "portal.request_not_found")


def for_account(account_id: uuid.UUID) -> list[PortalRequest]:
    return list(db.session.scalars(select(PortalRequest).where(PortalRequest.account_id == account_id)
                                   .order_by(PortalRequest.created_at.desc())))


def waiting(account_ids) -> dict[uuid.UUID, PortalRequest]:
    """The oldest request waiting for a collector on each of these accounts (the current tenant's)."""
    ids = list(account_ids)
    if not ids:
        return {}
    found = {}
    for row in db.session.scalars(select(PortalRequest).where(
            PortalRequest.account_id.in_(ids), PortalRequest.tenant_id == current_tenant_id(),
            PortalRequest.status == RequestStatus.AWAITING_COLLECTOR).order_by(PortalRequest.created_at)):
        found.setdefault(row.account_id, row)
    return found


def query(kinds: tuple[str, ...] | None = None, *, lender_id: uuid.UUID | None = None):
    """Portal requests the current context reads (a lender: those on its own accounts, whichever agency took
    them; the platform context: all), optionally of some kinds and one lender's accounts. Unordered."""
    statement = select(PortalRequest)
    if kinds:
        statement = statement.where(PortalRequest.kind.in_(kinds))
    if lender_id is not None:
        statement = statement.where(PortalRequest.lender_tenant_id == lender_id)
    return statement


def recent(kinds: tuple[str, ...] | None = None, limit: int = 200) -> list[PortalRequest]:
    """This tenant's portal requests, newest first (the compliance console: disputes and preference changes)."""
    return list(db.session.scalars(query(kinds).order_by(PortalRequest.created_at.desc()).limit(limit)))


def decide(request_id: uuid.UUID, *, accept: bool, answer: str | None, user_id: uuid.UUID | None,
           config) -> PortalRequest:
    request = get_request(request_id)
    if request.tenant_id != current_tenant_id():
        raise PermissionDenied("Only the agency the debtor asked may answer.", code="portal.request_not_yours")
    if request.status != RequestStatus.AWAITING_COLLECTOR:
        raise Conflict("This request has been answered already.", code="portal.request_answered")
    answer = (answer or "").strip() or None
    if not accept and not answer:
        raise ValidationFailed("Say why the request is declined.", code="portal.answer_required",
                               details={"fields": {"answer": ["Required when declining."]}})
    if accept:
        request.object_type, request.object_id = _carry_out(request, user_id)
    request.status = RequestStatus.ACCEPTED if accept else RequestStatus.DECLINED
    request.decided_at, request.decided_by_user_id, request.answer = clock.now(), user_id, answer
    db.session.flush()
    audit.record(f"portal.request_{request.status}", object_type="portal_request", object_id=request.id,
                 before={"status": RequestStatus.AWAITING_COLLECTOR},
                 after={"status": request.status, "kind": request.kind, "answer": answer,
                        "object_id": str(request.object_id) if request.object_id else None})
    notify(request, config)
    return request


def settlement_decided(settlement_id: uuid.UUID, *, user_id: uuid.UUID | None, config) -> PortalRequest | None:
    """The lender answered a settlement the debtor offered beyond the agency's limit (tenants.casework.settlements
    .decide, in the lender's context): the portal request takes the answer (the lender's note) and the debtor is
    told through the gateway. An offer that did not come from the portal, or was answered already: nothing."""
    request = db.session.scalar(select(PortalRequest).where(
        PortalRequest.object_type == "settlement", PortalRequest.object_id == settlement_id,
        PortalRequest.status == RequestStatus.AWAITING_LENDER).with_for_update())
    if request is None:
        return None
    settlement = settlements.get_settlement(settlement_id)
    if settlement.status not in (SettlementStatus.APPROVED, SettlementStatus.DECLINED):
        return None
    request.status = RequestStatus.ACCEPTED if settlement.status == SettlementStatus.APPROVED \
        else RequestStatus.DECLINED
    request.decided_at, request.decided_by_user_id = clock.now(), user_id
    request.answer = (settlement.decision_note or "").strip() or None
    db.session.flush()
    audit.record(f"portal.request_{request.status}", object_type="portal_request", object_id=request.id,
                 before={"status": RequestStatus.AWAITING_LENDER},
                 after={"status": request.status, "kind": request.kind, "answer": request.answer,
                        "object_id": str(settlement.id)})
    notify(request, config)
    return request


def _carry_out(request: PortalRequest, user_id):
    d = request.details or {}
    if request.kind == RequestKind.PLAN:
        plan = plans.propose(request.account_id, user_id=user_id, total=_amount(d["total_minor"], d["currency"]),
                             count=int(d["instalment_count"]), frequency=d["frequency"],
                             first_due_on=date.fromisoformat(d["first_due_on"]),
                             note="Proposed by the debtor in the self-service portal; accepted by a collector")
        agreements.agreement_for_plan(plan, user_id=user_id)
        return "payment_plan", plan.id
    if request.kind == RequestKind.EXTENSION:
        promise = promises.take(request.account_id, amount=_amount(d["amount_minor"], d["currency"]),
                                due_on=date.fromisoformat(d["pay_by"]), user_id=user_id,
                                note="More time asked in the self-service portal; accepted by a collector")
        return "promise", promise.id
    if request.kind == RequestKind.PROOF:
        payment = casework_payments.record(request.account_id, amount=_amount(d["amount_minor"], d["currency"]),
                                           received_on=date.fromisoformat(d["paid_on"]), method="other",
                                           reference=d.get("reference") or "portal proof", user_id=user_id,
                                           idempotency_key=f"portal-proof:{request.id}")
        return "payment", payment.id
    raise Conflict("Nothing to carry out for this request.", code="portal.request_answered")


def _amount(minor: int, currency: str) -> str:
    return str(Money(int(minor), currency).decimal())


def notify(request: PortalRequest, config) -> PortalCode | None:
    """A short notice through the gateway to where the link's message went; the answer itself is in the portal."""
    link = db.session.get(PortalLink, request.link_id) if request.link_id else None
    account = db.session.scalar(select(Account).where(Account.id == request.account_id))
    # The agency that sent the link answers, or the account's lender (a settlement beyond the agency's limit).
    if link is None or account is None or link.channel == "letter" \
            or current_tenant_id() not in (link.tenant_id, link.lender_tenant_id):
        return None
    recipient = access.recipient_of(link, account)
    if not recipient:
        return None
    sender = db.session.get(Tenant, current_tenant_id())
    zh = (sender.locale or "").startswith("zh")
    body = (f"【{sender.name}】您在线提交的申请已有答复，请打开之前短信中的链接查看。" if zh else
            f"{sender.name}: your online request has been answered. Open the link in our earlier message to see it.")
    return access.deliver(link, account, sender=sender, recipient=recipient, kind="notice", body=body,
                          subject="答复 / An answer", config=config, expires_at=clock.now())


def sent_by_portal(limit: int = 100) -> list[PortalCode]:
    """Codes and notices this tenant's portal links sent (the Outbox page lists them beside messages)."""
    return list(db.session.scalars(select(PortalCode).where(PortalCode.tenant_id == current_tenant_id())
                                   .order_by(PortalCode.created_at.desc()).limit(limit)))
