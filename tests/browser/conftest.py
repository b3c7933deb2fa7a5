"""A live server on loopback and Debian's Chromium driven by Playwright (never a downloaded browser)."""
import os
import shutil
import threading
from datetime import datetime, timezone

import pytest
from werkzeug.serving import make_server

from tenants import clock

# Ten in the morning in Shanghai: every channel open for a Chinese debtor.
SHANGHAI_10AM = datetime(2026, 12, 1, 2, 0, tzinfo=timezone.utc)

CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                  "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-quic"]


def _chromium_path() -> str:
    path = os.environ.get("CHROMIUM_PATH") or shutil.which("chromium") or "/usr/bin/chromium"
    if not os.path.exists(path):
        pytest.skip("Debian's chromium is not installed (apt-get install chromium)")
    return path


@pytest.fixture
def live_server(app):
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://localhost:{server.server_port}"
    server.shutdown()
    thread.join(timeout=5)


@pytest.fixture
def browser():
    from playwright.sync_api import sync_playwright

    executable = _chromium_path()
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=executable, args=CHROMIUM_FLAGS)
        yield launched
        launched.close()


@pytest.fixture
def pinned_clock():
    """The live server runs in a thread of this process: the pinned clock applies to it too."""
    previous = clock.use(clock.FrozenClock(SHANGHAI_10AM))
    try:
        yield
    finally:
        clock.use(previous)
