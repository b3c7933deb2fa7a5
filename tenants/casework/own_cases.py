"""An agency may restrict collectors to the cases assigned to them (the setting `collectors_own_cases_only`, off by
default). When it does, a collector — a member or token whose role holds cases but may not work any case — who
opens, contacts or acts on a case assigned to someone else, or to nobody, gets the 404 of any invisible object, and
lists of cases hold only theirs. Supervisors and admins are not fenced, nor is a lender.

The fence stands where rows are resolved for the current viewer, not in each view: `tenants.db.get_visible` (an
account, or any row of an account, by id), the agency's active placement of a case (`assignment.held_placement`)
and the account list query. The web layer says who is viewing, once per request; jobs have no viewer and are never
fenced.
"""
import uuid
from contextvars import ContextVar
from dataclasses import dataclass

from sqlalchemy import and_, select

from tenants import context
from tenants.capabilities import Capability, can
from tenants.casework.desk_models import CaseAssignment
from tenants.db import db
from tenants.placements.models import Placement, PlacementStatus
from tenants.portfolios.models import Account
from tenants.tenancy.models import Tenant

SETTING = "collectors_own_cases_only"


@dataclass(frozen=True)
class Viewer:
    """Who a request acts for: a member, or a token (its creator's cases, its own role)."""

    user_id: uuid.UUID | None
    role: str | None


_viewer: ContextVar[Viewer | None] = ContextVar("recoverly_case_viewer", default=None)


def set_viewer(user_id: uuid.UUID | None, role: str | None):
    return _viewer.set(Viewer(user_id, role))


def reset_viewer(token) -> None:
    _viewer.reset(token)


def fenced_viewer() -> Viewer | None:
    """The current viewer if the fence applies to them (a collector of an agency that restricts collectors)."""
    viewer = _viewer.get()
    if viewer is None or not can(viewer.role, Capability.CASES_HOLD) or can(viewer.role, Capability.CASES_ANY):
        return None
    ctx = context.current()
    if ctx is None or ctx.is_platform:
        return None
    tenant = db.session.get(Tenant, ctx.tenant_id)
    if tenant is None or not (tenant.settings or {}).get(SETTING):
        return None
    return viewer


def _own_case_ids(user_id: uuid.UUID | None):
    """Accounts assigned now to this collector, on placements the agency still holds (no user: none)."""
    return (select(CaseAssignment.account_id)
            .join(Placement, and_(Placement.id == CaseAssignment.placement_id,
                                  Placement.status == PlacementStatus.ACTIVE))
            .where(CaseAssignment.collector_user_id == user_id, CaseAssignment.ended_at.is_(None)))


def case_clause(account_id_column):
    """A WHERE clause keeping a query of cases to the fenced viewer's own, or None when the viewer is not fenced."""
    viewer = fenced_viewer()
    if viewer is None:
        return None
    return account_id_column.in_(_own_case_ids(viewer.user_id))


def hides(row) -> bool:
    """Whether the fence hides this row — an account, or a row of one (promise, attempt, evidence…) — from the
    current viewer."""
    return hides_account(row.id if isinstance(row, Account) else getattr(row, "account_id", None))


def hides_account(account_id: uuid.UUID | None) -> bool:
    if account_id is None:
        return False
    viewer = fenced_viewer()
    if viewer is None:
        return False
    return db.session.scalar(_own_case_ids(viewer.user_id).where(CaseAssignment.account_id == account_id)) is None
