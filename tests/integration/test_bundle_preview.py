"""A draft's preview and its publication. An admin uploads a bundle as a
draft: the site does not change on either daemon. The admin asks for a
preview (from /beheer/bundel, or POST /bundle/versions/{id}/preview with
an API token) and opens its link: from then on that session's pages, on
both daemons, are the draft's (its tenant.lua, its plugin's page, its
static files) with the banner, kept by no cache, in a state of its own
where the sandbox's limits hold, while guests, the admin's other sessions,
another admin, a facilitator and another municipality's admin see the
current site; a forged, expired or another tenant's link is refused, and
a link stops working after sign-out. The API is not affected by a preview.
Publishing (POST /bundle/versions/{id}/publish, or the page) makes the
draft current on both daemons, recorded with who and when; the preview
then ends, and `aantafel tenant deploy` still makes a version current at
once."""
from api_client import Api
from bundle_util import deployed, get, wait_page, write_bundle
from harness import aantafel, make_request, parse_response, wait_for
from test_signin import SMALL, Browser, cookies_of
from world import PASSWORD, make_user, token_for

HOST, SLUG = "preview-a.test", "prv-a"
OTHER, OTHER_SLUG = "preview-b.test", "prv-b"
BANNER = "Voorbeeld van versie 2 — nog niet gepubliceerd"
# The draft has a plugin of its own, with a page that never ends.
DRAFT_LUA = 'return { plugins = { site = { welcome = "Welkom in het concept" }, lus = true } }\n'
LOOP = 'plugin.route("GET", "/lus", function(req) while true do end end)\n'


def welcome_lua(text):
    return 'return { plugins = { site = { welcome = "%s" } } }\n' % text


def targz(files):
    import gzip
    import io
    import tarfile
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w", format=tarfile.PAX_FORMAT) as tf:
        for name, data in files.items():
            data = data.encode()
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tf.addfile(info, io.BytesIO(data))
    return gzip.compress(raw.getvalue())


def visit(d, host, path, jar):
    """(status, headers, body, Set-Cookie lines) of a GET with the cookies
    of JAR, which is left as it was."""
    headers = {"Connection": "close"}
    if jar:
        headers["Cookie"] = "; ".join(f"{k}={v}" for k, v in jar.items())
    raw = d.raw(make_request("GET", path, host, headers))
    st, hdr, body = parse_response(raw)
    return st, hdr, body.decode("utf-8", "replace"), cookies_of(raw.partition(b"\r\n\r\n")[0].decode("latin-1"))


def current(pg, slug):
    with pg.connect("super") as c, c.cursor() as cur:
        cur.execute("SELECT bundle_version FROM platform.tenants WHERE slug = %s", (slug,))
        return cur.fetchone()[0]


def open_link(b, path):
    """Opens a preview link in browser B: the cookie, then the site."""
    st, hdr, body, cookies = b.go("GET", path)
    return st, hdr, body, cookies


def test_bundle_preview(pg, make_daemon, tmp_path):
    for slug, name, host in ((SLUG, "Gemeente Voorbeeld", HOST), (OTHER_SLUG, "Gemeente Elders", OTHER)):
        aantafel("tenant", "create", slug, "--name", name, "--host", host, env=pg.daemon_env())
    for email, role, name in (("admin@prv.test", "admin", "Anna Beheer"), ("admin2@prv.test", "admin", "Bert"),
                              ("gl@prv.test", "facilitator", "Gert")):
        make_user(pg, SLUG, email, role, name)
    make_user(pg, OTHER_SLUG, "admin@elders.test", "admin", "Els")
    v1 = {"tenant.lua": welcome_lua("Welkom van de provider"), "static/thema.css": "body { color: #111; }\n"}
    assert deployed(pg, SLUG, write_bundle(tmp_path / "v1", v1)) == 1
    assert deployed(pg, OTHER_SLUG, write_bundle(tmp_path / "o1", {"tenant.lua": welcome_lua("Elders welkom")})) == 1
    d1 = make_daemon(None, {**pg.daemon_env(), **SMALL})
    d2 = make_daemon({"workers": "1"}, {**pg.daemon_env(), **SMALL})
    for d in (d1, d2):
        wait_page(d, HOST, "Welkom van de provider")
    token, _ = token_for(d1, HOST, "admin@prv.test")
    api = Api(d1, HOST, token=token)

    # A draft: stored, not current; neither daemon changes.
    draft = targz({"tenant.lua": DRAFT_LUA, "static/thema.css": "body { color: #c00; }\n", "plugins/lus.lua": LOOP})
    st, _, ans = api.call("POST", "/bundle?draft=1", raw=draft, headers={"Content-Type": "application/gzip"})
    assert st == 201 and ans["version"] == 2 and ans["current"] == 1, ans
    items = {i["version"]: i for i in ans["items"]}
    assert items[2]["draft"] is True and items[2]["made_current_at"] is None and items[2]["made_current_by"] is None
    assert items[1]["draft"] is False and items[1]["made_current_at"] and items[1]["made_current_by"] is None
    for d in (d1, d2):
        for _ in range(5):
            st, _, page = get(d, HOST)
            assert st == 200 and "Welkom van de provider" in page and "concept" not in page

    # The admin asks for a preview from the page and opens its link.
    anna = Browser(d1, HOST)
    assert anna.signin("admin@prv.test", PASSWORD)[0] == 303
    st, _, page, _ = anna.go("GET", "/beheer/bundel")
    assert "Voorbeeld van versie 2 bekijken" in page and "Versie 2 publiceren" in page and "(concept)" in page, page
    assert 'id="bundle-draft" name="draft" value="1" checked' in page
    st, hdr, _, _ = anna.go("POST", "/beheer/bundel/voorbeeld", {"csrf": anna.jar["at_csrf"], "version": "2"})
    assert st == 303 and hdr["location"].startswith("/voorbeeld/at_"), (st, hdr)
    link = hdr["location"]
    st, hdr, _, cookies = open_link(anna, link)
    assert st == 303 and hdr["location"] == "/", (st, hdr)
    line = cookies["at_preview"]
    assert "HttpOnly" in line and "SameSite=Lax" in line and "Path=/" in line, line
    max_age = int(line.split("Max-Age=")[1].split(";")[0])
    assert 3500 < max_age <= 3600, line
    assert anna.jar["at_preview"] == link[len("/voorbeeld/"):]
    # Without CSRF the page refuses to make a link.
    assert anna.go("POST", "/beheer/bundel/voorbeeld", {"version": "2"})[0] == 403

    # Her pages are the draft's, on both daemons, with the banner, kept
    # nowhere; the draft's static file too.
    for d in (d1, d2):
        st, hdr, page, _ = visit(d, HOST, "/", anna.jar)
        assert st == 200 and "Welkom in het concept" in page and BANNER in page, page[:2000]
        assert 'href="/voorbeeld/stoppen"' in page and "Anna Beheer" in page
        assert hdr["cache-control"] == "no-store", hdr
        st, hdr, css, _ = visit(d, HOST, "/assets/thema.css", anna.jar)
        assert st == 200 and "#c00" in css and hdr["cache-control"] == "no-store" and hdr["vary"] == "Cookie", hdr
    # The banner comes in English for an English reader.
    st, _, page, _ = visit(d1, HOST, "/", {**anna.jar, "at_lang": "en"})
    assert "Preview of version 2 — not published yet" in page and "Stop the preview" in page
    # The draft's own plugin's page is there, and the sandbox's limits
    # hold in the draft's state: its loop is stopped, the preview goes on.
    st, _, page, _ = visit(d2, HOST, "/lus", anna.jar)
    assert st == 500 and "Welkom" not in page, (st, page[:500])
    assert BANNER in visit(d2, HOST, "/", anna.jar)[2]
    assert get(d2, HOST, "/lus")[0] == 404
    # The API does not change with a preview.
    st, _, ans = Api(d1, HOST, browser=anna).get("/bundle/versions")
    assert st == 200 and ans["current"] == 1

    # Guests see the current site, on both daemons, and the guests' cache
    # never got the preview (the same path, asked for after it).
    for d in (d1, d2):
        for _ in range(5):
            st, hdr, page = get(d, HOST)
            assert "Welkom van de provider" in page and "Voorbeeld van versie" not in page
            assert hdr["cache-control"] == "no-cache"
        st, _, css = get(d, HOST, "/assets/thema.css")
        assert "#111" in css

    def sees_current(jar, d=d1, host=HOST, cleared=True):
        st, hdr, page, cookies = visit(d, host, "/", jar)
        assert st == 200 and "Voorbeeld van versie" not in page, page[:2000]
        if cleared:
            assert "Max-Age=0" in cookies.get("at_preview", ""), cookies
        return page

    # The cookie alone, without her session: a guest's page.
    page = sees_current({"at_preview": anna.jar["at_preview"]})
    assert "Welkom van de provider" in page and "Anna Beheer" not in page
    # A forged token, a token of the wrong shape.
    sees_current({**anna.jar, "at_preview": "at_" + "A" * 43})
    sees_current({**anna.jar, "at_preview": "nonsense"})
    # Her other session, another admin, a facilitator: the current site,
    # each still signed in as themselves (the preview's look-up read
    # their session, and the page takes it from there).
    anna2 = Browser(d2, HOST)
    assert anna2.signin("admin@prv.test", PASSWORD)[0] == 303
    assert "Anna Beheer" in sees_current({**anna2.jar, "at_preview": anna.jar["at_preview"]}, d=d2)
    bert = Browser(d1, HOST)
    assert bert.signin("admin2@prv.test", PASSWORD)[0] == 303
    page = sees_current({**bert.jar, "at_preview": anna.jar["at_preview"]})
    assert "Bert" in page and "Anna Beheer" not in page
    gert = Browser(d1, HOST)
    assert gert.signin("gl@prv.test", PASSWORD)[0] == 303
    page = sees_current({**gert.jar, "at_preview": anna.jar["at_preview"]})
    assert "Gert" in page and "Anna Beheer" not in page
    # Opening her link: refused to them, plainly.
    for b in (anna2, bert, gert):
        st, _, page, cookies = b.go("GET", link)
        assert st == 403 and "Deze voorbeeldlink werkt niet" in page and "at_preview" not in b.jar, (st, page)
    # Another municipality's admin, with her token on his own site.
    els = Browser(d1, OTHER)
    assert els.signin("admin@elders.test", PASSWORD)[0] == 303
    page = sees_current({**els.jar, "at_preview": anna.jar["at_preview"]}, host=OTHER)
    assert "Elders welkom" in page
    assert els.go("GET", link)[0] == 403
    assert visit(d1, HOST, "/voorbeeld/at_" + "B" * 43, anna.jar)[0] == 403
    assert visit(d1, HOST, "/voorbeeld/bestaat-niet", anna.jar)[0] == 403
    # Hers still works.
    assert BANNER in visit(d2, HOST, "/", anna.jar)[2]

    # Stopping: the cookie goes, back to the versions.
    stopper = Browser(d1, HOST)
    stopper.jar = dict(anna.jar)
    st, hdr, _, cookies = stopper.go("GET", "/voorbeeld/stoppen")
    assert st == 303 and hdr["location"] == "/beheer/bundel" and "Max-Age=0" in cookies["at_preview"]
    assert "at_preview" not in stopper.jar and "Welkom van de provider" in stopper.go("GET", "/")[2]

    # Expired: the link's hour is over.
    with pg.connect("super") as c, c.cursor() as cur:
        cur.execute("UPDATE bundle_previews SET expires_at = now() - interval '1 second'"
                    " WHERE tenant_id = (SELECT id FROM platform.tenants WHERE slug = %s)", (SLUG,))
    assert "Anna Beheer" in sees_current(anna.jar)
    assert anna.go("GET", link)[0] == 403

    # A link asked for with an API token: bound to the first of her
    # sessions that opens it, not to another.
    st, _, ans = api.post("/bundle/versions/2/preview")
    assert st == 201 and ans["version"] == 2 and ans["path"] == "/voorbeeld/" and ans["token"].startswith("at_")
    assert ans["expires_at"].endswith("Z")
    link2 = ans["path"] + ans["token"]
    assert open_link(anna, link2)[0] == 303
    assert BANNER in visit(d2, HOST, "/", anna.jar)[2]
    assert anna2.go("GET", link2)[0] == 403
    sees_current({**anna2.jar, "at_preview": anna.jar["at_preview"]}, d=d2)

    # Who may not ask for a preview or publish; what cannot be.
    fac_token, _ = token_for(d1, HOST, "gl@prv.test")
    other_token, _ = token_for(d1, OTHER, "admin@elders.test")
    for op in ("preview", "publish"):
        path = "/bundle/versions/2/" + op
        assert Api(d1, HOST, token=fac_token).post(path, check=False)[0] == 403
        assert Api(d1, HOST).post(path, check=False)[0] == 401
        assert Api(d1, HOST, token=other_token).post(path, check=False)[0] == 401
        assert Api(d1, OTHER, token=other_token).post(path, check=False)[0] == 404
        assert api.post("/bundle/versions/9/" + op, check=False)[0] == 404
        st, _, ans = api.post("/bundle/versions/1/" + op, check=False)
        assert st == 409 and ans["error"]["code"] == "not_draft", ans
        st, _, ans = api.post("/bundle/versions/x/" + op, check=False)
        assert st in (400, 404), (st, ans)
    assert current(pg, SLUG) == 1 and current(pg, OTHER_SLUG) == 1

    # After sign-out the preview is over; signing in again does not bring
    # it back (it was bound to the session that ended).
    kept = anna.jar["at_preview"]
    st, _, _, _ = anna.go("POST", "/uitloggen", {"csrf": anna.jar["at_csrf"]})
    assert st == 303
    sees_current({**anna.jar, "at_preview": kept})
    assert anna.signin("admin@prv.test", PASSWORD)[0] == 303
    sees_current({**anna.jar, "at_preview": kept})

    # A fresh preview, then the draft published from the page: current on
    # both daemons, recorded with who and when; the preview is over.
    st, hdr, _, _ = anna.go("POST", "/beheer/bundel/voorbeeld", {"csrf": anna.jar["at_csrf"], "version": "2"})
    assert st == 303 and open_link(anna, hdr["location"])[0] == 303
    assert BANNER in visit(d1, HOST, "/", anna.jar)[2]
    st, hdr, _, _ = anna.go("POST", "/beheer/bundel/publiceren", {"csrf": anna.jar["at_csrf"], "version": "2"})
    assert st == 303 and hdr["location"] == "/beheer/bundel?published=2", hdr
    assert current(pg, SLUG) == 2
    for d in (d1, d2):
        wait_page(d, HOST, "Welkom in het concept")
    # d2's one worker built the draft's state once for all its previews,
    # beside the live one, and dropped it when the draft became current.
    log = d2.log()
    assert log.count("Lua state for the preview of draft 2 ready") == 1, log[-3000:]
    assert "the preview's Lua state of version 2 goes: the registry changed" in log, log[-3000:]
    page = sees_current(anna.jar)
    assert "Welkom in het concept" in page
    st, _, page, _ = anna.go("GET", "/beheer/bundel?published=2")
    assert "Versie 2 is gepubliceerd en nu in gebruik" in page and "(concept)" not in page, page
    st, _, ans = api.get("/bundle/versions")
    items = {i["version"]: i for i in ans["items"]}
    assert ans["current"] == 2 and items[2]["draft"] is False and items[2]["made_current_by"] == "Anna Beheer"
    assert items[2]["made_current_at"].endswith("Z")
    st, _, ans = api.post("/bundle/versions/2/publish", check=False)
    assert st == 409 and ans["error"]["code"] == "not_draft"
    assert api.post("/bundle/versions/2/preview", check=False)[0] == 409

    # A draft published through the API; `aantafel tenant deploy` stays
    # current at once.
    st, _, ans = api.call("POST", "/bundle?draft=1", raw=targz({"tenant.lua": welcome_lua("Versie drie")}),
                          headers={"Content-Type": "application/gzip"})
    assert st == 201 and ans["version"] == 3 and ans["current"] == 2
    st, _, ans = api.post("/bundle/versions/3/publish")
    assert st == 200 and ans["current"] == 3
    for d in (d1, d2):
        wait_page(d, HOST, "Versie drie")
    assert deployed(pg, SLUG, write_bundle(tmp_path / "v4", {"tenant.lua": welcome_lua("Van de provider")})) == 4
    for d in (d1, d2):
        wait_page(d, HOST, "Van de provider")
    st, _, ans = api.get("/bundle/versions")
    assert [(i["version"], i["draft"]) for i in ans["items"]] == [(4, False), (3, False), (2, False), (1, False)]
    assert current(pg, OTHER_SLUG) == 1
    wait_for(lambda: "Elders welkom" in get(d2, OTHER)[2], what="the other municipality untouched")


DEL_HOST, DEL_SLUG = "drafts-a.test", "drf-a"
DEL_OTHER, DEL_OTHER_SLUG = "drafts-b.test", "drf-b"


def test_draft_deleted(pg, make_daemon, tmp_path):
    """An admin deletes a draft (DELETE /bundle/versions/{id}, or the page):
    its preview links stop working at once, its Lua state goes on every
    daemon, its bytes leave the bundle quota, and it is in neither the
    versions' list nor `aantafel tenant versions`. Its number is never
    given again: the next upload is N+1, and its preview shows its own
    files on both daemons, though both had the deleted draft N cached. A
    version that has been current is not deleted (409); facilitators,
    guests and another municipality's admin may not delete."""
    for slug, name, host in ((DEL_SLUG, "Gemeente Concept", DEL_HOST), (DEL_OTHER_SLUG, "Gemeente Ander", DEL_OTHER)):
        aantafel("tenant", "create", slug, "--name", name, "--host", host, env=pg.daemon_env())
    make_user(pg, DEL_SLUG, "admin@drf.test", "admin", "Dora Beheer")
    make_user(pg, DEL_SLUG, "gl@drf.test", "facilitator", "Gijs")
    make_user(pg, DEL_OTHER_SLUG, "admin@ander.test", "admin", "Ad")
    assert deployed(pg, DEL_SLUG, write_bundle(tmp_path / "v1", {"tenant.lua": welcome_lua("Welkom live")})) == 1
    assert deployed(pg, DEL_OTHER_SLUG, write_bundle(tmp_path / "o1", {"tenant.lua": welcome_lua("Ander welkom")})) == 1
    d1 = make_daemon(None, {**pg.daemon_env(), **SMALL})
    d2 = make_daemon({"workers": "1"}, {**pg.daemon_env(), **SMALL})
    for d in (d1, d2):
        wait_page(d, DEL_HOST, "Welkom live")
    token, _ = token_for(d1, DEL_HOST, "admin@drf.test")
    api = Api(d1, DEL_HOST, token=token)

    def draft(text, colour):
        return targz({"tenant.lua": welcome_lua(text), "static/thema.css": "body { color: %s; }\n" % colour})

    def upload(body):
        return api.call("POST", "/bundle?draft=1", raw=body, headers={"Content-Type": "application/gzip"})

    # Draft 2, previewed on both daemons: each has its files and a Lua
    # state for it.
    st, _, ans = upload(draft("Concept A", "#a00"))
    assert st == 201 and ans["version"] == 2 and ans["current"] == 1, ans
    sizes = {i["version"]: i["total_bytes"] for i in ans["items"]}
    dora = Browser(d1, DEL_HOST)
    assert dora.signin("admin@drf.test", PASSWORD)[0] == 303
    st, hdr, _, _ = dora.go("POST", "/beheer/bundel/voorbeeld", {"csrf": dora.jar["at_csrf"], "version": "2"})
    assert st == 303 and open_link(dora, hdr["location"])[0] == 303
    old_link = hdr["location"]
    for d in (d1, d2):
        st, _, page, _ = visit(d, DEL_HOST, "/", dora.jar)
        assert st == 200 and "Concept A" in page and "Voorbeeld van versie 2" in page, page[:2000]
        assert "#a00" in visit(d, DEL_HOST, "/assets/thema.css", dora.jar)[2]
    assert d2.log().count("Lua state for the preview of draft 2 ready") == 1
    # A second link to it, asked for with the API token, not opened yet.
    st, _, ans = api.post("/bundle/versions/2/preview")
    assert st == 201
    api_link = ans["path"] + ans["token"]

    # The quota holds the current version and draft 2, not one more.
    aantafel("tenant", "quota", DEL_SLUG, "--bundles", str(sizes[1] + sizes[2] + sizes[2] // 2), env=pg.daemon_env())
    st, _, ans = upload(draft("Concept B", "#b00"))
    assert st == 413 and ans["error"]["code"] == "over_quota", ans

    # Who may not delete it, what cannot be deleted.
    fac_token, _ = token_for(d1, DEL_HOST, "gl@drf.test")
    other_token, _ = token_for(d1, DEL_OTHER, "admin@ander.test")
    assert Api(d1, DEL_HOST, token=fac_token).call("DELETE", "/bundle/versions/2")[0] == 403
    assert Api(d1, DEL_HOST).call("DELETE", "/bundle/versions/2")[0] == 401
    assert Api(d1, DEL_HOST, token=other_token).call("DELETE", "/bundle/versions/2", check=False)[0] == 401
    # On his own site the number names his own versions: none is 2.
    assert Api(d1, DEL_OTHER, token=other_token).call("DELETE", "/bundle/versions/2", check=False)[0] == 404
    st, _, ans = api.call("DELETE", "/bundle/versions/1")
    assert st == 409 and ans["error"]["code"] == "not_draft", ans
    assert api.call("DELETE", "/bundle/versions/9")[0] == 404
    assert api.call("DELETE", "/bundle/versions/x", check=False)[0] in (400, 404)
    gijs = Browser(d1, DEL_HOST)
    assert gijs.signin("gl@drf.test", PASSWORD)[0] == 303
    assert gijs.go("POST", "/beheer/bundel/verwijderen", {"csrf": gijs.jar["at_csrf"], "version": "2"})[0] == 403
    # The page's button, without its CSRF token: nothing happens.
    st, _, page, _ = dora.go("GET", "/beheer/bundel")
    assert st == 200 and "Versie 2 verwijderen" in page and "Versie 1 verwijderen" not in page, page
    assert dora.go("POST", "/beheer/bundel/verwijderen", {"version": "2"})[0] == 403
    st, _, ans = api.get("/bundle/versions")
    assert [i["version"] for i in ans["items"]] == [2, 1]
    assert "Voorbeeld van versie 2" in visit(d2, DEL_HOST, "/", dora.jar)[2]

    # Deleted from the page (her cookie kept aside: the page she goes to
    # next already clears it).
    jar = dict(dora.jar)
    st, hdr, _, _ = dora.go("POST", "/beheer/bundel/verwijderen", {"csrf": dora.jar["at_csrf"], "version": "2"})
    assert st == 303 and hdr["location"] == "/beheer/bundel?deleted=2", (st, hdr)
    st, _, page, _ = dora.go("GET", "/beheer/bundel?deleted=2")
    assert "Concept 2 is verwijderd." in page and "Versie 2" not in page, page
    # Its links stop working at once, on both daemons: the current site,
    # and the cookie goes.
    for d in (d1, d2):
        st, _, page, cookies = visit(d, DEL_HOST, "/", jar)
        assert st == 200 and "Welkom live" in page and "Voorbeeld van versie" not in page, page[:2000]
        assert "Max-Age=0" in cookies.get("at_preview", ""), cookies
        assert "#a00" not in visit(d, DEL_HOST, "/assets/thema.css", jar)[2]
    assert dora.go("GET", old_link)[0] == 403
    assert dora.go("GET", api_link)[0] == 403
    # Its Lua state went on the daemon that held it.
    wait_for(lambda: "the preview's Lua state of version 2 goes: the registry changed" in d2.log(),
             what="the deleted draft's Lua state freed")
    # Neither list shows it; deleting it again finds nothing.
    st, _, ans = api.get("/bundle/versions")
    assert st == 200 and [i["version"] for i in ans["items"]] == [1] and ans["current"] == 1, ans
    out = aantafel("tenant", "versions", DEL_SLUG, env=pg.daemon_env()).stdout
    assert "* 1 " in out and not any(line.split()[:1] == ["2"] for line in out.splitlines()), out
    assert api.call("DELETE", "/bundle/versions/2")[0] == 404
    with pg.connect("super") as c, c.cursor() as cur:
        cur.execute("SELECT count(*) FROM platform.bundle_files f JOIN platform.tenants x ON x.id = f.tenant_id"
                    " WHERE x.slug = %s AND f.version = 2", (DEL_SLUG,))
        assert cur.fetchone()[0] == 0
        cur.execute("SELECT count(*) FROM bundle_previews p JOIN platform.tenants x ON x.id = p.tenant_id"
                    " WHERE x.slug = %s", (DEL_SLUG,))
        assert cur.fetchone()[0] == 0

    # Its bytes no longer count: the next draft fits, and it is version
    # 3, never 2 again, though both daemons had a version 2 cached.
    st, _, ans = upload(draft("Concept B", "#b00"))
    assert st == 201 and ans["version"] == 3 and ans["current"] == 1, ans
    assert [(i["version"], i["draft"]) for i in ans["items"]] == [(3, True), (1, False)]
    st, hdr, _, _ = dora.go("POST", "/beheer/bundel/voorbeeld", {"csrf": dora.jar["at_csrf"], "version": "3"})
    assert st == 303 and open_link(dora, hdr["location"])[0] == 303
    for d in (d1, d2):
        st, _, page, _ = visit(d, DEL_HOST, "/", dora.jar)
        assert st == 200 and "Concept B" in page and "Concept A" not in page, page[:2000]
        assert "Voorbeeld van versie 3" in page
        css = visit(d, DEL_HOST, "/assets/thema.css", dora.jar)[2]
        assert "#b00" in css and "#a00" not in css, css
    # Guests still see the current site; the other municipality untouched.
    for d in (d1, d2):
        assert "Welkom live" in get(d, DEL_HOST)[2]
        assert "Ander welkom" in get(d, DEL_OTHER)[2]

    # Published, draft 3 is no longer deleted; a deploy after a deleted
    # newest draft takes the next number too.
    aantafel("tenant", "quota", DEL_SLUG, "--bundles", "256MiB", env=pg.daemon_env())
    assert api.post("/bundle/versions/3/publish")[0] == 200
    st, _, ans = api.call("DELETE", "/bundle/versions/3")
    assert st == 409 and ans["error"]["code"] == "not_draft", ans
    st, _, ans = upload(draft("Concept C", "#c00"))
    assert st == 201 and ans["version"] == 4
    assert api.call("DELETE", "/bundle/versions/4")[0] == 200
    assert deployed(pg, DEL_SLUG, write_bundle(tmp_path / "v5", {"tenant.lua": welcome_lua("Van de provider")})) == 5
    for d in (d1, d2):
        wait_page(d, DEL_HOST, "Van de provider")
