import uuid

from flask import g, url_for
from flask_smorest import Blueprint
from sqlalchemy import select

from tenants.capabilities import Capability
from tenants.db import db
from tenants.tenancy.models import Membership
from tenants.tenancy.schemas import InvitationSchema
from tenants.tenancy.services import INVITATION_LIFETIME, get_member, invite_user
from web.access import require_capability
from web.api.pagination import PageArgs, page_schema, paginate
from web.api.schemas import InvitationOut, MemberOut

blp = Blueprint("api_members", __name__, url_prefix="/api/v1", description="Members and invitations")


@blp.route("/members")
@blp.arguments(PageArgs, location="query")
@blp.response(200, page_schema(MemberOut, "MemberPage"))
def list_members(args):
    return paginate(select(Membership), Membership.created_at, Membership.id, **args)


@blp.route("/members/<uuid:membership_id>")
@blp.response(200, MemberOut)
def member(membership_id: uuid.UUID):
    return get_member(membership_id)


@blp.route("/invitations", methods=["POST"])
@require_capability(Capability.MEMBERS_MANAGE)
@blp.arguments(InvitationSchema)
@blp.response(201, InvitationOut)
def invite(data):
    secret = invite_user(tenant=g.tenant, email=data["email"], role=data["role"], invited_by=None)
    db.session.commit()
    return {"accept_url": url_for("auth.accept", token=secret, _external=True),
            "expires_in_days": INVITATION_LIFETIME.days}
