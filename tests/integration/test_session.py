"""Before any Lua runs, the core reads the CSRF cookie and the session:
every page gets an at_csrf cookie; a state-changing request without the
matching token is refused with 403; a valid session cookie gives the
plugin req.user, an expired, foreign-tenant or deleted account's one does
not. Sessions are rows made here directly (sign-in arrives with the
accounts pages)."""
import base64
import hashlib
import os

import pytest

from bundle_util import deploy, write_bundle
from harness import make_request, parse_response, wait_for

WHOAMI = """
plugin.route("GET", "/whoami", function(req)
	return { json = { user = req.user or false, csrf = req.csrf } }
end)
plugin.route("POST", "/echo", function(req)
	return { json = { form = req.form, user = req.user or false } }
end)
plugin.route("POST", "/write", function(req)
	assert(plugin.store.put("written", { by = req.user and req.user.name or "guest" }))
	return { json = { user = req.user or false } }
end)
"""


def token():
    return base64.urlsafe_b64encode(os.urandom(32)).rstrip(b"=").decode()


def add_session(pg, tenant_id, email, name, roles=(), age="0 seconds", idle="0 seconds", deleted=False):
    """An account (created once) and a new session for it; returns the
    session token."""
    t = token()
    with pg.connect("owner") as c, c.cursor() as cur:
        cur.execute("SELECT platform.enter_tenant(%s)", (str(tenant_id),))
        cur.execute("SELECT id FROM accounts WHERE tenant_id = %s AND email = %s", (tenant_id, email))
        row = cur.fetchone()
        if row:
            aid = row[0]
        else:
            cur.execute("INSERT INTO accounts (tenant_id, email, display_name, deleted_at)"
                        " VALUES (%s, %s, %s, CASE WHEN %s THEN now() END) RETURNING id",
                        (tenant_id, email, name, deleted))
            aid = cur.fetchone()[0]
            for r in roles:
                cur.execute("INSERT INTO account_roles (tenant_id, account_id, role) VALUES (%s, %s, %s)",
                            (tenant_id, aid, r))
        cur.execute("INSERT INTO sessions (tenant_id, token_hash, account_id, csrf_token, created_at, last_seen_at)"
                    " VALUES (%s, %s, %s, %s, now() - %s::interval, now() - %s::interval)",
                    (tenant_id, hashlib.sha256(t.encode()).digest(), aid, token(), age, idle))
    return t


@pytest.fixture
def site(db_daemon, tenants, pg, tmp_path):
    ids = tenants(("sess-a", "Gemeente Sessie A", "sess-a.test"), ("sess-b", "Gemeente Sessie B", "sess-b.test"))
    for slug in ("sess-a", "sess-b"):
        folder = write_bundle(tmp_path / slug, {
            "tenant.lua": "return { plugins = { who = {} } }",
            "plugins/who.lua": WHOAMI,
        })
        r = deploy(pg, slug, folder)
        assert r.returncode == 0, r.stderr
    d = db_daemon({"workers": "2"})
    for host in ("sess-a.test", "sess-b.test"):
        wait_for(lambda: d.get("/whoami", host=host)[0] == 200, what=f"{host} serves /whoami")
    return d, ids


def get_json(d, path, host, headers=None):
    import json
    st, hdr, body = d.get(path, host=host, headers=headers)
    assert st == 200, (st, body[:300])
    return json.loads(body)


def post(d, path, host, body, headers=None):
    h = {"Content-Type": "application/x-www-form-urlencoded", "Connection": "close", **(headers or {})}
    return parse_response(d.raw(make_request("POST", path, host, h, body.encode())))


def test_every_page_sets_a_csrf_cookie(site):
    d, _ = site
    st, hdr, _ = d.get("/whoami", host="sess-a.test")
    cookie = hdr["set-cookie"]
    assert cookie.startswith("at_csrf=")
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie and "Path=/" in cookie
    value = cookie.split(";")[0].split("=", 1)[1]
    assert len(value) == 43
    # Sent back, it is kept (no new cookie) and given to the plugin.
    st, hdr, body = d.get("/whoami", host="sess-a.test", headers={"Cookie": f"at_csrf={value}"})
    assert "set-cookie" not in hdr
    assert value.encode() in body


def test_post_without_the_token_is_refused(site):
    d, _ = site
    t = token()
    assert (post(d, "/echo", "sess-a.test", "a=1"))[0] == 403                       # no cookie at all
    assert (post(d, "/echo", "sess-a.test", "a=1", {"Cookie": f"at_csrf={t}"}))[0] == 403   # no field
    assert (post(d, "/echo", "sess-a.test", f"a=1&csrf={token()}", {"Cookie": f"at_csrf={t}"}))[0] == 403
    assert (post(d, "/echo", "sess-a.test", f"a=1&csrf={t}", {"Cookie": "at_csrf=short"}))[0] == 403
    r = post(d, "/echo", "sess-a.test", f"a=1&csrf={t}", {"Cookie": f"at_csrf={t}"})
    assert r[0] == 200, r
    r = post(d, "/echo", "sess-a.test", "a=1", {"Cookie": f"at_csrf={t}", "X-CSRF-Token": t})
    assert r[0] == 200, r


def test_form_fields_are_decoded(site):
    import json
    d, _ = site
    t = token()
    r = post(d, "/echo", "sess-a.test", f"csrf={t}&a=1+2&b=%2B%C3%A9&a=second&c&=x&bad=%zz",
             {"Cookie": f"at_csrf={t}"})
    form = json.loads(r[2])["form"]
    assert form["a"] == "1 2" and form["b"] == "+\u00e9" and form["c"] == ""
    assert "bad" not in form and "" not in form


def test_a_session_gives_the_user(site, pg):
    d, ids = site
    t = add_session(pg, ids["sess-a"], "anna@example.nl", "Anna de Vries", roles=("admin", "member"))
    me = get_json(d, "/whoami", "sess-a.test", {"Cookie": f"at_session={t}"})["user"]
    assert me["name"] == "Anna de Vries" and me["roles"] == {"admin": True, "member": True}
    # The same token means nothing on another tenant's host.
    assert get_json(d, "/whoami", "sess-b.test", {"Cookie": f"at_session={t}"})["user"] is False
    # Garbage and absent cookies: a guest.
    assert get_json(d, "/whoami", "sess-a.test", {"Cookie": "at_session=nope"})["user"] is False
    assert get_json(d, "/whoami", "sess-a.test", {"Cookie": f"at_session={token()}"})["user"] is False


def test_expired_and_deleted_sessions_are_guests(site, pg):
    d, ids = site
    idle = add_session(pg, ids["sess-a"], "idle@example.nl", "Idle", idle="31 minutes")
    old = add_session(pg, ids["sess-a"], "old@example.nl", "Old", age="13 hours")
    gone = add_session(pg, ids["sess-a"], "gone@example.nl", "Gone", deleted=True)
    fresh = add_session(pg, ids["sess-a"], "fresh@example.nl", "Fresh", age="11 hours", idle="29 minutes")
    for t in (idle, old, gone):
        assert get_json(d, "/whoami", "sess-a.test", {"Cookie": f"at_session={t}"})["user"] is False
    assert get_json(d, "/whoami", "sess-a.test", {"Cookie": f"at_session={fresh}"})["user"]["name"] == "Fresh"


def test_an_expired_session_stays_expired_after_a_write(site, pg):
    # The request runs as a guest and commits its write; the session it
    # carried must not be touched back to life in that transaction.
    d, ids = site
    t = add_session(pg, ids["sess-a"], "lapsed@example.nl", "Lapsed", idle="31 minutes")
    c = token()
    st, _, body = post(d, "/write", "sess-a.test", f"csrf={c}", {"Cookie": f"at_csrf={c}; at_session={t}"})
    assert st == 200 and b'"user": false' in body.replace(b'":false', b'": false'), body
    with pg.connect("super") as conn, conn.cursor() as cur:
        cur.execute("SELECT extract(epoch FROM now() - last_seen_at) FROM sessions WHERE token_hash = %s",
                    (hashlib.sha256(t.encode()).digest(),))
        assert cur.fetchone()[0] > 30 * 60
    assert get_json(d, "/whoami", "sess-a.test", {"Cookie": f"at_session={t}"})["user"] is False


def test_a_used_session_is_touched(site, pg):
    d, ids = site
    t = add_session(pg, ids["sess-a"], "touch@example.nl", "Touch", idle="10 minutes")
    assert get_json(d, "/whoami", "sess-a.test", {"Cookie": f"at_session={t}"})["user"]["name"] == "Touch"

    def idle_seconds():
        with pg.connect("super") as c, c.cursor() as cur:
            cur.execute("SELECT extract(epoch FROM now() - last_seen_at) FROM sessions WHERE token_hash = %s",
                        (hashlib.sha256(t.encode()).digest(),))
            return cur.fetchone()[0]
    wait_for(lambda: idle_seconds() < 60, what="last_seen_at moved to now")


def test_session_idle_timeout_is_configurable(db_daemon, site, pg):
    _, ids = site
    d = db_daemon({"workers": "1", "session_idle_timeout": "2s"})
    wait_for(lambda: d.get("/whoami", host="sess-a.test")[0] == 200, what="serving")
    t = add_session(pg, ids["sess-a"], "short@example.nl", "Short", idle="5 seconds")
    assert get_json(d, "/whoami", "sess-a.test", {"Cookie": f"at_session={t}"})["user"] is False


def test_over_tls_cookies_are_host_prefixed_and_secure(db_daemon, site, pg):
    _, ids = site
    d = db_daemon({"workers": "1", "trusted_proxies": "127.0.0.1"})
    wait_for(lambda: d.get("/whoami", host="sess-a.test")[0] == 200, what="serving")
    tls = {"X-Forwarded-Proto": "https"}
    st, hdr, _ = d.get("/whoami", host="sess-a.test", headers=tls)
    assert hdr["set-cookie"].startswith("__Host-at_csrf=") and "; Secure" in hdr["set-cookie"]
    assert hdr["strict-transport-security"].startswith("max-age=")
    t = add_session(pg, ids["sess-a"], "tls@example.nl", "TLS")
    # Over TLS only the __Host- cookie counts; over plain HTTP only the plain one.
    assert get_json(d, "/whoami", "sess-a.test", {**tls, "Cookie": f"__Host-at_session={t}"})["user"]["name"] == "TLS"
    assert get_json(d, "/whoami", "sess-a.test", {**tls, "Cookie": f"at_session={t}"})["user"] is False
    assert get_json(d, "/whoami", "sess-a.test", {"Cookie": f"at_session={t}"})["user"]["name"] == "TLS"
    st, hdr, _ = d.get("/whoami", host="sess-a.test")
    assert hdr["set-cookie"].startswith("at_csrf=") and "Secure" not in hdr["set-cookie"]
    assert "strict-transport-security" not in hdr


def test_forwarded_proto_from_an_untrusted_peer_is_ignored(site):
    d, _ = site                                                  # no trusted proxies
    st, hdr, _ = d.get("/whoami", host="sess-a.test", headers={"X-Forwarded-Proto": "https"})
    assert hdr["set-cookie"].startswith("at_csrf=") and "Secure" not in hdr["set-cookie"]
    assert "strict-transport-security" not in hdr
