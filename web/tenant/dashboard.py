from flask import g, render_template

from tenants.tenancy.services import list_members
from web.tenant import bp


@bp.route("/")
def dashboard():
    template = "tenant/dashboard_lender.html" if g.tenant.kind == "lender" else "tenant/dashboard_agency.html"
    return render_template(template, member_count=len(list_members()))
