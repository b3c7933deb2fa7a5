"""The platform's billing console at /admin/billing: every tenant's plan, standing, current period and unpaid
invoices (tenants.billing.reports); the billing jobs that failed for good, read from rq's failed-job registry of
the "billing" queue, with a retry; billing run now for one tenant; and each tenant's plan edited.

Billing jobs are idempotent (tenants.billing.invoicing), so a retry or an extra run never bills twice.
"""
import uuid
from dataclasses import dataclass
from datetime import datetime

from flask import flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from redis.exceptions import RedisError
from rq.exceptions import InvalidJobOperation, NoSuchJobError
from rq.job import Job
from rq.results import Result
from wtforms import BooleanField, IntegerField, SelectField, StringField

from tenants import audit
from tenants.billing import reports
from tenants.billing.models import Payer
from tenants.billing.plans import plan_terms, update_plan
from tenants.capabilities import Capability
from tenants.context import platform_scope
from tenants.db import db
from tenants.tenancy.roles import TenantKind
from tenants.tenancy.services import get_tenant
from web.access import require_capability
from web.admin import bp
from web.api.billing_api import BillingPlanIn
from web.forms import NOT_SUBMITTED, ActionForm, submit
from workers.queues import enqueue, queue

FAILED_JOBS_SHOWN = 100
PAYER_CHOICES = [(Payer.AGENCY, _l("The agency accepting each case")),
                 (Payer.LENDER, _l("The lender placing each case"))]


class PlanForm(FlaskForm):
    """The domain checks the values (tenants.billing.plans.update_plan); its field errors land here."""

    payer = SelectField(_l("Who pays for a case"), choices=PAYER_CHOICES)
    unit_price = StringField(_l("Price per case"))
    free_cases = IntegerField(_l("Free cases per period"))
    billing_day = IntegerField(_l("Day each period starts (1–28)"))
    stop_when_delinquent = BooleanField(_l("Stop new cases while an invoice is overdue"))

    def __init__(self, tenant, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if tenant.kind != TenantKind.LENDER:
            self.payer.choices = PAYER_CHOICES[:1]  # only a lender's plan can make the lender pay


@dataclass(frozen=True)
class FailedJob:
    id: str
    function: str
    tenant_id: str | None
    error: str  # the exception's last line; the whole traceback stays in rq
    failed_at: datetime | None


def failed_billing_jobs() -> list[FailedJob]:
    """The most recent failures first (the registry scores a job by when its failure record expires)."""
    billing_queue = queue("billing")
    ids = billing_queue.failed_job_registry.get_job_ids(0, FAILED_JOBS_SHOWN - 1, desc=True)
    found = []
    for job in Job.fetch_many(ids, connection=billing_queue.connection, serializer=billing_queue.serializer):
        if job is None:  # expired between the two reads
            continue
        result = job.latest_result()
        failure = result if result is not None and result.type == Result.Type.FAILED else None
        lines = (failure.exc_string or "").strip().splitlines() if failure else []
        found.append(FailedJob(id=job.id, function=job.func_name, tenant_id=job.meta.get("tenant_id"),
                               error=lines[-1] if lines else "",
                               failed_at=failure.created_at if failure else job.ended_at))
    return found


@bp.route("/billing")
@require_capability(Capability.PLATFORM_CONSOLE)
def billing():
    tenants = reports.all_tenants()
    try:
        failed, queue_error = failed_billing_jobs(), None
    except RedisError as exc:  # the console still shows the database's side of billing
        failed, queue_error = [], str(exc)
    return render_template("admin/billing.html", tenants=tenants, failed=failed, queue_error=queue_error,
                           names={str(t.tenant_id): t.name for t in tenants}, form=ActionForm())


@bp.route("/billing/<uuid:tenant_id>/run", methods=["POST"])
@require_capability(Capability.PLATFORM_CONSOLE)
def billing_run(tenant_id: uuid.UUID):
    """Bill the tenant now rather than at the hourly run: push its new cases and invoice its ended periods."""
    tenant = get_tenant(tenant_id)
    try:
        job = enqueue("workers.jobs.bill_tenant", tenant_id=tenant.id, queue_name="billing")
    except RedisError as exc:
        flash(_("The billing queue is unreachable: %(error)s", error=str(exc)), "danger")
    else:
        audit.record("billing.run_requested", object_type="tenant", object_id=tenant.id, after={"job_id": job.id})
        db.session.commit()
        flash(_("Billing of %(name)s is queued.", name=tenant.name), "success")
    return redirect(url_for("admin.billing"))


@bp.route("/billing/failed-jobs/retry", methods=["POST"])
@require_capability(Capability.PLATFORM_CONSOLE)
def billing_retry():
    """The job id comes in the form: only a job in the billing queue's failed registry can be requeued."""
    job_id = request.form.get("job_id", "")
    try:
        job = queue("billing").failed_job_registry.requeue(job_id)
    except (InvalidJobOperation, NoSuchJobError):
        flash(_("That job is no longer among the failed billing jobs."), "warning")
    except RedisError as exc:
        flash(_("The billing queue is unreachable: %(error)s", error=str(exc)), "danger")
    else:
        audit.record("billing.job_requeued", object_type="rq_job", object_id=job.id,
                     after={"function": job.func_name, "tenant_id": job.meta.get("tenant_id")})
        db.session.commit()
        flash(_("The job is queued again."), "success")
    return redirect(url_for("admin.billing"))


def _change_plan(tenant, changes: dict):
    with platform_scope("billing console: plan change"):
        return update_plan(tenant, changes)


@bp.route("/billing/<uuid:tenant_id>", methods=["GET", "POST"])
@require_capability(Capability.PLATFORM_CONSOLE)
def billing_plan(tenant_id: uuid.UUID):
    tenant = get_tenant(tenant_id)
    form = PlanForm(tenant)
    changed, status = submit(form, BillingPlanIn(), lambda changes: _change_plan(tenant, changes))
    if changed is not NOT_SUBMITTED:
        flash(_("The plan of %(name)s is changed.", name=tenant.name), "success")
        return redirect(url_for("admin.billing"))
    # Read after the attempt: a refused change was rolled back, which expires whatever was loaded before it.
    billing_now = reports.tenant_overview(tenant)
    if request.method == "GET":
        form.process(data=plan_terms(billing_now.plan))
    return render_template("admin/billing_plan.html", tenant=tenant, billing=billing_now, form=form), status
