"""Placements: a lender offers accounts to agencies on its panel (split by weight, seeded and explained), the
agency accepts or declines through its own token, the lender recalls; and the lender's league table.

Both sides read placements and batches through the same routes; the tenant lock shows each side its own rows
(an agency sees only its own placements, so only its own slice of a batch).
"""
import uuid
from collections import defaultdict
from types import SimpleNamespace

from flask import g
from flask_smorest import Blueprint
from sqlalchemy import func, select

from tenants.capabilities import Capability
from tenants.db import db
from tenants.errors import ValidationFailed
from tenants.placements import panel, services
from tenants.placements.models import Placement, PlacementBatch
from tenants.tenancy.models import Tenant
from web.access import require_capability
from web.api.pagination import paginate
from web.api.portfolio_schemas import (
    BatchOut,
    LeagueTableOut,
    OfferList,
    PlaceIn,
    PlacementArgs,
    PlacementOut,
    PlacementPage,
    PreviewIn,
    PreviewOut,
    RecallIn,
    RecallOut,
    ResponseOut,
    agencies_only,
    extend,
    is_lender,
    lenders_and_agencies,
    lenders_only,
)

blp = Blueprint("api_placements", __name__, url_prefix="/api/v1",
                description="Placements with agencies, offers, recall and the league table")

LIQUIDATION_FORMULA = ("liquidation_rate = recovered_minor / balance_placed_minor, over every placement the agency "
                       "accepted (active, recalled, expired or closed; offers and declines excluded); "
                       "balance_placed_minor is the outstanding balance at placement")


# ---- lender: placing, reading, recalling --------------------------------------------------------------------

@blp.route("/placements", methods=["POST"])
@lenders_only
@require_capability(Capability.PLACEMENT_MANAGE)
@blp.arguments(PlaceIn)
@blp.response(201, BatchOut)
def place(data):
    """Offer the open, unplaced, not-on-hold accounts matching `selection` to the agencies, split by weight.

    Terms not given come from each agency's panel defaults. `seed` makes the split reproducible: send the seed
    and `accounts` of a preview (POST /placements/preview) as `seed` and `expected_accounts` to place exactly
    what was previewed."""
    selection, weights = _selection_and_weights(data)
    batch = services.place(lender=g.tenant, selection=selection, weights=weights, terms=data["terms"],
                           created_by=None, seed=data["seed"], debtors_notified=data["debtors_notified"],
                           expected_accounts=data["expected_accounts"])
    db.session.commit()
    return _batch_view(batch)


@blp.route("/placements/preview", methods=["POST"])
@lenders_only
@require_capability(Capability.PLACEMENT_MANAGE)
@blp.arguments(PreviewIn)
@blp.response(200, PreviewOut)
def preview(data):
    """How POST /placements would split this selection — accounts, balance, DPD and balance mix per agency —
    with every check placing makes, and nothing written."""
    selection, weights = _selection_and_weights(data)
    found = services.preview(lender=g.tenant, selection=selection, weights=weights, terms=data["terms"],
                             seed=data["seed"])
    slugs = dict(db.session.execute(select(Tenant.id, Tenant.slug).where(Tenant.id.in_(weights))).all())
    return {"accounts": found.accounts, "balance_minor": found.balance_minor, "currency": found.currency,
            "seed": found.seed, "dpd_buckets": found.dpd_buckets,
            "balance_bands": [{"lowest_minor": low, "highest_minor": high} for low, high in found.balance_bands],
            "agencies": [{"agency": {"name": a.name, "slug": slugs.get(a.agency_id)},
                          "weight": a.weight, "accounts": a.accounts, "balance_minor": a.balance_minor,
                          "by_dpd_bucket": dict(zip(found.dpd_buckets, a.by_dpd, strict=True)),
                          "by_balance_band": a.by_balance} for a in found.agencies]}


def _selection_and_weights(data) -> tuple[services.Selection, dict[uuid.UUID, int]]:
    on_panel = {r.agency.slug: r.agency_tenant_id for r in panel.list_panel()}
    unknown = [a["agency_slug"] for a in data["agencies"] if a["agency_slug"] not in on_panel]
    if unknown:
        problems = [f"{slug!r} is not on your panel." for slug in unknown]
        raise ValidationFailed("Placements go only to agencies on your panel with a current contract.",
                               code="placement.agency_not_approved", details={"fields": {"agencies": problems}})
    selection = dict(data["selection"])
    selection["external_refs"] = tuple(selection.get("external_refs") or ())
    return (services.Selection(**selection),
            {on_panel[a["agency_slug"]]: a["weight"] for a in data["agencies"]})


@blp.route("/placement-batches/<uuid:batch_id>")
@lenders_and_agencies
@blp.response(200, BatchOut)
def batch(batch_id: uuid.UUID):
    return _batch_view(services.get_batch(batch_id))


def _batch_view(found: PlacementBatch):
    query = (select(Placement.agency_tenant_id, Placement.status, func.count(),
                    func.sum(Placement.balance_at_placement_minor), func.min(Placement.currency))
             .where(Placement.batch_id == found.id).group_by(Placement.agency_tenant_id, Placement.status))
    if not is_lender():
        query = query.where(Placement.agency_tenant_id == g.tenant.id)
    per_agency = defaultdict(lambda: {"accounts": 0, "balance_minor": 0, "by_status": {}})
    currency = None
    for agency_id, status, count, balance, row_currency in db.session.execute(query):
        row = per_agency[agency_id]
        row["accounts"] += count
        row["balance_minor"] += int(balance or 0)
        row["by_status"][status] = count
        currency = currency or row_currency
    tenants = {t.id: t for t in db.session.scalars(select(Tenant).where(
        Tenant.id.in_([*per_agency, found.tenant_id])))}
    agencies = sorted(({"agency": tenants[agency_id], **row} for agency_id, row in per_agency.items()),
                      key=lambda r: r["agency"].slug)
    by_status = defaultdict(int)
    for row in agencies:
        for status, count in row["by_status"].items():
            by_status[status] += count
    common = {"id": found.id, "lender": tenants[found.tenant_id], "created_at": found.created_at,
              "accounts": sum(r["accounts"] for r in agencies),
              "balance_minor": sum(r["balance_minor"] for r in agencies), "currency": currency,
              "by_status": dict(by_status), "agencies": agencies}
    if not is_lender():
        return SimpleNamespace(**common)
    summary = (found.allocation or {}).get("summary") or ""
    for agency_id, tenant in tenants.items():  # the stored record names agencies by id; say their address
        summary = summary.replace(str(agency_id), tenant.slug)
    return extend(found, **common, summary=summary)


@blp.route("/placements")
@lenders_and_agencies
@blp.arguments(PlacementArgs, location="query")
@blp.response(200, PlacementPage)
def list_placements(args):
    """Placements, oldest offer first (cursor pagination on offered_at, id). An agency sees its own."""
    query = select(Placement)
    agency_slug, status, batch_id = args.pop("agency_slug"), args.pop("status"), args.pop("batch_id")
    if agency_slug and is_lender():
        query = query.where(Placement.agency_tenant_id.in_(select(Tenant.id).where(Tenant.slug == agency_slug)))
    if status:
        query = query.where(Placement.status == status)
    if batch_id:
        query = query.where(Placement.batch_id == batch_id)
    return paginate(query, Placement.offered_at, Placement.id, **args)


@blp.route("/placements/<uuid:placement_id>")
@lenders_and_agencies
@blp.response(200, PlacementOut)
def placement(placement_id: uuid.UUID):
    return services.get_placement(placement_id)


@blp.route("/placements/recall", methods=["POST"])
@lenders_only
@require_capability(Capability.PLACEMENT_MANAGE)
@blp.arguments(RecallIn)
@blp.response(200, RecallOut)
def recall(data):
    """Take open placements back. Accounts with a blocker (an open dispute) need `force`, which only a lender
    admin may use (409 `recall.blocked` lists them)."""
    recalled = services.recall(data["placement_ids"], reason=data["reason"], force=data["force"], role=g.role)
    db.session.commit()
    return {"recalled": len(recalled), "items": recalled}


@blp.route("/league-table")
@lenders_only
@blp.response(200, LeagueTableOut)
def league_table():
    """The panel's agencies by liquidation rate (see `formula`), best first."""
    return {"currency": g.tenant.currency, "formula": LIQUIDATION_FORMULA, "rows": services.league_table()}


# ---- agency: offers and the answer --------------------------------------------------------------------------

@blp.route("/offers")
@agencies_only
@blp.response(200, OfferList)
def offers():
    """What lenders offered this agency, per batch and status, without personal data until accepted."""
    return {"items": services.offers_for_agency()}


@blp.route("/placement-batches/<uuid:batch_id>/accept", methods=["POST"])
@agencies_only
@require_capability(Capability.PLACEMENT_RESPOND)
@blp.response(200, ResponseOut)
def accept(batch_id: uuid.UUID):
    """Accept everything this batch offered the agency: the accounts become visible to it."""
    count = services.respond(batch_id, accept=True)
    db.session.commit()
    return {"batch_id": batch_id, "status": "active", "placements": count}


@blp.route("/placement-batches/<uuid:batch_id>/decline", methods=["POST"])
@agencies_only
@require_capability(Capability.PLACEMENT_RESPOND)
@blp.response(200, ResponseOut)
def decline(batch_id: uuid.UUID):
    count = services.respond(batch_id, accept=False)
    db.session.commit()
    return {"batch_id": batch_id, "status": "declined", "placements": count}
