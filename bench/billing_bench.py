"""What billing a closed period costs at Stripe and in time: 50 paying agencies with 100,000 accepted cases between
them (a skewed spread: the biggest agency holds about a fifth of the cases, the smallest a few hundred) billed by
`tenants.billing.invoicing.bill` against localstripe, vs. the same 50 agencies' terms with one case each (a
separate set of 50 agencies, same prices, same period) billed the same way in the same run. The claim under test
(the docstring of tenants/billing/invoicing.py): Stripe calls grow with payers and periods, not with cases, so
call_ratio = calls_100k / calls_baseline should be about 1.0.

Needs PostgreSQL: DATABASE_URL (the application role) and MIGRATION_DATABASE_URL (the owner, who may create
databases), as the other benches; when neither is set, the local server on 127.0.0.1:5432 (trust auth) as
`postgres`. The bench creates its own temporary database with the owner's URL (bench/_postgres.py), migrates it,
grants the application role its privileges when it is another role, and drops it at the end; no existing database
is touched. Stripe: its own localstripe (`python -m web.demo.localstripe_server`) on a free loopback port, a fresh
one for each measured pass (localstripe pickles its whole store to disk on every write, so it slows down as it
fills: a pass run against the other pass's leftovers would pay for them), stopped after the pass.

No flags. BENCH_CASES (default 100000) and BENCH_TENANTS (default 50) shrink the data for a trial; BENCH_PROFILE=1
adds a cProfile of the 100k pass (billing and ORM functions by cumulative time, then everything by own time).
Each pass prints where its time went: the billing steps of tenants.billing.invoicing (wrapped), the gateway's
methods and the HTTP requests behind them per endpoint, ORM flushes and SQL cursor time (nested, so they overlap).

The data, inserted with SQLAlchemy Core executemany in a platform context (not timed): five lenders, the agencies
(each with its billing plan: 5.00, 2.50, 12.00, 3.00 or 8.00 CNY a case, no free cases, billing day 1, Asia/Shanghai),
one portfolio per lender, a placement batch per lender and agency, one account and one active placement per case,
and one usage record per case exactly as tenants.billing.usage writes it (seq 1..n per payer in acceptance order,
period 2026-11-01 – 2026-12-01, the plan's unit price, amount = price, next_usage_seq = n + 1). The clock is then
set to 2026-12-01 10:00 in Shanghai (the period has ended) and every agency is billed in its own tenant context:
customer + subscription, push of the period's usage as invoice items, the invoice, collection (the stand-in pays
it with the test card). The Stripe catalogue (product and plan) is created on each stand-in before its pass.

Checks (exit status 1 on any failure): each agency has exactly one BillingInvoice, its cases and amount are the
agency's cases × its price, equal to the total Stripe reports for that invoice (read back after the run) and to
the total read when it was created; every usage record is billed and on that invoice. A second pass over the 100k
set (nothing left to bill) must make no Stripe call.

Ends with: RESULT cases=… tenants=… wall_s=… stripe_calls=… calls_per_tenant=… baseline_calls=… call_ratio=…
baseline_wall_s=… wall_ratio=… rerun_calls=… rerun_wall_s=… stripe_http=… baseline_http=… ok=1
(stripe_http: the HTTP requests behind the counted calls, list pages included.)
"""
import cProfile
import io
import os
import pstats
import re
import shutil
import sys
import tempfile
import time
import uuid
from collections import Counter, defaultdict
from datetime import date, datetime, timedelta, timezone
from pathlib import Path
from urllib.parse import urlsplit

from _postgres import database_urls, prepare, serving_role, temporary_database

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

_tmp = Path(tempfile.mkdtemp(prefix="recoverly-billing-bench-"))
os.environ.setdefault("RECOVERLY_INSTANCE_DIR", str(_tmp / "instance"))
os.environ.setdefault("RECOVERLY_ENV", "development")  # derived keys: nothing here is real data
os.environ.setdefault("SECRET_KEY", "bench-secret-key-0123456789abcdef0123456789")

CASES = int(os.environ.get("BENCH_CASES", "100000"))
TENANTS = int(os.environ.get("BENCH_TENANTS", "50"))
PROFILE = os.environ.get("BENCH_PROFILE", "") not in ("", "0")
LENDERS = 5
PRICES_MINOR = (500, 250, 1200, 300, 800)
ZONE = "Asia/Shanghai"
PERIOD_START, PERIOD_END = date(2026, 11, 1), date(2026, 12, 1)
PERIOD_UTC_START = datetime(2026, 10, 31, 16, 0, tzinfo=timezone.utc)  # 2026-11-01 00:00 in Shanghai
SEEDED_AT = datetime(2026, 10, 1, 2, 0, tzinfo=timezone.utc)
BILL_AT = datetime(2026, 12, 1, 2, 0, tzinfo=timezone.utc)  # 10:00 on 1 December in Shanghai: the period has ended
CHUNK = 5000

HOW_TO_RUN = """billing_bench needs PostgreSQL: DATABASE_URL (the application role) and MIGRATION_DATABASE_URL (the
schema owner, who may create databases), or neither (then the local server on 127.0.0.1:5432 with trust auth, as
postgres). The bench creates, migrates and drops a temporary database of its own; no existing database is touched.

    python bench/billing_bench.py            # or: make bench NAME=billing_bench
"""


def _ids(prefix: str, count: int) -> list[uuid.UUID]:
    return [uuid.uuid5(uuid.NAMESPACE_URL, f"recoverly-billing-bench/{prefix}/{n}") for n in range(count)]


def skewed_counts(total: int, tenants: int) -> list[int]:
    """Zipf-like (1/rank): every tenant at least one case, the counts summing to `total`."""
    weights = [1 / (rank + 1) for rank in range(tenants)]
    scale = (total - tenants) / sum(weights)
    counts = [1 + int(w * scale) for w in weights]
    for i in range(total - sum(counts)):
        counts[i % tenants] += 1
    return counts


# ---- localstripe ------------------------------------------------------------------------------------------------

def localstripe():
    """The stand-in on a free loopback port, as the tests' `localstripe_url` fixture starts it."""
    from web.demo.localstripe_server import running

    return running(_tmp / "localstripe.log")


# ---- seeding ----------------------------------------------------------------------------------------------------

def seed(app, counts_by_set: dict[str, list[int]]) -> dict[str, list[dict]]:
    """Lenders, agencies and their plans, portfolios, batches, accounts, placements and usage records, with Core
    executemany in a platform context. Returns, per set, the agencies: id, cases, price."""
    from sqlalchemy import insert, text

    from tenants.billing.models import BillingPlan, UsageRecord
    from tenants.context import platform_scope
    from tenants.db import db
    from tenants.pii import blind_index
    from tenants.placements.models import Placement, PlacementBatch
    from tenants.portfolios.models import Account, Portfolio
    from tenants.tenancy.models import Tenant

    lenders, portfolios = _ids("lender", LENDERS), _ids("portfolio", LENDERS)
    tenants = [dict(id=lender, kind="lender", slug=f"bench-lender-{k}", name=f"基准网贷{k}", status="active",
                    time_zone=ZONE, locale="zh_CN", currency="CNY", settings={}, created_at=SEEDED_AT)
               for k, lender in enumerate(lenders)]
    agencies_by_set, plans, batches, accounts, placements, usage = {}, [], [], [], [], []
    subject = blind_index("phone", "+8613800138000")
    for set_name, counts in counts_by_set.items():
        agencies = []
        for a, (agency, cases) in enumerate(zip(_ids(f"agency-{set_name}", len(counts)), counts)):
            price = PRICES_MINOR[a % len(PRICES_MINOR)]
            agencies.append({"id": agency, "cases": cases, "price": price, "slug": f"bench-{set_name}-{a}"})
            tenants.append(dict(id=agency, kind="agency", slug=f"bench-{set_name}-{a}", name=f"基准催收{set_name}{a}",
                                status="active", time_zone=ZONE, locale="zh_CN", currency="CNY", settings={},
                                created_at=SEEDED_AT))
            plans.append(dict(id=uuid.uuid4(), tenant_id=agency, payer="agency", unit_price_minor=price,
                              currency="CNY", free_cases=0, billing_day=1, stop_when_delinquent=True,
                              next_usage_seq=cases + 1, standing="good", created_at=SEEDED_AT, updated_at=SEEDED_AT))
            batch_of = {}
            for k, lender in enumerate(lenders):
                batch_of[k] = uuid.uuid4()
                batches.append(dict(id=batch_of[k], tenant_id=lender, criteria={}, terms={}, allocation={}, seed=1,
                                    created_by_user_id=None, created_at=SEEDED_AT))
            step = (PERIOD_END - PERIOD_START).total_seconds() * 0.98 / cases
            for seq in range(1, cases + 1):
                k = seq % LENDERS
                account_id, placement_id = uuid.uuid4(), uuid.uuid4()
                ref = f"{set_name.upper()}-{a:02d}-{seq:06d}"
                accepted_at = PERIOD_UTC_START + timedelta(seconds=60 + seq * step)
                accounts.append(dict(
                    id=account_id, tenant_id=lenders[k], portfolio_id=portfolios[k], external_ref=ref,
                    subject_key=subject, debtor_name="张三", id_type="cn_resident_id", region="上海",
                    time_zones=[ZONE], time_zone_source="phone", product="cash loan", currency="CNY",
                    original_minor=550_000, principal_minor=500_000, interest_minor=30_000, fees_minor=10_000,
                    penalty_minor=5_000, outstanding_minor=545_000, days_past_due=45, status="open",
                    created_at=SEEDED_AT, updated_at=SEEDED_AT))
                placements.append(dict(
                    id=placement_id, tenant_id=lenders[k], agency_tenant_id=agency, account_id=account_id,
                    batch_id=batch_of[k], status="active", commission_bps=1500, commission_tiers=[],
                    starts_on=PERIOD_START, ends_on=PERIOD_START + timedelta(days=90),
                    allowed_channels=["call", "sms"], conduct_overrides={}, currency="CNY",
                    balance_at_placement_minor=545_000, dpd_at_placement=45, recovered_minor=0,
                    offered_at=accepted_at - timedelta(seconds=30), responded_at=accepted_at,
                    debtor_notified_at=accepted_at - timedelta(seconds=30), max_discount_bps=0))
                usage.append(dict(
                    id=uuid.uuid4(), tenant_id=agency, seq=seq, placement_id=placement_id, account_id=account_id,
                    account_ref=ref, lender_tenant_id=lenders[k], agency_tenant_id=agency,
                    period_start=PERIOD_START, period_end=PERIOD_END, accepted_at=accepted_at, currency="CNY",
                    unit_price_minor=price, free=False, amount_minor=price, billed_at=None,
                    stripe_invoice_item_id=None, invoice_id=None))
        agencies_by_set[set_name] = agencies

    steps = [(Tenant, tenants), (BillingPlan, plans),
             (Portfolio, [dict(id=p, tenant_id=lender, name="bench", created_at=SEEDED_AT)
                          for p, lender in zip(portfolios, lenders)]),
             (PlacementBatch, batches), (Account, accounts), (Placement, placements), (UsageRecord, usage)]
    with app.app_context(), platform_scope("billing bench: seeding"):
        for model, rows in steps:
            started = time.perf_counter()
            for i in range(0, len(rows), CHUNK):
                db.session.execute(insert(model.__table__), rows[i:i + CHUNK])
            db.session.commit()
            print(f"  {model.__tablename__}: {len(rows)} rows in {time.perf_counter() - started:.1f} s", flush=True)
        db.session.execute(text("ANALYZE"))
        db.session.commit()
        db.session.remove()
    return agencies_by_set


# ---- measuring --------------------------------------------------------------------------------------------------

class Timers:
    """Where a pass spends its time: the billing steps and the gateway's methods (wrapped), the HTTP requests behind
    them, ORM flushes and SQL (events). Nested timers overlap: each is reported on its own."""

    def __init__(self):
        self.seconds, self.count = Counter(), Counter()

    def wrap(self, owner, name: str, label: str):
        original = getattr(owner, name)

        def timed(*args, **kwargs):
            started = time.perf_counter()
            try:
                return original(*args, **kwargs)
            finally:
                self.seconds[label] += time.perf_counter() - started
                self.count[label] += 1

        setattr(owner, name, timed)
        return original

    def reset(self):
        self.seconds.clear()
        self.count.clear()


TIMERS = Timers()
STEP_NAMES = ("ensure_customer", "_periods_open", "_push", "_invoice", "_collect")


def instrument(engine) -> None:
    import stripe._http_client as stripe_http
    from sqlalchemy import event
    from sqlalchemy.orm import Session

    from tenants.billing import invoicing
    from tenants.billing.stripe_gateway import StripeGateway

    for name in STEP_NAMES:
        if callable(getattr(invoicing, name, None)):
            TIMERS.wrap(invoicing, name, f"step {name}")
    # The gateway's public methods (those billing calls; none of them calls another).
    for name, member in list(vars(StripeGateway).items()):
        if callable(member) and not name.startswith("_") and name not in ("construct_event",):
            TIMERS.wrap(StripeGateway, name, "stripe gateway methods")
    # Every HTTP request the library makes, list pages included (the gateway counts one call per list), also
    # timed per endpoint (ids left out): which of localstripe's answers take the time.
    original = stripe_http.HTTPClient.request_with_retries

    def request_with_retries(self, method, url, *args, **kwargs):
        started = time.perf_counter()
        try:
            return original(self, method, url, *args, **kwargs)
        finally:
            elapsed = time.perf_counter() - started
            path = ["{id}" if part != "v1" and (re.search(r"[A-Z0-9]", part) or part.startswith("recoverly-"))
                    else part for part in urlsplit(url).path.split("/") if part]
            for label in ("stripe HTTP requests", f"  {method.upper()} /{'/'.join(path)}"):
                TIMERS.seconds[label] += elapsed
                TIMERS.count[label] += 1

    stripe_http.HTTPClient.request_with_retries = request_with_retries

    @event.listens_for(Session, "before_flush")
    def _flush_started(session, flush_context, instances):
        session.info["bench_flush_started"] = time.perf_counter()

    @event.listens_for(Session, "after_flush_postexec")
    def _flush_ended(session, flush_context):
        started = session.info.pop("bench_flush_started", None)
        if started is not None:
            TIMERS.seconds["orm flush (all of it)"] += time.perf_counter() - started
            TIMERS.count["orm flush (all of it)"] += 1

    @event.listens_for(engine, "before_cursor_execute")
    def _before(conn, cursor, statement, parameters, context, executemany):
        conn.info.setdefault("bench_started", []).append(time.perf_counter())

    @event.listens_for(engine, "after_cursor_execute")
    def _after(conn, cursor, statement, parameters, context, executemany):
        started = conn.info["bench_started"].pop()
        TIMERS.seconds["sql (cursor execute)"] += time.perf_counter() - started
        TIMERS.count["sql (cursor execute)"] += 1
        verb = statement.lstrip().split(None, 1)[0].upper()
        TIMERS.seconds[f"sql {verb}"] += time.perf_counter() - started
        TIMERS.count[f"sql {verb}"] += 1


def bill_all(app, agencies: list[dict], gateway, label: str, profile: bool = False) -> dict:
    """invoicing.bill for every agency in its tenant context; wall time, Stripe calls, per-tenant times."""
    from tenants.billing import invoicing
    from tenants.context import tenant_scope
    from tenants.db import db
    from tenants.tenancy.models import Tenant

    TIMERS.reset()
    before_calls, before_by_name = gateway.total_calls, Counter(gateway.calls)
    per_tenant, runs = [], {}
    profiler = cProfile.Profile() if profile else None
    with app.app_context():
        started = time.perf_counter()
        if profiler:
            profiler.enable()
        for agency in agencies:
            tenant_started = time.perf_counter()
            with tenant_scope(agency["id"]):
                runs[agency["id"]] = invoicing.bill(db.session.get(Tenant, agency["id"]), gateway)
                db.session.remove()
            per_tenant.append((time.perf_counter() - tenant_started, agency))
        if profiler:
            profiler.disable()
        wall = time.perf_counter() - started
    calls = gateway.total_calls - before_calls
    by_name = Counter(gateway.calls)
    by_name.subtract(before_by_name)
    result = {"label": label, "wall_s": wall, "calls": calls, "by_name": +by_name, "per_tenant": per_tenant,
              "runs": runs, "timers": (Counter(TIMERS.seconds), Counter(TIMERS.count)),
              "http": TIMERS.count["stripe HTTP requests"]}
    billed = sum(run.cases_billed for run in runs.values())
    print(f"{label}: {len(agencies)} tenants in {wall:.2f} s, {billed} cases billed, {calls} Stripe calls "
          f"({calls / len(agencies):.2f} per tenant; {result['http']} HTTP requests)", flush=True)
    if by_name:
        print("  calls: " + ", ".join(f"{name}={n}" for name, n in sorted(by_name.items()) if n), flush=True)
    if profiler:
        out = io.StringIO()
        stats = pstats.Stats(profiler, stream=out)
        stats.sort_stats("cumulative").print_stats(r"tenants/|sqlalchemy/orm/(loading|persistence|session|"
                                                    r"bulk_persistence|unitofwork)", 45)
        stats.sort_stats("tottime").print_stats(25)
        result["profile"] = out.getvalue()
    return result


def report_breakdown(result: dict) -> None:
    seconds, counts = result["timers"]
    wall = result["wall_s"]
    print(f"  time breakdown of {result['label']} (wall {wall:.2f} s; nested timers overlap):", flush=True)
    for name, value in sorted(seconds.items(), key=lambda kv: -kv[1]):
        print(f"    {name:28s} {value:8.2f} s  {100 * value / wall:5.1f}%  ({counts[name]} calls)", flush=True)
    slowest = sorted(result["per_tenant"], key=lambda pair: -pair[0])[:3]
    print("  slowest tenants: " + ", ".join(f"{a['slug']} ({a['cases']} cases) {s:.2f} s" for s, a in slowest),
          flush=True)


def verify(app, agencies: list[dict], checker) -> list[str]:
    """One invoice per agency of cases × price, equal to Stripe's total; every usage record billed and on it."""
    from sqlalchemy import case, func, select

    from tenants.billing.models import BillingInvoice, UsageRecord
    from tenants.context import platform_scope
    from tenants.db import db

    ids = [a["id"] for a in agencies]
    problems = []
    with app.app_context(), platform_scope("billing bench: verification"):
        invoices = defaultdict(list)
        for invoice in db.session.scalars(select(BillingInvoice).where(BillingInvoice.tenant_id.in_(ids))):
            invoices[invoice.tenant_id].append(invoice)
        usage = defaultdict(list)  # per tenant: one row per invoice its records are on (None: not invoiced)
        for row in db.session.execute(
                select(UsageRecord.tenant_id, UsageRecord.invoice_id, func.count().label("records"),
                       func.sum(UsageRecord.amount_minor).label("amount"),
                       func.sum(case((UsageRecord.billed_at.is_(None), 1), else_=0)).label("unbilled"))
                .where(UsageRecord.tenant_id.in_(ids)).group_by(UsageRecord.tenant_id, UsageRecord.invoice_id)):
            usage[row.tenant_id].append(row)
        statuses = Counter()
        for agency in agencies:
            slug, expected = agency["slug"], agency["cases"] * agency["price"]
            found = invoices.get(agency["id"], [])
            if len(found) != 1:
                problems.append(f"{slug}: {len(found)} invoices, expected 1")
                continue
            invoice = found[0]
            statuses[invoice.status] += 1
            if (invoice.cases, invoice.amount_minor) != (agency["cases"], expected):
                problems.append(f"{slug}: invoice of {invoice.cases} cases, {invoice.amount_minor} minor; expected "
                                f"{agency['cases']} cases × {agency['price']} = {expected}")
            if invoice.stripe_amount_minor != expected:
                problems.append(f"{slug}: Stripe's total when invoiced {invoice.stripe_amount_minor}, "
                                f"expected {expected}")
            if invoice.stripe_invoice_id is None:
                problems.append(f"{slug}: the invoice has no Stripe invoice")
            else:
                total = checker.client.v1.invoices.retrieve(invoice.stripe_invoice_id).to_dict().get("total")
                if total != expected:
                    problems.append(f"{slug}: Stripe invoice {invoice.stripe_invoice_id} totals {total}, "
                                    f"expected {expected}")
            groups = [(g.invoice_id, g.records, int(g.amount or 0), g.unbilled) for g in usage.get(agency["id"], [])]
            if groups != [(invoice.id, agency["cases"], expected, 0)]:
                problems.append(f"{slug}: usage records by invoice (invoice, records, amount, not pushed): "
                                f"{[(str(i), n, a, u) for i, n, a, u in groups]}; expected all {agency['cases']} "
                                f"pushed and on {invoice.id}")
        db.session.remove()
    print(f"  verified {len(agencies)} tenants: {len(problems)} problems; invoice statuses "
          + ", ".join(f"{s}={n}" for s, n in sorted(statuses.items())), flush=True)
    return problems


def measure(app, agencies_by_set: dict) -> dict:
    """Each pass against a fresh localstripe: the stand-in pickles its whole store to disk on every write, so its
    answers slow down as it fills up, and a pass run after the other would pay for the other's objects."""
    from tenants import clock
    from tenants.billing.stripe_gateway import StripeGateway, StripeSettings
    from tenants.db import db

    with app.app_context():
        instrument(db.engine)
    previous = clock.use(clock.FrozenClock(BILL_AT))
    problems = []
    try:
        def stand_in(url: str) -> StripeSettings:
            app.config["STRIPE_API_BASE"] = url
            settings = StripeSettings.from_config(app.config)
            setup = StripeGateway(settings)
            setup.plan_for("CNY")  # the catalogue (product + yearly plan) every payer's subscription uses
            print(f"localstripe at {url}; catalogue created before measuring: {setup.total_calls} calls "
                  f"({', '.join(f'{k}={v}' for k, v in sorted(setup.calls.items()))})", flush=True)
            return settings

        with localstripe() as url:
            settings = stand_in(url)
            baseline = bill_all(app, agencies_by_set["baseline"], StripeGateway(settings), "baseline (1 case each)")
            report_breakdown(baseline)
            problems += verify(app, agencies_by_set["baseline"], StripeGateway(settings))  # uncounted read-back

        with localstripe() as url:
            settings = stand_in(url)
            gateway = StripeGateway(settings)
            big = bill_all(app, agencies_by_set["big"], gateway, f"{CASES} cases", profile=PROFILE)
            report_breakdown(big)
            if big.get("profile"):
                print(big["profile"], flush=True)
            rerun = bill_all(app, agencies_by_set["big"], gateway, f"rerun of the {CASES}-case set")
            problems += verify(app, agencies_by_set["big"], StripeGateway(settings))
        billed = sum(run.cases_billed for run in big["runs"].values())
        if billed != CASES:
            problems.append(f"the {CASES}-case pass billed {billed} cases")
        if rerun["calls"] != 0:
            problems.append(f"the rerun made {rerun['calls']} Stripe calls, expected 0")
        if any(run.as_dict() != type(run)().as_dict() for run in rerun["runs"].values()):
            problems.append("the rerun billed something")
    finally:
        clock.use(previous)
    return {"baseline": baseline, "big": big, "rerun": rerun, "problems": problems}


def main() -> int:

    from tenants.db import db
    from web import create_app

    urls = database_urls()
    if urls is None:
        print(HOW_TO_RUN, file=sys.stderr)
        shutil.rmtree(_tmp, ignore_errors=True)
        return 2
    app_url, owner = urls
    if TENANTS < 1 or CASES < TENANTS:
        print("BENCH_CASES must be at least BENCH_TENANTS (every tenant has a case)", file=sys.stderr)
        shutil.rmtree(_tmp, ignore_errors=True)
        return 2

    counts = {"baseline": [1] * TENANTS, "big": skewed_counts(CASES, TENANTS)}
    try:
        with temporary_database("billing", owner, app_url) as (bench_owner_url, bench_app_url):
            app = None
            try:
                started = time.perf_counter()
                served_as = prepare(bench_owner_url, bench_app_url)
                app = create_app({"SQLALCHEMY_DATABASE_URI": served_as.render_as_string(hide_password=False),
                                  "STRIPE_API_KEY": "sk_test_recoverly_bench"})
                print(f"temporary database {bench_owner_url.database} migrated in {time.perf_counter() - started:.1f}"
                      f" s; seeding {TENANTS} agencies with {CASES} cases "
                      f"(largest {max(counts['big'])}, smallest {min(counts['big'])}) and {TENANTS} with 1 case",
                      flush=True)
                started = time.perf_counter()
                agencies_by_set = seed(app, counts)
                print(f"seeded in {time.perf_counter() - started:.1f} s (not timed)", flush=True)
                with app.app_context():
                    role = serving_role(db.session)
                    db.session.remove()
                print(f"billing as {role.current_user} (superuser={role.rolsuper}, bypassrls={role.rolbypassrls}); "
                      f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores", flush=True)
                results = measure(app, agencies_by_set)
            finally:
                if app is not None:
                    with app.app_context():
                        db.session.remove()
                        db.engine.dispose()
    finally:
        shutil.rmtree(_tmp, ignore_errors=True)

    baseline, big, rerun = results["baseline"], results["big"], results["rerun"]
    for problem in results["problems"]:
        print(f"FAILED: {problem}", flush=True)
    call_ratio = big["calls"] / baseline["calls"] if baseline["calls"] else float("nan")
    wall_ratio = big["wall_s"] / baseline["wall_s"] if baseline["wall_s"] else float("nan")
    print(f"RESULT cases={CASES} tenants={TENANTS} wall_s={big['wall_s']:.2f} stripe_calls={big['calls']} "
          f"calls_per_tenant={big['calls'] / TENANTS:.2f} baseline_calls={baseline['calls']} "
          f"call_ratio={call_ratio:.2f} baseline_wall_s={baseline['wall_s']:.2f} wall_ratio={wall_ratio:.2f} "
          f"rerun_calls={rerun['calls']} rerun_wall_s={rerun['wall_s']:.2f} stripe_http={big['http']} "
          f"baseline_http={baseline['http']} ok={int(not results['problems'])}")
    return 1 if results["problems"] else 0


if __name__ == "__main__":
    sys.exit(main())
