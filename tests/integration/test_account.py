"""My account: downloading what is kept about me, and deleting the account
(personal data gone from every table, the row kept as "voormalig
deelnemer" for the contributions that will point at it)."""
import json

import pytest

from harness import aantafel, wait_for
from test_signin import SMALL, Browser, request

PASSWORD = "een lang wachtwoord 123"
HOST = "acc-a.test"
EMAIL = "karel.unieke-naam@example.nl"
NAME = "Karel Uniekenaam"


@pytest.fixture
def site(db_daemon, tenants, pg):
    ids = tenants(("acc-a", "Gemeente Account", HOST))
    d = db_daemon({"workers": "2"}, env=SMALL)
    wait_for(lambda: d.get("/inloggen", host=HOST)[0] == 200, what="sign-in page")
    return d, ids["acc-a"]


def make_user(pg, email=EMAIL, name=NAME):
    r = aantafel("user", "create", "--tenant", "acc-a", "--email", email, "--role", "member", "--name", name,
                 env={**pg.daemon_env(), **SMALL}, input=PASSWORD + "\n", check=False)
    assert r.returncode == 0, r.stderr


def query(pg, sql, *args):
    with pg.connect("super") as c, c.cursor() as cur:
        cur.execute(sql, args)
        return cur.fetchall() if cur.description else None


def test_guests_are_sent_to_sign_in(site):
    d, _ = site
    for path in ("/account", "/account/gegevens", "/account/verwijderen"):
        st, hdr, _ = d.get(path, host=HOST)
        assert st == 303 and hdr["location"] == "/inloggen"


def test_download_my_data(site, pg):
    d, tid = site
    make_user(pg, "data@example.nl", "Dora Data")
    b = Browser(d, HOST)
    assert b.signin("data@example.nl", PASSWORD)[0] == 303
    st, hdr, body, _ = b.go("GET", "/account/gegevens")
    assert st == 200 and hdr["content-type"].startswith("application/json")
    assert "attachment" in hdr["content-disposition"] and hdr["cache-control"] == "no-store"
    data = json.loads(body)
    assert data["account"]["email"] == "data@example.nl" and data["account"]["name"] == "Dora Data"
    assert data["account"]["roles"] == ["member"]
    # A new account (made by the command, which sends no mail), signed
    # in once.
    assert len(data["sessions"]) == 1 and data["api_tokens"] == [] and data["mails"] == [], data


def test_a_wrong_password_deletes_nothing(site, pg):
    d, tid = site
    make_user(pg, "blijf@example.nl", "Blijver")
    b = Browser(d, HOST)
    assert b.signin("blijf@example.nl", PASSWORD)[0] == 303
    st, _, body, _ = b.go("POST", "/account/verwijderen", {"csrf": b.jar["at_csrf"], "current": "niet goed genoeg"})
    assert st == 422
    assert query(pg, "SELECT deleted_at FROM accounts WHERE tenant_id = %s AND email = 'blijf@example.nl'",
                 tid)[0][0] is None
    # Without the CSRF token: refused before anything.
    assert b.go("POST", "/account/verwijderen", {"current": PASSWORD})[0] == 403


def test_delete_my_account(site, pg):
    d, tid = site
    make_user(pg)
    # Something of everything: a second session, a pending token, a mail.
    other = Browser(d, HOST)
    assert other.signin(EMAIL, PASSWORD)[0] == 303
    b = Browser(d, HOST)
    assert b.go("POST", "/wachtwoord-vergeten", {"csrf": b.csrf(), "email": EMAIL})[0] == 200
    assert query(pg, "SELECT count(*) FROM mail_outbox WHERE tenant_id = %s AND to_addr = %s", tid, EMAIL)[0][0] == 1
    assert b.signin(EMAIL, PASSWORD)[0] == 303
    session = b.jar["at_session"]
    (aid,) = query(pg, "SELECT id FROM accounts WHERE tenant_id = %s AND email = %s", tid, EMAIL)[0]

    st, _, body, cookies = b.go("POST", "/account/verwijderen", {"csrf": b.jar["at_csrf"], "current": PASSWORD})
    assert st == 200 and "verwijderd" in body
    assert "Max-Age=0" in cookies["at_session"]

    name, email, pw, deleted = query(pg, "SELECT display_name, email, password_hash, deleted_at FROM accounts"
                                         " WHERE tenant_id = %s AND id = %s", tid, aid)[0]
    assert name == "voormalig deelnemer" and email is None and pw is None and deleted is not None
    for table in ("sessions", "account_tokens", "api_tokens", "account_roles"):
        assert query(pg, f"SELECT count(*) FROM {table} WHERE tenant_id = %s AND account_id = %s", tid, aid)[0][0] == 0
    # The personal data is in no column of any table any more.
    columns = query(pg, "SELECT table_schema, table_name, column_name FROM information_schema.columns"
                        " WHERE table_schema IN ('public', 'platform') AND data_type IN ('text', 'jsonb')")
    for schema, table, column in columns:
        hits = query(pg, f'SELECT count(*) FROM "{schema}"."{table}" WHERE "{column}"::text LIKE %s'
                         f' OR "{column}"::text LIKE %s', f"%{EMAIL}%", "%Uniekenaam%")[0][0]
        assert hits == 0, f"{schema}.{table}.{column} still holds the deleted account's data"
    # The old session is worthless, and so are the old credentials.
    st, _, body, _ = request(d, "GET", "/", HOST, {"at_session": session})
    assert NAME not in body
    assert Browser(d, HOST).signin(EMAIL, PASSWORD)[0] == 401
    # The address may sign up afresh.
    st, _, _, _ = Browser(d, HOST).go("GET", "/registreren")
    assert st == 200


def test_change_my_email_address(site, pg):
    import re
    d, tid = site
    make_user(pg, "oud@example.nl", "Olga Oud")
    make_user(pg, "bezet@example.nl", "Bert Bezet")
    b = Browser(d, HOST)
    assert b.signin("oud@example.nl", PASSWORD)[0] == 303
    # A wrong password changes nothing.
    st, _, _, _ = b.go("POST", "/account/email", {"csrf": b.jar["at_csrf"], "current": "fout fout fout",
                                                   "email": "nieuw@example.nl"})
    assert st == 422
    # The right one sends a link to the new address; nothing moves yet.
    st, _, body, _ = b.go("POST", "/account/email", {"csrf": b.jar["at_csrf"], "current": PASSWORD,
                                                      "email": "Nieuw@Example.NL"})
    assert st == 200 and "nieuw@example.nl" in body.lower()
    (text,) = query(pg, "SELECT body_text FROM mail_outbox WHERE tenant_id = %s AND to_addr = 'nieuw@example.nl'",
                    tid)[0]
    token = re.search(r"/email-bevestigen\?token=([A-Za-z0-9_-]{43})", text).group(1)
    assert query(pg, "SELECT count(*) FROM accounts WHERE tenant_id = %s AND email = 'oud@example.nl'", tid)[0][0] == 1
    # Following the link moves it, once.
    st, _, _ = d.get(f"/email-bevestigen?token={token}", host=HOST)
    assert st == 200
    assert query(pg, "SELECT count(*) FROM accounts WHERE tenant_id = %s AND email = 'nieuw@example.nl'"
                     " AND email_verified_at IS NOT NULL", tid)[0][0] == 1
    assert d.get(f"/email-bevestigen?token={token}", host=HOST)[0] == 400
    assert Browser(d, HOST).signin("nieuw@example.nl", PASSWORD)[0] == 303
    # An address another account has: the same page, no link, no change.
    before = query(pg, "SELECT count(*) FROM mail_outbox WHERE tenant_id = %s", tid)[0][0]
    st, _, body2, _ = b.go("POST", "/account/email", {"csrf": b.jar["at_csrf"], "current": PASSWORD,
                                                       "email": "bezet@example.nl"})
    assert st == 200 and "bezet@example.nl" in body2
    assert query(pg, "SELECT count(*) FROM mail_outbox WHERE tenant_id = %s", tid)[0][0] == before
    # Nonsense: refused on the field.
    assert b.go("POST", "/account/email", {"csrf": b.jar["at_csrf"], "current": PASSWORD,
                                           "email": "geen adres"})[0] == 422
