"""Contacts decided and recorded against the platform-wide ledger: one daily count per person across agencies,
night hours in the debtor's zone, disputes that stop collection, blocked attempts kept for compliance."""
from datetime import datetime, timedelta, timezone

import pytest
from sqlalchemy import func, select

from tenants.conduct import service
from tenants.conduct.models import ContactAttempt
from tenants.conduct.service import AttemptRequest, ConductBlocked
from tenants.context import tenant_scope
from tenants.errors import NotFound, ValidationFailed

SHANGHAI_10AM = datetime(2026, 12, 1, 2, 0, tzinfo=timezone.utc)


@pytest.fixture
def shared_debtor(factory, db_session, frozen_clock):
    """One person with loans at two lenders, each placed with a different agency."""
    frozen_clock.set(SHANGHAI_10AM)
    debtor = dict(subject_key="person-zhang-san", time_zones=["Asia/Shanghai"])
    cases = []
    for _ in range(2):
        _, agency, account = factory.placed_account(**debtor)
        cases.append((agency, account))
    return cases


def call(agency, account, outcome="right_party_contact"):
    with tenant_scope(agency.id):
        record, decision = service.attempt(account.id, AttemptRequest(channel="call"), collector_user_id=None)
        if outcome:
            service.record_outcome(record.id, outcome)
        return record, decision


def test_the_fourth_connected_call_of_the_day_is_refused_across_agencies(db_session, shared_debtor, frozen_clock):
    """GB/T 45251-2025: at most 3 connected collection calls per day per debtor, across lender and agencies."""
    (agency_a, account_a), (agency_b, account_b) = shared_debtor
    call(agency_a, account_a)
    call(agency_b, account_b)
    call(agency_a, account_a)
    with pytest.raises(ConductBlocked) as refused:
        call(agency_b, account_b, outcome=None)
    assert refused.value.code == "conduct.cn.calls.connected"
    assert refused.value.details["earliest_allowed_at"].startswith("2026-12-02T00:00")  # 08:00 Shanghai
    with tenant_scope(agency_b.id):
        statuses = [a.status for a in db_session.scalars(select(ContactAttempt).order_by(ContactAttempt.decided_at))]
    assert statuses == ["completed", "blocked"], "the refusal is recorded for compliance"


def test_a_call_at_2130_debtor_time_is_refused_until_8_in_the_morning(db_session, shared_debtor, frozen_clock):
    """GB/T 45251-2025 / CBA 2026: no collection calls 22:00–08:00; the platform's window is 08:00–22:00 local."""
    (agency, account), _ = shared_debtor
    frozen_clock.set(datetime(2026, 12, 1, 14, 30, tzinfo=timezone.utc))  # 22:30 Shanghai
    with pytest.raises(ConductBlocked) as refused:
        call(agency, account, outcome=None)
    assert refused.value.code == "conduct.cn.hours"
    assert refused.value.details["earliest_allowed_at"].startswith("2026-12-02T00:00")


def test_a_dispute_raised_on_a_call_stops_collection_until_resolved(db_session, shared_debtor):
    """A dispute holds collection (CONDUCT_RULES: holds; Reg F §1006.34/.38; CONC 7.14)."""
    (agency, account), _ = shared_debtor
    call(agency, account, outcome="dispute_raised")
    with pytest.raises(ConductBlocked) as refused:
        call(agency, account, outcome=None)
    assert refused.value.details["earliest_allowed_at"] is None, "a dispute is not waited out"


def test_an_agency_without_the_placement_cannot_contact_and_channels_follow_the_terms(db_session, shared_debtor):
    (agency_a, account_a), (agency_b, _) = shared_debtor
    with tenant_scope(agency_b.id), pytest.raises(NotFound):
        service.attempt(account_a.id, AttemptRequest(channel="call"), collector_user_id=None)
    with tenant_scope(agency_a.id), pytest.raises(ValidationFailed) as exc:
        service.attempt(account_a.id, AttemptRequest(channel="visit"), collector_user_id=None)
    assert exc.value.code == "placement.channel_not_allowed"


def test_next_permitted_time_per_channel(db_session, shared_debtor, frozen_clock):
    (agency, account), _ = shared_debtor
    for _ in range(3):
        call(agency, account)
    with tenant_scope(agency.id):
        times = service.next_permitted(account.id)
    assert times["call"] == datetime(2026, 12, 2, 0, 0, tzinfo=timezone.utc)
    assert times["sms"] == SHANGHAI_10AM


def test_the_same_idempotency_key_records_one_attempt(db_session, shared_debtor):
    (agency, account), _ = shared_debtor
    with tenant_scope(agency.id):
        first, _ = service.attempt(account.id, AttemptRequest(channel="sms"), collector_user_id=None,
                                   idempotency_key="k1")
        again, _ = service.attempt(account.id, AttemptRequest(channel="sms"), collector_user_id=None,
                                   idempotency_key="k1")
        assert first.id == again.id
        assert db_session.scalar(select(func.count()).select_from(ContactAttempt)) == 1


def test_an_inbound_cease_request_opens_a_hold_that_stops_calls(db_session, shared_debtor):
    """Reg F §1006.6(c) / CN practice: a request to stop is honoured at once, whoever started the contact."""
    (agency, account), _ = shared_debtor
    with tenant_scope(agency.id):
        service.record_inbound(account.id, "call", "cease_requested", note="debtor asked us to stop")
    with pytest.raises(ConductBlocked) as refused:
        call(agency, account, outcome=None)
    assert refused.value.details["earliest_allowed_at"] is None


def test_a_channel_allowed_now_answers_the_callers_own_instant(db_session, shared_debtor, frozen_clock):
    """The case page compares against its own `now`: a clock that moved in between must not turn
    "allowed now" into "next at <a moment ago>"."""
    (agency, account), _ = shared_debtor
    page_now = frozen_clock.now()
    frozen_clock.advance(timedelta(seconds=1))
    with tenant_scope(agency.id):
        assert service.next_permitted(account.id, page_now)["sms"] == page_now
