"""Forms: Flask-WTF for CSRF and rendering; field rules come from the domain's marshmallow schemas."""
from flask import flash, request
from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import EmailField, PasswordField, SelectField, StringField
from wtforms.validators import DataRequired

from tenants.db import db
from tenants.errors import DomainError
from tenants.tenancy.schemas import load


class LoginForm(FlaskForm):
    email = EmailField(_l("Email"), validators=[DataRequired()])
    password = PasswordField(_l("Password"), validators=[DataRequired()])


class ActionForm(FlaskForm):
    """A bare form for buttons that change state: it carries the CSRF token and nothing else."""


class NewTenantForm(FlaskForm):
    kind = SelectField(_l("Kind"), choices=[("lender", _l("Lender")), ("agency", _l("Agency"))])
    name = StringField(_l("Name"))
    slug = StringField(_l("Address (slug)"))
    time_zone = StringField(_l("Time zone"), default="Asia/Shanghai")
    locale = SelectField(_l("Language"), choices=[("zh_CN", "简体中文"), ("en", "English")])
    currency = StringField(_l("Currency"), default="CNY")
    first_admin_email = EmailField(_l("First admin's email"))


class InviteForm(FlaskForm):
    email = EmailField(_l("Email"))
    role = SelectField(_l("Role"))


class AcceptInvitationForm(FlaskForm):
    name = StringField(_l("Your name"))
    password = PasswordField(_l("Password"))


class NewTokenForm(FlaskForm):
    name = StringField(_l("Token name"))
    role = SelectField(_l("Role"))


def validated(form: FlaskForm, schema) -> dict:
    """Load the form's fields through the schema; raises ValidationFailed with per-field messages."""
    data = {name: field.data for name, field in form._fields.items() if name != "csrf_token"}
    return load(schema, data)


def attach_errors(form: FlaskForm, details: dict) -> None:
    for name, messages in (details.get("fields") or {}).items():
        if name in form._fields:
            form._fields[name].errors = list(messages) if isinstance(messages, list) else [str(messages)]


NOT_SUBMITTED = object()


def submit(form: FlaskForm, schema, action):
    """Run `action(validated data)` for a posted form and commit; returns (result, HTTP status).

    A GET returns (NOT_SUBMITTED, 200). Any DomainError rolls back, lands on the form's fields (or as a flash
    message when it is not about one field) and comes back with its status, so nothing is half-written.
    """
    if not form.validate_on_submit():
        return NOT_SUBMITTED, 400 if request.method == "POST" else 200
    try:
        result = action(validated(form, schema))
    except DomainError as exc:
        db.session.rollback()
        attach_errors(form, exc.details)
        if not exc.details.get("fields"):
            flash(exc.message, "danger")
        return NOT_SUBMITTED, exc.status
    db.session.commit()
    return result, 200
