"""The telephony gateway's callback: POST /telephony/events with JSON {"call_id": <the gateway's id>, "status":
"answered" | "no_answer" | "busy" | "failed", "duration_s": <seconds>}, signed with TELEPHONY_SECRET
(``X-Recoverly-Signature: sha256=<hex HMAC-SHA256 of the body>``). A bad or missing signature answers 401 and
reads nothing; an id no call of ours carries answers 404; a repeated report answers 200 and changes nothing."""
import json

from flask import Blueprint, current_app, jsonify, request

from tenants import audit
from tenants.errors import Unauthenticated, ValidationFailed
from tenants.telephony import calls, gateways
from web.extensions import csrf

bp = Blueprint("telephony_webhook", __name__, url_prefix="/telephony")


@bp.post("/events")
@csrf.exempt
def telephony_event():
    body = request.get_data()
    if not gateways.verify(current_app.config.get("TELEPHONY_SECRET"), body,
                           request.headers.get(gateways.SIGNATURE_HEADER)):
        raise Unauthenticated("The signature does not match this payload.", code="telephony.bad_signature")
    try:
        payload = json.loads(body)
        call_id, status = str(payload["call_id"]), str(payload["status"])
        duration = payload.get("duration_s")
        duration = None if duration is None else int(duration)
    except (ValueError, KeyError, TypeError):
        raise ValidationFailed("Expected JSON with call_id, status and duration_s.",
                               code="telephony.bad_payload") from None
    token = audit.set_actor(audit.Actor(label="telephony:webhook"))
    try:
        call = calls.report(call_id, gateways.CallEvent(status, duration))
    finally:
        audit.reset_actor(token)
    return jsonify({"received": True, "status": call.status})
