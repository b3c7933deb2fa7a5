"""Input schemas shared by the complaint forms and the API."""
from marshmallow import Schema, ValidationError, fields, pre_load, validate, validates_schema

from tenants.compliance.models import CATEGORIES, RECEIVED_VIA, ComplaintStatus


class _BlankIsNone(Schema):
    @pre_load
    def _blank_to_none(self, data, **_):
        # An unchosen select or an empty text box arrives as "": the same as not given.
        if not isinstance(data, dict):
            return data  # marshmallow refuses a body that is not an object
        return {k: (None if isinstance(v, str) and not v.strip() else v) for k, v in data.items()}


class ComplaintIn(_BlankIsNone):
    lender_id = fields.UUID(load_default=None, allow_none=True,
                            metadata={"description": "Platform admins: the lender whose external_ref this is."})
    account_id = fields.UUID(load_default=None, allow_none=True)
    external_ref = fields.String(load_default=None, allow_none=True, validate=validate.Length(max=100),
                                 metadata={"description": "The lender's own account reference (or give account_id)."})
    agency_id = fields.UUID(load_default=None, allow_none=True,
                            metadata={"description": "The agency complained of: one that held the account."})
    attempt_id = fields.UUID(load_default=None, allow_none=True,
                             metadata={"description": "The contact attempt complained of, on this account."})
    received_at = fields.AwareDateTime(load_default=None, allow_none=True,
                                       metadata={"description": "When the complaint arrived (default: now)."})
    received_via = fields.String(required=True, validate=validate.OneOf(RECEIVED_VIA))
    category = fields.String(required=True, validate=validate.OneOf(CATEGORIES))
    description = fields.String(required=True, validate=validate.Length(min=1, max=5000))

    @validates_schema
    def _an_account(self, data, **_):
        if not data.get("account_id") and not data.get("external_ref"):
            raise ValidationError({"external_ref": ["Give the account's external reference or its id."]})


class ComplaintStatusIn(_BlankIsNone):
    status = fields.String(required=True, validate=validate.OneOf(
        [s for s in ComplaintStatus.ALL if s != ComplaintStatus.OPEN]))
    resolution = fields.String(load_default=None, allow_none=True, validate=validate.Length(max=5000),
                               metadata={"description": "What was found and done (required to uphold or reject)."})
