"""The demo's example content (etc/demo.sql, run by `make demo`) loads,
loads only once, and its tables serve: the public one to a guest, the
closed one to nobody but its facilitator."""
import os
import subprocess

from harness import SOURCE_DIR, aantafel, wait_for


def test_demo_content(pg, make_daemon):
    aantafel("tenant", "create", "zutphen", "--name", "Gemeente Zutphen", "--host", "zutphen.localhost",
             env=pg.daemon_env(), check=False)
    for _ in range(2):
        subprocess.run(["psql", "-d", pg.owner_url, "-X", "-q", "-v", "ON_ERROR_STOP=1", "-f",
                        os.path.join(SOURCE_DIR, "etc", "demo.sql")], check=True, capture_output=True)
    with pg.connect("super") as c, c.cursor() as cur:
        cur.execute("SELECT t.visibility, count(c.id) FROM tables t LEFT JOIN contributions c"
                    " ON c.tenant_id = t.tenant_id AND c.table_id = t.id GROUP BY t.id, t.visibility ORDER BY t.id")
        assert cur.fetchall() == [("public", 6), ("closed", 0)]
        cur.execute("SELECT id FROM tables ORDER BY id")
        public, closed = [r[0] for r in cur.fetchall()]
    d = make_daemon(None, pg.daemon_env())
    wait_for(lambda: d.get("/", host="zutphen.localhost")[0] == 200, what="home page")
    st, _, body = d.get("/", host="zutphen.localhost")
    assert b"Buurthuis Hanzehof" in body and b"Mantelzorg" not in body
    st, _, body = d.get(f"/tafels/{public}", host="zutphen.localhost")
    assert st == 200 and b"Een vaste beheerder" in body and b"deelnemer aan tafel" in body
    assert d.get(f"/tafels/{closed}", host="zutphen.localhost")[0] == 404
