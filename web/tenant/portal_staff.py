"""Staff's side of the debtor portal on the case page: a collector answers what the debtor asked online (a plan
beyond the agency's rules, more time, a proof of payment); the lender or the sending agency revokes an account's
portal links (ending their sessions). Ids in the form are resolved through the caller's visibility and must belong
to the account in the path: anything else is a 404."""
import uuid

from flask import current_app, g, redirect, request, url_for
from flask_babel import gettext as _
from flask_login import current_user

from tenants.capabilities import Capability
from tenants.errors import NotFound
from tenants.portal import links as portal_links
from tenants.portal import requests as portal_requests
from tenants.tenancy.roles import TenantKind
from web.access import require_capability
from web.forms import run_and_flash
from web.tenant import bp
from web.tenant.portfolios import parse_uuid
from web.tenant.worklist import back_to_case


@bp.route("/cases/<uuid:account_id>/portal/decide", methods=["POST"])
@require_capability(Capability.PAYMENT_RECORD)
def portal_request_decide(account_id: uuid.UUID):
    request_id = parse_uuid(request.form.get("request_id"))
    if request_id is None:
        raise NotFound(code="portal.request_not_found")
    found = portal_requests.get_request(request_id)
    if found.account_id != account_id:
        raise NotFound(code="portal.request_not_found")
    accept = request.form.get("decision") == "accept"
    run_and_flash(lambda: portal_requests.decide(request_id, accept=accept, answer=request.form.get("answer"),
                                                 user_id=current_user.id, config=current_app.config),
                  _("Answered; the debtor is told by message."))
    return back_to_case(account_id, keep_going=False)


@bp.route("/accounts/<uuid:account_id>/portal/revoke", methods=["POST"])
@require_capability(Capability.PAYMENT_RECORD)
def portal_links_revoke(account_id: uuid.UUID):
    def revoke():
        from tenants.portfolios.accounts import get_account

        get_account(account_id)
        for link in portal_links.of_account(account_id):
            if link.revoked_at is None:
                portal_links.revoke(link.id, user_id=current_user.id)

    run_and_flash(revoke, _("The debtor's portal links are revoked and their sessions ended."))
    if g.tenant.kind == TenantKind.LENDER:  # the lender's page of the account; an agency's is the case page
        return redirect(url_for("tenant.account_detail", account_id=account_id, _anchor="portal-links"))
    return back_to_case(account_id, keep_going=False)


@bp.app_template_global("portal_links_of")
def portal_links_of(account_id: uuid.UUID) -> list:
    """The account's portal links the current tenant sees (the lender: all; an agency: those its messages
    carried), newest first, each with whether it still opens: for the case page's and account page's panel."""
    return [(link, portal_links.usable(link)) for link in portal_links.of_account(account_id)]
