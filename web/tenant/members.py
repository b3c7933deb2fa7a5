"""A tenant's people: list, invite, view, deactivate and reactivate."""
import uuid

from flask import flash, g, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user

from tenants.capabilities import Capability
from tenants.db import db
from tenants.tenancy.roles import roles_for
from tenants.tenancy.schemas import InvitationSchema
from tenants.tenancy.services import get_member, invite_user, list_members, set_member_active
from web.access import allowed, require_capability
from web.forms import NOT_SUBMITTED, ActionForm, InviteForm, submit
from web.tenant import bp


def _invite_form() -> InviteForm:
    form = InviteForm()
    form.role.choices = [(role, role) for role in roles_for(g.tenant.kind)]
    return form


@bp.route("/members")
def members():
    return render_template("tenant/members.html", members=list_members(), form=_invite_form(),
                           can_admin=allowed(Capability.MEMBERS_MANAGE))


@bp.route("/members/invite", methods=["POST"])
@require_capability(Capability.MEMBERS_MANAGE)
def invite():
    form = _invite_form()
    secret, status = submit(form, InvitationSchema(), lambda data: invite_user(
        tenant=g.tenant, email=data["email"], role=data["role"], invited_by=current_user.id))
    if secret is NOT_SUBMITTED:
        return render_template("tenant/members.html", members=list_members(), form=form, can_admin=True), status
    link = url_for("auth.accept", token=secret, _external=True)
    return render_template("tenant/invited.html", link=link, email=form.email.data)


@bp.route("/members/<uuid:membership_id>")
def member(membership_id: uuid.UUID):
    return render_template("tenant/member.html", member=get_member(membership_id), form=ActionForm(),
                           can_admin=allowed(Capability.MEMBERS_MANAGE))


@bp.route("/members/<uuid:membership_id>/active", methods=["POST"])
@require_capability(Capability.MEMBERS_MANAGE)
def member_active(membership_id: uuid.UUID):
    membership = get_member(membership_id)
    set_member_active(membership, request.form.get("active") == "1", by_user_id=current_user.id)
    db.session.commit()
    flash(_("Saved."), "success")
    return redirect(url_for("tenant.member", membership_id=membership.id))
