"""Text PostgreSQL refuses never reaches it: a NUL character anywhere in the path, the query string, a form or a JSON
body (nested too) answers 400 `input.invalid_character` naming the field, before any handler or query runs."""
from flask import Flask, request

from tenants.errors import DomainError

NUL = "\x00"


class InvalidCharacter(DomainError):
    code = "input.invalid_character"
    status = 400
    message = "The request contains a character that is not allowed (NUL)."


def _refuse(field: str):
    raise InvalidCharacter(details={"fields": {field: ["Contains a NUL character, which is not allowed."]}})


def _first_nul_in_json(value, path: str) -> str | None:
    """The path (`items[0].name`) of the first string or key holding a NUL, or None."""
    if isinstance(value, str):
        return path if NUL in value else None
    if isinstance(value, dict):
        for key, item in value.items():
            where = f"{path}.{key}" if path else str(key)
            if NUL in str(key):
                return where
            found = _first_nul_in_json(item, where)
            if found:
                return found
    if isinstance(value, list):
        for index, item in enumerate(value):
            found = _first_nul_in_json(item, f"{path}[{index}]")
            if found:
                return found
    return None


def check_request() -> None:
    if NUL in request.path:
        _refuse("path")
    for source in (request.args, request.form):
        for key, value in source.items(multi=True):
            if NUL in key or NUL in value:
                _refuse(key)
    for upload in request.files.values():
        if NUL in (upload.filename or ""):
            _refuse(upload.name)
    if request.is_json:
        body = request.get_json(silent=True)
        found = _first_nul_in_json(body, "") if body is not None else None
        if found is not None:
            _refuse(found or "body")


def init_app(app: Flask) -> None:
    """Registered before every other request hook (tenant lookup, authentication) so none of them sees the text."""
    app.before_request_funcs.setdefault(None, []).insert(0, check_request)
