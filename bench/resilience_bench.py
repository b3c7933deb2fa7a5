"""Resilience targets of issue 17, measured with real processes on PostgreSQL and Redis, default worker settings.

- schedules_back_s: Redis flushed (a restart without persistence) under two running workers → every periodic
  job scheduled again (target: within 120 s, no process restarted); baseline: the worker tick it is bounded by.
- takeover_s: the worker holding the scheduler lock killed with SIGKILL → another worker holds it (target: 60 s);
  baseline: lock TTL + tick, the bound.
- 503 vs others during a PostgreSQL cut (tests/tcp_proxy.py between the web server and PostgreSQL), and the
  requests served before and after it (target: 0 answers other than 503 while cut).

Needs DATABASE_URL/MIGRATION_DATABASE_URL (PostgreSQL) and REDIS_URL (TCP); makes and drops its own database.
Ends with `RESULT …`.
"""
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("RECOVERLY_ENV", "development")
os.environ.setdefault("DB_LOCK_KEY", "bench-db-lock-key-not-for-production-0123456789")

from bench._postgres import database_urls, prepare, temporary_database  # noqa: E402


def wait(predicate, limit=180.0, every=0.05):
    start = time.monotonic()
    while time.monotonic() - start < limit:
        if predicate():
            return time.monotonic() - start
        time.sleep(every)
    return float("nan")


def main() -> None:
    urls = database_urls()
    redis_url = os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/12")
    if urls is None or not redis_url.startswith("redis://"):
        sys.exit("needs PostgreSQL URLs and REDIS_URL on TCP")
    app_url, owner_url = urls
    with temporary_database("resilience", owner_url, app_url) as (bench_owner, bench_app):
        prepare(bench_owner, bench_app)
        env = {**os.environ, "DATABASE_URL": str(bench_app), "REDIS_URL": redis_url, "FLASK_APP": "web"}
        from web import create_app

        app = create_app({"SQLALCHEMY_DATABASE_URI": env["DATABASE_URL"], "REDIS_URL": redis_url, "TESTING": True})
        from tenants.db import db
        from tests.factories import Factory
        from workers import periodic
        from workers import worker as worker_module
        from workers.connection import connection

        redis = connection()
        redis.flushdb()
        with app.app_context():
            factory = Factory(db.session)
            tenant = factory.tenant("lender")
            _token, secret = factory.token(tenant)
            db.session.commit()
            db.session.remove()

        workers = [subprocess.Popen([sys.executable, "-m", "flask", "--app", "web", "worker", "default"], cwd=ROOT,
                                    env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL) for _ in range(2)]
        try:
            wait(lambda: redis.get(worker_module.SCHEDULER_LOCK))
            wait(lambda: len(redis.keys("rq:worker:*")) >= 2)
            pids = {key.decode().rsplit(":", 1)[1]: int(redis.hget(key, "pid")) for key in redis.keys("rq:worker:*")
                    if redis.hget(key, "pid")}
            redis.flushdb()  # Redis restarted without persistence
            schedules_back = wait(lambda: all(redis.exists(f"rq:job:{job_id}") for job_id in _next_ids(periodic)))
            wait(lambda: redis.get(worker_module.SCHEDULER_LOCK))
            holder = redis.get(worker_module.SCHEDULER_LOCK).decode()
            wait(lambda: redis.hget(f"rq:worker:{holder}", "pid"), limit=30)
            os.kill(pids.get(holder) or int(redis.hget(f"rq:worker:{holder}", "pid")), signal.SIGKILL)
            takeover = wait(lambda: (redis.get(worker_module.SCHEDULER_LOCK) or b"").decode() not in ("", holder))
            statuses = _database_cut(env, secret)
        finally:
            for process in workers:
                if process.poll() is None:
                    process.terminate()
                    process.wait(timeout=15)
            with app.app_context():
                db.engine.dispose()  # the database is dropped next
    tick, ttl = worker_module.TICK, worker_module.LOCK_TTL
    during = statuses["during"]
    print(f"schedules back after a Redis flush in {schedules_back:.1f} s (bound: tick {tick:g} s); scheduler "
          f"takeover in {takeover:.1f} s (bound: lock {ttl:g} s + tick {tick:g} s); during a PostgreSQL cut: "
          f"{during}; before {statuses['before']}, after {statuses['after']}")
    others = sum(count for status, count in during.items() if status != 503)
    print(f"RESULT schedules_back_s={schedules_back:.1f} takeover_s={takeover:.1f} cut_503={during.get(503, 0)} "
          f"cut_other={others} after_ok={statuses['after'].get(200, 0)} tick_s={tick:g} lock_ttl_s={ttl:g} "
          f"ratio_takeover_to_target={takeover / 60:.2f}")


def _next_ids(periodic):
    from datetime import datetime, timezone

    now = datetime.now(timezone.utc)
    return [f"periodic-{func.rsplit('.', 1)[1]}-{int(periodic.next_slot(interval, now).timestamp())}"
            for func, interval in periodic.PERIODIC.items()]


def _database_cut(env, secret) -> dict:
    import socket

    from sqlalchemy.engine import make_url

    from tests.tcp_proxy import TcpProxy

    target = make_url(env["DATABASE_URL"])
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    script = ("import os,sys\nfrom web import create_app\napp=create_app({'SQLALCHEMY_DATABASE_URI': "
              "os.environ['DATABASE_URL'],'REDIS_URL': os.environ['REDIS_URL']})\n"
              "app.run(host='127.0.0.1', port=int(sys.argv[1]), threaded=True)")
    with TcpProxy(target.host, target.port or 5432) as proxy:
        server = subprocess.Popen([sys.executable, "-c", script, str(port)], cwd=ROOT,
                                  env={**env, "DATABASE_URL": proxy.url_for(env["DATABASE_URL"])},
                                  stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            def get() -> int:
                request = urllib.request.Request(f"http://127.0.0.1:{port}/api/v1/me",
                                                 headers={"Authorization": f"Bearer {secret}"})
                try:
                    with urllib.request.urlopen(request, timeout=30) as answer:
                        return answer.status
                except urllib.error.HTTPError as error:
                    return error.code
                except OSError:
                    return 0

            wait(lambda: get() == 200, limit=60)
            counts = {"before": {}, "during": {}, "after": {}}

            def run(phase, seconds):
                end = time.monotonic() + seconds
                while time.monotonic() < end:
                    status = get()
                    counts[phase][status] = counts[phase].get(status, 0) + 1

            run("before", 2)
            proxy.cut()
            run("during", 3)
            proxy.restore()
            wait(lambda: get() == 200, limit=30)
            run("after", 2)
            return counts
        finally:
            server.terminate()
            server.wait(timeout=15)


if __name__ == "__main__":
    main()
