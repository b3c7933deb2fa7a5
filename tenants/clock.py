"""The one clock. Code asks `clock.now()`; tests and demos swap the source.

Outside production a *test clock* can be pinned and advanced, like Stripe's test clocks, so a demo or an
end-to-end test can replay a collection day. Its state lives in a key-value store (Redis) so that every web
node and worker reads the same instant.
"""
import re
from datetime import datetime, timedelta, timezone
from typing import Protocol


class Clock(Protocol):
    def now(self) -> datetime: ...


class SystemClock:
    def now(self) -> datetime:
        return datetime.now(timezone.utc)


class FrozenClock:
    """In-memory clock for tests: stands still until set or advanced."""

    def __init__(self, at: datetime):
        self._at = _aware(at)

    def now(self) -> datetime:
        return self._at

    def set(self, at: datetime) -> None:
        self._at = _aware(at)

    def advance(self, delta: timedelta) -> None:
        self._at += delta


class StoredTestClock:
    """A pinned instant shared through a store with `get`/`set`/`delete` (a Redis client). Unpinned: real time."""

    KEY = "recoverly:test-clock"

    def __init__(self, store):
        self._store = store

    def now(self) -> datetime:
        raw = self._store.get(self.KEY)
        if raw is None:
            return datetime.now(timezone.utc)
        return datetime.fromisoformat(raw.decode() if isinstance(raw, bytes) else raw)

    def is_pinned(self) -> bool:
        return self._store.get(self.KEY) is not None

    def set(self, at: datetime) -> None:
        self._store.set(self.KEY, _aware(at).astimezone(timezone.utc).isoformat())

    def advance(self, delta: timedelta) -> datetime:
        moved = self.now() + delta
        self.set(moved)
        return moved

    def reset(self) -> None:
        self._store.delete(self.KEY)


_clock: Clock = SystemClock()


def now() -> datetime:
    return _clock.now()


def use(clock: Clock) -> Clock:
    """Install a clock; returns the previous one so callers can restore it."""
    global _clock
    previous, _clock = _clock, clock
    return previous


def current_clock() -> Clock:
    return _clock


_DURATION = re.compile(r"^\s*(-?\d+)\s*([smhdw])\s*$")
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days", "w": "weeks"}


def parse_duration(text: str) -> timedelta:
    """'90m', '2h', '1d', '-1h' → timedelta."""
    match = _DURATION.match(text or "")
    if not match:
        raise ValueError(f"not a duration: {text!r} (use e.g. 30m, 2h, 1d)")
    return timedelta(**{_UNITS[match.group(2)]: int(match.group(1))})


def parse_instant(text: str) -> datetime:
    """ISO 8601 with an offset; a bare date-time is refused because its zone would be a guess."""
    value = datetime.fromisoformat(text.strip())
    if value.tzinfo is None:
        raise ValueError(f"{text!r} has no UTC offset (write e.g. 2026-12-01T09:00:00+08:00)")
    return value.astimezone(timezone.utc)


def _aware(at: datetime) -> datetime:
    if at.tzinfo is None:
        raise ValueError("the clock takes aware datetimes only")
    return at
