"""Properties of the conduct engine over random histories, zones and instants, for every preset rulebook.

(a) An attempt the engine lets through never breaks a cap or window of its rulebook, judged by the simple oracle
    below, which counts straight from the regulations' wording (CONDUCT_RULES.md) and shares no code with the
    engine.
(b) A refusal's ``earliest_allowed_at`` is a time at which, nothing else changing, no BLOCK/PAUSE rule refuses.
(c) ``decide`` (and ``next_permitted``) never raise for any request the API accepts, and answer coherently.

Instants lie on a 15-minute grid within ten days of a DST change (US and EU, spring and autumn) or of a month
end, so window edges, local midnights and skipped or repeated hours are hit; histories cover the 40 days before.
"""
from datetime import date, datetime, time, timedelta, timezone
from zoneinfo import ZoneInfo

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tenants.conduct.engine import (
    CHANNELS,
    HOLD_TYPES,
    TARGETS,
    Consent,
    ContactRequest,
    Hold,
    PastAttempt,
    decide,
    next_permitted,
)
from tenants.conduct.presets import PRESETS, preset

UTC = timezone.utc
ZONES = ("Asia/Shanghai", "America/New_York", "America/Los_Angeles", "Europe/London", "Europe/Dublin",
         "Asia/Kolkata")
ANCHORS = tuple(datetime(*a, tzinfo=UTC) for a in [
    (2026, 3, 8, 10),    # US spring forward (02:00 → 03:00 New York, 10:00 UTC = 02:00 Los Angeles)
    (2026, 3, 29, 1),    # EU spring forward (01:00 UTC)
    (2026, 10, 25, 1),   # EU fall back
    (2026, 11, 1, 6),    # US fall back
    (2026, 12, 31, 23),  # month and year end
    (2026, 6, 30, 12),   # month end, no DST
])
QUARTER = timedelta(minutes=15)


def SWEEP(now):
    """The drawn instant and 27 more over the next two days, 1 h 45 min apart (every quarter of the day in turn):
    one history is judged across midnights and window edges, so fewer draws find more."""
    return [now + k * 7 * QUARTER for k in range(28)]
BOOKS = {code: preset(code) for code in PRESETS}
SETTINGS = settings(max_examples=200, deadline=None, derandomize=True, database=None,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])

# A debt belongs to one person; p1 has two debts, p2 one.
DEBTS = {"d1": "p1", "d2": "p1", "d3": "p2"}
OUTCOMES = {  # (connected, conversation, pending)
    "unanswered": (False, False, False),
    "connected": (True, False, False),
    "conversation": (True, True, False),
    "pending": (False, False, True),
}


def instants():
    return st.builds(lambda anchor, q: anchor + q * QUARTER, st.sampled_from(ANCHORS),
                     st.integers(-10 * 96, 10 * 96))


def candidate_zones():
    one = st.sampled_from(ZONES).map(lambda z: (z,))
    return st.one_of(one, one, one, st.lists(st.sampled_from(ZONES), min_size=2, max_size=2, unique=True).map(tuple),
                     st.just(()))


@st.composite
def histories(draw, now, coherent=True):
    """Attempts in the 40 days up to ``now``, most of them in the last nine so that caps and quiet periods bite."""
    out = []
    for _ in range(draw(st.integers(0, 12))):
        back = draw(st.one_of(st.integers(0, 9 * 96), st.integers(0, 9 * 96), st.integers(0, 40 * 96)))
        debt = draw(st.sampled_from(("d1", "d1", "d2", "d3")))
        channel = draw(st.sampled_from(("call", "call", "call", "call", "sms", "email", "visit")))
        if coherent:
            connected, conversation, pending = OUTCOMES[draw(st.sampled_from(sorted(OUTCOMES)))]
        else:
            connected, conversation, pending = draw(st.tuples(st.booleans(), st.booleans(), st.booleans()))
            back = draw(st.integers(-3 * 96, 40 * 96))  # even attempts dated after now (clock skew)
        target = draw(st.sampled_from(("debtor", "debtor", "debtor", "third_party")))
        out.append(PastAttempt(
            at=now - back * QUARTER, channel=channel, debt_id=debt, subject_key=DEBTS[debt],
            number_key=draw(st.sampled_from(("n1", "n1", "n2", None))), connected=connected,
            conversation=conversation, pending=pending, target=target,
            third_party_id="t1" if target == "third_party" else None))
    return out


@st.composite
def holds(draw, now):
    out = []
    for _ in range(draw(st.integers(0, 2))):
        start = now + draw(st.integers(-20 * 96, 2 * 96)) * QUARTER
        length = draw(st.one_of(st.none(), st.integers(1, 30 * 96)))
        end = None if length is None else start + length * QUARTER
        out.append(Hold(draw(st.sampled_from(HOLD_TYPES)), draw(st.sampled_from(("d1", "d2"))), start, end,
                        allow=draw(st.sets(st.sampled_from(("notice_collection_stops", "statement")), max_size=1))))
    return out


def clock_times():
    return st.builds(time, st.integers(0, 23), st.sampled_from((0, 15, 30, 45)))


def consents():
    windows = st.lists(st.tuples(clock_times(), clock_times()).filter(lambda w: w[0] != w[1]), max_size=2)
    return st.one_of(st.none(), st.builds(
        Consent, opted_out_channels=st.sets(st.sampled_from(CHANNELS), max_size=2), inconvenient_windows=windows,
        agreed_hours=st.one_of(st.none(), st.tuples(clock_times(), clock_times()).filter(lambda w: w[0] != w[1]))))


# ---- the oracle ---------------------------------------------------------------------------------------------------
def _zones(request, rb):
    return [ZoneInfo(z) for z in dict.fromkeys(request.time_zones)] or [ZoneInfo(z) for z in rb.default_zones]


def _enforced(rb, rule_id):
    return rb.has(rule_id) and rb.rule(rule_id).enforced


def _day(t, zone):
    return t.astimezone(zone).date()


def _inside(tod, start, end):
    return start <= tod < end if start < end else tod >= start or tod < end  # a window past midnight wraps


def broken_rules(request, history, rb, now, consent=None) -> list[str]:
    """The counting and time-of-day rules an attempt at ``now`` would break, straight from CONDUCT_RULES.md.

    Hours the debtor agreed replace a rule's window where the rule honours them. A pending attempt may have
    connected and may have been a conversation, so it counts as both until its outcome is recorded."""
    zones, broken = _zones(request, rb), []
    agreed = consent.agreed_hours if consent else None
    history = [h for h in history if h.at <= now]

    def answered(h):
        return h.connected or h.conversation or h.pending

    def spoke(h):
        return h.conversation or h.pending

    for rule in rb.rules:
        if not (rule.enforced and rule.id.endswith(".HOURS")) or request.channel not in rule.params["channels"].value:
            continue
        start, end = rule.params["start"].value, rule.params["end"].value
        if agreed and rule.params["honour_agreed_hours"].value:
            start, end = agreed
        days_off = rule.params["days_off"].value if "days_off" in rule.params else frozenset()
        holidays = rule.params["public_holidays"].value if "public_holidays" in rule.params else frozenset()
        for z in zones:
            local = now.astimezone(z)
            if not _inside(local.time(), start, end) or local.weekday() in days_off or local.date() in holidays:
                broken.append(f"{rule.id} in {z.key}")

    debtor_call = request.channel == "call" and request.target == "debtor"
    if _enforced(rb, "CN.CALLS.CONNECTED") and debtor_call:
        cap = rb.value("CN.CALLS.CONNECTED", "max")  # per person per debtor-local calendar day
        for z in zones:
            today = [h for h in history if h.subject_key == request.subject_key and h.channel == "call"
                     and h.target == "debtor" and answered(h) and _day(h.at, z) == _day(now, z)]
            if len(today) + 1 > cap:
                broken.append(f"CN.CALLS.CONNECTED in {z.key}")
    if _enforced(rb, "CN.CALLS.ATTEMPTS") and request.channel == "call" and request.number_key:
        cap = rb.value("CN.CALLS.ATTEMPTS", "max")  # unanswered attempts per number per local day
        for z in zones:
            today = [h for h in history if h.number_key == request.number_key and h.channel == "call"
                     and (not h.connected or h.pending) and _day(h.at, z) == _day(now, z)]
            if len(today) + 1 > cap:
                broken.append(f"CN.CALLS.ATTEMPTS in {z.key}")
    if _enforced(rb, "IE.MONTHLY") and request.target == "debtor" \
            and request.channel in rb.value("IE.MONTHLY", "channels"):
        cap, chans = rb.value("IE.MONTHLY", "max"), rb.value("IE.MONTHLY", "channels")
        for z in zones:
            month = [h for h in history if h.debt_id == request.debt_id and h.channel in chans
                     and h.target == "debtor" and spoke(h)
                     and _day(h.at, z).replace(day=1) == _day(now, z).replace(day=1)]
            if len(month) + 1 > cap:
                broken.append(f"IE.MONTHLY in {z.key}")
    if _enforced(rb, "US.7IN7") and debtor_call and request.consent_after_conversation_until is None:
        # 12 CFR 1006.14(b)(2)(i): "seven consecutive days" are calendar dates, the day of a call or of a
        # conversation being day 1 (official interpretation).
        cap = rb.value("US.7IN7", "max_calls")
        calls = [h for h in history if h.debt_id == request.debt_id and h.channel == "call"
                 and h.target == "debtor"]
        for z in zones:
            day = _day(now, z)
            for first in (day - timedelta(days=k) for k in range(7)):
                dates = {first + timedelta(days=k) for k in range(7)}
                if sum(1 for h in calls if _day(h.at, z) in dates) + 1 > cap:
                    broken.append(f"US.7IN7 cap in {z.key}")
                    break
            if any(0 <= (day - _day(h.at, z)).days < 7 for h in calls if spoke(h)):
                broken.append(f"US.7IN7 quiet in {z.key}")
    return broken


def requests(zones=None):
    return st.builds(
        ContactRequest, channel=st.sampled_from(("call",) * 6 + ("sms", "email", "visit", "letter")),
        debt_id=st.just("d1"), subject_key=st.just("p1"), number_key=st.sampled_from(("n1", "n2", None)),
        time_zones=zones if zones is not None else candidate_zones(), staff_count=st.integers(0, 3),
        approved=st.booleans())


# ---- (a) ----------------------------------------------------------------------------------------------------------
# Often the debtor agreed to calls round the clock (00:00–00:00 wraps to the whole day), so the hours windows step
# aside and the counting rules decide; sometimes to hours of their own within one day.
ROUND_THE_CLOCK = Consent(agreed_hours=(time(0), time(0)))
AGREED = st.one_of(st.none(), st.just(ROUND_THE_CLOCK), st.just(ROUND_THE_CLOCK), st.builds(
    lambda a, b: Consent(agreed_hours=(min(a, b), max(a, b))), clock_times(), clock_times()).filter(
    lambda c: c.agreed_hours[0] != c.agreed_hours[1]))


@SETTINGS
@given(st.data(), st.sampled_from(sorted(PRESETS)), instants(), requests(), AGREED)
def test_an_allowed_attempt_breaks_no_cap_or_window(data, code, now, request, consent):
    """CN.HOURS, US.HOURS, UK.HOURS, IN.HOURS, IE.HOURS (hours in every candidate zone), CN.CALLS.CONNECTED,
    CN.CALLS.ATTEMPTS (debtor-local calendar day), IE.MONTHLY (calendar month), US.7IN7 (7 calendar dates, the
    day of a conversation being day 1): whatever is let through stays inside them."""
    history = data.draw(histories(now))
    rb = BOOKS[code]
    for t in SWEEP(now):
        d = decide(request, history, [], consent, rb, t)
        if d.outcome != "block":
            assert broken_rules(request, history, rb, t, consent) == [], (t, d.outcome, d.hits)


def test_the_oracle_sees_what_it_is_meant_to_see():
    """US.7IN7 / CN.CALLS.CONNECTED: the oracle above refuses the plain cases (else (a) would prove nothing)."""
    now = datetime(2026, 12, 9, 15, tzinfo=UTC)  # 10:00 New York
    ask = ContactRequest("call", "d1", "p1", number_key="n1", time_zones=("America/New_York",))

    def call(days_back, **kw):
        return PastAttempt(at=now - timedelta(days=days_back), channel="call", debt_id="d1", subject_key="p1",
                           number_key="n1", **kw)

    us = BOOKS["us"]
    assert broken_rules(ask, [call(6, conversation=True, connected=True)], us, now) == \
        ["US.7IN7 quiet in America/New_York"]  # 6 dates back: still inside the 7 starting with its day
    assert broken_rules(ask, [call(7, conversation=True, connected=True)], us, now) == []
    assert broken_rules(ask, [call(1, pending=True)], us, now) == ["US.7IN7 quiet in America/New_York"]
    assert broken_rules(ask, [call(k) for k in range(7)], us, now) == ["US.7IN7 cap in America/New_York"]
    assert broken_rules(ask, [call(k + 1) for k in range(7)], us, now) == []  # today would be the 8th date
    cn = BOOKS["cn"]
    sh = ContactRequest("call", "d1", "p1", number_key="n1", time_zones=("Asia/Shanghai",))
    at = datetime(2026, 12, 9, 3, tzinfo=UTC)  # 11:00 Shanghai
    three = [PastAttempt(at - timedelta(hours=k), "call", f"d{k}", "p1", connected=True) for k in range(3)]
    assert broken_rules(sh, three, cn, at) == ["CN.CALLS.CONNECTED in Asia/Shanghai"]
    assert broken_rules(sh, three, cn, at + timedelta(hours=13)) == ["CN.HOURS in Asia/Shanghai"]  # next day


# ---- (b) ----------------------------------------------------------------------------------------------------------
@SETTINGS
@given(st.data(), st.sampled_from(sorted(PRESETS)), instants(), requests(), consents())
def test_a_refusal_is_lifted_at_its_earliest_allowed_time(data, code, now, request, consent):
    """Every BLOCK/PAUSE rule (hours, caps, quiet periods, holds, inconvenient times): at the refusal's
    `earliest_allowed_at`, with nothing else changed, none of them refuses any more — and a second earlier one
    still does (the collector is not kept waiting longer than the rules require)."""
    history, on_hold = data.draw(histories(now)), data.draw(holds(now))
    rb = BOOKS[code]
    d = decide(request, history, on_hold, consent, rb, now)
    if d.outcome != "block" or d.earliest_allowed_at is None:
        return
    assert d.earliest_allowed_at > now
    later = decide(request, history, on_hold, consent, rb, d.earliest_allowed_at)
    assert later.blocking == (), (d.hits, later.hits)
    just_before = d.earliest_allowed_at - timedelta(seconds=1)
    if just_before > now:
        assert decide(request, history, on_hold, consent, rb, just_before).outcome == "block", d.hits
    assert next_permitted(request.channel, request, history, on_hold, consent, rb, now) == d.earliest_allowed_at


# ---- (c) ----------------------------------------------------------------------------------------------------------
@st.composite
def any_request(draw):
    return ContactRequest(
        channel=draw(st.sampled_from(CHANNELS)), debt_id=draw(st.sampled_from(("d1", "d2", "d3", "d9"))),
        subject_key=draw(st.sampled_from(("p1", "p2"))), target=draw(st.sampled_from(TARGETS)),
        number_key=draw(st.sampled_from(("n1", "n2", None))),
        time_zones=draw(st.lists(st.sampled_from(ZONES), max_size=3).map(tuple)),
        third_party_id=draw(st.sampled_from(("t1", "t2", None))), approved=draw(st.booleans()),
        staff_count=draw(st.integers(0, 4)),
        limitation_date=draw(st.one_of(st.none(), st.dates(date(2026, 1, 1), date(2027, 3, 1)))),
        consent_after_conversation_until=draw(st.one_of(st.none(), instants())),
        purpose=draw(st.sampled_from(("collect", "locate", "pass_message", "verify"))),
        message_kind=draw(st.sampled_from((None, "notice_collection_stops", "statement"))),
        vulnerable=draw(st.booleans()), agency_notice_given=draw(st.sampled_from((None, True, False))))


@SETTINGS
@given(st.data(), st.sampled_from(sorted(PRESETS)), instants(), any_request(), consents())
def test_decide_never_raises_and_answers_coherently(data, code, now, request, consent):
    """Any request the API accepts gets a decision; a refusal names a BLOCK/PAUSE rule and never a time in the
    past; `next_permitted` agrees with it."""
    history = data.draw(histories(now, coherent=False))
    on_hold = data.draw(holds(now))
    rb = BOOKS[code]
    d = decide(request, history, on_hold, consent, rb, now)
    assert d.outcome in ("allow", "block", "needs_approval", "allow_with_warnings")
    assert d.rulebook_version == rb.version
    assert (d.outcome == "block") == bool(d.blocking)
    assert d.outcome == "block" or d.earliest_allowed_at is None
    assert d.earliest_allowed_at is None or d.earliest_allowed_at > now
    assert all(h.message_en and h.message_zh and h.citation for h in d.hits)
    permitted = next_permitted(request.channel, request, history, on_hold, consent, rb, now)
    assert permitted == (now if d.outcome != "block" else d.earliest_allowed_at)
