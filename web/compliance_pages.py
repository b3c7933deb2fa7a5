"""What the platform's compliance console (/admin/compliance, /admin/complaints) and a lender's own
(/t/<slug>/compliance) share: the report filters, the overview's figures and chart, one decision reviewed, and the
complaint forms. The two consoles differ only in scope — a platform admin reads across tenants in an explicit
platform context, a lender in its own with `lender_id` set — so the pages are one set of templates
(templates/compliance/) rendered with the console's endpoints."""
import math
import uuid
from contextlib import contextmanager
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

import pygal
from flask import Response, flash, g, redirect, render_template, request, url_for
from flask_babel import get_locale
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from flask_wtf import FlaskForm
from pygal.style import Style
from sqlalchemy import func, select
from wtforms import DateField, DateTimeLocalField, SelectField, StringField, TextAreaField
from wtforms.validators import Optional

from tenants import clock
from tenants.audit import AuditEvent
from tenants.capabilities import Capability
from tenants.casework.disputes import Dispute
from tenants.compliance import complaints, drilldown, reports
from tenants.compliance.models import Complaint, ComplaintStatus
from tenants.compliance.schemas import ComplaintIn, ComplaintStatusIn
from tenants.conduct.models import ContactAttempt
from tenants.context import platform_scope
from tenants.db import db
from tenants.errors import PermissionDenied, ValidationFailed
from tenants.placements.models import AgencyRelationship
from tenants.portal import requests as portal_requests
from tenants.portal.models import PortalRequest
from tenants.portfolios.models import Account
from tenants.tenancy.models import Tenant
from tenants.tenancy.roles import TenantKind
from web.access import allowed
from web.forms import CHANNEL_CHOICES, NOT_SUBMITTED, OUTCOME_CHOICES, submit

PAGE_SIZE = 50

OUTCOME_LABELS = {"blocked": _l("Blocked"), "approved": _l("Approved"), "allowed": _l("Allowed")}
TARGET_LABELS = {"debtor": _l("the debtor"), "third_party": _l("a third party"), "attorney": _l("the attorney")}
ATTEMPT_STATUS_LABELS = {"blocked": _l("refused"), "needs_approval": _l("waiting for approval"),
                         "pending": _l("went ahead, outcome not recorded yet"), "completed": _l("completed")}
DECISION_LABELS = {"block": _l("blocked"), "needs_approval": _l("needs approval"), "allow": _l("allowed"),
                   "allow_with_warnings": _l("allowed with warnings"), "inbound": _l("inbound")}
CATEGORY_LABELS = {"harassment": _l("Harassment"), "time_of_day": _l("Time of day"),
                   "third_party": _l("Third parties contacted"), "misrepresentation": _l("Misrepresentation"),
                   "privacy": _l("Privacy"), "other": _l("Other")}
VIA_LABELS = {"phone": _l("Phone"), "email": _l("Email"), "letter": _l("Letter"), "web": _l("Web form"),
              "in_person": _l("In person"), "regulator": _l("Via a regulator"), "other": _l("Other")}
STATUS_LABELS = {"open": _l("open"), "investigating": _l("investigating"), "upheld": _l("upheld"),
                 "rejected": _l("rejected"), "withdrawn": _l("withdrawn")}
STATUS_BADGES = {"open": "bg-warning text-dark", "investigating": "bg-info text-dark", "upheld": "bg-danger",
                 "rejected": "bg-secondary", "withdrawn": "bg-light text-dark"}


def is_zh() -> bool:
    locale = get_locale()
    return bool(locale) and str(locale).startswith("zh")


def formula(key: str) -> str:
    en, zh = reports.FORMULAS[key]
    return zh if is_zh() else en


def hit_message(hit: dict) -> str:
    return (hit.get("message_zh") if is_zh() else None) or hit.get("message_en") or ""


def instant(iso: str | None) -> datetime | None:
    """Decisions keep their times as ISO text (as recorded with the attempt); pages show them as local times."""
    return datetime.fromisoformat(iso) if iso else None


def helpers() -> dict:
    """Template helpers of every compliance page."""
    return {"formula": formula, "hit_message": hit_message, "instant": instant, "outcome_labels": OUTCOME_LABELS,
            "decision_labels": DECISION_LABELS, "category_labels": CATEGORY_LABELS, "via_labels": VIA_LABELS,
            "complaint_status_labels": STATUS_LABELS, "complaint_badges": STATUS_BADGES,
            "channel_labels": dict(CHANNEL_CHOICES), "target_labels": TARGET_LABELS,
            "attempt_status_labels": ATTEMPT_STATUS_LABELS, "contact_outcome_labels": dict(OUTCOME_CHOICES),
            "can_write": allowed(Capability.COMPLAINT_WRITE)}


@contextmanager
def report_scope(reason: str):
    """Yields the lender the reports are limited to: None for a platform admin, who reads across tenants in an
    explicit platform context; the lender itself otherwise (its own tenant context already holds)."""
    if g.tenant.kind == TenantKind.PLATFORM:
        with platform_scope(reason):
            yield None
    else:
        yield g.tenant.id


def utc_today() -> date:
    return clock.now().astimezone(ZoneInfo("UTC")).date()


# ---- filters -------------------------------------------------------------------------------------------------

class ReportFilterForm(FlaskForm):
    """Read from the query string: no CSRF token."""

    class Meta:
        csrf = False

    date_from = DateField(_l("From (UTC day)"), validators=[Optional()])
    date_to = DateField(_l("To (UTC day)"), validators=[Optional()])
    agency = SelectField(_l("Agency"), validate_choice=False)
    rule = SelectField(_l("Rule"), validate_choice=False)
    outcome = SelectField(_l("Decision"), validate_choice=False)


def agency_choices(lender_id) -> list[tuple[str, str]]:
    """Who made attempts: for a lender the agencies on its panel (and itself), for the platform every tenant that
    collects."""
    if lender_id is None:
        with platform_scope("compliance console: every tenant that collects"):
            query = select(Tenant).where(Tenant.kind.in_((TenantKind.AGENCY, TenantKind.LENDER)))
            return [(str(t.id), t.name) for t in db.session.scalars(query.order_by(Tenant.name))]
    panel = select(AgencyRelationship.agency_tenant_id).where(AgencyRelationship.tenant_id == lender_id)
    query = select(Tenant).where((Tenant.id.in_(panel)) | (Tenant.id == lender_id))
    return [(str(t.id), t.name) for t in db.session.scalars(query.order_by(Tenant.name))]


def read_filters(lender_id) -> tuple[ReportFilterForm, reports.ReportFilter]:
    """The filters in the query string; a bad value is shown on its field and the default used instead."""
    form = ReportFilterForm(request.args)
    form.validate()
    today = utc_today()
    first = form.date_from.data if not form.date_from.errors else None
    last = form.date_to.data if not form.date_to.errors else None
    last = last or today
    first = first or last - timedelta(days=reports.DEFAULT_DAYS - 1)
    form.date_from.data, form.date_to.data = first, last
    choices = agency_choices(lender_id)
    agency = request.args.get("agency") or None
    agency_id = next((value for value, _label in choices if value == agency), None)
    outcome = request.args.get("outcome") or None
    narrowing = dict(agency_id=_uuid(agency_id), rule_id=(request.args.get("rule") or "").strip() or None,
                     lender_id=lender_id, outcome=outcome if outcome in reports.OUTCOMES else None)
    try:
        f = reports.ReportFilter(date_from=first, date_to=last, **narrowing)
    except ValidationFailed as exc:
        for name, messages in exc.details.get("fields", {}).items():
            form[name].errors = list(messages)
        f = reports.ReportFilter.last_days(today, **narrowing)
        form.date_from.data, form.date_to.data = f.date_from, f.date_to
    form.agency.choices = [("", _("Any"))] + choices
    form.rule.choices = [("", _("Any"))] + [(r, r) for r in reports.rules_seen(f)]
    if f.rule_id and f.rule_id not in dict(form.rule.choices):
        form.rule.choices.append((f.rule_id, f.rule_id))
    form.outcome.choices = [("", _("Any"))] + [(k, str(v)) for k, v in OUTCOME_LABELS.items()]
    return form, f


def _uuid(value):
    try:
        return uuid.UUID(value) if value else None
    except ValueError:
        return None


def filter_args(f: reports.ReportFilter) -> dict:
    """The filter as query-string arguments, for links between the console's pages."""
    args = {"date_from": f.date_from.isoformat(), "date_to": f.date_to.isoformat()}
    if f.agency_id:
        args["agency"] = str(f.agency_id)
    if f.rule_id:
        args["rule"] = f.rule_id
    if f.outcome:
        args["outcome"] = f.outcome
    return args


# ---- the overview ---------------------------------------------------------------------------------------------

def overview(f: reports.ReportFilter) -> dict:
    return {"by_agency": reports.decision_counts(f, ("agency",)), "by_rule": reports.decision_counts(f, ("rule",)),
            "by_day": reports.decision_counts(f, ("day",)), "scorecards": reports.scorecards(f)}


def day_chart(f: reports.ReportFilter) -> Response:
    """Decisions per UTC day as a stacked bar chart. Served as its own SVG document (an <img>), whose styles
    our page policy would refuse inline; an image runs no script, so the chart carries none."""
    counts = {c.day: c for c in reports.decision_counts(f, ("day",))}
    days = [f.date_from + timedelta(days=n) for n in range((f.date_to - f.date_from).days + 1)]
    chart = pygal.StackedBar(js=[], width=960, height=320, x_label_rotation=45, show_minor_x_labels=False,
                             legend_at_bottom=True, style=Style(colors=("#dc3545", "#ffc107", "#198754")),
                             title=_("Decisions per day (UTC)"))
    chart.x_labels = [d.isoformat() for d in days]
    chart.x_labels_major = chart.x_labels[::max(1, math.ceil(len(days) / 15))]
    for key in reports.OUTCOMES:
        chart.add(str(OUTCOME_LABELS[key]), [getattr(counts[d], key) if d in counts else 0 for d in days])
    response = Response(chart.render(is_unicode=True), mimetype="image/svg+xml")
    response.headers["Content-Security-Policy"] = "default-src 'none'; style-src 'unsafe-inline'"
    return response


def paginate(query, order, page: int) -> tuple[list, int, int, int]:
    total = db.session.scalar(select(func.count()).select_from(query.order_by(None).subquery()))
    pages = max(1, math.ceil(total / PAGE_SIZE))
    page = min(max(page, 1), pages)
    rows = list(db.session.scalars(query.order_by(*order).limit(PAGE_SIZE).offset((page - 1) * PAGE_SIZE)))
    return rows, page, pages, total


def tenant_names(rows, *attributes) -> dict:
    return {t_id: t.name for t_id, t in
            reports.names(getattr(r, a) for r in rows for a in attributes).items()}


# ---- complaints ------------------------------------------------------------------------------------------------

class LocalDateTimeField(DateTimeLocalField):
    """A browser's date-time box, read in the viewer's organisation's zone and handed on as an aware instant."""

    def process_formdata(self, valuelist):
        super().process_formdata(valuelist)
        if self.data is not None:
            self.data = self.data.replace(tzinfo=ZoneInfo(g.tenant.time_zone))


class ComplaintForm(FlaskForm):
    lender_id = SelectField(_l("Lender"), validate_choice=False)
    external_ref = StringField(_l("Account (the lender's external reference)"))
    agency_id = SelectField(_l("Agency complained of"), validate_choice=False)
    attempt_id = StringField(_l("Contact attempt complained of (id, optional)"))
    received_at = LocalDateTimeField(_l("Received at"), validators=[Optional()])
    received_via = SelectField(_l("Received by"), choices=[(k, v) for k, v in VIA_LABELS.items()])
    category = SelectField(_l("Category"), choices=[(k, v) for k, v in CATEGORY_LABELS.items()])
    description = TextAreaField(_l("What the debtor complains of"))


def complaint_form(lender_id) -> ComplaintForm:
    form = ComplaintForm()
    if lender_id is None:
        with platform_scope("compliance console: lenders and agencies to file a complaint against"):
            lenders = db.session.scalars(select(Tenant).where(Tenant.kind == TenantKind.LENDER)
                                         .order_by(Tenant.name)).all()
            agencies = db.session.scalars(select(Tenant).where(Tenant.kind == TenantKind.AGENCY)
                                          .order_by(Tenant.name)).all()
        form.lender_id.choices = [("", _("Choose…"))] + [(str(t.id), t.name) for t in lenders]
        form.agency_id.choices = [("", _("None: about the lender itself"))] + [(str(t.id), t.name) for t in agencies]
    else:
        form.lender_id.choices = [("", "")]
        form.agency_id.choices = [("", _("None: about us"))] + [
            choice for choice in agency_choices(lender_id) if choice[0] != str(lender_id)]
    if not form.is_submitted():  # "log a complaint about this attempt" arrives with the attempt's facts
        form.attempt_id.data = request.args.get("attempt", "")
        form.external_ref.data = request.args.get("external_ref", "")
        form.lender_id.data = request.args.get("lender", "")
    return form


class ComplaintStatusForm(FlaskForm):
    status = SelectField(_l("New status"), choices=[(s, STATUS_LABELS[s]) for s in ComplaintStatus.ALL[1:]])
    resolution = TextAreaField(_l("Resolution: what was found and done"))


class ComplaintFilterForm(FlaskForm):
    class Meta:
        csrf = False

    status = SelectField(_l("Status"), validate_choice=False)
    category = SelectField(_l("Category"), validate_choice=False)
    agency = SelectField(_l("Agency"), validate_choice=False)


def read_complaint_filters(lender_id, *, agency_id=None) -> tuple[ComplaintFilterForm, complaints.ComplaintFilter]:
    form = ComplaintFilterForm(request.args)
    form.status.choices = [("", _("Any")), ("unresolved", _("Open or investigating"))] + list(STATUS_LABELS.items())
    form.category.choices = [("", _("Any"))] + list(CATEGORY_LABELS.items())
    form.agency.choices = [("", _("Any"))] + ([] if agency_id else agency_choices(lender_id))
    status = request.args.get("status") or None
    category = request.args.get("category") or None
    return form, complaints.ComplaintFilter(
        status=status if status in (*ComplaintStatus.ALL, "unresolved") else None,
        category=category if category in CATEGORY_LABELS else None,
        agency_id=agency_id or _uuid(request.args.get("agency")), lender_id=lender_id)


# ---- the pages (each console routes to these under its own guard) -----------------------------------------------

REASON = "compliance console"
DECISION_ORDER = (ContactAttempt.decided_at.desc(), ContactAttempt.id.desc())
COMPLAINT_ORDER = (Complaint.received_at.desc(), Complaint.id.desc())


def _page_number() -> int:
    return request.args.get("page", 1, type=int)


def _list_args() -> dict:
    return {k: v for k, v in request.args.items() if k != "page" and v}


def _render(template: str, status: int = 200, **context):
    return render_template(template, console=request.blueprint, **helpers(), **context), status


def overview_page():
    with report_scope(REASON) as lender_id:
        form, f = read_filters(lender_id)
        return _render("compliance/overview.html", form=form, f=f, args=filter_args(f), **overview(f))


def chart_page():
    with report_scope(REASON) as lender_id:
        _form, f = read_filters(lender_id)
        return day_chart(f)


def decisions_page():
    with report_scope(REASON) as lender_id:
        form, f = read_filters(lender_id)
        rows, page, pages, total = paginate(reports.decisions_query(f), DECISION_ORDER, _page_number())
        return _render("compliance/decisions.html", form=form, f=f, args=filter_args(f), attempts=rows, page=page,
                       pages=pages, total=total, names=tenant_names(rows, "tenant_id", "lender_tenant_id"),
                       refs=account_refs(r.account_id for r in rows))


def decision_page(attempt_id: uuid.UUID):
    with report_scope(REASON) as lender_id:
        review = drilldown.review(attempt_id, lender_id=lender_id)
        linked = db.session.scalars(select(Complaint).where(Complaint.attempt_id == review.attempt.id)
                                    .order_by(Complaint.received_at.desc())).all()
        return _render("compliance/decision.html", review=review, complaints=linked,
                       refs=account_refs([review.attempt.account_id]))


def account_refs(account_ids) -> dict:
    """Lenders' own references for accounts (not PII), as the current context may read them."""
    ids = set(account_ids)
    if not ids:
        return {}
    return dict(db.session.execute(select(Account.id, Account.external_ref).where(Account.id.in_(ids))).all())


def complaints_page():
    with report_scope(REASON) as lender_id:
        form, f = read_complaint_filters(lender_id)
        rows, page, pages, total = paginate(complaints.complaints_query(f), COMPLAINT_ORDER, _page_number())
        return _render("compliance/complaints.html", form=form, complaints=rows, page=page, pages=pages,
                       total=total, args=_list_args(),
                       names=tenant_names(rows, "tenant_id", "agency_tenant_id"),
                       refs=account_refs(c.account_id for c in rows))


def _actor() -> complaints.Actor:
    return complaints.Actor(tenant=g.tenant, user_id=current_user.id)


def _require_writer() -> None:
    if not allowed(Capability.COMPLAINT_WRITE):
        raise PermissionDenied()


def complaint_new_page():
    _require_writer()
    with report_scope("complaint intake") as lender_id:
        form = complaint_form(lender_id)
        created, status = submit(form, ComplaintIn(), lambda data: complaints.intake(_actor(), data).id)
        if created is NOT_SUBMITTED:
            return _render("compliance/complaint_new.html", status, form=form, platform=lender_id is None)
    flash(_("Complaint recorded."), "success")
    return redirect(url_for(f"{request.blueprint}.complaint_detail", complaint_id=created))


def complaint_page(complaint_id: uuid.UUID, form: ComplaintStatusForm | None = None, status: int = 200):
    with report_scope(REASON):
        complaint = complaints.get_complaint(complaint_id)
        # The lender's chain holds every change; a platform admin's are in the platform's too, not repeated here.
        history = db.session.scalars(select(AuditEvent).where(
            AuditEvent.tenant_id == complaint.tenant_id, AuditEvent.object_type == "complaint",
            AuditEvent.object_id == str(complaint.id)).order_by(AuditEvent.seq)).all()
        return _render("compliance/complaint.html", status, complaint=complaint, history=history,
                       form=form or ComplaintStatusForm(formdata=None),
                       names=tenant_names([complaint], "tenant_id", "agency_tenant_id", "created_by_tenant_id"),
                       refs=account_refs([complaint.account_id]))


def complaint_status_page(complaint_id: uuid.UUID):
    with report_scope("complaint resolution"):
        complaint = complaints.get_complaint(complaint_id)
        _require_writer()
        form = ComplaintStatusForm()
        done, status = submit(form, ComplaintStatusIn(), lambda data: complaints.change_status(
            _actor(), complaint.id, data["status"], data["resolution"]).id)
    if done is NOT_SUBMITTED:
        return complaint_page(complaint_id, form, status)
    flash(_("Complaint updated."), "success")
    return redirect(url_for(f"{request.blueprint}.complaint_detail", complaint_id=done))


def agency_complaints_page():
    """Complaints about the current agency, read-only. The debtor's words and the account's reference only while
    the agency still holds the account: after a recall it keeps the record of what was alleged, not the PII."""
    form, f = read_complaint_filters(None, agency_id=g.tenant.id)
    rows, page, pages, total = paginate(complaints.complaints_query(f), COMPLAINT_ORDER, _page_number())
    return _render("tenant/compliance/agency_complaints.html", form=form, complaints=rows, page=page, pages=pages,
                   total=total, args=_list_args(), names=tenant_names(rows, "tenant_id"),
                   refs=account_refs(c.account_id for c in rows))


# ---- the debtor's portal: disputes raised and contact preferences changed by debtors themselves -----------------

PORTAL_KINDS = ("dispute", "preferences")
PORTAL_KIND_LABELS = {"dispute": _l("Disputes"), "preferences": _l("Contact preferences")}
DISPUTE_CATEGORY_LABELS = {"not_my_debt": _l("Not my debt"), "wrong_amount": _l("Wrong amount"),
                           "already_paid": _l("Already paid"), "identity_theft": _l("Identity theft"),
                           "collection_conduct": _l("How we collected"), "other": _l("Other")}
DISPUTE_STATUS_LABELS = {"open": _l("open"), "resolved": _l("resolved")}
PORTAL_ORDER = (PortalRequest.created_at.desc(), PortalRequest.id.desc())


def portal_page():
    """What debtors did themselves that compliance watches: disputes (each opened a dispute hold) and contact
    preferences (opted-out channels, inconvenient times, agreed hours the conduct engine now reads). A lender sees
    those on its own accounts, whichever agency held them; the platform every lender's."""
    with report_scope(REASON) as lender_id:
        kind = request.args.get("kind") or None
        kind = kind if kind in PORTAL_KINDS else None
        rows, page, pages, total = paginate(portal_requests.query((kind,) if kind else PORTAL_KINDS,
                                                                  lender_id=lender_id), PORTAL_ORDER, _page_number())
        dispute_ids = [r.object_id for r in rows if r.kind == "dispute" and r.object_id]
        dispute_status = dict(db.session.execute(select(Dispute.id, Dispute.status)
                                                 .where(Dispute.id.in_(dispute_ids))).all()) if dispute_ids else {}
        return _render("compliance/portal.html", rows=rows, kind=kind, kind_labels=PORTAL_KIND_LABELS,
                       dispute_categories=DISPUTE_CATEGORY_LABELS, dispute_states=DISPUTE_STATUS_LABELS,
                       dispute_status=dispute_status, page=page, pages=pages, total=total, args=_list_args(),
                       names=tenant_names(rows, "tenant_id", "lender_tenant_id"),
                       refs=account_refs(r.account_id for r in rows))
