"""Errors: JSON `{"error": {code, message, details, params}}` under /api/v1, HTML pages elsewhere. Never a bare 500.

A page says what went wrong in its reader's language, from the error's code and parameters (web/domain_messages.py);
the API keeps the English message — a stable text for integrations — and adds the parameters it was made from."""
import logging

from flask import Flask, current_app, jsonify, render_template, request
from flask_babel import force_locale
from flask_wtf.csrf import CSRFError
from marshmallow import Schema, fields
from sqlalchemy.exc import DataError
from werkzeug.exceptions import HTTPException

from tenants.db import db
from tenants.errors import DomainError
from tenants.portfolios.limits import megabytes
from web.domain_messages import describe, describe_error, params_of

log = logging.getLogger(__name__)

HTTP_CODES = {
    400: "request.bad",
    401: "auth.required",
    403: "auth.forbidden",
    404: "not_found",
    405: "request.method_not_allowed",
    409: "conflict",
    413: "request.too_large",
    415: "request.unsupported_media_type",
    422: "validation.failed",
    429: "auth.throttled",
}


class ErrorDetailOut(Schema):
    code = fields.String(required=True, metadata={"description": "Machine code, e.g. conduct.frequency_cap"})
    message = fields.String(required=True, metadata={"description": "In English; pages render the code and params "
                                                                     "in the reader's language"})
    details = fields.Dict(required=True, metadata={"description": "e.g. {\"fields\": {name: [messages]}}"})
    params = fields.Dict(metadata={"description": "The message's parameters (details without fields)"})


class ErrorOut(Schema):
    """The one error body of the API (documented as every operation's default response)."""

    error = fields.Nested(ErrorDetailOut, required=True)


def wants_json() -> bool:
    return request.path.startswith("/api/") or request.path.startswith("/billing/")


def error_response(status: int, code: str, message: str | None = None, details: dict | None = None,
                   params: dict | None = None):
    """`message` is the English one (a domain error's own); without it, the catalog's for `code` and `params`."""
    details = details or {}
    params = params_of(details) if params is None else params
    if wants_json():
        if message is None:
            with force_locale("en"):
                message = describe(code, params)
        response = jsonify({"error": {"code": code, "message": message, "details": details, "params": params}})
        response.status_code = status
        return response
    return render_template("error.html", status=status, code=code,
                           message=describe(code, params, message)), status


def render_domain_error(error: DomainError):
    db.session.rollback()
    if wants_json():
        response = current_app.make_response(error_response(error.status, error.code, error.message, error.details))
    else:
        response = current_app.make_response((render_template("error.html", status=error.status, code=error.code,
                                                              message=describe_error(error)), error.status))
    if error.status == 503:  # a dependency the request cannot go without is down (web/outages.py)
        from web.outages import RETRY_AFTER_SECONDS

        response.headers["Retry-After"] = str(RETRY_AFTER_SECONDS)
    return response


def render_http_exception(error: HTTPException):
    status = error.code or 500
    data = getattr(error, "data", None) or {}
    messages = data.get("messages")
    if messages is not None:
        # webargs/flask-smorest validation: a malformed body is 400, invalid fields 422.
        if status == 400:
            return error_response(400, "request.malformed")
        return error_response(status, "validation.failed", details={"fields": _by_field(messages)})
    code = HTTP_CODES.get(status)
    if code is None:  # a status without a code of ours: werkzeug's English name is the best there is
        return error_response(status, f"http.{status}", error.description or error.name)
    params = {}
    if status == 413:
        params = {"size": megabytes(request.content_length or 0, round_up=True),
                  "limit": megabytes(current_app.config["UPLOAD_MAX_BYTES"])}
    return error_response(status, code, params=params)


def _by_field(messages: dict) -> dict:
    """webargs groups errors by location ({"json": {...}}); clients want them by field, as services report."""
    if len(messages) == 1:
        (location, fields), = messages.items()
        if location in ("json", "query", "form", "files", "multipart", "headers") and isinstance(fields, dict):
            return fields
    return messages


def render_csrf_error(error: CSRFError):
    return error_response(400, "csrf.invalid")


def render_data_error(error: DataError):
    """A value the database refuses (longer than its column, beyond BIGINT) that no schema caught: the caller's
    input, so a 400, not a server error. Schemas should name the field; this is the net under them."""
    log.warning("database refused a value: %s", error.orig)
    db.session.rollback()
    return error_response(400, "input.invalid_value")


def render_unexpected(error: Exception):
    log.exception("unhandled error")
    db.session.rollback()
    return error_response(500, "internal")


def init_app(app: Flask) -> None:
    from web import outages

    outages.init_app(app)  # PostgreSQL or Redis unavailable: 503, not 500 (web/outages.py)
    app.register_error_handler(DomainError, render_domain_error)
    app.register_error_handler(CSRFError, render_csrf_error)
    app.register_error_handler(HTTPException, render_http_exception)
    app.register_error_handler(DataError, render_data_error)
    app.register_error_handler(Exception, render_unexpected)
