"""Billing pages: a lender's or agency's own billing page and CSV of billed cases, the delinquency banner on every
page, and the platform's billing console (plans, runs, failed jobs). Cases are accepted through the placement
services and billed against localstripe, as in test_invoicing."""
import csv
import io
import re
from decimal import Decimal

import pytest
from rq import Worker
from sqlalchemy import event

from tenants.billing.models import BillingInvoice
from tenants.context import tenant_scope
from tenants.db import db
from tenants.tenancy.roles import TenantKind
from tests.billing.helpers import NEXT_MONTH, OVERDUE_URL, accept_cases, bill, make_delinquent, plan_row, set_plan
from tests.factories import login
from workers.connection import connection
from workers.queues import enqueue, queue


def admin_of(factory, tenant, role=None):
    user, _ = factory.user(tenant, role)
    return user.email


def as_member(client, factory, tenant, role=None):
    login(client, admin_of(factory, tenant, role))
    return client


def text_of(html: str, element_id: str) -> str:
    found = re.search(rf'id="{element_id}"[^>]*>(.*?)</', html, re.S)
    assert found, f"no #{element_id}"
    return found.group(1).strip()


def read_csv(response) -> tuple[list[dict], list[dict]]:
    """The case rows and the total rows of a billed-cases CSV."""
    body = response.data.decode("utf-8-sig")
    cases_part, totals_part = body.split("\r\n\r\n")
    return list(csv.DictReader(io.StringIO(cases_part))), list(csv.DictReader(io.StringIO(totals_part)))


def test_an_agency_sees_the_cases_and_amount_of_its_current_period(client, factory, frozen_clock, lender, agency):
    set_plan(agency, unit_price="2.50", free_cases=1)
    accept_cases(factory, lender, agency, 3)
    html = as_member(client, factory, agency).get(f"/t/{agency.slug}/billing").get_data(as_text=True)

    assert text_of(html, "current-cases") == "3"
    assert text_of(html, "current-free-cases") == "1"
    assert 'data-currency="CNY" data-minor="500"' in html  # two cases at 2.50, the first one free
    assert text_of(html, "current-unbilled") == "3" and text_of(html, "current-pushed") == "0"
    assert "Dec 1, 2026 to Dec 31, 2026" in html
    assert 'id="no-invoices"' in html
    assert "Recalling a case does not refund it" in html  # the billing rules
    assert 'id="delinquent-warning"' not in html and 'id="billing-delinquent-banner"' not in html
    assert f'href="/t/{agency.slug}/billing/commission"' in html


def test_after_the_period_is_billed_the_invoice_shows_and_its_csv_reconciles(client, factory, frozen_clock, gateway,
                                                                             lender, agency):
    accounts, _ = accept_cases(factory, lender, agency, 3)
    refs = [a.external_ref for a in accounts]  # read now: billing commits, and the lender's rows are not ours
    bill(agency, gateway)  # pushed to Stripe during the period
    as_member(client, factory, agency)
    assert text_of(client.get(f"/t/{agency.slug}/billing").get_data(as_text=True), "current-pushed") == "3"

    frozen_clock.set(NEXT_MONTH)
    bill(agency, gateway)
    html = client.get(f"/t/{agency.slug}/billing").get_data(as_text=True)
    assert re.search(r'id="invoice-2026-12-01" data-status="paid" data-amount-minor="1500"', html)
    assert text_of(html, "current-cases") == "0"  # January has begun

    response = client.get(f"/t/{agency.slug}/billing/cases.csv?period=2026-12-01")
    assert response.status_code == 200
    assert response.headers["Content-Type"] == "text/csv; charset=utf-8"
    assert response.headers["Content-Disposition"].startswith(
        f'attachment; filename="cases-{agency.slug}-2026-12-01.csv"')
    assert response.data.startswith("\ufeff".encode())  # Excel then reads UTF-8, Chinese names included
    rows, totals = read_csv(response)
    with tenant_scope(agency.id):
        [invoice] = db.session.query(BillingInvoice).all()
    assert [r["account_ref"] for r in rows] == refs
    assert sum(Decimal(r["amount"]) for r in rows) == Decimal(invoice.amount_minor) / 100 == Decimal("15.00")
    assert {(r["lender"], r["agency"], r["currency"], r["invoice_status"], r["stripe_invoice_id"])
            for r in rows} == {("Jade Lending", "催收公司 Alpha", "CNY", "paid", invoice.stripe_invoice_id)}
    assert all(r["billed_at"].endswith("Z") and r["stripe_invoice_item_id"] for r in rows)
    assert totals == [{"total": "total", "currency": "CNY", "cases": "3", "free_cases": "0", "amount": "15.00"}]

    everything, _ = read_csv(client.get(f"/t/{agency.slug}/billing/cases.csv"))
    assert len(everything) == 3
    assert client.get(f"/t/{agency.slug}/billing/cases.csv?period=December").status_code == 422


def test_a_delinquent_agency_sees_the_banner_on_every_page_and_how_to_pay(client, factory, frozen_clock, lender,
                                                                          agency, other_agency):
    make_delinquent(agency)
    as_member(client, factory, agency, "agency_collector")
    dashboard = client.get(f"/t/{agency.slug}/").get_data(as_text=True)
    assert 'id="billing-delinquent-banner"' in dashboard
    assert "New cases are stopped until they are paid." in dashboard
    assert f'href="/t/{agency.slug}/billing"' not in dashboard  # a collector may not open the billing page

    as_member(client, factory, agency)
    cases = client.get(f"/t/{agency.slug}/cases").get_data(as_text=True)
    assert 'id="billing-delinquent-banner"' in cases and f'href="/t/{agency.slug}/billing"' in cases
    page = client.get(f"/t/{agency.slug}/billing").get_data(as_text=True)
    assert 'id="delinquent-warning"' in page and f'href="{OVERDUE_URL}"' in page
    assert "new cases are stopped" in page.lower()

    set_plan(agency, stop_when_delinquent=False)
    assert "New cases are stopped" not in client.get(f"/t/{agency.slug}/").get_data(as_text=True)

    as_member(client, factory, other_agency)
    assert 'id="billing-delinquent-banner"' not in client.get(f"/t/{other_agency.slug}/").get_data(as_text=True)


def test_the_banner_costs_one_query_on_the_plan_per_page_view(app, client, factory, frozen_clock, lender, agency):
    make_delinquent(agency)
    as_member(client, factory, agency)
    statements = []

    def count(conn, cursor, statement, *args):
        if "billing_plans" in statement:
            statements.append(statement)

    with app.app_context():
        engine = db.engine
    event.listen(engine, "before_cursor_execute", count)
    try:
        assert 'id="billing-delinquent-banner"' in client.get(f"/t/{agency.slug}/").get_data(as_text=True)
    finally:
        event.remove(engine, "before_cursor_execute", count)
    assert len(statements) == 1


def test_a_lender_sees_its_own_billing_and_pays_only_when_its_plan_says_so(client, factory, frozen_clock, lender,
                                                                           agency):
    accept_cases(factory, lender, agency, 2)
    as_member(client, factory, lender)
    html = client.get(f"/t/{lender.slug}/billing").get_data(as_text=True)
    assert text_of(html, "current-cases") == "0"
    assert "nothing is billed to you" in html

    set_plan(lender, payer="lender", unit_price="8.00")
    accounts, _ = accept_cases(factory, lender, agency, 2)
    html = client.get(f"/t/{lender.slug}/billing").get_data(as_text=True)
    assert text_of(html, "current-cases") == "2"
    assert 'data-currency="CNY" data-minor="1600"' in html
    rows, _ = read_csv(client.get(f"/t/{lender.slug}/billing/cases.csv"))
    assert [(r["account_ref"], r["agency"], r["amount"]) for r in rows] == \
        [(a.external_ref, "催收公司 Alpha", "8.00") for a in accounts]


def test_another_tenants_billing_never_appears(client, factory, frozen_clock, lender, agency, other_agency):
    mine, _ = accept_cases(factory, lender, agency, 2)
    theirs, _ = accept_cases(factory, lender, other_agency, 3)
    make_delinquent(other_agency)
    as_member(client, factory, agency)

    html = client.get(f"/t/{agency.slug}/billing").get_data(as_text=True)
    assert text_of(html, "current-cases") == "2"
    assert 'id="delinquent-warning"' not in html and OVERDUE_URL not in html
    rows, _ = read_csv(client.get(f"/t/{agency.slug}/billing/cases.csv"))
    assert {r["account_ref"] for r in rows} == {a.external_ref for a in mine}
    assert not {a.external_ref for a in theirs} & {r["account_ref"] for r in rows}
    for url in (f"/t/{other_agency.slug}/billing", f"/t/{other_agency.slug}/billing/cases.csv"):
        response = client.get(url)
        assert response.status_code == 404
        assert OVERDUE_URL not in response.get_data(as_text=True)
        assert 'id="billing-delinquent-banner"' not in response.get_data(as_text=True)


@pytest.mark.parametrize("kind, role", [("agency", "agency_supervisor"), ("agency", "agency_collector"),
                                        ("lender", "lender_manager"), ("lender", "lender_analyst")])
def test_only_admins_open_the_billing_page(client, factory, kind, role):
    tenant = factory.tenant(kind)
    as_member(client, factory, tenant, role)
    assert client.get(f"/t/{tenant.slug}/billing").status_code == 403
    assert client.get(f"/t/{tenant.slug}/billing/cases.csv").status_code == 403
    assert f'href="/t/{tenant.slug}/billing"' not in client.get(f"/t/{tenant.slug}/").get_data(as_text=True)


# ---- the platform's billing console ------------------------------------------------------------------------------

@pytest.fixture
def platform_admin(client, factory):
    platform = factory.tenant(TenantKind.PLATFORM, slug=f"platform-{factory.tenant().slug}")
    email = admin_of(factory, platform)
    login(client, email)
    return client


def test_the_console_lists_every_tenants_billing(platform_admin, factory, frozen_clock, lender, agency,
                                                 other_agency):
    set_plan(agency, unit_price="3.00")
    accept_cases(factory, lender, agency, 2)
    make_delinquent(other_agency)
    html = platform_admin.get("/admin/billing").get_data(as_text=True)
    assert re.search(rf'id="billing-{agency.id}" data-standing="good" data-cases="2"', html)
    assert re.search(rf'id="billing-{other_agency.id}" data-standing="delinquent" data-cases="0"', html)
    assert re.search(rf'id="billing-{lender.id}" data-standing="good" data-cases="0"', html)
    assert 'data-currency="CNY" data-minor="600"' in html
    assert 'id="no-failed-jobs"' in html


def test_a_platform_admin_edits_a_plan_and_a_bad_value_is_shown_on_its_field(platform_admin, frozen_clock, agency):
    url = f"/admin/billing/{agency.id}"
    form = platform_admin.get(url).get_data(as_text=True)
    assert 'name="unit_price" type="text" value="5.00"' in form

    refused = platform_admin.post(url, data={"payer": "agency", "unit_price": "4.00", "free_cases": "2",
                                             "billing_day": "31", "stop_when_delinquent": "y"})
    assert refused.status_code == 422
    page = refused.get_data(as_text=True)
    assert re.search(r'class="form-control is-invalid" id="billing_day" name="billing_day" type="number" '
                     r'value="31">\s*<div class="invalid-feedback">A day of the month from 1 to 28.</div>', page)
    assert plan_row(agency) is None  # nothing written: the default terms still apply

    saved = platform_admin.post(url, data={"payer": "agency", "unit_price": "4.00", "free_cases": "2",
                                           "billing_day": "15"})
    assert saved.status_code == 302
    plan = plan_row(agency)
    assert (plan.unit_price_minor, plan.free_cases, plan.billing_day, plan.stop_when_delinquent) == (400, 2, 15,
                                                                                                     False)

    lender_payer = platform_admin.post(url, data={"payer": "lender", "unit_price": "4.00", "free_cases": "2",
                                                  "billing_day": "15"})
    assert lender_payer.status_code == 400  # an agency's form offers no such choice


def test_run_billing_now_queues_the_tenants_billing_job(platform_admin, agency):
    response = platform_admin.post(f"/admin/billing/{agency.id}/run")
    assert response.status_code == 302
    [job] = queue("billing").get_jobs()
    assert (job.func_name, job.kwargs, job.meta["tenant_id"]) == ("workers.jobs.bill_tenant",
                                                                  {"tenant_id": str(agency.id)}, str(agency.id))


def fail(job, error: str):
    """What a worker records when a job has failed its last retry."""
    billing = queue("billing")
    billing.remove(job)
    job.retries_left = 0
    Worker([billing], connection=connection()).handle_job_failure(
        job, billing, exc_string=f"Traceback (most recent call last):\n  ...\n{error}\n")


def test_failed_billing_jobs_are_listed_and_can_be_retried(platform_admin, agency):
    job = enqueue("workers.jobs.bill_tenant", tenant_id=agency.id, queue_name="billing")
    fail(job, "stripe.APIConnectionError: Stripe is unreachable")
    html = platform_admin.get("/admin/billing").get_data(as_text=True)
    row = html[html.index(f'id="failed-{job.id}"'):]
    row = row[:row.index("</tr>")]
    assert "workers.jobs.bill_tenant" in row and "催收公司 Alpha" in row
    assert "stripe.APIConnectionError: Stripe is unreachable" in row

    response = platform_admin.post("/admin/billing/failed-jobs/retry", data={"job_id": job.id})
    assert response.status_code == 302
    assert queue("billing").failed_job_registry.get_job_ids() == []
    assert queue("billing").get_job_ids() == [job.id]

    again = platform_admin.post("/admin/billing/failed-jobs/retry", data={"job_id": job.id}, follow_redirects=True)
    assert "no longer among the failed billing jobs" in again.get_data(as_text=True)
    assert queue("billing").get_job_ids() == [job.id]


def test_only_platform_admins_open_the_console(client, factory, agency):
    as_member(client, factory, agency)
    assert client.get("/admin/billing").status_code == 404
    assert client.get(f"/admin/billing/{agency.id}").status_code == 404
    assert client.post(f"/admin/billing/{agency.id}/run").status_code == 404
    assert queue("billing").count == 0
