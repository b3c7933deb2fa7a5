"""What the recovery analytics pages cost at scale: one lender with 1,000,000 placed accounts over twelve monthly
vintages, each vintage one allocation split 70/30 between two of four agencies; 30% of the accounts paid once
(confirmed), one in ten of those twice; a right-party contact on 30% and a promise on 10%. The baseline is a bare
primary-key read of one account in the same run, the same way (the application role, row-level security on).

Needs PostgreSQL: DATABASE_URL (the application role) and MIGRATION_DATABASE_URL (the owner, who may create
databases) — see bench/worklist_bench.py; with neither set, the local server as `postgres`. The bench creates,
migrates, seeds (INSERT … SELECT generate_series, secondary indexes rebuilt after the load) and drops a temporary
database of its own.

No flags. BENCH_ACCOUNTS (default 1000000) shrinks the data for a trial; BENCH_RUNS (default 15) measured runs of
each page.

Measured through the Flask test client, logged in, each BENCH_RUNS times after one warm-up:
- as the lender's analyst: the liquidation curves by vintage (12 months), by agency, by one allocation's arms; the
  champion/challenger comparison of one allocation (~83,000 accounts); roll rates of last month; cost of collection;
- as an agency's supervisor: its own curves, roll rates and cost.
Ends with: RESULT <page>_p95_ms=… … worst_p95_ms=… pk_p95_ms=… ratio=<worst ÷ pk> accounts=…
"""
import json
import os
import shutil
import sys
import tempfile
import time
import uuid
from datetime import datetime, timezone
from pathlib import Path

from _postgres import (
    bulk_owner,
    database_urls,
    drop_secondary_indexes,
    prepare,
    quantile_ms,
    serving_role,
    temporary_database,
)

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

_tmp = Path(tempfile.mkdtemp(prefix="recoverly-analytics-bench-"))
os.environ.setdefault("RECOVERLY_INSTANCE_DIR", str(_tmp / "instance"))
os.environ.setdefault("RECOVERLY_ENV", "development")
os.environ.setdefault("SECRET_KEY", "bench-secret-key-0123456789abcdef0123456789")

ACCOUNTS = int(os.environ.get("BENCH_ACCOUNTS", "1000000"))
RUNS = int(os.environ.get("BENCH_RUNS", "15"))
VINTAGES = 12
PASSWORD = "bench-password-1"
ANALYST, SUPERVISOR = "analyst@bench.test", "supervisor@bench.test"
TARGET_MS = 500


def _ids(prefix: str, count: int) -> list[uuid.UUID]:
    return [uuid.uuid5(uuid.NAMESPACE_URL, f"recoverly-analytics-bench/{prefix}/{n}") for n in range(count)]


ACCOUNT = "md5('a' || i)::uuid"
PLACEMENT = "md5('pl' || i)::uuid"
VINTAGE = f"mod(i, {VINTAGES})"
# Vintage k's arms: agencies 2·(k mod 2) and 2·(k mod 2) + 1, 70/30 by a hash of the account.
AGENCY = f"(2 * mod({VINTAGE}, 2) + CASE WHEN mod(abs(hashtext('w' || i)), 10) < 7 THEN 0 ELSE 1 END)"
PRINCIPAL = "(10000 + mod(abs(hashtext('p' || i)), 5000000))::bigint"
STARTS = f"(date_trunc('month', %(now)s::timestamptz AT TIME ZONE 'UTC')::date - ({VINTAGE} * interval '1 month') " \
         "+ mod(i, 27) * interval '1 day')::date"
PAYS = "mod(abs(hashtext('y' || i)), 10) < 3"
# The stratum an allocation would have put the account in (tenants.placements.allocation): the default DPD bucket of
# its days past due, and its balance quartile by rank (balance, then account id) within the vintage and bucket.
STRATUM_BUCKET = ("CASE WHEN 1 + mod(i, 400) <= 30 THEN 0 WHEN 1 + mod(i, 400) <= 60 THEN 1 "
                  "WHEN 1 + mod(i, 400) <= 90 THEN 2 WHEN 1 + mod(i, 400) <= 180 THEN 3 "
                  "WHEN 1 + mod(i, 400) <= 360 THEN 4 ELSE 5 END")


def seed(owner_url, now: datetime, keyring, emails: dict, password_hash: str) -> dict:
    lender, agencies, batches = _ids("lender", 1)[0], _ids("agency", 4), _ids("batch", VINTAGES)
    portfolio = _ids("portfolio", 1)[0]
    users = {"analyst": (_ids("user", 2)[0], lender, "lender_analyst"),
             "supervisor": (_ids("user", 2)[1], agencies[0], "agency_supervisor")}
    name = keyring.encrypt("张三")
    params = {"n": ACCOUNTS, "now": now, "lender": lender, "agencies": agencies, "batches": batches,
              "portfolio": portfolio, "name": name}
    allocation = {k: json.dumps({"weights": {str(agencies[2 * (k % 2)]): 70, str(agencies[2 * (k % 2) + 1]): 30},
                                 "dpd_buckets": ["0-30", "31-60", "61-90", "91-180", "181-360", "361+"],
                                 "per_agency": {str(agencies[2 * (k % 2)]): {"accounts": ACCOUNTS * 7 // 120},
                                                str(agencies[2 * (k % 2) + 1]): {"accounts": ACCOUNTS * 3 // 120}},
                                 "summary": f"bench vintage {k}"}) for k in range(VINTAGES)}
    agency_of = f"(%(agencies)s::uuid[])[{AGENCY} + 1]"
    with bulk_owner(owner_url) as connection:
        connection.execute("""
            INSERT INTO tenants (id, kind, slug, name, status, time_zone, locale, currency, settings, created_at)
            VALUES (%(lender)s, 'lender', 'bench-lender', '基准网贷', 'active', 'Asia/Shanghai', 'zh_CN', 'CNY',
                    '{}'::json, %(now)s)""", params)
        for k, agency in enumerate(agencies):
            connection.execute("""
                INSERT INTO tenants (id, kind, slug, name, status, time_zone, locale, currency, settings, created_at)
                VALUES (%s, 'agency', %s, %s, 'active', 'Asia/Shanghai', 'zh_CN', 'CNY', '{}'::json, %s)""",
                               (agency, f"bench-agency-{k}", f"基准催收{k}", now))
            connection.execute("""
                INSERT INTO agency_relationships (id, tenant_id, agency_tenant_id, status, contract_start,
                    next_review_on, default_commission_bps, default_period_days, default_channels, created_at)
                VALUES (md5('rel' || %s)::uuid, %s, %s, 'active', DATE '2025-01-01', DATE '2027-01-01', 1500, 400,
                        '["call"]', %s)""", (str(agency), lender, agency, now))
        connection.execute("INSERT INTO portfolios (id, tenant_id, name, created_at) VALUES (%(portfolio)s, "
                           "%(lender)s, 'bench', %(now)s)", params)
        for k, batch in enumerate(batches):
            connection.execute("""
                INSERT INTO placement_batches (id, tenant_id, criteria, terms, allocation, seed, created_at)
                VALUES (%s, %s, '{}', '{}', %s, 1, date_trunc('month', %s::timestamptz) - %s * interval '1 month')
                """, (batch, lender, allocation[k], now, k))
        for key, (user_id, tenant_id, role) in users.items():
            connection.execute("""
                INSERT INTO users (id, email_index, email, name, password_hash, locale, is_active, created_at)
                VALUES (%s, %s, %s, %s, %s, 'en', true, %s)""", (user_id, emails[key], name, name, password_hash,
                                                                  now))
            connection.execute("""
                INSERT INTO memberships (id, tenant_id, user_id, role, is_active, created_at)
                VALUES (md5('m' || %s)::uuid, %s, %s, %s, true, %s)""", (key, tenant_id, user_id, role, now))
        big = ("accounts", "placements", "payments", "promises", "contact_attempts")
        indexes = drop_secondary_indexes(connection, big)
        steps = [
            ("accounts", f"""
                INSERT INTO accounts (id, tenant_id, portfolio_id, external_ref, debtor_name, id_type, time_zones,
                    time_zone_source, currency, original_minor, principal_minor, interest_minor, fees_minor,
                    penalty_minor, outstanding_minor, days_past_due, deceased, bankrupt, disputed, attorney,
                    cease_requested, status, created_at, updated_at)
                SELECT {ACCOUNT}, %(lender)s, %(portfolio)s, 'B' || lpad(i::text, 8, '0'), %(name)s,
                       'cn_resident_id', '["Asia/Shanghai"]', 'phone', 'CNY', {PRINCIPAL} + 50000, {PRINCIPAL},
                       30000, 10000, 5000, {PRINCIPAL} + 45000, 1 + mod(i, 400), false, false, false, false, false,
                       'open', %(now)s, %(now)s
                FROM generate_series(0, %(n)s - 1) i"""),
            ("placements", f"""
                INSERT INTO placements (id, tenant_id, agency_tenant_id, account_id, batch_id, status, commission_bps,
                    commission_tiers, starts_on, ends_on, allowed_channels, conduct_overrides, currency,
                    balance_at_placement_minor, dpd_at_placement, recovered_minor, offered_at, responded_at,
                    recall_forced, stratum_bucket, stratum_band)
                SELECT {PLACEMENT}, %(lender)s, {agency_of}, {ACCOUNT}, (%(batches)s::uuid[])[{VINTAGE} + 1],
                       CASE WHEN mod(i, 97) = 0 THEN 'closed' ELSE 'active' END,
                       1500, CASE WHEN mod(i, 2) = 0 THEN '[{{"min_dpd": 0, "max_dpd": 90, "bps": 1200}}]'
                                  ELSE '[]' END::json,
                       {STARTS}, {STARTS} + 400, '["call"]', '{{}}', 'CNY', {PRINCIPAL} + 45000,
                       1 + mod(i, 400), 0, {STARTS}::timestamptz, {STARTS}::timestamptz + interval '1 hour', false,
                       bucket, (least(4, nb) * rn - 1) / nb
                FROM (SELECT i, bucket, row_number() OVER (PARTITION BY vintage, bucket
                                                           ORDER BY {PRINCIPAL}, {ACCOUNT}) AS rn,
                             count(*) OVER (PARTITION BY vintage, bucket) AS nb
                      FROM (SELECT i, {VINTAGE} AS vintage, {STRATUM_BUCKET} AS bucket
                            FROM generate_series(0, %(n)s - 1) i) s) t"""),
            ("payments", f"""
                INSERT INTO payments (id, tenant_id, account_id, placement_id, agency_tenant_id, recorded_by_tenant_id,
                    amount_minor, currency, received_on, method, status, closed_account, recorded_at, confirmed_at)
                SELECT md5('y' || i || '-' || k)::uuid, %(lender)s, {ACCOUNT}, {PLACEMENT}, {agency_of}, %(lender)s,
                       ({PRINCIPAL} + 45000) / 5, 'CNY', paid::date, 'alipay', 'confirmed', false, paid, paid
                FROM generate_series(0, %(n)s - 1) i, generate_series(0, 1) k,
                     LATERAL (SELECT {STARTS}::timestamptz + (mod(abs(hashtext('d' || i || k)), 330) + 1)
                                     * interval '1 day' AS paid) t
                WHERE {PAYS} AND (k = 0 OR mod(i, 10) = 0) AND paid < %(now)s"""),
            ("promises", f"""
                INSERT INTO promises (id, tenant_id, lender_tenant_id, account_id, placement_id, amount_minor,
                    currency, taken_on, due_on, grace_days, zone, status, paid_minor, created_at)
                SELECT md5('pr' || i)::uuid, {agency_of}, %(lender)s, {ACCOUNT}, {PLACEMENT}, 10000, 'CNY',
                       {STARTS} + 5, {STARTS} + 12, 2, 'Asia/Shanghai', 'kept', 10000, {STARTS}::timestamptz
                FROM generate_series(0, %(n)s - 1, 10) i"""),
            ("contact attempts", f"""
                INSERT INTO contact_attempts (id, tenant_id, lender_tenant_id, account_id, placement_id, channel,
                    direction, target, status, decision, rulebook_version, hits, inputs, decided_at, outcome_code,
                    connected, conversation)
                SELECT md5('c' || i)::uuid, {agency_of}, %(lender)s, {ACCOUNT}, {PLACEMENT}, 'call', 'outbound',
                       'debtor', 'completed', 'allow', 'cn-bench', '[]', '{{}}',
                       {STARTS}::timestamptz + interval '2 days', 'right_party_contact', true, true
                FROM generate_series(0, %(n)s - 1) i WHERE mod(abs(hashtext('c' || i)), 10) < 3"""),
        ]
        for label, sql in steps:
            started = time.perf_counter()
            connection.execute(sql, params)
            print(f"  {label}: {time.perf_counter() - started:.1f} s", flush=True)
        started = time.perf_counter()
        connection.execute("""
            UPDATE placements p SET recovered_minor = t.total
            FROM (SELECT placement_id, sum(amount_minor) AS total FROM payments GROUP BY placement_id) t
            WHERE p.id = t.placement_id""")
        connection.execute("""
            UPDATE placements SET ended_at = (starts_on + 20)::timestamptz WHERE status = 'closed'""")
        print(f"  recovered per placement: {time.perf_counter() - started:.1f} s", flush=True)
        started = time.perf_counter()
        for _table, _name, sql in indexes:
            connection.execute(sql)
        connection.execute("VACUUM ANALYZE")
        print(f"  indexes rebuilt, vacuumed and analyzed in {time.perf_counter() - started:.1f} s", flush=True)
        [(payments,)] = connection.execute("SELECT count(*) FROM payments").fetchall()
    return {"lender_slug": "bench-lender", "agency_slug": "bench-agency-0", "lender_id": lender,
            "batch": batches[1], "payments": payments, "account": uuid.UUID(_md5("a0"))}


def _md5(text: str) -> str:
    import hashlib

    return hashlib.md5(text.encode()).hexdigest()








def measure(app, seeded: dict) -> dict:
    from sqlalchemy import text

    from tenants.context import tenant_scope
    from tenants.db import db

    lender, agency, batch = seeded["lender_slug"], seeded["agency_slug"], seeded["batch"]
    pages = {
        "curves": (ANALYST, f"/t/{lender}/analytics"),
        "curves_by_agency": (ANALYST, f"/t/{lender}/analytics?group=agency"),
        "curves_by_arm": (ANALYST, f"/t/{lender}/analytics?group=arm&batch_id={batch}"),
        "comparison": (ANALYST, f"/t/{lender}/analytics/comparison/{batch}"),
        "roll_rates": (ANALYST, f"/t/{lender}/analytics/roll-rates"),
        "cost": (ANALYST, f"/t/{lender}/analytics/cost"),
        "agency_curves": (SUPERVISOR, f"/t/{agency}/analytics"),
        "agency_roll_rates": (SUPERVISOR, f"/t/{agency}/analytics/roll-rates"),
        "agency_cost": (SUPERVISOR, f"/t/{agency}/analytics/cost"),
    }
    results = {}
    clients = {}
    for email in (ANALYST, SUPERVISOR):
        client = app.test_client()
        response = client.post("/login", data={"email": email, "password": PASSWORD})
        assert response.status_code == 302, (email, response.status_code)
        clients[email] = client
    for key, (email, url) in pages.items():
        client = clients[email]
        first = client.get(url)
        assert first.status_code == 200, (url, first.status_code)
        timings = []
        for _ in range(RUNS):
            started = time.perf_counter()
            response = client.get(url)
            timings.append(time.perf_counter() - started)
            assert response.status_code == 200
        results[key] = timings
        print(f"  {key}: p50 {quantile_ms(timings, 0.5):.0f} ms, p95 {quantile_ms(timings, 0.95):.0f} ms", flush=True)
    timings = []
    with app.app_context():
        for _ in range(RUNS):
            with tenant_scope(seeded["lender_id"]):
                started = time.perf_counter()
                db.session.execute(text("SELECT external_ref FROM accounts WHERE id = :id"),
                                   {"id": seeded["account"]}).scalar_one()
                db.session.rollback()
                timings.append(time.perf_counter() - started)
    results["pk"] = timings
    return results


def main() -> int:
    from tenants import pii
    from tenants.db import db
    from tenants.tenancy.passwords import hash_password
    from tenants.tenancy.services import email_index
    from web import create_app

    urls = database_urls()
    if urls is None:
        print("analytics_bench needs PostgreSQL: see bench/worklist_bench.py", file=sys.stderr)
        shutil.rmtree(_tmp, ignore_errors=True)
        return 2
    app_url, owner = urls
    try:
        with temporary_database("analytics", owner, app_url) as (bench_owner_url, bench_app_url):
            app = None
            try:
                started = time.perf_counter()
                served_as = prepare(bench_owner_url, bench_app_url)
                app = create_app({"SQLALCHEMY_DATABASE_URI": served_as.render_as_string(hide_password=False),
                                  "WTF_CSRF_ENABLED": False, "RATELIMIT_ENABLED": False})
                print(f"temporary database {bench_owner_url.database}: migrated in "
                      f"{time.perf_counter() - started:.1f} s; seeding {ACCOUNTS} placed accounts", flush=True)
                started = time.perf_counter()
                with app.app_context():
                    emails = {"analyst": email_index(ANALYST), "supervisor": email_index(SUPERVISOR)}
                    seeded = seed(bench_owner_url, datetime.now(timezone.utc), pii.keyring(), emails,
                                  hash_password(PASSWORD))
                print(f"seeded in {time.perf_counter() - started:.1f} s ({seeded['payments']} payments)", flush=True)
                with app.app_context():
                    role = serving_role(db.session)
                    db.session.remove()
                print(f"measuring as {role.current_user} (superuser={role.rolsuper}, bypassrls={role.rolbypassrls}),"
                      f" {RUNS} runs each; load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores",
                      flush=True)
                results = measure(app, seeded)
            finally:
                if app is not None:
                    with app.app_context():
                        db.session.remove()
                        db.engine.dispose()
    finally:
        shutil.rmtree(_tmp, ignore_errors=True)

    p95 = {key: quantile_ms(timings, 0.95) for key, timings in results.items()}
    worst = max(v for k, v in p95.items() if k != "pk")
    verdict = "within" if worst < TARGET_MS else "over"
    print(f"worst page p95 {worst:.0f} ms: {verdict} the {TARGET_MS} ms target")
    pages = " ".join(f"{key}_p95_ms={value:.0f}" for key, value in p95.items() if key != "pk")
    print(f"RESULT {pages} worst_p95_ms={worst:.0f} pk_p95_ms={p95['pk']:.2f} "
          f"ratio={worst / max(p95['pk'], 1e-3):.0f} target_ms={TARGET_MS} accounts={ACCOUNTS} "
          f"payments={seeded['payments']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
