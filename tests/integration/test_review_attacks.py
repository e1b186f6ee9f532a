"""Attacks from a review of the JSON API (core/app/api.c, core/lua/runtime_api.c,
the prelude's plugin.api): each test here failed before its fix.

* A cross-site form cannot carry an API write's arguments in the query
  string (login CSRF: the victim's browser signed in to the attacker's
  account, or sign-ups and reset mails sent in their name).
* A municipality's plugin cannot reach the platform's account operations
  through plugin.api (sign-in, sign-out, password mails).
* Nesting deeper than the Lua side takes is refused as the client's
  mistake (400), not answered as our failure (500)."""
import json

import pytest

from api_client import Api
from bundle_util import deployed, wait_page, write_bundle
from harness import aantafel, make_request, parse_response
from test_signin import SMALL
from world import HOST, PASSWORD, World


@pytest.fixture(scope="module")
def w(pg, make_daemon_module):
    d = make_daemon_module({"workers": "1"}, {**pg.daemon_env(), **SMALL})
    return World(d, pg)


def raw(w, method, path, headers=None, body=None):
    h = {"Connection": "close", **(headers or {})}
    return parse_response(w.d.raw(make_request(method, path, HOST, h, body)))


def test_a_cross_site_form_cannot_sign_in_through_the_query_string(w):
    # What a form of another site can send: its own content type, the
    # arguments in the action's query string, an empty body.
    q = f"email=beheer%40example.nl&password={PASSWORD.replace(' ', '+')}"
    for ct in ("application/x-www-form-urlencoded", "text/plain", None):
        h = {"Content-Type": ct} if ct else {}
        st, hdr, body = raw(w, "POST", "/api/v1/session?" + q, {**h, "Content-Length": "0"}, b"")
        assert st == 400, (ct, st, body)
        assert "set-cookie" not in {k.lower() for k in hdr}, (ct, hdr)
        assert json.loads(body)["error"]["code"] == "invalid_query"
    # Sign-up and reset mails neither.
    for path in ("/accounts?email=x%40example.nl&name=X&password=een+lang+wachtwoord+456",
                 "/password/forgot?email=lid%40example.nl"):
        st, _, body = raw(w, "POST", "/api/v1" + path, {"Content-Type": "text/plain", "Content-Length": "0"}, b"")
        assert st == 400, (path, st, body)
    # A token's change with its arguments in the query string: refused too.
    st, _, body = w.api["fac"].call("POST", f"/tables/{w.P}/contributions?body=via+de+query")
    assert st == 400 and body["error"]["code"] == "invalid_query", (st, body)
    # The JSON body still signs in; reads still take the query string.
    st, hdr, body = w.api["guest"].post("/session", {"email": "beheer@example.nl", "password": PASSWORD})
    assert st == 200 and "csrf_token" in body
    assert w.api["guest"].get(f"/tables/{w.P}/contributions?limit=1")[0] == 200


def nested(depth):
    v = "x"
    for _ in range(depth):
        v = [v]
    return v


def test_deep_json_is_the_clients_mistake(w):
    api = w.api["fac"]
    # An operation with events runs through Lua, which takes 32 levels.
    for path in (f"/tables/{w.P}/contributions", "/tables", "/session"):
        st, _, body = api.call("POST", path, {"body": "Diep", "extra": nested(60)}, check=False)
        assert st == 400 and body["error"]["code"] == "invalid_json", (path, st, body)
    assert "stored document nested too deep" not in w.d.log()
    # Within the bound: as before.
    st, _, body = api.post(f"/tables/{w.P}/contributions", {"body": "Niet zo diep", "extra": nested(20)})
    assert st == 201, body


PROBE = r'''
local function try(method, path, args)
	local ok, status, body = pcall(plugin.api[method], path, args)
	if not ok then return { ok = false, error = tostring(status) } end
	return { ok = true, status = status }
end

plugin.route("GET", "/probe", function(req)
	return { json = { ready = true,
		forgot = try("post", "/password/forgot", { email = "lid@example.nl" }),
		signin = try("post", "/session", { email = "lid@example.nl", password = "raden" }),
		signout = try("delete", "/session", {}),
		tokens = try("get", "/tokens", {}),
		tables = try("get", "/tables", {}) } }
end)
'''


def test_a_tenant_plugin_cannot_do_the_platforms_account_operations(w, pg, tmp_path):
    mark = w.d.log_mark()
    with pg.connect("super") as c, c.cursor() as cur:
        cur.execute("SELECT count(*) FROM mail_outbox WHERE to_addr = 'lid@example.nl'")
        mails_before = cur.fetchone()[0]
    folder = write_bundle(tmp_path / "bundle", {
        "tenant.lua": 'return { name = "Gemeente Wereld", plugins = { probe = true } }\n',
        "plugins/probe.lua": PROBE,
    })
    deployed(pg, "wereld-a", folder)
    body = json.loads(wait_page(w.d, HOST, '"ready":true', "/probe"))
    # The platform's own route table: refused alike, whoever does them.
    assert body["tokens"]["ok"] is False and "platform" in body["tokens"]["error"]
    for op in ("forgot", "signin", "signout"):
        assert body[op]["ok"] is False, (op, body)
        assert "platform" in body[op]["error"], (op, body)
    assert body["tables"] == {"ok": True, "status": 200}
    # No reset mail went out.
    with pg.connect("super") as c, c.cursor() as cur:
        cur.execute("SELECT count(*) FROM mail_outbox WHERE to_addr = 'lid@example.nl'")
        assert cur.fetchone()[0] == mails_before


# A municipality's hook that reads through plugin.api after a change.
READER = r'''
plugin.hook("contribution.created", function(c)
	plugin.api.get("/tables/" .. c.table_id)
end)
plugin.hook("invitation.created", function(inv)
	plugin.api.get("/tables/" .. inv.table_id .. "/groups")
end)
plugin.route("GET", "/reader", function(req) return { json = { ready = true } } end)
'''


def test_an_after_hooks_read_does_not_replace_the_operations_answer(w, pg, tmp_path):
    folder = write_bundle(tmp_path / "bundle", {
        "tenant.lua": 'return { name = "Gemeente Wereld", plugins = { reader = true } }\n',
        "plugins/reader.lua": READER,
    })
    deployed(pg, "wereld-a", folder)
    wait_page(w.d, HOST, '"ready":true', "/reader")
    fac = w.api["fac"]
    # The API answers the contribution, not what the hook read.
    st, _, body = fac.post(f"/tables/{w.P}/contributions", {"body": "Na de haak"})
    assert st == 201 and body.get("body") == "Na de haak", (st, body)
    # And the invitation with its secret, shown only this once.
    st, _, body = fac.post(f"/tables/{w.P}/invitations", {})
    assert st == 201 and body.get("token", "").startswith("at_"), (st, body)


def test_a_long_tables_feed_has_its_newest_contributions(w):
    fac = w.api["fac"]
    st, _, t = fac.post("/tables", {"title": "Drukke tafel", "question": "Wat is ervoor nodig?", "visibility": "public"})
    assert st == 201
    for i in range(1, 106):
        assert fac.post(f"/tables/{t['id']}/contributions", {"body": f"Bijdrage nummer {i}."})[0] == 201
    st, _, body = w.d.get(f"/tafels/{t['id']}/feed.atom", host=HOST)
    assert st == 200
    feed = body.decode()
    assert "Bijdrage nummer 105." in feed and "Bijdrage nummer 56." in feed
    assert "Bijdrage nummer 55." not in feed and "Bijdrage nummer 1." not in feed
    # Newest first, as a feed reads.
    assert feed.index("nummer 105.") < feed.index("nummer 104.")
    # The API's own order is unchanged: oldest first.
    st, _, page = w.api["guest"].get(f"/tables/{t['id']}/contributions?limit=2")
    assert [c["body"] for c in page["items"]] == ["Bijdrage nummer 1.", "Bijdrage nummer 2."]
    st, _, page = w.api["guest"].get(f"/tables/{t['id']}/contributions?limit=2&order=newest")
    assert [c["body"] for c in page["items"]] == ["Bijdrage nummer 105.", "Bijdrage nummer 104."]
    st, _, page = w.api["guest"].get(f"/tables/{t['id']}/contributions?limit=2&order=newest&cursor={page['next_cursor']}")
    assert [c["body"] for c in page["items"]] == ["Bijdrage nummer 103.", "Bijdrage nummer 102."]
