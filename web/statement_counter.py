"""Round trips to PostgreSQL per kind of request, counted inside a served app for bench/contact_bench.py. Off unless
RECOVERLY_ROUND_TRIP_COUNTS names a folder: production never installs it.

What counts as one round trip is what psycopg sends and then waits for: each statement (an executemany is one
pipeline), the BEGIN psycopg sends on its own before a transaction's first statement, a COMMIT or ROLLBACK of a
transaction the server has open (psycopg sends none for an idle one), and the pool's liveness ping on checkout.
New connections are counted apart (`connects`: a handshake is several round trips, and a pool should make them
rare). Work done on a raw DBAPI cursor the app opens itself would go uncounted; the app has none on the API paths.

Each process keeps totals per "METHOD url-rule status" and writes them to <folder>/<pid>.json at most every quarter
second (and at exit), so a reader that waits half a second after the load stops sees every request.
"""
import atexit
import json
import os
import threading
import time
from collections import defaultdict

from flask import request
from psycopg.pq import TransactionStatus
from sqlalchemy import event

ENVIRONMENT_VARIABLE = "RECOVERLY_ROUND_TRIP_COUNTS"
WRITE_EVERY_SECONDS = 0.25

_current = threading.local()  # the request this thread serves (gthread: one at a time per thread)


class _Request:
    __slots__ = ("round_trips", "connects", "rule")

    def __init__(self):
        self.round_trips = 0
        self.connects = 0
        self.rule = "<unmatched>"


def _request() -> _Request | None:
    return getattr(_current, "request", None)


def _transaction_open(dbapi_connection) -> bool:
    return dbapi_connection.info.transaction_status != TransactionStatus.IDLE


def _begins_first(dbapi_connection) -> bool:
    """psycopg sends BEGIN before a statement outside a transaction, unless in autocommit."""
    return not dbapi_connection.autocommit and not _transaction_open(dbapi_connection)


def _count_statement(dbapi_connection) -> None:
    counting = _request()
    if counting is not None:
        counting.round_trips += 2 if _begins_first(dbapi_connection) else 1


def _count_transaction_end(dbapi_connection) -> None:
    counting = _request()
    if counting is not None and _transaction_open(dbapi_connection):
        counting.round_trips += 1


def _count_connect(*_args) -> None:
    counting = _request()
    if counting is not None:
        counting.connects += 1


class Totals:
    """One process's counts per kind of request, written to its own file."""

    def __init__(self, folder: str):
        self.path = os.path.join(folder, f"{os.getpid()}.json")
        self.lock = threading.Lock()
        self.by_kind = defaultdict(lambda: {"requests": 0, "round_trips": 0, "connects": 0})
        self.changed = False

    def add(self, kind: str, counted: _Request) -> None:
        with self.lock:
            row = self.by_kind[kind]
            row["requests"] += 1
            row["round_trips"] += counted.round_trips
            row["connects"] += counted.connects
            self.changed = True

    def write(self) -> None:
        with self.lock:
            if not self.changed:
                return
            payload = json.dumps({"pid": os.getpid(), "by_kind": self.by_kind})
            self.changed = False
        temporary = f"{self.path}.tmp"
        with open(temporary, "w") as out:
            out.write(payload)
        os.replace(temporary, self.path)


class _Writer:
    """Starts the writing thread in the process that serves (after gunicorn's fork, not in the master)."""

    def __init__(self, folder: str):
        self.folder = folder
        self.pid, self.totals = None, None
        self.lock = threading.Lock()

    def for_this_process(self) -> Totals:
        with self.lock:
            if self.pid != os.getpid():
                self.pid, self.totals = os.getpid(), Totals(self.folder)
                threading.Thread(target=self._keep_writing, args=(self.totals,), daemon=True,
                                 name="round-trip-counts").start()
                atexit.register(self.totals.write)
            return self.totals

    @staticmethod
    def _keep_writing(totals: Totals) -> None:
        while True:
            time.sleep(WRITE_EVERY_SECONDS)
            totals.write()


class _CountingMiddleware:
    """Around the whole WSGI call, so the app context's teardown (the session's closing ROLLBACK) counts too."""

    def __init__(self, wsgi_app, writer: _Writer):
        self.wsgi_app, self.writer = wsgi_app, writer

    def __call__(self, environ, start_response):
        counted, status = _Request(), []

        def recording_start_response(line, headers, exc_info=None):
            status.append(line.split(" ", 1)[0])
            return start_response(line, headers, exc_info)

        _current.request = counted
        try:
            return self.wsgi_app(environ, recording_start_response)
        finally:
            _current.request = None
            kind = f"{environ['REQUEST_METHOD']} {counted.rule} {status[0] if status else '-'}"
            self.writer.for_this_process().add(kind, counted)


def _remember_rule(_endpoint, _values) -> None:
    """Flask runs URL value preprocessors first on every request, matched or not, before any before_request hook
    can refuse it."""
    counting = _request()
    if counting is not None and request.url_rule is not None:
        counting.rule = request.url_rule.rule


def install(app, engine, folder: str) -> None:
    """Counts `engine`'s round trips per request of `app`, written under `folder`."""
    os.makedirs(folder, exist_ok=True)
    event.listen(engine, "before_cursor_execute",
                 lambda conn, *_: _count_statement(conn.connection.dbapi_connection))
    for name in ("commit", "rollback"):
        event.listen(engine, name, lambda conn: _count_transaction_end(conn.connection.dbapi_connection))
    event.listen(engine.pool, "reset", lambda dbapi_connection, *_: _count_transaction_end(dbapi_connection))
    event.listen(engine.pool, "connect", _count_connect)
    ping = engine.dialect.do_ping

    def counted_ping(dbapi_connection):
        # The pool pings through the dialect on a raw cursor, which no engine event sees.
        _count_statement(dbapi_connection)
        return ping(dbapi_connection)

    engine.dialect.do_ping = counted_ping
    app.url_value_preprocessor(_remember_rule)
    app.wsgi_app = _CountingMiddleware(app.wsgi_app, _Writer(folder))


def install_if_enabled(app, engine) -> None:
    folder = os.environ.get(ENVIRONMENT_VARIABLE)
    if folder and engine.dialect.driver == "psycopg":
        install(app, engine, folder)
