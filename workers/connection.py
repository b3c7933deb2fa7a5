"""The process's Redis connection: REDIS_URL when set, else an embedded server under the instance folder.

Every client built here has socket and connect timeouts (REDIS_SOCKET_TIMEOUT, REDIS_CONNECT_TIMEOUT; README,
"Configuration"), so a Redis that accepts connections but never answers holds a web thread at most that long. After
a command fails for want of Redis, the process stops asking for `REDIS_RETRY_AFTER` seconds (a circuit breaker):
the next commands fail at once instead of each waiting out its timeout, and one line is logged per outage rather
than one per command. The worker's own blocking connection (BLPOP) is separate and has neither (workers.worker).
"""
import atexit
import logging
import os
import threading
import time

import redis
from redis.backoff import NoBackoff
from redis.connection import Connection, SSLConnection, UnixDomainSocketConnection
from redis.retry import Retry

from workers.embedded import EmbeddedRedis

log = logging.getLogger(__name__)

# Seconds; documented in README "Configuration".
SOCKET_TIMEOUT = float(os.environ.get("REDIS_SOCKET_TIMEOUT") or 2.0)
CONNECT_TIMEOUT = float(os.environ.get("REDIS_CONNECT_TIMEOUT") or 1.0)
RETRY_AFTER = float(os.environ.get("REDIS_RETRY_AFTER") or 5.0)

_settings = {"url": None, "embedded_dir": None}
_connection: redis.Redis | None = None
_embedded: EmbeddedRedis | None = None


class RedisUnavailable(redis.ConnectionError):
    """Raised without a round trip while the breaker is open."""


class _Breaker:
    """Per process: open after a connection error or timeout, half-open after RETRY_AFTER (one command tries)."""

    def __init__(self):
        self._lock = threading.Lock()
        self.open_until = 0.0
        self.down_since: float | None = None
        self.failures = 0

    def check(self) -> None:
        if self.open_until and time.monotonic() < self.open_until:
            raise RedisUnavailable(f"Redis is unavailable (retrying within {RETRY_AFTER:g} s)")

    def failed(self, error: Exception) -> None:
        with self._lock:
            self.open_until = time.monotonic() + RETRY_AFTER
            self.failures += 1
            if self.down_since is None:
                self.down_since = time.monotonic()
                log.error("Redis unavailable: %s: %s (commands fail fast for %g s at a time until it answers)",
                          type(error).__name__, str(error).splitlines()[0] if str(error) else "", RETRY_AFTER)

    def succeeded(self) -> None:
        if self.down_since is None:
            return
        with self._lock:
            if self.down_since is not None:
                log.warning("Redis is back after %.0f s (%d failed attempts)", time.monotonic() - self.down_since,
                            self.failures)
            self.down_since, self.open_until, self.failures = None, 0.0, 0

    @property
    def is_open(self) -> bool:
        return bool(self.open_until) and time.monotonic() < self.open_until

    def reset(self) -> None:
        self.open_until, self.down_since, self.failures = 0.0, None, 0


breaker = _Breaker()
_FAILURES = (redis.ConnectionError, redis.TimeoutError, OSError)


class _Guarded:
    """Mixed into redis-py's connection classes: every command and pipeline goes through send_packed_command and
    read_response. A refused or timed-out connect and a timed-out answer open the breaker; an error on a pooled
    connection that Redis closed (a restart) does not: the command's one retry reconnects."""

    def send_packed_command(self, command, check_health=True):
        breaker.check()
        try:
            return super().send_packed_command(command, check_health)
        except redis.TimeoutError as error:
            breaker.failed(error)
            raise

    def connect_check_health(self, *args, **kwargs):
        breaker.check()
        try:
            return super().connect_check_health(*args, **kwargs)
        except RedisUnavailable:
            raise
        except _FAILURES as error:
            breaker.failed(error)
            raise

    def read_response(self, *args, **kwargs):
        try:
            response = super().read_response(*args, **kwargs)
        except redis.TimeoutError as error:
            breaker.failed(error)
            raise
        breaker.succeeded()
        return response


class GuardedConnection(_Guarded, Connection):
    pass


class GuardedUnixConnection(_Guarded, UnixDomainSocketConnection):
    pass


class GuardedSSLConnection(_Guarded, SSLConnection):
    pass


def _connection_class(url: str):
    if url.startswith("unix://"):
        return GuardedUnixConnection
    if url.startswith("rediss://"):
        return GuardedSSLConnection
    return GuardedConnection


def timeouts() -> dict:
    """Keyword arguments for any Redis client of the app (the rate limiter's too)."""
    return {"socket_timeout": SOCKET_TIMEOUT, "socket_connect_timeout": CONNECT_TIMEOUT, "retry_on_timeout": False,
            "retry": Retry(NoBackoff(), 1), "health_check_interval": 30}


def configure(url: str | None, embedded_dir: str) -> None:
    global _connection
    if (url, embedded_dir) != (_settings["url"], _settings["embedded_dir"]):
        _settings.update(url=url, embedded_dir=embedded_dir)
        _connection = None


def url() -> str:
    """The Redis URL in use, starting the embedded server when there is none."""
    global _embedded
    found = _settings["url"]
    if not found:
        if _embedded is None:
            _embedded = EmbeddedRedis(_settings["embedded_dir"] or "instance/redis").start()
            atexit.register(_embedded.stop)
        found = _embedded.url
    return found


def pool(for_url: str) -> redis.ConnectionPool:
    return redis.ConnectionPool.from_url(for_url, connection_class=_connection_class(for_url), **timeouts())


def connection() -> redis.Redis:
    global _connection
    if _connection is None:
        _connection = redis.Redis(connection_pool=pool(url()))
    return _connection


def blocking_connection() -> redis.Redis:
    """For the rq worker itself: no breaker (its loop waits and retries by itself) and rq sets its own socket
    timeout above its blocking dequeue's."""
    return redis.Redis.from_url(url(), socket_connect_timeout=CONNECT_TIMEOUT, health_check_interval=30)
