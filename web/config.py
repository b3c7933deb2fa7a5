"""Configuration from the environment. Fail closed: unless RECOVERLY_ENV=development says otherwise (make demo, the
tests and the benches do), the app is production and refuses to start without its real secrets."""
import hashlib
import hmac
import os
import secrets
from pathlib import Path

from tenants.pii import Keyring, derive_development_keyring
from tenants.portfolios import limits as upload_limits
from web import database, rate_limits

ROOT = Path(__file__).resolve().parent.parent
INSTANCE = Path(os.environ.get("RECOVERLY_INSTANCE_DIR", ROOT / "instance"))

PRODUCTION = "production"
FORM_FIELDS_ALLOWANCE = 1024 * 1024  # a multipart upload's other fields (portfolio name, mapping JSON)
DEVELOPMENT = "development"
MIN_SECRET_KEY_LENGTH = 32


class ConfigError(RuntimeError):
    pass


def _flag(name: str, default: bool) -> bool:
    value = os.environ.get(name)
    return default if value is None else value.strip().lower() in {"1", "true", "yes", "on"}


def _development_secret() -> str:
    """A per-checkout secret kept under instance/, so demo sessions and PII survive restarts."""
    path = INSTANCE / "secret_key"
    if not path.exists():
        INSTANCE.mkdir(parents=True, exist_ok=True)
        path.write_text(secrets.token_urlsafe(48))
        path.chmod(0o600)
    return path.read_text().strip()


def _derived(secret: str | None, purpose: str) -> str | None:
    """A development value derived from the per-checkout secret, so the demo needs no configuration."""
    return hmac.new(secret.encode(), purpose.encode(), hashlib.sha256).hexdigest() if secret else None


def build(overrides: dict | None = None) -> dict:
    env = os.environ.get("RECOVERLY_ENV", PRODUCTION)
    if env not in (PRODUCTION, DEVELOPMENT):
        raise ConfigError(f"RECOVERLY_ENV must be {PRODUCTION!r} or {DEVELOPMENT!r}, not {env!r}")
    production = env == PRODUCTION
    secret = os.environ.get("SECRET_KEY") or (None if production else _development_secret())
    upload_max = int((overrides or {}).get("UPLOAD_MAX_BYTES") or os.environ.get("RECOVERLY_UPLOAD_MAX_BYTES")
                     or upload_limits.UPLOAD_MAX_BYTES)
    config = {
        "ENV_NAME": env,
        "SECRET_KEY": secret,
        "SQLALCHEMY_DATABASE_URI": os.environ.get("DATABASE_URL") or f"sqlite:///{INSTANCE / 'recoverly.db'}",
        "MIGRATION_DATABASE_URL": os.environ.get("MIGRATION_DATABASE_URL"),
        "REDIS_URL": os.environ.get("REDIS_URL"),
        "EMBEDDED_REDIS_DIR": str(INSTANCE / "redis"),
        "TEST_CLOCK": os.environ.get("RECOVERLY_TEST_CLOCK", "off"),
        "PII_KEYS": os.environ.get("PII_KEYS"),
        "BLIND_INDEX_KEY": os.environ.get("BLIND_INDEX_KEY"),
        # Lifts the database lock for platform work (tenants/database_lock.py); the database keeps only its hash.
        "DB_LOCK_KEY": os.environ.get("DB_LOCK_KEY") or (None if production else _derived(secret, "platform")),
        "PROXY_COUNT": int(os.environ.get("RECOVERLY_PROXY_COUNT", "0")),
        "SESSION_COOKIE_SECURE": _flag("SESSION_COOKIE_SECURE", production),
        "SESSION_COOKIE_HTTPONLY": True,
        "SESSION_COOKIE_SAMESITE": "Lax",
        "REMEMBER_COOKIE_SECURE": _flag("SESSION_COOKIE_SECURE", production),
        "REMEMBER_COOKIE_HTTPONLY": True,
        "REMEMBER_COOKIE_SAMESITE": "Lax",
        "PERMANENT_SESSION_LIFETIME": 8 * 3600,
        "WTF_CSRF_TIME_LIMIT": 8 * 3600,
        # One size limit for every upload: the import refuses a larger file by name of this limit, and the request
        # limit is the same plus room for the form's other fields.
        "UPLOAD_MAX_BYTES": upload_max,
        "MAX_CONTENT_LENGTH": upload_max + FORM_FIELDS_ALLOWANCE,
        # No ping per checkout (a round trip per transaction): web/database.py pings only connections that sat
        # idle, and recycling bounds a connection's age below common idle-session timeouts.
        "SQLALCHEMY_ENGINE_OPTIONS": {"pool_pre_ping": False, "pool_recycle": 1800},
        "BOOTSTRAP_SERVE_LOCAL": True,
        "BABEL_DEFAULT_LOCALE": "en",
        "BABEL_TRANSLATION_DIRECTORIES": str(Path(__file__).parent / "translations"),
        "API_TITLE": "Recoverly API",
        "API_VERSION": "v1",
        "OPENAPI_VERSION": "3.0.3",
        "OPENAPI_URL_PREFIX": "/api/v1",
        "OPENAPI_JSON_PATH": "openapi.json",
        "API_SPEC_OPTIONS": {
            "components": {"securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}}},
            "security": [{"bearer": []}],
        },
        # Billing: STRIPE_API_BASE points at localstripe on this machine (demo, tests); unset, the same code talks
        # to Stripe itself with STRIPE_API_KEY (a test-mode key for trials).
        "STRIPE_API_KEY": os.environ.get("STRIPE_API_KEY"),
        "STRIPE_API_BASE": os.environ.get("STRIPE_API_BASE"),
        # No default: without the signing secret every webhook is refused as unsigned.
        "STRIPE_WEBHOOK_SECRET": os.environ.get("STRIPE_WEBHOOK_SECRET"),
        # Messages: "outbox" keeps every message in the sender's outbox; "smtp" sends email through SMTP_*.
        "MESSAGE_GATEWAY": os.environ.get("MESSAGE_GATEWAY", "outbox"),
        "SMTP_HOST": os.environ.get("SMTP_HOST", "localhost"),
        "SMTP_PORT": int(os.environ.get("SMTP_PORT", "25")),
        "SMTP_USERNAME": os.environ.get("SMTP_USERNAME"),
        "SMTP_PASSWORD": os.environ.get("SMTP_PASSWORD"),
        "SMTP_STARTTLS": _flag("SMTP_STARTTLS", False),
        "MAIL_FROM": os.environ.get("MAIL_FROM", "Recoverly <no-reply@recoverly.localhost>"),
        # Click-to-call: "tel" hands the collector's softphone a tel: link; "cti" has the CTI server at
        # TELEPHONY_CTI_URL place the call (the number never reaches the browser), its requests and callbacks
        # signed with TELEPHONY_SECRET; "standin" answers in-process (demo, tests).
        "TELEPHONY_GATEWAY": os.environ.get("TELEPHONY_GATEWAY", "tel"),
        "TELEPHONY_CTI_URL": os.environ.get("TELEPHONY_CTI_URL"),
        "TELEPHONY_SECRET": os.environ.get("TELEPHONY_SECRET"),
        # Outbound webhooks to loopback and private addresses: development only (the demo's receiver stand-in).
        "WEBHOOKS_ALLOW_PRIVATE_URLS": _flag("RECOVERLY_WEBHOOKS_ALLOW_PRIVATE_URLS", False),
        **rate_limits.settings(os.environ),
        **database.timeout_settings(os.environ),
    }
    config.update(overrides or {})
    config["SQLALCHEMY_ENGINE_OPTIONS"] = database.engine_options(config)
    _check(config, production)
    return config


def _check(config: dict, production: bool) -> None:
    if config["MESSAGE_GATEWAY"] not in ("outbox", "smtp"):
        raise ConfigError("MESSAGE_GATEWAY must be 'outbox' or 'smtp'")
    if config["TELEPHONY_GATEWAY"] not in ("tel", "standin", "cti"):
        raise ConfigError("TELEPHONY_GATEWAY must be 'tel', 'standin' or 'cti'")
    if config["TELEPHONY_GATEWAY"] == "cti" and not (config["TELEPHONY_CTI_URL"] and config["TELEPHONY_SECRET"]):
        raise ConfigError("TELEPHONY_CTI_URL and TELEPHONY_SECRET must be set for TELEPHONY_GATEWAY=cti")
    bad_limits = rate_limits.invalid_settings(config)
    if bad_limits:
        raise ConfigError(f"{', '.join(bad_limits)}: not a rate limit such as '5 per 15 minutes'")
    if not production:
        return
    hint = " (or set RECOVERLY_ENV=development for a local trial)"
    if config["WEBHOOKS_ALLOW_PRIVATE_URLS"]:
        raise ConfigError("RECOVERLY_WEBHOOKS_ALLOW_PRIVATE_URLS is refused in production: webhooks go only to "
                          "public addresses")
    if config["TEST_CLOCK"].lower() not in {"", "off"}:
        raise ConfigError("RECOVERLY_TEST_CLOCK is refused in production: real money runs on real time")
    if len(config["SECRET_KEY"] or "") < MIN_SECRET_KEY_LENGTH:
        raise ConfigError(f"SECRET_KEY must be set to a random value of at least {MIN_SECRET_KEY_LENGTH} "
                          f"characters in production{hint}")
    if not (config["PII_KEYS"] and config["BLIND_INDEX_KEY"]):
        raise ConfigError(f"PII_KEYS and BLIND_INDEX_KEY must be set in production{hint}")
    if len(config["DB_LOCK_KEY"] or "") < MIN_SECRET_KEY_LENGTH:
        raise ConfigError(f"DB_LOCK_KEY must be set to a random value of at least {MIN_SECRET_KEY_LENGTH} "
                          f"characters in production: it lifts the database lock for platform work{hint}")
    if config["STRIPE_API_KEY"] and not config["STRIPE_WEBHOOK_SECRET"]:
        raise ConfigError("STRIPE_WEBHOOK_SECRET must be set when STRIPE_API_KEY is (webhooks are verified)")
    if not config["REDIS_URL"]:
        raise ConfigError(f"REDIS_URL must be set in production: queues and rate limits live there{hint}")


def keyring(config: dict) -> Keyring:
    """The configured PII keys; keys derived from SECRET_KEY only in development (build() refuses production
    without real keys, and this refuses again so no caller can get derived keys outside development)."""
    if config["PII_KEYS"]:
        try:
            return Keyring(config["PII_KEYS"].split(","), config["BLIND_INDEX_KEY"] or "")
        except ValueError as exc:
            raise ConfigError(f"PII_KEYS / BLIND_INDEX_KEY are not usable: {exc}") from None
    if config["ENV_NAME"] != DEVELOPMENT:
        raise ConfigError("PII_KEYS and BLIND_INDEX_KEY must be set outside development")
    return derive_development_keyring(config["SECRET_KEY"])
