"""Gunicorn settings for a Recoverly web node: `gunicorn -c deploy/gunicorn.conf.py 'web:create_app()'`.

Processes and threads. One process per core, each with a few threads (gthread): a request spends part of its time
waiting on PostgreSQL (the conduct ledger's per-person lock, the audit chain's per-tenant lock, commits), and the
other threads keep the core busy meanwhile; more processes than cores only trade the GIL for context switches.
Each thread holds at most one database connection at a time, so a node needs WEB_CONCURRENCY × GUNICORN_THREADS
connections (to PgBouncer, see README "Deploying at scale"); keep the app's pool at least GUNICORN_THREADS.

Keep-alive stays off here, and belongs to the proxy in front. Measured with bench/contact_bench.py (2 processes ×
4 threads, 16 persistent client connections, BENCH_SECONDS=10, on a 2-core machine other work shared): with
GUNICORN_KEEPALIVE=5 the process that wakes first accepts the whole burst of connections and keeps them for good,
so GET /api/v1/me ran on one process (0.65 of a core against 0.06) and the contact attempts on one alone (0.56
against 0); with keep-alive off each request's connection goes to whichever process accepts it first (/me 0.36 /
0.34, attempts 0.33 / 0.33, /healthz 0.46 / 0.43). On that busy machine the rates differed little (/me 323–359/s
with keep-alive, 365–463/s without) because other processes held the second core anyway; on a quiet node the
one busy process leaves the other cores idle. What keep-alive would save is the TCP handshake: /healthz cost
gunicorn 0.39–0.40 ms CPU with it and 0.42–0.46 ms without, under 0.1 ms beside /me's 2 ms and an attempt's
7–12 ms. So the proxy (nginx, the load balancer) holds the clients' keep-alive connections and TLS and opens one
short connection per request to gunicorn on the same host or network; a node without a proxy still serves every
request, one connection each.

Environment: WEB_CONCURRENCY (processes, default: the cores the container may use), GUNICORN_THREADS (per
process, default 4), GUNICORN_BIND (default 0.0.0.0:8000), GUNICORN_KEEPALIVE (seconds, default 0: off; for
measuring the above), GUNICORN_MAX_REQUESTS (default 0: processes are not recycled, see below), GUNICORN_ACCESS_LOG
(a path, or `-` for stdout; default none: the load balancer logs).
"""
import math
import os
from pathlib import Path


def cores() -> int:
    """The cores this container may use: its CPU set, capped by a cgroup v2 quota (`docker run --cpus 2` on a
    16-core host is 2, where os.cpu_count() says 16)."""
    usable = len(os.sched_getaffinity(0))
    try:
        quota, period = Path("/sys/fs/cgroup/cpu.max").read_text().split()
    except (OSError, ValueError):
        return usable
    return usable if quota == "max" else max(1, min(usable, math.ceil(int(quota) / int(period))))


bind = os.environ.get("GUNICORN_BIND", "0.0.0.0:8000")
workers = int(os.environ.get("WEB_CONCURRENCY") or cores())
worker_class = "gthread"
threads = int(os.environ.get("GUNICORN_THREADS") or 4)
keepalive = int(os.environ.get("GUNICORN_KEEPALIVE") or 0)
timeout = 60
graceful_timeout = 30
# No recycling of processes after N requests: a gthread process that recycles resets connections it has accepted
# but not answered (16 clients on /healthz: 5 resets in 1,907 requests with --max-requests 300, none in 22,987
# without; the contact bench met one at the default 20,000), and a reset POST is an error the client must retry.
# Memory is watched instead, and a rolling deploy restarts the processes. GUNICORN_MAX_REQUESTS turns it back on.
max_requests = int(os.environ.get("GUNICORN_MAX_REQUESTS") or 0)
max_requests_jitter = max_requests // 10
accesslog = os.environ.get("GUNICORN_ACCESS_LOG") or None
errorlog = "-"
