"""Password reset by mail and password change through the site plugin's
pages. A reset request answers alike for known and unknown addresses; only
an existing account gets a single-use token (1 hour, stored hashed) and the
mail. The link shows a form without spending the token; the form's POST
sets the new password (policy checked, hashed on the hashing threads),
spends the token and ends every session of the account. A signed-in user
changes the password with the current one; the other sessions end, this
one stays."""
import html
import re

import pytest

from harness import wait_for
from test_signin import SMALL, Browser, create_user, request

PASSWORD = "een lang wachtwoord 123"
NEW = "een ander lang wachtwoord 456"
HOST = "pw-a.test"


@pytest.fixture
def site(db_daemon, tenants, pg):
    ids = tenants(("pw-a", "Gemeente Herstel", HOST))
    for email, name in (("rosa@example.nl", "Rosa"), ("tim@example.nl", "Tim")):
        create_user(pg, "pw-a", email, "member", name)
    d = db_daemon({"workers": "2"}, env=SMALL)
    wait_for(lambda: d.get("/wachtwoord-vergeten", host=HOST)[0] == 200, what="forgot page")
    return d, ids["pw-a"]


def query(pg, sql, *args):
    with pg.connect("super") as c, c.cursor() as cur:
        cur.execute(sql, args)
        return cur.fetchall() if cur.description else None


def mails_to(pg, tid, addr):
    return query(pg, "SELECT subject, body_text, body_html FROM mail_outbox"
                     " WHERE tenant_id = %s AND to_addr = %s ORDER BY id", tid, addr)


def token_of(text):
    m = re.search(r"https?://pw-a\.test/wachtwoord-herstellen\?token=([A-Za-z0-9_-]{43})", text)
    assert m, text
    return m.group(1)


def forgot(b, email):
    return b.go("POST", "/wachtwoord-vergeten", {"csrf": b.csrf(), "email": email})


def reset(b, token, password):
    return b.go("POST", "/wachtwoord-herstellen", {"csrf": b.csrf(), "token": token, "password": password})


def account_id(pg, tid, email):
    return query(pg, "SELECT id FROM accounts WHERE tenant_id = %s AND email = %s", tid, email)[0][0]


def sessions_of(pg, tid, aid):
    return query(pg, "SELECT count(*) FROM sessions WHERE tenant_id = %s AND account_id = %s", tid, aid)[0][0]


def signed_in(d, session):
    st, _, body, _ = request(d, "GET", "/", HOST, {"at_session": session})
    return st == 200 and "/uitloggen" in body


def test_reset_end_to_end(site, pg):
    d, tid = site
    aid = account_id(pg, tid, "rosa@example.nl")
    # An old session, from another device.
    other = Browser(d, HOST)
    assert other.signin("rosa@example.nl", PASSWORD)[0] == 303
    old_session = other.jar["at_session"]
    assert signed_in(d, old_session)

    b = Browser(d, HOST)
    st, _, body, _ = b.go("GET", "/inloggen")
    assert 'href="/wachtwoord-vergeten"' in body
    st, _, body, _ = b.go("GET", "/wachtwoord-vergeten")
    assert st == 200 and 'name="csrf"' in body and 'name="email"' in body
    st, _, known_page, _ = forgot(b, " Rosa@Example.NL ")
    assert st == 200 and "onderweg" in known_page

    mails = mails_to(pg, tid, "rosa@example.nl")
    assert len(mails) == 1
    subject, text, body_html = mails[0]
    assert "Nieuw wachtwoord" in subject and "Beste Rosa," in text
    token = token_of(text)
    assert token_of(html.unescape(body_html)) == token
    rows = query(pg, "SELECT purpose, expires_at - now() > interval '59 minutes',"
                     " expires_at - now() <= interval '1 hour', used_at FROM account_tokens"
                     " WHERE tenant_id = %s AND account_id = %s", tid, aid)
    assert rows == [("reset", True, True, None)]
    assert token not in str(query(pg, "SELECT * FROM account_tokens WHERE tenant_id = %s", tid))

    # The link shows the form and does not spend the token.
    for _ in range(2):
        st, _, body, _ = b.go("GET", "/wachtwoord-herstellen?token=" + token)
        assert st == 200 and 'name="token" value="%s"' % token in body and 'name="csrf"' in body
    assert query(pg, "SELECT used_at FROM account_tokens WHERE tenant_id = %s AND account_id = %s",
                 tid, aid) == [(None,)]

    # A weak password changes nothing and leaves the token usable.
    hash_before = query(pg, "SELECT password_hash FROM accounts WHERE tenant_id = %s AND id = %s", tid, aid)
    st, _, body, _ = reset(b, token, "kort")
    assert st == 422 and 'aria-invalid="true"' in body and 'value="%s"' % token in body
    assert query(pg, "SELECT password_hash FROM accounts WHERE tenant_id = %s AND id = %s", tid, aid) \
        == hash_before
    assert query(pg, "SELECT used_at FROM account_tokens WHERE tenant_id = %s AND account_id = %s",
                 tid, aid) == [(None,)]
    assert signed_in(d, old_session)

    # Without the CSRF token: refused before anything happens.
    st, _, _, _ = b.go("POST", "/wachtwoord-herstellen", {"token": token, "password": NEW})
    assert st == 403

    st, _, body, _ = reset(b, token, NEW)
    assert st == 200 and "is gewijzigd" in body and 'href="/inloggen"' in body
    assert query(pg, "SELECT used_at IS NOT NULL FROM account_tokens WHERE tenant_id = %s AND account_id = %s",
                 tid, aid) == [(True,)]
    assert sessions_of(pg, tid, aid) == 0
    assert not signed_in(d, old_session)

    # Single use: neither the form nor the POST work again.
    st, _, body, _ = b.go("GET", "/wachtwoord-herstellen?token=" + token)
    assert st == 400 and "werkt niet" in body
    st, _, body, _ = reset(b, token, "nog een ander lang wachtwoord 789")
    assert st == 400 and "werkt niet" in body

    # The old password fails, the new one works.
    assert Browser(d, HOST).signin("rosa@example.nl", PASSWORD)[0] == 401
    assert Browser(d, HOST).signin("rosa@example.nl", NEW)[0] == 303


def test_unknown_address_same_page_no_mail(site, pg):
    d, tid = site
    b = Browser(d, HOST)
    st, _, known, _ = forgot(b, "tim@example.nl")
    before = query(pg, "SELECT count(*) FROM mail_outbox WHERE tenant_id = %s", tid)[0][0]
    tokens = query(pg, "SELECT count(*) FROM account_tokens WHERE tenant_id = %s", tid)[0][0]
    st2, _, unknown, _ = forgot(b, "niemand@example.nl")
    assert st == st2 == 200
    assert unknown == known
    assert query(pg, "SELECT count(*) FROM mail_outbox WHERE tenant_id = %s", tid)[0][0] == before
    assert query(pg, "SELECT count(*) FROM account_tokens WHERE tenant_id = %s", tid)[0][0] == tokens
    assert mails_to(pg, tid, "niemand@example.nl") == []
    # Not even an address: the same page.
    st3, _, nonsense, _ = forgot(b, "geen adres")
    assert st3 == 200 and nonsense == known
    # And without the CSRF token: refused.
    assert b.go("POST", "/wachtwoord-vergeten", {"email": "tim@example.nl"})[0] == 403


def test_expired_and_unknown_tokens_refused(site, pg):
    d, tid = site
    b = Browser(d, HOST)
    assert forgot(b, "tim@example.nl")[0] == 200
    token = token_of(mails_to(pg, tid, "tim@example.nl")[-1][1])
    aid = account_id(pg, tid, "tim@example.nl")
    query(pg, "UPDATE account_tokens SET expires_at = now() - interval '1 second'"
              " WHERE tenant_id = %s AND account_id = %s AND purpose = 'reset'", tid, aid)
    st, _, body, _ = b.go("GET", "/wachtwoord-herstellen?token=" + token)
    assert st == 400 and "werkt niet" in body
    st, _, body, _ = reset(b, token, NEW)
    assert st == 400
    for bad in ("", "x", "A" * 43):
        assert b.go("GET", "/wachtwoord-herstellen?token=" + bad)[0] == 400
        assert reset(b, bad, NEW)[0] == 400
    # Nothing changed.
    assert Browser(d, HOST).signin("tim@example.nl", PASSWORD)[0] == 303
    assert Browser(d, HOST).signin("tim@example.nl", NEW)[0] == 401


def test_change_password(site, pg):
    d, tid = site
    aid = account_id(pg, tid, "tim@example.nl")
    # Not signed in: to the sign-in page.
    anon = Browser(d, HOST)
    st, hdr, _, _ = anon.go("GET", "/account/wachtwoord")
    assert st == 303 and hdr["location"] == "/inloggen"
    st, hdr, _, _ = anon.go("POST", "/account/wachtwoord", {"csrf": anon.csrf(), "current": PASSWORD,
                                                             "password": NEW})
    assert st == 303 and hdr["location"] == "/inloggen"

    other = Browser(d, HOST)
    assert other.signin("tim@example.nl", PASSWORD)[0] == 303
    b = Browser(d, HOST)
    assert b.signin("tim@example.nl", PASSWORD)[0] == 303
    st, _, body, _ = b.go("GET", "/account/wachtwoord")
    assert st == 200 and 'name="current"' in body and 'name="csrf"' in body
    hash_before = query(pg, "SELECT password_hash FROM accounts WHERE tenant_id = %s AND id = %s", tid, aid)

    # No CSRF token: refused.
    st, _, _, _ = b.go("POST", "/account/wachtwoord", {"current": PASSWORD, "password": NEW})
    assert st == 403
    # Wrong current password: the message on the field.
    st, _, body, _ = b.go("POST", "/account/wachtwoord", {"csrf": b.jar["at_csrf"], "current": "fout fout fout",
                                                           "password": NEW})
    assert st == 422 and "niet uw huidige wachtwoord" in body and 'id="current-error"' in body
    # A weak new password.
    st, _, body, _ = b.go("POST", "/account/wachtwoord", {"csrf": b.jar["at_csrf"], "current": PASSWORD,
                                                           "password": "kort"})
    assert st == 422 and 'id="password-error"' in body
    assert query(pg, "SELECT password_hash FROM accounts WHERE tenant_id = %s AND id = %s", tid, aid) \
        == hash_before
    assert signed_in(d, other.jar["at_session"])

    st, _, body, _ = b.go("POST", "/account/wachtwoord", {"csrf": b.jar["at_csrf"], "current": PASSWORD,
                                                           "password": NEW})
    assert st == 200 and "is gewijzigd" in body
    assert not signed_in(d, other.jar["at_session"])
    assert signed_in(d, b.jar["at_session"])
    assert sessions_of(pg, tid, aid) == 1
    assert Browser(d, HOST).signin("tim@example.nl", PASSWORD)[0] == 401
    assert Browser(d, HOST).signin("tim@example.nl", NEW)[0] == 303


def test_reset_mails_are_limited_per_account(site, pg):
    """At most five valid reset links per account: asking more often gives
    the same page and sends nothing, so nobody can flood an inbox."""
    d, tid = site
    query(pg, "UPDATE account_tokens SET used_at = now() WHERE tenant_id = %s AND purpose = 'reset'", tid)
    b = Browser(d, HOST)
    pages = [forgot(b, "tim@example.nl") for _ in range(7)]
    assert all(p[0] == 200 and p[2] == pages[0][2] for p in pages)
    valid = query(pg, "SELECT count(*) FROM account_tokens t JOIN accounts a ON a.tenant_id = t.tenant_id"
                      " AND a.id = t.account_id WHERE t.tenant_id = %s AND a.email = 'tim@example.nl'"
                      " AND t.purpose = 'reset' AND t.used_at IS NULL AND t.expires_at > now()", tid)[0][0]
    assert valid == 5
