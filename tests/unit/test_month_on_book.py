"""Which allocations the comparison page counts as having a month on book: a whole month, day for day."""
from datetime import date, datetime, timezone

import pytest

from tenants.analytics.comparison import has_a_month_on_book


@pytest.mark.parametrize(("placed", "today", "expected"), [
    ((2026, 11, 15), date(2026, 12, 7), False),  # last calendar month, three weeks ago
    ((2026, 11, 15), date(2026, 12, 15), True),
    ((2026, 12, 20), date(2027, 1, 19), False),  # across the year's end
    ((2026, 12, 20), date(2027, 1, 20), True),
    ((2027, 1, 31), date(2027, 2, 27), False),  # the 31st's month ends on February's last day
    ((2027, 1, 31), date(2027, 2, 28), True),
])
def test_a_month_on_book_is_a_whole_month(placed, today, expected):
    assert has_a_month_on_book(datetime(*placed, 10, 0, tzinfo=timezone.utc), today) is expected
