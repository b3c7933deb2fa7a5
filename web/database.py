"""Engine-level settings per dialect."""
import os
import time

from sqlalchemy import event, exc
from sqlalchemy.engine import make_url

# A pooled connection idle longer than this is pinged before use (see _ping_after_idling).
IDLE_PING_SECONDS = 30


def configure_engine(engine) -> None:
    if engine.dialect.name != "sqlite":
        _ping_after_idling(engine)
        return

    @event.listens_for(engine, "connect")
    def _sqlite_connect(dbapi_connection, _record):
        # pysqlite's own transaction handling breaks SAVEPOINTs; let SQLAlchemy emit BEGIN itself.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA busy_timeout=10000")
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _sqlite_begin(connection):
        # IMMEDIATE: a transaction that reads and then writes would otherwise fail at once ("database is locked")
        # whenever another process committed in between — the demo's web server, worker and billing run share the
        # file. Taking the write lock up front makes them queue (busy_timeout) instead.
        connection.exec_driver_sql("BEGIN IMMEDIATE")


def _ping_after_idling(engine) -> None:
    """Liveness on checkout, but only for a connection that sat idle. `pool_pre_ping` pings on every checkout: a
    round trip per transaction on the hot paths, for a connection used a moment ago that is almost surely alive.
    One idle longer than IDLE_PING_SECONDS (a quiet night, a database restart, a firewall dropping idle sessions) is
    pinged first, and a dead one is replaced before the request sees it (DisconnectionError makes the pool retry
    with a new connection). A connection that dies while in use fails that one request; SQLAlchemy then
    invalidates the pool's older connections, so the next checkouts reconnect. `pool_recycle` (web/config.py)
    bounds every connection's age."""

    @event.listens_for(engine, "checkin")
    def _idle_from(_dbapi_connection, record):
        record.info["idle_since"] = time.monotonic()

    @event.listens_for(engine, "checkout")
    def _alive(dbapi_connection, record, _proxy):
        idle_since = record.info.pop("idle_since", None)
        if idle_since is None or time.monotonic() - idle_since < IDLE_PING_SECONDS:
            return
        try:
            engine.dialect.do_ping(dbapi_connection)
        except Exception as dead:
            raise exc.DisconnectionError(f"connection dead after idling: {dead}") from dead


# Timeouts (README "Configuration"); seconds.
CONNECT_TIMEOUT = "DATABASE_CONNECT_TIMEOUT"
STATEMENT_TIMEOUT = "DATABASE_STATEMENT_TIMEOUT"
POOL_TIMEOUT = "DATABASE_POOL_TIMEOUT"
TIMEOUT_DEFAULTS = {CONNECT_TIMEOUT: 5, STATEMENT_TIMEOUT: 30, POOL_TIMEOUT: 10}


def timeout_settings(environ=os.environ) -> dict:
    return {name: float(environ.get(name) or default) for name, default in TIMEOUT_DEFAULTS.items()}


def engine_options(config: dict) -> dict:
    """The engine's options with the timeouts that keep an unreachable PostgreSQL from holding a thread: libpq's
    connect timeout, TCP keepalives and a user timeout (a peer that vanished without closing is noticed in about
    half a minute rather than the kernel's two hours), and a bounded wait for a pooled connection. The statement
    timeout is set per web transaction instead (tenants.context.set_statement_timeout), which PgBouncer in
    transaction mode passes through; startup `options` it would refuse or keep on the server connection."""
    options = dict(config.get("SQLALCHEMY_ENGINE_OPTIONS") or {})
    try:
        backend = make_url(config["SQLALCHEMY_DATABASE_URI"]).get_backend_name()
    except Exception:  # noqa: BLE001 - an unusual URI: leave its options alone
        return options
    if backend != "postgresql":
        return options
    connect_timeout = max(1, int(config[CONNECT_TIMEOUT]))
    options.setdefault("pool_timeout", config[POOL_TIMEOUT])
    options["connect_args"] = {"connect_timeout": connect_timeout, "keepalives": 1, "keepalives_idle": 15,
                               "keepalives_interval": 5, "keepalives_count": 3, "tcp_user_timeout": 30000,
                               **options.get("connect_args", {})}
    return options
