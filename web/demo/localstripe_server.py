"""localstripe, the Stripe stand-in, bound to loopback only (its own entry point listens on every interface).

`python -m web.demo.localstripe_server --port N [--state FILE]` serves it; `running(log_path)` starts an empty one on
a free port for the tests and the billing benchmark and stops it afterwards.
"""
import argparse
import logging
import pickle
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
    from localstripe.server import app

    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, default=8420)
    parser.add_argument("--state", type=Path, help="keep the stand-in's data in this file across restarts (the "
                                                       "demo, whose database remembers the Stripe ids); without it, "
                                                       "start empty and keep nothing")
    args = parser.parse_args()
    _keep_state_in(args.state)
    logging.getLogger("aiohttp.access").setLevel(logging.WARNING)
    web.run_app(app, host="127.0.0.1", port=args.port, print=None)


def _keep_state_in(path: Path | None) -> None:
    """localstripe pickles its whole store to one fixed file in /tmp on every write, shared by every instance on
    the machine: ours either keep theirs in a file of their own or keep nothing (which also spares the tests and
    the billing benchmark a rewrite of the file per call)."""
    from localstripe.resources import store

    store.clear()  # never resume the shared file's state
    if path is None:
        store.dump_to_disk = lambda: None
        return
    try:
        with open(path, "rb") as kept:
            store.update(pickle.load(kept))
    except FileNotFoundError:
        pass
    except (EOFError, pickle.UnpicklingError):
        logging.warning("localstripe: %s is unreadable; starting empty", path)

    def dump() -> None:
        partial = path.with_suffix(".partial")
        with open(partial, "wb") as kept:
            pickle.dump(dict(store), kept, protocol=pickle.HIGHEST_PROTOCOL)
        partial.replace(path)  # a crash mid-write leaves the previous state, never half of one

    store.dump_to_disk = dump


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
