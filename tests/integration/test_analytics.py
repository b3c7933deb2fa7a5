"""Recovery analytics on a small hand-built book, every number checked exactly: liquidation curves by placement
month, by agency (pooled vintages) and for an agency's own work; the champion/challenger strata read back equal
the allocation's own record; roll rates; cost of collection with commission as the statements compute it. A lender
sees its own placements only, an agency only its own; foreign ids in the query string answer 404; the pages, charts
and CSVs answer in both languages."""
import re
from datetime import date, datetime, timezone

import pytest

from tenants.analytics import comparison, cost, liquidation, roll_rates
from tenants.analytics.common import Viewer, bucket_labels, month_index
from tenants.casework import payments
from tenants.context import tenant_scope
from tenants.placements import services as placements
from tests.factories import login

BALANCE = 445_000  # the factory account's outstanding balance, minor units
TODAY = date(2026, 12, 7)


def at(clock, y, m, d):
    clock.set(datetime(y, m, d, 4, 0, tzinfo=timezone.utc))


def place(lender, weights, accounts, *, accept=True, seed=1):
    with tenant_scope(lender.id):
        batch = placements.place(lender=lender, selection=placements.Selection(
            external_refs=tuple(a.external_ref for a in accounts)), weights={a.id: w for a, w in weights},
            terms={}, created_by=None, seed=seed, debtors_notified=True)
        ids = {p.account_id: p.id for p in placements.batch_placements(batch)}
    for agency, _w in weights:
        with tenant_scope(agency.id):
            placements.respond(batch.id, accept=accept)
    return batch, ids


def pay(lender, account, amount, day):
    """The lender reports a payment on a placed account: confirmed at once, credited to the holding agency."""
    with tenant_scope(lender.id):
        return payments.record(account.id, amount=amount, received_on=day, method="bank_transfer").id


@pytest.fixture
def book(factory, db_session, frozen_clock):
    """Jade places A1–A4 with Alpha and B3 with Beta on 15 September, B1–B2 with Beta on 10 October (C1 offered
    to Alpha and declined); money comes in as commented. Rex, another lender, places with Alpha too."""
    jade = factory.tenant("lender", name="Jade Lending")
    rex = factory.tenant("lender", name="Rex Credit")
    alpha = factory.tenant("agency", name="Alpha Collect")
    beta = factory.tenant("agency", name="Beta Recovery")
    factory.panel(jade, alpha, commission_bps=1500)
    factory.panel(jade, beta, commission_bps=2000)
    factory.panel(rex, alpha, commission_bps=1500)
    a1, a2, a3, a4, b1, b2, b3, c1 = (factory.account(jade) for _ in range(8))
    r1 = factory.account(rex)
    factory.user(jade, "lender_analyst", email="analyst@jade.test")
    factory.user(jade, "lender_manager", email="zh@jade.test", locale="zh_CN")
    factory.user(alpha, "agency_supervisor", email="sup@alpha.test")
    factory.user(alpha, "agency_collector", email="col@alpha.test")

    at(frozen_clock, 2026, 9, 15)
    _batch, first = place(jade, [(alpha, 1)], [a1, a2, a3, a4])
    place(jade, [(beta, 1)], [b3])
    place(rex, [(alpha, 1)], [r1])
    place(jade, [(alpha, 1)], [c1], accept=False)
    at(frozen_clock, 2026, 9, 20)
    pay(jade, a1, "1000.00", date(2026, 9, 20))  # Sep vintage, month on book 0
    pay(rex, r1, "4000.00", date(2026, 9, 20))  # Rex's: never in Jade's figures
    at(frozen_clock, 2026, 10, 5)
    pay(jade, a2, "500.00", date(2026, 10, 5))  # month on book 1
    at(frozen_clock, 2026, 10, 10)
    place(jade, [(beta, 1)], [b1, b2])
    at(frozen_clock, 2026, 10, 20)
    pay(jade, b1, "890.00", date(2026, 10, 20))  # Oct vintage, month on book 0
    at(frozen_clock, 2026, 11, 3)
    bounced = pay(jade, a1, "200.00", date(2026, 11, 3))  # month on book 2 … reversed in December (3)
    at(frozen_clock, 2026, 11, 10)
    pay(jade, b3, "445.03", date(2026, 11, 10))  # Sep vintage at Beta, month on book 2
    at(frozen_clock, 2026, 11, 20)
    pay(jade, a3, "4450.00", date(2026, 11, 20))  # paid in full: the account and its placement close
    at(frozen_clock, 2026, 11, 25)
    with tenant_scope(jade.id):
        placements.recall([first[a4.id]], reason="returned", force=False, role="lender_admin")
    at(frozen_clock, 2026, 12, 2)
    with tenant_scope(jade.id):
        payments.reverse(bounced, "bounced", None)
    at(frozen_clock, 2026, 12, 7)
    return dict(jade=jade, rex=rex, alpha=alpha, beta=beta)


def curves(tenant, **kwargs):
    with tenant_scope(tenant.id):
        return liquidation.curves(Viewer.of(tenant), today=TODAY, **kwargs)


# ---- liquidation curves ------------------------------------------------------------------------------------------

def test_vintage_curves_are_cumulative_recovered_over_placed_by_month_on_book(book):
    found = curves(book["jade"])
    assert [c.key for c in found.curves] == ["2026-09", "2026-10"]
    sep, oct_ = found.curves
    placed_sep = 5 * BALANCE  # A1–A4 and B3; C1 was declined
    assert (sep.placements, sep.balance_placed_minor) == (5, placed_sep)
    # M0 100 000; M1 +50 000; M2 +20 000 +44 503 +445 000; M3 −20 000 (the reversal)
    assert sep.recovered_minor == [100_000, 150_000, 659_503, 639_503]
    assert sep.points == [100_000 / placed_sep, 150_000 / placed_sep, 659_503 / placed_sep, 639_503 / placed_sep]
    assert oct_.recovered_minor == [89_000, 89_000, 89_000]  # two months old: M0 to M2
    assert oct_.points == [0.1, 0.1, 0.1]


def test_an_agency_curve_pools_vintages_old_enough_for_each_month(book):
    found = curves(book["jade"], group="agency")
    by_label = {c.label: c for c in found.curves}
    beta = by_label["Beta Recovery"]
    both, sep_only = 3 * BALANCE, BALANCE
    # M0 and M1: both vintages (89 000 from October's); M2: + B3's 44 503; M3: September's alone.
    assert beta.points == [89_000 / both, 89_000 / both, 133_503 / both, 44_503 / sep_only]
    assert by_label["Alpha Collect"].recovered_minor == [100_000, 150_000, 615_000, 595_000]


def test_an_agency_sees_only_its_own_placements_and_never_the_other_lenders_money(book):
    found = curves(book["alpha"])
    [sep] = found.curves  # Jade's and Rex's September placements with Alpha
    assert sep.balance_placed_minor == 5 * BALANCE
    assert sep.recovered_minor == [500_000, 550_000, 1_015_000, 995_000]
    by_lender = {c.label: c for c in curves(book["alpha"], group="lender").curves}
    assert by_lender["Rex Credit"].recovered_minor == [400_000, 400_000, 400_000, 400_000]
    assert set(by_lender) == {"Jade Lending", "Rex Credit"}
    assert [c.label for c in curves(book["beta"], group="lender").curves] == ["Jade Lending"]


# ---- roll rates --------------------------------------------------------------------------------------------------

def test_roll_rates_follow_days_past_due_with_the_calendar_and_count_closures_and_returns(book):
    with tenant_scope(book["jade"].id):
        found = roll_rates.roll_rates(Viewer.of(book["jade"]), month=month_index(date(2026, 11, 1)), today=TODAY)
    labels = bucket_labels()
    b61, b91 = labels.index("61-90"), labels.index("91-180")
    # On 1 November: September's placements at 45 + 47 = 92 days past due; October's at 45 + 22 = 67.
    assert found.totals[b91] == 5 and found.totals[b61] == 2 and sum(found.totals) == 7
    assert found.counts[b91][b91] == 3  # A1, A2, B3 stay
    assert found.counts[b91][found.columns.index("closed")] == 1  # A3 paid in full
    assert found.counts[b91][found.columns.index("returned")] == 1  # A4 recalled
    assert found.counts[b61][b91] == 2 and found.roll_forward(b61) == 1.0
    with tenant_scope(book["beta"].id):
        beta = roll_rates.roll_rates(Viewer.of(book["beta"]), month=month_index(date(2026, 11, 1)), today=TODAY)
    assert sum(beta.totals) == 3


# ---- cost of collection ------------------------------------------------------------------------------------------

def test_cost_of_collection_is_commission_over_recovered_per_month_and_agency(book):
    with tenant_scope(book["jade"].id):
        found = cost.cost(Viewer.of(book["jade"]), today=TODAY)
    rows = {(r.month, r.counterpart): (r.recovered_minor, r.commission_minor) for r in found.rows}
    assert rows == {("2026-09", "Alpha Collect"): (100_000, 15_000), ("2026-10", "Alpha Collect"): (50_000, 7_500),
                    ("2026-11", "Alpha Collect"): (465_000, 69_750), ("2026-12", "Alpha Collect"): (-20_000, -3_000),
                    ("2026-10", "Beta Recovery"): (89_000, 17_800),
                    ("2026-11", "Beta Recovery"): (44_503, 8_901)}  # 8 900.6 rounded half-up
    totals = {t.counterpart: t for t in found.totals()}
    assert totals["Alpha Collect"].cost_rate == 89_250 / 595_000
    with tenant_scope(book["alpha"].id):
        mine = cost.cost(Viewer.of(book["alpha"]), today=TODAY)
    assert {(r.month, r.counterpart) for r in mine.rows} >= {("2026-09", "Rex Credit"), ("2026-09", "Jade Lending")}
    assert all(r.counterpart != "Beta Recovery" for r in mine.rows)


# ---- champion/challenger ----------------------------------------------------------------------------------------

@pytest.fixture
def trial(factory, db_session, frozen_clock):
    """Jade splits 48 accounts of two DPD buckets and mixed balances 2:1 between Alpha (champion) and Beta on 1
    September: 8 strata of 6 accounts, 4 to Alpha and 2 to Beta in each."""
    jade = factory.tenant("lender", name="Jade Lending")
    alpha = factory.tenant("agency", name="Alpha Collect")
    beta = factory.tenant("agency", name="Beta Recovery")
    factory.panel(jade, alpha)
    factory.panel(jade, beta)
    factory.user(jade, "lender_analyst", email="analyst@jade.test")
    accounts = [factory.account(jade, days_past_due=(20, 75)[i % 2], principal_minor=100_000 + 7_919 * i)
                for i in range(48)]
    at(frozen_clock, 2026, 9, 1)
    batch, ids = place(jade, [(alpha, 2), (beta, 1)], accounts, seed=7)
    at(frozen_clock, 2026, 10, 1)
    with tenant_scope(jade.id):
        holder = {p.account_id: p.agency_tenant_id for p in placements.batch_placements(batch)}
    for account in accounts[::3]:  # 16 payers spread over the strata
        pay(jade, account, "300.00" if holder[account.id] == alpha.id else "100.00", date(2026, 10, 1))
    at(frozen_clock, 2026, 12, 7)
    return dict(jade=jade, alpha=alpha, beta=beta, batch=batch, holder=holder, accounts=accounts)


def test_the_strata_read_back_are_the_allocations_own(trial):
    with tenant_scope(trial["jade"].id):
        batch = placements.get_batch(trial["batch"].id)
        rows = comparison._strata_rows(batch, "CNY")
    labels = batch.allocation["dpd_buckets"]
    rebuilt = {}
    for bucket, band, arm, n, *_rest in rows:
        rebuilt.setdefault(f"{labels[bucket]}/q{band + 1}", {})[str(arm)] = n
    recorded = {s["label"]: {k: v for k, v in s["per_agency"].items() if v} for s in batch.allocation["strata"]}
    assert rebuilt == recorded


def test_the_comparison_gives_each_arm_its_rates_and_the_difference_with_its_interval(trial):
    with tenant_scope(trial["jade"].id):
        found = comparison.compare(Viewer.of(trial["jade"]), trial["batch"].id, today=TODAY)
    champion, challenger = found.arms
    assert (champion.agency_id, champion.champion, champion.accounts) == (trial["alpha"].id, True, 32)
    assert (challenger.agency_id, challenger.accounts) == (trial["beta"].id, 16)
    paid_alpha = sum(1 for a in trial["accounts"][::3] if trial["holder"][a.id] == trial["alpha"].id)
    assert champion.recovered_minor == 30_000 * paid_alpha and champion.paying == paid_alpha
    assert challenger.recovered_minor == 10_000 * (16 - paid_alpha)
    assert found.left_out == 0 and found.months_on_book == 3 and found.strata == 8
    recovery = found.contrast("recovery", challenger.agency_id)
    assert recovery.difference.estimate == pytest.approx(challenger.recovery.estimate - champion.recovery.estimate)
    assert recovery.difference.low < recovery.difference.estimate < recovery.difference.high
    assert 0 <= recovery.test.p_value <= 1
    paying = found.contrast("paying", challenger.agency_id)
    assert paying.test.kind == "chi2" and paying.difference is not None


def test_the_comparison_opens_on_the_newest_allocation_with_a_month_on_book(trial, factory, frozen_clock, client):
    """An allocation placed this month has nothing to compare yet: the page opens on the newest one with at least a
    month on book, says so, and marks the younger one; naming an allocation shows that one."""
    jade, alpha, beta = trial["jade"], trial["alpha"], trial["beta"]
    fresh, _ids = place(jade, [(alpha, 1), (beta, 1)], [factory.account(jade) for _ in range(6)])
    login(client, "analyst@jade.test")
    page = client.get(f"/t/{jade.slug}/analytics/comparison").get_data(as_text=True)
    assert shown(page) == str(trial["batch"].id)
    assert 'id="default-allocation"' in page and "the newest allocation with at least a month on book" in page
    assert page.count("under a month on book") == 1
    page = client.get(f"/t/{jade.slug}/analytics/comparison/{fresh.id}").get_data(as_text=True)
    assert shown(page) == str(fresh.id) and 'id="default-allocation"' not in page
    page = client.get(f"/t/{jade.slug}/analytics?group=arm").get_data(as_text=True)
    assert f'<option value="{trial["batch"].id}" selected>' in page


def test_with_no_allocation_a_month_old_the_comparison_opens_on_the_newest(factory, db_session, frozen_clock, client):
    jade = factory.tenant("lender", name="Jade Lending")
    alpha, beta = factory.tenant("agency"), factory.tenant("agency")
    factory.panel(jade, alpha)
    factory.panel(jade, beta)
    factory.user(jade, "lender_analyst", email="analyst@jade.test")
    at(frozen_clock, 2026, 12, 1)
    older, _ids = place(jade, [(alpha, 1), (beta, 1)], [factory.account(jade) for _ in range(4)])
    at(frozen_clock, 2026, 12, 7)
    newest, _ids = place(jade, [(alpha, 1), (beta, 1)], [factory.account(jade) for _ in range(4)])
    login(client, "analyst@jade.test")
    page = client.get(f"/t/{jade.slug}/analytics/comparison").get_data(as_text=True)
    assert shown(page) == str(newest.id) != str(older.id)
    assert "none has a month on book yet" in page and page.count("under a month on book") == 2


def shown(page: str) -> str | None:
    """The allocation the comparison page shows: the one its list marks as the current page."""
    found = re.search(r'aria-current="page" href="[^"]*/analytics/comparison/([0-9a-f-]+)"', page)
    return found.group(1) if found else None


# ---- isolation and the pages -------------------------------------------------------------------------------------

def test_foreign_ids_in_the_query_answer_404_and_agencies_compare_no_arms(book, trial, client):
    login(client, "analyst@jade.test")  # Jade of the book
    slug = book["jade"].slug
    other_batch = trial["batch"].id  # another lender's allocation
    assert client.get(f"/t/{slug}/analytics?group=arm&batch_id={other_batch}").status_code == 404
    assert client.get(f"/t/{slug}/analytics/comparison/{other_batch}").status_code == 404
    assert client.get(f"/t/{slug}/analytics/comparison/{other_batch}/chart.svg").status_code == 404
    assert client.get(f"/t/{slug}/analytics?agency_id={book['rex'].id}").status_code == 404
    assert client.get(f"/t/{slug}/analytics?agency_id={trial['alpha'].id}").status_code == 404  # not on the panel
    assert client.get(f"/t/{slug}/analytics.csv?batch_id=nonsense").status_code == 404
    login(client, "sup@alpha.test")
    assert client.get(f"/t/{book['alpha'].slug}/analytics/comparison").status_code == 404
    with tenant_scope(book["alpha"].id):
        assert comparison.allocations(Viewer.of(book["alpha"])) == []
    login(client, "col@alpha.test")  # a collector reads no analytics
    assert client.get(f"/t/{book['alpha'].slug}/analytics").status_code == 403


def test_the_pages_charts_and_csvs_answer_in_both_languages(book, trial, client):
    login(client, "analyst@jade.test")
    slug = trial["jade"].slug
    pages = ["/analytics", "/analytics?group=agency", "/analytics?group=arm", "/analytics/comparison",
             f"/analytics/comparison/{trial['batch'].id}", "/analytics/roll-rates", "/analytics/cost"]
    for page in pages:
        response = client.get(f"/t/{slug}{page}")
        assert response.status_code == 200, page
        assert 'id="formulas"' in response.get_data(as_text=True)
    for asset in ["/analytics/liquidation.svg", "/analytics/liquidation.svg?group=arm",
                  f"/analytics/comparison/{trial['batch'].id}/chart.svg", "/analytics/roll-rates.svg",
                  "/analytics/cost.svg"]:
        response = client.get(f"/t/{slug}{asset}")
        assert response.status_code == 200 and response.mimetype == "image/svg+xml", asset
        assert b'xlink:href="http' not in response.data  # no third-party script
    csv_text = client.get(f"/t/{slug}/analytics/comparison/{trial['batch'].id}/comparison.csv").data.decode("utf-8-sig")
    assert csv_text.startswith("arm,agency_id,champion") and "Beta Recovery" in csv_text
    login(client, "zh@jade.test")
    page = client.get(f"/t/{book['jade'].slug}/analytics").get_data(as_text=True)
    assert "回收分析" in page and "在账" in page
    page = client.get(f"/t/{book['jade'].slug}/analytics/roll-rates").get_data(as_text=True)
    assert "迁移率" in page
    data = client.get(f"/t/{book['jade'].slug}/analytics/liquidation.csv").data.decode("utf-8-sig")
    assert "vintage,2026-09,2026-09,CNY,5,2225000,2,659503," in data


def test_the_api_gives_the_same_figures_and_hides_foreign_ids(book, trial, client, factory):
    _token, secret = factory.token(book["jade"], "lender_analyst")
    headers = {"Authorization": f"Bearer {secret}"}
    found = client.get("/api/v1/analytics/liquidation", headers=headers).get_json()
    assert [c["key"] for c in found["curves"]] == ["2026-09", "2026-10"] and "curve" in found["formulas"]
    assert client.get(f"/api/v1/analytics/liquidation?group=arm&batch_id={trial['batch'].id}",
                      headers=headers).status_code == 404
    assert client.get(f"/api/v1/analytics/allocations/{trial['batch'].id}/comparison",
                      headers=headers).status_code == 404
    assert client.get(f"/api/v1/analytics/liquidation?agency_id={book['rex'].id}", headers=headers).status_code == 404
    rows = client.get("/api/v1/analytics/cost", headers=headers).get_json()["rows"]
    assert {"month": "2026-11", "counterpart": "Beta Recovery", "recovered_minor": 44_503,
            "commission_minor": 8_901}.items() <= next(r for r in rows if r["month"] == "2026-11"
                                                        and r["counterpart"] == "Beta Recovery").items()
    roll = client.get("/api/v1/analytics/roll-rates?month=2026-11", headers=headers).get_json()
    assert sum(roll["totals"]) == 7

    _token, secret = factory.token(trial["jade"], "lender_analyst")
    headers = {"Authorization": f"Bearer {secret}"}
    [allocation] = client.get("/api/v1/analytics/allocations", headers=headers).get_json()["items"]
    found = client.get(f"/api/v1/analytics/allocations/{allocation['id']}/comparison", headers=headers).get_json()
    assert [a["champion"] for a in found["arms"]] == [True, False]
    assert {c["metric"] for c in found["contrasts"]} == {"recovery", "contact", "promise", "paying"}

    _token, secret = factory.token(book["alpha"], "agency_admin")
    agency = {"Authorization": f"Bearer {secret}"}
    assert client.get("/api/v1/analytics/allocations", headers=agency).get_json() == {"items": []}
    assert client.get(f"/api/v1/analytics/allocations/{allocation['id']}/comparison",
                      headers=agency).status_code == 404
