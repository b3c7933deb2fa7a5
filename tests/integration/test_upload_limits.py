"""Uploads are parsed in workers only: the request stores the file and reads its header, so a workbook that
inflates to 300 MB or holds two million rows is accepted at once (202 / redirect) and the worker refuses it with
a clear code, never echoing more than a short excerpt of the file. Timings and memory are measured by
bench/upload_bomb.py, not asserted here."""
import io
import uuid
import zipfile

import pytest
from sqlalchemy import func, select

from tenants.context import tenant_scope
from tenants.db import db
from tenants.portfolios import imports, limits, workbook
from tenants.portfolios.models import Account, ImportJob
from tenants.portfolios.parsing import FileRejected
from tests.factories import login
from tests.xlsx_files import HEADER, shared_strings_bomb, two_million_rows
from workers import jobs


@pytest.fixture(scope="module")
def hostile(tmp_path_factory):
    folder = tmp_path_factory.mktemp("hostile-xlsx")
    return {"bomb": shared_strings_bomb(folder / "bomb.xlsx").read_bytes(),
            "rows": two_million_rows(folder / "rows.xlsx").read_bytes()}


@pytest.fixture
def lender(factory, frozen_clock):
    tenant = factory.tenant("lender")
    factory.user(tenant, "lender_manager", email="manager@lender.test")
    return tenant


def bearer(factory, lender) -> dict:
    return {"Authorization": f"Bearer {factory.token(lender, 'lender_admin')[1]}"}


def api_upload(client, lender, factory, data: bytes, filename: str):
    headers = bearer(factory, lender)
    return client.post("/api/v1/imports", headers=headers, content_type="multipart/form-data",
                       data={"file": (io.BytesIO(data), filename), "portfolio": "Hostile"})


def run_worker_job(lender, import_id) -> ImportJob:
    """What the rq worker runs (workers.jobs.run_import), in the tenant's context. The test's session commits
    first: its rollback (on failure) must not reach back past the upload, which a worker's never could."""
    db.session.commit()
    with tenant_scope(lender.id):
        jobs.run_import(str(lender.id), str(import_id))
        job = imports.get_import(uuid.UUID(str(import_id)))
        return job


def accounts(db_session, lender) -> int:
    with tenant_scope(lender.id):
        return db_session.scalar(select(func.count()).select_from(Account))


@pytest.mark.parametrize("kind,code", [("bomb", "import.file_too_large_uncompressed"),
                                       ("rows", "import.file_too_large_uncompressed")])
def test_a_hostile_workbook_is_queued_by_the_api_and_refused_by_the_worker(client, db_session, factory, lender,
                                                                            hostile, kind, code):
    queued = api_upload(client, lender, factory, hostile[kind], f"{kind}.xlsx")
    assert queued.status_code == 202, queued.json
    assert queued.json["headers"] == list(HEADER), "the header is read from a bounded sample"
    assert queued.json["rows_total"] is None and accounts(db_session, lender) == 0

    job = run_worker_job(lender, queued.json["id"])
    assert (job.status, job.error_code) == ("failed", code)
    assert f"more than {limits.XLSX_MAX_RATIO} times" in job.error_message
    assert job.finished_at and accounts(db_session, lender) == 0
    status = client.get(f"/api/v1/imports/{job.id}", headers=bearer(factory, lender)).json
    assert (status["status"], status["error_code"]) == ("failed", code)


def test_the_lender_page_redirects_at_once_and_shows_the_refusal_in_chinese(client, db_session, factory, lender,
                                                                            hostile):
    factory.user(lender, "lender_analyst", email="analyst-zh@lender.test", locale="zh_CN")
    login(client, "manager@lender.test")
    response = client.post(f"/t/{lender.slug}/imports", content_type="multipart/form-data",
                           data={"file": (io.BytesIO(hostile["bomb"]), "bomb.xlsx"), "portfolio": "Bomb",
                                 "use_saved_mapping": "y"})
    assert response.status_code == 302
    import_id = response.headers["Location"].rsplit("/", 1)[1]
    run_worker_job(lender, import_id)

    english = client.get(f"/t/{lender.slug}/imports/{import_id}").get_data(as_text=True)
    assert 'id="import-failure"' in english and "import.file_too_large_uncompressed" in english
    assert "Save it again from Excel or as CSV" in english
    client.post("/logout")
    login(client, "analyst-zh@lender.test")
    chinese = client.get(f"/t/{lender.slug}/imports/{import_id}").get_data(as_text=True)
    assert "工作簿解压后" in chinese and "Save it again" not in chinese


def test_a_workbook_over_the_row_limit_is_refused_before_any_row_lands(client, db_session, factory, lender,
                                                                       monkeypatch, tmp_path):
    monkeypatch.setattr(limits, "MAX_ROWS", 5)
    data = two_million_rows(tmp_path / "six.xlsx", rows=6).read_bytes()
    queued = api_upload(client, lender, factory, data, "six.xlsx")
    job = run_worker_job(lender, queued.json["id"])
    assert (job.status, job.error_code) == ("failed", "import.too_many_rows")
    assert "more than 5 rows" in job.error_message and accounts(db_session, lender) == 0
    monkeypatch.setattr(limits, "MAX_ROWS", 6)
    again = run_worker_job(lender, api_upload(client, lender, factory, data, "six.xlsx").json["id"])
    assert (again.status, again.rows_total, again.rows_processed) == ("completed", 6, 6)


def test_a_csv_over_the_row_limit_is_refused_by_the_worker(client, db_session, factory, lender, monkeypatch):
    monkeypatch.setattr(limits, "MAX_ROWS", 2)
    data = b"external_ref,debtor_name,principal,days_past_due\n" + b"".join(
        f"R{n},Ann,10,40\n".encode() for n in range(3))
    job = run_worker_job(lender, api_upload(client, lender, factory, data, "three.csv").json["id"])
    assert (job.status, job.error_code, job.rows_created) == ("failed", "import.too_many_rows", 0)


def test_one_size_limit_named_in_the_refusal(app, client, db_session, factory, lender, monkeypatch):
    assert app.config["MAX_CONTENT_LENGTH"] > app.config["UPLOAD_MAX_BYTES"] == limits.UPLOAD_MAX_BYTES
    monkeypatch.setitem(app.config, "UPLOAD_MAX_BYTES", 2 * limits.MIB)
    refused = api_upload(client, lender, factory, b"external_ref\n" + b"x" * (2 * limits.MIB), "big.csv")
    assert refused.status_code == 422 and refused.json["error"]["code"] == "import.too_large"
    assert "2 MB" in refused.json["error"]["message"]
    monkeypatch.setitem(app.config, "MAX_CONTENT_LENGTH", 1000)
    too_big = api_upload(client, lender, factory, b"x" * 2000, "big.csv")
    assert too_big.status_code == 413 and "2 MB" in too_big.json["error"]["message"]


def test_a_header_the_request_cannot_sample_is_read_and_mapped_by_the_worker(client, db_session, factory, lender,
                                                                            monkeypatch):
    monkeypatch.setattr(limits, "HEADER_SAMPLE_BYTES", 10)  # nothing fits: the request leaves the header alone
    queued = api_upload(client, lender, factory, _workbook([list(HEADER), ["W-1", "Wu", 12.5, 40]]), "w.xlsx")
    assert queued.status_code == 202 and queued.json["headers"] is None and queued.json["mapping"] == {}
    job = run_worker_job(lender, queued.json["id"])
    assert (job.status, job.rows_created, job.headers) == ("completed", 1, list(HEADER))
    assert job.mapping["principal"] == "principal"


def test_missing_columns_found_by_the_worker_offer_the_mapping_page(client, db_session, lender, monkeypatch):
    monkeypatch.setattr(limits, "HEADER_SAMPLE_BYTES", 10)
    login(client, "manager@lender.test")
    response = client.post(f"/t/{lender.slug}/imports", content_type="multipart/form-data",
                           data={"file": (io.BytesIO(_workbook([["合同号", "姓名"], ["HT1", "张三"]])), "m.xlsx"),
                                 "portfolio": "Mapping", "use_saved_mapping": "y"})
    import_id = response.headers["Location"].rsplit("/", 1)[1]
    job = run_worker_job(lender, import_id)
    assert (job.status, job.error_code, job.headers) == ("failed", "import.missing_columns", ["合同号", "姓名"])
    page = client.get(f"/t/{lender.slug}/imports/{import_id}").get_data(as_text=True)
    assert 'id="map-columns-link"' in page and "header=%E5%90%88%E5%90%8C%E5%8F%B7" in page


def test_a_refusal_quotes_no_more_than_an_excerpt_of_the_file(client, db_session, factory, lender):
    giant = "合同号" * 5000
    refused = api_upload(client, lender, factory, f"{giant},姓名\nHT1,张三\n".encode(), "long.csv")
    assert refused.status_code == 422 and refused.json["error"]["code"] == "import.bad_format"
    assert len(refused.get_data()) < 2000, "the answer does not echo the header back"
    queued = api_upload(client, lender, factory, _workbook([[giant, "debtor_name"], ["x", "y"]]), "long.xlsx")
    assert queued.status_code == 422 and len(queued.get_data()) < 2000


def _workbook(rows) -> bytes:
    import openpyxl

    book = openpyxl.Workbook()
    for row in rows:
        book.active.append(row)
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


# ---- the zip and XML checks themselves ------------------------------------------------------------------------

def _zip(members: dict[str, bytes], compression=zipfile.ZIP_DEFLATED) -> io.BytesIO:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", compression=compression) as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    out.seek(0)
    return out


def test_openpyxl_parses_through_defusedxml():
    from openpyxl.xml import functions

    assert functions.iterparse.__module__.startswith("defusedxml")
    assert functions.fromstring.__module__.startswith("defusedxml")


def test_too_many_parts_are_refused_before_the_directory_is_read(monkeypatch):
    monkeypatch.setattr(limits, "XLSX_MAX_MEMBERS", 3)
    with pytest.raises(FileRejected) as refused:
        workbook.open_archive(_zip({f"part{n}.xml": b"<a/>" for n in range(4)}))
    assert refused.value.code == "import.bad_format" and "more than 3 parts" in refused.value.message


def test_compression_excel_never_uses_is_refused():
    with pytest.raises(FileRejected) as refused:
        workbook.open_archive(_zip({"xl/workbook.xml": b"<a/>"}, compression=zipfile.ZIP_BZIP2))
    assert refused.value.code == "import.bad_format"


def test_a_document_type_in_the_xml_is_refused(tmp_path):
    billion_laughs = (b'<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;">]>'
                      b'<worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main"><sheetData>'
                      b'<row><c t="inlineStr"><is><t>&lol2;</t></is></c></row></sheetData></worksheet>')
    path = two_million_rows(tmp_path / "dtd.xlsx", rows=1)
    with zipfile.ZipFile(path) as original, zipfile.ZipFile(tmp_path / "evil.xlsx", "w") as evil:
        for info in original.infolist():
            data = billion_laughs if info.filename.endswith("sheet1.xml") else original.read(info)
            evil.writestr(info.filename, data)
    with open(tmp_path / "evil.xlsx", "rb") as handle, pytest.raises(FileRejected) as refused:
        workbook.sample_header(handle)
    assert refused.value.code == "import.bad_format" and "document type" in refused.value.message
