"""The account operations are the core's: with no site plugin at all (an
empty plugins directory), a tenant's people sign up, sign in, change their
password and sign out through the JSON API; only the mails, which the site
plugin sends from the operations' events, do not go."""
import pytest

from api_client import Api
from harness import aantafel, wait_for
from test_account_api import signin
from test_signin import SMALL, Browser

PASSWORD = "een lang wachtwoord 123"
HOST = "acc-api.test"         # the host test_account_api.signin speaks to


@pytest.fixture
def site(db_daemon, tenants, pg, tmp_path):
    tid = tenants(("zonder-site", "Gemeente Zonder Site", HOST))["zonder-site"]
    r = aantafel("user", "create", "--tenant", "zonder-site", "--email", "kern@example.nl", "--role", "member",
                 "--name", "Kees Kern", env={**pg.daemon_env(), **SMALL}, input=PASSWORD + "\n", check=False)
    assert r.returncode == 0 or "exists" in r.stdout, r.stderr
    empty = tmp_path / "plugins"
    empty.mkdir()
    d = db_daemon({"workers": "1", "plugins_dir": str(empty)}, env=SMALL)
    wait_for(lambda: d.get("/api/v1/openapi.json", host=HOST)[0] == 200, what="the API")
    return d, tid


def query(pg, sql, *args):
    with pg.connect("super") as c, c.cursor() as cur:
        cur.execute(sql, args)
        return cur.fetchall()


def test_the_account_operations_work_without_the_site_plugin(site, pg):
    d, tid = site
    assert d.get("/inloggen", host=HOST)[0] == 404                 # no pages: no site plugin
    guest = Api(d, HOST)
    st, _, body = guest.post("/accounts", {"email": "nieuw@example.nl", "name": "Nina Nieuw", "password": PASSWORD})
    assert (st, body) == (202, {"status": "sent"})
    assert query(pg, "SELECT display_name FROM accounts WHERE tenant_id = %s AND email = 'nieuw@example.nl'",
                 tid) == [("Nina Nieuw",)]
    assert guest.post("/password/forgot", {"email": "kern@example.nl"})[0] == 202
    assert query(pg, "SELECT count(*) FROM account_tokens WHERE tenant_id = %s", tid)[0][0] == 2
    assert query(pg, "SELECT count(*) FROM mail_outbox WHERE tenant_id = %s", tid)[0][0] == 0

    st, body, cookies = signin(d, "kern@example.nl", PASSWORD)
    assert st == 200 and "at_session" in cookies and "at_csrf" in cookies
    b = Browser(d, HOST)
    b.jar = {k: v.split(";", 1)[0].split("=", 1)[1] for k, v in cookies.items()}
    api = Api(d, HOST, browser=b, csrf=body["csrf_token"])
    assert api.get("/me")[2]["name"] == "Kees Kern"
    st, _, body = api.put("/me/password", {"current": PASSWORD, "password": "een nieuw lang wachtwoord"})
    assert (st, body) == (200, {"changed": True})
    assert api.delete("/session")[0] == 200
    assert api.get("/me")[0] == 401
    assert signin(d, "kern@example.nl", "een nieuw lang wachtwoord")[0] == 200
    assert signin(d, "kern@example.nl", PASSWORD)[0] == 401
