"""Performance figures of collectors, teams and agencies over a period: right-party-contact rate, promise rate,
promise-kept rate, amount recovered and liquidation rate (FORMULAS defines each, in English and Chinese).

Each source is read by one query function that counts or sums in the database, grouped by the key asked for;
Python only names the rows and divides. Amounts are summed per currency and never added across currencies.

Who a figure belongs to:
- an agency: the tenant that made the contact, took the promise, is credited with the payment (the agency holding
  the placement when it was recorded, `Payment.agency_tenant_id`) and holds the placement;
- a collector: the user who made the contact (`ContactAttempt.collector_user_id`) or took the promise
  (`Promise.taken_by_user_id`); for money, the collector the case was assigned to when the payment was recorded
  (`CaseAssignment`), so a payment the lender reports on a case still counts for the collector working it, and a
  reversal counts against the collector the payment counted for; a collector's balance placed is that of the cases
  assigned to them at some time in the period. Work with no collector (API tokens, unassigned cases) is one row
  with no collector;
- a team: the agency's whole staff. Agencies have no sub-teams (an assignment names one collector), so the team
  figures are the agency's.

An agency reads its own figures in its own tenant context; a lender reads its agencies' figures in its own context
with `lender_id` set, which keeps them to its own accounts and placements (promises and payments are readable by
the lender, assignments are not: a lender sees agencies, never their staff).
"""
import uuid
from dataclasses import dataclass
from datetime import date, timedelta

from sqlalchemy import and_, case, distinct, func, or_, select

from tenants.capabilities import Capability, roles_with
from tenants.casework.assignment import user_names
from tenants.casework.desk_models import CaseAssignment
from tenants.casework.money_models import Payment, Promise, PromiseStatus
from tenants.compliance.reports import names
from tenants.compliance.sql import day_range
from tenants.conduct.models import AttemptStatus, ContactAttempt
from tenants.db import db
from tenants.errors import ValidationFailed
from tenants.placements.models import Placement, PlacementStatus
from tenants.tenancy.models import Membership

BY = ("collector", "agency")
MAX_DAYS = 366
DEFAULT_DAYS = 30

FORMULAS = {
    "days": ("Days are UTC calendar days; promise due dates are the debtor's own dates.",
             "日期按 UTC 日历日计算；承诺还款日按债务人当地日期。"),
    "attempts": ("Outbound contacts made in the period: allowed by the conduct engine and tried. Blocked ones and "
                 "those awaiting or refused approval were not made; inbound contacts are not counted.",
                 "期间内实际发出的外发联系：经合规引擎允许并已尝试。被拦截、待审批或审批被拒的不算；来电来函不计。"),
    "right_party_contacts": ("Outbound contacts made in the period that reached the debtor in person and held a "
                             "conversation (spoke to the debtor, promise to pay, refused, dispute raised, callback "
                             "requested …).",
                             "期间内与债务人本人接通并交谈的外发联系（与债务人通话、承诺还款、拒绝还款、提出异议、要求回电等）。"),
    "rpc_rate": ("Right-party-contact rate = right-party contacts ÷ outbound contacts made.",
                 "本人接通率 = 本人接通数 ÷ 外发联系数。"),
    "promises": ("Promises to pay taken in the period, cancelled ones excluded.",
                 "期间内取得的还款承诺数（不含已取消的）。"),
    "promise_rate": ("Promise rate = promises ÷ right-party contacts. Promises taken when the debtor called in "
                     "count too, so it can exceed 100%.",
                     "承诺率 = 承诺数 ÷ 本人接通数。债务人来电时取得的承诺也计入，因此可能超过 100%。"),
    "kept_rate": ("Promise-kept rate = kept ÷ (kept + broken), over promises falling due in the period; open "
                  "promises count once they are kept or broken.",
                  "承诺兑现率 = 已兑现 ÷ (已兑现 + 已违约)，统计期间内到期的承诺；未到结论的承诺在兑现或违约后计入。"),
    "recovered": ("Recovered = payments confirmed in the period − payments reversed in the period (that had been "
                  "confirmed), per currency: currencies are never added together.",
                  "回收金额 = 期间内确认的还款 − 期间内冲正的（曾确认的）还款，按币种分列，不同币种从不相加。"),
    "liquidation_rate": ("Liquidation rate = recovered ÷ balance placed, per currency; the balance placed is the "
                         "outstanding balance at placement of the placements accepted and active at some time in "
                         "the period.",
                         "回收率 = 回收金额 ÷ 委案金额，按币种分列；"
                         "委案金额为期间内任一时刻处于有效状态的已接受委案在委案时的未偿余额。"),
    "collector": ("A contact counts for the collector who made it, a promise for the collector who took it, a "
                  "payment for the collector the case was assigned to when the payment was recorded (a reversal "
                  "counts against the same collector); a collector's balance placed is that of the cases assigned "
                  "to them at some time in the period. Work done through the API or on unassigned cases has no "
                  "collector.",
                  "联系记在发起联系的催收员名下，承诺记在取得承诺的催收员名下，"
                  "还款记在登记还款时该案件的负责催收员名下（冲正从同一催收员扣减）；"
                  "催收员的委案金额为期间内任一时刻分配给他的案件的委案金额。"
                  "通过 API 或在未分配案件上的工作不记在任何催收员名下。"),
    "team": ("Team: the whole agency — every collector, and work not attributed to one.",
             "团队：整个机构，包括所有催收员及未记在任何催收员名下的工作。"),
}


@dataclass(frozen=True)
class Period:
    date_from: date
    date_to: date  # inclusive

    def __post_init__(self):
        if self.date_to < self.date_from:
            raise ValidationFailed("The period ends before it starts.", code="performance.bad_period",
                                   details={"fields": {"date_to": ["On or after the first day."]}})
        if (self.date_to - self.date_from).days >= MAX_DAYS:
            raise ValidationFailed(f"Ask for at most {MAX_DAYS} days at a time.", code="performance.period_too_long",
                                   details={"fields": {"date_from": [f"At most {MAX_DAYS} days."]}})

    @classmethod
    def last_days(cls, today: date, days: int = DEFAULT_DAYS) -> "Period":
        return cls(date_from=today - timedelta(days=days - 1), date_to=today)

    @property
    def instants(self):
        return day_range(self.date_from, self.date_to)


@dataclass(frozen=True)
class Scope:
    """Whose figures: an agency's own (`agency_id`), or a lender's agencies on its own placements (`lender_id`)."""

    agency_id: uuid.UUID | None = None
    lender_id: uuid.UUID | None = None

    def __post_init__(self):
        if (self.agency_id is None) == (self.lender_id is None):
            raise ValueError("a scope is one agency or one lender")


def _ratio(numerator: int, denominator: int) -> float | None:
    return numerator / denominator if denominator else None


@dataclass(frozen=True)
class CurrencyFigures:
    currency: str
    placements: int
    balance_placed_minor: int
    recovered_minor: int

    @property
    def liquidation_rate(self) -> float | None:
        return _ratio(self.recovered_minor, self.balance_placed_minor)


@dataclass(frozen=True)
class Figures:
    """One collector's, team's or agency's figures. `id` is the agency's tenant id or the collector's user id
    (None: work not attributed to a collector)."""

    id: uuid.UUID | None
    name: str | None
    attempts: int = 0
    right_party_contacts: int = 0
    promises: int = 0
    promises_kept: int = 0
    promises_broken: int = 0
    money: tuple[CurrencyFigures, ...] = ()

    @property
    def rpc_rate(self) -> float | None:
        return _ratio(self.right_party_contacts, self.attempts)

    @property
    def promise_rate(self) -> float | None:
        return _ratio(self.promises, self.right_party_contacts)

    @property
    def kept_rate(self) -> float | None:
        return _ratio(self.promises_kept, self.promises_kept + self.promises_broken)

    def in_currency(self, currency: str) -> CurrencyFigures | None:
        return next((m for m in self.money if m.currency == currency), None)


# ---- one query per source ------------------------------------------------------------------------------------

def _attempts(period: Period, scope: Scope, by: str) -> dict:
    """{key: (attempts made, right-party contacts)}"""
    key = ContactAttempt.tenant_id if by == "agency" else ContactAttempt.collector_user_id
    start, end = period.instants
    where = [ContactAttempt.direction == "outbound", ContactAttempt.decided_at >= start,
             ContactAttempt.decided_at < end,
             ContactAttempt.status.in_((AttemptStatus.PENDING, AttemptStatus.COMPLETED))]
    if scope.agency_id is not None:
        where.append(ContactAttempt.tenant_id == scope.agency_id)
    else:  # the lender's own calls on its accounts are not an agency's work
        where += [ContactAttempt.lender_tenant_id == scope.lender_id, ContactAttempt.tenant_id != scope.lender_id]
    right_party = and_(ContactAttempt.target == "debtor", ContactAttempt.conversation.is_(True))
    rows = db.session.execute(
        select(key, func.count(ContactAttempt.id), func.count(case((right_party, ContactAttempt.id))))
        .where(*where).group_by(key))
    return {k: (made, rpc) for k, made, rpc in rows}


def _promises(period: Period, scope: Scope, by: str) -> dict:
    """{key: (promises taken, kept, broken)}: taken in the period; kept and broken among those due in it."""
    key = Promise.tenant_id if by == "agency" else Promise.taken_by_user_id
    start, end = period.instants
    taken = and_(Promise.created_at >= start, Promise.created_at < end, Promise.status != PromiseStatus.CANCELLED)
    due = and_(Promise.due_on >= period.date_from, Promise.due_on <= period.date_to)
    owner = (Promise.tenant_id == scope.agency_id if scope.agency_id is not None
             else Promise.lender_tenant_id == scope.lender_id)
    rows = db.session.execute(
        select(key, func.count(case((taken, Promise.id))),
               func.count(case((and_(due, Promise.status == PromiseStatus.KEPT), Promise.id))),
               func.count(case((and_(due, Promise.status == PromiseStatus.BROKEN), Promise.id))))
        .where(owner, or_(taken, due)).group_by(key))
    return {k: (promises, kept, broken) for k, promises, kept, broken in rows}


def _recovered(period: Period, scope: Scope, by: str) -> dict:
    """{(key, currency): confirmed in the period − reversed in the period}"""
    start, end = period.instants
    confirmed = and_(Payment.confirmed_at >= start, Payment.confirmed_at < end)
    # Reversing a payment never confirmed only rejected it: nothing was recovered, nothing is taken back.
    reversed_ = and_(Payment.confirmed_at.is_not(None), Payment.reversed_at >= start, Payment.reversed_at < end)
    amount = (func.coalesce(func.sum(case((confirmed, Payment.amount_minor), else_=0)), 0)
              - func.coalesce(func.sum(case((reversed_, Payment.amount_minor), else_=0)), 0))
    stmt = select().select_from(Payment)
    if by == "agency":
        key = Payment.agency_tenant_id
    else:
        stmt = stmt.outerjoin(CaseAssignment, and_(
            CaseAssignment.placement_id == Payment.placement_id, CaseAssignment.assigned_at <= Payment.recorded_at,
            or_(CaseAssignment.ended_at.is_(None), CaseAssignment.ended_at > Payment.recorded_at)))
        key = CaseAssignment.collector_user_id
    owner = (Payment.agency_tenant_id == scope.agency_id if scope.agency_id is not None
             else and_(Payment.tenant_id == scope.lender_id, Payment.agency_tenant_id.is_not(None)))
    rows = db.session.execute(stmt.add_columns(key, Payment.currency, amount)
                              .where(owner, or_(confirmed, reversed_)).group_by(key, Payment.currency))
    return {(k, currency): int(minor) for k, currency, minor in rows}


def _placed(period: Period, scope: Scope, by: str) -> dict:
    """{(key, currency): (placements, balance at placement)} of placements accepted and active in the period."""
    start, end = period.instants
    where = [Placement.status.not_in((PlacementStatus.OFFERED, PlacementStatus.DECLINED)),
             Placement.responded_at < end, or_(Placement.ended_at.is_(None), Placement.ended_at >= start)]
    where.append(Placement.agency_tenant_id == scope.agency_id if scope.agency_id is not None
                 else Placement.tenant_id == scope.lender_id)
    if by == "agency":
        key = Placement.agency_tenant_id
        stmt = select(key.label("key"), Placement.id, Placement.currency, Placement.balance_at_placement_minor)
    else:  # a case assigned twice to one collector in the period counts once for him
        key = CaseAssignment.collector_user_id
        stmt = (select(key.label("key"), Placement.id, Placement.currency, Placement.balance_at_placement_minor)
                .join(CaseAssignment, CaseAssignment.placement_id == Placement.id).distinct())
        where += [CaseAssignment.assigned_at < end,
                  or_(CaseAssignment.ended_at.is_(None), CaseAssignment.ended_at >= start)]
    cases = stmt.where(*where).subquery()
    rows = db.session.execute(
        select(cases.c.key, cases.c.currency, func.count(distinct(cases.c.id)),
               func.sum(cases.c.balance_at_placement_minor))
        .group_by(cases.c.key, cases.c.currency))
    return {(k, currency): (count, int(balance or 0)) for k, currency, count, balance in rows}


# ---- the figures -----------------------------------------------------------------------------------------------

def figures(period: Period, scope: Scope, by: str) -> list[Figures]:
    """One row per agency (`by="agency"`) or per collector (`by="collector"`, an agency's own only), named."""
    if by not in BY:
        raise ValueError(f"unknown grouping {by!r}")
    if by == "collector" and scope.agency_id is None:
        raise ValueError("collectors are an agency's own figures")
    attempts, promises = _attempts(period, scope, by), _promises(period, scope, by)
    recovered, placed = _recovered(period, scope, by), _placed(period, scope, by)
    keys = {*attempts, *promises, *(k for k, _c in recovered), *(k for k, _c in placed)}
    if by == "collector":
        keys |= _staff(scope.agency_id)
        labels = user_names(keys)
    else:
        labels = {k: t.name for k, t in names(keys).items()}
    rows = []
    for key in keys:
        made, rpc = attempts.get(key, (0, 0))
        taken, kept, broken = promises.get(key, (0, 0, 0))
        currencies = sorted({c for k, c in (*recovered, *placed) if k == key})
        money = tuple(CurrencyFigures(c, *placed.get((key, c), (0, 0)), recovered.get((key, c), 0))
                      for c in currencies)
        rows.append(Figures(id=key, name=labels.get(key), attempts=made, right_party_contacts=rpc, promises=taken,
                            promises_kept=kept, promises_broken=broken, money=money))
    if by == "collector":  # by name; work with no collector last
        return sorted(rows, key=lambda f: (f.id is None, f.name or "", str(f.id)))
    return rows


def team(period: Period, agency_id: uuid.UUID) -> Figures:
    """The agency's whole staff together (see FORMULAS["team"])."""
    found = figures(period, Scope(agency_id=agency_id), "agency")
    return found[0] if found else Figures(id=agency_id, name=names([agency_id])[agency_id].name)


def league(period: Period, lender_id: uuid.UUID, currency: str) -> list[Figures]:
    """The lender's agencies, best liquidation rate in the lender's currency first, then right-party-contact rate."""
    def rank(f: Figures):
        own = f.in_currency(currency)
        return (-((own.liquidation_rate if own else None) or 0), -(f.rpc_rate or 0), f.name or "")

    return sorted(figures(period, Scope(lender_id=lender_id), "agency"), key=rank)


def _staff(agency_id: uuid.UUID) -> set[uuid.UUID]:
    return set(db.session.scalars(select(Membership.user_id).where(
        Membership.tenant_id == agency_id, Membership.is_active.is_(True),
        Membership.role.in_(roles_with(Capability.CASES_HOLD)))))
