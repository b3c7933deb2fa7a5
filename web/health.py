"""Probes for load balancers and orchestrators.

GET /healthz (liveness): the process is up and its web stack answers. The contact bench's no-I/O baseline too (the
floor of a request through gunicorn, Flask and the app's hooks). It touches neither PostgreSQL nor Redis, so a
database or Redis outage never takes the nodes out of the balancer or gets them restarted (the requests that need
them answer 503 `service.unavailable`, web/outages.py).

GET /readyz (readiness): PostgreSQL answers, Redis answers and the schema is at the migrations' head — 200
`{"status": "ready", "checks": {...}}`, else 503 with `Retry-After` and which check failed (`unavailable`, or
`behind` for a schema a deploy has not migrated yet). Each check is bounded by the connect and socket timeouts
(README, "Configuration"). Route traffic by it at deploy time; do not restart a node for it.

Both need no token or session, set no cookie, name no version or host, and count against no rate limit: a probe
every second from each balancer must never use up a client's allowance.
"""
import logging
from functools import lru_cache

from flask import Blueprint
from sqlalchemy import text

from tenants.db import db
from web.extensions import limiter

log = logging.getLogger(__name__)

bp = Blueprint("health", __name__)


@bp.route("/healthz")
@limiter.exempt
def healthz():
    return {"status": "ok"}


@lru_cache(maxsize=1)
def migration_heads() -> frozenset[str]:
    from alembic.config import Config
    from alembic.script import ScriptDirectory

    from web.config import ROOT

    config = Config()
    config.set_main_option("script_location", str(ROOT / "migrations"))
    return frozenset(ScriptDirectory.from_config(config).get_heads())


def _database_checks() -> dict:
    try:
        versions = set(db.session.scalars(text("SELECT version_num FROM alembic_version")))
    except Exception as error:  # noqa: BLE001 - any failure means not ready; web/outages.py logs outages
        log.debug("readiness: database check failed: %s", type(error).__name__)
        return {"database": "unavailable", "migrations": "unknown"}
    finally:
        try:
            db.session.rollback()
        except Exception:  # noqa: BLE001
            pass
    return {"database": "ok", "migrations": "ok" if versions == set(migration_heads()) else "behind"}


def _redis_check() -> str:
    from workers.connection import connection

    try:
        return "ok" if connection().ping() else "unavailable"
    except Exception:  # noqa: BLE001 - refused, timed out, or the breaker is open
        return "unavailable"


@bp.route("/readyz")
@limiter.exempt
def readyz():
    from web.outages import RETRY_AFTER_SECONDS

    checks = {**_database_checks(), "redis": _redis_check()}
    if all(value == "ok" for value in checks.values()):
        return {"status": "ready", "checks": checks}
    return {"status": "unavailable", "checks": checks}, 503, {"Retry-After": str(RETRY_AFTER_SECONDS)}
