"""Instalment schedules: exact amounts in minor units, due dates by frequency, the maximum plan length."""
from datetime import date

import pytest

from tenants.casework import schedule
from tenants.errors import ValidationFailed


@pytest.mark.parametrize("total,count,expected", [
    (100_000, 3, [33_333, 33_333, 33_334]),
    (100_000, 4, [25_000, 25_000, 25_000, 25_000]),
    (1, 1, [1]),
    (1_000_001, 6, [166_666] * 5 + [166_671]),
])
def test_instalments_add_up_exactly_with_the_remainder_on_the_last(total, count, expected):
    amounts = schedule.split(total, count)
    assert amounts == expected
    assert sum(amounts) == total and all(isinstance(a, int) for a in amounts)


def test_more_instalments_than_minor_units_is_refused():
    with pytest.raises(ValidationFailed) as exc:
        schedule.split(2, 3)
    assert exc.value.details["fields"]["instalment_count"]


def test_monthly_due_dates_keep_their_day_and_fall_back_to_the_months_last_day():
    assert schedule.due_dates(date(2027, 1, 31), 4, "monthly") == [
        date(2027, 1, 31), date(2027, 2, 28), date(2027, 3, 31), date(2027, 4, 30)]
    assert schedule.due_dates(date(2027, 11, 15), 3, "monthly") == [
        date(2027, 11, 15), date(2027, 12, 15), date(2028, 1, 15)]
    assert schedule.add_months(date(2028, 2, 29), 12) == date(2029, 2, 28)


def test_weekly_and_fortnightly_due_dates():
    assert schedule.due_dates(date(2026, 12, 1), 3, "weekly") == [
        date(2026, 12, 1), date(2026, 12, 8), date(2026, 12, 15)]
    assert schedule.due_dates(date(2026, 12, 1), 3, "fortnightly") == [
        date(2026, 12, 1), date(2026, 12, 15), date(2026, 12, 29)]


def test_a_regular_schedule_numbers_its_instalments():
    plan = schedule.regular(100_000, 3, "monthly", date(2026, 12, 10))
    assert [(i.number, i.due_on, i.amount_minor) for i in plan] == [
        (1, date(2026, 12, 10), 33_333), (2, date(2027, 1, 10), 33_333), (3, date(2027, 2, 10), 33_334)]


def test_an_explicit_schedule_must_add_up_and_move_forward():
    rows = [(date(2026, 12, 5), 10_000), (date(2026, 12, 20), 15_000)]
    assert [i.amount_minor for i in schedule.explicit(rows, 25_000)] == [10_000, 15_000]
    for bad, total in (([(date(2026, 12, 5), 10_000), (date(2026, 12, 5), 15_000)], None),
                       ([(date(2026, 12, 5), 0)], None),
                       (rows, 25_001)):
        with pytest.raises(ValidationFailed) as exc:
            schedule.explicit(bad, total)
        assert exc.value.code == "plan.invalid_schedule"


def test_a_plan_may_run_five_years_and_not_a_day_more():
    start = date(2026, 12, 1)
    schedule.check_within(schedule.regular(6_000_000, 61, "monthly", start), start, 5)  # last due 2031-12-01
    with pytest.raises(ValidationFailed) as exc:
        schedule.check_within(schedule.regular(6_000_000, 61, "monthly", date(2026, 12, 2)), start, 5)
    assert exc.value.code == "plan.too_long" and exc.value.details["max_years"] == 5
    with pytest.raises(ValidationFailed):
        schedule.check_within(schedule.regular(1_000, 1, "weekly", date(2026, 11, 30)), start, 5)


def test_an_unknown_frequency_is_refused():
    with pytest.raises(ValidationFailed) as exc:
        schedule.regular(1_000, 2, "daily", date(2026, 12, 1))
    assert exc.value.details["fields"]["frequency"]
