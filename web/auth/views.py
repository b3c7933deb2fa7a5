"""Login, logout, the tenant chooser and accepting an invitation."""
from urllib.parse import urlsplit

from flask import Blueprint, flash, redirect, render_template, request, session, url_for
from flask_babel import gettext as _
from flask_login import current_user, login_required, login_user, logout_user

from tenants.db import db
from tenants.errors import DomainError, Throttled, Unauthenticated
from tenants.tenancy.schemas import AcceptInvitationSchema
from tenants.tenancy.services import accept_invitation, authenticate, memberships_of, open_invitation
from web.auth import SessionUser, throttle
from web.forms import AcceptInvitationForm, ActionForm, LoginForm, attach_errors, validated

bp = Blueprint("auth", __name__)


def landing_url(view) -> str:
    if view.tenant_kind == "platform":
        return url_for("admin.dashboard")
    return url_for("tenant.dashboard", tenant_slug=view.tenant_slug)


def _safe_next(target: str | None) -> str | None:
    if not target:
        return None
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or not target.startswith("/") or target.startswith("//"):
        return None
    return target


@bp.route("/")
def index():
    if not current_user.is_authenticated:
        return redirect(url_for("auth.login"))
    return redirect(url_for("auth.choose"))


@bp.route("/login", methods=["GET", "POST"])
def login():
    form = LoginForm()
    status = 200
    if form.validate_on_submit():
        address = request.remote_addr or "unknown"
        try:
            throttle.check(form.email.data, address)
            user = authenticate(form.email.data, form.password.data)
        except Throttled as exc:
            flash(_("Too many failed logins. Wait 15 minutes and try again."), "danger")
            status = exc.status
        except Unauthenticated as exc:
            throttle.record_failure(form.email.data, address)
            flash(_("Wrong email or password."), "danger")
            status = exc.status
        else:
            throttle.clear_account(form.email.data)
            db.session.commit()
            session.clear()
            login_user(SessionUser(user, None))
            if user.locale:
                session["lang"] = user.locale
            return redirect(_safe_next(request.args.get("next")) or url_for("auth.choose"))
    elif request.method == "POST":
        status = 400
    return render_template("auth/login.html", form=form), status


@bp.route("/logout", methods=["POST"])
def logout():
    language = session.get("lang")
    logout_user()
    session.clear()
    if language:
        session["lang"] = language  # the login page stays in the language the person chose
    flash(_("You are logged out."), "info")
    return redirect(url_for("auth.login"))


@bp.route("/choose")
@login_required
def choose():
    views = memberships_of(current_user.id)
    if len(views) == 1:
        return redirect(landing_url(views[0]))
    return render_template("auth/choose.html", memberships=views, landing_url=landing_url)


@bp.route("/invite/<token>", methods=["GET", "POST"])
def accept(token):
    invitation = open_invitation(token)
    form = AcceptInvitationForm()
    status = 200
    if form.validate_on_submit():
        try:
            data = validated(form, AcceptInvitationSchema())
            user, tenant = accept_invitation(token, **data)
        except DomainError as exc:
            db.session.rollback()
            invitation = open_invitation(token)  # the rollback expired it
            attach_errors(form, exc.details)
            if not exc.details.get("fields"):
                flash(exc.message, "danger")
            status = exc.status
        else:
            db.session.commit()
            session.clear()
            login_user(SessionUser(user, None))
            flash(_("Welcome to %(name)s.", name=tenant.name), "success")
            return redirect(url_for("auth.choose"))
    elif request.method == "POST":
        status = 400
    return render_template("auth/accept.html", form=form, invitation=invitation, action_form=ActionForm()), status


@bp.route("/healthz")
def healthz():
    return {"status": "ok"}
