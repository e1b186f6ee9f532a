"""Attacks on guests' shared pages (core/lua/runtime.c page_key,
page_from_cache, page_keep): what one person's page may never carry to
another, and what must make a kept page stale."""

from api_client import Api
from bundle_util import csrf_cookie, deployed, field, write_bundle
from harness import aantafel, make_request, parse_response, wait_for
from test_signin import SMALL, Browser

PASSWORD = "een lang wachtwoord 123"
B64 = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"


def fixed_token(c):
    return (c * 43)[:43]


def site(pg, make_daemon, slug, host, name="Gemeente Aanval"):
    # Each test has a tenant of its own: both are made here, or fail.
    aantafel("tenant", "create", slug, "--name", name, "--host", host, env=pg.daemon_env())
    aantafel("user", "create", "--tenant", slug, "--email", "gl@example.nl", "--role", "facilitator",
             "--name", "Gea Geheim", env={**pg.daemon_env(), **SMALL}, input=PASSWORD + "\n")
    d = make_daemon({"workers": "1"}, {**pg.daemon_env(), **SMALL})
    wait_for(lambda: d.get("/", host=host)[0] == 200, what="the daemon")
    br = Browser(d, host)
    assert br.signin("gl@example.nl", PASSWORD)[0] == 303
    st, _, me = Api(d, host, browser=br).get("/me")
    fac = Api(d, host, browser=br, csrf=me["csrf_token"])
    return d, br, fac


def get(d, host, path, headers=None, method="GET"):
    st, hdr, body = parse_response(d.raw(make_request(method, path, host, {"Connection": "close", **(headers or {})})))
    return st, hdr, body.decode("utf-8", "replace")


def new_table(fac, title, visibility="public"):
    st, _, t = fac.post("/tables", {"title": title, "question": "Wat is ervoor nodig?", "visibility": visibility})
    assert st == 201, t
    return t["id"]


# ------------------------------------------------------------ the CSRF token

# A guest chooses their own at_csrf cookie (any 43 base64url characters
# pass). Had the core looked for the rendering guest's own token to find
# the form's places, a guest whose cookie equals 43 characters of the
# page's content (here: a link in a contribution) would have made it put
# every later guest's token into that content: into a link to another
# site, where one click hands it over. The page is made with a stand-in
# token the daemon draws.
def test_a_chosen_csrf_cookie_does_not_poison_the_page(pg, make_daemon):
    host = "gif.test"
    d, br, fac = site(pg, make_daemon, "aanval-gif", host)
    tid = new_table(fac, "Het plein")
    x = "Aa0-_" * 8 + "xyz"
    assert len(x) == 43
    assert fac.post(f"/tables/{tid}/contributions",
                    {"body": f"Zie [dit plan](https://evil.example/plan?{x}) voor meer."})[0] == 201
    link = f"https://evil.example/plan?{x}"
    # The attacker, a guest with a cookie of their own choice, asks first.
    st, _, body = get(d, host, f"/tafels/{tid}", {"Cookie": f"at_csrf={x}"})
    assert st == 200 and link in body
    # The victim, another guest: the contribution as it was written, and
    # their own token nowhere but in the forms.
    st, hdr, victim = get(d, host, f"/tafels/{tid}")
    tv = csrf_cookie(hdr)
    assert st == 200 and tv
    assert f"evil.example/plan?{tv}" not in victim, "the victim's CSRF token was put into a foreign link"
    assert link in victim, "the victim's page no longer shows the contribution as written"


# ------------------------------------------------------------ signed in or not

def test_a_signed_in_persons_page_never_reaches_a_guest(pg, make_daemon):
    host = "sig.test"
    d, br, fac = site(pg, make_daemon, "aanval-sig", host)
    pub = new_table(fac, "Open tafel")
    closed = new_table(fac, "Besloten tafel geheimpje", "closed")
    assert fac.post(f"/tables/{closed}/contributions", {"body": "Geheime bijdrage"})[0] == 201
    assert fac.post(f"/tables/{pub}/contributions", {"body": "Open bijdrage"})[0] == 201
    # The facilitator first: their pages are theirs.
    for path in (f"/tafels/{pub}", f"/tafels/{closed}", "/zoeken?q=geheimpje", "/zoeken?q=bijdrage"):
        st, _, body, _ = br.go("GET", path)
        assert st == 200, path
    bt = br.jar["at_csrf"]
    for _ in range(2):
        st, _, body = get(d, host, f"/tafels/{pub}")
        assert st == 200 and "Open bijdrage" in body
        assert bt not in body and br.jar["at_session"] not in body
        assert get(d, host, f"/tafels/{closed}")[0] == 404
        for q in ("geheimpje", "bijdrage"):
            st, _, body = get(d, host, f"/zoeken?q={q}")
            assert st == 200 and "Geheime bijdrage" not in body and "Besloten tafel" not in body
    # A guest's page never reaches the signed-in person.
    st, _, body, _ = br.go("GET", f"/tafels/{pub}")
    assert st == 200 and bt in body and 'action="/uitloggen"' in body and 'href="/inloggen"' not in body
    st, _, body, _ = br.go("GET", f"/tafels/{closed}")
    assert st == 200 and "Geheime bijdrage" in body


def test_a_bad_or_ended_session_cookie_is_a_guest(pg, make_daemon):
    host = "ses.test"
    d, br, fac = site(pg, make_daemon, "aanval-ses", host)
    closed = new_table(fac, "Besloten", "closed")
    pub = new_table(fac, "Open")
    st, _, fresh, _ = br.go("GET", f"/tafels/{closed}")
    assert st == 200
    session = br.jar["at_session"]
    # A guest's kept page first.
    st, _, guest = get(d, host, f"/tafels/{pub}")
    assert st == 200
    for cookie in ("at_session=kapot", f"at_session={fixed_token('Z')}", f"at_session={session[:-1]}A"
                   if session[-1] != "A" else f"at_session={session[:-1]}B"):
        assert get(d, host, f"/tafels/{closed}", {"Cookie": cookie})[0] == 404
        st, _, body = get(d, host, f"/tafels/{pub}", {"Cookie": cookie})
        assert st == 200 and "Gea Geheim" not in body
    # Signed out: the old cookie is a guest's.
    st, _, me = Api(d, host, browser=br).get("/me")
    assert br.go("POST", "/uitloggen", {"csrf": br.jar["at_csrf"]})[0] == 303       # redirect = "/"
    assert get(d, host, f"/tafels/{closed}", {"Cookie": f"at_session={session}"})[0] == 404
    # A valid session with a chosen CSRF cookie is that person; the first
    # at_session of a Cookie header counts, so a bad one before a valid
    # one makes a guest, never someone's page.
    br2 = Browser(d, host)
    assert br2.signin("gl@example.nl", PASSWORD)[0] == 303
    s2 = br2.jar["at_session"]
    st, _, body = get(d, host, f"/tafels/{closed}", {"Cookie": f"at_session={s2}; at_csrf={fixed_token('C')}"})
    assert st == 200
    st, _, body = get(d, host, f"/tafels/{closed}",
                      {"Cookie": f"at_session=kapot; at_session={s2}; at_csrf={fixed_token('C')}"})
    assert st == 404


# ------------------------------------------------------------ closed tables and staleness

def test_guests_see_changes_at_once(pg, make_daemon):
    host = "stale.test"
    d, br, fac = site(pg, make_daemon, "aanval-stale", host)
    tid = new_table(fac, "Het bos")
    st, _, body = get(d, host, f"/tafels/{tid}")
    assert st == 200 and "Het bos" in body
    # A contribution, then its edit.
    st, _, c = fac.post(f"/tables/{tid}/contributions", {"body": "Versie een"})
    assert st == 201
    assert "Versie een" in get(d, host, f"/tafels/{tid}")[2]
    assert "Versie een" in get(d, host, f"/bijdragen/{c['id']}")[2]
    assert fac.patch(f"/contributions/{c['id']}", {"body": "Versie twee"})[0] == 200
    for path in (f"/tafels/{tid}", f"/bijdragen/{c['id']}"):
        body = get(d, host, path)[2]
        assert "Versie twee" in body and "Versie een" not in body, path
    # A group: made, then joined; its page and the table's.
    st, _, g = fac.post(f"/tables/{tid}/groups", {"name": "Werkgroep paden", "purpose": "Paden", "visibility": "public"})
    assert st == 201, g
    assert "Werkgroep paden" in get(d, host, f"/tafels/{tid}")[2]
    st, _, gpage = get(d, host, f"/groepen/{g['id']}")
    assert st == 200
    # The table becomes closed: gone for guests at once, on every page.
    assert fac.patch(f"/tables/{tid}", {"visibility": "closed"})[0] == 200
    assert get(d, host, f"/tafels/{tid}")[0] == 404
    assert get(d, host, f"/bijdragen/{c['id']}")[0] == 404
    assert get(d, host, f"/groepen/{g['id']}")[0] == 404
    assert "Het bos" not in get(d, host, "/zoeken?q=bos")[2]
    st, _, _ = get(d, host, f"/tafels/{tid}/feed.atom")
    assert st == 404
    # And public again.
    assert fac.patch(f"/tables/{tid}", {"visibility": "public"})[0] == 200
    assert "Versie twee" in get(d, host, f"/tafels/{tid}")[2]
    # Hidden at once, also in the feed and search.
    assert "Versie twee" in get(d, host, f"/tafels/{tid}/feed.atom")[2]
    assert "twee" in get(d, host, "/zoeken?q=twee")[2]
    assert fac.post(f"/contributions/{c['id']}/hide", {"reason": "Dubbel"})[0] == 200
    assert "Versie twee" not in get(d, host, f"/tafels/{tid}")[2]
    assert "Versie twee" not in get(d, host, f"/tafels/{tid}/feed.atom")[2]
    assert "Versie twee" not in get(d, host, f"/bijdragen/{c['id']}")[2]


def test_a_change_made_through_the_site_pages_is_seen_at_once(pg, make_daemon):
    host = "sitew.test"
    d, br, fac = site(pg, make_daemon, "aanval-sitew", host)
    tid = new_table(fac, "De markt")
    assert "Via het formulier" not in get(d, host, f"/tafels/{tid}")[2]
    st, _, body, _ = br.go("POST", f"/tafels/{tid}/bijdragen", {"csrf": br.jar["at_csrf"], "body": "Via het formulier"})
    assert st == 303, (st, body[:300])         # stored: on to the contribution
    assert "Via het formulier" in get(d, host, f"/tafels/{tid}")[2]


# ------------------------------------------------------------ a test plugin

PROBE = r'''local renders = 0
local function view(req, extra)
	renders = renders + 1
	local st, body = plugin.api.get("/tables", { limit = 50 })
	local v = { n = renders, tables = st == 200 and #body.items or -1, q = req.query.q or "",
	            csrf = req.csrf, who = req.user and req.user.name or "gast",
	            host = req.headers.host or "", url = plugin.url("/x"), scheme = req.scheme }
	for k, x in pairs(extra or {}) do v[k] = x end
	return v
end
local function shared(req, extra)
	return { html = plugin.render("probe.html", view(req, extra), req.lang), shared = true }
end
plugin.route("GET", "/probe", function(req) return shared(req) end)
plugin.route("GET", "/probe-me", function(req)
	local st = plugin.api.get("/me")
	return shared(req, { q = "me " .. tostring(st) })
end)
plugin.route("GET", "/probe-write", function(req)
	local st = plugin.api.post("/tables", { title = "x", question = "y", visibility = "public" })
	return shared(req, { q = "write " .. tostring(st) })
end)
plugin.route("GET", "/probe-batch-write", function(req)
	local r = plugin.api.batch({ { "GET", "/tables" }, { "POST", "/tables/1/visit" } })
	return shared(req, { q = "batch " .. tostring(r[2].status) })
end)
plugin.route("GET", "/probe-batch-me", function(req)
	local r = plugin.api.batch({ { "GET", "/tables" }, { "GET", "/me" } })
	return shared(req, { q = "batchme " .. tostring(r[2].status) })
end)
plugin.route("GET", "/probe-store", function(req)
	local doc = plugin.store.get("teller")
	return shared(req, { q = "store " .. tostring(doc and doc.n or 0) })
end)
plugin.route("GET", "/probe-store-put", function(req)
	plugin.store.put("teller", { n = renders })
	return shared(req)
end)
local failed = false
plugin.route("GET", "/probe-error", function(req)
	if not failed then failed = true; error("boem") end
	return shared(req)
end)
'''

PROBE_TEMPLATE = ('<p id="tn">{{ tenant.name }}</p><p id="n">{{ n }}</p><p id="t">{{ tables }}</p>'
                  '<p id="q">{{ q }}</p><p id="w">{{ who }}</p><p id="h">{{ host }}</p><p id="u">{{ url }}</p>'
                  '<p id="l">{% t "site.signin" %}</p>'
                  '<form method="post" action="/x"><input name="csrf" value="{{ csrf }}"></form>\n')


def probe_site(pg, make_daemon, tmp_path, slug, hosts, files=None):
    aantafel("tenant", "create", slug, "--name", "Gemeente " + slug, *[a for h in hosts for a in ("--host", h)],
             env=pg.daemon_env())
    aantafel("user", "create", "--tenant", slug, "--email", "gl@example.nl", "--role", "facilitator",
             "--name", "Gea Geheim", env={**pg.daemon_env(), **SMALL}, input=PASSWORD + "\n")
    folder = write_bundle(tmp_path / slug, files or {
        "tenant.lua": 'return { plugins = { probe = true } }\n',
        "plugins/probe.lua": PROBE,
        "plugins/probe/templates/probe.html": PROBE_TEMPLATE,
    })
    deployed(pg, slug, folder)
    return folder


def test_a_page_that_read_more_than_guest_reads_is_not_kept(pg, make_daemon, tmp_path):
    host = "probe.test"
    probe_site(pg, make_daemon, tmp_path, "aanval-probe", [host])
    d = make_daemon({"workers": "1"}, {**pg.daemon_env(), **SMALL})
    wait_for(lambda: get(d, host, "/probe")[0] == 200, what="the probe")
    n0 = int(field(get(d, host, "/probe")[2], "n"))
    assert field(get(d, host, "/probe")[2], "n") == str(n0)                     # kept: the rule works
    kept = []
    # (A guest's plugin.api.get("/me") is a 401 without any read, the
    # same for every guest: such a page may be kept.)
    for path in ("/probe-write", "/probe-batch-write", "/probe-store", "/probe-store-put"):
        ns = []
        for _ in range(2):
            st, _, body = get(d, host, path)
            assert st == 200, (path, st, body[:300])
            ns.append(field(body, "n"))
        kept.append((path, ns[0] == ns[1], field(body, "q")))
    assert not [k for k in kept if k[1]], kept
    # A handler that fails the first time: its error is not kept, the
    # next (good) answer is.
    rs = [get(d, host, "/probe-error") for _ in range(3)]
    assert [r[0] for r in rs] == [500, 200, 200]
    assert field(rs[1][2], "n") == field(rs[2][2], "n")


def test_each_guest_gets_only_their_own_token(pg, make_daemon, tmp_path):
    host = "tok.test"
    probe_site(pg, make_daemon, tmp_path, "aanval-tok", [host])
    d = make_daemon({"workers": "1"}, {**pg.daemon_env(), **SMALL})
    wait_for(lambda: get(d, host, "/probe")[0] == 200, what="the probe")
    seen, ns = [], set()
    for i in range(4):
        st, hdr, body = get(d, host, "/probe")
        t = csrf_cookie(hdr)
        assert st == 200 and t and body.count(t) == 1
        assert not any(other in body for other in seen)
        seen.append(t)
        ns.add(field(body, "n"))
    assert len(ns) == 1                                                         # kept
    # A guest with a valid cookie keeps it, and gets no Set-Cookie.
    mine = fixed_token("Q")
    st, hdr, body = get(d, host, "/probe", {"Cookie": f"at_csrf={mine}"})
    assert "set-cookie" not in hdr and body.count(mine) == 1 and not any(t in body for t in seen)
    # An invalid cookie (too short, a bad character, too long) is replaced.
    for bad in ("kort", fixed_token("Q")[:42] + "!", fixed_token("Q") + "Q"):
        st, hdr, body = get(d, host, "/probe", {"Cookie": f"at_csrf={bad}"})
        t = csrf_cookie(hdr)
        assert t and t != mine and body.count(t) == 1 and mine not in body
    # A signed-in person's token never goes to a guest, nor the reverse.
    br = Browser(d, host)
    assert br.signin("gl@example.nl", PASSWORD)[0] == 303
    st, _, own, _ = br.go("GET", "/probe")
    assert field(own, "w") == "Gea Geheim" and br.jar["at_csrf"] in own and field(own, "n") not in ns
    st, _, body = get(d, host, "/probe")
    assert field(body, "w") == "gast" and br.jar["at_csrf"] not in body and field(body, "n") in ns


def test_headers_of_a_kept_page_are_those_of_a_fresh_one(pg, make_daemon, tmp_path):
    host = "hdr.test"
    probe_site(pg, make_daemon, tmp_path, "aanval-hdr", [host])
    d = make_daemon({"workers": "1"}, {**pg.daemon_env(), **SMALL})
    wait_for(lambda: get(d, host, "/probe")[0] == 200, what="the probe")
    st, fresh_hdr, fresh = get(d, host, "/probe?q=kop")
    st2, kept_hdr, kept = get(d, host, "/probe?q=kop")
    assert field(fresh, "n") == field(kept, "n")
    skip = {"date", "set-cookie", "x-request-id", "content-length"}
    assert {k: v for k, v in fresh_hdr.items() if k not in skip} == {k: v for k, v in kept_hdr.items() if k not in skip}
    assert kept_hdr["x-content-type-options"] == "nosniff"
    # HEAD: same headers as GET, no body, and never the kept page's Lua count.
    st, head_hdr, hbody = get(d, host, "/probe?q=kop", method="HEAD")
    assert st == 200 and hbody == ""
    n_after_head = field(get(d, host, "/probe?q=kop")[2], "n")
    assert n_after_head == field(fresh, "n")
    # A HEAD first does not make a page kept for GET with its own answer.
    get(d, host, "/probe?q=head-first", method="HEAD")
    a = field(get(d, host, "/probe?q=head-first")[2], "n")
    assert field(get(d, host, "/probe?q=head-first")[2], "n") == a


def test_hosts_tenants_and_languages_each_their_own_page(pg, make_daemon, tmp_path):
    folder = probe_site(pg, make_daemon, tmp_path, "aanval-h1", ["h1.test", "h1-alias.test"])
    aantafel("tenant", "create", "aanval-h2", "--name", "Gemeente aanval-h2", "--host", "h2.test",
             env=pg.daemon_env())
    deployed(pg, "aanval-h2", folder)
    d = make_daemon({"workers": "1"}, {**pg.daemon_env(), **SMALL})
    wait_for(lambda: get(d, "h1.test", "/probe")[0] == 200 and get(d, "h2.test", "/probe")[0] == 200,
             what="both tenants")
    for host in ("h1.test", "h2.test", "H1.TEST", "h1.test:80", "h1.test.", "h1-alias.test", "H2.test:8080",
                 "h2.test\t"):
        want = "Gemeente aanval-h1" if host.lower().startswith("h1") else "Gemeente aanval-h2"
        ns = []
        for _ in range(2):
            st, _, body = get(d, host, "/probe")
            assert st == 200, (host, st)
            assert field(body, "tn") == want, (host, field(body, "tn"))
            assert field(body, "h") == host.strip(), (host, field(body, "h"))
            assert field(body, "u") == f"http://{host.strip()}/x", (host, field(body, "u"))
            ns.append(field(body, "n"))
        assert ns[0] == ns[1], host                                             # kept, per host
    # A Host that is not one: refused, never another tenant's page.
    for host in ("h1.test:80:80", "h1.test@h2.test"):
        assert get(d, host, "/probe")[0] == 400, host
    # A host taken away: its kept page is no longer given.
    aantafel("tenant", "hosts", "aanval-h1", "--remove", "h1-alias.test", env=pg.daemon_env())
    wait_for(lambda: get(d, "h1-alias.test", "/probe")[0] != 200, what="the host gone")
    assert field(get(d, "h1.test", "/probe")[2], "tn") == "Gemeente aanval-h1"
    # Suspended: no kept page either.
    aantafel("tenant", "suspend", "aanval-h2", env=pg.daemon_env())
    wait_for(lambda: get(d, "h2.test", "/probe")[0] == 503, what="the suspension")
    aantafel("tenant", "resume", "aanval-h2", env=pg.daemon_env())
    wait_for(lambda: get(d, "h2.test", "/probe")[0] == 200, what="the resumption")
    # Languages: header, cookie; an unknown cookie value is the header's.
    nl = get(d, "h1.test", "/probe")[2]
    en = get(d, "h1.test", "/probe", {"Accept-Language": "en-GB,en;q=0.9"})[2]
    assert field(en, "l") != field(nl, "l")
    assert field(get(d, "h1.test", "/probe", {"Cookie": "at_lang=en"})[2], "l") == field(en, "l")
    assert field(get(d, "h1.test", "/probe", {"Cookie": "at_lang=nl", "Accept-Language": "en"})[2], "l") == field(nl, "l")
    assert field(get(d, "h1.test", "/probe", {"Cookie": "at_lang=xx", "Accept-Language": "en"})[2], "l") == field(en, "l")
    assert field(get(d, "h1.test", "/probe")[2], "l") == field(nl, "l")


def test_queries_and_many_keys(pg, make_daemon, tmp_path):
    host = "q.test"
    probe_site(pg, make_daemon, tmp_path, "aanval-q", [host])
    d = make_daemon({"workers": "1"}, {**pg.daemon_env(), **SMALL})
    wait_for(lambda: get(d, host, "/probe")[0] == 200, what="the probe")
    # Separators and encodings: each page shows its own query.
    for q, want in (("a%20b", "a b"), ("a+b", "a b"), ("a%2526b", "a%26b"), ("a&q=b", "a"), ("b&q=a", "b"),
                    ("%3C/p%3E", "&lt;/p&gt;")):
        for _ in range(2):
            st, _, body = get(d, host, f"/probe?q={q}")
            assert st == 200 and field(body, "q") == want, (q, field(body, "q"))
    # Long queries, many keys: the daemon keeps answering, and right.
    for i in range(300):
        q = f"{i}-" + "x" * 3000
        st, _, body = get(d, host, f"/probe?q={q}")
        assert st == 200 and field(body, "q") == q
    st, _, body = get(d, host, "/probe?q=eind")
    assert st == 200 and field(body, "q") == "eind"


def test_a_redeploy_makes_new_pages(pg, make_daemon, tmp_path):
    host = "redeploy.test"
    folder = probe_site(pg, make_daemon, tmp_path, "aanval-redeploy", [host])
    d = make_daemon({"workers": "1"}, {**pg.daemon_env(), **SMALL})
    wait_for(lambda: get(d, host, "/probe")[0] == 200, what="the probe")
    assert "Versie twee" not in get(d, host, "/probe")[2]
    write_bundle(folder, {"plugins/probe/templates/probe.html": PROBE_TEMPLATE + "<p>Versie twee</p>\n"})
    deployed(pg, "aanval-redeploy", folder)
    wait_for(lambda: "Versie twee" in get(d, host, "/probe")[2], what="the new bundle's page")
    # A rollback: the old page again.
    aantafel("tenant", "rollback", "aanval-redeploy", "1", env=pg.daemon_env())
    wait_for(lambda: "Versie twee" not in get(d, host, "/probe")[2], what="the rolled back page")


def test_group_membership_and_names_reach_guests(pg, make_daemon):
    host = "grp.test"
    d, br, fac = site(pg, make_daemon, "aanval-grp", host)
    aantafel("user", "create", "--tenant", "aanval-grp", "--email", "lid@example.nl", "--role", "member",
             "--name", "Lieke Lid", env={**pg.daemon_env(), **SMALL}, input=PASSWORD + "\n")
    tid = new_table(fac, "De wijk")
    st, _, g = fac.post(f"/tables/{tid}/groups", {"name": "Werkgroep", "purpose": "Groen", "visibility": "public"})
    assert st == 201, g
    st, _, before = get(d, host, f"/groepen/{g['id']}")
    assert st == 200 and "Werkgroep" in before and get(d, host, f"/groepen/{g['id']}")[2] == before
    lid = Browser(d, host)
    assert lid.signin("lid@example.nl", PASSWORD)[0] == 303
    st, _, me = Api(d, host, browser=lid).get("/me")
    la = Api(d, host, browser=lid, csrf=me["csrf_token"])
    assert la.post(f"/tables/{tid}/join")[0] == 200
    st, _, j = la.post(f"/groups/{g['id']}/join")
    assert st == 200 and j["status"] == "member", (st, j)     # a public group: a member at once
    after = get(d, host, f"/groepen/{g['id']}")[2]
    assert "<span>0 " in before and "<span>1 " in after, after
    # A name shown as author, changed outside any daemon: by the notification.
    assert fac.post(f"/tables/{tid}/contributions", {"body": "Van Gea"})[0] == 201
    assert "Gea Geheim" in get(d, host, f"/tafels/{tid}")[2]
    with pg.connect("super") as c, c.cursor() as cur:
        cur.execute("UPDATE accounts SET display_name = 'Gea Openbaar' WHERE email = 'gl@example.nl' AND tenant_id = "
                    "(SELECT id FROM platform.tenants WHERE slug = 'aanval-grp')")
    wait_for(lambda: "Gea Openbaar" in get(d, host, f"/tafels/{tid}")[2], what="the new name")
