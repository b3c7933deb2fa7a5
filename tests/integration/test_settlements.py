"""Settlements and repayment agreements: a discount within the placement's limit is the agency's call, beyond it
the lender decides; the agreement is a bilingual printable page kept as evidence, and its signature — uploaded,
or acknowledged on a recorded call — is evidence too, with its digest in the audit chain, and accepts the offer."""
import io
from datetime import date, datetime, timedelta, timezone

import pytest
from flask import g, render_template_string
from sqlalchemy import select

from tenants.audit import AuditEvent, verify_chain
from tenants.casework import agreements, evidence, payments, plans, settlements
from tenants.casework.settlements import Settlement, SettlementStatus
from tenants.context import platform_scope, tenant_scope
from tenants.errors import ValidationFailed
from tenants.placements import services as placements
from tenants.portfolios.accounts import get_account
from tenants.tenancy.roles import TenantKind
from tests.factories import login
from web.tenant.casework_legal import legal_panel, lender_legal_panel

SHANGHAI_10AM = datetime(2026, 12, 1, 2, 0, tzinfo=timezone.utc)
TODAY = date(2026, 12, 1)


def bearer(secret):
    return {"Authorization": f"Bearer {secret}"}


def placed_case(factory, *, max_discount_bps=1000, channels=("call", "sms", "letter"), lender_values=None,
                **account_values):
    """A lender and an agency, one account placed with the agency (accepted) under a discount limit."""
    lender = factory.tenant(TenantKind.LENDER, **(lender_values or {}))
    agency = factory.tenant(TenantKind.AGENCY)
    factory.panel(lender, agency, channels=list(channels))
    account = factory.account(lender, **account_values)
    terms = {} if max_discount_bps is None else {"max_discount_bps": max_discount_bps}
    with tenant_scope(lender.id):
        batch = placements.place(lender=lender, selection=placements.Selection(external_refs=(account.external_ref,)),
                                 weights={agency.id: 1}, terms=terms, created_by=None, seed=1, debtors_notified=True)
    with tenant_scope(agency.id):
        placements.respond(batch.id, accept=True)
    return lender, agency, account


@pytest.fixture
def case(factory, db_session, frozen_clock):
    """Outstanding 4,450.00 CNY (principal 4,000, interest 300, fees 100, penalty 50), a 10% discount limit."""
    frozen_clock.set(SHANGHAI_10AM)
    lender, agency, account = placed_case(factory)
    return dict(lender=lender, agency=agency, account=account,
                agency_headers=bearer(factory.token(agency, "agency_collector")[1]),
                manager_headers=bearer(factory.token(lender, "lender_manager")[1]),
                analyst_headers=bearer(factory.token(lender, "lender_analyst")[1]))


def propose(client, case, amount, deadline="2026-12-15"):
    return client.post(f"/api/v1/accounts/{case['account'].id}/settlements",
                       json={"amount": amount, "deadline": deadline}, headers=case["agency_headers"])


def post(client, case, path, headers=None, **body):
    return client.post(f"/api/v1{path}", json=body or None, headers=headers or case["agency_headers"])


def test_placing_terms_carry_the_discount_limit_defaulting_to_none(factory, db_session):
    _, _, limited = placed_case(factory, max_discount_bps=1500)
    _, _, unlimited = placed_case(factory, max_discount_bps=None)
    with platform_scope("test"):
        limits = {p.account_id: p.max_discount_bps for p in db_session.scalars(select(placements.Placement))}
    assert limits[limited.id] == 1500 and limits[unlimited.id] == 0
    with pytest.raises(ValidationFailed) as refused:
        placed_case(factory, max_discount_bps=20_000)
    assert "max_discount_bps" in refused.value.details["fields"]


def test_a_discount_within_the_limit_is_the_agencys_call(client, case):
    offered = propose(client, case, "4005.00")  # 9.99% off
    assert offered.status_code == 201, offered.json
    body = offered.json
    assert (body["status"], body["discount_bps"], body["max_discount_bps"], body["within_limit"]) == \
        ("proposed", 1000, 1000, True)
    assert body["outstanding_minor"] == 445_000 and body["amount_minor"] == 400_500

    accepted = post(client, case, f"/settlements/{body['id']}/accept")
    assert accepted.status_code == 200 and accepted.json["status"] == "accepted"
    unpaid = post(client, case, f"/settlements/{body['id']}/paid")
    assert unpaid.status_code == 409 and unpaid.json["error"]["code"] == "settlement.not_covered"
    with tenant_scope(case["agency"].id):
        payment = payments.record(case["account"].id, amount="4005.00", received_on=TODAY, method="bank_transfer")
    with tenant_scope(case["lender"].id):
        payments.confirm(payment.id, user_id=None)
    paid = post(client, case, f"/settlements/{body['id']}/paid")
    assert paid.status_code == 200 and paid.json["status"] == "paid"

    seen = client.get(f"/api/v1/settlements/{body['id']}", headers=case["analyst_headers"])
    assert seen.status_code == 200 and seen.json["status"] == "paid", "the lender reads the agency's offers"
    actions = [e.action for e in db_session_events(case["agency"].id)]
    assert ["settlement.proposed", "settlement.accepted", "settlement.paid"] == \
        [a for a in actions if a.startswith("settlement.")]


def db_session_events(tenant_id) -> list[AuditEvent]:
    from tenants.db import db

    with tenant_scope(tenant_id):
        return list(db.session.scalars(select(AuditEvent).where(AuditEvent.tenant_id == tenant_id)
                                       .order_by(AuditEvent.seq)))


def chain_ok(tenant_id) -> bool:
    with tenant_scope(tenant_id):
        return verify_chain(tenant_id).ok


def test_a_discount_beyond_the_limit_waits_for_the_lenders_manager(client, case):
    offered = propose(client, case, "4000.00")  # 10.11% off: a fraction over the limit is over it
    assert offered.status_code == 201
    assert (offered.json["status"], offered.json["discount_bps"], offered.json["within_limit"]) == \
        ("awaiting_lender", 1012, False)
    settlement_id = offered.json["id"]

    early = post(client, case, f"/settlements/{settlement_id}/accept")
    assert early.status_code == 409 and early.json["error"]["code"] == "settlement.wrong_status"
    no_agreement = post(client, case, f"/settlements/{settlement_id}/agreement")
    assert no_agreement.status_code == 409
    by_agency = post(client, case, f"/settlements/{settlement_id}/decision", approve=True)
    assert by_agency.status_code == 404, "deciding is a lender's route"
    by_analyst = post(client, case, f"/settlements/{settlement_id}/decision", case["analyst_headers"], approve=True)
    assert by_analyst.status_code == 403

    waiting = client.get("/api/v1/settlements?status=awaiting_lender", headers=case["manager_headers"])
    assert [s["id"] for s in waiting.json["items"]] == [settlement_id]
    approved = post(client, case, f"/settlements/{settlement_id}/decision", case["manager_headers"], approve=True,
                    note="one-off: hardship")
    assert approved.status_code == 200 and approved.json["status"] == "approved"
    again = post(client, case, f"/settlements/{settlement_id}/decision", case["manager_headers"], approve=False)
    assert again.status_code == 409

    assert post(client, case, f"/settlements/{settlement_id}/accept").json["status"] == "accepted"
    events = [e for e in db_session_events(case["lender"].id) if e.action == "settlement.approved"]
    assert len(events) == 1 and events[0].after["note"] == "one-off: hardship"
    assert chain_ok(case["lender"].id)


def test_a_declined_offer_cannot_be_taken(client, case):
    settlement_id = propose(client, case, "3000").json["id"]
    declined = post(client, case, f"/settlements/{settlement_id}/decision", case["manager_headers"], approve=False)
    assert declined.json["status"] == "declined"
    assert post(client, case, f"/settlements/{settlement_id}/accept").status_code == 409
    assert propose(client, case, "4100").status_code == 201, "a declined offer leaves room for another"


def test_one_open_offer_per_account_and_the_deadline_lapses_it(client, case, frozen_clock):
    assert propose(client, case, "4450", deadline="2026-11-30").status_code == 422, "the deadline is not past"
    assert propose(client, case, "4450", deadline="2027-12-31").status_code == 422, "nor after the placement"
    assert propose(client, case, "0").status_code == 422
    assert propose(client, case, "5000").status_code == 422, "never more than the balance"
    settlement_id = propose(client, case, "4300", deadline="2026-12-03").json["id"]
    twice = propose(client, case, "4200")
    assert twice.status_code == 409 and twice.json["error"]["code"] == "settlement.already_open"

    frozen_clock.advance(timedelta(days=3))
    late = post(client, case, f"/settlements/{settlement_id}/accept")
    assert late.status_code == 409 and late.json["error"]["code"] == "settlement.lapsed", "the debtor's day ended"
    with platform_scope("test: daily lapse"):
        assert settlements.lapse_due() == 0, "not yet past in every time zone"
        frozen_clock.advance(timedelta(days=1))
        assert settlements.lapse_due() == 1
    assert client.get(f"/api/v1/settlements/{settlement_id}",
                      headers=case["agency_headers"]).json["status"] == "lapsed"
    assert propose(client, case, "4200", deadline="2026-12-10").status_code == 201


def test_another_agency_and_lender_never_see_an_offer(client, case, factory):
    settlement_id = propose(client, case, "4300").json["id"]
    _, stranger_agency, _ = placed_case(factory)
    stranger = bearer(factory.token(stranger_agency)[1])
    for path in (f"/settlements/{settlement_id}", f"/accounts/{case['account'].id}/settlements"):
        assert client.get(f"/api/v1{path}", headers=stranger).status_code == 404
    assert post(client, case, f"/settlements/{settlement_id}/accept", stranger).status_code == 404
    other_lender = bearer(factory.token(factory.tenant(TenantKind.LENDER), "lender_manager")[1])
    assert post(client, case, f"/settlements/{settlement_id}/decision", other_lender, approve=True).status_code == 404
    assert client.get("/api/v1/settlements", headers=other_lender).json["items"] == []


# ---- agreements -------------------------------------------------------------------------------------------------

def test_the_agreement_is_a_bilingual_page_in_the_lenders_language_first(client, case, factory):
    settlement_id = propose(client, case, "4005").json["id"]
    made = post(client, case, f"/settlements/{settlement_id}/agreement")
    assert made.status_code == 201, made.json
    assert made.json["status"] == "generated" and made.json["language"] == "en"
    again = post(client, case, f"/settlements/{settlement_id}/agreement")
    assert again.json["id"] == made.json["id"], "the unsigned agreement is reused"
    page = client.get(f"/api/v1/agreements/{made.json['id']}/document", headers=case["agency_headers"])
    html = page.get_data(as_text=True)
    assert page.status_code == 200 and page.mimetype == "text/html"
    assert "sandbox" in page.headers["Content-Security-Policy"]
    assert html.index("Repayment agreement") < html.index("还款协议"), "an English-speaking lender's text first"
    assert "CN¥4,005.00" in html and "2026年12月15日" in html and "December 15, 2026" in html
    assert case["account"].debtor_name in html and "the English text governs" in html

    lender, agency, account = placed_case(factory, lender_values={"locale": "zh_CN"})
    with tenant_scope(agency.id):
        settlement = settlements.propose(account.id, amount="4450", deadline=TODAY + timedelta(days=5), note=None,
                                         user_id=None)
        agreement = agreements.for_settlement(settlement.id, user_id=None)
        html = evidence.verified_copy(evidence.get_evidence(agreement.document_evidence_id)).read().decode()
    assert agreement.language == "zh" and html.index("还款协议") < html.index("Repayment agreement")
    assert "以中文文本为准" in html


def test_a_verbal_acknowledgement_on_a_recorded_call_signs_the_agreement_as_evidence(client, case):
    settlement_id = propose(client, case, "4005").json["id"]
    agreement_id = post(client, case, f"/settlements/{settlement_id}/agreement").json["id"]
    account_id = case["account"].id
    call = client.post(f"/api/v1/accounts/{account_id}/contact-attempts", json={"channel": "call"},
                       headers=case["agency_headers"]).json["attempt"]["id"]
    sms = client.post(f"/api/v1/accounts/{account_id}/contact-attempts", json={"channel": "sms"},
                      headers=case["agency_headers"]).json["attempt"]["id"]
    unanswered = client.post(f"/api/v1/agreements/{agreement_id}/signature", headers=case["agency_headers"],
                             data={"method": "verbal", "signatory": "Zhang San", "attempt_id": call})
    assert unanswered.status_code == 422 and "attempt_id" in unanswered.json["error"]["details"]["fields"]
    client.post(f"/api/v1/contact-attempts/{call}/outcome", json={"outcome_code": "promise_to_pay"},
                headers=case["agency_headers"])
    not_a_call = client.post(f"/api/v1/agreements/{agreement_id}/signature", headers=case["agency_headers"],
                             data={"method": "verbal", "signatory": "Zhang San", "attempt_id": sms})
    assert not_a_call.status_code == 422

    signed = client.post(f"/api/v1/agreements/{agreement_id}/signature", headers=case["agency_headers"],
                         data={"method": "verbal", "signatory": "Zhang San", "attempt_id": call})
    assert signed.status_code == 200, signed.json
    assert signed.json["status"] == "signed" and signed.json["signature_detail"] == f"verbal on recorded call {call}"
    assert signed.json["signed_attempt_id"] == call
    assert client.get(f"/api/v1/settlements/{settlement_id}",
                      headers=case["agency_headers"]).json["status"] == "accepted", "signing is accepting"

    copy = client.get(f"/api/v1/evidence/{signed.json['signed_evidence_id']}", headers=case["manager_headers"]).json
    assert copy["kind"] == "signed_agreement" and copy["attempt_id"] == call and copy["settlement_id"] == settlement_id
    content = client.get(f"/api/v1/evidence/{copy['id']}/content", headers=case["manager_headers"]).get_data()
    assert b"Acknowledged by Zhang San" in content and f"verbal on recorded call {call}".encode() in content
    for tenant in (case["agency"], case["lender"]):
        recorded = [e.after["sha256"] for e in db_session_events(tenant.id)
                    if e.action == "evidence.stored" and e.object_id == copy["id"]]
        assert recorded == [copy["sha256"]], "the digest is in the uploader's and the lender's chains"
        assert chain_ok(tenant.id)
    signed_event = [e for e in db_session_events(case["agency"].id) if e.action == "agreement.signed"]
    assert signed_event[0].after["sha256"] == copy["sha256"]
    twice = client.post(f"/api/v1/agreements/{agreement_id}/signature", headers=case["agency_headers"],
                        data={"method": "e_signature", "signatory": "Zhang San"})
    assert twice.status_code == 409


def test_an_uploaded_signed_copy_is_kept_with_its_digest(client, case):
    settlement_id = propose(client, case, "4450").json["id"]
    agreement_id = post(client, case, f"/settlements/{settlement_id}/agreement").json["id"]
    missing = client.post(f"/api/v1/agreements/{agreement_id}/signature", headers=case["agency_headers"],
                          data={"method": "upload", "signatory": "Zhang San"})
    assert missing.status_code == 422 and "file" in missing.json["error"]["details"]["fields"]
    scan = b"%PDF-1.4 signed by Zhang San"
    signed = client.post(f"/api/v1/agreements/{agreement_id}/signature", headers=case["agency_headers"],
                         data={"method": "upload", "signatory": "Zhang San",
                               "file": (io.BytesIO(scan), "signed.pdf", "application/pdf")})
    assert signed.status_code == 200, signed.json
    copy = client.get(f"/api/v1/evidence/{signed.json['signed_evidence_id']}", headers=case["agency_headers"]).json
    import hashlib

    assert (copy["filename"], copy["content_type"], copy["size_bytes"]) == ("signed.pdf", "application/pdf", len(scan))
    assert copy["sha256"] == hashlib.sha256(scan).hexdigest()
    assert signed.json["signatory"] == "Zhang San", "a collector sees the name in full"


def test_a_payment_plan_gets_its_agreement_with_the_schedule(client, case, factory):
    with tenant_scope(case["agency"].id):
        plan = plans.propose(case["account"].id, user_id=None, total="900", count=3, frequency="monthly",
                             first_due_on=TODAY + timedelta(days=10))
    made = post(client, case, f"/plans/{plan.id}/agreement")
    assert made.status_code == 201, made.json
    assert made.json["plan_id"] == str(plan.id) and made.json["settlement_id"] is None
    html = client.get(f"/api/v1/agreements/{made.json['id']}/document",
                      headers=case["agency_headers"]).get_data(as_text=True)
    assert "in 3 instalments" in html and "分3期偿还共计" in html
    assert html.count("¥300.00") == 6, "three rows, in both languages"
    document = client.get(f"/api/v1/evidence/{made.json['document_evidence_id']}", headers=case["agency_headers"])
    assert (document.json["kind"], document.json["plan_id"]) == ("agreement", str(plan.id))

    signed = client.post(f"/api/v1/agreements/{made.json['id']}/signature", headers=case["agency_headers"],
                         data={"method": "e_signature", "signatory": "Zhang San"})
    assert signed.status_code == 200 and signed.json["signature_detail"] == "e-signature"
    _, stranger, _ = placed_case(factory)
    assert post(client, case, f"/plans/{plan.id}/agreement", bearer(factory.token(stranger)[1])).status_code == 404


def test_the_lender_decides_from_its_page_and_the_agency_offers_from_the_case_page(client, case, factory):
    factory.user(case["agency"], "agency_collector", email="collector@settle.test")
    factory.user(case["lender"], "lender_manager", email="manager@settle.test")
    login(client, "collector@settle.test")
    agency_slug, account_id = case["agency"].slug, case["account"].id
    offered = client.post(f"/t/{agency_slug}/cases/{account_id}/settlements",
                          data={"amount": "3500", "deadline": "2026-12-20", "note": "lump sum from family"})
    assert offered.status_code == 302
    assert offered.headers["Location"].endswith(f"/cases/{account_id}?section=agreements#settlements")
    with tenant_scope(case["agency"].id):
        settlement = settlements.for_account(account_id)[0]
    assert settlement.status == SettlementStatus.AWAITING_LENDER

    login(client, "manager@settle.test")
    page = client.get(f"/t/{case['lender'].slug}/casework-decisions").get_data(as_text=True)
    assert f'id="settlement-{settlement.id}"' in page and "lump sum from family" in page
    decided = client.post(f"/t/{case['lender'].slug}/settlements/{settlement.id}/decision",
                          data={"decision": "approve", "note": "ok", "next": "decisions"})
    assert decided.status_code == 302 and decided.headers["Location"].endswith("/casework-decisions")
    page = client.get(f"/t/{case['lender'].slug}/casework-decisions").get_data(as_text=True)
    assert "No settlement is waiting for you." in page
    with tenant_scope(case["lender"].id):
        assert db_status(settlement.id) == SettlementStatus.APPROVED


def db_status(settlement_id):
    from tenants.db import db

    return db.session.scalar(select(Settlement.status).where(Settlement.id == settlement_id))


PARTIALS = ("_settlements.html", "_evidence.html", "_disputes.html", "_legal.html")


def render_panels(app, tenant, role, panel) -> str:
    """The four partials as the case page (agency) or the account page (lender) will include them."""
    with app.test_request_context(f"/t/{tenant.slug}/casework-decisions"), tenant_scope(tenant.id):
        g.tenant, g.role = tenant, role
        context = panel()
        return "".join(render_template_string('{% include "tenant/' + name + '" %}', **context) for name in PARTIALS)


def test_the_case_and_account_panels_show_every_part_with_the_right_actions(app, client, case):
    within = propose(client, case, "4005").json["id"]
    post(client, case, f"/settlements/{within}/agreement")
    account_id = case["account"].id
    client.post(f"/api/v1/accounts/{account_id}/disputes", headers=case["agency_headers"],
                json={"category": "other", "reason": "Unsure about the fees."})
    with tenant_scope(case["agency"].id):
        account, placement = get_account(account_id), settlements.held_placement(account_id)
        plan = plans.propose(account_id, user_id=None, total="900", count=3, frequency="monthly",
                             first_due_on=TODAY + timedelta(days=10))
    agency_html = render_panels(app, case["agency"], "agency_supervisor", lambda: legal_panel(account, placement))
    for marker in ('id="settlements"', 'id="settlement-form"', 'id="discount-limit"', "sign-form-", 'id="evidence"',
                   'id="evidence-form"', 'id="disputes"', 'id="dispute-form"', 'id="legal"', 'id="legal-form"'):
        assert marker in agency_html, marker
    assert "10%" in agency_html and "Unsure about the fees." in agency_html
    assert f'id="plan-agreement-{plan.id}"' in agency_html and f'/plans/{plan.id}/agreement' in agency_html

    with tenant_scope(case["lender"].id):
        lender_account = get_account(account_id)
    lender_html = render_panels(app, case["lender"], "lender_analyst", lambda: lender_legal_panel(lender_account))
    assert 'id="settlement-' in lender_html and 'id="settlement-form"' not in lender_html
    assert 'id="legal-form"' not in lender_html and 'id="dispute-form"' not in lender_html, "an analyst reads only"
    assert "sign-form-" not in lender_html
