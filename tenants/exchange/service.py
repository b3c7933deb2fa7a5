"""Asking for a file, finding one, downloading it (audited), and the schedules that ask for files by themselves.

Every export is made by a worker through the outbox (tenants.outbox.schedule → workers.jobs.generate_export): the
export row says the file must exist, the job is the nudge, the sweeper re-sends a lost nudge. A schedule's run for
one period is asked for once (`run_key`, unique per tenant), however often the periodic job runs.
"""
import hashlib
import json
import uuid
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import select

from tenants import audit, clock, outbox
from tenants.context import current_tenant_id, tenant_scope
from tenants.db import db
from tenants.errors import Conflict, DomainError, NotFound, PermissionDenied, ValidationFailed
from tenants.exchange import files, kinds
from tenants.exchange.models import ExchangeExport, ExchangeSchedule, ExportStatus, Frequency
from tenants.pii import FULL_VIEW
from tenants.tenancy.models import Tenant

FORMATS = ("csv", "xlsx")
JOB = "workers.jobs.generate_export"
MAX_PERIOD_DAYS = 366


class ExportExpired(DomainError):
    code = "exchange.expired"
    status = 410
    message = "This file's download window has closed; ask for a new one."


class ExportNotReady(Conflict):
    code = "exchange.not_ready"
    message = "The file is not ready yet."


class MaskedForRole(PermissionDenied):
    code = "exchange.masked_for_role"
    message = "This file shows personal data your role sees masked; ask for a file of your own."


# ---- exports -----------------------------------------------------------------------------------------------------

def _tenant() -> Tenant:
    return db.session.get(Tenant, current_tenant_id())


def _check_kind_format(kind: str, file_format: str) -> None:
    if kind not in kinds.KINDS:
        raise ValidationFailed("Unknown kind of file.", code="exchange.kind_invalid",
                               details={"kinds": ", ".join(kinds.KINDS), "fields": {"kind": ["Unknown."]}})
    if file_format not in FORMATS:
        raise ValidationFailed("Export as CSV or Excel.", code="exchange.format_invalid",
                               details={"formats": ", ".join(FORMATS), "fields": {"format": ["csv or xlsx."]}})


def _check_period(kind: str, start: date | None, end: date | None, today: date) -> tuple[date | None, date | None]:
    if start and end and start > end:
        raise ValidationFailed("The period ends before it starts.", code="exchange.period_invalid",
                               details={"variant": "order", "fields": {"period_end": ["Before the start."]}})
    if kind == "accounts":
        if start or end:  # a snapshot: today's balances, whatever the period says
            raise ValidationFailed("An accounts file is today's snapshot; leave the period empty.",
                                   code="exchange.period_invalid",
                                   details={"variant": "snapshot", "fields": {"period_start": ["Leave empty."]}})
        return None, None
    if kind == "changes":
        if start and end and start != end:
            raise ValidationFailed('A "what changed" file covers one day; choose one day.',
                                   code="exchange.period_invalid",
                                   details={"variant": "one_day", "days": (end - start).days + 1,
                                            "fields": {"period_end": ["The same day as the start."]}})
        start = end = start or end or today - timedelta(days=1)
    if (start and start > today) or (end and end > today):
        raise ValidationFailed("The period is in the future.", code="exchange.period_invalid",
                               details={"variant": "future", "fields": {"period_start": ["In the future."]}})
    if start and end and (end - start).days >= MAX_PERIOD_DAYS:
        raise ValidationFailed("The period is longer than a year.", code="exchange.period_invalid",
                               details={"variant": "long", "max_days": MAX_PERIOD_DAYS,
                                        "fields": {"period_start": ["Too long."]}})
    return start, end


def local_today(tenant: Tenant) -> date:
    return clock.now().astimezone(ZoneInfo(tenant.time_zone)).date()


def counterparties(tenant: Tenant | None = None) -> list[Tenant]:
    """Who a "what changed" file can be about: the agencies handling a lender's accounts, the lenders an agency
    works for (an open placement, or one ended in the last week)."""
    tenant = tenant or _tenant()
    scope = kinds.Scope(tenant_id=tenant.id, tenant_kind=tenant.kind, time_zone=tenant.time_zone, role="")
    ids = kinds.counterparties(scope, clock.now() - timedelta(days=7))
    if not ids:
        return []
    return list(db.session.scalars(select(Tenant).where(Tenant.id.in_(ids)).order_by(Tenant.name)))


def _check_counterparty(kind: str, tenant: Tenant, counterparty_id: uuid.UUID | None) -> uuid.UUID | None:
    if kind != "changes":
        return None
    if counterparty_id is None:
        raise ValidationFailed("Choose whose changes the file lists.", code="exchange.counterparty_required",
                               details={"fields": {"counterparty_id": ["Required."]}})
    if counterparty_id not in {t.id for t in counterparties(tenant)}:
        raise NotFound(code="counterparty.not_found")
    return counterparty_id


def fingerprint(*, kind: str, file_format: str, period_start: date | None = None, period_end: date | None = None,
                counterparty_id: uuid.UUID | None = None) -> str:
    """The SHA-256 of a request's fields as sent: the same Idempotency-Key with another body is told apart."""
    fields = [kind, file_format, period_start.isoformat() if period_start else None,
              period_end.isoformat() if period_end else None, str(counterparty_id) if counterparty_id else None]
    return hashlib.sha256(json.dumps(fields).encode()).hexdigest()


def by_idempotency_key(key: str) -> ExchangeExport | None:
    return db.session.scalar(select(ExchangeExport).where(ExchangeExport.tenant_id == current_tenant_id(),
                                                          ExchangeExport.idempotency_key == key))


def replay(key: str, **request) -> ExchangeExport | None:
    """The export an earlier request with this tenant's Idempotency-Key made, if any; the same key with another
    body is refused (409 idempotency.key_reused)."""
    earlier = by_idempotency_key(key)
    if earlier is not None and earlier.idempotency_fingerprint != fingerprint(**request):
        raise Conflict("This Idempotency-Key was already used for another request.", code="idempotency.key_reused")
    return earlier


def request_export(*, kind: str, file_format: str, role: str, user_id: uuid.UUID | None,
                   period_start: date | None = None, period_end: date | None = None,
                   counterparty_id: uuid.UUID | None = None, idempotency_key: str | None = None) -> ExchangeExport:
    """An export asked for now, made by a worker in a moment. With an Idempotency-Key, a retry of the same request
    returns the first export (a racing twin fails on the unique index at flush: the caller answers with the
    winner, see replay)."""
    request = dict(kind=kind, file_format=file_format, period_start=period_start, period_end=period_end,
                   counterparty_id=counterparty_id)
    if idempotency_key:
        earlier = replay(idempotency_key, **request)
        if earlier is not None:
            return earlier
    tenant = _tenant()
    _check_kind_format(kind, file_format)
    period_start, period_end = _check_period(kind, period_start, period_end, local_today(tenant))
    counterparty_id = _check_counterparty(kind, tenant, counterparty_id)
    export = _new_export(tenant, kind=kind, file_format=file_format, mask_role=role, user_id=user_id,
                         period_start=period_start, period_end=period_end, counterparty_id=counterparty_id,
                         idempotency_key=idempotency_key,
                         idempotency_fingerprint=fingerprint(**request) if idempotency_key else None)
    audit.record("exchange.export_requested", object_type="exchange_export", object_id=export.id,
                 after=_describe(export))
    return export


def _new_export(tenant: Tenant, *, kind, file_format, mask_role, user_id=None, period_start=None, period_end=None,
                counterparty_id=None, schedule_id=None, run_key=None, idempotency_key=None,
                idempotency_fingerprint=None) -> ExchangeExport:
    export = ExchangeExport(tenant_id=tenant.id, kind=kind, file_format=file_format, status=ExportStatus.QUEUED,
                            mask_role=mask_role, requested_by_user_id=user_id, period_start=period_start,
                            period_end=period_end, counterparty_tenant_id=counterparty_id, schedule_id=schedule_id,
                            run_key=run_key, created_at=clock.now(), attempts=0, download_count=0,
                            idempotency_key=idempotency_key, idempotency_fingerprint=idempotency_fingerprint)
    db.session.add(export)
    db.session.flush()
    outbox.schedule(JOB, export_id=str(export.id))
    return export


def _describe(export: ExchangeExport) -> dict:
    return {"kind": export.kind, "format": export.file_format, "mask_role": export.mask_role,
            "period_start": export.period_start.isoformat() if export.period_start else None,
            "period_end": export.period_end.isoformat() if export.period_end else None,
            "counterparty_id": str(export.counterparty_tenant_id) if export.counterparty_tenant_id else None,
            "schedule_id": str(export.schedule_id) if export.schedule_id else None}


def get(export_id: uuid.UUID) -> ExchangeExport:
    export = db.session.scalar(select(ExchangeExport).where(ExchangeExport.id == export_id))
    if export is None:
        raise NotFound(code="export.not_found")
    return export


def recent(limit: int = 100) -> list[ExchangeExport]:
    return list(db.session.scalars(select(ExchangeExport).order_by(ExchangeExport.created_at.desc(),
                                                                   ExchangeExport.id).limit(limit)))


def retry(export: ExchangeExport) -> None:
    """A failed export asked for again (the same id: a finished one is never made twice)."""
    if export.status != ExportStatus.FAILED:
        raise Conflict("Only a failed file can be made again.", code="exchange.not_failed")
    export.status = ExportStatus.QUEUED
    outbox.schedule(JOB, export_id=str(export.id))


def expired(export: ExchangeExport, now: datetime | None = None) -> bool:
    now = now or clock.now()
    return export.status == ExportStatus.EXPIRED or (export.expires_at is not None and export.expires_at <= now)


def sees_at_least(role: str, mask_role: str) -> bool:
    """Whether `role` sees in full every field `mask_role` sees in full."""
    return all(role in allowed for allowed in FULL_VIEW.values() if mask_role in allowed)


def open_download(export: ExchangeExport, *, role: str, via: str) -> list[int]:
    """Check the file may be downloaded now by this role, audit the download, and return its chunks' order."""
    if expired(export):
        raise ExportExpired(details={"expired_at": export.expires_at.isoformat() if export.expires_at else None})
    if export.status != ExportStatus.READY:
        raise ExportNotReady(details={"status": export.status})
    if export.kind in kinds.WITH_PII and not sees_at_least(role, export.mask_role):
        raise MaskedForRole(details={"mask_role": export.mask_role})
    export.download_count = (export.download_count or 0) + 1
    audit.record("exchange.downloaded", object_type="exchange_export", object_id=export.id,
                 after={"kind": export.kind, "filename": export.filename, "sha256": export.sha256,
                        "rows": export.row_count, "via": via, "role": role})
    return files.chunk_seqs(export.id)


# ---- schedules ---------------------------------------------------------------------------------------------------

def next_run(frequency: str, local_hour: int, weekday: int | None, zone: str, after: datetime) -> datetime:
    """The first slot strictly after `after`: the local hour (the next one on `weekday` for a weekly schedule)."""
    tz = ZoneInfo(zone)
    local = after.astimezone(tz)
    day = local.date()
    for _ in range(9):
        if frequency == Frequency.DAILY or day.weekday() == weekday:
            slot = datetime.combine(day, time(local_hour), tz)
            if slot > after:
                return slot.astimezone(ZoneInfo("UTC"))
        day += timedelta(days=1)
    raise AssertionError("no slot within nine days")  # pragma: no cover


def create_schedule(*, kind: str, file_format: str, frequency: str, local_hour: int, weekday: int | None,
                    role: str, user_id: uuid.UUID | None) -> ExchangeSchedule:
    tenant = _tenant()
    _check_kind_format(kind, file_format)
    fields = {}
    if frequency not in Frequency.ALL:
        fields["frequency"] = ["daily or weekly."]
    if not isinstance(local_hour, int) or not 0 <= local_hour <= 23:
        fields["local_hour"] = ["0 to 23."]
    if frequency == Frequency.WEEKLY and (not isinstance(weekday, int) or not 0 <= weekday <= 6):
        fields["weekday"] = ["0 (Monday) to 6 (Sunday)."]
    if fields:
        raise ValidationFailed("Choose daily or weekly, an hour from 0 to 23 and, weekly, a day of the week.",
                               code="exchange.schedule_invalid", details={"fields": fields})
    weekday = weekday if frequency == Frequency.WEEKLY else None
    schedule = ExchangeSchedule(tenant_id=tenant.id, kind=kind, file_format=file_format, frequency=frequency,
                                weekday=weekday, local_hour=local_hour, active=True, mask_role=role,
                                created_by_user_id=user_id, created_at=clock.now(),
                                next_run_at=next_run(frequency, local_hour, weekday, tenant.time_zone, clock.now()))
    db.session.add(schedule)
    db.session.flush()
    audit.record("exchange.schedule_created", object_type="exchange_schedule", object_id=schedule.id,
                 after={"kind": kind, "format": file_format, "frequency": frequency, "weekday": weekday,
                        "local_hour": local_hour, "mask_role": role})
    return schedule


def schedules() -> list[ExchangeSchedule]:
    return list(db.session.scalars(select(ExchangeSchedule).where(ExchangeSchedule.active.is_(True))
                                   .order_by(ExchangeSchedule.created_at, ExchangeSchedule.id)))


def get_schedule(schedule_id: uuid.UUID) -> ExchangeSchedule:
    schedule = db.session.scalar(select(ExchangeSchedule).where(ExchangeSchedule.id == schedule_id,
                                                                ExchangeSchedule.active.is_(True)))
    if schedule is None:
        raise NotFound(code="export_schedule.not_found")
    return schedule


def stop_schedule(schedule: ExchangeSchedule) -> None:
    """A schedule stops for good (its files stay until their window closes)."""
    schedule.active = False
    audit.record("exchange.schedule_stopped", object_type="exchange_schedule", object_id=schedule.id)


def run_schedule(schedule: ExchangeSchedule, now: datetime | None = None) -> list[ExchangeExport]:
    """The exports of the schedule's due slot (in its tenant's context), then the next slot. Run again for the same
    slot, it asks for nothing new."""
    now = now or clock.now()
    tenant = _tenant()
    run_day = schedule.next_run_at.astimezone(ZoneInfo(tenant.time_zone)).date()
    start, end = ((run_day - timedelta(days=1 if schedule.frequency == Frequency.DAILY else 7),
                   run_day - timedelta(days=1)) if schedule.kind != "accounts" else (None, None))
    if schedule.kind == "changes":
        targets = [t.id for t in counterparties(tenant)]
    else:
        targets = [None]
    made = []
    for counterparty_id in targets:
        run_key = f"{schedule.id}:{run_day.isoformat()}" + (f":{counterparty_id}" if counterparty_id else "")
        if db.session.scalar(select(ExchangeExport.id).where(ExchangeExport.run_key == run_key)) is not None:
            continue
        made.append(_new_export(tenant, kind=schedule.kind, file_format=schedule.file_format,
                                mask_role=schedule.mask_role, period_start=start, period_end=end,
                                counterparty_id=counterparty_id, schedule_id=schedule.id, run_key=run_key))
    schedule.last_run_at = now
    schedule.next_run_at = next_run(schedule.frequency, schedule.local_hour, schedule.weekday, tenant.time_zone,
                                    max(now, schedule.next_run_at))
    return made


def due_schedules(now: datetime | None = None, limit: int = 500) -> list[tuple[uuid.UUID, uuid.UUID]]:
    """(schedule id, tenant id) of every tenant's schedules due now; call in a platform context."""
    now = now or clock.now()
    return [tuple(row) for row in db.session.execute(
        select(ExchangeSchedule.id, ExchangeSchedule.tenant_id).where(
            ExchangeSchedule.active.is_(True), ExchangeSchedule.next_run_at <= now)
        .order_by(ExchangeSchedule.next_run_at).limit(limit)).all()]


def run_due(now: datetime | None = None) -> int:
    """Platform: every due schedule run in its own tenant's context and transaction; then the expired files purged.
    Returns the number of exports asked for."""
    now = now or clock.now()
    due = due_schedules(now)
    db.session.commit()
    made = 0
    for schedule_id, tenant_id in due:
        with tenant_scope(tenant_id):
            schedule = db.session.get(ExchangeSchedule, schedule_id)
            if schedule is not None and schedule.active and schedule.next_run_at <= now:
                made += len(run_schedule(schedule, now))
            db.session.commit()
    files.purge_expired(now)
    db.session.commit()
    return made
