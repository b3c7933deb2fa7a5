"""Making an export's file (the worker's job) and reading it back; the download window and the purge after it.

A file is written in one transaction with its export's status: it is wholly there (`ready`) or not at all. The row
is locked first, so two workers handed the same export make it once; an export already finished (`ready`,
`expired`) is left as it is — a re-run replaces nothing. The CSV and XLSX writers are the accounts export's
(tenants.portfolios.export): UTF-8 with a BOM and CRLF, cells Excel would run as formulas quoted; XLSX in
openpyxl's write-only mode. The bytes are spooled to a temporary file and stored in 1 MB chunks, each encrypted
with the PII key ring (tenants.pii.EncryptedBytes).
"""
import hashlib
import logging
import tempfile
import uuid
from collections.abc import Iterator
from datetime import datetime, timedelta

from sqlalchemy import delete, select, update

from tenants import audit, clock
from tenants.db import db
from tenants.exchange import kinds
from tenants.exchange.models import ExchangeExport, ExchangeExportChunk, ExportStatus
from tenants.portfolios.export import csv_chunks, xlsx_chunks
from tenants.tenancy.models import Tenant

log = logging.getLogger(__name__)

CHUNK_SIZE = 1024 * 1024
SPOOL_IN_MEMORY = 8 * 1024 * 1024
DOWNLOAD_DAYS = 7  # a file is downloadable this long after it is made, then purged
CONTENT_TYPES = {"csv": "text/csv; charset=utf-8",
                 "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"}


def scope_of(export: ExchangeExport, tenant: Tenant) -> kinds.Scope:
    return kinds.Scope(tenant_id=tenant.id, tenant_kind=tenant.kind, time_zone=tenant.time_zone,
                       role=export.mask_role, period_start=export.period_start, period_end=export.period_end,
                       counterparty_id=export.counterparty_tenant_id)


def generate(export_id: uuid.UUID) -> ExchangeExport | None:
    """Make the export's file, in the current (its tenant's) context; commits. None: no such export."""
    export = db.session.scalar(select(ExchangeExport).where(ExchangeExport.id == export_id).with_for_update())
    if export is None:
        return None
    if export.status in ExportStatus.FINISHED:
        db.session.commit()  # nothing written: the row's lock is let go
        return export
    try:
        _write(export)
    except Exception as exc:
        db.session.rollback()
        _mark_failed(export_id, exc)
        raise
    db.session.commit()
    return export


def _write(export: ExchangeExport) -> None:
    tenant = db.session.get(Tenant, export.tenant_id)
    scope = scope_of(export, tenant)
    headers = kinds.columns(export.kind, tenant.kind)
    counted = _Counted(kinds.rows(export.kind, scope))
    body = (csv_chunks(counted, headers) if export.file_format == "csv"
            else xlsx_chunks(counted, headers, sheet_title=export.kind))
    db.session.execute(delete(ExchangeExportChunk).where(ExchangeExportChunk.export_id == export.id))
    digest, size, seq = hashlib.sha256(), 0, 0
    with tempfile.SpooledTemporaryFile(max_size=SPOOL_IN_MEMORY) as spool:
        for block in body:
            spool.write(block)
        spool.seek(0)
        while block := spool.read(CHUNK_SIZE):
            digest.update(block)
            size += len(block)
            db.session.add(ExchangeExportChunk(tenant_id=export.tenant_id, export_id=export.id, seq=seq, data=block))
            seq += 1
            db.session.flush()
    now = clock.now()
    export.status, export.finished_at = ExportStatus.READY, now
    export.expires_at = now + timedelta(days=DOWNLOAD_DAYS)
    export.size_bytes, export.sha256, export.row_count = size, digest.hexdigest(), counted.count
    export.filename = filename(export, tenant)
    export.error_code = export.error_message = None
    export.attempts = (export.attempts or 0) + 1
    audit.record("exchange.export_ready", object_type="exchange_export", object_id=export.id,
                 after={"kind": export.kind, "format": export.file_format, "rows": counted.count,
                        "size_bytes": size, "sha256": export.sha256, "expires_at": export.expires_at.isoformat()})


def _mark_failed(export_id: uuid.UUID, exc: Exception) -> None:
    log.exception("export %s failed", export_id)
    try:
        db.session.execute(update(ExchangeExport).where(
            ExchangeExport.id == export_id, ExchangeExport.status.notin_(ExportStatus.FINISHED)).values(
            status=ExportStatus.FAILED, error_code="exchange.generation_failed",
            error_message=f"{type(exc).__name__}"[:200], attempts=ExchangeExport.attempts + 1))
        db.session.commit()
    except Exception:  # noqa: BLE001 - the database is gone: the job's retry and the sweeper bring it back
        db.session.rollback()


class _Counted:
    def __init__(self, rows):
        self._rows, self.count = rows, 0

    def __iter__(self):
        for row in self._rows:
            self.count += 1
            yield row


def filename(export: ExchangeExport, tenant: Tenant) -> str:
    parts = [export.kind]
    if export.counterparty_tenant_id is not None:
        other = db.session.scalar(select(Tenant.slug).where(Tenant.id == export.counterparty_tenant_id))
        parts.append(other or "counterparty")
    if export.period_start and export.period_end and export.period_start == export.period_end:
        parts.append(export.period_start.isoformat())
    elif export.period_start or export.period_end:
        parts.append(f"{export.period_start or ''}_{export.period_end or ''}")
    else:
        parts.append((export.finished_at or clock.now()).strftime("%Y%m%d-%H%M"))
    return f"{tenant.slug}-{'-'.join(parts)}.{export.file_format}"


def chunk_seqs(export_id: uuid.UUID) -> list[int]:
    return list(db.session.scalars(select(ExchangeExportChunk.seq).where(ExchangeExportChunk.export_id == export_id)
                                   .order_by(ExchangeExportChunk.seq)))


def read_chunk(export_id: uuid.UUID, seq: int) -> bytes:
    return db.session.scalar(select(ExchangeExportChunk.data).where(ExchangeExportChunk.export_id == export_id,
                                                                    ExchangeExportChunk.seq == seq))


def content(export_id: uuid.UUID) -> bytes:
    """The whole file (tests, small files)."""
    return b"".join(read_chunk(export_id, seq) for seq in chunk_seqs(export_id))


def purge_expired(now: datetime | None = None) -> int:
    """Every tenant's files past their window lose their content and end `expired` (platform context)."""
    now = now or clock.now()
    ids = list(db.session.scalars(select(ExchangeExport.id).where(
        ExchangeExport.status == ExportStatus.READY, ExchangeExport.expires_at <= now).limit(1000)))
    if not ids:
        return 0
    db.session.execute(delete(ExchangeExportChunk).where(ExchangeExportChunk.export_id.in_(ids)))
    db.session.execute(update(ExchangeExport).where(ExchangeExport.id.in_(ids)).values(
        status=ExportStatus.EXPIRED, purged_at=now))
    return len(ids)


def body(export_id: uuid.UUID, seqs: list[int], scope) -> Iterator[bytes]:
    """The stored file, a chunk at a time, each read in a fresh `scope()` (a streamed response outlives its
    request's contexts)."""
    for seq in seqs:
        with scope():
            data = read_chunk(export_id, seq)
        yield data
