"""Click-to-call from the case page: POST the phone's id, the conduct engine decides first (a refused call is
shown with its rule and never dials), then the configured gateway dials (tenants.telephony). The answer is the case
page again, by a redirect: with the softphone gateway (tel:) it carries the link to dial, once; with a CTI gateway
the phone rings on the collector's line and the number never reaches the browser."""
import uuid

from flask import current_app, flash, g, session, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from flask_wtf import FlaskForm
from wtforms import HiddenField

from tenants.capabilities import Capability
from tenants.conduct.models import AttemptStatus
from tenants.conduct.service import ConductBlocked
from tenants.db import db
from tenants.errors import DomainError
from tenants.telephony import calls, gateways
from tenants.telephony.models import CallStatus
from web.access import require_capability
from web.domain_messages import describe_error
from web.tenant import bp
from web.tenant.agency_views import _case, _refusal, _render_case
from web.tenant.portfolios import agency_page, parse_uuid
from web.tenant.worklist import back_to_case

REPORTED = {CallStatus.NO_ANSWER: _l("No answer: recorded. Try another number, or save and go on."),
            CallStatus.BUSY: _l("The line was busy: recorded as no answer."),
            CallStatus.FAILED: _l("The phone system could not place the call: recorded as no answer.")}


DIAL_KEY = "dial"


def take_dial_url(account_id: uuid.UUID) -> str | None:
    """The softphone link a call just decided for this case, once: the next page of the case shows it."""
    waiting = session.get(DIAL_KEY)
    if not waiting or waiting.get("account") != str(account_id):
        return None
    session.pop(DIAL_KEY)
    return waiting.get("url")


class CallForm(FlaskForm):
    phone_id = HiddenField()


def callback_url(call_id: uuid.UUID) -> str:
    return url_for("telephony_webhook.telephony_event", _external=True)


@bp.route("/cases/<uuid:account_id>/call", methods=["POST"])
@agency_page
@require_capability(Capability.CONTACT_ATTEMPT)
def case_call(account_id: uuid.UUID):
    account, placement = _case(account_id)
    form = CallForm()
    if not form.validate_on_submit():
        flash(_("The form has expired; try again."), "danger")
        return back_to_case(account.id, tab="contact", keep_going=False)
    phone_id = parse_uuid(form.phone_id.data)
    if phone_id is None:
        flash(_("Choose a phone to call."), "danger")
        return back_to_case(account.id, tab="contact", keep_going=False)
    gateway = gateways.from_config(current_app.config)
    try:
        placed = calls.place(account.id, phone_id, gateway=gateway, user_id=current_user.id, role=g.role,
                             callback_url=callback_url)
    except ConductBlocked as exc:
        db.session.rollback()  # the refused attempt is committed by the conduct service
        account, placement = _case(account_id)
        return _render_case(account, placement, refusal=_refusal(exc), status=422)
    except DomainError as exc:
        db.session.rollback()
        if exc.status == 404:
            raise
        flash(describe_error(exc), "danger")
        return back_to_case(account.id, tab="contact", keep_going=False)
    db.session.commit()
    if placed.attempt.status == AttemptStatus.NEEDS_APPROVAL:
        flash(_("This call needs the lender's approval first: the request is sent."), "warning")
    elif placed.call is not None and placed.call.status in REPORTED:
        flash(str(REPORTED[placed.call.status]), "warning")
    elif placed.call is not None and placed.call.status == CallStatus.ANSWERED:
        flash(_("The debtor answered (%(seconds)s s). Record what was agreed.", seconds=placed.call.duration_s or 0),
              "success")
    elif placed.dial_url:
        # Shown once, on the page this redirect leads to: a reload of that page neither dials nor decides again.
        session[DIAL_KEY] = {"account": str(account.id), "url": placed.dial_url}
    else:
        flash(_("Calling: pick up your phone. Record the outcome when the call ends."), "success")
    return back_to_case(account.id, tab="contact", keep_going=False)
