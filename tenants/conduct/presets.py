"""Platform baseline rulebooks per jurisdiction, transcribed from CONDUCT_RULES.md.

Every rule of the regulations is present. ``enforced=False`` marks rules carried as data only (content checks,
timers, or inputs the request model does not capture yet). Parameter confidence follows the document's markers
(✔ official, ◐ secondary, ✖ unverified); non-official parameters are ``flagged``.
"""
from __future__ import annotations

from dataclasses import replace
from datetime import date, time
from functools import cache

from .rulebook import Param, Rule, Rulebook

OFF, SEC, UNV = "official", "secondary", "unverified"
LENDER_MANAGER = "lender_manager"
TIMED = frozenset({"call", "sms", "email", "visit"})
ALL_CHANNELS = frozenset({"call", "sms", "email", "letter", "visit", "legal"})


def _hours(start: time, end: time, channels=TIMED, conf=OFF, **extra) -> dict[str, Param]:
    ps = {
        "start": Param(start, "later", conf),
        "end": Param(end, "earlier", conf),
        "channels": Param(frozenset(channels), "superset", conf),
        "honour_agreed_hours": Param(True, "false", conf, "debtor-agreed hours replace the window"),
    }
    ps.update(extra)
    return ps


def _platform_holds(prefix_map: dict[str, str]) -> tuple[tuple[Rule, ...], dict[str, str]]:
    """Generic hold rules (HOLD.<TYPE>) for hold types the jurisdiction's own rules do not name."""
    rules, mapping = [], {}
    for t in ("dispute", "cease", "attorney", "bankruptcy", "deceased", "breathing_space", "hardship", "plan"):
        if t in prefix_map:
            mapping[t] = prefix_map[t]
            continue
        rid = f"HOLD.{t.upper()}"
        action = "BLOCK" if t == "attorney" else "PAUSE"
        rules.append(Rule(rid, f"Platform hold '{t}': collection paused on the account except allow-listed messages"
                          + ("; contact the attorney only" if t == "attorney" else ""),
                          action, "Platform policy (CONDUCT_RULES.md, Engine semantics: Holds)", OFF))
        mapping[t] = rid
    optout = Rule("PLATFORM.OPTOUT", "A channel the debtor opted out of stays blocked", "BLOCK",
                  "Platform policy (CONDUCT_RULES.md, Data: per-channel consent and opt-outs)", OFF)
    return tuple(rules) + (optout,), mapping


def cn() -> Rulebook:
    rules = (
        Rule("CN.HOURS", "No collection (calls, messages, visits) 22:00–08:00 unless the debtor agreed other times",
             "BLOCK", "GB/T 45251-2025 ◐; CBA 2026 ◐", SEC,
             _hours(time(8), time(22), conf=SEC,
                    working_days_only=Param(False, "true", SEC, "a lender's term: only on China's working days "
                                            "(statutory holidays closed, adjusted working days open)"))),
        Rule("CN.CALLS.CONNECTED",
             "At most 3 connected collection calls per day per debtor, across lender and agencies",
             "BLOCK", "GB/T 45251-2025 ◐", SEC, {"max": Param(3, "lower", SEC)}, scope="per_person"),
        Rule("CN.CALLS.ATTEMPTS", "At most 6 unanswered attempts per day to the same number",
             "BLOCK", "CBA 2026 ◐", SEC, {"max": Param(6, "lower", SEC)}, scope="per_number"),
        Rule("CN.3P.TARGET",
             "Collect only from the debtor (guarantor as contract allows); never from contacts (联系人)",
             "BLOCK", "GB/T 45251 ◐", SEC),
        Rule("CN.3P.UNREACHABLE", "An unrelated third party only when the debtor is unreachable (number invalid, 3 "
             "consecutive failed calls from the next day, or 3 days unreachable); only to locate or pass a message",
             "BLOCK", "CBA 2026 ◐", SEC,
             {"failed_calls": Param(3, "higher", SEC), "unreachable_days": Param(3, "higher", SEC),
              "purposes": Param(frozenset({"locate", "pass_message"}), "fixed", SEC)}),
        Rule("CN.3P.CONTENT", "Never disclose amount or overdue status to third parties", "CONTENT", "GB/T 45251 ◐",
             SEC),
        Rule("CN.VISIT", "At least 2 collectors per visit; no entry without consent; lender approval", "APPROVE",
             "CBA 2026 Art. 22 ◐", SEC, {"min_staff": Param(2, "higher", SEC)}, approver_role=LENDER_MANAGER),
        Rule("CN.PROHIBITED", "No impersonation, threats, insults, fake blacklists, exaggerated consequences, extra "
             "fees, public notices, private phones/apps", "CONTENT",
             "CBA 2026 ◐; Criminal Law Art. 293-1 ✔", SEC, {"template_approval": Param(True, "true", SEC)},
             enforced=False),
        Rule("CN.PLAN.PAUSE", "A signed individual instalment plan stops collection unless it is breached", "PAUSE",
             "Credit-card rules 2011 Art. 70 ◐", SEC, {"max_plan_years": Param(5, "fixed", SEC)}),
        Rule("CN.RECORDING", "Record every collection contact; keep at least 2 years", "TIMER",
             "GB/T 45251 ◐; credit-card rules Art. 68 ◐", SEC, {"retention_years": Param(2, "higher", SEC)},
             enforced=False),
        Rule("CN.OUTSOURCE.NOTICE", "Tell the debtor before handing collection to an agency", "APPROVE",
             "CBIRC Order 2022 No. 9 ◐", SEC, approver_role=LENDER_MANAGER),
        Rule("CN.AGENCY.REVIEW", "Evaluate each agency at least yearly and before contract expiry", "TIMER",
             "GB/T 45251 ◐", SEC, {"interval_years": Param(1, "lower", SEC)}, enforced=False),
    )
    extra, holds = _platform_holds({"plan": "CN.PLAN.PAUSE"})
    return Rulebook("cn", "cn-2026.1", rules + extra, ("Asia/Shanghai",), holds)


def us() -> Rulebook:
    rules = (
        Rule("US.HOURS", "No communication before 08:00 or after 21:00 consumer local time; consumer-designated times "
             "override; unknown zone → overlap of all candidate zones", "BLOCK", "12 CFR 1006.6(b)(1)(i) ✔", OFF,
             _hours(time(8), time(21))),
        Rule("US.INCONVENIENT", "A time, place or medium the consumer called inconvenient stays blocked until revoked",
             "BLOCK", "12 CFR 1006.6(b)(1), 1006.14(h) ✔", OFF),
        Rule("US.WORKPLACE", "No contact at work when the employer prohibits it", "BLOCK", "12 CFR 1006.6(b)(3) ✔",
             OFF, enforced=False),
        Rule("US.ATTORNEY", "Represented consumer → contact the attorney only (unless no response within a "
             "tenant-set period, or consent)", "BLOCK", "12 CFR 1006.6(b)(2) ✔", OFF,
             {"response_period_days": Param(None, "fixed", OFF, "tenant-set; not evaluated")}),
        Rule("US.CEASE", "Written refusal or cease request → only notices that efforts end or a specific remedy",
             "PAUSE", "12 CFR 1006.6(c) ✔", OFF, scope="per_debt"),
        Rule("US.7IN7", "More than 7 calls in 7 consecutive days, or any call within 7 days after a telephone "
             "conversation, about a debt (override only with recorded prior consent, valid ≤ 7 days)", "BLOCK",
             "12 CFR 1006.14(b)(2) ✔", OFF,
             {"max_calls": Param(7, "lower", OFF),
              "window_days": Param(7, "higher", OFF, "consecutive calendar days, the day of a call being day 1"),
              "quiet_days": Param(7, "higher", OFF, "calendar days, the day of the conversation being day 1"),
              "consent_max_days": Param(7, "lower", OFF)},
             scope="per_debt"),
        Rule("US.EOPTOUT", "Every email/SMS carries a clear, free opt-out; an opt-out blocks that address",
             "CONTENT+BLOCK", "12 CFR 1006.6(e) ✔", OFF),
        Rule("US.SOCIAL", "No messages visible to the public or the consumer's social contacts", "BLOCK",
             "12 CFR 1006.22(f)(4) ✔", OFF, enforced=False),
        Rule("US.3P", "Third parties only for location information, once per person unless asked, never mentioning "
             "the debt", "BLOCK", "12 CFR 1006.10(b), 1006.6(d) ✔", OFF,
             {"max_per_third_party": Param(1, "lower", OFF)}),
        Rule("US.DISCLOSURE", "First communication says it is an attempt to collect a debt; later ones that it is "
             "from a debt collector", "CONTENT", "12 CFR 1006.18(e) ✔", OFF, enforced=False),
        # Beyond the anchor table: message templates are checked for threats and false authority in every market.
        Rule("US.MISREP", "No false, deceptive or misleading representations: threats of arrest or of action not "
             "intended, false authority", "CONTENT", "12 CFR 1006.18(b)-(c) ✔", OFF, enforced=False),
        Rule("US.VALIDATION", "Validation notice within 5 days of first communication; a dispute within the "
             "validation period pauses collection until verification is sent", "TIMER+PAUSE",
             "12 CFR 1006.34 ✔, 1006.38 ✔", OFF,
             {"notice_days": Param(5, "lower", OFF), "period_days": Param(30, "higher", OFF)}),
        Rule("US.TIMEBARRED", "No suit or threat of suit on a time-barred debt", "BLOCK", "12 CFR 1006.26(b) ✔", OFF),
        Rule("US.RETENTION", "Keep records 3 years after last activity; recordings 3 years after each call", "TIMER",
             "12 CFR 1006.100 ✔", OFF, {"years": Param(3, "higher", OFF)}, enforced=False),
    )
    extra, holds = _platform_holds({"cease": "US.CEASE", "attorney": "US.ATTORNEY", "dispute": "US.VALIDATION"})
    zones = ("America/New_York", "America/Chicago", "America/Denver", "America/Phoenix", "America/Los_Angeles",
             "America/Anchorage", "Pacific/Honolulu")
    return Rulebook("us", "us-2026.1", rules + extra, zones, holds)


def uk() -> Rulebook:
    rules = (
        Rule("UK.HOURS", "No contact at unreasonable times; honour requested times (default 08:00–21:00)", "BLOCK",
             "CONC 7.9.4R ✔", OFF,
             _hours(time(8), time(21), conf=UNV)),  # CONC sets no numbers: the 08–21 default is unverified
        Rule("UK.BREATHING", "Breathing space: no contact to demand payment, no enforcement", "PAUSE",
             "SI 2020/1311 ✔", OFF, {"standard_days": Param(60, "higher", OFF),
                                     "mental_health_extra_days": Param(30, "higher", OFF)}),
        Rule("UK.DISPUTE", "Suspend recovery while a dispute on valid grounds is open", "PAUSE", "CONC 7.14 ✔", OFF),
        Rule("UK.VISIT", "Visits need notice and consent of place; never to a known vulnerable person; not when "
             "disputed", "APPROVE+BLOCK", "CONC 7.9.12R, 7.9.14R ✔", OFF, approver_role=LENDER_MANAGER),
        Rule("UK.FORBEARANCE", "Open repayment proposal → no escalation without approval", "APPROVE",
             "CONC 7.3.4R ✔", OFF, enforced=False, approver_role=LENDER_MANAGER),
        Rule("UK.STATUTEBARRED", "No legal steps on statute-barred debt", "BLOCK", "CONC 7.15 ✔", OFF,
             {"years": Param(6, "fixed", OFF, "5 in Scotland; the caller supplies limitation_date")}),
        Rule("UK.PRESSURE", "No pressure to pay in unreasonably large sums; no false authority or threats (MISREP)",
             "CONTENT", "CONC 7.3.10R, 7.11 ✔", OFF, enforced=False),
    )
    extra, holds = _platform_holds({"dispute": "UK.DISPUTE", "breathing_space": "UK.BREATHING"})
    return Rulebook("uk", "uk-2026.1", rules + extra, ("Europe/London",), holds)


def in_() -> Rulebook:
    rules = (
        Rule("IN.HOURS", "Recovery calls only 08:00–19:00", "BLOCK", "RBI, Aug 2022 ◐", SEC,
             _hours(time(8), time(19), channels={"call", "visit"}, conf=SEC)),
        Rule("IN.3P", "No intrusion on family, referees or friends", "BLOCK", "RBI ◐", SEC),
    )
    extra, holds = _platform_holds({})
    return Rulebook("in", "in-2026.1", rules + extra, ("Asia/Kolkata",), holds)


def ie() -> Rulebook:
    rules = (
        Rule("IE.HOURS", "No calls or visits 21:00–09:00 weekdays, none on Sundays or public holidays, without "
             "consent", "BLOCK", "Consumer Credit Act 1995 s.46 ✔", OFF,
             _hours(time(9), time(21), channels={"call", "visit"},
                    days_off=Param(frozenset({6}), "superset", OFF, "weekday numbers, Monday=0; Sunday=6"),
                    holiday_calendar=Param("IE", "fixed", OFF, "Ireland's public holidays (holidays package)"),
                    public_holidays=Param(frozenset(), "superset", OFF, "further dates a lender closes", of=date))),
        Rule("IE.MONTHLY", "At most 3 unsolicited successful contacts per calendar month", "BLOCK",
             "Central Bank CPC 2012 ◐", SEC,
             {"max": Param(3, "lower", SEC), "channels": Param(frozenset({"call", "visit"}), "superset", SEC)},
             scope="per_debt"),
    )
    extra, holds = _platform_holds({})
    return Rulebook("ie", "ie-2026.1", rules + extra, ("Europe/Dublin",), holds)


PRESETS = {"cn": cn, "us": us, "uk": uk, "in": in_, "ie": ie}

TERMS_UNREADABLE = Rule("PLATFORM.TERMS", "A placement whose conduct terms cannot be read allows no contact until "
                        "the lender corrects them (never the looser baseline)", "BLOCK",
                        "Platform policy (CONDUCT_RULES.md, Composition: lenders may only tighten)", OFF)


def terms_unreadable(book: Rulebook) -> Rulebook:
    """`book` with every contact refused: for a placement whose stored terms cannot be read."""
    return replace(book, rules=book.rules + (TERMS_UNREADABLE,), version=f"{book.version}+terms-unreadable")


@cache  # asked on every contact decision; a rulebook is frozen, so one per code serves every caller
def preset(code: str) -> Rulebook:
    """The platform baseline rulebook for a jurisdiction code (cn, us, uk, in, ie)."""
    try:
        return PRESETS[code]()
    except KeyError:
        raise ValueError(f"unknown preset {code!r}") from None
