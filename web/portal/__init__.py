"""The debtor's portal under /p/: no account, no staff session. A link from a message (`/p/<token>`) asks for a
one-time code; the right code opens a short session with its own cookie (`recoverly_portal`, HttpOnly,
SameSite=Strict, path /p), and each request then acts in the tenant context of the agency holding the account (else
its lender), fenced to that one account (tenants/portal/scope.py). Forms carry the portal's own CSRF token (an HMAC
of the session cookie, or of a pre-session cookie before the code), not the staff one, so the staff session cookie is
never set here. Every page viewed and every action is in the audit trail of the tenant it acts for.
"""
import hashlib
import hmac
import secrets
from datetime import date

from flask import Blueprint, current_app, g, render_template, request
from flask_babel import gettext as _

from tenants import audit
from tenants.context import TenantContext, activate
from tenants.db import db
from tenants.errors import DomainError, TenantIsolationError, ValidationFailed
from tenants.portal import access, scope
from web.domain_messages import describe_error
from web.extensions import csrf

bp = Blueprint("portal", __name__, url_prefix="/p")
csrf.exempt(bp)

SESSION_COOKIE = "recoverly_portal"
PRE_COOKIE = "recoverly_portal_pre"
LANG_COOKIE = "recoverly_portal_lang"
LANGUAGES = ("en", "zh_CN")
PUBLIC = {"portal.landing", "portal.ask_code", "portal.verify", "portal.pre_language", "portal.static_css",
          "portal.returned"}


def _address_key() -> str:
    return request.remote_addr or "unknown"


def _secure() -> bool:
    return bool(current_app.config.get("SESSION_COOKIE_SECURE"))


def _csrf_for(value: str) -> str:
    key = current_app.config["SECRET_KEY"].encode()
    return hmac.new(key, b"portal-csrf:" + value.encode(), hashlib.sha256).hexdigest()[:32]


def csrf_token() -> str:
    basis = request.cookies.get(SESSION_COOKIE) if g.get("visit") else g.get("pre_nonce")
    return _csrf_for(basis or "")


def _check_csrf() -> None:
    if request.method != "POST":
        return
    basis = request.cookies.get(SESSION_COOKIE) if g.get("visit") else request.cookies.get(PRE_COOKIE)
    sent = request.form.get("csrf", "")
    if not basis or not hmac.compare_digest(_csrf_for(basis), sent):
        raise DomainError("This form has expired. Go back, reload the page and try again.", code="csrf.invalid")


@bp.before_request
def _enter():
    g.portal = True
    if request.endpoint in PUBLIC:
        g.pre_nonce = request.cookies.get(PRE_COOKIE) or secrets.token_urlsafe(24)
        lang = request.cookies.get(LANG_COOKIE)
        if lang not in LANGUAGES:
            best = request.accept_languages.best_match(["en", "zh_CN", "zh", "zh-CN", "zh-Hans"])
            lang = "zh_CN" if best and best.startswith("zh") else "en"
        g.portal_locale = lang
        _check_csrf()
        return None
    visit = access.resume(request.cookies.get(SESSION_COOKIE))
    g.visit = visit
    g.portal_locale = visit.locale
    g.context_token = activate(TenantContext(tenant_id=visit.acting_tenant_id))
    g.portal_fence = scope.enter(visit.account_id)
    g.actor_token = audit.set_actor(audit.Actor(label=f"portal:{visit.session_id}"))
    _check_csrf()
    if request.method == "GET":
        audit.record("portal.viewed", object_type="portal_session", object_id=visit.session_id,
                     after={"account_id": str(visit.account_id), "page": request.endpoint})
        db.session.commit()
    return None


@bp.teardown_request
def _leave_fence(_exc=None):
    token = g.pop("portal_fence", None)
    if token is not None:
        scope.leave(token)


@bp.after_request
def _cookies(response):
    if g.get("pre_nonce") and not request.cookies.get(PRE_COOKIE):
        response.set_cookie(PRE_COOKIE, g.pre_nonce, httponly=True, samesite="Strict", secure=_secure(),
                            path="/p")
    return response


@bp.errorhandler(DomainError)
def _domain_error(error: DomainError):
    db.session.rollback()
    if isinstance(error, access.SessionEnded):
        response = current_app.make_response((render_template("portal/ended.html"), 401))
        response.delete_cookie(SESSION_COOKIE, path="/p")
        return response
    if isinstance(error, ValidationFailed) and g.get("form_template"):
        return render_template(g.form_template, **g.get("form_context", {}), error=describe_error(error),
                               fields=(error.details or {}).get("fields", {})), error.status
    return render_template("portal/error.html", message=describe_error(error), status=error.status), error.status


@bp.errorhandler(TenantIsolationError)
def _fenced(error):
    db.session.rollback()
    current_app.logger.error("portal fence: %s", error)
    return render_template("portal/error.html", message=_("Not found."), status=404), 404


def _date(name: str) -> date:
    try:
        return date.fromisoformat(request.form.get(name, ""))
    except ValueError:
        raise ValidationFailed(details={"fields": {name: [_("A date.")]}}) from None


def _int(name: str) -> int:
    try:
        return int(request.form.get(name, ""))
    except ValueError:
        raise ValidationFailed(details={"fields": {name: [_("A number.")]}}) from None


from web.portal import views  # noqa: E402,F401  (routes)


def init_app(app) -> None:
    import os

    from tenants.portal import links

    links.configure(app.config.get("PORTAL_BASE_URL") or os.environ.get("RECOVERLY_PORTAL_BASE_URL")
                    or "http://127.0.0.1:5000")
    app.jinja_env.globals["portal_csrf"] = csrf_token
    app.register_blueprint(bp)
