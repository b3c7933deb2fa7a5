"""Files at rest: uploaded portfolio chunks and evidence are stored encrypted with the PII key ring, read back as
the plaintext (evidence digests are of the plaintext), re-encrypted by `flask pii rotate`, and migration 0013
encrypts the chunks stored before it."""
import hashlib
import io
import uuid

import pytest
from flask_migrate import downgrade, upgrade
from sqlalchemy import LargeBinary, create_engine, select, text, type_coerce, update

from tenants import pii
from tenants.casework.evidence import EvidenceChunk
from tenants.context import platform_scope, tenant_scope
from tenants.db import db
from tenants.portfolios import imports
from tenants.portfolios.models import ImportFileChunk
from tests.integration.test_settlements import bearer, placed_case

PORTFOLIO = "external_ref,debtor_name,principal,days_past_due\nR-1,张三丰,1000.00,40\n".encode()
SCAN = b"%PDF-1.7 resident id 110105198001010014 " * 50


@pytest.fixture
def case(factory, db_session, frozen_clock):
    lender, agency, account = placed_case(factory)
    return dict(lender=lender, agency=agency, account=account,
                agency_headers=bearer(factory.token(agency, "agency_collector")[1]),
                lender_headers=bearer(factory.token(lender, "lender_admin")[1]))


def stored_import_bytes(import_id) -> bytes:
    with platform_scope("test: the bytes as the database holds them"):
        return b"".join(db.session.scalars(select(type_coerce(ImportFileChunk.data, LargeBinary))
                                           .where(ImportFileChunk.import_id == import_id)))


def stored_evidence_bytes(evidence_id) -> bytes:
    with platform_scope("test: the bytes as the database holds them"):
        return b"".join(db.session.scalars(select(type_coerce(EvidenceChunk.data, LargeBinary))
                                           .where(EvidenceChunk.evidence_id == uuid.UUID(str(evidence_id)))))


def upload_evidence(client, case, content=SCAN):
    return client.post(f"/api/v1/accounts/{case['account'].id}/evidence", headers=case["agency_headers"],
                       data={"kind": "id_document", "file": (io.BytesIO(content), "id.pdf", "application/pdf")})


def test_an_uploaded_portfolio_is_stored_encrypted_and_imports_from_the_plaintext(db_session, factory, frozen_clock):
    lender = factory.tenant("lender")
    with tenant_scope(lender.id):
        job = imports.create_import(portfolio=imports.get_or_create_portfolio("At rest"), filename="p.csv",
                                    stream=io.BytesIO(PORTFOLIO), mapping=None, uploaded_by=None)
        raw = stored_import_bytes(job.id)
        assert raw and PORTFOLIO not in raw and "张三丰".encode() not in raw
        assert pii.keyring().decrypt_bytes(raw) == PORTFOLIO
        assert b"".join(imports.stored_chunks(job.id)) == PORTFOLIO
        finished = imports.run_import(job.id)
        assert (finished.status, finished.rows_created) == ("completed", 1)


def test_evidence_is_stored_encrypted_and_downloads_as_the_plaintext_it_was_digested_from(client, case):
    body = upload_evidence(client, case).json
    raw = stored_evidence_bytes(body["id"])
    assert raw and SCAN[:40] not in raw and b"110105198001010014" not in raw
    assert body["sha256"] == hashlib.sha256(SCAN).hexdigest(), "the digest is of the plaintext"
    download = client.get(f"/api/v1/evidence/{body['id']}/content", headers=case["lender_headers"])
    assert download.status_code == 200 and download.get_data() == SCAN
    assert download.headers["X-Content-SHA256"] == hashlib.sha256(SCAN).hexdigest()


def test_ciphertext_changed_in_the_database_is_refused_as_tampering(client, case):
    body = upload_evidence(client, case).json
    with platform_scope("test: someone flips a byte of the stored ciphertext"):
        raw = db.session.scalar(select(type_coerce(EvidenceChunk.data, LargeBinary))
                                .where(EvidenceChunk.evidence_id == uuid.UUID(body["id"])))
        flipped = raw[:-1] + bytes([raw[-1] ^ 1])
        db.session.execute(update(EvidenceChunk).where(EvidenceChunk.evidence_id == uuid.UUID(body["id"]))
                           .values(data=type_coerce(flipped, LargeBinary)))
    refused = client.get(f"/api/v1/evidence/{body['id']}/content", headers=case["lender_headers"])
    assert refused.status_code == 409 and refused.json["error"]["code"] == "evidence.tampered"


def test_flask_pii_rotate_re_encrypts_file_chunks_so_the_old_key_can_go(client, case, rotate_pii_keys):
    body = upload_evidence(client, case).json
    with tenant_scope(case["lender"].id):
        job = imports.create_import(portfolio=imports.get_or_create_portfolio("Rotate"), filename="p.csv",
                                    stream=io.BytesIO(PORTFOLIO), mapping=None, uploaded_by=None)
    evidence_before, import_before = stored_evidence_bytes(body["id"]), stored_import_bytes(job.id)

    output = rotate_pii_keys()
    assert "evidence_chunks.data:" in output and "import_file_chunks.data:" in output

    db_session = db.session
    db_session.expire_all()
    assert stored_evidence_bytes(body["id"]) != evidence_before and stored_import_bytes(job.id) != import_before
    assert client.get(f"/api/v1/evidence/{body['id']}/content", headers=case["lender_headers"]).get_data() == SCAN
    with tenant_scope(case["lender"].id):
        assert b"".join(imports.stored_chunks(job.id)) == PORTFOLIO
    with pytest.raises(ValueError):
        rotate_pii_keys.previous.decrypt_bytes(stored_import_bytes(job.id))


def test_migration_0013_encrypts_the_chunks_stored_before_it_and_0012_gets_them_back(app, tmp_path):
    url = f"sqlite:///{tmp_path / 'at-rest.db'}"
    previous = app.config["MIGRATION_DATABASE_URL"]
    engine = create_engine(url)
    try:
        with app.app_context():
            app.config["MIGRATION_DATABASE_URL"] = url
            upgrade(revision="0012")
            with engine.begin() as connection:
                _plaintext_rows(connection)
            upgrade(revision="0013")
            with engine.connect() as connection:
                rows = dict(connection.execute(text("SELECT seq, data FROM import_file_chunks")).all())
                evidence_data = connection.execute(text("SELECT data FROM evidence_chunks")).scalar()
                status = connection.execute(text("SELECT status FROM import_jobs")).scalar()
            assert PORTFOLIO not in rows[0] and pii.keyring().decrypt_bytes(rows[0]) == PORTFOLIO
            assert pii.keyring().decrypt_bytes(rows[1]) == b"second chunk"
            assert SCAN not in evidence_data and pii.keyring().decrypt_bytes(evidence_data) == SCAN
            assert status == "failed", "a rejected import is a failed one now"
            downgrade(revision="0012")
            with engine.connect() as connection:
                assert connection.execute(text("SELECT data FROM import_file_chunks WHERE seq = 0")).scalar() \
                    == PORTFOLIO
    finally:
        app.config["MIGRATION_DATABASE_URL"] = previous
        engine.dispose()


def _plaintext_rows(connection) -> None:
    """An import and an evidence file as the code before 0013 stored them (SQLite leaves foreign keys unchecked)."""
    tenant, job, item = (uuid.uuid4().hex for _ in range(3))
    connection.execute(text("INSERT INTO import_jobs (id, tenant_id, portfolio_id, filename, file_format, "
                            "size_bytes, mapping, status, rows_processed, rows_created, rows_updated, rows_failed, "
                            "checkpoint_line, created_at) VALUES (:job, :tenant, :tenant, 'p.csv', 'csv', 1, '{}', "
                            "'rejected', 0, 0, 0, 0, 0, '2026-12-01 00:00:00')"), {"job": job, "tenant": tenant})
    for seq, data in enumerate((PORTFOLIO, b"second chunk")):
        connection.execute(text("INSERT INTO import_file_chunks (tenant_id, import_id, seq, data) "
                                "VALUES (:tenant, :job, :seq, :data)"),
                           {"tenant": tenant, "job": job, "seq": seq, "data": data})
    connection.execute(text("INSERT INTO evidence_chunks (tenant_id, evidence_id, seq, lender_tenant_id, account_id, "
                            "data) VALUES (:tenant, :item, 0, :tenant, :item, :data)"),
                       {"tenant": tenant, "item": item, "data": SCAN})
