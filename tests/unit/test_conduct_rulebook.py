import re
from datetime import date, time

import pytest

from tenants.conduct.presets import PRESETS, preset
from tenants.conduct.rulebook import parse_overrides, tighten

ALL_DOC_RULES = {
    "cn": ["CN.HOURS", "CN.CALLS.CONNECTED", "CN.CALLS.ATTEMPTS", "CN.3P.TARGET", "CN.3P.UNREACHABLE", "CN.3P.CONTENT",
           "CN.VISIT", "CN.PROHIBITED", "CN.PLAN.PAUSE", "CN.RECORDING", "CN.OUTSOURCE.NOTICE", "CN.AGENCY.REVIEW"],
    "us": ["US.HOURS", "US.INCONVENIENT", "US.WORKPLACE", "US.ATTORNEY", "US.CEASE", "US.7IN7", "US.EOPTOUT",
           "US.SOCIAL", "US.3P", "US.DISCLOSURE", "US.VALIDATION", "US.TIMEBARRED", "US.RETENTION"],
    "uk": ["UK.HOURS", "UK.BREATHING", "UK.DISPUTE", "UK.VISIT", "UK.FORBEARANCE", "UK.STATUTEBARRED", "UK.PRESSURE"],
    "in": ["IN.HOURS", "IN.3P"],
    "ie": ["IE.HOURS", "IE.MONTHLY"],
}


@pytest.mark.parametrize("code", sorted(PRESETS))
def test_presets_carry_every_rule_with_citation_and_version(code):
    """CONDUCT_RULES.md presets cn/us/uk/in/ie: every listed rule present, cited, versioned."""
    rb = preset(code)
    assert rb.version == f"{code}-2026.1"
    for rid in ALL_DOC_RULES[code]:
        r = rb.rule(rid)
        assert r.citation and r.confidence in ("official", "secondary", "unverified")
    assert set(rb.hold_rules) == {"dispute", "cease", "attorney", "bankruptcy", "deceased", "breathing_space",
                                  "hardship", "plan"}


def test_secondary_sources_are_flagged():
    """CONDUCT_RULES.md: parameters marked ◐/✖ stay configurable and are flagged (GB/T 45251-2025 ◐)."""
    cn = preset("cn")
    assert cn.rule("CN.CALLS.CONNECTED").flagged_params == ["max"]
    assert cn.rule("CN.HOURS").confidence == "secondary"
    assert preset("us").rule("US.7IN7").flagged_params == []  # 12 CFR 1006.14(b)(2) ✔
    assert preset("uk").rule("UK.HOURS").params["start"].flagged  # CONC sets no numbers


def test_tighten_accepts_stricter_values_and_versions_them():
    """CONDUCT_RULES.md Composition: a lender may tighten any parameter; the effective value is the strictest."""
    cn = preset("cn")
    t = tighten(cn, {"CN.CALLS.CONNECTED": {"max": 2}, "CN.HOURS": {"start": time(9), "end": time(21)}})
    assert t.value("CN.CALLS.CONNECTED", "max") == 2
    assert t.value("CN.HOURS", "start") == time(9)
    assert t.version.startswith("cn-2026.1+lender:") and t.base_version == "cn-2026.1"
    assert cn.value("CN.CALLS.CONNECTED", "max") == 3  # the baseline is untouched
    same = tighten(cn, {"CN.HOURS": {"start": time(9), "end": time(21)}, "CN.CALLS.CONNECTED": {"max": 2}})
    assert same.version == t.version  # deterministic hash
    again = tighten(t, {"CN.CALLS.ATTEMPTS": {"max": 4}})
    assert again.version != t.version and again.value("CN.CALLS.CONNECTED", "max") == 2
    ie = tighten(preset("ie"), {"IE.HOURS": {"public_holidays": {date(2026, 12, 25)}}})
    assert date(2026, 12, 25) in ie.value("IE.HOURS", "public_holidays")
    us = tighten(preset("us"), {"US.7IN7": {"quiet_days": 10}})
    assert us.value("US.7IN7", "quiet_days") == 10


@pytest.mark.parametrize("overrides, named", [
    ({"CN.CALLS.CONNECTED": {"max": 4}}, "CN.CALLS.CONNECTED.max"),
    ({"CN.HOURS": {"start": time(7)}}, "CN.HOURS.start"),
    ({"CN.HOURS": {"end": time(23)}}, "CN.HOURS.end"),
    ({"CN.HOURS": {"honour_agreed_hours": True, "channels": {"call"}}}, "CN.HOURS.channels"),
    ({"CN.VISIT": {"min_staff": 1}}, "CN.VISIT.min_staff"),
    ({"CN.PLAN.PAUSE": {"max_plan_years": 4}}, "CN.PLAN.PAUSE.max_plan_years"),
    ({"CN.NOPE": {"max": 1}}, "CN.NOPE"),
    ({"CN.HOURS": {"nope": 1}}, "CN.HOURS.nope"),
    ({"CN.CALLS.CONNECTED": {"max": "2"}}, "CN.CALLS.CONNECTED.max"),
])
def test_tighten_refuses_loosening_naming_rule_and_param(overrides, named):
    """CONDUCT_RULES.md Composition: agencies (and lenders) cannot loosen the platform baseline."""
    with pytest.raises(ValueError, match=named.replace(".", r"\.")):
        tighten(preset("cn"), overrides)


def test_tighten_refuses_loosening_us_quiet_period_and_ie_holidays():
    """12 CFR 1006.14(b)(2); Consumer Credit Act 1995 s.46: quiet period cannot shrink, holidays cannot be removed."""
    with pytest.raises(ValueError, match=r"US\.7IN7\.quiet_days"):
        tighten(preset("us"), {"US.7IN7": {"quiet_days": 5}})
    ie = tighten(preset("ie"), {"IE.HOURS": {"public_holidays": {date(2026, 12, 25)}}})
    with pytest.raises(ValueError, match=r"IE\.HOURS\.public_holidays"):
        tighten(ie, {"IE.HOURS": {"public_holidays": set()}})


def test_terms_as_stored_are_typed_by_each_parameter():
    """Placement terms arrive as JSON: times as "HH:MM", dates as ISO strings, sets as lists — typed before use,
    so the engine compares dates with dates (a list of strings would have closed no day at all)."""
    ie = preset("ie")
    typed = parse_overrides(ie, {"IE.HOURS": {"start": "10:00", "public_holidays": ["2026-12-29"]},
                                 "IE.MONTHLY": {"max": 2}})
    assert typed == {"IE.HOURS": {"start": time(10), "public_holidays": frozenset({date(2026, 12, 29)})},
                     "IE.MONTHLY": {"max": 2}}
    assert tighten(ie, typed).value("IE.HOURS", "public_holidays") == frozenset({date(2026, 12, 29)})


@pytest.mark.parametrize("terms, names", [
    ({"IE.HOURS": {"start": "08:00"}}, "IE.HOURS.start"),                   # earlier than 09:00: loosens
    ({"IE.HOURS": {"start": "nine"}}, "IE.HOURS.start"),                    # not a time
    ({"IE.HOURS": {"public_holidays": ["25/12/2026"]}}, "IE.HOURS.public_holidays"),
    ({"IE.HOURS": {"public_holidays": "2026-12-25"}}, "IE.HOURS.public_holidays"),  # not a list
    ({"IE.MONTHLY": {"max": 2.5}}, "IE.MONTHLY.max"),
    ({"IE.MONTHLY": {"max": True}}, "IE.MONTHLY.max"),
    ({"IE.MONTHLY": {"max": 9}}, "IE.MONTHLY.max"),                         # more than 3: loosens
    ({"IE.NOPE": {"max": 1}}, "IE.NOPE"),
    ({"IE.MONTHLY": {"nope": 1}}, "IE.MONTHLY.nope"),
    ({"IE.MONTHLY": 3}, "IE.MONTHLY"),
    (["IE.MONTHLY"], "conduct terms"),
])
def test_terms_that_would_loosen_or_cannot_be_read_are_refused_naming_the_field(terms, names):
    with pytest.raises(ValueError, match=re.escape(names)):
        parse_overrides(preset("ie"), terms)
