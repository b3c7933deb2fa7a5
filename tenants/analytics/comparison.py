"""Champion/challenger: the arms of one allocation (a placement batch split between agencies by weight) compared
on the accounts each was given, adjusted for the stratification the allocation used.

The allocation (tenants.placements.allocation) split every stratum — DPD bucket × balance quartile within the
bucket — in proportion to the weights, and each placement keeps the stratum it was put in (`stratum_bucket`,
`stratum_band`, written when it is placed; placements made before were filled by migration 0026 with the same
ranking the allocation does). The comparison is made stratum by stratum, as the split was:

- recovery rate (recovered ÷ balance placed): per arm the stratified combined ratio estimator with its linearised
  variance; the difference between a challenger and the champion with a two-sided z test (stats.ratio_estimate);
- contact, promise and paying rates (share of accounts): per arm with a Wilson interval; the difference as the
  Mantel–Haenszel risk difference over strata with its interval, tested by the Cochran–Mantel–Haenszel χ².

Every account allocated counts in its arm, whatever became of the offer (intention to treat: leaving out declined or
recalled accounts would undo the random split). One query returns, per stratum and arm, the counts and the sums of
balances, recoveries, their squares and product; no account is read in Python.

Why it reads stored figures (at a million placements, ~83,000 per allocation): rebuilding the strata on each view
meant ranking the allocation's accounts by balance with window functions (a sort spilling to disk), and asking
"contacted?" and "promised?" meant a probe of `contact_attempts` and `promises` per account — 1.5 s together. The
stratum is a fact of the allocation, known when it is made, so it is written then rather than recomputed. Whether
an account was contacted or promised changes later, so PostgreSQL keeps a count of each on the placement
(`debtor_conversations`, `uncancelled_promises`: triggers of migration 0026 whose WHEN clauses let an attempt that
is no conversation through untouched), exact in the same transaction as the attempt or promise. Every column the
statement reads is in one index (ix_placements_batch_strata), so it is one index-only scan and a hash aggregate.
Counts on the placement rather than a summary per (allocation, stratum, arm): the summary would also need a
trigger on every payment and the first-conversation-or-not logic per account, for a statement that already takes
tens of milliseconds. On SQLite (the demo, small, without the triggers) the two look-ups are probes as before.
"""
import uuid
from calendar import monthrange
from dataclasses import dataclass
from datetime import date, datetime

from sqlalchemy import Float, Integer, cast, exists, func, select

from tenants.analytics import stats
from tenants.analytics.common import Viewer, month_index
from tenants.analytics.liquidation import _champion, check_batch
from tenants.casework.money_models import Promise, PromiseStatus
from tenants.compliance.reports import names
from tenants.conduct.models import ContactAttempt
from tenants.db import db, on_postgres
from tenants.placements.models import Placement, PlacementBatch

BANDS = 4  # balance quartiles, as the allocation cuts them
MIN_ACCOUNTS = 30  # below this in an arm, the intervals are rough: the page says so

FORMULAS = {
    "design": ("Each account allocated counts in its arm, whatever became of the offer (intention to treat). The "
               "arms are compared stratum by stratum — DPD bucket × balance quartile, the strata the allocation "
               "split — so a difference in the mix of accounts cannot pass for a difference between agencies.",
               "每个被分配的账户都计入其分组，无论委案后来如何（意向性分析）。"
               "各分组按分层逐层比较——逾期天数区间 × 余额四分位，"
               "即分配时所用的分层——因此账户结构的差异不会被当成机构之间的差异。"),
    "recovery_rate": ("Recovery rate = Σ_h W_h ȳ_h ÷ Σ_h W_h x̄_h (stratified ratio estimator), x = balance at "
                      "placement, y = recovered since (confirmed less reversed), W_h = the stratum's share of the "
                      "allocation's accounts. 95% interval ± 1.96 × standard error, by linearisation: "
                      "V = Σ_h W_h² s²(y − R·x)_h / n_h ÷ (Σ_h W_h x̄_h)².",
                      "回收率 = Σ_h W_h ȳ_h ÷ Σ_h W_h x̄_h（分层比率估计），"
                      "x = 委案时余额，y = 此后回收金额（已确认减已冲正），"
                      "W_h = 该层账户占本次分配的比例。95% 置信区间为 ± 1.96 × 标准误（线性化）："
                      "V = Σ_h W_h² s²(y − R·x)_h / n_h ÷ (Σ_h W_h x̄_h)²。"),
    "recovery_test": ("Difference in recovery rate = challenger − champion; the arms are independent samples, so its "
                      "variance is the sum of theirs, and z = difference ÷ standard error gives a two-sided p-value. "
                      "Why not a two-proportion test: money recovered is an amount per account, mostly zero and "
                      "heavily skewed, not a yes/no; the ratio estimator uses each account's amount and balance, and "
                      "with dozens of accounts per arm its normal approximation holds.",
                      "回收率差 = 挑战者 − 冠军；两组为独立样本，方差相加，z = 差值 ÷ 标准误，得双侧 p 值。"
                      "不用两比例检验的原因：回收金额是每个账户的金额，多数为零且高度偏斜，并非是/否；"
                      "比率估计利用每个账户的金额与余额，在每组有数十个账户时正态近似成立。"),
    "rates": ("Contact rate = accounts with a conversation with the debtor under the placement ÷ accounts; promise "
              "rate = accounts with a promise to pay (not cancelled) ÷ accounts; paying rate = accounts with money "
              "recovered ÷ accounts. 95% Wilson interval per arm.",
              "接通率 = 委案期间与债务人本人有过交谈的账户数 ÷ 账户数；承诺率 = 有还款承诺（未取消）的账户数 ÷ 账户数；"
              "还款率 = 有回收金额的账户数 ÷ 账户数。每组给出 95% Wilson 区间。"),
    "rates_test": ("Difference in a rate = the Mantel–Haenszel risk difference over strata, "
                   "Σ_h (a_h n0_h − c_h n1_h)/N_h ÷ Σ_h n1_h n0_h/N_h, with the Greenland–Robins variance; tested "
                   "by the Cochran–Mantel–Haenszel χ² (1 degree of freedom, continuity-corrected). A stratified "
                   "test, because the split was stratified: it compares like with like and does not count the "
                   "strata's differences as noise.",
                   "比率差 = 各层的 Mantel–Haenszel 风险差 Σ_h (a_h n0_h − c_h n1_h)/N_h ÷ Σ_h n1_h n0_h/N_h，"
                   "方差采用 Greenland–Robins 估计；检验采用 Cochran–Mantel–Haenszel χ²（1 个自由度，连续性校正）。"
                   "因为分配本身是分层的，所以用分层检验：同层相比，且不把层间差异算作噪声。"),
    "reading": ("Read a difference as real when its 95% interval leaves out zero (p < 0.05). Each challenger is "
                "compared with the champion (the heaviest weight) on its own; with several challengers, one of them "
                "may pass that line by chance.",
                "当差值的 95% 区间不包含零（p < 0.05）时，可认为差异真实存在。每个挑战者分别与冠军（权重最大者）比较；"
                "挑战者较多时，其中某一个可能因偶然越过这条线。"),
}


@dataclass(frozen=True)
class Allocation:
    """A batch split between two or more agencies: what the comparison page lists."""

    id: uuid.UUID
    created_at: datetime
    accounts: int
    arms: int


@dataclass(frozen=True)
class Arm:
    agency_id: uuid.UUID
    name: str
    weight: int | None
    champion: bool
    accounts: int
    balance_minor: int
    recovered_minor: int
    contacted: int
    promised: int
    paying: int
    recovery: stats.Interval | None
    contact: stats.Interval | None
    promise: stats.Interval | None
    paying_rate: stats.Interval | None


@dataclass(frozen=True)
class Contrast:
    """One metric, one challenger against the champion."""

    metric: str  # recovery, contact, promise, paying
    challenger_id: uuid.UUID
    difference: stats.Interval | None
    test: stats.Test | None


@dataclass(frozen=True)
class Comparison:
    batch_id: uuid.UUID
    created_at: datetime
    summary: str | None
    currency: str
    months_on_book: int
    strata: int  # strata holding every arm
    left_out: int  # accounts in strata some arm lacks
    arms: list[Arm]
    contrasts: list[Contrast]

    @property
    def champion(self) -> Arm | None:
        return next((a for a in self.arms if a.champion), None)

    def contrast(self, metric: str, challenger_id) -> Contrast | None:
        return next((c for c in self.contrasts if c.metric == metric and c.challenger_id == challenger_id), None)

    @property
    def small(self) -> bool:
        return any(a.accounts < MIN_ACCOUNTS for a in self.arms)


METRICS = ("recovery", "contact", "promise", "paying")


def allocations(viewer: Viewer) -> list[Allocation]:
    """The lender's batches split between two or more agencies, newest first (an agency has none to compare). Read
    from each batch's allocation record (its weights and per-agency counts), not from its placements: listing the
    allocations never scans the placements."""
    if not viewer.is_lender:
        return []
    rows = db.session.execute(select(PlacementBatch.id, PlacementBatch.created_at, PlacementBatch.allocation)
                              .where(PlacementBatch.tenant_id == viewer.tenant_id)
                              .order_by(PlacementBatch.created_at.desc(), PlacementBatch.id))
    found = []
    for batch_id, created_at, record in rows:
        weights = (record or {}).get("weights") or {}
        if len(weights) < 2:
            continue
        per_agency = (record or {}).get("per_agency") or {}
        accounts = sum(int((v or {}).get("accounts", 0)) for v in per_agency.values())
        found.append(Allocation(id=batch_id, created_at=created_at, accounts=accounts, arms=len(weights)))
    return found


def months_on_book(created_at: datetime, today: date) -> int:
    """Calendar months (UTC) from the allocation to `today`: 0 in the month it was placed."""
    return month_index(today) - month_index(created_at)


def has_a_month_on_book(created_at: datetime, today: date) -> bool:
    """A whole month since the allocation, day for day (the 31st's month ends on the next month's last day). Not
    calendar months: one placed on the 15th of last month has had three weeks, too few to tell its arms apart."""
    placed = created_at.date()
    year, month = placed.year + placed.month // 12, placed.month % 12 + 1
    return today >= date(year, month, min(placed.day, monthrange(year, month)[1]))


def default_allocation(found: list[Allocation], *, today: date) -> Allocation | None:
    """The allocation a reader who names none is shown: the newest with a whole month on book, else the newest.
    `found` is newest first, as `allocations`."""
    return next((a for a in found if has_a_month_on_book(a.created_at, today)), found[0] if found else None)


def _strata_rows(batch: PlacementBatch, currency: str):
    """Per (DPD bucket, balance band, arm): n, Σx, Σy, Σx², Σy², Σxy, contacted, promised, paying."""
    if on_postgres():
        contacted = Placement.debtor_conversations > 0
        promised = Placement.uncancelled_promises > 0
    else:
        contacted = exists().where(ContactAttempt.account_id == Placement.account_id,
                                   ContactAttempt.placement_id == Placement.id, ContactAttempt.target == "debtor",
                                   ContactAttempt.conversation.is_(True))
        promised = exists().where(Promise.placement_id == Placement.id, Promise.status != PromiseStatus.CANCELLED)
    x, y = cast(Placement.balance_at_placement_minor, Float), cast(Placement.recovered_minor, Float)
    # In a fixed order, so that the sums over strata in `compare` add their floats the same way on every view.
    cell = (Placement.stratum_bucket, Placement.stratum_band, Placement.agency_tenant_id)
    one = lambda flag: func.sum(cast(flag, Integer))  # noqa: E731 — booleans summed as 0/1
    return db.session.execute(
        select(*cell, func.count(), func.sum(x), func.sum(y), func.sum(x * x), func.sum(y * y), func.sum(x * y),
               one(contacted), one(promised), one(Placement.recovered_minor > 0))
        .where(Placement.batch_id == batch.id, Placement.currency == currency)
        .group_by(*cell).order_by(*cell)).all()


def compare(viewer: Viewer, batch_id: uuid.UUID, *, today: date, currency: str | None = None) -> Comparison:
    batch = check_batch(viewer, batch_id)
    currency = currency or viewer.currency
    cells: dict[tuple, dict] = {}
    arms: set = set()
    for bucket, band, arm, *values in _strata_rows(batch, currency):
        cells.setdefault((int(bucket), int(band)), {})[arm] = [float(v or 0) for v in values]
        arms.add(arm)
    total = sum(row[0] for by_arm in cells.values() for row in by_arm.values())
    common = {h: by_arm for h, by_arm in cells.items() if set(by_arm) == arms}
    in_common = sum(row[0] for by_arm in common.values() for row in by_arm.values())
    weights_raw = (batch.allocation or {}).get("weights") or {}
    champion_key = _champion(batch)
    champion_id = uuid.UUID(champion_key) if champion_key and uuid.UUID(champion_key) in arms else \
        max(arms, key=lambda a: (sum(c.get(a, [0])[0] for c in cells.values()), str(a)), default=None)
    labels = {k: t.name for k, t in names(arms).items()}

    def sums(arm) -> list:
        return [sum(by_arm[arm][i] for by_arm in common.values()) for i in range(9)]

    def ratio(arm):
        return stats.ratio_estimate([stats.StratumSums(
            n=int(by_arm[arm][0]), sum_x=by_arm[arm][1], sum_y=by_arm[arm][2], sum_xx=by_arm[arm][3],
            sum_yy=by_arm[arm][4], sum_xy=by_arm[arm][5],
            weight=sum(r[0] for r in by_arm.values()) / in_common) for by_arm in common.values()])

    found_arms = []
    for arm in arms:
        n, sx, sy, _xx, _yy, _xy, contacted, promised, paying = sums(arm)
        found_arms.append(Arm(
            agency_id=arm, name=labels.get(arm, str(arm)), weight=weights_raw.get(str(arm)),
            champion=arm == champion_id, accounts=int(n), balance_minor=int(sx), recovered_minor=int(sy),
            contacted=int(contacted), promised=int(promised), paying=int(paying), recovery=ratio(arm),
            contact=stats.wilson(int(contacted), int(n)), promise=stats.wilson(int(promised), int(n)),
            paying_rate=stats.wilson(int(paying), int(n))))
    found_arms.sort(key=lambda a: (not a.champion, -(a.weight or 0), a.name, str(a.agency_id)))

    contrasts = []
    for arm in found_arms:
        if arm.champion or champion_id is None:
            continue
        champion = next(a for a in found_arms if a.champion)
        if arm.recovery and champion.recovery:
            difference, test = stats.difference(arm.recovery, champion.recovery)
        else:
            difference, test = None, None
        contrasts.append(Contrast("recovery", arm.agency_id, difference, test))
        for metric, index in (("contact", 6), ("promise", 7), ("paying", 8)):
            tables = [stats.Table2x2(a=int(by_arm[arm.agency_id][index]), n1=int(by_arm[arm.agency_id][0]),
                                     c=int(by_arm[champion_id][index]), n0=int(by_arm[champion_id][0]))
                      for by_arm in common.values()]
            contrasts.append(Contrast(metric, arm.agency_id, stats.mh_risk_difference(tables),
                                      stats.cmh_test(tables)))
    return Comparison(batch_id=batch.id, created_at=batch.created_at,
                      summary=(batch.allocation or {}).get("summary"), currency=currency,
                      months_on_book=months_on_book(batch.created_at, today), strata=len(common),
                      left_out=int(total - in_common), arms=found_arms, contrasts=contrasts)


def csv_rows(found: Comparison):
    yield ("arm", "agency_id", "champion", "weight", "accounts", "balance_placed", "recovered", "metric",
           "estimate", "ci_low", "ci_high", "difference_vs_champion", "diff_ci_low", "diff_ci_high", "test",
           "statistic", "p_value")
    for arm in found.arms:
        for metric, interval in (("recovery", arm.recovery), ("contact", arm.contact), ("promise", arm.promise),
                                 ("paying", arm.paying_rate)):
            contrast = found.contrast(metric, arm.agency_id)
            diff = contrast.difference if contrast else None
            test = contrast.test if contrast else None
            yield (arm.name, arm.agency_id, "yes" if arm.champion else "no", arm.weight or "", arm.accounts,
                   arm.balance_minor, arm.recovered_minor, metric, *_fmt(interval), *_fmt(diff),
                   test.kind if test else "", f"{test.statistic:.4f}" if test else "",
                   f"{test.p_value:.4f}" if test else "")


def _fmt(interval: stats.Interval | None):
    if interval is None:
        return ("", "", "")
    return (f"{interval.estimate:.6f}", f"{interval.low:.6f}", f"{interval.high:.6f}")
