import uuid

from flask import g
from flask_smorest import Blueprint
from sqlalchemy import select

from tenants.capabilities import Capability
from tenants.db import db
from tenants.tenancy.models import ApiToken
from tenants.tenancy.schemas import NewApiTokenSchema
from tenants.tenancy.tokens import create_token, get_token, revoke_token
from web.access import require_capability
from web.api.pagination import PageArgs, page_schema, paginate
from web.api.schemas import TokenCreatedOut, TokenOut, with_extra

blp = Blueprint("api_tokens", __name__, url_prefix="/api/v1", description="API tokens")


@blp.route("/tokens")
@require_capability(Capability.TOKENS_MANAGE)
@blp.arguments(PageArgs, location="query")
@blp.response(200, page_schema(TokenOut, "TokenPage"))
def list_tokens(args):
    return paginate(select(ApiToken), ApiToken.created_at, ApiToken.id, **args)


@blp.route("/tokens", methods=["POST"])
@require_capability(Capability.TOKENS_MANAGE)
@blp.arguments(NewApiTokenSchema)
@blp.response(201, TokenCreatedOut)
def new_token(data):
    # A token made with a token: capped at the calling token's role, accountable to the same person.
    token, secret = create_token(tenant=g.tenant, created_by=g.api_token.created_by_user_id, creator_role=g.role,
                                 **data)
    db.session.commit()
    return with_extra(token, TokenOut, secret=secret)


@blp.route("/tokens/<uuid:token_id>")
@require_capability(Capability.TOKENS_MANAGE)
@blp.response(200, TokenOut)
def token(token_id: uuid.UUID):
    return get_token(token_id)


@blp.route("/tokens/<uuid:token_id>", methods=["DELETE"])
@require_capability(Capability.TOKENS_MANAGE)
@blp.response(200, TokenOut)
def revoke(token_id: uuid.UUID):
    token = revoke_token(get_token(token_id))
    db.session.commit()
    return token
