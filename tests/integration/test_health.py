"""GET /healthz: the balancer's probe and the contact bench's no-I/O floor. It must answer while PostgreSQL or
Redis is down, so it must not touch them; and it must hand a prober nothing (no cookie, no session, no details)."""
from contextlib import contextmanager

import pytest
from redis.connection import Connection as RedisConnection
from sqlalchemy import event

from tenants.db import db
from tests.conftest import FreshContextClient
from tests.factories import login


@contextmanager
def counting_io(app, monkeypatch):
    """Statements and pool checkouts of the app's engine, and commands sent to any Redis, inside the block."""
    seen = {"statements": 0, "checkouts": 0, "redis_commands": 0}

    def statement(*_args):
        seen["statements"] += 1

    def checkout(*_args):
        seen["checkouts"] += 1

    send = RedisConnection.send_packed_command

    def redis_command(self, *args, **kwargs):
        seen["redis_commands"] += 1
        return send(self, *args, **kwargs)

    with app.app_context():
        engine = db.engine.engine  # under the `client` fixture db.engine is the test transaction's connection
    monkeypatch.setattr(RedisConnection, "send_packed_command", redis_command)
    event.listen(engine, "before_cursor_execute", statement)
    event.listen(engine.pool, "checkout", checkout)
    try:
        yield seen
    finally:
        event.remove(engine, "before_cursor_execute", statement)
        event.remove(engine.pool, "checkout", checkout)


@pytest.mark.parametrize("headers", [{}, {"Authorization": "Bearer not-a-token"}], ids=["anonymous", "bad token"])
def test_healthz_answers_without_touching_the_database_or_redis(app, monkeypatch, headers):
    client = FreshContextClient(app, app.response_class)
    with counting_io(app, monkeypatch) as seen:
        answer = client.get("/healthz", headers=headers)
    assert answer.status_code == 200
    assert answer.json == {"status": "ok"}
    assert seen == {"statements": 0, "checkouts": 0, "redis_commands": 0}
    assert "Set-Cookie" not in answer.headers
    assert answer.headers["Cache-Control"] == "no-store"


def test_healthz_loads_no_session_user_and_sets_no_cookie(app, client, factory, monkeypatch):
    tenant = factory.tenant()
    user, _membership = factory.user(tenant)
    assert login(client, user.email).status_code in (200, 302)
    with counting_io(app, monkeypatch) as seen:
        answer = client.get("/healthz")
    assert answer.json == {"status": "ok"}
    assert seen["statements"] == 0, "the session's user is not loaded"
    assert seen["redis_commands"] == 0, "no rate limit counts the probe"
    assert "Set-Cookie" not in answer.headers


def test_healthz_never_hits_a_rate_limit(app, monkeypatch):
    """However often the balancers probe, no limit is reached, even with the tightest limits configured."""
    client = FreshContextClient(app, app.response_class)
    for setting in ("RATE_LIMIT_API", "RATE_LIMIT_UPLOADS", "RATE_LIMIT_LOGIN_ADDRESS"):
        monkeypatch.setitem(app.config, setting, "1 per hour")
    answers = {client.get("/healthz").status_code for _ in range(5)}
    assert answers == {200}
