from datetime import date, datetime, time, timedelta, timezone
from zoneinfo import ZoneInfo

from tenants.conduct.engine import Consent, ContactRequest, Hold, PastAttempt, decide
from tenants.conduct.presets import preset
from tenants.conduct.rulebook import tighten

LON, KOL, DUB = ZoneInfo("Europe/London"), ZoneInfo("Asia/Kolkata"), ZoneInfo("Europe/Dublin")
UTC = timezone.utc
UK, IN, IE = preset("uk"), preset("in"), preset("ie")


def req(zone, **kw):
    base = dict(channel="call", debt_id="d1", subject_key="p1", number_key="n1", time_zones=(zone,))
    base.update(kw)
    return ContactRequest(**base)


def conv(at):
    return PastAttempt(at=at.astimezone(UTC), channel="call", debt_id="d1", subject_key="p1", number_key="n1",
                       connected=True, conversation=True)


# ---- UK ----
def test_uk_hours_default_window():
    """UK.HOURS — CONC 7.9.4R ✔: no contact at unreasonable times (default 08:00–21:00, configurable)."""
    r = req("Europe/London")
    assert decide(r, [], [], None, UK, datetime(2026, 12, 1, 20, 59, tzinfo=LON)).outcome == "allow"
    d = decide(r, [], [], None, UK, datetime(2026, 12, 1, 21, tzinfo=LON))
    assert d.outcome == "block" and d.earliest_allowed_at == datetime(2026, 12, 2, 8, tzinfo=LON)
    assert d.rulebook_version == "uk-2026.1"


def test_uk_breathing_space_and_dispute_pause():
    """UK.BREATHING — SI 2020/1311 ✔; UK.DISPUTE — CONC 7.14 ✔: collection paused while the hold is open."""
    now = datetime(2026, 12, 1, 12, tzinfo=LON)
    bs = Hold("breathing_space", "d1", now - timedelta(days=10), now - timedelta(days=10) + timedelta(days=60))
    d = decide(req("Europe/London"), [], [bs], None, UK, now)
    assert d.hits[0].rule_id == "UK.BREATHING" and d.earliest_allowed_at == bs.ends_at
    dispute = Hold("dispute", "d1", now - timedelta(days=1))
    d = decide(req("Europe/London"), [], [dispute], None, UK, now)
    assert d.hits[0].rule_id == "UK.DISPUTE" and d.earliest_allowed_at is None


def test_uk_visit_approval_dispute_and_vulnerable():
    """UK.VISIT — CONC 7.9.12R, 7.9.14R ✔: needs notice/consent (approval); never when disputed or vulnerable."""
    now = datetime(2026, 12, 1, 12, tzinfo=LON)
    v = req("Europe/London", channel="visit", staff_count=1)
    assert decide(v, [], [], None, UK, now).outcome == "needs_approval"
    assert decide(req("Europe/London", channel="visit", approved=True), [], [], None, UK, now).outcome == "allow"
    d = decide(req("Europe/London", channel="visit", approved=True), [], [Hold("dispute", "d1", now)], None, UK, now)
    assert d.outcome == "block" and {"UK.VISIT", "UK.DISPUTE"} <= {h.rule_id for h in d.hits}
    assert decide(req("Europe/London", channel="visit", approved=True, vulnerable=True), [], [], None, UK,
                  now).outcome == "block"


def test_uk_statute_barred():
    """UK.STATUTEBARRED — CONC 7.15 ✔: no legal steps on statute-barred debt."""
    now = datetime(2026, 12, 1, 12, tzinfo=LON)
    d = decide(req("Europe/London", channel="legal", limitation_date=date(2026, 6, 1)), [], [], None, UK, now)
    assert d.outcome == "block" and d.hits[0].rule_id == "UK.STATUTEBARRED"


# ---- IN ----
def test_in_hours_0800_to_1900():
    """IN.HOURS — RBI, Aug 2022 ◐: recovery calls only 08:00–19:00."""
    r = req("Asia/Kolkata")
    assert decide(r, [], [], None, IN, datetime(2026, 12, 1, 18, 59, tzinfo=KOL)).outcome == "allow"
    d = decide(r, [], [], None, IN, datetime(2026, 12, 1, 19, tzinfo=KOL))
    assert d.outcome == "block" and d.earliest_allowed_at == datetime(2026, 12, 2, 8, tzinfo=KOL)


def test_in_third_parties_blocked():
    """IN.3P — RBI ◐: no intrusion on family, referees or friends."""
    d = decide(req("Asia/Kolkata", target="third_party"), [], [], None, IN, datetime(2026, 12, 1, 12, tzinfo=KOL))
    assert d.outcome == "block" and d.hits[0].rule_id == "IN.3P"


# ---- IE ----
def test_ie_weekday_and_saturday_hours_no_sunday():
    """IE.HOURS — Consumer Credit Act 1995 s.46 ✔: 09:00–21:00, none on Sundays (2026-12-06 is a Sunday)."""
    r = req("Europe/Dublin")
    assert decide(r, [], [], None, IE, datetime(2026, 12, 5, 10, tzinfo=DUB)).outcome == "allow"  # Saturday
    d = decide(r, [], [], None, IE, datetime(2026, 12, 5, 21, tzinfo=DUB))
    assert d.outcome == "block" and d.earliest_allowed_at == datetime(2026, 12, 7, 9, tzinfo=DUB)  # Monday
    d = decide(r, [], [], None, IE, datetime(2026, 12, 6, 12, tzinfo=DUB))
    assert d.outcome == "block" and "Sundays" in d.hits[0].message_en
    assert decide(req("Europe/Dublin", channel="letter"), [], [], None, IE,
                  datetime(2026, 12, 6, 12, tzinfo=DUB)).outcome == "allow"


def test_ie_public_holidays_come_from_the_calendar_and_the_next_time_skips_them():
    """IE.HOURS — Consumer Credit Act 1995 s.46 ✔: none on public holidays. Ireland's come from the `holidays`
    package: no call on St Patrick's Day; after 21:00 on Christmas Eve the next time skips Christmas Day, St
    Stephen's Day and the Sunday after to Monday 28 December 09:00."""
    r = req("Europe/Dublin")
    d = decide(r, [], [], None, IE, datetime(2026, 3, 17, 12, tzinfo=DUB))
    assert d.outcome == "block" and "public holidays" in d.hits[0].message_en
    assert d.earliest_allowed_at == datetime(2026, 3, 18, 9, tzinfo=DUB)
    d = decide(r, [], [], None, IE, datetime(2026, 12, 24, 21, tzinfo=DUB))
    assert d.earliest_allowed_at == datetime(2026, 12, 28, 9, tzinfo=DUB)


def test_ie_a_lender_closes_further_days():
    """IE.HOURS — Consumer Credit Act 1995 s.46 ✔ tightened by a lender (a company holiday on 29 December)."""
    ie = tighten(IE, {"IE.HOURS": {"public_holidays": {date(2026, 12, 29)}}})
    d = decide(req("Europe/Dublin"), [], [], None, ie, datetime(2026, 12, 28, 21, tzinfo=DUB))
    assert d.earliest_allowed_at == datetime(2026, 12, 30, 9, tzinfo=DUB) and "+lender:" in d.rulebook_version


def test_ie_monthly_cap_across_month_boundary():
    """IE.MONTHLY — Central Bank CPC 2012 ◐: at most 3 unsolicited successful contacts per calendar month."""
    hist = [conv(datetime(2026, 11, 30, 20, tzinfo=DUB))] + \
           [conv(datetime(2026, 12, d, 12, tzinfo=DUB)) for d in (1, 2)]
    r = req("Europe/Dublin")
    assert decide(r, hist, [], None, IE, datetime(2026, 12, 3, 12, tzinfo=DUB)).outcome == "allow"  # Nov not counted
    hist.append(conv(datetime(2026, 12, 3, 12, tzinfo=DUB)))
    d = decide(r, hist, [], None, IE, datetime(2026, 12, 4, 12, tzinfo=DUB))
    assert d.outcome == "block" and d.hits[0].rule_id == "IE.MONTHLY"
    assert d.hits[0].earliest_allowed_at == datetime(2027, 1, 1, 0, tzinfo=DUB)
    # 1 Jan is New Year's Day (a public holiday, Consumer Credit Act 1995 s.46): Saturday 2 Jan at 09:00
    assert d.earliest_allowed_at == datetime(2027, 1, 2, 9, tzinfo=DUB)
    assert decide(r, hist, [], None, IE, datetime(2027, 1, 2, 9, tzinfo=DUB)).outcome == "allow"
    assert decide(req("Europe/Dublin", debt_id="d2"), hist, [], None, IE,
                  datetime(2026, 12, 4, 12, tzinfo=DUB)).outcome == "allow"  # per_debt


def test_ie_agreed_hours_past_midnight_stop_when_sunday_begins():
    """IE.HOURS — Consumer Credit Act 1995 s.46 ✔: none on Sundays, even inside hours the debtor agreed that run
    past midnight from Saturday: 01:00 on Sunday is Sunday; the next time is Monday at 20:00, when they open."""
    late = Consent(agreed_hours=(time(20), time(2)))
    r = req("Europe/Dublin")
    assert decide(r, [], [], late, IE, datetime(2026, 12, 5, 23, tzinfo=DUB)).outcome == "allow"  # Saturday
    d = decide(r, [], [], late, IE, datetime(2026, 12, 6, 1, tzinfo=DUB))
    assert d.outcome == "block" and d.earliest_allowed_at == datetime(2026, 12, 7, 20, tzinfo=DUB)
