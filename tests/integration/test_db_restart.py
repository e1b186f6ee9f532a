"""The database goes away under a running daemon: crash-restarted under a
stream of requests, stopped entirely, away at start-up, and the registry's
LISTEN connection cut. Requests get 503 (never a hang), service resumes
by itself, the daemon is never restarted, and registry changes are seen
live again afterwards."""
import collections
import contextlib
import os
import signal
import socket
import threading
import time

import pytest

from harness import FaultyProxy, aantafel, freeze, thaw, wait_for

REQ_TIMEOUT = 10          # every request must complete well within this
FAST_503 = 5              # "503 within a second or two", loosely
RECOVER = 60              # service back after the database returns
LIVE = 15                 # a registry change reaches the daemon

HOST = "herstart.test"


@contextlib.contextmanager
def cursor(pg, role="super"):
    c = pg.connect(role)
    try:
        yield c.cursor()
    finally:
        c.close()


def get(d, path, host=HOST):
    """(status, seconds); status 0 when nothing complete came back within
    REQ_TIMEOUT (a hang), -1 when the daemon refused or reset."""
    t0 = time.monotonic()
    try:
        st = d.get(path, host=host, timeout=REQ_TIMEOUT)[0]
    except OSError:
        st = -1
    return st, time.monotonic() - t0


def status(d, path="/", host=HOST):
    return get(d, path, host)[0]


class Stream:
    """Client threads sending requests one after another, each on its own
    connection, recording (start, seconds, path, status)."""

    def __init__(self, d, paths):
        self.d = d
        self.paths = paths
        self.results = []
        self.lock = threading.Lock()
        self.stopping = threading.Event()
        self.threads = [threading.Thread(target=self.loop, args=(p,), daemon=True) for p in paths]

    def loop(self, path):
        while not self.stopping.is_set():
            t0 = time.monotonic()
            st, secs = get(self.d, path)
            with self.lock:
                self.results.append((t0, secs, path, st))

    def __enter__(self):
        for t in self.threads:
            t.start()
        return self

    def __exit__(self, *exc):
        self.stopping.set()
        for t in self.threads:
            t.join(REQ_TIMEOUT * 3)
        assert not any(t.is_alive() for t in self.threads), "a client thread hung"

    def snapshot(self):
        with self.lock:
            return list(self.results)

    def seen(self, path, st, after=0.0):
        return any(p == path and s == st and t0 >= after for t0, _, p, s in self.snapshot())


@pytest.fixture
def tenant(pg, tenants):
    ids = tenants(("herstart", "Gemeente Herstart", HOST))
    # Leave it active whatever a test did.
    yield ids["herstart"]
    wait_for(lambda: aantafel("tenant", "resume", "herstart", env=pg.daemon_env(), check=False).returncode == 0,
             timeout=RECOVER, interval=0.5, what="tenant resume")


@pytest.fixture
def up(pg):
    """Whatever a test does to the cluster, it runs again afterwards."""
    yield pg
    pg.start()
    wait_for(lambda: _answers(pg), timeout=RECOVER, interval=0.2, what="database answering")


def _answers(pg):
    try:
        with cursor(pg) as cur:
            cur.execute("SELECT 1")
            return True
    except Exception:
        return False


def registry_listening(pg):
    """The daemon's registry connection is back and idle after its LISTEN
    and reload."""
    with cursor(pg) as cur:
        cur.execute("SELECT count(*) FROM pg_stat_activity"
                    " WHERE application_name = 'aantafel-registry' AND state = 'idle'"
                    " AND query ILIKE '%platform.tenants%'")
        return cur.fetchone()[0] >= 1


def test_crash_restart_under_a_stream_of_requests(db_daemon, pg, tenant, up):
    d = db_daemon()
    wait_for(lambda: status(d) == 200, timeout=LIVE, what="tenant page")
    pid = d.proc.pid

    with Stream(d, ["/", "/", "/", "/readyz", "/readyz"]) as s:
        wait_for(lambda: s.seen("/", 200) and s.seen("/readyz", 200), timeout=LIVE, what="stream running")
        t_crash = time.monotonic()
        pg.restart_immediate()                         # returns once the server accepts again
        t_back = time.monotonic()
        # Back by itself, without touching the daemon.
        wait_for(lambda: s.seen("/", 200, after=t_back) and s.seen("/readyz", 200, after=t_back),
                 timeout=RECOVER, interval=0.1, what="200 again after the restart")
        t_ok = min(t0 for t0, _, p, st in s.snapshot() if t0 >= t_back and st == 200)
        # Keep the stream going a while after recovery.
        settle = time.monotonic() + 3
        wait_for(lambda: time.monotonic() > settle, timeout=10)

    results = s.snapshot()
    counts = collections.Counter((p, st) for _, _, p, st in results)
    hung = [r for r in results if r[3] in (0, -1) or r[1] >= REQ_TIMEOUT]
    assert not hung, f"requests that hung or were dropped: {hung[:5]} of {counts}"
    others = {k: v for k, v in counts.items() if k[1] not in (200, 503)}
    assert not others, f"statuses other than 200/503 around a crash: {others}"
    # The outage was seen as 503, not as something else and not as a wait.
    assert counts[("/", 503)] + counts[("/readyz", 503)] > 0, counts
    assert max(secs for _, secs, _, st in results if st == 503) < FAST_503
    # Once service was back, it stayed back: no stale connection answered
    # 503 later (2 s of grace for the other worker's pool).
    late = [r for r in results if r[0] >= t_ok + 2 and r[3] != 200]
    assert not late, f"failures well after recovery: {late[:5]}"
    before = [r for r in results if r[0] + r[1] < t_crash]
    assert before and all(r[3] == 200 for r in before)

    assert d.proc.poll() is None and d.proc.pid == pid
    assert "herstart" in d.get("/", host=HOST)[2].decode().lower()

    # The registry's LISTEN connection came back too: a change made now
    # is seen live.
    wait_for(lambda: registry_listening(pg), timeout=RECOVER, interval=0.2, what="registry listening again")
    assert aantafel("tenant", "suspend", "herstart", env=pg.daemon_env()).returncode == 0
    wait_for(lambda: status(d) == 503, timeout=LIVE, interval=0.1, what="suspend seen after the restart")
    assert aantafel("tenant", "resume", "herstart", env=pg.daemon_env()).returncode == 0
    wait_for(lambda: status(d) == 200, timeout=LIVE, interval=0.1, what="resume seen after the restart")
    assert d.proc.pid == pid


def test_two_crashes_in_a_row(db_daemon, pg, tenant, up):
    """A second crash while the pool is still reconnecting from the first."""
    d = db_daemon({"workers": "1"})
    wait_for(lambda: status(d) == 200, timeout=LIVE, what="tenant page")
    with Stream(d, ["/", "/", "/readyz"]) as s:
        pg.restart_immediate()
        pg.restart_immediate()
        t_back = time.monotonic()
        wait_for(lambda: s.seen("/", 200, after=t_back), timeout=RECOVER, interval=0.1, what="200 again")
    bad = [r for r in s.snapshot() if r[3] not in (200, 503) or r[1] >= REQ_TIMEOUT]
    assert not bad, bad[:5]
    wait_for(lambda: registry_listening(pg), timeout=RECOVER, interval=0.2, what="registry listening again")
    aantafel("tenant", "suspend", "herstart", env=pg.daemon_env())
    wait_for(lambda: status(d) == 503, timeout=LIVE, interval=0.1, what="suspend seen")


def test_database_stopped_then_started(db_daemon, pg, tenant, up):
    d = db_daemon()
    wait_for(lambda: status(d) == 200 and status(d, "/readyz") == 200, timeout=LIVE, what="ready")
    pid = d.proc.pid

    pg.stop()                                          # pg.sh stop: fast shutdown, connections cut
    wait_for(lambda: status(d) == 503, timeout=FAST_503 * 2, interval=0.1, what="503 with the database stopped")
    for _ in range(5):
        st, secs = get(d, "/")
        assert st == 503 and secs < FAST_503, (st, secs)
        st, secs = get(d, "/readyz")
        assert st == 503 and secs < FAST_503, (st, secs)
        st, secs = get(d, "/healthz")
        assert st == 200 and secs < FAST_503, (st, secs)
        # The registry is kept: unknown hosts stay 404, not 503.
        assert status(d, "/", host="unknown.test") == 404
    st, hdr, body = d.get("/", host=HOST)
    assert st == 503 and body, "503 page without a body"
    assert b"Gemeente Herstart" not in body and b"herstart" not in body.lower()

    # Several at once, on one connection each, also complete quickly.
    with Stream(d, ["/"] * 4) as s:
        wait_for(lambda: len(s.snapshot()) >= 40, timeout=60, what="requests while stopped")
    assert all(st == 503 and secs < FAST_503 for _, secs, _, st in s.snapshot())

    pg.start()
    wait_for(lambda: status(d) == 200, timeout=RECOVER, interval=0.2, what="200 after the database started")
    wait_for(lambda: status(d, "/readyz") == 200, timeout=RECOVER, interval=0.2, what="/readyz 200 again")
    assert d.proc.poll() is None and d.proc.pid == pid
    wait_for(lambda: registry_listening(pg), timeout=RECOVER, interval=0.2, what="registry listening again")
    aantafel("tenant", "suspend", "herstart", env=pg.daemon_env())
    wait_for(lambda: status(d) == 503, timeout=LIVE, interval=0.1, what="suspend seen after the start")


def test_database_frozen(db_daemon, pg, tenant):
    """Connections stay open but nothing answers (SIGSTOP on the server):
    requests end with 503 by the configured deadlines, not by the client
    giving up, and service resumes when the server does."""
    d = db_daemon({"db_wait_timeout": "1s", "db_connect_timeout": "1s", "db_statement_timeout": "2s"})
    wait_for(lambda: status(d) == 200, timeout=LIVE, what="tenant page")
    pid = d.proc.pid
    pids = []
    try:
        with Stream(d, ["/", "/", "/readyz"]) as s:
            wait_for(lambda: s.seen("/", 200), timeout=LIVE, what="stream running")
            pids = freeze(pg)
            t_freeze = time.monotonic()
            try:
                wait_for(lambda: s.seen("/", 503, after=t_freeze) and s.seen("/readyz", 503, after=t_freeze),
                         timeout=30, interval=0.1, what="503 while frozen")
            except AssertionError:
                after = collections.Counter((p, st) for t0, _, p, st in s.snapshot() if t0 >= t_freeze)
                raise AssertionError(f"no 503 while frozen; since the freeze: {dict(after)}\n{d.log()[-3000:]}")
            # A while longer: every deadline fires at least once.
            wait_for(lambda: time.monotonic() > t_freeze + 6, timeout=10)
            assert status(d, "/healthz") == 200
            thaw(pids)
            pids = []
            t_thaw = time.monotonic()
            wait_for(lambda: s.seen("/", 200, after=t_thaw) and s.seen("/readyz", 200, after=t_thaw),
                     timeout=RECOVER, interval=0.1, what="200 after the thaw")
    finally:
        thaw(pids)
    results = s.snapshot()
    bad = [r for r in results if r[3] not in (200, 503) or r[1] >= REQ_TIMEOUT]
    assert not bad, f"hung or failed: {bad[:5]} of {collections.Counter((p, st) for _, _, p, st in results)}"
    assert d.proc.poll() is None and d.proc.pid == pid
    wait_for(lambda: registry_listening(pg), timeout=RECOVER, interval=0.2, what="registry listening")
    aantafel("tenant", "suspend", "herstart", env=pg.daemon_env())
    wait_for(lambda: status(d) == 503, timeout=LIVE, interval=0.1, what="suspend seen after the thaw")


def test_daemon_started_while_the_database_is_down(db_daemon, pg, tenant, up):
    pg.stop()
    d = db_daemon()                                    # starts; /healthz answers
    assert status(d, "/healthz") == 200
    for _ in range(3):
        st, secs = get(d, "/")
        assert st == 503 and secs < FAST_503, (st, secs)
        st, secs = get(d, "/readyz")
        assert st == 503 and secs < FAST_503, (st, secs)
    pg.start()
    wait_for(lambda: status(d) == 200, timeout=RECOVER, interval=0.2, what="tenant served once the database is up")
    # Each worker's pool reconnects on its own backoff (at most a second
    # apart): a request may meet one that has not yet; soon all have.
    wait_for(lambda: all(status(d, "/readyz") == 200 for _ in range(6)), timeout=RECOVER, interval=0.2,
             what="/readyz 200 on every worker")
    assert status(d, "/", host="unknown.test") == 404


def test_the_next_host_is_tried_when_the_first_refuses(db_daemon, pg, tenant, up):
    """database_url names two hosts: a TCP port that refuses and the
    cluster's socket. At start-up the port refuses late (its listen queue
    is full, so the connection waits for a retransmission, refused once
    the port is closed): libpq sees that only if it is polled when the
    socket is ready, as its rules say. It then tries the next host inside
    PQconnectPoll, on a new socket that mostly gets the old one's number,
    which the pools and the registry's listener must watch afresh. After
    a restart of the database, every reconnect goes the same way."""
    dead = socket.socket()
    dead.bind(("127.0.0.1", 0))
    dead.listen(0)
    port = dead.getsockname()[1]
    filler = socket.create_connection(("127.0.0.1", port))     # the queue is full: SYNs are dropped
    closer = threading.Timer(0.5, lambda: (dead.close(), filler.close()))
    closer.start()
    url = f"host=127.0.0.1,{os.path.join(pg.dir, 'run')} port={port},5432 dbname=aantafel user=aantafel_app"
    try:
        d = db_daemon(env={"AANTAFEL_DATABASE_URL": url})
    finally:
        closer.join()
    wait_for(lambda: status(d) == 200, timeout=RECOVER, interval=0.2, what="tenant page")
    wait_for(lambda: all(status(d, "/readyz") == 200 for _ in range(6)), timeout=RECOVER, interval=0.2,
             what="/readyz 200 on every worker")
    wait_for(lambda: registry_listening(pg), timeout=RECOVER, interval=0.2, what="registry listening")
    failed = [line for line in d.log().splitlines()
              if "database connection failed" in line or "registry: database connection lost" in line]
    assert not failed, "a connection attempt failed with the database up:\n" + "\n".join(failed[:5])

    pg.pg_ctl("restart", "-m", "fast")
    mark = d.log_mark()
    wait_for(lambda: status(d) == 200, timeout=RECOVER, interval=0.2, what="tenant page after the restart")
    wait_for(lambda: all(status(d, "/readyz") == 200 for _ in range(6)), timeout=RECOVER, interval=0.2,
             what="/readyz 200 on every worker after the restart")
    wait_for(lambda: registry_listening(pg), timeout=RECOVER, interval=0.2, what="registry listening again")
    assert "connect timeout" not in d.log_since(mark)
    aantafel("tenant", "suspend", "herstart", env=pg.daemon_env())
    wait_for(lambda: status(d) == 503, timeout=LIVE, interval=0.1, what="suspend seen after the restart")


def test_a_registry_connection_that_gets_no_answer_is_given_up(db_daemon, pg, tenant):
    """The registry's listener connects again and the server takes the
    connection, then never answers its LISTEN (a server that hangs, a
    network that drops packets without a word; here a proxy holds the
    answer for a minute). The listener gives up on it by its deadline and
    connects once more, so a registry change is seen long before the
    silent connection would have ended."""
    proxy = FaultyProxy(pg)
    proxy.faults = False
    try:
        d = db_daemon(env={"AANTAFEL_DATABASE_URL": f"host={proxy.dir} dbname=aantafel user=aantafel_app"})
        wait_for(lambda: status(d) == 200, timeout=LIVE, what="tenant page")
        wait_for(lambda: registry_listening(pg), timeout=LIVE, interval=0.1, what="registry listening")
        proxy.mute_queries = 1
        mark = d.log_mark()
        with cursor(pg) as cur:
            cur.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                        " WHERE application_name = 'aantafel-registry'")
        wait_for(lambda: proxy.mute_queries == 0, timeout=LIVE, what="the listener's LISTEN held")
        assert aantafel("tenant", "suspend", "herstart", env=pg.daemon_env()).returncode == 0
        # Seen after the deadline (15 s) and a reconnect, while the held
        # connection would still be silent for most of its minute.
        wait_for(lambda: status(d) == 503, timeout=45, interval=0.2, what="suspend seen")
        assert "the registry did not load in time" in d.log_since(mark)
    finally:
        proxy.close()


def test_registry_reloads_after_its_listen_connection_is_cut(db_daemon, pg, tenant):
    """A change made while the registry's LISTEN connection is away is not
    notified to it; the reload after the reconnect must pick it up."""
    d = db_daemon()
    wait_for(lambda: status(d) == 200, timeout=LIVE, what="tenant page")
    wait_for(lambda: registry_listening(pg), timeout=LIVE, interval=0.1, what="registry listening")
    with cursor(pg) as cur:
        # New connections of the daemon's role are refused for a while;
        # the pool's open connections keep serving.
        cur.execute("REVOKE CONNECT ON DATABASE aantafel FROM aantafel_app")
        try:
            cur.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                        " WHERE application_name = 'aantafel-registry'")
            assert cur.rowcount >= 1
            wait_for(lambda: not registry_listening(pg), timeout=LIVE, what="registry connection gone")
            # The change nobody is listening for.
            assert aantafel("tenant", "suspend", "herstart", env=pg.daemon_env()).returncode == 0
            # Let the listener fail at least one reconnect.
            wait_for(lambda: "registry: database connection lost" in d.log(), timeout=LIVE,
                     what="listener noticed")
        finally:
            cur.execute("GRANT CONNECT ON DATABASE aantafel TO aantafel_app")
    wait_for(lambda: status(d) == 503, timeout=LIVE, interval=0.1, what="change from the gap seen after reconnect")
    # And notifications flow again on the new connection.
    wait_for(lambda: registry_listening(pg), timeout=LIVE, interval=0.1, what="registry listening again")
    assert aantafel("tenant", "resume", "herstart", env=pg.daemon_env()).returncode == 0
    wait_for(lambda: status(d) == 200, timeout=LIVE, interval=0.1, what="resume seen")
