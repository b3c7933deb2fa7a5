"""Response schemas of the API."""
from marshmallow import Schema, fields

from tenants.conduct.baseline import baseline_of


class _WithExtra:
    def __init__(self, obj, extra: dict):
        self._obj, self._extra = obj, extra

    def __getattr__(self, name):
        return self._extra[name] if name in self._extra else getattr(self._obj, name)


def with_extra(obj, schema: type[Schema], **extra) -> _WithExtra:
    """An object plus values shown once (a new secret), ready for the response schema."""
    return _WithExtra(obj, extra)


class TenantOut(Schema):
    id = fields.UUID()
    kind = fields.String()
    slug = fields.String()
    name = fields.String()
    status = fields.String()
    time_zone = fields.String()
    locale = fields.String()
    currency = fields.String()
    created_at = fields.DateTime()
    conduct_baseline = fields.Function(lambda t: baseline_of(t) if t.kind == "lender" else None, metadata={
        "description": "Lenders: the rulebook preset the platform assigned (cn, us, uk, in, ie)."})


class MemberOut(Schema):
    id = fields.UUID()
    role = fields.String()
    is_active = fields.Boolean()
    created_at = fields.DateTime()
    name = fields.Function(lambda m: m.user.name)
    email = fields.Function(lambda m: m.user.email)


class TokenOut(Schema):
    id = fields.UUID()
    name = fields.String()
    role = fields.String()
    prefix = fields.String()
    created_at = fields.DateTime()
    last_used_at = fields.DateTime(allow_none=True)
    revoked_at = fields.DateTime(allow_none=True)


class TokenCreatedOut(TokenOut):
    secret = fields.String(metadata={"description": "Shown once; store it now."})


class AuditEventOut(Schema):
    id = fields.UUID()
    seq = fields.Integer()
    occurred_at = fields.DateTime()
    actor_label = fields.String()
    action = fields.String()
    object_type = fields.String()
    object_id = fields.String(allow_none=True)
    before = fields.Dict(allow_none=True)
    after = fields.Dict(allow_none=True)
    prev_hash = fields.String()
    hash = fields.String()


class InvitationOut(Schema):
    accept_url = fields.String(metadata={"description": "One-time link; shown once."})
    expires_in_days = fields.Integer()


class TenantCreatedOut(TenantOut):
    first_admin_accept_url = fields.String()


class StatusChangeIn(Schema):
    reason = fields.String(load_default="")


class MeOut(Schema):
    tenant = fields.Nested(TenantOut)
    role = fields.String()
    token_id = fields.UUID()
