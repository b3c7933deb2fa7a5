"""The agency panel: a lender's approved agencies (contract, default terms, yearly review); an agency sees the
lenders whose panel it is on."""
import uuid

from flask_smorest import Blueprint

from tenants.capabilities import Capability
from tenants.db import db
from tenants.errors import NotFound
from tenants.placements import panel
from web.access import require_capability
from web.api.portfolio_schemas import (
    NewRelationshipIn,
    RelationshipList,
    RelationshipOut,
    is_lender,
    lenders_and_agencies,
    lenders_only,
)

blp = Blueprint("api_panel", __name__, url_prefix="/api/v1", description="The agency panel")


@blp.route("/agencies")
@lenders_and_agencies
@blp.response(200, RelationshipList)
def list_agencies():
    """A lender's panel (with `review_due`), or for an agency token the lenders whose panel it is on."""
    return {"items": panel.list_panel() if is_lender() else panel.list_lenders()}


@blp.route("/agencies", methods=["POST"])
@lenders_only
@require_capability(Capability.PANEL_ADD)
@blp.arguments(NewRelationshipIn)
@blp.response(201, RelationshipOut)
def add_agency(data):
    """Add an agency to the panel by its address (slug). The first review falls due a year after the start."""
    relationship = panel.add_agency(**data)
    db.session.commit()
    return relationship


@blp.route("/agencies/<uuid:relationship_id>")
@lenders_and_agencies
@blp.response(200, RelationshipOut)
def agency(relationship_id: uuid.UUID):
    return _relationship(relationship_id)


def _relationship(relationship_id: uuid.UUID):
    if is_lender():
        return panel.get_relationship(relationship_id)
    found = next((r for r in panel.list_lenders() if r.id == relationship_id), None)
    if found is None:
        raise NotFound(code="agency.not_found")
    return found


@blp.route("/agencies/<uuid:relationship_id>/review", methods=["POST"])
@lenders_only
@require_capability(Capability.PANEL_REVIEW)
@blp.response(200, RelationshipOut)
def review(relationship_id: uuid.UUID):
    """Record the yearly evaluation of this agency as done today; the next falls due in a year."""
    relationship = panel.record_review(panel.get_relationship(relationship_id))
    db.session.commit()
    return relationship
