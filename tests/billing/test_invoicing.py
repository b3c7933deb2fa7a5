"""Per-case billing against localstripe through the real `stripe` library: usage recorded on acceptance, pushed
as invoice items, invoiced when the period closes, exactly once through crashes and duplicate runs."""
import pytest
import stripe
from sqlalchemy import select

from tenants.billing import invoicing
from tenants.billing.models import InvoiceStatus
from tenants.billing.stripe_gateway import StripeGateway, usage_from_metadata
from tenants.context import platform_scope, tenant_scope
from tenants.db import db
from tenants.errors import Conflict
from tenants.placements import services as placements
from tests.billing.helpers import (
    NEXT_MONTH,
    accept_cases,
    bill,
    invoices_of,
    make_delinquent,
    plan_row,
    set_plan,
    usage_of,
)


class Died(BaseException):
    """The worker process dying: not an Exception, so nothing on the way catches it."""


def test_each_agency_gets_one_invoice_of_its_cases_times_price(db_session, factory, frozen_clock, gateway, lender,
                                                               agencies):
    prices = ("5.00", "2.50", "12.00")
    for agency, price in zip(agencies, prices):
        set_plan(agency, unit_price=price)
    for agency, count in zip(agencies, (4, 2, 3)):
        accept_cases(factory, lender, agency, count)

    for agency in agencies:
        bill(agency, gateway)  # during the period: items pushed, nothing invoiced yet
        assert invoices_of(agency) == []
    frozen_clock.set(NEXT_MONTH)
    for agency in agencies:
        bill(agency, gateway)

    for agency, count, price_minor in zip(agencies, (4, 2, 3), (500, 250, 1200)):
        [invoice] = invoices_of(agency)
        assert (invoice.cases, invoice.amount_minor, invoice.currency) == (count, count * price_minor, "CNY")
        assert invoice.stripe_amount_minor == invoice.amount_minor
        assert invoice.status == InvoiceStatus.PAID  # the stand-in charges the test card at once
        records = usage_of(agency)
        assert sum(r.amount_minor for r in records) == invoice.amount_minor
        assert {r.invoice_id for r in records} == {invoice.id}
        stripe_invoice = gateway.client.v1.invoices.retrieve(invoice.stripe_invoice_id).to_dict()
        lines = [line for line in stripe_invoice["lines"]["data"] if line.get("invoice_item")]
        assert sum(line["amount"] for line in lines) == invoice.amount_minor
        assert set().union(*(usage_from_metadata(line["metadata"]) for line in lines)) == {r.seq for r in records}


def test_a_case_placed_again_with_the_same_agency_in_the_period_is_billed_once(db_session, factory, frozen_clock,
                                                                                lender, agencies):
    first, second = agencies[:2]
    [account], _ = accept_cases(factory, lender, first, 1)
    with tenant_scope(lender.id):
        [placement] = db.session.scalars(select(placements.Placement).where(
            placements.Placement.account_id == account.id)).all()
        placements.recall([placement.id], reason="re-work", force=False, role="lender_admin")
        batch = placements.place(lender=lender, selection=placements.Selection(external_refs=(account.external_ref,)),
                                 weights={first.id: 1}, terms={}, created_by=None, seed=1, debtors_notified=True)
    with tenant_scope(first.id):
        placements.respond(batch.id, accept=True)
    assert len(usage_of(first)) == 1

    with tenant_scope(lender.id):
        placement = db.session.scalar(select(placements.Placement).where(
            placements.Placement.account_id == account.id, placements.Placement.status == "active"))
        placements.recall([placement.id], reason="to another agency", force=False, role="lender_admin")
        batch = placements.place(lender=lender, selection=placements.Selection(external_refs=(account.external_ref,)),
                                 weights={second.id: 1}, terms={}, created_by=None, seed=1, debtors_notified=True)
    with tenant_scope(second.id):
        placements.respond(batch.id, accept=True)
    assert len(usage_of(second)) == 1  # another agency's work is another case


def test_declined_offers_cost_nothing_and_the_free_allowance_comes_first(db_session, factory, frozen_clock, lender,
                                                                         agencies):
    agency = agencies[0]
    set_plan(agency, free_cases=2, unit_price="3.00")
    _, batch = accept_cases(factory, lender, agency, 2, accept=False)
    with tenant_scope(agency.id):
        placements.respond(batch.id, accept=False)
    assert usage_of(agency) == []
    accept_cases(factory, lender, agency, 3)
    assert [(r.free, r.amount_minor) for r in usage_of(agency)] == [(True, 0), (True, 0), (False, 300)]


def test_a_lender_whose_plan_pays_is_billed_instead_of_the_agency(db_session, factory, frozen_clock, lender,
                                                                  agencies):
    set_plan(lender, payer="lender", unit_price="8.00")
    accept_cases(factory, lender, agencies[0], 2)
    assert usage_of(agencies[0]) == []
    assert [(r.amount_minor, r.agency_tenant_id) for r in usage_of(lender)] == [(800, agencies[0].id)] * 2


class DiesAfterStripeAnswers(StripeGateway):
    """The real gateway, whose process dies right after one kind of Stripe call has succeeded."""

    def __init__(self, settings, after: str):
        super().__init__(settings)
        self.after = after

    def create_item(self, **kwargs):
        answer = super().create_item(**kwargs)
        if self.after == "create_item":
            raise Died()
        return answer

    def create_invoice(self, **kwargs):
        answer = super().create_invoice(**kwargs)
        if self.after == "create_invoice":
            raise Died()
        return answer


@pytest.mark.parametrize("after", ["create_item", "create_invoice"])
def test_a_run_that_dies_after_stripe_answered_bills_nothing_twice(db_session, factory, frozen_clock, gateway,
                                                                   stripe_settings, lender, agencies, after):
    agency = agencies[0]
    accept_cases(factory, lender, agency, 3)
    frozen_clock.set(NEXT_MONTH)
    with pytest.raises(Died):
        bill(agency, DiesAfterStripeAnswers(stripe_settings, after))
    db.session.rollback()  # what a dead process leaves: nothing of its last transaction
    assert all(r.invoice_id is None for r in usage_of(agency))

    rerun = StripeGateway(stripe_settings)
    run = bill(agency, rerun)
    assert (run.items_created, run.items_adopted) == ((0, 1) if after == "create_item" else (0, 0))
    assert (run.invoices_created, run.invoices_adopted) == (0, 1) if after == "create_invoice" else (1, 0)
    [invoice] = invoices_of(agency)
    customer = plan_row(agency).stripe_customer_id
    stripe_invoices = gateway.invoices(customer)
    billed = [line for inv in stripe_invoices for line in inv["lines"]["data"] if line.get("invoice_item")]
    assert len(billed) == 1 and billed[0]["amount"] == 3 * 500 == invoice.amount_minor

    again = bill(agency, StripeGateway(stripe_settings))
    assert again.as_dict() == invoicing.BillingRun().as_dict()


def test_the_same_job_run_twice_changes_nothing_the_second_time(db_session, factory, frozen_clock, gateway, lender,
                                                                agencies):
    agency = agencies[0]
    accept_cases(factory, lender, agency, 2)
    first = bill(agency, gateway)
    calls = gateway.total_calls
    second = bill(agency, gateway)
    assert first.items_created == 1 and second.items_created == 0
    assert gateway.total_calls == calls  # nothing left to bill: Stripe is not even asked


def test_a_delinquent_agency_receives_no_new_cases(db_session, factory, frozen_clock, lender, agencies):
    agency = agencies[0]
    _, offered = accept_cases(factory, lender, agency, 1, accept=False)
    make_delinquent(agency)
    assert plan_row(agency).standing == "delinquent"
    with pytest.raises(Conflict) as refused:
        accept_cases(factory, lender, agency, 1)
    assert refused.value.code == "billing.placements_suspended"
    # The lender learns the agency takes no new cases, not that the agency owes Recoverly money.
    assert agency.name in refused.value.message and "overdue" not in refused.value.message
    with tenant_scope(agency.id), pytest.raises(Conflict) as refused:
        placements.respond(offered.id, accept=True)
    assert "your overdue Recoverly invoices" in refused.value.message

    set_plan(agency, stop_when_delinquent=False)
    accept_cases(factory, lender, agency, 1)  # its plan lets it keep working while in arrears


class CollectFails(StripeGateway):
    def collect(self, invoice_id):
        raise stripe.APIConnectionError("Stripe unreachable")


def test_an_invoice_whose_collection_failed_is_collected_by_the_next_run(db_session, factory, frozen_clock, gateway,
                                                                         stripe_settings, lender, agencies):
    from tenants.billing.invoicing import payers_to_bill

    agency = agencies[0]
    accept_cases(factory, lender, agency, 2)
    frozen_clock.set(NEXT_MONTH)
    with pytest.raises(stripe.APIConnectionError):
        bill(agency, CollectFails(stripe_settings))
    [invoice] = invoices_of(agency)
    assert (invoice.status, invoice.collection_requested_at) == (InvoiceStatus.OPEN, None)
    with platform_scope("test"):
        assert agency.id in payers_to_bill()  # the hourly run comes back for it

    bill(agency, gateway)
    [invoice] = invoices_of(agency)
    assert invoice.status == InvoiceStatus.PAID and invoice.collection_requested_at is not None


def test_the_billing_day_is_fixed_once_a_case_was_billed(db_session, factory, frozen_clock, lender, agencies):
    agency = agencies[0]
    set_plan(agency, billing_day=15)  # nothing billed yet: free to choose
    accept_cases(factory, lender, agency, 1)
    with pytest.raises(Conflict) as refused:
        set_plan(agency, billing_day=1)
    assert refused.value.code == "billing.day_fixed"
    assert usage_of(agency)[0].period_start.day == 15
