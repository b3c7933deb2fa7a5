"""Bulk exchange by API: ask for a file of the tenant's data (made by a worker in a moment), follow it until it is
ready, download it within its window (every download audited), and schedule files daily or weekly at a local hour.
Lenders and agencies alike, each for its own data (exchange.files)."""
import uuid

from flask import g
from flask_smorest import Blueprint
from marshmallow import EXCLUDE, Schema, fields, validate
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from tenants.capabilities import Capability
from tenants.db import db
from tenants.exchange import files, kinds, service
from tenants.exchange.models import ExchangeExport, Frequency
from web.access import require_capability
from web.api.idempotency import idempotency_key
from web.api.pagination import PageArgs, page_schema, paginate
from web.exchange_files import download

blp = Blueprint("api_exchange", __name__, url_prefix="/api/v1", description="Bulk exchange: exported files")


class ExportIn(Schema):
    class Meta:
        unknown = EXCLUDE

    kind = fields.String(required=True, validate=validate.Length(max=20),
                         metadata={"description": f"One of {', '.join(kinds.KINDS)}."})
    format = fields.String(load_default="csv", validate=validate.Length(max=8),
                           metadata={"description": "csv (UTF-8 with BOM, CRLF) or xlsx."})
    period_start = fields.Date(load_default=None, metadata={"description": "First tenant-local day (included)."})
    period_end = fields.Date(load_default=None, metadata={"description": "Last tenant-local day (included)."})
    counterparty_id = fields.UUID(load_default=None, metadata={
        "description": "For kind=changes: the agency (a lender's file) or the lender (an agency's file)."})


class ExportOut(Schema):
    id = fields.UUID()
    kind = fields.String()
    format = fields.String(attribute="file_format")
    status = fields.String(metadata={"description": "queued, ready, failed or expired."})
    counterparty_id = fields.UUID(attribute="counterparty_tenant_id", allow_none=True)
    period_start = fields.Date(allow_none=True)
    period_end = fields.Date(allow_none=True)
    mask_role = fields.String()
    schedule_id = fields.UUID(allow_none=True)
    created_at = fields.DateTime()
    finished_at = fields.DateTime(allow_none=True)
    expires_at = fields.DateTime(allow_none=True)
    filename = fields.String(allow_none=True)
    size_bytes = fields.Integer(allow_none=True)
    sha256 = fields.String(allow_none=True, metadata={"description": "Of the file as downloaded."})
    row_count = fields.Integer(allow_none=True)
    error_code = fields.String(allow_none=True)
    download_count = fields.Integer()


class ScheduleIn(Schema):
    class Meta:
        unknown = EXCLUDE

    kind = fields.String(required=True, validate=validate.Length(max=20))
    format = fields.String(load_default="csv", validate=validate.Length(max=8))
    frequency = fields.String(required=True, validate=validate.OneOf(Frequency.ALL))
    local_hour = fields.Integer(required=True, validate=validate.Range(min=0, max=23),
                                metadata={"description": "Hour in the tenant's time zone."})
    weekday = fields.Integer(load_default=None, validate=validate.Range(min=0, max=6),
                             metadata={"description": "Weekly: 0 = Monday … 6 = Sunday."})


class ScheduleOut(Schema):
    id = fields.UUID()
    kind = fields.String()
    format = fields.String(attribute="file_format")
    frequency = fields.String()
    weekday = fields.Integer(allow_none=True)
    local_hour = fields.Integer()
    mask_role = fields.String()
    next_run_at = fields.DateTime()
    last_run_at = fields.DateTime(allow_none=True)
    created_at = fields.DateTime()


def _user_id():
    return g.api_token.created_by_user_id


@blp.route("/exchange/exports")
@require_capability(Capability.EXCHANGE_FILES)
@blp.arguments(PageArgs, location="query")
@blp.response(200, page_schema(ExportOut, "ExchangeExportPage"))
def list_exports(args):
    """The tenant's files, newest first."""
    return paginate(select(ExchangeExport), ExchangeExport.created_at, ExchangeExport.id, newest_first=True, **args)


@blp.route("/exchange/exports", methods=["POST"])
@require_capability(Capability.EXCHANGE_FILES)
@blp.arguments(ExportIn)
@blp.response(202, ExportOut)
def create_export(data):
    """Ask for a file; a worker makes it (status `queued`, then `ready`). Personal data (the accounts file only) is
    masked as for the token's role. The period must fit the kind: none for `accounts` (today's snapshot), one day
    for `changes` (yesterday when empty).

    Send an `Idempotency-Key` header (up to 100 characters, unique per request) and a retried request returns the
    first export (the same id, 202) instead of making a second file; the same key with a different body answers
    409 `idempotency.key_reused`. Keys are the tenant's own."""
    key = idempotency_key()
    request = dict(kind=data["kind"], file_format=data["format"], period_start=data["period_start"],
                   period_end=data["period_end"], counterparty_id=data["counterparty_id"])
    try:
        export = service.request_export(role=g.role, user_id=_user_id(), idempotency_key=key, **request)
        db.session.commit()
    except IntegrityError:  # the same key raced in from a parallel retry: answer with the winner
        db.session.rollback()
        export = service.replay(key, **request) if key else None
        if export is None:
            raise
    return export


@blp.route("/exchange/exports/<uuid:export_id>")
@require_capability(Capability.EXCHANGE_FILES)
@blp.response(200, ExportOut)
def get_export(export_id: uuid.UUID):
    return service.get(export_id)


@blp.route("/exchange/exports/<uuid:export_id>/download")
@require_capability(Capability.EXCHANGE_FILES)
@blp.doc(responses={"200": {"description": "The file (CSV or XLSX); the download is an audit event.",
                            "content": {ct.split(";")[0]: {"schema": {"type": "string", "format": "binary"}}
                                        for ct in files.CONTENT_TYPES.values()}},
                    "409": {"description": "exchange.not_ready"}, "410": {"description": "exchange.expired"},
                    "403": {"description": "exchange.masked_for_role"}})
def download_export(export_id: uuid.UUID):
    return download(service.get(export_id), via="api")


@blp.route("/exchange/exports/<uuid:export_id>/retry", methods=["POST"])
@require_capability(Capability.EXCHANGE_FILES)
@blp.response(202, ExportOut)
def retry_export(export_id: uuid.UUID):
    export = service.get(export_id)
    service.retry(export)
    db.session.commit()
    return export


@blp.route("/exchange/schedules")
@require_capability(Capability.EXCHANGE_FILES)
@blp.response(200, ScheduleOut(many=True))
def list_schedules():
    return service.schedules()


@blp.route("/exchange/schedules", methods=["POST"])
@require_capability(Capability.EXCHANGE_FILES)
@blp.arguments(ScheduleIn)
@blp.response(201, ScheduleOut)
def create_schedule(data):
    schedule = service.create_schedule(kind=data["kind"], file_format=data["format"], frequency=data["frequency"],
                                       local_hour=data["local_hour"], weekday=data["weekday"], role=g.role,
                                       user_id=_user_id())
    db.session.commit()
    return schedule


@blp.route("/exchange/schedules/<uuid:schedule_id>", methods=["DELETE"])
@require_capability(Capability.EXCHANGE_FILES)
@blp.response(204)
def stop_schedule(schedule_id: uuid.UUID):
    service.stop_schedule(service.get_schedule(schedule_id))
    db.session.commit()
