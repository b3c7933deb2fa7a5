"""The process's Redis connection: REDIS_URL when set, else an embedded server under the instance folder."""
import atexit

import redis

from workers.embedded import EmbeddedRedis

_settings = {"url": None, "embedded_dir": None}
_connection: redis.Redis | None = None
_embedded: EmbeddedRedis | None = None


def configure(url: str | None, embedded_dir: str) -> None:
    global _connection
    if (url, embedded_dir) != (_settings["url"], _settings["embedded_dir"]):
        _settings.update(url=url, embedded_dir=embedded_dir)
        _connection = None


def connection() -> redis.Redis:
    global _connection, _embedded
    if _connection is None:
        url = _settings["url"]
        if not url:
            if _embedded is None:
                _embedded = EmbeddedRedis(_settings["embedded_dir"] or "instance/redis").start()
                atexit.register(_embedded.stop)
            url = _embedded.url
        _connection = redis.Redis.from_url(url)
    return _connection
