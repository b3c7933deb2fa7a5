"""Payments: the agency records what the debtor paid, the lender confirms (fees → penalty → interest → principal,
the agency's recovered amount, closure when paid in full) or reverses exactly; money is exact, retries are
idempotent, an unconfirmed payment blocks a recall, and other tenants see nothing."""
import uuid
from datetime import date, datetime, timezone

import pytest
from flask import g, render_template_string
from sqlalchemy import func, select

from tenants.casework import payments
from tenants.casework.money_models import Payment
from tenants.context import tenant_scope
from tenants.errors import Conflict
from tenants.placements import services as placement_service
from tenants.placements.models import Placement
from tenants.portfolios.accounts import get_account
from tests.conftest import act_as
from tests.factories import login

SHANGHAI_10AM = datetime(2026, 12, 1, 2, 0, tzinfo=timezone.utc)
# The factory's account: principal 4,000.00, interest 300.00, fees 100.00, penalty 50.00 → 4,450.00 outstanding.
BALANCES = {"principal_minor": 400_000, "interest_minor": 30_000, "fees_minor": 10_000, "penalty_minor": 5_000,
            "outstanding_minor": 445_000}


def bearer(secret, **extra):
    return {"Authorization": f"Bearer {secret}", **extra}


@pytest.fixture
def case(factory, db_session, frozen_clock):
    frozen_clock.set(SHANGHAI_10AM)
    lender, agency, account = factory.placed_account()
    factory.user(agency, "agency_collector", email="collector@pay.test")
    factory.user(lender, "lender_manager", email="manager@pay.test")
    return dict(lender=lender, agency=agency, account_id=account.id,
                agency_headers=bearer(factory.token(agency, "agency_collector")[1]),
                lender_headers=bearer(factory.token(lender, "lender_admin")[1]))


def record(client, case, amount="160.00", headers=None, **body):
    return client.post(f"/api/v1/accounts/{case['account_id']}/payments",
                       json={"amount": amount, "received_on": "2026-11-30", "method": "alipay", **body},
                       headers=headers or case["agency_headers"])


def balances(db_session, case) -> dict:
    with tenant_scope(case["lender"].id):
        db_session.expire_all()
        account = get_account(case["account_id"])
        return {key: getattr(account, key) for key in BALANCES} | {
            "status": account.status, "last_payment": (account.last_payment_date, account.last_payment_minor)}


def placement(db_session, case) -> Placement:
    with tenant_scope(case["lender"].id):
        db_session.expire_all()
        return db_session.scalar(select(Placement).where(Placement.account_id == case["account_id"]))


def test_an_agency_payment_waits_for_the_lender_then_pays_fees_penalty_interest_and_principal_in_order(
        client, case, db_session):
    made = record(client, case, "160.00", reference="ALI-2026113000042")
    assert made.status_code == 201, made.json
    assert (made.json["status"], made.json["amount"], made.json["amount_minor"]) == ("pending", "160.00", 16_000)
    assert made.json["allocation"] is None and made.json["agency_id"] == str(case["agency"].id)
    assert balances(db_session, case)["outstanding_minor"] == 445_000, "nothing counts before the lender confirms"

    waiting = client.get("/api/v1/payments?status=pending", headers=case["lender_headers"]).json["items"]
    assert [p["id"] for p in waiting] == [made.json["id"]]

    confirmed = client.post(f"/api/v1/payments/{made.json['id']}/confirm", headers=case["lender_headers"])
    assert confirmed.status_code == 200, confirmed.json
    assert confirmed.json["status"] == "confirmed"
    assert confirmed.json["allocation"] == {"fees": 10_000, "penalty": 5_000, "interest": 1_000}
    assert balances(db_session, case) == {**BALANCES, "fees_minor": 0, "penalty_minor": 0, "interest_minor": 29_000,
                                          "outstanding_minor": 429_000, "status": "open",
                                          "last_payment": (date(2026, 11, 30), 16_000)}
    assert placement(db_session, case).recovered_minor == 16_000
    seen_by_agency = client.get(f"/api/v1/payments/{made.json['id']}", headers=case["agency_headers"]).json
    assert seen_by_agency["status"] == "confirmed"

    again = client.post(f"/api/v1/payments/{made.json['id']}/confirm", headers=case["lender_headers"])
    assert again.status_code == 409 and again.json["error"]["code"] == "payment.not_pending"


def test_a_reversal_puts_back_exactly_what_the_payment_paid(client, case, db_session, frozen_clock):
    first = record(client, case, "120.00").json
    client.post(f"/api/v1/payments/{first['id']}/confirm", headers=case["lender_headers"])
    before = balances(db_session, case)
    recovered_before = placement(db_session, case).recovered_minor
    second = record(client, case, "333.33", received_on="2026-12-01").json
    confirmed = client.post(f"/api/v1/payments/{second['id']}/confirm", headers=case["lender_headers"]).json
    assert confirmed["allocation"] == {"penalty": 3_000, "interest": 30_000, "principal": 333}
    assert balances(db_session, case)["last_payment"] == (date(2026, 12, 1), 33_333)

    reversed_ = client.post(f"/api/v1/payments/{second['id']}/reverse", json={"reason": "bounced at the bank"},
                            headers=case["lender_headers"])
    assert reversed_.status_code == 200 and reversed_.json["status"] == "reversed"
    assert balances(db_session, case) == before, "every component, the status and the last payment are restored"
    assert placement(db_session, case).recovered_minor == recovered_before == 12_000
    twice = client.post(f"/api/v1/payments/{second['id']}/reverse", json={"reason": "again"},
                        headers=case["lender_headers"])
    assert twice.status_code == 409 and twice.json["error"]["code"] == "payment.already_reversed"


def test_paid_in_full_closes_the_placement_and_a_reversal_reopens_only_the_account(client, case, db_session):
    made = record(client, case, "4,450.00").json
    client.post(f"/api/v1/payments/{made['id']}/confirm", headers=case["lender_headers"])
    after = balances(db_session, case)
    assert (after["status"], after["outstanding_minor"]) == ("paid", 0)
    assert placement(db_session, case).status == "closed"
    assert placement(db_session, case).recovered_minor == 445_000
    # the agency no longer holds the account, but keeps reading the payment it collected (for its commission)
    assert client.get(f"/api/v1/accounts/{case['account_id']}", headers=case["agency_headers"]).status_code == 404
    kept = client.get(f"/api/v1/payments/{made['id']}", headers=case["agency_headers"])
    assert kept.status_code == 200 and kept.json["closed_account"] is True

    client.post(f"/api/v1/payments/{made['id']}/reverse", json={"reason": "chargeback"},
                headers=case["lender_headers"])
    assert balances(db_session, case) == {**BALANCES, "status": "open", "last_payment": (None, None)}
    closed = placement(db_session, case)
    assert (closed.status, closed.recovered_minor) == ("closed", 0), "the lender may place the account again"


@pytest.mark.parametrize("body,status,code", [
    ({"amount": "0"}, 422, "payment.amount_not_positive"),
    ({"amount": "-5"}, 422, "payment.amount_not_positive"),
    ({"amount": "1.001"}, 422, "money.too_precise"),
    ({"amount": "4450.01"}, 422, "payment.overpayment"),
    ({"amount": "ten"}, 422, "money.invalid"),
    ({"amount": "10", "currency": "USD"}, 422, "payment.currency_mismatch"),
    ({"amount": "10", "received_on": "2026-12-02"}, 422, "validation.failed"),
    ({"amount": "10", "method": "paypal"}, 422, "validation.failed"),
])
def test_bad_payments_are_refused_with_a_reason_and_record_nothing(client, case, db_session, body, status, code):
    response = record(client, case, **body)
    assert response.status_code == status and response.json["error"]["code"] == code
    with tenant_scope(case["lender"].id):
        assert db_session.scalar(select(func.count()).select_from(Payment)) == 0


def test_small_amounts_add_up_exactly(client, case, db_session):
    for amount in ("0.10", "0.20", "0.01"):
        made = record(client, case, amount).json
        client.post(f"/api/v1/payments/{made['id']}/confirm", headers=case["lender_headers"])
    assert balances(db_session, case)["fees_minor"] == 10_000 - 31
    assert placement(db_session, case).recovered_minor == 31


def test_a_lender_reported_payment_is_confirmed_at_once_and_credited_to_the_agency(client, case, db_session):
    made = record(client, case, "50.00", method="bank_transfer", headers=case["lender_headers"])
    assert made.status_code == 201
    assert made.json["status"] == "confirmed" and made.json["allocation"] == {"fees": 5_000}
    assert made.json["agency_id"] == str(case["agency"].id)
    assert placement(db_session, case).recovered_minor == 5_000
    assert client.get(f"/api/v1/payments/{made.json['id']}", headers=case["agency_headers"]).status_code == 200


def test_an_unconfirmed_payment_blocks_a_recall_unless_forced(client, case, db_session):
    made = record(client, case).json
    placement_id = placement(db_session, case).id
    with tenant_scope(case["lender"].id):
        with pytest.raises(Conflict) as exc:
            placement_service.recall([placement_id], reason="portfolio sold", force=False, role="lender_admin")
        assert "awaits the lender's confirmation" in str(exc.value.details["blocked"])
        payments.confirm(uuid.UUID(made["id"]), None)
        placement_service.recall([placement_id], reason="portfolio sold", force=False, role="lender_admin")
    # after the recall the agency still reads the payment it collected, no longer the account
    assert client.get(f"/api/v1/payments/{made['id']}", headers=case["agency_headers"]).status_code == 200
    assert [p["id"] for p in client.get("/api/v1/payments", headers=case["agency_headers"]).json["items"]] == \
        [made["id"]]
    assert client.get(f"/api/v1/accounts/{case['account_id']}/payments",
                      headers=case["agency_headers"]).status_code == 404


def test_a_retried_payment_with_the_same_idempotency_key_is_recorded_once(client, case, db_session, factory):
    headers = {**case["agency_headers"], "Idempotency-Key": "pay-ali-0001"}
    first, again = record(client, case, headers=headers), record(client, case, headers=headers)
    assert first.status_code == again.status_code == 201
    assert first.json["id"] == again.json["id"]
    with tenant_scope(case["lender"].id):
        assert db_session.scalar(select(func.count()).select_from(Payment)) == 1
    other = factory.account(case["lender"])
    with tenant_scope(case["lender"].id):
        batch = placement_service.place(lender=case["lender"], selection=placement_service.Selection(
            external_refs=(other.external_ref,)), weights={case["agency"].id: 1}, terms={}, created_by=None, seed=1)
        batch_id = batch.id
    with tenant_scope(case["agency"].id):
        placement_service.respond(batch_id, accept=True)
    reused = client.post(f"/api/v1/accounts/{other.id}/payments", headers=headers,
                         json={"amount": "1", "received_on": "2026-11-30", "method": "cash"})
    assert reused.status_code == 409 and reused.json["error"]["code"] == "idempotency.key_reused"


def test_other_tenants_see_nothing_and_only_the_lenders_writers_confirm(client, case, factory):
    made = record(client, case).json
    outsider_lender, outsider_agency, _ = factory.placed_account()
    for outsider in (outsider_lender, outsider_agency):
        headers = bearer(factory.token(outsider)[1])
        assert client.get(f"/api/v1/payments/{made['id']}", headers=headers).status_code == 404
        assert client.get("/api/v1/payments", headers=headers).json["items"] == []
        assert record(client, case, headers=headers).status_code == 404
        for action in ("confirm", "reverse"):
            response = client.post(f"/api/v1/payments/{made['id']}/{action}", json={"reason": "x"}, headers=headers)
            assert response.status_code == 404
    assert client.post(f"/api/v1/payments/{made['id']}/confirm",
                       headers=case["agency_headers"]).status_code == 404, "confirming is not an agency route"
    analyst = bearer(factory.token(case["lender"], "lender_analyst")[1])
    assert client.post(f"/api/v1/payments/{made['id']}/confirm", headers=analyst).status_code == 403


def _render(app, tenant, role, url, template, context):
    with app.test_request_context(url):
        g.tenant, g.role = tenant, role
        with tenant_scope(tenant.id):
            return render_template_string('{% include "' + template + '" %}', **context())


def test_the_case_page_records_a_payment_and_the_lender_confirms_it_from_its_account_page(app, client, case,
                                                                                         db_session):
    from web.tenant.casework_money import lender_money_panel, money_panel

    agency, lender, account_id = case["agency"], case["lender"], case["account_id"]
    login(client, "collector@pay.test")
    posted = client.post(f"/t/{agency.slug}/accounts/{account_id}/payments",
                         data={"payment-amount": "88.50", "payment-received_on": "2026-12-01",
                               "payment-method": "wechat_pay", "payment-reference": "WX-1"})
    assert posted.status_code == 302 and posted.headers["Location"].endswith(f"/cases/{account_id}?tab=payment")
    with tenant_scope(agency.id):
        db_session.expire_all()
        placement_row = db_session.scalar(select(Placement).where(Placement.account_id == account_id))
        page = _render(app, agency, "agency_collector", f"/t/{agency.slug}/cases/{account_id}",
                       "tenant/_payments.html", lambda: money_panel(get_account(account_id), placement_row))
    assert "awaiting the lender" in page and "WX-1" in page and 'id="agency-payment-form"' in page
    assert "payment_confirm" not in page and "/confirm" not in page

    client.post("/logout")
    login(client, "manager@pay.test")
    with tenant_scope(lender.id):
        payment_id = db_session.scalar(select(Payment.id))
    lender_page = _render(app, lender, "lender_manager", f"/t/{lender.slug}/accounts/{account_id}",
                          "tenant/_lender_money.html", lambda: lender_money_panel(get_account(account_id)))
    assert f"/payments/{payment_id}/confirm" in lender_page and "Report a payment made to you" in lender_page
    refused = client.post(f"/t/{lender.slug}/payments/{payment_id}/reverse", data={"reason": ""})
    assert refused.status_code == 302
    assert balances(db_session, case)["outstanding_minor"] == 445_000
    done = client.post(f"/t/{lender.slug}/payments/{payment_id}/confirm")
    assert done.status_code == 302 and done.headers["Location"].endswith(f"/accounts/{account_id}#payments")
    assert balances(db_session, case)["outstanding_minor"] == 445_000 - 8_850
    assert client.post(f"/t/{agency.slug}/payments/{payment_id}/confirm").status_code == 404


@pytest.mark.postgres
def test_raw_sql_shows_money_rows_to_the_lender_and_the_agency_concerned_and_only_the_lender_confirms(
        placed_committed):
    import os

    from sqlalchemy import create_engine, text

    lender_id, agency_id, other_agency_id, objects = placed_committed
    engine = create_engine(os.environ["DATABASE_URL"], pool_size=1, max_overflow=0)

    def as_tenant(tenant_id, sql, **params):
        with engine.begin() as connection:
            act_as(connection, tenant_id)
            return connection.execute(text(sql), params).all()

    try:
        for table, key in (("promises", "promise_id"), ("payments", "payment_id"), ("payment_plans", "plan_id")):
            for tenant_id in (lender_id, agency_id):
                assert objects[key] in {r[0] for r in as_tenant(tenant_id, f"SELECT id FROM {table}")}, table
            assert as_tenant(other_agency_id, f"SELECT id FROM {table}") == [], table
        instalments = "SELECT id FROM plan_instalments WHERE plan_id = :p"
        assert len(as_tenant(lender_id, instalments, p=objects["plan_id"])) == 2
        assert as_tenant(other_agency_id, "SELECT id FROM plan_instalments") == []
        confirmed_by_agency = as_tenant(agency_id, "UPDATE payments SET status = 'confirmed' WHERE id = :id "
                                                   "RETURNING id", id=objects["payment_id"])
        assert confirmed_by_agency == [], "the agency reads its payment but cannot confirm it"
        assert as_tenant(lender_id, "DELETE FROM promises WHERE id = :id RETURNING id", id=objects["promise_id"]) \
            == [], "the lender reads the agency's promise but cannot remove it"
    finally:
        engine.dispose()
