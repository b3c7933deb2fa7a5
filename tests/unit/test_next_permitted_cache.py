"""How long a cached next-permitted answer stays true without new events: until the first blocked channel
opens or the debtor's clock reaches a time of day a rule or the consent names (a pending attempt never times out:
only its recorded outcome, a new event, changes what it counts as)."""
from datetime import datetime, time, timedelta, timezone

from tenants.conduct import engine, windows
from tenants.conduct.presets import preset

UTC = timezone.utc


def test_an_allowed_answer_lasts_until_the_evening_window_closes_in_the_debtors_zone():
    now = datetime(2026, 12, 1, 13, 50, tzinfo=UTC)  # 21:50 Shanghai: CN.HOURS closes at 22:00
    until = windows.valid_until({"call": now}, now=now, zones=["Asia/Shanghai"], rulebook=preset("cn"),
                                consent=engine.Consent())
    assert until == datetime(2026, 12, 1, 14, 0, tzinfo=UTC)


def test_with_several_zones_the_earliest_boundary_wins():
    now = datetime(2026, 12, 1, 1, 50, tzinfo=UTC)  # 20:50 in New York (US.HOURS ends 21:00), 17:50 in LA
    until = windows.valid_until({"call": now}, now=now, zones=["America/Los_Angeles", "America/New_York"],
                                rulebook=preset("us"), consent=engine.Consent())
    assert until == datetime(2026, 12, 1, 2, 0, tzinfo=UTC)


def test_a_blocked_channel_and_consent_hours_bound_the_answer():
    now = datetime(2026, 12, 1, 2, 0, tzinfo=UTC)  # 10:00 Shanghai
    opens = now + timedelta(minutes=7)
    assert windows.valid_until({"call": opens}, now=now, zones=["Asia/Shanghai"], rulebook=preset("cn"),
                               consent=engine.Consent()) == opens
    agreed = engine.Consent(agreed_hours=(time(10, 5), time(18, 0)))
    assert windows.valid_until({"call": None}, now=now, zones=["Asia/Shanghai"], rulebook=preset("cn"),
                               consent=agreed) == now + timedelta(minutes=5)


def test_nothing_nearer_than_the_maximum_age():
    now = datetime(2026, 12, 1, 4, 0, tzinfo=UTC)  # 12:00 Shanghai, far from any boundary
    assert windows.valid_until({"call": None}, now=now, zones=["Asia/Shanghai"], rulebook=preset("cn"),
                               consent=engine.Consent()) == now + windows.MAX_AGE
