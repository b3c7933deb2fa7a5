#!/usr/bin/env bash
# Container entry point for the Recoverly image (see Dockerfile).
#
#   web      gunicorn on 0.0.0.0:8000 (deploy/gunicorn.conf.py: $WEB_CONCURRENCY
#            processes, default the container's cores, × $GUNICORN_THREADS)
#   worker   background worker with scheduler; queues from $WORKER_QUEUES
#            (default: "default imports billing"). exec'd, so the worker is the
#            container's main process and its work horse dies with it.
#   migrate  flask db upgrade
#   other    executed as-is, e.g. `flask --app web shell` or `bash`
#
# Extra arguments after web/worker/migrate are passed on to the command.
set -euo pipefail

cmd=${1:-web}
[[ $# -gt 0 ]] && shift

case "$cmd" in
    web)
        # deploy/gunicorn.conf.py: one process per core (WEB_CONCURRENCY), gthread, keep-alive off.
        exec gunicorn -c /app/deploy/gunicorn.conf.py --access-logfile - "$@" 'web:create_app()'
        ;;
    worker)
        read -r -a queues <<<"${WORKER_QUEUES:-default imports billing}"
        exec flask --app web worker --with-scheduler "$@" "${queues[@]}"
        ;;
    migrate)
        exec flask --app web db upgrade "$@"
        ;;
    *)
        exec "$cmd" "$@"
        ;;
esac
