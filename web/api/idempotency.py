"""The `Idempotency-Key` request header, read the same way by every API endpoint that honours it."""
from flask import request


def idempotency_key() -> str | None:
    """The request's Idempotency-Key, trimmed and cut to 100 characters; None when absent or blank."""
    return request.headers.get("Idempotency-Key", "").strip()[:100] or None
