"""The Lua runtime seen from outside: tenant bundles deployed with the real
`aantafel tenant deploy`, served by real daemons against a real
PostgreSQL. The example bundles, the plugin store and its transaction,
live deploys and rollbacks on two daemons, refused bundles, template
overrides, escaping, answers that are refused, and plugins that fail to
load. The sandbox's limits are in test_runtime_limits.py."""
import html
import html.parser
import json
import os
import re
import shutil
import urllib.parse

import pytest

from bundle_util import (LIVE, current_version, deploy, deployed, error_line, example_bundle, expect_500,
                         get, healthy, sql, store_unchecked, version_numbers, visits_plugin, wait_page,
                         write_bundle)
from harness import aantafel, make_request, wait_for


def views(page):
    """The visit counter on the home page (the example plugin bezoeken)."""
    m = re.search(r'<p class="views">[^<]*?(\d+)</p>', page)
    assert m, page
    return int(m.group(1))


# ---------------------------------------------------------------- the example bundles


def test_example_bundles_are_served_each_their_own(pg, tenants, db_daemon):
    tenants(("rt-zutphen", "Registernaam Zutphen", "zutphen.rt.test"),
            ("rt-voorbeeld", "Registernaam Voorbeeld", "voorbeeld.rt.test"))
    # Their first deploy: version 1 of each.
    assert deployed(pg, "rt-zutphen", example_bundle("zutphen")) == 1
    assert deployed(pg, "rt-voorbeeld", example_bundle("voorbeeld")) == 1
    d = db_daemon()

    z = wait_page(d, "zutphen.rt.test", "Hanzestad")
    v = wait_page(d, "voorbeeld.rt.test", "dorpshuis")
    # Zutphen: its own layout.html (tagline, its stylesheet), the name
    # from tenant.lua, the welcome from its site options.
    assert '<p class="tagline">Samen aan tafel in de Hanzestad</p>' in z
    assert '<link rel="stylesheet" href="/assets/zutphen.css">' in z
    assert '<body class="utrecht-document zutphen">' in z
    assert "Gemeente Zutphen" in z and "Registernaam Zutphen" not in z
    assert "Welkom aan tafel in Zutphen." in z
    assert "dorpshuis" not in z and "Voorbeeld" not in z
    # Voorbeeld: the banner comes from its own plugin through page.view
    # into its own home.html.
    assert '<p class="banner" role="status">Doe mee met de tafel over het nieuwe dorpshuis!</p>' in v
    assert "<h1>Aan tafel in Gemeente Voorbeeld</h1>" in v
    assert "Hanzestad" not in v and "zutphen" not in v.lower()
    # The language follows Accept-Language; Zutphen's translation says so.
    en = get(d, "zutphen.rt.test", "/", headers={"Accept-Language": "en"})[2]
    assert "Around the table in the Hanseatic town" in en and 'lang="en"' in en

    # /theme.css: each tenant's own tokens.
    for host, tokens, other in (("zutphen.rt.test", {"primary": "#8a1538", "background": "#fffdf8",
                                                      "font": "Georgia, 'Times New Roman', serif"}, "#00695c"),
                                ("voorbeeld.rt.test", {"primary": "#00695c", "text": "#102a27",
                                                        "font": "'Fira Sans', system-ui, sans-serif"}, "#8a1538")):
        st, hdr, css = get(d, host, "/theme.css")
        assert st == 200 and hdr["content-type"].startswith("text/css"), (host, st, hdr)
        assert css.startswith(":root {")
        for name, value in tokens.items():
            assert f"  --at-{name}: {value};" in css, (host, name, css)
        assert other not in css

    # /assets/: the bundle's static/ files, with an ETag.
    with open(os.path.join(example_bundle("zutphen"), "static", "zutphen.css"), "rb") as f:
        want = f.read()
    st, hdr, body = d.get("/assets/zutphen.css", host="zutphen.rt.test")
    assert st == 200 and body == want
    assert hdr["content-type"].startswith("text/css")
    etag = hdr.get("etag")
    assert etag and etag.startswith('"') and etag.endswith('"')
    st, hdr, body = d.get("/assets/zutphen.css", host="zutphen.rt.test", headers={"If-None-Match": etag})
    assert st == 304 and body == b"" and hdr.get("etag") == etag
    st, _, body = d.get("/assets/zutphen.css", host="zutphen.rt.test", headers={"If-None-Match": '"other"'})
    assert st == 200 and body == want
    st, _, body = d.get("/assets/zutphen.css?v=2", host="zutphen.rt.test")
    assert st == 200 and body == want
    with d.conn() as c:
        r = c.request("HEAD", "/assets/zutphen.css", host="zutphen.rt.test")
        assert r.status == 200 and r.body == b"" and r.headers.get("etag") == etag
        r = c.request("HEAD", "/", host="zutphen.rt.test")
        assert r.status == 200 and r.body == b"" and r.headers["content-type"].startswith("text/html")
    assert d.get("/assets/nothing.css", host="zutphen.rt.test")[0] == 404
    assert d.get("/assets/zutphen.css", host="voorbeeld.rt.test")[0] == 404   # not voorbeeld's file
    # Only static/ is reachable: never tenant.lua, templates or translations.
    secrets = ("return {", "plugins", "{% block", "zutphen.tagline")
    for path in ("/assets/../tenant.lua", "/assets/%2e%2e/tenant.lua", "/assets/%2E%2E/tenant.lua",
                 "/assets/..%2ftenant.lua", "/assets/..%2Ftenant.lua", "/assets/%2e%2e%2ftenant.lua",
                 "/assets/.%2e/tenant.lua", "/assets/x/../../tenant.lua", "/assets/x/%2e%2e/%2e%2e/tenant.lua",
                 "/assets/..%5ctenant.lua", "/assets/%252e%252e/tenant.lua", "/assets/./../tenant.lua",
                 "/assets//../tenant.lua", "/assets/../templates/layout.html",
                 "/assets/%2e%2e/translations/nl.lua", "/assets/../static/zutphen.css",
                 "/assets/tenant.lua", "/assets/%2e%2e%2f%2e%2e%2fetc/passwd", "/assets/..%00/tenant.lua"):
        st, _, body = get(d, "zutphen.rt.test", path)
        assert st == 404, (path, st)
        for s in secrets:
            assert s not in body, (path, s)
        assert "root:" not in body


# ---------------------------------------------------------------- the plugin store

KV = r'''-- A test plugin: the store through HTTP, answering JSON.
local function ver(q)
	if q.ver == nil then return nil end
	return math.tointeger(tonumber(q.ver))
end

plugin.route("GET", "/kv/put", function(req)
	local q = req.query
	local doc = q.big and string.rep("x", tonumber(q.big)) or { text = q.val }
	local v, err = plugin.store.put(q.key, doc, ver(q))
	return { json = { version = v or false, err = err or false } }
end)

plugin.route("GET", "/kv/get", function(req)
	local doc, v = plugin.store.get(req.query.key)
	return { json = { doc = doc or false, version = v or 0 } }
end)

plugin.route("GET", "/kv/list", function(req)
	local q = req.query
	local rows = plugin.store.list(q.prefix, { order = q.order, limit = q.limit and math.tointeger(tonumber(q.limit)) })
	local keys = {}
	for i, row in ipairs(rows) do keys[i] = row.key .. "=" .. tostring(row.value.text) .. "@" .. row.version end
	return { json = { keys = table.concat(keys, ","), n = #rows } }
end)

plugin.route("GET", "/kv/delete", function(req)
	return { json = { deleted = plugin.store.delete(req.query.key, ver(req.query)) } }
end)

plugin.route("GET", "/kv/fail", function(req)
	plugin.store.put(req.query.key, { text = "doomed" })
	plugin.store.put("other-" .. req.query.key, { text = "doomed too" }, 0)
	error("kv fails after writing") -- line 34
end)

plugin.route("GET", "/kv/co", function(req)
	local key = req.query.key
	local step = coroutine.wrap(function(k)
		local v1 = plugin.store.put(k, { text = "from a coroutine" }, 0)
		coroutine.yield(v1)
		local doc, v = plugin.store.get(k)
		return doc.text, v
	end)
	local v1 = step(key)
	local text, v2 = step()
	local co = coroutine.create(function(prefix)
		local inner = coroutine.wrap(function() return plugin.store.list(prefix) end)
		return #inner()
	end)
	local ok, n = coroutine.resume(co, key)
	return { json = { first = v1, text = text, version = v2, ok = ok, n = n } }
end)

plugin.route("GET", "/kv/sort", function()
	local t = { 3, 1, 2 }
	table.sort(t, function(a, b)
		plugin.store.get("k")
		return a < b
	end)
	return { text = "sorted" }
end)

plugin.route("GET", "/kv/gsub", function()
	local s = ("abc"):gsub(".", function(c) return plugin.store.get("k") and c or c end)
	return { text = s }
end)
'''

# A second plugin of the same tenant: its own key space.
PEEK = r'''plugin.route("GET", "/peek", function(req)
	local doc = plugin.store.get(req.query.key)
	return { json = { found = doc ~= nil } }
end)
'''


def kv_bundle(root, name="Gemeente Opslag"):
    return write_bundle(root, {
        **visits_plugin(),
        "tenant.lua": f'return {{ name = "{name}", plugins = {{ kv = true, peek = true, bezoeken = true }} }}\n',
        "plugins/kv.lua": KV,
        "plugins/peek.lua": PEEK,
    })


def kv(d, host, op, **query):
    st, hdr, body = get(d, host, f"/kv/{op}?" + urllib.parse.urlencode(query))
    assert st == 200, (op, query, st, body[:300])
    assert hdr["content-type"] == "application/json"
    return json.loads(body)


def test_a_plugin_counts_visits_in_the_database(pg, tenants, db_daemon, tmp_path):
    tenants(("rt-count", "Gemeente Teller", "count.rt.test"), ("rt-count2", "Gemeente Teller Twee", "count2.rt.test"))
    deployed(pg, "rt-count", kv_bundle(tmp_path / "b"))
    deployed(pg, "rt-count2", kv_bundle(tmp_path / "b2", "Gemeente Teller Twee"))
    d = db_daemon()
    first = views(wait_page(d, "count.rt.test", "Gemeente Opslag"))
    second = views(get(d, "count.rt.test")[2])
    assert second == first + 1
    assert views(get(d, "count.rt.test")[2]) == first + 2
    # Another tenant counts its own visits.
    other = views(wait_page(d, "count2.rt.test", "Gemeente Teller Twee"))
    assert views(get(d, "count.rt.test")[2]) == first + 3
    assert views(get(d, "count2.rt.test")[2]) == other + 1
    # Another plugin of the tenant does not see the counting plugin's keys.
    st, _, body = get(d, "count.rt.test", "/peek?key=stats")
    assert st == 200 and json.loads(body) == {"found": False}


def test_store_compare_and_set_list_and_delete(pg, tenants, db_daemon, tmp_path):
    tenants(("rt-store", "Gemeente Opslag", "store.rt.test"))
    deployed(pg, "rt-store", kv_bundle(tmp_path / "b"))
    d = db_daemon()
    wait_page(d, "store.rt.test", "Gemeente Opslag")
    h = "store.rt.test"

    assert kv(d, h, "get", key="k") == {"doc": False, "version": 0}
    assert kv(d, h, "put", key="k", val="een", ver=0) == {"version": 1, "err": False}       # 0 creates
    assert kv(d, h, "put", key="k", val="twee", ver=0) == {"version": False, "err": "conflict"}
    assert kv(d, h, "put", key="k", val="twee", ver=1) == {"version": 2, "err": False}      # CAS on 1
    assert kv(d, h, "put", key="k", val="stale", ver=1) == {"version": False, "err": "conflict"}
    assert kv(d, h, "put", key="k", val="drie", ver=7) == {"version": False, "err": "conflict"}
    assert kv(d, h, "get", key="k") == {"doc": {"text": "twee"}, "version": 2}
    assert kv(d, h, "put", key="k", val="vier") == {"version": 3, "err": False}              # unconditional
    assert kv(d, h, "put", key="new", val="x") == {"version": 1, "err": False}

    for i, word in enumerate(["a", "b", "c"]):
        assert kv(d, h, "put", key=f"item/{i}", val=word)["version"] == 1
    assert kv(d, h, "list", prefix="item/") == {"keys": "item/0=a@1,item/1=b@1,item/2=c@1", "n": 3}
    assert kv(d, h, "list", prefix="item/", limit=2) == {"keys": "item/0=a@1,item/1=b@1", "n": 2}
    assert kv(d, h, "put", key="item/0", val="A")["version"] == 2
    assert kv(d, h, "list", prefix="item/", order="recent", limit=1) == {"keys": "item/0=A@2", "n": 1}
    assert kv(d, h, "list", prefix="nothing/") == {"keys": "", "n": 0}

    assert kv(d, h, "delete", key="k", ver=2) == {"deleted": False}                        # stale
    assert kv(d, h, "get", key="k")["version"] == 3
    assert kv(d, h, "delete", key="k", ver=3) == {"deleted": True}
    assert kv(d, h, "delete", key="k") == {"deleted": False}
    assert kv(d, h, "get", key="k") == {"doc": False, "version": 0}
    assert kv(d, h, "delete", key="new") == {"deleted": True}
    # Created again after a delete: version 1 anew.
    assert kv(d, h, "put", key="k", val="terug", ver=0) == {"version": 1, "err": False}

    # The rows are the tenant's, under the plugin's name.
    rows = sql(pg, "super", "SELECT s.plugin, s.key, s.version FROM plugin_store s JOIN platform.tenants t"
                            " ON t.id = s.tenant_id WHERE t.slug = 'rt-store' AND s.plugin = 'kv' ORDER BY 2")
    assert rows == [("kv", "item/0", 2), ("kv", "item/1", 1), ("kv", "item/2", 1), ("kv", "k", 1)]


def test_store_quota(pg, tenants, db_daemon, tmp_path):
    tid = tenants(("rt-quota", "Gemeente Quotum", "quota.rt.test"))["rt-quota"]
    deployed(pg, "rt-quota", kv_bundle(tmp_path / "b"))
    d = db_daemon()
    wait_page(d, "quota.rt.test", "Gemeente Opslag")
    h = "quota.rt.test"
    assert kv(d, h, "put", key="small", val="x")["version"] == 1
    used = sql(pg, "super", "SELECT bytes FROM plugin_store_usage WHERE tenant_id = %s", (tid,))[0][0]
    assert used > 0
    sql(pg, "owner", "UPDATE platform.tenants SET store_quota = %s WHERE id = %s", (used + 300, tid))
    try:
        assert kv(d, h, "put", key="big", big=1000) == {"version": False, "err": "quota"}
        assert kv(d, h, "put", key="big", big=1000, ver=0) == {"version": False, "err": "quota"}
        assert kv(d, h, "get", key="big") == {"doc": False, "version": 0}
        # Replacing a document counts its new size only.
        assert kv(d, h, "put", key="small", big=200) == {"version": 2, "err": False}
        assert kv(d, h, "put", key="small", big=400) == {"version": False, "err": "quota"}
        assert kv(d, h, "get", key="small")["version"] == 2
        # Deleting frees room.
        assert kv(d, h, "delete", key="small") == {"deleted": True}
        assert kv(d, h, "put", key="big", big=250) == {"version": 1, "err": False}
        # Quota 0: nothing more fits.
        sql(pg, "owner", "UPDATE platform.tenants SET store_quota = 0 WHERE id = %s", (tid,))
        assert kv(d, h, "put", key="tiny", val="t") == {"version": False, "err": "quota"}
    finally:
        sql(pg, "owner", "UPDATE platform.tenants SET store_quota = DEFAULT WHERE id = %s", (tid,))
    assert kv(d, h, "put", key="tiny", val="t") == {"version": 1, "err": False}


def test_a_failed_request_writes_nothing(pg, tenants, db_daemon, tmp_path):
    tid = tenants(("rt-rollback", "Gemeente Terug", "rollback.rt.test"))["rt-rollback"]
    deployed(pg, "rt-rollback", kv_bundle(tmp_path / "b"))
    d = db_daemon()
    wait_page(d, "rollback.rt.test", "Gemeente Opslag")
    h = "rollback.rt.test"
    before = views(get(d, h)[2])

    rid = expect_500(d, h, "/kv/fail?key=f1")
    line = error_line(d, rid)
    assert f"request={rid} tenant=rt-rollback: plugins/kv.lua:34: kv fails after writing" in line, line
    assert kv(d, h, "get", key="f1") == {"doc": False, "version": 0}
    assert kv(d, h, "get", key="other-f1") == {"doc": False, "version": 0}
    rows = sql(pg, "super", "SELECT key FROM plugin_store WHERE tenant_id = %s AND key LIKE %s", (tid, "%f1"))
    assert rows == []
    usage = sql(pg, "super", "SELECT bytes FROM plugin_store_usage WHERE tenant_id = %s", (tid,))[0][0]
    # An existing document is not changed by a failed request either.
    assert kv(d, h, "put", key="f2", val="kept")["version"] == 1
    expect_500(d, h, "/kv/fail?key=f2")
    assert kv(d, h, "get", key="f2") == {"doc": {"text": "kept"}, "version": 1}
    # The page and its counter go on.
    assert views(get(d, h)[2]) == before + 1
    assert sql(pg, "super", "SELECT bytes FROM plugin_store_usage WHERE tenant_id = %s", (tid,))[0][0] > usage


def test_store_inside_plugin_coroutines(pg, tenants, db_daemon, tmp_path):
    tenants(("rt-co", "Gemeente Coroutine", "co.rt.test"))
    deployed(pg, "rt-co", kv_bundle(tmp_path / "b"))
    d = db_daemon()
    wait_page(d, "co.rt.test", "Gemeente Opslag")
    got = kv(d, "co.rt.test", "co", key="c1")
    assert got == {"first": 1, "text": "from a coroutine", "version": 1, "ok": True, "n": 1}
    # Committed with the request.
    assert kv(d, "co.rt.test", "get", key="c1") == {"doc": {"text": "from a coroutine"}, "version": 1}


def test_store_inside_a_sort_comparator_or_gsub_callback(pg, tenants, db_daemon, tmp_path):
    tenants(("rt-sort", "Gemeente Sorteer", "sort.rt.test"), ("rt-sort2", "Gemeente Ander", "sort2.rt.test"))
    deployed(pg, "rt-sort", kv_bundle(tmp_path / "b"))
    d = db_daemon()
    wait_page(d, "sort.rt.test", "Gemeente Opslag")
    for path in ("/kv/sort", "/kv/gsub"):
        rid = expect_500(d, "sort.rt.test", path)
        line = error_line(d, rid)
        assert "tenant=rt-sort:" in line
        assert "sort comparator" in line and "gsub callback" in line, line
        healthy(d, "sort.rt.test", "sort2.rt.test")


# ---------------------------------------------------------------- deploys live


def welcome_bundle(root, text, extra=None):
    return write_bundle(root, {
        "tenant.lua": 'return {\n  name = "Gemeente Live",\n  plugins = {\n'
                      f'    site = {{ welcome = "{text}" }},\n  }},\n}}\n',
        **(extra or {}),
    })


def test_deploy_and_rollback_reach_two_daemons_live(pg, tenants, db_daemon, tmp_path):
    tenants(("rt-live", "Gemeente Live", "live.rt.test"))
    d1 = db_daemon()
    d2 = db_daemon({"workers": "1"})
    for d in (d1, d2):
        wait_for(lambda: get(d, "live.rt.test")[0] == 200, timeout=LIVE, what="live.rt.test")

    assert deployed(pg, "rt-live", welcome_bundle(tmp_path / "v1", "Welkom bij versie een")) == 1
    for d in (d1, d2):
        wait_page(d, "live.rt.test", "Welkom bij versie een")
    assert deployed(pg, "rt-live", welcome_bundle(tmp_path / "v2", "Welkom bij versie twee")) == 2
    for d in (d1, d2):
        page = wait_page(d, "live.rt.test", "Welkom bij versie twee")
        assert "versie een" not in page
    pids = (d1.proc.pid, d2.proc.pid)

    p = aantafel("tenant", "rollback", "rt-live", "1", env=pg.daemon_env())
    assert p.stdout == "rt-live: version 1 is current (was 2)\n"
    for d in (d1, d2):
        page = wait_page(d, "live.rt.test", "Welkom bij versie een")
        assert "versie twee" not in page
    # Deploying version 2's files again makes version 2 current again.
    p = deploy(pg, "rt-live", tmp_path / "v2")
    assert p.returncode == 0 and "version 2 is current" in p.stdout, p.stdout
    for d in (d1, d2):
        wait_page(d, "live.rt.test", "Welkom bij versie twee")
    assert (d1.proc.pid, d2.proc.pid) == pids and d1.proc.poll() is None and d2.proc.poll() is None
    d1.wait_log("registry: tenant rt-live now runs bundle version 1 (was 2)")


BROKEN = {
    # name: (files over a valid bundle, what stderr must say)
    "syntax in tenant.lua": (
        {"tenant.lua": 'return {\n  name = "Kapot",\n  plugins = {\n    site = { welcome = "x",, },\n  },\n}\n'},
        [r"tenant\.lua:4:"]),
    "syntax in a plugin": (
        {"tenant.lua": 'return { plugins = { extra = true } }\n',
         "plugins/extra.lua": 'local a = 1\nlocal b = 2\nlocal c = = 3\n'},
        [r"plugins/extra\.lua:3:"]),
    "plugin raising at load": (
        {"tenant.lua": 'return { plugins = { extra = true } }\n',
         "plugins/extra.lua": 'local a = 1\nerror("extra kan niet laden")\n'},
        [r"plugins/extra\.lua:2: extra kan niet laden"]),
    "unknown plugin": (
        {"tenant.lua": 'return { plugins = { nosuch = { x = 1 } } }\n'},
        [r"tenant\.lua", r"unknown plugin 'nosuch'"]),
    "option out of bounds": (
        {"tenant.lua": 'return { plugins = { site = { notices = 99 } } }\n'},
        [r"tenant\.lua", r"'site'", r"'notices'", r"between 0 and 20"]),
    "option of the wrong type": (
        {"tenant.lua": 'return { plugins = { methode = { seldom_heard = "ja" } } }\n'},
        [r"tenant\.lua", r"'seldom_heard'", r"true or false"]),
    "unknown option": (
        {"tenant.lua": 'return { plugins = { site = { colour = "red" } } }\n'},
        [r"tenant\.lua", r"'site'", r"colour"]),
    "unknown field": (
        {"tenant.lua": 'return { name = "X", colour = "red" }\n'},
        [r"tenant\.lua", r"unknown field 'colour'"]),
    "bad theme value": (
        {"tenant.lua": 'return { theme = { primary = "red; background: url(x)" } }\n'},
        [r"tenant\.lua", r"'primary'"]),
    "value inside script": (
        {"templates/home.html": '{% extends "layout.html" %}\n{% block content %}\n'
                                '<script>var x = "{{ welcome }}";</script>\n{% end %}\n'},
        [r"templates/home\.html:3:", r"script"]),
    "unclosed block in a plugin template": (
        {"tenant.lua": 'return { plugins = { extra = true } }\n',
         "plugins/extra.lua": 'plugin.route("GET", "/x", function() return plugin.render("x.html", {}) end)\n',
         "plugins/extra/templates/x.html": '<p>\n{% if a %}\nopen\n'},
        [r"plugins/extra/templates/x\.html:\d+:"]),
}


def test_broken_bundles_are_refused_and_the_served_version_stays(pg, tenants, db_daemon, tmp_path):
    tenants(("rt-broken", "Gemeente Heel", "broken.rt.test"))
    good = welcome_bundle(tmp_path / "good", "Nog steeds heel")
    assert deployed(pg, "rt-broken", good) == 1
    d = db_daemon()
    wait_page(d, "broken.rt.test", "Nog steeds heel")
    mark = d.log_mark()
    for i, (name, (files, needles)) in enumerate(BROKEN.items()):
        folder = welcome_bundle(tmp_path / f"bad{i}", f"Kapotte versie {i}", files)
        p = deploy(pg, "rt-broken", folder)
        assert p.returncode == 1, (name, p.stdout, p.stderr)
        for n in needles:
            assert re.search(n, p.stderr), (name, n, p.stderr)
        assert "nothing was deployed" in p.stderr, (name, p.stderr)
        assert "Traceback" not in p.stderr and "Sanitizer" not in p.stderr
        assert version_numbers(pg, "rt-broken") == [1] and current_version(pg, "rt-broken") == 1, name
    # The daemon never heard of any of them.
    page = get(d, "broken.rt.test")[2]
    assert "Nog steeds heel" in page and "Kapotte" not in page
    assert "now runs bundle version" not in d.log_since(mark)


def test_check_names_the_broken_bundle(tmp_path):
    root = tmp_path / "tenants"
    welcome_bundle(root / "goed", "Goed")
    welcome_bundle(root / "kapot", "Kapot", BROKEN["syntax in tenant.lua"][0])
    welcome_bundle(root / "kapot-sjabloon", "Kapot", BROKEN["value inside script"][0])
    p = aantafel("check", "--tenants", str(root), check=False)
    assert p.returncode == 1, (p.stdout, p.stderr)
    assert f"ok: {root}/goed\n" in p.stdout
    assert re.search(rf"{re.escape(str(root))}/kapot: tenant\.lua:4:", p.stderr), p.stderr
    assert re.search(rf"{re.escape(str(root))}/kapot-sjabloon: templates/home\.html:3:", p.stderr), p.stderr
    assert "ok: " + str(root) + "/kapot" not in p.stdout
    # Without the broken ones: 0.
    shutil.rmtree(root / "kapot")
    shutil.rmtree(root / "kapot-sjabloon")
    p = aantafel("check", "--tenants", str(root), check=False)
    assert p.returncode == 0, p.stderr


# ---------------------------------------------------------------- template overrides

WIDGET = r'''plugin.route("GET", "/widget", function(req)
	return plugin.render("widget.html", { word = "bloem" }, req.lang)
end)
'''


def test_template_overrides(pg, tenants, db_daemon, tmp_path):
    tenants(("rt-tpl", "Gemeente Sjabloon", "tpl.rt.test"))
    d = db_daemon()
    # Before any bundle: the site plugin's own page.
    page = wait_page(d, "tpl.rt.test", "Gemeente Sjabloon")
    assert '<h2 id="berichten">Berichten</h2>' in page

    files = {
        "tenant.lua": 'return { plugins = { widget = true } }\n',
        # The tenant's home.html replaces the site plugin's page.
        "templates/home.html": '{% extends "layout.html" %}\n{% block content %}'
                               '<p id="eigen">Eigen startpagina van {{ tenant.name }}: {{ welcome }}</p>{% end %}\n',
        "plugins/widget.lua": WIDGET,
        "plugins/widget/templates/widget.html": '<p id="w">Sjabloon van de plugin: {{ word }}</p>\n',
    }
    v1 = deployed(pg, "rt-tpl", write_bundle(tmp_path / "v1", files))
    page = wait_page(d, "tpl.rt.test", 'id="eigen"')
    assert "Eigen startpagina van Gemeente Sjabloon: Welkom bij de lokale tafels van Gemeente Sjabloon." in page
    assert "berichten" not in page
    assert '<link rel="stylesheet" href="/theme.css">' in page        # the platform's layout around it
    # The NL Design System CSS first, the platform's style on top of it.
    assert 0 <= page.find('href="/static/vendor/utrecht/index.css"') < page.find('href="/static/site.css"')
    assert '<body class="utrecht-document">' in page
    body = wait_page(d, "tpl.rt.test", "Sjabloon van de plugin", path="/widget")
    assert body == '<p id="w">Sjabloon van de plugin: bloem</p>\n'

    # The tenant's own widget.html wins over the plugin's.
    files["templates/widget.html"] = '<p id="w">De gemeente kiest: {{ word }}</p>\n'
    v2 = deployed(pg, "rt-tpl", write_bundle(tmp_path / "v2", files))
    assert v2 == v1 + 1
    body = wait_page(d, "tpl.rt.test", "De gemeente kiest", path="/widget")
    assert body == '<p id="w">De gemeente kiest: bloem</p>\n'
    # A tenant layout.html applies to the site plugin's pages as well.
    files["templates/layout.html"] = ('<!doctype html><html lang="{{ lang }}"><head><title>T</title></head>'
                                      '<body id="eigen-layout">{% block content %}{% end %}</body></html>\n')
    deployed(pg, "rt-tpl", write_bundle(tmp_path / "v3", files))
    page = wait_page(d, "tpl.rt.test", 'id="eigen-layout"')
    assert 'id="eigen"' in page and "/theme.css" not in page
    # Rolled back: the plugin's template again.
    aantafel("tenant", "rollback", "rt-tpl", str(v1), env=pg.daemon_env())
    wait_page(d, "tpl.rt.test", "Sjabloon van de plugin", path="/widget")


# ---------------------------------------------------------------- escaping

PAYLOADS = [
    "<script>alert(1)</script>",
    '"><img src=x onerror=alert(1)>',
    "javascript:alert(1)",
    "' onmouseover='x",
    "</textarea><script>alert(1)</script>",
    "&lt;script&gt;",
    "{{ payload }}{% t \"x\" %}",
]
URLS = [
    "javascript:alert(1)",
    "JavaScript:alert(1)",
    " javascript:alert(1)",
    "\tjava\nscript:alert(1)",
    "jav&#x61;script:alert(1)",
    "javascript&colon;alert(1)",
    "vbscript:msgbox(1)",
    "data:text/html,<script>alert(1)</script>",
    '"><img src=x onerror=alert(1)>',
    "' onmouseover='x",
]

SCRIPT_URLS = set(URLS[:4] + URLS[6:8])

XSS_TEMPLATE = '''<!doctype html>
<html lang="{{ lang }}"><head><title>{{ payload }}</title></head>
<body>
<p id="text">{{ payload }}</p>
<div id="dq" title="{{ payload }}" data-v="{{ payload }}">dq</div>
<div id="sq" title='{{ payload }}'>sq</div>
<a id="href" href="{{ url }}">link</a>
<a id="href-sq" href='{{ url }}'>link</a>
<a id="query" href="/zoek?q={{ payload }}">zoek</a>
<img id="img" src="{{ url }}" alt="{{ payload }}">
<form id="form" action="{{ url }}"></form>
<textarea id="ta">{{ payload }}</textarea>
<p id="t">{% t "xss.text" %}</p>
</body></html>
'''

XSS = r'''plugin.route("GET", "/xss", function(req)
	local p = (req.query.p or ""):gsub("%%(%x%x)", function(h) return string.char(tonumber(h, 16)) end)
	local u = (req.query.u or ""):gsub("%%(%x%x)", function(h) return string.char(tonumber(h, 16)) end)
	return plugin.render("xss.html", { payload = p, url = u }, req.lang)
end)
plugin.route("GET", "/string", function() return "<p>plain</p>" end)
plugin.route("GET", "/rawhtml", function() return { html = "<p>raw</p>" } end)
plugin.route("GET", "/statushtml", function() return { status = 202, html = plugin.render("xss.html", { payload = "ok" }) } end)
plugin.route("GET", "/body/:n", function(req, params)
	local types = { "text/html", "TEXT/HTML; charset=utf-8", "text/html;charset=utf-8", "application/xhtml+xml",
		"image/svg+xml", "text/xml", "application/xml", "Text/Html" }
	return { body = "<script>alert(1)</script>", type = types[tonumber(params.n)] }
end)
plugin.route("GET", "/css", function() return { body = "p{}", type = "text/css" } end)
'''


class Collect(html.parser.HTMLParser):
    """Every element with its attributes, and the text inside each
    element that has an id."""

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.elements = []
        self.text = {}
        self.open = []

    def handle_starttag(self, tag, attrs):
        self.elements.append((tag, attrs))
        d = dict(attrs)
        if tag not in ("img", "meta", "link", "input", "br"):
            self.open.append(d.get("id"))

    def handle_endtag(self, tag):
        if self.open:
            self.open.pop()

    def handle_data(self, data):
        if self.open and self.open[-1]:
            self.text[self.open[-1]] = self.text.get(self.open[-1], "") + data


# XSS_TEMPLATE's elements with their attributes, in order: whatever the
# payload, the page has exactly these.
EXPECTED_ELEMENTS = [
    ("html", ["lang"]), ("head", []), ("title", []), ("body", []), ("p", ["id"]),
    ("div", ["id", "title", "data-v"]), ("div", ["id", "title"]), ("a", ["id", "href"]), ("a", ["id", "href"]),
    ("a", ["id", "href"]), ("img", ["id", "src", "alt"]), ("form", ["id", "action"]), ("textarea", ["id"]),
    ("p", ["id"]),
]


def url_is_harmless(value):
    """What a browser would make of a URL attribute (VALUE as the parser
    decoded it): no script or data scheme."""
    v = re.sub(r"[\x00-\x20]", "", value or "").lower()
    return not v.startswith(("javascript:", "vbscript:", "data:"))


def test_view_values_are_escaped_in_every_context(pg, tenants, db_daemon, tmp_path):
    tenants(("rt-xss", "Gemeente Veilig", "xss.rt.test"))
    deployed(pg, "rt-xss", write_bundle(tmp_path / "b", {
        "tenant.lua": 'return { plugins = { xss = true } }\n',
        "plugins/xss.lua": XSS,
        "plugins/xss/templates/xss.html": XSS_TEMPLATE,
        "translations/nl.lua": 'return { ["xss.text"] = "<b>vet</b> & \\"zo\\"" }\n',
    }))
    d = db_daemon()
    wait_page(d, "xss.rt.test", "ok", path="/xss?p=ok")
    enc = lambda s: "".join(f"%{b:02x}" for b in s.encode())

    for payload in PAYLOADS:
        for url in URLS:
            st, _, body = get(d, "xss.rt.test", f"/xss?p={enc(payload)}&u={enc(url)}")
            assert st == 200, (payload, url, st)
            case = (payload, url, body)
            # Raw: no markup the payload could have opened.
            assert "<script" not in body.lower(), case
            assert "<img src=x" not in body and "onerror=" not in body.replace("onerror=alert(1)&gt;", ""), case
            c = Collect()
            c.feed(body)
            c.close()
            assert [(t, [n for n, _ in attrs]) for t, attrs in c.elements] == EXPECTED_ELEMENTS, case
            for tag, attrs in c.elements:
                a = dict(attrs)
                # Text and quoted attributes keep the value, as text.
                if a.get("id") in ("dq", "sq"):
                    assert a["title"] == payload, case
                if a.get("id") == "dq":
                    assert a["data-v"] == payload, case
                if tag == "img":
                    assert a["alt"] == payload, case
                # URL attributes never carry a script scheme.
                for n in ("href", "src", "action"):
                    if n in a:
                        assert url_is_harmless(a[n]), (n, a[n], case)
                        if url in SCRIPT_URLS and a.get("id") != "query":
                            assert a[n] == "about:invalid#blocked", (n, a[n], case)
                if a.get("id") == "query":
                    assert a["href"].startswith("/zoek?q="), case
            assert c.text.get("text") == payload, case
            assert c.text.get("ta") == payload, case
            # Translations are text too.
            assert c.text.get("t") == '<b>vet</b> & "zo"', case
    # A harmless URL comes through as written.
    st, _, body = get(d, "xss.rt.test", "/xss?p=x&u=" + enc("/tafels/12?x=1&y=2"))
    assert 'href="/tafels/12?x=1&amp;y=2"' in body


def test_answers_that_could_carry_raw_html_are_refused(pg, tenants, db_daemon, tmp_path):
    tenants(("rt-answer", "Gemeente Antwoord", "answer.rt.test"), ("rt-answer2", "Gemeente Anders", "answer2.rt.test"))
    deployed(pg, "rt-answer", write_bundle(tmp_path / "b", {
        "tenant.lua": 'return { plugins = { xss = true } }\n',
        "plugins/xss.lua": XSS,
        "plugins/xss/templates/xss.html": XSS_TEMPLATE,
    }))
    d = db_daemon()
    wait_page(d, "answer.rt.test", "ok", path="/xss?p=ok")
    rid = expect_500(d, "answer.rt.test", "/string")
    assert "a handler returned a string" in error_line(d, rid)
    rid = expect_500(d, "answer.rt.test", "/rawhtml")
    assert "html must be safe HTML" in error_line(d, rid)
    for n in range(1, 9):
        rid = expect_500(d, "answer.rt.test", f"/body/{n}")
        assert "a body's type must be one of" in error_line(d, rid), n
    st, hdr, body = get(d, "answer.rt.test", "/statushtml")
    assert st == 202 and hdr["content-type"].startswith("text/html") and 'id="text">ok<' in body
    st, hdr, body = get(d, "answer.rt.test", "/css")
    assert st == 200 and hdr["content-type"] == "text/css" and body == "p{}"
    healthy(d, "answer.rt.test", "answer2.rt.test")


def test_unquoted_attribute_values_are_refused_at_deploy(pg, tenants, tmp_path):
    tenants(("rt-unquoted", "Gemeente Zonder Aanhalingstekens", "unquoted.rt.test"))
    for i, tpl in enumerate(['<p>\n<a href={{ url }}>x</a>\n', '<p>\n<div title={{ t }}>x</div>\n',
                             '<p>\n<div {{ attrs }}>x</div>\n', '<p>\n<a onclick="{{ x }}">x</a>\n',
                             '<p>\n<a href="javascript:{{ x }}">x</a>\n', '<p>\n<!-- {{ x }} -->\n',
                             '<p>\n<div style="color: {{ x }}">x</div>\n']):
        p = deploy(pg, "rt-unquoted", write_bundle(tmp_path / f"u{i}", {
            "tenant.lua": "return {}\n", "templates/x.html": tpl}))
        assert p.returncode == 1, (tpl, p.stdout)
        assert re.search(r"templates/x\.html:2:", p.stderr), (tpl, p.stderr)
    assert version_numbers(pg, "rt-unquoted") == []


# ---------------------------------------------------------------- plugins that fail to load

GOOD = r'''plugin.route("GET", "/good", function() return { text = "good answers" } end)
plugin.hook("page.view", function(template, view) view.banner = "van good" end)
'''
BAD = r'''plugin.route("GET", "/bad", function() return { text = "bad answers" } end)
local settings = { a = 1 }
error("bad cannot start: " .. settings.a) -- line 3
'''
BAD_SYNTAX = 'plugin.route("GET", "/syntax", function() return { text = "x" } end)\nlocal = 1\n'
BAD_INDEX = 'local cfg = nil\nplugin.route("GET", "/index", function() return { text = "x" } end)\nreturn cfg.x\n'


def test_a_plugin_that_fails_to_load_is_disabled_alone(pg, tenants, db_daemon, tmp_path):
    tenants(("rt-load", "Gemeente Laden", "load.rt.test"), ("rt-load2", "Gemeente Buur", "load2.rt.test"))
    files = {
        "tenant.lua": 'return { plugins = { good = true, bad = true, syntax = true, index = true } }\n',
        "templates/home.html": '{% extends "layout.html" %}{% block content %}<p id="b">{{ banner }}</p>{% end %}\n',
        "plugins/good.lua": GOOD,
        "plugins/bad.lua": BAD,
        "plugins/syntax.lua": BAD_SYNTAX,
        "plugins/index.lua": BAD_INDEX,
    }
    # `tenant deploy` refuses such a bundle, naming each broken plugin.
    p = deploy(pg, "rt-load", write_bundle(tmp_path / "b", files))
    assert p.returncode == 1
    for needle in ("plugins/bad.lua:3: bad cannot start: 1", "plugins/syntax.lua:2:", "plugins/index.lua:3:"):
        assert needle in p.stderr, (needle, p.stderr)
    assert "good.lua" not in p.stderr

    # A version stored without those checks: the daemon disables the
    # broken plugins and serves the rest.
    version = store_unchecked(pg, "rt-load", files)
    d = db_daemon()
    page = wait_page(d, "load.rt.test", '<p id="b">van good</p>')
    for _ in range(3):
        st, _, body = get(d, "load.rt.test", "/good")
        assert (st, body) == (200, "good answers")
        for path in ("/bad", "/syntax", "/index"):
            assert get(d, "load.rt.test", path)[0] == 404, path
    healthy(d, "load.rt.test", "load2.rt.test")
    log = d.log()
    want = [rf"tenant=rt-load version={version}: plugins/bad\.lua:3: bad cannot start: 1 \(plugin 'bad' disabled\)",
            rf"tenant=rt-load version={version}: plugins/syntax\.lua:2: .*\(plugin 'syntax' disabled\)",
            rf"tenant=rt-load version={version}: plugins/index\.lua:3: .*\(plugin 'index' disabled\)"]
    for w in want:
        assert re.search(w, log), (w, log[-3000:])
    assert "plugin 'good'" not in log
    assert "van good" in page


# ---------------------------------------------------------------- regressions: ways out that were found and closed


@pytest.mark.parametrize("ctype", [" text/html", "\ttext/html", "text/plain, text/html", "text/plain,text/html",
                                   "text/plain;x=1, image/svg+xml"])
def test_body_type_that_a_browser_reads_as_html_is_refused(pg, tenants, db_daemon, tmp_path, ctype):
    """A body's type is checked by prefix, but a browser trims leading
    white space from Content-Type and, for a list, takes the last type
    (Fetch: "extract a MIME type"). Such types must be refused too."""
    tenants(("rt-ctype", "Gemeente Type", "ctype.rt.test"))
    plugin = ('plugin.route("GET", "/body", function()\n'
              f'\treturn {{ body = "<script>alert(1)</script>", type = {json.dumps(ctype)} }}\nend)\n')
    deployed(pg, "rt-ctype", write_bundle(tmp_path / "b", {
        "tenant.lua": 'return { plugins = { ctype = true } }\n', "plugins/ctype.lua": plugin}))
    d = db_daemon()
    wait_for(lambda: get(d, "ctype.rt.test", "/body")[0] not in (404, 503), timeout=LIVE, what="/body routed")
    st, hdr, body = d.get("/body", host="ctype.rt.test")
    assert st == 500, f"type {ctype!r} answered {st} with Content-Type {hdr.get('content-type')!r}: {body[:60]!r}"


RAW = r'''plugin.route("GET", "/type", function(req)
	return { body = "<x:stylesheet/><script>alert(1)</script>", type = req.query.t }
end)
plugin.route("GET", "/header", function(req)
	return { text = "kop", headers = { [req.query.n] = req.query.v } }
end)
'''


@pytest.fixture
def raw_site(pg, tenants, db_daemon, tmp_path):
    tenants(("rt-raw", "Gemeente Rauw", "raw.rt.test"))
    deployed(pg, "rt-raw", write_bundle(tmp_path / "b", {
        "tenant.lua": 'return { plugins = { raw = true } }\n', "plugins/raw.lua": RAW}))
    d = db_daemon()
    wait_for(lambda: get(d, "raw.rt.test", "/header?n=Vary&v=x")[0] == 200, timeout=LIVE, what="/header routed")
    return d


def _q(v):
    return urllib.parse.quote(v, safe="")


# Every type a browser might render as a document, or that is not on the
# list for another reason: refused, whatever its spelling.
REFUSED_TYPES = ["text/xsl", "multipart/x-mixed-replace", "multipart/x-mixed-replace; boundary=x", "text/html",
                 "TEXT/HTML", "application/xhtml+xml", "image/svg+xml", "text/xml", "application/xml",
                 "application/rss+xml", "application/atom+xml", "text/javascript", "application/javascript",
                 "application/x-shockwave-flash", "text/vtt", "application/pdf; x=1", "text/plain; charset=",
                 "text/plain; boundary=x", "text/plain; charset=utf-8; x=1", "text/plain, text/html",
                 "text/plain;charset=utf-8,text/html", " text/plain", "text/plainx", "text", "", "*/*",
                 "application/json+xml", "image/svg", "application/vnd.ms-htmlhelp", "message/rfc822"]


@pytest.mark.parametrize("ctype", REFUSED_TYPES)
def test_a_raw_body_of_a_type_not_listed_is_refused(raw_site, ctype):
    """Raw bodies are an allow-list: `text/xsl` and
    `multipart/x-mixed-replace` passed the old deny-list of HTML, XML and
    SVG."""
    rid = expect_500(raw_site, "raw.rt.test", f"/type?t={_q(ctype)}")
    assert "a body's type must be one of" in error_line(raw_site, rid)


@pytest.mark.parametrize("ctype", ["text/plain", "text/css; charset=utf-8", "Text/CSV;charset=UTF-8",
                                   "application/json", "application/pdf", "image/png", "font/woff2",
                                   "text/calendar; charset=utf-8", "application/octet-stream"])
def test_a_raw_body_of_a_listed_type_is_served_as_such(raw_site, ctype):
    st, hdr, _ = get(raw_site, "raw.rt.test", f"/type?t={_q(ctype)}")
    assert st == 200 and hdr["content-type"] == ctype
    assert hdr["x-content-type-options"] == "nosniff"


@pytest.mark.parametrize("name,value", [("Location", "https://elders.example/"), ("Refresh", "0; url=https://x.example/"),
                                        ("Link", "</x.css>; rel=stylesheet"), ("Content-Security-Policy", "default-src *"),
                                        ("Access-Control-Allow-Origin", "*"), ("Set-Cookie", "a=b"),
                                        ("Content-Type", "text/html"), ("Strict-Transport-Security", "max-age=0"),
                                        ("X-Frame-Options", "ALLOWALL"), ("Content-Encoding", "gzip"),
                                        ("X-Eigen", "ja"), ("Content-Disposition", "form-data"),
                                        ("Clear-Site-Data", '"*"'), ("Server-Timing", "x")])
def test_a_header_not_listed_is_refused(raw_site, name, value):
    """Headers beside a raw answer are an allow-list as well: a Location
    or Refresh would make an open redirect, a Link a style sheet."""
    rid = expect_500(raw_site, "raw.rt.test", f"/header?n={_q(name)}&v={_q(value)}")
    assert "headers must be at most 16" in error_line(raw_site, rid)


@pytest.mark.parametrize("name,value", [("Cache-Control", "no-store"), ("Content-Disposition", 'attachment; filename="a.csv"'),
                                        ("Retry-After", "5"), ("x-robots-tag", "noindex"), ("Vary", "Accept-Language")])
def test_a_listed_header_is_sent(raw_site, name, value):
    st, hdr, body = get(raw_site, "raw.rt.test", f"/header?n={_q(name)}&v={_q(value)}")
    assert (st, body, hdr[name.lower()]) == (200, "kop", value)


MISUSE = r'''plugin.route("GET", "/badkey", function()
	return { json = { v = plugin.store.get(42) } } -- line 2
end)
plugin.route("GET", "/sorted", function()
	local t = { 2, 1 }
	table.sort(t, function(a, b) return plugin.store.get("k") == nil and a < b end) -- line 6
	return { text = "sorted" }
end)
plugin.route("GET", "/bigdoc", function()
	return { json = { v = plugin.store.put("k", ("x"):rep(300 * 1024)) } } -- line 10
end)
'''


def test_store_errors_name_the_plugins_file_and_line(pg, tenants, db_daemon, tmp_path):
    """A store call refused by the core is an error at the plugin's call,
    and the log (or deploy's report) should name that file and line, as for
    any other Lua error. The core raises it one level too low: the log
    names the runtime's own prelude ("prelude:299:"), which no plugin
    author can find."""
    tenants(("rt-misuse", "Gemeente Misbruik", "misuse.rt.test"))
    deployed(pg, "rt-misuse", write_bundle(tmp_path / "b", {
        "tenant.lua": 'return { plugins = { misuse = true } }\n', "plugins/misuse.lua": MISUSE}))
    d = db_daemon()
    wait_for(lambda: get(d, "misuse.rt.test", "/badkey")[0] == 500, timeout=LIVE, what="/badkey routed")
    problems = []
    for path, line, text in (("/badkey", 2, "the key must be"), ("/sorted", 6, "sort comparator"),
                             ("/bigdoc", 10, "over the limit")):
        rid = expect_500(d, "misuse.rt.test", path)
        log = error_line(d, rid)
        assert text in log, (path, log)
        if f"tenant=rt-misuse: plugins/misuse.lua:{line}: " not in log:
            problems.append(log.split(" error ", 1)[1])
    # At load time, in `tenant deploy`'s report.
    p = deploy(pg, "rt-misuse", write_bundle(tmp_path / "c", {
        "tenant.lua": 'return { plugins = { early = true } }\n',
        "plugins/early.lua": 'local x = 1\nlocal doc = plugin.store.get("k")\n'}))
    assert p.returncode == 1 and "not while loading" in p.stderr, p.stderr
    if "plugins/early.lua:2:" not in p.stderr:
        problems.append(p.stderr.strip())
    assert not problems, "\n".join(problems)


def test_a_refused_state_changing_request_sends_each_header_once(pg, tenants, db_daemon):
    """A POST without the CSRF token is refused with 403 before any Lua
    runs. The refusal adds Cache-Control itself and then the error page
    adds it again: the header comes twice."""
    tenants(("rt-csrf", "Gemeente Formulier", "csrf.rt.test"))
    d = db_daemon()
    wait_page(d, "csrf.rt.test", "Gemeente Formulier")
    raw = d.raw(make_request("POST", "/", "csrf.rt.test", headers={"Connection": "close"}, body="a=1"), timeout=20)
    head = raw.split(b"\r\n\r\n", 1)[0].decode("latin-1")
    assert head.startswith("HTTP/1.1 403 "), head
    names = [line.split(":", 1)[0].lower() for line in head.split("\r\n")[1:] if line]
    dup = sorted({n for n in names if names.count(n) > 1})
    assert not dup, f"headers sent twice: {dup}\n{head}"


# ---------------------------------------------------------------- translations

FILL = r'''-- plugin.t fills {name} places from its variables.
plugin.route("GET", "/fill", function(req)
	local out = {
		plugin.t("fill.greet", { name = "Ada", n = 3, yes = true }),
		plugin.t("fill.greet", { name = "Bo", n = 0, yes = false }),
		plugin.t("fill.plain", { name = "Ada" }),
		plugin.t("fill.greet"),
		plugin.t("fill.edges", { a = "%1", b = "{b}" }),
	}
	-- More texts than the daemon keeps split at once (untranslated keys
	-- are their own text), then the first ones again.
	local many = {}
	for i = 1, 600 do many[#many + 1] = plugin.t("k" .. i .. " {i}", { i = i }) end
	out[#out + 1] = table.concat(many, ","):sub(1, 23)
	out[#out + 1] = many[600]
	out[#out + 1] = plugin.t("fill.greet", { name = "Cy", n = 1, yes = true })
	return { json = out }
end)
'''


def test_translations_fill_their_places(pg, tenants, db_daemon, tmp_path):
    tenants(("rt-fill", "Gemeente Vul", "fill.rt.test"))
    deployed(pg, "rt-fill", write_bundle(tmp_path / "b", {
        "tenant.lua": 'return { plugins = { fill = true } }\n',
        "plugins/fill.lua": FILL,
        "translations/nl.lua": 'return { ["fill.greet"] = "Dag {name}: {n} keer, {missing}, {yes}{name}",'
                               ' ["fill.plain"] = "Zonder plaatsen", ["fill.edges"] = "{a}{b}{}{ a}{a}" }\n',
    }))
    d = db_daemon()
    wait_page(d, "fill.rt.test", "Dag", path="/fill")
    st, _, body = get(d, "fill.rt.test", "/fill")
    assert st == 200, body
    assert json.loads(body) == [
        "Dag Ada: 3 keer, {missing}, trueAda",
        "Dag Bo: 0 keer, {missing}, falseBo",
        "Zonder plaatsen",
        "Dag {name}: {n} keer, {missing}, {yes}{name}",   # no variables: the text as written
        "%1{b}{}{ a}%1",                                  # values are not patterns or places
        "k1 1,k2 2,k3 3,k4 4,k5 ",
        "k600 600",
        "Dag Cy: 1 keer, {missing}, trueCy",
    ]
