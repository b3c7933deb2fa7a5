"""Input schemas shared by the web forms and the API."""
import re
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from marshmallow import Schema, ValidationError, fields, validate, validates

from tenants.errors import ValidationFailed
from tenants.money import check_currency
from tenants.tenancy.passwords import MIN_LENGTH
from tenants.tenancy.roles import ALL_ROLES, TenantKind

LOCALES = ("en", "zh_CN")
SLUG = re.compile(r"^[a-z0-9](?:[a-z0-9-]{1,61}[a-z0-9])$")
RESERVED_SLUGS = {"admin", "api", "login", "logout", "static", "t", "invite", "platform"}


class NewTenantSchema(Schema):
    kind = fields.String(required=True, validate=validate.OneOf([TenantKind.LENDER, TenantKind.AGENCY]))
    slug = fields.String(required=True)
    name = fields.String(required=True, validate=validate.Length(min=2, max=200))
    time_zone = fields.String(load_default="Asia/Shanghai")
    locale = fields.String(load_default="zh_CN", validate=validate.OneOf(LOCALES))
    currency = fields.String(load_default="CNY")
    first_admin_email = fields.Email(required=True)

    @validates("slug")
    def _slug(self, value, **_):
        if not SLUG.match(value) or value in RESERVED_SLUGS:
            raise ValidationError("Use 3–63 lowercase letters, digits and hyphens.")

    @validates("time_zone")
    def _zone(self, value, **_):
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValidationError("Not an IANA time zone, e.g. Asia/Shanghai.") from None

    @validates("currency")
    def _currency(self, value, **_):
        try:
            check_currency(value)
        except ValidationFailed as exc:
            raise ValidationError(exc.message) from None


class InvitationSchema(Schema):
    email = fields.Email(required=True)
    role = fields.String(required=True, validate=validate.OneOf(ALL_ROLES))


class AcceptInvitationSchema(Schema):
    name = fields.String(required=True, validate=validate.Length(min=1, max=200))
    password = fields.String(required=True, load_only=True, validate=validate.Length(min=MIN_LENGTH, max=200))


class ChangePasswordSchema(Schema):
    current_password = fields.String(required=True, load_only=True, validate=validate.Length(min=1, max=200))
    new_password = fields.String(required=True, load_only=True, validate=validate.Length(min=MIN_LENGTH, max=200))


class NewApiTokenSchema(Schema):
    name = fields.String(required=True, validate=validate.Length(min=1, max=100))
    role = fields.String(required=True, validate=validate.OneOf(ALL_ROLES))


def load(schema: Schema, data) -> dict:
    """Validate with a schema; field errors become one ValidationFailed with the messages per field."""
    try:
        return schema.load(data, unknown="exclude")
    except ValidationError as exc:
        raise ValidationFailed(details={"fields": exc.messages}) from None
