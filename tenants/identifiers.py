"""Normalising and validating personal identifiers before they are encrypted or blind-indexed."""
import re
from datetime import date

import phonenumbers

from tenants.errors import ValidationFailed

_CN_ID = re.compile(r"^\d{17}[\dX]$")
_CN_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
_CN_CHECK = "10X98765432"


def normalize_email(value: str) -> str:
    value = (value or "").strip()
    local, at, domain = value.rpartition("@")
    if not at or not local or "." not in domain:
        raise ValidationFailed(f"{value!r} is not an email address.", code="email.invalid")
    return f"{local}@{domain.lower()}".lower()


def normalize_phone(value: str, default_region: str | None = None) -> str:
    """Any written form to E.164; a number without a country code needs the region it was written in."""
    try:
        number = phonenumbers.parse(value, default_region)
    except phonenumbers.NumberParseException:
        raise ValidationFailed(f"{value!r} is not a phone number.", code="phone.invalid") from None
    if not phonenumbers.is_valid_number(number):
        raise ValidationFailed(f"{value!r} is not a valid phone number.", code="phone.invalid")
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def cn_resident_id_check_char(first17: str) -> str:
    return _CN_CHECK[sum(int(d) * w for d, w in zip(first17, _CN_WEIGHTS)) % 11]


def normalize_cn_resident_id(value: str) -> str:
    """GB 11643-1999: 17 digits, then a MOD 11-2 check character; the birth date must be a real date."""
    value = (value or "").strip().upper()
    if not _CN_ID.match(value):
        raise ValidationFailed("A resident ID has 17 digits and a check digit or X.", code="cn_id.format")
    try:
        date(int(value[6:10]), int(value[10:12]), int(value[12:14]))
    except ValueError:
        raise ValidationFailed("The resident ID's birth date is not a real date.", code="cn_id.birth_date") from None
    if cn_resident_id_check_char(value[:17]) != value[17]:
        raise ValidationFailed("The resident ID's check digit does not match.", code="cn_id.checksum")
    return value
