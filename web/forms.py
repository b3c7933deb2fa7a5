"""Forms: Flask-WTF for CSRF and rendering; field rules come from the domain's marshmallow schemas."""
from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import EmailField, PasswordField, SelectField, StringField
from wtforms.validators import DataRequired

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
