"""Enforced rules no other test names: the platform hold rules (HOLD.*) and the platform opt-out.

Each hold rule stands in, in the rulebooks whose regulations name no rule of their own for that hold type, for
CONDUCT_RULES.md, Engine semantics: "Holds pause collection on the account: dispute, cease, attorney, bankruptcy,
deceased, breathing space, signed instalment plan (China) — each typed, with reason, start, expiry and automatic
resume, and an allow-list of what may still be sent (e.g. a notice that collection stops)."
"""
from datetime import datetime, timedelta, timezone

import pytest

from tenants.conduct.engine import Consent, ContactRequest, Hold, decide
from tenants.conduct.presets import PRESETS, preset

UTC = timezone.utc
# A Wednesday instant inside every preset's hours window: 21:15 Shanghai, 08:15 New York, 18:45 Kolkata, 13:15
# London and Dublin.
NOW = datetime(2026, 12, 2, 13, 15, tzinfo=UTC)
ZONE = {"cn": "Asia/Shanghai", "us": "America/New_York", "uk": "Europe/London", "in": "Asia/Kolkata",
        "ie": "Europe/Dublin"}


def _request(code, **kw):
    base = dict(channel="call", debt_id="d1", subject_key="p1", number_key="n1", time_zones=(ZONE[code],))
    base.update(kw)
    return ContactRequest(**base)


def _presets_using(rule_id):
    codes = [c for c in sorted(PRESETS) if rule_id in preset(c).hold_rules.values()]
    assert codes, f"no preset maps a hold type to {rule_id}"
    return codes


def _assert_pauses_collection_until_its_expiry(rule_id, hold_type):
    for code in _presets_using(rule_id):
        rb = preset(code)
        assert decide(_request(code), [], [], None, rb, NOW).outcome == "allow", code
        ends = NOW + timedelta(days=20)  # a Tuesday inside every window, no public holiday
        hold = Hold(hold_type, "d1", NOW - timedelta(days=1), ends, allow={"notice_collection_stops"},
                    reason="recorded on the account")
        d = decide(_request(code), [], [hold], None, rb, NOW)
        assert d.outcome == "block", code
        assert [(h.rule_id, h.action) for h in d.hits] == [(rule_id, "PAUSE")], code
        assert d.earliest_allowed_at == ends, code  # automatic resume at the hold's expiry
        assert "recorded on the account" in d.hits[0].message_en
        # a message on the hold's allow-list may still be sent
        notice = _request(code, channel="letter", message_kind="notice_collection_stops")
        assert decide(notice, [], [hold], None, rb, NOW).outcome == "allow", code
        # the hold is on this account only, and not yet open before its start nor still open from its expiry
        assert decide(_request(code, debt_id="d2"), [], [hold], None, rb, NOW).outcome == "allow", code
        later = Hold(hold_type, "d1", NOW + timedelta(hours=1), ends)
        assert decide(_request(code), [], [later], None, rb, NOW).outcome == "allow", code
        assert decide(_request(code), [], [hold], None, rb, ends).hit(rule_id) is None, code
        open_ended = Hold(hold_type, "d1", NOW - timedelta(days=1))
        d = decide(_request(code), [], [open_ended], None, rb, NOW)
        assert d.outcome == "block" and d.earliest_allowed_at is None, code  # not by waiting


def test_dispute_hold_pauses_collection():
    """HOLD.DISPUTE — CONDUCT_RULES.md, Engine semantics, Holds: a dispute hold pauses collection on the account
    until it expires, except allow-listed messages."""
    _assert_pauses_collection_until_its_expiry("HOLD.DISPUTE", "dispute")


def test_cease_hold_pauses_collection():
    """HOLD.CEASE — CONDUCT_RULES.md, Engine semantics, Holds: a cease hold pauses collection on the account; a
    notice that collection stops (allow-list) may still be sent."""
    _assert_pauses_collection_until_its_expiry("HOLD.CEASE", "cease")


def test_bankruptcy_hold_pauses_collection():
    """HOLD.BANKRUPTCY — CONDUCT_RULES.md, Engine semantics, Holds: a bankruptcy hold pauses collection."""
    _assert_pauses_collection_until_its_expiry("HOLD.BANKRUPTCY", "bankruptcy")


def test_deceased_hold_pauses_collection():
    """HOLD.DECEASED — CONDUCT_RULES.md, Engine semantics, Holds: a deceased hold pauses collection."""
    _assert_pauses_collection_until_its_expiry("HOLD.DECEASED", "deceased")


def test_breathing_space_hold_pauses_collection():
    """HOLD.BREATHING_SPACE — CONDUCT_RULES.md, Engine semantics, Holds: a breathing-space hold pauses collection
    (outside the UK, whose UK.BREATHING names SI 2020/1311)."""
    _assert_pauses_collection_until_its_expiry("HOLD.BREATHING_SPACE", "breathing_space")


def test_hardship_hold_pauses_collection():
    """HOLD.HARDSHIP — CONDUCT_RULES.md, Engine semantics, Holds: a hardship hold pauses collection."""
    _assert_pauses_collection_until_its_expiry("HOLD.HARDSHIP", "hardship")


def test_plan_hold_pauses_collection():
    """HOLD.PLAN — CONDUCT_RULES.md, Engine semantics, Holds: a signed instalment plan pauses collection (outside
    China, whose CN.PLAN.PAUSE names the credit-card rules)."""
    _assert_pauses_collection_until_its_expiry("HOLD.PLAN", "plan")


def test_attorney_hold_allows_the_attorney_only():
    """HOLD.ATTORNEY — CONDUCT_RULES.md, Engine semantics, Holds (attorney): a represented debtor is contacted
    through the attorney only, on any channel, until the hold ends."""
    for code in _presets_using("HOLD.ATTORNEY"):
        rb = preset(code)
        ends = NOW + timedelta(days=10)
        hold = Hold("attorney", "d1", NOW - timedelta(days=1), ends)
        for channel in ("call", "letter", "email"):
            d = decide(_request(code, channel=channel), [], [hold], None, rb, NOW)
            assert d.outcome == "block", (code, channel)
            assert [(h.rule_id, h.action) for h in d.hits] == [("HOLD.ATTORNEY", "BLOCK")], (code, channel)
            assert d.earliest_allowed_at == ends
        assert decide(_request(code, target="attorney"), [], [hold], None, rb, NOW).outcome == "allow", code
        assert decide(_request(code, debt_id="d2"), [], [hold], None, rb, NOW).outcome == "allow", code


@pytest.mark.parametrize("code", sorted(set(PRESETS) - {"us"}))
def test_platform_opt_out_blocks_that_channel_not_by_waiting(code):
    """PLATFORM.OPTOUT — CONDUCT_RULES.md, Data the engine needs captured: per-channel consent and opt-outs; a
    channel the debtor opted out of stays blocked (waiting does not lift it), other channels stay open."""
    rb = preset(code)
    out = Consent(opted_out_channels={"sms"})
    d = decide(_request(code, channel="sms"), [], [], out, rb, NOW)
    assert d.outcome == "block" and [h.rule_id for h in d.hits] == ["PLATFORM.OPTOUT"]
    assert d.earliest_allowed_at is None
    assert decide(_request(code, channel="letter"), [], [], out, rb, NOW).outcome == "allow"
