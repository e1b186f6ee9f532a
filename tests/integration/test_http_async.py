"""The HTTP layer around a handler that answers later (the tenant home
page waits on PostgreSQL): pipelined requests behind it keep their order,
a client that leaves is logged as 499, and SIGTERM lets the in-flight
request finish and closes its connection. The database is held up on
purpose with a table lock."""
import signal
import socket
import time

import pytest

from harness import make_request, wait_for

HOST = "async.test"


@pytest.fixture
def site(tenants):
    return tenants(("tn-async", "Gemeente Async", HOST))


@pytest.fixture
def slow_daemon(db_daemon, site):
    """A daemon whose database waits are long enough to hold a request
    for as long as a test needs."""
    d = db_daemon({"db_wait_timeout": "60s", "db_statement_timeout": "0", "shutdown_timeout": "60s",
                   "workers": "1"})
    wait_for(lambda: d.get("/", host=HOST, timeout=10)[0] == 200, timeout=30, interval=0.1,
             what="the tenant home page")
    return d


class TableLock:
    """Holds ACCESS EXCLUSIVE on plugin_store: the home page's query
    waits until release()."""

    def __init__(self, pg):
        self.pg = pg
        self.conn = pg.connect("super")
        self.conn.autocommit = False
        with self.conn.cursor() as cur:
            cur.execute("LOCK TABLE plugin_store IN ACCESS EXCLUSIVE MODE")

    def waiting(self):
        with self.pg.connect("super") as c, c.cursor() as cur:
            cur.execute("SELECT count(*) FROM pg_stat_activity"
                        " WHERE wait_event_type = 'Lock' AND query LIKE '%plugin_store%'")
            return cur.fetchone()[0]

    def wait_for_waiters(self, n=1):
        wait_for(lambda: self.waiting() >= n, timeout=20, interval=0.05, what=f"{n} queries waiting on the lock")

    def release(self):
        if self.conn:
            self.conn.rollback()
            self.conn.close()
            self.conn = None


@pytest.fixture
def lock(pg):
    locks = []

    def make():
        lk = TableLock(pg)
        locks.append(lk)
        return lk
    yield make
    for lk in locks:
        lk.release()


def test_pipelined_requests_wait_for_the_slow_one(slow_daemon, lock):
    d = slow_daemon
    lk = lock()
    with d.conn(timeout=30) as c:
        c.send(make_request("GET", "/", host=HOST) + make_request("GET", "/healthz") +
               make_request("GET", "/nope", host=HOST))
        lk.wait_for_waiters()
        # Nothing may overtake the first answer.
        assert c.is_open(0.5) and c.buf == b""
        lk.release()
        got = [c.read_response() for _ in range(3)]
        assert [r.status for r in got] == [200, 200, 404]
        assert b"Gemeente Async" in got[0].body
        assert got[1].body == b"ok\n"
        ids = [r.headers["x-request-id"] for r in got]
        assert ids == sorted(ids)


def test_client_leaving_during_a_slow_request_is_logged_499(slow_daemon, lock):
    d = slow_daemon
    lk = lock()
    mark = d.log_mark()
    c = d.conn()
    c.send(make_request("GET", "/", host=HOST))
    lk.wait_for_waiters()
    # An abortive close: the daemon notices it at once.
    c.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
    c.close()
    time.sleep(0.5)
    lk.release()
    line = d.wait_log(" status=499 ", mark=mark)
    assert "path=/ " in line and "tenant=tn-async" in line
    # The worker carries on.
    assert d.get("/", host=HOST)[0] == 200


def test_sigterm_finishes_a_slow_request_and_closes_its_connection(slow_daemon, lock):
    """A keep-alive request in flight when SIGTERM comes: its answer goes
    out with Connection: close and the connection is closed right after,
    not left idle until shutdown_timeout (60 s here)."""
    d = slow_daemon
    lk = lock()
    c = d.conn(timeout=30)
    c.send(make_request("GET", "/", host=HOST))
    lk.wait_for_waiters()
    mark = d.log_mark()
    d.signal(signal.SIGTERM)
    d.wait_log("finishing in-flight requests", mark=mark)
    d.wait_refusing()
    lk.release()
    r = c.read_response()
    assert r.status == 200 and b"Gemeente Async" in r.body
    assert r.headers.get("connection") == "close"
    assert c.wait_closed(15) == b""
    c.close()
    assert d.proc.wait(20) == 0
    d.assert_clean_log()
