"""One value of an imported row into its typed form, or a ``ValidationFailed`` carrying the row error's code,
English message and, in ``details``, the message's parameters: plain functions, one per kind of field,
which ``rows.validate_row`` calls for every mapped value.

API
---
``parse_date(text) -> date`` (``date.invalid`` / ``date.ambiguous``), ``parse_flag(text) -> bool`` (``flag.invalid``),
``split_phones(text) -> list[str]``, ``clean(text) -> str`` (NFKC for non-ASCII text, stripped).
``converter(slot) -> Callable[[value], typed]``: the function that checks one mapped slot's value; a value is a
non-empty cleaned string, or (from JSON) a list or dict.
``date_or_problem(text)``, ``zone_ok(name)``, ``ISO_HINT``, ``TEXT_LIMITS``: shared with the row's own rules.

Why plain functions: a marshmallow schema load cost 24-32 µs per row of an import against ~3 µs for the same
checks called directly, on a path that runs for every row of files with millions of rows. The codes and
messages are the import's contract with the lender's error file; tests/unit/test_row_validation_equivalence.py
holds them against the marshmallow schema they replace.
"""
from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable
from datetime import date
from functools import lru_cache
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from tenants.errors import ValidationFailed
from tenants.identifiers import normalize_email
from tenants.portfolios.fields import FIELDS_BY_NAME, ID_TYPES, parse_target

MAX_DAYS_PAST_DUE = 36_500
TEXT_LIMITS = {"external_ref": 100, "debtor_name": 200, "region": 100, "product": 100, "id_number": 50,
               "third_party_name": 200, "third_party_relationship": 50}

_YMD = re.compile(
    r"(\d{4})([-/.])(\d{1,2})\2(\d{1,2})(?:[ T]\d{1,2}:\d{2}(?::\d{2}(?:\.\d{1,9})?)?(?:Z|[+-]\d{2}:?\d{2})?)?"
)
_COMPACT = re.compile(r"(\d{4})(\d{2})(\d{2})")
_CHINESE = re.compile(r"(\d{4})\s*年\s*(\d{1,2})\s*月\s*(\d{1,2})\s*[日号]?")
_DAY_MONTH = re.compile(r"\d{1,2}([-/.])\d{1,2}\1\d{2,4}(?:[ T].*)?")
ISO_HINT = "write it as YYYY-MM-DD, e.g. 2024-03-05 (2024/3/5, 20240305 and 2024年3月5日 also work)"


def _fail(code: str, message: str, params: dict | None = None) -> ValidationFailed:
    """``params`` are the message's variables (and ``variant`` where one code has several messages): the web layer
    renders the error from its code and these in the reader's language (web/domain_messages.py)."""
    return ValidationFailed(message, code=code, details=params)


def clean(text: str) -> str:
    if not text.isascii():
        text = unicodedata.normalize("NFKC", text)
    return text.strip()


@lru_cache(maxsize=8192)
def date_or_problem(text: str) -> date | tuple[str, str, dict]:
    match = _YMD.fullmatch(text) or _COMPACT.fullmatch(text) or _CHINESE.fullmatch(text)
    if match is None:
        if _DAY_MONTH.fullmatch(text):
            return ("date.ambiguous",
                    f"{text!r} could be read day-first or month-first; {ISO_HINT}.", {"value": text})
        return ("date.invalid", f"{text!r} is not a date; {ISO_HINT}.", {"value": text})
    groups = [g for g in match.groups() if g and g.isdigit()]
    year, month, day = (int(g) for g in groups)
    try:
        value = date(year, month, day)
    except ValueError:
        return ("date.invalid", f"{text!r} is not a real calendar date; {ISO_HINT}.",
                {"value": text, "variant": "not_real"})
    if not 1900 <= year <= 2199:
        return ("date.invalid", f"{text!r} has an implausible year; {ISO_HINT}.", {"value": text, "variant": "year"})
    return value


def parse_date(text: str) -> date:
    result = date_or_problem(text.strip())
    if isinstance(result, tuple):
        raise _fail(*result)
    return result


_TRUE = frozenset({"1", "true", "yes", "y", "t", "是"})
_FALSE = frozenset({"0", "false", "no", "n", "f", "否", ""})


def parse_flag(text: str) -> bool:
    key = text.strip().lower()
    if key in _TRUE:
        return True
    if key in _FALSE:
        return False
    raise _fail("flag.invalid", f"{text!r} is not a yes/no value; use 1/0, yes/no, true/false or 是/否.",
                {"value": text})


_PHONE_SEPARATORS = re.compile(r"[;,/、|\n\r]+")


def split_phones(text: str) -> list[str]:
    """One cell's phone numbers: separated by ; , / 、 | or line breaks (full-width forms after NFKC)."""
    pieces = (piece.strip().lstrip("'").strip() for piece in _PHONE_SEPARATORS.split(text))
    return [piece for piece in pieces if piece]


@lru_cache(maxsize=1024)
def zone_ok(name: str) -> bool:
    if name != name.strip() or not name:
        return False
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, OSError):
        return False
    return True


_ID_TYPE_ALIASES = {
    "cn_resident_id": "cn_resident_id", "resident_id": "cn_resident_id", "cn_id": "cn_resident_id",
    "身份证": "cn_resident_id", "居民身份证": "cn_resident_id", "身份证号": "cn_resident_id",
    "passport": "passport", "护照": "passport",
    "national_id": "national_id", "aadhaar": "national_id",
    "ssn": "ssn", "social_security_number": "ssn",
    "other": "other", "其他": "other", "其它": "other",
}
_ID_TYPE_SEPARATORS = re.compile(r"[\s\-]+")


# ----------------------------------------------------------------------------------- one function per kind

def _text(limit: int | None) -> Callable:
    def text(value):
        if not isinstance(value, str):
            raise _fail("type.invalid", "Expected a single value here, not a list or object.")
        if limit and len(value) > limit:
            raise _fail("text.too_long", f"This value has {len(value)} characters; at most {limit} are allowed.",
                        {"length": len(value), "limit": limit})
        return value
    return text


def _phones(value):
    if isinstance(value, str):
        return value
    if isinstance(value, list) and all(isinstance(v, (str, int)) and not isinstance(v, bool) for v in value):
        return [clean(str(v)) for v in value]
    raise _fail("type.invalid", "Expected phone numbers as text or a list of text.", {"variant": "phones"})


def _date(value):
    if not isinstance(value, str):
        raise _fail("date.invalid", f"Expected one date; {ISO_HINT}.", {"variant": "one"})
    result = date_or_problem(value)
    if isinstance(result, tuple):
        raise _fail(*result)
    return result


def _days(value):
    text = value.removesuffix("天").strip() if isinstance(value, str) else ""
    text = text.removesuffix(".0")  # 30.0 written by a spreadsheet
    if not text.isdigit() or not text.isascii() or int(text) > MAX_DAYS_PAST_DUE:
        raise _fail("number.invalid", f"{value!r} is not a number of days; use a whole number from 0 to "
                                      f"{MAX_DAYS_PAST_DUE}.", {"value": str(value), "max": MAX_DAYS_PAST_DUE})
    return int(text)


def _flag(value):
    return parse_flag(value if isinstance(value, str) else "?")


def _time_zone(value):
    if not isinstance(value, str) or not zone_ok(value):
        raise _fail("timezone.invalid", f"{value!r} is not an IANA time zone; use a name such as "
                                        "Asia/Shanghai, America/New_York or Europe/London.", {"value": str(value)})
    return value


def _email(value):
    try:
        return normalize_email(value if isinstance(value, str) else "")
    except ValidationFailed:
        raise _fail("email.invalid", f"{value!r} is not an email address; expected name@example.com.",
                    {"value": str(value), "variant": "import"}) from None


def _id_type(value):
    key = _ID_TYPE_SEPARATORS.sub("_", value.strip().lower()) if isinstance(value, str) else ""
    if key not in _ID_TYPE_ALIASES:
        raise _fail("id_type.invalid", f"{value!r} is not an ID type; use one of {', '.join(ID_TYPES)}.",
                    {"value": str(value), "types": ", ".join(ID_TYPES)})
    return _ID_TYPE_ALIASES[key]


def _contacts(value):
    if isinstance(value, list) and all(isinstance(item, dict) for item in value):
        return value
    raise _fail("type.invalid", "Expected a list of contacts like "
                                '[{"name": "…", "phone": "…", "relationship": "…"}].', {"variant": "contacts"})


_BY_KIND = {"date": _date, "int": _days, "flag": _flag, "time_zone": _time_zone, "email": _email,
            "id_type": _id_type, "list": _contacts}


def converter(slot: str) -> Callable:
    """The check for one slot (``phone_2`` is checked as ``phone``). Amounts, currencies and third-party phones
    arrive here as text: the row checks them against its currency and region."""
    base = parse_target(slot)[0]
    kind = FIELDS_BY_NAME[base].kind
    if kind in _BY_KIND:
        return _BY_KIND[kind]
    if base == "phone":
        return _phones
    return _text(TEXT_LIMITS.get(base))
