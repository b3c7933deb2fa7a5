"""Security headers on every response; `Cache-Control: no-store` on everything but static assets, so no page or
API answer with personal data is kept by a browser, a proxy or the back button after logout."""
from flask import Flask, request

CSP = (
    "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; "
    "object-src 'none'; base-uri 'self'; form-action 'self'; frame-ancestors 'none'"
)


def _headers(response):
    response.headers.setdefault("Content-Security-Policy", CSP)
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["X-Frame-Options"] = "DENY"
    response.headers["Referrer-Policy"] = "same-origin"
    response.headers["Permissions-Policy"] = "camera=(), microphone=(), geolocation=()"
    response.headers["Cross-Origin-Opener-Policy"] = "same-origin"
    if not _is_static_asset():
        response.headers["Cache-Control"] = "no-store"
    return response


def _is_static_asset() -> bool:
    # "static" is the app's folder, "bootstrap.static" the assets Bootstrap-Flask serves from its package.
    return (request.endpoint or "").rpartition(".")[2] == "static"


def init_app(app: Flask) -> None:
    app.after_request(_headers)
    if app.config["SESSION_COOKIE_SECURE"]:
        app.after_request(_hsts)


def _hsts(response):
    response.headers["Strict-Transport-Security"] = "max-age=31536000; includeSubDomains"
    return response
