"""A lender's portfolios and imports: upload a file, follow its import, download its error file.

The top of this module also holds what every portfolio, placement and agency page shares: who may open a page
(`lender_page`, `agency_page`: the other kind of tenant gets 404), template filters for money, percentages and
dates in the current language, translated labels and badges, and PII masked by the viewer's role.
"""
import uuid
from functools import wraps
from urllib.parse import quote

from flask import Response, current_app, flash, g, redirect, render_template, url_for
from flask_babel import (
    LazyString,
    force_locale,
    format_date,
    format_percent,
    get_locale,
    ngettext,
    pgettext,
)
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from marshmallow import Schema, fields
from sqlalchemy import func, select

from tenants.capabilities import Capability
from tenants.context import tenant_scope
from tenants.db import db
from tenants.errors import NotFound, ValidationFailed
from tenants.money import Money
from tenants.pii import mask
from tenants.portfolios import imports
from tenants.portfolios.models import Account, ImportStatus
from tenants.portfolios.parsing import FileRejected
from tenants.tenancy.roles import TenantKind
from web.access import allowed, require_capability
from web.domain_messages import describe, describe_cell_error
from web.forms import (
    ACCOUNT_STATUS_CHOICES,
    CHANNEL_CHOICES,
    COMPONENT_CHOICES,
    HOLD_CHOICES,
    NOT_SUBMITTED,
    ActionForm,
    ImportUploadForm,
    submit,
)
from web.tenant import bp

ERRORS_SHOWN = 200
MAPPING_PROBLEMS = ("import.missing_columns", "mapping.invalid")  # fixed by mapping the file's columns


# ---- shared by the portfolio, placement and agency pages ---------------------------------------------------------

def lender_page(view):
    """Only a lender has these pages; to anyone else they do not exist."""
    @wraps(view)
    def wrapped(*args, **kwargs):
        if g.tenant.kind != TenantKind.LENDER:
            raise NotFound()
        return view(*args, **kwargs)

    return wrapped


def agency_page(view):
    @wraps(view)
    def wrapped(*args, **kwargs):
        if g.tenant.kind != TenantKind.AGENCY:
            raise NotFound()
        return view(*args, **kwargs)

    return wrapped


def parse_uuid(value) -> uuid.UUID | None:
    try:
        return uuid.UUID(str(value))
    except (TypeError, ValueError):
        return None


def current_locale() -> str:
    locale = get_locale()
    return str(locale) if locale else "en"


LABELS = {
    "import": {ImportStatus.QUEUED: _l("queued"), ImportStatus.RUNNING: _l("running"),
               ImportStatus.COMPLETED: _l("completed"),
               ImportStatus.FAILED: LazyString(lambda: pgettext("import status", "failed"))},
    "account": dict(ACCOUNT_STATUS_CHOICES),
    # "active" means different things for a placement and a contract: told apart by message context.
    "placement": {"offered": _l("offered"), "active": LazyString(lambda: pgettext("placement status", "active")),
                  "declined": _l("declined"), "recalled": _l("recalled"), "expired": _l("expired"),
                  "closed": _l("closed")},
    "relationship": {"active": LazyString(lambda: pgettext("agency relationship status", "active")),
                     "suspended": _l("suspended"), "ended": _l("ended")},
    "update": {"direct_payment": _l("Direct payment to the lender"), "balance_adjustment": _l("Balance adjustment"),
               "closure": _l("Closure")},
    "component": dict(COMPONENT_CHOICES),
    "channel": dict(CHANNEL_CHOICES),
    "hold": dict(HOLD_CHOICES),
    "approval": {"pending": _l("waiting for the lender"), "approved": _l("approved"), "declined": _l("declined"),
                 "used": _l("used")},
    "delimiter": {",": _l("comma"), "\t": _l("tab"), ";": _l("semicolon"), "|": _l("vertical bar")},
}
BADGES = {
    "import": {"queued": "bg-secondary", "running": "bg-info text-dark", "completed": "bg-success",
               "failed": "bg-danger"},
    "account": {"open": "bg-primary", "paid": "bg-success", "settled": "bg-success", "written_off": "bg-dark"},
    "placement": {"offered": "bg-warning text-dark", "active": "bg-success", "declined": "bg-secondary",
                  "recalled": "bg-dark", "expired": "bg-secondary", "closed": "bg-light text-dark"},
    "relationship": {"active": "bg-success", "suspended": "bg-warning text-dark", "ended": "bg-secondary"},
}


def label(group: str, value):
    return LABELS.get(group, {}).get(value, value)


def badge(group: str, value) -> str:
    return BADGES.get(group, {}).get(value, "bg-secondary")


@bp.app_template_filter("money")
def money_filter(minor, currency: str) -> str:
    return Money(int(minor or 0), currency).format(current_locale())


@bp.app_template_filter("percent")
def percent_filter(value) -> str:
    return format_percent(value or 0, "#,##0.0%")


@bp.app_template_filter("bps")
def bps_filter(basis_points) -> str:
    return format_percent((basis_points or 0) / 10_000, "#,##0.##%")


@bp.app_template_filter("day")
def day_filter(value) -> str:
    return format_date(value, "medium") if value else ""


@bp.context_processor
def _shared_helpers():
    role = g.get("role")
    return {"label": label, "badge": badge, "masked": lambda kind, value: mask(kind, value, role),
            "lender_writer": allowed(Capability.PLACEMENT_MANAGE),
            "agency_answerer": allowed(Capability.PLACEMENT_RESPOND)}


# ---- portfolios and imports ------------------------------------------------------------------------------------

class UploadSchema(Schema):
    portfolio = fields.String(load_default="")
    use_saved_mapping = fields.Boolean(load_default=True)


def _portfolios_page(form: ImportUploadForm, rejected: ValidationFailed | None = None, status: int = 200):
    portfolios = imports.list_portfolios()
    jobs = {}
    for job in imports.list_imports():
        jobs.setdefault(job.portfolio_id, []).append(job)
    account_counts = dict(db.session.execute(
        select(Account.portfolio_id, func.count()).where(Account.tenant_id == g.tenant.id)
        .group_by(Account.portfolio_id)).all())
    rejection = mapping_url = None
    if rejected is not None:
        rejection = _rejection_text(rejected.code, rejected.details)
        headers = rejected.details.get("headers")
        if headers and "tenant.column_mapping" in current_app.view_functions:
            mapping_url = url_for("tenant.column_mapping", header=headers)
    return render_template("tenant/portfolios.html", portfolios=portfolios, jobs=jobs, account_counts=account_counts,
                           form=form, rejection=rejection, mapping_url=mapping_url), status


@bp.route("/portfolios")
@lender_page
def portfolios():
    return _portfolios_page(ImportUploadForm())


@bp.route("/imports", methods=["POST"])
@lender_page
@require_capability(Capability.PORTFOLIO_IMPORT)
def import_upload():
    form = ImportUploadForm()
    rejected = []

    def action(data):
        upload = form.file.data
        filename = _client_filename(upload.filename)
        try:
            portfolio = imports.get_or_create_portfolio(data["portfolio"])
            return imports.create_import(portfolio=portfolio, filename=filename, stream=upload.stream, mapping=None,
                                         uploaded_by=current_user.id,
                                         max_bytes=current_app.config["UPLOAD_MAX_BYTES"],
                                         use_saved_mapping=data["use_saved_mapping"])
        except ValidationFailed as exc:
            if not isinstance(exc, FileRejected) and exc.code != "mapping.invalid":
                raise  # about another field (the portfolio's name)
            # The whole file: say so above the form, and why under the file input.
            rejected.append(exc)
            why = _rejection_text(exc.code, exc.details, exc.message)
            raise type(exc)(exc.message, code=exc.code, details={**exc.details, "fields": {"file": [why]}}) from None

    job, status = submit(form, UploadSchema(), action)
    if job is NOT_SUBMITTED:
        return _portfolios_page(form, rejected[0] if rejected else None, status)
    return redirect(url_for("tenant.import_detail", import_id=job.id))


def _client_filename(name: str | None) -> str:
    """The name as the lender knows it (browsers may send a path); Chinese names are kept."""
    name = (name or "").replace("\\", "/").rsplit("/", 1)[-1].strip()
    return "".join(ch for ch in name if ch.isprintable()) or "upload.csv"


def _rejection_text(code: str, details: dict | None = None, message: str | None = None) -> str:
    """Why a file was refused (at upload: its `details` and English `message` are at hand) or its import failed (in
    the worker: the code alone), in the reader's language."""
    return describe(code, details, message)


@bp.route("/imports/<uuid:import_id>")
@lender_page
def import_detail(import_id: uuid.UUID):
    job = imports.get_import(import_id)
    failure = detail = mapping_url = None
    if job.error_code:
        failure = _rejection_text(job.error_code)
        # The worker's own account (line numbers, the limit broken) is English: shown only to English readers.
        detail = job.error_message if current_locale().startswith("en") else None
        if job.error_code in MAPPING_PROBLEMS and job.headers and "tenant.column_mapping" in current_app.view_functions:
            mapping_url = url_for("tenant.column_mapping", header=job.headers)
    return render_template("tenant/import.html", job=job, row_errors=imports.row_errors(job, limit=ERRORS_SHOWN),
                           errors_shown=ERRORS_SHOWN, failure=failure, detail=detail, mapping_url=mapping_url,
                           refreshing=job.status in (ImportStatus.QUEUED, ImportStatus.RUNNING),
                           held_elsewhere=imports.held_elsewhere_count(job), move_form=ActionForm())


@bp.route("/imports/<uuid:import_id>/move-accounts", methods=["POST"])
@lender_page
@require_capability(Capability.PORTFOLIO_IMPORT)
def import_move_accounts(import_id: uuid.UUID):
    """The lender's "move them" to accounts the file found in another portfolio (left there until now)."""
    job = imports.get_import(import_id)
    if not ActionForm().validate_on_submit():
        raise ValidationFailed(_("The form expired. Reload the page and try again."), code="csrf.invalid")
    moved = imports.move_accounts(job)
    db.session.commit()
    flash(ngettext("%(num)d account moved into %(portfolio)s.", "%(num)d accounts moved into %(portfolio)s.", moved,
                   portfolio=job.portfolio.name), "success")
    return redirect(url_for("tenant.import_detail", import_id=job.id))


@bp.route("/imports/<uuid:import_id>/errors.csv")
@lender_page
def import_errors_csv(import_id: uuid.UUID):
    job = imports.get_import(import_id)
    app, tenant_id, job_id, locale = current_app._get_current_object(), g.tenant.id, job.id, current_locale()

    def rows():
        # The body is read after the view has returned and its contexts are gone: it opens its own, in the
        # language of the person downloading it.
        with app.app_context(), tenant_scope(tenant_id), force_locale(locale):
            yield from imports.error_file(imports.get_import(job_id), describe_cell_error)

    response = Response(rows(), mimetype="text/csv")
    response.headers["Content-Disposition"] = _attachment(_error_filename(job.filename))
    return response


def _error_filename(original: str) -> str:
    stem = original.rsplit(".", 1)[0] if "." in original else original
    return f"{stem or 'import'}-errors.csv"


def _attachment(filename: str) -> str:
    """RFC 6266: an ASCII fallback plus the UTF-8 name, so 十一月.csv downloads as 十一月-errors.csv."""
    fallback = "".join(ch if ch.isascii() and ch.isprintable() and ch not in '"\\' else "_" for ch in filename)
    return f"attachment; filename=\"{fallback}\"; filename*=UTF-8''{quote(filename)}"
