"""The portfolio API: uploads queued (not run inline), import status and error reports, the column mapping,
accounts read by lenders and agencies with PII masked by role, and the lender's updates."""
import io
import uuid
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from tenants.context import tenant_scope
from tenants.identifiers import cn_resident_id_check_char
from tenants.outbox import OutboxTask
from tenants.placements import services as placements
from tenants.placements.services import Selection
from tenants.portfolios import imports
from tenants.portfolios.models import Account, ImportJob, Portfolio


def bearer(secret):
    return {"Authorization": f"Bearer {secret}"}


def resident_id(n: int) -> str:
    body = f"11010519{80 + n % 20:02d}0101{n % 1000:03d}"
    return body + cn_resident_id_check_char(body)


HEADER = "合同号,姓名,身份证号,手机号,本金,利息,到期日\n"


def good_row(n: int) -> str:
    return f"HT{n:05d},张{n},{resident_id(n)},1380013{n:04d},1000.00,50.5,2026-09-01\n"


def gbk_csv_with_broken_rows() -> bytes:
    rows = [good_row(n) for n in range(1, 7)]
    rows.insert(3, "HT90001,李四,110105198001010010,13800139999,12.345,0,2026-09-01\n")  # line 5: two errors
    rows.insert(6, "HT90002,王五,,not-a-phone,800,0,31/12/2026\n")  # line 8: a bad phone
    return (HEADER + "".join(rows)).encode("gbk")


@pytest.fixture
def lender(factory, frozen_clock):
    return factory.tenant("lender")


@pytest.fixture
def admin(factory, lender):
    return bearer(factory.token(lender, "lender_admin")[1])


def upload(client, headers, data: bytes, filename="portfolio.csv", **form):
    body = {"file": (io.BytesIO(data), filename), "portfolio": "2026-11 batch", **form}
    return client.post("/api/v1/imports", data=body, headers=headers, content_type="multipart/form-data")


def run_job(lender, import_id: str):
    """The worker's part: the tests run no rq worker, so run the queued job in-process."""
    with tenant_scope(lender.id):
        imports.run_import(uuid.UUID(import_id))


def count(db_session, lender, model) -> int:
    db_session.expire_all()
    with tenant_scope(lender.id):
        return db_session.scalar(select(func.count()).select_from(model))


# ---- imports ------------------------------------------------------------------------------------------------

def test_a_gbk_upload_is_queued_then_its_status_and_errors_are_reported(client, db_session, lender, admin,
                                                                         monkeypatch):
    from web.api import portfolios_api

    monkeypatch.setattr(portfolios_api, "ERROR_PAGE", 1)  # the error file streams out over several reads
    queued = upload(client, admin, gbk_csv_with_broken_rows())
    assert queued.status_code == 202, queued.json
    job = queued.json
    assert (job["status"], job["progress"], job["rows_processed"]) == ("queued", 0.0, 0)
    assert job["rows_total"] is None, "the request reads the header only; the worker counts the rows"
    assert job["encoding"] == "gb18030" and job["headers"][0] == "合同号"
    assert job["mapping"]["手机号"] == "phone" and job["portfolio_name"] == "2026-11 batch"
    assert count(db_session, lender, Account) == 0, "the API queues the import; it never runs it inline"
    with tenant_scope(lender.id):
        task = db_session.scalar(select(OutboxTask).where(OutboxTask.job == "workers.jobs.run_import"))
        assert task.queue == "imports" and task.arguments == {"import_id": job["id"]}

    run_job(lender, job["id"])

    status = client.get(f"/api/v1/imports/{job['id']}", headers=admin).json
    assert (status["status"], status["progress"]) == ("completed", 1.0)
    assert (status["rows_total"], status["rows_processed"], status["rows_created"], status["rows_updated"],
            status["rows_failed"]) == (8, 8, 6, 0, 2)
    assert status["error_code"] is None and status["finished_at"]

    errors = client.get(f"/api/v1/imports/{job['id']}/errors", headers=admin).json
    by_line = {row["line"]: {(e["column"], e["code"]) for e in row["errors"]} for row in errors["items"]}
    assert set(by_line) == {5, 8} and errors["next_cursor"] is None
    assert by_line[5] >= {("身份证号", "cn_id.checksum"), ("本金", "money.too_precise")}
    assert ("手机号", "phone.invalid") in by_line[8]
    assert all(e["message"] for row in errors["items"] for e in row["errors"])

    first = client.get(f"/api/v1/imports/{job['id']}/errors?limit=1", headers=admin).json
    second = client.get(f"/api/v1/imports/{job['id']}/errors?limit=1&cursor={first['next_cursor']}",
                        headers=admin).json
    assert [r["line"] for r in first["items"] + second["items"]] == [5, 8] and second["next_cursor"] is None
    bad_cursor = client.get(f"/api/v1/imports/{job['id']}/errors?cursor=x", headers=admin)
    assert bad_cursor.status_code == 422 and bad_cursor.json["error"]["code"] == "pagination.bad_cursor"

    report = client.get(f"/api/v1/imports/{job['id']}/errors.csv", headers=admin)
    assert report.status_code == 200
    assert report.headers["Content-Type"] == "text/csv; charset=utf-8"
    assert report.headers["Content-Disposition"].startswith("attachment") and "portfolio-errors.csv" in \
        report.headers["Content-Disposition"]
    lines = report.data.decode("utf-8-sig").splitlines()
    assert lines[0].startswith("line,合同号") and lines[0].endswith(",errors")
    assert lines[1].startswith("5,HT90001,李四") and "cn_id.checksum" in lines[1]
    assert lines[2].startswith("8,HT90002") and "phone.invalid" in lines[2] and len(lines) == 3

    listed = client.get("/api/v1/imports", headers=admin).json
    assert [i["id"] for i in listed["items"]] == [job["id"]]
    portfolios = client.get("/api/v1/portfolios", headers=admin).json["items"]
    assert [p["name"] for p in portfolios] == ["2026-11 batch"]
    detail = client.get(f"/api/v1/portfolios/{portfolios[0]['id']}", headers=admin).json
    assert (detail["accounts"], detail["accounts_open"], detail["outstanding_minor"]) == (6, 6, 6 * 105_050)


def test_the_error_file_of_a_chinese_file_name_downloads_under_that_name(client, lender, admin):
    job = upload(client, admin, gbk_csv_with_broken_rows(), filename="十一月 批次.csv").json
    run_job(lender, job["id"])
    report = client.get(f"/api/v1/imports/{job['id']}/errors.csv", headers=admin)
    disposition = report.headers["Content-Disposition"]
    assert disposition.encode("latin-1"), "header values must stay latin-1 on the wire"
    assert "filename*=UTF-8''%E5%8D%81%E4%B8%80%E6%9C%88%20%E6%89%B9%E6%AC%A1-errors.csv" in disposition
    assert len(report.data.decode("utf-8-sig").splitlines()) == 3


@pytest.mark.parametrize("data,filename,code", [
    (b"external_ref,debtor_name,principal,days_past_due\n\xff\xfe\xfa\xfb,x,1,1\n", "p.csv", "import.undecodable"),
    ("合同号,姓名\nHT1,张三\n".encode("gbk"), "p.csv", "import.missing_columns"),
    (b"", "p.csv", "import.empty_file"),
    (b"a,b", "p.pdf", "import.bad_format"),
])
def test_a_whole_file_problem_is_a_422_with_its_code_and_nothing_is_kept(client, db_session, lender, admin, data,
                                                                         filename, code):
    response = upload(client, admin, data, filename=filename)
    assert response.status_code == 422
    assert response.json["error"]["code"] == code and response.json["error"]["message"]
    assert count(db_session, lender, ImportJob) == count(db_session, lender, Portfolio) == 0
    assert count(db_session, lender, OutboxTask) == 0


def test_upload_input_is_validated_per_field(client, db_session, factory, lender, admin):
    no_file = client.post("/api/v1/imports", data={"portfolio": "x"}, headers=admin,
                          content_type="multipart/form-data")
    assert no_file.status_code == 422 and "file" in no_file.json["error"]["details"]["fields"]
    bad_mapping = upload(client, admin, gbk_csv_with_broken_rows(), mapping='{"合同号": "loan_number"}')
    assert bad_mapping.status_code == 422
    assert "合同号" in bad_mapping.json["error"]["details"]["fields"]["mapping"]
    not_json = upload(client, admin, gbk_csv_with_broken_rows(), mapping="{nope")
    assert not_json.status_code == 422 and "mapping" in not_json.json["error"]["details"]["fields"]
    analyst = bearer(factory.token(lender, "lender_analyst")[1])
    assert upload(client, analyst, gbk_csv_with_broken_rows()).status_code == 403
    assert count(db_session, lender, ImportJob) == 0


def test_a_json_import_is_queued_with_its_mapping_and_lands_the_records(client, db_session, lender, admin):
    records = [{"ref": f"J{n}", "who": f"Debtor {n}", "owed": "250.50", "dpd": 61} for n in range(3)]
    mapping = {"ref": "external_ref", "who": "debtor_name", "owed": "principal", "dpd": "days_past_due"}
    queued = client.post("/api/v1/imports/json", json={"portfolio": "API feed", "records": records,
                                                       "mapping": mapping}, headers=admin)
    assert queued.status_code == 202, queued.json
    assert queued.json["status"] == "queued" and queued.json["file_format"] == "json"
    run_job(lender, queued.json["id"])
    status = client.get(f"/api/v1/imports/{queued.json['id']}", headers=admin).json
    assert (status["status"], status["rows_created"], status["rows_failed"]) == ("completed", 3, 0)
    found = client.get("/api/v1/accounts?external_ref=J1", headers=admin).json["items"]
    assert [(a["external_ref"], a["outstanding_minor"], a["days_past_due"]) for a in found] == [("J1", 25_050, 61)]
    empty = client.post("/api/v1/imports/json", json={"portfolio": "API feed", "records": []}, headers=admin)
    assert empty.status_code == 422 and empty.json["error"]["code"] == "import.empty_file"


def test_the_column_mapping_is_read_replaced_and_validated(client, factory, lender, admin):
    assert client.get("/api/v1/column-mapping", headers=admin).json == {"mapping": {}}
    bad = client.put("/api/v1/column-mapping", json={"mapping": {"合同号": "external_ref", "X": "nonsense"}},
                     headers=admin)
    assert bad.status_code == 422 and set(bad.json["error"]["details"]["fields"]["mapping"]) == {"X"}
    saved = client.put("/api/v1/column-mapping", json={"mapping": {"合同号": "external_ref", "备用": "phone_2",
                                                                   "备注": ""}}, headers=admin)
    assert saved.status_code == 200
    assert client.get("/api/v1/column-mapping", headers=admin).json["mapping"] == {
        "合同号": "external_ref", "备用": "phone_2", "备注": ""}
    replaced = client.put("/api/v1/column-mapping", json={"mapping": {"ref": "external_ref"}}, headers=admin)
    assert replaced.json["mapping"] == {"ref": "external_ref"}, "PUT replaces; it does not merge"
    analyst = bearer(factory.token(lender, "lender_analyst")[1])
    assert client.get("/api/v1/column-mapping", headers=analyst).status_code == 200
    assert client.put("/api/v1/column-mapping", json={"mapping": {}}, headers=analyst).status_code == 403


def test_imports_of_another_lender_are_not_found(client, factory, lender, admin):
    other = factory.tenant("lender")
    other_job = factory.placed_portfolio(other)["import_id"]
    for url in (f"/api/v1/imports/{other_job}", f"/api/v1/imports/{other_job}/errors",
                f"/api/v1/imports/{other_job}/errors.csv", f"/api/v1/imports/{uuid.uuid4()}"):
        response = client.get(url, headers=admin)
        assert response.status_code == 404 and response.json["error"]["code"].endswith("not_found"), url


def test_lender_only_collections_do_not_exist_for_agency_tokens(client, factory, frozen_clock):
    agency = factory.tenant("agency")
    objects = factory.placed_portfolio(agency)
    headers = bearer(factory.token(agency)[1])
    for method, url in [("GET", "/api/v1/portfolios"), ("GET", f"/api/v1/portfolios/{objects['portfolio_id']}"),
                        ("GET", "/api/v1/imports"), ("POST", "/api/v1/imports"), ("POST", "/api/v1/imports/json"),
                        ("GET", f"/api/v1/imports/{objects['import_id']}"),
                        ("GET", f"/api/v1/imports/{objects['import_id']}/errors.csv"),
                        ("GET", "/api/v1/column-mapping"), ("PUT", "/api/v1/column-mapping"),
                        ("POST", f"/api/v1/accounts/{objects['account_id']}/updates")]:
        response = client.open(url, method=method, json={}, headers=headers)
        assert response.status_code == 404, (method, url, response.status_code)
        assert response.json["error"]["code"] == "not_found"


# ---- accounts -----------------------------------------------------------------------------------------------

@pytest.fixture
def book(factory, lender, frozen_clock):
    """Two portfolios of accounts created a second apart, with spread-out days past due; the last one with full
    contact details."""
    first, second = factory.portfolio(lender, "First"), factory.portfolio(lender, "Second")
    accounts = []
    for i in range(1, 8):
        accounts.append(factory.account(lender, first, days_past_due=10 * i, region="上海" if i % 2 else "北京"))
        frozen_clock.advance(timedelta(seconds=1))
    accounts.append(factory.account(lender, second, days_past_due=200, id_number="110105198001010019",
                                    email="ann.lee@example.com", address="上海市浦东新区世纪大道100号"))
    return first, second, accounts


def test_accounts_are_filtered_and_paginated(client, lender, admin, book):
    _, second, accounts = book

    def get(query):
        return client.get(f"/api/v1/accounts?{query}", headers=admin).json

    assert len(get("")["items"]) == 8
    assert {a["external_ref"] for a in get(f"portfolio_id={second.id}")["items"]} == {accounts[-1].external_ref}
    assert [a["days_past_due"] for a in get("dpd_min=30&dpd_max=50")["items"]] == [30, 40, 50]
    assert {a["region"] for a in get("region=北京")["items"]} == {"北京"} and len(get("region=北京")["items"]) == 3
    assert [a["id"] for a in get(f"external_ref={accounts[2].external_ref}")["items"]] == [str(accounts[2].id)]
    phone = accounts[4].phones[0].phone
    assert [a["id"] for a in get(f"phone={phone[3:]}")["items"]] == [str(accounts[4].id)], "national form"
    assert get("status=paid")["items"] == []
    bad = client.get("/api/v1/accounts?dpd_min=-1&status=lost", headers=admin)
    assert bad.status_code == 422 and set(bad.json["error"]["details"]["fields"]) == {"dpd_min", "status"}
    bad_phone = client.get("/api/v1/accounts?phone=abc", headers=admin)
    assert bad_phone.status_code == 422 and bad_phone.json["error"]["code"] == "phone.invalid"

    seen, cursor = [], None
    while True:
        page = get("limit=3" + (f"&cursor={cursor}" if cursor else ""))
        seen += [a["id"] for a in page["items"]]
        cursor = page["next_cursor"]
        if not cursor:
            break
    assert seen == [str(a.id) for a in accounts], "oldest first, every account once"


def _place_and_accept(lender, agency, account_ids):
    from tenants.db import db

    with tenant_scope(lender.id):
        refs = tuple(db.session.get(Account, i).external_ref for i in account_ids)
        batch = placements.place(lender=lender, selection=Selection(external_refs=refs), weights={agency.id: 1},
                                 terms={}, created_by=None, seed=3)
    with tenant_scope(agency.id):
        placements.respond(batch.id, accept=True)
    return batch


def test_pii_is_masked_by_role_and_agencies_read_only_their_placed_accounts(client, factory, lender, admin, book):
    _, _, accounts = book
    detailed = accounts[-1]
    agency = factory.tenant("agency")
    factory.panel(lender, agency)
    _place_and_accept(lender, agency, [detailed.id, accounts[0].id])
    full_phone = detailed.phones[0].phone
    masked_phone = full_phone[:6] + "****" + full_phone[-4:]

    def view(tenant, role):
        return client.get(f"/api/v1/accounts/{detailed.id}", headers=bearer(factory.token(tenant, role)[1])).json

    lender_view = view(lender, "lender_admin")
    assert lender_view["phones"] == [full_phone] and lender_view["email"] == "ann.lee@example.com"
    assert lender_view["address"] == "上海市浦东新区世纪大道100号"
    assert lender_view["id_number"] == "1101**********0019", "nobody sees a resident ID in full"
    assert lender_view["balances"] == {"currency": "CNY", "original_minor": 500_000, "principal_minor": 400_000,
                                       "interest_minor": 30_000, "fees_minor": 10_000, "penalty_minor": 5_000,
                                       "outstanding_minor": 445_000}
    assert lender_view["placement"]["agency"]["slug"] == agency.slug
    assert lender_view["placement"]["status"] == "active" and lender_view["lender_updates"] == []
    assert view(lender, "lender_analyst")["phones"] == [masked_phone]

    collector = view(agency, "agency_collector")
    assert collector["phones"] == [masked_phone] and collector["email"] == "a***@example.com"
    assert collector["address"] == "上海市浦东新***" and collector["debtor_name"] == detailed.debtor_name
    supervisor = view(agency, "agency_supervisor")
    assert supervisor["phones"] == [full_phone] and supervisor["placement"]["agency"]["slug"] == agency.slug

    agency_headers = bearer(factory.token(agency, "agency_collector")[1])
    listed = client.get("/api/v1/accounts", headers=agency_headers).json["items"]
    assert {a["id"] for a in listed} == {str(detailed.id), str(accounts[0].id)}
    assert {a["phone"] for a in listed} == {masked_phone, accounts[0].phones[0].phone[:6] + "****" +
                                            accounts[0].phones[0].phone[-4:]}
    full_list = client.get("/api/v1/accounts", headers=admin).json["items"]
    assert full_phone in {a["phone"] for a in full_list}
    not_placed = client.get(f"/api/v1/accounts/{accounts[1].id}", headers=agency_headers)
    assert not_placed.status_code == 404 and not_placed.json["error"]["code"] == "account.not_found"


# ---- lender updates -----------------------------------------------------------------------------------------

def test_a_lender_update_changes_the_balance_at_once_for_the_agency_too(client, factory, lender, admin, book):
    _, _, accounts = book
    account = accounts[0]
    agency = factory.tenant("agency")
    factory.panel(lender, agency)
    _place_and_accept(lender, agency, [account.id])
    url = f"/api/v1/accounts/{account.id}/updates"

    paid = client.post(url, json={"kind": "direct_payment", "amount": "200.00", "occurred_on": "2026-11-30",
                                  "note": "paid at branch"}, headers=admin)
    assert paid.status_code == 201, paid.json
    assert paid.json["allocation"] == {"fees": 10_000, "penalty": 5_000, "interest": 5_000}
    assert (paid.json["amount_minor"], paid.json["account"]["outstanding_minor"]) == (20_000, 425_000)
    adjusted = client.post(url, json={"kind": "balance_adjustment", "component": "interest", "amount": "-50",
                                      "occurred_on": "2026-11-30"}, headers=admin)
    assert adjusted.status_code == 201 and adjusted.json["account"]["outstanding_minor"] == 420_000

    agency_view = client.get(f"/api/v1/accounts/{account.id}",
                             headers=bearer(factory.token(agency, "agency_collector")[1])).json
    assert agency_view["balances"]["outstanding_minor"] == 420_000
    assert agency_view["last_payment_minor"] == 20_000
    assert sorted(u["kind"] for u in agency_view["lender_updates"]) == ["balance_adjustment", "direct_payment"]

    agency_admin = bearer(factory.token(agency, "agency_admin")[1])
    refused = client.post(url, json={"kind": "direct_payment", "amount": "1", "occurred_on": "2026-11-30"},
                          headers=agency_admin)
    assert refused.status_code == 404, "an agency cannot change the lender's account"

    closed = client.post(url, json={"kind": "closure", "closure_status": "settled", "occurred_on": "2026-11-30"},
                         headers=admin)
    assert closed.status_code == 201 and closed.json["account_status"] == "settled"
    assert client.get(f"/api/v1/accounts/{account.id}", headers=agency_admin).status_code == 404, \
        "closing the account ends the agency's placement"
    again = client.post(url, json={"kind": "direct_payment", "amount": "1", "occurred_on": "2026-11-30"},
                        headers=admin)
    assert again.status_code == 409 and again.json["error"]["code"] == "account.closed"


@pytest.mark.parametrize("body,status,code,field", [
    ({"kind": "direct_payment", "occurred_on": "2026-11-30"}, 422, "validation.failed", "amount"),
    ({"kind": "balance_adjustment", "amount": "5", "occurred_on": "2026-11-30"}, 422, "validation.failed",
     "component"),
    ({"kind": "closure", "occurred_on": "2026-11-30"}, 422, "validation.failed", "closure_status"),
    ({"kind": "refund", "amount": "5", "occurred_on": "2026-11-30"}, 422, "validation.failed", "kind"),
    ({"kind": "direct_payment", "amount": "5", "occurred_on": "30/11/2026"}, 422, "validation.failed", "occurred_on"),
    ({"kind": "direct_payment", "amount": "99999", "occurred_on": "2026-11-30"}, 422, "update.overpayment", None),
    ({"kind": "direct_payment", "amount": "1.001", "occurred_on": "2026-11-30"}, 422, "validation.failed", "amount"),
    ({"kind": "direct_payment", "amount": "ten", "occurred_on": "2026-11-30"}, 422, "validation.failed", "amount"),
    ({"kind": "balance_adjustment", "component": "fees", "amount": "1e30", "occurred_on": "2026-11-30"}, 422,
     "validation.failed", "amount"),
    ({"kind": "direct_payment", "amount": "0", "occurred_on": "2026-11-30"}, 422, "update.amount_not_positive",
     "amount"),
    ({"kind": "direct_payment", "amount": "1", "occurred_on": "2027-01-01"}, 422, "update.future_date", None),
])
def test_bad_lender_updates_are_refused_and_change_nothing(client, lender, admin, book, body, status, code, field):
    account = book[2][0]
    response = client.post(f"/api/v1/accounts/{account.id}/updates", json=body, headers=admin)
    assert response.status_code == status and response.json["error"]["code"] == code
    if field:
        fields = response.json["error"]["details"]["fields"]
        assert field in fields.get("json", fields), fields
    assert client.get(f"/api/v1/accounts/{account.id}", headers=admin).json["balances"]["outstanding_minor"] == \
        445_000


def test_lender_updates_need_a_writer_role_and_an_account_of_ones_own(client, factory, lender, book):
    account = book[2][0]
    body = {"kind": "direct_payment", "amount": "1", "occurred_on": "2026-11-30"}
    analyst = bearer(factory.token(lender, "lender_analyst")[1])
    assert client.post(f"/api/v1/accounts/{account.id}/updates", json=body, headers=analyst).status_code == 403
    manager = bearer(factory.token(lender, "lender_manager")[1])
    assert client.post(f"/api/v1/accounts/{account.id}/updates", json=body, headers=manager).status_code == 201
    other = bearer(factory.token(factory.tenant("lender"), "lender_admin")[1])
    foreign = client.post(f"/api/v1/accounts/{account.id}/updates", json={"reason": "probe"}, headers=other)
    assert foreign.status_code == 404, "a foreign id is 404 before the body is even looked at"


def test_the_openapi_document_lists_the_portfolio_routes(client):
    paths = client.get("/api/v1/openapi.json").json["paths"]
    for path in ("/api/v1/portfolios", "/api/v1/imports", "/api/v1/imports/json", "/api/v1/imports/{import_id}",
                 "/api/v1/imports/{import_id}/errors", "/api/v1/imports/{import_id}/errors.csv",
                 "/api/v1/column-mapping", "/api/v1/accounts", "/api/v1/accounts/{account_id}",
                 "/api/v1/accounts/{account_id}/updates"):
        assert path in paths, path
    upload_body = paths["/api/v1/imports"]["post"]["requestBody"]["content"]
    assert "multipart/form-data" in upload_body
    assert "put" in paths["/api/v1/column-mapping"]


def test_a_retried_lender_update_with_the_same_idempotency_key_is_recorded_once(client, factory, db_session):
    from tenants.context import tenant_scope as scope
    from tenants.portfolios.models import Account as AccountModel

    lender = factory.tenant("lender")
    objects = factory.placed_portfolio(lender)
    _, secret = factory.token(lender)
    headers = {"Authorization": f"Bearer {secret}", "Idempotency-Key": "pay-2026-11-30-001"}
    body = {"kind": "direct_payment", "amount": "10.00", "occurred_on": "2026-11-30"}
    first = client.post(f"/api/v1/accounts/{objects['account_id']}/updates", json=body, headers=headers)
    again = client.post(f"/api/v1/accounts/{objects['account_id']}/updates", json=body, headers=headers)
    assert first.status_code == again.status_code == 201
    assert first.json["id"] == again.json["id"]
    with scope(lender.id):
        account = db_session.get(AccountModel, objects["account_id"])
        db_session.refresh(account)
        assert account.outstanding_minor == 10_000 - 1_000
