"""What the import pipeline costs: a realistic portfolio imported end to end (upload, whole-file check, validation,
encryption, blind indexes, upsert), against three floors measured in the same run:

* text COPY: PostgreSQL's COPY of the same file (UTF-8) into a bare table of text columns — the physical floor of
  moving the bytes, with none of the work a valid row demands;
* validation alone: the GBK file decoded and parsed by the import's own reader and every row validated, on one
  core, no database (validate_rows_per_s counts only the time spent in validate_row);
* database floor: COPY of the rows the import wrote (accounts already encrypted and blind-indexed, their phones
  and contacts) into copies of the real tables with their indexes, unique and check constraints and foreign keys
  (CREATE TABLE … (LIKE … INCLUDING ALL) plus the foreign keys). COPY cannot write under row-level security, so
  the floor runs as the owner with it lifted: the import pays for the policies, the floor does not.

Needs PostgreSQL: DATABASE_URL and MIGRATION_DATABASE_URL (`bash .ci/run --setup-only` prints the exports). The
bench creates its own temporary database with the owner's URL, migrates it, and drops it at the end; the app
connects to it as the owner too (row-level security still applies: every tenant table FORCEs it). No flags;
BENCH_ROWS (default 100000) sets the size for a quick trial.

The data: a Chinese online lender's overdue accounts (names, valid resident IDs with real region codes and birth
dates, 13x/15x/18x/19x mobiles, amounts, due dates, days past due, products, an emergency contact on about a third
of the rows), 0.5% of the rows broken (bad check character, amount with three decimals, impossible date), written
as UTF-8 and as GBK. The GBK file is imported (what most Chinese lenders' systems export); COPY reads the UTF-8
one. The import runs in a child process so its peak RSS (ru_maxrss) is the import's alone.

Rates on a machine shared with other work say as much about the other work as about the import, so the CPU time
each side spent is measured too: the import's processes (getrusage: the upload and whole-file check, and every
range in the workers) and the PostgreSQL backends serving them (utime + stime in /proc/<pid>/stat of the
database's backends, when the server runs on this machine), and the floor's backend the same way. Per row of the
file, they compare runs whatever else the machine was doing.

Ends with: RESULT import_rows_per_s=… copy_rows_per_s=… ratio=… peak_mb=… rows=… failed_rows=…
validate_rows_per_s=… db_floor_rows_per_s=… floor_ratio=… workers=… [python_us_per_row=… postgres_us_per_row=…
floor_postgres_us_per_row=… floor_cpu_ratio=…] (ratio: import / text COPY; floor_ratio: import / database floor;
workers: import worker processes that ran the import's ranges side by side, 1 for a file too small to be split;
the CPU keys, when the backends could be read: µs per row, and the floor's CPU / the import's).
"""
import csv
import os
import random
import re
import resource
import shutil
import sys
import tempfile
import time
import uuid
from concurrent.futures import ProcessPoolExecutor
from multiprocessing import get_context
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

# Shared with the spawned import process through the environment, so both use one temporary folder.
_tmp = Path(os.environ.get("RECOVERLY_IMPORT_BENCH_DIR") or tempfile.mkdtemp(prefix="recoverly-import-bench-"))
_tmp.mkdir(parents=True, exist_ok=True)
os.environ["RECOVERLY_IMPORT_BENCH_DIR"] = str(_tmp)
os.environ.setdefault("RECOVERLY_INSTANCE_DIR", str(_tmp / "instance"))
os.environ.setdefault("RECOVERLY_ENV", "development")  # derived keys: nothing here is real data
os.environ.setdefault("SECRET_KEY", "bench-secret-key-0123456789abcdef0123456789")

from _postgres import database_urls, migrate, serving_role, temporary_database, unfence_owner  # noqa: E402
from _postgres import libpq as _libpq  # noqa: E402
from sqlalchemy import create_engine, text  # noqa: E402

from tenants.demo_data import CN_HEADER, cn_account_rows  # noqa: E402

ROWS = int(os.environ.get("BENCH_ROWS", "100000"))
WORKERS = 2  # import worker processes running a split import's line ranges side by side
BROKEN = max(3, ROWS // 200)  # 0.5%
SEED = 2026

HOW_TO_RUN = """import_bench needs PostgreSQL: set DATABASE_URL and MIGRATION_DATABASE_URL.
MIGRATION_DATABASE_URL (the schema owner, who may create databases) is used to create, migrate and drop a
temporary database of the bench's own; no existing database is touched. `bash .ci/run --setup-only` starts
PostgreSQL and Redis, (re)creates the recoverly_test database and prints the exports to use, e.g.:

    bash .ci/run --setup-only | grep ^export > /tmp/recoverly_env.sh && . /tmp/recoverly_env.sh
    python bench/import_bench.py            # or: make bench NAME=import_bench
"""


def generate() -> tuple[Path, Path]:
    utf8, gbk = _tmp / "portfolio-utf8.csv", _tmp / "portfolio-gbk.csv"
    with open(utf8, "w", encoding="utf-8", newline="") as u, open(gbk, "w", encoding="gbk", newline="") as g:
        writers = csv.writer(u), csv.writer(g)
        for writer in writers:
            writer.writerow(CN_HEADER)
        for row in cn_account_rows(random.Random(SEED), ROWS, broken=BROKEN):
            for writer in writers:
                writer.writerow(row)
    return utf8, gbk


# ---- the import workers, each in its own process ---------------------------------------------------------

_worker_app = None
_all_started = None


def _start_worker(database_url: str, all_started) -> None:
    """Pool initializer: the app is built once per worker process, as an rq worker builds it when it starts."""
    global _worker_app, _all_started
    from web import create_app

    _worker_app, _all_started = create_app({"SQLALCHEMY_DATABASE_URI": database_url}), all_started


def _wait_for_all_workers(_) -> None:
    _all_started.wait()  # one such task per worker, each held here until every worker is up


def _run_range_in_worker(tenant_id: uuid.UUID, import_id: uuid.UUID, range_id: uuid.UUID) -> tuple[int, float]:
    """What workers.jobs.run_import_range does for one range; answers this process's peak RSS (KiB) and the CPU
    seconds the range took in it."""
    from tenants.context import tenant_scope
    from tenants.db import db
    from tenants.portfolios import imports

    before = _cpu_seconds()
    with _worker_app.app_context(), tenant_scope(tenant_id):
        imports.run_range(import_id, range_id)
        db.session.remove()
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss, _cpu_seconds() - before


def _cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def backend_cpu(pids) -> dict[int, float] | None:
    """CPU seconds each PostgreSQL backend has used so far, from /proc (None when the server is elsewhere)."""
    ticks, seconds = os.sysconf("SC_CLK_TCK"), {}
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            return None
        seconds[pid] = (int(fields[11]) + int(fields[12])) / ticks
    return seconds


def _backends() -> list[int]:
    from sqlalchemy import text as sql

    from tenants.db import db

    return list(db.session.scalars(sql("SELECT pid FROM pg_stat_activity WHERE datname = current_database()")))


# ---- the import, in its own process ------------------------------------------------------------------------

def import_in_child(database_url: str, path: str) -> dict:
    """Runs in a spawned process: start-up first (its own and its workers'), then only the import, so ru_maxrss is
    the import's peak. The upload and the whole-file check (which splits a large file into ranges) run here; the
    ranges run in WORKERS worker processes side by side, as that many rq workers would run them."""
    from tenants.context import platform_scope, tenant_scope
    from tenants.db import db
    from tenants.portfolios import imports
    from tenants.tenancy.models import Tenant
    from web import create_app
    from workers.connection import connection

    context = get_context("spawn")
    workers = context.Pool(WORKERS, initializer=_start_worker, initargs=(database_url, context.Barrier(WORKERS)))
    workers.map(_wait_for_all_workers, range(WORKERS), chunksize=1)
    app = create_app({"SQLALCHEMY_DATABASE_URI": database_url})
    with app.app_context():
        connection().ping()  # the upload enqueues its job after commit: connect to Redis outside the timing
        with platform_scope("import bench: the lender"):
            lender = Tenant(kind="lender", slug=f"bench-lender-{uuid.uuid4().hex[:8]}",
                            name="基准网贷 Bench Lending", time_zone="Asia/Shanghai", locale="zh_CN", currency="CNY")
            db.session.add(lender)
            db.session.commit()
            lender_id = lender.id
        with tenant_scope(lender_id):
            portfolio = imports.get_or_create_portfolio("bench")
            db.session.commit()
            rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
            backends_before = backend_cpu(_backends())
            cpu_before = _cpu_seconds()
            start = time.perf_counter()
            with open(path, "rb") as stream:
                job = imports.create_import(portfolio=portfolio, filename="portfolio-gbk.csv", stream=stream,
                                            mapping=None, uploaded_by=None)
            db.session.commit()  # what the upload request does when it returns
            uploaded = time.perf_counter()
            job = imports.run_import(job.id)  # what the imports worker does: a large file is split into ranges
            parts = [(lender_id, job.id, part.id) for part in imports.ranges_of(job)]
            db.session.commit()
            main_cpu = _cpu_seconds() - cpu_before
            worker_runs = workers.starmap(_run_range_in_worker, parts, chunksize=1)
            finished = time.perf_counter()
            # The workers' connections are still open in their pools: each backend's CPU since it started (or
            # since before the upload, for one that was already there).
            backends_after = backend_cpu(_backends()) if backends_before is not None else None
            postgres_cpu = None if backends_after is None else sum(
                spent - backends_before.get(pid, 0.0) for pid, spent in backends_after.items())
            db.session.expire_all()
            job = imports.get_import(job.id)
            result = {"upload_s": uploaded - start, "run_s": finished - uploaded, "status": job.status,
                      "encoding": job.encoding, "total": job.rows_total, "created": job.rows_created,
                      "failed": job.rows_failed, "ranges": len(parts),
                      "workers": min(WORKERS, len(parts)) if parts else 1,
                      "rss_before_kb": rss_before,
                      "peak_kb": max([resource.getrusage(resource.RUSAGE_SELF).ru_maxrss,
                                      *(peak for peak, _ in worker_runs)]),
                      "python_cpu_s": main_cpu + sum(cpu for _, cpu in worker_runs), "postgres_cpu_s": postgres_cpu}
        db.session.remove()
        db.engine.dispose()
    workers.close()
    workers.join()
    return result


# ---- the baselines -------------------------------------------------------------------------------------------

def copy_baseline(owner_url, path: Path) -> float:
    import psycopg

    columns = ", ".join(f"c{i} text" for i in range(len(CN_HEADER)))
    with psycopg.connect(_libpq(owner_url)) as conn:
        conn.execute(f"CREATE TABLE bench_copy ({columns})")
        conn.commit()
        start = time.perf_counter()
        with conn.cursor() as cur, open(path, "rb") as source, \
                cur.copy("COPY bench_copy FROM STDIN (FORMAT csv, HEADER true)") as copy:
            while block := source.read(1024 * 1024):
                copy.write(block)
        conn.commit()
        elapsed = time.perf_counter() - start
        copied = conn.execute("SELECT count(*) FROM bench_copy").fetchone()[0]
    assert copied == ROWS, f"COPY loaded {copied} rows, expected {ROWS}"
    return ROWS / elapsed


def validation_baseline(path: Path) -> tuple[float, float]:
    """(rows/s of validate_row alone, rows/s of decoding + parsing + validating) over the GBK file, on one core,
    no database: the import's own reader, the mapping it would suggest, the lender's defaults."""
    from datetime import date

    from tenants.portfolios.fields import suggest_mapping
    from tenants.portfolios.parsing import CsvSource
    from tenants.portfolios.rows import RowContext, validate_row

    def chunks():
        with open(path, "rb") as stream:
            while block := stream.read(1024 * 1024):
                yield block

    ctx = RowContext(currency="CNY", default_region="CN", default_time_zone="Asia/Shanghai", today=date.today(),
                     country="CN")
    start = time.perf_counter()
    source = CsvSource(chunks(), max_bytes=path.stat().st_size)
    mapping = suggest_mapping(list(source.header))
    validating = 0.0
    rows = 0
    clock = time.perf_counter
    for _, raw in source:
        before = clock()
        validate_row(raw, mapping, ctx)
        validating += clock() - before
        rows += 1
    total = time.perf_counter() - start
    assert rows == ROWS, f"validated {rows} rows, expected {ROWS}"
    return rows / validating, rows / total


FLOOR_TABLES = ("accounts", "account_phones", "third_party_contacts")


def database_floor(owner_url) -> tuple[float, dict, str, float | None]:
    """COPY of the rows the import wrote into indexed, constrained copies of their tables; (file rows/s, rows per
    table, what the copies hold, the backend's CPU seconds for the load or None). The rows are exported first
    (untimed) in COPY's own format, so the timing holds only the load."""
    import psycopg

    unfence_owner(owner_url)  # the owner exports every tenant's rows; the copies below have no policies
    exported, counts = {}, {}
    with psycopg.connect(_libpq(owner_url)) as conn:
        for table in FLOOR_TABLES:
            exported[table] = _tmp / f"{table}.copy"
            with conn.cursor() as cur, open(exported[table], "wb") as sink, \
                    cur.copy(f"COPY {table} TO STDOUT") as copy:
                for block in copy:
                    sink.write(block)
            counts[table] = conn.execute(f"SELECT count(*) FROM {table}").fetchone()[0]
            conn.execute(f"CREATE TABLE floor_{table} (LIKE {table} INCLUDING ALL)")
            # LIKE copies indexes, unique and check constraints but no foreign keys: add them, pointing at the
            # floor's own accounts where the real ones point at accounts.
            foreign_keys = conn.execute("SELECT conname, pg_get_constraintdef(oid) FROM pg_constraint "
                                        "WHERE conrelid = %s::regclass AND contype = 'f'", (table,)).fetchall()
            for name, definition in foreign_keys:
                definition = re.sub(r"REFERENCES (public\.)?accounts\(", "REFERENCES floor_accounts(", definition)
                conn.execute(f"ALTER TABLE floor_{table} ADD CONSTRAINT floor_{name} {definition}")
        conn.commit()
        floors = [f"floor_{table}" for table in FLOOR_TABLES]
        indexes, foreign_keys = conn.execute(
            "SELECT (SELECT count(*) FROM pg_indexes WHERE tablename = ANY(%(t)s)), "
            "(SELECT count(*) FROM pg_constraint WHERE conrelid::regclass::text = ANY(%(t)s) AND contype = 'f')",
            {"t": floors}).fetchone()
        backend = conn.info.backend_pid
        cpu_before = backend_cpu([backend])
        start = time.perf_counter()
        with conn.cursor() as cur:
            for table in FLOOR_TABLES:
                with open(exported[table], "rb") as source, cur.copy(f"COPY floor_{table} FROM STDIN") as copy:
                    while block := source.read(1024 * 1024):
                        copy.write(block)
        conn.commit()
        elapsed = time.perf_counter() - start
        cpu_after = backend_cpu([backend]) if cpu_before is not None else None
    cpu = None if cpu_after is None else cpu_after[backend] - cpu_before[backend]
    return ROWS / elapsed, counts, f"{indexes} indexes, {foreign_keys} foreign keys", cpu


# ---- the run ---------------------------------------------------------------------------------------------------

def describe(url) -> str:
    """As whom the bench uses the database, and whether row-level security still applies to it."""
    engine = create_engine(url)
    with engine.connect() as connection:
        row = serving_role(connection)
        forced = connection.scalar(text("SELECT count(*) FROM pg_class WHERE relname = 'accounts' "
                                        "AND relrowsecurity AND relforcerowsecurity"))
        autovacuum = connection.scalar(text("SHOW autovacuum"))
    engine.dispose()
    if row.rolsuper or row.rolbypassrls or not forced:
        who = f"as {row.current_user}, which BYPASSES row-level security (superuser or BYPASSRLS)"
    else:
        who = (f"as {row.current_user} (row-level security still applies: the tables FORCE it and the owner is "
               "neither superuser nor BYPASSRLS)")
    if autovacuum != "on":  # then nothing analyzes the tables while they fill, and plans are chosen blind
        who += "; autovacuum is off on this server, so the tables are never analyzed during the import"
    return who


def main() -> int:
    urls = database_urls()
    if urls is None:
        print(HOW_TO_RUN, file=sys.stderr)
        shutil.rmtree(_tmp, ignore_errors=True)
        return 2
    app_url, owner = urls
    redis_server = None
    if not os.environ.get("REDIS_URL"):  # started here, not in the child, so it is stopped whatever happens
        from workers.embedded import EmbeddedRedis

        redis_server = EmbeddedRedis(_tmp / "redis").start()
        os.environ["REDIS_URL"] = redis_server.url

    start = time.perf_counter()
    utf8, gbk = generate()
    print(f"generated {ROWS} rows ({BROKEN} broken) in {time.perf_counter() - start:.1f} s: "
          f"UTF-8 {utf8.stat().st_size / 2**20:.1f} MB, GBK {gbk.stat().st_size / 2**20:.1f} MB", flush=True)

    try:
        with temporary_database("import", owner) as (bench_url, _):
            migrate(bench_url)
            print(f"temporary database {bench_url.database}, migrated and used {describe(bench_url)}", flush=True)

            with ProcessPoolExecutor(max_workers=1, mp_context=get_context("spawn")) as pool:
                imported = pool.submit(import_in_child, bench_url.render_as_string(hide_password=False),
                                       str(gbk)).result()
            import_s = imported["upload_s"] + imported["run_s"]
            import_rate = ROWS / import_s
            assert imported["status"] == "completed" and imported["total"] == ROWS, imported
            assert imported["created"] + imported["failed"] == ROWS, imported
            print(f"import (GBK file, read as {imported['encoding']}): upload {imported['upload_s']:.1f} s, "
                  f"whole-file check + validate + encrypt + upsert {imported['run_s']:.1f} s "
                  f"({imported['ranges'] or 'not split into'} ranges, {imported['workers']} worker processes) "
                  f"= {import_s:.1f} s; {imported['created']} accounts created, {imported['failed']} rows failed",
                  flush=True)

            copy_rate = copy_baseline(bench_url, utf8)
            print(f"text COPY FROM STDIN of the UTF-8 file into {len(CN_HEADER)} text columns: "
                  f"{ROWS / copy_rate:.2f} s", flush=True)

            floor_rate, floor_rows, floor_shape, floor_cpu = database_floor(bench_url)
            loaded = ", ".join(f"{count} {table}" for table, count in floor_rows.items())
            print(f"database floor, COPY of the import's prepared rows ({loaded}) into copies of the tables with "
                  f"their constraints ({floor_shape}), no row-level security: {ROWS / floor_rate:.2f} s",
                  flush=True)

            validate_rate, read_and_validate_rate = validation_baseline(gbk)
            print(f"validation alone, one core, no database: {ROWS / validate_rate:.1f} s in validate_row "
                  f"({ROWS / read_and_validate_rate:.1f} s with decoding and parsing the GBK file)", flush=True)
    finally:
        if redis_server is not None:
            redis_server.stop()
        shutil.rmtree(_tmp, ignore_errors=True)

    peak_mb = imported["peak_kb"] / 1024  # Linux reports ru_maxrss in KiB
    print(f"peak RSS of the import's largest process: {peak_mb:.0f} MB "
          f"({imported['rss_before_kb'] / 1024:.0f} MB after start-up, before the import)")
    print(f"import {import_rate:,.0f} rows/s with {imported['workers']} worker processes: "
          f"{import_rate / copy_rate:.3f} x the text COPY ({copy_rate:,.0f}), "
          f"{import_rate / floor_rate:.2f} x the database floor ({floor_rate:,.0f}), "
          f"{import_rate / validate_rate:.2f} x the validation alone on one core ({validate_rate:,.0f})")
    cpu = ""
    python_us = imported["python_cpu_s"] / ROWS * 1e6
    print(f"CPU per row of the file: the import's processes {python_us:.0f} us (upload, whole-file check and every "
          "range)", end="")
    if imported["postgres_cpu_s"] is not None and floor_cpu is not None:
        postgres_us, floor_us = imported["postgres_cpu_s"] / ROWS * 1e6, floor_cpu / ROWS * 1e6
        print(f", its PostgreSQL backends {postgres_us:.0f} us; the database floor's backend {floor_us:.0f} us: "
              f"{floor_us / (python_us + postgres_us):.2f} x the import's CPU")
        cpu = (f" python_us_per_row={python_us:.0f} postgres_us_per_row={postgres_us:.0f} "
               f"floor_postgres_us_per_row={floor_us:.0f} floor_cpu_ratio={floor_us / (python_us + postgres_us):.2g}")
    else:
        print("; PostgreSQL's backends are not on this machine (no /proc to read), so their CPU is not known")
    print(f"RESULT import_rows_per_s={import_rate:.0f} copy_rows_per_s={copy_rate:.0f} "
          f"ratio={import_rate / copy_rate:.2g} peak_mb={peak_mb:.0f} rows={ROWS} failed_rows={imported['failed']} "
          f"validate_rows_per_s={validate_rate:.0f} db_floor_rows_per_s={floor_rate:.0f} "
          f"floor_ratio={import_rate / floor_rate:.2g} workers={imported['workers']}{cpu}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
