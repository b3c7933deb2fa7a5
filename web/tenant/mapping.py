"""The lender's saved column mapping: its own headers → the canonical account fields."""
from flask import flash, g, redirect, render_template, request, url_for
from flask_babel import gettext as _

from tenants.capabilities import Capability
from tenants.db import db
from tenants.errors import NotFound
from tenants.portfolios.fields import parse_target
from tenants.portfolios.imports import mapping_targets, replace_mapping, saved_mapping
from web.access import allowed, require_capability
from web.domain_messages import field_description
from web.forms import ActionForm
from web.tenant import bp


def _lender_only():
    if g.tenant.kind != "lender":
        raise NotFound()


@bp.route("/column-mapping")
def column_mapping():
    _lender_only()
    mapping = saved_mapping()
    for header in request.args.getlist("header"):
        if header.strip():
            mapping.setdefault(header.strip(), "")
    return render_template("tenant/column_mapping.html", mapping=mapping, targets=mapping_targets(),
                           describe=_describe, form=ActionForm(), can_edit=allowed(Capability.PORTFOLIO_IMPORT))


@bp.route("/column-mapping", methods=["POST"])
@require_capability(Capability.PORTFOLIO_IMPORT)
def column_mapping_save():
    _lender_only()
    headers = request.form.getlist("header")
    targets = request.form.getlist("target")
    mapping = {h: t for h, t in zip(headers, targets) if h.strip()}
    extra = request.form.get("new_header", "").strip()
    if extra:
        mapping[extra] = request.form.get("new_target", "")
    replace_mapping(mapping)
    db.session.commit()
    flash(_("Column mapping saved. Your next upload uses it."), "success")
    return redirect(url_for("tenant.column_mapping"))


def _describe(target: str) -> str:
    base, number = parse_target(target)
    return field_description(base) + (f" (#{number})" if number > 1 else "")
