"""Portfolios, imports and the saved column mapping (lenders only; for any other token these do not exist).

An upload is stored and only its columns are read (a problem they show is a 422 with its `import.*` code and
nothing is kept); the file is read whole by an rq job scheduled through the outbox, never inline: poll the import,
which ends `completed` or `failed` with `error_code` and `error_message`.
"""
import json
import unicodedata
import uuid
from typing import ClassVar
from urllib.parse import quote

import marshmallow as ma
from flask import Response, current_app, g
from flask_smorest import Blueprint
from sqlalchemy import func, select
from webargs.flaskparser import FlaskParser
from webargs.multidictproxy import MultiDictProxy
from werkzeug.datastructures import CombinedMultiDict

from tenants.capabilities import Capability
from tenants.context import tenant_scope
from tenants.db import db
from tenants.errors import NotFound, ValidationFailed
from tenants.portfolios import imports
from tenants.portfolios.error_file import error_csv
from tenants.portfolios.models import Account, AccountStatus, ImportJob, ImportRowError, Portfolio
from tenants.portfolios.rows import CellError
from web.access import require_capability
from web.api.pagination import PageArgs, page_schema, paginate
from web.api.portfolio_schemas import (
    ColumnMappingIO,
    ImportListArgs,
    ImportOut,
    ImportUploadIn,
    JsonImportIn,
    PortfolioDetailOut,
    PortfolioOut,
    RowErrorArgs,
    RowErrorPage,
    lenders_only,
)
from web.api.schemas import with_extra


class MultipartParser(FlaskParser):
    """Adds the `multipart` location: form fields and file parts together, as one multipart/form-data body."""

    __location_map__: ClassVar[dict] = dict(multipart="load_multipart", **FlaskParser.__location_map__)
    DEFAULT_UNKNOWN_BY_LOCATION: ClassVar[dict] = {**FlaskParser.DEFAULT_UNKNOWN_BY_LOCATION,
                                                   "multipart": ma.EXCLUDE}

    def load_multipart(self, req, schema):
        return MultiDictProxy(CombinedMultiDict([req.files, req.form]), schema)


class PortfolioBlueprint(Blueprint):
    ARGUMENTS_PARSER = MultipartParser()
    DEFAULT_LOCATION_CONTENT_TYPE_MAPPING: ClassVar[dict] = {**Blueprint.DEFAULT_LOCATION_CONTENT_TYPE_MAPPING,
                                                             "multipart": "multipart/form-data"}


blp = PortfolioBlueprint("api_portfolios", __name__, url_prefix="/api/v1",
                         description="Portfolios, imports and the column mapping (lenders)")


@blp.before_request
@lenders_only
def _lenders_only():
    return None


# ---- portfolios ---------------------------------------------------------------------------------------------

@blp.route("/portfolios")
@blp.arguments(PageArgs, location="query")
@blp.response(200, page_schema(PortfolioOut, "PortfolioPage"))
def list_portfolios(args):
    return paginate(select(Portfolio), Portfolio.created_at, Portfolio.id, **args)


@blp.route("/portfolios/<uuid:portfolio_id>")
@blp.response(200, PortfolioDetailOut)
def portfolio(portfolio_id: uuid.UUID):
    found = db.session.get(Portfolio, portfolio_id)
    if found is None:
        raise NotFound(code="portfolio.not_found")
    accounts, open_accounts, outstanding = db.session.execute(
        select(func.count(), func.sum(func.cast(Account.status == AccountStatus.OPEN, db.Integer)),
               func.sum(Account.outstanding_minor))
        .where(Account.tenant_id == g.tenant.id, Account.portfolio_id == found.id)).one()
    return with_extra(found, PortfolioOut, accounts=accounts, accounts_open=int(open_accounts or 0),
                      outstanding_minor=int(outstanding or 0), currency=g.tenant.currency)


# ---- imports ------------------------------------------------------------------------------------------------

@blp.route("/imports", methods=["POST"])
@require_capability(Capability.PORTFOLIO_IMPORT)
@blp.arguments(ImportUploadIn, location="multipart")
@blp.response(202, ImportOut)
def upload(data):
    """Upload a portfolio file (multipart: `file`, `portfolio`, optional `mapping` as a JSON string).

    The request stores the file and reads only its header: a problem there answers 422 with its code
    (`import.empty_file`, `import.undecodable`, `import.missing_columns`, `import.bad_format`, `import.too_large`
    over the UPLOAD_MAX_BYTES limit) and keeps nothing. Otherwise the import is queued (202); what the worker finds
    in the rest of the file (`import.file_too_large_uncompressed` for a workbook that unpacks to too much,
    `import.too_many_rows`, …) ends the import `failed` with that code."""
    upload_file = data["file"]
    portfolio = imports.get_or_create_portfolio(data["portfolio"])
    job = imports.create_import(portfolio=portfolio, filename=upload_file.filename or "upload.csv",
                                stream=upload_file.stream, mapping=data["mapping"], uploaded_by=None,
                                max_bytes=current_app.config["UPLOAD_MAX_BYTES"])
    db.session.commit()
    return job


@blp.route("/imports/json", methods=["POST"])
@require_capability(Capability.PORTFOLIO_IMPORT)
@blp.arguments(JsonImportIn)
@blp.response(202, ImportOut)
def upload_json(data):
    """Import account records sent as JSON; queued like a file upload."""
    portfolio = imports.get_or_create_portfolio(data["portfolio"])
    job = imports.create_json_import(portfolio=portfolio, records=data["records"], mapping=data["mapping"],
                                     uploaded_by=None, max_bytes=current_app.config["UPLOAD_MAX_BYTES"])
    db.session.commit()
    return job


@blp.route("/imports")
@blp.arguments(ImportListArgs, location="query")
@blp.response(200, page_schema(ImportOut, "ImportPage"))
def list_imports(args):
    query, portfolio_id = select(ImportJob), args.pop("portfolio_id")
    if portfolio_id:
        query = query.where(ImportJob.portfolio_id == portfolio_id)
    return paginate(query, ImportJob.created_at, ImportJob.id, **args)


@blp.route("/imports/<uuid:import_id>")
@blp.response(200, ImportOut)
def import_job(import_id: uuid.UUID):
    return imports.get_import(import_id)


@blp.route("/imports/<uuid:import_id>/move-accounts", methods=["POST"])
@require_capability(Capability.PORTFOLIO_IMPORT)
@blp.response(200, ImportOut)
def move_accounts(import_id: uuid.UUID):
    """Move into this import's portfolio the accounts its file found in another portfolio of yours.

    An upload never moves an account between portfolios by itself: such a row is refused with
    `account.in_other_portfolio` and the account left as it was (`rows_in_other_portfolios` counts them). This is
    the explicit answer: those rows are written now and their errors cleared. A finished import only (409
    `import.not_finished` before); a second call moves nothing."""
    job = imports.get_import(import_id)
    imports.move_accounts(job)
    db.session.commit()
    return job


@blp.route("/imports/<uuid:import_id>/errors")
@blp.arguments(RowErrorArgs, location="query")
@blp.response(200, RowErrorPage)
def import_errors(args, import_id: uuid.UUID):
    """The rejected rows by line number: each with its cell errors (column, code, message)."""
    job = imports.get_import(import_id)
    after = _line_cursor(args["cursor"])
    rows = list(db.session.scalars(
        select(ImportRowError).where(ImportRowError.import_id == job.id, ImportRowError.line > after)
        .order_by(ImportRowError.line).limit(args["limit"] + 1)))
    items, more = rows[:args["limit"]], len(rows) > args["limit"]
    return {"items": items, "next_cursor": str(items[-1].line) if more else None}


def _line_cursor(cursor: str | None) -> int:
    if not cursor:
        return 0
    if not cursor.isdigit() or len(cursor) > 9:
        raise ValidationFailed("The cursor is not valid; start again without it.", code="pagination.bad_cursor")
    return int(cursor)


@blp.route("/imports/<uuid:import_id>/errors.csv")
@blp.doc(responses={"200": {
    "description": "UTF-8 CSV (with BOM), streamed: the rejected rows as uploaded, with `line` and `errors` "
                   "columns; fix them and upload the file again.",
    "content": {"text/csv": {"schema": {"type": "string", "format": "binary"}}}}})
def import_errors_csv(import_id: uuid.UUID):
    job = imports.get_import(import_id)
    rows = _error_rows(current_app._get_current_object(), g.tenant.id, job.id)
    response = Response(error_csv(rows, list(job.headers or [])), mimetype="text/csv")
    response.headers["Content-Type"] = "text/csv; charset=utf-8"
    response.headers.set("Content-Disposition", "attachment",
                         **_download_name(f"{job.filename.rsplit('.', 1)[0] or 'import'}-errors.csv"))
    return response


def _download_name(name: str) -> dict:
    """An ASCII `filename` for old clients and, for a Chinese name, the exact one as RFC 6266 `filename*`."""
    try:
        name.encode("ascii")
        return {"filename": name}
    except UnicodeEncodeError:
        simple = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode("ascii").strip(" -_")
        return {"filename": simple if simple.rsplit(".", 1)[0] else "import-errors.csv",
                "filename*": f"UTF-8''{quote(name, safe='!#$&+^`|~')}"}


ERROR_PAGE = 500


def _error_rows(app, tenant_id: uuid.UUID, import_id: uuid.UUID):
    """The rejected rows, read a page at a time while the body streams out (after the request has ended). Each
    page opens and closes its own app and tenant context, so nothing is held open across a yield."""
    after = 0
    while True:
        with app.app_context(), tenant_scope(tenant_id):
            batch = [(row.line, json.loads(row.raw), [CellError(**e) for e in row.errors])
                     for row in db.session.scalars(
                         select(ImportRowError).where(ImportRowError.import_id == import_id,
                                                      ImportRowError.line > after)
                         .order_by(ImportRowError.line).limit(ERROR_PAGE))]
        if not batch:
            return
        yield from batch
        after = batch[-1][0]


# ---- the saved column mapping -------------------------------------------------------------------------------

@blp.route("/column-mapping")
@blp.response(200, ColumnMappingIO)
def column_mapping():
    """The saved mapping {file header: canonical field}; uploads without a mapping use it."""
    return {"mapping": imports.saved_mapping()}


@blp.route("/column-mapping", methods=["PUT"])
@require_capability(Capability.PORTFOLIO_IMPORT)
@blp.arguments(ColumnMappingIO)
@blp.response(200, ColumnMappingIO)
def replace_column_mapping(data):
    """Replace the saved mapping as a whole (headers left out are forgotten)."""
    mapping = imports.replace_mapping(data["mapping"])
    db.session.commit()
    return {"mapping": mapping}
