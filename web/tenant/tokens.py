"""API tokens of a tenant: create (the secret is shown once), list, revoke."""
import uuid

from flask import flash, g, redirect, render_template, url_for
from flask_babel import gettext as _
from flask_login import current_user

from tenants.capabilities import Capability
from tenants.db import db
from tenants.tenancy.schemas import NewApiTokenSchema
from tenants.tenancy.tokens import create_token, get_token, list_tokens, revoke_token, roles_up_to
from web.access import require_capability
from web.forms import NOT_SUBMITTED, ActionForm, NewTokenForm, submit
from web.templating import ROLE_LABELS
from web.tenant import bp


def _form() -> NewTokenForm:
    form = NewTokenForm()
    # Least powerful first, so the role a token gets unless someone chooses is the narrowest.
    form.role.choices = [(role, str(ROLE_LABELS.get(role, role)))
                         for role in reversed(roles_up_to(g.tenant.kind, g.role))]
    return form


@bp.route("/tokens")
@require_capability(Capability.TOKENS_MANAGE)
def tokens():
    return render_template("tenant/tokens.html", tokens=list_tokens(), form=_form(), action=ActionForm())


@bp.route("/tokens", methods=["POST"])
@require_capability(Capability.TOKENS_MANAGE)
def token_create():
    form = _form()
    created, status = submit(form, NewApiTokenSchema(),
                             lambda data: create_token(tenant=g.tenant, created_by=current_user.id,
                                                       creator_role=g.role, **data))
    if created is NOT_SUBMITTED:
        return render_template("tenant/tokens.html", tokens=list_tokens(), form=form, action=ActionForm()), status
    token, secret = created
    return render_template("tenant/token_created.html", token=token, secret=secret)


@bp.route("/tokens/<uuid:token_id>/revoke", methods=["POST"])
@require_capability(Capability.TOKENS_MANAGE)
def token_revoke(token_id: uuid.UUID):
    revoke_token(get_token(token_id))
    db.session.commit()
    flash(_("Token revoked."), "success")
    return redirect(url_for("tenant.tokens"))
