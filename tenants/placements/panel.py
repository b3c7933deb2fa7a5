"""A lender's approved agencies: contract dates, default terms and the yearly review."""
import uuid
from datetime import date, timedelta

from sqlalchemy import select

from tenants import audit, clock
from tenants.context import current_tenant_id, platform_scope
from tenants.db import db
from tenants.errors import Conflict, NotFound, ValidationFailed
from tenants.placements.models import AgencyRelationship, RelationshipStatus
from tenants.tenancy.models import Tenant
from tenants.tenancy.roles import TenantKind

CHANNELS = ("call", "sms", "email", "letter", "visit", "legal")
REVIEW_INTERVAL = timedelta(days=365)


def first_review(contract_start: date, contract_end: date | None) -> date:
    """Yearly, and before the contract runs out (GB/T 45251: evaluate each agency at least yearly)."""
    review = contract_start + REVIEW_INTERVAL
    if contract_end is not None:
        review = min(review, contract_end - timedelta(days=30))
    return max(review, contract_start)


def add_agency(*, agency_slug: str, contract_start: date, contract_end: date | None, commission_bps: int,
               period_days: int, channels: list[str]) -> AgencyRelationship:
    with platform_scope("panel: an agency by its address, before it is on the lender's panel"):
        agency = db.session.scalar(select(Tenant).where(Tenant.slug == agency_slug,
                                                        Tenant.kind == TenantKind.AGENCY))
    if agency is None or not agency.is_active:
        raise NotFound(f"No active agency {agency_slug!r} on the platform.", code="agency.not_found",
                       details={"fields": {"agency_slug": ["No active agency with this address."]}})
    if contract_end is not None and contract_end <= contract_start:
        raise ValidationFailed("The contract must end after it starts.", code="agency.contract_dates",
                               details={"fields": {"contract_end": ["Must be after the start."]}})
    _check_terms(commission_bps, period_days, channels)
    existing = db.session.scalar(select(AgencyRelationship).where(
        AgencyRelationship.tenant_id == current_tenant_id(), AgencyRelationship.agency_tenant_id == agency.id))
    if existing is not None:
        raise Conflict(f"{agency.name} is already on your panel.", code="agency.already_on_panel")
    relationship = AgencyRelationship(
        tenant_id=current_tenant_id(), agency_tenant_id=agency.id, contract_start=contract_start,
        contract_end=contract_end, next_review_on=first_review(contract_start, contract_end),
        default_commission_bps=commission_bps, default_period_days=period_days, default_channels=list(channels),
    )
    db.session.add(relationship)
    db.session.flush()
    audit.record("agency.added", object_type="agency_relationship", object_id=relationship.id,
                 after={"agency": agency.slug, "commission_bps": commission_bps, "period_days": period_days,
                        "channels": list(channels), "next_review_on": relationship.next_review_on})
    return relationship


def _check_terms(commission_bps: int, period_days: int, channels: list[str]) -> None:
    problems = {}
    if not 0 <= commission_bps <= 10_000:
        problems["commission_bps"] = ["Between 0 and 10000 basis points (0–100%)."]
    if not 1 <= period_days <= 3 * 365:
        problems["period_days"] = ["Between 1 and 1095 days."]
    unknown = sorted(set(channels) - set(CHANNELS))
    if not channels or unknown:
        problems["channels"] = [f"Choose from {', '.join(CHANNELS)}."]
    if problems:
        raise ValidationFailed(details={"fields": problems})


def list_panel() -> list[AgencyRelationship]:
    return list(db.session.scalars(
        select(AgencyRelationship).where(AgencyRelationship.tenant_id == current_tenant_id())
        .order_by(AgencyRelationship.created_at)))


def list_lenders() -> list[AgencyRelationship]:
    """An agency's view: the lenders whose panel it is on."""
    return list(db.session.scalars(
        select(AgencyRelationship).where(AgencyRelationship.agency_tenant_id == current_tenant_id())))


def get_relationship(relationship_id: uuid.UUID) -> AgencyRelationship:
    relationship = db.session.get(AgencyRelationship, relationship_id)
    if relationship is None or relationship.tenant_id != current_tenant_id():
        raise NotFound(code="agency.not_found")
    return relationship


def approved_relationship(agency_tenant_id: uuid.UUID) -> AgencyRelationship:
    relationship = db.session.scalar(select(AgencyRelationship).where(
        AgencyRelationship.tenant_id == current_tenant_id(),
        AgencyRelationship.agency_tenant_id == agency_tenant_id))
    today = clock.now().date()
    if (relationship is None or relationship.status != RelationshipStatus.ACTIVE
            or (relationship.contract_end is not None and relationship.contract_end < today)):
        raise ValidationFailed("Placements go only to agencies on your panel with a current contract.",
                               code="placement.agency_not_approved")
    return relationship


def record_review(relationship: AgencyRelationship) -> AgencyRelationship:
    before = {"next_review_on": relationship.next_review_on}
    relationship.next_review_on = clock.now().date() + REVIEW_INTERVAL
    audit.record("agency.reviewed", object_type="agency_relationship", object_id=relationship.id,
                 before=before, after={"next_review_on": relationship.next_review_on})
    return relationship


def set_status(relationship: AgencyRelationship, status: str) -> AgencyRelationship:
    if status not in (RelationshipStatus.ACTIVE, RelationshipStatus.SUSPENDED, RelationshipStatus.ENDED):
        raise ValidationFailed(code="agency.bad_status")
    before = {"status": relationship.status}
    relationship.status = status
    audit.record("agency.status_changed", object_type="agency_relationship", object_id=relationship.id,
                 before=before, after={"status": status})
    return relationship
