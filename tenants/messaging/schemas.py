"""Input schemas of message templates, shared by the web forms and the API."""
from marshmallow import Schema, ValidationError, fields, pre_load, validate, validates_schema

from tenants.messaging.models import CHANNELS, LOCALES, TARGETS, WITH_SUBJECT

MESSAGE_KIND = validate.Regexp(r"^[a-z0-9_]{1,100}$", error="Lowercase letters, digits and underscores.")


class TemplateTextSchema(Schema):
    """What a new version may change."""

    name = fields.String(required=True, validate=validate.Length(min=1, max=200))
    subject = fields.String(load_default=None, allow_none=True, validate=validate.Length(max=500))
    body = fields.String(required=True, validate=validate.Length(min=1, max=10_000))
    message_kind = fields.String(load_default=None, allow_none=True, validate=MESSAGE_KIND,
                                 metadata={"description": "Matched against a hold's allow-list, e.g. "
                                                          "notice_collection_stops (optional)."})

    @pre_load
    def _blank_is_none(self, data, **_):
        # A web form posts an empty string for an optional field left blank.
        if not isinstance(data, dict):
            return data
        return {key: None if key in ("subject", "message_kind") and value == "" else value
                for key, value in data.items()}


class NewTemplateSchema(TemplateTextSchema):
    channel = fields.String(required=True, validate=validate.OneOf(CHANNELS))
    locale = fields.String(required=True, validate=validate.OneOf(LOCALES))
    target = fields.String(load_default="debtor", validate=validate.OneOf(TARGETS))

    @validates_schema
    def _subject(self, data, **_):
        if data.get("channel") in WITH_SUBJECT and not (data.get("subject") or "").strip():
            raise ValidationError({"subject": ["An email or letter needs a subject."]})

