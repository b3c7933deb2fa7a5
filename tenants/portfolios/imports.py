"""Portfolio imports: the upload is stored in chunks (encrypted) and only sampled for its columns; an rq job (the
`imports` queue) reads the whole file, validates and upserts the rows in batches, each committed with its
checkpoint, so a killed worker resumes where it stopped and never duplicates an account.

The web request does no more than the size limit, storing, and a bounded sample: the header of a CSV from its
first 64 KB, of an XLSX from its first rows within `limits.HEADER_SAMPLE_BYTES` (a JSON file, or a workbook whose
header is not within the sample, is mapped by the worker). A problem the sample shows (empty, too large,
undecodable start, no header, required columns missing) is refused at upload with nothing stored. Everything else
about the file (a zip bomb, too many rows, a bad byte further down) is found by the worker, and the import ends
`failed` with its code and a message that quotes at most a short excerpt of the file. Any other error in the job
also ends it `failed` (see `mark_failed`), never `running` for ever.

Row problems never stop an import: valid rows land, invalid ones are kept (encrypted) with their line and errors,
and come back as a downloadable error file.
"""
import gc
import io
import itertools
import json
import logging
import tempfile
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from sqlalchemy import Text, cast, exists, func, select, update

from tenants import audit, clock, outbox, webhooks
from tenants.context import current_tenant_id
from tenants.db import db, get_visible
from tenants.errors import Conflict, DomainError, NotFound, ValidationFailed
from tenants.portfolios import bulk, limits
from tenants.portfolios.error_file import error_csv
from tenants.portfolios.fields import FIELDS, check_mapping, parse_target, slot_name, suggest_mapping
from tenants.portfolios.models import (
    ColumnMapping,
    ImportFileChunk,
    ImportJob,
    ImportRange,
    ImportRowError,
    ImportStatus,
    Portfolio,
)
from tenants.portfolios.parsing import SAMPLE_BYTES, CsvSource, FileRejected, JsonSource, XlsxSource, csv_header_sample
from tenants.portfolios.rows import AccountRecord, CellError, RowContext, validate_row
from tenants.tenancy.models import Tenant

CHUNK_SIZE = 1024 * 1024
SPOOL_IN_MEMORY = 8 * 1024 * 1024  # a stored workbook or JSON file is rebuilt on disk beyond this
BATCH_SIZE = 2000
# A file of more rows than this is split into ranges of about this many, each a job any worker may take, so an
# import scales by adding workers (tenants.portfolios.models.ImportRange).
RANGE_ROWS = 25_000
RANGE_MARK_EVERY = 500  # while counting, every this-many-th row's line is noted: where a range may start
FINISHED = (ImportStatus.COMPLETED, ImportStatus.FAILED)
DEFAULT_MAPPING = "default"
FORMATS = {".csv": "csv", ".txt": "csv", ".tsv": "csv", ".xlsx": "xlsx", ".json": "json"}
# A row refused because its account is in another of the lender's portfolios: the one row error the lender can
# clear by answering a question (`move_accounts`) instead of editing the file.
ELSEWHERE = "account.in_other_portfolio"
COUNTRY_BY_CURRENCY = {"CNY": "CN", "USD": "US", "GBP": "GB", "INR": "IN", "EUR": "IE"}

log = logging.getLogger(__name__)


def file_format(filename: str) -> str:
    suffix = "." + filename.rsplit(".", 1)[-1].lower() if "." in filename else ""
    if suffix not in FORMATS:
        raise FileRejected("Upload a .csv, .tsv, .txt, .xlsx or .json file.", code="import.bad_format",
                           details={"filename": limits.excerpt(filename)})
    return FORMATS[suffix]


# ---- upload -----------------------------------------------------------------------------------------------

def create_import(*, portfolio: Portfolio, filename: str, stream, mapping: dict | None,
                  uploaded_by: uuid.UUID | None, max_bytes: int = limits.UPLOAD_MAX_BYTES,
                  use_saved_mapping: bool = True) -> ImportJob:
    """Store an uploaded file (a seekable binary stream) and queue its import; only its columns are read here.
    Without a `mapping`, the saved one is used where it fits, else (or with `use_saved_mapping` off) the columns
    are matched afresh by name."""
    fmt = file_format(filename)
    check_size(stream.seek(0, io.SEEK_END), max_bytes)
    stream.seek(0)
    job = _stored(portfolio, filename, fmt, stream, uploaded_by, max_bytes)
    stream.seek(0)
    if fmt == "csv":
        head = stream.read(SAMPLE_BYTES)
        truncated = bool(stream.read(1))
        sample = csv_header_sample(head, truncated=truncated)
        job.encoding, job.delimiter = sample.encoding, sample.delimiter
        headers = sample.header
        if not truncated:  # the sample is the whole file: a header alone is refused here, with nothing kept
            _require_rows(csv_header_sample(head, truncated=False))
    elif fmt == "xlsx":
        from tenants.portfolios.workbook import sample_header

        headers = sample_header(stream)
    else:
        headers = None  # a JSON file is parsed by the worker, never in the request
    _map_and_queue(job, headers, mapping, use_saved_mapping)
    return job


def create_json_import(*, portfolio: Portfolio, records: list, mapping: dict | None,
                       uploaded_by: uuid.UUID | None, max_bytes: int = limits.UPLOAD_MAX_BYTES) -> ImportJob:
    """Account records the API already parsed: their keys are the columns."""
    if not isinstance(records, list) or not records:
        raise FileRejected("Send a non-empty list of account records.", code="import.empty_file")
    headers = JsonSource(records).header
    payload = json.dumps(records, ensure_ascii=False).encode("utf-8")
    job = _stored(portfolio, "records.json", "json", io.BytesIO(payload), uploaded_by, max_bytes)
    _map_and_queue(job, headers, mapping, use_saved=True)
    return job


def _stored(portfolio: Portfolio, filename: str, fmt: str, stream, uploaded_by, max_bytes: int) -> ImportJob:
    job = ImportJob(tenant_id=current_tenant_id(), portfolio_id=portfolio.id, filename=filename[:255],
                    file_format=fmt, size_bytes=0, mapping={}, uploaded_by_user_id=uploaded_by)
    db.session.add(job)
    db.session.flush()
    job.size_bytes = _store_chunks(job.id, stream, max_bytes)
    if job.size_bytes == 0:
        raise FileRejected("The file is empty.", code="import.empty_file")
    return job


def _map_and_queue(job: ImportJob, headers: list[str] | None, mapping: dict | None, use_saved: bool) -> None:
    """With the headers known the mapping is settled now (a misfit is refused at upload); otherwise the worker
    settles it once it has read the header (from the saved mapping, as it cannot tell a fresh match was asked)."""
    if headers is not None:
        job.headers = list(headers)
        job.mapping = resolve_mapping(job.headers, mapping, use_saved=use_saved)
    else:
        job.mapping = dict(mapping or {})
    _queue(job)


def check_size(size: int, max_bytes: int) -> None:
    """Refuse a file over the upload limit, naming both sizes (the same limit as the web request's)."""
    if size > max_bytes:
        raise FileRejected(f"The file is {limits.megabytes(size, round_up=True)}; the limit is "
                           f"{limits.megabytes(max_bytes)}. "
                           "Split it and upload the parts.", code="import.too_large",
                           details={"size_bytes": size, "max_bytes": max_bytes,
                                    "size_mb": limits.in_megabytes(size), "limit_mb": limits.in_megabytes(max_bytes),
                                    "size": limits.megabytes(size, round_up=True),
                                    "limit": limits.megabytes(max_bytes)})


def _require_rows(source) -> None:
    if next(iter(source), None) is None:
        raise FileRejected("The file has a header but no rows: nothing was imported.", code="import.no_rows")


def _store_chunks(import_id: uuid.UUID, stream, max_bytes: int) -> int:
    size, seq = 0, 0
    while True:
        block = stream.read(CHUNK_SIZE)
        if not block:
            return size
        size += len(block)
        check_size(size, max_bytes)  # a stream that grew after it was measured
        db.session.add(ImportFileChunk(tenant_id=current_tenant_id(), import_id=import_id, seq=seq, data=block))
        seq += 1
        db.session.flush()


def stored_chunks(import_id: uuid.UUID) -> Iterator[bytes]:
    """Stream the file back one chunk per query: memory stays at one chunk whatever the file size."""
    seq = 0
    while True:
        data = db.session.scalar(select(ImportFileChunk.data).where(ImportFileChunk.import_id == import_id,
                                                                    ImportFileChunk.seq == seq))
        if data is None:
            return
        yield data
        seq += 1


@contextmanager
def _open_source(job: ImportJob, from_line: int | None = None):
    """The stored file as rows. CSV streams from the chunks — from `from_line` (a record's first line) when the
    file was read whole once already and its line ends are single bytes: a range skips what lies before it as
    bytes. A workbook or JSON file is rebuilt in a temporary file first (openpyxl and json need the whole), a
    workbook checked against the zip-bomb limits on opening."""
    if job.file_format == "csv":
        if from_line is not None and job.headers and job.delimiter and CsvSource.skips_as_bytes(job.encoding):
            yield CsvSource.from_line(stored_chunks(job.id), max_bytes=job.size_bytes, encoding=job.encoding,
                                      delimiter=job.delimiter, header=job.headers, first_line=from_line)
        else:
            yield CsvSource(stored_chunks(job.id), max_bytes=job.size_bytes)
        return
    with tempfile.SpooledTemporaryFile(max_size=SPOOL_IN_MEMORY) as spool:
        for block in stored_chunks(job.id):
            spool.write(block)
        spool.seek(0)
        if job.file_format == "xlsx":
            source = XlsxSource(spool)
            try:
                yield source
            finally:
                source.close()
            return
        try:
            data = json.load(spool)
        except (ValueError, UnicodeDecodeError):
            raise FileRejected("This is not valid JSON.", code="import.bad_format") from None
        yield JsonSource(data)


def _prepare(job: ImportJob) -> None:
    """Read the file once before any row lands: its header settles the mapping, its rows are counted (and refused
    past `limits.MAX_ROWS`), and a CSV's encoding is the one the whole file reads in (GBK after an ASCII start)."""
    with _open_source(job) as source:
        _settle_mapping(job, list(source.header))
        if isinstance(source, XlsxSource):
            job.rows_total = source.count_rows(limits.MAX_ROWS)
            if not job.rows_total:
                _require_rows(())
            return
        count, marks, last_line = 0, [], 0
        for last_line in source.lines() if isinstance(source, CsvSource) else (line for line, _ in source):
            if count % RANGE_MARK_EVERY == 0:
                marks.append(last_line)
            count += 1
            if count > limits.MAX_ROWS:
                raise FileRejected(f"The file has more than {limits.MAX_ROWS:,} rows, the most one import takes. "
                                   "Split it and upload the parts.", code="import.too_many_rows",
                                   details={"max_rows": limits.MAX_ROWS})
        if not count:
            _require_rows(())
        if isinstance(source, CsvSource):
            job.encoding, job.delimiter = source.encoding, source.delimiter
        job.rows_total = count
        _split(job, marks, last_line)


def _split(job: ImportJob, marks: list[int], last_line: int) -> None:
    """Ranges of about RANGE_ROWS rows each (a file that fits in one is left whole), each scheduled through the
    outbox: the ranges in the database say what must run, a lost job is found again by the sweeper. (A workbook
    is never split: its rows are counted without being read.)"""
    parts = min(len(marks), -(-(job.rows_total or 0) // RANGE_ROWS))
    if parts < 2:
        return
    starts = [marks[len(marks) * n // parts] for n in range(parts)]
    for first, next_first in zip(starts, [*starts[1:], last_line + 1]):
        part = ImportRange(tenant_id=job.tenant_id, import_id=job.id, first_line=first, last_line=next_first - 1,
                           checkpoint_line=first - 1, status=ImportStatus.QUEUED)
        db.session.add(part)
        db.session.flush()
        outbox.schedule("workers.jobs.run_import_range", queue="imports", import_id=str(job.id),
                        range_id=str(part.id))


def is_split(job: ImportJob) -> bool:
    return bool(db.session.scalar(select(exists().where(ImportRange.import_id == job.id))))


def ranges_of(job: ImportJob) -> list[ImportRange]:
    return list(db.session.scalars(select(ImportRange).where(ImportRange.import_id == job.id)
                                   .order_by(ImportRange.first_line)))


def _settle_mapping(job: ImportJob, headers: list[str]) -> None:
    """The worker's header is the file's; a mapping settled on a different (or no) sample is settled again."""
    if job.headers == headers and job.mapping:
        return
    job.headers = headers
    db.session.commit()  # the headers stay on record if the mapping does not fit: the page offers to map them
    job.mapping = resolve_mapping(headers, job.mapping or None)


def resolve_mapping(headers: list[str], given: dict | None, *, use_saved: bool = True) -> dict:
    """The mapping sent with the upload, else the lender's saved one where it fits the file, else a suggestion;
    whatever is used becomes the saved mapping for next time."""
    if given:
        mapping = {h: t for h, t in given.items()}
    else:
        saved = saved_mapping() if use_saved else {}
        suggested = suggest_mapping(headers)
        mapping = {h: (saved.get(h, suggested.get(h, "")) if saved else suggested.get(h, "")) for h in headers}
    try:
        check_mapping(mapping, headers)
    except ValidationFailed as exc:
        exc.details = {**exc.details, "headers": list(headers), "mapping": mapping}
        raise
    save_mapping(mapping)
    return mapping


def saved_mapping() -> dict:
    row = db.session.scalar(select(ColumnMapping).where(ColumnMapping.name == DEFAULT_MAPPING))
    return dict(row.mapping) if row else {}


def mapping_targets() -> list[str]:
    """Every target a header can map to, in display order (numbered fields up to three)."""
    targets = []
    for field in FIELDS:
        targets.append(field.name)
        if field.numbered:
            targets += [slot_name(field.name, n) for n in (2, 3)]
    return targets


def replace_mapping(mapping: dict) -> dict:
    """The lender edits its saved mapping: every target must be a canonical field (or "" to ignore)."""
    problems = []
    for header, target in mapping.items():
        if target:
            try:
                parse_target(target)
            except ValueError:
                problems.append(f"{header}: {target} is not a field")
    if problems:
        raise ValidationFailed("; ".join(problems), code="mapping.invalid", details={"problems": problems})
    cleaned = {h.strip(): t for h, t in mapping.items() if h and h.strip()}
    row = db.session.scalar(select(ColumnMapping).where(ColumnMapping.name == DEFAULT_MAPPING))
    if row is None:
        db.session.add(ColumnMapping(tenant_id=current_tenant_id(), name=DEFAULT_MAPPING, mapping=cleaned))
    else:
        row.mapping = cleaned
    audit.record("column_mapping.saved", object_type="column_mapping", object_id=DEFAULT_MAPPING,
                 after={"mapping": cleaned})
    return cleaned


def save_mapping(mapping: dict) -> None:
    row = db.session.scalar(select(ColumnMapping).where(ColumnMapping.name == DEFAULT_MAPPING))
    merged = {**(row.mapping if row else {}), **mapping}
    if row is None:
        db.session.add(ColumnMapping(tenant_id=current_tenant_id(), name=DEFAULT_MAPPING, mapping=merged))
    else:
        row.mapping = merged


def _queue(job: ImportJob) -> None:
    audit.record("import.uploaded", object_type="import", object_id=job.id,
                 after={"filename": job.filename, "bytes": job.size_bytes, "format": job.file_format,
                        "encoding": job.encoding})
    outbox.schedule("workers.jobs.run_import", queue="imports", import_id=str(job.id))


# ---- the job ---------------------------------------------------------------------------------------------------

def get_import(import_id: uuid.UUID) -> ImportJob:
    job = get_visible(ImportJob, import_id, "import.not_found")
    return job


def row_context(lender: Tenant) -> RowContext:
    country = (lender.settings or {}).get("country") or COUNTRY_BY_CURRENCY.get(lender.currency, "CN")
    return RowContext(currency=lender.currency, default_region=country, default_time_zone=lender.time_zone,
                      today=clock.now().astimezone(_zone(lender.time_zone)).date(), country=country)


def _zone(name: str):
    from zoneinfo import ZoneInfo

    return ZoneInfo(name)


def run_import(import_id: uuid.UUID) -> ImportJob:
    """Idempotent: a finished or failed import is left alone; an interrupted one resumes after its checkpoint.

    A problem with the file or its mapping ends it `failed` here. Any other error propagates with the import
    still `running` at its last checkpoint: the caller retries it (a lost connection) or calls `mark_failed`."""
    job = get_import(import_id)
    if job.status in FINISHED:
        return job
    try:
        if job.status == ImportStatus.QUEUED:
            job.status, job.started_at = ImportStatus.RUNNING, clock.now()
        if job.rows_total is None:
            _prepare(job)
        db.session.commit()
        if is_split(job):
            return job  # split: its ranges are jobs of their own (`run_range`)
        ctx = row_context(db.session.get(Tenant, job.tenant_id))
        with _open_source(job) as source, _cyclic_gc_paused():
            rows = ((line, raw) for line, raw in source if line > job.checkpoint_line)
            while batch := list(itertools.islice(rows, BATCH_SIZE)):
                _commit_batch(job, batch, ctx)
    except DomainError as exc:
        return mark_failed(import_id, exc)
    _complete(job)
    db.session.commit()
    return job


@contextmanager
def _cyclic_gc_paused():
    """Python's cycle collector off while the batches run. A batch makes ~100,000 container objects (rows, records,
    staged values) that reference counting frees once it is written; the collector would only walk them again, and
    at each full collection every long-lived object of the app too: a fifth of an import's Python time, measured.
    Little cyclic garbage is made meanwhile (~1,000 objects in a range of 25,000 rows), collected as usual after."""
    if not gc.isenabled():
        yield
        return
    gc.disable()
    try:
        yield
    finally:
        gc.enable()


class RangeBusy(Exception):
    """Another worker moved this range's checkpoint first. Not a failure of the import: the job is retried later
    (its outbox task stays pending) and then finds the range done, or resumes it if that worker died."""


def run_range(import_id: uuid.UUID, range_id: uuid.UUID) -> ImportJob:
    """One range of a split import, resumed after its own checkpoint; idempotent like `run_import`. Ranges run at
    once by several workers (or one range twice: a job the sweeper brought back while the first still ran) never
    write a row twice: each batch first moves its range's checkpoint from where it read it, and gives up if
    another worker moved it first. The import ends `completed` when the last range does, `failed` as soon as one
    fails (the others stop at their next batch). Raises RangeBusy when another worker holds the range."""
    job = get_import(import_id)
    part = db.session.get(ImportRange, range_id)
    if part is None or part.import_id != job.id:
        raise NotFound(code="import.not_found")
    if job.status in FINISHED or part.status in FINISHED:
        return job
    try:
        part.status = ImportStatus.RUNNING
        db.session.commit()
        ctx = row_context(db.session.get(Tenant, job.tenant_id))
        checkpoint, last = part.checkpoint_line, part.last_line
        with _open_source(job, from_line=part.first_line) as source, _cyclic_gc_paused():
            rows = itertools.takewhile(lambda row: row[0] <= last,
                                       ((line, raw) for line, raw in source if line > checkpoint))
            while batch := list(itertools.islice(rows, BATCH_SIZE)):
                if job.status in FINISHED:
                    return job
                if not _commit_batch(job, batch, ctx, claim=(part.id, checkpoint)):
                    raise RangeBusy(f"range {part.id} of import {job.id} is being run by another worker")
                checkpoint = batch[-1][0]
    except DomainError as exc:
        return mark_failed(import_id, exc)
    _finish_range(job, part)
    return job


def _finish_range(job: ImportJob, part: ImportRange) -> None:
    """Ranges finishing at the same moment take turns on the import's row: the last one sees every other range
    done and completes the import."""
    db.session.execute(select(ImportJob.id).where(ImportJob.id == job.id).with_for_update())
    db.session.refresh(job)
    part.status = ImportStatus.COMPLETED
    db.session.flush()
    open_ranges = db.session.scalar(select(func.count()).select_from(ImportRange).where(
        ImportRange.import_id == job.id, ImportRange.status != ImportStatus.COMPLETED))
    if job.status not in FINISHED and open_ranges == 0:
        _complete(job)
    db.session.commit()


def _complete(job: ImportJob) -> None:
    job.status, job.finished_at = ImportStatus.COMPLETED, clock.now()
    audit.record("import.finished", object_type="import", object_id=job.id,
                 after={"status": job.status, "created": job.rows_created, "updated": job.rows_updated,
                        "failed": job.rows_failed})
    webhooks.emit("import.completed", refs={"import_id": job.id, "portfolio_id": job.portfolio_id},
                  data={"created": job.rows_created, "updated": job.rows_updated, "failed": job.rows_failed})


def mark_failed(import_id: uuid.UUID, error: Exception) -> ImportJob:
    """End an import `failed` with a reason. A domain error says what is wrong with the file; anything else is
    named only by its type (a database error's text can quote the rows' personal data) and logged in full.
    The batches committed before it stay imported: uploading the file again updates them, never duplicates."""
    db.session.rollback()
    job = get_import(import_id)
    if isinstance(error, DomainError):
        code, message = error.code, error.message
    else:
        log.error("import %s failed after line %s", import_id, job.checkpoint_line, exc_info=error)
        code = "import.failed"
        where = "in one of its ranges" if is_split(job) else f"after line {job.checkpoint_line}"
        message = (f"The import stopped {where} on an internal error ({type(error).__name__}); the rows before "
                   "it were imported. Upload the file again to finish: imported rows are updated, not duplicated.")
    job.status, job.finished_at = ImportStatus.FAILED, clock.now()
    job.error_code, job.error_message = code[:50], limits.excerpt(message, 1000)
    audit.record("import.failed", object_type="import", object_id=job.id,
                 after={"code": job.error_code, "checkpoint_line": job.checkpoint_line,
                        "created": job.rows_created, "updated": job.rows_updated})
    webhooks.emit("import.failed", refs={"import_id": job.id, "portfolio_id": job.portfolio_id},
                  data={"code": job.error_code, "created": job.rows_created, "updated": job.rows_updated})
    db.session.commit()
    return job


def _commit_batch(job: ImportJob, batch: list[tuple[int, dict]], ctx: RowContext,
                  claim: tuple[uuid.UUID, int] | None = None) -> bool:
    """Validate a batch and write it set-wise (tenants.portfolios.bulk), commit it together with the checkpoint
    (for a split import, its range's: `claim` names the range and the checkpoint this worker read): a batch lands
    whole or not at all. False when another worker had already moved the range's checkpoint: nothing is written.

    An account the lender already holds in another portfolio is not moved by an upload: its row is refused
    (`account.in_other_portfolio`, naming that portfolio) and the account left exactly as it was, until the lender
    answers the import page's question (`move_accounts`)."""
    if claim is not None and not _claim(*claim, through_line=batch[-1][0]):
        db.session.rollback()
        return False
    failed: list[tuple[int, dict, list[CellError]]] = []
    records: dict[str, tuple[int, dict, AccountRecord]] = {}
    for line, raw in batch:
        record, errors = validate_row(raw, job.mapping, ctx)
        if record is not None and record.external_ref in records:
            record, errors = None, [_duplicate(job, raw, record.external_ref)]
        if record is None:
            failed.append((line, raw, errors))
        else:
            records[record.external_ref] = (line, raw, record)
    now = clock.now()
    written = bulk.write(job, [record for _, _, record in records.values()], now)
    left_alone = [ref for ref in records if ref not in written]
    elsewhere = bulk.held_elsewhere(job, left_alone) if left_alone else {}
    for ref in left_alone:
        line, raw, _record = records[ref]
        failed.append((line, raw, [_elsewhere(job, ref, elsewhere[ref]) if ref in elsewhere
                                   # else an earlier batch of this same import already wrote this reference
                                   else _duplicate(job, raw, ref)]))
    for line, raw, errors in failed:
        db.session.add(ImportRowError(tenant_id=job.tenant_id, import_id=job.id, line=line,
                                      errors=[e.__dict__ for e in errors],
                                      raw=json.dumps(raw, ensure_ascii=False, default=str)))
    # Added in the database, not in Python: the ranges of a split import count into the same row at once.
    job.rows_created = ImportJob.rows_created + sum(1 for _, created in written.values() if created)
    job.rows_updated = ImportJob.rows_updated + sum(1 for _, created in written.values() if not created)
    job.rows_failed = ImportJob.rows_failed + len(failed)
    job.rows_processed = ImportJob.rows_processed + len(batch)
    if claim is None:
        job.checkpoint_line = batch[-1][0]
    db.session.commit()
    return True


def _claim(range_id: uuid.UUID, checkpoint: int, through_line: int) -> bool:
    """Move the range's checkpoint from where this worker read it to the batch's last line, first thing in the
    batch's transaction: the row stays locked until the batch commits, so a second worker on the same range waits
    here, then finds the checkpoint moved and stops."""
    moved = db.session.execute(update(ImportRange).where(ImportRange.id == range_id,
                                                         ImportRange.checkpoint_line == checkpoint)
                               .values(checkpoint_line=through_line).execution_options(synchronize_session=False))
    return moved.rowcount == 1


def _elsewhere(job: ImportJob, ref: str, portfolio_name: str) -> CellError:
    return CellError(_ref_column(job.mapping), ELSEWHERE,
                     f"{ref} is in the portfolio {portfolio_name!r}; it was left there (the import page offers to "
                     "move it).", params={"ref": ref, "portfolio": portfolio_name})


def _duplicate(job: ImportJob, raw: dict, ref: str) -> CellError:
    return CellError(_ref_column(job.mapping), "external_ref.duplicate_in_file",
                     f"{ref} appears earlier in this file; each account once.", params={"ref": ref})


def _ref_column(mapping: dict) -> str:
    return next((h for h, t in mapping.items() if t == "external_ref"), "external_ref")


# ---- accounts the file found in another portfolio -------------------------------------------------------------

def _elsewhere_rows():
    # Such a row carries that one error (its values were valid), so its errors' text names the code.
    return cast(ImportRowError.errors, Text).like(f"%{ELSEWHERE}%")


def held_elsewhere_count(job: ImportJob) -> int:
    """How many of the import's rows were refused because their account is in another portfolio."""
    if not job.rows_failed:
        return 0
    return db.session.scalar(select(func.count()).select_from(ImportRowError).where(
        ImportRowError.import_id == job.id, _elsewhere_rows())) or 0


def move_accounts(job: ImportJob) -> int:
    """The lender's explicit answer to "these accounts are in another portfolio — move them?": the refused rows
    are written now (the file's values, like any re-import), which moves their accounts into this import's
    portfolio; their row errors go. Answers how many accounts moved (0 when nothing waits: a second answer)."""
    if job.status != ImportStatus.COMPLETED:
        raise Conflict("Wait until the import has finished.", code="import.not_finished")
    ctx = row_context(db.session.get(Tenant, job.tenant_id))
    moved, sources, after_line = 0, {}, 0
    while batch := list(db.session.scalars(select(ImportRowError).where(
            ImportRowError.import_id == job.id, ImportRowError.line > after_line, _elsewhere_rows())
            .order_by(ImportRowError.line).limit(BATCH_SIZE))):
        after_line = batch[-1].line
        pending = {}
        for row in batch:
            record, errors = validate_row(json.loads(row.raw), job.mapping, ctx)
            if record is None:  # no longer valid on today's date: it stays refused, for what it is now
                row.errors = [e.__dict__ for e in errors]
                continue
            pending[record.external_ref] = (row, record)
            for error in row.errors:
                name = (error.get("params") or {}).get("portfolio")
                if name:
                    sources[name] = sources.get(name, 0) + 1
        written = bulk.write(job, [record for _, record in pending.values()], clock.now(), moving=True)
        for ref in written:
            db.session.delete(pending[ref][0])
        moved += len(written)
        db.session.flush()
    if moved:
        job.rows_failed -= moved
        job.rows_updated += moved
        audit.record("import.accounts_moved", object_type="import", object_id=job.id,
                     after={"portfolio_id": str(job.portfolio_id), "moved": moved, "from": sources})
    return moved


# ---- results -------------------------------------------------------------------------------------------------

def row_errors(job: ImportJob, limit: int | None = None) -> list[ImportRowError]:
    query = select(ImportRowError).where(ImportRowError.import_id == job.id).order_by(ImportRowError.line)
    return list(db.session.scalars(query.limit(limit) if limit else query))


def error_file(job: ImportJob, describe: Callable[[CellError], str] | None = None) -> Iterator[bytes]:
    """The error file; `describe` words each error for the reader (see error_file.error_csv)."""
    def rows():
        for row in row_errors(job):
            yield row.line, json.loads(row.raw), [CellError(**e) for e in row.errors]

    return error_csv(rows(), list(job.headers or []), describe)


def get_or_create_portfolio(name: str) -> Portfolio:
    name = (name or "").strip()
    if not name:
        raise ValidationFailed(details={"fields": {"portfolio": ["Name the portfolio."]}})
    portfolio = db.session.scalar(select(Portfolio).where(Portfolio.name == name))
    if portfolio is None:
        portfolio = Portfolio(tenant_id=current_tenant_id(), name=name[:200])
        db.session.add(portfolio)
        db.session.flush()
    return portfolio


def list_portfolios() -> list[Portfolio]:
    return list(db.session.scalars(select(Portfolio).order_by(Portfolio.created_at.desc())))


def list_imports(portfolio_id: uuid.UUID | None = None) -> list[ImportJob]:
    query = select(ImportJob).order_by(ImportJob.created_at.desc())
    if portfolio_id:
        query = query.where(ImportJob.portfolio_id == portfolio_id)
    return list(db.session.scalars(query.limit(200)))
