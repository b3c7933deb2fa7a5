"""Check and record are one atomic step per person: concurrent calls from two agencies never exceed the cap."""
import threading
from datetime import datetime, timezone

import pytest
from sqlalchemy import select

from tenants import clock
from tenants.conduct import service
from tenants.conduct.models import ContactAttempt
from tenants.conduct.service import AttemptRequest, ConductBlocked
from tenants.context import tenant_scope
from tenants.db import db

pytestmark = pytest.mark.postgres


@pytest.fixture
def shared_person_committed(app):
    from tests.factories import Factory

    previous = clock.use(clock.FrozenClock(datetime(2026, 12, 1, 2, 0, tzinfo=timezone.utc)))
    subject = f"race-person-{id(app)}-{datetime.now().timestamp()}"
    cases = []
    with app.app_context():
        factory = Factory(db.session)
        for _ in range(2):
            _, agency, account = factory.placed_account(channels=("call", "sms"), subject_key=subject,
                                                        time_zones=["Asia/Shanghai"])
            cases.append((agency.id, account.id))
        db.session.commit()
        db.session.remove()
    yield cases
    clock.use(previous)


def _call(app, agency_id, account_id) -> str:
    """The agency asks to call: 'allowed', or the refusal's code."""
    with app.app_context(), tenant_scope(agency_id):
        try:
            service.attempt(account_id, AttemptRequest(channel="call"), collector_user_id=None)
            return "allowed"
        except ConductBlocked as refused:
            return refused.code
        finally:
            db.session.remove()


def test_concurrent_calls_from_two_agencies_never_exceed_three_per_day(app, shared_person_committed):
    outcomes, barrier = [], threading.Barrier(12)

    def caller(agency_id, account_id):
        with app.app_context(), tenant_scope(agency_id):
            barrier.wait()
            try:
                service.attempt(account_id, AttemptRequest(channel="call"), collector_user_id=None)
                outcomes.append("allowed")
            except ConductBlocked:
                outcomes.append("blocked")
            finally:
                db.session.remove()

    threads = [threading.Thread(target=caller, args=shared_person_committed[i % 2]) for i in range(12)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert sorted(outcomes) == ["allowed"] * 3 + ["blocked"] * 9
    with app.app_context():
        allowed = 0
        for agency_id, _ in shared_person_committed:
            with tenant_scope(agency_id):
                allowed += len(db.session.scalars(select(ContactAttempt).where(
                    ContactAttempt.status == "pending")).all())
        db.session.remove()
    assert allowed == 3


def test_the_app_role_cannot_read_the_ledger_directly(app, shared_person_committed):
    from sqlalchemy import text

    with app.app_context():
        assert db.session.execute(text("SELECT count(*) FROM conduct_ledger")).scalar() == 0
        db.session.remove()


def test_an_attempt_waiting_for_the_persons_lock_counts_what_was_recorded_meanwhile(app, shared_person_committed,
                                                                                    monkeypatch):
    """Agency A asks while agency B holds the person's lock and records the third call a moment later: A's
    decision, taken once it has the lock, must count B's call (its 'now' is read after the lock, never before)."""
    from datetime import timedelta

    from tenants.conduct import ledger

    (a_agency, a_account), (b_agency, b_account) = shared_person_committed
    for agency_id, account_id in ((a_agency, a_account), (b_agency, b_account)):
        with app.app_context(), tenant_scope(agency_id):
            record, _ = service.attempt(account_id, AttemptRequest(channel="call"), collector_user_id=None)
            db.session.remove()
    original, waiting, go_on, caller = ledger.person_and_account, threading.Event(), threading.Event(), {}

    def person(subject_key, now, **kwargs):
        if threading.get_ident() == caller.get("a"):
            waiting.set()
            go_on.wait(30)
        return original(subject_key, now, **kwargs)

    monkeypatch.setattr(ledger, "person_and_account", person)
    answers = {}

    def agency_a():
        caller["a"] = threading.get_ident()
        answers["a"] = _call(app, a_agency, a_account)

    thread = threading.Thread(target=agency_a)
    thread.start()
    assert waiting.wait(30)
    clock.current_clock().advance(timedelta(seconds=1))
    with app.app_context(), tenant_scope(b_agency):
        service.attempt(b_account, AttemptRequest(channel="call"), collector_user_id=None)  # the third
        db.session.remove()
    go_on.set()
    thread.join(60)
    assert answers["a"] == "conduct.cn.calls.connected"


def test_a_hold_opened_while_an_attempt_waits_for_the_persons_lock_stops_that_attempt(app, shared_person_committed):
    """The lender opens a dispute on the account, holding the person's lock, while agency A asks to call: A's
    decision waits for the lock and must see the dispute. Its phones and holds come in the statement that takes the
    lock, read after it — a statement's snapshot taken before the wait would miss the hold and allow the call."""
    from sqlalchemy import text

    from tenants.portfolios.models import Account
    from tests.integration.test_subject_links_race import _wait_for_lock_waiters

    (a_agency, a_account), _ = shared_person_committed
    with app.app_context(), tenant_scope(a_agency):
        lender_id = db.session.get(Account, a_account).tenant_id
        db.session.remove()
    answers = {}

    def agency_a():
        answers["a"] = _call(app, a_agency, a_account)

    with app.app_context():
        with tenant_scope(lender_id):
            service.open_hold(a_account, "dispute", reason="The debtor disputes the amount.", source="api")
            thread = threading.Thread(target=agency_a)
            thread.start()
            _wait_for_lock_waiters(db.engine, 1)
            db.session.commit()
        thread.join(60)
        with db.engine.connect() as connection:
            assert connection.execute(text("SELECT count(*) FROM pg_locks WHERE NOT granted")).scalar() == 0
        db.session.remove()
    assert answers["a"] == "conduct.hold.dispute"
