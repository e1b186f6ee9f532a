import os
import sys

import pytest

sys.path.insert(0, os.path.dirname(__file__))
from harness import Daemon, Postgres, aantafel  # noqa: E402


def _daemons():
    """Factory: make(options={...}, env={...}) -> started Daemon. Every
    daemon is stopped (SIGTERM) at the end and must exit 0 with a
    sanitizer-clean log."""
    started = []

    def make(options=None, env=None, start=True):
        d = Daemon(options, env)
        started.append(d)
        return d.start() if start else d

    yield make
    try:
        for d in started:
            if d.proc is not None and d.proc.poll() is None:
                rc = d.stop()
                assert rc == 0, f"daemon exit code {rc}:\n{d.log()[-4000:]}"
    finally:
        for d in started:
            d.remove_dir()


@pytest.fixture
def make_daemon():
    yield from _daemons()


@pytest.fixture(scope="module")
def make_daemon_module():
    """The same, for daemons shared by the tests of one file."""
    yield from _daemons()


@pytest.fixture
def daemon(make_daemon):
    return make_daemon()


@pytest.fixture(scope="session")
def pg():
    """One migrated PostgreSQL cluster per test file (each file is its own
    pytest session under ctest)."""
    p = Postgres()
    try:
        p.start()
        aantafel(*p.migrate_args, env=p.daemon_env())
        yield p
    finally:
        p.destroy()


@pytest.fixture
def tenants(pg):
    """Factory: tenants(("slug", "Name", "host"), ...) creates them unless
    they exist; returns {slug: id}."""
    def make(*specs):
        ids = {}
        with pg.connect("owner") as c, c.cursor() as cur:
            for slug, name, *hosts in specs:
                cur.execute("SELECT id FROM platform.tenants WHERE slug = %s", (slug,))
                row = cur.fetchone()
                if not row:
                    args = ["tenant", "create", slug, "--name", name]
                    for h in hosts:
                        args += ["--host", h]
                    aantafel(*args, env=pg.daemon_env())
                    cur.execute("SELECT id FROM platform.tenants WHERE slug = %s", (slug,))
                    row = cur.fetchone()
                ids[slug] = row[0]
        return ids
    return make


@pytest.fixture
def db_daemon(make_daemon, pg):
    """A daemon connected to the test cluster."""
    def make(options=None, env=None):
        return make_daemon(options, {**pg.daemon_env(), **(env or {})})
    return make
