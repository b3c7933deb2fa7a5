from datetime import datetime, time, timezone
from zoneinfo import ZoneInfo

from tenants.conduct.engine import Consent, ContactRequest, Hold, PastAttempt, decide
from tenants.conduct.presets import preset
from tenants.conduct.rulebook import tighten

SH = ZoneInfo("Asia/Shanghai")
UTC = timezone.utc
CN = preset("cn")


def sh(*a):
    return datetime(*a, tzinfo=SH)


def call(**kw):
    base = dict(channel="call", debt_id="d1", subject_key="p1", number_key="n1", time_zones=("Asia/Shanghai",))
    base.update(kw)
    return ContactRequest(**base)


def past(at, **kw):
    base = dict(channel="call", debt_id="d1", subject_key="p1", number_key="n1", connected=True)
    base.update(kw)
    return PastAttempt(at=at.astimezone(UTC), **base)


def test_hours_2159_allowed_2200_blocked_with_next_time():
    """CN.HOURS — GB/T 45251-2025 ◐; CBA 2026 ◐: no collection 22:00–08:00 debtor local."""
    d = decide(call(), [], [], None, CN, sh(2026, 12, 1, 21, 59))
    assert d.outcome == "allow" and d.rulebook_version == "cn-2026.1"
    d = decide(call(), [], [], None, CN, sh(2026, 12, 1, 22, 0))
    assert d.outcome == "block" and d.hits[0].rule_id == "CN.HOURS"
    assert d.earliest_allowed_at == sh(2026, 12, 2, 8, 0)
    assert "allowed from 08:00 Asia/Shanghai (2026-12-02 08:00)" in d.hits[0].message_en
    assert "2026-12-02 08:00（Asia/Shanghai）" in d.hits[0].message_zh
    d = decide(call(), [], [], None, CN, sh(2026, 12, 2, 7, 59))
    assert d.outcome == "block" and d.earliest_allowed_at == sh(2026, 12, 2, 8, 0)
    assert decide(call(), [], [], None, CN, sh(2026, 12, 2, 8, 0)).outcome == "allow"


def test_hours_apply_to_messages_and_visits_not_letters_and_agreed_hours_override():
    """CN.HOURS — GB/T 45251-2025 ◐: calls, messages, visits; unless the debtor agreed other times."""
    assert decide(call(channel="sms"), [], [], None, CN, sh(2026, 12, 1, 23)).outcome == "block"
    assert decide(call(channel="letter"), [], [], None, CN, sh(2026, 12, 1, 23)).outcome == "allow"
    agreed = Consent(agreed_hours=(time(7), time(23)))
    assert decide(call(), [], [], agreed, CN, sh(2026, 12, 1, 22, 30)).outcome == "allow"


def test_fourth_connected_call_same_shanghai_day_across_agencies_blocks_other_person_unaffected():
    """CN.CALLS.CONNECTED — GB/T 45251-2025 ◐: 3 connected calls / calendar day / per_person across agencies."""
    hist = [past(sh(2026, 12, 1, 9), debt_id="agencyA-d1", number_key="n1"),
            past(sh(2026, 12, 1, 10), debt_id="agencyB-d7", number_key="n2"),
            past(sh(2026, 12, 1, 11), debt_id="agencyA-d1", number_key="n1")]
    d = decide(call(debt_id="agencyB-d7", number_key="n2"), hist, [], None, CN, sh(2026, 12, 1, 15))
    assert d.outcome == "block" and [h.rule_id for h in d.hits] == ["CN.CALLS.CONNECTED"]
    assert d.earliest_allowed_at == sh(2026, 12, 2, 8, 0)  # midnight resets, then CN.HOURS until 08:00
    assert d.hits[0].earliest_allowed_at == sh(2026, 12, 2, 0, 0)
    other = decide(call(subject_key="p2", number_key="n9"), hist, [], None, CN, sh(2026, 12, 1, 15))
    assert other.outcome == "allow"
    two = decide(call(), hist[:2], [], None, CN, sh(2026, 12, 1, 15))
    assert two.outcome == "allow"


def test_daily_counter_resets_at_local_midnight_not_utc_midnight():
    """CN.CALLS.CONNECTED — GB/T 45251-2025 ◐: calendar day in the debtor's zone (Shanghai = UTC+8)."""
    # 3 calls on Shanghai Dec 2 between 08:00 and 09:00 local = Dec 2 00:00–01:00 UTC
    hist = [past(sh(2026, 12, 2, 8, m)) for m in (0, 10, 20)]
    # 2026-12-02 21:00 Shanghai is 13:00 UTC on the same UTC day → still Dec 2 locally: blocked
    assert decide(call(), hist, [], None, CN, sh(2026, 12, 2, 21)).outcome == "block"
    # calls late on Shanghai Dec 1 (UTC Dec 1) do not count on Shanghai Dec 2 even though UTC day is Dec 2 for them
    hist2 = [past(sh(2026, 12, 1, 21, m)) for m in (0, 10, 20)]
    at = sh(2026, 12, 2, 8, 30)  # = 2026-12-02 00:30 UTC
    assert decide(call(), hist2, [], None, CN, at).outcome == "allow"
    # and calls at Shanghai 07:30–07:50 on Dec 2 (UTC Dec 1 23:30) count toward Shanghai Dec 2
    hist3 = [past(sh(2026, 12, 2, 7, m)) for m in (30, 40, 50)]
    assert hist3[0].at.astimezone(UTC).day == 1
    assert decide(call(), hist3, [], None, CN, sh(2026, 12, 2, 9)).outcome == "block"


def test_pending_attempts_count_as_connected():
    """CN.CALLS.CONNECTED — GB/T 45251-2025 ◐; pending outcomes count against caps (conservative)."""
    hist = [past(sh(2026, 12, 1, 9)), past(sh(2026, 12, 1, 10)),
            past(sh(2026, 12, 1, 14, 55), connected=False, pending=True)]
    d = decide(call(), hist, [], None, CN, sh(2026, 12, 1, 15))
    assert d.outcome == "block" and d.hits[0].rule_id == "CN.CALLS.CONNECTED"


def test_sixth_unanswered_attempt_per_number_blocks_seventh():
    """CN.CALLS.ATTEMPTS — CBA 2026 ◐: at most 6 unanswered attempts per calendar day to the same number."""
    hist = [past(sh(2026, 12, 1, 9, m), connected=False, subject_key=f"p{m}") for m in range(0, 60, 10)]
    d = decide(call(), hist, [], None, CN, sh(2026, 12, 1, 15))
    assert d.outcome == "block" and [h.rule_id for h in d.hits] == ["CN.CALLS.ATTEMPTS"]
    assert d.earliest_allowed_at == sh(2026, 12, 2, 8)
    assert decide(call(number_key="n2"), hist, [], None, CN, sh(2026, 12, 1, 15)).outcome == "allow"
    assert decide(call(), hist[:5], [], None, CN, sh(2026, 12, 1, 15)).outcome == "allow"


def test_third_party_blocked_unless_the_ledger_shows_the_debtor_unreachable():
    """CN.3P.TARGET — GB/T 45251 ◐; CN.3P.UNREACHABLE — CBA 2026 ◐; CN.3P.CONTENT — GB/T 45251 ◐."""
    tp = call(target="third_party", third_party_id="c1", purpose="locate")
    d = decide(tp, [], [], None, CN, sh(2026, 12, 1, 15))
    assert d.outcome == "block" and d.hits[0].rule_id == "CN.3P.TARGET" and d.earliest_allowed_at is None
    failed = [past(sh(2026, 11, 30, h), connected=False) for h in (9, 10, 11)]
    d = decide(tp, failed, [], None, CN, sh(2026, 12, 1, 15))
    assert d.outcome == "allow_with_warnings"
    assert {h.rule_id for h in d.hits} == {"CN.3P.UNREACHABLE", "CN.3P.CONTENT"}
    d = decide(call(target="third_party"), failed, [], None, CN, sh(2026, 12, 1, 15))
    assert d.outcome == "block" and d.hits[0].rule_id == "CN.3P.UNREACHABLE"  # purpose "collect"


def test_a_debtor_who_answered_after_the_failed_calls_is_reachable():
    """CN.3P.UNREACHABLE — CBA 2026 ◐: reachability comes from the ledger, across agencies: three failed calls
    followed by a conversation two hours ago do not make a third party contactable; a wrong number reaches no one
    (it fails like no answer), and a call whose outcome is not recorded yet is not a failure."""
    tp = call(target="third_party", purpose="locate")
    failed = [past(sh(2026, 11, 30, h), connected=False) for h in (9, 10, 11)]
    answered = failed + [past(sh(2026, 12, 1, 13), connected=True, conversation=True, debt_id="other-lender")]
    assert decide(tp, answered, [], None, CN, sh(2026, 12, 1, 15)).hits[0].rule_id == "CN.3P.TARGET"
    wrong_numbers = [past(sh(2026, 11, 30, h), connected=True) for h in (9, 10, 11)]
    assert decide(tp, wrong_numbers, [], None, CN, sh(2026, 12, 1, 15)).outcome == "allow_with_warnings"
    unsettled = failed[:2] + [past(sh(2026, 11, 30, 11), connected=False, pending=True)]
    assert decide(tp, unsettled, [], None, CN, sh(2026, 12, 1, 15)).outcome == "block"


def test_a_call_whose_outcome_is_never_recorded_keeps_counting_as_connected():
    """CN.CALLS.CONNECTED — GB/T 45251-2025 ◐ with CONDUCT_RULES "an unanswered question counts against the
    caller": three calls still waiting for their outcome at 09:00 fill the day's cap at 21:00, twelve hours
    later (no two-hour timeout frees it); recording them as unanswered re-opens it."""
    waiting = [past(sh(2026, 12, 1, 9, m), connected=False, pending=True) for m in (0, 10, 20)]
    d = decide(call(number_key="n9"), waiting, [], None, CN, sh(2026, 12, 1, 21))
    assert d.outcome == "block" and d.hits[0].rule_id == "CN.CALLS.CONNECTED"
    assert d.earliest_allowed_at == sh(2026, 12, 2, 8)
    settled = [past(p.at, connected=False) for p in waiting]
    assert decide(call(number_key="n9"), settled, [], None, CN, sh(2026, 12, 1, 21)).outcome == "allow"


def test_three_consecutive_failed_calls_open_third_party_contact_from_next_day():
    """CN.3P.UNREACHABLE — CBA 2026 ◐: after 3 consecutive failed calls, from the next day."""
    hist = [past(sh(2026, 12, 1, h), connected=False) for h in (9, 10, 11)]
    tp = call(target="third_party", purpose="pass_message")
    d = decide(tp, hist, [], None, CN, sh(2026, 12, 1, 15))
    assert d.outcome == "block" and d.earliest_allowed_at == sh(2026, 12, 2, 8)
    assert decide(tp, hist, [], None, CN, sh(2026, 12, 2, 9)).outcome == "allow_with_warnings"


def test_visit_needs_two_staff_and_approval():
    """CN.VISIT — CBA 2026 Art. 22 ◐: at least 2 collectors per visit; lender approval."""
    v = call(channel="visit", staff_count=1, approved=True)
    assert decide(v, [], [], None, CN, sh(2026, 12, 1, 15)).outcome == "block"
    d = decide(call(channel="visit", staff_count=2), [], [], None, CN, sh(2026, 12, 1, 15))
    assert d.outcome == "needs_approval" and d.hits[0].approver_role == "lender_manager"
    assert decide(call(channel="visit", staff_count=2, approved=True), [], [], None, CN,
                  sh(2026, 12, 1, 15)).outcome == "allow"
    # block beats needs_approval
    assert decide(call(channel="visit", staff_count=2), [], [], None, CN, sh(2026, 12, 1, 23)).outcome == "block"


def test_plan_hold_pauses_collection_until_it_ends():
    """CN.PLAN.PAUSE — Credit-card rules 2011 Art. 70 ◐: a signed instalment plan stops collection."""
    plan = Hold("plan", "d1", sh(2026, 11, 1), None)
    d = decide(call(), [], [plan], None, CN, sh(2026, 12, 1, 15))
    assert d.outcome == "block" and d.hits[0].rule_id == "CN.PLAN.PAUSE" and d.hits[0].action == "PAUSE"
    assert d.earliest_allowed_at is None
    ended = Hold("plan", "d1", sh(2026, 11, 1), sh(2026, 12, 3, 23))  # breached: ends at 23:00 → next 08:00
    d = decide(call(), [], [ended], None, CN, sh(2026, 12, 1, 15))
    assert d.earliest_allowed_at == sh(2026, 12, 4, 8)
    assert decide(call(debt_id="d2"), [], [plan], None, CN, sh(2026, 12, 1, 15)).outcome == "allow"


def test_generic_holds_and_allow_list():
    """CONDUCT_RULES.md Holds: dispute/cease/deceased/bankruptcy pause the account; allow-listed messages pass."""
    for t in ("dispute", "cease", "deceased", "bankruptcy"):
        d = decide(call(), [], [Hold(t, "d1", sh(2026, 11, 1))], None, CN, sh(2026, 12, 1, 15))
        assert d.outcome == "block" and d.hits[0].rule_id == f"HOLD.{t.upper()}" and d.earliest_allowed_at is None
    h = Hold("cease", "d1", sh(2026, 11, 1), allow={"notice_collection_stops"})
    letter = call(channel="letter", message_kind="notice_collection_stops")
    assert decide(letter, [], [h], None, CN, sh(2026, 12, 1, 15)).outcome == "allow"


def test_outsourcing_notice_and_lender_tightening_in_decisions():
    """CN.OUTSOURCE.NOTICE — CBIRC Order 2022 No. 9 ◐; Composition: tightened rulebook version recorded."""
    d = decide(call(agency_notice_given=False), [], [], None, CN, sh(2026, 12, 1, 15))
    assert d.outcome == "needs_approval" and d.hits[0].rule_id == "CN.OUTSOURCE.NOTICE"
    strict = tighten(CN, {"CN.CALLS.CONNECTED": {"max": 1}, "CN.HOURS": {"end": time(20)}})
    d = decide(call(), [past(sh(2026, 12, 1, 9))], [], None, strict, sh(2026, 12, 1, 15))
    assert d.outcome == "block" and d.rulebook_version == strict.version and "+lender:" in d.rulebook_version
    assert decide(call(), [], [], None, strict, sh(2026, 12, 1, 20)).outcome == "block"


def test_several_zones_daily_count_takes_strictest_zone():
    """CN.CALLS.CONNECTED — GB/T 45251-2025 ◐; CONDUCT_RULES.md Windows: with several candidate zones the calendar
    day count is taken in each zone and the strictest applies."""
    u = lambda *a: datetime(*a, tzinfo=UTC)  # noqa: E731
    # Shanghai Dec 2 00:00, 00:30, 10:00 — but New York Dec 1 11:00, 11:30, 21:00
    hist = [past(u(2026, 12, 1, 16)), past(u(2026, 12, 1, 16, 30)), past(u(2026, 12, 2, 2))]
    both = call(time_zones=("Asia/Shanghai", "America/New_York"))
    d = decide(both, hist, [], None, CN, u(2026, 12, 2, 13, 30))  # Shanghai Dec 2 21:30, New York Dec 2 08:30
    assert d.outcome == "block" and [h.rule_id for h in d.hits] == ["CN.CALLS.CONNECTED"]
    assert d.earliest_allowed_at == u(2026, 12, 3, 0, 0)  # Shanghai Dec 3 08:00 = New York Dec 2 19:00
    assert decide(call(time_zones=("America/New_York",)), hist, [], None, CN,
                  u(2026, 12, 2, 13, 30)).outcome == "allow"


def test_person_wide_holds_stop_every_debt_only_for_the_types_the_rulebook_names():
    """CONDUCT_RULES "Person-wide facts": a death or bankruptcy recorded on another debt of the person stops this
    one too; any other hold type stays on its own debt; one hit per rule when the debt has its own hold too."""
    deceased = Hold("deceased", "person", sh(2026, 11, 1), person_wide=True)
    d = decide(call(), [], [deceased], None, CN, sh(2026, 12, 1, 15))
    assert d.outcome == "block" and d.hits[0].action == "PAUSE" and d.earliest_allowed_at is None
    assert "another of their debts" in d.hits[0].message_en
    dispute = Hold("dispute", "person", sh(2026, 11, 1), person_wide=True)
    assert decide(call(), [], [dispute], None, CN, sh(2026, 12, 1, 15)).outcome == "allow"
    own = Hold("deceased", "d1", sh(2026, 11, 1), reason="certificate received")
    d = decide(call(), [], [deceased, own], None, CN, sh(2026, 12, 1, 15))
    assert len(d.blocking) == 1 and "certificate received" in d.blocking[0].message_en


def test_a_lender_may_keep_collection_to_chinas_working_days():
    """CN.HOURS — GB/T 45251-2025 ◐, tightened by a lender's term to working days: China's statutory holidays
    close the day (National Day, 1 October 2026, a Thursday) and the next time skips the whole Golden Week
    (chinese-calendar), resuming on the first working day at 08:00."""
    book = tighten(CN, {"CN.HOURS": {"working_days_only": True}})
    d = decide(call(), [], [], None, book, sh(2026, 10, 1, 10))
    assert d.outcome == "block" and "working days only" in d.hits[0].message_en
    assert d.earliest_allowed_at == sh(2026, 10, 8, 8)
    assert decide(call(), [], [], None, CN, sh(2026, 10, 1, 10)).outcome == "allow", "the baseline has no such bar"
