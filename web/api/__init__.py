"""The JSON API under /api/v1: bearer tokens bound to one tenant and role, flask-smorest for the spec."""
from flask import Flask, g, request

from tenants.errors import Unauthenticated
from tenants.tenancy.tokens import enter_bearer
from web.extensions import api, csrf
from web.tenancy import entered_tenant, set_actor, set_viewer

PREFIX = "/api/v1/"
PUBLIC_PATHS = {"/api/v1/openapi.json"}


def needs_token() -> bool:
    return request.path.startswith(PREFIX) and request.path not in PUBLIC_PATHS


def bearer_secret() -> str:
    """The request's API token, or "" when it sends none."""
    scheme, _, secret = request.headers.get("Authorization", "").partition(" ")
    return secret.strip() if scheme.lower() == "bearer" else ""


def authenticate_request():
    if not needs_token():
        return
    secret = bearer_secret()
    if not secret:
        raise Unauthenticated("Send an API token as 'Authorization: Bearer <token>'.", code="auth.missing_token")
    bearer, context_token = enter_bearer(secret)
    entered_tenant(bearer.tenant, context_token)
    g.role = bearer.role
    set_viewer(bearer.token.created_by_user_id, bearer.role)  # a collector's token works its creator's cases
    g.api_token = bearer.token
    set_actor(f"token:{bearer.token.id}")


def register(app: Flask) -> None:
    from web.api import (
        accounts_api,
        analytics_api,
        approvals_api,
        audit_api,
        billing_api,
        casework_legal_api,
        casework_money_api,
        commission_api,
        compliance_api,
        conduct_api,
        exchange_api,
        me,
        members_api,
        messaging_api,
        panel_api,
        performance_api,
        placements_api,
        portfolios_api,
        settings_api,
        telephony_api,
        tenants_api,
        tokens_api,
        webhooks_api,
        worklist_api,
    )

    app.before_request(authenticate_request)
    for module in (me, members_api, tokens_api, audit_api, tenants_api, portfolios_api, accounts_api, panel_api,
                   placements_api, settings_api, conduct_api, compliance_api, approvals_api, messaging_api,
                   casework_money_api, worklist_api, performance_api, casework_legal_api, commission_api,
                   billing_api, telephony_api, webhooks_api, analytics_api, exchange_api):
        csrf.exempt(module.blp)
        api.register_blueprint(module.blp)
