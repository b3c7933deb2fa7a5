"""The conduct engine: a pure function deciding one outbound contact before it happens.

``decide(request, history, holds, consent, rulebook, now) -> Decision``

Semantics (see CONDUCT_RULES.md, Engine semantics):

* Time of day and calendar days/months are judged in the debtor's zone(s). With several candidate zones a time
  must be allowed in all of them, and a calendar count is taken per zone with the strictest result. Without any
  zone on the request the rulebook's ``default_zones`` are the candidates.
* Windows are half-open: 08:00–22:00 allows 21:59:59 and blocks 22:00.
* Pending attempts (outcome not yet recorded) count as whatever counts most — as attempts AND as connected calls
  AND as conversations/successful contacts — for as long as their outcome is not recorded (an unanswered
  question counts against the caller). Recording the outcome later re-opens whatever it does not use.
* Days are calendar days in the debtor's zone(s) wherever a regulation counts days: Reg F's "seven consecutive
  days" (US.7IN7) counts the day of the call or conversation as day 1 (12 CFR 1006.14(b)(2)(i)); monthly caps
  are calendar months. Rolling hours only where a rule says hours.
* Facts that permit a contact (reachability, the age of a consent, the last conversation) come from the ledger
  and the account, never from the request.
* ``earliest_allowed_at`` is the first instant at which every blocking rule passes together (found by moving to
  the latest per-rule earliest time until nothing blocks); ``None`` when some block is "not by waiting"
  (third-party target, opt-out, open-ended hold, time-barred debt...).
* Outcome: any BLOCK/PAUSE hit → "block"; else an APPROVE hit → "needs_approval"; else WARN/CONTENT hits →
  "allow_with_warnings"; else "allow".
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta, timezone
from typing import Callable, Iterable, Sequence
from zoneinfo import ZoneInfo

from . import calendar as cal
from .holiday_calendars import CN_WORKDAYS, closes
from .rulebook import Rule, Rulebook

CHANNELS = ("call", "sms", "email", "letter", "visit", "legal")
TARGETS = ("debtor", "third_party", "attorney")
HOLD_TYPES = ("dispute", "cease", "attorney", "bankruptcy", "deceased", "breathing_space", "hardship", "plan")
BLOCKING = ("BLOCK", "PAUSE")

CHANNEL_ZH = {"call": "电话", "sms": "短信", "email": "电子邮件", "letter": "信函", "visit": "上门",
              "legal": "法律措施"}
CHANNEL_EN = {"call": "Calls", "sms": "Text messages", "email": "Emails", "letter": "Letters", "visit": "Visits",
              "legal": "Legal steps"}


@dataclass(frozen=True)
class ContactRequest:
    channel: str
    debt_id: str
    subject_key: str  # the person across agencies (blind index)
    target: str = "debtor"
    direction: str = "outbound"
    number_key: str | None = None  # phone/email hash
    time_zones: tuple[str, ...] = ()
    third_party_id: str | None = None
    approved: bool = False  # a valid approval exists for APPROVE rules
    staff_count: int = 0  # visits
    limitation_date: date | None = None  # on/after this date legal steps are time-/statute-barred
    consent_after_conversation_until: datetime | None = None  # US.7IN7 override (prior consent ≤ 7 days)
    purpose: str = "collect"  # collect | locate | pass_message
    message_kind: str | None = None  # matched against holds' allow-lists (e.g. "notice_collection_stops")
    vulnerable: bool = False  # known vulnerable person (UK.VISIT)
    agency_notice_given: bool | None = None  # None: contact by the lender itself; False: agency, debtor not told

    def __post_init__(self):
        if self.channel not in CHANNELS:
            raise ValueError(f"unknown channel {self.channel!r}")
        if self.target not in TARGETS:
            raise ValueError(f"unknown target {self.target!r}")
        if self.direction != "outbound":
            raise ValueError("only outbound contacts are decided")
        if isinstance(self.time_zones, (list, str)):
            object.__setattr__(self, "time_zones", tuple([self.time_zones] if isinstance(self.time_zones, str)
                                                         else self.time_zones))


@dataclass(frozen=True)
class PastAttempt:
    at: datetime  # aware
    channel: str
    debt_id: str
    subject_key: str
    number_key: str | None = None
    connected: bool = False
    conversation: bool = False  # right-party contact / successful contact
    pending: bool = False  # outcome not yet recorded: counted as attempt, connected and successful
    target: str = "debtor"
    third_party_id: str | None = None


@dataclass(frozen=True)
class Hold:
    type: str
    debt_id: str
    starts_at: datetime
    ends_at: datetime | None = None
    allow: frozenset[str] = frozenset()
    reason: str = ""
    # Set on another debt of the same person (any lender's): applies to every debt when the rulebook makes its type
    # person-wide. Carries no reason, account or tenant: none of that may cross to another tenant.
    person_wide: bool = False

    def __post_init__(self):
        if self.type not in HOLD_TYPES:
            raise ValueError(f"unknown hold type {self.type!r}")
        object.__setattr__(self, "allow", frozenset(self.allow))

    def active(self, t: datetime) -> bool:
        return self.starts_at <= t and (self.ends_at is None or t < self.ends_at)


@dataclass(frozen=True)
class Consent:
    opted_out_channels: frozenset[str] = frozenset()
    inconvenient_windows: tuple[tuple[time, time], ...] = ()  # debtor-local, half-open, may wrap midnight
    agreed_hours: tuple[time, time] | None = None  # debtor-designated hours replacing the default window

    def __post_init__(self):
        object.__setattr__(self, "opted_out_channels", frozenset(self.opted_out_channels))
        object.__setattr__(self, "inconvenient_windows", tuple(tuple(w) for w in self.inconvenient_windows))


@dataclass(frozen=True)
class RuleHit:
    rule_id: str
    action: str  # BLOCK, PAUSE, APPROVE, CONTENT, TIMER, WARN
    message_en: str
    message_zh: str
    earliest_allowed_at: datetime | None
    citation: str
    approver_role: str | None = None


@dataclass(frozen=True)
class Decision:
    outcome: str  # allow | block | needs_approval | allow_with_warnings
    hits: tuple[RuleHit, ...]
    rulebook_version: str
    earliest_allowed_at: datetime | None
    decided_at: datetime | None = None

    @property
    def blocking(self) -> tuple[RuleHit, ...]:
        return tuple(h for h in self.hits if h.action in BLOCKING)

    def hit(self, rule_id: str) -> RuleHit | None:
        return next((h for h in self.hits if h.rule_id == rule_id), None)


# --------------------------------------------------------------------------------------------------------------
@dataclass
class _Ctx:
    req: ContactRequest
    history: Sequence[PastAttempt]
    holds: Sequence[Hold]
    consent: Consent
    rb: Rulebook
    now: datetime
    zones: list[ZoneInfo] = field(default_factory=list)


@dataclass
class _Finding:
    action: str
    en: str
    zh: str
    earliest: datetime | None  # when this rule alone would pass; None = not by waiting
    rule_id: str | None = None  # when a check reports on behalf of a related rule
    why: tuple[str, str] | None = None  # the reason without the "allowed from" part, to restate a later time


Check = Callable[[_Ctx, Rule, datetime], "list[_Finding] | _Finding | None"]
_CHECKS: dict[str, Check] = {}


def _check(*rule_ids: str):
    def deco(fn):
        for r in rule_ids:
            _CHECKS[r] = fn
        return fn
    return deco


def _when(ctx: _Ctx, t: datetime | None, what_en: str, what_zh: str) -> tuple[str, str]:
    if t is None:
        return (f"{what_en} are not allowed until this is resolved (not by waiting).",
                f"在此情况解除前不得进行{what_zh}（等待无法解除）。")
    en, zh = cal.describe(t, ctx.zones[0])
    if len(ctx.zones) > 1:
        en += f" [= {t.astimezone(ZoneInfo('UTC')):%Y-%m-%d %H:%M} UTC]"
    return f"{what_en} to this debtor are allowed from {en}.", f"对该债务人的{what_zh}可于{zh}起进行。"


def _blocked(ctx, rule_id, why_en, why_zh, earliest, action="BLOCK") -> _Finding:
    ch = ctx.req.channel
    nxt_en, nxt_zh = _when(ctx, earliest, CHANNEL_EN[ch], CHANNEL_ZH[ch])
    return _Finding(action, f"{rule_id}: {why_en} {nxt_en}", f"{rule_id}：{why_zh}{nxt_zh}", earliest,
                    why=(why_en, why_zh))


# ---- time of day -----------------------------------------------------------------------------------------------
def _closed_days_text(holidays_off: bool, working_days_only: bool) -> tuple[str, str]:
    if working_days_only:
        return " (working days only)", "（仅限工作日）"
    if holidays_off:
        return " (not on Sundays or public holidays)", "（周日及公众假期除外）"
    return "", ""


@_check("CN.HOURS", "US.HOURS", "UK.HOURS", "IN.HOURS", "IE.HOURS")
def _hours(ctx: _Ctx, rule: Rule, t: datetime):
    p = {k: v.value for k, v in rule.params.items()}
    if ctx.req.channel not in p["channels"]:
        return None
    start, end = p["start"], p["end"]
    if p.get("honour_agreed_hours") and ctx.consent.agreed_hours:
        start, end = ctx.consent.agreed_hours
    days_off = p.get("days_off", frozenset())
    hols = p.get("public_holidays", frozenset())
    calendars = [c for c in (p.get("holiday_calendar"), CN_WORKDAYS if p.get("working_days_only") else None) if c]

    def day_ok(d: date) -> bool:
        return d.weekday() not in days_off and d not in hols and not any(closes(c, d) for c in calendars)

    def ok(x: datetime) -> bool:
        for z in ctx.zones:
            lt = x.astimezone(z)
            if not (cal.in_window(lt.time(), start, end) and day_ok(cal._window_day(lt, start, end))
                    and day_ok(lt.date())):
                return False
        return True

    if ok(t):
        return None

    def step(x):
        for z in ctx.zones:
            e = cal.earliest_in_window(x, z, start, end, day_ok)
            if e is None:
                return None
            x = max(x, e)
        return x

    earliest = cal.fixpoint(t, step)
    zone_txt = ", ".join(z.key for z in ctx.zones)
    extra_en, extra_zh = _closed_days_text(days_off or hols or p.get("holiday_calendar"),
                                           bool(p.get("working_days_only")))
    return _blocked(ctx, rule.id,
                    f"contact only {start:%H:%M}–{end:%H:%M}{extra_en} debtor local time ({zone_txt}).",
                    f"仅可在债务人当地时间{start:%H:%M}–{end:%H:%M}{extra_zh}联系（{zone_txt}）。", earliest)


@_check("US.INCONVENIENT")
def _inconvenient(ctx: _Ctx, rule: Rule, t: datetime):
    out = []
    if ctx.req.channel in ctx.consent.opted_out_channels and ctx.req.channel not in ("sms", "email"):
        out.append(_blocked(ctx, rule.id, f"the consumer called this medium ({ctx.req.channel}) inconvenient.",
                            f"消费者已表示该方式（{CHANNEL_ZH[ctx.req.channel]}）不便。", None))
    wins = ctx.consent.inconvenient_windows
    if not wins:
        return out

    def bad(x):
        return any(cal.in_window(x.astimezone(z).time(), s, e) for z in ctx.zones for s, e in wins)

    if bad(t):
        def step(x):
            for z in ctx.zones:
                for s, e in wins:
                    lt = x.astimezone(z)
                    if cal.in_window(lt.time(), s, e):
                        end = cal.at_local(lt.date(), e, z)
                        if end <= x:
                            end = cal.at_local(lt.date() + timedelta(days=1), e, z)
                        x = max(x, end)
            return x
        earliest = cal.fixpoint(t, step)
        out.append(_blocked(ctx, rule.id, "the consumer said this time is inconvenient.", "消费者表示该时段不便。",
                            earliest))
    return out


# ---- counting --------------------------------------------------------------------------------------------------
def _calendar_cap(ctx: _Ctx, t: datetime, events: list[datetime], cap: int, period: str):
    """Blocked if, in any candidate zone, the calendar day/month of t already holds >= cap events."""
    def key(x, z):
        lx = x.astimezone(z)
        return lx.date() if period == "day" else (lx.year, lx.month)

    def step(x):
        for z in ctx.zones:
            k = key(x, z)
            if sum(1 for e in events if e <= x and key(e, z) == k) >= cap:
                x = cal.next_midnight(x, z) if period == "day" else cal.next_month_start(x, z)
        return x

    if step(t) == t:
        return None
    return cal.fixpoint(t, step)


@_check("CN.CALLS.CONNECTED")
def _cn_connected(ctx: _Ctx, rule: Rule, t: datetime):
    r = ctx.req
    if r.channel != "call" or r.target != "debtor":
        return None
    cap = rule.params["max"].value
    ev = [h.at for h in ctx.history if h.subject_key == r.subject_key and h.channel == "call"
          and h.target == "debtor" and (h.connected or h.pending)]
    earliest = _calendar_cap(ctx, t, ev, cap, "day")
    if earliest is None:
        return None
    return _blocked(ctx, rule.id, f"{cap} connected calls already today (debtor's day, all agencies together).",
                    f"该债务人今日（按当地日期、所有机构合计）已接通{cap}次催收电话。", earliest)


@_check("CN.CALLS.ATTEMPTS")
def _cn_attempts(ctx: _Ctx, rule: Rule, t: datetime):
    r = ctx.req
    if r.channel != "call":
        return None
    if r.number_key is None:
        return _Finding("WARN", f"{rule.id}: number unknown, the per-number attempt cap cannot be checked.",
                        f"{rule.id}：号码未知，无法核对单号码拨打次数上限。", None)
    cap = rule.params["max"].value
    ev = [h.at for h in ctx.history if h.number_key == r.number_key and h.channel == "call"
          and (not h.connected or h.pending)]
    earliest = _calendar_cap(ctx, t, ev, cap, "day")
    if earliest is None:
        return None
    return _blocked(ctx, rule.id, f"{cap} unanswered attempts to this number already today.",
                    f"今日对该号码的未接通拨打已达{cap}次。", earliest)


@_check("US.7IN7")
def _us_7in7(ctx: _Ctx, rule: Rule, t: datetime):
    """12 CFR 1006.14(b)(2)(i): more than 7 calls within 7 consecutive days, or a call within 7 consecutive days
    after a telephone conversation — days counted as calendar dates in the consumer's zone(s), the day of the call
    or conversation being day 1. A pending call may have been a conversation: it counts as one until recorded."""
    r = ctx.req
    if r.channel != "call" or r.target != "debtor":
        return None
    p = {k: v.value for k, v in rule.params.items()}
    until = r.consent_after_conversation_until
    if until is not None and t < until and until - ctx.now <= timedelta(days=p["consent_max_days"]):
        return _Finding("WARN", f"{rule.id}: call frequency limits lifted by the consumer's recorded prior consent "
                        f"(valid until {until:%Y-%m-%d %H:%M} UTC).",
                        f"{rule.id}：消费者事先同意，通话频率限制暂不适用（有效至 {until:%Y-%m-%d %H:%M} UTC）。", None)
    days, quiet, cap = p["window_days"], p["quiet_days"], p["max_calls"]
    mine = [h for h in ctx.history if h.debt_id == r.debt_id and h.subject_key == r.subject_key
            and h.channel == "call" and h.target == "debtor" and h.at <= t]
    conversations = [h.at for h in mine if h.conversation or h.pending]
    calls = [h.at for h in mine]

    def over_cap(x: datetime) -> datetime:
        for z in ctx.zones:
            today = cal.local(x, z).date()
            counted = sorted((d for d in (cal.local(c, z).date() for c in calls)
                              if today - timedelta(days=days - 1) <= d <= today), reverse=True)
            if len(counted) >= cap:  # free again the day after the cap-th most recent call leaves the window
                x = max(x, cal.at_local(counted[cap - 1] + timedelta(days=days), time(0), z))
        return x

    def in_quiet(x: datetime) -> datetime:
        for z in ctx.zones:
            today = cal.local(x, z).date()
            recent = [d for d in (cal.local(c, z).date() for c in conversations)
                      if today - timedelta(days=quiet - 1) <= d <= today]
            if recent:
                x = max(x, cal.at_local(max(recent) + timedelta(days=quiet), time(0), z))
        return x

    out = []
    if (earliest := cal.fixpoint(t, over_cap)) != t:
        out.append(_blocked(ctx, rule.id, f"{cap} calls about this debt within {days} consecutive days (today "
                            "included).", f"连续{days}天内（含今日）已就该笔债务拨打{cap}次电话。", earliest))
    if (earliest := cal.fixpoint(t, in_quiet)) != t:
        out.append(_blocked(ctx, rule.id, f"a telephone conversation about this debt took place within the last "
                            f"{quiet} days (its day counted as day 1), or a call's outcome is not recorded yet.",
                            f"{quiet}天内（通话当日计为第1天）已就该笔债务与消费者通话，或有通话尚未记录结果。",
                            earliest))
    return out


@_check("IE.MONTHLY")
def _ie_monthly(ctx: _Ctx, rule: Rule, t: datetime):
    r = ctx.req
    chans = rule.params["channels"].value
    if r.channel not in chans or r.target != "debtor":
        return None
    cap = rule.params["max"].value
    ev = [h.at for h in ctx.history if h.debt_id == r.debt_id and h.channel in chans and h.target == "debtor"
          and (h.conversation or h.pending)]
    earliest = _calendar_cap(ctx, t, ev, cap, "month")
    if earliest is None:
        return None
    return _blocked(ctx, rule.id, f"{cap} successful contacts about this debt already this calendar month.",
                    f"本月已就该笔债务成功联系{cap}次。", earliest)


# ---- targets, channels, approvals -------------------------------------------------------------------------------
def _cn_derived_unreachable(ctx: _Ctx, rule: Rule, t: datetime) -> tuple[bool, datetime | None]:
    """From the ledger only: the last N calls to the debtor (any agency) all failed to reach them — no answer, a
    wrong number, no conversation; a call whose outcome is not recorded is not a failure — → unreachable from
    the local day after the N-th failure. What a request asserts never makes a third party reachable."""
    n = rule.params["failed_calls"].value
    calls = sorted((h for h in ctx.history if h.subject_key == ctx.req.subject_key and h.channel == "call"
                    and h.target == "debtor" and h.at <= t), key=lambda h: h.at)[-n:]
    if len(calls) < n or any(h.conversation or h.pending for h in calls):
        return False, None
    from_ = max(cal.next_midnight(calls[-1].at, z) for z in ctx.zones)
    return t >= from_, from_


@_check("CN.3P.TARGET")
def _cn_3p(ctx: _Ctx, rule: Rule, t: datetime):
    r = ctx.req
    if r.target != "third_party":
        return None
    if not ctx.rb.has("CN.3P.UNREACHABLE"):
        return _blocked(ctx, rule.id, "collection only from the debtor, never from contacts.",
                        "只能向债务人本人催收，不得向联系人催收。", None)
    unr = ctx.rb.rule("CN.3P.UNREACHABLE")
    derived, from_ = _cn_derived_unreachable(ctx, unr, t)
    if derived:
        return None  # CN.3P.UNREACHABLE applies
    return _blocked(ctx, rule.id, "collection only from the debtor, never from contacts; a third party may be "
                    "contacted only once the debtor is unreachable.",
                    "只能向债务人本人催收，不得向联系人催收；仅在债务人失联时方可联系第三方。", from_)


@_check("CN.3P.UNREACHABLE")
def _cn_3p_unreachable(ctx: _Ctx, rule: Rule, t: datetime):
    r = ctx.req
    if r.target != "third_party":
        return None
    derived, _ = _cn_derived_unreachable(ctx, rule, t)
    if not derived:
        return None  # CN.3P.TARGET blocks
    if r.purpose not in rule.params["purposes"].value:
        return _blocked(ctx, rule.id, "a third party may only be asked for contact details or to pass a message.",
                        "联系第三方仅限获取联系方式或转告信息。", None)
    out = [_Finding("CONTENT", f"{rule.id}: debtor unreachable; third-party contact allowed only to locate or pass a "
                    "message; stop if asked.", f"{rule.id}：债务人失联，联系第三方仅限查找或转告，对方要求即停止。",
                    None)]
    if ctx.rb.has("CN.3P.CONTENT"):
        c = ctx.rb.rule("CN.3P.CONTENT")
        out.append(_Finding("CONTENT", f"{c.id}: never disclose the amount or overdue status to a third party.",
                            f"{c.id}：不得向第三方透露欠款金额或逾期情况。", None, rule_id=c.id))
    return out


@_check("IN.3P")
def _in_3p(ctx: _Ctx, rule: Rule, t: datetime):
    if ctx.req.target != "third_party":
        return None
    return _blocked(ctx, rule.id, "no intrusion on family, referees or friends.", "不得骚扰家人、担保人或朋友。", None)


@_check("US.3P")
def _us_3p(ctx: _Ctx, rule: Rule, t: datetime):
    r = ctx.req
    if r.target != "third_party":
        return None
    if r.purpose != "locate":
        return _blocked(ctx, rule.id, "third parties may be contacted only to obtain location information.",
                        "仅可为获取位置信息联系第三方。", None)
    cap = rule.params["max_per_third_party"].value
    n = sum(1 for h in ctx.history if h.target == "third_party" and h.subject_key == r.subject_key
            and r.third_party_id is not None and h.third_party_id == r.third_party_id)
    if r.third_party_id is None or n >= cap:
        return _blocked(ctx, rule.id, f"this third party was already contacted {n} time(s) (limit {cap}) or is "
                        "unidentified.", f"该第三方已被联系{n}次（上限{cap}）或身份不明。", None)
    return _Finding("CONTENT", f"{rule.id}: do not mention the debt to the third party.",
                    f"{rule.id}：不得向第三方提及债务。", None)


@_check("US.EOPTOUT", "PLATFORM.OPTOUT")
def _optout(ctx: _Ctx, rule: Rule, t: datetime):
    ch = ctx.req.channel
    if ch not in ctx.consent.opted_out_channels:
        return None
    if rule.id == "US.EOPTOUT" and ch not in ("sms", "email"):
        return None
    if rule.id == "PLATFORM.OPTOUT" and ctx.rb.has("US.EOPTOUT"):
        return None  # US: sms/email → US.EOPTOUT, other media → US.INCONVENIENT
    return _blocked(ctx, rule.id, f"the debtor opted out of {ch}.", f"债务人已退订{CHANNEL_ZH[ch]}。", None)


@_check("US.TIMEBARRED", "UK.STATUTEBARRED")
def _barred(ctx: _Ctx, rule: Rule, t: datetime):
    lim = ctx.req.limitation_date
    if ctx.req.channel != "legal" or lim is None:
        return None
    if any(t.astimezone(z).date() >= lim for z in ctx.zones):
        return _blocked(ctx, rule.id, f"the debt is time-barred since {lim:%Y-%m-%d}; no legal steps.",
                        f"该债务自{lim:%Y-%m-%d}起已过诉讼时效，不得采取法律措施。", None)
    return None


def _approval(ctx: _Ctx, rule: Rule, why_en: str, why_zh: str):
    if ctx.req.approved:
        return None
    role = rule.approver_role or "lender_manager"
    return _Finding("APPROVE", f"{rule.id}: {why_en} Needs approval by the {role}.",
                    f"{rule.id}：{why_zh}须经{ '贷款机构经理' if role == 'lender_manager' else role}批准。", None)


@_check("CN.VISIT")
def _cn_visit(ctx: _Ctx, rule: Rule, t: datetime):
    if ctx.req.channel != "visit":
        return None
    need = rule.params["min_staff"].value
    if ctx.req.staff_count < need:
        return _blocked(ctx, rule.id, f"a visit needs at least {need} collectors (planned: {ctx.req.staff_count}).",
                        f"上门催收至少需{need}名催收人员（计划{ctx.req.staff_count}名）。", None)
    return _approval(ctx, rule, "a visit needs lender approval; no entry without consent.",
                     "上门催收须经贷款机构批准，未经同意不得入户。")


@_check("UK.VISIT")
def _uk_visit(ctx: _Ctx, rule: Rule, t: datetime):
    if ctx.req.channel != "visit":
        return None
    if any(h.type == "dispute" and h.debt_id == ctx.req.debt_id and h.active(t) for h in ctx.holds):
        return _blocked(ctx, rule.id, "no visit while the debt is disputed.", "债务存在争议期间不得上门。", None)
    if ctx.req.vulnerable:
        return _blocked(ctx, rule.id, "no visit to a known vulnerable person.", "不得上门拜访已知的弱势人士。", None)
    return _approval(ctx, rule, "a visit needs notice and consent to the place.", "上门须事先通知并取得对地点的同意。")


@_check("CN.OUTSOURCE.NOTICE")
def _cn_outsource(ctx: _Ctx, rule: Rule, t: datetime):
    if ctx.req.agency_notice_given is not False:
        return None
    return _approval(ctx, rule, "the debtor has not been told that collection was handed to an agency.",
                     "尚未告知债务人已委托外包机构催收。")


@_check("PLATFORM.TERMS")
def _terms_unreadable(ctx: _Ctx, rule: Rule, t: datetime):
    return _blocked(ctx, rule.id, "the placement's conduct terms cannot be read; the lender must correct them.",
                    "该委托的合规条款无法读取，须由出借机构更正。", None)


# ---- holds -----------------------------------------------------------------------------------------------------
def _holds(ctx: _Ctx, t: datetime) -> list[tuple[Rule, _Finding]]:
    out = []
    # The debt's own holds first: a person-wide hold of a type this debt already holds adds nothing.
    for h in sorted(ctx.holds, key=lambda hold: hold.person_wide):
        applies = (h.type in ctx.rb.person_wide_holds) if h.person_wide else h.debt_id == ctx.req.debt_id
        if not applies or not h.active(t):
            continue
        rid = ctx.rb.hold_rules.get(h.type)
        if rid is None or not ctx.rb.has(rid):
            continue
        if h.person_wide and any(rule.id == rid for rule, _ in out):
            continue
        rule = ctx.rb.rule(rid)
        if h.type == "attorney":
            if ctx.req.target == "attorney":
                continue
            f = _blocked(ctx, rid, "the debtor is represented by an attorney; contact the attorney only.",
                         "债务人已委托律师，只能联系其律师。", h.ends_at, action="BLOCK")
        else:
            if ctx.req.message_kind is not None and ctx.req.message_kind in h.allow:
                continue
            label = h.type.replace("_", " ")
            if h.person_wide:
                f = _blocked(ctx, rid, f"a {label} hold on this person, recorded on another of their debts, pauses "
                             "collection on all of them.", f"该债务人的另一笔债务上登记了{_HOLD_ZH[h.type]}暂停，"
                             "其名下所有债务的催收均已暂停。", h.ends_at, action="PAUSE")
            else:
                f = _blocked(ctx, rid, f"a {label} hold pauses collection on this debt"
                             + (f" ({h.reason})." if h.reason else "."),
                             f"该笔债务处于{_HOLD_ZH[h.type]}暂停期，催收已暂停。", h.ends_at, action="PAUSE")
        out.append((rule, f))
    return out


_HOLD_ZH = {"dispute": "争议", "cease": "停止联系", "attorney": "律师代理", "bankruptcy": "破产", "deceased": "身故",
            "breathing_space": "喘息期", "hardship": "困难", "plan": "分期还款计划"}


# ---- driver ----------------------------------------------------------------------------------------------------
def _evaluate(ctx: _Ctx, t: datetime) -> list[tuple[Rule, _Finding]]:
    found: list[tuple[Rule, _Finding]] = []
    for rule in ctx.rb.rules:
        fn = _CHECKS.get(rule.id)
        if not rule.enforced or fn is None:
            continue
        res = fn(ctx, rule, t)
        if res is None:
            continue
        for f in (res if isinstance(res, list) else [res]):
            found.append((rule, f))
    found.extend(_holds(ctx, t))
    return found


def _zones(req: ContactRequest, rb: Rulebook) -> list[ZoneInfo]:
    names = list(dict.fromkeys(req.time_zones)) or list(rb.default_zones)
    return [ZoneInfo(n) for n in names]


def decide(request: ContactRequest, history: Iterable[PastAttempt], holds: Iterable[Hold],
           consent: Consent | None, rulebook: Rulebook, now: datetime) -> Decision:
    """Decide one outbound contact at ``now`` (aware). Pure: no I/O, no clock."""
    if now.tzinfo is None:
        raise ValueError("now must be timezone-aware")
    ctx = _Ctx(request, tuple(history), tuple(holds), consent or Consent(), rulebook, now, _zones(request, rulebook))
    found = _evaluate(ctx, now)
    hits = []
    for rule, f in found:
        r = rulebook.rule(f.rule_id) if f.rule_id else rule
        e = f.earliest.astimezone(timezone.utc) if f.earliest is not None and f.action in BLOCKING else None
        hits.append(RuleHit(r.id, f.action, f.en, f.zh, e, r.citation,
                            r.approver_role if f.action == "APPROVE" else None))
    hits = tuple(hits)
    actions = {h.action for h in hits}
    earliest = None
    if actions & set(BLOCKING):
        outcome = "block"
        earliest = _earliest(ctx, now)
        earliest = earliest.astimezone(timezone.utc) if earliest is not None else None
        hits = _restated(ctx, found, hits, earliest)
    elif "APPROVE" in actions:
        outcome = "needs_approval"
    elif hits:
        outcome = "allow_with_warnings"
    else:
        outcome = "allow"
    return Decision(outcome, hits, rulebook.version, earliest, now)


def _restated(ctx: _Ctx, found, hits: tuple[RuleHit, ...], earliest: datetime | None) -> tuple[RuleHit, ...]:
    """A rule that alone would pass sooner than the decision as a whole (a daily cap resetting at midnight while
    night hours last until 08:00) tells the collector when contact really becomes possible; its
    `earliest_allowed_at` keeps the rule's own time for replay."""
    if earliest is None:
        return hits
    restated = []
    for hit, (_, finding) in zip(hits, found):
        if hit.action in BLOCKING and finding.why and hit.earliest_allowed_at and hit.earliest_allowed_at < earliest:
            channel = ctx.req.channel
            when_en, when_zh = _when(ctx, earliest, CHANNEL_EN[channel], CHANNEL_ZH[channel])
            hit = RuleHit(hit.rule_id, hit.action, f"{hit.rule_id}: {finding.why[0]} {when_en}",
                          f"{hit.rule_id}：{finding.why[1]}{when_zh}", hit.earliest_allowed_at, hit.citation,
                          hit.approver_role)
        restated.append(hit)
    return tuple(restated)


def _earliest(ctx: _Ctx, t: datetime, limit: int = 500) -> datetime | None:
    for _ in range(limit):
        blocking = [f for _, f in _evaluate(ctx, t) if f.action in BLOCKING]
        if not blocking:
            return t
        if any(f.earliest is None for f in blocking):
            return None
        nxt = max(f.earliest for f in blocking)
        if nxt <= t:  # defensive: a rule claimed it passes now but still blocks
            return None
        t = nxt
    return None


def next_permitted(channel: str, request: ContactRequest, history, holds, consent, rulebook, now) -> datetime | None:
    """Next permitted time for a channel (for work queues): ``now`` if allowed now, else earliest_allowed_at."""
    from dataclasses import replace
    d = decide(replace(request, channel=channel), history, holds, consent, rulebook, now)
    return now if d.outcome != "block" else d.earliest_allowed_at
