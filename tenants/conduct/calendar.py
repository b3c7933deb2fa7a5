"""Time-zone helpers: local days, months, windows and their next boundaries (zoneinfo, DST-correct)."""
from __future__ import annotations

from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo


def local(t: datetime, zone: ZoneInfo) -> datetime:
    return t.astimezone(zone)


def at_local(d: date, tod: time, zone: ZoneInfo) -> datetime:
    """The instant of local wall time ``d tod`` in ``zone`` (a time skipped by DST maps forward, fold=0)."""
    return datetime.combine(d, tod, tzinfo=zone)


def next_midnight(t: datetime, zone: ZoneInfo) -> datetime:
    return at_local(local(t, zone).date() + timedelta(days=1), time(0), zone)


def next_month_start(t: datetime, zone: ZoneInfo) -> datetime:
    d = local(t, zone).date()
    first = date(d.year + (d.month == 12), d.month % 12 + 1, 1)
    return at_local(first, time(0), zone)


def in_window(tod: time, start: time, end: time) -> bool:
    """Half-open [start, end); a window with end <= start wraps past midnight."""
    if start < end:
        return start <= tod < end
    return tod >= start or tod < end


def earliest_in_window(t: datetime, zone: ZoneInfo, start: time, end: time, day_ok=lambda d: True,
                       horizon_days: int = 400) -> datetime | None:
    """Earliest instant >= t whose local time in ``zone`` is inside [start, end) on an allowed local day — both the
    day the window opened and the date it is now (a window past midnight into a closed day closes at midnight)."""
    lt = local(t, zone)
    if in_window(lt.time(), start, end) and day_ok(_window_day(lt, start, end)) and day_ok(lt.date()):
        return t
    d = lt.date()
    for i in range(horizon_days):
        cand = at_local(d + timedelta(days=i), start, zone)
        if cand > t and day_ok(d + timedelta(days=i)) and in_window(local(cand, zone).time(), start, end):
            return cand
    return None


def _window_day(lt: datetime, start: time, end: time) -> date:
    """The local day a window occurrence belongs to (for wrapping windows, the day it started)."""
    if start >= end and lt.time() < end:
        return lt.date() - timedelta(days=1)
    return lt.date()


def fixpoint(t: datetime, step, limit: int = 200) -> datetime | None:
    """Repeat ``t = step(t)`` until it stops moving; ``step`` returns None for 'never'."""
    for _ in range(limit):
        nxt = step(t)
        if nxt is None:
            return None
        if nxt <= t:
            return t
        t = nxt
    return None


def describe(t: datetime, zone: ZoneInfo) -> tuple[str, str]:
    """('08:00 Asia/Shanghai (2026-12-02 08:00)', '2026-12-02 08:00（Asia/Shanghai）')."""
    lt = local(t, zone)
    return (f"{lt:%H:%M} {zone.key} ({lt:%Y-%m-%d %H:%M})", f"{lt:%Y-%m-%d %H:%M}（{zone.key}）")
