"""A lender's agency panel and placements: add and review agencies, place accounts (split by weight), read how a
batch was allocated, recall placements; and the agency league table on the lender's dashboard."""
import re
import uuid
from decimal import Decimal

from flask import flash, g, redirect, render_template, request, url_for
from flask_babel import format_number, ngettext
from flask_babel import gettext as _
from flask_login import current_user
from marshmallow import Schema, fields, validate
from sqlalchemy import func, select

from tenants import clock
from tenants.capabilities import Capability
from tenants.db import db
from tenants.errors import DomainError, NotFound, ValidationFailed
from tenants.money import Money
from tenants.placements import panel
from tenants.placements import services as placement_service
from tenants.placements.models import Placement, PlacementBatch, PlacementStatus
from tenants.portfolios.imports import list_portfolios
from tenants.portfolios.models import Account
from tenants.tenancy.models import Tenant
from web.access import require_capability
from web.forms import NOT_SUBMITTED, AddAgencyForm, PlaceAccountsForm, RecallForm, submit
from web.tenant import bp
from web.tenant.portfolios import lender_page, parse_uuid

AGENCY_SLOTS = (1, 2, 3)
RECENT_BATCHES = 20


def _percent_to_bps(percent: Decimal | None) -> int | None:
    return None if percent is None else int((percent * 100).to_integral_value())


def _renamed_fields(exc: DomainError, renames: dict) -> DomainError:
    """The domain names a field by its stored name (commission_bps); the form asks in percent."""
    fields_ = exc.details.get("fields")
    if fields_:
        exc.details["fields"] = {renames.get(name, name): messages for name, messages in fields_.items()}
    return exc


# ---- the panel ---------------------------------------------------------------------------------------------------

class AgencySchema(Schema):
    agency_slug = fields.String(required=True, validate=validate.Length(min=1))
    contract_start = fields.Date(required=True)
    contract_end = fields.Date(allow_none=True, load_default=None)
    commission_percent = fields.Decimal(required=True, validate=validate.Range(min=0, max=100))
    period_days = fields.Integer(required=True)
    channels = fields.List(fields.String(), load_default=list)


def _agencies_page(form: AddAgencyForm, status: int = 200):
    return render_template("tenant/agencies.html", panel=panel.list_panel(), form=form,
                           today=clock.now().date()), status


@bp.route("/agencies")
@lender_page
def agencies():
    form = AddAgencyForm(formdata=None)
    form.contract_start.data = clock.now().date()
    return _agencies_page(form)


@bp.route("/agencies", methods=["POST"])
@lender_page
@require_capability(Capability.PANEL_ADD)
def agency_add():
    form = AddAgencyForm()

    def action(data):
        try:
            return panel.add_agency(agency_slug=data["agency_slug"].strip(), contract_start=data["contract_start"],
                                    contract_end=data["contract_end"],
                                    commission_bps=_percent_to_bps(data["commission_percent"]),
                                    period_days=data["period_days"], channels=data["channels"])
        except NotFound as exc:  # an unknown agency address is a mistake in the form, not a missing page
            raise ValidationFailed(exc.message, code=exc.code, details=exc.details) from None
        except DomainError as exc:
            raise _renamed_fields(exc, {"commission_bps": "commission_percent"}) from None

    relationship, status = submit(form, AgencySchema(), action)
    if relationship is NOT_SUBMITTED:
        return _agencies_page(form, status)
    flash(_("%(agency)s is now on your panel.", agency=relationship.agency.name), "success")
    return redirect(url_for("tenant.agencies"))


@bp.route("/agencies/<uuid:relationship_id>/review", methods=["POST"])
@lender_page
@require_capability(Capability.PANEL_REVIEW)
def agency_review(relationship_id: uuid.UUID):
    relationship = panel.get_relationship(relationship_id)
    panel.record_review(relationship)
    db.session.commit()
    flash(_("Review of %(agency)s recorded; the next one is due on %(date)s.", agency=relationship.agency.name,
            date=relationship.next_review_on.isoformat()), "success")
    return redirect(url_for("tenant.agencies"))


# ---- placing -------------------------------------------------------------------------------------------------------

class PlaceSchema(Schema):
    portfolio = fields.String(allow_none=True, load_default=None)
    dpd_min = fields.Integer(allow_none=True, load_default=None)
    dpd_max = fields.Integer(allow_none=True, load_default=None)
    balance_min = fields.String(allow_none=True, load_default=None)
    balance_max = fields.String(allow_none=True, load_default=None)
    region = fields.String(allow_none=True, load_default=None)
    external_refs = fields.String(allow_none=True, load_default=None)
    agency_1 = fields.String(allow_none=True, load_default=None)
    weight_1 = fields.Integer(allow_none=True, load_default=None)
    agency_2 = fields.String(allow_none=True, load_default=None)
    weight_2 = fields.Integer(allow_none=True, load_default=None)
    agency_3 = fields.String(allow_none=True, load_default=None)
    weight_3 = fields.Integer(allow_none=True, load_default=None)
    commission_percent = fields.Decimal(allow_none=True, load_default=None, validate=validate.Range(min=0, max=100))
    period_days = fields.Integer(allow_none=True, load_default=None)
    channels = fields.List(fields.String(), load_default=list)
    seed = fields.Integer(allow_none=True, load_default=None)
    debtors_notified = fields.Boolean(load_default=False)
    max_discount_percent = fields.Decimal(allow_none=True, load_default=None, validate=validate.Range(min=0, max=100))


def _place_form(formdata=True) -> PlaceAccountsForm:
    form = PlaceAccountsForm() if formdata else PlaceAccountsForm(formdata=None)
    form.portfolio.choices = [("", _("All portfolios"))] + [(str(p.id), p.name) for p in list_portfolios()]
    agencies = [("", _("(none)"))] + [(str(r.agency_tenant_id), r.agency.name) for r in panel.list_panel()
                                       if r.status == "active"]
    for slot in AGENCY_SLOTS:
        form[f"agency_{slot}"].choices = agencies
    return form


def _weights(data: dict) -> dict[uuid.UUID, int]:
    weights, problems = {}, {}
    for slot in AGENCY_SLOTS:
        if not data[f"agency_{slot}"]:
            continue
        agency_id = parse_uuid(data[f"agency_{slot}"])
        if agency_id is None:
            problems[f"agency_{slot}"] = [_("Choose an agency from your panel.")]
        elif agency_id in weights:
            problems[f"agency_{slot}"] = [_("Choose each agency once.")]
        else:
            weights[agency_id] = data[f"weight_{slot}"] or 1
    if not weights and not problems:
        problems["agency_1"] = [_("Choose at least one agency.")]
    if problems:
        raise ValidationFailed(details={"fields": problems})
    return weights


def _amount(data: dict, name: str) -> str | None:
    text = (data[name] or "").strip()
    if not text:
        return None
    try:
        Money.parse(text, g.tenant.currency)
    except ValidationFailed:
        raise ValidationFailed(details={"fields": {name: [_("Not an amount.")]}}) from None
    return text


def _selection(data: dict) -> placement_service.Selection:
    refs = tuple(dict.fromkeys(r for r in re.split(r"[\s,;，；]+", data["external_refs"] or "") if r))
    return placement_service.Selection(
        portfolio_id=parse_uuid(data["portfolio"]) if data["portfolio"] else None, dpd_min=data["dpd_min"],
        dpd_max=data["dpd_max"], balance_min=_amount(data, "balance_min"), balance_max=_amount(data, "balance_max"),
        region=(data["region"] or "").strip() or None, external_refs=refs)


def _terms(data: dict) -> dict:
    terms = {}
    if data["commission_percent"] is not None:
        terms["commission_bps"] = _percent_to_bps(data["commission_percent"])
    if data["period_days"] is not None:
        terms["period_days"] = data["period_days"]
    if data["channels"]:
        terms["channels"] = list(data["channels"])
    if data["max_discount_percent"] is not None:
        terms["max_discount_bps"] = _percent_to_bps(data["max_discount_percent"])
    return terms


def _placements_page(form: PlaceAccountsForm, status: int = 200, preview=None, posted=()):
    summary = db.session.execute(
        select(Tenant.name, Placement.status, Placement.currency, func.count(),
               func.sum(Placement.balance_at_placement_minor), func.sum(Placement.recovered_minor))
        .join(Tenant, Tenant.id == Placement.agency_tenant_id)
        .where(Placement.tenant_id == g.tenant.id)
        .group_by(Tenant.name, Placement.status, Placement.currency)
        .order_by(Tenant.name, Placement.status)).all()
    by_agency = {}
    for name, status_, currency, count, balance, recovered in summary:
        by_agency.setdefault(name, []).append({"status": status_, "currency": currency, "accounts": count,
                                               "balance_minor": int(balance or 0),
                                               "recovered_minor": int(recovered or 0)})
    batches = list(db.session.scalars(select(PlacementBatch).where(PlacementBatch.tenant_id == g.tenant.id)
                                      .order_by(PlacementBatch.created_at.desc()).limit(RECENT_BATCHES)))
    return render_template("tenant/placements.html", by_agency=by_agency, batches=batches, form=form,
                           batch_accounts=_batch_sizes([b.id for b in batches]), preview=preview,
                           posted=posted), status


def _batch_sizes(batch_ids) -> dict:
    if not batch_ids:
        return {}
    return dict(db.session.execute(select(Placement.batch_id, func.count()).where(Placement.batch_id.in_(batch_ids))
                                   .group_by(Placement.batch_id)).all())


@bp.route("/placements")
@lender_page
def placements():
    return _placements_page(_place_form(formdata=False))


@bp.route("/placements/preview", methods=["POST"])
@lender_page
@require_capability(Capability.PLACEMENT_MANAGE)
def placement_preview():
    """How the placement would be split — count, balance, DPD and balance mix per agency — written nowhere; the
    page's confirm button places exactly this (the same fields, the preview's seed, its account count)."""
    form = _place_form()

    def action(data):
        try:
            return placement_service.preview(lender=g.tenant, selection=_selection(data), weights=_weights(data),
                                             terms=_terms(data), seed=data["seed"])
        except DomainError as exc:
            raise _renamed_fields(exc, {"commission_bps": "commission_percent"}) from None

    found, status = submit(form, PlaceSchema(), action)
    if found is NOT_SUBMITTED:
        return _placements_page(form, status)
    posted = [(name, value) for name, values in request.form.lists() if name not in CONFIRM_OWN_FIELDS
              for value in values]
    return _placements_page(form, preview=found, posted=posted)


CONFIRM_OWN_FIELDS = ("csrf_token", "seed", "expected_accounts")


@bp.route("/placements", methods=["POST"])
@lender_page
@require_capability(Capability.PLACEMENT_MANAGE)
def placement_create():
    form = _place_form()
    expected = request.form.get("expected_accounts", type=int)

    def action(data):
        try:
            return placement_service.place(lender=g.tenant, selection=_selection(data), weights=_weights(data),
                                           terms=_terms(data), created_by=current_user.id, seed=data["seed"],
                                           debtors_notified=data["debtors_notified"], expected_accounts=expected)
        except DomainError as exc:
            raise _renamed_fields(exc, {"commission_bps": "commission_percent"}) from None

    batch, status = submit(form, PlaceSchema(), action)
    if batch is NOT_SUBMITTED:
        return _placements_page(form, status)
    return redirect(url_for("tenant.placement_batch", batch_id=batch.id))


# ---- one batch, and recall -------------------------------------------------------------------------------------

def lender_batch(batch_id) -> PlacementBatch:
    batch = placement_service.get_batch(batch_id)
    if batch.tenant_id != g.tenant.id:
        raise NotFound(code="placement_batch.not_found")
    return batch


def explain(batch: PlacementBatch) -> dict:
    """The stored allocation record, told with agency names and in the reader's language."""
    record = batch.allocation or {}
    keys = list(record.get("per_agency", {}))
    names = dict(db.session.execute(select(Tenant.id, Tenant.name).where(
        Tenant.id.in_([uuid.UUID(k) for k in keys]))).all()) if keys else {}
    name = {k: names.get(uuid.UUID(k), k) for k in keys}
    per_agency = record.get("per_agency", {})
    weights = record.get("weights", {})
    total = sum(a["accounts"] for a in per_agency.values())
    if len(keys) == 1:
        sentence = ngettext("%(num)d account placed with %(agency)s, seed %(seed)s.",
                            "%(num)d accounts placed with %(agency)s, seed %(seed)s.", total,
                            agency=name[keys[0]], seed=record.get("seed"))
    else:
        sentence = ngettext(
            "%(num)d account split %(split)s across %(agencies)s (weights %(weights)s), stratified by %(buckets)s "
            "DPD buckets × balance quartiles, seed %(seed)s.",
            "%(num)d accounts split %(split)s across %(agencies)s (weights %(weights)s), stratified by "
            "%(buckets)s DPD buckets × balance quartiles, seed %(seed)s.", total,
            split="/".join(format_number(per_agency[k]["accounts"]) for k in keys),
            agencies=_(", ").join(name[k] for k in keys), weights="/".join(str(weights.get(k, "")) for k in keys),
            buckets=len(record.get("dpd_buckets", [])), seed=record.get("seed"))
    strata = []
    for stratum in record.get("strata", []):
        bucket, _sep, quartile = stratum["label"].partition("/")
        strata.append({"dpd": bucket, "quartile": quartile.lstrip("q"), "accounts": stratum["accounts"],
                       "per_agency": [stratum["per_agency"].get(k, 0) for k in keys]})
    return {"sentence": sentence, "agencies": [{"name": name[k], "weight": weights.get(k), **per_agency[k]}
                                               for k in keys],
            "names": [name[k] for k in keys], "strata": strata, "method": record.get("method"),
            "criteria": batch.criteria, "terms": batch.terms}


def _batch_page(batch: PlacementBatch, form: RecallForm, status: int = 200):
    rows = db.session.execute(
        select(Placement, Tenant.name).join(Tenant, Tenant.id == Placement.agency_tenant_id)
        .where(Placement.batch_id == batch.id)).all()
    refs = dict(db.session.execute(select(Account.id, Account.external_ref).where(
        Account.id.in_([p.account_id for p, _name in rows]))).all()) if rows else {}
    listed = sorted(((p, name, refs.get(p.account_id, "")) for p, name in rows), key=lambda r: (r[1], r[2]))
    return render_template("tenant/placement_batch.html", batch=batch, explanation=explain(batch),
                           placements=listed, form=form, open_statuses=PlacementStatus.OPEN), status


@bp.route("/placements/batches/<uuid:batch_id>")
@lender_page
def placement_batch(batch_id: uuid.UUID):
    batch = lender_batch(batch_id)
    form = RecallForm(formdata=None)
    form.batch_id.data = str(batch.id)
    return _batch_page(batch, form)


class RecallSchema(Schema):
    reason = fields.String(allow_none=True, load_default="")
    force = fields.Boolean(load_default=False)


@bp.route("/placements/recall", methods=["POST"])
@lender_page
@require_capability(Capability.PLACEMENT_MANAGE)
def placement_recall():
    form = RecallForm()
    batch = lender_batch(parse_uuid(form.batch_id.data)) if parse_uuid(form.batch_id.data) else None
    chosen = request.form.getlist("placement")
    ids = [parse_uuid(value) for value in chosen]
    if None in ids:
        raise NotFound(code="placement.not_found")

    def action(data):
        if not ids:
            raise ValidationFailed(_("Tick the placements to recall."), code="recall.nothing_chosen")
        return placement_service.recall(ids, reason=data["reason"] or "", force=bool(data["force"]), role=g.role)

    recalled, status = submit(form, RecallSchema(), action)
    if recalled is NOT_SUBMITTED:
        if batch is None:
            return redirect(url_for("tenant.placements"))
        return _batch_page(batch, form, status)
    flash(ngettext("%(num)d placement recalled.", "%(num)d placements recalled.", len(recalled)), "success")
    return redirect(url_for("tenant.placement_batch", batch_id=batch.id) if batch else url_for("tenant.placements"))

