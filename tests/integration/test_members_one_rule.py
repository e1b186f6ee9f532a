"""Members and roles have one rule, in one place (api.members_list and
api.member_role): the admins' page /beheer/leden and GET /api/v1/members
give the same members in the same order and the same pages, and the page
and the API refuse an admin's own admin role alike, keeping it."""
import html
import re

import pytest

from api_client import Api
from harness import aantafel, wait_for
from test_signin import SMALL, Browser

PASSWORD = "een lang wachtwoord 123"
HOST = "een-regel.test"


@pytest.fixture
def site(db_daemon, tenants, pg):
    tid = tenants(("een-regel", "Gemeente Een Regel", HOST))["een-regel"]
    r = aantafel("user", "create", "--tenant", "een-regel", "--email", "baas@example.nl", "--role", "admin",
                 "--name", "Bea Baas", env={**pg.daemon_env(), **SMALL}, input=PASSWORD + "\n", check=False)
    assert r.returncode == 0 or "exists" in r.stdout, r.stderr
    # Enough accounts for more than one page, made with names whose order
    # is not their ids' order.
    with pg.connect("super") as c, c.cursor() as cur:
        for i in range(27):
            cur.execute("INSERT INTO accounts (tenant_id, email, display_name) VALUES (%s, %s, %s)"
                        " ON CONFLICT (tenant_id, email) DO NOTHING RETURNING id",
                        (tid, f"lid{i:02d}@example.nl", f"{chr(ord('Z') - i % 26)} Lid {i:02d}"))
            row = cur.fetchone()
            if row:
                cur.execute("INSERT INTO account_roles (tenant_id, account_id, role) VALUES (%s, %s, 'member')",
                            (tid, row[0]))
    d = db_daemon({"workers": "2"}, env=SMALL)
    wait_for(lambda: d.get("/inloggen", host=HOST)[0] == 200, what="sign-in page")
    b = Browser(d, HOST)
    assert b.signin("baas@example.nl", PASSWORD)[0] == 303
    # The API with the same session (the page's CSRF token is the session's).
    return d, b, Api(d, HOST, browser=b, csrf=b.jar["at_csrf"]), tid


def page_members(body):
    """(name, email) of each row of the members page, in order, and the
    link to the next page."""
    rows = re.findall(r"<tr>\n<td>([^<]*)</td>\n<td>([^<( ]*)", body)
    more = re.search(r'<a href="(/beheer/leden\?na=[^"]*)">', body)
    return [(html.unescape(n), html.unescape(e)) for n, e in rows], more and html.unescape(more.group(1))


def test_the_page_and_the_api_list_the_same_members_and_pages(site):
    d, b, api, _ = site
    path, cursor, pages = "/beheer/leden", None, 0
    while True:
        st, _, body, _ = b.go("GET", path)
        assert st == 200, body[:300]
        rows, more = page_members(body)
        ast, _, answer = api.get("/members" + (f"?cursor={cursor}" if cursor else ""))
        assert ast == 200
        assert rows == [(m["name"], m["email"]) for m in answer["items"]]
        assert len(rows) == 20 or not more
        pages += 1
        if not answer["next_cursor"]:
            assert more is None
            break
        assert more == "/beheer/leden?na=" + answer["next_cursor"]
        path, cursor = more, answer["next_cursor"]
    assert pages == 2


def test_the_page_and_the_api_refuse_an_admins_own_admin_role_alike(site, pg):
    d, b, api, tid = site
    me = api.get("/me")[2]["id"]
    st, _, body, _ = b.go("POST", "/beheer/leden", {"csrf": b.jar["at_csrf"], "account": str(me), "role": "admin",
                                                      "action": "revoke"})
    assert st == 422 and "eigen beheerdersrol" in body
    st, _, answer = api.delete(f"/members/{me}/roles/admin")
    assert st == 409 and answer["error"]["code"] == "own_admin"
    with pg.connect("super") as c, c.cursor() as cur:
        cur.execute("SELECT role FROM account_roles WHERE tenant_id = %s AND account_id = %s ORDER BY 1", (tid, me))
        assert "admin" in [r for (r,) in cur.fetchall()]
    # A change on one is seen by the other.
    lid = api.get("/members")[2]["items"][1]
    assert b.go("POST", "/beheer/leden", {"csrf": b.jar["at_csrf"], "account": str(lid["id"]),
                                          "role": "facilitator", "action": "grant"})[0] == 303
    changed = next(m for m in api.get("/members")[2]["items"] if m["id"] == lid["id"])
    assert changed["roles"] == ["facilitator", "member"]
