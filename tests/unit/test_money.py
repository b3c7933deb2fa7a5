import pytest

from tenants.errors import ValidationFailed
from tenants.money import Money


@pytest.mark.parametrize("text,currency,minor", [
    ("1,234.56", "CNY", 123456),
    ("¥88", "CNY", 8800),
    ("0.1", "USD", 10),
    ("-3.10", "GBP", -310),
    ("1500", "JPY", 1500),
    ("12.345", "KWD", 12345),
    ("9999999999999.99", "CNY", 999999999999999),
])
def test_parses_decimal_strings_exactly(text, currency, minor):
    assert Money.parse(text, currency) == Money(minor, currency)


@pytest.mark.parametrize("text,currency,code", [
    ("1.234", "CNY", "money.too_precise"),
    ("1.5", "JPY", "money.too_precise"),
    ("abc", "CNY", "money.invalid"),
    ("NaN", "CNY", "money.invalid"),
    ("1", "XYZ", "money.unknown_currency"),
    ("1e30", "CNY", "money.too_large"),
])
def test_refuses_what_is_not_an_exact_amount(text, currency, code):
    with pytest.raises(ValidationFailed) as exc:
        Money.parse(text, currency)
    assert exc.value.code == code


def test_arithmetic_keeps_currency_and_refuses_mixing():
    assert Money(150, "CNY") + Money(50, "CNY") == Money(200, "CNY")
    assert Money(150, "CNY") - Money(200, "CNY") == Money(-50, "CNY")
    with pytest.raises(ValueError):
        Money(1, "CNY") + Money(1, "USD")


def test_minor_units_must_be_integers():
    with pytest.raises(TypeError):
        Money(1.5, "CNY")


def test_commission_share_rounds_half_up_to_the_minor_unit():
    assert Money(10_005, "CNY").times_bps(1_500) == Money(1_501, "CNY")  # 1500.75 → 1501
    assert Money(333, "USD").times_bps(3_333) == Money(111, "USD")


def test_formats_for_the_locale():
    assert Money(123456, "CNY").format("zh_CN") == "¥1,234.56"
    assert Money(123456, "USD").format("en") == "$1,234.56"
