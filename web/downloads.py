"""File downloads the pages and the API share."""
from urllib.parse import quote

from flask import Response


def csv_attachment(text: str, filename: str) -> Response:
    """UTF-8 with a BOM, so that Excel reads Chinese names; the filename survives non-ASCII characters."""
    response = Response(text.encode("utf-8-sig"), mimetype="text/csv")
    response.headers["Content-Type"] = "text/csv; charset=utf-8"
    fallback = filename.encode("ascii", "replace").decode().replace("?", "_").replace('"', "_")
    response.headers["Content-Disposition"] = f"attachment; filename=\"{fallback}\"; filename*=UTF-8''{quote(filename)}"
    return response
