"""What a collector's work queue and a case page cost at scale: 1,000,000 placed accounts and 5,000,000 contact
attempts on PostgreSQL across four lenders and four agencies, each case assigned to one of ~830 collectors per
agency (300 cases each); the baseline is a bare primary-key read of one account in the same run, the same way
(the application role, row-level security on, in the agency's tenant context).

Needs PostgreSQL: DATABASE_URL (the application role) and MIGRATION_DATABASE_URL (the owner, who may create
databases). The bench creates its own temporary database with the owner's URL, migrates it, grants the application
role its privileges (deploy/postgres/roles.sql), seeds it with INSERT … SELECT generate_series (not the ORM) on two
connections, the big tables' secondary indexes dropped during the load and rebuilt after and their foreign keys put
back NOT VALID (the rows are consistent by construction), measures in this process as the application role, and
drops it at the end: about 4½ minutes on the 2-core machine. Redis: REDIS_URL's server with database 12 (flushed at
the end when it was empty at the start), else an embedded redis-server.

No flags. BENCH_ACCOUNTS (default 1000000) shrinks the data for a trial; BENCH_RUNS (default 40) measured runs of
each operation.

The data: every account has one phone, a debtor in Asia/Shanghai (70%), Asia/Tokyo (20%) or America/Los_Angeles
(10%) — so at any hour some cases are callable and some wait for the hours rule — 2% flagged disputed, 1% with an
open hardship hold, five contact attempts over the last 60 days (calls and texts, a quarter of them right-party
contacts) each with its entry in the platform's conduct ledger (so the engine judges real histories: caps, hours,
holds), a callback on one case in twenty (due or coming), a note on one in ten.

What is measured, each BENCH_RUNS times after one warm-up:
- queue: `worklist.build` of one collector's ~300 cases (the SQL, the conduct engine through its Redis cache, the
  priority sort). Between two runs the collector works one case (a text message through `conduct.attempt` and its
  outcome), as on a working day: that case's cache entry is invalidated and recomputed by the next build. The first,
  cold build (empty cache: the engine judges every case) is reported on its own.
- case: the agency case page through the Flask test client (logged in as that collector), plus the service calls
  of `web.tenant.worklist.queue_context` (timeline, callbacks, collector) while the page does not include them yet.
- pk: `SELECT external_ref FROM accounts WHERE id = :id` in the agency's context.
Each measured operation runs in its own transaction, as a request would.

Ends with: RESULT queue_p50_ms=… queue_p95_ms=… case_p50_ms=… case_p95_ms=… pk_p50_ms=… pk_p95_ms=…
queue_cold_ms=… queue_cases=… accounts=… attempts=…
"""
import math
import os
import random
import shutil
import sys
import tempfile
import time
import uuid
from datetime import datetime, timezone
from pathlib import Path
from urllib.parse import urlsplit

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

_tmp = Path(tempfile.mkdtemp(prefix="recoverly-worklist-bench-"))
os.environ.setdefault("RECOVERLY_INSTANCE_DIR", str(_tmp / "instance"))
os.environ.setdefault("RECOVERLY_ENV", "development")  # derived keys: nothing here is real data
os.environ.setdefault("SECRET_KEY", "bench-secret-key-0123456789abcdef0123456789")

ACCOUNTS = int(os.environ.get("BENCH_ACCOUNTS", "1000000"))
RUNS = int(os.environ.get("BENCH_RUNS", "40"))
ATTEMPTS_PER_ACCOUNT = 5
LENDERS = AGENCIES = 4
CASES_PER_COLLECTOR = 300
REDIS_DB = 12
PASSWORD = "bench-password-1"
COLLECTOR_EMAIL = "collector@bench.test"
REGIONS = ("上海", "北京", "广东", "浙江", "江苏", "四川", "湖北", "河南", "山东", "福建", "湖南")

HOW_TO_RUN = """worklist_bench needs PostgreSQL: set DATABASE_URL (the application role) and MIGRATION_DATABASE_URL
(the schema owner, who may create databases). The bench creates, migrates and drops a temporary database of its
own; no existing database is touched. `bash .ci/run --setup-only` starts PostgreSQL and Redis and prints the
exports to use, e.g.:

    bash .ci/run --setup-only | grep ^export > /tmp/recoverly_env.sh && . /tmp/recoverly_env.sh
    python bench/worklist_bench.py            # or: make bench NAME=worklist_bench
"""


# ---- the database ---------------------------------------------------------------------------------------------------

def bench_redis_url() -> tuple[str, object]:
    from redis import Redis
    from redis.exceptions import RedisError

    url = os.environ.get("REDIS_URL")
    if url:
        candidate = urlsplit(url)._replace(path=f"/{REDIS_DB}").geturl()
        try:
            client = Redis.from_url(candidate)
            client.ping()
            return candidate, client
        except RedisError:
            print(f"REDIS_URL {url} is not reachable: using an embedded redis-server", flush=True)
    from workers.embedded import EmbeddedRedis

    embedded = EmbeddedRedis(_tmp / "redis").start()
    return embedded.url, embedded


# ---- seeding ----------------------------------------------------------------------------------------------------

def _ids(prefix: str, count: int) -> list[uuid.UUID]:
    return [uuid.uuid5(uuid.NAMESPACE_URL, f"recoverly-bench/{prefix}/{n}") for n in range(count)]


# Per account i: lender i % 4; agency (i / 4) % 4; its rank among the agency's cases, then its collector.
LENDER = "mod(i, 4)"
AGENCY = "mod(i / 4, 4)"
RANK = "((i / 16) * 4 + mod(i, 4))"
COLLECTOR = f"md5('u' || {AGENCY} || '-' || ({RANK} / {CASES_PER_COLLECTOR}))::uuid"
ACCOUNT = "md5('a' || i)::uuid"
PLACEMENT = "md5('pl' || i)::uuid"
SUBJECT = "md5('s' || i) || md5('t' || i)"
PHONE_INDEX = "md5('p' || i) || md5('q' || i)"
PRINCIPAL = "(10000 + mod(abs(hashtext('p' || i)), 5000000))::bigint"


def seed(owner_url, now: datetime, keyring, collector_email_index: str, password_hash: str) -> dict:
    """Everything as the owner in the platform context, the big tables' secondary indexes and foreign keys dropped
    during the load and put back after: the way a bulk load is done."""
    n = ACCOUNTS
    collectors_per_agency = math.ceil(math.ceil(n / AGENCIES) / CASES_PER_COLLECTOR)
    lenders, agencies, portfolios = _ids("lender", LENDERS), _ids("agency", AGENCIES), _ids("portfolio", LENDERS)
    batches = _ids("batch", LENDERS * AGENCIES)
    cipher_name, cipher_id = keyring.encrypt("张三"), keyring.encrypt("11010119900307803X")
    cipher_phone, cipher_text = keyring.encrypt("+8613800138000"), keyring.encrypt("债务人说下周还款")
    params = {"n": n, "now": now, "lenders": lenders, "agencies": agencies, "portfolios": portfolios,
              "batches": batches, "name": cipher_name, "idnum": cipher_id, "phone": cipher_phone,
              "note": cipher_text, "per_agency": collectors_per_agency}
    lender_of, agency_of = f"(%(lenders)s::uuid[])[{LENDER} + 1]", f"(%(agencies)s::uuid[])[{AGENCY} + 1]"
    steps = [
        ("tenants", """
            INSERT INTO tenants (id, kind, slug, name, status, time_zone, locale, currency, settings, created_at)
            SELECT (%(lenders)s::uuid[])[k + 1], 'lender', 'bench-lender-' || k, '基准网贷' || k, 'active',
                   'Asia/Shanghai', 'zh_CN', 'CNY', '{}'::json, %(now)s FROM generate_series(0, 3) k
            UNION ALL
            SELECT (%(agencies)s::uuid[])[k + 1], 'agency', 'bench-agency-' || k, '基准催收' || k, 'active',
                   'Asia/Shanghai', 'zh_CN', 'CNY', '{}'::json, %(now)s FROM generate_series(0, 3) k"""),
        ("portfolios, panels, batches", """
            INSERT INTO portfolios (id, tenant_id, name, created_at)
            SELECT (%(portfolios)s::uuid[])[k + 1], (%(lenders)s::uuid[])[k + 1], 'bench', %(now)s
            FROM generate_series(0, 3) k;
            INSERT INTO agency_relationships (id, tenant_id, agency_tenant_id, status, contract_start, contract_end,
                next_review_on, default_commission_bps, default_period_days, default_channels, created_at)
            SELECT md5('rel' || l || a)::uuid, (%(lenders)s::uuid[])[l + 1], (%(agencies)s::uuid[])[a + 1],
                   'active', DATE '2026-01-01', NULL, DATE '2027-01-01', 1500, 90, '["call", "sms", "letter"]',
                   %(now)s
            FROM generate_series(0, 3) l, generate_series(0, 3) a;
            INSERT INTO placement_batches (id, tenant_id, criteria, terms, allocation, seed, created_by_user_id,
                created_at)
            SELECT (%(batches)s::uuid[])[l * 4 + a + 1], (%(lenders)s::uuid[])[l + 1], '{}', '{}', '{}', 1, NULL,
                   %(now)s
            FROM generate_series(0, 3) l, generate_series(0, 3) a"""),
        ("collectors", """
            INSERT INTO users (id, email_index, email, name, password_hash, locale, is_active, created_at)
            SELECT md5('u' || a || '-' || c)::uuid, md5('e' || a || '-' || c) || md5('f' || a || '-' || c),
                   %(name)s, %(name)s, NULL, 'zh_CN', true, %(now)s
            FROM generate_series(0, 3) a, generate_series(0, %(per_agency)s - 1) c;
            INSERT INTO memberships (id, tenant_id, user_id, role, is_active, created_at)
            SELECT md5('m' || a || '-' || c)::uuid, (%(agencies)s::uuid[])[a + 1], md5('u' || a || '-' || c)::uuid,
                   'agency_collector', true, %(now)s
            FROM generate_series(0, 3) a, generate_series(0, %(per_agency)s - 1) c"""),
        ("accounts", f"""
            INSERT INTO accounts (id, tenant_id, portfolio_id, external_ref, subject_key, debtor_name, id_type,
                id_number, id_number_index, region, time_zones, time_zone_source, product, currency, original_minor,
                principal_minor, interest_minor, fees_minor, penalty_minor, outstanding_minor, loan_date, due_date,
                days_past_due, deceased, bankrupt, disputed, attorney, cease_requested, status, created_at,
                updated_at)
            SELECT {ACCOUNT}, {lender_of}, (%(portfolios)s::uuid[])[{LENDER} + 1],
                   'L' || {LENDER} || '-' || lpad(i::text, 8, '0'), {SUBJECT}, %(name)s, 'cn_resident_id',
                   %(idnum)s, md5('i' || i) || md5('j' || i), (%(regions)s::text[])[mod(i, 11) + 1],
                   (CASE WHEN mod(i, 10) < 7 THEN '["Asia/Shanghai"]' WHEN mod(i, 10) < 9 THEN '["Asia/Tokyo"]'
                         ELSE '["America/Los_Angeles"]' END)::json,
                   'phone', 'cash loan', 'CNY', {PRINCIPAL} + 50000, {PRINCIPAL}, 30000, 10000, 5000,
                   {PRINCIPAL} + 45000, DATE '2026-01-15', DATE '2026-06-15', 1 + mod(i, 360), false, false,
                   mod(i, 50) = 0, false, false, 'open', %(now)s - interval '100 days', %(now)s - interval '100 days'
            FROM generate_series(0, %(n)s - 1) i"""),
        ("phones", f"""
            INSERT INTO account_phones (id, tenant_id, account_id, position, phone, phone_index)
            SELECT md5('ph' || i)::uuid, {lender_of}, {ACCOUNT}, 0, %(phone)s, {PHONE_INDEX}
            FROM generate_series(0, %(n)s - 1) i"""),
        ("placements", f"""
            INSERT INTO placements (id, tenant_id, agency_tenant_id, account_id, batch_id, status, commission_bps,
                commission_tiers, starts_on, ends_on, allowed_channels, conduct_overrides, currency,
                balance_at_placement_minor, dpd_at_placement, recovered_minor, offered_at, responded_at,
                recall_forced, debtor_notified_at)
            SELECT {PLACEMENT}, {lender_of}, {agency_of}, {ACCOUNT}, (%(batches)s::uuid[])[{LENDER} * 4 + {AGENCY} + 1],
                   'active', 1500, '[]', DATE '2026-11-01', DATE '2027-02-01', '["call", "sms", "letter"]', '{{}}',
                   'CNY', {PRINCIPAL} + 45000, 1 + mod(i, 360), 0, %(now)s - interval '30 days',
                   %(now)s - interval '30 days', false, %(now)s - interval '30 days'
            FROM generate_series(0, %(n)s - 1) i"""),
        ("assignments", f"""
            INSERT INTO case_assignments (id, tenant_id, placement_id, account_id, collector_user_id, method,
                assigned_by_user_id, assigned_at)
            SELECT md5('ca' || i)::uuid, {agency_of}, {PLACEMENT}, {ACCOUNT}, {COLLECTOR}, 'round_robin', NULL,
                   %(now)s - interval '29 days'
            FROM generate_series(0, %(n)s - 1) i"""),
        ("holds, callbacks, notes", f"""
            INSERT INTO holds (id, tenant_id, account_id, type, reason, starts_at, ends_at, allow, source,
                created_by_tenant_id, created_at)
            SELECT md5('h' || i)::uuid, {lender_of}, {ACCOUNT}, 'hardship', 'lost job', %(now)s - interval '3 days',
                   %(now)s + interval '30 days', '[]', 'api', {agency_of}, %(now)s - interval '3 days'
            FROM generate_series(1, %(n)s - 1, 100) i;
            INSERT INTO callbacks (id, tenant_id, account_id, placement_id, collector_user_id, due_at, local_zone,
                note, status, created_at)
            SELECT md5('cb' || i)::uuid, {agency_of}, {ACCOUNT}, {PLACEMENT}, {COLLECTOR},
                   %(now)s + (CASE WHEN mod(i, 40) = 0 THEN interval '-1 hour' ELSE interval '3 hours' END),
                   'Asia/Shanghai', NULL, 'scheduled', %(now)s - interval '1 day'
            FROM generate_series(0, %(n)s - 1, 20) i;
            INSERT INTO case_notes (id, tenant_id, account_id, placement_id, author_user_id, body, created_at)
            SELECT md5('n' || i)::uuid, {agency_of}, {ACCOUNT}, {PLACEMENT}, {COLLECTOR}, %(note)s,
                   %(now)s - interval '2 days'
            FROM generate_series(0, %(n)s - 1, 10) i"""),
    ]
    # Attempt k of each account lies 12k to 12k + 10 days back: the last 40 days (what the rules read) hold 3–4.
    per_account = (f"SELECT i, {ACCOUNT} AS account, {PLACEMENT} AS placement, {agency_of} AS agency, "
                   f"{lender_of} AS lender, {COLLECTOR} AS collector, {SUBJECT} AS subject, "
                   f"{PHONE_INDEX} AS phone_index FROM generate_series(0, %(n)s - 1) i")
    attempts = (f"FROM ({per_account}) a, generate_series(0, {ATTEMPTS_PER_ACCOUNT - 1}) k, LATERAL (SELECT "
                "%(now)s - (k * 12 + mod(i, 11)) * interval '1 day' - mod(i, 600) * interval '1 minute' AS at, "
                "k <> 2 AND mod(i + k, 4) = 0 AS spoke) t")
    history = [
        ("contact attempts", f"""
            INSERT INTO contact_attempts (id, tenant_id, lender_tenant_id, account_id, placement_id, channel,
                direction, target, number_key, status, decision, rulebook_version, hits, inputs, decided_at,
                outcome_code, connected, conversation, outcome_at, collector_user_id, ledger_id)
            SELECT md5('c' || i || '-' || k)::uuid, agency, lender, account, placement,
                   CASE WHEN k = 2 THEN 'sms' ELSE 'call' END, 'outbound', 'debtor', phone_index, 'completed',
                   'allow', 'cn-bench', '[]', '{{}}', at,
                   CASE WHEN k = 2 THEN 'delivered' WHEN spoke THEN 'right_party_contact' ELSE 'no_answer' END,
                   spoke, spoke, at + interval '2 minutes', collector, md5('l' || i || '-' || k)::uuid
            {attempts}"""),
        ("conduct ledger", f"""
            INSERT INTO conduct_ledger (id, subject_key, debt_key, number_key, third_party_key, channel, target, at,
                connected, conversation, pending)
            SELECT md5('l' || i || '-' || k)::uuid, subject, md5('d' || i) || md5('e' || i), phone_index, NULL,
                   CASE WHEN k = 2 THEN 'sms' ELSE 'call' END, 'debtor', at, spoke, spoke, false
            {attempts}"""),
    ]
    params["regions"] = list(REGIONS)
    big = ("accounts", "account_phones", "placements", "case_assignments", "contact_attempts", "conduct_ledger")
    with bulk_owner(owner_url) as connection:
        foreign_keys, indexes = _drop_foreign_keys(connection, big), drop_secondary_indexes(connection, big)
    # Two lanes on two connections (two cores), of about equal length: the cases and their ledger, the attempts.
    _in_parallel(owner_url, [[(label, sql, params) for label, sql in steps + history[1:]],
                             [(label, sql, params) for label, sql in history[:1]]])
    _in_parallel(owner_url, [[(f"index {name}", sql, {}) for table, name, sql in indexes if table not in HISTORY],
                             [(f"index {name}", sql, {}) for table, name, sql in indexes if table in HISTORY]])
    with bulk_owner(owner_url) as connection:
        started = time.perf_counter()
        for definition in foreign_keys:
            connection.execute(definition)
        print(f"  {len(foreign_keys)} foreign keys put back in {time.perf_counter() - started:.1f} s", flush=True)
        me = connection.execute("SELECT md5('u' || 0 || '-' || 0)::uuid").fetchone()[0]
        connection.execute("UPDATE users SET email_index = %s, password_hash = %s WHERE id = %s",
                           (collector_email_index, password_hash, me))
        started = time.perf_counter()
        connection.execute("ANALYZE")
        print(f"  analyzed in {time.perf_counter() - started:.1f} s", flush=True)
    return {"agency_id": agencies[0], "agency_slug": "bench-agency-0", "collector_id": me}


HISTORY = ("contact_attempts", "conduct_ledger")




def _in_parallel(owner_url, lanes) -> None:
    """Each lane's statements in order on a connection of its own, the lanes side by side."""
    from concurrent.futures import ThreadPoolExecutor

    def run(lane):
        with bulk_owner(owner_url) as connection:
            for label, sql, params in lane:
                started = time.perf_counter()
                with connection.transaction():
                    for statement in sql.split(";\n"):
                        connection.execute(statement, params)
                print(f"  {label}: {time.perf_counter() - started:.1f} s", flush=True)

    with ThreadPoolExecutor(len(lanes)) as pool:
        for finished in [pool.submit(run, lane) for lane in lanes]:
            finished.result()


def _drop_foreign_keys(connection, tables) -> list[str]:
    """Put back NOT VALID: the generated rows are consistent by construction, and checking millions of them again
    would double the load. The database is thrown away after the run; reads do not depend on it."""
    rows = connection.execute("""
        SELECT c.conrelid::regclass::text, c.conname, pg_get_constraintdef(c.oid)
        FROM pg_constraint c JOIN pg_class t ON t.oid = c.conrelid
        WHERE c.contype = 'f' AND t.relname = ANY(%s)""", (list(tables),)).fetchall()
    for table, name, _ in rows:
        connection.execute(f'ALTER TABLE {table} DROP CONSTRAINT "{name}"')
    return [f'ALTER TABLE {table} ADD CONSTRAINT "{name}" {definition} NOT VALID'
            for table, name, definition in rows]




# ---- measuring --------------------------------------------------------------------------------------------------



def measure(app, seeded: dict) -> dict:
    from sqlalchemy import text

    from tenants.casework import assignment, notes, timeline, worklist
    from tenants.context import tenant_scope
    from tenants.db import db

    agency_id, collector, slug = seeded["agency_id"], seeded["collector_id"], seeded["agency_slug"]
    rng = random.Random(2026)
    results = {}

    def build():
        with app.app_context(), tenant_scope(agency_id):
            queue = worklist.build(collector_user_id=collector, default_zone="Asia/Shanghai")
            db.session.rollback()
            return queue

    started = time.perf_counter()
    queue = build()
    results["queue_cold_ms"] = (time.perf_counter() - started) * 1000
    cases = [i.account_id for i in queue.ready + queue.waiting]
    ready = [i.account_id for i in queue.ready]
    print(f"queue of collector {collector}: {len(queue.ready)} ready, {len(queue.waiting)} waiting "
          f"(cold build {results['queue_cold_ms']:.0f} ms)", flush=True)
    if os.environ.get("BENCH_EXPLAIN"):
        _explain(app, agency_id, collector)
    build()
    timings = []
    for _ in range(RUNS):
        _work_one_case(app, agency_id, collector, ready, rng)
        started = time.perf_counter()
        build()
        timings.append(time.perf_counter() - started)
    results["queue"] = timings

    # Requests run outside any app context of this process, as on a server (they must not share its `g`).
    client = app.test_client()
    response = client.post("/login", data={"email": COLLECTOR_EMAIL, "password": PASSWORD})
    assert response.status_code == 302, response.status_code
    first = client.get(f"/t/{slug}/cases/{cases[0]}")
    assert first.status_code == 200, first.status_code
    wired = 'id="case-timeline"' in first.get_data(as_text=True)
    timings = []
    for _ in range(RUNS):
        account_id = rng.choice(cases)
        started = time.perf_counter()
        page = client.get(f"/t/{slug}/cases/{account_id}")
        if not wired:
            with app.app_context(), tenant_scope(agency_id):  # what queue_context reads
                entries = timeline.timeline(account_id)
                callbacks = notes.open_callbacks(account_id)
                collector_id = assignment.collector_of(account_id)
                assignment.user_names({e.user_id for e in entries} | {c.collector_user_id for c in callbacks}
                                      | {collector_id})
                db.session.rollback()
        timings.append(time.perf_counter() - started)
        assert page.status_code == 200, page.status_code
    results["case"], results["case_wired"] = timings, wired

    timings = []
    with app.app_context():
        for _ in range(RUNS):
            account_id = rng.choice(cases)
            with tenant_scope(agency_id):
                started = time.perf_counter()
                db.session.execute(text("SELECT external_ref FROM accounts WHERE id = :id"),
                                   {"id": account_id}).scalar_one()
                db.session.rollback()
                timings.append(time.perf_counter() - started)
    results["pk"] = timings
    return results


def _work_one_case(app, agency_id, collector, ready, rng) -> None:
    """The collector texts one of his callable cases and records the outcome (outside the timing)."""
    from tenants.conduct import service as conduct
    from tenants.context import tenant_scope
    from tenants.db import db

    if not ready:
        return
    with app.app_context(), tenant_scope(agency_id):
        try:
            record, _ = conduct.attempt(rng.choice(ready), conduct.AttemptRequest(channel="sms"),
                                        collector_user_id=collector)
            conduct.record_outcome(record.id, "delivered")
            db.session.commit()
        except conduct.ConductBlocked:
            db.session.rollback()


def _explain(app, agency_id, collector) -> None:
    from sqlalchemy import text

    from tenants.casework import worklist
    from tenants.context import tenant_scope
    from tenants.db import db

    with app.app_context(), tenant_scope(agency_id):
        query = worklist._cases_query(worklist.Scope.COLLECTOR, collector, worklist.QueueFilter(), "CN")
        compiled = query.compile(db.engine, compile_kwargs={"literal_binds": True})
        for row in db.session.execute(text(f"EXPLAIN (ANALYZE, BUFFERS) {compiled}")):
            print("   ", row[0])
        db.session.rollback()


def main() -> int:

    from tenants import pii
    from tenants.db import db
    from tenants.tenancy.passwords import hash_password
    from tenants.tenancy.services import email_index
    from web import create_app

    urls = database_urls()
    if urls is None:
        print(HOW_TO_RUN, file=sys.stderr)
        shutil.rmtree(_tmp, ignore_errors=True)
        return 2
    app_url, owner = urls
    redis_url, redis_handle = bench_redis_url()
    flush_redis = hasattr(redis_handle, "dbsize") and redis_handle.dbsize() == 0
    os.environ["REDIS_URL"] = redis_url

    try:
        with temporary_database("worklist", owner, app_url) as (bench_owner_url, bench_app_url):
            app = None
            try:
                started = time.perf_counter()
                served_as = prepare(bench_owner_url, bench_app_url)
                app = create_app({"SQLALCHEMY_DATABASE_URI": served_as.render_as_string(hide_password=False),
                                  "REDIS_URL": redis_url, "WTF_CSRF_ENABLED": False})
                print(f"temporary database {bench_owner_url.database}: migrated in "
                      f"{time.perf_counter() - started:.1f} s; seeding "
                      f"{ACCOUNTS} accounts, {ACCOUNTS * ATTEMPTS_PER_ACCOUNT} contact attempts", flush=True)
                now = datetime.now(timezone.utc)
                started = time.perf_counter()
                seeded = seed(bench_owner_url, now, pii.keyring(), email_index(COLLECTOR_EMAIL),
                              hash_password(PASSWORD))
                print(f"seeded in {time.perf_counter() - started:.1f} s", flush=True)
                with app.app_context():
                    role = serving_role(db.session)
                    db.session.remove()
                print(f"measuring as {role.current_user} (superuser={role.rolsuper}, "
                      f"bypassrls={role.rolbypassrls}), {RUNS} runs each; load average {os.getloadavg()[0]:.1f} "
                      f"on {os.cpu_count()} cores", flush=True)
                results = measure(app, seeded)
            finally:
                if app is not None:
                    with app.app_context():
                        db.session.remove()
                        db.engine.dispose()
    finally:
        if flush_redis:
            redis_handle.flushdb()
        elif hasattr(redis_handle, "stop"):
            redis_handle.stop()
        shutil.rmtree(_tmp, ignore_errors=True)

    figures = {key: (quantile_ms(results[key], 0.5), quantile_ms(results[key], 0.95))
               for key in ("queue", "case", "pk")}
    for key, (p50, p95) in figures.items():
        print(f"{key}: p50 {p50:.1f} ms, p95 {p95:.1f} ms", flush=True)
    if not results["case_wired"]:
        print("case: the page does not include the timeline yet; its service calls are timed beside the page")
    print(f"RESULT queue_p50_ms={figures['queue'][0]:.1f} queue_p95_ms={figures['queue'][1]:.1f} "
          f"case_p50_ms={figures['case'][0]:.1f} case_p95_ms={figures['case'][1]:.1f} "
          f"pk_p50_ms={figures['pk'][0]:.2f} pk_p95_ms={figures['pk'][1]:.2f} "
          f"queue_cold_ms={results['queue_cold_ms']:.0f} queue_cases={CASES_PER_COLLECTOR} accounts={ACCOUNTS} "
          f"attempts={ACCOUNTS * ATTEMPTS_PER_ACCOUNT}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
