"""Approval requests: a contact the engine answered "needs approval" waits for the lender's named role.

The request is opened in the same transaction as the attempt that needed it. The lender's approver (the rule's
role, or a lender admin) approves or declines; an approval lets the asking tenant make that contact (same account,
channel and target) once, within `VALID_FOR`. Both sides are audited.
"""
import uuid
from datetime import timedelta

from sqlalchemy import select

from tenants import audit, clock, references
from tenants.conduct.models import ApprovalRequest, ApprovalStatus, ContactAttempt
from tenants.context import current_tenant_id
from tenants.db import db, get_visible
from tenants.errors import Conflict, PermissionDenied, ValidationFailed
from tenants.placements.models import Placement, PlacementStatus

# Long enough to plan a visit with two collectors; short enough that an approval is about the situation it saw.
VALID_FOR = timedelta(days=3)
DEFAULT_APPROVER = "lender_manager"
# Approving a first agency contact without notice is the lender confirming it told the debtor of the hand-over.
NOTICE_RULE = "CN.OUTSOURCE.NOTICE"


def open_for(record: ContactAttempt, decision, *, lender_id: uuid.UUID, requested_by_user_id: uuid.UUID | None,
             note: str | None = None) -> ApprovalRequest:
    approving = [h for h in decision.hits if h.action == "APPROVE"]
    approval = ApprovalRequest(
        tenant_id=lender_id, account_id=record.account_id, attempt_id=record.id,
        requested_by_tenant_id=current_tenant_id(), requested_by_user_id=requested_by_user_id,
        channel=record.channel, target=record.target, rule_ids=[h.rule_id for h in approving],
        approver_role=next((h.approver_role for h in approving if h.approver_role), DEFAULT_APPROVER),
        note=note, status=ApprovalStatus.PENDING, requested_at=record.decided_at)
    db.session.add(approval)
    db.session.flush()
    audit.record("approval.requested", object_type="approval_request", object_id=approval.id,
                 after={"attempt_id": str(record.id), "channel": record.channel, "rules": approval.rule_ids,
                        "approver_role": approval.approver_role})
    return approval


def decide(approval_id: uuid.UUID, *, approve: bool, role: str, user_id: uuid.UUID | None,
           note: str | None = None) -> ApprovalRequest:
    approval = get_visible(ApprovalRequest, approval_id, "approval.not_found")
    if approval.tenant_id != current_tenant_id():
        raise PermissionDenied("Only the lender decides its approval requests.", code="approval.not_approver")
    if role not in (approval.approver_role, "lender_admin"):
        raise PermissionDenied(f"This request needs a {approval.approver_role.replace('_', ' ')}.",
                               code="approval.wrong_role")
    if approval.status != ApprovalStatus.PENDING:
        raise Conflict("This request has already been decided.", code="approval.already_decided")
    now = clock.now()
    approval.status = ApprovalStatus.APPROVED if approve else ApprovalStatus.DECLINED
    approval.decided_at, approval.decided_by_user_id, approval.decision_note = now, user_id, note
    approval.valid_until = now + VALID_FOR if approve else None
    if approve and NOTICE_RULE in approval.rule_ids:
        _record_notice(approval, now)
    audit.record("approval.approved" if approve else "approval.declined", object_type="approval_request",
                 object_id=approval.id, before={"status": ApprovalStatus.PENDING},
                 after={"status": approval.status, "note": note,
                        "valid_until": approval.valid_until.isoformat() if approval.valid_until else None})
    return approval


def _record_notice(approval: ApprovalRequest, now) -> None:
    placement = db.session.scalar(select(Placement).where(
        Placement.account_id == approval.account_id, Placement.status == PlacementStatus.ACTIVE,
        Placement.agency_tenant_id == approval.requested_by_tenant_id))
    if placement is not None and placement.debtor_notified_at is None:
        placement.debtor_notified_at = now
        audit.record("placement.debtor_notified", object_type="placement", object_id=placement.id,
                     after={"notified_at": now.isoformat(), "via": "approval"})


def usable(approval_id: uuid.UUID, *, account_id: uuid.UUID, channel: str, target: str) -> ApprovalRequest:
    """The approval an attempt cites, if it really covers this attempt now (else a clear 4xx)."""
    approval = references.visible(ApprovalRequest, approval_id, code="approval.not_found", field="approval_id")
    if approval.requested_by_tenant_id != current_tenant_id():
        raise PermissionDenied("This approval was given to another tenant.", code="approval.not_yours")
    if (approval.account_id, approval.channel, approval.target) != (account_id, channel, target):
        raise ValidationFailed("This approval is for another account, channel or target.",
                               code="approval.mismatch")
    if approval.status == ApprovalStatus.USED:
        raise Conflict("This approval has already been used.", code="approval.used")
    if approval.status != ApprovalStatus.APPROVED:
        raise Conflict(f"This request is {approval.status}, not approved.", code=f"approval.{approval.status}")
    if approval.valid_until <= clock.now():
        raise Conflict("This approval has expired; ask again.", code="approval.expired")
    return approval


def mark_used(approval: ApprovalRequest, record: ContactAttempt) -> None:
    approval.status, approval.used_by_attempt_id = ApprovalStatus.USED, record.id
    audit.record("approval.used", object_type="approval_request", object_id=approval.id,
                 after={"attempt_id": str(record.id)})


def pending_for_lender(limit: int = 200) -> list[ApprovalRequest]:
    return db.session.scalars(select(ApprovalRequest).where(ApprovalRequest.tenant_id == current_tenant_id(),
                                                            ApprovalRequest.status == ApprovalStatus.PENDING)
                              .order_by(ApprovalRequest.requested_at).limit(limit)).all()


def for_account(account_id: uuid.UUID) -> list[ApprovalRequest]:
    return db.session.scalars(select(ApprovalRequest).where(ApprovalRequest.account_id == account_id)
                              .order_by(ApprovalRequest.requested_at.desc())).all()
