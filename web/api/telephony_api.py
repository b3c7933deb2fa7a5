"""Click-to-call: ask the conduct engine and, when it allows, have the telephony gateway dial one of the account's
phones. A refused call answers 422 (code conduct.<rule>; the refusal is recorded) and dials nothing; a call
needing the lender's approval answers 201 with no call and the decision. With the softphone gateway (tel) the
answer carries the `dial_url` for the caller's softphone; with a CTI gateway the call rings on the collector's line
and the number is never returned. How the call went arrives on the gateway's callback (POST /telephony/events).
Send an `Idempotency-Key` header and a retried request returns the first answer instead of calling twice."""
from flask import current_app, g, url_for
from flask_smorest import Blueprint
from marshmallow import Schema, fields

from tenants import references
from tenants.capabilities import Capability
from tenants.db import db
from tenants.portfolios.accounts import get_account
from tenants.portfolios.models import Account
from tenants.telephony import calls, gateways
from web.access import require_capability
from web.api.idempotency import idempotency_key
from web.api.portfolio_schemas import agencies_only, loads

blp = Blueprint("api_telephony", __name__, url_prefix="/api/v1",
                description="Click-to-call through the telephony gateway, decided by the conduct rules first")


class CallIn(Schema):
    phone_id = fields.UUID(required=True, metadata={"description": "One of the account's phones (its id)."})
    collector_user_id = fields.UUID(load_default=None, metadata={
        "description": "The member making the call (default: the token's creator)."})


class CallOut(Schema):
    id = fields.UUID()
    status = fields.String(metadata={"description": "dialling, answered, no_answer, busy or failed"})
    gateway = fields.String(metadata={"description": "tel, standin or cti"})
    duration_s = fields.Integer(allow_none=True)
    placed_at = fields.DateTime()


class PlacedOut(Schema):
    attempt_id = fields.Function(lambda placed: str(placed.attempt.id))
    decision = fields.Function(lambda placed: placed.attempt.decision,
                               metadata={"description": "allow, allow_with_warnings or needs_approval"})
    call = fields.Nested(CallOut, allow_none=True, metadata={"description": "None: waiting for the lender's "
                                                                            "approval, nothing dialled."})
    dial_url = fields.String(allow_none=True, metadata={"description": "tel: link for a softphone (tel gateway)."})


@blp.route("/accounts/<uuid:account_id>/calls", methods=["POST"])
@agencies_only
@require_capability(Capability.CONTACT_ATTEMPT)
@loads(get_account, "account_id", "account")  # a foreign account is a 404 before the body is read
@blp.arguments(CallIn)
@blp.response(201, PlacedOut)
@blp.alt_response(422, description="Refused by the conduct rules (code conduct.<rule>), or invalid fields")
def place_call(data, account: Account):
    """Decide a call and, when allowed, dial it through the gateway."""
    collector = data["collector_user_id"] or g.api_token.created_by_user_id
    references.member(collector, field="collector_user_id")
    placed = calls.place(account.id, data["phone_id"], gateway=gateways.from_config(current_app.config),
                         user_id=collector, role=g.role, idempotency_key=idempotency_key(),
                         callback_url=lambda _call_id: url_for("telephony_webhook.telephony_event", _external=True))
    db.session.commit()
    return placed
