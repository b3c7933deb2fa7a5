"""Bulk exchange: files of a small known dataset, their content exactly; encryption at rest; the download window
(410 with a code, then purged); every download audited; isolation between tenants; schedules at a local hour that
run once per slot; and a file made by a real rq worker from the outbox, a second run changing nothing."""
import codecs
import csv
import io
import uuid
from datetime import date, datetime, timedelta, timezone

import pytest
from sqlalchemy import LargeBinary, func, select, type_coerce

from tenants import outbox, pii
from tenants.audit import AuditEvent
from tenants.casework import payments, promises
from tenants.conduct import service as conduct
from tenants.context import platform_scope, tenant_scope
from tenants.db import db
from tenants.exchange import files, service
from tenants.exchange.models import ExchangeExport, ExchangeExportChunk, ExportStatus
from tenants.placements import services as placement_service
from tenants.placements.models import Placement
from tests.factories import login

SHANGHAI_10AM = datetime(2026, 12, 1, 2, 0, tzinfo=timezone.utc)  # 1 Dec, 10:00 in Shanghai


def bearer(secret):
    return {"Authorization": f"Bearer {secret}"}


def read_csv(data: bytes) -> list[dict]:
    assert data.startswith(codecs.BOM_UTF8)
    return list(csv.DictReader(io.StringIO(data.decode("utf-8-sig"))))


@pytest.fixture
def case(factory, db_session, frozen_clock):
    """1 Dec: an account (借款人…) placed with an agency, an SMS and two calls (one with a promise), a promise of
    100.00 and a payment of 50.00 the lender confirms. Then 2 Dec, 10:00 in Shanghai."""
    frozen_clock.set(SHANGHAI_10AM)
    lender, agency, account = factory.placed_account(debtor_name="王小明")
    admin, _ = factory.user(lender, "lender_admin", email="admin@exchange.test")
    with tenant_scope(agency.id):
        conduct.attempt(account.id, conduct.AttemptRequest(channel="sms"), collector_user_id=None)
        for outcome in ("no_answer", "promise_to_pay"):
            attempt, _ = conduct.attempt(account.id, conduct.AttemptRequest(channel="call"), collector_user_id=None)
            conduct.record_outcome(attempt.id, outcome)
        promises.take(account.id, amount="100.00", due_on=date(2026, 12, 5), user_id=None)
        payment_id = payments.record(account.id, amount="50.00", received_on=date(2026, 12, 1),
                                     method="bank_transfer", user_id=None).id
    with tenant_scope(lender.id):
        payments.confirm(payment_id, None)
    frozen_clock.set(SHANGHAI_10AM + timedelta(days=1))
    return dict(lender=lender, agency=agency, account=account, ref=account.external_ref, admin=admin,
                clock=frozen_clock)


def make(tenant, kind, role="lender_admin", file_format="csv", **options) -> ExchangeExport:
    with tenant_scope(tenant.id):
        export = service.request_export(kind=kind, file_format=file_format, role=role, user_id=None, **options)
        export_id = export.id
        files.generate(export_id)
        return db.session.get(ExchangeExport, export_id)


def content_of(tenant, export) -> bytes:
    with tenant_scope(tenant.id):
        return files.content(export.id)


def test_the_lenders_files_hold_the_known_dataset(case):
    lender, ref = case["lender"], case["ref"]
    accounts = make(lender, "accounts")
    assert accounts.status == ExportStatus.READY and accounts.row_count == 1
    [row] = read_csv(content_of(lender, accounts))
    assert row["external_ref"] == ref and row["debtor_name"] == "王小明"  # a lender admin sees names in full
    components = [int(row[f"{c}_minor"]) for c in ("principal", "interest", "fees", "penalty")]
    assert row["currency"] == "CNY" and sum(components) == int(row["outstanding_minor"]) == 445_000 - 5_000
    assert row["placement_status"] == "active"  # 4,450.00 less the 50.00 paid, in fen
    assert row["agency"] == case["agency"].name
    assert "*" in row["id_number"] or row["id_number"] == ""  # nobody gets a full resident ID

    contacts = read_csv(content_of(lender, make(lender, "contacts")))
    summary = {(r["channel"], r["outcome"]): r for r in contacts}
    assert {k: v["attempts"] for k, v in summary.items()} == {
        ("call", "no_answer"): "1", ("call", "promise_to_pay"): "1", ("sms", "pending"): "1"}
    assert {r["debtor_local_day"] for r in contacts} == {"2026-12-01"}
    assert {r["external_ref"] for r in contacts} == {ref}

    [promise] = read_csv(content_of(lender, make(lender, "promises")))
    assert (promise["amount_minor"], promise["currency"], promise["due_on"], promise["status"]) == (
        "10000", "CNY", "2026-12-05", "open")
    [payment] = read_csv(content_of(lender, make(lender, "payments", file_format="csv")))
    assert (payment["amount_minor"], payment["status"], payment["recorded_by"]) == ("5000", "confirmed", "agency")
    assert read_csv(content_of(lender, make(lender, "closures"))) == []


def test_a_days_changes_file_per_agency_lists_what_happened_that_day(case, factory):
    lender, agency, ref = case["lender"], case["agency"], case["ref"]
    with tenant_scope(lender.id):
        assert [t.id for t in service.counterparties()] == [agency.id]
    changes = make(lender, "changes", counterparty_id=agency.id)  # default: yesterday, 1 Dec
    assert (changes.period_start, changes.period_end) == (date(2026, 12, 1), date(2026, 12, 1))
    rows = read_csv(content_of(lender, changes))
    kinds = sorted(r["change"] for r in rows)
    assert kinds == ["contacts", "contacts", "contacts", "payment_confirmed", "payment_recorded", "placement",
                     "promise_made"]
    assert {r["external_ref"] for r in rows} == {ref}
    # The agency's own file for that lender says the same.
    mine = read_csv(content_of(agency, make(agency, "changes", role="agency_admin", counterparty_id=lender.id)))
    assert sorted(r["change"] for r in mine) == kinds
    # A recall today is tomorrow's change.
    with tenant_scope(lender.id):
        placement_id = db.session.scalar(select(Placement.id).where(Placement.account_id == case["account"].id))
        placement_service.recall([placement_id], reason="test", force=True, role="lender_admin")
    case["clock"].set(SHANGHAI_10AM + timedelta(days=2))
    later = read_csv(content_of(lender, make(lender, "changes", counterparty_id=agency.id)))
    assert [(r["change"], r["external_ref"]) for r in later] == [("recall", ref)]
    # The agency no longer holds the account: its file names the placement, not the lender's reference.
    theirs = read_csv(content_of(agency, make(agency, "changes", role="agency_admin", counterparty_id=lender.id)))
    assert [(r["change"], r["external_ref"], r["placement_id"]) for r in theirs] == [
        ("recall", "", str(placement_id))]


def test_an_agency_exports_its_own_work_only(case, factory):
    other_lender, other_agency, other_account = factory.placed_account(debtor_name="李四")
    with tenant_scope(other_agency.id):
        conduct.attempt(other_account.id, conduct.AttemptRequest(channel="sms"), collector_user_id=None)
    agency = case["agency"]
    accounts = read_csv(content_of(agency, make(agency, "accounts", role="agency_supervisor")))
    assert [r["external_ref"] for r in accounts] == [case["ref"]]
    assert accounts[0]["lender"] == case["lender"].name
    contacts = read_csv(content_of(agency, make(agency, "contacts", role="agency_supervisor")))
    assert {r["external_ref"] for r in contacts} == {case["ref"]}
    # The other lender sees none of the first lender's rows.
    theirs = read_csv(content_of(other_lender, make(other_lender, "accounts")))
    assert [r["external_ref"] for r in theirs] == [other_account.external_ref]
    # A foreign agency is no counterparty of a changes file.
    with tenant_scope(other_lender.id):
        with pytest.raises(service.NotFound):
            service.request_export(kind="changes", file_format="csv", role="lender_admin", user_id=None,
                                   counterparty_id=agency.id)


def test_the_stored_bytes_are_encrypted_and_name_no_debtor(case, db_session):
    lender = case["lender"]
    for file_format in ("csv", "xlsx"):
        export = make(lender, "accounts", file_format=file_format)
        plain = content_of(lender, export)
        assert "王小明".encode() in plain or file_format == "xlsx"
        with tenant_scope(lender.id):
            raw = b"".join(bytes(r) for r in db_session.scalars(
                select(type_coerce(ExchangeExportChunk.data, LargeBinary))
                .where(ExchangeExportChunk.export_id == export.id).order_by(ExchangeExportChunk.seq)))
        assert raw and "王小明".encode() not in raw and case["ref"].encode() not in raw
        assert plain not in raw
        assert pii.keyring().decrypt_bytes(raw) == plain  # one chunk: one Fernet token


def test_an_xlsx_file_opens_with_the_rows(case):
    from openpyxl import load_workbook

    export = make(case["lender"], "payments", file_format="xlsx")
    sheet = load_workbook(io.BytesIO(content_of(case["lender"], export))).active
    rows = list(sheet.iter_rows(values_only=True))
    assert rows[0][0] == "external_ref" and rows[1][0] == case["ref"] and rows[1][4] == 5000


def test_a_rerun_of_a_finished_export_replaces_nothing(case):
    lender = case["lender"]
    export = make(lender, "accounts")
    first = content_of(lender, export)
    with tenant_scope(lender.id):
        digest, finished = export.sha256, export.finished_at
        case["clock"].set(SHANGHAI_10AM + timedelta(days=1, hours=1))
        again = files.generate(export.id)
        assert (again.sha256, again.finished_at, again.status) == (digest, finished, ExportStatus.READY)
    assert content_of(lender, export) == first


def test_downloads_are_audited_and_the_window_closes_with_410(client, case, factory):
    lender = case["lender"]
    export = make(lender, "accounts")
    login(client, "admin@exchange.test")
    url = f"/t/{lender.slug}/exchange/exports/{export.id}/download"
    response = client.get(url)
    assert response.status_code == 200 and "王小明" in response.data.decode("utf-8-sig")
    assert "attachment" in response.headers["Content-Disposition"]
    with tenant_scope(lender.id):
        events = db.session.scalars(select(AuditEvent).where(AuditEvent.action == "exchange.downloaded")).all()
        assert [str(e.object_id) for e in events] == [str(export.id)]
        assert events[0].after["via"] == "page" and events[0].after["sha256"] == export.sha256
    case["clock"].set(export.expires_at + timedelta(seconds=1))
    response = client.get(url)
    assert response.status_code == 410
    with platform_scope("test: purge"):
        assert files.purge_expired() >= 1
    with tenant_scope(lender.id):
        db.session.expire_all()
        assert db.session.get(ExchangeExport, export.id).status == ExportStatus.EXPIRED
        assert db.session.scalar(select(ExchangeExportChunk.seq).where(
            ExchangeExportChunk.export_id == export.id)) is None
    secret = factory.token(lender, "lender_admin")[1]
    api = client.get(f"/api/v1/exchange/exports/{export.id}/download", headers=bearer(secret))
    assert api.status_code == 410 and api.json["error"]["code"] == "exchange.expired"


def test_a_role_that_sees_less_cannot_download_a_file_masked_for_more(client, case, factory):
    lender = case["lender"]
    export = make(lender, "accounts", role="lender_admin")
    analyst_secret = factory.token(lender, "lender_analyst")[1]
    response = client.get(f"/api/v1/exchange/exports/{export.id}/download", headers=bearer(analyst_secret))
    assert response.status_code == 403 and response.json["error"]["code"] == "exchange.masked_for_role"
    own = client.post("/api/v1/exchange/exports", json={"kind": "accounts", "format": "csv"},
                      headers=bearer(analyst_secret))
    assert own.status_code == 202, own.json
    with tenant_scope(lender.id):
        files.generate(uuid.UUID(own.json["id"]))
    body = client.get(f"/api/v1/exchange/exports/{own.json['id']}/download", headers=bearer(analyst_secret))
    assert body.status_code == 200
    [row] = read_csv(body.data)
    assert row["debtor_name"] != "王小明" and row["debtor_name"].startswith("王")


def test_foreign_exports_and_schedules_answer_404(client, case, factory):
    lender = case["lender"]
    export = make(lender, "accounts")
    with tenant_scope(lender.id):
        schedule = service.create_schedule(kind="payments", file_format="csv", frequency="daily", local_hour=6,
                                           weekday=None, role="lender_admin", user_id=None)
    other = factory.tenant("lender")
    factory.user(other, "lender_admin", email="other@exchange.test")
    secret = factory.token(other, "lender_admin")[1]
    for url in (f"/api/v1/exchange/exports/{export.id}", f"/api/v1/exchange/exports/{export.id}/download"):
        assert client.get(url, headers=bearer(secret)).status_code == 404
    assert client.delete(f"/api/v1/exchange/schedules/{schedule.id}", headers=bearer(secret)).status_code == 404
    login(client, "other@exchange.test")
    for slug in (other.slug, lender.slug):
        assert client.get(f"/t/{slug}/exchange/exports/{export.id}/download").status_code == 404
    assert client.post(f"/t/{other.slug}/exchange/schedules/{schedule.id}/stop").status_code == 404
    with tenant_scope(lender.id):
        assert service.get_schedule(schedule.id).active


def test_a_schedule_runs_once_per_local_slot(case):
    lender = case["lender"]
    with tenant_scope(lender.id):
        schedule = service.create_schedule(kind="changes", file_format="csv", frequency="daily", local_hour=6,
                                           weekday=None, role="lender_admin", user_id=None)
        # 2 Dec 10:00 in Shanghai now: the next 06:00 there is 3 Dec, 22:00 UTC on the 2nd.
        assert schedule.next_run_at == datetime(2026, 12, 2, 22, 0, tzinfo=timezone.utc)
        weekly = service.create_schedule(kind="payments", file_format="xlsx", frequency="weekly", local_hour=7,
                                         weekday=0, role="lender_admin", user_id=None)
        assert weekly.next_run_at == datetime(2026, 12, 6, 23, 0, tzinfo=timezone.utc)  # Monday 7 Dec, 07:00
        schedule_id = schedule.id
    case["clock"].set(datetime(2026, 12, 2, 22, 5, tzinfo=timezone.utc))
    with platform_scope("test: the periodic job"):
        assert service.run_due() == 1
    with platform_scope("test: the periodic job, again"):
        assert service.run_due() == 0
    with tenant_scope(lender.id):
        [export] = db.session.scalars(select(ExchangeExport).where(ExchangeExport.schedule_id == schedule_id)).all()
        assert (export.kind, export.counterparty_tenant_id, export.period_start) == (
            "changes", case["agency"].id, date(2026, 12, 2))
        assert db.session.get(type(service.get_schedule(schedule_id)), schedule_id).next_run_at == datetime(
            2026, 12, 3, 22, 0, tzinfo=timezone.utc)
        task = db.session.scalar(select(outbox.OutboxTask).where(outbox.OutboxTask.job == service.JOB))
        assert task.arguments == {"export_id": str(export.id)}


def test_a_real_worker_makes_the_file_from_the_outbox_and_a_second_run_changes_nothing(app):
    """Committed data: a forked rq worker (burst mode) only sees what is committed."""
    from rq.job import Job

    from tests.factories import Factory
    from workers.connection import connection
    from workers.queues import enqueue, queue
    from workers.worker import RecoverlyWorker

    with app.app_context():
        lender, _agency, account = Factory(db.session).placed_account(debtor_name="赵六")
        lender_id, ref = lender.id, account.external_ref
        with tenant_scope(lender_id):
            export_id = service.request_export(kind="accounts", file_format="xlsx", role="lender_manager",
                                               user_id=None).id
        db.session.commit()
        db.session.remove()
    assert queue("default").count >= 1  # enqueued after the commit, by the outbox's dispatcher
    RecoverlyWorker(["default"], connection=connection(), flask_app=app).work(burst=True, with_scheduler=False)
    with app.app_context(), tenant_scope(lender_id):
        export = db.session.get(ExchangeExport, export_id)
        assert export.status == ExportStatus.READY and export.row_count == 1
        assert export.filename.endswith(".xlsx")
        first = (export.sha256, export.finished_at)
        task = db.session.scalar(select(outbox.OutboxTask).where(outbox.OutboxTask.job == service.JOB))
        assert task.status == outbox.TaskStatus.DONE
        db.session.remove()
    job = enqueue(service.JOB, tenant_id=lender_id, export_id=str(export_id))
    RecoverlyWorker(["default"], connection=connection(), flask_app=app).work(burst=True, with_scheduler=False)
    assert Job.fetch(job.id, connection=connection()).return_value()["status"] == ExportStatus.READY
    with app.app_context(), tenant_scope(lender_id):
        export = db.session.get(ExchangeExport, export_id)
        assert (export.sha256, export.finished_at) == first
        made = db.session.scalars(select(AuditEvent).where(AuditEvent.action == "exchange.export_ready")).all()
        assert len(made) == 1
        from openpyxl import load_workbook

        sheet = load_workbook(io.BytesIO(files.content(export_id))).active
        assert [row[0] for row in sheet.iter_rows(values_only=True)] == ["external_ref", ref]
        db.session.remove()


def test_the_files_page_asks_for_files_and_schedules_and_speaks_chinese(client, case, factory):
    lender = case["lender"]
    login(client, "admin@exchange.test")
    page = client.get(f"/t/{lender.slug}/exchange")
    assert page.status_code == 200 and case["agency"].name in page.data.decode()
    response = client.post(f"/t/{lender.slug}/exchange/exports", data={"kind": "payments", "format": "xlsx",
                                                                       "period_start": "2026-12-01"})
    assert response.status_code == 302
    response = client.post(f"/t/{lender.slug}/exchange/schedules", data={
        "kind": "changes", "format": "csv", "frequency": "weekly", "weekday": "0", "local_hour": "7"})
    assert response.status_code == 302
    with tenant_scope(lender.id):
        [export] = db.session.scalars(select(ExchangeExport).where(ExchangeExport.kind == "payments")).all()
        assert (export.period_start, export.file_format, export.status) == (date(2026, 12, 1), "xlsx", "queued")
        [schedule] = service.schedules()
        assert (schedule.frequency, schedule.weekday, schedule.local_hour) == ("weekly", 0, 7)
    client.post("/lang", data={"lang": "zh_CN"})
    refused = client.post(f"/t/{lender.slug}/exchange/exports", data={
        "kind": "payments", "format": "csv", "period_start": "2026-12-02", "period_end": "2026-12-01"})
    assert refused.status_code == 422 and "期间的结束日期早于开始日期。" in refused.data.decode()
    assert "文件交换" in refused.data.decode()  # the sidebar's link, in Chinese
    # An agency collector has no files page.
    collector, _ = factory.user(case["agency"], "agency_collector", email="collector@exchange.test")
    login(client, "collector@exchange.test")
    assert client.get(f"/t/{case['agency'].slug}/exchange").status_code == 403


def test_a_retried_api_request_with_the_same_idempotency_key_makes_one_file(client, case, factory, monkeypatch):
    lender = case["lender"]
    secret = factory.token(lender, "lender_admin")[1]
    body = {"kind": "payments", "format": "csv", "period_start": "2026-12-01", "period_end": "2026-12-01"}
    keyed = {**bearer(secret), "Idempotency-Key": "payments-2026-12-01"}
    first = client.post("/api/v1/exchange/exports", json=body, headers=keyed)
    again = client.post("/api/v1/exchange/exports", json=body, headers=keyed)
    assert (first.status_code, again.status_code) == (202, 202), (first.json, again.json)
    assert again.json["id"] == first.json["id"]
    # The same key with another body is refused, and makes nothing.
    other = client.post("/api/v1/exchange/exports", json={**body, "format": "xlsx"}, headers=keyed)
    assert other.status_code == 409 and other.json["error"]["code"] == "idempotency.key_reused"
    # Without a key, each request is a new file.
    plain = client.post("/api/v1/exchange/exports", json=body, headers=bearer(secret))
    assert plain.status_code == 202 and plain.json["id"] != first.json["id"]
    with tenant_scope(lender.id):
        exports = db.session.scalars(select(ExchangeExport)).all()
        assert sorted(str(e.id) for e in exports) == sorted([first.json["id"], plain.json["id"]])
        tasks = db.session.scalars(select(outbox.OutboxTask).where(outbox.OutboxTask.job == service.JOB)).all()
        assert sorted(t.arguments["export_id"] for t in tasks) == sorted([first.json["id"], plain.json["id"]])
        requested = db.session.scalars(select(AuditEvent).where(
            AuditEvent.action == "exchange.export_requested")).all()
        assert len(requested) == 2

    # A twin racing in (its look-up missed the first, still uncommitted) fails on the unique index and answers
    # with the first export instead of making a second file.
    real = service.by_idempotency_key
    missed = []

    def miss_once(key):
        if not missed:
            missed.append(key)
            return None
        return real(key)

    monkeypatch.setattr(service, "by_idempotency_key", miss_once)
    twin = client.post("/api/v1/exchange/exports", json=body, headers=keyed)
    assert missed == ["payments-2026-12-01"]
    assert twin.status_code == 202 and twin.json["id"] == first.json["id"]
    with tenant_scope(lender.id):
        assert db.session.scalar(select(func.count()).select_from(ExchangeExport)) == 2


def test_an_idempotency_key_is_the_tenants_own(client, case, factory):
    lender = case["lender"]
    other = factory.tenant("lender")
    mine, theirs = factory.token(lender, "lender_admin")[1], factory.token(other, "lender_admin")[1]
    body = {"kind": "accounts", "format": "csv"}
    first = client.post("/api/v1/exchange/exports", json=body, headers={**bearer(mine), "Idempotency-Key": "k-1"})
    assert first.status_code == 202
    # Another tenant's identical key (same body, or another one) never finds the first tenant's export.
    same = client.post("/api/v1/exchange/exports", json=body, headers={**bearer(theirs), "Idempotency-Key": "k-1"})
    assert same.status_code == 202 and same.json["id"] != first.json["id"]
    with tenant_scope(other.id):
        assert [str(e.id) for e in db.session.scalars(select(ExchangeExport))] == [same.json["id"]]
    other_body = client.post("/api/v1/exchange/exports", json={"kind": "payments", "format": "xlsx"},
                             headers={**bearer(theirs), "Idempotency-Key": "k-2"})
    assert other_body.status_code == 202
    reused_elsewhere = client.post("/api/v1/exchange/exports", json={"kind": "payments", "format": "xlsx"},
                                   headers={**bearer(mine), "Idempotency-Key": "k-2"})
    assert reused_elsewhere.status_code == 202
    assert reused_elsewhere.json["id"] not in (other_body.json["id"], first.json["id"])
    # The first tenant's retry still answers with its own export.
    again = client.post("/api/v1/exchange/exports", json=body, headers={**bearer(mine), "Idempotency-Key": "k-1"})
    assert again.status_code == 202 and again.json["id"] == first.json["id"]


def test_the_period_must_fit_the_kind_of_file(client, case, factory):
    lender, agency = case["lender"], case["agency"]
    secret = factory.token(lender, "lender_admin")[1]

    def ask(**body):
        return client.post("/api/v1/exchange/exports", json=body, headers=bearer(secret))

    two_days = ask(kind="changes", counterparty_id=str(agency.id), period_start="2026-11-30",
                   period_end="2026-12-01")
    assert two_days.status_code == 422 and two_days.json["error"]["code"] == "exchange.period_invalid"
    assert two_days.json["error"]["details"]["variant"] == "one_day"
    snapshot = ask(kind="accounts", period_start="2026-11-01")
    assert snapshot.status_code == 422 and snapshot.json["error"]["details"]["variant"] == "snapshot"
    backwards = ask(kind="changes", counterparty_id=str(agency.id), period_start="2026-12-01",
                    period_end="2026-11-30")
    assert backwards.status_code == 422 and backwards.json["error"]["details"]["variant"] == "order"
    one_day = ask(kind="changes", counterparty_id=str(agency.id), period_start="2026-11-30",
                  period_end="2026-11-30")
    assert one_day.status_code == 202 and (one_day.json["period_start"], one_day.json["period_end"]) == (
        "2026-11-30", "2026-11-30")
    week = ask(kind="payments", period_start="2026-11-25", period_end="2026-12-01")
    assert week.status_code == 202
    with tenant_scope(lender.id):
        assert db.session.scalar(select(func.count()).select_from(ExchangeExport)) == 2
    # The page says the same, in Chinese.
    login(client, "admin@exchange.test")
    client.post("/lang", data={"lang": "zh_CN"})
    refused = client.post(f"/t/{lender.slug}/exchange/exports", data={
        "kind": "changes", "format": "csv", "counterparty_id": str(agency.id), "period_start": "2026-11-29",
        "period_end": "2026-12-01"})
    assert refused.status_code == 422 and "“每日变动”文件只涵盖一天；所选期间为 3 天。" in refused.data.decode()
    refused = client.post(f"/t/{lender.slug}/exchange/exports", data={
        "kind": "accounts", "format": "csv", "period_end": "2026-12-01"})
    assert refused.status_code == 422 and "账户文件是今天的快照；请将期间留空。" in refused.data.decode()
    with tenant_scope(lender.id):
        assert db.session.scalar(select(func.count()).select_from(ExchangeExport)) == 2
