"""The demo's example content (etc/demo.sql, run by `make demo`) loads,
loads only once, and its tables serve: the public one to a guest, the
closed one to nobody but its facilitator. And the admins' page of all
tables."""
import os
import subprocess

from harness import SOURCE_DIR, aantafel, wait_for


def test_demo_content(pg, make_daemon):
    aantafel("tenant", "create", "zutphen", "--name", "Gemeente Zutphen", "--host", "zutphen.localhost",
             env=pg.daemon_env())
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


def test_the_admin_tables_page(pg, make_daemon):
    """Admins see every table of the municipality by status, closed ones too;
    others get 403, guests the sign-in page."""
    from test_signin import SMALL, Browser
    aantafel("tenant", "create", "beheer-t", "--name", "Gemeente Beheer", "--host", "beheer-t.test",
             env=pg.daemon_env())
    for email, role in (("baas@example.nl", "admin"), ("lid@example.nl", "member"), ("gl@example.nl", "facilitator")):
        aantafel("user", "create", "--tenant", "beheer-t", "--email", email, "--role", role, "--name", email,
                 env={**pg.daemon_env(), **SMALL}, input="een lang wachtwoord 123\n")
    d = make_daemon(None, {**pg.daemon_env(), **SMALL})
    wait_for(lambda: d.get("/", host="beheer-t.test")[0] == 200, what="home page")
    gl = Browser(d, "beheer-t.test")
    assert gl.signin("gl@example.nl", "een lang wachtwoord 123")[0] == 303
    for title, vis in (("Open tafel", "public"), ("Geheime tafel", "closed")):
        st, hdr, _, _ = gl.go("POST", "/tafels/nieuw", {"csrf": gl.jar["at_csrf"], "title": title,
                                                        "question": "Wat is ervoor nodig?", "visibility": vis})
        assert st == 303
    admin = Browser(d, "beheer-t.test")
    assert admin.signin("baas@example.nl", "een lang wachtwoord 123")[0] == 303
    st, _, body, _ = admin.go("GET", "/beheer/tafels")
    assert st == 200 and "Open tafel" in body and "Geheime tafel" in body
    st, _, body, _ = admin.go("GET", "/beheer/tafels?status=archived")
    assert st == 200 and "Open tafel" not in body
    lid = Browser(d, "beheer-t.test")
    assert lid.signin("lid@example.nl", "een lang wachtwoord 123")[0] == 303
    assert lid.go("GET", "/beheer/tafels")[0] == 403
    assert Browser(d, "beheer-t.test").go("GET", "/beheer/tafels")[0] == 303
