"""The platform's compliance console: decisions by agency, rule and day, conduct scorecards, any decision
replayed, complaints from intake to resolution, and every tenant's audit chain verified on demand. The pages are
shared with the lenders' own console (web.compliance_pages); here they read across tenants."""
import uuid

from flask import render_template
from sqlalchemy import select

from tenants.audit import verify_chain
from tenants.capabilities import Capability
from tenants.context import platform_scope
from tenants.db import db
from tenants.tenancy.models import Tenant
from web import compliance_pages as pages
from web.access import require_capability
from web.admin import bp


@bp.route("/compliance")
@require_capability(Capability.PLATFORM_CONSOLE)
def compliance_overview():
    return pages.overview_page()


@bp.route("/compliance/decisions-per-day.svg")
@require_capability(Capability.PLATFORM_CONSOLE)
def compliance_chart():
    return pages.chart_page()


@bp.route("/compliance/decisions")
@require_capability(Capability.PLATFORM_CONSOLE)
def compliance_decisions():
    return pages.decisions_page()


@bp.route("/compliance/decisions/<uuid:attempt_id>")
@require_capability(Capability.PLATFORM_CONSOLE)
def compliance_decision(attempt_id: uuid.UUID):
    return pages.decision_page(attempt_id)


@bp.route("/compliance/portal")
@require_capability(Capability.PLATFORM_CONSOLE)
def compliance_portal():
    return pages.portal_page()


@bp.route("/complaints")
@require_capability(Capability.PLATFORM_CONSOLE)
def complaints():
    return pages.complaints_page()


@bp.route("/complaints/new", methods=["GET", "POST"])
@require_capability(Capability.PLATFORM_CONSOLE)
def complaint_new():
    return pages.complaint_new_page()


@bp.route("/complaints/<uuid:complaint_id>")
@require_capability(Capability.PLATFORM_CONSOLE)
def complaint_detail(complaint_id: uuid.UUID):
    return pages.complaint_page(complaint_id)


@bp.route("/complaints/<uuid:complaint_id>/status", methods=["POST"])
@require_capability(Capability.PLATFORM_CONSOLE)
def complaint_status(complaint_id: uuid.UUID):
    return pages.complaint_status_page(complaint_id)


@bp.route("/compliance/audit-chains")
@require_capability(Capability.PLATFORM_CONSOLE)
def audit_chains():
    """Every tenant's chain walked now, not the nightly job's last answer."""
    with platform_scope("compliance console: audit chain verification"):
        tenants = db.session.scalars(select(Tenant).order_by(Tenant.kind, Tenant.name)).all()
        reports = [(tenant, verify_chain(tenant.id)) for tenant in tenants]
    return render_template("admin/audit_chains.html", reports=reports, console="admin", **pages.helpers())
