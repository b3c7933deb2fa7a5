"""The contact bench's round-trip counter (web/statement_counter.py): off unless asked for; when on, each kind of
request is named by its URL rule and status and charged what it sent PostgreSQL."""
import json
import os

import pytest

from tenants.db import db
from tests.conftest import DATABASE_URL, FreshContextClient
from web import statement_counter

pytestmark = pytest.mark.postgres


@pytest.fixture
def counted_app(app, redis_url, tmp_path, monkeypatch):
    """A second app on its own engine with the counter on, as the bench serves it."""
    from web import create_app

    monkeypatch.setenv(statement_counter.ENVIRONMENT_VARIABLE, str(tmp_path))
    served = create_app({"SQLALCHEMY_DATABASE_URI": DATABASE_URL, "REDIS_URL": redis_url, "TESTING": True})
    yield served, tmp_path
    with served.app_context():
        db.engine.dispose()


@pytest.fixture
def token_committed(app):
    from tests.factories import Factory

    with app.app_context():
        factory = Factory(db.session)
        _, secret = factory.token(factory.tenant())
        db.session.commit()
        db.session.remove()
    return {"Authorization": f"Bearer {secret}"}


def _written(folder) -> dict:
    path = folder / f"{os.getpid()}.json"
    return json.loads(path.read_text())["by_kind"]


def test_counts_round_trips_per_kind_of_request(counted_app, token_committed):
    app, folder = counted_app
    client = FreshContextClient(app, app.response_class)
    assert client.get("/api/v1/me", headers=token_committed).status_code == 200
    assert client.get("/api/v1/me", headers=token_committed).status_code == 200
    assert client.get("/healthz").status_code == 200
    assert client.get("/no-such-page").status_code == 404
    app.wsgi_app.writer.for_this_process().write()
    counts = _written(folder)
    me = counts["GET /api/v1/me 200"]
    assert me["requests"] == 2
    assert me["round_trips"] >= 2 * 3, "at least BEGIN, the token's lookup and the transaction's end, each time"
    assert me["connects"] == 1, "the pool keeps the first request's connection"
    assert counts["GET /healthz 200"] == {"requests": 1, "round_trips": 0, "connects": 0}
    assert counts["GET <unmatched> 404"]["requests"] == 1


def test_off_unless_asked_for(app):
    assert not isinstance(app.wsgi_app, statement_counter._CountingMiddleware)
