"""An agency's side: the placements offered to it (accept or decline a batch), its cases (accounts it holds an
active placement of; the tenant lock shows it no other), one case read-only, and its dashboard counts."""
import uuid

from flask import flash, g, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import ngettext
from sqlalchemy import func, select

from tenants.db import db
from tenants.errors import Conflict, NotFound
from tenants.placements import services as placement_service
from tenants.placements.models import Placement, PlacementStatus
from tenants.portfolios import accounts as account_service
from tenants.portfolios.models import Account
from tenants.tenancy.models import Tenant
from tenants.tenancy.roles import TenantKind
from tenants.tenancy.settings import update_settings
from web.access import require_role
from web.forms import ActionForm
from web.tenant import bp
from web.tenant.accounts import list_args, paginate
from web.tenant.portfolios import AGENCY_ANSWERERS, agency_page


def _active_placements():
    return select(Placement).where(Placement.agency_tenant_id == g.tenant.id,
                                   Placement.status == PlacementStatus.ACTIVE)


# ---- offers --------------------------------------------------------------------------------------------------------

@bp.route("/offers")
@agency_page
def offers():
    return render_template("tenant/offers.html", offers=placement_service.offers_for_agency(), form=ActionForm())


@bp.route("/offers/auto-accept", methods=["POST"])
@agency_page
@require_role("agency_admin")
def offers_auto_accept():
    enabled = request.form.get("enabled") == "1"
    update_settings(g.tenant, {"auto_accept_placements": enabled})
    db.session.commit()
    flash(_("New placements are accepted automatically.") if enabled
          else _("New placements wait for your answer."), "success")
    return redirect(url_for("tenant.offers"))


def _answer(batch_id: uuid.UUID, accept: bool):
    form = ActionForm()
    if not form.validate_on_submit():
        return redirect(url_for("tenant.offers"))
    try:
        count = placement_service.respond(batch_id, accept=accept)
    except Conflict as exc:
        db.session.rollback()
        flash(exc.message, "warning")
        return redirect(url_for("tenant.offers"))
    db.session.commit()
    if accept:
        flash(ngettext("%(num)d account accepted: it is now among your cases.",
                       "%(num)d accounts accepted: they are now among your cases.", count), "success")
    else:
        flash(ngettext("%(num)d account declined.", "%(num)d accounts declined.", count), "success")
    return redirect(url_for("tenant.offers"))


@bp.route("/placement-batches/<uuid:batch_id>/accept", methods=["POST"])
@agency_page
@require_role(*AGENCY_ANSWERERS)
def offer_accept(batch_id: uuid.UUID):
    return _answer(batch_id, accept=True)


@bp.route("/placement-batches/<uuid:batch_id>/decline", methods=["POST"])
@agency_page
@require_role(*AGENCY_ANSWERERS)
def offer_decline(batch_id: uuid.UUID):
    return _answer(batch_id, accept=False)


# ---- cases ---------------------------------------------------------------------------------------------------------

@bp.route("/cases")
@agency_page
def cases():
    held = _active_placements().subquery()
    query = (select(Account).join(held, held.c.account_id == Account.id)
             .order_by(Account.days_past_due.desc(), Account.external_ref))
    external_ref = request.args.get("external_ref", "").strip()
    if external_ref:
        query = query.where(Account.external_ref == external_ref)
    rows, page, pages, total = paginate(query, request.args.get("page", 1, type=int))
    placements = {p.account_id: p for p in db.session.scalars(
        _active_placements().where(Placement.account_id.in_([a.id for a in rows])))} if rows else {}
    lenders = dict(db.session.execute(select(Tenant.id, Tenant.name).where(
        Tenant.id.in_({a.tenant_id for a in rows}))).all()) if rows else {}
    return render_template("tenant/cases.html", accounts=rows, placements=placements, lenders=lenders, page=page,
                           pages=pages, total=total, args=list_args(), external_ref=external_ref)


@bp.route("/cases/<uuid:account_id>")
@agency_page
def case_detail(account_id: uuid.UUID):
    account = account_service.get_account(account_id)
    placement = db.session.scalar(_active_placements().where(Placement.account_id == account.id))
    if placement is None:
        raise NotFound(code="account.not_found")
    lender = db.session.get(Tenant, account.tenant_id)
    return render_template("tenant/case.html", account=account, placement=placement, lender=lender,
                           updates=account_service.updates_of(account))


# ---- the agency dashboard's counts ---------------------------------------------------------------------------------

def agency_counts() -> dict:
    offered = db.session.execute(
        select(func.count(func.distinct(Placement.batch_id)), func.count())
        .where(Placement.agency_tenant_id == g.tenant.id, Placement.status == PlacementStatus.OFFERED)).one()
    active = db.session.scalar(select(func.count()).select_from(_active_placements().subquery()))
    return {"offers": offered[0], "offered_accounts": offered[1], "cases": active or 0}


@bp.context_processor
def _agency_dashboard():
    if g.get("tenant") is None or g.tenant.kind != TenantKind.AGENCY:
        return {}
    return {"agency_counts": agency_counts}
