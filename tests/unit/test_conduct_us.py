from datetime import date, datetime, time, timedelta, timezone
from zoneinfo import ZoneInfo

from tenants.conduct.engine import Consent, ContactRequest, Hold, PastAttempt, decide, next_permitted
from tenants.conduct.presets import preset

NY = ZoneInfo("America/New_York")
UTC = timezone.utc
US = preset("us")


def ny(*a):
    return datetime(*a, tzinfo=NY)


def utc(*a):
    return datetime(*a, tzinfo=UTC)


def req(**kw):
    base = dict(channel="call", debt_id="d1", subject_key="p1", number_key="n1", time_zones=("America/New_York",))
    base.update(kw)
    return ContactRequest(**base)


def past(at, **kw):
    base = dict(channel="call", debt_id="d1", subject_key="p1", number_key="n1")
    base.update(kw)
    return PastAttempt(at=at.astimezone(UTC), **base)


def test_hours_0800_to_2100_half_open():
    """US.HOURS — 12 CFR 1006.6(b)(1)(i) ✔: not before 08:00 or after 21:00 consumer local time."""
    assert decide(req(), [], [], None, US, ny(2026, 12, 1, 7, 59)).outcome == "block"
    assert decide(req(), [], [], None, US, ny(2026, 12, 1, 8, 0)).outcome == "allow"
    assert decide(req(), [], [], None, US, ny(2026, 12, 1, 20, 59)).outcome == "allow"
    d = decide(req(), [], [], None, US, ny(2026, 12, 1, 21, 0))
    assert d.outcome == "block" and d.earliest_allowed_at == ny(2026, 12, 2, 8)
    assert "08:00 America/New_York (2026-12-02 08:00)" in d.hits[0].message_en


def test_several_candidate_zones_only_overlap_allowed():
    """US.HOURS — 12 CFR 1006.6(b)(1)(i) ✔: unknown zone → only times convenient in all candidate zones.
    New York + Los Angeles: 08:00 LA = 11:00 NY; 21:00 NY = 18:00 LA → allowed 11:00–21:00 New York time."""
    two = req(time_zones=("America/New_York", "America/Los_Angeles"))
    d = decide(two, [], [], None, US, ny(2026, 12, 1, 10, 59))
    assert d.outcome == "block" and d.earliest_allowed_at == ny(2026, 12, 1, 11, 0)
    assert decide(two, [], [], None, US, ny(2026, 12, 1, 11, 0)).outcome == "allow"
    assert decide(two, [], [], None, US, ny(2026, 12, 1, 20, 59)).outcome == "allow"
    d = decide(two, [], [], None, US, ny(2026, 12, 1, 21, 0))
    assert d.earliest_allowed_at == ny(2026, 12, 2, 11, 0)


def test_no_zone_uses_all_us_default_zones():
    """US.HOURS — 12 CFR 1006.6(b)(1)(i) ✔: zone unknown → overlap of the rulebook's candidate US zones."""
    d = decide(req(time_zones=()), [], [], None, US, ny(2026, 12, 1, 9))
    assert d.outcome == "block"
    # Honolulu (UTC-10) opens at 08:00 = 13:00 New York (EST)
    assert d.earliest_allowed_at == ny(2026, 12, 1, 13, 0)


def test_dst_spring_forward_day_new_york():
    """US.HOURS — 12 CFR 1006.6(b)(1)(i) ✔ with DST: on 2026-03-08 08:00 EDT is 12:00 UTC (the day before, 13:00)."""
    d = decide(req(), [], [], None, US, utc(2026, 3, 8, 7, 30))  # 03:30 EDT, after the 02:00→03:00 jump
    assert d.outcome == "block" and d.earliest_allowed_at == utc(2026, 3, 8, 12, 0)
    assert decide(req(), [], [], None, US, utc(2026, 3, 8, 11, 59)).outcome == "block"
    assert decide(req(), [], [], None, US, utc(2026, 3, 8, 12, 0)).outcome == "allow"
    assert decide(req(), [], [], None, US, utc(2026, 3, 7, 12, 30)).outcome == "block"  # 07:30 EST
    assert decide(req(), [], [], None, US, utc(2026, 3, 9, 0, 59)).outcome == "allow"  # 20:59 EDT
    assert decide(req(), [], [], None, US, utc(2026, 3, 9, 1, 0)).outcome == "block"  # 21:00 EDT


def test_dst_fall_back_day_new_york():
    """US.HOURS — 12 CFR 1006.6(b)(1)(i) ✔ with DST: 2026-11-01 falls back; 08:00 EST = 13:00 UTC."""
    d = decide(req(), [], [], None, US, utc(2026, 11, 1, 1, 0))  # 21:00 EDT Oct 31
    assert d.earliest_allowed_at == utc(2026, 11, 1, 13, 0)
    assert decide(req(), [], [], None, US, utc(2026, 11, 1, 12, 30)).outcome == "block"  # 07:30 EST
    assert decide(req(), [], [], None, US, utc(2026, 11, 2, 1, 59)).outcome == "allow"  # 20:59 EST
    assert decide(req(), [], [], None, US, utc(2026, 11, 2, 2, 0)).outcome == "block"  # 21:00 EST


def test_designated_and_inconvenient_times():
    """US.HOURS / US.INCONVENIENT — 12 CFR 1006.6(b)(1) ✔, 1006.14(h) ✔: consumer-designated and inconvenient times."""
    c = Consent(inconvenient_windows=((time(12), time(14)),))
    d = decide(req(), [], [], c, US, ny(2026, 12, 1, 12, 30))
    assert d.outcome == "block" and d.hits[0].rule_id == "US.INCONVENIENT"
    assert d.earliest_allowed_at == ny(2026, 12, 1, 14)
    night = Consent(inconvenient_windows=((time(20), time(9)),))  # wraps midnight
    d = decide(req(), [], [], night, US, ny(2026, 12, 1, 20, 30))
    assert d.earliest_allowed_at == ny(2026, 12, 2, 9)
    assert decide(req(), [], [], Consent(agreed_hours=(time(21), time(22))), US,
                  ny(2026, 12, 1, 21, 30)).outcome == "allow"
    d = decide(req(), [], [], Consent(opted_out_channels={"call"}), US, ny(2026, 12, 1, 12))
    assert d.hits[0].rule_id == "US.INCONVENIENT" and d.earliest_allowed_at is None


def test_seven_calls_in_seven_consecutive_calendar_days_the_day_of_a_call_being_day_1():
    """US.7IN7 — 12 CFR 1006.14(b)(2)(i)(A) ✔: more than 7 calls within 7 consecutive days; the days are calendar
    dates in the consumer's zone, the day of the first call being day 1 (CONDUCT_RULES "How days … are counted")."""
    first = ny(2026, 12, 7, 10)
    hist = [past(first + timedelta(hours=3 * i)) for i in range(3)] + \
           [past(first + timedelta(days=1, hours=3 * i)) for i in range(4)]
    assert len(hist) == 7
    d = decide(req(), hist, [], None, US, ny(2026, 12, 13, 20, 59))  # day 7 of the first call's week
    assert d.outcome == "block" and d.hits[0].rule_id == "US.7IN7"
    assert d.earliest_allowed_at == ny(2026, 12, 14, 8)  # day 8 begins at midnight; US.HOURS opens it at 08:00
    assert decide(req(), hist, [], None, US, ny(2026, 12, 14, 8)).outcome == "allow"  # < 7×24 h after the first
    assert decide(req(debt_id="d2"), hist, [], None, US, first + timedelta(days=2)).outcome == "allow"  # per_debt
    pending = hist[:6] + [past(first + timedelta(days=2), pending=True)]
    assert decide(req(), pending, [], None, US, first + timedelta(days=3)).outcome == "block"


def test_a_week_of_quiet_after_a_conversation_counts_its_day_as_day_1_and_consent_lifts_it():
    """US.7IN7 — 12 CFR 1006.14(b)(2)(i)(B), (b)(3) ✔: no call within 7 consecutive days after a telephone
    conversation, the day of the conversation being day 1: after one at 20:00 on day 1 a call at 10:00 on day 8
    goes ahead (168 rolling hours would have refused it until 20:00). Prior consent given within the last 7 days
    lifts it."""
    conv = ny(2026, 12, 7, 20)
    hist = [past(conv, connected=True, conversation=True)]
    d = decide(req(), hist, [], None, US, ny(2026, 12, 13, 20, 30))
    assert d.outcome == "block" and d.earliest_allowed_at == ny(2026, 12, 14, 8)
    assert decide(req(), hist, [], None, US, ny(2026, 12, 14, 10)).outcome == "allow"
    now = ny(2026, 12, 9, 12)
    ok = req(consent_after_conversation_until=now + timedelta(days=3))
    d = decide(ok, hist, [], None, US, now)
    assert d.outcome == "allow_with_warnings" and d.hits[0].action == "WARN"
    too_long = req(consent_after_conversation_until=now + timedelta(days=8))
    assert decide(too_long, hist, [], None, US, now).outcome == "block"


def test_a_call_without_a_recorded_outcome_may_have_been_a_conversation():
    """US.7IN7 — 12 CFR 1006.14(b)(2)(i)(B) ✔ with CONDUCT_RULES "an unanswered question counts against the
    caller": until its outcome is recorded, a call starts the quiet week as a conversation would."""
    waiting = [past(ny(2026, 12, 7, 10), pending=True)]
    d = decide(req(), waiting, [], None, US, ny(2026, 12, 8, 10))
    assert d.outcome == "block" and d.earliest_allowed_at == ny(2026, 12, 14, 8)
    assert decide(req(), [past(ny(2026, 12, 7, 10))], [], None, US, ny(2026, 12, 8, 10)).outcome == "allow"


def test_the_calendar_week_is_counted_in_every_candidate_zone():
    """US.7IN7 — 12 CFR 1006.14(b)(2)(i) ✔, with two candidate zones (the consumer may be in either, §1006.14(b)(3)
    reads days in the consumer's location): a conversation at 01:30 on Dec 8 in New York is 22:30 on Dec 7 in
    Los Angeles; the quiet week ends when it has ended in both — New York's day 8, Dec 15."""
    zones = ("America/New_York", "America/Los_Angeles")
    hist = [past(ny(2026, 12, 8, 1, 30), connected=True, conversation=True)]
    d = decide(req(time_zones=zones), hist, [], None, US, ny(2026, 12, 14, 12))  # day 8 in LA, day 7 in NY
    assert d.outcome == "block" and d.hits[0].rule_id == "US.7IN7"
    la_opens = datetime(2026, 12, 15, 8, tzinfo=ZoneInfo("America/Los_Angeles"))  # both zones' hours open
    assert d.earliest_allowed_at == la_opens


def test_cease_and_attorney_holds():
    """US.CEASE — 12 CFR 1006.6(c) ✔; US.ATTORNEY — 12 CFR 1006.6(b)(2) ✔."""
    cease = Hold("cease", "d1", ny(2026, 11, 1), allow={"notice_collection_stops"})
    d = decide(req(), [], [cease], None, US, ny(2026, 12, 1, 12))
    assert d.outcome == "block" and d.hits[0].rule_id == "US.CEASE" and d.earliest_allowed_at is None
    notice = req(channel="letter", message_kind="notice_collection_stops")
    assert decide(notice, [], [cease], None, US, ny(2026, 12, 1, 12)).outcome == "allow"
    att = Hold("attorney", "d1", ny(2026, 11, 1))
    d = decide(req(), [], [att], None, US, ny(2026, 12, 1, 12))
    assert d.outcome == "block" and d.hits[0].rule_id == "US.ATTORNEY"
    assert decide(req(target="attorney"), [], [att], None, US, ny(2026, 12, 1, 12)).outcome == "allow"


def test_dispute_hold_with_end_gives_earliest_time():
    """US.VALIDATION — 12 CFR 1006.38 ✔: a dispute pauses collection until verification (hold end)."""
    h = Hold("dispute", "d1", ny(2026, 11, 1), ny(2026, 12, 3, 9, 30))
    d = decide(req(), [], [h], None, US, ny(2026, 12, 1, 12))
    assert d.hits[0].rule_id == "US.VALIDATION" and d.earliest_allowed_at == ny(2026, 12, 3, 9, 30)
    assert next_permitted("call", req(), [], [h], None, US, ny(2026, 12, 1, 12)) == ny(2026, 12, 3, 9, 30)


def test_time_barred_legal_steps_blocked():
    """US.TIMEBARRED — 12 CFR 1006.26(b) ✔: no suit or threat of suit on a time-barred debt."""
    legal = req(channel="legal", limitation_date=date(2026, 12, 1))
    d = decide(legal, [], [], None, US, ny(2026, 12, 1, 0, 30))
    assert d.outcome == "block" and d.hits[0].rule_id == "US.TIMEBARRED" and d.earliest_allowed_at is None
    assert decide(legal, [], [], None, US, ny(2026, 11, 30, 23, 59)).outcome == "allow"
    assert decide(req(channel="letter", limitation_date=date(2020, 1, 1)), [], [], None, US,
                  ny(2026, 12, 1, 12)).outcome == "allow"


def test_email_opt_out_blocks_that_channel_only():
    """US.EOPTOUT — 12 CFR 1006.6(e) ✔: an opt-out blocks that address."""
    c = Consent(opted_out_channels={"email"})
    d = decide(req(channel="email"), [], [], c, US, ny(2026, 12, 1, 12))
    assert d.outcome == "block" and d.hits[0].rule_id == "US.EOPTOUT"
    assert decide(req(channel="sms"), [], [], c, US, ny(2026, 12, 1, 12)).outcome == "allow"


def test_third_party_location_only_once():
    """US.3P — 12 CFR 1006.10(b), 1006.6(d) ✔: third parties only for location information, once per person."""
    tp = req(target="third_party", third_party_id="t1", purpose="locate")
    d = decide(tp, [], [], None, US, ny(2026, 12, 1, 12))
    assert d.outcome == "allow_with_warnings" and d.hits[0].action == "CONTENT"
    hist = [past(ny(2026, 11, 20, 12), target="third_party", third_party_id="t1")]
    assert decide(tp, hist, [], None, US, ny(2026, 12, 1, 12)).outcome == "block"
    assert decide(req(target="third_party", third_party_id="t2"), [], [], None, US,
                  ny(2026, 12, 1, 12)).outcome == "block"  # purpose collect
