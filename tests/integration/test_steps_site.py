"""What residents see of the method, over real HTTP with the site plugin
and the methode plugin in the real sandbox:

* the table page's step indicator: an ordered list, each step's name and
  state in words, the active step aria-current="step", links to the step
  pages for the facilitators and the client only, none for a table
  without a workflow; in Dutch and English;
* the public results of finished steps (the kinds visible to "readers"),
  their Markdown rendered by the core (fields_html) and everything else
  escaped; a record only the client may read never on a guest's page; a
  closed table's steps and page a 404 for guests;
* the home page lists each table's step (or "afgerond") and no longer
  counts visits; the example plugin bezoeken does when a tenant names it;
* /tafels/nieuw offers the municipality's workflows, its default chosen,
  and gives the form back with the error for a bad choice."""
import html
import os
import re
import shutil
import urllib.parse

import pytest

from api_client import Api
from bundle_util import deploy, deployed, example_bundle, write_bundle
from harness import aantafel, wait_for
from test_signin import SMALL, Browser
from world import PASSWORD, make_user, token_for

HOST = "stappen.site.test"
SLUG = "stappen-site"
CONF = """return { workflow = "volledig", plugins = { methode = {
	question_prefix = false, client_decides = false, min_interviews = 0, seldom_heard = false,
}, buurt = true } }"""
# A step type of the municipality's own, with a field of every type that
# residents read, and one only the table's people read.
BUURT = """plugin.step_type{ id = "schouw", name = "buurt.schouw", records = {
	observation = { visible = "readers", fields = {
		place = { type = "text", required = true },
		kind = { type = "choice", choices = { "gevaar", "groen" } },
		cost = { type = "cents" },
		safe = { type = "bool" },
		seen_on = { type = "date" },
		tags = { type = "choices", choices = { "licht", "stoep" } },
		who = { type = "person" },
		notes = { type = "markdown" },
	} },
	secret = { visible = "people", fields = { text = { type = "text" } } },
} }
plugin.workflow{ id = "schouwen", name = "buurt.schouwen", steps = { "schouw", "gesprek" } }
"""
BUURT_NL = """return { ["buurt.schouw"] = "Buurtschouw", ["buurt.schouwen"] = "Schouwen",
	["buurt.schouw.observation"] = "Waarneming", ["buurt.schouw.observation.place"] = "Plek",
	["buurt.schouw.observation.kind.gevaar"] = "Gevaarlijk" }
"""
BUURT_EN = """return { ["buurt.schouw"] = "Neighbourhood walk", ["buurt.schouwen"] = "Walks",
	["buurt.schouw.observation"] = "Observation", ["buurt.schouw.observation.place"] = "Place",
	["buurt.schouw.observation.kind.gevaar"] = "Dangerous" }
"""
PEOPLE = {"fac": ("facilitator", "Fien"), "client": ("member", "Otto"), "resident": ("member", "Bert")}
VOLLEDIG = ["intake", "interviews", "draaiboek", "gesprek", "opbrengst", "verslag", "evaluatie"]
NAMES_NL = ["Intake", "Interviews", "Draaiboek", "Gesprek", "Opbrengst", "Verslag", "Evaluatie"]
PAY = '<script>alert("x")</script>'


class Site:
    def __init__(self, d, pg, tmp):
        self.d, self.pg = d, pg
        aantafel("tenant", "create", SLUG, "--name", "Gemeente Stappen", "--host", HOST, env=pg.daemon_env())
        deployed(pg, SLUG, write_bundle(tmp / SLUG, {"tenant.lua": CONF, "plugins/buurt.lua": BUURT,
                                                      "plugins/buurt/translations/nl.lua": BUURT_NL,
                                                      "plugins/buurt/translations/en.lua": BUURT_EN}))
        for who, (role, name) in PEOPLE.items():
            make_user(pg, SLUG, f"{who}@{HOST}", role, name)
        wait_for(lambda: d.get("/inloggen", host=HOST)[0] == 200, what="sign-in page")
        self.api, self.browser, self.ids = {"guest": Api(d, HOST)}, {}, {}
        for who in PEOPLE:
            token, b = token_for(d, HOST, f"{who}@{HOST}")
            self.api[who], self.browser[who] = Api(d, HOST, token=token), b
            self.ids[who] = self.api[who].get("/me")[2]["id"]

    def table(self, title, visibility="public", **extra):
        fac = self.api["fac"]
        st, _, t = fac.post("/tables", {"title": title, "question": "Wat is ervoor nodig zodat het lukt?",
                                        "visibility": visibility, **extra})
        assert st == 201, t
        st, _, body = fac.put(f"/tables/{t['id']}/people/{self.ids['client']}", {"role": "client"})
        assert st == 200, body
        return t["id"]

    def record(self, tid, step, kind, /, **fields):
        st, _, r = self.api["fac"].post(f"/tables/{tid}/records", {"step": step, "kind": kind, "fields": fields})
        assert st == 201, (kind, r)
        return r

    def complete(self, tid, step):
        st, _, body = self.api["fac"].post(f"/tables/{tid}/steps/{step}/complete")
        assert st == 200, (step, body)

    def page(self, who, path, lang=None):
        b = self.browser.get(who) or Browser(self.d, HOST)
        if lang:
            b.jar["at_lang"] = lang
        st, hdr, body, _ = b.go("GET", path)
        return st, body

    def through_intake(self, tid):
        self.record(tid, "intake", "quote", amount=100000, status="accepted")
        self.complete(tid, "intake")


@pytest.fixture(scope="module")
def site(pg, make_daemon_module, tmp_path_factory):
    d = make_daemon_module({"workers": "2"}, {**pg.daemon_env(), **SMALL})
    return Site(d, pg, tmp_path_factory.mktemp("stappen"))


@pytest.fixture(scope="module")
def tables(site):
    """A public table at evaluatie with its outcome and report, a closed
    one at intake, and a public one on the short workflow, finished."""
    s = site
    p = s.table("Groen plein")
    s.through_intake(p)
    s.complete(p, "interviews")
    s.record(p, "draaiboek", "agenda_item", start="19:30", activity="Welkom")
    s.record(p, "draaiboek", "approval", decision="approved")
    s.complete(p, "draaiboek")
    s.complete(p, "gesprek")
    s.record(p, "opbrengst", "outcome", decision=f"We zijn het **eens** over bankjes. {PAY}",
             minority="Zorg voor *stilte* in de avond.")
    s.complete(p, "opbrengst")
    s.record(p, "verslag", "advice", title="GEHEIM-ADVIES voor de opdrachtgever")
    s.record(p, "verslag", "report", summary="Het plein wordt *groener*.", published_on="2026-03-05")
    s.complete(p, "verslag")
    c = s.table("Besloten wijkgesprek", visibility="closed")
    k = s.table("Bewonersinitiatief", workflow="kort")
    s.through_intake(k)
    s.complete(k, "gesprek")
    s.complete(k, "opbrengst")
    s.record(k, "verslag", "report", summary="Klaar.")
    s.complete(k, "verslag")
    return {"public": p, "closed": c, "short": k}


# ---------------------------------------------------------------- helpers


def indicator(page):
    """The step indicator's list items: [(attributes, inner HTML)]."""
    m = re.search(r'<section aria-labelledby="stappen" class="step-indicator">(.*?)</section>', page, re.S)
    assert m, page
    ol = re.search(r'<ol class="steps">(.*?)</ol>', m.group(1), re.S)
    assert ol, m.group(1)
    return re.findall(r"<li([^>]*)>(.*?)</li>", ol.group(1), re.S)


def words(fragment):
    return html.unescape(re.sub(r"<[^>]+>", "", fragment)).strip()


def results(page):
    m = re.search(r'<section aria-labelledby="resultaten" class="step-results">(.*?)</section>', page, re.S)
    return m.group(1) if m else None


# ---------------------------------------------------------------- the indicator


def test_the_indicator_says_each_steps_state_in_words(site, tables):
    st, page = site.page("guest", f"/tafels/{tables['public']}")
    assert st == 200
    items = indicator(page)
    assert [words(re.search(r'class="step-name">(.*?)<', inner).group(1)) for _, inner in items] == NAMES_NL
    states = [re.search(r'class="step step--(\w+)"', attrs).group(1) for attrs, _ in items]
    assert states == ["done"] * 6 + ["active"]
    # In words, with the position: a screen reader reads it as it stands.
    assert words(items[0][1]) == "Intake (stap 1 van 7, afgerond)"
    assert words(items[6][1]) == "Evaluatie (stap 7 van 7, nu bezig)"
    # Exactly the active step is the current one.
    assert [("aria-current" in attrs) for attrs, _ in items] == [False] * 6 + [True]
    assert 'aria-current="step"' in items[6][0]
    assert "Volledige methode (zeven stappen): nu bij <strong>Evaluatie</strong>" in page
    # A guest and a resident get no links to the step pages.
    assert "/stappen" not in page
    st, page = site.page("resident", f"/tafels/{tables['public']}")
    assert st == 200 and "/stappen" not in page and len(indicator(page)) == 7

    # A skipped and a pending step.
    st, page = site.page("guest", f"/tafels/{tables['closed']}")
    assert st == 404
    st, page = site.page("fac", f"/tafels/{tables['closed']}")
    items = indicator(page)
    assert [re.search(r"step--(\w+)", a).group(1) for a, _ in items] == ["active"] + ["pending"] * 6
    assert words(items[1][1]) == "Interviews (stap 2 van 7, nog niet begonnen)"
    st, _, body = site.api["fac"].post(f"/tables/{tables['closed']}/steps/interviews/skip", {"reason": "Al bekend"})
    assert st == 200, body
    items = indicator(site.page("fac", f"/tafels/{tables['closed']}")[1])
    assert words(items[1][1]) == "Interviews (stap 2 van 7, overgeslagen)"


def test_facilitators_and_the_client_get_links_to_the_step_pages(site, tables):
    tid = tables["public"]
    for who in ("fac", "client"):
        st, page = site.page(who, f"/tafels/{tid}")
        assert st == 200
        items = indicator(page)
        for (_, inner), step in zip(items, VOLLEDIG):
            assert f'<a href="/tafels/{tid}/stappen/{step}" class="step-name">' in inner, (who, inner)
        assert f'<a href="/tafels/{tid}/stappen">' in page


def test_the_indicator_in_english(site, tables):
    st, page = site.page("guest", f"/tafels/{tables['public']}", lang="en")
    assert st == 200 and 'lang="en"' in page
    items = indicator(page)
    assert words(items[2][1]) == "Run-sheet (step 3 of 7, done)"
    assert words(items[6][1]) == "Evaluation (step 7 of 7, in progress)"
    assert "Where the table stands" in page
    r = results(page)
    assert "Decision" in r and "The minority&#39;s wisdom" in r or "The minority's wisdom" in r
    assert "5 March 2026" in r


def test_a_table_without_a_workflow_shows_no_indicator(site, pg):
    tid = site.table("Een oude tafel")
    with pg.connect("super") as c, c.cursor() as cur:
        cur.execute("DELETE FROM table_workflows WHERE table_id = %s", (tid,))
    st, page = site.page("fac", f"/tafels/{tid}")
    assert st == 200 and "Een oude tafel" in page
    assert "step-indicator" not in page and "aria-current" not in page
    st, page = site.page("guest", "/")
    card = re.search(r'<li class="table-card"><a href="/tafels/%d">.*?</li>' % tid, page, re.S).group(0)
    assert "Stap" not in card


# ---------------------------------------------------------------- results


def test_the_public_results_of_finished_steps(site, tables):
    tid = tables["public"]
    for who in ("guest", "resident", "fac", "client"):
        st, page = site.page(who, f"/tafels/{tid}")
        assert st == 200
        r = results(page)
        assert r, who
        # The outcome and the report, their labels translated, the
        # Markdown rendered by the core and the rest escaped.
        assert "<h3>Opbrengst</h3>" in r and "<h3>Verslag</h3>" in r
        assert "<h4>Gedeelde opbrengst</h4>" in r and "<dt>Besluit of gedeelde wijsheid</dt>" in r
        assert "<dt>Wijsheid van de minderheid</dt>" in r
        assert "<strong>eens</strong>" in r and "<em>stilte</em>" in r and "<em>groener</em>" in r
        assert "<dt>Gepubliceerd op</dt><dd>5 maart 2026</dd>" in r
        # Raw HTML in Markdown is left out by the core's renderer.
        assert "<script" not in page
        assert "<!-- raw HTML omitted -->" in r
        # Only what "readers" may read: the client's advice is on no
        # table page, not even the facilitators' (it is on the step page).
        assert "GEHEIM-ADVIES" not in page, who


def test_a_closed_tables_steps_and_results_stay_closed(site, tables):
    tid = tables["closed"]
    assert site.page("guest", f"/tafels/{tid}")[0] == 404
    assert site.page("resident", f"/tafels/{tid}")[0] == 404
    for path in (f"/tables/{tid}/steps", f"/tables/{tid}/records"):
        assert site.api["guest"].get(path)[0] == 404
        assert site.api["resident"].get(path)[0] == 404
    assert site.api["client"].get(f"/tables/{tid}/steps")[0] == 200


def test_records_come_with_their_markdown_rendered(site, tables):
    tid = tables["closed"]
    s = site.api["fac"]
    st, _, r = s.post(f"/tables/{tid}/records", {"step": "intake", "kind": "agreement", "fields": {
        "duration": "Drie *maanden*", "note": f"Een **korte** [link](javascript:alert(1)) {PAY}"}})
    assert st == 201, r
    note = r["fields_html"]["note"]
    assert "<strong>korte</strong>" in note and "javascript:" not in note and "<script" not in note
    assert "<!-- raw HTML omitted -->" in note
    # Only Markdown fields: a text field stays text.
    assert set(r["fields_html"]) == {"note"}
    assert r["fields"]["duration"] == "Drie *maanden*"
    # A change keeps the HTML of the fields it leaves, renders the new one.
    st, _, r2 = s.patch(f"/records/{r['id']}", {"fields": {"duration": "Vier maanden"}})
    assert st == 200 and r2["fields_html"] == r["fields_html"]
    st, _, r3 = s.patch(f"/records/{r['id']}", {"fields": {"note": "_anders_"}})
    assert st == 200 and r3["fields_html"] == {"note": "<p><em>anders</em></p>\n"}
    st, _, r4 = s.patch(f"/records/{r['id']}", {"fields": {}, "remove": ["note"]})
    assert st == 200 and r4["fields_html"] == {}
    st, _, v = s.get(f"/records/{r['id']}/versions")
    assert [x["fields_html"] for x in v["items"]][-1] == r["fields_html"]
    # A client cannot send HTML of its own.
    st, _, r5 = s.post(f"/tables/{tid}/records", {"step": "intake", "kind": "agreement", "fields": {
        "duration": "x", "note": "gewoon"}, "fields_html": {"note": PAY}, "_fields_html": {"note": PAY}})
    assert st == 201 and r5["fields_html"] == {"note": "<p>gewoon</p>\n"}


def test_records_filtered_by_visibility_and_step_state(site, tables):
    tid = tables["public"]
    st, _, body = site.api["fac"].get(f"/tables/{tid}/records?visible=readers&step_state=done")
    assert st == 200
    assert sorted(r["kind"] for r in body["items"]) == ["outcome", "report"]
    st, _, body = site.api["fac"].get(f"/tables/{tid}/records?visible=client")
    assert {r["kind"] for r in body["items"]} >= {"advice", "quote", "agenda_item"}
    st, _, body = site.api["guest"].get(f"/tables/{tid}/records?visible=client")
    assert st == 200 and body["items"] == []
    for bad in ({"visible": "iedereen"}, {"step_state": "klaar"}):
        st, _, body = site.api["fac"].get(f"/tables/{tid}/records?" + urllib.parse.urlencode(bad))
        assert st == 400 and set(body["error"]["fields"]) == set(bad), body


def test_a_tenant_step_types_results_are_rendered_from_its_declaration(site):
    s = site
    tid = s.table("Schouw in de Hanzestraat", workflow="schouwen")
    s.record(tid, "schouw", "observation", place=PAY, kind="gevaar", cost=125050, safe=False, seen_on="2026-03-05",
             tags=["licht", "stoep"], who=s.ids["fac"], notes="Let op de *stoep*")
    s.record(tid, "schouw", "secret", text="ALLEEN-MENSEN")
    st, page = s.page("guest", f"/tafels/{tid}")
    assert results(page) is None                      # the step is not done yet
    s.complete(tid, "schouw")
    for who in ("guest", "resident"):
        st, page = s.page(who, f"/tafels/{tid}")
        assert st == 200
        r = results(page)
        assert "<h3>Buurtschouw</h3>" in r and "<h4>Waarneming</h4>" in r
        # Text escaped, never markup.
        assert "<dt>Plek</dt><dd>&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;</dd>" in r
        assert "<script" not in page
        assert "<dd>Gevaarlijk</dd>" in r                       # a choice's label
        assert "<dd>€ 1.250,50</dd>" in r and "<dd>nee</dd>" in r and "<dd>5 maart 2026</dd>" in r
        assert "<dt>Seen on</dt>" in r                          # no translation: the field's name
        assert "<dd>Licht, Stoep</dd>" in r
        assert "<em>stoep</em>" in r
        assert "<dt>Who</dt>" not in r                          # a person's id is not for residents
        assert "ALLEEN-MENSEN" not in page
    st, page = s.page("guest", f"/tafels/{tid}", lang="en")
    r = results(page)
    assert "<dt>Place</dt>" in r and "<dd>Dangerous</dd>" in r and "<dd>€1,250.50</dd>" in r and "<dd>no</dd>" in r
    assert "<dd>5 March 2026</dd>" in r


# ---------------------------------------------------------------- the home page


def test_the_home_page_lists_each_tables_step_and_counts_nothing(site, tables, pg):
    for lang, step, done in (("nl", "Stap: Evaluatie", "Stap: afgerond"), ("en", "Step: Evaluation", "Step: finished")):
        st, page = site.page("guest", "/", lang=lang)
        assert st == 200
        card = re.search(r'<li class="table-card"><a href="/tafels/%d">.*?</li>' % tables["public"], page, re.S)
        assert step in card.group(0), card.group(0)
        card = re.search(r'<li class="table-card"><a href="/tafels/%d">.*?</li>' % tables["short"], page, re.S)
        assert done in card.group(0), card.group(0)
        assert "/tafels/%d" % tables["closed"] not in page
        assert 'class="views"' not in page and "activity" not in page
    # Nothing written for a view: the site keeps no counter.
    with pg.connect("super") as c, c.cursor() as cur:
        cur.execute("SELECT count(*) FROM plugin_store s JOIN platform.tenants t ON t.id = s.tenant_id"
                    " WHERE t.slug = %s", (SLUG,))
        assert cur.fetchone()[0] == 0
    # The API says the same.
    st, _, body = site.api["guest"].get("/tables")
    by = {t["id"]: t["workflow"] for t in body["items"]}
    assert by[tables["public"]]["id"] == "volledig"
    assert by[tables["public"]]["step"]["id"] == "evaluatie"
    assert by[tables["public"]]["step"]["title"] == {"nl": "Evaluatie", "en": "Evaluation"}
    assert by[tables["short"]] == {"id": "kort", "step": None}


def test_the_example_visits_plugin_counts_only_when_named(pg, tenants, site, tmp_path):
    d = site.d
    tenants(("bezoek-aan", "Gemeente Bezoek", "aan.bezoek.test"), ("bezoek-uit", "Gemeente Geen Bezoek",
                                                                   "uit.bezoek.test"))
    on = tmp_path / "aan"
    shutil.copytree(example_bundle("voorbeeld"), on)
    conf = (on / "tenant.lua").read_text()
    assert "-- bezoeken = { recent = 3 }," in conf
    (on / "tenant.lua").write_text(conf.replace("-- bezoeken = { recent = 3 },", "bezoeken = { recent = 3 },"))
    deployed(pg, "bezoek-aan", str(on))
    deployed(pg, "bezoek-uit", example_bundle("voorbeeld"))

    def views(host):
        st, _, body = d.get("/", host=host)
        body = body.decode()
        assert st == 200, body[:300]
        m = re.search(r'<p class="views">[^<]*?(\d+)</p>', body)
        return (int(m.group(1)) if m else None), body

    wait_for(lambda: views("aan.bezoek.test")[0] is not None, what="the visits plugin")
    first, _ = views("aan.bezoek.test")
    second, body = views("aan.bezoek.test")
    assert second == first + 1
    # The last views' times, at most RECENT of them, in its own section.
    assert '<section aria-labelledby="bezoeken" class="visits">' in body
    assert 1 <= len(re.findall(r"<time datetime=", body)) <= 3
    for _ in range(3):
        views("aan.bezoek.test")
    assert len(re.findall(r"<time datetime=", views("aan.bezoek.test")[1])) == 3
    # Off by default: the example bundle as shipped counts nothing.
    wait_for(lambda: b"Gemeente Voorbeeld" in d.get("/", host="uit.bezoek.test")[2], what="voorbeeld")
    n, body = views("uit.bezoek.test")
    assert n is None and "bezoeken" not in body
    with pg.connect("super") as c, c.cursor() as cur:
        cur.execute("SELECT t.slug, count(*) FROM plugin_store s JOIN platform.tenants t ON t.id = s.tenant_id"
                    " WHERE t.slug LIKE 'bezoek-%%' GROUP BY 1")
        rows = dict(cur.fetchall())
    assert rows.get("bezoek-uit") is None and rows["bezoek-aan"] >= 2


# ---------------------------------------------------------------- /tafels/nieuw


def test_a_new_table_on_a_workflow_of_choice(site):
    b = site.browser["fac"]
    for lang, label, full, short in (("nl", "Werkwijze", "Volledige methode (zeven stappen)", "Burgerinitiatief (kort)"),
                                     ("en", "Way of working", "Full method (seven steps)", "Citizens&#39; initiative (short)")):
        b.jar["at_lang"] = lang
        st, _, page, _ = b.go("GET", "/tafels/nieuw")
        assert st == 200
        assert f'<label for="f-workflow">{label}</label>' in page
        sel = re.search(r'<select id="f-workflow" name="workflow"[^>]*>(.*?)</select>', page, re.S).group(1)
        assert f'<option value="volledig" selected>{full}</option>' in sel, sel
        assert f'<option value="kort">{short}</option>' in sel or "kort" in sel, sel
    b.jar["at_lang"] = "nl"
    form = {"csrf": b.csrf(), "title": "Op de korte weg", "question": "Wat is ervoor nodig zodat het kort kan?",
            "visibility": "public", "workflow": "kort"}
    st, hdr, body, _ = b.go("POST", "/tafels/nieuw", form)
    assert st == 303, body[:500]
    tid = int(hdr["location"].rsplit("/", 1)[1])
    st, _, steps = site.api["fac"].get(f"/tables/{tid}/steps")
    assert steps["workflow"]["id"] == "kort"
    assert [s["id"] for s in steps["steps"]] == ["intake", "gesprek", "opbrengst", "verslag"]
    # The default when none is chosen.
    st, hdr, _, _ = b.go("POST", "/tafels/nieuw", {**form, "title": "Standaard", "workflow": ""})
    assert st == 303
    tid = int(hdr["location"].rsplit("/", 1)[1])
    assert site.api["fac"].get(f"/tables/{tid}/steps")[2]["workflow"]["id"] == "volledig"
    # A bad choice: the form again, with the reason at the field and what was typed.
    st, _, page, _ = b.go("POST", "/tafels/nieuw", {**form, "title": "Verkeerd", "workflow": "bestaat-niet"})
    assert st == 422
    assert 'value="Verkeerd"' in page
    assert re.search(r'<p class="error" id="f-workflow-error">[^<]+</p>', page), page
    assert 'aria-invalid="true" aria-describedby="f-workflow-error f-workflow-hint"' in page
    # Only facilitators and admins open tables.
    st, _, _, _ = site.browser["resident"].go("GET", "/tafels/nieuw")
    assert st == 403


def test_a_field_may_not_be_named_like_safe_html(pg, tenants, tmp_path):
    bad = write_bundle(tmp_path / "b", {
        "tenant.lua": 'return { plugins = { eigen = true } }\n',
        "plugins/eigen.lua": 'plugin.step_type{ id = "schouw", name = "eigen.schouw", records = {\n'
                             '\tnote = { visible = "readers", fields = { tekst_html = { type = "text" } } },\n} }\n',
        "plugins/eigen/translations/nl.lua": 'return { ["eigen.schouw"] = "Schouw" }\n',
        "plugins/eigen/translations/en.lua": 'return { ["eigen.schouw"] = "Walk" }\n',
    })
    tenants(("html-veld", "Gemeente Veld", "veld.html.test"))
    p = deploy(pg, "html-veld", bad)
    assert p.returncode != 0
    assert "plugins/eigen.lua:1:" in p.stderr and "may not end in _html" in p.stderr and "tekst_html" in p.stderr, p.stderr
