"""A TCP proxy a test controls, to cut or blackhole the connections to PostgreSQL or Redis.

`cut()` closes every open connection and refuses new ones at once (a server restart, a failover); `blackhole()` keeps
accepting and reading but never answers (a partition, a hung server: only a timeout ends the wait); `restore()` lets
new connections through again. Threads, no dependency; for tests and benches on this machine only.
"""
import select
import socket
import threading

PASS, CUT, BLACKHOLE = "pass", "cut", "blackhole"


class TcpProxy:
    def __init__(self, target_host: str, target_port: int):
        self.target = (target_host, target_port)
        self.mode = PASS
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port = self._listener.getsockname()[1]
        self._pairs: set[tuple[socket.socket, socket.socket | None]] = set()
        self._lock = threading.Lock()
        self._closed = False
        self.accepted = 0

    def __enter__(self) -> "TcpProxy":
        threading.Thread(target=self._accept, name="tcp-proxy", daemon=True).start()
        return self

    def __exit__(self, *exc):
        self.stop()

    def url_for(self, url: str) -> str:
        """`url` with the target's host:port replaced by the proxy's."""
        host, port = self.target
        return url.replace(f"{host}:{port}", f"127.0.0.1:{self.port}", 1)

    def cut(self) -> None:
        self.mode = CUT
        self._close_all()

    def blackhole(self) -> None:
        self.mode = BLACKHOLE

    def restore(self) -> None:
        self.mode = PASS

    def stop(self) -> None:
        self._closed = True
        self._listener.close()
        self._close_all()

    def _close_all(self) -> None:
        with self._lock:
            pairs, self._pairs = self._pairs, set()
        for pair in pairs:
            for sock in pair:
                if sock is not None:
                    _close(sock)

    def _accept(self) -> None:
        while not self._closed:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            self.accepted += 1
            if self.mode == CUT:
                _close(client)
                continue
            upstream = None
            if self.mode == PASS:
                try:
                    upstream = socket.create_connection(self.target, timeout=5)
                    upstream.settimeout(None)
                except OSError:
                    _close(client)
                    continue
            pair = (client, upstream)
            with self._lock:
                self._pairs.add(pair)
            threading.Thread(target=self._pump, args=(pair,), daemon=True).start()

    def _pump(self, pair) -> None:
        client, upstream = pair
        sockets = [s for s in pair if s is not None]
        try:
            while not self._closed:
                readable, _, _ = select.select(sockets, [], [], 0.2)
                for sock in readable:
                    data = sock.recv(65536)
                    if not data:
                        return
                    if self.mode == BLACKHOLE or upstream is None:
                        continue  # swallowed: the other side waits for an answer that never comes
                    (upstream if sock is client else client).sendall(data)
        except (OSError, ValueError):
            return
        finally:
            with self._lock:
                self._pairs.discard(pair)
            for sock in sockets:
                _close(sock)


def _close(sock: socket.socket) -> None:
    try:
        sock.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass
    sock.close()
