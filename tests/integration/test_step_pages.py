"""The pages of a table's workflow (plugins/site/steps.lua) and the
method's own views (plugins/methode/pages.lua), seen as a browser without
scripts sees them: plain HTTP with cookies and the CSRF token in the forms.

* Per role (facilitator, client, member, resident, guest) on a public and
  a closed table: the steps page, the history, the buttons, one step's
  records and forms; what the API does not give is a 404 page.
* A form saves a record (labels and values translated: euros, dates,
  yes/no, choices, a reference); a 400 of the API is shown next to its
  field with the input kept; a guard's refusal is shown on the page; a
  `<script>` in a field is escaped; a POST without the CSRF token is
  refused and saves nothing.
* The client accepts a quote on the record's page; skip and reopen need a
  reason; the coverage of the interviews; the report page per role."""
import re

import pytest

from api_client import Api
from bundle_util import deployed, write_bundle
from harness import aantafel, wait_for
from test_signin import SMALL, Browser
from world import PASSWORD, make_user, token_for

HOST, SLUG = "stappen.test", "stappen"
PEOPLE = {"fac": ("facilitator", "Fien"), "client": ("member", "Otto"), "member": ("member", "Lies"),
          "resident": ("member", "Bert")}
QUESTION = "Wat is ervoor nodig zodat de buurt groener wordt?"


class W:
    def __init__(self, d, pg, tmp):
        self.d = d
        aantafel("tenant", "create", SLUG, "--name", "Gemeente Stappen", "--host", HOST, env=pg.daemon_env())
        deployed(pg, SLUG, write_bundle(tmp / SLUG, {
            "tenant.lua": "return { workflow = 'volledig', plugins = { methode = {} } }"}))
        for who, (role, name) in PEOPLE.items():
            make_user(pg, SLUG, f"{who}@{HOST}", role, name)
        wait_for(lambda: d.get("/inloggen", host=HOST)[0] == 200, what="sign-in page")
        self.api, self.b, self.ids = {"guest": Api(d, HOST)}, {"guest": Browser(d, HOST)}, {}
        for who in PEOPLE:
            token, b = token_for(d, HOST, f"{who}@{HOST}")
            self.api[who], self.b[who] = Api(d, HOST, token=token), b
            self.ids[who] = self.api[who].get("/me")[2]["id"]

    def table(self, visibility, question=QUESTION):
        fac = self.api["fac"]
        st, _, t = fac.post("/tables", {"title": "Groen " + visibility, "question": question,
                                        "visibility": visibility})
        assert st == 201, t
        for who, role in (("client", "client"), ("member", "member")):
            assert fac.put(f"/tables/{t['id']}/people/{self.ids[who]}", {"role": role})[0] == 200
        return t["id"]

    def record(self, who, tid, step, kind, **fields):
        st, _, r = self.api[who].post(f"/tables/{tid}/records", {"step": step, "kind": kind, "fields": fields})
        assert st == 201, (who, kind, r)
        return r

    def get(self, who, path):
        st, hdr, body, _ = self.b[who].go("GET", path)
        return st, hdr, body

    def post(self, who, path, form, csrf=True):
        f = dict(form)
        if csrf:
            f["csrf"] = self.b[who].csrf()
        st, hdr, body, _ = self.b[who].go("POST", path, f)
        return st, hdr, body

    def complete(self, tid, step):
        st, _, body = self.api["fac"].post(f"/tables/{tid}/steps/{step}/complete")
        assert st == 200, (step, body)


@pytest.fixture(scope="module")
def w(pg, make_daemon_module, tmp_path_factory):
    d = make_daemon_module({"workers": "2"}, {**pg.daemon_env(), **SMALL})
    return W(d, pg, tmp_path_factory.mktemp("steppages"))


def section(body, kind):
    """The HTML of one record kind's section on a step page."""
    m = re.search(r'<section id="soort-%s".*?</section>' % kind, body, re.S)
    return m and m.group(0)


def test_the_steps_page_per_role(w):
    for vis in ("public", "closed"):
        tid = w.table(vis)
        path = f"/tafels/{tid}/stappen"
        st, _, fac = w.get("fac", path)
        assert st == 200, fac
        # The seven steps in order, the first one active, with the
        # facilitator's buttons and forms (each with the CSRF token).
        titles = re.findall(r'<h2><a href="/tafels/%d/stappen/(\w+)">([^<]+)</a></h2>' % tid, fac)
        assert [t[0] for t in titles] == ["intake", "interviews", "draaiboek", "gesprek", "opbrengst", "verslag",
                                          "evaluatie"]
        assert titles[2][1] == "Draaiboek"
        assert 'aria-current="step"' in fac and "Bezig" in fac and "Nog niet begonnen" in fac
        assert f'action="/tafels/{tid}/stappen/intake/afronden"' in fac
        assert f'action="/tafels/{tid}/stappen/gesprek/overslaan"' in fac
        assert fac.count('name="csrf"') >= 8
        assert "Geschiedenis" in fac and "Fien" in fac and "begonnen met de werkwijze Volledige methode" in fac
        assert "steppages." not in fac
        # The client reads the history, changes nothing.
        st, _, client = w.get("client", path)
        assert st == 200 and "Geschiedenis" in client and "Draaiboek" in client
        assert "/afronden" not in client and "/overslaan" not in client
        # People at the table and (on a public table) readers see where
        # it stands, without the history.
        st, _, member = w.get("member", path)
        assert st == 200 and "Draaiboek" in member and "Geschiedenis" not in member and "/afronden" not in member
        note = w.record("fac", tid, "gesprek", "note", body="Alleen voor de mensen aan tafel")
        for who in ("resident", "guest"):
            st, _, body = w.get(who, path)
            if vis == "public":
                assert st == 200 and "Draaiboek" in body and "Geschiedenis" not in body, who
            else:
                assert st == 404 and "Draaiboek" not in body, who
            # A step's page and a record's: what the API gives them.
            st, _, body = w.get(who, f"{path}/gesprek")
            assert st == (200 if vis == "public" else 404) and "Alleen voor" not in body, who
            assert w.get(who, f"/vastleggingen/{note['id']}")[0] == 404, who
        for who in ("member", "client", "fac"):
            st, _, body = w.get(who, f"{path}/gesprek")
            assert st == 200 and "Alleen voor de mensen aan tafel" in body, who
            assert w.get(who, f"/vastleggingen/{note['id']}")[0] == 200, who
        # English.
        st, _, en = w.b["fac"].go("GET", "/taal?lang=en")[:3]
        st, _, body = w.get("fac", path)
        assert "Run-sheet" in body and "Complete step" in body and "History" in body
        w.b["fac"].go("GET", "/taal?lang=nl")
    # An unknown table, step or path is a 404 page.
    for p in ("/tafels/999999/stappen", f"/tafels/{tid}/stappen/onbekend", f"/tafels/{tid}/stappen/Intake",
              "/vastleggingen/999999", "/vastleggingen/abc"):
        assert w.get("fac", p)[0] == 404, p


def test_a_step_page_per_role(w):
    tid = w.table("public")
    w.record("fac", tid, "intake", "player", name="Anna", seldom_heard=True, organisation="Buurtvereniging")
    w.record("fac", tid, "intake", "quote", amount=125000, status="sent")
    path = f"/tafels/{tid}/stappen/intake"
    st, _, fac = w.get("fac", path)
    assert st == 200, fac
    # Every kind the facilitator reads, with a form for each.
    for kind, label in (("player", "Spelers"), ("agreement", "Afspraken"), ("quote", "Offerte")):
        s = section(fac, kind)
        assert s and label in s and f'action="/tafels/{tid}/stappen/intake/nieuw/{kind}"' in s, kind
    player = section(fac, "player")
    assert "Anna" in player and "Zelden gehoord" in player and "<dd>ja</dd>" in player
    quote = section(fac, "quote")
    assert "€ 1.250,00" in quote and "Verstuurd" in quote
    # The form's inputs by type: a checkbox, a select of choices, euros.
    assert re.search(r'<input type="checkbox" id="n-player-seldom_heard" name="seldom_heard" value="1"', player)
    assert '<option value="accepted">Geaccepteerd</option>' in quote
    assert 'id="n-quote-amount" name="amount" type="text"' in quote and 'inputmode="decimal"' in quote
    # The client reads the intake and writes the quote only.
    st, _, client = w.get("client", path)
    assert st == 200 and "Anna" in client and "€ 1.250,00" in client
    assert "/nieuw/quote" in client and "/nieuw/player" not in client and "/nieuw/agreement" not in client
    # The active step's completion is the facilitator's, here too.
    assert f'action="/tafels/{tid}/stappen/intake/afronden"' in fac
    assert "/afronden" not in client
    # People at the table and readers see no kind of the intake.
    for who in ("member", "resident", "guest"):
        st, _, body = w.get(who, path)
        assert st == 200 and "Anna" not in body and "1.250" not in body and "/nieuw/" not in body, who
    # In English: the labels and the amount.
    w.b["client"].go("GET", "/taal?lang=en")
    body = w.get("client", path)[2]
    w.b["client"].go("GET", "/taal?lang=nl")
    assert "Players" in body and "Seldom heard" in body and "€1,250.00" in body and "Sent" in body


def test_forms_save_records_and_show_errors(w):
    tid = w.table("closed")
    path = f"/tafels/{tid}/stappen/intake"
    # A new player through the form: the page shows it, translated.
    st, hdr, _ = w.post("fac", path + "/nieuw/player", {"name": "Bram", "organisation": "", "seldom_heard": "1",
                                                      "contact": "bram@example.nl"})
    assert st == 303 and hdr["location"] == path + "#soort-player", hdr
    st, _, page = w.get("fac", path)
    player = section(page, "player")
    assert "Bram" in player and "bram@example.nl" in player
    assert re.search(r"<dt>Zelden gehoord</dt><dd>ja</dd>", player)
    assert re.search(r"<dt>Centraal volgens anderen</dt><dd>nee</dd>", player)
    [bram] = w.api["fac"].get(f"/tables/{tid}/records?kind=player")[2]["items"]
    assert bram["fields"] == {"name": "Bram", "seldom_heard": True, "central": False, "consent": False,
                              "contact": "bram@example.nl"}
    # Euros as typed in Dutch.
    st, _, _ = w.post("fac", path + "/nieuw/quote", {"amount": "4.500,50", "status": "draft", "description": ""})
    assert st == 303
    [quote] = w.api["fac"].get(f"/tables/{tid}/records?kind=quote")[2]["items"]
    assert quote["fields"] == {"amount": 450050, "status": "draft"}
    # A required field left empty: the API's 400 next to the field, the
    # other input kept, nothing saved.
    st, _, page = w.post("fac", path + "/nieuw/player", {"name": "", "organisation": "Het Wijkteam"})
    assert st == 400
    player = section(page, "player")
    assert re.search(r'<p class="error" id="n-player-name-error">Dit veld is verplicht.</p>', player), player
    assert 'aria-invalid="true" aria-describedby="n-player-name-error"' in player
    assert 'value="Het Wijkteam"' in player and "<details class=\"new-record\" open>" in player
    assert len(w.api["fac"].get(f"/tables/{tid}/records?kind=player")[2]["items"]) == 1
    # An amount that is none: the page's own error, next to it.
    st, _, page = w.post("fac", path + "/nieuw/quote", {"amount": "veel", "status": "draft"})
    assert st == 400 and 'id="n-quote-amount-error"' in page and 'value="veel"' in page
    # A reference to a record of another kind: the API's 400, by field.
    st, _, page = w.post("fac", f"/tafels/{tid}/stappen/interviews/nieuw/interview", {"player": str(quote["id"])})
    assert st == 400 and 'id="n-interview-player-error"' in page, page
    # The interview's player is a select of the players.
    assert re.search(r'<option value="%d">Bram</option>' % bram["id"], page)
    st, _, _ = w.post("fac", f"/tafels/{tid}/stappen/interviews/nieuw/interview",
                      {"player": str(bram["id"]), "held_on": "2026-03-02", "perspectives": "groen, spelen",
                       "question": "held", "notes": "Een **goed** gesprek"})
    assert st == 303
    st, _, page = w.get("fac", f"/tafels/{tid}/stappen/interviews")
    interview = section(page, "interview")
    assert "2 maart 2026" in interview and "Hield stand" in interview
    assert f'<a href="/vastleggingen/{bram["id"]}">Bram</a>' in interview
    # The coverage view of the method: Bram heard, marked seldom heard.
    assert "Wie is er gehoord?" in page and "1 van 1 spelers geïnterviewd" in page
    assert re.search(r'<tr class="heard"><td><a href="/vastleggingen/%d">Bram</a>' % bram["id"], page)
    assert "Zelden gehoord" in page


def test_a_plugins_refusal_and_the_client_on_the_record_page(w):
    tid = w.table("closed")
    q = w.record("fac", tid, "intake", "quote", amount=100000, status="draft")
    # The facilitator may not accept: the methode plugin's 422 above the form.
    st, _, page = w.post("fac", f"/vastleggingen/{q['id']}", {"amount": "1000,00", "status": "accepted"})
    assert st == 422 and "Alleen de opdrachtgever accepteert of weigert de offerte" in page
    assert '<option value="accepted" selected>' in page
    assert w.post("fac", f"/vastleggingen/{q['id']}", {"amount": "1000,00", "status": "sent"})[0] == 303
    # The client accepts on the record's page: only the status is sent.
    st, _, page = w.get("client", f"/vastleggingen/{q['id']}")
    assert st == 200 and 'action="/vastleggingen/%d"' % q["id"] in page
    st, hdr, _ = w.post("client", f"/vastleggingen/{q['id']}", {"amount": "1000,00", "status": "accepted"})
    assert st == 303, hdr
    st, _, page = w.get("fac", f"/vastleggingen/{q['id']}")
    assert st == 200 and "Geaccepteerd" in page
    # The versions: who saved which, newest first.
    versions = re.findall(r"<h3>Versie (\d+)[^<]*</h3><p class=\"meta\">Bewaard door (\w+)", page)
    assert versions == [("3", "Otto"), ("2", "Fien"), ("1", "Fien")], versions
    # The member does not read the quote at all.
    assert w.get("member", f"/vastleggingen/{q['id']}")[0] == 404
    assert w.post("member", f"/vastleggingen/{q['id']}", {"status": "declined"})[0] == 404


def test_guard_refusal_skip_and_reopen(w):
    tid = w.table("closed", question="Hoe wordt de buurt groener?")
    steps = f"/tafels/{tid}/stappen"
    st, _, page = w.post("fac", steps + "/intake/afronden", {})
    assert st == 409, page
    assert re.search(r"<p class=\"error\" role=\"alert\">De centrale vraag begint nog niet met", page)
    assert "<h1>Stappen</h1>" in page
    assert w.api["fac"].patch(f"/tables/{tid}", {"question": QUESTION})[0] == 200
    st, _, page = w.post("fac", steps + "/intake/afronden", {})
    assert st == 409 and '<p class="error" role="alert">De offerte is nog niet geaccepteerd</p>' in page
    # The client may not complete: the operation's own refusal.
    assert w.post("client", steps + "/intake/afronden", {})[0] == 403
    assert w.post("member", steps + "/intake/afronden", {})[0] == 403
    assert w.post("resident", steps + "/intake/afronden", {})[0] == 404
    # Skipping needs a reason; the error stays by its field.
    st, _, page = w.post("fac", steps + "/gesprek/overslaan", {"reason": "  "})
    assert st == 422 and 'id="overslaan-gesprek-error"' in page and "Geef een reden op." in page
    st, hdr, _ = w.post("fac", steps + "/gesprek/overslaan", {"reason": "Geen <b>groep</b> nodig"})
    assert st == 303 and hdr["location"] == steps + "#stap-gesprek"
    st, _, page = w.get("client", steps)
    assert "overgeslagen" in page and "Geen &lt;b&gt;groep&lt;/b&gt; nodig" in page and "<b>groep" not in page
    st, _, _ = w.post("fac", steps + "/gesprek/heropenen", {"reason": "Toch een groep"})
    assert st == 303
    st, _, page = w.get("fac", steps)
    assert "heropend" in page and "Toch een groep" in page
    # A step that is not active cannot be completed.
    st, _, page = w.post("fac", steps + "/verslag/afronden", {})
    assert st == 409 and "Dit kan niet in de stand van deze stap." in page
    # An unknown action is a 404.
    assert w.post("fac", steps + "/intake/wegdoen", {})[0] == 404


def test_fields_are_escaped(w):
    tid = w.table("public")
    evil = '<script>alert("x")</script>'
    p = w.record("fac", tid, "intake", "player", name=evil, contact=evil)
    w.record("fac", tid, "intake", "agreement", duration=evil, note=evil)
    w.record("fac", tid, "interviews", "interview", player=p["id"], perspectives=evil)
    for path in (f"/tafels/{tid}/stappen/intake", f"/tafels/{tid}/stappen/interviews", f"/vastleggingen/{p['id']}"):
        st, _, page = w.get("fac", path)
        assert st == 200, path
        assert "<script>" not in page and "&lt;script&gt;" in page, path
    # What was typed and refused is escaped too.
    st, _, page = w.post("fac", f"/tafels/{tid}/stappen/intake/nieuw/player", {"name": "", "role": evil})
    assert st == 400 and "<script>" not in page and "&lt;script&gt;" in page


def test_csrf_is_required(w):
    tid = w.table("closed")
    before = len(w.api["fac"].get(f"/tables/{tid}/records")[2]["items"])
    for path, form in ((f"/tafels/{tid}/stappen/intake/nieuw/player", {"name": "Zonder token"}),
                       (f"/tafels/{tid}/stappen/gesprek/overslaan", {"reason": "x"})):
        st, _, _ = w.post("fac", path, form, csrf=False)
        assert st == 403, path
        st, _, _ = w.post("fac", path, {**form, "csrf": "fout"}, csrf=False)
        assert st == 403, path
    assert len(w.api["fac"].get(f"/tables/{tid}/records")[2]["items"]) == before
    assert w.api["fac"].get(f"/tables/{tid}/steps")[2]["steps"][3]["state"] == "pending"


def through(w, tid):
    """Takes table TID through the seven steps by API, up to the report."""
    fac = w.api["fac"]
    anna = w.record("fac", tid, "intake", "player", name="Anna", central=True)
    bram = w.record("fac", tid, "intake", "player", name="Bram", seldom_heard=True)
    w.record("fac", tid, "intake", "player", name="Cor")
    q = w.record("fac", tid, "intake", "quote", amount=1000, status="sent")
    assert w.api["client"].patch(f"/records/{q['id']}", {"fields": {"status": "accepted"}})[0] == 200
    w.complete(tid, "intake")
    w.record("fac", tid, "interviews", "interview", player=anna["id"], perspectives="groen, spelen")
    w.record("fac", tid, "interviews", "interview", player=bram["id"], perspectives="Groen; veiligheid",
             question="reworded", new_wording="Wat is ervoor nodig zodat iedereen meedoet?")
    w.complete(tid, "interviews")
    w.record("fac", tid, "draaiboek", "agenda_item", start="19:30", activity="Welkom")
    w.record("client", tid, "draaiboek", "approval", decision="approved")
    w.complete(tid, "draaiboek")
    w.record("fac", tid, "gesprek", "note", body="Twintig mensen *aan tafel*.", held_on="2026-05-01")
    w.complete(tid, "gesprek")
    w.record("fac", tid, "opbrengst", "outcome", decision="Een tuin op het plein",
             minority="Met een bankje <script>x</script>")
    w.complete(tid, "opbrengst")
    w.record("fac", tid, "verslag", "advice", title="Begin klein", body="Eerst één straat.")
    assert fac.get(f"/tables/{tid}")[0] == 200


def test_the_report_page(w):
    pub, closed = w.table("public"), w.table("closed")
    for tid in (pub, closed):
        through(w, tid)
        # Not published yet: no report for anyone.
        for who in ("fac", "client", "resident", "guest"):
            assert w.get(who, f"/tafels/{tid}/verslag")[0] == 404, who
        st, _, page = w.get("fac", f"/tafels/{tid}/stappen/verslag")
        assert f'<a href="/tafels/{tid}/verslag">Het verslag lezen</a>' in page
        w.record("fac", tid, "verslag", "report", summary="Wat we *samen* vonden.", published_on="2026-06-01")
    st, _, page = w.get("fac", f"/tafels/{pub}/verslag")
    assert st == 200, page
    assert "Gepubliceerd op 1 juni 2026" in page and QUESTION in page
    assert "Wat is ervoor nodig zodat iedereen meedoet?" in page
    # Who was heard, the themes counted, the notes, outcomes and advice.
    assert "3 spelers · 2 gehoord · 1 zelden gehoord" in page
    assert re.search(r'<li class="player--heard"><strong>Anna</strong><br>\n<span class="player-status">gehoord · centraal volgens anderen</span></li>', page)
    assert re.search(r'<li class="player--unheard"><strong>Cor</strong><br>\n<span class="player-status">nog niet gehoord</span></li>', page)
    assert "<li>groen (2&nbsp;×)</li>" in page and "<li>veiligheid (1&nbsp;×)</li>" in page
    assert "Twintig mensen" in page and "Een tuin op het plein" in page and "Wijsheid van de minderheid" in page
    # The minority's Markdown is the core's safe HTML: raw HTML left out.
    assert "Begin klein" in page and "<script>x" not in page and "<!-- raw HTML omitted -->" in page
    assert '<link rel="stylesheet" href="/static/report.css">' in page
    # A resident and a guest read the public table's report, without what
    # is the client's (the players, the advice).
    for who in ("resident", "guest"):
        st, _, body = w.get(who, f"/tafels/{pub}/verslag")
        assert st == 200 and "Wat we" in body and "Een tuin op het plein" in body, who
        assert "Anna" not in body and "Begin klein" not in body and "Twintig mensen" not in body, who
    # The closed table's report is for its people only.
    assert w.get("client", f"/tafels/{closed}/verslag")[0] == 200
    assert w.get("member", f"/tafels/{closed}/verslag")[0] == 200
    for who in ("resident", "guest"):
        assert w.get(who, f"/tafels/{closed}/verslag")[0] == 404, who


def test_the_step_type_labels_are_checked(tmp_path):
    """A field's label given in one language must be given in the other."""
    bundle = write_bundle(tmp_path / "labels", {
        "tenant.lua": "return { plugins = { eigen = {} } }",
        "plugins/eigen/init.lua": """plugin.step_type{ id = "schouw", name = "eigen.schouw", records = {
	observation = { fields = { place = { type = "text" } } } } }
plugin.workflow{ id = "w", name = "eigen.w", steps = { "schouw" } }""",
        "plugins/eigen/translations/nl.lua": """return { ["eigen.schouw"] = "Schouw", ["eigen.w"] = "W",
	["eigen.schouw.observation.place"] = "Plek" }""",
        "plugins/eigen/translations/en.lua": """return { ["eigen.schouw"] = "Walk", ["eigen.w"] = "W" }""",
    })
    r = aantafel("check", "--tenants", str(tmp_path), check=False)
    assert r.returncode == 1, r.stdout + r.stderr
    assert "field 'observation.place': no translation of 'eigen.schouw.observation.place' in en" in r.stdout + r.stderr


OWN = {
    "tenant.lua": "return { workflow = 'buurt', plugins = { buurt = {} } }",
    "plugins/buurt/init.lua": """plugin.step_type{ id = "schouw", name = "buurt.schouw", records = {
	route = { visible = "people", fields = {
		name = { type = "text", required = true },
		checks = { type = "choices", choices = { "licht", "stoep", "groen" } },
		start = { type = "datetime" },
		walkers = { type = "int" },
		guide = { type = "person" },
		paid = { type = "cents" },
		safe = { type = "bool" },
	} },
	observation = { visible = "readers", fields = {
		place = { type = "text", required = true },
		route = { type = "ref", kind = "route" },
		note = { type = "markdown" },
	} },
} }
plugin.workflow{ id = "buurt", name = "buurt.workflow", steps = { "schouw" } }""",
    "plugins/buurt/translations/nl.lua": """return { ["buurt.schouw"] = "Buurtschouw", ["buurt.workflow"] = "Buurt",
	["buurt.schouw.route"] = "Routes", ["buurt.schouw.route.checks"] = "Waar letten we op",
	["buurt.schouw.route.checks.licht"] = "Verlichting", ["buurt.schouw.route.checks.stoep"] = "Stoepen",
	["buurt.schouw.route.checks.groen"] = "Groen", ["buurt.schouw.route.start"] = "Vertrek",
	["buurt.schouw.route.guide"] = "Gids", ["buurt.schouw.observation.place"] = "Plek" }""",
    "plugins/buurt/translations/en.lua": """return { ["buurt.schouw"] = "Neighbourhood walk", ["buurt.workflow"] = "Walk",
	["buurt.schouw.route"] = "Routes", ["buurt.schouw.route.checks"] = "What we look at",
	["buurt.schouw.route.checks.licht"] = "Lighting", ["buurt.schouw.route.checks.stoep"] = "Pavements",
	["buurt.schouw.route.checks.groen"] = "Green", ["buurt.schouw.route.start"] = "Departure",
	["buurt.schouw.route.guide"] = "Guide", ["buurt.schouw.observation.place"] = "Place" }""",
}


def test_a_municipalitys_own_step_type_gets_pages(w, pg, tmp_path):
    """A step type the platform does not know: its pages come from its
    declaration, with every field type's input and value."""
    host, slug = "eigen.test", "eigen"
    aantafel("tenant", "create", slug, "--name", "Gemeente Eigen", "--host", host, env=pg.daemon_env())
    deployed(pg, slug, write_bundle(tmp_path / slug, OWN))
    make_user(pg, slug, f"fac@{host}", "facilitator", "Gijs")
    make_user(pg, slug, f"bewoner@{host}", "member", "Bea")
    wait_for(lambda: w.d.get("/inloggen", host=host)[0] == 200, what="sign-in page")
    token, fac = token_for(w.d, host, f"fac@{host}")
    api = Api(w.d, host, token=token)
    st, _, t = api.post("/tables", {"title": "Schouw", "question": "Waar?", "visibility": "public"})
    assert st == 201, t
    me = api.get("/me")[2]["id"]

    def send(path, form):
        st, hdr, body, _ = fac.go("POST", path, {**form, "csrf": fac.csrf()})
        return st, hdr, body

    path = f"/tafels/{t['id']}/stappen/schouw"
    st, _, page = fac.go("GET", path)[:3]
    assert st == 200 and "<h1>Buurtschouw</h1>" in page
    route = section(page, "route")
    # Inputs by type: checkboxes in a fieldset, datetime-local, a number,
    # a select of the table's people, euros, a checkbox.
    assert "<legend>Waar letten we op</legend>" in route and 'name="checks__stoep" value="1"' in route
    assert 'type="datetime-local"' in route and 'inputmode="numeric"' in route
    assert f'<option value="{me}">Gijs</option>' in route and 'inputmode="decimal"' in route
    # A label left out is the field's id, readable.
    assert "Walkers" in route and "Paid" in route
    # Bad input of the page's own: a number, a time; the input kept.
    st, _, page = send(path + "/nieuw/route", {"name": "Noord", "walkers": "veel", "start": "morgen"})
    assert st == 400 and 'id="n-route-walkers-error"' in page and 'id="n-route-start-error"' in page
    assert 'value="veel"' in page
    st, hdr, _ = send(path + "/nieuw/route", {"name": "Noord", "checks__licht": "1", "checks__groen": "1",
                                              "start": "2026-07-01T19:30", "walkers": "12", "guide": str(me),
                                              "paid": "12,50", "safe": "1"})
    assert st == 303, hdr
    [r] = api.get(f"/tables/{t['id']}/records?kind=route")[2]["items"]
    assert r["fields"] == {"name": "Noord", "checks": ["licht", "groen"], "start": "2026-07-01T19:30:00+02:00",
                           "walkers": 12, "guide": me, "paid": 1250, "safe": True}
    # A ref of a kind: only routes are offered.
    st, hdr, _ = send(path + "/nieuw/observation", {"place": "Plein", "route": str(r["id"]), "note": "Donker"})
    assert st == 303, hdr
    st, _, page = fac.go("GET", path)[:3]
    route = section(page, "route")
    assert "<dd>Verlichting, Groen</dd>" in route and "<dd>1 juli 2026, 19:30</dd>" in route
    assert "<dd>Gijs</dd>" in route and "<dd>€ 12,50</dd>" in route and "<dd>12</dd>" in route
    observation = section(page, "observation")
    assert f'<a href="/vastleggingen/{r["id"]}">Noord</a>' in observation
    assert re.findall(r'<select id="n-observation-route" name="route">(.*?)</select>', observation) == [
        f'<option value="" selected>– kies –</option><option value="{r["id"]}">Noord</option>']
    # A resident reads the observation, not the routes (people at the table).
    bea = Browser(w.d, host)
    assert bea.signin(f"bewoner@{host}", PASSWORD)[0] == 303
    st, _, page = bea.go("GET", path)[:3]
    assert st == 200 and "Plein" in page and "Verlichting" not in page and "/nieuw/" not in page
    # The reference to what she may not read is not shown as a link.
    assert "(niet zichtbaar)" in section(page, "observation")
    # Editing: the emptied fields are removed, a checkbox unchecked is false.
    st, hdr, _ = send(f"/vastleggingen/{r['id']}", {"name": "Noord-Oost", "checks__stoep": "1", "walkers": "",
                                                    "start": "2026-12-01T19:30", "guide": str(me), "paid": "12,50"})
    assert st == 303, hdr
    st, _, r2 = api.get(f"/records/{r['id']}")
    assert r2["fields"] == {"name": "Noord-Oost", "checks": ["stoep"], "start": "2026-12-01T19:30:00+01:00",
                            "guide": me, "paid": 1250, "safe": False}, r2
    st, _, page = fac.go("GET", f"/vastleggingen/{r['id']}")[:3]
    assert "Versie 2 (huidige)" in page and "<dd>Noord</dd>" in page and 'value="2026-12-01T19:30"' in page


def test_the_search_page_finds_records_as_the_api_allows(w):
    tid = w.table("public")
    # The intake's agreement is for the client and the facilitators only.
    w.record("fac", tid, "intake", "agreement", duration="Drie maanden zoekwoordkikker")
    st, _, page = w.get("client", "/zoeken?q=zoekwoordkikker")
    assert st == 200, page
    assert "Uit de stappen van tafels" in page and "Groen public – Intake" in page, page
    assert re.search(r'<a href="/vastleggingen/\d+">', page)
    for who in ("member", "resident", "guest"):
        st, _, page = w.get(who, "/zoeken?q=zoekwoordkikker")
        assert st == 200 and "Uit de stappen van tafels" not in page and "zoekwoordkikker</" not in page, who
        assert "Niets gevonden" in page, who
