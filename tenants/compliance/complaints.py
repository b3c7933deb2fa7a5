"""Complaints from debtors: taken in by the lender or a platform admin against one of the lender's accounts,
optionally about the agency that worked it and the contact attempt complained of; investigated and resolved.

A lender works in its own tenant context; a platform admin in a platform context (`platform_scope`), naming the
acting platform tenant so the change lands in both audit chains. The agency a complaint concerns reads it and
changes nothing. Descriptions and resolutions are the debtor's and staff's own words: encrypted, never audited.
"""
import uuid
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone

from sqlalchemy import select

from tenants import audit, clock, references
from tenants.compliance.models import CATEGORIES, RECEIVED_VIA, Complaint, ComplaintStatus
from tenants.compliance.sql import day_range
from tenants.conduct.models import ContactAttempt
from tenants.context import current, tenant_scope
from tenants.db import db, get_visible
from tenants.errors import Conflict, PermissionDenied, ValidationFailed
from tenants.placements.models import Placement
from tenants.portfolios.models import Account
from tenants.tenancy.models import Tenant
from tenants.tenancy.roles import TenantKind

NEXT_STATUSES = {
    ComplaintStatus.OPEN: {ComplaintStatus.INVESTIGATING, *ComplaintStatus.FINAL},
    ComplaintStatus.INVESTIGATING: set(ComplaintStatus.FINAL),
}
NEEDS_RESOLUTION = {ComplaintStatus.UPHELD, ComplaintStatus.REJECTED}
# A complaint logged from a letter may carry the letter's date; one from the future is a typo.
CLOCK_SKEW = timedelta(minutes=5)


@dataclass(frozen=True)
class Actor:
    """Who changes a complaint: the lender itself, or a platform admin working in a platform context."""

    tenant: Tenant
    user_id: uuid.UUID | None = None

    @property
    def is_platform(self) -> bool:
        return self.tenant.kind == TenantKind.PLATFORM


def _invalid(field: str, message: str, code: str = "validation.failed") -> ValidationFailed:
    return ValidationFailed(message, code=code, details={"fields": {field: [message]}})


def _check_context(actor: Actor) -> None:
    ctx = current()
    if actor.is_platform and not (ctx and ctx.is_platform):
        raise PermissionDenied("Platform admins change complaints in a platform context.",
                               code="complaint.platform_context")
    if not actor.is_platform and (ctx is None or ctx.tenant_id != actor.tenant.id
                                  or actor.tenant.kind != TenantKind.LENDER):
        raise PermissionDenied("Only the lender or a platform admin takes in and resolves complaints.",
                               code="complaint.not_writable")


def find_account(*, lender_id: uuid.UUID | None, account_id: uuid.UUID | None = None,
                 external_ref: str | None = None) -> Account:
    """The account a complaint is about: by id, or by the lender's own reference (which needs the lender)."""
    if account_id is not None:
        account = references.visible(Account, account_id, code="account.not_found", field="account_id")
    elif external_ref and lender_id is not None:
        account = db.session.scalar(select(Account).where(Account.tenant_id == lender_id,
                                                          Account.external_ref == external_ref.strip()))
    else:
        raise _invalid("external_ref", "Give the account's external reference or its id.")
    if account is None or (lender_id is not None and account.tenant_id != lender_id):
        raise _invalid("external_ref" if account_id is None else "account_id", "No such account at this lender.",
                       code="account.not_found")
    return account


def _agency_of(account: Account, agency_id: uuid.UUID | None, attempt: ContactAttempt | None) -> uuid.UUID | None:
    """The agency a complaint concerns must have held the account: naming any other would show it the lender's
    complaint. Linked to an agency's attempt and naming no agency, it is about that agency."""
    if attempt is not None and attempt.tenant_id != account.tenant_id:
        if agency_id is not None and agency_id != attempt.tenant_id:
            raise _invalid("agency_id", "The linked attempt was made by another agency.")
        agency_id = attempt.tenant_id
    if agency_id is None:
        return None
    held = db.session.scalar(select(Placement.id).where(Placement.account_id == account.id,
                                                        Placement.agency_tenant_id == agency_id).limit(1))
    if held is None:
        raise _invalid("agency_id", "This agency never held the account.", code="complaint.agency_not_placed")
    return agency_id


def _attempt_on(account: Account, attempt_id: uuid.UUID | None) -> ContactAttempt | None:
    if attempt_id is None:
        return None
    return references.of_account(ContactAttempt, attempt_id, account.id, code="contact_attempt.not_found",
                                 field="attempt_id", message="No such contact attempt on this account.")


def open_complaint(actor: Actor, *, account: Account, received_via: str, category: str, description: str,
                   received_at: datetime | None = None, agency_id: uuid.UUID | None = None,
                   attempt_id: uuid.UUID | None = None) -> Complaint:
    _check_context(actor)
    if received_via not in RECEIVED_VIA:
        raise _invalid("received_via", f"One of {', '.join(RECEIVED_VIA)}.")
    if category not in CATEGORIES:
        raise _invalid("category", f"One of {', '.join(CATEGORIES)}.")
    if not description or not description.strip():
        raise _invalid("description", "Say what the debtor complains of.")
    now = clock.now()
    received_at = received_at or now
    if received_at > now + CLOCK_SKEW:
        raise _invalid("received_at", "A complaint cannot be received in the future.")
    attempt = _attempt_on(account, attempt_id)
    complaint = Complaint(
        tenant_id=account.tenant_id, account_id=account.id, agency_tenant_id=_agency_of(account, agency_id, attempt),
        attempt_id=attempt.id if attempt else None, received_at=received_at, received_via=received_via,
        category=category, description=description.strip(), status=ComplaintStatus.OPEN,
        created_by_tenant_id=actor.tenant.id, created_by_user_id=actor.user_id)
    db.session.add(complaint)
    db.session.flush()
    _audit(actor, complaint, "complaint.received", before=None, after=_view(complaint))
    return complaint


def intake(actor: Actor, data: dict) -> Complaint:
    """A complaint as the intake form and the API send it (`schemas.ComplaintIn`)."""
    lender_id = data.get("lender_id") if actor.is_platform else actor.tenant.id
    if actor.is_platform and lender_id is None and not data.get("account_id"):
        raise _invalid("lender_id", "Choose the lender whose reference this is.")
    account = find_account(lender_id=lender_id, account_id=data.get("account_id"),
                           external_ref=data.get("external_ref"))
    return open_complaint(actor, account=account, received_via=data["received_via"], category=data["category"],
                          description=data["description"], received_at=data.get("received_at"),
                          agency_id=data.get("agency_id"), attempt_id=data.get("attempt_id"))


def get_complaint(complaint_id: uuid.UUID) -> Complaint:
    return get_visible(Complaint, complaint_id, "complaint.not_found")


def change_status(actor: Actor, complaint_id: uuid.UUID, status: str, resolution: str | None = None) -> Complaint:
    """Move a complaint on: open → investigating → upheld / rejected / withdrawn. A decided complaint stays
    decided; upholding or rejecting one says why."""
    _check_context(actor)
    complaint = get_complaint(complaint_id)
    if not actor.is_platform and complaint.tenant_id != actor.tenant.id:
        raise PermissionDenied("Only the lender or a platform admin resolves a complaint.",
                               code="complaint.not_writable")
    if status not in ComplaintStatus.ALL:
        raise _invalid("status", f"One of {', '.join(ComplaintStatus.ALL)}.")
    if status not in NEXT_STATUSES.get(complaint.status, set()):
        raise Conflict(f"A complaint that is {complaint.status} cannot become {status}.",
                       code="complaint.bad_transition", details={"status": complaint.status})
    resolution = (resolution or "").strip() or None
    if status in NEEDS_RESOLUTION and resolution is None:
        raise _invalid("resolution", "Say what was found and done.")
    before = _view(complaint)
    complaint.status = status
    if resolution is not None:
        complaint.resolution = resolution
    if status in ComplaintStatus.FINAL:
        complaint.resolved_at = clock.now()
    db.session.flush()
    _audit(actor, complaint, f"complaint.{status}", before=before, after=_view(complaint))
    return complaint


@dataclass(frozen=True)
class ComplaintFilter:
    status: str | None = None
    category: str | None = None
    agency_id: uuid.UUID | None = None
    lender_id: uuid.UUID | None = None
    received_from: date | None = None
    received_to: date | None = None  # inclusive, UTC days


def complaints_query(f: ComplaintFilter):
    """Newest first. The tenant lock decides whose complaints are reachable; these filters narrow them."""
    query = select(Complaint)
    if f.status == "unresolved":
        query = query.where(Complaint.status.in_(ComplaintStatus.UNRESOLVED))
    elif f.status:
        query = query.where(Complaint.status == f.status)
    if f.category:
        query = query.where(Complaint.category == f.category)
    if f.agency_id:
        query = query.where(Complaint.agency_tenant_id == f.agency_id)
    if f.lender_id:
        query = query.where(Complaint.tenant_id == f.lender_id)
    if f.received_from or f.received_to:
        start, end = day_range(f.received_from, f.received_to)
        if start is not None:
            query = query.where(Complaint.received_at >= start)
        if end is not None:
            query = query.where(Complaint.received_at < end)
    return query


def _view(complaint: Complaint) -> dict:
    """What the audit trail keeps: facts and state, never the description's or resolution's words."""
    return {"account_id": str(complaint.account_id),
            "agency_tenant_id": str(complaint.agency_tenant_id) if complaint.agency_tenant_id else None,
            "attempt_id": str(complaint.attempt_id) if complaint.attempt_id else None,
            "received_at": complaint.received_at.astimezone(timezone.utc).isoformat(),
            "received_via": complaint.received_via,
            "category": complaint.category, "status": complaint.status,
            "resolution_recorded": complaint.resolution is not None,
            "resolved_at": complaint.resolved_at.isoformat() if complaint.resolved_at else None}


def _audit(actor: Actor, complaint: Complaint, action: str, *, before, after) -> None:
    """In the lender's chain always; a platform admin's change in the platform's chain as well."""
    chains = [complaint.tenant_id] + ([actor.tenant.id] if actor.tenant.id != complaint.tenant_id else [])
    for tenant_id in chains:
        with tenant_scope(tenant_id):
            audit.record(action, object_type="complaint", object_id=complaint.id, before=before, after=after)
