"""Placing accounts with agencies, the agency's answer, recall and expiry, and the lender's league table."""
import random
import uuid
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import func, select, update
from sqlalchemy.exc import IntegrityError

from tenants import audit, clock, webhooks
from tenants.billing import plans as billing_plans
from tenants.billing import usage as billing_usage
from tenants.capabilities import Capability, can
from tenants.conduct import service as conduct
from tenants.context import current_tenant_id
from tenants.db import db, get_visible
from tenants.errors import Conflict, NotFound, PermissionDenied, ValidationFailed, required_text
from tenants.money import Money
from tenants.placements.allocation import Candidate, allocate
from tenants.placements.models import Placement, PlacementBatch, PlacementStatus
from tenants.placements.panel import _check_terms, approved_relationship
from tenants.portfolios.models import Account, AccountStatus
from tenants.tenancy.models import Tenant
from tenants.tenancy.roles import TenantKind

MAX_PLACEMENT = 200_000

# Later capabilities (payment plans, unconfirmed payments) register checks here: each takes account ids and
# returns {account_id: reason} for accounts that must not be recalled without force.
RECALL_BLOCKERS = []


def _open_disputes(account_ids):
    rows = db.session.execute(select(Account.id).where(Account.id.in_(account_ids), Account.disputed.is_(True)))
    return {row.id: "a dispute is open" for row in rows}


RECALL_BLOCKERS.append(_open_disputes)


@dataclass(frozen=True)
class Selection:
    portfolio_id: uuid.UUID | None = None
    dpd_min: int | None = None
    dpd_max: int | None = None
    balance_min: str | None = None
    balance_max: str | None = None
    region: str | None = None
    external_refs: tuple[str, ...] = ()
    limit: int | None = None

    def as_record(self) -> dict:
        return {k: (list(v) if isinstance(v, tuple) else (str(v) if isinstance(v, uuid.UUID) else v))
                for k, v in self.__dict__.items() if v not in (None, ())}


def placeable_accounts(selection: Selection, currency: str):
    """Open accounts of the lender matching the selection, excluding those already placed or on hold."""
    open_placements = select(Placement.account_id).where(Placement.status.in_(PlacementStatus.OPEN))
    # Only what placing needs: loading whole accounts would decrypt every debtor's PII for nothing.
    query = select(Account.id, Account.external_ref, Account.outstanding_minor, Account.days_past_due,
                   Account.currency).where(
        Account.tenant_id == current_tenant_id(), Account.status == AccountStatus.OPEN,
        Account.id.not_in(open_placements),
        Account.deceased.is_(False), Account.bankrupt.is_(False), Account.disputed.is_(False),
        Account.attorney.is_(False), Account.cease_requested.is_(False),
    )
    if selection.portfolio_id:
        query = query.where(Account.portfolio_id == selection.portfolio_id)
    if selection.dpd_min is not None:
        query = query.where(Account.days_past_due >= selection.dpd_min)
    if selection.dpd_max is not None:
        query = query.where(Account.days_past_due <= selection.dpd_max)
    if selection.balance_min:
        query = query.where(Account.outstanding_minor >= Money.parse(selection.balance_min, currency).minor)
    if selection.balance_max:
        query = query.where(Account.outstanding_minor <= Money.parse(selection.balance_max, currency).minor)
    if selection.region:
        query = query.where(Account.region == selection.region)
    if selection.external_refs:
        query = query.where(Account.external_ref.in_(selection.external_refs))
    query = query.order_by(Account.external_ref).limit(min(selection.limit or MAX_PLACEMENT, MAX_PLACEMENT))
    return db.session.execute(query).all()


def place(*, lender: Tenant, selection: Selection, weights: dict[uuid.UUID, int], terms: dict,
          created_by: uuid.UUID | None, seed: int | None = None, debtors_notified: bool = False,
          expected_accounts: int | None = None) -> PlacementBatch:
    """Offer the selected accounts to one or more agencies, split by weight; returns the batch.
    `debtors_notified`: the lender has told these debtors of the hand-over (CN.OUTSOURCE.NOTICE).
    `expected_accounts`: how many accounts the preview the lender confirms showed; a selection that no longer
    holds that many (accounts imported, placed or closed meanwhile) is refused, to be previewed again."""
    relationships, accounts, allocation, seed = _plan(lender, selection, weights, terms, seed)
    if expected_accounts is not None and expected_accounts != len(accounts):
        raise Conflict(f"The selection now holds {len(accounts)} accounts, not the {expected_accounts} previewed; "
                       "preview it again.", code="placement.selection_changed",
                       details={"previewed": expected_accounts, "now": len(accounts)})
    today = clock.now().date()
    batch = PlacementBatch(tenant_id=lender.id, criteria=selection.as_record(), terms=_jsonable(terms),
                           allocation=allocation.explanation, seed=seed, created_by_user_id=created_by)
    db.session.add(batch)
    db.session.flush()
    agencies = {a.id: a for a in db.session.scalars(select(Tenant).where(Tenant.id.in_(weights)))}
    created = []
    for account in accounts:
        agency_id = uuid.UUID(allocation.assignment[str(account.id)])
        relationship = relationships[agency_id]
        agency_terms = _terms_for(relationship, terms)
        auto = bool((agencies[agency_id].settings or {}).get("auto_accept_placements"))
        bucket, band = allocation.strata[str(account.id)]
        created.append(Placement(
            tenant_id=lender.id, agency_tenant_id=agency_id, account_id=account.id, batch_id=batch.id,
            status=PlacementStatus.ACTIVE if auto else PlacementStatus.OFFERED,
            responded_at=clock.now() if auto else None,
            commission_bps=agency_terms["commission_bps"], commission_tiers=agency_terms["commission_tiers"],
            starts_on=today, ends_on=today + timedelta(days=agency_terms["period_days"]),
            allowed_channels=agency_terms["channels"], conduct_overrides=agency_terms["conduct_overrides"],
            currency=account.currency, balance_at_placement_minor=account.outstanding_minor,
            dpd_at_placement=account.days_past_due, debtor_notified_at=clock.now() if debtors_notified else None,
            max_discount_bps=agency_terms["max_discount_bps"],
            stratum_bucket=bucket, stratum_band=band,
        ))
    db.session.add_all(created)
    try:
        db.session.flush()
    except IntegrityError:
        raise Conflict("Some of these accounts were placed by someone else meanwhile; review and try again.",
                       code="placement.concurrent") from None
    billing_usage.record_acceptances([p for p in created if p.status == PlacementStatus.ACTIVE])
    audit.record("placement.batch_created", object_type="placement_batch", object_id=batch.id,
                 after={"accounts": len(accounts), "summary": allocation.explanation.get("summary"),
                        "seed": seed, "criteria": batch.criteria, "debtors_notified": debtors_notified})
    webhooks.placements("placement.offered", created)
    return batch


def _plan(lender: Tenant, selection: Selection, weights: dict[uuid.UUID, int], terms: dict, seed: int | None):
    """What placing would do, with every check placing makes, and nothing written: the agencies' relationships,
    the accounts selected and their allocation (under `seed`, drawn when not given)."""
    if not weights:
        raise ValidationFailed("Choose at least one agency.", code="placement.no_agency")
    relationships = {agency_id: approved_relationship(agency_id) for agency_id in weights}
    for relationship in relationships.values():
        _terms_for(relationship, terms)
    _refuse_suspended(lender, weights)
    accounts = placeable_accounts(selection, lender.currency)
    if not accounts:
        raise ValidationFailed("No open, unplaced account matches this selection.", code="placement.nothing_selected")
    seed = seed if seed is not None else random.SystemRandom().randrange(2**31)
    allocation = allocate([Candidate(str(a.id), a.outstanding_minor, a.days_past_due) for a in accounts],
                          {str(agency_id): weight for agency_id, weight in weights.items()}, seed)
    return relationships, accounts, allocation, seed


@dataclass(frozen=True)
class AgencyPreview:
    agency_id: uuid.UUID
    name: str
    weight: int
    accounts: int
    balance_minor: int
    by_dpd: list[int]  # accounts per DPD bucket, in Preview.dpd_buckets' order
    by_balance: list[int]  # accounts per balance band, in Preview.balance_bands' order


@dataclass(frozen=True)
class Preview:
    """A placement as it would be made: count, balance and each agency's share and mix. Confirming with the same
    selection, agencies, terms and `seed` makes exactly this allocation (while the selection still holds
    `accounts` accounts: `place(..., expected_accounts=...)` refuses otherwise)."""
    accounts: int
    balance_minor: int
    currency: str
    seed: int
    dpd_buckets: list[str]  # "0-30", …, "360+"
    balance_bands: list[tuple[int, int]]  # (lowest, highest) balance of each quarter of the selection, minor units
    agencies: list[AgencyPreview]


def preview(*, lender: Tenant, selection: Selection, weights: dict[uuid.UUID, int], terms: dict,
            seed: int | None = None) -> Preview:
    """Place nothing: say how `place` would split the selection (the same checks, the same allocation)."""
    _relationships, accounts, allocation, seed = _plan(lender, selection, weights, terms, seed)
    balances = sorted(a.outstanding_minor for a in accounts)
    bands = min(4, len(balances))
    edges = [balances[(q + 1) * len(balances) // bands - 1] for q in range(bands)]
    ranges = [(balances[0] if q == 0 else balances[q * len(balances) // bands], edges[q]) for q in range(bands)]
    buckets = allocation.explanation["dpd_buckets"]
    names = dict(db.session.execute(select(Tenant.id, Tenant.name).where(Tenant.id.in_(weights))).all())
    per_agency = allocation.explanation["per_agency"]
    by_balance = {key: [0] * bands for key in per_agency}
    for account in accounts:
        band = next(q for q, edge in enumerate(edges) if account.outstanding_minor <= edge)
        by_balance[allocation.assignment[str(account.id)]][band] += 1
    agencies = [AgencyPreview(agency_id=uuid.UUID(key), name=names.get(uuid.UUID(key), key),
                              weight=weights[uuid.UUID(key)], accounts=record["accounts"],
                              balance_minor=record["balance_minor"],
                              by_dpd=[record["by_dpd_bucket"][label] for label in buckets],
                              by_balance=by_balance[key])
                for key, record in per_agency.items()]
    return Preview(accounts=len(accounts), balance_minor=sum(balances), currency=lender.currency, seed=seed,
                   dpd_buckets=list(buckets), balance_bands=ranges, agencies=agencies)


def _refuse_suspended(lender: Tenant, agency_ids) -> None:
    """A payer in arrears learns why; the other side only that no new case can go through (another tenant's
    invoices are not its business)."""
    suspended = billing_plans.suspended_payers(lender, list(agency_ids))
    if not suspended:
        return
    me = current_tenant_id()
    details = {"agencies": [str(a) for a in suspended]}
    if me in suspended.values():
        raise Conflict("New cases are stopped until your overdue Recoverly invoices are paid (see Billing).",
                       code="billing.placements_suspended", details=details)
    if me == lender.id:
        names = db.session.scalars(select(Tenant.name).where(Tenant.id.in_(suspended)).order_by(Tenant.name))
        raise Conflict("These agencies cannot receive new cases at the moment: " + ", ".join(names) + ".",
                       code="billing.placements_suspended", details=details)
    raise Conflict("This lender cannot place new cases at the moment.", code="billing.placements_suspended",
                   details=details)


def _terms_for(relationship, terms: dict) -> dict:
    resolved = {
        "commission_bps": terms.get("commission_bps", relationship.default_commission_bps),
        "commission_tiers": sorted(terms.get("commission_tiers") or [], key=lambda t: t["min_dpd"]),
        "period_days": terms.get("period_days", relationship.default_period_days),
        "channels": list(terms.get("channels") or relationship.default_channels),
        # Checked now, not at the first contact: a term that cannot be read or would loosen is the lender's 422.
        "conduct_overrides": conduct.check_terms(relationship.lender, terms.get("conduct_overrides")),
        # The panel sets no default discount: without one in the terms, every discount goes to the lender.
        "max_discount_bps": terms.get("max_discount_bps", 0),
    }
    _check_terms(resolved["commission_bps"], resolved["period_days"], resolved["channels"])
    if not (isinstance(resolved["max_discount_bps"], int) and 0 <= resolved["max_discount_bps"] <= 10_000):
        raise ValidationFailed(details={"fields": {"max_discount_bps": ["0–10000 basis points."]}})
    for tier in resolved["commission_tiers"]:
        if not (0 <= tier["bps"] <= 10_000 and 0 <= tier["min_dpd"] <= tier.get("max_dpd", 10**6)):
            raise ValidationFailed(details={"fields": {"commission_tiers": ["Each tier needs 0 ≤ min_dpd ≤ max_dpd "
                                                                             "and 0–10000 bps."]}})
    return resolved


def _jsonable(terms: dict) -> dict:
    return {k: v for k, v in terms.items() if v not in (None, [], {})}


# ---- reading ----------------------------------------------------------------------------------------------

def get_batch(batch_id: uuid.UUID) -> PlacementBatch:
    batch = get_visible(PlacementBatch, batch_id, "placement_batch.not_found")
    return batch


def get_placement(placement_id: uuid.UUID) -> Placement:
    placement = get_visible(Placement, placement_id, "placement.not_found")
    return placement


def batch_placements(batch: PlacementBatch) -> list[Placement]:
    return list(db.session.scalars(select(Placement).where(Placement.batch_id == batch.id)))


@dataclass(frozen=True)
class Offer:
    batch_id: uuid.UUID
    lender_name: str
    accounts: int
    balance_minor: int
    currency: str
    offered_at: object
    status: str


def offers_for_agency() -> list[Offer]:
    """What an agency is offered, without the accounts' personal data (it sees those once it accepts)."""
    rows = db.session.execute(
        select(Placement.batch_id, Tenant.name, func.count(), func.sum(Placement.balance_at_placement_minor),
               func.min(Placement.currency), func.min(Placement.offered_at), Placement.status)
        .join(Tenant, Tenant.id == Placement.tenant_id)
        .where(Placement.agency_tenant_id == current_tenant_id())
        .group_by(Placement.batch_id, Tenant.name, Placement.status)
        .order_by(func.min(Placement.offered_at).desc())
    ).all()
    return [Offer(*row) for row in rows]


def respond(batch_id: uuid.UUID, accept: bool) -> int:
    """The agency accepts or declines everything a batch offered it."""
    agency_id = current_tenant_id()
    offered = list(db.session.scalars(select(Placement).where(
        Placement.batch_id == batch_id, Placement.agency_tenant_id == agency_id,
        Placement.status == PlacementStatus.OFFERED)))
    if not offered:
        if db.session.scalar(select(Placement.id).where(Placement.batch_id == batch_id,
                                                         Placement.agency_tenant_id == agency_id).limit(1)):
            raise Conflict("This offer was already answered.", code="placement.already_answered")
        raise NotFound(code="placement_batch.not_found")
    if accept:
        _refuse_suspended(db.session.get(Tenant, offered[0].tenant_id), [agency_id])
    now = clock.now()
    for placement in offered:
        placement.status = PlacementStatus.ACTIVE if accept else PlacementStatus.DECLINED
        placement.responded_at = now
        if not accept:
            placement.ended_at, placement.end_reason = now, "declined by the agency"
    if accept:
        billing_usage.record_acceptances(offered)
    audit.record("placement.accepted" if accept else "placement.declined", object_type="placement_batch",
                 object_id=batch_id, after={"placements": len(offered)})
    webhooks.placements("placement.accepted" if accept else "placement.declined", offered)
    return len(offered)


# ---- recall and expiry ---------------------------------------------------------------------------------------

def recall(placement_ids: list[uuid.UUID], *, reason: str, force: bool, role: str) -> list[Placement]:
    reason = required_text(reason, message="Give a reason for the recall.", code="recall.reason_required")
    if force and not can(role, Capability.PLACEMENT_FORCE_RECALL):
        raise PermissionDenied("Only a lender admin can force a recall.", code="recall.force_not_allowed")
    placements = list(db.session.scalars(select(Placement).where(
        Placement.id.in_(placement_ids), Placement.tenant_id == current_tenant_id(),
        Placement.status.in_(PlacementStatus.OPEN))))
    if len(placements) != len(set(placement_ids)):
        raise NotFound("Some placements are not open placements of yours.", code="placement.not_found")
    blockers = {}
    for check in RECALL_BLOCKERS:
        blockers.update(check([p.account_id for p in placements]))
    if blockers and not force:
        raise Conflict(f"{len(blockers)} account(s) cannot be recalled now; a lender admin may force it.",
                       code="recall.blocked", details={"blocked": {str(k): v for k, v in blockers.items()}})
    now = clock.now()
    for placement in placements:
        placement.status, placement.ended_at = PlacementStatus.RECALLED, now
        placement.end_reason, placement.recall_forced = reason, bool(blockers) and force
        audit.record("placement.recalled", object_type="placement", object_id=placement.id,
                     after={"reason": placement.end_reason, "forced": placement.recall_forced,
                            "blocked_by": blockers.get(placement.account_id)})
    webhooks.placements("placement.recalled", placements)
    return placements


def expire_due() -> int:
    """Placements whose period has ended go back to the lender. Run daily in a platform context."""
    today = clock.now().date()
    result = db.session.execute(
        update(Placement).where(Placement.status == PlacementStatus.ACTIVE, Placement.ends_on < today)
        .values(status=PlacementStatus.EXPIRED, ended_at=clock.now(), end_reason="placement period ended")
        .returning(Placement.id, Placement.account_id, Placement.agency_tenant_id, Placement.batch_id)
        .execution_options(synchronize_session=False)).all()
    webhooks.placements("placement.expired", result)
    return len(result)


def close_for_account(account_id: uuid.UUID, reason: str) -> None:
    for placement in db.session.scalars(select(Placement).where(
            Placement.account_id == account_id, Placement.status.in_(PlacementStatus.OPEN))):
        placement.status, placement.ended_at, placement.end_reason = PlacementStatus.CLOSED, clock.now(), reason


# ---- league table ---------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class LeagueRow:
    agency_name: str
    agency_slug: str
    currency: str
    accounts_active: int
    accounts_placed: int
    balance_placed_minor: int
    recovered_minor: int

    @property
    def liquidation_rate(self) -> float:
        """Recovered ÷ balance placed, over every placement the agency accepted."""
        return self.recovered_minor / self.balance_placed_minor if self.balance_placed_minor else 0.0


def league_table() -> list[LeagueRow]:
    accepted = Placement.status.not_in((PlacementStatus.OFFERED, PlacementStatus.DECLINED))
    rows = db.session.execute(
        select(Tenant.name, Tenant.slug, Placement.currency,
               func.sum(func.cast(Placement.status == PlacementStatus.ACTIVE, db.Integer)),
               func.count(), func.sum(Placement.balance_at_placement_minor), func.sum(Placement.recovered_minor))
        .join(Tenant, Tenant.id == Placement.agency_tenant_id)
        .where(Placement.tenant_id == current_tenant_id(), accepted)
        .group_by(Tenant.name, Tenant.slug, Placement.currency)  # amounts in different currencies never add up
    ).all()
    table = [LeagueRow(name, slug, currency, int(active or 0), int(placed), int(balance or 0), int(recovered or 0))
             for name, slug, currency, active, placed, balance, recovered in rows]
    return sorted(table, key=lambda r: (-r.liquidation_rate, -r.balance_placed_minor))


def require_agency(tenant: Tenant) -> None:
    if tenant.kind != TenantKind.AGENCY:
        raise PermissionDenied(code="placement.agencies_only")
