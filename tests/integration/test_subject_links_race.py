"""A merge of two subjects racing contact attempts: an attempt that read the merged-away key before the merge
committed waits for it, then decides on the joined history — never on the emptied one — so the daily cap holds."""
import threading
import time
import uuid
from datetime import datetime, timezone

import pytest
from sqlalchemy import select, text

from tenants import clock
from tenants.conduct import service, subjects
from tenants.conduct.models import ContactAttempt
from tenants.conduct.service import AttemptRequest, ConductBlocked
from tenants.context import tenant_scope
from tenants.db import db

pytestmark = pytest.mark.postgres

CALLERS = 6


@pytest.fixture
def two_people_about_to_be_joined(app):
    """Lender A knows the person by ID and one phone and its agency has made the day's three calls; lender B knows
    them by another phone only, so far a different subject. Committed: the race needs several connections."""
    from tests.factories import Factory

    previous = clock.use(clock.FrozenClock(datetime(2026, 12, 1, 2, 0, tzinfo=timezone.utc)))
    run = uuid.uuid4().hex
    id_key, phone_a, phone_b = f"id-{run}", f"phone-a-{run}", f"phone-b-{run}"
    cases = []
    with app.app_context():
        factory = Factory(db.session)
        for identifiers in ([id_key, phone_a], [phone_b]):
            account_id = uuid.uuid4()
            subject = subjects.link({account_id: identifiers})[account_id]
            _, agency, account = factory.placed_account(channels=("call", "sms"), id=account_id, subject_key=subject,
                                                        time_zones=["Asia/Shanghai"])
            cases.append((agency.id, account.id))
        db.session.commit()
        (agency_a, account_a), _ = cases
        for _ in range(3):
            with tenant_scope(agency_a):
                service.attempt(account_a, AttemptRequest(channel="call"), collector_user_id=None)
        db.session.remove()
    yield cases, [id_key, phone_b]
    clock.use(previous)


def test_calls_waiting_on_a_merge_count_the_joined_history(app, app_engine, two_people_about_to_be_joined):
    (_, account_a), (agency_b, account_b) = two_people_about_to_be_joined[0]
    joining_file = two_people_about_to_be_joined[1]
    merged, commit_merge, outcomes = threading.Event(), threading.Event(), []

    def merge():
        with app.app_context():
            try:
                subjects.link({uuid.uuid4(): joining_file})  # holds both persons' locks until the commit
                merged.set()
                commit_merge.wait(30)
                db.session.commit()
            finally:
                db.session.remove()

    def caller():
        with app.app_context(), tenant_scope(agency_b):
            try:
                service.attempt(account_b, AttemptRequest(channel="call"), collector_user_id=None)
                outcomes.append("allowed")
            except ConductBlocked as refused:
                outcomes.append(refused.code)
            finally:
                db.session.remove()

    merging = threading.Thread(target=merge)
    merging.start()
    assert merged.wait(30)
    callers = [threading.Thread(target=caller) for _ in range(CALLERS)]
    for thread in callers:
        thread.start()
    _wait_for_lock_waiters(app_engine, CALLERS)
    commit_merge.set()
    for thread in (merging, *callers):
        thread.join(timeout=60)
    assert outcomes == ["conduct.cn.calls.connected"] * CALLERS, "three calls today already, made by agency A"

    with app.app_context():
        subjects_now = set()
        for agency_id, account_id in two_people_about_to_be_joined[0]:
            with tenant_scope(agency_id):
                subjects_now.add(db.session.scalar(text("SELECT subject_key FROM accounts WHERE id = :id"),
                                                   {"id": account_id}))
                pending = db.session.scalars(select(ContactAttempt).where(ContactAttempt.account_id == account_id,
                                                                          ContactAttempt.status == "pending")).all()
                assert len(pending) == (3 if account_id == account_a else 0)
        db.session.remove()
    assert len(subjects_now) == 1


def _wait_for_lock_waiters(engine, count: int) -> None:
    """Until `count` transactions wait for an advisory lock (the persons' locks the merge holds)."""
    deadline = time.monotonic() + 30
    with engine.connect() as connection:
        while time.monotonic() < deadline:
            waiting = connection.execute(text("SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' "
                                              "AND NOT granted")).scalar()
            connection.rollback()
            if waiting >= count:
                return
            time.sleep(0.05)
    raise AssertionError("the calls never queued behind the merge")
