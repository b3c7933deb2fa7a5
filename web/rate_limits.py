"""Rate limits, with Flask-Limiter on the app's Redis: failed logins per account and per client address, the API
per token, uploads per user or token. Every limit is a setting (README, "Rate limits"); a breach answers 429 with
`Retry-After`, as JSON `{"error": {"code": "rate_limited", …}}` under /api/v1 and as a page elsewhere.

When Redis is unreachable the API and upload limits are counted in each process's memory instead (Flask-Limiter's
in-memory fallback, the same limits per process; logged once, and Redis is tried again with a growing pause): a
limiter outage must not stop collections, nor switch the limits off. Logins are refused with 503 meanwhile:
failed logins counted per process would let a guesser spread attempts over the processes, so password guessing is
never left to a weaker count. The limiter's Redis client has the app's timeouts and circuit breaker
(workers.connection)."""
import hashlib
import math
import time

from flask import Flask, current_app, request, session
from flask_babel import gettext as _
from flask_limiter import ApplicationLimit, RateLimitExceeded
from limits import parse_many

from tenants.errors import ServiceUnavailable, ValidationFailed
from tenants.tenancy.services import email_index
from web.api import PREFIX, bearer_secret, needs_token
from web.errors import error_response
from web.extensions import limiter

# Setting → (environment variable, default). Failed logins only count towards the two login limits.
LIMITS = {
    "RATE_LIMIT_LOGIN_ACCOUNT": ("RECOVERLY_RATE_LIMIT_LOGIN_ACCOUNT", "5 per 15 minutes"),
    "RATE_LIMIT_LOGIN_ADDRESS": ("RECOVERLY_RATE_LIMIT_LOGIN_ADDRESS", "30 per 15 minutes"),
    "RATE_LIMIT_API": ("RECOVERLY_RATE_LIMIT_API", "600 per minute"),
    "RATE_LIMIT_UPLOADS": ("RECOVERLY_RATE_LIMIT_UPLOADS", "30 per 10 minutes"),
}


def settings(environ) -> dict:
    return {setting: environ.get(variable, default) for setting, (variable, default) in LIMITS.items()}


def invalid_settings(config: dict) -> list[str]:
    """The limit settings that are not rate-limit strings such as '5 per 15 minutes'."""
    bad = []
    for setting in LIMITS:
        try:
            parse_many(config[setting])
        except ValueError:
            bad.append(setting)
    return bad


def _configured(setting: str):
    return lambda: current_app.config[setting]


# ---- who a request counts against ------------------------------------------------------------------------

def _bearer_key() -> str:
    secret = bearer_secret()
    return "token:" + hashlib.sha256(secret.encode()).hexdigest() if secret else ""


def _session_user_key() -> str:
    from web.auth import session_user_id

    user_id = session_user_id(session.get("_user_id"))
    return f"user:{user_id}" if user_id else ""


def _is_api_call() -> bool:
    return needs_token() and bool(bearer_secret())


def _is_upload() -> bool:
    return request.method == "POST" and request.mimetype == "multipart/form-data"


def _uploader_key() -> str:
    return _bearer_key() if request.path.startswith(PREFIX) else _session_user_key()


def _login_account_key() -> str:
    try:
        return "account:" + email_index(request.form.get("email", ""))
    except ValidationFailed:
        return ""  # not an email: no account to protect; the address limit still counts the attempt


def _login_address_key() -> str:
    return "address:" + (request.remote_addr or "unknown")


def _login_failed(response) -> bool:
    return response.status_code == 401


API_LIMIT = ApplicationLimit(limit_provider=_configured("RATE_LIMIT_API"), key_function=_bearer_key, scope="api",
                             exempt_when=lambda: not _is_api_call())
UPLOAD_LIMIT = ApplicationLimit(limit_provider=_configured("RATE_LIMIT_UPLOADS"), key_function=_uploader_key,
                                scope="uploads", exempt_when=lambda: not (_is_upload() and _uploader_key()))


def limit_failed_logins(view):
    """The login view: at most RATE_LIMIT_LOGIN_ACCOUNT failures per account and RATE_LIMIT_LOGIN_ADDRESS per
    client address; once either is reached even the right password waits."""
    for setting, key in (("RATE_LIMIT_LOGIN_ACCOUNT", _login_account_key),
                         ("RATE_LIMIT_LOGIN_ADDRESS", _login_address_key)):
        view = limiter.limit(_configured(setting), key_func=key, methods=["POST"], deduct_when=_login_failed)(view)
    return view


def require_login_throttle() -> None:
    """Fail closed: without the limiter's storage, failed logins cannot be counted, so no login is tried."""
    try:
        reachable = limiter.storage.check()
    except Exception:  # the storage's client raises its own connection errors
        reachable = False
    if not reachable:
        current_app.logger.error("login refused: the rate-limit storage (Redis) is unreachable")
        raise ServiceUnavailable(_("Login is briefly unavailable. Try again in a minute."),
                                 code="auth.throttle_unavailable")


# ---- the 429 answer ---------------------------------------------------------------------------------------

def _retry_after(error: RateLimitExceeded) -> int:
    window = error.limit.limit.get_expiry()
    try:
        breached = limiter.current_limit
        if breached is not None:
            return min(window, max(1, math.ceil(breached.reset_at - time.time())))
    except Exception:  # the storage went away between the breach and now: the whole window is a safe answer
        pass
    return window


def render_rate_limited(error: RateLimitExceeded):
    seconds = _retry_after(error)
    message = _("Too many requests. Wait %(seconds)s seconds and try again.", seconds=seconds)
    if request.endpoint == "auth.login":
        message = _("Too many failed logins. Wait %(minutes)s minutes and try again.",
                    minutes=max(1, math.ceil(seconds / 60)))
    response = current_app.make_response(error_response(429, "rate_limited", message,
                                                        {"retry_after_seconds": seconds,
                                                         "limit": str(error.limit.limit)}))
    response.headers["Retry-After"] = str(seconds)
    return response


def _storage_uri(redis_url: str | None) -> str:
    """The limits library's name for the app's Redis; a bare `flask run` in development, with no Redis, counts in
    memory per process (production requires REDIS_URL)."""
    if not redis_url:
        return "memory://"
    if redis_url.startswith("unix://"):  # the embedded redis-server's socket
        return "redis+" + redis_url
    return redis_url


def init_app(app: Flask) -> None:
    app.config.setdefault("RATELIMIT_STORAGE_URI", _storage_uri(app.config["REDIS_URL"]))
    app.config.setdefault("RATELIMIT_KEY_PREFIX", "ratelimit")
    app.config.setdefault("RATELIMIT_STRATEGY", "sliding-window-counter")
    app.config.setdefault("RATELIMIT_SWALLOW_ERRORS", True)
    app.config.setdefault("RATELIMIT_IN_MEMORY_FALLBACK_ENABLED", True)
    if app.config["RATELIMIT_STORAGE_URI"].startswith(("redis", "rediss")):
        from workers.connection import pool

        redis_url = app.config["RATELIMIT_STORAGE_URI"].replace("redis+unix://", "unix://")
        app.config.setdefault("RATELIMIT_STORAGE_OPTIONS", {"connection_pool": pool(redis_url)})
    limiter.limit_manager.set_application_limits([API_LIMIT.bind(limiter), UPLOAD_LIMIT.bind(limiter)])
    limiter.init_app(app)
    app.register_error_handler(RateLimitExceeded, render_rate_limited)
