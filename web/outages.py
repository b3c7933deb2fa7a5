"""Outages answer 503: a request that finds PostgreSQL or Redis unavailable is told to try again shortly.

A lost connection, a refused or timed-out connect, a statement cut by `statement_timeout` and an exhausted pool all
answer `503` with `Retry-After` and the code `service.unavailable` — as JSON under /api/v1, as a page elsewhere (in
the reader's language, rendered without the database: the page does not load the signed-in person). The log gets
one line when an outage starts (the dependency and the error's class and first line, never a statement or its
parameters) and one when it ends (how many requests it answered with 503), not a traceback per request: an
outage is not a bug. Nothing is kept between requests but the counters, so the app recovers by itself as soon as
the dependency answers again — SQLAlchemy replaces the dead connections, the Redis breaker closes
(workers.connection).
"""
import logging
import threading
import time

import redis
from flask import Flask, render_template, request, session
from flask_babel import force_locale
from sqlalchemy import exc as sa_exc

from tenants.db import db

log = logging.getLogger(__name__)

RETRY_AFTER_SECONDS = 5
# Failures further apart than this belong to two outages.
WINDOW_SECONDS = 30
DATABASE_ERRORS = (sa_exc.OperationalError, sa_exc.InterfaceError, sa_exc.DisconnectionError, sa_exc.TimeoutError)
REDIS_ERRORS = (redis.ConnectionError, redis.TimeoutError)


class Outage:
    def __init__(self, name: str):
        self.name = name
        self._lock = threading.Lock()
        self.started = self.last = 0.0
        self.requests = 0
        self.total = 0  # every request answered 503 for this dependency since the process started

    @property
    def ongoing(self) -> bool:
        return bool(self.started)

    def failed(self, error: Exception) -> None:
        now = time.monotonic()
        with self._lock:
            if self.started and now - self.last > WINDOW_SECONDS:
                self._end(now)
            if not self.started:
                self.started, self.requests = now, 0
                log.error("%s unavailable: %s; answering 503 until it is back (one line per outage)",
                          self.name, summary(error))
            self.requests += 1
            self.total += 1
            self.last = now

    def settle(self) -> None:
        """After a request: an outage with no failure for WINDOW_SECONDS is over."""
        if self.started and time.monotonic() - self.last > WINDOW_SECONDS:
            with self._lock:
                if self.started and time.monotonic() - self.last > WINDOW_SECONDS:
                    self._end(time.monotonic())

    def _end(self, now: float) -> None:
        log.warning("%s outage over: %d request(s) answered 503 in %.0f s", self.name, self.requests,
                    self.last - self.started)
        self.started = 0.0


database = Outage("PostgreSQL")
redis_outage = Outage("Redis")


def summary(error: Exception) -> str:
    """The error's class and first line; for a database error the driver's, never SQLAlchemy's rendering of the
    statement and its parameters (they may hold personal data)."""
    original = getattr(error, "orig", None) or error
    text = str(original).strip().splitlines()
    return f"{type(original).__name__}: {text[0][:300]}" if text else type(original).__name__


def _locale() -> str:
    """The reader's language without the database (the person's own setting needs it)."""
    lang = session.get("lang")
    if lang:
        return lang
    best = request.accept_languages.best_match(["en", "zh_CN", "zh", "zh-CN", "zh-Hans"])
    return "zh_CN" if best and best.startswith("zh") else "en"


def unavailable_response(code: str = "service.unavailable", message: str | None = None, details: dict | None = None):
    from web.errors import error_response, wants_json

    if wants_json():
        response = error_response(503, code, message, details)
    else:
        from web.domain_messages import describe

        with force_locale(_locale()):
            page = render_template("outage.html", code=code, status=503, retry_after=RETRY_AFTER_SECONDS,
                                   message=describe(code, {}, None))
        response = (page, 503)
    from flask import make_response

    response = make_response(response)
    response.headers["Retry-After"] = str(RETRY_AFTER_SECONDS)
    response.headers["Cache-Control"] = "no-store"
    return response


def _rollback() -> None:
    try:
        db.session.rollback()
    except Exception:  # noqa: BLE001 - the connection is already gone; the pool replaces it
        pass


def render_database_outage(error: Exception):
    database.failed(error)
    _rollback()
    return unavailable_response()


def render_redis_outage(error: Exception):
    redis_outage.failed(error)
    _rollback()
    return unavailable_response()


def init_app(app: Flask) -> None:
    for error in DATABASE_ERRORS:
        app.register_error_handler(error, render_database_outage)
    for error in REDIS_ERRORS:
        app.register_error_handler(error, render_redis_outage)

    @app.after_request
    def _settle(response):
        database.settle()
        redis_outage.settle()
        return response
