"""Login, logout, changing the password, the tenant chooser and accepting an invitation."""
from flask import Blueprint, flash, redirect, render_template, request, session, url_for
from flask_babel import gettext as _
from flask_login import current_user, login_required, login_user, logout_user

from tenants.db import db
from tenants.errors import DomainError, Unauthenticated
from tenants.tenancy.schemas import AcceptInvitationSchema, ChangePasswordSchema
from tenants.tenancy.services import accept_invitation, authenticate, change_password, memberships_of, open_invitation
from tenants.tenancy.sessions import end_sessions
from web import rate_limits
from web.auth import SessionUser
from web.auth.redirects import safe_next
from web.domain_messages import describe_error
from web.forms import (
    NOT_SUBMITTED,
    AcceptInvitationForm,
    ActionForm,
    ChangePasswordForm,
    LoginForm,
    attach_errors,
    submit,
    validated,
)

bp = Blueprint("auth", __name__)


def landing_url(view) -> str:
    if view.tenant_kind == "platform":
        return url_for("admin.dashboard")
    return url_for("tenant.dashboard", tenant_slug=view.tenant_slug)


@bp.route("/")
def index():
    if not current_user.is_authenticated:
        return redirect(url_for("auth.login"))
    return redirect(url_for("auth.choose"))


@bp.route("/login", methods=["GET", "POST"])
@rate_limits.limit_failed_logins
def login():
    form = LoginForm()
    status = 200
    if form.validate_on_submit():
        rate_limits.require_login_throttle()
        try:
            user = authenticate(form.email.data, form.password.data)
        except Unauthenticated as exc:
            flash(_("Wrong email or password."), "danger")
            status = exc.status  # a 401 is what the failed-login limits count
        else:
            db.session.commit()
            session.clear()
            login_user(SessionUser(user, None))
            if user.locale:
                session["lang"] = user.locale
            return redirect(safe_next(request.args.get("next")) or url_for("auth.choose"))
    elif request.method == "POST":
        status = 400
    return render_template("auth/login.html", form=form), status


@bp.route("/logout", methods=["POST"])
def logout():
    """Ends every session of this person, on every device: a copied cookie stops working too."""
    language = session.get("lang")
    if current_user.is_authenticated:
        end_sessions([current_user.id])
        db.session.commit()
    logout_user()
    session.clear()
    if language:
        session["lang"] = language  # the login page stays in the language the person chose
    flash(_("You are logged out."), "info")
    return redirect(url_for("auth.login"))


@bp.route("/password", methods=["GET", "POST"])
@login_required
def password():
    form = ChangePasswordForm()
    changed, status = submit(form, ChangePasswordSchema(), lambda data: change_password(
        current_user.user, current=data["current_password"], new=data["new_password"]))
    if changed is NOT_SUBMITTED:
        return render_template("auth/password.html", form=form), status
    login_user(SessionUser(current_user.user, None))  # this session goes on under the new version
    flash(_("Your password is changed. Your other sessions are logged out."), "success")
    return redirect(url_for("auth.choose"))


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
                flash(describe_error(exc), "danger")
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
