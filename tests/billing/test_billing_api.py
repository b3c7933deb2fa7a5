"""The billing API: a lender's or agency's own plan, current period, invoices and billed cases (CSV), and each
tenant's plan for platform admins, with the error shape of the rest of the API."""
import csv
import io
from decimal import Decimal

import pytest

from tenants.tenancy.roles import TenantKind
from tests.billing.helpers import NEXT_MONTH, OVERDUE_URL, accept_cases, bill, make_delinquent, plan_row, set_plan


def bearer(secret):
    return {"Authorization": f"Bearer {secret}"}


def token_of(factory, tenant, role=None):
    return bearer(factory.token(tenant, role)[1])


@pytest.fixture
def platform_token(factory):
    platform = factory.tenant(TenantKind.PLATFORM, slug=f"platform-{factory.tenant().slug}")
    return token_of(factory, platform)


def test_an_agency_reads_its_plan_and_current_period(client, factory, frozen_clock, lender, agency):
    set_plan(agency, unit_price="2.50", free_cases=1)
    accept_cases(factory, lender, agency, 3)
    response = client.get("/api/v1/billing", headers=token_of(factory, agency))
    assert response.status_code == 200
    body = response.json
    assert body["plan"] == {"tenant_id": str(agency.id), "payer": "agency", "unit_price_minor": 250,
                            "currency": "CNY", "free_cases": 1, "billing_day": 1, "stop_when_delinquent": True,
                            "standing": "good", "delinquent_since": None}
    assert body["current_period"] == {"period_start": "2026-12-01", "period_end": "2027-01-01", "cases": 3,
                                      "free_cases": 1, "amounts": [{"currency": "CNY", "amount_minor": 500}],
                                      "unbilled": 3, "pushed": 0}
    assert (body["time_zone"], body["new_cases_stopped"], body["overdue_invoices"], body["awaiting_invoice"]) == \
        ("Asia/Shanghai", False, [], [])


def test_after_billing_the_invoice_is_listed_and_the_csv_adds_up_to_it(client, factory, frozen_clock, gateway,
                                                                       lender, agency):
    accounts, _ = accept_cases(factory, lender, agency, 4)
    refs = [a.external_ref for a in accounts]  # read now: billing commits, and the lender's rows are not ours
    headers = token_of(factory, agency)
    frozen_clock.set(NEXT_MONTH)
    assert client.get("/api/v1/billing", headers=headers).json["awaiting_invoice"][0]["cases"] == 4
    bill(agency, gateway)

    [invoice] = client.get("/api/v1/billing/invoices", headers=headers).json["items"]
    assert (invoice["period_start"], invoice["period_end"], invoice["cases"], invoice["amount_minor"],
            invoice["currency"], invoice["status"]) == ("2026-12-01", "2027-01-01", 4, 2000, "CNY", "paid")
    assert client.get("/api/v1/billing", headers=headers).json["awaiting_invoice"] == []

    response = client.get("/api/v1/billing/cases.csv?period=2026-12-01", headers=headers)
    assert response.status_code == 200 and response.mimetype == "text/csv"
    assert response.headers["Content-Disposition"].startswith("attachment;")
    body = response.data.decode("utf-8-sig")
    cases_part, totals_part = body.split("\r\n\r\n")
    rows = list(csv.DictReader(io.StringIO(cases_part)))
    assert [r["account_ref"] for r in rows] == refs
    assert sum(Decimal(r["amount"]) * 100 for r in rows) == invoice["amount_minor"]
    assert {r["stripe_invoice_id"] for r in rows} == {invoice["stripe_invoice_id"]}
    assert list(csv.DictReader(io.StringIO(totals_part)))[0]["amount"] == "20.00"

    bad = client.get("/api/v1/billing/cases.csv?period=2026-13-01", headers=headers)
    assert bad.status_code == 422 and "period" in bad.json["error"]["details"]["fields"]


def test_a_delinquent_payer_reads_its_overdue_invoice_and_that_new_cases_stopped(client, factory, frozen_clock,
                                                                                 agency):
    make_delinquent(agency)
    body = client.get("/api/v1/billing", headers=token_of(factory, agency)).json
    assert body["plan"]["standing"] == "delinquent" and body["new_cases_stopped"] is True
    [overdue] = body["overdue_invoices"]
    assert (overdue["status"], overdue["hosted_invoice_url"]) == ("payment_failed", OVERDUE_URL)


def test_a_lender_owes_nothing_unless_its_plan_pays(client, factory, frozen_clock, lender, agency):
    headers = token_of(factory, lender)
    accept_cases(factory, lender, agency, 2)
    assert client.get("/api/v1/billing", headers=headers).json["current_period"]["cases"] == 0
    set_plan(lender, payer="lender", unit_price="8.00")
    accept_cases(factory, lender, agency, 2)
    current = client.get("/api/v1/billing", headers=headers).json["current_period"]
    assert (current["cases"], current["amounts"]) == (2, [{"currency": "CNY", "amount_minor": 1600}])


def test_a_token_reads_only_its_own_tenants_billing(client, factory, frozen_clock, lender, agency, other_agency):
    mine, _ = accept_cases(factory, lender, agency, 1)
    theirs, _ = accept_cases(factory, lender, other_agency, 2)
    make_delinquent(other_agency)
    headers = token_of(factory, agency)
    body = client.get("/api/v1/billing", headers=headers).json
    assert (body["current_period"]["cases"], body["plan"]["standing"]) == (1, "good")
    assert client.get("/api/v1/billing/invoices", headers=headers).json["items"] == []
    csv_text = client.get("/api/v1/billing/cases.csv", headers=headers).data.decode("utf-8-sig")
    assert mine[0].external_ref in csv_text
    assert not any(a.external_ref in csv_text for a in theirs)
    other_plan = client.get(f"/api/v1/tenants/{other_agency.id}/billing-plan", headers=headers)
    assert other_plan.status_code == 404


@pytest.mark.parametrize("kind, role", [("agency", "agency_supervisor"), ("agency", "agency_collector"),
                                        ("lender", "lender_manager"), ("lender", "lender_analyst")])
def test_only_admin_tokens_read_billing(client, factory, kind, role):
    headers = token_of(factory, factory.tenant(kind), role)
    for url in ("/api/v1/billing", "/api/v1/billing/invoices", "/api/v1/billing/cases.csv"):
        response = client.get(url, headers=headers)
        assert response.status_code == 403 and response.json["error"]["code"] == "auth.forbidden"


def test_a_platform_admin_reads_and_changes_a_plan(client, factory, platform_token, agency):
    url = f"/api/v1/tenants/{agency.id}/billing-plan"
    assert client.get(url, headers=platform_token).json["unit_price_minor"] == 500  # the CNY default

    changed = client.put(url, json={"unit_price": "3.20", "free_cases": 5, "billing_day": 10,
                                    "stop_when_delinquent": False}, headers=platform_token)
    assert changed.status_code == 200
    assert {k: changed.json[k] for k in ("payer", "unit_price_minor", "free_cases", "billing_day",
                                         "stop_when_delinquent")} == \
        {"payer": "agency", "unit_price_minor": 320, "free_cases": 5, "billing_day": 10,
         "stop_when_delinquent": False}
    assert plan_row(agency).unit_price_minor == 320
    assert client.get("/api/v1/billing", headers=platform_token).status_code == 404  # not a payer itself


@pytest.mark.parametrize("body, field", [({"billing_day": 31}, "billing_day"), ({"billing_day": "3"}, "billing_day"),
                                         ({"unit_price": "1.234"}, "unit_price"), ({"unit_price": 5}, "unit_price"),
                                         ({"free_cases": -1}, "free_cases"), ({"payer": "lender"}, "payer")])
def test_bad_plan_values_are_422_with_the_field(client, factory, platform_token, agency, body, field):
    response = client.put(f"/api/v1/tenants/{agency.id}/billing-plan", json=body, headers=platform_token)
    assert response.status_code == 422
    assert response.json["error"]["code"] == "validation.failed"
    assert list(response.json["error"]["details"]["fields"]) == [field]
    assert plan_row(agency) is None


def test_plans_are_for_platform_admins_only(client, factory, lender, agency):
    for headers in (token_of(factory, lender), token_of(factory, agency)):
        url = f"/api/v1/tenants/{agency.id}/billing-plan"
        assert client.get(url, headers=headers).status_code == 404
        assert client.put(url, json={"billing_day": 2}, headers=headers).status_code == 404
    assert plan_row(agency) is None


def test_the_billing_api_is_in_the_openapi_document(client):
    spec = client.get("/api/v1/openapi.json").json
    for path, methods in {"/api/v1/billing": {"get"}, "/api/v1/billing/invoices": {"get"},
                          "/api/v1/billing/cases.csv": {"get"},
                          "/api/v1/tenants/{tenant_id}/billing-plan": {"get", "put"}}.items():
        assert methods <= set(spec["paths"][path]), path
    assert "text/csv" in spec["paths"]["/api/v1/billing/cases.csv"]["get"]["responses"]["200"]["content"]
