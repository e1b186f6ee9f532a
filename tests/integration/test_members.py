"""Admins grant and revoke roles on the site; the core decides who is an
admin, so a member's page or a forged form changes nothing, and an
account of another municipality cannot be reached."""
import pytest

from harness import aantafel, wait_for
from test_signin import SMALL, Browser

PASSWORD = "een lang wachtwoord 123"
HOST = "mem-a.test"


def make(pg, slug, email, role, name):
    r = aantafel("user", "create", "--tenant", slug, "--email", email, "--role", role, "--name", name,
                 env={**pg.daemon_env(), **SMALL}, input=PASSWORD + "\n", check=False)
    assert r.returncode == 0, r.stderr


def query(pg, sql, *args):
    with pg.connect("super") as c, c.cursor() as cur:
        cur.execute(sql, args)
        return cur.fetchall() if cur.description else None


def roles(pg, tid, email):
    return [r for (r,) in query(pg, "SELECT r.role FROM account_roles r JOIN accounts a ON a.tenant_id = r.tenant_id"
                                    " AND a.id = r.account_id WHERE a.tenant_id = %s AND a.email = %s ORDER BY 1",
                                    tid, email)]


def account_id(pg, tid, email):
    return query(pg, "SELECT id FROM accounts WHERE tenant_id = %s AND email = %s", tid, email)[0][0]


@pytest.fixture
def site(db_daemon, tenants, pg):
    ids = tenants(("mem-a", "Gemeente Leden", HOST), ("mem-b", "Gemeente Ander", "mem-b.test"))
    make(pg, "mem-a", "baas@example.nl", "admin", "Bea Baas")
    make(pg, "mem-a", "lid@example.nl", "member", "Lex Lid")
    make(pg, "mem-b", "vreemd@example.nl", "member", "Vera Vreemd")
    d = db_daemon({"workers": "2"}, env=SMALL)
    wait_for(lambda: d.get("/inloggen", host=HOST)[0] == 200, what="sign-in page")
    return d, ids


def signed_in(d, email):
    b = Browser(d, HOST)
    assert b.signin(email, PASSWORD)[0] == 303
    return b


def test_an_admin_grants_and_revokes(site, pg):
    d, ids = site
    tid = ids["mem-a"]
    b = signed_in(d, "baas@example.nl")
    st, _, body, _ = b.go("GET", "/beheer/leden")
    assert st == 200 and "Lex Lid" in body and "lid@example.nl" in body and "Vera" not in body
    lid = account_id(pg, tid, "lid@example.nl")
    form = {"csrf": b.jar["at_csrf"], "account": str(lid), "role": "facilitator", "action": "grant"}
    assert b.go("POST", "/beheer/leden", form)[0] == 303
    assert roles(pg, tid, "lid@example.nl") == ["facilitator", "member"]
    assert b.go("POST", "/beheer/leden", {**form, "action": "revoke"})[0] == 303
    assert roles(pg, tid, "lid@example.nl") == ["member"]


def test_an_admin_keeps_their_own_admin_role(site, pg):
    d, ids = site
    tid = ids["mem-a"]
    b = signed_in(d, "baas@example.nl")
    me = account_id(pg, tid, "baas@example.nl")
    st, _, body, _ = b.go("POST", "/beheer/leden", {"csrf": b.jar["at_csrf"], "account": str(me), "role": "admin",
                                                      "action": "revoke"})
    assert st == 422 and "eigen beheerdersrol" in body
    assert "admin" in roles(pg, tid, "baas@example.nl")


def test_a_member_cannot_see_or_change_roles(site, pg):
    d, ids = site
    tid = ids["mem-a"]
    b = signed_in(d, "lid@example.nl")
    assert b.go("GET", "/beheer/leden")[0] == 403
    me = account_id(pg, tid, "lid@example.nl")
    st = b.go("POST", "/beheer/leden", {"csrf": b.jar["at_csrf"], "account": str(me), "role": "admin",
                                        "action": "grant"})[0]
    assert st == 403
    assert roles(pg, tid, "lid@example.nl") == ["member"]


def test_guests_and_forged_forms(site, pg):
    d, ids = site
    st, hdr, _ = d.get("/beheer/leden", host=HOST)
    assert st == 303 and hdr["location"] == "/inloggen"
    b = signed_in(d, "baas@example.nl")
    lid = account_id(pg, ids["mem-a"], "lid@example.nl")
    # Without the CSRF token: refused by the core.
    assert b.go("POST", "/beheer/leden", {"account": str(lid), "role": "admin", "action": "grant"})[0] == 403
    assert roles(pg, ids["mem-a"], "lid@example.nl") == ["member"]
    # Nonsense: 422.
    assert b.go("POST", "/beheer/leden", {"csrf": b.jar["at_csrf"], "account": "x", "role": "god",
                                          "action": "grant"})[0] == 422


def test_another_municipalitys_account_is_out_of_reach(site, pg):
    d, ids = site
    b = signed_in(d, "baas@example.nl")
    foreign = account_id(pg, ids["mem-b"], "vreemd@example.nl")
    st = b.go("POST", "/beheer/leden", {"csrf": b.jar["at_csrf"], "account": str(foreign), "role": "admin",
                                        "action": "grant"})[0]
    assert st == 303
    assert roles(pg, ids["mem-b"], "vreemd@example.nl") == ["member"]
    assert query(pg, "SELECT count(*) FROM account_roles WHERE tenant_id = %s AND account_id = %s",
                 ids["mem-a"], foreign)[0][0] == 0
