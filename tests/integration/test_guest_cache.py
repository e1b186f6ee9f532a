"""What guests read (pages and /api/v1 reads) is kept in each worker's
cache until the tenant's data changes: a write through this daemon makes
it stale at once, a write elsewhere (another daemon, SQL) by the
database's notification. A cached page needs no database at all."""
import os
import re
import signal

from api_client import Api
from bundle_util import csrf_cookie, field
from harness import aantafel, make_request, parse_response, wait_for
from test_signin import SMALL, Browser

PASSWORD = "een lang wachtwoord 123"
HOST = "cache-a.test"


def setup_site(pg, make_daemon):
    aantafel("tenant", "create", "cache-a", "--name", "Gemeente Cache", "--host", HOST, env=pg.daemon_env(), check=False)
    aantafel("user", "create", "--tenant", "cache-a", "--email", "gl@example.nl", "--role", "facilitator",
             "--name", "Gea", env={**pg.daemon_env(), **SMALL}, input=PASSWORD + "\n", check=False)
    a = make_daemon({"workers": "1"}, {**pg.daemon_env(), **SMALL})
    b = make_daemon({"workers": "1"}, {**pg.daemon_env(), **SMALL})
    wait_for(lambda: a.get("/", host=HOST)[0] == 200 and b.get("/", host=HOST)[0] == 200, what="both daemons")
    br = Browser(a, HOST)
    assert br.signin("gl@example.nl", PASSWORD)[0] == 303
    st, _, me = Api(a, HOST, browser=br).get("/me")
    fac = Api(a, HOST, browser=br, csrf=me["csrf_token"])
    st, _, t = fac.post("/tables", {"title": "Het park", "question": "Wat is ervoor nodig?", "visibility": "public"})
    assert st == 201
    return a, b, fac, t["id"]


def page(d, path):
    st, _, body = d.get(path, host=HOST)
    return st, body.decode()


def test_writes_make_guests_reads_stale(pg, make_daemon):
    a, b, fac, tid = setup_site(pg, make_daemon)
    for d in (a, b):
        st, body = page(d, f"/tafels/{tid}")
        assert st == 200 and "eerste bijdrage" not in body
        assert page(d, f"/tafels/{tid}") == (st, body)                      # the cached page, the same
        assert Api(d, HOST).get(f"/tables/{tid}/contributions")[2]["items"] == []
    assert fac.post(f"/tables/{tid}/contributions", {"body": "De eerste bijdrage"})[0] == 201
    # The daemon that wrote: at once.
    assert "eerste bijdrage" in page(a, f"/tafels/{tid}")[1]
    assert len(Api(a, HOST).get(f"/tables/{tid}/contributions")[2]["items"]) == 1
    # The other daemon: by the notification.
    wait_for(lambda: "eerste bijdrage" in page(b, f"/tafels/{tid}")[1], what="the other daemon's page")
    wait_for(lambda: len(Api(b, HOST).get(f"/tables/{tid}/contributions")[2]["items"]) == 1,
             what="the other daemon's API read")
    # A change made in SQL, outside any daemon: by the notification too.
    with pg.connect("super") as c, c.cursor() as cur:
        cur.execute("UPDATE tables SET title = 'Het stadspark' WHERE id = %s RETURNING tenant_id", (tid,))
        tenant = cur.fetchone()[0]
        if pg.citus:
            # On a Citus cluster the data trigger runs on a worker, whose
            # notifications no daemon hears: SQL outside the daemons
            # notifies itself (docs/operations.md, "Scaling out").
            cur.execute("SELECT pg_notify('aantafel_data', %s)", (str(tenant),))
    for d in (a, b):
        wait_for(lambda: "Het stadspark" in page(d, f"/tafels/{tid}")[1], what="the SQL change")
    # Hidden for guests as soon as it is hidden.
    cid = Api(a, HOST).get(f"/tables/{tid}/contributions")[2]["items"][0]["id"]
    assert fac.post(f"/contributions/{cid}/hide", {"reason": "Dubbel"})[0] == 200
    assert "De eerste bijdrage" not in page(a, f"/tafels/{tid}")[1]


def test_a_cached_page_needs_no_database(pg, make_daemon):
    a, b, fac, tid = setup_site(pg, make_daemon)
    assert fac.post(f"/tables/{tid}/contributions", {"body": "Blijft staan"})[0] == 201
    st, body = page(a, f"/tafels/{tid}")
    assert st == 200 and "Blijft staan" in body
    st, _, api = Api(a, HOST).get(f"/tables/{tid}")
    assert st == 200
    # The feed reads newest first, not the page's reads: read once.
    assert parse_response(a.raw(make_request("GET", f"/tafels/{tid}/feed.atom", HOST, {"Connection": "close"})))[0] == 200
    # A signed-in person's visit writes only their own mark: the guests'
    # cached reads stay valid.
    assert fac.post(f"/tables/{tid}/visit")[0] == 200
    pg.stop()
    try:
        st2, body2 = page(a, f"/tafels/{tid}")
        assert st2 == 200 and "Blijft staan" in body2                          # from the cache
        st2, _, api2 = Api(a, HOST).get(f"/tables/{tid}")
        assert (st2, api2) == (200, api)
        # What is not cached needs the database, which is away.
        st3, _, _ = parse_response(a.raw(make_request("GET", f"/tafels/{tid}/feed.atom", HOST,
                                                      {"Connection": "close"})))
        assert st3 == 200                                                      # its reads from the cache
        st3, _, _ = parse_response(a.raw(make_request("GET", "/tafels/999999", HOST, {"Connection": "close"})))
        assert st3 == 503
        assert Api(a, HOST).get("/search?q=park")[0] == 503
    finally:
        pg.start()
    wait_for(lambda: Api(a, HOST).get("/search?q=park")[0] == 200, what="the database back")


def listeners(pg):
    """The pids of the daemons' registry connections (their LISTEN)."""
    with pg.connect("super") as c, c.cursor() as cur:
        cur.execute("SELECT pid FROM pg_stat_activity WHERE application_name = 'aantafel-registry'")
        return [r[0] for r in cur.fetchall()]


def test_the_echo_of_a_daemons_own_write_leaves_its_cache_alone(pg, make_daemon):
    """A write's own notification that comes back after the page was read
    again (held here in the listening server process, so that it surely
    comes late) is recognised as the change already applied: the kept page
    stays valid and needs no database. Another daemon's write and SQL's
    still make it stale (test_writes_make_guests_reads_stale)."""
    a, b, fac, tid = setup_site(pg, make_daemon)
    wait_for(lambda: len(listeners(pg)) == 2, what="both daemons listening")
    held = listeners(pg)
    for pid in held:
        os.kill(pid, signal.SIGSTOP)
    try:
        assert fac.post(f"/tables/{tid}/contributions", {"body": "Komt laat terug"})[0] == 201
        st, body = page(a, f"/tafels/{tid}")                  # read again, and kept
        assert st == 200 and "Komt laat terug" in body
    finally:
        for pid in held:
            os.kill(pid, signal.SIGCONT)
    # The notification now reaches both daemons; one sent after it (a
    # registry change) is heard after it, so once that is seen, so is the
    # echo.
    mark = a.log_mark()
    with pg.connect("super") as c, c.cursor() as cur:
        cur.execute("NOTIFY aantafel_registry")
    a.wait_log(re.compile(r"registry: \d+ tenants? loaded"), mark=mark)
    wait_for(lambda: "Komt laat terug" in page(b, f"/tafels/{tid}")[1], what="the other daemon's page")
    pg.stop()
    try:
        st, body = page(a, f"/tafels/{tid}")
        assert st == 200 and "Komt laat terug" in body        # still the kept page
    finally:
        pg.start()
    wait_for(lambda: Api(a, HOST).get("/search?q=park")[0] == 200, what="the database back")


# ---------------------------------------------------------------- shared pages

SHARED = r'''-- Pages that count how often their Lua ran (per worker: the test's
-- daemon has one).
local renders = 0

local function show(req, extra)
	renders = renders + 1
	local st, body = plugin.api.get("/tables", { limit = 50 })
	local view = { n = renders, tables = st == 200 and #body.items or -1, q = req.query.q or "",
	               csrf = req.csrf, who = req.user and req.user.name or "gast" }
	local answer = { html = plugin.render("gedeeld.html", view, req.lang), shared = req.user == nil }
	for k, v in pairs(extra or {}) do answer[k] = v end
	return answer
end

plugin.route("GET", "/gedeeld", function(req) return show(req) end)
plugin.route("GET", "/eigen", function(req) return show(req, { shared = false }) end)
plugin.route("GET", "/met-kop", function(req) return show(req, { headers = { ["X-Robots-Tag"] = "noindex" } }) end)
plugin.route("GET", "/met-winkel", function(req)
	plugin.store.get("iets")
	return show(req)
end)
plugin.route("GET", "/status", function(req) return show(req, { status = 202 }) end)
'''

SHARED_TEMPLATE = ('<p id="tn">{{ tenant.name }}</p><p id="n">{{ n }}</p><p id="t">{{ tables }}</p><p id="q">{{ q }}</p><p id="w">{{ who }}</p>'
                   '<p id="l">{% t "site.signin" %}</p>'
                   '<form method="post" action="/x"><input name="csrf" value="{{ csrf }}">'
                   '<input name="again" value="{{ csrf }}"></form>\n')


def test_guests_shared_pages_are_kept_until_the_data_changes(pg, make_daemon, tmp_path):
    from bundle_util import deployed, write_bundle
    aantafel("tenant", "create", "cache-s", "--name", "Gemeente Gedeeld", "--host", "shared.test",
             env=pg.daemon_env(), check=False)
    aantafel("user", "create", "--tenant", "cache-s", "--email", "gl@example.nl", "--role", "facilitator",
             "--name", "Gea", env={**pg.daemon_env(), **SMALL}, input=PASSWORD + "\n", check=False)
    deployed(pg, "cache-s", write_bundle(tmp_path / "b", {
        "tenant.lua": 'return { plugins = { gedeeld = true } }\n',
        "plugins/gedeeld.lua": SHARED,
        "plugins/gedeeld/templates/gedeeld.html": SHARED_TEMPLATE,
    }))
    d = make_daemon({"workers": "1"}, {**pg.daemon_env(), **SMALL})
    host = "shared.test"
    wait_for(lambda: d.get("/gedeeld", host=host)[0] == 200, what="the shared page")

    def get(path, headers=None):
        st, hdr, body = parse_response(d.raw(make_request("GET", path, host, {"Connection": "close",
                                                                              **(headers or {})})))
        return st, hdr, body.decode()

    # Two guests without cookies: one rendering, each with their own token
    # in the form and in the cookie.
    st, hdr, first = get("/gedeeld")
    n = field(first, "n")
    ta = csrf_cookie(hdr)
    assert st == 200 and ta and first.count(ta) == 2 and field(first, "w") == "gast"
    st, hdr, second = get("/gedeeld")
    tb = csrf_cookie(hdr)
    assert st == 200 and tb and tb != ta
    assert field(second, "n") == n                                          # no Lua ran
    assert second.count(tb) == 2 and ta not in second
    assert second.replace(tb, ta) == first
    assert hdr["content-type"] == "text/html; charset=utf-8" and hdr["cache-control"] == "no-cache"
    assert "frame-ancestors 'none'" in hdr["content-security-policy"]
    # A guest who has a token keeps it: no new cookie.
    st, hdr, body = get("/gedeeld", {"Cookie": f"at_csrf={ta}"})
    assert field(body, "n") == n and "set-cookie" not in hdr and body.count(ta) == 2
    # Another query or language is another page.
    st, _, body = get("/gedeeld?q=park")
    assert field(body, "n") == str(int(n) + 1) and field(body, "q") == "park"
    assert field(get("/gedeeld?q=park")[2], "n") == str(int(n) + 1)
    st, _, en = get("/gedeeld", {"Accept-Language": "en"})
    assert field(en, "n") == str(int(n) + 2) and field(en, "l") != field(first, "l")
    st, _, en2 = get("/gedeeld", {"Cookie": "at_lang=en"})
    assert field(en2, "n") == str(int(n) + 2)
    m = int(n) + 2
    # Not kept: not shared, an answer with its own header, a page that read
    # the store, a status other than 200.
    for path in ("/eigen", "/met-kop", "/met-winkel", "/status"):
        before = m
        for _ in range(2):
            st, hdr, body = get(path)
            assert st in (200, 202), (path, st, body)
            m += 1
            assert field(body, "n") == str(m), path
        assert int(field(body, "n")) == before + 2
    assert get("/met-kop")[1]["x-robots-tag"] == "noindex"
    m += 1
    # Someone signed in gets their own page, never the guests'.
    br = Browser(d, host)
    assert br.signin("gl@example.nl", PASSWORD)[0] == 303
    st, _, mine, _ = br.go("GET", "/gedeeld")

    m += 1
    assert field(mine, "w") == "Gea" and field(mine, "n") == str(m)
    assert field(get("/gedeeld")[2], "n") == n                              # the guests' page still
    # A change to the tenant's data: made again, with it.
    tables_before = field(first, "t")
    st, _, me = Api(d, host, browser=br).get("/me")
    fac = Api(d, host, browser=br, csrf=me["csrf_token"])
    assert fac.post("/tables", {"title": "Nieuw", "question": "Wat is ervoor nodig?", "visibility": "public"})[0] == 201
    st, _, body = get("/gedeeld")
    m += 1
    assert field(body, "n") == str(m) and int(field(body, "t")) == int(tables_before) + 1
    # Kept again at once: the write's own notification, whenever it comes
    # back, is the change already applied.
    assert field(get("/gedeeld")[2], "n") == str(m)
    # Another tenant with the same bundle and path has its own pages.
    aantafel("tenant", "create", "cache-t", "--name", "Gemeente Ander", "--host", "shared2.test",
             env=pg.daemon_env(), check=False)
    deployed(pg, "cache-t", str(tmp_path / "b"))
    wait_for(lambda: d.get("/gedeeld", host="shared2.test")[0] == 200, what="the other tenant's page")
    st, _, other = parse_response(d.raw(make_request("GET", "/gedeeld", "shared2.test", {"Connection": "close"})))
    other = other.decode()
    assert field(other, "tn") == "Gemeente Ander" and field(other, "t") == "0"
    assert field(get("/gedeeld")[2], "tn") == "Gemeente Gedeeld"


GUARD = r'''-- A guard that must see every request, with a shared page behind it.
plugin.hook("request.before", function(req)
	if req.headers["user-agent"] == "slechte-robot" then return false, "Geweigerd voor robots" end
end)
plugin.route("GET", "/gedeeld", function(req)
	return { html = plugin.render("gedeeld.html", { n = 1, tables = 0, q = "", csrf = req.csrf, who = "gast" }, req.lang),
	         shared = true }
end)
'''


def plugin_site(pg, make_daemon, tmp_path, slug, name, host, plugin, files, path, options=None):
    """Tenant SLUG on HOST with the bundle's one plugin PLUGIN (FILES under
    plugins/), served by a daemon of one worker (and OPTIONS) once PATH
    answers 200."""
    from bundle_util import deployed, write_bundle
    aantafel("tenant", "create", slug, "--name", name, "--host", host, env=pg.daemon_env(), check=False)
    deployed(pg, slug, write_bundle(tmp_path / "b", {
        "tenant.lua": f'return {{ plugins = {{ {plugin} = true }} }}\n',
        **{f"plugins/{k}": v for k, v in files.items()},
    }))
    d = make_daemon({"workers": "1", **(options or {})}, {**pg.daemon_env(), **SMALL})
    wait_for(lambda: d.get(path, host=host)[0] == 200, what=f"{host}{path}")
    return d


def test_a_guard_on_every_request_sees_every_request(pg, make_daemon, tmp_path):
    d = plugin_site(pg, make_daemon, tmp_path, "cache-g", "Gemeente Wacht", "guard.test", "wacht",
                    {"wacht.lua": GUARD, "wacht/templates/gedeeld.html": SHARED_TEMPLATE}, "/gedeeld")
    for _ in range(3):
        assert d.get("/gedeeld", host="guard.test")[0] == 200
        st, _, body = d.get("/gedeeld", host="guard.test", headers={"User-Agent": "slechte-robot"})
        assert st == 403 and b"Geweigerd voor robots" in body


LOOP = r'''-- Many cached reads in a row, each answered without the database.
plugin.route("GET", "/lus", function(req)
	local n = 0
	for _ = 1, tonumber(req.query.n or "1") do
		local st = plugin.api.get("/tables", { limit = 1 })
		if st == 200 then n = n + 1 end
	end
	local r = plugin.api.batch({ { "GET", "/tables" }, { "GET", "/tables", { limit = 2 } } })
	for _ = 1, tonumber(req.query.n or "1") do
		r = plugin.api.batch({ { "GET", "/tables" }, { "GET", "/tables", { limit = 2 } } })
	end
	return { text = n .. " " .. r[2].status }
end)
'''


def test_many_cached_reads_in_one_request(pg, make_daemon, tmp_path):
    # Each read the worker has answers without the database; answering
    # them must not nest deeper on the C stack with every call.
    # Budgets wide enough for 20,000 calls on a busy machine under ASan.
    d = plugin_site(pg, make_daemon, tmp_path, "cache-l", "Gemeente Lus", "loop.test", "lus", {"lus.lua": LOOP}, "/lus",
                    {"lua_time_limit": "60s", "lua_instruction_limit": "1000000000"})
    st, _, body = d.get("/lus?n=20000", host="loop.test", timeout=60)
    assert (st, body) == (200, b"20000 200")
    assert d.get("/lus", host="loop.test")[0] == 200


# ---------------------------------------------------------------- a table's steps

METHOD_HOST = "stappen-cache.test"
GUEST_TOKEN = "g" * 43          # a guest who keeps one CSRF token, so that two answers compare
STEP_MARKS = ("Geheime speler Quirinus", "Notitie alleen voor wie aan tafel zit", "Offerte voor Quirinus")


def method_site(pg, make_daemon, tmp_path):
    """A municipality on the method's short workflow (intake, gesprek,
    opbrengst, verslag), two daemons, and its facilitator, client and a
    member signed in (a browser each, and the facilitator's API)."""
    from bundle_util import deployed, write_bundle
    from world import make_user
    aantafel("tenant", "create", "cache-m", "--name", "Gemeente Stappen", "--host", METHOD_HOST,
             env=pg.daemon_env(), check=False)
    deployed(pg, "cache-m", write_bundle(tmp_path / "m", {
        "tenant.lua": "return { workflow = 'kort', plugins = { methode = {} } }\n"}))
    people = {"fac": ("facilitator", "Fien"), "client": ("member", "Otto"), "member": ("member", "Lies")}
    for who, (role, name) in people.items():
        make_user(pg, "cache-m", f"{who}@example.nl", role, name)
    a = make_daemon({"workers": "1"}, {**pg.daemon_env(), **SMALL})
    b = make_daemon({"workers": "1"}, {**pg.daemon_env(), **SMALL})
    wait_for(lambda: a.get("/", host=METHOD_HOST)[0] == 200 and b.get("/", host=METHOD_HOST)[0] == 200,
             what="both daemons")
    browsers, ids = {}, {}
    for who in people:
        br = Browser(a, METHOD_HOST)
        assert br.signin(f"{who}@example.nl", PASSWORD)[0] == 303
        browsers[who] = br
        ids[who] = Api(a, METHOD_HOST, browser=br).get("/me")[2]["id"]
    me = Api(a, METHOD_HOST, browser=browsers["fac"]).get("/me")[2]
    fac = Api(a, METHOD_HOST, browser=browsers["fac"], csrf=me["csrf_token"])
    return a, b, browsers, ids, fac


def guest(d, path):
    """A guest's page (a guest who keeps their CSRF token): status and text."""
    st, _, body = parse_response(d.raw(make_request("GET", path, METHOD_HOST, {
        "Connection": "close", "Cookie": f"at_csrf={GUEST_TOKEN}"})))
    return st, body.decode()


def test_a_tables_steps_are_guests_shared_pages(pg, make_daemon, tmp_path):
    """The table page with its step indicator, the steps page, a step's
    page and a record's page are the guests' shared pages: the same for
    every guest, kept by each daemon until the tenant's data changes, made
    again at once on the daemon that wrote and by the notification on the
    other. What a signed-in person reads (the facilitator's buttons and
    history, records only for the table's people or its client) never
    enters them, whoever asked first."""
    a, b, br, ids, fac = method_site(pg, make_daemon, tmp_path)
    st, _, t = fac.post("/tables", {"title": "Het plein", "question": "Wat is ervoor nodig zodat het plein groener wordt?",
                                    "visibility": "public"})
    assert st == 201, t
    tid = t["id"]
    for who, role in (("client", "client"), ("member", "member")):
        assert fac.put(f"/tables/{tid}/people/{ids[who]}", {"role": role})[0] == 200

    def record(step, kind, **fields):
        st, _, r = fac.post(f"/tables/{tid}/records", {"step": step, "kind": kind, "fields": fields})
        assert st == 201, (kind, r)
        return r["id"]

    # For the client only (players, the quote) and for the table's people
    # only (the conversation's notes), in steps that are then finished.
    player = record("intake", "player", name="Geheime speler Quirinus", seldom_heard=True)
    record("intake", "quote", amount=120000, status="sent", description="Offerte voor Quirinus")
    assert fac.post(f"/tables/{tid}/steps/intake/skip", {"reason": "Al gedaan"})[0] == 200
    note = record("gesprek", "note", body="Notitie alleen voor wie aan tafel zit")
    assert fac.post(f"/tables/{tid}/steps/gesprek/complete")[0] == 200
    outcome = record("opbrengst", "outcome", decision="Meer bomen op het plein")
    paths = [f"/tafels/{tid}", f"/tafels/{tid}/stappen", f"/tafels/{tid}/stappen/intake",
             f"/tafels/{tid}/stappen/gesprek", f"/tafels/{tid}/stappen/opbrengst"]

    # The signed-in people ask first, on both daemons: their own pages.
    for d in (a, b):
        for who in ("fac", "client", "member"):
            br[who].d = d
            for path in paths:
                st, _, body, _ = br[who].go("GET", path)
                assert st == 200, (who, path, body)
        st, _, body, _ = br["fac"].go("GET", f"/tafels/{tid}/stappen")
        assert f"/tafels/{tid}/stappen/opbrengst/afronden" in body and "Geschiedenis" in body
        assert "Geheime speler Quirinus" in br["client"].go("GET", f"/tafels/{tid}/stappen/intake")[2]
        assert "Notitie alleen" in br["member"].go("GET", f"/tafels/{tid}/stappen/gesprek")[2]
    br["client"].d = br["member"].d = br["fac"].d = a

    def clean(body, path):
        for mark in STEP_MARKS + ("Geschiedenis", "/afronden", "/overslaan", "/heropenen", "/nieuw/",
                                  "/export", "Uitloggen", "Otto", "Lies"):
            assert mark not in body, (path, mark)

    # Guests: every page twice alike on each daemon, none of the above.
    first = {}
    for d in (a, b):
        for path in paths:
            st, body = guest(d, path)
            assert st == 200, (path, body)
            clean(body, path)
            assert guest(d, path) == (st, body)
            assert first.setdefault(path, body) == body                      # the same on both daemons
    # The table page shows the results of finished steps only.
    assert "Opbrengst" in first[f"/tafels/{tid}"] and "Meer bomen" not in first[f"/tafels/{tid}"]
    # Records not for guests answer 404 (a 404 is never kept).
    for rid in (player, note):
        assert guest(a, f"/vastleggingen/{rid}")[0] == 404
    # Signed in again after the guests: their own pages, not the guests'.
    st, _, body, _ = br["fac"].go("GET", f"/tafels/{tid}/stappen")
    assert "/afronden" in body and "Geschiedenis" in body
    assert "Geheime speler Quirinus" in br["client"].go("GET", f"/tafels/{tid}/stappen/intake")[2]

    # The step completed: at once on the daemon that wrote, by the
    # notification on the other; the outcome is now the guests' to read.
    assert fac.post(f"/tables/{tid}/steps/opbrengst/complete")[0] == 200
    st, body = guest(a, f"/tafels/{tid}")
    assert st == 200 and "Meer bomen op het plein" in body
    clean(body, "table")
    done = 'class="step step--done"'
    assert first[f"/tafels/{tid}"].count(done) == 1 and body.count(done) == 2
    st, body = guest(a, f"/tafels/{tid}/stappen")
    assert body != first[f"/tafels/{tid}/stappen"] and body.count("Afgerond") == 2
    wait_for(lambda: "Meer bomen op het plein" in guest(b, f"/tafels/{tid}")[1], what="the other daemon's table page")
    assert guest(b, f"/tafels/{tid}/stappen") == (200, body)
    st, body = guest(a, f"/vastleggingen/{outcome}")
    assert st == 200 and "Meer bomen op het plein" in body
    clean(body, "record")
    # A record changed: the same.
    assert fac.patch(f"/records/{outcome}", {"fields": {"decision": "Meer bomen en bankjes op het plein"}})[0] == 200
    for path in (f"/tafels/{tid}", f"/tafels/{tid}/stappen/opbrengst", f"/vastleggingen/{outcome}"):
        assert "bomen en bankjes" in guest(a, path)[1], path
        wait_for(lambda: "bomen en bankjes" in guest(b, path)[1], what=f"the other daemon's {path}")
    # A record only for the table's people, changed: nothing of it for guests.
    assert fac.patch(f"/records/{note}", {"fields": {"body": "Notitie alleen voor wie aan tafel zit, bijgewerkt"}})[0] == 200
    for path in paths:
        clean(guest(a, path)[1], path)

    # Kept: with the database away, the guests' pages are still given,
    # the signed-in person's is not.
    kept = {path: guest(a, path) for path in paths + [f"/vastleggingen/{outcome}"]}
    pg.stop()
    try:
        for path, answer in kept.items():
            assert guest(a, path) == answer, path
        st, _, _, _ = br["fac"].go("GET", f"/tafels/{tid}/stappen")
        assert st == 503
    finally:
        pg.start()
    wait_for(lambda: Api(a, METHOD_HOST).get("/search?q=plein")[0] == 200, what="the database back")
