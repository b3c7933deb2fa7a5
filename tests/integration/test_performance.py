"""Performance figures from known work done through the services: contacts through the conduct engine, promises
taken and judged by the daily review, payments recorded, confirmed, reported and reversed, cases assigned. Each
rate is checked exactly, per collector, for the team and per agency; currencies stay apart; a lender sees only its
own placements' figures and never an agency's staff; an agency sees only its own; the formulas are on the pages
in English and Chinese; the chart is served as SVG."""
from datetime import date, datetime, timezone

import pytest

from tenants.casework import assignment, payments, performance, promises
from tenants.conduct import service as conduct
from tenants.context import tenant_scope
from tenants.errors import ValidationFailed
from tenants.placements import services as placements
from tests.factories import login

NOV30 = datetime(2026, 11, 30, 2, 0, tzinfo=timezone.utc)  # 10:00 in Shanghai, the day before the period
DEC1 = datetime(2026, 12, 1, 2, 0, tzinfo=timezone.utc)
DEC1_NIGHT = datetime(2026, 12, 1, 15, 0, tzinfo=timezone.utc)  # 23:00 in Shanghai: calls are refused (CN.HOURS)
WEEK = performance.Period(date(2026, 12, 1), date(2026, 12, 7))
QUERY = "date_from=2026-12-01&date_to=2026-12-07"
BALANCE = 445_000  # the factory account's outstanding balance at placement, in minor units
CHANNELS = ["call", "sms"]


def at(clock, year_month_day: tuple[int, int, int], hour_utc: int = 2):
    clock.set(datetime(*year_month_day, hour_utc, 0, tzinfo=timezone.utc))


def place(lender, agency, *accounts, accept=True):
    with tenant_scope(lender.id):
        batch = placements.place(lender=lender, selection=placements.Selection(
            external_refs=tuple(a.external_ref for a in accounts)), weights={agency.id: 1}, terms={},
            created_by=None, seed=1, debtors_notified=True)
        placement_ids = [p.id for p in placements.batch_placements(batch)]
    if accept:
        with tenant_scope(agency.id):
            placements.respond(batch.id, accept=True)
    return placement_ids


def call(tenant, account_id, outcome, user=None, channel="call"):
    """A contact made (and its outcome recorded, when given) by `user` of `tenant`."""
    with tenant_scope(tenant.id):
        record, _ = conduct.attempt(account_id, conduct.AttemptRequest(channel=channel),
                                    collector_user_id=user.id if user else None)
        if outcome:
            conduct.record_outcome(record.id, outcome)
        return record.id


@pytest.fixture
def week(factory, db_session, frozen_clock):
    """Jade Lending (CNY) and Harbor Credit (USD, Chinese rulebook) place with Alpha Collect, whose collectors
    Ann and Bob work a week; Jade also places with Beta Recovery. What each did is in the comments."""
    jade = factory.tenant("lender", name="Jade Lending")
    harbor = factory.tenant("lender", name="Harbor Credit", currency="USD", settings={"conduct_baseline": "cn"})
    alpha = factory.tenant("agency", name="Alpha Collect")
    beta = factory.tenant("agency", name="Beta Recovery")
    for lender, agency in ((jade, alpha), (jade, beta), (harbor, alpha)):
        factory.panel(lender, agency, channels=CHANNELS)
    ann, _ = factory.user(alpha, "agency_collector", email="ann@alpha.test")
    bob, _ = factory.user(alpha, "agency_collector", email="bob@alpha.test")
    sue, _ = factory.user(alpha, "agency_supervisor", email="sue@alpha.test")
    zhu, _ = factory.user(alpha, "agency_supervisor", email="zh@alpha.test", locale="zh_CN")
    bea, _ = factory.user(beta, "agency_collector", email="bea@beta.test")
    factory.user(jade, "lender_analyst", email="analyst@jade.test")
    factory.user(jade, "lender_manager", email="zh@jade.test", locale="zh_CN")
    j1, j2, j3, j4, j5, j6 = (factory.account(jade) for _ in range(6))
    h1 = factory.account(harbor)

    frozen_clock.set(NOV30)
    place(jade, alpha, j1, j2)
    place(harbor, alpha, h1)
    place(jade, beta, j3)
    [j5_placement] = place(jade, alpha, j5)
    place(jade, beta, j6, accept=False)  # an offer never answered places nothing
    with tenant_scope(alpha.id):
        assignment.assign([j1.id, h1.id, j5.id], ann.id, by_user_id=sue.id)
        assignment.assign([j2.id], bob.id, by_user_id=sue.id)
    with tenant_scope(jade.id):
        placements.recall([j5_placement], reason="wrong agency", force=False, role="lender_admin")  # before the week
        before_week = payments.record(j2.id, amount="100.00", received_on=date(2026, 11, 30), method="alipay").id

    frozen_clock.set(DEC1)
    call(alpha, j1.id, "right_party_contact", ann)
    call(alpha, j1.id, "no_answer", ann)
    p1_call = call(alpha, j1.id, "promise_to_pay", ann)
    call(alpha, h1.id, "right_party_contact", ann)
    call(alpha, j2.id, "no_answer", bob)
    call(alpha, j2.id, "wrong_number", bob)  # connected, but not to the debtor
    call(alpha, j2.id, None, channel="sms")  # through the API: made, no collector, no outcome yet
    call(beta, j3.id, "right_party_contact", bea)
    call(jade, j4.id, "right_party_contact")  # the lender's own call on an account it never placed
    with tenant_scope(alpha.id):
        promises.take(j1.id, amount="1000.00", due_on=date(2026, 12, 3), user_id=ann.id, attempt_id=p1_call)
        promises.take(h1.id, amount="50.00", due_on=date(2026, 12, 2), user_id=ann.id)
        promises.take(j2.id, amount="300.00", due_on=date(2026, 12, 2), user_id=bob.id)
        promises.take(j2.id, amount="200.00", due_on=date(2026, 12, 2), user_id=bob.id)  # replaces (cancels) the last
    frozen_clock.set(DEC1_NIGHT)
    with pytest.raises(conduct.ConductBlocked):
        call(alpha, j1.id, None, ann)  # refused: not made

    at(frozen_clock, (2026, 12, 2))
    with tenant_scope(alpha.id):
        j1_paid = payments.record(j1.id, amount="1000.00", received_on=date(2026, 12, 2), method="bank_transfer",
                                  user_id=ann.id).id
        rejected = payments.record(j2.id, amount="300.00", received_on=date(2026, 12, 2), method="cash",
                                   user_id=bob.id).id
    with tenant_scope(jade.id):
        payments.confirm(j1_paid, None)
        payments.reverse(rejected, "no such transfer", None)  # never confirmed: nothing recovered, nothing undone
    at(frozen_clock, (2026, 12, 3))
    with tenant_scope(jade.id):
        payments.record(j2.id, amount="200.00", received_on=date(2026, 12, 3), method="alipay")  # lender-reported
    at(frozen_clock, (2026, 12, 4))
    with tenant_scope(harbor.id):
        payments.record(h1.id, amount="25.00", received_on=date(2026, 12, 4), method="card")
    at(frozen_clock, (2026, 12, 5))
    with tenant_scope(alpha.id):
        promises.review()  # J1 and J2 kept; H1's 50.00 broken (25.00 paid by 4 December)
    at(frozen_clock, (2026, 12, 6))
    with tenant_scope(jade.id):
        payments.reverse(before_week, "the transfer bounced", None)  # confirmed 30 November, reversed in the week
    at(frozen_clock, (2026, 12, 7), hour_utc=9)
    return dict(jade=jade, harbor=harbor, alpha=alpha, beta=beta, ann=ann, bob=bob, sue=sue, zhu=zhu, bea=bea)


def by_id(rows):
    return {row.id: row for row in rows}


def money(row):
    return {m.currency: (m.placements, m.balance_placed_minor, m.recovered_minor) for m in row.money}


# ---- the figures ---------------------------------------------------------------------------------------------------

def test_each_collectors_rates_are_computed_exactly(week):
    with tenant_scope(week["alpha"].id):
        rows = performance.figures(WEEK, performance.Scope(agency_id=week["alpha"].id), "collector")
    found = by_id(rows)
    assert [r.id for r in rows] == [week["ann"].id, week["bob"].id, week["sue"].id, week["zhu"].id, None], \
        "every collector by name, supervisors who worked nothing too, and work with no collector last"

    ann = found[week["ann"].id]
    assert (ann.attempts, ann.right_party_contacts, ann.rpc_rate) == (4, 3, 3 / 4), "the refused call was not made"
    assert (ann.promises, ann.promise_rate) == (2, 2 / 3)
    assert (ann.promises_kept, ann.promises_broken, ann.kept_rate) == (1, 1, 1 / 2)
    assert money(ann) == {"CNY": (1, BALANCE, 100_000), "USD": (1, BALANCE, 2_500)}, \
        "the case recalled before the week is not in her balance placed; currencies apart"
    assert ann.in_currency("CNY").liquidation_rate == 100_000 / BALANCE
    assert ann.in_currency("USD").liquidation_rate == 2_500 / BALANCE

    bob = found[week["bob"].id]
    assert (bob.attempts, bob.right_party_contacts, bob.rpc_rate) == (2, 0, 0.0), "a wrong number is no RPC"
    assert (bob.promises, bob.promise_rate) == (1, None), "the replaced promise is cancelled; no RPC to divide by"
    assert (bob.promises_kept, bob.promises_broken, bob.kept_rate) == (1, 0, 1.0)
    assert money(bob) == {"CNY": (1, BALANCE, 20_000 - 10_000)}, \
        "the lender's payment counts for the assigned collector; the reversal of one confirmed before the week " \
        "comes off; the payment rejected while pending changes nothing"

    nobody = found[None]
    assert (nobody.attempts, nobody.right_party_contacts, nobody.money) == (1, 0, ())
    sue = found[week["sue"].id]
    assert (sue.attempts, sue.promises, sue.rpc_rate, sue.kept_rate, sue.money) == (0, 0, None, None, ())


def test_the_team_is_the_whole_agency_with_currencies_apart(week):
    with tenant_scope(week["alpha"].id):
        team = performance.team(WEEK, week["alpha"].id)
    assert (team.attempts, team.right_party_contacts, team.rpc_rate) == (7, 3, 3 / 7)
    assert (team.promises, team.promise_rate, team.promises_kept, team.promises_broken, team.kept_rate) == \
        (3, 1.0, 2, 1, 2 / 3)
    assert money(team) == {"CNY": (2, 2 * BALANCE, 110_000), "USD": (1, BALANCE, 2_500)}
    assert team.in_currency("CNY").liquidation_rate == 110_000 / (2 * BALANCE)
    assert team.in_currency("USD").liquidation_rate == 2_500 / BALANCE


def test_a_lender_sees_its_agencies_on_its_own_placements_only(week):
    jade, alpha, beta = week["jade"], week["alpha"], week["beta"]
    with tenant_scope(jade.id):
        league = performance.league(WEEK, jade.id, "CNY")
    assert [r.id for r in league] == [alpha.id, beta.id], "best liquidation rate first; the lender itself is no agency"
    a, b = league
    assert (a.name, a.attempts, a.right_party_contacts, a.rpc_rate) == ("Alpha Collect", 6, 2, 2 / 6), \
        "Alpha's calls on Harbor's account are not Jade's business"
    assert (a.promises, a.promise_rate, a.promises_kept, a.promises_broken, a.kept_rate) == (2, 1.0, 2, 0, 1.0)
    assert money(a) == {"CNY": (2, 2 * BALANCE, 110_000)}, "no USD: Harbor's placement is not Jade's"
    assert (b.attempts, b.rpc_rate, b.promises, b.promise_rate, b.kept_rate) == (1, 1.0, 0, 0.0, None)
    assert money(b) == {"CNY": (1, BALANCE, 0)}, "the offer Beta never answered is not placed"

    with tenant_scope(week["harbor"].id):
        [harbor_alpha] = performance.league(WEEK, week["harbor"].id, "USD")
    assert (harbor_alpha.attempts, harbor_alpha.rpc_rate, harbor_alpha.kept_rate) == (1, 1.0, 0.0)
    assert money(harbor_alpha) == {"USD": (1, BALANCE, 2_500)}


def test_an_agency_sees_only_its_own(week, factory):
    with tenant_scope(week["beta"].id):
        team = performance.team(WEEK, week["beta"].id)
        rows = performance.figures(WEEK, performance.Scope(agency_id=week["beta"].id), "collector")
    assert (team.attempts, team.right_party_contacts, team.promises, money(team)) == (1, 1, 0, {"CNY": (1, BALANCE, 0)})
    assert [r.id for r in rows] == [week["bea"].id]
    stranger = factory.tenant("agency")
    with tenant_scope(stranger.id):
        nothing = performance.team(WEEK, stranger.id)
    assert (nothing.name, nothing.attempts, nothing.promises, nothing.money) == (stranger.name, 0, 0, ())


def test_a_period_ending_before_it_starts_is_refused():
    with pytest.raises(ValidationFailed) as refused:
        performance.Period(date(2026, 12, 7), date(2026, 12, 1))
    assert refused.value.code == "performance.bad_period"


# ---- the pages -----------------------------------------------------------------------------------------------------

def test_a_supervisor_sees_every_collector_the_team_and_the_formulas(client, week):
    login(client, "sue@alpha.test")
    page = client.get(f"/t/{week['alpha'].slug}/performance?{QUERY}").get_data(as_text=True)
    table = page.split('id="collector-figures"')[1]
    for name in (week["ann"].name, week["bob"].name):
        assert name in table
    ann_row = table.split(f'id="collector-{week["ann"].id}"')[1].split("</tr>")[0]
    assert "75.0%" in ann_row and "66.7%" in ann_row and "50.0%" in ann_row
    assert "CN¥1,000.00" in ann_row and "$25.00" in ann_row, "each currency on its own"
    team_row = page.split('id="team-figures"')[1].split("</tr>")[0]
    assert "42.9%" in team_row and "CN¥1,100.00" in team_row and "$25.00" in team_row
    assert "Right-party-contact rate = right-party contacts ÷ outbound contacts made." in page
    assert "Promise-kept rate = kept ÷ (kept + broken)" in page
    assert "Liquidation rate = recovered ÷ balance placed" in page
    assert f'src="/t/{week["alpha"].slug}/performance/chart.svg?date_from=2026-12-01&amp;date_to=2026-12-07"' in page


def test_the_formulas_are_shown_in_chinese(client, week):
    login(client, "zh@alpha.test")
    page = client.get(f"/t/{week['alpha'].slug}/performance?{QUERY}").get_data(as_text=True)
    assert "本人接通率 = 本人接通数 ÷ 外发联系数。" in page and "承诺兑现率 = 已兑现 ÷ (已兑现 + 已违约)" in page


def test_a_collector_sees_his_own_figures_beside_the_teams(client, week):
    login(client, "bob@alpha.test")
    page = client.get(f"/t/{week['alpha'].slug}/performance?{QUERY}").get_data(as_text=True)
    table = page.split('id="collector-figures"')[1]
    assert f'id="collector-{week["bob"].id}"' in table and week["ann"].name not in table
    assert 'id="team-figures"' in table


def test_the_chart_is_served_as_svg(client, week):
    login(client, "sue@alpha.test")
    chart = client.get(f"/t/{week['alpha'].slug}/performance/chart.svg?{QUERY}")
    assert chart.status_code == 200 and chart.mimetype == "image/svg+xml" and b"<svg" in chart.data
    assert "default-src 'none'" in chart.headers["Content-Security-Policy"]
    assert week["ann"].name.encode() in chart.data and b"Liquidation rate (USD)" in chart.data
    client.post("/logout")
    login(client, "analyst@jade.test")
    lender_chart = client.get(f"/t/{week['jade'].slug}/performance/chart.svg?{QUERY}")
    assert lender_chart.mimetype == "image/svg+xml" and b"Alpha Collect" in lender_chart.data
    assert week["ann"].name.encode() not in lender_chart.data and b"USD" not in lender_chart.data


def test_the_lender_league_table_page(client, week):
    login(client, "analyst@jade.test")
    page = client.get(f"/t/{week['jade'].slug}/performance?{QUERY}").get_data(as_text=True)
    league = page.split('id="league-table"')[1]
    assert league.index("Alpha Collect") < league.index("Beta Recovery")
    alpha_row = league.split(f'id="league-{week["alpha"].id}"')[1].split("</tr>")[0]
    assert "CN¥8,900.00" in alpha_row and "CN¥1,100.00" in alpha_row and "12.4%" in alpha_row
    assert "33.3%" in alpha_row and "100.0%" in alpha_row
    assert 'data-currency="USD"' not in page and week["ann"].name not in page, \
        "another lender's money, and no agency staff"
    assert "Liquidation rate = recovered ÷ balance placed" in page
    client.post("/logout")
    login(client, "zh@jade.test")
    assert "回收率 = 回收金额 ÷ 委案金额" in client.get(f"/t/{week['jade'].slug}/performance").get_data(as_text=True)


def test_the_dashboard_league_table_covers_the_last_30_days(app, week):
    """What the lender dashboard shows (web.tenant.performance.dashboard_league through _league.html)."""
    from flask import g, render_template_string

    from web.tenant.performance import dashboard_league, formula

    with app.test_request_context(f"/t/{week['jade'].slug}/"), tenant_scope(week["jade"].id):
        g.tenant = week["jade"]
        shown = dashboard_league()
        html = render_template_string('{% from "tenant/performance/_league.html" import league_table with context %}'
                                      "{{ league_table(shown.league, shown.period, formula) }}",
                                      shown=shown, formula=formula)
    assert (shown["period"].date_from, shown["period"].date_to) == (date(2026, 11, 8), date(2026, 12, 7))
    assert [r.name for r in shown["league"]] == ["Alpha Collect", "Beta Recovery"]
    assert 'id="league-table"' in html and "Liquidation rate = recovered ÷ balance placed" in html


# ---- the API -------------------------------------------------------------------------------------------------------

def bearer(factory, tenant, role=None):
    _, secret = factory.token(tenant, role)
    return {"Authorization": f"Bearer {secret}"}


def test_the_api_per_collector_and_per_agency(client, factory, week):
    supervisor = bearer(factory, week["alpha"], "agency_supervisor")
    answer = client.get("/api/v1/performance?by=collector&from=2026-12-01&to=2026-12-07", headers=supervisor)
    assert answer.status_code == 200
    body = answer.json
    ann = next(i for i in body["items"] if i["id"] == str(week["ann"].id))
    assert (ann["attempts"], ann["right_party_contacts"], ann["rpc_rate"], ann["promise_rate"], ann["kept_rate"]) == \
        (4, 3, 0.75, 2 / 3, 0.5)
    assert {m["currency"]: m["recovered_minor"] for m in ann["money"]} == {"CNY": 100_000, "USD": 2_500}
    assert body["team"]["attempts"] == 7 and body["team"]["kept_rate"] == 2 / 3
    assert body["formulas"]["rpc_rate"]["zh"].startswith("本人接通率")
    assert (body["date_from"], body["date_to"]) == ("2026-12-01", "2026-12-07")

    team = client.get("/api/v1/performance?by=agency&from=2026-12-01&to=2026-12-07",
                      headers=bearer(factory, week["alpha"], "agency_collector")).json
    assert [i["id"] for i in team["items"]] == [str(week["alpha"].id)] and team["items"][0]["attempts"] == 7
    refused = client.get("/api/v1/performance?by=collector", headers=bearer(factory, week["alpha"], "agency_collector"))
    assert refused.status_code == 403 and refused.json["error"]["code"] == "performance.supervisors_only"


def test_the_api_for_a_lender_lists_its_agencies_only(client, factory, week):
    analyst = bearer(factory, week["jade"], "lender_analyst")
    body = client.get("/api/v1/performance?by=agency&from=2026-12-01&to=2026-12-07", headers=analyst).json
    assert [i["name"] for i in body["items"]] == ["Alpha Collect", "Beta Recovery"]
    alpha = body["items"][0]
    assert (alpha["attempts"], alpha["rpc_rate"], alpha["money"]) == (6, 2 / 6, [{
        "currency": "CNY", "placements": 2, "balance_placed_minor": 2 * BALANCE, "recovered_minor": 110_000,
        "liquidation_rate": 110_000 / (2 * BALANCE)}])
    staff = client.get("/api/v1/performance?by=collector", headers=analyst)
    assert staff.status_code == 422 and staff.json["error"]["code"] == "performance.agencies_only"
    backwards = client.get("/api/v1/performance?from=2026-12-07&to=2026-12-01", headers=analyst)
    assert backwards.status_code == 422 and backwards.json["error"]["code"] == "performance.bad_period"


def test_the_api_gives_an_agency_nothing_of_another(client, factory, week):
    beta = client.get("/api/v1/performance?by=collector&from=2026-12-01&to=2026-12-07",
                      headers=bearer(factory, week["beta"])).json
    assert [i["id"] for i in beta["items"]] == [str(week["bea"].id)]
    assert beta["team"]["attempts"] == 1 and beta["team"]["money"][0]["recovered_minor"] == 0
    platform = factory.tenant("platform")
    assert client.get("/api/v1/performance", headers=bearer(factory, platform)).status_code == 404
    assert "/api/v1/performance" in client.get("/api/v1/openapi.json").json["paths"]
