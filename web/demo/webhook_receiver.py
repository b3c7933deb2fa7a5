"""A lender's system, stood in for: a real HTTP server on loopback that receives Recoverly's webhooks.

For the demo (`make demo` starts it on 127.0.0.1:8430; 金信's endpoint points at it) and the tests. It answers 200
to every POST unless told otherwise, keeps what it received (method, path, headers, body) and, given a secret
for a path, verifies the signature like a receiver should (tenants.webhooks.signing.verify). `GET /` lists what
arrived, newest first, as JSON.
"""
import argparse
import json
import threading
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from tenants.webhooks import signing

HOST = "127.0.0.1"


@dataclass
class Received:
    path: str
    headers: dict
    body: bytes
    verified: bool | None  # None: no secret known for the path

    @property
    def json(self) -> dict:
        return json.loads(self.body)


@dataclass
class Receiver:
    server: ThreadingHTTPServer
    received: list = field(default_factory=list)
    secrets: dict = field(default_factory=dict)  # path → secret
    # Answers to give, in order, before answering 200 again: (status, body); a status of 3xx is sent with a
    # Location header (which must not be followed).
    script: list = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def url(self) -> str:
        return f"http://{HOST}:{self.server.server_address[1]}"

    def fail_next(self, times: int, status: int = 500, body: str = "temporarily unavailable") -> None:
        with self.lock:
            self.script.extend([(status, body)] * times)

    def bodies(self) -> list[dict]:
        with self.lock:
            return [r.json for r in self.received]


def _handler(receiver: Receiver):
    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):  # noqa: N802 - http.server's naming
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            secret = receiver.secrets.get(self.path)
            verified = (signing.verify(self.headers.get(signing.HEADER, ""), body, secret)
                        if secret is not None else None)
            with receiver.lock:
                status, answer = receiver.script.pop(0) if receiver.script else (200, "ok")
                if 200 <= status < 300:
                    receiver.received.append(Received(self.path, dict(self.headers), body, verified))
            self.send_response(status)
            if 300 <= status < 400:
                self.send_header("Location", "http://169.254.169.254/latest/meta-data/")
            payload = answer.encode()
            self.send_header("Content-Type", "text/plain; charset=utf-8")
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        def do_GET(self):  # noqa: N802
            with receiver.lock:
                listing = [{"path": r.path, "event": r.json, "verified": r.verified}
                           for r in reversed(receiver.received[-200:])]
            payload = json.dumps(listing, ensure_ascii=False, indent=1).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json; charset=utf-8")
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        def log_message(self, fmt, *args):
            return

    return Handler


def start(port: int = 0) -> Receiver:
    server = ThreadingHTTPServer((HOST, port), None)
    receiver = Receiver(server)
    server.RequestHandlerClass = _handler(receiver)
    threading.Thread(target=server.serve_forever, daemon=True, name="webhook-receiver").start()
    return receiver


@contextmanager
def running(port: int = 0):
    receiver = start(port)
    try:
        yield receiver
    finally:
        receiver.server.shutdown()
        receiver.server.server_close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=8430)
    args = parser.parse_args()
    receiver = start(args.port)
    print(f"webhook receiver stand-in on {receiver.url}", flush=True)
    try:
        threading.Event().wait()
    except KeyboardInterrupt:
        pass
    finally:
        receiver.server.shutdown()


if __name__ == "__main__":
    main()
