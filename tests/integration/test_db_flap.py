"""PostgreSQL stopped and started fifty times under a steady load of reads
and writes through a daemon of two workers. After every start each
worker's pool writes again and the registry's LISTEN connection is back,
within a bound that only asks whether they came back at all, and no
acknowledged write is ever lost. The down times vary: none (a restart,
fast or a crash), a fraction of a second, a few seconds, and a stop that
comes while the pools are still connecting after the previous start.
The same load then meets faults on every connection (a proxy that cuts,
refuses, stalls and desynchronises them), with the same checks once they
stop.

Which worker wrote is told by the database itself: each worker's
connections carry application_name aantafel-wN, and a trigger of this
test (on its throwaway cluster) notes it for every contribution."""
import collections
import contextlib
import json
import os
import random
import threading
import time
import urllib.parse

import pytest

from api_client import Api
from harness import FaultyProxy, aantafel, make_request, parse_response, wait_for
from test_signin import SMALL, Browser

HOST = "flap.test"
PASSWORD = "een lang wachtwoord 123"
CYCLES = 50
WORKERS = 2
BACK = 30                 # every worker writes again after a start (it takes well under a second)
REQ_TIMEOUT = 15          # every request ends, with an answer, within this
WRITERS = ("api", "api", "page", "page")
PAUSE = 0.02              # between one client's requests: a steady load, not a flood
FAULTS = 20               # seconds of faults on every connection

# Notes which worker's connection wrote each contribution, and when.
NOTE_SQL = """
CREATE TABLE IF NOT EXISTS public.flap_writes (
    id bigint NOT NULL, app text NOT NULL, at timestamptz NOT NULL DEFAULT clock_timestamp());
CREATE OR REPLACE FUNCTION public.flap_note() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog AS $$
BEGIN
    INSERT INTO public.flap_writes (id, app) VALUES (NEW.id, current_setting('application_name'));
    RETURN NULL;
END $$;
DROP TRIGGER IF EXISTS flap_note ON public.contributions;
CREATE TRIGGER flap_note AFTER INSERT ON public.contributions
    FOR EACH ROW EXECUTE FUNCTION public.flap_note();
"""


def query(pg, sql, *args):
    with contextlib.closing(pg.connect("super")) as c, c.cursor() as cur:
        cur.execute(sql, args)
        return cur.fetchall() if cur.description else None


def try_query(pg, sql, *args):
    """The rows, or None while the database does not answer."""
    try:
        return query(pg, sql, *args)
    except Exception:
        return None


class Load:
    """Client threads, each sending one request after another on a new
    connection (so that the kernel spreads them over the workers):
    writers post contributions, through the API with a token or through
    the site's form as a signed-in person; readers get the table's page
    and API answer as guests, and /readyz."""

    def __init__(self, d, token, cookies, tid):
        self.d, self.token, self.cookies, self.tid = d, token, cookies, tid
        self.lock = threading.Lock()
        self.stopping = threading.Event()
        self.acked = {}                          # contribution id -> body
        self.counts = collections.Counter()     # (kind, status)
        self.bad = []                            # hangs and unexpected answers
        self.threads = [threading.Thread(target=self.write, args=(i, kind), daemon=True)
                        for i, kind in enumerate(WRITERS)]
        self.threads += [threading.Thread(target=self.read, args=(p,), daemon=True)
                         for p in (f"/tafels/{tid}", f"/api/v1/tables/{tid}", "/readyz")]

    def request(self, method, path, headers=None, body=None):
        t0 = time.monotonic()
        try:
            data = self.d.raw(make_request(method, path, HOST, {"Connection": "close", **(headers or {})}, body),
                              timeout=REQ_TIMEOUT)
            st, hdr, out = parse_response(data)
        except OSError as e:
            st, hdr, out = -1, {}, repr(e).encode()
        return st, out, time.monotonic() - t0, hdr

    def note(self, kind, st, secs, detail=b""):
        with self.lock:
            self.counts[(kind, st)] += 1
            if st not in (200, 201, 303, 503) or secs >= REQ_TIMEOUT:
                self.bad.append((kind, st, round(secs, 2), detail[:200]))

    def write(self, i, kind):
        """Posts contributions through the API (201 and the id) or through
        the site's form as a signed-in person (303 to the new one)."""
        n = 0
        while not self.stopping.is_set():
            n += 1
            text = f"flap {kind} {i} {n}"
            if kind == "api":
                st, out, secs, hdr = self.request("POST", f"/api/v1/tables/{self.tid}/contributions",
                                                  {"Authorization": "Bearer " + self.token,
                                                   "Content-Type": "application/json"},
                                                  json.dumps({"body": text}).encode())
                cid = json.loads(out)["id"] if st == 201 else None
            else:
                st, out, secs, hdr = self.request(
                    "POST", f"/tafels/{self.tid}/bijdragen",
                    {"Cookie": "; ".join(f"{k}={v}" for k, v in self.cookies.items()),
                     "Content-Type": "application/x-www-form-urlencoded"},
                    urllib.parse.urlencode({"csrf": self.cookies["at_csrf"], "body": text}).encode())
                cid = int(hdr["location"].rsplit("-", 1)[1]) if st == 303 else None
            if cid is not None:
                with self.lock:
                    self.acked[cid] = text
            self.note(kind, st, secs, out)
            time.sleep(PAUSE)

    def read(self, path):
        while not self.stopping.is_set():
            st, out, secs, _ = self.request("GET", path)
            self.note(path, st, secs, out)
            time.sleep(PAUSE)

    def __enter__(self):
        for t in self.threads:
            t.start()
        return self

    def __exit__(self, *exc):
        self.stopping.set()
        for t in self.threads:
            t.join(REQ_TIMEOUT * 2)
        assert not any(t.is_alive() for t in self.threads), "a client thread hung"


@pytest.fixture
def up(pg):
    """Whatever a test did to the cluster, it runs again afterwards."""
    yield pg
    pg.start()


@pytest.fixture
def site(pg, db_daemon, up):
    """Factory: a daemon of two workers (connecting to URL, the cluster's
    by default), a table, an API token and a signed-in person's cookies."""
    def make(url=None):
        aantafel("tenant", "create", "flap", "--name", "Gemeente Wisselend", "--host", HOST, env=pg.daemon_env(),
                 check=False)
        aantafel("user", "create", "--tenant", "flap", "--email", "fl@example.nl", "--role", "facilitator",
                 "--name", "Flip", env={**pg.daemon_env(), **SMALL}, input=PASSWORD + "\n", check=False)
        query(pg, NOTE_SQL)
        d = db_daemon({"workers": str(WORKERS)}, {**SMALL, **({"AANTAFEL_DATABASE_URL": url} if url else {})})
        return (d, *prepare(d))
    return make


def prepare(d):
    wait_for(lambda: d.get("/", host=HOST)[0] == 200, what="the tenant's home page")
    br = Browser(d, HOST)
    assert br.signin("fl@example.nl", PASSWORD)[0] == 303
    st, _, me = Api(d, HOST, browser=br).get("/me")
    fac = Api(d, HOST, browser=br, csrf=me["csrf_token"])
    st, _, t = fac.post("/tables", {"title": "Het plein", "question": "Wat is ervoor nodig?", "visibility": "public"})
    assert st == 201
    st, _, tok = fac.post("/tokens", {"name": "wisselend"})
    assert st == 201
    return tok["token"], br.jar, t["id"]


def back(pg, started):
    """True when, since the server's start at STARTED, a contribution was
    written on every worker and the registry listens again."""
    rows = try_query(pg, "SELECT array(SELECT DISTINCT app FROM public.flap_writes WHERE at >= %s),"
                         " EXISTS (SELECT FROM pg_stat_activity WHERE application_name = 'aantafel-registry'"
                         "         AND state = 'idle' AND query ILIKE '%%platform.tenants%%')", started)
    if not rows:
        return False
    apps, listening = rows[0]
    return listening and all(f"aantafel-w{i}" in apps for i in range(WORKERS))


def started_at(pg):
    return wait_for(lambda: (try_query(pg, "SELECT pg_postmaster_start_time()") or [[None]])[0][0],
                    timeout=60, interval=0.1, what="the database answering")


def test_fifty_stops_and_starts_under_load(pg, site):
    d, token, cookies, tid = site()
    seed = int(os.environ.get("AANTAFEL_FLAP_SEED", time.time_ns() % 1_000_000))
    rnd = random.Random(seed)
    # Each kind of outage several times, in a shuffled order.
    kinds = (["restart"] * 10 + ["crash"] * 6 + ["short"] * 16 + ["long"] * 4 + ["during-setup"] * 14)[:CYCLES]
    rnd.shuffle(kinds)
    pid = d.proc.pid
    history = []                         # (kind, seconds of pg_ctl, seconds until back)
    with Load(d, token, cookies, tid) as load:
        wait_for(lambda: back(pg, started_at(pg)), timeout=BACK, what="writes on every worker before the first stop")
        for i, kind in enumerate(kinds):
            t0 = time.monotonic()
            if kind == "restart":
                pg.pg_ctl("restart", "-m", "fast")
            elif kind == "crash":
                pg.restart_immediate()
            elif kind == "short":
                pg.pg_ctl("stop", "-m", "fast")
                time.sleep(rnd.uniform(0, 0.3))
                pg.pg_ctl("start")
            elif kind == "long":
                pg.pg_ctl("stop", "-m", "fast")
                time.sleep(rnd.uniform(1, 2))
                pg.pg_ctl("start")
            else:
                # Started, and stopped again while the pools and the
                # listener are connecting (their backoff is under a second
                # when the database was away this briefly).
                pg.pg_ctl("stop", "-m", "fast")
                pg.pg_ctl("start")
                time.sleep(rnd.uniform(0, 0.15))
                pg.pg_ctl("stop", "-m", rnd.choice(["fast", "immediate"]))
                time.sleep(rnd.uniform(0, 0.2))
                pg.pg_ctl("start")
            started = started_at(pg)
            t1 = time.monotonic()
            try:
                wait_for(lambda: back(pg, started), timeout=BACK, interval=0.05,
                         what=f"every worker writing again after cycle {i} ({kind})")
            except AssertionError as e:
                activity = try_query(pg, "SELECT application_name, state, left(query, 60) FROM pg_stat_activity"
                                         " WHERE application_name LIKE 'aantafel%%' ORDER BY 1")
                raise AssertionError(f"{e}\nseed {seed}, cycles so far {history}\nconnections: {activity}\n"
                                     f"answers: {dict(load.counts)}\n{d.log()[-6000:]}")
            history.append((kind, round(t1 - t0, 1), round(time.monotonic() - t1, 1)))
        # A last stretch of load with the database up.
        time.sleep(1)
    print(f"seed {seed}: {history}\nanswers: {dict(load.counts)}")
    assert not load.bad, f"hung or unexpected answers (seed {seed}): {load.bad[:10]}"
    assert d.proc.poll() is None and d.proc.pid == pid
    # The outages were seen as such, and writes went through between them.
    assert load.counts[("api", 503)] > 0 and load.counts[("api", 201)] > CYCLES
    assert load.counts[("page", 303)] > CYCLES, dict(load.counts)

    # No acknowledged write was lost.
    rows = dict(query(pg, "SELECT id, body FROM contributions WHERE table_id = %s", tid))
    lost = {k: v for k, v in load.acked.items() if rows.get(k) != v}
    assert not lost, f"acknowledged but lost (seed {seed}): {sorted(lost.items())[:10]}"

    # Registry changes are seen live after all that.
    assert aantafel("tenant", "suspend", "flap", env=pg.daemon_env()).returncode == 0
    wait_for(lambda: all(d.get("/", host=HOST)[0] == 503 for _ in range(4)), timeout=BACK, what="suspend seen")
    assert aantafel("tenant", "resume", "flap", env=pg.daemon_env()).returncode == 0
    wait_for(lambda: all(d.get("/", host=HOST)[0] == 200 for _ in range(4)), timeout=BACK, what="resume seen")


def test_faults_on_every_connection_under_load(pg, site):
    """The daemon's connections, the pools' and the registry's, go through
    a proxy that cuts, refuses, stalls and desynchronises them
    (harness.FaultyProxy) for a while, under the same load. Every request
    is answered (200, 201, 303 or 503, never a hang), no acknowledged write
    is lost, and once the faults stop every worker writes again and the
    registry listens again."""
    seed = int(os.environ.get("AANTAFEL_FAULT_SEED", time.time_ns() % 1_000_000))
    proxy = FaultyProxy(pg, seed)
    proxy.faults = False
    try:
        d, token, cookies, tid = site(f"host={proxy.dir} dbname=aantafel user=aantafel_app")
        with Load(d, token, cookies, tid) as load:
            wait_for(lambda: back(pg, started_at(pg)), timeout=BACK, what="writes on every worker")
            proxy.faults = True
            time.sleep(FAULTS)
            proxy.faults = False
            stopped = query(pg, "SELECT clock_timestamp()")[0][0]
            try:
                wait_for(lambda: back(pg, stopped), timeout=BACK, interval=0.05,
                         what="every worker writing and the registry listening after the faults")
            except AssertionError as e:
                raise AssertionError(f"{e}\nseed {seed}, connections {dict(proxy.counts)}\n"
                                     f"answers: {dict(load.counts)}\n{d.log()[-6000:]}")
            time.sleep(1)
    finally:
        proxy.close()
    print(f"seed {seed}: connections {dict(proxy.counts)}\nanswers: {dict(load.counts)}")
    assert not load.bad, f"hung or unexpected answers (seed {seed}): {load.bad[:10]}"
    assert proxy.counts["desync"] and proxy.counts["cut"], dict(proxy.counts)
    assert load.counts[("api", 503)] + load.counts[("page", 503)] > 0, dict(load.counts)
    rows = dict(query(pg, "SELECT id, body FROM contributions WHERE table_id = %s", tid))
    lost = {k: v for k, v in load.acked.items() if rows.get(k) != v}
    assert not lost, f"acknowledged but lost (seed {seed}): {sorted(lost.items())[:10]}"
