"""Self-service analytics on a small hand-built set of portal links, sessions, requests and payments, every count
checked exactly: per sender (agency) and message template, links sent, opened, self-service actions, payments
through the portal and the self-cure rate. A lender sees every agency's links on its accounts and never another
lender's; an agency only its own links; a foreign agency or template id answers 404; the page, its CSV and the API
answer, in both languages."""
import secrets
from datetime import timedelta

import pytest

from tenants import clock
from tenants.analytics import self_service
from tenants.analytics.common import Viewer
from tenants.context import tenant_scope
from tenants.db import db
from tenants.errors import NotFound
from tenants.placements import services as placements
from tenants.portal import links
from tenants.portal.models import (
    PortalPayment,
    PortalPaymentStatus,
    PortalRequest,
    PortalSession,
    RequestKind,
    RequestStatus,
)
from tests.factories import login


def place(lender, agency, accounts):
    with tenant_scope(lender.id):
        batch = placements.place(lender=lender, selection=placements.Selection(
            external_refs=tuple(a.external_ref for a in accounts)), weights={agency.id: 1}, terms={},
            created_by=None, seed=1, debtors_notified=True)
    with tenant_scope(agency.id):
        placements.respond(batch.id, accept=True)


def send(agency, account, template=None):
    with tenant_scope(agency.id):
        link, _url = links.issue(account, channel="sms", template_id=template.id if template else None)
        return link


def opened(agency, link):
    """The debtor typed the right code: a session on the link."""
    now = clock.now()
    with tenant_scope(agency.id):
        session = PortalSession(tenant_id=link.tenant_id, lender_tenant_id=link.lender_tenant_id,
                                account_id=link.account_id, link_id=link.id, token_hash=secrets.token_hex(32),
                                locale="zh", created_at=now, last_seen_at=now, expires_at=now + timedelta(hours=1))
        db.session.add(session)
        db.session.merge(link).first_opened_at = now
        db.session.flush()
        return session


def asked(agency, link, session, kind, status=RequestStatus.DONE):
    with tenant_scope(agency.id):
        db.session.add(PortalRequest(tenant_id=agency.id, lender_tenant_id=link.lender_tenant_id,
                                     account_id=link.account_id, session_id=session.id, link_id=link.id,
                                     template_id=link.template_id, kind=kind, status=status, details={}))
        db.session.flush()


def paid(agency, link, session, amount_minor, status=PortalPaymentStatus.SUCCEEDED):
    """A portal payment on the session; a recorded one also leaves its request (naming the session, not the link,
    as tenants.portal.payments does)."""
    with tenant_scope(agency.id):
        db.session.add(PortalPayment(tenant_id=link.lender_tenant_id, agency_tenant_id=agency.id,
                                     account_id=link.account_id, session_id=session.id,
                                     intent_id=f"pi_{secrets.token_hex(8)}", amount_minor=amount_minor,
                                     currency="CNY", method="card", status=status))
        if status == PortalPaymentStatus.SUCCEEDED:
            db.session.add(PortalRequest(tenant_id=agency.id, lender_tenant_id=link.lender_tenant_id,
                                         account_id=link.account_id, session_id=session.id,
                                         kind=RequestKind.PAYMENT, status=RequestStatus.DONE, details={}))
        db.session.flush()


@pytest.fixture
def portal(factory, db_session, frozen_clock):
    """Jade places a1–a5 with Alpha and b1–b2 with Beta; Rex places r1 with Alpha. Links as commented."""
    jade = factory.tenant("lender", name="Jade Lending")
    rex = factory.tenant("lender", name="Rex Credit")
    alpha = factory.tenant("agency", name="Alpha Collect")
    beta = factory.tenant("agency", name="Beta Recovery")
    factory.panel(jade, alpha)
    factory.panel(jade, beta)
    factory.panel(rex, alpha)
    a1, a2, a3, a4, a5, b1, b2 = (factory.account(jade) for _ in range(7))
    r1 = factory.account(rex)
    place(jade, alpha, [a1, a2, a3, a4, a5])
    place(jade, beta, [b1, b2])
    place(rex, alpha, [r1])
    reminder = factory.message_template(jade, name="Reminder", body="{{ portal_link }} 回复TD退订")
    offer = factory.message_template(jade, name="Offer", body="{{ portal_link }} 回复TD退订")
    rex_template = factory.message_template(rex, name="Rex notice", body="{{ portal_link }} 回复TD退订")
    factory.user(jade, "lender_analyst", email="analyst@jade.test")
    factory.user(jade, "lender_manager", email="zh@jade.test", locale="zh_CN")
    factory.user(alpha, "agency_supervisor", email="sup@alpha.test")

    # Alpha, Reminder: a1 agrees a plan (self-cured), a2 raises a dispute, a3 never opens.
    link = send(alpha, a1, reminder)
    asked(alpha, link, opened(alpha, link), RequestKind.PLAN)
    link = send(alpha, a2, reminder)
    asked(alpha, link, opened(alpha, link), RequestKind.DISPUTE)
    send(alpha, a3, reminder)
    # Alpha, Offer: a4 pays 300.00 (self-cured), a1 is sent it too but never opens it, a5 asks for a settlement
    # the lender has not decided and a card payment fails.
    link = send(alpha, a4, offer)
    paid(alpha, link, opened(alpha, link), 30_000)
    send(alpha, a1, offer)
    link = send(alpha, a5, offer)
    session = opened(alpha, link)
    asked(alpha, link, session, RequestKind.SETTLEMENT, RequestStatus.AWAITING_LENDER)
    paid(alpha, link, session, 10_000, PortalPaymentStatus.FAILED)
    # Beta: b1 (Reminder) sets preferences; b2 is sent a link without a template and never opens it.
    link = send(beta, b1, reminder)
    asked(beta, link, opened(beta, link), RequestKind.PREFERENCES)
    send(beta, b2)
    # Rex's account with Alpha: opened and paid 4 000.00 — never in Jade's or Beta's figures.
    link = send(alpha, r1, rex_template)
    paid(alpha, link, opened(alpha, link), 400_000)
    return dict(jade=jade, rex=rex, alpha=alpha, beta=beta, reminder=reminder, offer=offer, rex_template=rex_template)


def counts(row):
    return (row.sent, row.opened, row.acted, row.paid, row.cured)


def read(tenant, **kwargs):
    with tenant_scope(tenant.id):
        return self_service.self_service(Viewer.of(tenant), today=clock.now().date(), **kwargs)


def test_a_lender_sees_each_agency_and_template_exactly(portal):
    found = read(portal["jade"])
    rows = {(r.sender, r.template_id): r for r in found.rows}
    alpha, beta = "Alpha Collect", "Beta Recovery"
    assert set(rows) == {(alpha, portal["reminder"].id), (alpha, portal["offer"].id),
                         (beta, portal["reminder"].id), (beta, None)}
    assert counts(rows[alpha, portal["reminder"].id]) == (3, 2, 2, 0, 1)
    assert rows[alpha, portal["reminder"].id].self_cure_rate == pytest.approx(1 / 3)
    offer = rows[alpha, portal["offer"].id]
    assert counts(offer) == (3, 2, 2, 1, 1) and offer.amounts == (("CNY", 30_000),)
    assert counts(rows[beta, portal["reminder"].id]) == (1, 1, 1, 0, 0)
    assert counts(rows[beta, None]) == (1, 0, 0, 0, 0) and rows[beta, None].self_cure_rate == 0
    totals = {r.sender: r for r in found.totals}
    # Distinct accounts per agency: a1 counts once though sent both templates.
    assert counts(totals[alpha]) == (5, 4, 4, 1, 2) and totals[alpha].self_cure_rate == pytest.approx(2 / 5)
    assert totals[alpha].amounts == (("CNY", 30_000),)
    assert counts(totals[beta]) == (2, 1, 1, 0, 0)
    assert "Rex" not in repr(found) and 400_000 not in [m for r in found.totals for _c, m in r.amounts]

    only = read(portal["jade"], agency_id=portal["beta"].id, template_id=portal["reminder"].id)
    assert [counts(r) for r in only.rows] == [(1, 1, 1, 0, 0)] and [r.sender for r in only.totals] == [beta]


def test_an_agency_sees_only_its_own_links_and_other_lenders_never_cross(portal):
    found = read(portal["alpha"])
    assert {r.sender for r in found.rows + found.totals} == {"Alpha Collect"}
    rows = {r.template_id: r for r in found.rows}
    assert set(rows) == {portal["reminder"].id, portal["offer"].id, portal["rex_template"].id}
    assert counts(rows[portal["rex_template"].id]) == (1, 1, 1, 1, 1)
    [total] = found.totals
    assert counts(total) == (6, 5, 5, 2, 3) and total.amounts == (("CNY", 430_000),)

    [beta] = read(portal["beta"]).totals
    assert counts(beta) == (2, 1, 1, 0, 0)
    rex = read(portal["rex"])
    assert [(r.sender, counts(r), r.amounts) for r in rex.rows] == [("Alpha Collect", (1, 1, 1, 1, 1),
                                                                     (("CNY", 400_000),))]

    for tenant, kwargs in ((portal["jade"], {"agency_id": portal["rex"].id}),
                           (portal["jade"], {"template_id": portal["rex_template"].id}),
                           (portal["beta"], {"agency_id": portal["alpha"].id}),
                           (portal["beta"], {"template_id": portal["rex_template"].id}),
                           (portal["rex"], {"agency_id": portal["beta"].id})):
        with pytest.raises(NotFound):
            read(tenant, **kwargs)


def test_the_page_csv_and_api_answer_in_both_languages_and_hide_foreign_ids(portal, client, factory):
    login(client, "analyst@jade.test")
    slug = portal["jade"].slug
    page = client.get(f"/t/{slug}/analytics/self-service")
    text = page.get_data(as_text=True)
    assert page.status_code == 200 and 'id="formulas"' in text and "Self-cure rate" in text
    assert "Alpha Collect" in text and "Rex" not in text and "33.3" in text
    data = client.get(f"/t/{slug}/analytics/self-service.csv").data.decode("utf-8-sig")
    assert data.startswith("sender_id,sender,template_id,template,links_sent,opened,self_service,paid")
    assert f"{portal['alpha'].id},Alpha Collect,,(all),5,4,4,1,CNY:30000,2,0.400000" in data
    assert "Rex" not in data
    assert client.get(f"/t/{slug}/analytics/self-service?agency_id={portal['rex'].id}").status_code == 404
    assert client.get(f"/t/{slug}/analytics/self-service.csv?template_id={portal['rex_template'].id}"
                      ).status_code == 404
    assert client.get(f"/t/{slug}/analytics/self-service?template_id=nonsense").status_code == 404
    login(client, "zh@jade.test")
    text = client.get(f"/t/{slug}/analytics/self-service").get_data(as_text=True)
    assert "自愈率" in text and "已发送链接" in text and "全部模板" in text

    login(client, "sup@alpha.test")
    text = client.get(f"/t/{portal['alpha'].slug}/analytics/self-service").get_data(as_text=True)
    assert "Beta Recovery" not in text and "Alpha Collect" in text

    _token, secret = factory.token(portal["jade"], "lender_analyst")
    headers = {"Authorization": f"Bearer {secret}"}
    found = client.get("/api/v1/analytics/self-service", headers=headers).get_json()
    assert "self_cure" in found["formulas"] and found["formulas"]["self_cure"]["zh"].startswith("自愈率")
    [alpha] = [r for r in found["totals"] if r["sender"] == "Alpha Collect"]
    assert {"sent": 5, "opened": 4, "acted": 4, "paid": 1, "cured": 2, "template": None,
            "paid_amounts": [{"currency": "CNY", "amount_minor": 30_000}]}.items() <= alpha.items()
    assert alpha["self_cure_rate"] == pytest.approx(0.4)
    for query in (f"agency_id={portal['rex'].id}", f"template_id={portal['rex_template'].id}"):
        assert client.get(f"/api/v1/analytics/self-service?{query}", headers=headers).status_code == 404
    _token, secret = factory.token(portal["beta"], "agency_admin")
    found = client.get("/api/v1/analytics/self-service", headers={"Authorization": f"Bearer {secret}"}).get_json()
    assert [(r["sender"], r["sent"]) for r in found["totals"]] == [("Beta Recovery", 2)]
