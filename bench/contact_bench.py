"""What deciding a contact costs, and whether concurrent agencies can break a cap: many API clients of several
agencies log call and SMS attempts (and their outcomes) on a small set of people owed to several lenders and
placed with several agencies, against gunicorn in production settings on PostgreSQL. Two baselines, measured in
the same run by the same client threads and connections against the same gunicorn:
- GET /api/v1/me (bearer-token lookup, the tenant context, a JSON response: a real API request doing no work);
  ratio = attempts per second / its requests per second;
- GET /healthz (no database, no Redis, no token: the web stack's floor, gunicorn + Flask + the app's hooks);
  noio_ratio = attempts per second / its requests per second.
A short phase with one client gives the service times without queueing. Afterwards SQL counts every allowed
attempt that broke a rule as written in CONDUCT_RULES.md (preset `cn`).

Where an attempt's time goes, from the attempts phase: gunicorn's CPU (its processes' user + system time from
/proc over the measured window) per attempt request, the outcome requests that follow allowed attempts included
(cpu_ms_per_attempt); and the round trips to PostgreSQL per allowed attempt (201), counted inside the served app
by web/statement_counter.py, which the bench switches on (RECOVERLY_ROUND_TRIP_COUNTS) and nothing else does: each
statement, psycopg's own BEGIN, COMMIT/ROLLBACK, pool pings; new connections are reported apart.

Needs PostgreSQL: DATABASE_URL (the application role) and MIGRATION_DATABASE_URL (the owner, who may create
databases). The bench creates its own temporary database with the owner's URL, migrates it, grants the
application role its privileges (deploy/postgres/roles.sql), seeds it through the domain services, serves it with
`gunicorn -c deploy/gunicorn.conf.py 'web:create_app()'` connecting as the application role (row-level security
enforced; as the owner when DATABASE_URL names no other role), and drops it at the end. Redis: REDIS_URL's server
with database 13 (flushed at the end when it was empty at the start), else an embedded redis-server.

No flags. BENCH_CLIENTS (default 16) client threads; BENCH_SECONDS (default 20) per measured kind (/healthz, /me,
attempts), taken in BENCH_ROUNDS (default 4) interleaved slices: on a shared host whose speed drifts within a minute
(measured: GET /me from 345 to 526/s between back-to-back runs) one 20-second phase after another put that drift
into the ratios. gunicorn takes WEB_CONCURRENCY and GUNICORN_THREADS from the environment (deploy/gunicorn.conf.py).

The people: 48 borrowers with valid resident IDs and mobiles, each owed to two or three of three lenders (same ID,
same phone → the same `subject_key` and number key at every lender); each lender places its accounts across two or
three of four agencies, so a person's daily caps are shared by up to three agencies at once. About one account in
ten has a dispute open from the start. Production refuses the test clock, so each person lives in a time zone
where it is now daytime (09:00–20:00 local, Asia/Shanghai when it qualifies) and stays so through the run.

The clients: BENCH_CLIENTS threads in this process (one persistent http.client connection each, reopened only
when the server closes it, see deploy/gunicorn.conf.py), spread over the four agencies, each with its agency's API
token. The client does little per request (prepared headers) and its own CPU is printed per phase. Each turn
picks one of its agency's accounts: a call (90%) or an SMS; an allowed attempt gets its outcome at once (calls:
right party 40%, of which 1 in 30 raises a dispute, else no answer; SMS: delivered), so the connected-call cap
binds. Attempt figures are the attempt requests (allowed or
refused); outcome requests are load beside them and reported on their own line.

Breaches, each allowed attempt beyond a rule counting one: more than 3 connected calls per person per
debtor-local calendar day across all agencies (CN.CALLS.CONNECTED), more than 6 unanswered calls per number per
day (CN.CALLS.ATTEMPTS), any allowed attempt at 22:00–08:00 debtor-local (CN.HOURS), any allowed attempt on an
account while a dispute hold is open on it.

Ends with: RESULT attempts_per_s=… attempt_p50_ms=… attempt_p99_ms=… trivial_per_s=… trivial_p50_ms=…
trivial_p99_ms=… ratio=… breaches=… clients=… round_trips_per_attempt=… cpu_ms_per_attempt=… noio_per_s=…
noio_ratio=…   (exit status 1 when breaches or unexpected answers occurred)
"""
import http.client
import json
import os
import random
import resource
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from base64 import urlsafe_b64encode
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo

from _postgres import database_urls, prepare, serving_role, temporary_database

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from web import statement_counter  # noqa: E402  (after the path: the bench runs as a script)

_tmp = Path(tempfile.mkdtemp(prefix="recoverly-contact-bench-"))
# One set of production secrets for the seeding (here) and the served app (gunicorn): the blind indexes the import
# computes must be the ones the web nodes compute.
os.environ.update({
    "RECOVERLY_ENV": "production",
    "RECOVERLY_INSTANCE_DIR": str(_tmp / "instance"),
    "SECRET_KEY": secrets.token_urlsafe(48),
    "PII_KEYS": urlsafe_b64encode(secrets.token_bytes(32)).decode(),
    "BLIND_INDEX_KEY": secrets.token_urlsafe(48),
    "DB_LOCK_KEY": secrets.token_urlsafe(48),
    "RECOVERLY_TEST_CLOCK": "off",
    # The bench measures the limiter's cost per request, not its refusals: each agency's dialer is one token.
    "RECOVERLY_RATE_LIMIT_API": "1000000 per minute",
})

CLIENTS = int(os.environ.get("BENCH_CLIENTS", "16"))
SECONDS = float(os.environ.get("BENCH_SECONDS", "20"))
WARMUP_SECONDS = 3.0
SOLO_SECONDS = min(5.0, SECONDS / 4)
ROUNDS = int(os.environ.get("BENCH_ROUNDS", "4"))  # slices per kind, interleaved (see run_interleaved)
PEOPLE, LENDERS, AGENCIES = 48, 3, 4
# Which agencies each lender places with (by index): every pair of lenders shares an agency.
PANELS = ((0, 1, 2), (1, 2, 3), (0, 3))
DISPUTED_SHARE = 0.1
SMS_SHARE, RIGHT_PARTY_SHARE, DISPUTE_PER_RIGHT_PARTY = 0.1, 0.4, 1 / 30
REDIS_DB = 13
SEED = 2026
# The served app's name for an allowed attempt (web/statement_counter.py: method, URL rule, status).
ALLOWED_ATTEMPT = "POST /api/v1/accounts/<uuid:account_id>/contact-attempts 201"

# The rules as CONDUCT_RULES.md writes them (not as the preset encodes them: the bench checks the preset too).
CONNECTED_PER_PERSON_DAY, UNANSWERED_PER_NUMBER_DAY, HOURS = 3, 6, ("08:00", "22:00")

# Candidate debtor zones, one per UTC offset, so that some zone is in daytime whatever the hour.
ZONES = ("Asia/Shanghai", "Asia/Tokyo", "Asia/Bangkok", "Australia/Brisbane", "Asia/Dhaka", "Pacific/Noumea",
         "Asia/Karachi", "Pacific/Auckland", "Asia/Dubai", "Pacific/Tongatapu", "Europe/Moscow", "Pacific/Kiritimati",
         "Europe/Athens", "Europe/Berlin", "Europe/London", "Atlantic/Cape_Verde", "Atlantic/South_Georgia",
         "America/Sao_Paulo", "America/Halifax", "America/New_York", "America/Chicago", "America/Denver",
         "America/Los_Angeles", "America/Anchorage", "Pacific/Honolulu")

HOW_TO_RUN = """contact_bench needs PostgreSQL: set DATABASE_URL (the application role) and MIGRATION_DATABASE_URL
(the schema owner, who may create databases). The bench creates, migrates and drops a temporary database of its
own; no existing database is touched. `bash .ci/run --setup-only` starts PostgreSQL and Redis, (re)creates the
recoverly_test database and prints the exports to use, e.g.:

    bash .ci/run --setup-only | grep ^export > /tmp/recoverly_env.sh && . /tmp/recoverly_env.sh
    python bench/contact_bench.py            # or: make bench NAME=contact_bench
"""


# ---- the people and their zones ---------------------------------------------------------------------------------

def daytime_zones(now: datetime, lasts: timedelta, limit: int = 3) -> list[str]:
    """Zones where it is 09:00–20:00 now and still the same day before 20:30 when the run ends: an hour from the
    edges of CN.HOURS, so no attempt is refused for the hour and any allowed one at night would be a breach."""
    found = []
    for name in ZONES:
        start, end = now.astimezone(ZoneInfo(name)), (now + lasts).astimezone(ZoneInfo(name))
        if 9 <= start.hour < 20 and end.date() == start.date() and (end.hour, end.minute) < (20, 30):
            found.append(name)
    return found[:limit]


@dataclass(frozen=True)
class Person:
    name: str
    resident_id: str
    phone: str
    zone: str
    lenders: tuple[int, ...]


def people(zones: list[str]) -> list[Person]:
    from tenants.demo_data import cn_account_rows

    rng = random.Random(SEED)
    rows = cn_account_rows(rng, PEOPLE)
    found = []
    for i, row in enumerate(rows):
        owed_to = tuple(range(LENDERS)) if i % 2 == 0 else tuple(sorted(rng.sample(range(LENDERS), 2)))
        found.append(Person(name=row[1], resident_id=row[2], phone=row[3].split(";")[0], zone=zones[i % len(zones)],
                            lenders=owed_to))
    return found


# ---- the database -------------------------------------------------------------------------------------------------

@dataclass
class Agency:
    slug: str
    token: str
    accounts: list[str] = field(default_factory=list)


@dataclass
class Seeded:
    agencies: list[Agency]
    accounts: int
    disputed: int


def seed(url: str, persons: list[Person]) -> Seeded:
    """Lenders import their files, put agencies on their panels and place; agencies accept and get an API token;
    lenders open a dispute on about one account in ten. All through the domain services, as the owner."""
    import io

    from sqlalchemy import select

    from tenants import audit
    from tenants.conduct import service as conduct
    from tenants.context import platform_scope, tenant_scope
    from tenants.db import db
    from tenants.demo_data import csv_bytes
    from tenants.placements import services as placements
    from tenants.placements.models import Placement, PlacementStatus
    from tenants.placements.panel import add_agency
    from tenants.portfolios import imports
    from tenants.portfolios.models import Account
    from tenants.tenancy.models import Tenant
    from tenants.tenancy.tokens import create_token
    from web import create_app
    from workers.connection import connection

    run = uuid.uuid4().hex[:6]
    app = create_app({"SQLALCHEMY_DATABASE_URI": url})
    with app.app_context():
        connection().ping()

        def tenant(kind: str, slug: str, name: str) -> Tenant:
            with platform_scope("contact bench: seeding"):
                row = Tenant(kind=kind, slug=f"{slug}-{run}", name=name, time_zone="Asia/Shanghai",
                             locale="zh_CN", currency="CNY")
                db.session.add(row)
                db.session.flush()
            with tenant_scope(row.id):
                audit.record("tenant.created", object_type="tenant", object_id=row.id, after={"slug": row.slug})
            return row

        lenders = [tenant("lender", f"bench-lender-{n}", f"基准网贷{n}") for n in range(LENDERS)]
        agencies = [tenant("agency", f"bench-agency-{n}", f"基准催收{n}") for n in range(AGENCIES)]
        db.session.commit()
        lender_ids, agency_ids = [t.id for t in lenders], [t.id for t in agencies]
        agency_slugs = [t.slug for t in agencies]
        header = ("external_ref", "debtor_name", "id_number", "phone", "principal", "days_past_due", "time_zone")
        rng = random.Random(SEED)
        disputed = 0
        for n, lender_id in enumerate(lender_ids):
            rows = [(f"L{n}-{i:04d}", p.name, p.resident_id, p.phone, f"{rng.randrange(1000, 50000)}.00",
                     str(rng.randrange(31, 400)), p.zone) for i, p in enumerate(persons) if n in p.lenders]
            with tenant_scope(lender_id):
                lender = db.session.get(Tenant, lender_id)
                for a in PANELS[n]:
                    add_agency(agency_slug=agency_slugs[a], contract_start=datetime(2026, 1, 1).date(),
                               contract_end=None, commission_bps=1500, period_days=90, channels=["call", "sms"])
                portfolio = imports.get_or_create_portfolio("bench")
                job = imports.create_import(portfolio=portfolio, filename="bench.csv", mapping=None, uploaded_by=None,
                                            stream=io.BytesIO(csv_bytes(header, rows, "utf-8")))
                db.session.commit()
                job = imports.run_import(job.id)
                assert job.rows_created == len(rows) and not job.rows_failed, (job.rows_created, job.rows_failed)
                batch = placements.place(lender=lender, selection=placements.Selection(portfolio_id=portfolio.id),
                                         weights={agency_ids[a]: 1 for a in PANELS[n]}, terms={}, created_by=None,
                                         seed=SEED + n, debtors_notified=True)
                batch_id = batch.id
                db.session.commit()
            for a in PANELS[n]:
                with tenant_scope(agency_ids[a]):
                    placements.respond(batch_id, accept=True)
                    db.session.commit()
            with tenant_scope(lender_id):
                account_ids = db.session.scalars(select(Account.id).order_by(Account.external_ref)).all()
                for account_id in account_ids:
                    if rng.random() < DISPUTED_SHARE:
                        conduct.open_hold(account_id, "dispute", reason="The debtor disputes the amount.",
                                          source="api")
                        disputed += 1
                db.session.commit()
        seeded = []
        for agency_id, slug in zip(agency_ids, agency_slugs):
            with tenant_scope(agency_id):
                _, secret = create_token(tenant=db.session.get(Tenant, agency_id), name="bench dialer",
                                         role="agency_collector", created_by=None, creator_role=None)
                held = db.session.scalars(select(Placement.account_id).where(
                    Placement.agency_tenant_id == agency_id, Placement.status == PlacementStatus.ACTIVE)).all()
                db.session.commit()
            seeded.append(Agency(slug=slug, token=secret, accounts=[str(a) for a in held]))
        db.session.remove()
        db.engine.dispose()
    return Seeded(agencies=seeded, accounts=sum(len(a.accounts) for a in seeded), disputed=disputed)


# ---- gunicorn -------------------------------------------------------------------------------------------------------

def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_gunicorn(database_url: str, redis_url: str, log: Path, round_trips: Path) -> tuple[subprocess.Popen, int]:
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if k not in ("MIGRATION_DATABASE_URL", "GUNICORN_ACCESS_LOG")}
    env.update(DATABASE_URL=database_url, REDIS_URL=redis_url, GUNICORN_BIND=f"127.0.0.1:{port}")
    env[statement_counter.ENVIRONMENT_VARIABLE] = str(round_trips)
    server = subprocess.Popen([sys.executable, "-m", "gunicorn", "-c", str(ROOT / "deploy/gunicorn.conf.py"),
                               "web:create_app()"], cwd=ROOT, env=env, stdout=log.open("wb"),
                              stderr=subprocess.STDOUT, start_new_session=True)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise RuntimeError(f"gunicorn exited with {server.returncode}:\n{log.read_text()[-3000:]}")
        try:
            connection = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
            connection.request("GET", "/healthz")
            if connection.getresponse().status == 200:
                connection.close()
                return server, port
        except OSError:
            pass
        time.sleep(0.2)
    stop_gunicorn(server)
    raise RuntimeError(f"gunicorn did not answer /healthz within 60 s:\n{log.read_text()[-3000:]}")


def stop_gunicorn(server: subprocess.Popen) -> None:
    if server.poll() is None:
        server.send_signal(signal.SIGTERM)
        try:
            server.wait(timeout=40)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()


def _cpu_seconds(pids: list[int]) -> dict[int, float]:
    """User + system time of each process and of the children it has reaped: a gunicorn worker that exits during a
    phase (only with GUNICORN_MAX_REQUESTS set) still counts, its whole life over, in its master's figure."""
    found = {}
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        found[pid] = sum(int(f) for f in fields[11:15]) / os.sysconf("SC_CLK_TCK")
    return found


def _server_pids(master: int) -> list[int]:
    pids = [master]
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            if int(stat.read_text().rsplit(")", 1)[1].split()[1]) == master:
                pids.append(int(stat.parent.name))
        except (OSError, ValueError, IndexError):
            continue
    return pids


def _backend_pids(owner_engine, database: str) -> list[int]:
    from sqlalchemy import text

    with owner_engine.connect() as connection:
        return list(connection.execute(text("SELECT pid FROM pg_stat_activity WHERE datname = :name "
                                            "AND pid <> pg_backend_pid()"), {"name": database}).scalars())


def round_trip_counts(folder: Path | None) -> Counter:
    """{(kind, "requests" | "round_trips" | "connects"): total} over every gunicorn process so far, once each process
    has written what it served (the load has stopped)."""
    found = Counter()
    if folder is None:
        return found
    time.sleep(2 * statement_counter.WRITE_EVERY_SECONDS)
    for path in folder.glob("*.json"):
        for kind, counts in json.loads(path.read_text())["by_kind"].items():
            found.update({(kind, name): value for name, value in counts.items()})
    return found


# ---- the clients ----------------------------------------------------------------------------------------------------

class Client:
    """One dialer seat: an agency's token and one http.client connection, used for every phase."""

    def __init__(self, index: int, port: int, agency: Agency):
        self.port, self.agency = port, agency
        self.rng = random.Random(SEED * 1000 + index)
        self.connection = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        self.headers = {"Authorization": f"Bearer {agency.token}"}
        self.json_headers = {**self.headers, "Content-Type": "application/json"}

    def call(self, method: str, path: str, body: dict | None = None) -> tuple[int, bytes, float]:
        """One request and its whole answer on the client's persistent connection; http.client reconnects by itself
        after a `Connection: close`."""
        headers, payload = self.headers, None
        if body is not None:
            headers, payload = self.json_headers, json.dumps(body).encode()
        start = time.perf_counter()
        try:
            self.connection.request(method, path, body=payload, headers=headers)
            response = self.connection.getresponse()
            data = response.read()
        except (OSError, http.client.HTTPException):
            self.connection.close()
            raise
        return response.status, data, time.perf_counter() - start


@dataclass
class Tally:
    latencies: list[float] = field(default_factory=list)
    outcome_latencies: list[float] = field(default_factory=list)
    outcomes: Counter = field(default_factory=Counter)
    unexpected: list[str] = field(default_factory=list)
    finished_at: float = 0.0


def noio_turn(client: Client, tally: Tally) -> None:
    status, data, elapsed = client.call("GET", "/healthz")
    tally.latencies.append(elapsed)
    if status != 200:
        tally.unexpected.append(f"GET /healthz {status} {data[:200]!r}")


def trivial_turn(client: Client, tally: Tally) -> None:
    status, data, elapsed = client.call("GET", "/api/v1/me")
    tally.latencies.append(elapsed)
    if status != 200:
        tally.unexpected.append(f"GET /me {status} {data[:200]!r}")


def attempt_turn(client: Client, tally: Tally) -> None:
    rng = client.rng
    account = rng.choice(client.agency.accounts)
    channel = "sms" if rng.random() < SMS_SHARE else "call"
    status, data, elapsed = client.call("POST", f"/api/v1/accounts/{account}/contact-attempts", {"channel": channel})
    tally.latencies.append(elapsed)
    if status == 422 and json.loads(data)["error"]["code"].startswith("conduct."):
        tally.outcomes[json.loads(data)["error"]["code"]] += 1
        return
    if status != 201:
        tally.unexpected.append(f"POST attempt {status} {data[:300]!r}")
        return
    tally.outcomes[f"allowed {channel}"] += 1
    if channel == "sms":
        outcome = "delivered"
    elif rng.random() < RIGHT_PARTY_SHARE:
        outcome = "dispute_raised" if rng.random() < DISPUTE_PER_RIGHT_PARTY else "right_party_contact"
    else:
        outcome = "no_answer"
    attempt_id = json.loads(data)["attempt"]["id"]
    status, data, elapsed = client.call("POST", f"/api/v1/contact-attempts/{attempt_id}/outcome",
                                        {"outcome_code": outcome})
    tally.outcome_latencies.append(elapsed)
    tally.outcomes[f"outcome {outcome}"] += 1
    if status != 200:
        tally.unexpected.append(f"POST outcome {status} {data[:300]!r}")


@dataclass
class Phase:
    name: str
    requests: int
    http_requests: int  # with the outcome requests
    seconds: float
    latencies: list[float]
    outcome_latencies: list[float]
    outcomes: Counter
    unexpected: list[str]
    cpu_s: dict[str, float]
    round_trips: Counter  # (kind, measure) -> count during the phase, see round_trip_counts
    gunicorn_cpu_s: list[float]  # per process, busiest first: how evenly the connections spread

    @property
    def per_s(self) -> float:
        return self.requests / self.seconds

    @property
    def p50_ms(self) -> float | None:
        return _quantile_ms(self.latencies, 0.5)

    @property
    def p99_ms(self) -> float | None:
        return _quantile_ms(self.latencies, 0.99)

    @property
    def outcome_p50_ms(self) -> float | None:
        return _quantile_ms(self.outcome_latencies, 0.5)

    @property
    def outcome_p99_ms(self) -> float | None:
        return _quantile_ms(self.outcome_latencies, 0.99)

    def cpu_ms_per_request(self, label: str = "gunicorn") -> float:
        return 1000 * self.cpu_s[label] / self.requests if self.requests else 0.0

    def round_trips_per(self, kind: str, measure: str = "round_trips") -> float | None:
        served = self.round_trips[(kind, "requests")]
        return self.round_trips[(kind, measure)] / served if served else None

    def round_trip_lines(self) -> list[str]:
        kinds = sorted({kind for kind, _ in self.round_trips})
        return [f"  {kind}: {self.round_trips[(kind, 'requests')]} requests, "
                f"{self.round_trips_per(kind):.2f} round trips and {self.round_trips_per(kind, 'connects'):.3f} "
                f"new connections each" for kind in kinds if self.round_trips[(kind, "requests")]]

    def summary(self) -> str:
        if not self.requests:
            return f"{self.name}: no request answered in {self.seconds:.1f} s"
        cores = ", ".join(f"{label} {used / self.seconds:.2f}" for label, used in self.cpu_s.items())
        per_request = ", ".join(f"{label} {1000 * used / self.http_requests:.1f} ms"
                                for label, used in self.cpu_s.items() if label != "clients")
        spread = " / ".join(f"{used / self.seconds:.2f}" for used in self.gunicorn_cpu_s
                            if used >= 0.005 * self.seconds)  # the master barely moves
        return (f"{self.name}: {self.requests} in {self.seconds:.1f} s = {self.per_s:.0f}/s, p50 {self.p50_ms:.1f} ms, "
                f"p99 {self.p99_ms:.1f} ms; CPU cores used: {cores} (gunicorn per process: {spread}); "
                f"CPU per HTTP request: {per_request}")


def _quantile_ms(values: list[float], q: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return 1000 * ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def run_phase(name: str, clients: list[Client], turn, seconds: float, processes: dict,
              round_trips: Path | None = None) -> Phase:
    """Every client takes turns until `seconds` have passed. `processes`: {label: () -> pids} whose CPU time the
    phase reports (processes started during the phase count from their start); `round_trips`: the served app's
    round-trip counts, read before and after the phase."""
    trips_before = round_trip_counts(round_trips)
    tallies = [Tally() for _ in clients]
    gate = threading.Barrier(len(clients) + 1)
    window = {}

    def drive(client: Client, tally: Tally) -> None:
        gate.wait()
        while time.perf_counter() < window["end"]:
            try:
                turn(client, tally)
            except (OSError, http.client.HTTPException) as exc:
                tally.unexpected.append(f"{type(exc).__name__}: {exc}")
        tally.finished_at = time.perf_counter()

    threads = [threading.Thread(target=drive, args=pair, daemon=True) for pair in zip(clients, tallies)]
    for thread in threads:
        thread.start()
    cpu_before = {label: _cpu_seconds(pids()) for label, pids in processes.items()}
    client_cpu = resource.getrusage(resource.RUSAGE_SELF)
    start = time.perf_counter()
    window["end"] = start + seconds
    gate.wait()
    for thread in threads:
        thread.join()
    elapsed = max(t.finished_at for t in tallies) - start
    used = resource.getrusage(resource.RUSAGE_SELF)
    cpu_after = {label: _cpu_seconds(pids()) for label, pids in processes.items()}
    by_process = {label: sorted((t - cpu_before[label].get(pid, 0.0) for pid, t in cpu_after[label].items()),
                                reverse=True) for label in processes}
    cpu = {label: sum(used) for label, used in by_process.items()}
    cpu["clients"] = used.ru_utime + used.ru_stime - client_cpu.ru_utime - client_cpu.ru_stime
    trips = round_trip_counts(round_trips)
    trips.subtract(trips_before)
    latencies = [x for t in tallies for x in t.latencies]
    outcome_latencies = [x for t in tallies for x in t.outcome_latencies]
    return Phase(name=name, requests=len(latencies), http_requests=len(latencies) + len(outcome_latencies),
                 seconds=elapsed, latencies=latencies, outcome_latencies=outcome_latencies,
                 outcomes=sum((t.outcomes for t in tallies), Counter()),
                 unexpected=[u for t in tallies for u in t.unexpected], cpu_s=cpu, round_trips=+trips,
                 gunicorn_cpu_s=by_process.get("gunicorn", []))


def run_interleaved(kinds: list[tuple[str, object]], clients: list[Client], seconds: float, rounds: int,
                    processes: dict, round_trips: Path | None) -> list[Phase]:
    """Each kind's `seconds` in `rounds` slices taken in turn (the order rotated each round), summed per kind: a
    machine whose speed drifts during the run (a shared host, frequency scaling) slows every kind alike, so the
    ratios between them hold where back-to-back phases of 20 s each measured the drift too."""
    slices: dict[str, list[Phase]] = {name: [] for name, _ in kinds}
    for r in range(rounds):
        for name, turn in kinds[r % len(kinds):] + kinds[:r % len(kinds)]:
            slices[name].append(run_phase(name, clients, turn, seconds / rounds, processes, round_trips))
    return [_summed(parts) for parts in slices.values()]


def _summed(parts: list[Phase]) -> Phase:
    cpu = Counter()
    for part in parts:
        cpu.update(part.cpu_s)
    widest = max(len(part.gunicorn_cpu_s) for part in parts)
    return Phase(name=parts[0].name, requests=sum(p.requests for p in parts),
                 http_requests=sum(p.http_requests for p in parts), seconds=sum(p.seconds for p in parts),
                 latencies=[x for p in parts for x in p.latencies],
                 outcome_latencies=[x for p in parts for x in p.outcome_latencies],
                 outcomes=sum((p.outcomes for p in parts), Counter()),
                 unexpected=[u for p in parts for u in p.unexpected], cpu_s=dict(cpu),
                 round_trips=sum((p.round_trips for p in parts), Counter()),
                 gunicorn_cpu_s=[sum(p.gunicorn_cpu_s[i] for p in parts if i < len(p.gunicorn_cpu_s))
                                 for i in range(widest)])


# ---- breaches -------------------------------------------------------------------------------------------------------

ALLOWED = """
    SELECT ca.id, ca.account_id, ca.channel, ca.target, ca.number_key, ca.status, ca.decided_at,
           coalesce(ca.connected, false) AS connected, a.subject_key, a.time_zones->>0 AS zone,
           (ca.decided_at AT TIME ZONE (a.time_zones->>0)) AS local_at
    FROM contact_attempts ca JOIN accounts a ON a.id = ca.account_id
    WHERE ca.direction = 'outbound' AND ca.status IN ('pending', 'completed')
"""
BREACHES = {
    "CN.CALLS.CONNECTED (connected calls beyond 3 per person per local day)": f"""
        SELECT coalesce(sum(n - {CONNECTED_PER_PERSON_DAY}), 0) FROM (
            SELECT count(*) AS n FROM allowed
            WHERE channel = 'call' AND target = 'debtor' AND (connected OR status = 'pending')
            GROUP BY subject_key, local_at::date) per_day WHERE n > {CONNECTED_PER_PERSON_DAY}""",
    "CN.CALLS.ATTEMPTS (unanswered calls beyond 6 per number per local day)": f"""
        SELECT coalesce(sum(n - {UNANSWERED_PER_NUMBER_DAY}), 0) FROM (
            SELECT count(*) AS n FROM allowed
            WHERE channel = 'call' AND (NOT connected OR status = 'pending')
            GROUP BY number_key, local_at::date) per_day WHERE n > {UNANSWERED_PER_NUMBER_DAY}""",
    "CN.HOURS (allowed 22:00-08:00 debtor-local)": f"""
        SELECT count(*) FROM allowed
        WHERE NOT (local_at::time >= '{HOURS[0]}' AND local_at::time < '{HOURS[1]}')""",
    "dispute hold (allowed while a dispute was open on the account)": """
        SELECT count(*) FROM allowed al WHERE EXISTS (
            SELECT 1 FROM holds h WHERE h.account_id = al.account_id AND h.type = 'dispute'
            AND h.starts_at <= al.decided_at AND (h.ends_at IS NULL OR h.ends_at > al.decided_at)
            AND (h.resolved_at IS NULL OR h.resolved_at > al.decided_at))""",
}


def count_breaches(owner_engine) -> tuple[dict[str, int], dict[str, int]]:
    from sqlalchemy import text

    with owner_engine.connect() as connection:
        found = {rule: connection.execute(text(f"WITH allowed AS ({ALLOWED}) {sql}")).scalar_one()
                 for rule, sql in BREACHES.items()}
        facts = connection.execute(text(f"""
            WITH allowed AS ({ALLOWED})
            SELECT (SELECT count(*) FROM allowed) AS allowed,
                   (SELECT count(*) FROM conduct_ledger) AS ledger_entries,
                   (SELECT count(*) FROM contact_attempts WHERE status = 'blocked') AS blocked,
                   (SELECT count(*) FROM allowed WHERE status = 'pending') AS still_pending,
                   (SELECT count(*) FROM (SELECT subject_key FROM accounts GROUP BY subject_key
                                          HAVING count(DISTINCT time_zones::text) > 1) z) AS people_with_two_zones,
                   (SELECT count(*) FROM holds WHERE type = 'dispute') AS disputes
        """)).one()._asdict()
        connection.rollback()
    return found, facts


# ---- the run ---------------------------------------------------------------------------------------------------------

def bench_redis_url() -> tuple[str, object]:
    """REDIS_URL's server with the bench's own database number, else an embedded redis-server."""
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


def main() -> int:
    from sqlalchemy import create_engine

    urls = database_urls()
    if urls is None:
        print(HOW_TO_RUN, file=sys.stderr)
        shutil.rmtree(_tmp, ignore_errors=True)
        return 2
    app_url, owner = urls
    redis_url, redis_handle = bench_redis_url()
    flush_redis = hasattr(redis_handle, "dbsize") and redis_handle.dbsize() == 0
    os.environ["REDIS_URL"] = redis_url

    now = datetime.now(timezone.utc)
    zones = daytime_zones(now, timedelta(minutes=10) + timedelta(seconds=3 * (SECONDS + SOLO_SECONDS) + WARMUP_SECONDS))
    if not zones:
        raise RuntimeError(f"no candidate zone is in daytime at {now:%H:%M} UTC: add one to ZONES")
    persons = people(zones)
    print(f"debtor zones (daytime now): {', '.join(f'{z} {now.astimezone(ZoneInfo(z)):%H:%M}' for z in zones)}",
          flush=True)

    try:
        with temporary_database("contact", owner, app_url) as (bench_owner_url, bench_app_url):
            name = bench_owner_url.database
            owner_engine = create_engine(bench_owner_url)
            server = None
            try:
                started = time.perf_counter()
                served_as = prepare(bench_owner_url, bench_app_url)
                probe = create_engine(served_as)
                with probe.connect() as connection:
                    role = serving_role(connection)
                probe.dispose()  # else its pooled connection, not the owner's, would stop the final DROP DATABASE
                seeded = seed(bench_owner_url.render_as_string(hide_password=False), persons)
                print(f"temporary database {name}: migrated and seeded in {time.perf_counter() - started:.1f} s; "
                      f"{len(persons)} people, {seeded.accounts} placed accounts ({seeded.disputed} disputed) "
                      f"of {LENDERS} lenders with {AGENCIES} agencies; served as {role.current_user} "
                      f"(superuser={role.rolsuper}, bypassrls={role.rolbypassrls})", flush=True)

                log, counted = _tmp / "gunicorn.log", _tmp / "round_trips"
                server, port = start_gunicorn(served_as.render_as_string(hide_password=False), redis_url, log,
                                              counted)
                processes = {"gunicorn": lambda: _server_pids(server.pid),
                             "PostgreSQL": lambda: _backend_pids(owner_engine, name)}
                print(f"gunicorn -c deploy/gunicorn.conf.py: {len(_server_pids(server.pid)) - 1} workers, "
                      f"RECOVERLY_ENV=production; {CLIENTS} clients over {AGENCIES} agencies; load average before: "
                      f"{os.getloadavg()[0]:.1f} (other processes on this machine share its {os.cpu_count()} cores)",
                      flush=True)
                clients = [Client(i, port, seeded.agencies[i % AGENCIES]) for i in range(CLIENTS)]
                run_phase("warm-up /healthz", clients, noio_turn, WARMUP_SECONDS / 3, {})
                run_phase("warm-up /me", clients, trivial_turn, WARMUP_SECONDS / 3, {})
                run_phase("warm-up attempts", clients, attempt_turn, WARMUP_SECONDS / 3, {})
                alone = [run_phase(f"one client, {what}", clients[:1], turn, SOLO_SECONDS, {})
                         for what, turn in (("GET /healthz", noio_turn), ("GET /api/v1/me", trivial_turn),
                                            ("contact attempts", attempt_turn))]
                noio, trivial, attempts = run_interleaved(
                    [("GET /healthz (no I/O)", noio_turn), ("GET /api/v1/me", trivial_turn),
                     ("contact attempts", attempt_turn)], clients, SECONDS, ROUNDS, processes, counted)
                for client in clients:
                    client.connection.close()
                stop_gunicorn(server)
                server = None
                print("service time (one client at a time): " + "; ".join(
                    f"{phase.name.removeprefix('one client, ')} p50 {phase.p50_ms or 0:.1f} ms, "
                    f"p99 {phase.p99_ms or 0:.1f} ms"
                    for phase in alone))
                for phase in (noio, trivial, attempts):
                    print(phase.summary(), flush=True)
                outcomes = sum(v for k, v in attempts.outcomes.items() if k.startswith("outcome"))
                print(f"outcome requests beside the attempts: {outcomes}, p50 {attempts.outcome_p50_ms or 0:.1f} ms, "
                      f"p99 {attempts.outcome_p99_ms or 0:.1f} ms; load average after: {os.getloadavg()[0]:.1f}")
                print("attempt answers: " + ", ".join(f"{k} {v}" for k, v in sorted(attempts.outcomes.items())))
                print(f"gunicorn CPU per attempt request: {attempts.cpu_ms_per_request():.1f} ms (with the "
                      f"{outcomes / max(1, attempts.requests):.2f} outcome requests that follow each); "
                      f"per /me {trivial.cpu_ms_per_request():.2f} ms, per /healthz {noio.cpu_ms_per_request():.2f} ms")
                print("round trips to PostgreSQL per request, counted by the served app (attempts phase):")
                print("\n".join(attempts.round_trip_lines() + ["  GET /me phase:"] + trivial.round_trip_lines()
                                 + ["  GET /healthz phase:"] + noio.round_trip_lines()))
                unexpected = [u for phase in (*alone, noio, trivial, attempts) for u in phase.unexpected]
                if unexpected:
                    print(f"UNEXPECTED ANSWERS: {len(unexpected)}, e.g.:\n  " + "\n  ".join(unexpected[:5]))
                if not (noio.requests and trivial.requests and attempts.requests):
                    raise RuntimeError(f"a phase answered nothing; gunicorn's log:\n{log.read_text()[-3000:]}")

                found, facts = count_breaches(owner_engine)
                print("after the run, by SQL over every attempt (warm-up included): " +
                      ", ".join(f"{k} {v}" for k, v in facts.items()))
                for rule, count in found.items():
                    print(f"  breaches of {rule}: {count}")
                if facts["allowed"] != facts["ledger_entries"]:
                    print(f"  the ledger holds {facts['ledger_entries']} entries for {facts['allowed']} "
                          "allowed attempts")
            finally:
                if server is not None:
                    stop_gunicorn(server)
                owner_engine.dispose()
    finally:
        if flush_redis:
            redis_handle.flushdb()
        elif hasattr(redis_handle, "stop"):
            redis_handle.stop()
        shutil.rmtree(_tmp, ignore_errors=True)

    breaches = sum(found.values())
    ratio = attempts.per_s / trivial.per_s
    round_trips = attempts.round_trips_per(ALLOWED_ATTEMPT)
    print(f"RESULT attempts_per_s={attempts.per_s:.0f} attempt_p50_ms={attempts.p50_ms:.1f} "
          f"attempt_p99_ms={attempts.p99_ms:.1f} trivial_per_s={trivial.per_s:.0f} trivial_p50_ms={trivial.p50_ms:.1f} "
          f"trivial_p99_ms={trivial.p99_ms:.1f} ratio={ratio:.2f} breaches={breaches} clients={CLIENTS} "
          f"round_trips_per_attempt={'-' if round_trips is None else f'{round_trips:.1f}'} "
          f"cpu_ms_per_attempt={attempts.cpu_ms_per_request():.1f} noio_per_s={noio.per_s:.0f} "
          f"noio_ratio={attempts.per_s / noio.per_s:.3f}")
    return 1 if breaches or unexpected else 0


if __name__ == "__main__":
    sys.exit(main())
