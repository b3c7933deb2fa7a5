"""Background work survives Redis and worker loss, outages answer 503, nothing runs twice (issue 17).

Real processes and real faults: an embedded redis-server restarted empty, rq workers started as processes and
killed with SIGKILL, and a TCP proxy the test controls (tests/tcp_proxy.py) to cut PostgreSQL or blackhole Redis
under a running web server. Waits poll for the behaviour with a generous deadline; nothing asserts a duration.
"""
import io
import json
import os
import signal
import socket
import subprocess
import sys
import textwrap
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid
from pathlib import Path

import pytest
import redis as redis_lib
from rq.job import Job
from rq.registry import ScheduledJobRegistry
from sqlalchemy import func, select
from sqlalchemy.engine import make_url

from tenants import audit, outbox
from tenants.context import platform_scope, tenant_scope
from tenants.db import db
from tests.conftest import DATABASE_URL
from tests.tcp_proxy import TcpProxy
from workers import connection as redis_connection
from workers import periodic
from workers.embedded import EmbeddedRedis
from workers.jobs import sweep_outbox
from workers.queues import queue
from workers.worker import SCHEDULER_LOCK, RecoverlyWorker

ROOT = Path(__file__).resolve().parents[2]
postgres = pytest.mark.postgres


def _wait_for(predicate, what: str, deadline: float = 45.0, every: float = 0.1):
    end = time.monotonic() + deadline
    while time.monotonic() < end:
        found = predicate()
        if found:
            return found
        time.sleep(every)
    pytest.fail(f"not within {deadline:g} s: {what}")


def _env(**extra) -> dict:
    env = os.environ.copy()
    env.update({"DATABASE_URL": DATABASE_URL, "FLASK_APP": "web", **{k: str(v) for k, v in extra.items()}})
    return env


def _stop(process: subprocess.Popen) -> str:
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
    return process.stdout.read() if process.stdout else ""


@pytest.fixture
def committed_tenant(app):
    from tests.factories import Factory

    with app.app_context():
        tenant = Factory(db.session).tenant()
        with tenant_scope(tenant.id):
            audit.record("test.event", object_type="tenant", object_id=tenant.id)
        db.session.commit()
        tenant_id = tenant.id
        db.session.remove()
    return tenant_id


@pytest.fixture
def committed_token(app):
    """A committed lender with an admin token: (tenant id, bearer secret)."""
    from tests.factories import Factory

    with app.app_context():
        factory = Factory(db.session)
        tenant = factory.tenant("lender")
        _token, secret = factory.token(tenant)
        db.session.commit()
        ids = tenant.id, secret
        db.session.remove()
    return ids


def _task(app, task_id):
    with app.app_context(), platform_scope("test: read an outbox task"):
        task = db.session.get(outbox.OutboxTask, task_id)
        db.session.expunge(task)
        db.session.remove()
        return task


def _schedule_task(app, tenant_id) -> uuid.UUID:
    with app.app_context(), tenant_scope(tenant_id):
        task_id = outbox.schedule("workers.jobs.verify_audit_chain").id
        db.session.commit()
        db.session.remove()
    return task_id


# ---- one run at a time ------------------------------------------------------------------------------------------

def test_a_second_copy_of_a_job_finds_the_claim_and_leaves(app, committed_tenant):
    task_id = _schedule_task(app, committed_tenant)
    with app.app_context():
        assert outbox.claim(task_id, "another-worker:1:job", outbox.LEASE), "a live run holds the task"
    RecoverlyWorker(["default"], connection=redis_connection.connection(), flask_app=app).work(burst=True)
    job = Job.fetch(f"outbox-{task_id}", connection=redis_connection.connection())
    assert job.return_value() == {"skipped": "outbox task done or claimed by another run"}
    task = _task(app, task_id)
    assert task.status == outbox.TaskStatus.PENDING and task.lease_holder == "another-worker:1:job"
    with app.app_context(), tenant_scope(committed_tenant):
        actions = [e.action for e in db.session.scalars(select(audit.AuditEvent))]
        db.session.remove()
    assert "audit.chain_verified" not in actions, "the second copy did no work"
    with app.app_context(), platform_scope("test: sweeper"):
        sweep_outbox()
    assert _task(app, task_id).attempts == 1, "a task held by a live lease is never re-enqueued"


def test_the_enqueue_time_is_committed_with_the_task(app, committed_tenant):
    task = _task(app, _schedule_task(app, committed_tenant))
    assert task.last_enqueued_at is not None and task.attempts == 1


# ---- Redis restarts empty ---------------------------------------------------------------------------------------

def _pings() -> bool:
    try:
        return redis_connection.connection().ping()
    except redis_lib.ConnectionError:
        return False


def test_a_redis_restart_without_data_brings_back_every_schedule_and_stranded_task(app, committed_tenant, tmp_path,
                                                                                   monkeypatch):
    monkeypatch.setattr(redis_connection, "RETRY_AFTER", 0.5)
    server = EmbeddedRedis(tmp_path / "redis").start()
    previous = dict(redis_connection._settings)
    redis_connection.configure(server.url, str(tmp_path / "redis"))
    try:
        worker = RecoverlyWorker(["default"], connection=redis_connection.connection(), flask_app=app, schedule=True)
        worker.tick()
        scheduled = periodic.ensure_scheduled()
        assert all(Job.exists(job_id, connection=redis_connection.connection()) for job_id in scheduled)
        assert redis_connection.connection().get(SCHEDULER_LOCK).decode() == worker.name

        server.stop()  # Redis goes away; work committed meanwhile cannot be enqueued
        task_id = _schedule_task(app, committed_tenant)
        server.start()  # back, without persistence: empty
        _wait_for(_pings, "the process reaches Redis again (its breaker closes)")

        assert not any(Job.exists(job_id, connection=redis_connection.connection()) for job_id in scheduled)
        worker._last_tick = 0.0  # the worker's next tick, no process restarted
        worker.tick()
        assert all(Job.exists(job_id, connection=redis_connection.connection()) for job_id in scheduled)
        assert redis_connection.connection().get(SCHEDULER_LOCK).decode() == worker.name

        with app.app_context(), platform_scope("test: sweeper"):
            sweep_outbox()  # the first sweep notes the task's job missing, the next re-enqueues it
            sweep_outbox()
        assert _task(app, task_id).attempts == 2
        worker.work(burst=True)
        assert _task(app, task_id).status == outbox.TaskStatus.DONE
    finally:
        server.stop()
        redis_connection.configure(previous["url"], previous["embedded_dir"])
        redis_connection.breaker.reset()


# ---- workers killed ---------------------------------------------------------------------------------------------

def _worker(queues: str, **env) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "flask", "--app", "web", "worker", *queues.split()], cwd=ROOT,
                            env=_env(**env), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


FAST = {"RECOVERLY_WORKER_TICK": 0.5, "RECOVERLY_WORKER_POLL": 1, "RECOVERLY_SCHEDULER_LOCK_TTL": 2,
        "RECOVERLY_OUTBOX_LEASE": 3, "RECOVERLY_JOB_MONITORING_INTERVAL": 1}


def _pid_of(worker_name: str) -> int:
    return int(redis_connection.connection().hget(f"rq:worker:{worker_name}", "pid"))


def test_when_the_scheduler_holder_is_killed_another_worker_takes_over(app, committed_tenant):
    workers = [_worker("default", **FAST) for _ in range(2)]
    try:
        lock = redis_connection.connection()
        holder = _wait_for(lambda: lock.get(SCHEDULER_LOCK), "a worker takes the scheduler lock").decode()
        _wait_for(lambda: lock.exists(f"rq:worker:{holder}"), "the holder registered")
        os.kill(_pid_of(holder), signal.SIGKILL)
        successor = _wait_for(lambda: (lock.get(SCHEDULER_LOCK) or b"").decode() not in ("", holder),
                              "another worker holds the lock")
        assert successor
        from datetime import datetime, timedelta, timezone

        job = queue("default").enqueue_at(datetime.now(timezone.utc) + timedelta(seconds=1),
                                          "workers.jobs.verify_audit_chain",
                                          kwargs={"tenant_id": str(committed_tenant)},
                                          meta={"tenant_id": str(committed_tenant)})
        scheduled = ScheduledJobRegistry(queue=queue("default"))
        _wait_for(lambda: job.id not in scheduled.get_job_ids(), "the survivor moves a due job onto its queue")
    finally:
        for worker in workers:
            _stop(worker)


def _children(pid: int) -> list[int]:
    try:
        text = Path(f"/proc/{pid}/task/{pid}/children").read_text()
    except OSError:
        return []
    return [int(child) for child in text.split()]


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state not in ("Z", "X")


SLOW_WORKER = textwrap.dedent("""
    import os, sys, time
    from tenants.portfolios import bulk, imports
    from web import create_app
    from workers.worker import run

    imports.BATCH_SIZE = 8
    write = bulk.write

    def slow_write(*args, **kwargs):
        written = write(*args, **kwargs)
        time.sleep(0.05)
        return written

    bulk.write = slow_write
    app = create_app({"SQLALCHEMY_DATABASE_URI": os.environ["DATABASE_URL"], "REDIS_URL": os.environ["REDIS_URL"],
                      "TESTING": True})
    with app.app_context():
        run(app, ["imports"], with_scheduler=False)
""")


@postgres
def test_a_worker_killed_mid_import_takes_its_horse_down_and_the_import_resumes_once(app, redis_url):
    from tenants.portfolios import imports
    from tenants.portfolios.models import Account, ImportJob
    from tests.factories import Factory

    from .test_imports import csv_bytes, good_row

    rows = 240
    with app.app_context():
        lender = Factory(db.session).tenant("lender")
        db.session.commit()
        lender_id = lender.id
        with tenant_scope(lender_id):
            portfolio = imports.get_or_create_portfolio("resilience")
            job = imports.create_import(portfolio=portfolio, filename="kill.csv", mapping=None, uploaded_by=None,
                                        stream=io.BytesIO(csv_bytes([good_row(n) for n in range(1, rows + 1)])))
            db.session.commit()  # the outbox task is enqueued on the imports queue
            import_id = job.id
            task_id = db.session.scalar(select(outbox.OutboxTask.id).where(
                outbox.OutboxTask.job == "workers.jobs.run_import"))
        db.session.remove()

    def checkpoint():
        with app.app_context(), tenant_scope(lender_id):
            found = db.session.get(ImportJob, import_id).checkpoint_line
            db.session.remove()
            return found

    worker = subprocess.Popen([sys.executable, "-c", SLOW_WORKER], cwd=ROOT, env=_env(**FAST, REDIS_URL=redis_url),
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        _wait_for(lambda: checkpoint() >= 3 * 8, "the worker commits a few batches")
        horses = _children(worker.pid)
        assert horses, "the job runs in a work horse"
        worker.send_signal(signal.SIGKILL)
        worker.wait(timeout=10)
        _wait_for(lambda: not any(_alive(pid) for pid in horses), "the horse dies with its worker", deadline=10)
    finally:
        _stop(worker)
    killed_at = checkpoint()
    assert killed_at < rows, "it was killed mid-way"

    _wait_for(lambda: outbox.lease_lapsed(_task(app, task_id)), "the dead run's lease lapses")
    with app.app_context(), platform_scope("test: sweeper"):
        sweep_outbox()
    assert _task(app, task_id).attempts == 2, "the sweeper hands the task on"
    RecoverlyWorker(["imports"], connection=redis_connection.connection(), flask_app=app).work(burst=True)

    with app.app_context(), tenant_scope(lender_id):
        finished = db.session.get(ImportJob, import_id)
        assert (finished.status, finished.rows_processed, finished.rows_created) == ("completed", rows, rows)
        refs = db.session.scalars(select(Account.external_ref)).all()
        assert len(refs) == len(set(refs)) == rows, "no row lost, none duplicated"
        assert db.session.scalar(select(func.count()).select_from(Account)) == rows
        db.session.remove()
    assert _task(app, task_id).status == outbox.TaskStatus.DONE


# ---- outages answer 503 -----------------------------------------------------------------------------------------

SERVER = textwrap.dedent("""
    import os, sys
    from web import create_app

    app = create_app({"SQLALCHEMY_DATABASE_URI": os.environ["DATABASE_URL"], "REDIS_URL": os.environ["REDIS_URL"],
                      "TESTING": True, "WTF_CSRF_ENABLED": False})
    app.run(host="127.0.0.1", port=int(sys.argv[1]), threaded=True, use_reloader=False)
""")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class _Server:
    def __init__(self, **env):
        self.port = _free_port()
        self.process = subprocess.Popen([sys.executable, "-c", SERVER, str(self.port)], cwd=ROOT, env=_env(**env),
                                        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        _wait_for(lambda: self._up(), "the web server answers /healthz", deadline=60)

    def _up(self) -> bool:
        assert self.process.poll() is None, self.process.stdout.read()
        try:
            return self.request("GET", "/healthz")[0] == 200
        except OSError:
            return False

    def request(self, method: str, path: str, *, headers=None, form=None, timeout: float = 30):
        data = urllib.parse.urlencode(form).encode() if form is not None else None
        request = urllib.request.Request(f"http://127.0.0.1:{self.port}{path}", data=data, method=method,
                                         headers=headers or {})
        try:
            with urllib.request.urlopen(request, timeout=timeout) as answer:
                return answer.status, dict(answer.headers), answer.read().decode()
        except urllib.error.HTTPError as error:
            return error.code, dict(error.headers), error.read().decode()

    def stop(self) -> str:
        return _stop(self.process)


@postgres
def test_a_postgresql_cut_answers_503_then_recovers_without_a_restart(app, redis_url, committed_token):
    _tenant_id, secret = committed_token
    target = make_url(DATABASE_URL)
    bearer = {"Authorization": f"Bearer {secret}"}
    with TcpProxy(target.host, target.port or 5432) as proxy:
        server = _Server(DATABASE_URL=proxy.url_for(DATABASE_URL), REDIS_URL=redis_url,
                         DATABASE_CONNECT_TIMEOUT=1)
        try:
            assert server.request("GET", "/api/v1/me", headers=bearer)[0] == 200
            proxy.cut()  # the pooled connections die under the app, and new ones are refused
            answers = [server.request("GET", "/api/v1/me", headers=bearer) for _ in range(5)]
            assert {status for status, _, _ in answers} == {503}
            status, headers, body = answers[0]
            assert json.loads(body)["error"]["code"] == "service.unavailable"
            assert int(headers["Retry-After"]) > 0
            status, headers, page = server.request("POST", "/login", form={"email": "a@b.test", "password": "x"},
                                                   headers={"Accept-Language": "zh-CN"})
            assert status == 503 and "服务暂时不可用" in page and int(headers["Retry-After"]) > 0
            assert server.request("GET", "/readyz")[0] == 503

            proxy.restore()
            _wait_for(lambda: server.request("GET", "/api/v1/me", headers=bearer)[0] == 200,
                      "the same process serves again once PostgreSQL answers")
            assert server.request("GET", "/readyz")[0] == 200
        finally:
            log = server.stop()
    assert log.count("PostgreSQL unavailable") == 1, "one line for the outage"
    assert "Traceback" not in log, "no traceback per request"


@postgres
def test_a_blackholed_redis_delays_a_request_only_by_its_timeout_and_logins_fail_closed(app, redis_url,
                                                                                         committed_token):
    target = urllib.parse.urlsplit(redis_url)
    if target.scheme != "redis":
        pytest.skip("needs REDIS_URL on TCP to put a proxy in front of it")
    _tenant_id, secret = committed_token
    bearer = {"Authorization": f"Bearer {secret}"}
    with TcpProxy(target.hostname, target.port or 6379) as proxy:
        server = _Server(REDIS_URL=proxy.url_for(redis_url), REDIS_SOCKET_TIMEOUT=1, REDIS_CONNECT_TIMEOUT=0.5)
        try:
            assert server.request("GET", "/api/v1/me", headers=bearer)[0] == 200
            proxy.blackhole()  # Redis accepts and never answers
            # A hang would trip urlopen's timeout (an error), well above the app's own Redis timeouts.
            status, headers, body = server.request("POST", "/login", form={"email": "a@b.test", "password": "x"},
                                                   timeout=20)
            assert status == 503 and int(headers["Retry-After"]) > 0, "no login while failures cannot be counted"
            for _ in range(3):  # the API goes on, its limits counted in memory meanwhile
                assert server.request("GET", "/api/v1/me", headers=bearer, timeout=20)[0] == 200
            assert json.loads(server.request("GET", "/readyz", timeout=20)[2])["checks"]["redis"] == "unavailable"
            proxy.restore()
            _wait_for(lambda: server.request("GET", "/readyz")[0] == 200, "ready again once Redis answers")
        finally:
            server.stop()


def test_readyz_reports_database_redis_and_migrations(client):
    answer = client.get("/readyz")
    assert answer.status_code == 200
    assert answer.json == {"status": "ready", "checks": {"database": "ok", "migrations": "ok", "redis": "ok"}}
    assert "Set-Cookie" not in answer.headers


def test_redis_errors_are_waited_out_by_the_breaker_not_per_command(monkeypatch):
    """After a failed connect the next commands fail at once, without a round trip, until RETRY_AFTER."""
    breaker = redis_connection.breaker
    breaker.reset()
    try:
        client = redis_lib.Redis(connection_pool=redis_connection.pool("redis://127.0.0.1:1/0"))
        with pytest.raises(redis_lib.ConnectionError):
            client.ping()
        assert breaker.is_open
        with pytest.raises(redis_connection.RedisUnavailable):
            client.ping()
    finally:
        breaker.reset()
