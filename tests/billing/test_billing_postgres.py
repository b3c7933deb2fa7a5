"""Exactly-once billing with real processes and real concurrency (PostgreSQL: the data must be committed for
another process or connection to see it)."""
import multiprocessing
import os
import threading
from datetime import datetime, timezone

import pytest
from sqlalchemy import select

from tenants import clock
from tenants.billing import invoicing
from tenants.billing.models import BillingInvoice, BillingPlan, UsageRecord
from tenants.billing.stripe_gateway import StripeGateway
from tenants.context import tenant_scope
from tenants.db import db
from tenants.tenancy.models import Tenant
from tests.billing.helpers import NEXT_MONTH, accept_cases

pytestmark = pytest.mark.postgres

KILLED = 137


@pytest.fixture
def agency_with_ended_period(app, stripe_settings):
    """Committed: an agency with 4 cases accepted in November, billed from January (the period has ended)."""
    from tests.factories import Factory

    previous = clock.use(clock.FrozenClock(datetime(2026, 11, 20, 2, 0, tzinfo=timezone.utc)))
    with app.app_context():
        factory = Factory(db.session)
        lender, agency = factory.tenant("lender"), factory.tenant("agency")
        factory.panel(lender, agency)
        accept_cases(factory, lender, agency, 4)
        db.session.commit()
        agency_id = agency.id
        db.session.remove()
    clock.use(clock.FrozenClock(NEXT_MONTH))
    yield agency_id
    clock.use(previous)


def bill_in_context(app, agency_id, gateway) -> invoicing.BillingRun:
    with app.app_context():
        try:
            with tenant_scope(agency_id):
                return invoicing.bill(db.session.get(Tenant, agency_id), gateway)
        finally:
            db.session.remove()


def stripe_lines(app, agency_id, gateway) -> list:
    with app.app_context(), tenant_scope(agency_id):
        customer = db.session.scalar(select(BillingPlan.stripe_customer_id).where(BillingPlan.tenant_id == agency_id))
        db.session.remove()
    invoiced = [line for inv in gateway.invoices(customer) for line in inv["lines"]["data"]
                if line.get("invoice_item")]
    return invoiced + gateway.pending_items(customer)


def our_invoices(app, agency_id) -> list:
    with app.app_context(), tenant_scope(agency_id):
        rows = [(i.cases, i.amount_minor, i.stripe_invoice_id) for i in db.session.scalars(
            select(BillingInvoice).where(BillingInvoice.tenant_id == agency_id))]
        db.session.remove()
    return rows


class KilledAfterStripeAnswers(StripeGateway):
    def create_item(self, **kwargs):
        super().create_item(**kwargs)
        os._exit(KILLED)  # SIGKILL-like: no cleanup, no rollback sent, the transaction dies with the connection


def _child(app, agency_id, settings):
    try:
        with app.app_context():
            db.engine.dispose(close=False)  # a forked process must not share the parent's sockets
        bill_in_context(app, agency_id, KilledAfterStripeAnswers(settings))
    finally:
        os._exit(1)


def test_a_worker_killed_after_stripe_answered_and_the_rerun_bill_once(app, agency_with_ended_period, gateway,
                                                                       stripe_settings):
    agency_id = agency_with_ended_period
    child = multiprocessing.get_context("fork").Process(target=_child, args=(app, agency_id, stripe_settings))
    child.start()
    child.join(60)
    assert child.exitcode == KILLED
    with app.app_context(), tenant_scope(agency_id):
        assert db.session.scalars(select(UsageRecord.billed_at).where(UsageRecord.tenant_id == agency_id)).all() \
            == [None] * 4  # our side never heard Stripe's answer
        db.session.remove()

    rerun = bill_in_context(app, agency_id, StripeGateway(stripe_settings))

    assert (rerun.items_created, rerun.items_adopted, rerun.invoices_created) == (0, 1, 1)
    lines = stripe_lines(app, agency_id, gateway)
    assert [line["amount"] for line in lines] == [4 * 500]
    assert [(cases, amount) for cases, amount, _ in our_invoices(app, agency_id)] == [(4, 2000)]


def test_two_workers_billing_the_same_payer_at_once_bill_once(app, agency_with_ended_period, gateway,
                                                              stripe_settings):
    agency_id = agency_with_ended_period
    start, runs, errors = threading.Barrier(2), [], []

    def worker():
        start.wait()
        try:
            runs.append(bill_in_context(app, agency_id, StripeGateway(stripe_settings)))
        except Exception as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=worker) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)

    assert errors == []
    assert sorted(run.items_created for run in runs) == [0, 1]
    assert sorted(run.invoices_created for run in runs) == [0, 1]
    assert [line["amount"] for line in stripe_lines(app, agency_id, gateway)] == [2000]
    assert len(our_invoices(app, agency_id)) == 1


def test_a_real_worker_runs_the_billing_jobs_queued_twice_and_bills_once(app, agency_with_ended_period, gateway):
    from workers.connection import connection
    from workers.queues import enqueue, enqueue_platform
    from workers.worker import RecoverlyWorker

    agency_id = agency_with_ended_period
    enqueue("workers.jobs.bill_tenant", tenant_id=agency_id, queue_name="billing")
    enqueue("workers.jobs.bill_tenant", tenant_id=agency_id, queue_name="billing")
    enqueue_platform("workers.jobs.bill_all_tenants", reason="test: hourly billing", queue_name="billing")
    RecoverlyWorker(["billing"], connection=connection(), flask_app=app).work(burst=True, with_scheduler=False)

    assert [line["amount"] for line in stripe_lines(app, agency_id, gateway)] == [2000]
    assert [(cases, amount) for cases, amount, _ in our_invoices(app, agency_id)] == [(4, 2000)]
