"""The daemon's database pool under load, driven by tests/db/db_stress
(the pool's own code in an event loop) against the real cluster."""
import os
import subprocess
import threading
import time

BUILD_DIR = os.environ.get("AANTAFEL_BUILD_DIR", os.path.join(os.getcwd(), "build"))
STRESS = os.path.join(BUILD_DIR, "tests", "db", "db_stress")


def run_stress(pg, a, b, count, prefix):
    return subprocess.run([STRESS, pg.app_url, str(a), str(b), str(count), prefix],
                          capture_output=True, text=True, timeout=600)


def acked(stdout):
    out = {}
    for line in stdout.splitlines():
        _, tenant, key = line.split()
        out[key] = int(tenant)
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
