"""An exported file as an HTTP response, for the page and the API alike (tenants/exchange makes and keeps it)."""
from contextlib import contextmanager
from urllib.parse import quote

from flask import Response, current_app, g

from tenants.context import tenant_scope
from tenants.db import db
from tenants.exchange import files, service
from tenants.exchange.models import ExchangeExport


def download(export: ExchangeExport, via: str) -> Response:
    """Check the window and the role, audit the download (committed before the first byte leaves), then stream the
    decrypted chunks, each read in contexts of its own (the body outlives the request's)."""
    seqs = service.open_download(export, role=g.role, via=via)
    export_id, name, file_format, size = export.id, export.filename, export.file_format, export.size_bytes
    db.session.commit()
    app, tenant_id = current_app._get_current_object(), g.tenant.id

    @contextmanager
    def scope():
        with app.app_context(), tenant_scope(tenant_id):
            yield

    response = Response(files.body(export_id, seqs, scope), content_type=files.CONTENT_TYPES[file_format])
    fallback = name.encode("ascii", "replace").decode().replace("?", "_").replace('"', "_")
    response.headers["Content-Disposition"] = f"attachment; filename=\"{fallback}\"; filename*=UTF-8''{quote(name)}"
    response.headers["Content-Length"] = str(size)
    return response
