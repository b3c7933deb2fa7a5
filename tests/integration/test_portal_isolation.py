"""The portal shows and changes one account: a link for account A never reaches account B (of the same agency, of
another lender), a session's pages name only its account, a token of one tenant opens nothing in another, and the
answers to someone not yet in never tell a real link from a made-up one. Counters fail closed in PostgreSQL."""
import re
import uuid

import pytest
from sqlalchemy import select

from tenants.context import tenant_scope
from tenants.db import db
from tenants.errors import TenantIsolationError
from tenants.portal import links, scope
from tenants.portal.models import PortalCode, PortalPayment
from tenants.portfolios.models import Account
from tests.integration.test_portal import csrf_of, last_code, open_session

pytestmark = pytest.mark.usefixtures("frozen_clock")


@pytest.fixture
def two_cases(factory):
    lender, agency, account_a = factory.placed_account(time_zones=["Asia/Shanghai"])
    account_b = factory.account(lender)
    from tenants.placements import services as placements

    with tenant_scope(lender.id):
        batch = placements.place(lender=lender, selection=placements.Selection(
            external_refs=(account_b.external_ref,)), weights={agency.id: 1}, terms={}, created_by=None, seed=1,
            debtors_notified=True)
    with tenant_scope(agency.id):
        placements.respond(batch.id, accept=True)
    other_lender, other_agency, account_c = factory.placed_account(time_zones=["Asia/Shanghai"])
    return lender, agency, account_a, account_b, other_agency, account_c


def issue(agency, account, channel="sms") -> str:
    with tenant_scope(agency.id):
        link, url = links.issue(db.session.get(Account, account.id), channel=channel)
        db.session.flush()
    return url.rsplit("/p/", 1)[1]


def test_a_session_of_account_a_shows_a_and_never_b(client, two_cases):
    lender, agency, account_a, account_b, other_agency, account_c = two_cases
    home = open_session(client, agency, account_a, issue(agency, account_a)).get_data(as_text=True)
    assert account_a.external_ref in home
    for other in (account_b, account_c):
        assert other.external_ref not in home
    for path in ("/p/plan", "/p/pay", "/p/dispute", "/p/preferences", "/p/time", "/p/settle", "/p/proof"):
        page = client.get(path).get_data(as_text=True)
        assert account_b.external_ref not in page and account_c.external_ref not in page
    # Another account's payment named in the query: not found, nothing shown.
    with tenant_scope(lender.id):
        db.session.add(PortalPayment(tenant_id=lender.id, agency_tenant_id=agency.id, account_id=account_b.id,
                                     intent_id=f"pi_b_{uuid.uuid4().hex}", amount_minor=100, currency="CNY",
                                     method="card", status="succeeded", refunded_minor=0))
        db.session.flush()
        b_payment = db.session.scalar(select(PortalPayment.id).where(PortalPayment.account_id == account_b.id))
    assert client.get(f"/p/payment?ref={b_payment}").status_code == 404
    assert client.get("/p/payment?ref=not-a-uuid").status_code == 404


def test_the_fence_refuses_any_row_of_another_account(factory, two_cases):
    lender, agency, account_a, account_b, *_ = two_cases
    with tenant_scope(agency.id), scope.account_fence(account_a.id):
        db.session.expire_all()
        assert db.session.scalar(select(Account).where(Account.id == account_a.id)).id == account_a.id
        with pytest.raises(TenantIsolationError):
            db.session.scalar(select(Account).where(Account.id == account_b.id)
                              .execution_options(populate_existing=True))


def test_no_such_link_and_a_wrong_code_answer_alike(client, two_cases):
    lender, agency, account_a, *_ = two_cases
    token = issue(agency, account_a)
    made_up = token[:-3] + ("aaa" if not token.endswith("aaa") else "bbb")
    answers = []
    for candidate in (token, made_up, "nonsense", f"{uuid.uuid4().hex}.0123456789abcdef"):
        page = client.get(f"/p/{candidate}")
        sent = client.post(f"/p/{candidate}/code", data={"csrf": csrf_of(page)})
        wrong = client.post(f"/p/{candidate}/verify", data={"csrf": csrf_of(page), "code": "000000"})
        body = re.sub(r'value="[^"]+"|/p/[^"]+', "", wrong.get_data(as_text=True))
        answers.append((sent.status_code, wrong.status_code, body))
    assert len({(s, w) for s, w, _ in answers}) == 1 and answers[0][1] == 422
    assert len({b for _, _, b in answers}) == 1


def test_a_token_of_one_tenant_opens_nothing_of_another_and_a_revoked_link_ends_its_session(client, two_cases):
    lender, agency, account_a, account_b, other_agency, account_c = two_cases
    token = issue(agency, account_a)
    open_session(client, agency, account_a, token)
    assert client.get("/p/home").status_code == 200
    # The other agency's staff see none of it.
    with tenant_scope(other_agency.id):
        assert db.session.scalars(select(PortalCode)).all() == []
    with tenant_scope(agency.id):
        [link] = links.of_account(account_a.id)
        links.revoke(link.id, user_id=None)
        db.session.flush()
    assert client.get("/p/home").status_code == 401


def test_wrong_codes_are_throttled_per_link_in_postgresql_counters(client, two_cases):
    lender, agency, account_a, *_ = two_cases
    token = issue(agency, account_a)
    page = client.get(f"/p/{token}")
    client.post(f"/p/{token}/code", data={"csrf": csrf_of(page)})
    statuses = [client.post(f"/p/{token}/verify", data={"csrf": csrf_of(page), "code": "999999"}).status_code
                for _ in range(6)]
    assert statuses[:5] == [422] * 5 and statuses[5] == 429
    # Even the right code waits now.
    right = client.post(f"/p/{token}/verify", data={"csrf": csrf_of(page), "code": last_code(agency, account_a)})
    assert right.status_code == 429


def test_a_form_without_the_portal_csrf_token_is_refused(client, two_cases):
    lender, agency, account_a, *_ = two_cases
    token = issue(agency, account_a)
    client.get(f"/p/{token}")
    assert client.post(f"/p/{token}/code", data={}).status_code == 400
