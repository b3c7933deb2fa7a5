"""The calling tenant's own settings (e.g. an agency auto-accepting placements)."""
from flask import g
from flask_smorest import Blueprint
from marshmallow import Schema, fields

from tenants.capabilities import Capability
from tenants.db import db
from tenants.tenancy.settings import update_settings
from web.access import require_capability

blp = Blueprint("api_settings", __name__, url_prefix="/api/v1", description="Tenant settings")


class SettingsSchema(Schema):
    auto_accept_placements = fields.Boolean(metadata={"description": "Agencies: accept every placement offer."})
    collectors_own_cases_only = fields.Boolean(metadata={
        "description": "Agencies: a collector opens, contacts and lists only the cases assigned to them (others are "
                       "404); supervisors and admins see every case."})
    country = fields.String(metadata={"description": "Lenders: ISO country of the portfolio (phone region)."})


@blp.route("/settings")
@blp.response(200, SettingsSchema)
def read_settings():
    return g.tenant.settings or {}


@blp.route("/settings", methods=["PUT"])
@require_capability(Capability.SETTINGS_MANAGE)
@blp.arguments(SettingsSchema)
@blp.response(200, SettingsSchema)
def change_settings(data):
    settings = update_settings(g.tenant, data)
    db.session.commit()
    return settings
