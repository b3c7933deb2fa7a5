"""GET /healthz: the process is up and its web stack answers. A load balancer's probe and the contact bench's no-I/O
baseline (the floor of a request through gunicorn, Flask and the app's hooks).

It touches neither PostgreSQL nor Redis, so a database or Redis outage never takes the nodes out of the balancer
(the requests that need them answer their own errors), needs no token or session, sets no cookie, names no
version or host, and counts against no rate limit: a probe every second from each balancer must never use up a
client's allowance.
"""
from flask import Blueprint

from web.extensions import limiter

bp = Blueprint("health", __name__)


@bp.route("/healthz")
@limiter.exempt
def healthz():
    return {"status": "ok"}
