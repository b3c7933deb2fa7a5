"""What the import pipeline costs: a realistic portfolio imported end to end (upload, whole-file check, validation,
encryption, blind indexes, upsert) vs. PostgreSQL's COPY of the same file into a bare table of text columns.

Needs PostgreSQL: DATABASE_URL and MIGRATION_DATABASE_URL (`bash .ci/run --setup-only` prints the exports). The
bench creates its own temporary database with the owner's URL, migrates it, and drops it at the end; the app
connects to it as the owner too (row-level security still applies: every tenant table FORCEs it). No flags;
BENCH_ROWS (default 100000) sets the size for a quick trial.

The data: a Chinese online lender's overdue accounts (names, valid resident IDs with real region codes and birth
dates, 13x/15x/18x/19x mobiles, amounts, due dates, days past due, products, an emergency contact on about a third
of the rows), 0.5% of the rows broken (bad check character, amount with three decimals, impossible date), written
as UTF-8 and as GBK. The GBK file is imported (what most Chinese lenders' systems export); COPY reads the UTF-8
one. The import runs in a child process so its peak RSS (ru_maxrss) is the import's alone.

Ends with: RESULT import_rows_per_s=… copy_rows_per_s=… ratio=… peak_mb=… rows=… failed_rows=…
"""
import csv
import os
import random
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

from _postgres import database_urls, migrate, serving_role, temporary_database  # noqa: E402
from _postgres import libpq as _libpq  # noqa: E402
from sqlalchemy import create_engine, text  # noqa: E402

from tenants.demo_data import CN_HEADER, cn_account_rows  # noqa: E402

ROWS = int(os.environ.get("BENCH_ROWS", "100000"))
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


# ---- the import, in its own process ------------------------------------------------------------------------

def import_in_child(database_url: str, path: str) -> dict:
    """Runs in a spawned process: start-up first, then only the import, so ru_maxrss is the import's peak."""
    from tenants.context import platform_scope, tenant_scope
    from tenants.db import db
    from tenants.portfolios import imports
    from tenants.tenancy.models import Tenant
    from web import create_app
    from workers.connection import connection

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
            start = time.perf_counter()
            with open(path, "rb") as stream:
                job = imports.create_import(portfolio=portfolio, filename="portfolio-gbk.csv", stream=stream,
                                            mapping=None, uploaded_by=None)
            db.session.commit()  # what the upload request does when it returns
            uploaded = time.perf_counter()
            job = imports.run_import(job.id)  # what the imports worker does
            finished = time.perf_counter()
            db.session.refresh(job)
            result = {"upload_s": uploaded - start, "run_s": finished - uploaded, "status": job.status,
                      "encoding": job.encoding, "total": job.rows_total, "created": job.rows_created,
                      "failed": job.rows_failed,
                      "rss_before_kb": rss_before, "peak_kb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss}
        db.session.remove()
        db.engine.dispose()
    return result


# ---- the baseline --------------------------------------------------------------------------------------------

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
            print(f"import (GBK file, read as {imported['encoding']}): upload + whole-file check "
                  f"{imported['upload_s']:.1f} s, validate + encrypt + upsert {imported['run_s']:.1f} s "
                  f"= {import_s:.1f} s; {imported['created']} accounts created, {imported['failed']} rows failed",
                  flush=True)

            copy_rate = copy_baseline(bench_url, utf8)
            print(f"COPY FROM STDIN of the UTF-8 file into {len(CN_HEADER)} text columns: {ROWS / copy_rate:.1f} s",
                  flush=True)
    finally:
        if redis_server is not None:
            redis_server.stop()
        shutil.rmtree(_tmp, ignore_errors=True)

    peak_mb = imported["peak_kb"] / 1024  # Linux reports ru_maxrss in KiB
    print(f"peak RSS of the import process: {peak_mb:.0f} MB "
          f"({imported['rss_before_kb'] / 1024:.0f} MB after start-up, before the import)")
    print(f"RESULT import_rows_per_s={import_rate:.0f} copy_rows_per_s={copy_rate:.0f} "
          f"ratio={import_rate / copy_rate:.2g} peak_mb={peak_mb:.0f} rows={ROWS} failed_rows={imported['failed']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
