from flask import g
from flask_smorest import Blueprint

from web.api.schemas import MeOut

blp = Blueprint("api_me", __name__, url_prefix="/api/v1", description="Who am I")


@blp.route("/me")
@blp.response(200, MeOut)
def me():
    return {"tenant": g.tenant, "role": g.role, "token_id": g.api_token.id}
