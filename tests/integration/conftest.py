import os
import sys

import pytest

sys.path.insert(0, os.path.dirname(__file__))
from harness import Daemon  # noqa: E402


@pytest.fixture
def make_daemon():
    """Factory: make_daemon(options={...}, env={...}) -> started Daemon.
    Every daemon is stopped (SIGTERM) at the end and must exit 0 with a
    sanitizer-clean log."""
    started = []

    def make(options=None, env=None, start=True):
        d = Daemon(options, env)
        started.append(d)
        return d.start() if start else d

    yield make
    for d in started:
        if d.proc is not None and d.proc.poll() is None:
            rc = d.stop()
            assert rc == 0, f"daemon exit code {rc}:\n{d.log()[-4000:]}"


@pytest.fixture
def daemon(make_daemon):
    return make_daemon()
