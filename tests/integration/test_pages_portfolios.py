"""A lender's portfolio pages: upload a file, follow the import, read its row errors and download the error file;
whole-file rejections; the account list and page with masked PII and the lender's own updates; and nobody but a
lender sees any of it."""
import io
import re
import uuid
from datetime import date

import pytest
from sqlalchemy import func, select

from tenants.context import tenant_scope
from tenants.portfolios import imports
from tenants.portfolios.models import Account, ImportJob, Portfolio
from tests.factories import login

GOOD_AND_BROKEN = ("external_ref,debtor_name,principal,days_past_due,phone\n"
                   "R-1,Ann Lee,1000.00,40,13800138000\n"
                   "R-2,Bob Chan,abc,50,13800138001\n"
                   "R-3,Cy Wu,250.5,70,13800138002\n")


@pytest.fixture
def lender(factory, frozen_clock):
    tenant = factory.tenant("lender")
    factory.user(tenant, "lender_manager", email="manager@lender.test")
    factory.user(tenant, "lender_analyst", email="analyst@lender.test")
    return tenant


def _upload(client, lender, data: bytes, filename="十一月.csv", portfolio="2026-11", use_saved=True):
    form = {"file": (io.BytesIO(data), filename), "portfolio": portfolio}
    if use_saved:
        form["use_saved_mapping"] = "y"
    return client.post(f"/t/{lender.slug}/imports", data=form, content_type="multipart/form-data")


def test_an_upload_with_a_broken_row_imports_the_rest_and_explains_the_row(client, lender, db_session):
    login(client, "manager@lender.test")
    assert 'enctype="multipart/form-data"' in client.get(f"/t/{lender.slug}/portfolios").get_data(as_text=True)

    response = _upload(client, lender, GOOD_AND_BROKEN.encode())
    assert response.status_code == 302
    import_id = re.search(r"/imports/([0-9a-f-]{36})$", response.headers["Location"]).group(1)
    queued = client.get(f"/t/{lender.slug}/imports/{import_id}").get_data(as_text=True)
    assert '<meta http-equiv="refresh" content="2">' in queued and "queued" in queued

    with tenant_scope(lender.id):
        job = imports.run_import(uuid.UUID(import_id))
        assert (job.rows_created, job.rows_failed) == (2, 1)
        code = imports.row_errors(job)[0].errors[0]["code"]

    page = client.get(f"/t/{lender.slug}/imports/{import_id}").get_data(as_text=True)
    assert 'http-equiv="refresh"' not in page and "completed" in page
    assert 'id="import-encoding">utf-8<' in page and 'id="import-delimiter">comma<' in page
    assert "<code>principal</code>" in page, "the mapping used is shown"
    errors = page.split('id="row-errors"')[1]
    assert "<td>3</td><td>principal</td>" in errors and code in errors
    listing = client.get(f"/t/{lender.slug}/portfolios").get_data(as_text=True)
    assert "2026-11" in listing and "十一月.csv" in listing

    # buffered: the streamed body is read inside the request's own context, as a WSGI server reads it
    download = client.get(f"/t/{lender.slug}/imports/{import_id}/errors.csv", buffered=True)
    assert download.status_code == 200 and download.mimetype == "text/csv"
    disposition = download.headers["Content-Disposition"]
    assert disposition.startswith("attachment;")
    assert "filename*=UTF-8''%E5%8D%81%E4%B8%80%E6%9C%88-errors.csv" in disposition
    text = download.get_data().decode("utf-8-sig")
    assert text.splitlines()[0].startswith("line,external_ref") and "R-2" in text and "R-1" not in text


@pytest.mark.parametrize("data,filename,code,message", [
    ("合同号,姓名\nHT1,张三\n".encode("gbk"), "p.csv", "import.missing_columns", "Required columns are missing"),
    (b"", "p.csv", "import.empty_file", "The file is empty"),
    (b"external_ref,debtor_name,principal,days_past_due\n\xff\xfe\xfa\xfb,x,1,1\n", "p.csv", "import.undecodable",
     "supported encoding"),
    (b"a,b", "p.pdf", "import.bad_format", "Upload a .csv"),
])
def test_a_rejected_file_shows_why_and_keeps_nothing(client, lender, db_session, data, filename, code, message):
    login(client, "manager@lender.test")
    response = _upload(client, lender, data, filename=filename, portfolio="Rejected one")
    page = response.get_data(as_text=True)
    assert response.status_code == 422
    assert 'id="import-rejected"' in page and message in page and "is-invalid" in page
    with tenant_scope(lender.id):
        assert db_session.scalar(select(func.count()).select_from(ImportJob)) == 0
        assert db_session.scalar(select(func.count()).select_from(Portfolio)) == 0


def test_unticking_the_saved_mapping_matches_the_headers_afresh(client, lender, db_session):
    with tenant_scope(lender.id):
        imports.save_mapping({"ref": "external_ref", "name": "debtor_name", "balance": "principal",
                              "dpd": "days_past_due"})
        db_session.commit()
    login(client, "manager@lender.test")
    data = b"ref,name,balance,dpd,principal\nA1,Ann,5,40,10\n"
    with_saved = _upload(client, lender, data, filename="x.csv")
    assert with_saved.status_code == 422 and "both mapped to principal" in with_saved.get_data(as_text=True)
    assert "The column mapping does not fit this file." in with_saved.get_data(as_text=True)
    if "tenant.column_mapping" in client.application.view_functions:
        assert "/column-mapping?header=ref&amp;header=name" in with_saved.get_data(as_text=True)
    afresh = _upload(client, lender, data, filename="x.csv", use_saved=False)
    assert afresh.status_code == 302
    with tenant_scope(lender.id):
        job = db_session.scalar(select(ImportJob))
        assert job.mapping["principal"] == "principal" and job.mapping["balance"] == ""


def test_the_account_list_filters_and_formats_money_for_the_reader(client, factory, lender, db_session):
    portfolio = factory.portfolio(lender)
    young = factory.account(lender, portfolio, days_past_due=10)
    old = factory.account(lender, portfolio, days_past_due=200)
    login(client, "manager@lender.test")
    page = client.get(f"/t/{lender.slug}/accounts?dpd_min=100").get_data(as_text=True)
    assert old.external_ref in page and young.external_ref not in page
    assert "CN¥4,450.00" in page
    by_phone = client.get(f"/t/{lender.slug}/accounts", query_string={"phone": young.phones[0].phone})
    assert young.external_ref in by_phone.get_data(as_text=True)
    assert old.external_ref not in by_phone.get_data(as_text=True)
    assert client.get(f"/t/{lender.slug}/accounts?dpd_min=abc&phone=nonsense").status_code == 200

    factory.user(lender, "lender_analyst", email="zh@lender.test", locale="zh_CN")
    client.post("/logout")
    login(client, "zh@lender.test")
    assert "¥4,450.00" in client.get(f"/t/{lender.slug}/accounts").get_data(as_text=True)


def test_the_account_page_masks_by_role_and_records_the_lenders_updates(client, factory, lender, db_session):
    account = factory.account(lender, debtor_name="张三丰")
    phone = account.phones[0].phone
    url = f"/t/{lender.slug}/accounts/{account.id}"

    login(client, "analyst@lender.test")
    page = client.get(url).get_data(as_text=True)
    assert "张三丰" not in page and "张**" in page and phone not in page and phone[-4:] in page
    assert 'id="payment-form"' not in page, "an analyst only reads"
    assert client.post(f"{url}/updates", data={"kind": "direct_payment", "payment-amount": "1",
                                               "payment-occurred_on": "2026-11-30"}).status_code == 403

    client.post("/logout")
    login(client, "manager@lender.test")
    page = client.get(url).get_data(as_text=True)
    assert "张三丰" in page and phone in page and 'id="payment-form"' in page

    too_much = client.post(f"{url}/updates", data={"kind": "direct_payment", "payment-amount": "99999",
                                                   "payment-occurred_on": "2026-11-30"})
    assert too_much.status_code == 422 and "Larger than the outstanding balance." in too_much.get_data(as_text=True)
    paid = client.post(f"{url}/updates", data={"kind": "direct_payment", "payment-amount": "200.00",
                                               "payment-occurred_on": "2026-11-30", "payment-note": "at branch"})
    assert paid.status_code == 302
    adjusted = client.post(f"{url}/updates", data={"kind": "balance_adjustment", "adjustment-component": "interest",
                                                   "adjustment-amount": "-50", "adjustment-occurred_on": "2026-11-30"})
    assert adjusted.status_code == 302
    with tenant_scope(lender.id):
        db_session.expire_all()
        assert db_session.get(Account, account.id).outstanding_minor == 445_000 - 20_000 - 5_000
    page = client.get(url).get_data(as_text=True)
    assert "Direct payment to the lender" in page and "Balance adjustment" in page and "CN¥4,200.00" in page

    closed = client.post(f"{url}/updates", data={"kind": "closure", "closure-closure_status": "settled",
                                                  "closure-occurred_on": date(2026, 11, 30).isoformat()})
    assert closed.status_code == 302
    page = client.get(url).get_data(as_text=True)
    assert 'id="closure-form"' not in page and "Settled" in page
    assert client.post(f"{url}/updates", data={"kind": "nonsense"}).status_code == 422


def test_an_agency_finds_no_lender_page_and_a_lender_no_agency_page(client, factory, db_session):
    agency = factory.tenant("agency")
    factory.user(agency, "agency_admin", email="boss@agency.test")
    lender = factory.tenant("lender")
    factory.user(lender, "lender_admin", email="boss@lender.test")
    objects = factory.placed_portfolio(agency)
    login(client, "boss@agency.test")
    base = f"/t/{agency.slug}"
    for path in ("/portfolios", "/accounts", f"/accounts/{objects['account_id']}", "/agencies", "/placements",
                 f"/imports/{objects['import_id']}", f"/imports/{objects['import_id']}/errors.csv",
                 f"/placements/batches/{objects['batch_id']}"):
        assert client.get(base + path).status_code == 404, path
    for path in ("/imports", "/placements", "/placements/recall", "/agencies",
                 f"/accounts/{objects['account_id']}/updates", f"/agencies/{objects['relationship_id']}/review"):
        assert client.post(base + path, data={"reason": "x"}).status_code == 404, path
    assert client.get(f"{base}/cases/{objects['account_id']}").status_code == 200

    client.post("/logout")
    login(client, "boss@lender.test")
    for path in ("/offers", "/cases", f"/cases/{objects['account_id']}"):
        assert client.get(f"/t/{lender.slug}{path}").status_code == 404, path
    assert client.post(f"/t/{lender.slug}/placement-batches/{objects['batch_id']}/accept").status_code == 404


def test_the_forms_carry_their_csrf_tokens(csrf_client, factory, lender, db_session):
    account = factory.account(lender)
    page = csrf_client.get("/login").get_data(as_text=True)
    token = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', page).group(1)
    csrf_client.post("/login", data={"email": "manager@lender.test", "password": "correct-horse-battery",
                                     "csrf_token": token})

    upload_page = csrf_client.get(f"/t/{lender.slug}/portfolios").get_data(as_text=True)
    token = re.search(r'id="csrf_token" name="csrf_token" type="hidden" value="([^"]+)"', upload_page).group(1)
    refused = csrf_client.post(f"/t/{lender.slug}/imports", content_type="multipart/form-data",
                               data={"file": (io.BytesIO(GOOD_AND_BROKEN.encode()), "p.csv"), "portfolio": "P"})
    assert refused.status_code == 400
    uploaded = csrf_client.post(f"/t/{lender.slug}/imports", content_type="multipart/form-data", data={
        "file": (io.BytesIO(GOOD_AND_BROKEN.encode()), "p.csv"), "portfolio": "P", "csrf_token": token})
    assert uploaded.status_code == 302

    account_page = csrf_client.get(f"/t/{lender.slug}/accounts/{account.id}").get_data(as_text=True)
    token = re.search(r'name="payment-csrf_token" type="hidden" value="([^"]+)"', account_page).group(1)
    paid = csrf_client.post(f"/t/{lender.slug}/accounts/{account.id}/updates", data={
        "kind": "direct_payment", "payment-amount": "10", "payment-occurred_on": "2026-11-30",
        "payment-csrf_token": token})
    assert paid.status_code == 302
