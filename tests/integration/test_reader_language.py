"""Domain messages are stored as code + parameters and read in the reader's language: a lender who switches to
Chinese reads yesterday's import errors, the error file and the refusals in Chinese; error pages too."""
import io
import re
import uuid

import pytest

from tenants.context import tenant_scope
from tenants.portfolios import imports
from tests.factories import login

BROKEN = ("external_ref,debtor_name,principal,days_past_due,phone\n"
          "R-1,Ann Lee,1000.00,40,13800138000\n"
          "R-2,Bob Chan,-5,50,13800138001\n")


@pytest.fixture
def lender(factory, frozen_clock):
    tenant = factory.tenant("lender")
    factory.user(tenant, "lender_manager", email="manager@lender.test")
    return tenant


def _imported(client, lender) -> str:
    response = client.post(f"/t/{lender.slug}/imports", data={
        "file": (io.BytesIO(BROKEN.encode()), "p.csv"), "portfolio": "2026-11", "use_saved_mapping": "y"},
        content_type="multipart/form-data")
    import_id = re.search(r"/imports/([0-9a-f-]{36})$", response.headers["Location"]).group(1)
    with tenant_scope(lender.id):
        imports.run_import(uuid.UUID(import_id))
    return import_id


def test_stored_row_errors_read_in_the_language_the_lender_switches_to(client, lender, db_session):
    login(client, "manager@lender.test")
    import_id = _imported(client, lender)
    english = client.get(f"/t/{lender.slug}/imports/{import_id}").get_data(as_text=True)
    assert "'-5' is negative; amounts owed must be zero or more." in english.replace("&#39;", "'")

    client.post("/lang", data={"lang": "zh_CN"})
    page = client.get(f"/t/{lender.slug}/imports/{import_id}").get_data(as_text=True)
    errors = page.split('id="row-errors"')[1]
    assert "“-5”为负数；欠款金额必须大于或等于零。" in errors and "money.negative" in errors
    assert "is negative" not in errors
    assert re.search(r"\d+字节", page), "the size reads in Chinese"

    download = client.get(f"/t/{lender.slug}/imports/{import_id}/errors.csv", buffered=True)
    lines = download.get_data().decode("utf-8-sig").splitlines()
    assert lines[1].endswith("principal: money.negative — “-5”为负数；欠款金额必须大于或等于零。"), \
        "the downloader's language, the code kept for machines"


def test_a_refused_upload_and_an_error_page_speak_chinese(client, lender):
    login(client, "manager@lender.test")
    client.post("/lang", data={"lang": "zh_CN"})
    refused = client.post(f"/t/{lender.slug}/imports", data={
        "file": (io.BytesIO("external_ref,姓名\nR-1,张三\n".encode()), "p.csv"), "portfolio": "x"},
        content_type="multipart/form-data")
    text = refused.get_data(as_text=True)
    assert refused.status_code == 422 and "缺少必需的列" in text and "Required columns are missing" not in text

    missing = client.get(f"/t/{lender.slug}/imports/{uuid.uuid4()}")
    page = missing.get_data(as_text=True)
    assert missing.status_code == 404 and "未找到。" in page and "import.not_found" in page


def test_the_api_keeps_english_messages_and_adds_the_parameters(client):
    response = client.get("/api/v1/imports", headers={"Accept-Language": "zh-CN"})
    body = response.get_json()["error"]
    assert response.status_code == 401 and body["code"].startswith("auth.") and "params" in body
    assert body["message"].isascii()
