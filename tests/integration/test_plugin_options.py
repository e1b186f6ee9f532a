"""Options a plugin declares editable (plugin.option with its Dutch and
English labels): a municipality's admins set them at /beheer/instellingen
or with PUT /api/v1/settings/options, each value checked against the
declaration (a 422 names options.PLUGIN.NAME, and nothing is written), and
the plugin reads them with plugin.setting while it serves a request: a
change holds at once on a second daemon. A bundle's plugin and the
platform's methode plugin (its interviews' guard) both declare some; an
option declared without labels stays tenant.lua's. Only admins change
them: a facilitator, a member and a guest are refused, from the API and
from the page."""
from api_client import Api
from bundle_util import deployed, wait_page, write_bundle
from harness import aantafel
from test_signin import SMALL, Browser
from world import PASSWORD, make_user, token_for

HOST, SLUG = "opties.test", "opt-a"

GROET = '''
plugin.option("groet", "string", "Hallo", { max = 40 }, { nl = "Groet op de pagina", en = "Greeting on the page" })
plugin.option("aantal", "integer", 3, { min = 1, max = 10 }, { nl = "Aantal items", en = "Number of items" })
plugin.option("factor", "number", 1.5, { min = 0, max = 2 }, { nl = "Factor", en = "Factor" })
plugin.option("aan", "boolean", false, nil, { nl = "Groet tonen", en = "Show the greeting" })
plugin.option("kleur", "choice", "blauw", { "blauw", "groen" }, { nl = "Kleur", en = "Colour" })
plugin.option("tekst", "string", "", nil, { nl = "Tekst zonder grens", en = "Text without a bound" })
local vast = plugin.option("vast", "integer", 7)

plugin.route("GET", "/groet", function(req)
	local parts = {}
	for _, n in ipairs({ "groet", "aantal", "factor", "aan", "kleur" }) do
		parts[#parts + 1] = tostring(plugin.setting(n))
	end
	parts[#parts + 1] = tostring(vast)
	return plugin.render("groet.html", { waarden = table.concat(parts, "|") }, req.lang)
end)
'''


def bundle(tmp_path):
    return write_bundle(tmp_path / "v1", {
        "tenant.lua": 'return { plugins = { groet = { aantal = 4 }, methode = { min_interviews = 3 } } }\n',
        "plugins/groet.lua": GROET,
        "plugins/groet/templates/groet.html": '<p id="waarden">{{ waarden }}</p>\n',
    })


def values(d):
    st, _, body = d.get("/groet", host=HOST)
    assert st == 200, body
    return body.decode().split('<p id="waarden">')[1].split("</p>")[0]


def test_plugin_options(pg, make_daemon, tmp_path):
    aantafel("tenant", "create", SLUG, "--name", "Gemeente Opties", "--host", HOST, env=pg.daemon_env())
    for email, role, name in (("admin@opt.test", "admin", "Anna Beheer"), ("gl@opt.test", "facilitator", "Gert"),
                              ("lid@opt.test", "member", "Lia")):
        make_user(pg, SLUG, email, role, name)
    assert deployed(pg, SLUG, bundle(tmp_path)) == 1
    d1 = make_daemon(None, {**pg.daemon_env(), **SMALL})
    d2 = make_daemon(None, {**pg.daemon_env(), **SMALL})
    for d in (d1, d2):
        wait_page(d, HOST, "Hallo|4|1.5|false|blauw|7", path="/groet")
    tok = {who: token_for(d1, HOST, email)[0] for who, email in
           (("admin", "admin@opt.test"), ("fac", "gl@opt.test"), ("member", "lid@opt.test"))}
    admin = Api(d1, HOST, token=tok["admin"])
    st, _, body = Api(d1, HOST).get("/settings/options")
    assert st == 200 and body == {"options": {}}, body

    # Only admins.
    change = {"options": {"groet": {"groet": "Goedemiddag", "aantal": 7, "factor": 0.25, "aan": True,
                                    "kleur": "groen"}, "methode": {"min_interviews": 5}}}
    for who, status in (("fac", 403), ("member", 403), (None, 401)):
        st, _, body = Api(d1, HOST, token=tok[who] if who else None).put("/settings/options", change)
        assert st == status, (who, body)
    assert Api(d1, HOST).get("/settings/options")[2] == {"options": {}}

    # Refused against the declaration, naming the option; nothing written,
    # not even the valid values beside a wrong one.
    bad = [
        ({"groet": {"aantal": 11}}, "options.groet.aantal"),
        ({"groet": {"aantal": 2.5}}, "options.groet.aantal"),
        ({"groet": {"aantal": "5"}}, "options.groet.aantal"),
        ({"groet": {"factor": -1}}, "options.groet.factor"),
        ({"groet": {"groet": "x" * 41}}, "options.groet.groet"),
        ({"groet": {"aan": "ja"}}, "options.groet.aan"),
        ({"groet": {"kleur": "rood"}}, "options.groet.kleur"),
        # No max declared: the platform's own bound (what the table holds)
        # answers 422 naming it, never the table's constraint.
        ({"groet": {"tekst": "x" * 20001}}, "options.groet.tekst"),
        ({"groet": {"vast": 1}}, "options.groet.vast"),
        ({"groet": {"onbekend": 1}}, "options.groet.onbekend"),
        ({"site": {"welcome": "x"}}, "options.site"),
        ({"methode": {"min_interviews": 51}}, "options.methode.min_interviews"),
        ({"groet": {"groet": "Goed", "aantal": 0}}, "options.groet.aantal"),
    ]
    for options, field in bad:
        st, _, body = admin.put("/settings/options", {"options": options})
        assert st == 422 and field in body["error"]["fields"], (options, body)
        assert len(body["error"]["fields"]) == 1, body
    # Out of bounds is "range", the wrong kind of value "type".
    for options, code in (({"groet": {"aantal": 11}}, "range"), ({"groet": {"groet": "x" * 41}}, "range"),
                          ({"groet": {"tekst": "x" * 20001}}, "range"), ({"groet": {"aantal": "5"}}, "type"),
                          ({"groet": {"kleur": "rood"}}, "type")):
        body = admin.put("/settings/options", {"options": options})[2]
        (problem,) = body["error"]["fields"].values()
        assert problem["code"] == code, (options, body)
    st, _, body = admin.put("/settings/options", {"options": [1]})
    assert st == 422 and "options" in body["error"]["fields"], body
    st, _, body = admin.put("/settings/options", {"opties": {}})
    assert st == 422 and "opties" in body["error"]["fields"], body
    assert Api(d1, HOST).get("/settings/options")[2] == {"options": {}}
    assert values(d1) == "Hallo|4|1.5|false|blauw|7"

    # Set: the answer, and the plugin on both daemons at once.
    st, _, body = admin.put("/settings/options", change)
    assert st == 200 and body == change, body
    assert values(d1) == "Goedemiddag|7|0.25|true|groen|7"
    wait_page(d2, HOST, "Goedemiddag|7|0.25|true|groen|7", path="/groet")
    # The value tenant.lua or the declaration gives follows them again.
    st, _, body = admin.put("/settings/options", {"options": {"groet": {"aantal": 4, "kleur": "blauw"}}})
    assert st == 200 and body["options"]["groet"] == {"groet": "Goedemiddag", "factor": 0.25, "aan": True}, body
    assert values(d1) == "Goedemiddag|4|0.25|true|blauw|7"
    with pg.connect("super") as c, c.cursor() as cur:
        cur.execute("SELECT o.plugin, o.name FROM plugin_options o JOIN platform.tenants t ON t.id = o.tenant_id"
                    " WHERE t.slug = %s ORDER BY 1, 2", (SLUG,))
        assert cur.fetchall() == [("groet", "aan"), ("groet", "factor"), ("groet", "groet"),
                                  ("methode", "min_interviews")]

    # The page: every editable option with its label and value; a
    # facilitator may not post it; a wrong value is shown at the option.
    br = Browser(d1, HOST)
    assert br.signin("admin@opt.test", PASSWORD)[0] == 303
    st, _, page, _ = br.go("GET", "/beheer/instellingen")
    assert st == 200, page
    for text in ("Groet op de pagina", "Aantal items", "Groet tonen", "Minimaal aantal interviews",
                 "zelden gehoorde speler", 'name="opt.groet.aantal"', 'value="Goedemiddag"',
                 'name="opt.methode.min_interviews" type="number" value="5"'):
        assert text in page, (text, page)
    assert "opt.groet.vast" not in page
    br.jar["at_lang"] = "en"                    # in English: the English labels
    page = br.go("GET", "/beheer/instellingen")[2]
    assert "Greeting on the page" in page and "Interviews the interviews step needs at least" in page, page
    del br.jar["at_lang"]
    fac = Browser(d1, HOST)
    assert fac.signin("gl@opt.test", PASSWORD)[0] == 303
    assert fac.go("GET", "/beheer/instellingen")[0] == 403
    assert fac.go("POST", "/beheer/instellingen/opties", {"csrf": fac.jar["at_csrf"], "opt.groet.aantal": "9"})[0] == 403
    assert br.go("POST", "/beheer/instellingen/opties", {"opt.groet.aantal": "9"})[0] == 403     # no CSRF token
    form = {"csrf": br.jar["at_csrf"], "opt.groet.groet": "Dag allemaal", "opt.groet.aantal": "twaalf",
            "opt.groet.factor": "0.5", "opt.groet.aan": "false", "opt.groet.kleur": "groen",
            "opt.methode.min_interviews": "3", "opt.methode.seldom_heard": "true"}
    st, _, page, _ = br.go("POST", "/beheer/instellingen/opties", form)
    assert st == 422 and 'aria-invalid="true"' in page and 'value="twaalf"' in page, page
    assert values(d1) == "Goedemiddag|4|0.25|true|blauw|7"
    form["opt.groet.aantal"] = "9"
    st, hdr, _, _ = br.go("POST", "/beheer/instellingen/opties", form)
    assert st == 303, hdr
    assert values(d1) == "Dag allemaal|9|0.5|false|groen|7"
    wait_page(d2, HOST, "Dag allemaal|9|0.5|false|groen|7", path="/groet")
    # The methode's options as tenant.lua and the defaults give them: no rows kept.
    assert Api(d1, HOST).get("/settings/options")[2]["options"].get("methode") is None
