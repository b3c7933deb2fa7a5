"""The reference the import's plain field functions are held against: the marshmallow row schema they replaced,
as it was, loading a row's values into the same (data, problems) that ``rows._convert`` produces.

Kept only here, for tests/unit/test_row_validation_equivalence.py; the import itself no longer loads rows
through marshmallow (24-32 µs per row against ~3 for the plain functions).
"""
import re
from functools import lru_cache

from marshmallow import Schema, ValidationError, fields, validates_schema

from tenants.errors import ValidationFailed
from tenants.identifiers import normalize_email
from tenants.portfolios.fields import FIELDS_BY_NAME, ID_TYPES, parse_target
from tenants.portfolios.values import (
    ISO_HINT,
    MAX_DAYS_PAST_DUE,
    TEXT_LIMITS,
    clean,
    date_or_problem,
    parse_flag,
    zone_ok,
)

_ID_TYPE_ALIASES = {
    "cn_resident_id": "cn_resident_id", "resident_id": "cn_resident_id", "cn_id": "cn_resident_id",
    "身份证": "cn_resident_id", "居民身份证": "cn_resident_id", "身份证号": "cn_resident_id",
    "passport": "passport", "护照": "passport",
    "national_id": "national_id", "aadhaar": "national_id",
    "ssn": "ssn", "social_security_number": "ssn",
    "other": "other", "其他": "other", "其它": "other",
}


def _problem(code: str, message: str, params: dict | None = None) -> ValidationError:
    # A list holding one {code, message, params} dict: marshmallow concatenates lists, so several can pile up per
    # slot.
    return ValidationError([{"code": code, "message": message, "params": params or {}}])


class _Text(fields.Field):
    def __init__(self, *, max_length: int | None = None, **kwargs):
        super().__init__(**kwargs)
        self.max_length = max_length

    def _deserialize(self, value, attr, data, **kwargs):
        if not isinstance(value, str):
            raise _problem("type.invalid", "Expected a single value here, not a list or object.")
        if self.max_length and len(value) > self.max_length:
            raise _problem("text.too_long", f"This value has {len(value)} characters; at most "
                                            f"{self.max_length} are allowed.",
                           {"length": len(value), "limit": self.max_length})
        return value


class _TextOrList(fields.Field):
    def _deserialize(self, value, attr, data, **kwargs):
        if isinstance(value, str):
            return value
        if isinstance(value, list) and all(isinstance(v, (str, int)) and not isinstance(v, bool) for v in value):
            return [clean(str(v)) for v in value]
        raise _problem("type.invalid", "Expected phone numbers as text or a list of text.", {"variant": "phones"})


class _Date(fields.Field):
    def _deserialize(self, value, attr, data, **kwargs):
        if not isinstance(value, str):
            raise _problem("date.invalid", f"Expected one date; {ISO_HINT}.", {"variant": "one"})
        result = date_or_problem(value)
        if isinstance(result, tuple):
            raise _problem(*result)
        return result


class _Days(fields.Field):
    def _deserialize(self, value, attr, data, **kwargs):
        text = value.removesuffix("天").strip() if isinstance(value, str) else ""
        text = text.removesuffix(".0")
        if not text.isdigit() or not text.isascii() or int(text) > MAX_DAYS_PAST_DUE:
            raise _problem("number.invalid", f"{value!r} is not a number of days; use a whole number from 0 to "
                                             f"{MAX_DAYS_PAST_DUE}.", {"value": str(value), "max": MAX_DAYS_PAST_DUE})
        return int(text)


class _Flag(fields.Field):
    def _deserialize(self, value, attr, data, **kwargs):
        try:
            return parse_flag(value if isinstance(value, str) else "?")
        except ValidationFailed as exc:
            raise _problem(exc.code, exc.message, exc.details) from None


class _TimeZone(fields.Field):
    def _deserialize(self, value, attr, data, **kwargs):
        if not isinstance(value, str) or not zone_ok(value):
            raise _problem("timezone.invalid", f"{value!r} is not an IANA time zone; use a name such as "
                                               "Asia/Shanghai, America/New_York or Europe/London.",
                           {"value": str(value)})
        return value


class _Email(fields.Field):
    def _deserialize(self, value, attr, data, **kwargs):
        try:
            return normalize_email(value if isinstance(value, str) else "")
        except ValidationFailed:
            raise _problem("email.invalid", f"{value!r} is not an email address; expected name@example.com.",
                           {"value": str(value), "variant": "import"}) from None


class _IdType(fields.Field):
    def _deserialize(self, value, attr, data, **kwargs):
        key = re.sub(r"[\s\-]+", "_", value.strip().lower()) if isinstance(value, str) else ""
        if key not in _ID_TYPE_ALIASES:
            raise _problem("id_type.invalid", f"{value!r} is not an ID type; use one of {', '.join(ID_TYPES)}.",
                           {"value": str(value), "types": ", ".join(ID_TYPES)})
        return _ID_TYPE_ALIASES[key]


class _Contacts(fields.Field):
    def _deserialize(self, value, attr, data, **kwargs):
        if isinstance(value, list) and all(isinstance(item, dict) for item in value):
            return value
        raise _problem("type.invalid", "Expected a list of contacts like "
                                       '[{"name": "…", "phone": "…", "relationship": "…"}].', {"variant": "contacts"})


_KIND_FIELD = {"date": _Date, "int": _Days, "flag": _Flag, "time_zone": _TimeZone, "email": _Email,
               "id_type": _IdType, "list": _Contacts}


def _schema_field(base: str) -> fields.Field:
    spec = FIELDS_BY_NAME[base]
    if spec.kind == "flag":
        return _Flag(load_default=False)
    if spec.kind in _KIND_FIELD:
        return _KIND_FIELD[spec.kind](load_default=None)
    if base == "phone":
        return _TextOrList(load_default=None)
    if spec.required:
        return _Text(required=True, max_length=TEXT_LIMITS.get(base), error_messages={"required": [{
            "code": "required", "message": f"This row has no {base.replace('_', ' ')}, which is required.",
            "params": {"field": base}}]})
    return _Text(load_default=None, max_length=TEXT_LIMITS.get(base))


class _RowSchema(Schema):
    mapped_slots: frozenset = frozenset()

    @validates_schema(skip_on_field_errors=False, pass_original=True)
    def _across_fields(self, data, original_data, **kwargs):
        problems: dict[str, list] = {}
        if "due_date" not in original_data and "days_past_due" not in original_data:
            slot = "days_past_due" if ("days_past_due" in self.mapped_slots
                                       and "due_date" not in self.mapped_slots) else "due_date"
            problems[slot] = [{"code": "required",
                               "message": "This row has neither a due date nor days past due; one is required.",
                               "params": {"variant": "due"}}]
        loan, due = data.get("loan_date"), data.get("due_date")
        if loan and due and due < loan:
            problems.setdefault("due_date", []).append({
                "code": "date.order",
                "message": f"The due date {due.isoformat()} is before the loan date {loan.isoformat()}.",
                "params": {"due": due.isoformat(), "loan": loan.isoformat()}})
        if problems:
            raise ValidationError(problems)


@lru_cache(maxsize=16)
def _schema(mapped_slots: frozenset) -> Schema:
    slots = set(mapped_slots) | {"external_ref", "debtor_name", "principal", "due_date", "days_past_due"}
    schema_fields = {slot: _schema_field(parse_target(slot)[0]) for slot in sorted(slots)}
    schema = _RowSchema.from_dict(schema_fields, name="AccountRowSchema")()
    schema.mapped_slots = mapped_slots
    return schema


def convert(values: dict, plan, problems: list) -> dict:
    """What ``validate_row`` did with a row's values before ``rows._convert``: one marshmallow schema load."""
    try:
        return _schema(frozenset(plan.header_of)).load(values)
    except ValidationError as exc:
        for slot, messages in exc.messages.items():
            for message in messages if isinstance(messages, list) else [messages]:
                problems.append((slot if slot != "_schema" else "", message["code"], message["message"],
                                 message["params"]))
        return exc.valid_data or {}
