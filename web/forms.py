"""Forms: Flask-WTF for CSRF and rendering; field rules come from the domain's marshmallow schemas."""
from flask import flash, request
from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import EmailField, PasswordField, SelectField, StringField
from wtforms.validators import DataRequired

from tenants.db import db
from tenants.errors import DomainError, NotFound
from tenants.tenancy.schemas import load
from web.domain_messages import describe_error, field_errors


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


class ChangePasswordForm(FlaskForm):
    current_password = PasswordField(_l("Current password"))
    new_password = PasswordField(_l("New password"))


class NewTokenForm(FlaskForm):
    name = StringField(_l("Token name"))
    role = SelectField(_l("Role"))


def validated(form: FlaskForm, schema) -> dict:
    """Load the form's fields through the schema; raises ValidationFailed with per-field messages."""
    data = {name: field.data for name, field in form._fields.items() if name != "csrf_token"}
    return load(schema, data)


def attach_errors(form: FlaskForm, details: dict) -> None:
    for name, messages in field_errors(details).items():
        if name in form._fields:
            form._fields[name].errors = messages


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
            flash(describe_error(exc), "danger")
        return NOT_SUBMITTED, exc.status
    db.session.commit()
    return result, 200


def switch_setting(tenant, key: str, *, on: str, off: str) -> bool:
    """A tenant setting's on/off switch posted from a page (`enabled=1` turns it on); refusals are flashed."""
    from tenants.tenancy.settings import update_settings

    enabled = request.form.get("enabled") == "1"
    return run_and_flash(lambda: update_settings(tenant, {key: enabled}), on if enabled else off)


def run_and_flash(action, success: str) -> bool:
    """Run a service call behind a small form and commit. A refusal rolls back and is flashed — the conduct rules
    that refused it, or the message with its fields; a foreign id stays a 404."""
    from tenants.conduct.service import ConductBlocked

    try:
        action()
    except NotFound:
        raise
    except ConductBlocked as exc:  # the refused attempt is recorded already
        db.session.rollback()
        flash(describe_error(exc), "danger")
        return False
    except DomainError as exc:
        db.session.rollback()
        fields = field_errors(exc.details)
        flash("; ".join([describe_error(exc)] + [f"{k}: {' '.join(v)}" for k, v in fields.items()]), "danger")
        return False
    db.session.commit()
    flash(success, "success")
    return True


# ---- portfolios, accounts, the agency panel and placements ---------------------------------------------------

from flask_wtf.file import FileField, FileRequired  # noqa: E402
from wtforms import BooleanField, DateField, DecimalField, HiddenField, IntegerField, SelectMultipleField, TextAreaField  # noqa: E402
from wtforms.validators import NumberRange, Optional  # noqa: E402
from wtforms.widgets import CheckboxInput, ListWidget  # noqa: E402

CHANNEL_CHOICES = [("call", _l("Phone call")), ("sms", _l("SMS")), ("email", _l("Email")), ("letter", _l("Letter")),
                   ("visit", _l("Home visit")), ("legal", _l("Legal action"))]
ACCOUNT_STATUS_CHOICES = [("open", _l("Open")), ("paid", _l("Paid")), ("settled", _l("Settled")),
                          ("written_off", _l("Written off"))]
COMPONENT_CHOICES = [("principal", _l("Principal")), ("interest", _l("Interest")), ("fees", _l("Fees")),
                     ("penalty", _l("Penalty"))]


class MultiCheckboxField(SelectMultipleField):
    widget = ListWidget(prefix_label=False)
    option_widget = CheckboxInput()


class ImportUploadForm(FlaskForm):
    file = FileField(_l("File (.csv, .tsv, .txt, .xlsx or .json)"),
                     validators=[FileRequired(_l("Choose a file to upload."))])
    portfolio = StringField(_l("Portfolio name"))
    use_saved_mapping = BooleanField(_l("Use my saved column mapping (otherwise match the headers afresh)"),
                                     default=True)


class AccountFilterForm(FlaskForm):
    """Filters of the account list: read from the query string, so no CSRF token."""

    class Meta:
        csrf = False

    portfolio = SelectField(_l("Portfolio"), validate_choice=False)
    status = SelectField(_l("Status"), choices=[("", _l("Any"))] + ACCOUNT_STATUS_CHOICES, validate_choice=False)
    dpd_min = IntegerField(_l("DPD from"), validators=[Optional(), NumberRange(min=0)])
    dpd_max = IntegerField(_l("DPD to"), validators=[Optional(), NumberRange(min=0)])
    region = StringField(_l("Region"))
    external_ref = StringField(_l("External reference"))
    phone = StringField(_l("Phone"))


class DirectPaymentForm(FlaskForm):
    amount = StringField(_l("Amount paid to you"))
    occurred_on = DateField(_l("Paid on"))
    note = StringField(_l("Note"))


class AdjustmentForm(FlaskForm):
    component = SelectField(_l("Balance component"), choices=COMPONENT_CHOICES)
    amount = StringField(_l("Change (negative to reduce, e.g. -50.00)"))
    occurred_on = DateField(_l("Effective on"))
    note = StringField(_l("Note"))


class ClosureForm(FlaskForm):
    closure_status = SelectField(_l("Close as"), choices=ACCOUNT_STATUS_CHOICES[1:])
    occurred_on = DateField(_l("Closed on"))
    note = StringField(_l("Note"))


class AddAgencyForm(FlaskForm):
    agency_slug = StringField(_l("Agency address (slug)"))
    contract_start = DateField(_l("Contract start"))
    contract_end = DateField(_l("Contract end (optional)"), validators=[Optional()])
    commission_percent = DecimalField(_l("Default commission %"), places=2)
    period_days = IntegerField(_l("Default placement period (days)"), default=90)
    channels = MultiCheckboxField(_l("Default channels"), choices=CHANNEL_CHOICES, default=["call", "sms"])


class PlaceAccountsForm(FlaskForm):
    portfolio = SelectField(_l("Portfolio"), validate_choice=False)
    dpd_min = IntegerField(_l("DPD from"), validators=[Optional(), NumberRange(min=0)])
    dpd_max = IntegerField(_l("DPD to"), validators=[Optional(), NumberRange(min=0)])
    balance_min = StringField(_l("Outstanding from"))
    balance_max = StringField(_l("Outstanding to"))
    region = StringField(_l("Region"))
    external_refs = TextAreaField(_l("Only these external references (one per line, optional)"))
    agency_1 = SelectField(_l("Agency 1"), validate_choice=False)
    weight_1 = IntegerField(_l("Weight 1"), default=1, validators=[Optional(), NumberRange(min=1, max=1000)])
    agency_2 = SelectField(_l("Agency 2"), validate_choice=False)
    weight_2 = IntegerField(_l("Weight 2"), default=1, validators=[Optional(), NumberRange(min=1, max=1000)])
    agency_3 = SelectField(_l("Agency 3"), validate_choice=False)
    weight_3 = IntegerField(_l("Weight 3"), default=1, validators=[Optional(), NumberRange(min=1, max=1000)])
    commission_percent = DecimalField(_l("Commission % (blank: each agency's default)"), places=2,
                                      validators=[Optional()])
    period_days = IntegerField(_l("Placement period in days (blank: each agency's default)"),
                               validators=[Optional()])
    channels = MultiCheckboxField(_l("Channels (none ticked: each agency's default)"), choices=CHANNEL_CHOICES)
    seed = IntegerField(_l("Random seed (optional, to reproduce a split)"),
                        validators=[Optional(), NumberRange(min=0, max=2**62)])
    max_discount_percent = DecimalField(_l("Settlement discount the agency may agree alone, % (blank: none)"),
                                        validators=[Optional(), NumberRange(min=0, max=100)])
    debtors_notified = BooleanField(_l("These debtors have been told that collection is handed to the agency "
                                       "(without it, each agency's first contact needs your approval)"))


class RecallForm(FlaskForm):
    batch_id = HiddenField()
    reason = StringField(_l("Reason for the recall"))
    force = BooleanField(_l("Force the recall even where something blocks it (lender admin)"))


# ---- contacts: logging an attempt and its outcome ---------------------------------------------------------------

# An outbound message's delivery status (tenants.messaging.models.MessageStatus), for its page and the timeline.
MESSAGE_STATUS_LABELS = {"queued": _l("queued"), "sent": _l("sent"), "failed": _l("failed")}
OUTCOME_CHOICES = [("no_answer", _l("No answer")), ("voicemail", _l("Voicemail")),
                   ("wrong_number", _l("Wrong number")), ("right_party_contact", _l("Spoke to the debtor")),
                   ("promise_to_pay", _l("Promise to pay")), ("refused", _l("Refused to pay")),
                   ("dispute_raised", _l("Dispute raised")), ("cease_requested", _l("Asked us to stop contact")),
                   ("callback_requested", _l("Callback requested")), ("delivered", _l("Delivered")),
                   ("bounced", _l("Bounced"))]


class ContactForm(FlaskForm):
    channel = SelectField(_l("Channel"))
    target = SelectField(_l("Contact"), choices=[("debtor", _l("The debtor"))])
    phone_position = SelectField(_l("Phone"), coerce=int, default=0)
    staff_count = IntegerField(_l("Staff going (visits)"), validators=[Optional(), NumberRange(min=1, max=10)])
    note = StringField(_l("Why (shown to the approver when approval is needed)"), validators=[Optional()])
    approval_id = HiddenField()


# ---- holds, consent and approvals ---------------------------------------------------------------------------------

HOLD_CHOICES = [("dispute", _l("Dispute")), ("cease", _l("Cease contact")), ("attorney", _l("Represented by a lawyer")),
                ("bankruptcy", _l("Bankruptcy")), ("deceased", _l("Deceased")),
                ("breathing_space", _l("Breathing space")), ("hardship", _l("Hardship")),
                ("plan", _l("Signed repayment plan"))]


class HoldForm(FlaskForm):
    type = SelectField(_l("Hold"), choices=HOLD_CHOICES)
    reason = StringField(_l("Reason"), validators=[DataRequired()])
    ends_on = DateField(_l("Ends on (blank: until resolved)"), validators=[Optional()])


class ResolveHoldForm(FlaskForm):
    resolution = StringField(_l("Resolution"), validators=[DataRequired()])


class ConsentForm(FlaskForm):
    opted_out_channels = MultiCheckboxField(_l("Channels the debtor opted out of"), choices=CHANNEL_CHOICES)
    inconvenient_from = StringField(_l("Inconvenient from (HH:MM)"), validators=[Optional()])
    inconvenient_to = StringField(_l("Inconvenient until (HH:MM)"), validators=[Optional()])
    agreed_from = StringField(_l("Agreed hours from (HH:MM)"), validators=[Optional()])
    agreed_to = StringField(_l("Agreed hours until (HH:MM)"), validators=[Optional()])


class ApprovalDecisionForm(FlaskForm):
    note = StringField(_l("Note"), validators=[Optional()])
