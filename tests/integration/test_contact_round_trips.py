"""An allowed contact attempt through the API costs a handful of round trips to PostgreSQL (issue 12: the
decision's time goes to deciding, not to waiting on the network). A regression guard on the count, not a timer."""
from datetime import datetime, timezone

import pytest

from tenants import clock
from tenants.db import db
from tests.conftest import FreshContextClient
from tests.round_trips import counting_round_trips

pytestmark = pytest.mark.postgres

SHANGHAI_10AM = datetime(2026, 12, 1, 2, 0, tzinfo=timezone.utc)
# BEGIN; the token read and its tenant entered in one call (app_enter_bearer); the account with its lender, active
# placement and consent in one read; the person's history (and lock) with, read after that lock in the same
# statement, the account's phones and open holds; the ledger entry, attempt, audit event and the webhook events for
# the agency and the lender in one statement; COMMIT. Issue 12's bound is 8.
MOST_ROUND_TRIPS = 6


@pytest.fixture
def dialer_committed(app):
    """An agency's collector token and an account placed with the agency, committed as a real request finds them."""
    from tests.factories import Factory

    with app.app_context():
        factory = Factory(db.session)
        _, agency, account = factory.placed_account(subject_key=f"round-trips-{datetime.now().timestamp()}",
                                                    time_zones=["Asia/Shanghai"])
        _, secret = factory.token(agency, "agency_collector")
        account_id = account.id
        db.session.commit()
        db.session.remove()
    return account_id, {"Authorization": f"Bearer {secret}"}


@pytest.fixture
def shanghai_morning():
    previous = clock.use(clock.FrozenClock(SHANGHAI_10AM))
    yield
    clock.use(previous)


def test_an_allowed_attempt_takes_few_round_trips(app, dialer_committed, shanghai_morning):
    account_id, headers = dialer_committed
    client = FreshContextClient(app, app.response_class)
    path = f"/api/v1/accounts/{account_id}/contact-attempts"
    client.post(path, json={"channel": "letter"}, headers=headers)  # connections and caches warm, as in service
    with app.app_context():
        engine = db.engine
    with counting_round_trips(engine) as trips:
        made = client.post(path, json={"channel": "call"}, headers=headers)
    assert made.status_code == 201, made.json
    assert made.json["decision"]["outcome"] == "allow", made.json
    assert trips.total <= MOST_ROUND_TRIPS, trips.report()


def test_connections_that_died_while_idle_are_replaced_before_a_request_uses_them(app, app_engine,
                                                                                  dialer_committed, monkeypatch):
    """No ping per checkout, but a pooled connection that sat idle is pinged first: a dead one never fails a
    request (here the database ended every pooled backend while they idled)."""
    from sqlalchemy import text

    from web import database

    _, headers = dialer_committed
    client = FreshContextClient(app, app.response_class)
    assert client.get("/api/v1/me", headers=headers).status_code == 200  # the pool holds a connection
    with app_engine.connect() as killer, killer.begin():  # the app role may end its own backends
        ended = killer.execute(text(
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE datname = current_database() "
            "AND usename = current_user AND pid <> pg_backend_pid()")).scalar()
    assert ended >= 1
    monkeypatch.setattr(database, "IDLE_PING_SECONDS", 0)
    try:
        response = client.get("/api/v1/me", headers=headers)
    finally:
        with app.app_context():
            db.engine.dispose()  # the tests after this one start without a ping: hand them live connections
    assert response.status_code == 200, response.json
