"""Compliance reports over the conduct engine's recorded decisions: counts by agency × rule × day, per-agency
conduct scorecards, and the filtered list of decisions behind them.

Everything is counted by the database (GROUP BY over `contact_attempts`, the hits JSON read as rows); Python
only names the agencies and divides. Days are UTC calendar days of the decision time, whatever the viewer's zone,
so a platform admin in Shanghai and a lender in London read the same figures. "Agency" is the tenant that made
the attempt: an agency, or a lender contacting its own debtors.

Platform admins run these in `platform_scope("compliance report")`; a lender runs them in its own tenant context
with `lender_id` set, which keeps them to attempts on its own accounts.
"""
import uuid
from dataclasses import dataclass, replace
from datetime import date, timedelta

from sqlalchemy import and_, case, distinct, func, or_, select

from tenants.compliance.models import Complaint, ComplaintStatus
from tenants.compliance.sql import Hits, as_date, day_range, utc_day
from tenants.conduct.engine import BLOCKING
from tenants.conduct.models import ApprovalRequest, ApprovalStatus, AttemptStatus, ContactAttempt
from tenants.conduct.presets import PRESETS, preset
from tenants.db import db
from tenants.errors import ValidationFailed
from tenants.tenancy.models import Tenant

DIMENSIONS = ("agency", "rule", "day")
OUTCOMES = ("blocked", "approved", "allowed")
MAX_DAYS = 366
DEFAULT_DAYS = 30
# Hold rules: every rule a hold type maps to in any preset (the attorney hold blocks rather than pauses).
HOLD_RULE_IDS = frozenset(rule_id for code in PRESETS for rule_id in preset(code).hold_rules.values())
HOURS_SUFFIX = ".HOURS"

# Each figure's definition, in both languages of the product (as the engine words its refusals), for the page
# and the API alike.
FORMULAS = {
    "days": ("Days are UTC calendar days of the decision time.", "日期按判定时间的 UTC 日历日计算。"),
    "decisions": ("Outbound contacts decided by the conduct engine (blocked ones included; inbound contacts "
                  "are not decided).", "经合规引擎判定的外发联系（含被拦截的；来电来函不经判定）。"),
    "blocked": ("Decisions refusing the contact (block).", "拒绝联系的判定（拦截）。"),
    "approved": ("Decisions that sent the contact to a named approver, who approved it (pending and declined "
                 "requests are in neither column).", "送交指定审批人且已获批准的判定（待审批和被拒绝的不计入）。"),
    "allowed": ("Decisions allowing the contact, with or without warnings.", "允许联系的判定（含附带警告的）。"),
    "by_rule": ("A decision counts under each rule that decided it (the rules that blocked it, sent it for "
                "approval or warned); one refused by two rules counts under both, so rule rows can add up to more "
                "than the decisions. Allowed without a hit: no rule.",
                "每个判定计入决定其结果的每条规则（拦截、送审或警告的规则）；被两条规则拦截的判定在两条规则下各计一次，"
                "因此各规则行之和可能大于判定总数。无规则命中的允许判定计入“无规则”。"),
    "attempts": ("Outbound attempts the agency made in the period, blocked ones included.",
                 "该机构在期间内的外发联系尝试数，含被拦截的。"),
    "blocks_per_1000": ("blocked ÷ attempts × 1,000, to one decimal.", "拦截数 ÷ 尝试数 × 1000，保留一位小数。"),
    "after_hours": ("Attempts that hit a time-of-day rule (a rule id ending in .HOURS): tried outside the "
                    "debtor's permitted hours.",
                    "触发时段规则（规则编号以 .HOURS 结尾）的尝试：在债务人允许时段之外联系。"),
    "during_holds": ("Attempts that hit a hold: a PAUSE rule, or the rule a hold type maps to (e.g. an attorney "
                     "hold: the attorney only).",
                     "触发暂停的尝试：PAUSE 规则，或暂停类型对应的规则（如律师代理：只能联系律师）。"),
    "awaiting_outcome": ("Allowed attempts whose outcome is still not recorded. Until it is, each counts as a "
                         "connected call and as a conversation against the debtor's caps.",
                         "已允许但尚未记录结果的尝试。记录结果之前，每次均按已接通且已通话计入债务人的次数上限。"),
    "complaints_open": ("Complaints about the agency received in the period, still open or under investigation.",
                        "期间内收到的针对该机构、仍未结或调查中的投诉。"),
    "complaints_upheld": ("Complaints about the agency received in the period and upheld.",
                          "期间内收到的针对该机构且成立的投诉。"),
}


@dataclass(frozen=True)
class ReportFilter:
    date_from: date
    date_to: date  # inclusive
    agency_id: uuid.UUID | None = None
    rule_id: str | None = None  # decisions this rule decided
    lender_id: uuid.UUID | None = None  # only attempts on this lender's accounts
    outcome: str | None = None  # blocked | approved | allowed

    def __post_init__(self):
        if self.date_to < self.date_from:
            raise ValidationFailed("The period ends before it starts.", code="report.bad_period",
                                   details={"fields": {"date_to": ["On or after the first day."]}})
        if (self.date_to - self.date_from).days >= MAX_DAYS:
            raise ValidationFailed(f"Ask for at most {MAX_DAYS} days at a time.", code="report.period_too_long",
                                   details={"fields": {"date_from": [f"At most {MAX_DAYS} days."]}})
        if self.outcome is not None and self.outcome not in OUTCOMES:
            raise ValidationFailed(details={"fields": {"outcome": [f"One of {', '.join(OUTCOMES)}."]}})

    @classmethod
    def last_days(cls, today: date, days: int = DEFAULT_DAYS, **narrowing) -> "ReportFilter":
        return cls(date_from=today - timedelta(days=days - 1), date_to=today, **narrowing)


def approved_decisions():
    """Decisions the engine sent for approval and the lender's approver approved (whether used yet or not)."""
    return ContactAttempt.id.in_(select(ApprovalRequest.attempt_id).where(
        ApprovalRequest.status.in_((ApprovalStatus.APPROVED, ApprovalStatus.USED))))


def _outcome(name: str):
    return {"blocked": ContactAttempt.decision == "block", "approved": approved_decisions(),
            "allowed": ContactAttempt.decision.in_(("allow", "allow_with_warnings"))}[name]


def _decisive(hits: Hits):
    """The hit decided the outcome: it blocked a refusal, asked for the approval, or warned."""
    decision = ContactAttempt.decision
    return or_(and_(decision == "block", hits.action.in_(BLOCKING)),
               and_(decision == "needs_approval", hits.action == "APPROVE"),
               and_(decision == "allow_with_warnings", hits.action.in_(("WARN", "CONTENT"))))


def _where(f: ReportFilter) -> list:
    start, end = day_range(f.date_from, f.date_to)
    conditions = [ContactAttempt.direction == "outbound", ContactAttempt.decided_at >= start,
                  ContactAttempt.decided_at < end]
    if f.lender_id is not None:
        conditions.append(ContactAttempt.lender_tenant_id == f.lender_id)
    if f.agency_id is not None:
        conditions.append(ContactAttempt.tenant_id == f.agency_id)
    if f.rule_id:
        hits = Hits(ContactAttempt.hits, name="rule_hit")
        conditions.append(hits.any(and_(hits.rule_id == f.rule_id, _decisive(hits))))
    if f.outcome:
        conditions.append(_outcome(f.outcome))
    return conditions


def _count_where(condition):
    return func.count(distinct(case((condition, ContactAttempt.id))))


def names(tenant_ids) -> dict[uuid.UUID, Tenant]:
    ids = {i for i in tenant_ids if i is not None}
    if not ids:
        return {}
    return {t.id: t for t in db.session.scalars(select(Tenant).where(Tenant.id.in_(ids)))}


# ---- decisions by agency × rule × day ------------------------------------------------------------------------

@dataclass(frozen=True)
class DecisionCounts:
    agency_id: uuid.UUID | None
    agency_name: str | None
    rule_id: str | None
    day: date | None
    decisions: int
    blocked: int
    approved: int
    allowed: int


def decision_counts(f: ReportFilter, by: tuple[str, ...] = DIMENSIONS) -> list[DecisionCounts]:
    """Counts of decisions grouped by any of agency, rule and day (see FORMULAS["by_rule"] for rules)."""
    unknown = set(by) - set(DIMENSIONS)
    if unknown:
        raise ValueError(f"unknown dimensions {sorted(unknown)}")
    stmt = select().select_from(ContactAttempt)
    columns = {"agency": ContactAttempt.tenant_id, "day": utc_day(ContactAttempt.decided_at)}
    if "rule" in by:
        hits = Hits(ContactAttempt.hits, lateral=True)
        on = _decisive(hits) if not f.rule_id else and_(_decisive(hits), hits.rule_id == f.rule_id)
        stmt = stmt.outerjoin(hits.table, on)
        columns["rule"] = hits.rule_id
    grouped = [columns[d].label(d) for d in DIMENSIONS if d in by]
    stmt = stmt.add_columns(
        *grouped, func.count(distinct(ContactAttempt.id)).label("decisions"),
        _count_where(ContactAttempt.decision == "block").label("blocked"),
        _count_where(approved_decisions()).label("approved"),
        _count_where(_outcome("allowed")).label("allowed"),
    ).where(*_where(f)).group_by(*(columns[d] for d in DIMENSIONS if d in by))
    rows = db.session.execute(stmt).mappings().all()
    tenants = names(r["agency"] for r in rows) if "agency" in by else {}
    result = [DecisionCounts(
        agency_id=r.get("agency"), agency_name=tenants[r["agency"]].name if r.get("agency") in tenants else None,
        rule_id=r.get("rule"), day=as_date(r.get("day")), decisions=r["decisions"], blocked=r["blocked"],
        approved=r["approved"], allowed=r["allowed"]) for r in rows]
    return sorted(result, key=lambda c: (c.day or date.min, c.agency_name or "", c.rule_id or ""))


# ---- scorecards ----------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Scorecard:
    agency_id: uuid.UUID
    agency_name: str
    agency_kind: str
    attempts: int
    blocked: int
    after_hours: int
    during_holds: int
    awaiting_outcome: int
    complaints_open: int
    complaints_upheld: int

    @property
    def blocks_per_1000(self) -> float | None:
        return round(self.blocked * 1000 / self.attempts, 1) if self.attempts else None


def scorecards(f: ReportFilter) -> list[Scorecard]:
    """One conduct scorecard per agency over the period (the rule and outcome filters do not apply: a
    scorecard is about all of an agency's conduct). Worst first: most blocks per 1,000 attempts."""
    f = replace(f, rule_id=None, outcome=None)
    hits = Hits(ContactAttempt.hits, name="hours_hit")
    after_hours = hits.any(hits.rule_id.like(f"%{HOURS_SUFFIX}"))
    holds = Hits(ContactAttempt.hits, name="hold_hit")
    during_holds = holds.any(or_(holds.action == "PAUSE", holds.rule_id.in_(sorted(HOLD_RULE_IDS))))
    conduct = {r.agency: r for r in db.session.execute(
        select(ContactAttempt.tenant_id.label("agency"), func.count(ContactAttempt.id).label("attempts"),
               _count_where(ContactAttempt.decision == "block").label("blocked"),
               _count_where(after_hours).label("after_hours"), _count_where(during_holds).label("during_holds"),
               _count_where(ContactAttempt.status == AttemptStatus.PENDING).label("awaiting_outcome"))
        .where(*_where(f)).group_by(ContactAttempt.tenant_id))}
    complaints = {r.agency: r for r in db.session.execute(_complaint_counts(f))}
    tenants = names([*conduct, *complaints])
    cards = []
    for agency_id in set(conduct) | set(complaints):
        c, k = conduct.get(agency_id), complaints.get(agency_id)
        tenant = tenants[agency_id]
        cards.append(Scorecard(
            agency_id=agency_id, agency_name=tenant.name, agency_kind=tenant.kind,
            attempts=c.attempts if c else 0, blocked=c.blocked if c else 0, after_hours=c.after_hours if c else 0,
            during_holds=c.during_holds if c else 0, awaiting_outcome=c.awaiting_outcome if c else 0,
            complaints_open=k.open if k else 0,
            complaints_upheld=k.upheld if k else 0))
    return sorted(cards, key=lambda s: (-(s.blocks_per_1000 or 0), s.agency_name))


def _complaint_counts(f: ReportFilter):
    start, end = day_range(f.date_from, f.date_to)
    conditions = [Complaint.agency_tenant_id.is_not(None), Complaint.received_at >= start,
                  Complaint.received_at < end]
    if f.lender_id is not None:
        conditions.append(Complaint.tenant_id == f.lender_id)
    if f.agency_id is not None:
        conditions.append(Complaint.agency_tenant_id == f.agency_id)
    return (select(Complaint.agency_tenant_id.label("agency"),
                   func.count(case((Complaint.status.in_(ComplaintStatus.UNRESOLVED), Complaint.id))).label("open"),
                   func.count(case((Complaint.status == ComplaintStatus.UPHELD, Complaint.id))).label("upheld"))
            .where(*conditions).group_by(Complaint.agency_tenant_id))


# ---- the decisions themselves --------------------------------------------------------------------------------

def decisions_query(f: ReportFilter):
    """The attempts behind the counts, for a list: order and paginate it by (decided_at, id)."""
    return select(ContactAttempt).where(*_where(f))


def rules_seen(f: ReportFilter) -> list[str]:
    """The rules that decided something in the period: the choices of a rule filter."""
    hits = Hits(ContactAttempt.hits, lateral=True)
    stmt = (select(hits.rule_id).distinct().select_from(ContactAttempt).join(hits.table, _decisive(hits))
            .where(*_where(replace(f, rule_id=None, outcome=None))))
    return sorted(r for r in db.session.scalars(stmt) if r)
