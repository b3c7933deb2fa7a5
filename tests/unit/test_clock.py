from datetime import datetime, timedelta, timezone

import pytest

from tenants import clock


class DictStore(dict):
    def set(self, key, value):
        self[key] = value

    def delete(self, key):
        self.pop(key, None)


def test_frozen_clock_is_what_code_sees_until_restored():
    at = datetime(2026, 12, 1, 0, 0, tzinfo=timezone.utc)
    previous = clock.use(clock.FrozenClock(at))
    try:
        assert clock.now() == at
        clock.current_clock().advance(timedelta(hours=2))
        assert clock.now() == at + timedelta(hours=2)
    finally:
        clock.use(previous)
    assert clock.now() != at + timedelta(hours=2)


def test_stored_test_clock_pins_advances_and_resets():
    store = DictStore()
    test_clock = clock.StoredTestClock(store)
    assert not test_clock.is_pinned()
    test_clock.set(clock.parse_instant("2026-12-01T09:00:00+08:00"))
    assert test_clock.now() == datetime(2026, 12, 1, 1, 0, tzinfo=timezone.utc)
    assert test_clock.now() == test_clock.now(), "a pinned clock stands still"
    assert test_clock.advance(clock.parse_duration("90m")) == datetime(2026, 12, 1, 2, 30, tzinfo=timezone.utc)
    test_clock.reset()
    assert abs(test_clock.now() - datetime.now(timezone.utc)) < timedelta(seconds=5)


def test_instants_need_an_offset_and_durations_a_unit():
    with pytest.raises(ValueError):
        clock.parse_instant("2026-12-01T09:00:00")
    with pytest.raises(ValueError):
        clock.parse_duration("ninety")
    assert clock.parse_duration("-1d") == timedelta(days=-1)
