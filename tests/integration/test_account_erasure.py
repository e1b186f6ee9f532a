"""Deleting an account erases the person from every table, for every
address the account ever had or asked for.

The person signs up, changes address (confirmed), asks for a third one (not
confirmed), is mailed at each, fails a sign-in at each, asks to join a
closed group with a message naming themselves, is invited by e-mail at two
of the addresses, makes an API token and writes a contribution; then the
account is deleted. Every text-like, json, jsonb and bytea column (arrays
of them too) of every table in every schema that is not PostgreSQL's own,
found in the catalogue, is then searched for the addresses, the name and
the addresses' sign-in keys: nothing is left, and the contribution is
still there as "voormalig deelnemer". An address that another account
holds by then keeps what was sent to that account."""
import hashlib
import json

import pytest

from api_client import Api
from harness import aantafel, make_request, parse_response, wait_for
from test_account_api import link_token
from test_signin import SMALL, Browser, cookies_of

PASSWORD = "een lang wachtwoord 123"
HOST = "wissen.test"
NAME = "Zoë Wisselaar-Quist"
OLD, NEW, ASKED = "zoe.oud@example.nl", "zoe.nieuw@example.nl", "zoe.gevraagd@example.nl"

# Every column of every table of every schema that is not PostgreSQL's
# own whose type holds text or bytes, arrays of those included.
COLUMNS = """
SELECT n.nspname, c.relname, a.attname, coalesce(e.typname, t.typname), e.oid IS NOT NULL
  FROM pg_attribute a
  JOIN pg_class c ON c.oid = a.attrelid
  JOIN pg_namespace n ON n.oid = c.relnamespace
  JOIN pg_type t ON t.oid = a.atttypid
  LEFT JOIN pg_type e ON e.oid = t.typelem AND t.typcategory = 'A'
 WHERE c.relkind IN ('r', 'p', 'm') AND a.attnum > 0 AND NOT a.attisdropped
   AND n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname NOT LIKE 'pg\\_%%'
   AND (coalesce(e.typcategory, t.typcategory) = 'S' OR coalesce(e.typname, t.typname) IN ('json', 'jsonb', 'bytea'))
"""


@pytest.fixture(scope="module")
def site(pg, make_daemon_module):
    aantafel("tenant", "create", "wissen", "--name", "Gemeente Wissen", "--host", HOST, env=pg.daemon_env())
    r = aantafel("user", "create", "--tenant", "wissen", "--email", "fac.wissen@example.nl", "--role", "facilitator",
                 "--name", "Fenna Facilitator", env={**pg.daemon_env(), **SMALL}, input=PASSWORD + "\n", check=False)
    assert r.returncode == 0, r.stderr
    d = make_daemon_module({"workers": "2"}, {**pg.daemon_env(), **SMALL})
    wait_for(lambda: d.get("/inloggen", host=HOST)[0] == 200, what="sign-in page")
    return d


def query(pg, sql, *args):
    with pg.connect("super") as c, c.cursor() as cur:
        cur.execute(sql, args)
        return cur.fetchall() if cur.description else None


def mails(pg, addr):
    return query(pg, "SELECT body_text FROM mail_outbox WHERE to_addr = %s ORDER BY id", addr)


def ok(answer, status=200):
    st, _, body = answer
    assert st == status, (st, body)
    return body


def signed_in(d, email):
    """An Api with the session of EMAIL (cookie and CSRF token)."""
    st, body, cookies = _signin(d, email)
    assert st == 200, body
    b = Browser(d, HOST)
    b.jar = {k: v.split(";", 1)[0].split("=", 1)[1] for k, v in cookies.items()}
    return Api(d, HOST, browser=b, csrf=body["csrf_token"])


def _signin(d, email, password=PASSWORD):
    raw = d.raw(make_request("POST", "/api/v1/session", HOST, {"Connection": "close", "Content-Type": "application/json"},
                             json.dumps({"email": email, "password": password}).encode()))
    head = raw.partition(b"\r\n\r\n")[0].decode("latin-1")
    st, _, body = parse_response(raw)
    return st, json.loads(body), cookies_of(head)


def sign_up(d, pg, email, name):
    guest = Api(d, HOST)
    ok(guest.post("/accounts", {"email": email, "name": name, "password": PASSWORD}), 202)
    ok(guest.post("/accounts/verify", {"token": link_token(mails(pg, email)[-1][0], "/bevestigen")}))
    return signed_in(d, email)


def move(d, pg, api, email):
    """Changes API's account to EMAIL and confirms it."""
    ok(api.post("/me/email", {"current": PASSWORD, "email": email}), 202)
    token = link_token(mails(pg, email)[-1][0], "/email-bevestigen")
    ok(Api(d, HOST).post("/me/email/confirm", {"token": token}))


def find(pg, needles):
    """{needle: ["schema.table.column", ...]} for each needle found anywhere."""
    found = {}
    with pg.connect("super") as c, c.cursor() as cur:
        cur.execute(COLUMNS)
        for schema, table, column, typ, is_array in cur.fetchall():
            ref = f'"{schema}"."{table}"."{column}"'
            col = f'"{column}"'
            for needle in needles:
                if typ == "bytea":
                    cond = (f"position(convert_to(%s, 'UTF8') in {col}) > 0" if not is_array else
                            f"EXISTS (SELECT 1 FROM unnest({col}) v WHERE position(convert_to(%s, 'UTF8') in v) > 0)")
                else:
                    cond = f"{col}::text ILIKE '%%' || %s || '%%'"
                cur.execute(f'SELECT count(*) FROM "{schema}"."{table}" WHERE {cond}', (needle,))
                if cur.fetchone()[0]:
                    found.setdefault(needle, []).append(ref)
    return found


def keys_of(*emails):
    """The addresses' keys in signin_limits: a hash, but of the address."""
    return ["e:" + hashlib.sha256(e.lower().encode()).hexdigest() for e in emails]


def test_deleting_an_account_leaves_nothing_of_the_person(site, pg):
    d = site
    fac = signed_in(d, "fac.wissen@example.nl")
    table = ok(fac.post("/tables", {"title": "Tafel Wissen", "question": "Wat is ervoor nodig?",
                                    "visibility": "public"}), 201)["id"]
    group = ok(fac.post(f"/tables/{table}/groups", {"name": "Besloten", "visibility": "closed"}), 201)["id"]

    me = sign_up(d, pg, OLD, NAME)                               # a mail to the first address
    move(d, pg, me, NEW)                                         # and to the second
    guest = Api(d, HOST)
    ok(guest.post("/password/forgot", {"email": NEW}), 202)      # another to the second, with the name
    ok(guest.post("/accounts", {"email": NEW, "name": "Iemand", "password": PASSWORD}), 202)   # "you have one"
    ok(me.post("/me/email", {"current": PASSWORD, "email": ASKED}), 202)                       # asked, never confirmed
    for email in (OLD, NEW, ASKED):
        assert _signin(d, email, "helemaal fout wachtwoord")[0] == 401
    # OLD: the sign-up's link; NEW: the change's link, the reset and "you
    # have an account"; ASKED: the change's link.
    assert [len(mails(pg, e)) for e in (OLD, NEW, ASKED)] == [1, 3, 1]
    ok(me.post(f"/tables/{table}/join"))
    contribution = ok(me.post(f"/tables/{table}/contributions", {"body": "Meer bankjes bij de speeltuin."}), 201)["id"]
    ok(me.post(f"/groups/{group}/join", {"message": f"Ik ben {NAME} en woon er naast."}), 202)
    for email in (OLD, NEW):
        ok(fac.post(f"/tables/{table}/invitations", {"email": email}), 201)
    ok(me.post("/tokens", {"name": f"sleutel van {NAME}"}), 201)
    needles = [OLD, NEW, ASKED, NAME, "Wisselaar", *keys_of(OLD, NEW, ASKED)]
    before = find(pg, needles)
    assert set(before) == set(needles), before                   # every needle was somewhere

    st, _, body = me.delete("/me", body={"current": PASSWORD})
    assert st == 200 and body == {"deleted": True}

    assert find(pg, needles) == {}
    got = ok(fac.get(f"/contributions/{contribution}"))
    assert got["author"]["name"] == "voormalig deelnemer" and got["body"] == "Meer bankjes bij de speeltuin."
    assert _signin(d, NEW)[0] == 401 and _signin(d, OLD)[0] == 401


def test_what_another_account_was_sent_stays(site, pg):
    d = site
    first = sign_up(d, pg, "eerst@example.nl", "Eerste Eigenaar")
    move(d, pg, first, "later@example.nl")
    # The old address is free now: someone else signs up with it.
    second = sign_up(d, pg, "eerst@example.nl", "Tweede Eigenaar")
    ok(second.get("/me"))
    ok(Api(d, HOST).post("/password/forgot", {"email": "eerst@example.nl"}), 202)
    data = ok(first.get("/me/export"))
    assert [a["email"] for a in data["addresses"]] == ["eerst@example.nl", "later@example.nl"]
    assert {m["to"] for m in data["mails"]} == {"eerst@example.nl", "later@example.nl"}
    assert len(data["mails"]) == 2                               # not the second owner's mails

    ok(first.delete("/me", body={"current": PASSWORD}))
    left = [t for (t,) in mails(pg, "eerst@example.nl")]
    assert len(left) == 2 and all("Tweede Eigenaar" in t for t in left)   # the verification and the reset
    assert find(pg, ["Eerste Eigenaar", "later@example.nl"]) == {}
    assert ok(second.get("/me"))["email"] == "eerst@example.nl"
