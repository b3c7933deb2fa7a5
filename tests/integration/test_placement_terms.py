"""A placement's conduct terms are checked when saved, and a decision never raises on them (issue 14): terms that
would loosen the rulebook or cannot be read are refused naming the field; terms stored before that check that still
cannot be read refuse every contact on the placement — a clear refusal, never a 500 and never the looser
baseline."""
import pytest

from tenants.conduct import service
from tenants.conduct.service import AttemptRequest, ConductBlocked
from tenants.context import tenant_scope
from tenants.db import db
from tenants.errors import ValidationFailed
from tenants.placements.models import Placement


def test_terms_are_checked_against_the_lenders_rulebook(factory, db_session):
    lender = factory.tenant("lender")
    assert service.check_terms(lender, {"CN.HOURS": {"start": "09:00", "working_days_only": True}})
    with pytest.raises(ValidationFailed) as refused:
        service.check_terms(lender, {"CN.HOURS": {"start": "07:00"}})
    assert refused.value.code == "placement.terms_invalid"
    assert "CN.HOURS.start" in refused.value.details["fields"]["conduct_overrides"][0]


def test_stored_terms_that_cannot_be_read_refuse_contact_instead_of_failing(factory, db_session, frozen_clock):
    lender, agency, account = factory.placed_account(time_zones=["Asia/Shanghai"])
    with tenant_scope(lender.id):
        placement = db.session.query(Placement).filter_by(account_id=account.id).one()
        placement.conduct_overrides = {"CN.HOURS": {"public_holidays": ["Christmas"]}}
        db.session.flush()
    with tenant_scope(agency.id), pytest.raises(ConductBlocked) as refused:
        service.attempt(account.id, AttemptRequest(channel="call"), collector_user_id=None)
    assert refused.value.code == "conduct.platform.terms"
    with tenant_scope(agency.id):
        assert service.next_permitted(account.id)["call"] is None


def test_placing_with_terms_that_would_loosen_the_rulebook_is_refused_and_places_nothing(factory, db_session,
                                                                                          frozen_clock):
    from tenants.placements import services as placements
    from tenants.portfolios.models import Account

    lender, agency = factory.tenant("lender"), factory.tenant("agency")
    factory.panel(lender, agency)
    account = factory.account(lender)
    with tenant_scope(lender.id), pytest.raises(ValidationFailed) as refused:
        placements.place(lender=lender, selection=placements.Selection(external_refs=(account.external_ref,)),
                         weights={agency.id: 1}, terms={"conduct_overrides": {"CN.CALLS.CONNECTED": {"max": 5}}},
                         created_by=None, seed=1, debtors_notified=True)
    assert "CN.CALLS.CONNECTED.max" in refused.value.details["fields"]["conduct_overrides"][0]
    with tenant_scope(lender.id):
        assert db.session.get(Account, account.id).status == "open"
        assert db.session.query(Placement).filter_by(account_id=account.id).count() == 0
