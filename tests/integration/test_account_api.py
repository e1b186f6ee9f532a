"""Every account flow through the JSON API, with the mails read back from
the outbox: sign-up, confirmation (and the link again), sign-in with the
session cookie and its CSRF token, sign-out, a forgotten password, a
change of password and of address, the export and deleting the account.
Answers that could tell addresses apart are alike."""
import re

import pytest

from api_client import Api
from harness import aantafel, wait_for
from test_signin import SMALL, Browser, cookies_of

PASSWORD = "een lang wachtwoord 123"
HOST = "acc-api.test"


@pytest.fixture(scope="module")
def site(pg, make_daemon_module):
    aantafel("tenant", "create", "acc-api", "--name", "Gemeente Api", "--host", HOST, env=pg.daemon_env())
    r = aantafel("user", "create", "--tenant", "acc-api", "--email", "bestaand@example.nl", "--role", "member",
                 "--name", "Bea", env={**pg.daemon_env(), **SMALL}, input=PASSWORD + "\n", check=False)
    assert r.returncode == 0, r.stderr
    d = make_daemon_module({"workers": "2"}, {**pg.daemon_env(), **SMALL})
    wait_for(lambda: d.get("/inloggen", host=HOST)[0] == 200, what="sign-in page")
    return d


def query(pg, sql, *args):
    with pg.connect("super") as c, c.cursor() as cur:
        cur.execute(sql, args)
        return cur.fetchall() if cur.description else None


def mails(pg, addr):
    return query(pg, "SELECT subject, body_text FROM mail_outbox WHERE to_addr = %s ORDER BY id", addr)


def link_token(text, path):
    m = re.search(re.escape(path) + r"\?token=([A-Za-z0-9_-]{43})", text)
    assert m, text
    return m.group(1)




def signin(d, email, password):
    """POST /session; returns (status, body, cookies set)."""
    from harness import make_request, parse_response
    import json
    raw = d.raw(make_request("POST", "/api/v1/session", HOST, {"Connection": "close", "Content-Type": "application/json"},
                             json.dumps({"email": email, "password": password}).encode()))
    head = raw.partition(b"\r\n\r\n")[0].decode("latin-1")
    st, hdr, body = parse_response(raw)
    return st, json.loads(body), cookies_of(head)


def session_api(d, email, password=PASSWORD):
    st, body, cookies = signin(d, email, password)
    assert st == 200, body
    b = Browser(d, HOST)
    b.jar = {k: v.split(";", 1)[0].split("=", 1)[1] for k, v in cookies.items()}
    return Api(d, HOST, browser=b, csrf=body["csrf_token"]), cookies


def test_sign_up_confirm_and_sign_in(site, pg):
    guest = Api(site, HOST)
    st, _, body = guest.post("/accounts", {"email": " Nina@Example.NL ", "name": "Nina", "password": PASSWORD})
    assert st == 202 and body == {"status": "sent"}
    sent = mails(pg, "nina@example.nl")
    assert len(sent) == 1
    token = link_token(sent[0][1], "/bevestigen")
    # A taken address: the same answer; its owner is told, with no link.
    before = len(mails(pg, "bestaand@example.nl"))
    st2, _, body2 = guest.post("/accounts", {"email": "bestaand@example.nl", "name": "X", "password": PASSWORD + "x"})
    assert (st2, body2) == (st, body)
    assert len(mails(pg, "bestaand@example.nl")) == before + 1
    # The link again: alike for every address.
    answers = {str(guest.post("/accounts/verify/resend", {"email": e})[2]) for e in
               ("nina@example.nl", "niemand@example.nl")}
    assert answers == {str({"status": "sent"})}
    assert len(mails(pg, "nina@example.nl")) == 2
    st, _, body = guest.post("/accounts/verify", {"token": token})
    assert st == 200 and body == {"verified": True}
    st, _, body = guest.post("/accounts/verify", {"token": "x" * 43})
    assert st == 400 and body["error"]["code"] == "invalid_token"
    # Sign-in: a session cookie (HttpOnly, SameSite) and its CSRF token.
    api, cookies = session_api(site, "nina@example.nl")
    assert "HttpOnly" in cookies["at_session"] and "SameSite=Lax" in cookies["at_session"]
    st, _, me = api.get("/me")
    assert st == 200 and me["name"] == "Nina" and me["email_verified"] is True
    assert me["csrf_token"] == api.csrf


def test_validation_and_wrong_credentials(site, pg):
    guest = Api(site, HOST)
    st, _, body = guest.post("/accounts", {"email": "kort@example.nl", "name": "Kort", "password": "kort"})
    assert st == 422 and body["error"]["fields"]["password"]["code"] == "policy"
    st, _, body = guest.post("/accounts", {"email": "geen-adres", "name": "X", "password": PASSWORD})
    assert st == 422 and "email" in body["error"]["fields"]
    st, _, body = guest.post("/accounts", {"email": "leeg@example.nl", "name": "", "password": PASSWORD})
    assert st == 422 and "name" in body["error"]["fields"]
    assert query(pg, "SELECT count(*) FROM accounts WHERE email IN ('kort@example.nl', 'leeg@example.nl')")[0][0] == 0
    st, body, cookies = signin(site, "bestaand@example.nl", "fout wachtwoord 123")
    assert st == 401 and body["error"]["code"] == "invalid_credentials" and "at_session" not in cookies
    st2, body2, _ = signin(site, "niemand@example.nl", "fout wachtwoord 123")
    assert (st2, body2) == (st, body)                           # an unknown address: the same answer
    st, _, body = Api(site, HOST).post("/session", {"email": "bestaand@example.nl"})
    assert st == 422 and "password" in body["error"]["fields"]


def test_changes_with_the_session_need_its_csrf_header(site, pg):
    api, _ = session_api(site, "bestaand@example.nl")
    forged = Api(site, HOST, browser=api.browser)              # the cookie without the header
    st, _, body = forged.put("/me/password", {"current": PASSWORD, "password": "een nieuw lang wachtwoord"})
    assert st == 403 and body["error"]["code"] == "csrf"
    st, _, body = forged.delete("/me", body={"current": PASSWORD})
    assert st == 403
    st, _, body = forged.delete("/session")
    assert st == 403
    assert query(pg, "SELECT deleted_at FROM accounts WHERE email = 'bestaand@example.nl'")[0][0] is None


def test_password_change_reset_and_sign_out(site, pg):
    guest = Api(site, HOST)
    assert guest.post("/accounts", {"email": "piet@example.nl", "name": "Piet", "password": PASSWORD})[0] == 202
    api, _ = session_api(site, "piet@example.nl")
    other, _ = session_api(site, "piet@example.nl")
    st, _, body = api.put("/me/password", {"current": "niet het wachtwoord", "password": "een nieuw lang wachtwoord"})
    assert st == 422 and body["error"]["fields"]["current"]["code"] == "wrong"
    st, _, body = api.put("/me/password", {"current": PASSWORD, "password": "een nieuw lang wachtwoord"})
    assert st == 200 and body == {"changed": True}
    assert api.get("/me")[0] == 200 and other.get("/me")[0] == 401   # the other session ended
    st, _, body = api.delete("/session")
    assert st == 200 and api.get("/me")[0] == 401
    # Forgotten: alike for every address; the link resets and ends every session.
    a = guest.post("/password/forgot", {"email": "piet@example.nl"})
    b = guest.post("/password/forgot", {"email": "onbekend@example.nl"})
    assert (a[0], a[2]) == (b[0], b[2]) == (202, {"status": "sent"})
    token = link_token(mails(pg, "piet@example.nl")[-1][1], "/wachtwoord-herstellen")
    st, _, body = guest.post("/password/reset", {"token": token, "password": "kort"})
    assert st == 422 and body["error"]["fields"]["password"]["code"] == "policy"
    st, _, body = guest.post("/password/reset", {"token": token, "password": "nog een nieuw lang wachtwoord"})
    assert st == 200
    st, _, body = guest.post("/password/reset", {"token": token, "password": "nog een nieuw lang wachtwoord"})
    assert st == 400 and body["error"]["code"] == "invalid_token"    # single use
    assert signin(site, "piet@example.nl", "nog een nieuw lang wachtwoord")[0] == 200


def test_new_address_export_and_deletion(site, pg):
    guest = Api(site, HOST)
    assert guest.post("/accounts", {"email": "joke@example.nl", "name": "Joke", "password": PASSWORD})[0] == 202
    api, _ = session_api(site, "joke@example.nl")
    st, _, body = api.post("/me/email", {"current": PASSWORD, "email": "joke@nieuw.example"})
    assert st == 202
    token = link_token(mails(pg, "joke@nieuw.example")[-1][1], "/email-bevestigen")
    st, _, body = guest.post("/me/email/confirm", {"token": token})
    assert st == 200 and api.get("/me")[2]["email"] == "joke@nieuw.example"
    st, _, data = api.get("/me/export")
    assert st == 200 and data["account"]["email"] == "joke@nieuw.example" and data["contributions"] == []
    st, _, body = api.delete("/me", body={"current": "fout"})
    assert st == 422
    joke = query(pg, "SELECT id FROM accounts WHERE email = 'joke@nieuw.example'")[0][0]
    st, hdr, body = api.delete("/me", body={"current": PASSWORD})
    assert st == 200 and body == {"deleted": True}
    assert query(pg, "SELECT email, display_name, deleted_at IS NOT NULL FROM accounts WHERE id = %s", joke) == \
        [(None, "voormalig deelnemer", True)]
    assert api.get("/me")[0] == 401
    assert Api(site, HOST).get("/me/export")[0] == 401
