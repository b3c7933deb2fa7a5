"""Run the demo: migrate, seed, then an embedded Redis, localstripe, an rq worker and the web app.

Ctrl-C stops everything. Nothing here is used in production, where each piece runs on its own
(see README: gunicorn web nodes, rq workers, PostgreSQL, Redis).
"""
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request

os.environ.setdefault("RECOVERLY_ENV", "development")  # the demo's keys are derived, its webhook secret public
os.environ.setdefault("TELEPHONY_GATEWAY", "standin")  # click-to-call "answers" without a phone system
# 金信's webhooks go to the receiver stand-in on loopback (refused outside development: web/config.py).
os.environ.setdefault("RECOVERLY_WEBHOOKS_ALLOW_PRIVATE_URLS", "1")

from tenants.webhooks.demo import DEMO_RECEIVER_PORT as WEBHOOK_RECEIVER_PORT  # noqa: E402
from web import create_app  # noqa: E402
from web.config import INSTANCE  # noqa: E402
from web.demo import billing  # noqa: E402
from workers.embedded import EmbeddedRedis  # noqa: E402

HOST, PORT, STRIPE_PORT = "127.0.0.1", 5000, 8420
STRIPE_BASE = f"http://{HOST}:{STRIPE_PORT}"
DEMO_WEBHOOK_SECRET = "whsec_recoverly_demo"


def prepare():
    from flask_migrate import upgrade

    from tenants import demo_data

    app = create_app()
    with app.app_context():
        upgrade()
        return app, demo_data.seed()


def wait_http(url: str, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            urllib.request.urlopen(url, timeout=2)
            return
        except urllib.error.HTTPError:
            return  # it answers
        except Exception:
            time.sleep(0.3)
    raise RuntimeError(f"{url} did not answer within {timeout:.0f}s")


def stripe_settings() -> dict:
    """localstripe on loopback, unless STRIPE_API_KEY holds a Stripe test-mode key: then the demo bills in Stripe's
    test mode (webhooks reach it through `stripe listen --forward-to localhost:5000/billing/stripe/webhook`, whose
    signing secret goes in STRIPE_WEBHOOK_SECRET). A live key is refused: the demo's cases are not real."""
    key = os.environ.get("STRIPE_API_KEY", "")
    if key.startswith(("sk_live_", "rk_live_")):
        raise SystemExit("make demo refuses a live Stripe key; use a test-mode key (sk_test_…) or none")
    if key.startswith(("sk_test_", "rk_test_")) and key != "sk_test_localstripe":
        return {"STRIPE_API_KEY": key}
    return {"STRIPE_API_BASE": STRIPE_BASE, "STRIPE_API_KEY": "sk_test_localstripe",
            "STRIPE_WEBHOOK_SECRET": DEMO_WEBHOOK_SECRET}


def main() -> int:
    stripe_env = stripe_settings()
    INSTANCE.mkdir(parents=True, exist_ok=True)
    redis_server = EmbeddedRedis(INSTANCE / "redis").start()
    os.environ.update(REDIS_URL=redis_server.url, **stripe_env)
    env = dict(os.environ, FLASK_APP="web")
    standin = "STRIPE_API_BASE" in stripe_env
    children: list[subprocess.Popen] = []

    def stop(*_args):
        for child in reversed(children):
            if child.poll() is None:
                child.terminate()
        for child in reversed(children):
            try:
                child.wait(timeout=10)
            except subprocess.TimeoutExpired:
                child.kill()
        redis_server.stop()
        print("\nRecoverly demo stopped.", flush=True)
        sys.exit(0)

    signal.signal(signal.SIGINT, stop)
    signal.signal(signal.SIGTERM, stop)
    try:
        app, credentials = prepare()
        python = sys.executable
        if standin:
            children.append(subprocess.Popen([python, "-m", "web.demo.localstripe_server", "--port",
                                              str(STRIPE_PORT), "--state", str(INSTANCE / "localstripe.pickle")],
                                             env=env))
        children.append(subprocess.Popen([python, "-m", "web.demo.webhook_receiver", "--port",
                                          str(WEBHOOK_RECEIVER_PORT)], env=env))
        children.append(subprocess.Popen([python, "-m", "flask", "run", "--host", HOST, "--port", str(PORT),
                                          "--no-reload", "--with-threads"], env=env))
        wait_http(f"http://{HOST}:{PORT}/healthz", 60)
        if standin:
            wait_http(f"{STRIPE_BASE}/v1/customers", 30)
            billing.register_webhook(STRIPE_BASE, f"http://{HOST}:{PORT}", DEMO_WEBHOOK_SECRET)
        # Billed before the worker starts, so the two do not queue on SQLite's single write lock.
        for slug, run in billing.run(app).items():
            print(f"billing {slug} failed: {run['error']}" if "error" in run else
                  f"billed {slug}: {run['cases_billed']} case(s), invoices {run['periods_invoiced']}", flush=True)
        children.append(subprocess.Popen([python, "-m", "flask", "worker", "--with-scheduler"], env=env))
    except Exception as exc:
        print(f"demo failed to start: {exc}", file=sys.stderr, flush=True)
        stop()
    print(f"\nRecoverly is running at http://{HOST}:{PORT}/  (Ctrl-C stops it)\n", flush=True)
    print(f"金信's webhooks arrive at the receiver stand-in: http://{HOST}:{WEBHOOK_RECEIVER_PORT}/ "
          "(deliveries: Settings › Webhooks)", flush=True)
    print("Demo logins — password for every one: demo-password-1", flush=True)
    for c in credentials:
        where = "/admin/" if c.role == "platform_admin" else f"/t/{c.tenant}/"
        print(f"  {c.role:<18} {c.email:<30} {where}", flush=True)
    while True:
        for child in children:
            if child.poll() is not None:
                print(f"a demo process exited ({' '.join(child.args[1:4])}); stopping", file=sys.stderr, flush=True)
                stop()
        time.sleep(1)


if __name__ == "__main__":
    sys.exit(main())
