"""Commission statements from payments made through the services: tiers by days past due at placement, half-up
rounding, reversals carried into the month they happen in, rejected payments left out, months cut in the
lender's zone (Asia/Shanghai), the lender's and the agency's copies identical (after a recall too), foreign
counterparts a 404 on the pages and the API, and the CSV's totals those of the page."""
import csv
import io
import re
import uuid
from datetime import datetime, timezone
from zoneinfo import ZoneInfo

import pytest

from tenants import clock
from tenants.billing import commission
from tenants.billing.commission import Month
from tenants.casework import payments
from tenants.context import tenant_scope
from tenants.errors import NotFound, ValidationFailed
from tenants.money import Money
from tenants.placements import services as placements
from tests.factories import login

NOV, DEC = Month(2026, 11), Month(2026, 12)
TIERS = [{"min_dpd": 0, "max_dpd": 30, "bps": 1000}, {"min_dpd": 31, "max_dpd": 90, "bps": 1250},
         {"min_dpd": 91, "bps": 2000}]


def at(frozen_clock, month: int, day: int, hour: int = 2, minute: int = 0, second: int = 0):
    frozen_clock.set(datetime(2026, month, day, hour, minute, second, tzinfo=timezone.utc))


def place(lender, agency, accounts, terms) -> dict:
    with tenant_scope(lender.id):
        batch = placements.place(lender=lender, selection=placements.Selection(
            external_refs=tuple(a.external_ref for a in accounts)), weights={agency.id: 1}, terms=terms,
            created_by=None, seed=1, debtors_notified=True)
        placed = {p.account_id: p.id for p in placements.batch_placements(batch)}
    with tenant_scope(agency.id):
        placements.respond(batch.id, accept=True)
    return placed


def agency_records(agency, account, amount):
    with tenant_scope(agency.id):
        return payments.record(account.id, amount=amount, received_on=clock.now().date(),
                               method="bank_transfer").id


def lender_reports(lender, account, amount):
    """Reported by the lender on a placed account: confirmed at once, credited to the agency."""
    with tenant_scope(lender.id):
        return payments.record(account.id, amount=amount, received_on=clock.now().date(), method="alipay").id


def confirm(lender, payment_id):
    with tenant_scope(lender.id):
        payments.confirm(payment_id, None)


def reverse(lender, payment_id):
    with tenant_scope(lender.id):
        payments.reverse(payment_id, "the transfer bounced", None)


@pytest.fixture
def books(factory, frozen_clock):
    """Jade Lending (Asia/Shanghai, CNY) places with Alpha Collect: accounts A (45 days past due), B (120) and C
    (10) under tiers of 10% / 12.5% / 20%, D (45) at the panel's flat 15%. What happens is in the comments; the
    expected lines are in LINES."""
    jade = factory.tenant("lender", name="Jade Lending")
    alpha = factory.tenant("agency", name="Alpha Collect")
    factory.panel(jade, alpha, commission_bps=1500)
    a, b, c, d = (factory.account(jade, days_past_due=dpd) for dpd in (45, 120, 10, 45))
    at(frozen_clock, 11, 1)
    placed = {**place(jade, alpha, (a, b, c), {"commission_tiers": TIERS}), **place(jade, alpha, (d,), {})}

    at(frozen_clock, 11, 10)
    p1 = agency_records(alpha, a, "1000.00")
    at(frozen_clock, 11, 10, 3)
    confirm(jade, p1)  # +1000.00 at 12.5% = 125.00
    at(frozen_clock, 11, 12)
    p2 = lender_reports(jade, a, "1.00")  # 12.5 fen, rounded half-up: 0.13
    at(frozen_clock, 11, 15)
    p3 = agency_records(alpha, c, "300.00")
    at(frozen_clock, 11, 15, 4)
    reverse(jade, p3)  # rejected while pending: never commissioned
    at(frozen_clock, 11, 20)
    p4 = lender_reports(jade, b, "500.00")  # 20%: 100.00
    at(frozen_clock, 11, 21)
    p8 = lender_reports(jade, d, "100.00")  # no tiers: the flat 15%, 15.00
    at(frozen_clock, 11, 30, 15, 59, 59)  # 23:59:59 on 30 November in Shanghai
    p7 = lender_reports(jade, a, "10.00")
    at(frozen_clock, 11, 30, 17)  # 01:00 on 1 December in Shanghai
    p6 = lender_reports(jade, a, "20.00")
    at(frozen_clock, 12, 3)
    p5 = lender_reports(jade, c, "200.00")  # 10%: 20.00
    at(frozen_clock, 12, 4)
    reverse(jade, p5)  # confirmed and reversed in December: nets to zero
    at(frozen_clock, 12, 5)
    reverse(jade, p4)  # confirmed in November, reversed in December
    at(frozen_clock, 12, 6)
    reverse(jade, p2)  # gives back exactly the 0.13 it earned, not 12.5 fen rounded again
    at(frozen_clock, 12, 7)
    return dict(jade=jade, alpha=alpha, accounts=dict(a=a, b=b, c=c, d=d), placed=placed,
                payments=dict(p1=p1, p2=p2, p3=p3, p4=p4, p5=p5, p6=p6, p7=p7, p8=p8))


# (payment, kind, amount_minor, bps, commission_minor), in statement order
LINES = {
    NOV: [("p1", "payment", 100_000, 1250, 12_500), ("p2", "payment", 100, 1250, 13),
          ("p4", "payment", 50_000, 2000, 10_000), ("p8", "payment", 10_000, 1500, 1_500),
          ("p7", "payment", 1_000, 1250, 125)],
    DEC: [("p6", "payment", 2_000, 1250, 250), ("p5", "payment", 20_000, 1000, 2_000),
          ("p5", "reversal", -20_000, 1000, -2_000), ("p4", "reversal", -50_000, 2000, -10_000),
          ("p2", "reversal", -100, 1250, -13)],
}
TOTALS = {NOV: ("CNY", 5, 0, 161_100, 24_138), DEC: ("CNY", 2, 3, -48_100, -9_763)}


def read(tenant, counterparty, month):
    with tenant_scope(tenant.id):
        return commission.statement(counterparty.id, month)


def lines(statement, books):
    names = {v: k for k, v in books["payments"].items()}
    return [(names[line.payment_id], line.kind, line.amount.minor, line.bps, line.commission.minor)
            for line in statement.lines]


def totals(statement):
    return [(t.currency, t.payments, t.reversals, t.collected.minor, t.commission.minor) for t in statement.totals]


# ---- the statement -----------------------------------------------------------------------------------------------

def test_each_month_has_its_lines_and_totals(books):
    for month in (NOV, DEC):
        statement = read(books["jade"], books["alpha"], month)
        assert lines(statement, books) == LINES[month], month
        assert totals(statement) == [TOTALS[month]], month
        assert statement.zone == "Asia/Shanghai"
        assert (statement.lender_name, statement.agency_name, statement.counterparty_name) == (
            "Jade Lending", "Alpha Collect", "Alpha Collect")
    assert read(books["jade"], books["alpha"], Month(2026, 10)).lines == ()


def test_the_rate_is_the_tier_of_the_days_past_due_at_placement(books):
    rates = {(name, bps) for name, _kind, _amount, bps, _c in LINES[NOV] + LINES[DEC]}
    assert rates == {("p1", 1250), ("p2", 1250), ("p7", 1250), ("p6", 1250),  # A: 45 days
                     ("p4", 2000),  # B: 120 days, the open-ended tier
                     ("p5", 1000),  # C: 10 days
                     ("p8", 1500)}  # D: no tiers, the placement's flat rate
    for _name, _kind, amount, bps, expected in LINES[NOV] + LINES[DEC]:
        assert expected == Money(abs(amount), "CNY").times_bps(bps).minor * (1 if amount > 0 else -1)
    # The tier holds when the account ages: the rate was agreed on the account as placed.
    with tenant_scope(books["jade"].id):
        books["accounts"]["a"].days_past_due = 200
    assert lines(read(books["jade"], books["alpha"], NOV), books) == LINES[NOV]


def test_commission_rounds_half_up_and_a_reversal_gives_back_exactly_what_was_earned(books):
    nov, dec = (read(books["jade"], books["alpha"], m) for m in (NOV, DEC))
    [earned] = [line for line in nov.lines if line.payment_id == books["payments"]["p2"]]
    [given_back] = [line for line in dec.lines if line.payment_id == books["payments"]["p2"]]
    assert (earned.amount.minor, earned.commission.minor) == (100, 13)  # 12.5 fen → 13, not banker's 12
    assert given_back.kind == "reversal" and given_back.commission == -earned.commission
    assert given_back.amount == -earned.amount and given_back.bps == earned.bps


def test_a_reversal_is_carried_into_the_month_it_happens_in(books):
    p4 = books["payments"]["p4"]
    nov, dec = (read(books["jade"], books["alpha"], m) for m in (NOV, DEC))
    assert [(line.kind, line.commission.minor) for line in nov.lines if line.payment_id == p4] == [("payment", 10_000)]
    assert [(line.kind, line.commission.minor) for line in dec.lines if line.payment_id == p4] == [
        ("reversal", -10_000)]


def test_a_payment_confirmed_and_reversed_in_one_month_nets_to_zero(books):
    dec = read(books["jade"], books["alpha"], DEC)
    both = [line for line in dec.lines if line.payment_id == books["payments"]["p5"]]
    assert [line.kind for line in both] == ["payment", "reversal"]
    assert sum(line.amount.minor for line in both) == 0 and sum(line.commission.minor for line in both) == 0


def test_a_payment_rejected_while_pending_has_no_line(books):
    p3 = books["payments"]["p3"]
    for month in (NOV, DEC):
        assert all(line.payment_id != p3 for line in read(books["jade"], books["alpha"], month).lines)


def test_months_are_cut_in_the_lenders_zone(books, factory):
    """2026-11-30T17:00Z is 01:00 on 1 December in Shanghai; 15:59:59Z is still 30 November."""
    nov, dec = (read(books["jade"], books["alpha"], m) for m in (NOV, DEC))
    assert books["payments"]["p7"] in {line.payment_id for line in nov.lines}
    assert books["payments"]["p6"] in {line.payment_id for line in dec.lines}
    [p6] = [line for line in dec.lines if line.payment_id == books["payments"]["p6"]]
    assert p6.at == datetime(2026, 11, 30, 17, tzinfo=timezone.utc)
    assert Month(2026, 12).bounds(ZoneInfo("Asia/Shanghai")) == (
        datetime(2026, 11, 30, 16, tzinfo=timezone.utc), datetime(2026, 12, 31, 16, tzinfo=timezone.utc))
    # The agency's own zone plays no part: both sides cut the month where the lender does.
    books["alpha"].time_zone = "America/New_York"
    assert lines(read(books["alpha"], books["jade"], DEC), books) == LINES[DEC]


def test_the_lender_and_the_agency_read_the_same_statement(books):
    for month in (NOV, DEC):
        lender_copy = read(books["jade"], books["alpha"], month)
        agency_copy = read(books["alpha"], books["jade"], month)
        assert agency_copy.lines == lender_copy.lines and agency_copy.totals == lender_copy.totals
        assert agency_copy.counterparty_id == books["jade"].id and lender_copy.counterparty_id == books["alpha"].id
        assert {line.external_ref for line in agency_copy.lines} <= {a.external_ref
                                                                    for a in books["accounts"].values()}


def test_the_agency_keeps_its_statements_after_a_recall(books):
    before = {m: read(books["jade"], books["alpha"], m) for m in (NOV, DEC)}
    with tenant_scope(books["jade"].id):
        placements.recall(list(books["placed"].values()), reason="contract ended", force=False, role="lender_admin")
    for month in (NOV, DEC):
        after = read(books["alpha"], books["jade"], month)
        assert after.totals == before[month].totals
        assert [(line.payment_id, line.kind, line.amount, line.bps, line.commission) for line in after.lines] == [
            (line.payment_id, line.kind, line.amount, line.bps, line.commission) for line in before[month].lines]
        # The account itself is the lender's again: the agency's copy no longer names it.
        assert {line.external_ref for line in after.lines} == {None}
    with tenant_scope(books["alpha"].id):
        assert [(str(s.month), s.counterparty_id) for s in commission.statements()] == [
            ("2026-12", books["jade"].id), ("2026-11", books["jade"].id)]


def test_each_side_lists_its_months_per_counterpart(books, factory):
    beta = factory.tenant("agency", name="Beta Recovery")
    factory.panel(books["jade"], beta)
    e = factory.account(books["jade"], days_past_due=45)
    place(books["jade"], beta, (e,), {})
    lender_reports(books["jade"], e, "50.00")  # 7 December
    with tenant_scope(books["jade"].id):
        assert [(str(s.month), s.counterparty_name) for s in commission.statements()] == [
            ("2026-12", "Alpha Collect"), ("2026-12", "Beta Recovery"), ("2026-11", "Alpha Collect")]
        assert [(str(s.month), s.counterparty_name) for s in commission.statements(NOV)] == [
            ("2026-11", "Alpha Collect")]
        assert commission.statements(Month(2026, 10)) == []
    with tenant_scope(beta.id):
        [only] = commission.statements()
        assert (only.month, only.counterparty_id, only.lender_id, only.agency_id) == (
            DEC, books["jade"].id, books["jade"].id, beta.id)
    with tenant_scope(books["alpha"].id):
        assert {s.counterparty_name for s in commission.statements()} == {"Jade Lending"}


def test_a_counterpart_without_a_relationship_is_not_found(books, factory):
    stranger_lender, stranger_agency = factory.tenant("lender"), factory.tenant("agency")
    factory.panel(stranger_lender, stranger_agency)
    jade, alpha = books["jade"], books["alpha"]
    for reader, counterparty_id in ((jade, stranger_agency.id), (jade, stranger_lender.id), (jade, jade.id),
                                    (jade, uuid.uuid4()), (alpha, stranger_lender.id), (alpha, stranger_agency.id),
                                    (alpha, alpha.id), (stranger_agency, jade.id), (stranger_lender, alpha.id)):
        with tenant_scope(reader.id), pytest.raises(NotFound):
            commission.statement(counterparty_id, NOV)


def test_a_month_is_written_yyyy_mm():
    assert str(Month.parse("2026-11")) == "2026-11" and Month.parse("2026-12").following() == Month(2027, 1)
    for bad in ("2026-13", "2026-00", "26-11", "2026-1", "2026/11", "", "0000-01"):
        with pytest.raises(ValidationFailed):
            Month.parse(bad)


# ---- CSV, pages and API ----------------------------------------------------------------------------------------

def csv_parts(body: bytes):
    rows = list(csv.reader(io.StringIO(body.decode("utf-8-sig"))))
    split = rows.index([])
    return rows[:split], rows[split + 1:]


PAGE_TOTAL = re.compile(r'class="statement-total" data-currency="(\w+)" data-payments="(-?\d+)"\s+'
                        r'data-reversals="(-?\d+)" data-collected="(-?[\d.]+)"\s+data-commission="(-?[\d.]+)"')


def test_the_csv_has_a_row_per_line_and_the_pages_totals(books, client, factory):
    factory.user(books["jade"], "lender_manager", email="manager@jade.test")
    factory.user(books["alpha"], "agency_collector", email="collector@alpha.test")
    factory.user(books["alpha"], "agency_admin", email="admin@alpha.test")
    for email, counterparty in (("manager@jade.test", books["alpha"]), ("admin@alpha.test", books["jade"])):
        login(client, email)
        reader = books["jade"] if counterparty is books["alpha"] else books["alpha"]
        for month in (NOV, DEC):
            base = f"/t/{reader.slug}/billing/commission/{counterparty.id}/{month}"
            page = client.get(base)
            assert page.status_code == 200
            html = page.get_data(as_text=True)
            assert 'media="print"' in html and "/static/print.css" in html
            download = client.get(f"{base}/csv")
            assert download.status_code == 200 and download.mimetype == "text/csv"
            line_rows, total_rows = csv_parts(download.data)
            assert line_rows[0] == list(commission.LINE_COLUMNS) and total_rows[0] == list(commission.TOTAL_COLUMNS)
            assert len(line_rows) - 1 == len(LINES[month]) == html.count('class="statement-line ')
            assert [tuple(row[1:]) for row in total_rows[1:]] == PAGE_TOTAL.findall(html)
            currency, payments_count, reversals, collected, earned = TOTALS[month]
            assert total_rows[1:] == [["total", currency, str(payments_count), str(reversals),
                                       f"{collected / 100:.2f}", f"{earned / 100:.2f}"]]
        client.post("/logout")
    assert client.get("/static/print.css").mimetype == "text/css"
    login(client, "collector@alpha.test")  # commission is for the agency's admins, not its collectors
    assert client.get(f"/t/{books['alpha'].slug}/billing/commission").status_code in (403, 404)


def test_the_csv_rows(books):
    with tenant_scope(books["jade"].id):
        statement = commission.statement(books["alpha"].id, DEC)
    line_rows, _ = csv_parts(commission.csv_text(statement).encode())
    # Confirmed at 17:00 UTC on 30 November: 1 December in the lender's Asia/Shanghai, so in December's statement.
    assert line_rows[1] == ["2026-12-01", books["accounts"]["a"].external_ref, "payment", "CNY", "20.00", "1250",
                            "2.50", statement.lines[0].placed_on.isoformat(), "2026-11-30T17:00:00Z",
                            str(books["payments"]["p6"]), str(books["placed"][books["accounts"]["a"].id])]
    assert line_rows[-1][2:7] == ["reversal", "CNY", "-1.00", "1250", "-0.13"]


def test_the_pages_list_statements_and_hide_foreign_counterparts(books, client, factory):
    stranger_lender, stranger_agency = factory.tenant("lender"), factory.tenant("agency")
    factory.panel(stranger_lender, stranger_agency)
    factory.user(books["jade"], "lender_admin", email="admin@jade.test")
    login(client, "admin@jade.test")
    slug = books["jade"].slug
    listing = client.get(f"/t/{slug}/billing/commission").get_data(as_text=True)
    assert f"/billing/commission/{books['alpha'].id}/2026-11" in listing
    assert f"/billing/commission/{books['alpha'].id}/2026-12" in listing
    narrowed = client.get(f"/t/{slug}/billing/commission?month=2026-11").get_data(as_text=True)
    assert "2026-11" in narrowed and f"{books['alpha'].id}/2026-12" not in narrowed
    for counterparty_id in (stranger_agency.id, stranger_lender.id, uuid.uuid4()):
        for suffix in ("", "/csv"):
            assert client.get(f"/t/{slug}/billing/commission/{counterparty_id}/2026-11{suffix}").status_code == 404


def bearer(factory, tenant, role=None):
    _, secret = factory.token(tenant, role)
    return {"Authorization": f"Bearer {secret}"}


def test_the_api_gives_both_sides_the_same_statement(books, client, factory):
    lender_token, agency_token = bearer(factory, books["jade"]), bearer(factory, books["alpha"])
    listed = client.get("/api/v1/commission-statements", headers=lender_token).json["items"]
    assert [(s["month"], s["counterparty_id"]) for s in listed] == [("2026-12", str(books["alpha"].id)),
                                                                    ("2026-11", str(books["alpha"].id))]
    assert [s["month"] for s in client.get("/api/v1/commission-statements?month=2026-11",
                                           headers=agency_token).json["items"]] == ["2026-11"]
    assert client.get("/api/v1/commission-statements?month=November", headers=agency_token).status_code == 422
    lender_copy = client.get(f"/api/v1/commission-statements/{books['alpha'].id}/2026-12", headers=lender_token).json
    agency_copy = client.get(f"/api/v1/commission-statements/{books['jade'].id}/2026-12", headers=agency_token).json
    assert lender_copy["lines"] == agency_copy["lines"] and lender_copy["totals"] == agency_copy["totals"]
    names = {str(v): k for k, v in books["payments"].items()}
    assert [(names[line["payment_id"]], line["kind"], line["amount_minor"], line["bps"], line["commission_minor"])
            for line in lender_copy["lines"]] == LINES[DEC]
    assert lender_copy["totals"] == [{"currency": "CNY", "payments": 2, "reversals": 3, "collected_minor": -48_100,
                                      "commission_minor": -9_763}]
    assert (lender_copy["month"], lender_copy["time_zone"]) == ("2026-12", "Asia/Shanghai")
    assert client.get(f"/api/v1/commission-statements/{books['alpha'].id}/2026-13",
                      headers=lender_token).status_code == 422
    as_csv = client.get(f"/api/v1/commission-statements/{books['alpha'].id}/2026-12",
                        headers={**lender_token, "Accept": "text/csv"})
    by_route = client.get(f"/api/v1/commission-statements/{books['alpha'].id}/2026-12/csv", headers=lender_token)
    assert as_csv.mimetype == by_route.mimetype == "text/csv" and as_csv.data == by_route.data
    _, total_rows = csv_parts(by_route.data)
    assert total_rows[1] == ["total", "CNY", "2", "3", "-481.00", "-97.63"]


def test_the_api_answers_404_for_a_foreign_counterpart(books, client, factory):
    stranger_lender, stranger_agency = factory.tenant("lender"), factory.tenant("agency")
    factory.panel(stranger_lender, stranger_agency)
    for reader, counterparty_id in ((books["jade"], stranger_agency.id), (books["alpha"], stranger_lender.id),
                                    (books["jade"], uuid.uuid4()), (stranger_agency, books["jade"].id)):
        token = bearer(factory, reader)
        for suffix in ("", "/csv"):
            response = client.get(f"/api/v1/commission-statements/{counterparty_id}/2026-11{suffix}", headers=token)
            assert response.status_code == 404, (reader.name, suffix)
            assert response.json["error"]["code"] == "commission.not_found"
    listed = client.get("/api/v1/commission-statements", headers=bearer(factory, stranger_agency)).json
    assert listed == {"items": []}


def test_the_printed_statement_names_accounts_and_local_days_not_ids_or_utc(books, client, factory):
    factory.user(books["jade"], "lender_manager", email="manager@jade.test", locale="zh_CN")
    login(client, "manager@jade.test")
    page = client.get(f"/t/{books['jade'].slug}/billing/commission/{books['alpha'].id}/{DEC}")
    lines = page.get_data(as_text=True).split('id="statement-lines"')[1].split("</table>")[0]
    rows = [re.sub(r"<[^>]+>", "|", row) for row in lines.split('class="statement-line ')[1:]]
    first = rows[0].split('">', 1)[1]  # what the reader sees, past the row's data attributes
    assert books["accounts"]["a"].external_ref in first and "2026年12月1日" in first
    assert "UTC" not in lines and str(books["payments"]["p6"]) not in first
    download = client.get(f"/t/{books['jade'].slug}/billing/commission/{books['alpha'].id}/{DEC}/csv")
    assert str(books["alpha"].id) not in download.headers["Content-Disposition"]
