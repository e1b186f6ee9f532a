"""The daemon's database pool under load, driven by tests/db/db_stress
(the pool's own code in an event loop) against the real cluster."""
import os
import subprocess
import threading
import time

from harness import FaultyProxy

BUILD_DIR = os.environ.get("AANTAFEL_BUILD_DIR", os.path.join(os.getcwd(), "build"))
STRESS = os.path.join(BUILD_DIR, "tests", "db", "db_stress")
BACK = 30                 # service is back after the faults stop (it takes about a second)
SILENT = 60               # no transaction ended for this long: the pool hangs


def run_stress(pg, a, b, count, prefix):
    return subprocess.run([STRESS, pg.app_url, str(a), str(b), str(count), prefix],
                          capture_output=True, text=True, timeout=600)


def acked(stdout):
    out = {}
    for line in stdout.splitlines():
        word, *rest = line.split()
        if word == "ack":
            out[rest[1]] = int(rest[0])
    return out


def stored(pg, prefix):
    with pg.connect("super") as c, c.cursor() as cur:
        cur.execute("SELECT key, tenant_id FROM plugin_store WHERE plugin = 'stress' AND key LIKE %s",
                    (prefix + "-%",))
        return dict(cur.fetchall())


def test_ten_thousand_interleaved_transactions_leak_nothing(pg, tenants):
    ids = tenants(("pool-a", "Pool A", "pool-a.test"), ("pool-b", "Pool B", "pool-b.test"))
    p = run_stress(pg, ids["pool-a"], ids["pool-b"], 10000, "run1")
    assert p.returncode == 0, p.stderr
    assert "leaks 0" in p.stderr and "unexpected 0" in p.stderr
    acks = acked(p.stdout)
    # 6 of every 10 transactions commit a row; the others abort on purpose
    # (a write for the other tenant refused by RLS, a failing statement in
    # a later round trip, an explicit rollback) or only read.
    assert len(acks) == 6000
    assert "forced aborts 3000" in p.stderr
    # Exactly the acknowledged rows exist, each under its own tenant.
    assert stored(pg, "run1") == acks


def test_acknowledged_writes_survive_a_database_crash(pg, tenants):
    ids = tenants(("pool-a", "Pool A", "pool-a.test"), ("pool-b", "Pool B", "pool-b.test"))
    p = subprocess.Popen([STRESS, pg.app_url, str(ids["pool-a"]), str(ids["pool-b"]), "20000", "crash"],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    lines = []
    # Crash the database once writes are flowing, so that transactions are
    # in flight, some of them committing, when it goes.
    for line in p.stdout:
        lines.append(line)
        if len(lines) == 500:
            pg.restart_immediate()
            break
    out, err = p.communicate(timeout=600)
    lines.extend(out.splitlines(True))
    # Every transaction ended (none hung), none saw another tenant, and the
    # crash did hit transactions in flight.
    assert "transactions 20000" in err, err
    assert "leaks 0" in err and "unexpected 0" in err, err
    unavailable = int(err.split("unavailable ")[1].split(",")[0])
    assert unavailable > 0, err
    acks = acked("".join(lines))
    rows = stored(pg, "crash")
    missing = set(acks) - set(rows)
    assert not missing, f"acknowledged but lost: {sorted(missing)[:10]}"
    for key, tenant in acks.items():
        assert rows[key] == tenant


def test_faults_on_every_connection_end_no_transaction_and_lose_no_write(pg, tenants):
    """The pool's connections go through a proxy that cuts them at any byte
    (start-up, a batch's results, between two), refuses them, stalls them
    in the start-up or desynchronises them (libpq drops the connection
    while results are being read). Every transaction still ends, none sees
    another tenant, no acknowledged write is lost, and once the faults
    stop the pool serves again."""
    ids = tenants(("pool-a", "Pool A", "pool-a.test"), ("pool-b", "Pool B", "pool-b.test"))
    seed = int(os.environ.get("AANTAFEL_FAULT_SEED", time.time_ns() % 1_000_000))
    proxy = FaultyProxy(pg, seed)
    try:
        p = subprocess.Popen([STRESS, f"host={proxy.dir} dbname=aantafel user=aantafel_app", str(ids["pool-a"]),
                              str(ids["pool-b"]), "16000", "faults"],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        lines = []                   # (seconds since the faults stopped or None, line)
        state = {"acks": 0, "stopped_at": None, "last": time.monotonic()}

        def read():
            for line in p.stdout:
                state["last"] = time.monotonic()
                if line.startswith("ack"):
                    state["acks"] += 1
                    # Faults while the first 5000 commits are made; then none.
                    if state["acks"] == 5000:
                        proxy.faults = False
                        state["stopped_at"] = time.monotonic()
                at = state["stopped_at"]
                lines.append((None if at is None else time.monotonic() - at, line))

        reader = threading.Thread(target=read, daemon=True)
        reader.start()
        # A pool that stops ending transactions (a worker spinning, a
        # connection waiting for an event that never comes) ends the run.
        while p.poll() is None and time.monotonic() - state["last"] < SILENT:
            time.sleep(0.2)
        hung = p.poll() is None
        if hung:
            p.kill()
        reader.join(10)
        stopped_at = state["stopped_at"]
        err = p.communicate(timeout=60)[1]
    finally:
        proxy.close()
    kinds = dict(proxy.counts)
    print(f"seed {seed}: connections {kinds}")
    assert not hung, f"seed {seed} {kinds}: no transaction ended for {SILENT} s: the pool hung"
    # Every transaction ended (none hung: the run ended), none saw another
    # tenant, no statement failed that should not have.
    assert p.returncode == 0 and "transactions 16000" in err, f"seed {seed} {kinds}: {err[-2000:]}"
    assert "leaks 0" in err and "unexpected 0" in err, err
    # The faults happened and cost transactions.
    assert kinds.get("cut", 0) + kinds.get("refuse", 0) > 5 and kinds.get("desync", 0) > 5, kinds
    assert stopped_at is not None and "unavailable" in "".join(line for _, line in lines)
    # After the faults the pool came back and stayed: the last transaction
    # that found no database ended soon after they stopped, and thousands
    # committed after it.
    last = max(i for i, (_, line) in enumerate(lines) if line.startswith("unavailable"))
    since, _ = lines[last]
    assert since is None or since < BACK, f"seed {seed}: still unavailable {since:.1f} s after the faults stopped"
    assert sum(line.startswith("ack") for _, line in lines[last:]) >= 2000, f"seed {seed} {kinds}: {err[-500:]}"
    # Every acknowledged write is there, under its own tenant.
    acked_rows = acked("".join(line for _, line in lines))
    rows = stored(pg, "faults")
    missing = set(acked_rows) - set(rows)
    assert not missing, f"seed {seed}: acknowledged but lost: {sorted(missing)[:10]}"
    assert all(rows[k] == t for k, t in acked_rows.items())
