"""Legal escalation: an agency asks to take a case to legal steps (a lawyer's letter, a court filing).

The conduct engine decides first, as for any contact: the request is a `legal` contact attempt, refused where the
rulebook forbids legal steps (a time-barred debt under US.TIMEBARRED / UK.STATUTEBARRED, an open hold, a placement
that does not allow the legal channel) and recorded either way. An allowed request then waits for the lender's
manager, who approves or declines it; only an approved one is filed, and only if the engine still allows legal steps
on the day (a limitation date or a dispute may have arrived meanwhile). Filing completes the attempt.
The escalation belongs to the agency; the lender reads it and decides.
"""
import uuid
from datetime import datetime

from sqlalchemy import ForeignKey, Index, String, Text, Uuid, select
from sqlalchemy.orm import Mapped, mapped_column

from tenants import audit, clock
from tenants.capabilities import Capability, can
from tenants.casework.settlements import held_placement
from tenants.conduct import service as conduct
from tenants.conduct.models import AttemptStatus, ContactAttempt
from tenants.context import TenantScoped, current_tenant_id
from tenants.db import UtcDateTime, UuidPrimaryKey, db, get_visible
from tenants.errors import Conflict, PermissionDenied, ValidationFailed
from tenants.portfolios.accounts import get_account

KINDS = ("lawyer_letter", "filing")


class LegalStatus:
    REQUESTED = "requested"
    APPROVED = "approved"
    DECLINED = "declined"
    FILED = "filed"
    OPEN = (REQUESTED, APPROVED)


class LegalEscalation(UuidPrimaryKey, TenantScoped, db.Model):
    __tablename__ = "legal_escalations"
    __table_args__ = (Index("ix_legal_escalations_lender_status", "lender_tenant_id", "status"),)

    lender_tenant_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("tenants.id"))
    account_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("accounts.id"), index=True)
    placement_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("placements.id"))
    kind: Mapped[str] = mapped_column(String(20))
    reason: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(12))
    attempt_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("contact_attempts.id"))
    rulebook_version: Mapped[str] = mapped_column(String(100))
    requested_by_user_id: Mapped[uuid.UUID | None] = mapped_column(Uuid, ForeignKey("users.id"))
    requested_at: Mapped[datetime] = mapped_column(UtcDateTime)
    decided_by_user_id: Mapped[uuid.UUID | None] = mapped_column(Uuid, ForeignKey("users.id"))
    decided_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    decision_note: Mapped[str | None] = mapped_column(Text)
    filed_reference: Mapped[str | None] = mapped_column(String(200))
    filed_by_user_id: Mapped[uuid.UUID | None] = mapped_column(Uuid, ForeignKey("users.id"))
    filed_at: Mapped[datetime | None] = mapped_column(UtcDateTime)


def request(account_id: uuid.UUID, *, kind: str, reason: str, user_id: uuid.UUID | None) -> LegalEscalation:
    """Ask the conduct engine, then the lender. Raises ConductBlocked (the refused attempt committed) when the
    rulebook forbids legal steps on this debt."""
    if kind not in KINDS:
        raise ValidationFailed(details={"fields": {"kind": [f"One of {', '.join(KINDS)}."]}})
    if not (reason or "").strip():
        raise ValidationFailed(details={"fields": {"reason": ["Say why legal steps are needed."]}})
    account = get_account(account_id)
    placement = held_placement(account.id)
    if db.session.scalar(select(LegalEscalation.id).where(LegalEscalation.account_id == account.id,
                                                          LegalEscalation.tenant_id == current_tenant_id(),
                                                          LegalEscalation.status.in_(LegalStatus.OPEN)).limit(1)):
        raise Conflict("A legal escalation of this account is already under way.", code="legal.already_open")
    lender_id, placement_id = account.tenant_id, placement.id  # read now: the attempt commits and expires them
    attempt, _decision = conduct.attempt(account.id, conduct.AttemptRequest(channel="legal"),
                                         collector_user_id=user_id, note=reason.strip())
    escalation = LegalEscalation(
        tenant_id=current_tenant_id(), lender_tenant_id=lender_id, account_id=account_id,
        placement_id=placement_id, kind=kind, reason=reason.strip(), status=LegalStatus.REQUESTED,
        attempt_id=attempt.id, rulebook_version=attempt.rulebook_version, requested_by_user_id=user_id,
        requested_at=clock.now())
    db.session.add(escalation)
    db.session.flush()
    audit.record("legal.requested", object_type="legal_escalation", object_id=escalation.id,
                 after={"account_id": str(account_id), "kind": kind, "attempt_id": str(attempt.id),
                        "decision": attempt.decision, "rulebook": attempt.rulebook_version})
    return escalation


def decide(escalation_id: uuid.UUID, *, approve: bool, role: str, user_id: uuid.UUID | None,
           note: str | None = None) -> LegalEscalation:
    escalation = get_escalation(escalation_id)
    if escalation.lender_tenant_id != current_tenant_id():
        raise PermissionDenied("Only the lender decides a legal escalation.", code="legal.not_decider")
    if not can(role, Capability.LEGAL_DECIDE):
        raise PermissionDenied("A lender manager decides legal escalations.", code="legal.wrong_role")
    if escalation.status != LegalStatus.REQUESTED:
        raise Conflict("This escalation has already been decided.", code="legal.already_decided")
    escalation.status = LegalStatus.APPROVED if approve else LegalStatus.DECLINED
    escalation.decided_by_user_id, escalation.decided_at, escalation.decision_note = user_id, clock.now(), note
    audit.record("legal.approved" if approve else "legal.declined", object_type="legal_escalation",
                 object_id=escalation.id, before={"status": LegalStatus.REQUESTED},
                 after={"status": escalation.status, "note": note})
    return escalation


def mark_filed(escalation_id: uuid.UUID, *, reference: str, user_id: uuid.UUID | None) -> LegalEscalation:
    escalation = get_escalation(escalation_id)
    if escalation.tenant_id != current_tenant_id():
        raise PermissionDenied("Only the agency that asked files the legal step.", code="legal.not_yours")
    held_placement(escalation.account_id)
    if escalation.status != LegalStatus.APPROVED:
        raise Conflict("Only an escalation the lender approved can be filed.", code="legal.not_approved")
    if not (reference or "").strip():
        raise ValidationFailed(details={"fields": {"reference": ["The letter's or the court's reference."]}})
    now = clock.now()
    permitted = conduct.next_permitted(escalation.account_id, now).get("legal")
    if permitted != now:
        raise Conflict("The conduct rules no longer allow legal steps on this debt (it may be time-barred or on "
                       "hold).", code="legal.not_permitted",
                       details={"next_permitted": permitted.isoformat() if permitted else None})
    escalation.status, escalation.filed_at = LegalStatus.FILED, now
    escalation.filed_reference, escalation.filed_by_user_id = reference.strip(), user_id
    attempt = db.session.get(ContactAttempt, escalation.attempt_id)
    if attempt.status == AttemptStatus.PENDING:
        conduct.record_outcome(attempt.id, "delivered")
    audit.record("legal.filed", object_type="legal_escalation", object_id=escalation.id,
                 before={"status": LegalStatus.APPROVED},
                 after={"status": escalation.status, "reference": escalation.filed_reference})
    return escalation


def get_escalation(escalation_id: uuid.UUID) -> LegalEscalation:
    return get_visible(LegalEscalation, escalation_id, "legal_escalation.not_found")


def for_account(account_id: uuid.UUID) -> list[LegalEscalation]:
    return list(db.session.scalars(select(LegalEscalation).where(LegalEscalation.account_id == account_id)
                                   .order_by(LegalEscalation.requested_at.desc())))


def awaiting_lender() -> list[LegalEscalation]:
    return list(db.session.scalars(select(LegalEscalation).where(
        LegalEscalation.lender_tenant_id == current_tenant_id(), LegalEscalation.status == LegalStatus.REQUESTED)
        .order_by(LegalEscalation.requested_at)))
