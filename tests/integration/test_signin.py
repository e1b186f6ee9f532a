"""Signing in and out through the site plugin's pages: the password is
checked on the hashing threads, an unknown address gets the same answer
and the same work (the dummy hash, counted in the log), failures are
limited before any hashing, every sign-in makes a new session token,
sign-out ends the session on the server, and a stronger scrypt setting
re-hashes the password at the next sign-in."""
import re
import urllib.parse

import pytest

from harness import aantafel, make_request, parse_response, wait_for

PASSWORD = "een lang wachtwoord 123"
SMALL = {"AANTAFEL_SCRYPT_N": "1024", "AANTAFEL_SCRYPT_MAXMEM": "16MiB"}


def cookies_of(headers_raw):
    """name -> full Set-Cookie line, from a raw response head."""
    out = {}
    for line in headers_raw.split("\r\n"):
        if line.lower().startswith("set-cookie:"):
            value = line.split(":", 1)[1].strip()
            out[value.split("=", 1)[0]] = value
    return out


def create_user(pg, slug, email, role, name, password=PASSWORD):
    """`aantafel user create`, which answers 0 both when it makes the
    account and when the account is there already: a fixture that calls
    it runs for every test of a file, against one cluster. Which of the
    two it must say is read from the database first."""
    with pg.connect("super") as c, c.cursor() as cur:
        cur.execute("SELECT count(*) FROM accounts a JOIN platform.tenants t ON t.id = a.tenant_id"
                    " WHERE t.slug = %s AND a.email = %s AND a.deleted_at IS NULL", (slug, email))
        existed = cur.fetchone()[0] == 1
    r = aantafel("user", "create", "--tenant", slug, "--email", email, "--role", role, "--name", name,
                 env={**pg.daemon_env(), **SMALL}, input=password + "\n", check=False)
    assert r.returncode == 0, r.stderr
    if existed:
        assert r.stdout == f"{slug}: account {email} exists; role {role} granted, password unchanged\n", r.stdout
    else:
        assert r.stdout == f"{slug}: account {email} ({name}) created with role {role}\n", r.stdout


def request(d, method, path, host, cookies=None, form=None):
    headers = {"Connection": "close"}
    if cookies:
        headers["Cookie"] = "; ".join(f"{k}={v}" for k, v in cookies.items())
    body = None
    if form is not None:
        headers["Content-Type"] = "application/x-www-form-urlencoded"
        body = urllib.parse.urlencode(form).encode()
    raw = d.raw(make_request(method, path, host, headers, body))
    head = raw.partition(b"\r\n\r\n")[0].decode("latin-1")
    st, hdr, body = parse_response(raw)
    return st, hdr, body.decode("utf-8", "replace"), cookies_of(head)


class Browser:
    """Keeps cookies like a browser for one host."""

    def __init__(self, d, host):
        self.d, self.host, self.jar = d, host, {}

    def go(self, method, path, form=None):
        st, hdr, body, set_cookies = request(self.d, method, path, self.host, self.jar, form)
        for name, line in set_cookies.items():
            value = line.split(";", 1)[0].split("=", 1)[1]
            if "Max-Age=0" in line:
                self.jar.pop(name, None)
            else:
                self.jar[name] = value
        return st, hdr, body, set_cookies

    def csrf(self):
        if "at_csrf" not in self.jar:
            self.go("GET", "/inloggen")
        return self.jar["at_csrf"]

    def signin(self, email, password):
        return self.go("POST", "/inloggen", {"csrf": self.csrf(), "email": email, "password": password})


@pytest.fixture
def site(db_daemon, tenants, pg):
    ids = tenants(("in-a", "Gemeente Inlog", "in-a.test"))
    create_user(pg, "in-a", "anne@example.nl", "admin", "Anne")
    d = db_daemon({"workers": "2"}, env=SMALL)
    wait_for(lambda: d.get("/inloggen", host="in-a.test")[0] == 200, what="sign-in page")
    return d, ids["in-a"]


def sessions(pg, tenant_id):
    with pg.connect("super") as c, c.cursor() as cur:
        cur.execute("SELECT count(*) FROM sessions WHERE tenant_id = %s", (tenant_id,))
        return cur.fetchone()[0]


def test_sign_in_and_out(site, pg):
    d, tid = site
    b = Browser(d, "in-a.test")
    st, _, body, _ = b.go("GET", "/")
    assert "Inloggen" in body and "Anne" not in body
    before = sessions(pg, tid)
    old_csrf = b.csrf()
    st, hdr, _, set_cookies = b.signin("Anne@Example.NL", PASSWORD)
    assert st == 303 and hdr["location"] == "/"
    session = set_cookies["at_session"]
    assert "HttpOnly" in session and "SameSite=Lax" in session and "Path=/" in session
    assert b.jar["at_csrf"] != old_csrf                                  # a new CSRF token with the session
    assert sessions(pg, tid) == before + 1
    st, _, body, _ = b.go("GET", "/")
    assert "Anne" in body and "Uitloggen" in body

    token = b.jar["at_session"]
    st, hdr, _, set_cookies = b.go("POST", "/uitloggen", {"csrf": b.jar["at_csrf"]})
    assert st == 303 and "Max-Age=0" in set_cookies["at_session"]
    assert sessions(pg, tid) == before
    # The old cookie is worthless now.
    st, _, body, _ = request(d, "GET", "/", "in-a.test", {"at_session": token})
    assert "Anne" not in body


def test_every_sign_in_makes_a_new_token(site):
    d, _ = site
    b = Browser(d, "in-a.test")
    b.signin("anne@example.nl", PASSWORD)
    first = b.jar["at_session"]
    b.signin("anne@example.nl", PASSWORD)
    assert b.jar["at_session"] != first


def test_wrong_password_and_unknown_address_get_the_same_answer(site):
    d, _ = site
    b = Browser(d, "in-a.test")
    mark = d.log_mark()
    st1, _, body1, c1 = b.signin("anne@example.nl", "niet het goede wachtwoord")
    st2, _, body2, c2 = b.signin("niemand@example.nl", "niet het goede wachtwoord")
    assert st1 == st2 == 401
    assert "at_session" not in c1 and "at_session" not in c2
    strip = lambda s: re.sub(r'value="[^"]*"', "", s)                  # the e-mail field echoes the input
    assert strip(body1).replace("anne", "X") == strip(body2).replace("niemand", "X")
    assert "klopt niet" in body1
    # The unknown address ran the dummy hash (one line per such sign-in).
    wait_for(lambda: d.log_since(mark).count("unknown address (dummy hash)") == 1, what="dummy hash counted")


def test_sign_in_needs_the_csrf_token(site):
    d, _ = site
    st, _, _, _ = request(d, "POST", "/inloggen", "in-a.test", {},
                          {"email": "anne@example.nl", "password": PASSWORD})
    assert st == 403


@pytest.mark.parametrize("key, limit", [("account", 100), ("address", 300)])
def test_too_many_failures_are_refused_before_hashing(site, pg, key, limit):
    d, tid = site
    with pg.connect("super") as c, c.cursor() as cur:
        cur.execute("SELECT platform.address_key('anne@example.nl')")
        k = cur.fetchone()[0] if key == "account" else "ip:127.0.0.1"
        cur.execute("INSERT INTO signin_limits (tenant_id, key, window_start, failures)"
                    " VALUES (%s, %s, now() - interval '10 minutes', %s)"
                    " ON CONFLICT (tenant_id, key) DO UPDATE SET failures = EXCLUDED.failures,"
                    " window_start = EXCLUDED.window_start", (tid, k, limit))
    try:
        b = Browser(d, "in-a.test")
        mark = d.log_mark()
        st, hdr, body, cookies = b.signin("anne@example.nl", PASSWORD)     # even the right password
        assert st == 429 and "at_session" not in cookies
        # The hour runs from the window's first attempt, ten minutes ago.
        assert 3000 - 60 <= int(hdr["retry-after"]) <= 3000, hdr["retry-after"]
        assert "Te veel" in body
        st, _, _, _ = b.signin("niemand@example.nl", PASSWORD)
        # The limit of the client address refuses the unknown address before
        # any hashing; the limit of one address leaves the other address to
        # its hash, which for an unknown address is the dummy one.
        assert st == (429 if key == "address" else 401)
        assert ("dummy hash" in d.log_since(mark)) == (key == "account")
    finally:
        with pg.connect("super") as c, c.cursor() as cur:
            cur.execute("DELETE FROM signin_limits WHERE tenant_id = %s", (tid,))


def test_failures_are_counted(site, pg):
    d, tid = site

    def counts():
        with pg.connect("super") as c, c.cursor() as cur:
            cur.execute("SELECT key, failures FROM signin_limits WHERE tenant_id = %s ORDER BY key", (tid,))
            return dict(cur.fetchall())
    with pg.connect("super") as c, c.cursor() as cur:
        cur.execute("SELECT platform.address_key('anne@example.nl')")
        anne = cur.fetchone()[0]
    # Earlier tests of this file may have left failures of this client.
    before = counts()
    b = Browser(d, "in-a.test")
    for _ in range(3):
        assert b.signin("anne@example.nl", "verkeerd verkeerd")[0] == 401
    rows = counts()
    assert rows["ip:127.0.0.1"] == before.get("ip:127.0.0.1", 0) + 3, (before, rows)
    assert rows[anne] == before.get(anne, 0) + 3, (before, rows)
    assert set(rows) == set(before) | {"ip:127.0.0.1", anne}, (before, rows)
    assert not any("anne" in k for k in rows)                          # a hash of the address, not the address
    ip_before = rows["ip:127.0.0.1"]
    # A good sign-in clears the account's count; the client address's
    # keeps its failures (the good attempt is not one of them).
    assert b.signin("anne@example.nl", PASSWORD)[0] == 303
    with pg.connect("super") as c, c.cursor() as cur:
        cur.execute("SELECT count(*) FROM signin_limits WHERE tenant_id = %s AND key = platform.address_key(%s)",
                    (tid, "anne@example.nl"))
        assert cur.fetchone()[0] == 0
        cur.execute("SELECT failures FROM signin_limits WHERE tenant_id = %s AND key = 'ip:127.0.0.1'", (tid,))
        assert cur.fetchone()[0] == ip_before
        cur.execute("DELETE FROM signin_limits WHERE tenant_id = %s", (tid,))


def test_a_stronger_setting_rehashes_at_sign_in(db_daemon, site, pg):
    _, tid = site
    d = db_daemon({"workers": "1"}, env={"AANTAFEL_SCRYPT_N": "2048", "AANTAFEL_SCRYPT_MAXMEM": "16MiB"})
    wait_for(lambda: d.get("/inloggen", host="in-a.test")[0] == 200, what="sign-in page")

    def stored():
        with pg.connect("super") as c, c.cursor() as cur:
            cur.execute("SELECT password_hash FROM accounts WHERE tenant_id = %s AND email = 'anne@example.nl'",
                        (tid,))
            return cur.fetchone()[0]
    assert "ln=10," in stored()
    assert Browser(d, "in-a.test").signin("anne@example.nl", PASSWORD)[0] == 303
    assert "ln=11," in stored()
    # And the new hash still signs in.
    assert Browser(d, "in-a.test").signin("anne@example.nl", PASSWORD)[0] == 303


def test_failures_count_the_client_behind_a_trusted_proxy(db_daemon, site, pg):
    _, tid = site
    d = db_daemon({"workers": "1", "trusted_proxies": "127.0.0.1"}, env=SMALL)
    wait_for(lambda: d.get("/inloggen", host="in-a.test")[0] == 200, what="sign-in page")
    b = Browser(d, "in-a.test")
    csrf = b.csrf()
    forwarded = {"X-Forwarded-For": "1.2.3.4, 203.0.113.9"}         # the client's own claim, then the proxy's
    st, _, _, _ = request_with(d, "in-a.test", b.jar, {"csrf": csrf, "email": "x@example.nl", "password": "y" * 12},
                               forwarded)
    assert st == 401
    with pg.connect("super") as c, c.cursor() as cur:
        cur.execute("SELECT key FROM signin_limits WHERE tenant_id = %s AND key LIKE 'ip:%%'", (tid,))
        keys = {r[0] for r in cur.fetchall()}
        cur.execute("DELETE FROM signin_limits WHERE tenant_id = %s", (tid,))
    assert "ip:203.0.113.9" in keys and "ip:1.2.3.4" not in keys


def test_forwarded_headers_from_others_are_ignored(site, pg):
    d, tid = site                                                    # no trusted proxies
    b = Browser(d, "in-a.test")
    st, _, _, _ = request_with(d, "in-a.test", b.jar, {"csrf": b.csrf(), "email": "x@example.nl",
                                                        "password": "y" * 12}, {"X-Forwarded-For": "203.0.113.9"})
    assert st == 401
    with pg.connect("super") as c, c.cursor() as cur:
        cur.execute("SELECT key FROM signin_limits WHERE tenant_id = %s AND key LIKE 'ip:%%'", (tid,))
        keys = {r[0] for r in cur.fetchall()}
        cur.execute("DELETE FROM signin_limits WHERE tenant_id = %s", (tid,))
    assert keys == {"ip:127.0.0.1"}


def request_with(d, host, jar, form, extra):
    headers = {"Connection": "close", "Content-Type": "application/x-www-form-urlencoded",
               "Cookie": "; ".join(f"{k}={v}" for k, v in jar.items()), **extra}
    raw = d.raw(make_request("POST", "/inloggen", host, headers, urllib.parse.urlencode(form).encode()))
    return parse_response(raw) + (None,)


def test_the_language_switch_is_remembered(site):
    d, _ = site
    from harness import make_request, parse_response
    raw = d.raw(make_request("GET", "/taal?lang=en", "in-a.test",
                             {"Connection": "close", "Referer": "http://in-a.test/inloggen?x=1"}))
    head = raw.partition(b"\r\n\r\n")[0].decode("latin-1")
    st, hdr, _ = parse_response(raw)
    assert st == 303 and hdr["location"] == "/inloggen?x=1"
    cookie = cookies_of(head)["at_lang"]
    assert cookie.startswith("at_lang=en;") and "Max-Age=31536000" in cookie
    # The choice wins over the browser's language, on pages and error pages.
    st, _, body = parse_response(d.raw(make_request("GET", "/inloggen", "in-a.test",
                                                    {"Connection": "close", "Accept-Language": "nl",
                                                     "Cookie": "at_lang=en"})))
    assert st == 200 and '<html lang="en">' in body.decode()
    assert 'href="/taal?lang=nl" lang="nl" hreflang="nl">Nederlands</a>' in body.decode()
    st, hdr, _ = parse_response(d.raw(make_request("GET", "/bestaat-niet", "in-a.test",
                                                   {"Connection": "close", "Cookie": "at_lang=en"})))
    assert st == 404 and hdr["content-language"] == "en"
    # Another site's address as Referer, or junk: back to the home page.
    for ref in ("http://kwaad.example/x", "http://in-a.test//kwaad.example/", "x"):
        st, hdr, _ = parse_response(d.raw(make_request("GET", "/taal?lang=nl", "in-a.test",
                                                       {"Connection": "close", "Referer": ref})))
        assert st == 303 and hdr["location"] == "/", ref
    st, _, body = parse_response(d.raw(make_request("GET", "/inloggen", "in-a.test",
                                                    {"Connection": "close", "Cookie": "at_lang=xx",
                                                     "Accept-Language": "nl"})))
    assert '<html lang="nl">' in body.decode()
