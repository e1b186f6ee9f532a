"""The decisions' pages (plugins/site/decisions.lua) and the decisions in
the method's report (plugins/methode/pages.lua), seen as a browser without
scripts sees them: plain HTTP with cookies and the CSRF token in the forms.

* Per viewer (facilitator, a voter, a signed-in resident not at the
  table, a guest) on a public and a closed table: the table page's list,
  the decision page and its forms, the new decision's page; a closed
  table's decision is a 404 page for those not at it.
* A vote is cast and changed through the form; a vote after closing shows
  the refusal in Dutch and counts nowhere; the room's counts apart from
  the individual votes; the outcome; the minority round: a point brought
  in, marked added or not (with a reason); the final text; the closed
  decision's record as everyone who reads the table reads it.
* Hidden results and secret votes; collective wisdom; a decision opened
  from the method's `opbrengst` step belongs to it; the report lists the
  closed decisions with the minority's wisdom.
* A POST without the CSRF token changes nothing; a `<script>` in a
  proposal is escaped."""
import datetime
import re

import pytest

from api_client import Api
from bundle_util import deployed, write_bundle
from harness import aantafel, wait_for
from test_signin import SMALL, Browser
from world import make_user, token_for

HOST, SLUG = "besluiten.test", "besluiten"
PEOPLE = {"fac": ("facilitator", "Fien"), "ria": ("member", "Ria"), "sam": ("member", "Sam"),
          "outsider": ("member", "Olaf")}
QUESTION = "Wat is ervoor nodig zodat het plein van iedereen wordt?"


class W:
    def __init__(self, d, pg, tmp):
        self.d = d
        aantafel("tenant", "create", SLUG, "--name", "Gemeente Besluiten", "--host", HOST, env=pg.daemon_env())
        deployed(pg, SLUG, write_bundle(tmp / SLUG, {
            "tenant.lua": "return { workflow = 'volledig', plugins = { methode = {} } }"}))
        for who, (role, name) in PEOPLE.items():
            make_user(pg, SLUG, f"{who}@{HOST}", role, name)
        # Another municipality on the same daemon.
        aantafel("tenant", "create", "elders", "--name", "Gemeente Elders", "--host", "elders.test",
                 env=pg.daemon_env())
        wait_for(lambda: d.get("/inloggen", host=HOST)[0] == 200, what="sign-in page")
        wait_for(lambda: d.get("/inloggen", host="elders.test")[0] == 200, what="the other sign-in page")
        self.elders = Browser(d, "elders.test")
        self.api, self.b, self.ids = {"guest": Api(d, HOST)}, {"guest": Browser(d, HOST)}, {}
        for who in PEOPLE:
            token, b = token_for(d, HOST, f"{who}@{HOST}")
            self.api[who], self.b[who] = Api(d, HOST, token=token), b
            self.ids[who] = self.api[who].get("/me")[2]["id"]

    def table(self, visibility):
        fac = self.api["fac"]
        st, _, t = fac.post("/tables", {"title": "Plein " + visibility, "question": QUESTION,
                                        "visibility": visibility})
        assert st == 201, t
        for who in ("ria", "sam"):
            assert fac.put(f"/tables/{t['id']}/people/{self.ids[who]}", {"role": "member"})[0] == 200
        return t["id"]

    def decision(self, tid, **extra):
        args = {"title": "Bankjes op het plein", "proposal": "We zetten **vier** bankjes neer.", **extra}
        st, _, d = self.api["fac"].post(f"/tables/{tid}/decisions", args)
        assert st == 201, d
        return d

    def get(self, who, path):
        st, hdr, body, _ = self.b[who].go("GET", path)
        return st, hdr, body

    def post(self, who, path, form, csrf=True):
        f = dict(form)
        if csrf:
            f["csrf"] = self.b[who].csrf()
        st, hdr, body, _ = self.b[who].go("POST", path, f)
        return st, hdr, body

    def read(self, who, did):
        st, _, d = self.api[who].get(f"/decisions/{did}")
        assert st == 200, d
        return d


@pytest.fixture(scope="module")
def w(pg, make_daemon_module, tmp_path_factory):
    d = make_daemon_module({"workers": "2"}, {**pg.daemon_env(), **SMALL})
    return W(d, pg, tmp_path_factory.mktemp("decisionpages"))


def section(body, sid):
    m = re.search(r'<section id="%s".*?</section>' % sid, body, re.S)
    return m and m.group(0) or ""


def test_each_page_per_viewer(w):
    for vis in ("public", "closed"):
        tid = w.table(vis)
        d = w.decision(tid)
        page = f"/besluiten/{d['id']}"
        # The table page lists it, open, for those who read the table.
        for who in ("fac", "ria", "outsider", "guest"):
            st, _, body = w.get(who, f"/tafels/{tid}")
            if vis == "closed" and who in ("outsider", "guest"):
                assert st == 404 and "Bankjes" not in body, who
                continue
            assert st == 200, (who, body)
            s = section(body, "besluiten")
            assert "Lopende besluiten" in s and f'href="{page}"' in s and "Open" in s, who
            assert ("/besluiten/nieuw" in s) == (who == "fac"), who
        # The decision page.
        st, _, fac = w.get("fac", page)
        assert st == 200, fac
        assert "<strong>vier</strong>" in fac and "Bankjes op het plein" in fac
        assert f'action="{page}/zaal"' in fac and f'action="{page}/sluiten"' in fac
        assert f'action="{page}/gezamenlijk"' in fac and f'action="{page}/stem"' not in fac
        assert "Als gespreksleider stemt u niet" in fac and "decisions." not in fac
        st, _, ria = w.get("ria", page)
        assert st == 200 and f'action="{page}/stem"' in ria and "Stem uitbrengen" in ria
        assert '<legend>Wat vindt u van het voorstel?</legend>' in ria
        assert 'type="radio"' in ria and "Tegen" in ria and "Onthouding" in ria
        assert f'action="{page}/sluiten"' not in ria and f'action="{page}/zaal"' not in ria
        for who in ("outsider", "guest"):
            st, _, body = w.get(who, page)
            if vis == "closed":
                assert st == 404 and "Bankjes" not in body, who
                continue
            assert st == 200 and "Bankjes op het plein" in body, who
            assert f'action="{page}/stem"' not in body and f'action="{page}/sluiten"' not in body, who
        if vis == "public":
            assert "alleen de mensen aan deze tafel stemmen" in w.get("outsider", page)[2]
            assert 'href="/inloggen"' in w.get("guest", page)[2]
        # The new decision's page: the facilitator's only.
        new = f"/tafels/{tid}/besluiten/nieuw"
        st, _, body = w.get("fac", new)
        assert st == 200 and 'name="title"' in body and 'name="proposal"' in body and 'name="secret"' in body
        assert w.get("ria", new)[0] == 403
        assert w.get("outsider", new)[0] == (403 if vis == "public" else 404)
        st, hdr, _ = w.get("guest", new)
        assert st in (302, 303) and hdr["location"] == "/inloggen"
        # Another municipality finds neither the decision nor its table.
        for p in (page, f"/tafels/{tid}"):
            st, _, body, _ = w.elders.go("GET", p)
            assert st == 404 and "Bankjes" not in body, p
        st, _, _, _ = w.elders.go("POST", page + "/stem", {"csrf": w.elders.csrf(), "choice": "for"})
        assert st in (302, 303, 404) and w.read("fac", d["id"])["votes_cast"] == 0
    # Unknown or malformed ids are 404 pages.
    for p in ("/besluiten/999999", "/besluiten/abc", "/tafels/999999/besluiten/nieuw"):
        assert w.get("fac", p)[0] == 404, p


def test_vote_change_close_and_the_minority_round(w):
    tid = w.table("public")
    d = w.decision(tid)
    page = f"/besluiten/{d['id']}"
    # Ria votes for, then changes to against, through the form.
    st, hdr, _ = w.post("ria", page + "/stem", {"choice": "for"})
    assert st == 303 and hdr["location"] == page + "#stem"
    assert "U stemde: <strong>Voor</strong>" in w.get("ria", page)[2]
    st, _, _ = w.post("ria", page + "/stem", {"choice": "against"})
    assert st == 303
    body = w.get("ria", page)[2]
    assert "U stemde: <strong>Tegen</strong>" in body and "Stem wijzigen" in body
    assert re.search(r'value="against" checked', body)
    assert w.read("ria", d["id"])["my_vote"] == "against"
    # No choice, or one that is none of the decision's: the page says so.
    st, _, body = w.post("ria", page + "/stem", {})
    assert st == 400 and "Kies wat u van het voorstel vindt." in body and 'role="alert"' in body
    st, _, body = w.post("ria", page + "/stem", {"choice": "misschien"})
    assert st == 400 and "Kies een van de keuzes." in body
    assert w.read("ria", d["id"])["my_vote"] == "against"
    # The facilitator votes not; the outsider votes not (403 shown).
    st, _, body = w.post("outsider", page + "/stem", {"choice": "for"})
    assert st == 403 and "Dat mag u bij dit besluit niet doen." in body
    assert w.post("sam", page + "/stem", {"choice": "for"})[0] == 303
    # The room's counts, kept apart.
    st, _, body = w.post("fac", page + "/zaal", {"zaal_for": "3", "zaal_against": "1"})
    assert st == 303, body
    st, _, body = w.post("fac", page + "/zaal", {"zaal_for": "drie"})
    assert st == 400 and "Vul per keuze een heel getal in" in body
    results = section(w.get("ria", page)[2], "uitslag")
    assert "Eigen stemmen" in results and "In de zaal" in results
    assert re.search(r"<th scope=\"row\">Voor</th><td>1</td><td>3</td><td>4</td>", results), results
    assert re.search(r"<th scope=\"row\">Tegen</th><td>1</td><td>1</td><td>2</td>", results), results
    # Named votes to the people at the table, not to others.
    assert "Ria: Tegen" in results and "Sam: Voor" in results
    assert "Ria: Tegen" not in w.get("outsider", page)[2] and "Ria: Tegen" not in w.get("guest", page)[2]
    # The facilitator closes; a vote after it is refused in Dutch and
    # counts nowhere.
    st, hdr, _ = w.post("fac", page + "/sluiten", {})
    assert st == 303 and hdr["location"] == page + "#uitkomst"
    st, _, body = w.post("sam", page + "/stem", {"choice": "against"})
    assert st == 409 and "Het stemmen over dit besluit is gesloten. Uw stem is niet meegeteld." in body
    after = w.read("sam", d["id"])
    assert after["my_vote"] == "for" and after["counts"] == {"for": 1, "against": 1}
    body = w.get("ria", page)[2]
    assert "De meerderheid koos: <strong>Voor</strong>" in body and f'action="{page}/stem"' not in body
    # The minority round: Ria (against) brings in what she needs; Sam
    # (the majority) has no form; the facilitator speaks for the room.
    assert f'action="{page}/punten"' in body and "Wat is ervoor nodig zodat u mee kunt gaan?" in body
    assert f'action="{page}/punten"' not in w.get("sam", page)[2]
    st, _, body = w.post("ria", page + "/punten", {"body": ""})
    assert st == 400 and "Vul dit veld in." in body
    assert w.post("ria", page + "/punten", {"body": "Eén bank in de schaduw"})[0] == 303
    assert w.post("ria", page + "/punten", {"body": "Geen bank bij de speeltuin"})[0] == 303
    assert w.post("fac", page + "/punten", {"body": "Een bank voor ouderen", "for_room": "1"})[0] == 303
    st, _, body = w.post("sam", page + "/punten", {"body": "Ik ook"})
    assert st == 403 and "Ik ook" not in w.get("fac", page)[2]
    points = w.read("fac", d["id"])["points"]
    assert [p["body"] for p in points] == ["Eén bank in de schaduw", "Geen bank bij de speeltuin",
                                            "Een bank voor ouderen"]
    assert points[2]["for_room"] and "Namens de zaal" in w.get("ria", page)[2]
    # The facilitator marks them: added; not added needs a reason.
    st, hdr, _ = w.post("fac", f"{page}/punten/{points[0]['id']}", {"added": "1"})
    assert st == 303 and hdr["location"] == f"{page}#punt-{points[0]['id']}"
    st, _, body = w.post("fac", f"{page}/punten/{points[1]['id']}", {"added": "0"})
    assert st == 400 and "Geef een reden als het punt niet is toegevoegd." in body
    st, _, body = w.post("fac", f"{page}/punten/{points[1]['id']}", {})
    assert st == 400 and "Kies of het punt is toegevoegd." in body
    assert w.post("fac", f"{page}/punten/{points[1]['id']}",
                  {"added": "0", "reason": "Daar staan er al twee"})[0] == 303
    assert w.post("ria", f"{page}/punten/{points[2]['id']}", {"added": "1"})[0] == 403
    # The final text ends the round.
    st, hdr, _ = w.post("fac", page + "/besluittekst", {"final_text": "Vier bankjes, **één in de schaduw**."})
    assert st == 303 and hdr["location"] == page + "#besluittekst"
    # The record, as a voter, an outsider and a guest read it.
    for who in ("ria", "outsider", "guest"):
        body = w.get(who, page)[2]
        m = section(body, "minderheid")
        assert "Eén bank in de schaduw" in m and "Toegevoegd aan het besluit" in m, who
        assert "Niet toegevoegd" in m and "Daar staan er al twee" in m and "Nog niet beoordeeld" in m, who
        assert "Vier bankjes, <strong>één in de schaduw</strong>." in section(body, "besluittekst"), who
        assert "De meerderheid koos" in body and f'action="{page}/punten"' not in body, who
    # The table page lists it as taken.
    s = section(w.get("guest", f"/tafels/{tid}")[2], "besluiten")
    assert "Genomen besluiten" in s and "Gesloten" in s
    # In English.
    w.b["ria"].go("GET", "/taal?lang=en")
    body = w.get("ria", page)[2]
    assert "The majority chose: <strong>For</strong>" in body and "Added to the decision" in body
    assert "s wisdom</h2>" in body and "decisions." not in body
    st, _, body = w.post("ria", page + "/stem", {"choice": "for"})
    assert st == 409 and "Voting on this decision has closed." in body
    w.b["ria"].go("GET", "/taal?lang=nl")


def test_hidden_results_secret_votes_and_collective_wisdom(w):
    tid = w.table("public")
    d = w.decision(tid, results_hidden=True, secret=True)
    page = f"/besluiten/{d['id']}"
    assert w.post("ria", page + "/stem", {"choice": "against"})[0] == 303
    assert w.post("sam", page + "/stem", {"choice": "for"})[0] == 303
    for who in ("fac", "ria", "sam", "guest"):
        results = section(w.get(who, page)[2], "uitslag")
        assert "De uitslag blijft verborgen tot het stemmen sluit." in results and "2 stemmen uitgebracht." in results
        assert "<table" not in results and "Ria" not in results, who
    assert w.post("fac", page + "/sluiten", {})[0] == 303
    body = w.get("sam", page)[2]
    assert "<table" in section(body, "uitslag") and "geheime stemming" in body
    assert "Ria: Tegen" not in body and "Ria" not in body
    assert w.post("ria", page + "/punten", {"body": "Een bank met een leuning"})[0] == 303
    body = w.get("sam", page)[2]
    assert "Een bank met een leuning" in body and "Iemand uit de minderheid" in body and "Ria" not in body
    # Collective wisdom: closed with a shared outcome, no vote.
    c = w.decision(tid, title="Naam van het plein")
    cpage = f"/besluiten/{c['id']}"
    st, _, body = w.post("fac", cpage + "/gezamenlijk", {"outcome": ""})
    assert st == 400 and "Vul dit veld in." in body and 'href="#c-outcome"' in body
    assert w.post("fac", cpage + "/gezamenlijk", {"outcome": "Het heet *Iedereensplein*."})[0] == 303
    body = w.get("guest", cpage)[2]
    assert "zonder stemming" in body and "<em>Iedereensplein</em>" in body
    assert f'action="{cpage}/stem"' not in w.get("ria", cpage)[2] and "minderheid" not in body


def test_a_new_decision_from_the_table_and_from_the_step(w):
    tid = w.table("public")
    st, _, step = w.get("fac", f"/tafels/{tid}/stappen/opbrengst")
    assert st == 200 and f'href="/tafels/{tid}/besluiten/nieuw?stap=opbrengst"' in step
    st, _, body = w.get("fac", f"/tafels/{tid}/besluiten/nieuw?stap=opbrengst")
    assert st == 200 and 'name="step" value="opbrengst"' in body and "In de stap" in body
    # Bad input: the page says what, keeps what was typed.
    st, _, body = w.post("fac", f"/tafels/{tid}/besluiten",
                         {"title": "", "proposal": "Iets", "step": "opbrengst", "closes_at": "morgen"})
    assert st == 400 and 'class="error-summary"' in body and 'name="step" value="opbrengst"' in body
    assert "Vul een datum en tijd in die later is dan nu." in body and ">Iets</textarea>" in body
    st, _, body = w.post("fac", f"/tafels/{tid}/besluiten",
                         {"title": "", "proposal": "Iets", "step": "opbrengst"})
    assert st == 400 and 'href="#b-title"' in body and "Vul dit veld in." in body
    st, _, body = w.post("fac", f"/tafels/{tid}/besluiten", {"title": "X", "proposal": "Y", "step": "onbekend"})
    assert st == 400 and "Deze waarde klopt niet." in body
    # A closing time in Dutch time, a proposal with a script: escaped.
    st, hdr, _ = w.post("fac", f"/tafels/{tid}/besluiten", {
        "title": "<script>alert('t')</script> Waterpomp", "proposal": "<script>alert('p')</script> Een pomp",
        "step": "opbrengst", "closes_at": "2099-07-01T19:30", "secret": "1"})
    assert st == 303, hdr
    did = int(hdr["location"].rsplit("/", 1)[1])
    d = w.read("fac", did)
    assert d["step_id"] == "opbrengst" and d["secret"] and not d["results_hidden"]
    assert d["closes_at"].startswith("2099-07-01T17:30") or d["closes_at"].startswith("2099-07-01T19:30:00+02")
    for who in ("fac", "ria", "guest"):
        body = w.get(who, f"/besluiten/{did}")[2]
        assert "<script>alert" not in body and "&lt;script&gt;" in body, who
        assert "1 juli 2099, 19:30" in body, who
        assert "Stap: " in body and "Opbrengst" in body, who
    table = w.get("guest", f"/tafels/{tid}")[2]
    assert "<script>alert" not in table and "&lt;script&gt;" in table
    assert re.search(r'href="/besluiten/%d">[^<]*Waterpomp</a>.*?Stap: Opbrengst.*?stemmen kan tot 1 juli 2099, 19:30'
                     % did, section(table, "besluiten"), re.S)
    # The step's page lists the decisions made in it.
    step = w.get("fac", f"/tafels/{tid}/stappen/opbrengst")[2]
    assert f'href="/besluiten/{did}"' in step
    # A decision from the table belongs to no step.
    st, hdr, _ = w.post("fac", f"/tafels/{tid}/besluiten", {"title": "Zonder stap", "proposal": "Z"})
    assert st == 303 and w.read("fac", int(hdr["location"].rsplit("/", 1)[1]))["step_id"] is None
    # Only a facilitator opens one.
    assert w.post("ria", f"/tafels/{tid}/besluiten", {"title": "Van Ria", "proposal": "R"})[0] == 403


def test_past_the_closing_time_or_before_the_opening(w, pg):
    tid = w.table("public")
    now = datetime.datetime.now(datetime.timezone.utc)
    d = w.decision(tid, closes_at=(now + datetime.timedelta(seconds=3)).isoformat())
    page = f"/besluiten/{d['id']}"
    assert f'action="{page}/stem"' in w.get("ria", page)[2]
    assert w.post("ria", page + "/stem", {"choice": "for"})[0] == 303
    # The moments between the closing time and the scheduler's closing:
    # held here by locking its job's row, which the schedulers pass over.
    hold = pg.connect("super")
    hold.autocommit = False
    cur = hold.cursor()
    cur.execute("SELECT 1 FROM jobs WHERE kind = 'decision.close' AND subject = %s AND state = 'pending' FOR UPDATE",
                (d["id"],))
    assert cur.rowcount == 1
    try:
        wait_for(lambda: datetime.datetime.now(datetime.timezone.utc) > now + datetime.timedelta(seconds=3.5),
                 what="the closing time")
        body = w.get("ria", page)[2]
        assert "De tijd om te stemmen is voorbij" in body and f'action="{page}/stem"' not in body
        assert "U stemde: <strong>Voor</strong>" in body and "U stemt niet" not in body
        st, _, body = w.post("ria", page + "/stem", {"choice": "against"})
        assert st == 409 and "Het stemmen over dit besluit is gesloten. Uw stem is niet meegeteld." in body
        assert w.read("ria", d["id"])["my_vote"] == "for"
    finally:
        hold.rollback()
        hold.close()
    # Then the scheduler closes it: the outcome, the vote as it was.
    wait_for(lambda: w.read("ria", d["id"])["state"] == "closed", timeout=15, what="closed by the scheduler")
    closed = w.read("ria", d["id"])
    assert closed["outcome"] == "for" and closed["my_vote"] == "for", closed
    body = w.get("ria", page)[2]
    assert f'action="{page}/stem"' not in body and "De tijd om te stemmen is voorbij" not in body
    later = w.decision(tid, opens_at=(now + datetime.timedelta(hours=1)).isoformat())
    body = w.get("ria", f"/besluiten/{later['id']}")[2]
    assert "Het stemmen over dit besluit is nog niet begonnen." in body and 'name="choice"' not in body
    st, _, body = w.post("ria", f"/besluiten/{later['id']}/stem", {"choice": "for"})
    assert st == 409 and "Het stemmen over dit besluit is nog niet begonnen." in body


def test_csrf_is_refused_and_changes_nothing(w):
    tid = w.table("public")
    d = w.decision(tid)
    page = f"/besluiten/{d['id']}"
    for who, path, form in (("ria", page + "/stem", {"choice": "for"}),
                            ("fac", page + "/zaal", {"zaal_for": "5"}),
                            ("fac", page + "/sluiten", {}),
                            ("fac", page + "/gezamenlijk", {"outcome": "Samen"}),
                            ("fac", f"/tafels/{tid}/besluiten", {"title": "Zonder token", "proposal": "P"})):
        assert w.post(who, path, form, csrf=False)[0] == 403, path
        assert w.post(who, path, {**form, "csrf": "fout"}, csrf=False)[0] == 403, path
    after = w.read("fac", d["id"])
    assert after["state"] == "open" and after["votes_cast"] == 0 and after["room_counts"] == {}
    assert [x["title"] for x in w.api["fac"].get(f"/tables/{tid}/decisions")[2]["items"]] == ["Bankjes op het plein"]


def test_the_report_has_the_closed_decisions(w):
    tid = w.table("public")
    d = w.decision(tid, step="opbrengst")
    did = d["id"]
    w.api["ria"].put(f"/decisions/{did}/vote", {"choice": "against"})
    w.api["sam"].put(f"/decisions/{did}/vote", {"choice": "for"})
    w.api["fac"].put(f"/decisions/{did}/room", {"counts": {"for": 2}})
    assert w.api["fac"].post(f"/decisions/{did}/close")[0] == 200
    st, _, r = w.api["ria"].post(f"/decisions/{did}/points", {"body": "Een bank in de schaduw"})
    assert st == 201, r
    pid = r["points"][0]["id"]
    assert w.api["fac"].post(f"/decisions/{did}/points/{pid}", {"added": True})[0] == 200
    assert w.api["fac"].put(f"/decisions/{did}/final", {"final_text": "Vier bankjes, één in de schaduw."})[0] == 200
    open_one = w.decision(tid, title="Nog open besluit")
    st, _, rec = w.api["fac"].post(f"/tables/{tid}/records", {"step": "verslag", "kind": "report",
                                                              "fields": {"summary": "Samenvatting"}})
    assert st == 201, rec
    for who in ("ria", "guest"):
        st, _, body = w.get(who, f"/tafels/{tid}/verslag")
        assert st == 200, (who, body)
        s = section(body, "r-besluiten")
        assert "Bankjes op het plein" in s and "Voor" in s and "Een bank in de schaduw" in s, (who, s)
        assert "Wat eraan werd toegevoegd" in s and "Vier bankjes, één in de schaduw." in s, who
        assert "Nog open besluit" not in body, who
        assert "methode." not in body and "decisions." not in body
    assert open_one["state"] == "open"
