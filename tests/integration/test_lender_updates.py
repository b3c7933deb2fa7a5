"""A lender's payments-to-lender, adjustments and closures change the account at once, for the agency too."""
from datetime import date

import pytest

from tenants.context import tenant_scope
from tenants.errors import Conflict, ValidationFailed
from tenants.placements import services
from tenants.placements.services import Selection
from tenants.portfolios import accounts as account_service


@pytest.fixture
def placed_account(factory, db_session, frozen_clock):
    lender, agency = factory.tenant("lender"), factory.tenant("agency")
    factory.panel(lender, agency)
    account = factory.account(lender)
    with tenant_scope(lender.id):
        batch = services.place(lender=lender, selection=Selection(external_refs=(account.external_ref,)),
                               weights={agency.id: 1}, terms={}, created_by=None, seed=1)
    with tenant_scope(agency.id):
        services.respond(batch.id, accept=True)
    return lender, agency, account


def test_a_direct_payment_pays_fees_penalty_interest_then_principal_and_the_agency_sees_it(db_session, placed_account):
    lender, agency, account = placed_account
    with tenant_scope(lender.id):
        update = account_service.record_direct_payment(account, "200.00", date(2026, 11, 30), "paid at branch", None)
    assert update.allocation == {"fees": 10_000, "penalty": 5_000, "interest": 5_000}
    with tenant_scope(agency.id):
        db_session.expire_all()
        seen = account_service.get_account(account.id)
        assert (seen.outstanding_minor, seen.interest_minor, seen.last_payment_minor) == (425_000, 25_000, 20_000)
        assert [u.kind for u in account_service.updates_of(seen)] == ["direct_payment"]


def test_paying_in_full_closes_the_account_and_its_placement(db_session, placed_account):
    lender, agency, account = placed_account
    with tenant_scope(lender.id):
        account_service.record_direct_payment(account, "4450", date(2026, 11, 30), None, None)
        assert account.status == "paid"
        with pytest.raises(Conflict):
            account_service.record_direct_payment(account, "1", date(2026, 11, 30), None, None)
    with tenant_scope(agency.id):
        db_session.expire_all()
        assert [o.status for o in services.offers_for_agency()] == ["closed"]


@pytest.mark.parametrize("amount,code", [("0", "update.amount_not_positive"), ("99999", "update.overpayment"),
                                         ("1.001", "money.too_precise")])
def test_bad_payments_are_refused_with_a_reason(db_session, placed_account, amount, code):
    lender, _, account = placed_account
    with tenant_scope(lender.id), pytest.raises(ValidationFailed) as exc:
        account_service.record_direct_payment(account, amount, date(2026, 11, 30), None, None)
    assert exc.value.code == code


def test_adjustments_are_signed_and_cannot_go_negative(db_session, placed_account):
    lender, _, account = placed_account
    with tenant_scope(lender.id):
        account_service.record_adjustment(account, "fees", "-100", date(2026, 11, 30), "fee waived", None)
        assert (account.fees_minor, account.outstanding_minor) == (0, 435_000)
        with pytest.raises(ValidationFailed):
            account_service.record_adjustment(account, "fees", "-1", date(2026, 11, 30), None, None)


def test_a_write_off_closes_the_account_and_future_dates_are_refused(db_session, placed_account):
    lender, _, account = placed_account
    with tenant_scope(lender.id):
        with pytest.raises(ValidationFailed):
            account_service.record_closure(account, "written_off", date(2027, 1, 1), None, None)
        account_service.record_closure(account, "written_off", date(2026, 11, 30), "uncollectable", None)
        assert account.status == "written_off"


def test_agencies_cannot_write_lender_updates(db_session, placed_account):
    from tenants.errors import WriteRefused

    lender, agency, account = placed_account
    with tenant_scope(agency.id):
        seen = account_service.get_account(account.id)
        with pytest.raises(WriteRefused):
            account_service.record_direct_payment(seen, "10", date(2026, 11, 30), None, None)
    db_session.rollback()
