"""The evidence store: files kept in the database with their SHA-256 in the audit chains of the uploader and the
lender, retention dates from the rulebook, every download checked against the recorded digest, the case's bundle
for legal action with a manifest of verified digests, and nobody else's files."""
import hashlib
import io
import json
import uuid
import zipfile
from datetime import datetime, timedelta, timezone

import pytest
from sqlalchemy import func, select, text, update

from tenants.casework import evidence
from tenants.casework.evidence import Evidence, EvidenceChunk
from tenants.context import platform_scope, tenant_scope
from tenants.placements import services as placements
from tenants.placements.models import Placement
from tests.conftest import act_as
from tests.factories import login
from tests.integration.test_settlements import bearer, chain_ok, db_session_events, placed_case

SHANGHAI_10AM = datetime(2026, 12, 1, 2, 0, tzinfo=timezone.utc)
RECORDING = b"RIFF....WAVEfmt " + bytes(range(256)) * 40


@pytest.fixture
def case(factory, db_session, frozen_clock):
    frozen_clock.set(SHANGHAI_10AM)
    lender, agency, account = placed_case(factory)
    return dict(lender=lender, agency=agency, account=account,
                agency_headers=bearer(factory.token(agency, "agency_collector")[1]),
                lender_headers=bearer(factory.token(lender, "lender_admin")[1]))


def upload(client, case, content=RECORDING, *, kind="call_recording", filename="call.wav", headers=None, **links):
    return client.post(f"/api/v1/accounts/{case['account'].id}/evidence", headers=headers or case["agency_headers"],
                       data={"kind": kind, "file": (io.BytesIO(content), filename, "audio/wav"), **links})


def tamper(evidence_id, data=b"edited"):
    from tenants.db import db

    with platform_scope("test: someone edits the stored bytes"):
        db.session.execute(update(EvidenceChunk).where(EvidenceChunk.evidence_id == uuid.UUID(str(evidence_id)),
                                                       EvidenceChunk.seq == 0).values(data=data))


def test_a_file_is_kept_with_its_digest_in_the_uploaders_and_the_lenders_chains(client, case):
    stored = upload(client, case, description="first call")
    assert stored.status_code == 201, stored.json
    body = stored.json
    assert body["sha256"] == hashlib.sha256(RECORDING).hexdigest() and body["size_bytes"] == len(RECORDING)
    assert (body["kind"], body["filename"], body["content_type"]) == ("call_recording", "call.wav", "audio/wav")
    for tenant in (case["agency"], case["lender"]):
        recorded = [e for e in db_session_events(tenant.id) if e.action == "evidence.stored"]
        assert [e.after["sha256"] for e in recorded] == [body["sha256"]]
        assert chain_ok(tenant.id)

    download = client.get(f"/api/v1/evidence/{body['id']}/content", headers=case["lender_headers"])
    assert download.status_code == 200 and download.get_data() == RECORDING
    assert download.headers["X-Content-SHA256"] == body["sha256"]
    assert "attachment" in download.headers["Content-Disposition"]
    listed = client.get(f"/api/v1/accounts/{case['account'].id}/evidence", headers=case["lender_headers"]).json
    assert [e["id"] for e in listed["items"]] == [body["id"]]


def test_retention_follows_the_rulebook_of_the_lender_and_placement(client, case, factory, frozen_clock):
    call = client.post(f"/api/v1/accounts/{case['account'].id}/contact-attempts", json={"channel": "call"},
                       headers=case["agency_headers"]).json["attempt"]["id"]
    letter = upload(client, case, kind="letter", filename="letter.pdf").json
    assert (letter["retention_until"], letter["retention_rule"]) == ("2028-12-01", "CN.RECORDING")
    frozen_clock.advance(timedelta(days=40))
    recording = upload(client, case, attempt_id=call).json
    assert recording["attempt_id"] == call
    assert recording["retention_until"] == "2028-12-01", "a recording counts from its call, not its upload"

    cases = {"USD": ("US.RETENTION", 3), "GBP": ("PLATFORM.RETENTION", 6)}
    for currency, (rule, years) in cases.items():
        lender, agency, account = placed_case(factory, lender_values={"currency": currency},
                                              time_zones=["America/New_York"])
        with tenant_scope(agency.id):
            stored = evidence.store(account.id, kind="court_paper", filename="claim.pdf", content_type=None,
                                    stream=io.BytesIO(b"%PDF"))
        assert (stored.retention_rule, stored.retention_until) == (rule, frozen_clock.now().date().replace(
            year=frozen_clock.now().year + years)), currency

    lender, agency, account = placed_case(factory)
    with platform_scope("test: the lender tightened this placement"):
        placement = factory.session.scalar(select(Placement).where(Placement.account_id == account.id))
        placement.conduct_overrides = {"CN.RECORDING": {"retention_years": 5}}
    with tenant_scope(agency.id):
        stored = evidence.store(account.id, kind="call_recording", filename="c.wav", content_type="audio/wav",
                                stream=io.BytesIO(b"x"))
    assert stored.retention_until.year == frozen_clock.now().year + 5


def test_tampered_content_is_refused_on_download_and_the_refusal_audited(client, case):
    body = upload(client, case).json
    tamper(body["id"])
    refused = client.get(f"/api/v1/evidence/{body['id']}/content", headers=case["lender_headers"])
    assert refused.status_code == 409 and refused.json["error"]["code"] == "evidence.tampered"
    assert refused.json["error"]["details"]["recorded_sha256"] == body["sha256"]
    detected = [e for e in db_session_events(case["lender"].id) if e.action == "evidence.tamper_detected"]
    assert len(detected) == 1 and detected[0].object_id == body["id"]


def test_rewriting_the_digest_with_the_bytes_is_caught_by_the_audit_chain(client, case):
    body = upload(client, case).json
    forged = b"a different recording"
    tamper(body["id"], forged)
    from tenants.db import db

    with platform_scope("test: the forger rewrites the row too"):
        db.session.execute(update(Evidence).where(Evidence.id == uuid.UUID(body["id"])).values(
            sha256=hashlib.sha256(forged).hexdigest(), size_bytes=len(forged)))
    refused = client.get(f"/api/v1/evidence/{body['id']}/content", headers=case["agency_headers"])
    assert refused.status_code == 409 and refused.json["error"]["details"]["recorded_sha256"] == body["sha256"]


def test_the_bundle_has_every_file_and_a_manifest_whose_digests_match(client, case, frozen_clock):
    first = upload(client, case).json
    frozen_clock.advance(timedelta(minutes=1))
    second = upload(client, case, b"%PDF-1.4 court claim", kind="court_paper", filename="claim.pdf",
                    headers=case["lender_headers"]).json
    response = client.get(f"/api/v1/accounts/{case['account'].id}/evidence-bundle", headers=case["lender_headers"])
    assert response.status_code == 200 and response.mimetype == "application/zip"
    archive = zipfile.ZipFile(io.BytesIO(response.get_data()))
    manifest = json.loads(archive.read("manifest.json"))
    assert manifest["account"]["external_ref"] == case["account"].external_ref
    assert [f["evidence_id"] for f in manifest["files"]] == [first["id"], second["id"]]
    for entry, uploaded in zip(manifest["files"], (first, second)):
        content = archive.read(entry["file"])
        assert hashlib.sha256(content).hexdigest() == entry["sha256"] == uploaded["sha256"]
        assert entry["size"] == len(content)
        assert {"kind", "uploaded_at", "uploaded_by", "retention_until"} <= set(entry)
    assert manifest["files"][0]["uploaded_by"]["organisation"] == case["agency"].name
    assert manifest["files"][1]["uploaded_by"]["organisation"] == case["lender"].name
    exported = [e for e in db_session_events(case["lender"].id) if e.action == "evidence.bundle_exported"]
    assert exported[0].after["files"] == 2

    tamper(first["id"])
    refused = client.get(f"/api/v1/accounts/{case['account'].id}/evidence-bundle", headers=case["lender_headers"])
    assert refused.status_code == 409 and refused.json["error"]["code"] == "evidence.tampered"


def test_uploads_are_limited_and_never_empty(client, case, monkeypatch):
    monkeypatch.setattr(evidence, "MAX_BYTES", 1000)
    monkeypatch.setattr(evidence, "CHUNK_SIZE", 300)
    too_large = upload(client, case)
    assert too_large.status_code == 422 and too_large.json["error"]["code"] == "evidence.too_large"
    empty = upload(client, case, b"")
    assert empty.status_code == 422 and empty.json["error"]["code"] == "evidence.empty"
    chunked = upload(client, case, b"y" * 999)
    assert chunked.status_code == 201
    assert client.get(f"/api/v1/evidence/{chunked.json['id']}/content",
                      headers=case["agency_headers"]).get_data() == b"y" * 999
    with platform_scope("test"):
        assert stored_count(Evidence, case) == 1, "a refused upload leaves nothing behind"
        assert stored_count(EvidenceChunk, case) == 4
    wrong_link = upload(client, case, attempt_id="6e0f3f0e-0000-4000-8000-000000000000")
    assert wrong_link.status_code == 404 and "attempt_id" in wrong_link.json["error"]["details"]["fields"]


def stored_count(model, case) -> int:
    from tenants.db import db

    return db.session.scalar(select(func.count()).select_from(model).where(model.account_id == case["account"].id))


def test_only_the_lender_and_the_agency_holding_the_account_read_its_files(client, case, factory):
    body = upload(client, case).json
    _, stranger, _ = placed_case(factory)
    other_lender = factory.tenant("lender")
    for tenant in (stranger, other_lender):
        headers = bearer(factory.token(tenant)[1])
        for path in (f"/evidence/{body['id']}", f"/evidence/{body['id']}/content",
                     f"/accounts/{case['account'].id}/evidence", f"/accounts/{case['account'].id}/evidence-bundle"):
            assert client.get(f"/api/v1{path}", headers=headers).status_code == 404, (tenant.kind, path)
    analyst = bearer(factory.token(case["lender"], "lender_analyst")[1])
    assert client.get(f"/api/v1/evidence/{body['id']}/content", headers=analyst).status_code == 403

    with tenant_scope(case["lender"].id):
        placement_id = factory.session.scalar(select(Placement.id).where(Placement.account_id == case["account"].id))
        placements.recall([placement_id], reason="moving to another agency", force=False, role="lender_admin")
    assert client.get(f"/api/v1/evidence/{body['id']}", headers=case["agency_headers"]).status_code == 404, \
        "after a recall the agency no longer reads the debtor's files, its own included"
    assert client.get(f"/api/v1/evidence/{body['id']}/content", headers=case["lender_headers"]).status_code == 200


def test_the_case_page_forms_keep_a_file_and_download_it(client, case, factory):
    factory.user(case["agency"], "agency_supervisor", email="supervisor@evidence.test")
    login(client, "supervisor@evidence.test")
    slug, account_id = case["agency"].slug, case["account"].id
    sent = client.post(f"/t/{slug}/accounts/{account_id}/evidence", content_type="multipart/form-data",
                       data={"kind": "letter", "description": "demand letter",
                             "file": (io.BytesIO(b"Dear debtor"), "letter.txt", "text/plain")})
    assert sent.status_code == 302
    assert sent.headers["Location"].endswith(f"/cases/{account_id}?section=evidence#evidence")
    with tenant_scope(case["agency"].id):
        stored = evidence.for_account(account_id)[0]
    download = client.get(f"/t/{slug}/evidence/{stored.id}")
    assert download.status_code == 200 and download.get_data() == b"Dear debtor"
    bundle = client.get(f"/t/{slug}/accounts/{account_id}/evidence-bundle.zip")
    assert bundle.status_code == 200
    assert "manifest.json" in zipfile.ZipFile(io.BytesIO(bundle.get_data())).namelist()
    tamper(stored.id)
    assert client.get(f"/t/{slug}/evidence/{stored.id}").status_code == 409


@pytest.mark.postgres
def test_raw_sql_shows_casework_rows_only_to_the_lender_and_the_holding_agency(app_engine, placed_committed):
    """Row-level security mirrors the models: files and agreements to the lender and the agency holding the
    account; offers and escalations to the agency that made them and the lender; disputes to the lender and the
    holding agency. Nobody else, whatever SQL it runs."""
    lender_id, agency_id, other_agency_id, objects = placed_committed

    def visible(tenant_id, table, column="id"):
        with app_engine.begin() as connection:
            act_as(connection, tenant_id)
            return {row[0] for row in connection.execute(text(f"SELECT {column} FROM {table}"))}

    tables = {"evidence": "evidence_id", "agreements": "agreement_id", "settlements": "settlement_id",
              "disputes": "dispute_id", "legal_escalations": "escalation_id"}
    for table, key in tables.items():
        assert objects[key] in visible(lender_id, table), table
        assert objects[key] in visible(agency_id, table), table
        assert objects[key] not in visible(other_agency_id, table), table
    assert objects["evidence_id"] in visible(agency_id, "evidence_chunks", "evidence_id")
    assert visible(other_agency_id, "evidence_chunks", "evidence_id") == set()
    with app_engine.begin() as connection:
        act_as(connection, other_agency_id)
        with pytest.raises(Exception) as exc:
            connection.execute(text(
                "INSERT INTO evidence_chunks (evidence_id, seq, lender_tenant_id, account_id, data, tenant_id) "
                "VALUES (:e, 9, :l, :a, 'x', :t)"),
                {"e": objects["evidence_id"], "l": lender_id, "a": objects["account_id"], "t": other_agency_id})
        assert "row-level security" in str(exc.value)
    with app_engine.begin() as connection:
        act_as(connection, lender_id)
        connection.execute(text("UPDATE placements SET status = 'recalled' WHERE id = :id"),
                           {"id": objects["placement_id"]})
    assert objects["evidence_id"] not in visible(agency_id, "evidence"), "a recall ends the agency's reading"
    assert objects["settlement_id"] in visible(agency_id, "settlements"), "but it keeps its own offers"
