"""Who works which case. A supervisor (agency admin or supervisor) assigns the agency's active cases to collectors
by hand, round-robin over chosen collectors, or by region (a region → collector map), and reassigns them; every
change ends the case's current assignment and starts a new one, audited on the account. Collectors see their own
cases; unassigned cases are the supervisors' to hand out.

Reads use the agency's own tables with the agency written into the join (placements it holds, assignments it made):
the same fence as the tenant lock, in a form PostgreSQL answers from indexes at any portfolio size.
"""
import uuid
from dataclasses import dataclass

from sqlalchemy import and_, func, select

from tenants import audit, clock, references
from tenants.capabilities import Capability, can, roles_with
from tenants.casework import own_cases
from tenants.casework.desk_models import AssignmentMethod, CaseAssignment
from tenants.context import current_tenant_id
from tenants.db import db
from tenants.errors import NotFound, PermissionDenied, ValidationFailed
from tenants.placements.models import Placement, PlacementStatus
from tenants.portfolios.models import Account
from tenants.tenancy.models import Membership, User

MAX_BULK = 5000  # cases one request may (re)assign: larger hand-outs are split by filter


@dataclass(frozen=True)
class Assignee:
    user_id: uuid.UUID
    name: str
    role: str
    cases: int


@dataclass(frozen=True)
class Outcome:
    assigned: dict[uuid.UUID, uuid.UUID]  # account id → collector user id
    unchanged: list[uuid.UUID]  # already with that collector
    skipped: dict[uuid.UUID, str]  # account id → why it was left as it was


def require_supervisor(role: str | None) -> None:
    if not can(role, Capability.CASES_ASSIGN):
        raise PermissionDenied("Only an agency admin or supervisor assigns cases.", code="assignment.supervisors_only")


# ---- who may hold cases ------------------------------------------------------------------------------------------

def assignees() -> list[Assignee]:
    """Active collectors and supervisors of the agency, with their current number of cases."""
    loads = dict(db.session.execute(
        select(CaseAssignment.collector_user_id, func.count())
        .join(Placement, and_(Placement.id == CaseAssignment.placement_id, Placement.status == PlacementStatus.ACTIVE))
        .where(CaseAssignment.ended_at.is_(None)).group_by(CaseAssignment.collector_user_id)).all())
    holders = roles_with(Capability.CASES_HOLD)
    members = db.session.scalars(select(Membership).where(Membership.is_active.is_(True),
                                                          Membership.role.in_(holders))).all()
    found = [Assignee(m.user_id, m.user.name, m.role, loads.get(m.user_id, 0)) for m in members]
    return sorted(found, key=lambda a: (a.role != "agency_collector", a.name))


def check_assignee(user_id: uuid.UUID) -> uuid.UUID:
    member = references.member(user_id, field="collector_user_id")  # another tenant's user: 404
    if not can(member.role, Capability.CASES_HOLD):
        raise ValidationFailed("Cases go to active collectors or supervisors of this agency.",
                               code="assignment.not_a_collector",
                               details={"fields": {"collector_user_id": ["Not an active collector of this agency."]}})
    return member.user_id


def user_names(user_ids) -> dict[uuid.UUID, str]:
    ids = {i for i in user_ids if i is not None}
    if not ids:
        return {}
    # Users are platform rows: read only those who are members here.
    return dict(db.session.execute(select(User.id, User.name).join(Membership, Membership.user_id == User.id)
                                   .where(User.id.in_(ids))).all())


# ---- reading assignments ---------------------------------------------------------------------------------------

def _held(account_ids) -> dict[uuid.UUID, Placement]:
    """The agency's active placements of these accounts; any account it does not hold is a 404."""
    ids = set(account_ids)
    if not ids:
        raise ValidationFailed("Choose at least one case.", code="assignment.no_cases",
                               details={"fields": {"account_ids": ["Choose at least one case."]}})
    if len(ids) > MAX_BULK:
        raise ValidationFailed(f"At most {MAX_BULK} cases at once.", code="assignment.too_many",
                               details={"fields": {"account_ids": [f"At most {MAX_BULK} cases at once."]}})
    query = select(Placement).where(Placement.account_id.in_(ids), Placement.agency_tenant_id == current_tenant_id(),
                                    Placement.status == PlacementStatus.ACTIVE)
    fence = own_cases.case_clause(Placement.account_id)
    placements = {p.account_id: p for p in db.session.scalars(query if fence is None else query.where(fence))}
    if len(placements) != len(ids):
        raise NotFound("Some cases are not active cases of this agency.", code="account.not_found")
    return placements


def held_placement(account_id: uuid.UUID) -> Placement:
    """The agency's active placement of one account (404 when it holds none)."""
    return _held([account_id])[account_id]


def current(account_ids) -> dict[uuid.UUID, CaseAssignment]:
    """Current assignments of these accounts' active placements."""
    ids = list(set(account_ids))
    if not ids:
        return {}
    return {a.account_id: a for a in db.session.scalars(
        select(CaseAssignment).join(Placement, and_(Placement.id == CaseAssignment.placement_id,
                                                    Placement.status == PlacementStatus.ACTIVE))
        .where(CaseAssignment.account_id.in_(ids), CaseAssignment.ended_at.is_(None)))}


def collector_of(account_id: uuid.UUID) -> uuid.UUID | None:
    found = current([account_id]).get(account_id)
    return found.collector_user_id if found else None


def may_work(account_id: uuid.UUID, *, user_id: uuid.UUID | None, role: str | None) -> bool:
    """Supervisors work every case of the agency; a collector only those assigned to him."""
    if can(role, Capability.CASES_ANY):
        return True
    return user_id is not None and collector_of(account_id) == user_id


def require_may_work(account_id: uuid.UUID, *, user_id: uuid.UUID | None, role: str | None) -> None:
    if not may_work(account_id, user_id=user_id, role=role):
        raise PermissionDenied("This case is assigned to another collector.", code="assignment.not_yours")


# ---- changing them ------------------------------------------------------------------------------------------------

def assign(account_ids, collector_user_id: uuid.UUID, *, by_user_id: uuid.UUID | None,
           method: str = AssignmentMethod.HAND) -> Outcome:
    """Give these cases to one collector (a reassignment when someone else held them)."""
    collector = check_assignee(collector_user_id)
    placements = _held(account_ids)
    return _apply({account_id: collector for account_id in placements}, placements, method, by_user_id, {})


def round_robin(account_ids, collector_user_ids, *, by_user_id: uuid.UUID | None) -> Outcome:
    """Deal the cases out in turn, largest balance first, starting with the collector holding the fewest cases, so
    each collector ends up with a like number and a like mix of balances."""
    collectors = list(dict.fromkeys(check_assignee(u) for u in collector_user_ids))
    if not collectors:
        raise ValidationFailed("Choose at least one collector.", code="assignment.no_collectors",
                               details={"fields": {"collector_user_ids": ["Choose at least one collector."]}})
    placements = _held(account_ids)
    loads = {a.user_id: a.cases for a in assignees()}
    collectors.sort(key=lambda u: (loads.get(u, 0), str(u)))
    ordered = sorted(placements.values(), key=lambda p: (-p.balance_at_placement_minor, str(p.account_id)))
    plan = {p.account_id: collectors[i % len(collectors)] for i, p in enumerate(ordered)}
    return _apply(plan, placements, AssignmentMethod.ROUND_ROBIN, by_user_id, {})


def by_region(account_ids, regions: dict[str, uuid.UUID], *, by_user_id: uuid.UUID | None) -> Outcome:
    """Each case goes to the collector mapped to its debtor's region; cases of unmapped regions stay as they are."""
    mapping = {region.strip(): check_assignee(user_id)
               for region, user_id in regions.items() if region and region.strip()}
    if not mapping:
        raise ValidationFailed("Map at least one region to a collector.", code="assignment.no_regions",
                               details={"fields": {"regions": ["Map at least one region to a collector."]}})
    placements = _held(account_ids)
    accounts = db.metadata.tables[Account.__tablename__]
    region_of = dict(db.session.execute(select(accounts.c.id, accounts.c.region)
                                        .where(accounts.c.id.in_(list(placements)))).all())
    plan, skipped = {}, {}
    for account_id in placements:
        region = (region_of.get(account_id) or "").strip()
        if region in mapping:
            plan[account_id] = mapping[region]
        else:
            skipped[account_id] = f"no collector for region {region or '(none)'}"
    return _apply(plan, placements, AssignmentMethod.REGION, by_user_id, skipped)


def release(account_ids, *, by_user_id: uuid.UUID | None) -> list[uuid.UUID]:
    """End the current assignments of these cases: they go back to the unassigned pile."""
    placements = _held(account_ids)
    held = current(placements)
    now = clock.now()
    for account_id, assignment in held.items():
        assignment.ended_at, assignment.ended_by_user_id = now, by_user_id
        audit.record("case.unassigned", object_type="account", object_id=account_id,
                     before={"collector_user_id": assignment.collector_user_id}, after={"collector_user_id": None})
    db.session.flush()
    return list(held)


def _apply(plan: dict[uuid.UUID, uuid.UUID], placements: dict[uuid.UUID, Placement], method: str,
           by_user_id: uuid.UUID | None, skipped: dict[uuid.UUID, str]) -> Outcome:
    held = current(plan)
    now = clock.now()
    assigned, unchanged = {}, []
    for account_id, collector in plan.items():
        before = held.get(account_id)
        if before is not None and before.collector_user_id == collector:
            unchanged.append(account_id)
            continue
        if before is not None:
            before.ended_at, before.ended_by_user_id = now, by_user_id
            db.session.flush()  # the partial unique index admits the new row only once this one has ended
        db.session.add(CaseAssignment(placement_id=placements[account_id].id, account_id=account_id,
                                      collector_user_id=collector, method=method, assigned_by_user_id=by_user_id,
                                      assigned_at=now))
        audit.record("case.reassigned" if before else "case.assigned", object_type="account", object_id=account_id,
                     before={"collector_user_id": before.collector_user_id} if before else None,
                     after={"collector_user_id": collector, "method": method})
        assigned[account_id] = collector
    db.session.flush()
    return Outcome(assigned=assigned, unchanged=unchanged, skipped=skipped)


# ---- the supervisor's assignment page ---------------------------------------------------------------------------

@dataclass(frozen=True)
class CaseRow:
    account_id: uuid.UUID
    external_ref: str
    region: str | None
    lender_id: uuid.UUID
    currency: str
    outstanding_minor: int
    days_past_due: int
    collector_user_id: uuid.UUID | None


class Held:
    UNASSIGNED = "unassigned"
    ASSIGNED = "assigned"
    ALL = "all"
    CHOICES = (UNASSIGNED, ASSIGNED, ALL)


def _cases_in_scope(held: str, collector_user_id, region, lender_id):
    t = db.metadata.tables
    accounts, placements, assignments = t["accounts"], t["placements"], t["case_assignments"]
    agency = current_tenant_id()
    current_join = and_(assignments.c.placement_id == placements.c.id, assignments.c.tenant_id == agency,
                        assignments.c.ended_at.is_(None))
    where = [placements.c.agency_tenant_id == agency, placements.c.status == PlacementStatus.ACTIVE]
    if held == Held.UNASSIGNED:
        where.append(assignments.c.id.is_(None))
    elif held == Held.ASSIGNED:
        where.append(assignments.c.id.is_not(None))
    if collector_user_id:
        where.append(assignments.c.collector_user_id == collector_user_id)
    if region:
        where.append(accounts.c.region == region)
    if lender_id:
        where.append(accounts.c.tenant_id == lender_id)
    joined = placements.outerjoin(assignments, current_join).join(accounts, accounts.c.id == placements.c.account_id)
    return joined, where, accounts, assignments


def cases_for_assignment(*, held: str = Held.UNASSIGNED, collector_user_id: uuid.UUID | None = None,
                         region: str | None = None, lender_id: uuid.UUID | None = None, limit: int = 100,
                         offset: int = 0) -> tuple[list[CaseRow], int]:
    """The agency's active cases for the assignment page, largest balance first, and how many match."""
    joined, where, accounts, assignments = _cases_in_scope(held, collector_user_id, region, lender_id)
    total = db.session.scalar(select(func.count()).select_from(joined).where(*where))
    rows = db.session.execute(
        select(accounts.c.id, accounts.c.external_ref, accounts.c.region, accounts.c.tenant_id, accounts.c.currency,
               accounts.c.outstanding_minor, accounts.c.days_past_due, assignments.c.collector_user_id)
        .select_from(joined).where(*where)
        .order_by(accounts.c.outstanding_minor.desc(), accounts.c.id).limit(limit).offset(offset))
    return [CaseRow(*row) for row in rows], total or 0


def matching_ids(*, held: str = Held.UNASSIGNED, collector_user_id: uuid.UUID | None = None,
                 region: str | None = None, lender_id: uuid.UUID | None = None) -> list[uuid.UUID]:
    """Every case the page's filter matches (at most MAX_BULK): what "all matching cases" hands out."""
    joined, where, accounts, _ = _cases_in_scope(held, collector_user_id, region, lender_id)
    return list(db.session.scalars(select(accounts.c.id).select_from(joined).where(*where)
                                   .order_by(accounts.c.outstanding_minor.desc(), accounts.c.id).limit(MAX_BULK)))


def regions(*, held: str = Held.UNASSIGNED) -> list[str]:
    joined, where, accounts, _ = _cases_in_scope(held, None, None, None)
    return [r for r in db.session.scalars(select(accounts.c.region).select_from(joined)
                                          .where(*where, accounts.c.region.is_not(None)).distinct()
                                          .order_by(accounts.c.region)) if r]
