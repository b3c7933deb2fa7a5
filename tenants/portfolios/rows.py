"""Validating one imported row into an ``AccountRecord``, reporting every problem of the row at once.

API
---
``RowContext(currency, default_region, default_time_zone, today, country)``: the lender's defaults.
``ThirdParty(name, phone, relationship)``, ``AccountRecord(...)``, ``CellError(column, code, message, params)``.
``validate_row(raw, mapping, ctx) -> (AccountRecord | None, list[CellError])``.
Each value is checked by a plain function of ``values.py`` (one per kind of field); this module holds the rules
spanning several values (amounts against the row's currency, the ID against its type, phones against the
lender's region, contacts, time zones, days past due).

Policy
------
A row lands only when every value in it is valid: one bad value (even one bad phone among several good
ones) fails the whole row, which then goes to the error file with all of its problems listed, so the lender
fixes it once and re-uploads. ``CellError.column`` is the lender's own header ('' for a problem of the row
as a whole or of a required field no column is mapped to). Values are NFKC-normalised (full-width digits,
letters, spaces and punctuation become half-width) and stripped before validation.

Codes: ``required``, ``money.invalid``, ``money.too_precise``, ``money.negative``, ``money.unknown_currency``,
``date.invalid``, ``date.ambiguous``, ``date.order``, ``cn_id.format``, ``cn_id.checksum``, ``cn_id.birth_date``,
``phone.invalid``, ``email.invalid``, ``timezone.invalid``, ``flag.invalid``, ``id_type.invalid``,
``number.invalid``, ``row.extra_values``, plus ``text.too_long`` (a value longer than its database column)
and ``type.invalid`` (a JSON list/object where one value is expected, or a malformed contact object).

Rules worth knowing
-------------------
* Dates: ``2024-03-05``, ``2024/3/5``, ``2024.3.5``, ``20240305``, ``2024年3月5日`` (a trailing time is ignored).
  Day-first or month-first forms such as ``03/05/2024`` are refused as ``date.ambiguous``.
* Amounts: exact decimals via ``Money.parse`` — ``1,234.50``, ``¥1,234.50``, ``1234.5元``, ``CNY 100``; no more
  decimals than the currency has; never negative. Missing interest/fees/penalty are 0; the original amount
  defaults to the principal. The row's currency column overrides ``ctx.currency``; when that column holds an
  unknown code the amounts are still checked for form and sign (not precision) so all problems show at once.
* ``id_type`` defaults to ``cn_resident_id`` for a CN lender when an ID number is present, else ``other``; the
  resident ID (GB 11643 format, birth date, check digit) is checked only for ``cn_resident_id``.
* Phones: every phone column, each cell split on ``; , / 、 |`` and newlines, normalised to E.164 with
  ``ctx.default_region`` for numbers without a country code, de-duplicated keeping order.
* Time zones: an explicit ``time_zone`` column wins (source ``explicit``); otherwise the union of the zones of
  all phone numbers (source ``phone``); otherwise ``[ctx.default_time_zone]`` (source ``tenant``).
* ``days_past_due``: a non-negative whole number (``30`` or ``30天``); when absent, ``(ctx.today - due_date).days``
  clamped at 0. At least one of due date and days past due is required.
* A third-party contact (``third_party_*_N`` columns, or a JSON ``third_parties`` list of
  ``{name, phone, relationship}``) with any value needs a name; its phone is optional.
* Flags: ``1 true yes y t 是`` / ``0 false no n f 否`` or empty (case-insensitive).
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date
from functools import lru_cache

import phonenumbers
from phonenumbers.timezone import time_zones_for_number
from phonenumbers.tzdata import TIMEZONE_DATA

from tenants.errors import ValidationFailed
from tenants.identifiers import normalize_cn_resident_id, normalize_phone
from tenants.money import Money, check_currency, minor_digits
from tenants.portfolios.fields import REQUIRED_FIELDS, parse_target, slot_name
from tenants.portfolios.parsing import EXTRA_KEY, cell_text
from tenants.portfolios.values import TEXT_LIMITS, clean, converter, split_phones

MONEY_FIELDS = ("original_amount", "principal", "interest", "fees", "penalty", "last_payment_amount")
DATE_FIELDS = ("loan_date", "due_date", "last_payment_date", "charge_off_date", "limitation_date")
FLAG_FIELDS = ("deceased", "bankrupt", "disputed", "attorney", "cease_requested")
UNKNOWN_ZONE = "Etc/Unknown"
MAX_MINOR = 10**15  # per amount: four of them still fit the 64-bit outstanding balance


@dataclass
class RowContext:
    currency: str
    default_region: str
    default_time_zone: str
    today: date
    country: str


@dataclass
class ThirdParty:
    name: str
    phone: str | None
    relationship: str


@dataclass
class AccountRecord:
    external_ref: str
    debtor_name: str
    id_type: str
    id_number: str | None
    phones: list[str]
    email: str | None
    address: str | None
    region: str | None
    time_zones: list[str]
    time_zone_source: str
    product: str | None
    currency: str
    original_minor: int
    principal_minor: int
    interest_minor: int
    fees_minor: int
    penalty_minor: int
    loan_date: date | None
    due_date: date | None
    days_past_due: int
    last_payment_date: date | None
    last_payment_minor: int | None
    charge_off_date: date | None
    limitation_date: date | None
    third_parties: list[ThirdParty] = field(default_factory=list)
    deceased: bool = False
    bankrupt: bool = False
    disputed: bool = False
    attorney: bool = False
    cease_requested: bool = False


@dataclass
class CellError:
    """``message`` is English (the API's and the audit's); ``params`` are its variables, plus ``variant`` where one
    code has several messages, so a page renders the error in its reader's language from ``code`` and ``params``
    (web/domain_messages.py). Errors stored before ``params`` existed have none."""

    column: str
    code: str
    message: str
    params: dict = field(default_factory=dict)


# --------------------------------------------------------------------------------------------- time zones

@lru_cache(maxsize=512)
def _country_zones(country_code: str) -> tuple[str, ...] | None:
    """The zones of every valid number of a country when they are all the same (China, India …), else None.

    phonenumbers looks zones up by the longest matching prefix of the E.164 digits (country codes are
    prefix-free); when the bare country code has an entry and every longer prefix maps to that same tuple,
    the answer cannot depend on the rest of the number, so the costly re-parse can be skipped.
    """
    zones = TIMEZONE_DATA.get(country_code)
    if zones is None:
        return None
    if all(v == zones for k, v in TIMEZONE_DATA.items() if k.startswith(country_code)):
        return zones
    return None


def _zones_of(e164: str) -> tuple[str, ...]:
    """``time_zones_for_number`` for a valid E.164 number, without re-parsing it when the country decides."""
    for length in (1, 2, 3):
        code = e164[1:1 + length]
        if int(code) in phonenumbers.COUNTRY_CODE_TO_REGION_CODE:
            zones = _country_zones(code)
            if zones is not None:
                return zones
            break
    return time_zones_for_number(phonenumbers.parse(e164))


_CN_ID_HINTS = {
    "cn_id.format": "Expected 17 digits then a digit or X, e.g. 11010519491231002X; if this is another kind of "
                    "document, add an ID type column (passport, national_id, other).",
    "cn_id.checksum": "Check the number for a mistyped digit.",
    "cn_id.birth_date": "Characters 7-14 must be the birth date as YYYYMMDD.",
}


# --------------------------------------------------------------------------------------------- mapping plans

@dataclass(frozen=True)
class _Plan:
    columns: tuple[tuple[str, str], ...]  # (lender's header, slot), mapped headers only
    header_of: dict
    order: dict
    convert: dict  # slot -> its value's check (values.converter)
    phone_slots: tuple[str, ...]
    # Per numbered contact: its (name, phone, relationship) slots, and the slot a missing name is reported on —
    # the name column, or whichever of the contact's columns is mapped.
    contacts: tuple[tuple[tuple[str, str, str], str], ...]
    has_contact_list: bool


@lru_cache(maxsize=64)
def _plan(items: tuple[tuple[str, str], ...]) -> _Plan:
    columns, header_of = [], {}
    for header, target in items:
        if not target:
            continue
        try:
            base, number = parse_target(target)
        except ValueError:
            raise ValidationFailed(f"Column {header!r} is mapped to unknown field {target!r}.",
                                   code="mapping.invalid") from None
        slot = slot_name(base, number)
        if slot in header_of:
            raise ValidationFailed(f"Columns {header_of[slot]!r} and {header!r} are both mapped to {slot}.",
                                   code="mapping.invalid")
        header_of[slot] = header
        columns.append((header, slot))

    phone_slots = sorted((s for s in header_of if parse_target(s)[0] == "phone"), key=lambda s: parse_target(s)[1])
    contact_numbers = sorted({parse_target(s)[1] for s in header_of if s.startswith("third_party_")
                              and parse_target(s)[0] != "third_parties"})
    contacts = []
    for number in contact_numbers:
        slots = tuple(slot_name(f"third_party_{part}", number) for part in ("name", "phone", "relationship"))
        contacts.append((slots, next((slot for slot in slots if slot in header_of), slots[0])))
    return _Plan(
        columns=tuple(columns),
        header_of=header_of,
        order={slot: i for i, (_, slot) in enumerate(columns)},
        convert={slot: converter(slot) for slot in header_of},
        phone_slots=tuple(phone_slots),
        contacts=tuple(contacts),
        has_contact_list="third_parties" in header_of,
    )


# --------------------------------------------------------------------------------------------- validate_row

def _strip_unit(text: str, currency: str) -> str:
    if text[-1:].isdigit() and (text[:1].isdigit() or text[:1] in "¥$£€₹-+."):
        return text
    text = text.removesuffix("元").strip()
    upper = text.upper()
    for code in (currency, "RMB" if currency == "CNY" else ""):
        if code and upper.startswith(code):
            return text[len(code):].strip()
        if code and upper.endswith(code):
            return text[: -len(code)].strip()
    return text


@lru_cache(maxsize=64)
def _plain_decimal(currency: str) -> tuple[re.Pattern, int]:
    """(bare digits with at most the currency's decimals and below MAX_MINOR minor units, those decimals)."""
    digits = minor_digits(currency)
    fraction = rf"(?:\.([0-9]{{1,{digits}}}))?" if digits else ""
    return re.compile(rf"([0-9]{{1,{15 - digits}}}){fraction}"), digits


def _plain_amount(text: str, currency: str) -> int | None:
    """Minor units of an amount as most files write it (``465.43``) without Money.parse's Decimal (0.8 instead
    of 2 µs, for four or more amounts a row), else None. Its pattern admits only what Money.parse reads as exactly
    these digits, valid, non-negative and in range, so it never changes a verdict (see
    tests/unit/test_row_validation_equivalence.py)."""
    pattern, digits = _plain_decimal(currency)
    match = pattern.fullmatch(text)
    if match is None:
        return None
    fraction = match[2] if digits else None
    return int(match[1]) * 10**digits + (int(fraction.ljust(digits, "0")) if fraction else 0)


def _amount(text: str, currency: str, *, check_precision: bool = True) -> int | tuple[str, str, dict]:
    plain = _plain_amount(text, currency)
    if plain is not None:
        return plain
    try:
        minor = Money.parse(_strip_unit(text, currency), currency).minor
    except ValidationFailed as exc:
        if exc.code == "money.too_precise":
            if not check_precision:
                return 0
            return ("money.too_precise",
                    f"{text!r} has more than {minor_digits(currency)} decimal places, the most {currency} allows.",
                    {"value": text, "digits": minor_digits(currency), "currency": currency})
        return ("money.invalid", (f"{text!r} is not an amount; write a number such as 1234.50 "
                                  "(thousands separators and a currency symbol are allowed)."), {"value": text})
    if minor < 0:
        return ("money.negative", f"{text!r} is negative; amounts owed must be zero or more.", {"value": text})
    if minor > MAX_MINOR:
        return ("money.invalid", f"{text!r} is implausibly large for one account; check the amount.",
                {"value": text, "variant": "too_large"})
    return minor


def validate_row(raw: dict, mapping: dict[str, str], ctx: RowContext) -> tuple[AccountRecord | None, list[CellError]]:
    """Validate one row of an import; see the module docstring for the rules. Returns the record and no
    errors, or None and every error found in the row. Raises ValidationFailed(mapping.invalid) for a mapping
    that targets unknown fields or one field twice (``fields.check_mapping`` catches that up front)."""
    plan = _plan(tuple(mapping.items()))

    values: dict = {}
    for header, slot in plan.columns:
        value = raw.get(header)
        if value is None:
            continue
        if type(value) is not str:
            value = cell_text(value)
            if not isinstance(value, str):
                if value:
                    values[slot] = value
                continue
        if value:
            value = clean(value)
            if value:
                values[slot] = value

    problems: list[tuple[str, str, str, dict]] = []  # (slot or "", code, message, params)
    extra = raw.get(EXTRA_KEY)
    if extra:
        problems.append(("", "row.extra_values",
                         (f"This row has more cells than there are column headers (extra: {extra!r}); "
                          "remove them or give the column a header."), {"extra": str(extra)}))
    data = _convert(values, plan, problems)
    bad_slots = {problem[0] for problem in problems}

    # Currency and amounts.
    currency_text = data.get("currency")
    currency, check_precision = check_currency(ctx.currency), True
    if currency_text:
        try:
            currency = check_currency(currency_text)
        except ValidationFailed:
            check_precision = False
            problems.append(("currency", "money.unknown_currency",
                             (f"{currency_text!r} is not a currency code; use an ISO 4217 code such as CNY, USD, "
                              "GBP or INR."), {"value": currency_text, "variant": "import"}))
    amounts: dict[str, int | None] = {}
    for name in MONEY_FIELDS:
        text = data.get(name)
        if not text:
            amounts[name] = None
            continue
        result = _amount(text, currency, check_precision=check_precision)
        if isinstance(result, tuple):
            problems.append((name, *result))
        else:
            amounts[name] = result

    # Identity document.
    id_number = data.get("id_number")
    if id_number:
        id_number = id_number.lstrip("'").strip()
    id_type = data.get("id_type")
    if id_type is None and "id_type" not in bad_slots:
        id_type = "cn_resident_id" if ctx.country == "CN" and id_number else "other"
    if id_type == "cn_resident_id" and id_number:
        try:
            id_number = normalize_cn_resident_id(id_number)
        except ValidationFailed as exc:
            problems.append(("id_number", exc.code, f"{exc.message} {_CN_ID_HINTS.get(exc.code, '')}".strip(),
                             {"variant": "import"}))

    # Phones.
    phones: dict[str, None] = {}
    for slot in plan.phone_slots:
        value = data.get(slot)
        if not value:
            continue
        for piece in value if isinstance(value, list) else split_phones(value):
            try:
                phones[normalize_phone(piece, ctx.default_region)] = None
            except ValidationFailed:
                problems.append((slot, "phone.invalid", *_bad_phone(piece, ctx)))

    third_parties = _third_parties(data, plan, ctx, problems)

    if problems:
        return None, _cell_errors(problems, plan)

    # Everything is valid: derive and assemble.
    due_date = data.get("due_date")
    days_past_due = data.get("days_past_due")
    if days_past_due is None:
        days_past_due = max(0, (ctx.today - due_date).days)
    explicit_zone = data.get("time_zone")
    if explicit_zone:
        zones, source = [explicit_zone], "explicit"
    else:
        found: dict[str, None] = {}
        for e164 in phones:
            for zone in _zones_of(e164):
                if zone != UNKNOWN_ZONE:
                    found[zone] = None
        zones, source = (list(found), "phone") if found else ([ctx.default_time_zone], "tenant")
    principal = amounts["principal"]
    record = AccountRecord(
        external_ref=data["external_ref"],
        debtor_name=data["debtor_name"],
        id_type=id_type,
        id_number=id_number or None,
        phones=list(phones),
        email=data.get("email"),
        address=data.get("address"),
        region=data.get("region"),
        time_zones=zones,
        time_zone_source=source,
        product=data.get("product"),
        currency=currency,
        original_minor=amounts["original_amount"] if amounts["original_amount"] is not None else principal,
        principal_minor=principal,
        interest_minor=amounts["interest"] or 0,
        fees_minor=amounts["fees"] or 0,
        penalty_minor=amounts["penalty"] or 0,
        loan_date=data.get("loan_date"),
        due_date=due_date,
        days_past_due=days_past_due,
        last_payment_date=data.get("last_payment_date"),
        last_payment_minor=amounts["last_payment_amount"],
        charge_off_date=data.get("charge_off_date"),
        limitation_date=data.get("limitation_date"),
        third_parties=third_parties,
        **{flag: bool(data.get(flag)) for flag in FLAG_FIELDS},
    )
    return record, []


_ALWAYS = frozenset({"external_ref", "debtor_name", "principal", "due_date", "days_past_due"})
_REQUIRED_SLOTS = tuple(sorted(REQUIRED_FIELDS))  # the order their errors have always been listed in


def _convert(values: dict, plan: _Plan, problems: list) -> dict:
    """Each present value through its slot's check, then the rules spanning several values. Problems of
    values missing from a required slot keep the order the error file has always listed them in."""
    data = {}
    convert = plan.convert
    for slot, value in values.items():
        try:
            data[slot] = convert[slot](value)
        except ValidationFailed as exc:
            problems.append((slot, exc.code, exc.message, exc.details))
    for slot in _REQUIRED_SLOTS:
        if slot not in values:
            problems.append((slot, "required", f"This row has no {slot.replace('_', ' ')}, which is required.",
                             {"field": slot}))
    if "due_date" not in values and "days_past_due" not in values:
        slot = "days_past_due" if ("days_past_due" in plan.header_of
                                   and "due_date" not in plan.header_of) else "due_date"
        problems.append((slot, "required", "This row has neither a due date nor days past due; one is required.",
                         {"variant": "due"}))
    loan, due = data.get("loan_date"), data.get("due_date")
    if loan and due and due < loan:
        problems.append(("due_date", "date.order",
                         f"The due date {due.isoformat()} is before the loan date {loan.isoformat()}.",
                         {"due": due.isoformat(), "loan": loan.isoformat()}))
    return data


def _bad_phone(value: str, ctx: RowContext) -> tuple[str, dict]:
    return (f"{value!r} is not a valid phone number for {ctx.default_region}; check the digits, or start a "
            "foreign number with + and its country code.", {"value": value, "region": ctx.default_region})


def _contact(name, phone, relationship, ctx, problems, slots) -> ThirdParty | None:
    name_slot, phone_slot, relationship_slot = slots
    if not (name or phone or relationship):
        return None
    e164 = None
    if phone:
        try:
            e164 = normalize_phone(phone.lstrip("'"), ctx.default_region)
        except ValidationFailed:
            problems.append((phone_slot, "phone.invalid", *_bad_phone(phone, ctx)))
    if relationship and len(relationship) > TEXT_LIMITS["third_party_relationship"]:
        limit = TEXT_LIMITS["third_party_relationship"]
        problems.append((relationship_slot, "text.too_long",
                         f"This value has {len(relationship)} characters; at most {limit} are allowed.",
                         {"length": len(relationship), "limit": limit}))
    if not name:
        problems.append((name_slot, "required",
                         "This contact has a phone number or relationship but no name; a contact needs a name.",
                         {"variant": "contact_name"}))
        return None
    return ThirdParty(name=name, phone=e164, relationship=relationship or "")


def _third_parties(data: dict, plan: _Plan, ctx: RowContext, problems: list) -> list[ThirdParty]:
    contacts: list[ThirdParty] = []
    for (name_slot, phone_slot, relationship_slot), blame in plan.contacts:
        name, phone, relationship = data.get(name_slot), data.get(phone_slot), data.get(relationship_slot)
        contact = _contact(name, phone, relationship, ctx, problems, (blame, phone_slot, relationship_slot))
        if contact is not None:
            contacts.append(contact)
    if plan.has_contact_list:
        for item in data.get("third_parties") or []:
            texts = []
            for key in ("name", "phone", "relationship"):
                value = cell_text(item.get(key))
                if not isinstance(value, str):
                    problems.append(("third_parties", "type.invalid",
                                     f"A contact's {key} must be a single value, not a list or object.",
                                     {"key": key, "variant": "contact_value"}))
                    value = ""
                texts.append(clean(value))
            contact = _contact(*texts, ctx, problems, ("third_parties",) * 3)
            if contact is not None:
                contacts.append(contact)
    return contacts


def _cell_errors(problems: list[tuple[str, str, str, dict]], plan: _Plan) -> list[CellError]:
    errors = []
    for slot, code, message, params in problems:
        column = plan.header_of.get(slot, "")
        if code == "required" and slot and not column and slot in _ALWAYS:
            label = "due_date or days_past_due" if slot in ("due_date", "days_past_due") else slot
            message = f"No column is mapped to {label}, which is required."
            params = {"field": label, "variant": "unmapped"}
        errors.append((plan.order.get(slot, -1) if column else -1, CellError(column, code, message, params)))
    errors.sort(key=lambda pair: pair[0])
    return [error for _, error in errors]
