"""What a hostile upload costs the web process: the API upload of a ~300 KB XLSX whose shared strings inflate to
~300 MB, and of a ~1 MB XLSX holding 2,000,000 rows, against the baseline of an ordinary workbook of real-looking
accounts of about the same size (~300 KB, 2,500 rows) uploaded the same way in the same run. Then the worker's
job runs on each hostile file and must end `failed` with its code.

Each upload runs in a fresh child process (the web process), so its peak RSS (ru_maxrss) is the request's alone,
app start-up included; the worker's runs get a process of their own too. SQLite in a temporary folder and no
Redis (the outbox row waits; rate limits off): this measures the request, not the infrastructure. No flags.

Before the fix the bomb took 34 s and 2.2 GB in the web process, the 2-million-row file 95 s.

Ends with: RESULT upload_s=… peak_mb=… rows_upload_s=… rows_peak_mb=… baseline_upload_s=… baseline_peak_mb=…
ratio=… worker_s=… worker_peak_mb=… bomb_status=… rows_status=…
"""
import io
import os
import resource
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from multiprocessing import get_context
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

_tmp = Path(os.environ.get("RECOVERLY_UPLOAD_BENCH_DIR") or tempfile.mkdtemp(prefix="recoverly-upload-bench-"))
os.environ["RECOVERLY_UPLOAD_BENCH_DIR"] = str(_tmp)
os.environ["RECOVERLY_INSTANCE_DIR"] = str(_tmp / "instance")
os.environ.setdefault("RECOVERLY_ENV", "development")  # derived keys: nothing here is real data
os.environ.setdefault("SECRET_KEY", "bench-secret-key-0123456789abcdef0123456789")
for name in ("DATABASE_URL", "MIGRATION_DATABASE_URL", "REDIS_URL"):
    os.environ.pop(name, None)
DATABASE = f"sqlite:///{_tmp / 'bench.db'}"


def _app():
    from tenants import outbox
    from web import create_app

    app = create_app({"SQLALCHEMY_DATABASE_URI": DATABASE, "RATELIMIT_ENABLED": False})
    outbox.set_dispatcher(None)  # no queue: the import row is the outbox, the bench runs the job itself
    return app


def _peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def setup() -> str:
    """Migrate the database and make a lender with an API token; answers the token."""
    from flask_migrate import upgrade

    from tenants.db import db
    from tests.factories import Factory

    app = _app()
    with app.app_context():
        upgrade()
        factory = Factory(db.session)
        lender = factory.tenant("lender")
        _, secret = factory.token(lender, "lender_admin")
        db.session.commit()
    return secret


def upload(path: str, token: str) -> tuple[int, float, float, str]:
    """One API upload in this (fresh) process: status, seconds, peak MB, import id."""
    app = _app()
    client = app.test_client()
    data = Path(path).read_bytes()
    started = time.perf_counter()
    response = client.post("/api/v1/imports", headers={"Authorization": f"Bearer {token}"},
                           content_type="multipart/form-data",
                           data={"file": (io.BytesIO(data), Path(path).name), "portfolio": "Bench"})
    elapsed = time.perf_counter() - started
    return response.status_code, elapsed, _peak_mb(), (response.get_json() or {}).get("id", "")


def work(import_id: str) -> tuple[str, str, float, float]:
    """The worker's job on one import: status, error code, seconds, peak MB."""
    import uuid

    from tenants.context import tenant_scope
    from tenants.db import db
    from tenants.portfolios.models import ImportJob
    from workers import jobs

    app = _app()
    with app.app_context():
        from tenants.context import platform_scope

        with platform_scope("bench: which tenant"):
            tenant_id = db.session.get(ImportJob, uuid.UUID(import_id)).tenant_id
        started = time.perf_counter()
        with tenant_scope(tenant_id):
            result = jobs.run_import(str(tenant_id), import_id)
        return result["status"], result["error_code"] or "", time.perf_counter() - started, _peak_mb()


def ordinary_workbook(path: Path, rows: int = 2_500) -> Path:
    import random

    import openpyxl

    from tenants.demo_data import CN_HEADER, cn_account_rows

    book = openpyxl.Workbook(write_only=True)
    sheet = book.create_sheet()
    sheet.append(CN_HEADER)
    for row in cn_account_rows(random.Random(2026), rows):
        sheet.append(row)
    book.save(path)
    return path


def in_child(func, *args):
    with ProcessPoolExecutor(max_workers=1, mp_context=get_context("spawn")) as pool:
        return pool.submit(func, *args).result()


def main() -> None:
    from tests.xlsx_files import shared_strings_bomb, two_million_rows

    bomb = shared_strings_bomb(_tmp / "bomb.xlsx")
    rows = two_million_rows(_tmp / "two-million-rows.xlsx")
    baseline = ordinary_workbook(_tmp / "ordinary.xlsx")
    token = in_child(setup)
    for path in (bomb, rows, baseline):
        print(f"{path.name}: {path.stat().st_size / 1024:,.0f} KB")

    results = {}
    for name, path in (("baseline", baseline), ("bomb", bomb), ("rows", rows)):
        status, seconds, peak, import_id = in_child(upload, str(path), token)
        results[name] = (status, seconds, peak, import_id)
        print(f"upload {name}: HTTP {status} in {seconds:.2f} s, web process peak {peak:.0f} MB")
    worker = {}
    for name in ("bomb", "rows"):
        status, code, seconds, peak = in_child(work, results[name][3])
        worker[name] = (status, code, seconds, peak)
        print(f"worker {name}: {status} {code} in {seconds:.2f} s, worker peak {peak:.0f} MB")

    upload_s, peak_mb = results["bomb"][1], results["bomb"][2]
    base_s, base_mb = results["baseline"][1], results["baseline"][2]
    print(f"RESULT upload_s={upload_s:.3f} peak_mb={peak_mb:.0f} rows_upload_s={results['rows'][1]:.3f} "
          f"rows_peak_mb={results['rows'][2]:.0f} baseline_upload_s={base_s:.3f} baseline_peak_mb={base_mb:.0f} "
          f"ratio={upload_s / base_s:.2f} worker_s={worker['bomb'][2]:.2f} "
          f"worker_peak_mb={max(w[3] for w in worker.values()):.0f} "
          f"bomb_status={worker['bomb'][0]}:{worker['bomb'][1]} rows_status={worker['rows'][0]}:{worker['rows'][1]}")


if __name__ == "__main__":
    main()
