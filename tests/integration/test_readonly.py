"""A request that only read ends its transaction without a round trip of
its own: the ROLLBACK goes with the connection's next batch. An idle
connection must still not keep the transaction (and its locks) open: it
is ended on its own shortly after."""
import time

import pytest

from bundle_util import deploy, write_bundle
from harness import wait_for

READ_ONLY = "return { plugins = { site = { notices = 0 } } }"


@pytest.fixture
def site(db_daemon, tenants, pg, tmp_path):
    tenants(("ro-a", "Gemeente Lezen", "ro-a.test"))
    r = deploy(pg, "ro-a", write_bundle(tmp_path / "b", {"tenant.lua": READ_ONLY}))
    assert r.returncode == 0, r.stderr
    d = db_daemon({"workers": "1", "db_pool_size": "2"})
    wait_for(lambda: d.get("/", host="ro-a.test")[0] == 200, what="home page")
    return d


def open_transactions(pg):
    with pg.connect("super") as c, c.cursor() as cur:
        cur.execute("SELECT count(*) FROM pg_stat_activity WHERE usename = 'aantafel_app'"
                    " AND state = 'idle in transaction'")
        return cur.fetchone()[0]


def test_idle_connections_end_their_read_only_transaction(site, pg):
    for _ in range(20):
        assert site.get("/", host="ro-a.test")[0] == 200
    wait_for(lambda: open_transactions(pg) == 0, timeout=10, what="no transaction left open")
    # DDL that needs every lock gets it at once.
    with pg.connect("owner") as c, c.cursor() as cur:
        cur.execute("SET lock_timeout = '3s'")
        cur.execute("LOCK TABLE plugin_store IN ACCESS EXCLUSIVE MODE")


def test_read_only_pages_keep_working_under_alternating_tenants(site, db_daemon, tenants, pg):
    """The deferred ROLLBACK runs before the next request's BEGIN and
    tenant setting: a page never sees the previous tenant's setting."""
    ids = tenants(("ro-b", "Gemeente Ander", "ro-b.test"))
    with pg.connect("owner") as c, c.cursor() as cur:
        for slug, text in (("ro-a", "Welkom A"), ("ro-b", "Welkom B")):
            cur.execute("SELECT id FROM platform.tenants WHERE slug = %s", (slug,))
            tid = cur.fetchone()[0]
            cur.execute("SELECT platform.enter_tenant(%s)", (str(tid),))
            cur.execute("INSERT INTO plugin_store (tenant_id, plugin, key, value)"
                        " VALUES (%s, 'site', 'welcome', jsonb_build_object('text', %s::text))"
                        " ON CONFLICT (tenant_id, plugin, key) DO UPDATE SET value = EXCLUDED.value", (tid, text))
            c.commit()
    wait_for(lambda: site.get("/", host="ro-b.test")[0] == 200, what="second tenant")
    for i in range(60):
        host, want, other = (("ro-a.test", "Welkom A", "Welkom B") if i % 2 else ("ro-b.test", "Welkom B", "Welkom A"))
        st, _, body = site.get("/", host=host)
        assert st == 200 and want in body.decode() and other not in body.decode()
