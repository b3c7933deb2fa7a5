"""The agency's desk: the work queue (/queue), the supervisor's assignment page (/team/assign), and the case page's
pieces — the timeline, notes, callbacks and revealing a full ID number or phone.

The case page itself is `agency_views._render_case`; it takes `queue_context(account, placement)` and includes
tenant/_case_worklist.html and tenant/_case_timeline.html. The POST routes here answer with a redirect back to it
(a flash says what happened), except a reveal, which shows the value on a page of its own that is never cached.
"""
import uuid
from datetime import datetime
from zoneinfo import ZoneInfo

from flask import flash, g, make_response, redirect, render_template, request, url_for
from flask_babel import format_datetime, get_locale
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from flask_wtf import FlaskForm
from sqlalchemy import select
from wtforms import DateField, IntegerField, SelectField, StringField, TextAreaField, TimeField
from wtforms.validators import DataRequired, Length, NumberRange, Optional

from tenants.capabilities import Capability
from tenants.casework import assignment, notes, own_cases, timeline, worklist
from tenants.casework.desk_models import CallbackStatus
from tenants.casework.reveal import reveal
from tenants.db import db
from tenants.errors import DomainError, PermissionDenied, ValidationFailed
from tenants.money import Money
from tenants.placements.models import AgencyRelationship, Placement
from tenants.portfolios.imports import COUNTRY_BY_CURRENCY
from tenants.portfolios.models import Account
from web.access import allowed, require_capability
from web.domain_messages import describe_error
from web.forms import (
    CHANNEL_CHOICES,
    MESSAGE_STATUS_LABELS,
    OUTCOME_CHOICES,
    ActionForm,
    MultiCheckboxField,
    switch_setting,
)
from web.tenant import bp
from web.tenant.conduct_views import DECISION_LABELS
from web.tenant.portfolios import agency_page, parse_uuid

TEAM, UNASSIGNED = "team", "unassigned"
PAGE_SIZE = 100
PROMISE_LABELS = {"due": _l("promise due"), "broken": _l("promise broken")}
WHY_LABELS = {worklist.Why.PORTAL_REQUEST: _l("Debtor asked online: confirm"),
              worklist.Why.PROMISE_DUE: _l("Promise due"), worklist.Why.CALLBACK_DUE: _l("Callback due"),
              worklist.Why.PROMISE_BROKEN: _l("Promise broken, nothing since"),
              worklist.Why.NEVER_CONTACTED: _l("Never contacted"),
              worklist.Why.BALANCE: _l("Larger balance, more days past due"),
              worklist.Why.WORKED_TODAY: _l("Worked today: after the others")}
# The queue's filters, carried through the case page's URL so that "next case" walks the same queue.
QUEUE_ARGS = ("collector", "channel", "lender", "dpd_min", "dpd_max", "balance_min", "balance_max", "q")
STATUS_LABELS = {worklist.Status.APPROVAL: _l("needs the lender's approval"),
                 worklist.Status.WAITING: _l("wait"), worklist.Status.STOPPED: _l("not by waiting")}
CALLBACK_LABELS = {CallbackStatus.SCHEDULED: _l("scheduled"), CallbackStatus.DONE: _l("done"),
                   CallbackStatus.CANCELLED: _l("cancelled")}
TIMELINE_LABELS = {"contact": _l("Contact attempt"), "message": _l("Message"), "note": _l("Note"),
                   "callback": _l("Callback"), "promise": _l("Promise to pay"), "payment": _l("Payment"),
                   "portal": _l("Debtor, online")}


# ---- forms ------------------------------------------------------------------------------------------------------

class QueueFilterForm(FlaskForm):
    """Read from the query string: no CSRF token."""

    class Meta:
        csrf = False

    collector = SelectField(_l("Queue of"), validate_choice=False)
    channel = SelectField(_l("Channel"), choices=[("", _l("Any desk channel"))] + CHANNEL_CHOICES,
                          validate_choice=False)
    lender = SelectField(_l("Lender"), validate_choice=False)
    dpd_min = IntegerField(_l("DPD from"), validators=[Optional(), NumberRange(min=0)])
    dpd_max = IntegerField(_l("DPD to"), validators=[Optional(), NumberRange(min=0)])
    balance_min = StringField(_l("Outstanding from"))
    balance_max = StringField(_l("Outstanding to"))
    q = StringField(_l("External reference or phone"))


class NoteForm(FlaskForm):
    body = TextAreaField(_l("Note"), validators=[DataRequired(), Length(max=notes.NOTE_MAX)])


class CallbackForm(FlaskForm):
    on = DateField(_l("Date (debtor's)"), validators=[DataRequired()])
    at = TimeField(_l("Time (debtor's)"), validators=[DataRequired()])
    note = StringField(_l("What about"), validators=[Optional(), Length(max=notes.CALLBACK_NOTE_MAX)])


class RevealForm(FlaskForm):
    field = SelectField(choices=[("id_number", _l("ID number")), ("phone", _l("Phone"))])
    phone_position = IntegerField(default=0, validators=[Optional(), NumberRange(min=0, max=100)])


class AssignForm(FlaskForm):
    action = SelectField(choices=[("hand", ""), ("round_robin", ""), ("region", ""), ("release", "")])
    target = SelectField(choices=[("selected", ""), ("matching", "")], default="selected")
    account_ids = MultiCheckboxField(validate_choice=False)
    collector = SelectField(_l("Collector"), validate_choice=False)
    collectors = MultiCheckboxField(_l("Collectors"), validate_choice=False)


# ---- the work queue -------------------------------------------------------------------------------------------------

def queue_filters(form: QueueFilterForm) -> worklist.QueueFilter:
    form.validate()

    def value(name):
        field = form[name]
        return None if field.errors or field.data in (None, "") else field.data

    def minor(name) -> int | None:
        text = (value(name) or "").strip()
        try:
            return Money.parse(text, g.tenant.currency).minor if text else None
        except ValidationFailed:
            form[name].errors = [_("Not an amount.")]
            return None

    return worklist.QueueFilter(channel=value("channel"), lender_id=parse_uuid(value("lender")),
                                dpd_min=value("dpd_min"), dpd_max=value("dpd_max"),
                                balance_min_minor=minor("balance_min"), balance_max_minor=minor("balance_max"),
                                search=value("q"))


def queue_scope(requested: str | None) -> tuple[str, uuid.UUID | None]:
    """A collector sees his own queue; a supervisor picks a collector, the team or the unassigned cases."""
    supervisor = allowed(Capability.CASES_ANY)
    if not supervisor:
        if requested and requested != str(current_user.id):
            raise PermissionDenied("A collector sees his own queue.", code="queue.own_only")
        return worklist.Scope.COLLECTOR, current_user.id
    if requested in (None, "", TEAM):
        return worklist.Scope.TEAM, None
    if requested == UNASSIGNED:
        return worklist.Scope.UNASSIGNED, None
    collector = parse_uuid(requested)
    if collector is None:
        raise ValidationFailed(details={"fields": {"collector": ["Choose a collector."]}})
    return worklist.Scope.COLLECTOR, assignment.check_assignee(collector)


def default_region() -> str:
    return (g.tenant.settings or {}).get("country") or COUNTRY_BY_CURRENCY.get(g.tenant.currency, "CN")


def lender_names() -> dict[uuid.UUID, str]:
    return {r.tenant_id: r.lender.name for r in db.session.scalars(
        select(AgencyRelationship).where(AgencyRelationship.agency_tenant_id == g.tenant.id))}


@bp.route("/queue")
@agency_page
def queue():
    form = QueueFilterForm(request.args)
    scope, collector = queue_scope(form.collector.data)
    people = assignment.assignees()
    lenders = lender_names()
    form.collector.choices = ([(TEAM, _("The whole team")), (UNASSIGNED, _("Unassigned cases"))]
                              + [(str(p.user_id), p.name) for p in people])
    form.lender.choices = [("", _("Any"))] + [(str(k), v) for k, v in sorted(lenders.items(), key=lambda i: i[1])]
    built = worklist.build(scope=scope, collector_user_id=collector, filters=queue_filters(form),
                           default_region=default_region(), default_zone=g.tenant.time_zone)
    names = {p.user_id: p.name for p in people}
    return render_template("tenant/worklist/queue.html", queue=built, form=form, lenders=lenders, names=names,
                           supervisor=allowed(Capability.CASES_ANY), scope=scope,
                           promise_labels=PROMISE_LABELS, status_labels=STATUS_LABELS, message=rule_message,
                           zoned_time=zoned_time, why_labels=WHY_LABELS, queue_args=queue_args())


@bp.route("/queue/next")
@agency_page
def queue_next():
    """The next case of the queue the case page was opened from (its filters in the query string): `after=<id>`
    skips to the case following that one, `done=<id>` (save and next) opens the first other case not worked
    today. An id the queue does not list is simply not in it."""
    form = QueueFilterForm(request.args)
    scope, collector = queue_scope(form.collector.data)
    built = worklist.build(scope=scope, collector_user_id=collector, filters=queue_filters(form),
                           default_region=default_region(), default_zone=g.tenant.time_zone)
    item = worklist.next_case(built, after=parse_uuid(request.args.get("after")),
                              done=parse_uuid(request.args.get("done")))
    if item is None:
        flash(_("No other case may be contacted right now."), "info")
        return redirect(url_for("tenant.queue", **queue_args()))
    return redirect(url_for("tenant.case_detail", account_id=item.account_id, **queue_args()))


def queue_args(source=None) -> dict:
    """The queue's filters among the request's arguments (a post carries them in its action's query string)."""
    source = request.args if source is None else source
    return {k: source[k] for k in QUEUE_ARGS if source.get(k)}


def back_to_case(account_id: uuid.UUID, *, anchor: str | None = None, tab: str | None = None,
                 section: str | None = None, keep_going: bool = True):
    """After a post from the case page: "save and next" (`then=next` in the form) opens the queue's next case;
    otherwise back to the case, on the tab or section it came from, with the queue's filters."""
    args = queue_args()
    if keep_going and request.form.get("then") == "next":
        return redirect(url_for("tenant.queue_next", done=account_id, **args))
    shown = {k: v for k, v in (("tab", tab), ("section", section)) if v}
    return redirect(url_for("tenant.case_detail", account_id=account_id, _anchor=anchor, **shown, **args))


def rule_message(state) -> str:
    """The rule's own words in the reader's language (the engine writes English and Chinese)."""
    if state is None:
        return ""
    locale = get_locale()
    zh = bool(locale) and str(locale).startswith("zh")
    return (state.message_zh if zh else state.message_en) or ", ".join(state.rules)


def zoned_time(value: datetime | None, zone: str) -> str:
    if value is None:
        return ""
    return format_datetime(value.astimezone(ZoneInfo(zone)), "short", rebase=False) + " " + zone


# ---- assignment ---------------------------------------------------------------------------------------------------

def _assign_filters() -> dict:
    """The assignment page's filter, from its query string (the POST keeps it in its URL)."""
    held = request.args.get("held", assignment.Held.UNASSIGNED)
    return {"held": held if held in assignment.Held.CHOICES else assignment.Held.UNASSIGNED,
            "collector_user_id": parse_uuid(request.args.get("collector")),
            "region": (request.args.get("region") or "").strip() or None,
            "lender_id": parse_uuid(request.args.get("lender"))}


def _assign_page(form: AssignForm):
    filters = _assign_filters()
    page = max(1, request.args.get("page", 1, type=int))
    rows, total = assignment.cases_for_assignment(**filters, limit=PAGE_SIZE, offset=(page - 1) * PAGE_SIZE)
    people = assignment.assignees()
    form.collector.choices = [(str(p.user_id), p.name) for p in people]
    form.collectors.choices = [(str(p.user_id), p.name) for p in people]
    return render_template(
        "tenant/worklist/assign.html", form=form, rows=rows, total=total, page=page,
        pages=max(1, -(-total // PAGE_SIZE)), people=people, names={p.user_id: p.name for p in people},
        lenders=lender_names(), regions=assignment.regions(held=filters["held"]), filters=filters,
        args={k: v for k, v in request.args.items() if k != "page" and v})


@bp.route("/team/assign")
@agency_page
@require_capability(Capability.CASES_ASSIGN)
def team_assign():
    return _assign_page(AssignForm(formdata=None))


@bp.route("/team/own-cases", methods=["POST"])
@agency_page
@require_capability(Capability.SETTINGS_MANAGE)
def team_own_cases():
    switch_setting(g.tenant, own_cases.SETTING, on=_("Collectors now see only the cases assigned to them."),
                   off=_("Collectors can open every case of the agency again."))
    return redirect(url_for("tenant.team_assign"))


@bp.route("/team/assign", methods=["POST"])
@agency_page
@require_capability(Capability.CASES_ASSIGN)
def team_assign_post():
    form = AssignForm()
    back = redirect(url_for("tenant.team_assign", **{k: v for k, v in request.args.items() if v}))
    if not form.validate_on_submit():
        flash(_("Choose what to do."), "danger")
        return back
    if form.target.data == "matching":
        account_ids = assignment.matching_ids(**_assign_filters())
    else:
        account_ids = [i for i in (parse_uuid(v) for v in form.account_ids.data or []) if i]
    try:
        outcome = _assign_action(form, account_ids)
    except DomainError as exc:
        db.session.rollback()
        problems = [m for messages in (exc.details.get("fields") or {}).values() for m in messages]
        flash(" ".join([describe_error(exc), *problems]), "danger")
        return back
    db.session.commit()
    if isinstance(outcome, list):
        flash(_("%(num)d case(s) released: they are unassigned now.", num=len(outcome)), "success")
    else:
        flash(_("%(num)d case(s) assigned, %(same)d already with that collector, %(skipped)d left as they were.",
                num=len(outcome.assigned), same=len(outcome.unchanged), skipped=len(outcome.skipped)), "success")
    return back


def _assign_action(form: AssignForm, account_ids: list[uuid.UUID]):
    action = form.action.data
    if action == "hand":
        collector = parse_uuid(form.collector.data)
        if collector is None:
            raise ValidationFailed(details={"fields": {"collector": [_("Choose a collector.")]}})
        return assignment.assign(account_ids, collector, by_user_id=current_user.id)
    if action == "round_robin":
        return assignment.round_robin(account_ids, [i for i in map(parse_uuid, form.collectors.data or []) if i],
                                      by_user_id=current_user.id)
    if action == "region":
        regions = {}
        for key, value in request.form.items():
            if key.startswith("region-") and parse_uuid(value):
                regions[request.form.get(f"name-{key[len('region-'):]}", "")] = parse_uuid(value)
        return assignment.by_region(account_ids, regions, by_user_id=current_user.id)
    return assignment.release(account_ids, by_user_id=current_user.id)


# ---- the case page's pieces ---------------------------------------------------------------------------------------

def queue_context(account: Account, placement: Placement) -> dict:
    """What tenant/_case_worklist.html and tenant/_case_timeline.html read, under one name (`desk`) so that
    `_render_case` can merge it with the page's other panels."""
    entries = timeline.timeline(account.id)
    callbacks = notes.open_callbacks(account.id)
    collector = assignment.collector_of(account.id)
    names = assignment.user_names({e.user_id for e in entries} | {c.collector_user_id for c in callbacks}
                                  | {collector})
    return {"desk": {
        "account": account, "timeline": entries, "names": names, "kinds": TIMELINE_LABELS,
        "collector": names.get(collector) if collector else None,
        "may_work": allowed(Capability.CASES_ANY) or (collector is not None and collector == current_user.id),
        "zone": notes.debtor_zone(account, g.tenant.time_zone), "open_callbacks": callbacks,
        "note_form": NoteForm(formdata=None), "callback_form": CallbackForm(formdata=None),
        "reveal_form": RevealForm(formdata=None), "close_form": ActionForm(formdata=None),
        "callback_labels": CALLBACK_LABELS, "decisions": DECISION_LABELS, "outcomes": dict(OUTCOME_CHOICES),
        "message_statuses": MESSAGE_STATUS_LABELS,
        "zoned_time": zoned_time}}


def _back_to_case(account_id: uuid.UUID, tab: str, *, keep_going: bool = False):
    return back_to_case(account_id, tab=tab, keep_going=keep_going)


def _flash_problem(exc: DomainError) -> None:
    problems = [m for messages in (exc.details.get("fields") or {}).values() for m in messages]
    flash(" ".join([describe_error(exc), *problems]), "danger")


def _form_problems(form: FlaskForm) -> None:
    flash(" ".join(f"{form[name].label.text}: {' '.join(errors)}" for name, errors in form.errors.items()
                   if name != "csrf_token") or _("The form has expired; try again."), "danger")


@bp.route("/cases/<uuid:account_id>/notes", methods=["POST"])
@agency_page
def case_add_note(account_id: uuid.UUID):
    form = NoteForm()
    assignment.held_placement(account_id)
    if not form.validate_on_submit():
        _form_problems(form)
        return _back_to_case(account_id, "note")
    try:
        notes.add_note(account_id, form.body.data, user_id=current_user.id, role=g.role)
    except DomainError as exc:
        db.session.rollback()
        _flash_problem(exc)
        return _back_to_case(account_id, "note")
    db.session.commit()
    flash(_("Note added."), "success")
    return _back_to_case(account_id, "note", keep_going=True)


@bp.route("/cases/<uuid:account_id>/callbacks", methods=["POST"])
@agency_page
def case_schedule_callback(account_id: uuid.UUID):
    form = CallbackForm()
    assignment.held_placement(account_id)
    if not form.validate_on_submit():
        _form_problems(form)
        return _back_to_case(account_id, "callback")
    try:
        callback = notes.schedule_callback(account_id, on=form.on.data, at=form.at.data, zone=None,
                                           note=form.note.data, collector_user_id=None, user_id=current_user.id,
                                           role=g.role, fallback_zone=g.tenant.time_zone)
    except DomainError as exc:
        db.session.rollback()
        _flash_problem(exc)
        return _back_to_case(account_id, "callback")
    db.session.commit()
    flash(_("Callback scheduled for %(when)s.", when=zoned_time(callback.due_at, callback.local_zone)), "success")
    return _back_to_case(account_id, "callback", keep_going=True)


def _close_callback(callback_id: uuid.UUID, done: bool):
    callback = notes.get_callback(callback_id)
    account_id = callback.account_id
    if not ActionForm().validate_on_submit():
        flash(_("The form has expired; try again."), "danger")
        return _back_to_case(account_id, "callback")
    try:
        notes.close_callback(callback_id, done=done, user_id=current_user.id, role=g.role)
    except DomainError as exc:
        db.session.rollback()
        _flash_problem(exc)
        return _back_to_case(account_id, "callback")
    db.session.commit()
    flash(_("Callback marked done.") if done else _("Callback cancelled."), "success")
    return _back_to_case(account_id, "callback")


@bp.route("/callbacks/<uuid:callback_id>/done", methods=["POST"])
@agency_page
def callback_done(callback_id: uuid.UUID):
    return _close_callback(callback_id, done=True)


@bp.route("/callbacks/<uuid:callback_id>/cancel", methods=["POST"])
@agency_page
def callback_cancel(callback_id: uuid.UUID):
    return _close_callback(callback_id, done=False)


@bp.route("/cases/<uuid:account_id>/reveal", methods=["POST"])
@agency_page
def case_reveal(account_id: uuid.UUID):
    form = RevealForm()
    assignment.held_placement(account_id)
    if not form.validate_on_submit():
        _form_problems(form)
        return back_to_case(account_id, section="details", keep_going=False)
    value = reveal(account_id, form.field.data, user_id=current_user.id, role=g.role,
                   phone_position=form.phone_position.data or 0)
    external_ref = db.session.get(Account, account_id).external_ref
    db.session.commit()
    response = make_response(render_template("tenant/worklist/revealed.html", account_id=account_id,
                                              external_ref=external_ref, field=form.field.data, value=value))
    response.headers["Cache-Control"] = "no-store"
    return response
