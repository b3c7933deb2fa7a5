"""The compliance console: real decisions made through the conduct service at known times, counted by agency,
rule and UTC day; agency scorecards (blocks per 1,000 attempts, after hours, during holds, complaints); one
decision replayed; each lender limited to its own accounts; the console closed to everyone but platform admins."""
import re
import uuid
from datetime import date, datetime, timezone

import pytest
from sqlalchemy import select

from tenants.compliance import complaints, reports
from tenants.conduct import approvals
from tenants.conduct import service as conduct
from tenants.conduct.models import ApprovalRequest
from tenants.context import platform_scope, tenant_scope
from tenants.placements import services as placements
from tests.factories import login

# Platform-wide reports read every tenant's committed attempts: on PostgreSQL other tests commit theirs (around
# 1 December 2026), so these decisions happen on days of their own.
DAY1, DAY2 = date(2027, 3, 10), date(2027, 3, 11)
SHANGHAI_10AM = datetime(2027, 3, 10, 2, 0, tzinfo=timezone.utc)
SHANGHAI_11PM = datetime(2027, 3, 10, 15, 0, tzinfo=timezone.utc)
# 07:30 on 11 March in Shanghai, still 10 March in UTC: the reports count it on the UTC day.
SHANGHAI_0730_NEXT_DAY = datetime(2027, 3, 10, 23, 30, tzinfo=timezone.utc)
SHANGHAI_10AM_NEXT_DAY = datetime(2027, 3, 11, 2, 0, tzinfo=timezone.utc)
CHANNELS = ["call", "sms", "letter", "visit"]


def place(factory, lender, agency):
    """An account of the lender placed with the agency: its id (the object expires at the service's commits, and
    on PostgreSQL a reload outside the lender's context finds nothing)."""
    account = factory.account(lender)
    account_id = account.id
    with tenant_scope(lender.id):
        batch = placements.place(lender=lender, selection=placements.Selection(external_refs=(account.external_ref,)),
                                 weights={agency.id: 1}, terms={}, created_by=None, seed=1, debtors_notified=True)
    with tenant_scope(agency.id):
        placements.respond(batch.id, accept=True)
    return account_id


def contact(agency, account_id, channel, **ask):
    """Decide a contact as the agency; the attempt's id whether allowed or refused."""
    with tenant_scope(agency.id):
        try:
            record, _ = conduct.attempt(account_id, conduct.AttemptRequest(channel=channel, **ask),
                                        collector_user_id=None)
            return record.id
        except conduct.ConductBlocked as refused:
            return uuid.UUID(refused.details["attempt_id"])


@pytest.fixture
def decisions(factory, db_session, frozen_clock):
    """Jade Lending places one account with Alpha Collect and one with Beta Recovery; Harbor Lending places one
    with Alpha. Over two days: allowed texts, calls refused at night (CN.HOURS), a call refused during a dispute
    hold (HOLD.DISPUTE), two visits sent for approval (CN.VISIT), one approved; complaints about Alpha."""
    jade = factory.tenant("lender", name="Jade Lending")
    harbor = factory.tenant("lender", name="Harbor Lending")
    alpha = factory.tenant("agency", name="Alpha Collect")
    beta = factory.tenant("agency", name="Beta Recovery")
    for lender, agency in ((jade, alpha), (jade, beta), (harbor, alpha)):
        factory.panel(lender, agency, channels=CHANNELS)
    jade_alpha, jade_beta = place(factory, jade, alpha), place(factory, jade, beta)
    harbor_alpha = place(factory, harbor, alpha)

    frozen_clock.set(SHANGHAI_10AM)
    ids = {"jade_alpha_sms": contact(alpha, jade_alpha, "sms"), "jade_beta_sms": contact(beta, jade_beta, "sms")}
    with tenant_scope(beta.id):
        conduct.open_hold(jade_beta, "dispute", reason="debtor disputes the amount", source="api")
    ids["jade_beta_hold"] = contact(beta, jade_beta, "call")
    frozen_clock.set(SHANGHAI_11PM)
    ids["jade_alpha_night"] = contact(alpha, jade_alpha, "call")
    frozen_clock.set(SHANGHAI_0730_NEXT_DAY)
    ids["harbor_alpha_early"] = contact(alpha, harbor_alpha, "call")
    frozen_clock.set(SHANGHAI_10AM_NEXT_DAY)
    ids["jade_alpha_sms2"] = contact(alpha, jade_alpha, "sms")
    ids["jade_alpha_visit"] = contact(alpha, jade_alpha, "visit", staff_count=2)
    ids["harbor_alpha_visit"] = contact(alpha, harbor_alpha, "visit", staff_count=2)  # Harbor never answers
    with tenant_scope(jade.id):
        request = db_session.scalar(select(ApprovalRequest).where(ApprovalRequest.attempt_id ==
                                                                  ids["jade_alpha_visit"]))
        approvals.decide(request.id, approve=True, role="lender_manager", user_id=None)
    upheld = factory.complaint(jade, jade_alpha, attempt_id=ids["jade_alpha_night"], category="time_of_day")
    with tenant_scope(jade.id):
        complaints.change_status(complaints.Actor(jade), upheld.id, "upheld", "Called at 23:00; collector warned.")
    factory.complaint(harbor, harbor_alpha, agency_id=alpha.id)
    db_session.flush()
    return dict(jade=jade, harbor=harbor, alpha=alpha, beta=beta, ids=ids)


def period(**narrowing):
    return reports.ReportFilter(date_from=DAY1, date_to=DAY2, **narrowing)


def test_the_platform_counts_decisions_by_agency_rule_and_utc_day(decisions):
    alpha, beta = decisions["alpha"], decisions["beta"]
    with platform_scope("test: compliance report"):
        rows = reports.decision_counts(period())
    counts = {(r.agency_name, r.rule_id, r.day): (r.decisions, r.blocked, r.approved, r.allowed) for r in rows}
    assert counts == {
        ("Alpha Collect", None, DAY1): (1, 0, 0, 1),
        ("Alpha Collect", "CN.HOURS", DAY1): (2, 2, 0, 0),  # 23:00 and 07:30 Shanghai, both 10 March UTC
        ("Beta Recovery", None, DAY1): (1, 0, 0, 1),
        ("Beta Recovery", "HOLD.DISPUTE", DAY1): (1, 1, 0, 0),
        ("Alpha Collect", None, DAY2): (1, 0, 0, 1),
        ("Alpha Collect", "CN.VISIT", DAY2): (2, 0, 1, 0),  # one approved, one still pending
    }
    with platform_scope("test: compliance report"):
        by_agency = {r.agency_id: (r.decisions, r.blocked, r.approved, r.allowed)
                     for r in reports.decision_counts(period(), ("agency",))}
        only_hours = reports.decision_counts(period(rule_id="CN.HOURS"), ("agency", "day"))
    assert by_agency == {alpha.id: (6, 2, 1, 2), beta.id: (2, 1, 0, 1)}
    assert [(r.agency_name, r.day, r.blocked) for r in only_hours] == [("Alpha Collect", DAY1, 2)]


def test_scorecards_from_known_decisions_and_complaints(decisions):
    with platform_scope("test: compliance report"):
        cards = {s.agency_name: s for s in reports.scorecards(period())}
    alpha, beta = cards["Alpha Collect"], cards["Beta Recovery"]
    assert (alpha.attempts, alpha.blocked, alpha.blocks_per_1000) == (6, 2, 333.3)
    assert (alpha.after_hours, alpha.during_holds) == (2, 0)
    # the texts went ahead with no outcome recorded: each still counts as connected (the visits awaited approval)
    assert (alpha.awaiting_outcome, beta.awaiting_outcome) == (2, 1)
    assert (alpha.complaints_open, alpha.complaints_upheld) == (1, 1)
    assert (beta.attempts, beta.blocked, beta.blocks_per_1000) == (2, 1, 500.0)
    assert (beta.after_hours, beta.during_holds, beta.complaints_open) == (0, 1, 0)
    assert [s.agency_name for s in cards.values()][0] == "Beta Recovery", "worst blocks per 1,000 first"


def test_a_lender_sees_only_its_own_accounts_figures(decisions, db_session):
    jade, harbor = decisions["jade"], decisions["harbor"]
    with tenant_scope(jade.id):
        cards = {s.agency_name: s for s in reports.scorecards(period(lender_id=jade.id))}
        attempts = set(db_session.scalars(reports.decisions_query(period(lender_id=jade.id))))
        attempt_ids = {a.id for a in attempts}
    assert (cards["Alpha Collect"].attempts, cards["Alpha Collect"].blocked) == (4, 1), "Harbor's call is not Jade's"
    assert cards["Alpha Collect"].blocks_per_1000 == 250.0
    assert (cards["Alpha Collect"].complaints_open, cards["Alpha Collect"].complaints_upheld) == (0, 1)
    assert cards["Beta Recovery"].during_holds == 1
    assert decisions["ids"]["harbor_alpha_early"] not in attempt_ids and len(attempt_ids) == 6
    with tenant_scope(harbor.id):
        cards = {s.agency_name: s for s in reports.scorecards(period(lender_id=harbor.id))}
    assert list(cards) == ["Alpha Collect"]
    assert (cards["Alpha Collect"].attempts, cards["Alpha Collect"].blocks_per_1000) == (2, 500.0)
    assert cards["Alpha Collect"].complaints_open == 1


# ---- pages ---------------------------------------------------------------------------------------------------

@pytest.fixture
def platform_admin(factory):
    platform = factory.tenant("platform", slug=f"platform-{factory.tenant().slug}")
    factory.user(platform, "platform_admin", email="compliance@platform.test")
    return platform


def period_query():
    return f"date_from={DAY1.isoformat()}&date_to={DAY2.isoformat()}"


def test_the_platform_console_shows_both_agencies_and_replays_a_refusal(client, decisions, platform_admin):
    login(client, "compliance@platform.test")
    page = client.get(f"/admin/compliance?{period_query()}")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    scorecards = html.split('id="scorecards"')[1].split("</table>")[0]
    assert "Alpha Collect" in scorecards and "Beta Recovery" in scorecards
    assert "333.3" in scorecards and "500.0" in scorecards
    assert "CN.HOURS" in html.split('id="by-rule"')[1].split("</table>")[0]
    chart = client.get(f"/admin/compliance/decisions-per-day.svg?{period_query()}")
    assert chart.status_code == 200 and chart.mimetype == "image/svg+xml" and b"<svg" in chart.data

    listed = client.get(f"/admin/compliance/decisions?{period_query()}&outcome=blocked").get_data(as_text=True)
    assert listed.count('<tr id="decision-') == 3

    night = decisions["ids"]["jade_alpha_night"]
    review = client.get(f"/admin/compliance/decisions/{night}").get_data(as_text=True)
    assert "the engine reaches the same decision" in review
    stored = review.split('id="stored-decision"')[1].split('id="replayed-decision"')[0]
    replayed = review.split('id="replayed-decision"')[1]
    assert "CN.HOURS" in stored and "CN.HOURS" in replayed
    assert 'id="decision-inputs"' in review


def test_the_audit_chains_page_verifies_every_tenant(client, decisions, platform_admin):
    login(client, "compliance@platform.test")
    html = client.get("/admin/compliance/audit-chains").get_data(as_text=True)
    row = re.search(rf'<tr id="chain-{decisions["jade"].id}">(.*?)</tr>', html, re.S).group(1)
    assert "intact" in row and "Jade Lending" in row


def test_an_agency_cannot_open_the_console(client, factory, decisions):
    factory.user(decisions["alpha"], "agency_admin", email="boss@alpha.test")
    login(client, "boss@alpha.test")
    for url in ("/admin/compliance", "/admin/compliance/decisions", "/admin/complaints",
                "/admin/compliance/audit-chains", f"/t/{decisions['alpha'].slug}/compliance"):
        assert client.get(url).status_code == 404, url


def test_a_lender_console_shows_its_own_accounts_only(client, factory, decisions):
    jade = decisions["jade"]
    factory.user(jade, "lender_analyst", email="analyst@jade.test")
    login(client, "analyst@jade.test")
    html = client.get(f"/t/{jade.slug}/compliance?{period_query()}").get_data(as_text=True)
    scorecards = html.split('id="scorecards"')[1].split("</table>")[0]
    assert "250.0" in scorecards and "333.3" not in scorecards
    listed = client.get(f"/t/{jade.slug}/compliance/decisions?{period_query()}").get_data(as_text=True)
    assert listed.count('<tr id="decision-') == 6
    assert str(decisions["ids"]["harbor_alpha_early"]) not in listed
    assert client.get(f"/t/{jade.slug}/compliance/decisions/{decisions['ids']['jade_beta_hold']}").status_code == 200
    assert client.get(
        f"/t/{jade.slug}/compliance/decisions/{decisions['ids']['harbor_alpha_early']}").status_code == 404


# ---- API -----------------------------------------------------------------------------------------------------

def bearer(secret):
    return {"Authorization": f"Bearer {secret}"}


def test_the_api_reports_per_platform_and_per_lender(client, factory, decisions, platform_admin):
    platform_token = bearer(factory.token(platform_admin, "platform_admin")[1])
    jade_token = bearer(factory.token(decisions["jade"], "lender_analyst")[1])
    agency_token = bearer(factory.token(decisions["alpha"], "agency_admin")[1])
    query = f"{period_query()}&by=agency,rule"

    counts = client.get(f"/api/v1/compliance/decision-counts?{query}", headers=platform_token)
    assert counts.status_code == 200, counts.json
    hours = [i for i in counts.json["items"] if i["rule_id"] == "CN.HOURS"]
    assert [(i["agency_name"], i["blocked"]) for i in hours] == [("Alpha Collect", 2)]
    assert counts.json["formulas"]["days"]["en"].startswith("Days are UTC")

    cards = client.get(f"/api/v1/compliance/scorecards?{period_query()}", headers=jade_token).json
    alpha = next(i for i in cards["items"] if i["agency_name"] == "Alpha Collect")
    assert (alpha["attempts"], alpha["blocks_per_1000"], alpha["after_hours"]) == (4, 250.0, 1)
    assert "1,000" in cards["formulas"]["blocks_per_1000"]["en"]

    first = client.get(f"/api/v1/compliance/decisions?{period_query()}&limit=4", headers=jade_token).json
    rest = client.get(f"/api/v1/compliance/decisions?{period_query()}&limit=4&cursor={first['next_cursor']}",
                      headers=jade_token).json
    assert len(first["items"]) + len(rest["items"]) == 6 and rest["next_cursor"] is None

    review = client.get(f"/api/v1/compliance/decisions/{decisions['ids']['jade_beta_hold']}", headers=jade_token)
    assert review.status_code == 200
    assert review.json["matches"] is True and review.json["stored"]["outcome"] == "block"
    assert client.get(f"/api/v1/compliance/decisions/{decisions['ids']['harbor_alpha_early']}",
                      headers=jade_token).status_code == 404
    for url in ("/api/v1/compliance/scorecards", "/api/v1/compliance/decisions"):
        assert client.get(url, headers=agency_token).status_code == 404


def test_a_period_ending_before_it_starts_is_refused(client, factory, decisions):
    token = bearer(factory.token(decisions["jade"], "lender_admin")[1])
    response = client.get("/api/v1/compliance/scorecards?date_from=2026-12-05&date_to=2026-12-01", headers=token)
    assert response.status_code == 422 and response.json["error"]["code"] == "report.bad_period"
