"""Gunicorn settings for a Recoverly web node: `gunicorn -c deploy/gunicorn.conf.py 'web:create_app()'`.

One process per core, each with a few threads (gthread): a request spends part of its time waiting on PostgreSQL
(the conduct ledger's per-person lock, the audit chain's per-tenant lock, commits), and the other threads keep
the core busy meanwhile; more processes than cores only trade the GIL for context switches.

No keep-alive: each response closes its connection, so requests spread over the processes as they arrive.
With keep-alive, a process accepts every connection of a burst it wakes up to and keeps them for good: in
bench/contact_bench.py all 16 clients ended up on one of the two processes, which then served everything on one
core (the throughput of a trivial API request and of a contact attempt both roughly halved). Behind a load
balancer the cost is one TCP handshake per request inside the data centre; without one, put a proxy in front
that holds the client connections.

Environment: WEB_CONCURRENCY (processes, default: the cores), GUNICORN_THREADS (per process, default 4),
GUNICORN_BIND (default 0.0.0.0:8000), GUNICORN_ACCESS_LOG (a path, or `-` for stdout; default none: the load
balancer logs requests).
"""
import multiprocessing
import os

bind = os.environ.get("GUNICORN_BIND", "0.0.0.0:8000")
workers = int(os.environ.get("WEB_CONCURRENCY") or multiprocessing.cpu_count())
worker_class = "gthread"
threads = int(os.environ.get("GUNICORN_THREADS") or 4)
keepalive = 0
timeout = 60
graceful_timeout = 30
# Recycle a process now and then, staggered, so a slow leak in any library never needs a restart of the node.
max_requests = 20_000
max_requests_jitter = 2_000
accesslog = os.environ.get("GUNICORN_ACCESS_LOG") or None
errorlog = "-"
