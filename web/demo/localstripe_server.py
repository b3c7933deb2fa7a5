"""localstripe, the Stripe stand-in, bound to loopback only (its own entry point listens on every interface).

`python -m web.demo.localstripe_server --port N` serves it; `running(log_path)` starts one on a free port for the
tests and the billing benchmark and stops it afterwards.
"""
import argparse
import logging
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from contextlib import contextmanager
from pathlib import Path


def main() -> None:
    from aiohttp import web
    from localstripe.resources import store
    from localstripe.server import app

    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, default=8420)
    args = parser.parse_args()
    store.clear()  # --from-scratch: never resume another run's pickled state
    logging.getLogger("aiohttp.access").setLevel(logging.WARNING)
    web.run_app(app, host="127.0.0.1", port=args.port, print=None)


@contextmanager
def running(log_path: Path, timeout: float = 30):
    """A fresh localstripe on a free loopback port; yields its base URL."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    url = f"http://127.0.0.1:{port}"
    with open(log_path, "wb") as log:
        process = subprocess.Popen([sys.executable, "-m", "web.demo.localstripe_server", "--port", str(port)],
                                   stdout=log, stderr=subprocess.STDOUT)
        try:
            _wait_until_it_answers(url, process, log_path, timeout)
            yield url
        finally:
            if process.poll() is not None:  # it died under its user: say how
                log.flush()
                print(f"localstripe exited early with status {process.returncode}; its log ends:\n"
                      + log_path.read_text(errors="replace")[-3000:], file=sys.stderr, flush=True)
            process.terminate()
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def _wait_until_it_answers(url: str, process: subprocess.Popen, log_path: Path, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            urllib.request.urlopen(f"{url}/v1/customers", timeout=1)
            return
        except urllib.error.HTTPError:
            return  # it answers (401 without a key)
        except OSError:
            if time.monotonic() > deadline or process.poll() is not None:
                raise RuntimeError(f"localstripe did not start; see {log_path}") from None
            time.sleep(0.2)


if __name__ == "__main__":
    main()
