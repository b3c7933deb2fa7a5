# syntax=docker/dockerfile:1
#
# Recoverly: one image, three roles (see deploy/docker-entrypoint.sh and README "Deploying at scale"):
#
#   docker run IMAGE web       gunicorn on :8000 (default), deploy/gunicorn.conf.py: one gthread process per core
#                              the container may use (WEB_CONCURRENCY), 4 threads each (GUNICORN_THREADS),
#                              keep-alive off (the proxy in front holds the clients' connections and TLS). Give
#                              it --cpus/cpuset: the process count follows them.
#   docker run IMAGE worker    rq worker + scheduler on WORKER_QUEUES (default "default imports billing"); one
#                              process per container, so scale a queue by running more containers of it
#                              (`worker imports`: one per core of an import machine; `worker billing`: one).
#                              The worker supervises its work horse: the horse dies with it (PR_SET_PDEATHSIG),
#                              so `docker kill` or a lost machine never leaves a job running; `docker stop`
#                              lets the current job finish (give it --stop-timeout as long as your jobs).
#   docker run IMAGE migrate   flask db upgrade (run as the *owner* role, straight to PostgreSQL, not through
#                              PgBouncer: DATABASE_URL / MIGRATION_DATABASE_URL must point at recoverly_owner;
#                              the web/worker containers connect as recoverly_app, through PgBouncer)
#   docker run IMAGE <cmd...>  anything else is executed as-is (flask shell, bash)
#
# No HEALTHCHECK is baked in because the same image also runs the worker and the migrate job. For the web
# service, point liveness at GET /healthz: it touches neither PostgreSQL nor Redis, needs no token and counts
# against no rate limit; route traffic by GET /readyz (PostgreSQL, Redis, migrations at head). E.g. docker compose:
#
#   healthcheck:
#     test: ["CMD", "python", "-c", "import urllib.request,sys; sys.exit(0 if urllib.request.urlopen('http://127.0.0.1:8000/healthz', timeout=5).status == 200 else 1)"]
#     interval: 30s
#     timeout: 10s
#     retries: 3

# The interpreter requirements/runtime.lock is resolved for (see `make lock`).
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_CACHE_DIR=1 \
    FLASK_APP=web \
    RECOVERLY_ENV=production

# libpq5: runtime library for psycopg when no binary wheel is used.
RUN apt-get update \
    && apt-get install -y --no-install-recommends libpq5 \
    && rm -rf /var/lib/apt/lists/* \
    && groupadd --system recoverly \
    && useradd --system --gid recoverly --home-dir /app --shell /usr/sbin/nologin recoverly

WORKDIR /app

# Runtime dependencies only (no demo stand-ins, no test tools), pinned and hash-checked, in their own layer so a
# code change does not reinstall them.
COPY requirements/runtime.lock /app/requirements/runtime.lock
RUN pip install --no-cache-dir --require-hashes -r requirements/runtime.lock

COPY . /app

# Editable: the app finds migrations/ and instance/ beside its source in /app. --no-deps: everything it needs
# came from the lock above.
RUN pip install --no-cache-dir --no-deps -e . \
    && if find web/translations -name '*.po' -print -quit 2>/dev/null | grep -q .; then \
           pybabel compile -d web/translations; \
       else \
           echo "no translations to compile"; \
       fi \
    && install -m 0755 deploy/docker-entrypoint.sh /usr/local/bin/docker-entrypoint \
    && mkdir -p /app/instance \
    && chown recoverly:recoverly /app/instance

USER recoverly

EXPOSE 8000

ENTRYPOINT ["docker-entrypoint"]
CMD ["web"]
