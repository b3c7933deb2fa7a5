"""A lender's compliance console, the platform's pages limited to attempts on the lender's own accounts and to its
own complaints (web.compliance_pages); and an agency's read-only list of complaints about it."""
import uuid

from tenants.capabilities import Capability
from web import compliance_pages as pages
from web.access import require_capability
from web.tenant import bp
from web.tenant.portfolios import agency_page, lender_page


@bp.route("/compliance")
@lender_page
def compliance_overview():
    return pages.overview_page()


@bp.route("/compliance/decisions-per-day.svg")
@lender_page
def compliance_chart():
    return pages.chart_page()


@bp.route("/compliance/decisions")
@lender_page
def compliance_decisions():
    return pages.decisions_page()


@bp.route("/compliance/decisions/<uuid:attempt_id>")
@lender_page
def compliance_decision(attempt_id: uuid.UUID):
    return pages.decision_page(attempt_id)


@bp.route("/compliance/portal")
@lender_page
def compliance_portal():
    return pages.portal_page()


@bp.route("/compliance/complaints")
@lender_page
def complaints():
    return pages.complaints_page()


@bp.route("/compliance/complaints/new", methods=["GET", "POST"])
@lender_page
def complaint_new():
    return pages.complaint_new_page()


@bp.route("/compliance/complaints/<uuid:complaint_id>")
@lender_page
def complaint_detail(complaint_id: uuid.UUID):
    return pages.complaint_page(complaint_id)


@bp.route("/compliance/complaints/<uuid:complaint_id>/status", methods=["POST"])
@lender_page
def complaint_status(complaint_id: uuid.UUID):
    return pages.complaint_status_page(complaint_id)


@bp.route("/complaints")
@agency_page
@require_capability(Capability.COMPLAINT_READ)
def agency_complaints():
    return pages.agency_complaints_page()
