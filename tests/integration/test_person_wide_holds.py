"""A death or a bankruptcy is the person's, not one loan's (CONDUCT_RULES "Person-wide facts"): recorded by one
lender, it stops every agency calling the same person about any debt, and the others learn only that contact is
refused under a person-wide hold — never which lender, which account or why. Other holds stay on their debt."""
import pytest

from tenants.conduct import service
from tenants.conduct.service import AttemptRequest, ConductBlocked
from tenants.context import tenant_scope

from . import test_conduct_service as conduct_cases
from .test_conduct_service import call

shared_debtor = conduct_cases.shared_debtor  # one person, loans at two lenders, each with its agency


def refusal(agency, account) -> ConductBlocked:
    with pytest.raises(ConductBlocked) as refused:
        call(agency, account, outcome=None)
    return refused.value


def test_a_debtor_flagged_deceased_by_one_lender_is_not_called_about_another_lenders_debt(db_session,
                                                                                           shared_debtor):
    (agency_a, account_a), (agency_b, account_b) = shared_debtor
    with tenant_scope(account_a.tenant_id):
        account_a.deceased = True
        db_session.flush()
    refused = refusal(agency_b, account_b)
    [hit] = [h for h in refused.details["hits"] if h["action"] == "PAUSE"]
    assert "another of their debts" in hit["message_en"] and "另一笔债务" in hit["message_zh"]
    said = f"{refused.details} {hit}"
    assert str(account_a.id) not in said and str(account_a.tenant_id) not in said and "flagged" not in said
    with tenant_scope(agency_b.id):
        assert service.next_permitted(account_b.id)["call"] is None, "not by waiting"


def test_a_bankruptcy_hold_stops_every_debt_until_it_is_resolved(db_session, shared_debtor):
    (agency_a, account_a), (agency_b, account_b) = shared_debtor
    with tenant_scope(account_a.tenant_id):
        hold = service.open_hold(account_a.id, "bankruptcy", reason="court order 2026-77", source="lender")
    refused = refusal(agency_b, account_b)
    assert "court order" not in str(refused.details), "the reason stays with the lender that gave it"
    with tenant_scope(account_a.tenant_id):
        service.resolve_hold(hold.id, "discharged")
    _, decision = call(agency_b, account_b)
    assert decision.outcome == "allow"


def test_a_dispute_on_one_debt_does_not_stop_the_others(db_session, shared_debtor):
    (agency_a, account_a), (agency_b, account_b) = shared_debtor
    with tenant_scope(account_a.tenant_id):
        service.open_hold(account_a.id, "dispute", reason="amount wrong", source="lender")
    assert refusal(agency_a, account_a).details["hits"][0]["action"] == "PAUSE"
    _, decision = call(agency_b, account_b)
    assert decision.outcome == "allow"
    with tenant_scope(agency_b.id):
        record, _ = service.attempt(account_b.id, AttemptRequest(channel="sms"), collector_user_id=None)
    assert record.status == "pending"
