from datetime import datetime, timezone

from tenants.conduct import engine
from tenants.conduct.presets import preset


def test_a_refusal_names_the_time_contact_really_becomes_possible():
    """A daily cap resets at local midnight, but night hours (CN.HOURS, 08:00–22:00) still forbid calls until 08:00:
    the collector is told 08:00, not midnight."""
    now = datetime(2026, 12, 1, 2, 0, tzinfo=timezone.utc)  # 10:00 in Shanghai
    calls = [engine.PastAttempt(at=now, channel="call", debt_id="d", subject_key="s", connected=True,
                                conversation=True) for _ in range(3)]
    decision = engine.decide(engine.ContactRequest(channel="call", debt_id="d", subject_key="s",
                                                   time_zones=("Asia/Shanghai",)), calls, [], None, preset("cn"), now)
    hit = decision.hit("CN.CALLS.CONNECTED")
    assert decision.earliest_allowed_at == datetime(2026, 12, 2, 0, 0, tzinfo=timezone.utc)
    assert "from 08:00 Asia/Shanghai (2026-12-02 08:00)" in hit.message_en
    assert "08:00" in hit.message_zh
