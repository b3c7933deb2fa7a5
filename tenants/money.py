"""The one money type: integer minor units plus an ISO 4217 currency. Never a float."""
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation

from babel.numbers import format_currency, get_currency_precision, list_currencies

from tenants.errors import ValidationFailed

_KNOWN = frozenset(list_currencies())
# Far above any real loan, far below a 64-bit column: an absurd figure is a typo or an attack, not a debt.
MAX_MINOR = 10**15


def check_currency(code: str) -> str:
    code = (code or "").strip().upper()
    if code not in _KNOWN:
        raise ValidationFailed(f"Unknown currency {code!r}.", code="money.unknown_currency")
    return code


def minor_digits(currency: str) -> int:
    return get_currency_precision(check_currency(currency))


@dataclass(frozen=True, order=False)
class Money:
    minor: int
    currency: str

    def __post_init__(self):
        if not isinstance(self.minor, int) or isinstance(self.minor, bool):
            raise TypeError("Money.minor must be an int of minor units")
        object.__setattr__(self, "currency", check_currency(self.currency))

    @classmethod
    def parse(cls, text: str, currency: str) -> "Money":
        """Exact decimal string ('1,234.50', '¥88', '-3.1') to minor units; refuses sub-minor precision."""
        digits = minor_digits(currency)
        cleaned = str(text).strip().replace(",", "").replace("_", "")
        cleaned = cleaned.lstrip("¥$£€₹").strip()
        try:
            amount = Decimal(cleaned)
        except InvalidOperation:
            raise ValidationFailed(f"{text!r} is not an amount.", code="money.invalid") from None
        if not amount.is_finite():
            raise ValidationFailed(f"{text!r} is not an amount.", code="money.invalid")
        scaled = amount.scaleb(digits)
        if abs(scaled) >= MAX_MINOR:
            raise ValidationFailed(f"{text!r} is too large an amount.", code="money.too_large")
        if scaled != scaled.to_integral_value():
            raise ValidationFailed(
                f"{text!r} has more than {digits} decimal places for {currency}.", code="money.too_precise"
            )
        return cls(int(scaled), currency)

    @classmethod
    def zero(cls, currency: str) -> "Money":
        return cls(0, currency)

    def _same(self, other: "Money") -> None:
        if not isinstance(other, Money):
            raise TypeError("Money only combines with Money")
        if other.currency != self.currency:
            raise ValueError(f"cannot combine {self.currency} with {other.currency}")

    def __add__(self, other: "Money") -> "Money":
        self._same(other)
        return Money(self.minor + other.minor, self.currency)

    def __sub__(self, other: "Money") -> "Money":
        self._same(other)
        return Money(self.minor - other.minor, self.currency)

    def __neg__(self) -> "Money":
        return Money(-self.minor, self.currency)

    def __lt__(self, other: "Money") -> bool:
        self._same(other)
        return self.minor < other.minor

    def __le__(self, other: "Money") -> bool:
        self._same(other)
        return self.minor <= other.minor

    def times_bps(self, basis_points: int) -> "Money":
        """Commission-style share, rounded half-up to the minor unit."""
        share = (Decimal(self.minor) * basis_points / Decimal(10_000)).quantize(Decimal(1), rounding="ROUND_HALF_UP")
        return Money(int(share), self.currency)

    def decimal(self) -> Decimal:
        return Decimal(self.minor).scaleb(-minor_digits(self.currency))

    def format(self, locale: str = "en") -> str:
        return format_currency(self.decimal(), self.currency, locale=locale)

    def __str__(self) -> str:
        return f"{self.decimal()} {self.currency}"
