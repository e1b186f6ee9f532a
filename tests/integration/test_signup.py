"""Signing up through the site plugin's pages: the core checks the fields
and hashes the password on its hashing threads, the account is stored
unverified with a single-use verification token (24 hours, kept hashed),
and the mail with the link is queued in the same transaction. An address
that has an account already gets the same page (and its owner a mail that
says so), never a second account."""
import html
import re
import urllib.parse

import pytest

from harness import make_request, parse_response, wait_for
from test_signin import SMALL, Browser, create_user, request

PASSWORD = "een lang wachtwoord 123"


@pytest.fixture
def site(db_daemon, tenants, pg):
    ids = tenants(("up-a", "Gemeente Aanmeld", "up-a.test"))
    create_user(pg, "up-a", "bestaand@example.nl", "admin", "Bea")
    d = db_daemon({"workers": "2"}, env=SMALL)
    wait_for(lambda: d.get("/registreren", host="up-a.test")[0] == 200, what="sign-up page")
    return d, ids["up-a"]


def query(pg, sql, *args):
    with pg.connect("super") as c, c.cursor() as cur:
        cur.execute(sql, args)
        return cur.fetchall()


def counts(pg, tid):
    return (query(pg, "SELECT count(*) FROM accounts WHERE tenant_id = %s", tid)[0][0],
            query(pg, "SELECT count(*) FROM account_tokens WHERE tenant_id = %s", tid)[0][0],
            query(pg, "SELECT count(*) FROM mail_outbox WHERE tenant_id = %s", tid)[0][0])


def mails_to(pg, tid, addr):
    return query(pg, "SELECT subject, body_text, body_html, from_name FROM mail_outbox"
                     " WHERE tenant_id = %s AND to_addr = %s ORDER BY id", tid, addr)


def signup(b, name, email, password, csrf=True):
    form = {"name": name, "email": email, "password": password}
    if csrf:
        form["csrf"] = b.csrf()
    return b.go("POST", "/registreren", form)


def token_of(text):
    m = re.search(r"https?://up-a\.test/bevestigen\?token=([A-Za-z0-9_-]{43})", text)
    assert m, text
    return m.group(1)


def test_sign_up_verify_and_sign_in(site, pg):
    d, tid = site
    b = Browser(d, "up-a.test")
    st, _, body, _ = b.go("GET", "/registreren")
    assert st == 200 and 'name="csrf"' in body and 'autocomplete="new-password"' in body
    st, _, body, _ = signup(b, "Karel de Vries", "Karel@Example.NL", PASSWORD)
    assert st == 200 and "Kijk in uw mail" in body and "karel@example.nl" in body
    row = query(pg, "SELECT id, display_name, email_verified_at, password_hash FROM accounts"
                    " WHERE tenant_id = %s AND email = 'karel@example.nl'", tid)
    assert len(row) == 1 and row[0][1] == "Karel de Vries" and row[0][2] is None
    assert row[0][3].startswith("$scrypt$ln=10,")
    aid = row[0][0]
    assert query(pg, "SELECT role FROM account_roles WHERE tenant_id = %s AND account_id = %s", tid, aid) \
        == [("member",)]
    tokens = query(pg, "SELECT purpose, expires_at - now() > interval '23 hours',"
                       " expires_at - now() <= interval '24 hours', used_at FROM account_tokens"
                       " WHERE tenant_id = %s AND account_id = %s", tid, aid)
    assert tokens == [("verify", True, True, None)]

    mails = mails_to(pg, tid, "karel@example.nl")
    assert len(mails) == 1
    subject, text, body_html, from_name = mails[0]
    assert "Bevestig" in subject and from_name == "Gemeente Aanmeld"
    assert "Beste Karel de Vries," in text
    token = token_of(text)
    assert token_of(html.unescape(body_html)) == token
    # The token is stored hashed, never as it is.
    assert token not in str(query(pg, "SELECT * FROM account_tokens WHERE tenant_id = %s", tid))

    st, _, body, _ = b.go("GET", "/bevestigen?token=" + token)
    assert st == 200 and "is bevestigd" in body
    assert query(pg, "SELECT email_verified_at IS NOT NULL FROM accounts WHERE tenant_id = %s AND id = %s",
                 tid, aid) == [(True,)]
    # Opened again (a mail scanner may have been first): still confirmed,
    # nothing changes.
    st, _, body, _ = b.go("GET", "/bevestigen?token=" + token)
    assert st == 200 and "is bevestigd" in body
    assert query(pg, "SELECT count(*) FROM account_tokens WHERE tenant_id = %s AND account_id = %s"
                     " AND used_at IS NOT NULL", tid, aid) == [(1,)]

    # The new account signs in (verified or not: sign-in does not ask).
    st, hdr, _, _ = b.signin("karel@example.nl", PASSWORD)
    assert st == 303 and hdr["location"] == "/"
    st, _, body, _ = b.go("GET", "/")
    assert "Karel de Vries" in body


def test_an_unverified_account_may_sign_in(site, pg):
    d, tid = site
    b = Browser(d, "up-a.test")
    assert signup(b, "Nog Niet", "nognniet@example.nl", PASSWORD)[0] == 200
    st, _, _, _ = Browser(d, "up-a.test").signin("nognniet@example.nl", PASSWORD)
    assert st == 303


def test_an_expired_or_unknown_token_is_invalid(site, pg):
    d, tid = site
    b = Browser(d, "up-a.test")
    assert signup(b, "Els", "els@example.nl", PASSWORD)[0] == 200
    token = token_of(mails_to(pg, tid, "els@example.nl")[0][1])
    with pg.connect("super") as c, c.cursor() as cur:
        cur.execute("UPDATE account_tokens SET expires_at = now() - interval '1 second'"
                    " WHERE tenant_id = %s AND account_id = (SELECT id FROM accounts"
                    " WHERE tenant_id = %s AND email = 'els@example.nl')", (tid, tid))
    st, _, body, _ = b.go("GET", "/bevestigen?token=" + token)
    assert st == 400 and "werkt niet" in body
    assert query(pg, "SELECT email_verified_at FROM accounts WHERE tenant_id = %s AND email = 'els@example.nl'",
                 tid) == [(None,)]
    for bad in ["", "kort", "A" * 43, "%00", "x" * 5000]:
        st, _, body, _ = b.go("GET", "/bevestigen?token=" + bad)
        assert st == 400 and "werkt niet" in body


def test_a_token_works_on_its_own_tenant_only(site, tenants, pg):
    d, tid = site
    tenants(("up-b", "Gemeente Ander", "up-b.test"))
    b = Browser(d, "up-a.test")
    assert signup(b, "Fien", "fien@example.nl", PASSWORD)[0] == 200
    token = token_of(mails_to(pg, tid, "fien@example.nl")[0][1])
    wait_for(lambda: d.get("/registreren", host="up-b.test")[0] == 200, what="second tenant")
    st, _, _, _ = request(d, "GET", "/bevestigen?token=" + token, "up-b.test")
    assert st == 400
    assert Browser(d, "up-a.test").go("GET", "/bevestigen?token=" + token)[0] == 200


@pytest.mark.parametrize("name, email, password, field, words", [
    ("Piet", "piet@example.nl", "kort", "password", "12"),
    ("Piet", "piet@example.nl", "WinnieThePooh", "password", "veel gebruikt"),     # on the common list
    ("Piet", "geen-adres", PASSWORD, "email", "geldig e-mailadres"),
    ("Piet", "piet@voorbeeld", PASSWORD, "email", "geldig e-mailadres"),
    ("Piet", "piet@@example.nl", PASSWORD, "email", "geldig e-mailadres"),
    ("Piet", "pi et@example.nl", PASSWORD, "email", "geldig e-mailadres"),
    ("Piet", "a" * 250 + "@example.nl", PASSWORD, "email", "geldig e-mailadres"),
    ("", "piet@example.nl", PASSWORD, "name", "naam"),
    ("   ", "piet@example.nl", PASSWORD, "name", "naam"),
    ("x" * 101, "piet@example.nl", PASSWORD, "name", "naam"),
    ("Piet\x07", "piet@example.nl", PASSWORD, "name", "naam"),
])
def test_refused_fields_write_nothing(site, pg, name, email, password, field, words):
    d, tid = site
    b = Browser(d, "up-a.test")
    before = counts(pg, tid)
    st, _, body, _ = signup(b, name, email, password)
    assert st == 422
    # The message is tied to its field.
    m = re.search(r'<(?:span|p) class="error" id="%s-error">([^<]*)</(?:span|p)>' % field, body)
    assert m, body
    assert words in m.group(1)
    assert re.search(r'id="%s"[^>]*aria-invalid="true"[^>]*aria-describedby="%s-error' % (field, field), body)
    assert counts(pg, tid) == before
    # What was typed comes back, but never the password.
    kept = re.findall(r'type="password" value="([^"]*)"', body)
    assert kept and all(v == "" for v in kept), kept
    assert f'value="{html.escape(password)}"' not in body and password not in body


def test_a_name_of_100_characters_is_fine(site, pg):
    d, tid = site
    b = Browser(d, "up-a.test")
    name = "é" * 100
    assert signup(b, name, "lang@example.nl", PASSWORD)[0] == 200
    assert query(pg, "SELECT display_name FROM accounts WHERE tenant_id = %s AND email = 'lang@example.nl'",
                 tid) == [(name,)]


def test_an_existing_address_gets_the_same_page(site, pg):
    d, tid = site
    b = Browser(d, "up-a.test")
    st1, _, body1, _ = signup(b, "Nieuw", "nieuw@example.nl", PASSWORD)
    before = counts(pg, tid)
    st2, _, body2, _ = signup(b, "Iemand Anders", "Bestaand@example.nl", "een ander lang wachtwoord")
    assert st1 == st2 == 200
    assert body1.replace("nieuw@example", "X@example") == body2.replace("bestaand@example", "X@example")
    accounts, tokens, mails = counts(pg, tid)
    assert (accounts, tokens) == before[:2]                                 # no second account, no token
    assert query(pg, "SELECT display_name FROM accounts WHERE tenant_id = %s AND email = 'bestaand@example.nl'",
                 tid) == [("Bea",)]
    # The owner is told, without a link that does anything.
    told = mails_to(pg, tid, "bestaand@example.nl")
    assert len(told) == 1 and "al een account" in told[0][0] and "/bevestigen" not in told[0][1]
    assert "up-a.test/inloggen" in told[0][1]
    # The old password still works; the one just typed does not.
    assert Browser(d, "up-a.test").signin("bestaand@example.nl", PASSWORD)[0] == 303
    assert Browser(d, "up-a.test").signin("bestaand@example.nl", "een ander lang wachtwoord")[0] == 401


def test_sign_up_needs_the_csrf_token(site, pg):
    d, tid = site
    before = counts(pg, tid)
    st, _, _, _ = request(d, "POST", "/registreren", "up-a.test", {},
                          {"name": "Zonder", "email": "zonder@example.nl", "password": PASSWORD})
    assert st == 403
    assert counts(pg, tid) == before


def test_english(site, pg):
    d, tid = site
    b = Browser(d, "up-a.test")
    csrf = b.csrf()
    body = urllib.parse.urlencode({"csrf": csrf, "name": "Jo", "email": "jo@example.org",
                                   "password": PASSWORD}).encode()
    raw = d.raw(make_request("POST", "/registreren", "up-a.test",
                             {"Connection": "close", "Accept-Language": "en",
                              "Content-Type": "application/x-www-form-urlencoded",
                              "Cookie": f"at_csrf={csrf}"}, body))
    st, _, page = parse_response(raw)
    assert st == 200 and b"Check your mail" in page
    subject, text, _, _ = mails_to(pg, tid, "jo@example.org")[0]
    assert subject == "Confirm your e-mail address for Gemeente Aanmeld" and "Dear Jo," in text


def test_sign_ups_are_limited_per_address(site, pg):
    """Beyond 100 sign-ups an hour from one address: 429 with Retry-After,
    before any hashing, and no account."""
    d, tid = site

    def run(sql):
        with pg.connect("super") as c, c.cursor() as cur:
            cur.execute(sql, (tid,))
    run("INSERT INTO signin_limits (tenant_id, key, window_start, failures)"
        " VALUES (%s, 'signup-ip:127.0.0.1', now() - interval '5 minutes', 100)"
        " ON CONFLICT (tenant_id, key) DO UPDATE SET failures = 100, window_start = now() - interval '5 minutes'")
    try:
        b = Browser(d, "up-a.test")
        st, hdr, body, _ = signup(b, "Veel", "veel@example.nl", PASSWORD)
        assert st == 429 and 3000 <= int(hdr["retry-after"]) <= 3600
        assert "Te veel" in body
        assert query(pg, "SELECT count(*) FROM accounts WHERE tenant_id = %s AND email = 'veel@example.nl'",
                     tid)[0][0] == 0
    finally:
        run("DELETE FROM signin_limits WHERE tenant_id = %s")


def test_the_link_can_be_sent_again(site, pg):
    """The same page for every address; a new link only for an account
    that has not confirmed, at most five valid at a time; each link works."""
    d, tid = site
    b = Browser(d, "up-a.test")
    assert signup(b, "Sanne", "sanne@example.nl", PASSWORD)[0] == 200
    st, _, body, _ = b.go("GET", "/bevestiging-opnieuw")
    assert st == 200 and 'name="csrf"' in body
    before = len(mails_to(pg, tid, "bestaand@example.nl"))
    pages = set()
    for addr in ("sanne@example.nl", "niemand@example.nl", "bestaand@example.nl"):
        st, _, body, _ = b.go("POST", "/bevestiging-opnieuw", {"csrf": b.csrf(), "email": addr})
        assert st == 200
        pages.add(body)
    assert len(pages) == 1                                  # nobody learns which addresses have accounts
    assert len(mails_to(pg, tid, "niemand@example.nl")) == 0
    assert len(mails_to(pg, tid, "bestaand@example.nl")) == before  # confirmed already (made by the CLI)
    mails = mails_to(pg, tid, "sanne@example.nl")
    assert len(mails) == 2 and "Sanne" in mails[1][1]
    for _ in range(6):
        b.go("POST", "/bevestiging-opnieuw", {"csrf": b.csrf(), "email": " Sanne@Example.NL "})
    assert len(mails_to(pg, tid, "sanne@example.nl")) == 5      # five valid links at most
    # The newest link confirms; after that no more are sent.
    st, _, body, _ = b.go("GET", "/bevestigen?token=" + token_of(mails_to(pg, tid, "sanne@example.nl")[-1][1]))
    assert st == 200
    b.go("POST", "/bevestiging-opnieuw", {"csrf": b.csrf(), "email": "sanne@example.nl"})
    assert len(mails_to(pg, tid, "sanne@example.nl")) == 5
    st, _, _, _ = b.go("POST", "/bevestiging-opnieuw", {"email": "sanne@example.nl"})
    assert st == 403                                        # no CSRF token
