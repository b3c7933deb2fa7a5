"""A lender sorts its accounts (the order survives filters and pages) and exports what the list selects, as CSV or
XLSX, with personal data masked by role and the export audited."""
import codecs
import csv
import io
import re

import pytest
from openpyxl import load_workbook
from sqlalchemy import select

from tenants.audit import AuditEvent
from tenants.context import tenant_scope
from tenants.db import db
from tests.factories import login


@pytest.fixture
def lender(factory, frozen_clock):
    tenant = factory.tenant("lender")
    factory.user(tenant, "lender_manager", email=f"manager-{tenant.slug}@lender.test")
    factory.user(tenant, "lender_analyst", email=f"analyst-{tenant.slug}@lender.test", locale="zh_CN")
    portfolio = factory.portfolio(tenant, "November")
    other = factory.portfolio(tenant, "December")
    for n, (principal, dpd) in enumerate([(300_000, 40), (900_000, 10), (100_000, 90), (900_000, 60)]):
        factory.account(tenant, portfolio, external_ref=f"A{n}", principal_minor=principal, days_past_due=dpd,
                        debtor_name=f"王小{n}", id_number=f"44030519900101{n:03d}X"[:18])
    factory.account(tenant, other, external_ref="B9", principal_minor=50_000, days_past_due=200)
    db.session.commit()
    return tenant


def refs(page: str) -> list[str]:
    return re.findall(r'/accounts/[0-9a-f-]{36}">([A-Z]\d)<', page)


def test_sorting_by_balance_breaks_ties_and_survives_filters_and_pages(client, db_session, lender, monkeypatch):
    login(client, f"manager-{lender.slug}@lender.test")
    base = f"/t/{lender.slug}/accounts"
    by_balance = client.get(f"{base}?sort=-balance").get_data(as_text=True)
    ties = sorted(["A1", "A3"], key=lambda ref: _account_id(lender, ref), reverse=True)
    assert refs(by_balance) == [*ties, "A0", "A2", "B9"]
    assert 'aria-sort="descending"' in by_balance

    assert refs(client.get(f"{base}?sort=dpd").get_data(as_text=True)) == ["A1", "A0", "A3", "A2", "B9"]
    filtered = client.get(f"{base}?sort=-dpd&dpd_min=50").get_data(as_text=True)
    assert refs(filtered) == ["B9", "A2", "A3"]
    assert 'name="sort" value="-dpd"' in filtered  # filtering again keeps the order
    assert refs(client.get(f"{base}?sort=nonsense").get_data(as_text=True)) == ["A0", "A1", "A2", "A3", "B9"]

    monkeypatch.setattr("web.tenant.accounts.PAGE_SIZE", 2)
    first = client.get(f"{base}?sort=-dpd").get_data(as_text=True)
    assert refs(first) == ["B9", "A2"] and "sort=-dpd" in first.split('aria-label="Pages"')[1]
    assert refs(client.get(f"{base}?sort=-dpd&page=2").get_data(as_text=True)) == ["A3", "A0"]


def _account_id(lender, ref):
    from tenants.portfolios.models import Account

    with tenant_scope(lender.id):
        return str(db.session.scalar(select(Account.id).where(Account.external_ref == ref)))


def test_the_csv_export_holds_what_the_list_selects_masked_for_an_analyst_and_audited(client, db_session, lender):
    login(client, f"analyst-{lender.slug}@lender.test")
    response = client.get(f"/t/{lender.slug}/accounts/export?format=csv&sort=-balance&portfolio="
                          f"{_portfolio_id(lender, 'November')}")
    assert response.status_code == 200 and response.is_streamed
    assert response.headers["Content-Type"] == "text/csv; charset=utf-8"
    data = response.get_data()
    assert data.startswith(codecs.BOM_UTF8)
    table = list(csv.reader(io.StringIO(data.decode("utf-8-sig"))))
    assert table[0][:3] == ["外部编号", "资产包", "债务人"]  # in the analyst's language
    body = table[1:]
    assert [row[0] for row in body][2:] == ["A0", "A2"] and len(body) == 4
    assert all("*" in row[2] for row in body)  # an analyst never sees a debtor's full name
    assert body[2][7] == "3450.00"  # 3,000 principal + interest, fees and penalty, in yuan
    with tenant_scope(lender.id):
        event = db.session.scalar(select(AuditEvent).where(AuditEvent.action == "accounts.exported"))
    assert event.after["rows"] == 4 and event.after["sort"] == "-balance" and event.after["format"] == "csv"
    assert event.after["filters"]["portfolio_id"] == _portfolio_id(lender, "November")


def _portfolio_id(lender, name):
    from tenants.portfolios.models import Portfolio

    with tenant_scope(lender.id):
        return str(db.session.scalar(select(Portfolio.id).where(Portfolio.name == name)))


def test_the_xlsx_export_is_a_workbook_a_manager_reads_in_full(client, db_session, lender):
    login(client, f"manager-{lender.slug}@lender.test")
    response = client.get(f"/t/{lender.slug}/accounts/export?format=xlsx&sort=dpd")
    assert response.status_code == 200
    sheet = load_workbook(io.BytesIO(response.get_data()), read_only=True).active
    rows = list(sheet.iter_rows(values_only=True))
    assert rows[0][0] == "External reference" and [r[0] for r in rows[1:]] == ["A1", "A0", "A3", "A2", "B9"]
    assert rows[1][2] == "王小1" and "*" in rows[1][3]  # the name in full for a manager, never the full ID
    assert client.get(f"/t/{lender.slug}/accounts/export?format=pdf").status_code == 422


def test_the_api_exports_too(client, db_session, factory, lender):
    headers = {"Authorization": f"Bearer {factory.token(lender, 'lender_analyst')[1]}"}
    response = client.get("/api/v1/accounts/export?format=csv&sort=-dpd&dpd_min=50", headers=headers)
    assert response.status_code == 200
    table = list(csv.reader(io.StringIO(response.get_data().decode("utf-8-sig"))))
    assert [row[0] for row in table[1:]] == ["B9", "A2", "A3"]
    bad = client.get("/api/v1/accounts/export?sort=shoe_size", headers=headers)
    assert bad.status_code == 422
    agency = factory.tenant("agency")
    agency_headers = {"Authorization": f"Bearer {factory.token(agency)[1]}"}
    assert client.get("/api/v1/accounts/export", headers=agency_headers).status_code == 404
