"""The methode platform plugin (plugins/methode) in the real sandbox,
through /api/v1: a table goes through the seven steps of the full
workflow with a facilitator and a client account, each guard refusing
first with its Dutch reason and passing after (the central question, the
quote the client accepts, interviews with a seldom-heard player, the
run-sheet the client approves, the report, the evaluation), and
completing the evaluation closes the table; the short workflow of a
citizens' initiative, under a tenant whose options relax the guards.
The client does the client's part and nothing more."""
import pytest

from api_client import Api
from bundle_util import write_bundle
from test_signin import SMALL
from world import MethodTenant, make_user, token_for

FULL = ("vol.methode.test", "methode-vol", "return { workflow = 'volledig', plugins = { methode = {} } }")
RELAXED = ("kort.methode.test", "methode-kort", """return { workflow = "kort", plugins = { methode = {
	question_prefix = false, client_decides = false, min_interviews = 0, seldom_heard = false,
} } }""")
VOLLEDIG = ["intake", "interviews", "draaiboek", "gesprek", "opbrengst", "verslag", "evaluatie"]


class Tenant(MethodTenant):
    def __init__(self, d, pg, tmp, host, slug, conf):
        super().__init__(d, pg, slug, host, write_bundle(tmp / slug, {"tenant.lua": conf}))

    def table(self, question, **extra):
        return self.open(title="Groen in de wijk", question=question, visibility="closed", **extra)


def refusal(answer):
    st, _, body = answer
    assert st == 422 and body["error"]["code"] == "refused", body
    return body["error"]["message"]


@pytest.fixture(scope="module")
def world(pg, make_daemon_module, tmp_path_factory):
    d = make_daemon_module({"workers": "2"}, {**pg.daemon_env(), **SMALL})
    tmp = tmp_path_factory.mktemp("methode")
    return {"full": Tenant(d, pg, tmp, *FULL), "relaxed": Tenant(d, pg, tmp, *RELAXED)}


def test_the_workflows_are_offered_in_dutch_and_english(world):
    st, _, body = world["full"].api["guest"].get("/workflows")
    assert st == 200, body
    assert body["default"] == "volledig"
    wf = {w["id"]: w for w in body["items"]}
    assert [s["id"] for s in wf["volledig"]["steps"]] == VOLLEDIG
    assert [s["id"] for s in wf["kort"]["steps"]] == ["intake", "gesprek", "opbrengst", "verslag"]
    assert wf["volledig"]["steps"][2]["title"] == {"nl": "Draaiboek", "en": "Run-sheet"}
    quote = wf["volledig"]["steps"][0]["records"]["quote"]
    assert quote["visible"] == "client" and quote["write"] == "client"
    assert quote["fields"]["status"]["choices"] == ["draft", "sent", "accepted", "declined"]


def test_a_table_through_the_full_method(world):
    w = world["full"]
    fac, client = w.api["fac"], w.api["client"]
    tid = w.table("Hoe wordt de buurt groener?")
    assert w.steps(tid) == {s: "active" if s == "intake" else "pending" for s in VOLLEDIG}

    # 1. Intake: the central question, then the quote the client accepts.
    w.refused(tid, "intake", "De centrale vraag begint nog niet met 'Wat is ervoor nodig zodat'")
    st, _, body = fac.patch(f"/tables/{tid}", {"question": "Wat is ervoor nodig zodat de buurt groener wordt?"})
    assert st == 200, body
    w.refused(tid, "intake", "De offerte is nog niet geaccepteerd")
    anna = w.record("fac", tid, "intake", "player", name="Anna", organisation="Buurtvereniging", central=True,
                    consent=True)
    bram = w.record("fac", tid, "intake", "player", name="Bram", role="Bewoner", seldom_heard=True)
    w.record("fac", tid, "intake", "agreement", duration="Drie maanden", cost=450000)
    q = w.record("fac", tid, "intake", "quote", amount=450000, status="draft")
    # The client answers only a quote that was sent, and only its status.
    assert refusal(client.patch(f"/records/{q['id']}", {"fields": {"status": "accepted"}})) == \
        "De opdrachtgever kan alleen een verstuurde offerte accepteren of weigeren"
    assert refusal(client.post(f"/tables/{tid}/records", {"step": "intake", "kind": "quote",
                                                          "fields": {"amount": 1, "status": "accepted"}})) == \
        "De opdrachtgever kan alleen een verstuurde offerte accepteren of weigeren"
    # Accepting is the client's, not the facilitator's.
    assert refusal(fac.patch(f"/records/{q['id']}", {"fields": {"status": "accepted"}})) == \
        "Alleen de opdrachtgever accepteert of weigert de offerte"
    assert fac.patch(f"/records/{q['id']}", {"fields": {"status": "sent"}})[0] == 200
    assert refusal(client.patch(f"/records/{q['id']}", {"fields": {"status": "accepted", "amount": 1}})) == \
        "De opdrachtgever kan alleen een verstuurde offerte accepteren of weigeren"
    assert refusal(client.patch(f"/records/{q['id']}", {"fields": {"status": "accepted"}, "remove": ["description"]}))
    # A record the client may not write at all is the core's refusal.
    st, _, body = client.post(f"/tables/{tid}/records", {"step": "intake", "kind": "player", "fields": {"name": "X"}})
    assert st == 403 and body["error"]["code"] == "forbidden", body
    assert client.patch(f"/records/{anna['id']}", {"fields": {"name": "X"}})[0] == 403
    st, _, body = client.patch(f"/records/{q['id']}", {"fields": {"status": "accepted"}})
    assert st == 200 and body["fields"]["status"] == "accepted", body
    # Who accepted, and when, is kept.
    st, _, v = fac.get(f"/records/{q['id']}/versions")
    assert [(x["fields"]["status"], x["saved_by"]["name"]) for x in v["items"]] == [
        ("accepted", "Otto"), ("sent", "Fien"), ("draft", "Fien")], v
    assert v["items"][0]["saved_at"]
    # Only the facilitator completes a step; the guard's reason is theirs.
    for who, status in (("client", 403), ("member", 403), ("resident", 404), ("guest", 404)):
        assert w.api[who].post(f"/tables/{tid}/steps/intake/complete")[0] == status, who
    w.complete(tid, "intake")
    assert w.steps(tid)["interviews"] == "active"

    # 2. Interviews: at least two, one with a seldom-heard player.
    w.refused(tid, "interviews", "Er zijn 0 interviews gehouden; er zijn er minstens 2 nodig")
    w.record("fac", tid, "interviews", "interview", player=anna["id"], question="held", perspectives="groen, spelen")
    w.refused(tid, "interviews", "Er zijn 1 interviews gehouden; er zijn er minstens 2 nodig")
    w.record("fac", tid, "interviews", "interview", player=anna["id"], question="reworded",
             new_wording="Wat is ervoor nodig zodat iedereen de buurt groener maakt?")
    w.refused(tid, "interviews", "Er is nog niemand geïnterviewd die zelden gehoord wordt")
    st, _, body = client.post(f"/tables/{tid}/records", {"step": "interviews", "kind": "interview",
                                                         "fields": {"player": bram["id"]}})
    assert st == 403, body
    st, _, body = fac.post(f"/tables/{tid}/records", {"step": "interviews", "kind": "interview",
                                                      "fields": {"player": 999999999}})
    assert st == 400 and body["error"]["fields"]["player"]["code"] == "ref", body
    w.record("fac", tid, "interviews", "interview", player=bram["id"], held_on="2026-03-02")
    w.complete(tid, "interviews")

    # 3. The run-sheet: items, then the client's approval of them as they are.
    w.refused(tid, "draaiboek", "Het draaiboek heeft nog geen onderdelen")
    item = w.record("fac", tid, "draaiboek", "agenda_item", start="19:30", duration=20, activity="Welkom",
                    working_form="Kring", who="Fien")
    w.record("fac", tid, "draaiboek", "agenda_item", start="19:50", duration=60, activity="Gesprek in groepen")
    w.refused(tid, "draaiboek", "Het draaiboek is nog niet goedgekeurd door de opdrachtgever")
    assert client.post(f"/tables/{tid}/records", {"step": "draaiboek", "kind": "agenda_item",
                                                  "fields": {"start": "1", "activity": "x"}})[0] == 403
    assert refusal(fac.post(f"/tables/{tid}/records", {"step": "draaiboek", "kind": "approval",
                                                       "fields": {"decision": "approved"}})) == \
        "Alleen de opdrachtgever keurt het draaiboek goed"
    w.record("client", tid, "draaiboek", "approval", decision="changes_requested", note="Langer welkom")
    w.refused(tid, "draaiboek", "Het draaiboek is nog niet goedgekeurd door de opdrachtgever")
    approval = w.record("client", tid, "draaiboek", "approval", decision="approved")
    assert approval["created_by"]["name"] == "Otto" and approval["created_at"]
    # A change after the approval is a deviation; a new approval covers it.
    assert refusal(fac.patch(f"/records/{item['id']}", {"fields": {"duration": 30}})) == \
        "Het draaiboek is goedgekeurd: een wijziging is een afwijking en heeft een reden nodig"
    assert fac.patch(f"/records/{item['id']}", {"fields": {"duration": 30, "reason": "Meer tijd"}})[0] == 200
    w.refused(tid, "draaiboek", "De opdrachtgever heeft nog niet ingestemd met de afwijking in 'Welkom'")
    w.record("client", tid, "draaiboek", "approval", decision="approved")
    w.complete(tid, "draaiboek")

    # 4. and 5. The conversation and its outcome have no guard.
    w.record("fac", tid, "gesprek", "note", body="Twintig mensen aan tafel.")
    w.complete(tid, "gesprek")
    outcome = w.record("fac", tid, "opbrengst", "outcome", decision="Een tuin op het plein",
                       minority="Met een bankje voor wie niet kan tuinieren")
    w.complete(tid, "opbrengst")

    # 6. The report: published by the facilitator.
    w.refused(tid, "verslag", "Het verslag is nog niet gepubliceerd")
    w.record("fac", tid, "verslag", "advice", title="Begin klein")
    assert client.post(f"/tables/{tid}/records", {"step": "verslag", "kind": "report",
                                                  "fields": {"summary": "x"}})[0] == 403
    w.record("fac", tid, "verslag", "report", summary="Wat we samen vonden.", published_on="2026-06-01")
    w.complete(tid, "verslag")

    # 7. The evaluation, with the client; completing it closes the table.
    w.refused(tid, "evaluatie", "De evaluatie is nog niet vastgelegd")
    ev = w.record("client", tid, "evaluatie", "evaluation", went_well="De opkomst", learned="Vroeg beginnen")
    assert fac.patch(f"/records/{ev['id']}", {"fields": {"follows": "Een vervolg in het najaar"}})[0] == 200
    assert client.post(f"/tables/{tid}/steps/evaluatie/complete")[0] == 403
    assert fac.get(f"/tables/{tid}")[2]["status"] == "open"
    w.complete(tid, "evaluatie")
    assert w.steps(tid) == {s: "done" for s in VOLLEDIG}
    st, _, t = fac.get(f"/tables/{tid}")
    assert st == 200 and t["status"] == "closed", t
    st, _, h = client.get(f"/tables/{tid}/history")
    assert st == 200 and (h["items"][0]["step_id"], h["items"][0]["action"]) == ("evaluatie", "completed"), h

    # Who reads what of the closed table afterwards.
    for who, status in (("client", 200), ("fac", 200), ("member", 404), ("resident", 404), ("guest", 404)):
        assert w.api[who].get(f"/records/{q['id']}")[0] == status, who
        assert w.api[who].get(f"/records/{ev['id']}")[0] == status, who
    for who, status in (("member", 200), ("resident", 404), ("guest", 404)):
        assert w.api[who].get(f"/records/{outcome['id']}")[0] == status, who
    assert w.api["resident"].get(f"/tables/{tid}/records")[0] == 404
    st, _, page = w.api["member"].get(f"/tables/{tid}/records?limit=100")
    assert st == 200 and {r["kind"] for r in page["items"]} == {"note", "outcome", "report"}, page


def to_draaiboek(w, question):
    """A new table of W whose intake and interviews are done."""
    tid = w.table(question)
    q = w.record("fac", tid, "intake", "quote", amount=100000, status="sent")
    if w.api["client"].patch(f"/records/{q['id']}", {"fields": {"status": "accepted"}})[0] != 200:
        assert w.api["fac"].patch(f"/records/{q['id']}", {"fields": {"status": "accepted"}})[0] == 200
    w.complete(tid, "intake")
    p = w.record("fac", tid, "intake", "player", name="Bram", seldom_heard=True)
    for _ in range(2):
        w.record("fac", tid, "interviews", "interview", player=p["id"])
    w.complete(tid, "interviews")
    assert w.steps(tid)["draaiboek"] == "active"
    return tid


def test_after_approval_every_change_is_a_deviation_the_client_answers(world):
    w = world["full"]
    fac, client = w.api["fac"], w.api["client"]
    tid = to_draaiboek(w, "Wat is ervoor nodig zodat de markt blijft?")
    welkom = w.record("fac", tid, "draaiboek", "agenda_item", start="19:30", duration=20, activity="Welkom")
    groepen = w.record("fac", tid, "draaiboek", "agenda_item", start="19:50", duration=60, activity="Groepen")
    pauze = w.record("fac", tid, "draaiboek", "agenda_item", start="20:50", duration=10, activity="Pauze")
    # Before the approval the facilitator changes freely.
    assert fac.patch(f"/records/{welkom['id']}", {"fields": {"who": "Fien"}})[0] == 200
    w.record("client", tid, "draaiboek", "approval", decision="approved")
    w.complete(tid, "draaiboek")
    st, _, body = fac.post(f"/tables/{tid}/steps/draaiboek/reopen", {"reason": "Het programma schuift"})
    assert st == 200, body

    # After it, a change, a new item or a removal without a reason is refused.
    no_reason = "Het draaiboek is goedgekeurd: een wijziging is een afwijking en heeft een reden nodig"
    assert refusal(fac.patch(f"/records/{groepen['id']}", {"fields": {"duration": 45}})) == no_reason
    assert refusal(fac.patch(f"/records/{groepen['id']}", {"fields": {"duration": 45, "reason": "  "}})) == no_reason
    assert refusal(fac.post(f"/tables/{tid}/records", {"step": "draaiboek", "kind": "agenda_item",
                                                       "fields": {"start": "21:00", "activity": "Toneel"}})) == no_reason
    assert refusal(fac.patch(f"/records/{pauze['id']}", {"fields": {"removed": True}})) == no_reason
    # With reasons, each change is a deviation that waits for the client.
    st, _, g2 = fac.patch(f"/records/{groepen['id']}", {"fields": {"duration": 45, "reason": "Minder deelnemers"}})
    assert st == 200, g2
    toneel = w.record("fac", tid, "draaiboek", "agenda_item", start="21:00", activity="Toneel",
                      reason="De acteur kan toch komen")
    st, _, p2 = fac.patch(f"/records/{pauze['id']}", {"fields": {"removed": True, "reason": "Geen tijd"}})
    assert st == 200, p2
    w.refused(tid, "draaiboek", "De opdrachtgever heeft nog niet ingestemd met de afwijking in 'Groepen'")

    # Only the client answers, a version of one of this run-sheet's items.
    by_client = "Alleen de opdrachtgever stemt in met een afwijking of wijst die af"
    assert refusal(fac.post(f"/tables/{tid}/records", {"step": "draaiboek", "kind": "deviation", "fields": {
        "item": groepen["id"], "version": g2["version"], "decision": "agreed"}})) == by_client
    for item, version in ((groepen["id"], 99), (welkom["id"], 0)):
        assert refusal(client.post(f"/tables/{tid}/records", {"step": "draaiboek", "kind": "deviation", "fields": {
            "item": item, "version": version, "decision": "agreed"}})) == \
            "Dit is geen versie van een onderdeel van dit draaiboek"
    st, _, body = client.post(f"/tables/{tid}/records", {"step": "draaiboek", "kind": "deviation", "fields": {
        "item": groepen["id"], "version": g2["version"], "decision": "maybe"}})
    assert st == 400 and body["error"]["fields"]["decision"]["code"] == "choice", body
    for who in ("member", "resident"):
        st, _, body = w.api[who].post(f"/tables/{tid}/records", {"step": "draaiboek", "kind": "deviation",
                                      "fields": {"item": groepen["id"], "version": g2["version"], "decision": "agreed"}})
        assert st in (403, 404), (who, body)

    ja = w.record("client", tid, "draaiboek", "deviation", item=groepen["id"], version=g2["version"], decision="agreed")
    w.refused(tid, "draaiboek", "De opdrachtgever heeft nog niet ingestemd met de afwijking in 'Pauze'")
    w.record("client", tid, "draaiboek", "deviation", item=pauze["id"], version=p2["version"], decision="agreed")
    w.refused(tid, "draaiboek", "De opdrachtgever heeft nog niet ingestemd met de afwijking in 'Toneel'")
    w.record("client", tid, "draaiboek", "deviation", item=toneel["id"], version=1, decision="declined",
             note="Geen toneel dit keer")
    w.refused(tid, "draaiboek", "De opdrachtgever heeft de afwijking in 'Toneel' afgewezen; maak die ongedaan")
    # The answer keeps naming its deviation; a change to the item after
    # the agreement is a new deviation.
    assert refusal(client.patch(f"/records/{ja['id']}", {"fields": {"item": toneel["id"]}})) == \
        "Een antwoord op een afwijking blijft bij hetzelfde onderdeel en dezelfde versie"
    st, _, g3 = fac.patch(f"/records/{groepen['id']}", {"fields": {"who": "Fien", "reason": "Fien leidt"}})
    assert st == 200, g3
    assert refusal(fac.patch(f"/records/{toneel['id']}", {"fields": {"removed": True}})) == no_reason
    st, _, body = fac.patch(f"/records/{toneel['id']}", {"fields": {"removed": True, "reason": "Afgewezen"}})
    assert st == 200, body
    w.refused(tid, "draaiboek", "De opdrachtgever heeft nog niet ingestemd met de afwijking in 'Groepen'")
    # Going back to what the client agreed to needs no new answer.
    st, _, body = fac.patch(f"/records/{groepen['id']}", {"fields": {"reason": "Terug naar 45"}, "remove": ["who"]})
    assert st == 200, body
    w.complete(tid, "draaiboek")

    # Who answered and when is kept; the run-sheet's versions are the
    # facilitators' and the client's, nobody else's.
    st, _, v = fac.get(f"/records/{ja['id']}/versions")
    assert st == 200 and v["items"][0]["saved_by"]["name"] == "Otto" and v["items"][0]["saved_at"], v
    st, _, v = client.get(f"/records/{groepen['id']}/versions")
    assert st == 200, v
    assert [(x["fields"].get("duration"), x["fields"].get("reason")) for x in v["items"]] == [
        (45, "Terug naar 45"), (45, "Fien leidt"), (45, "Minder deelnemers"), (60, None)], v
    for who in ("member", "resident", "guest"):
        assert w.api[who].get(f"/records/{groepen['id']}/versions")[0] == 404, who
        assert w.api[who].get(f"/records/{ja['id']}")[0] == 404, who


def test_without_client_decides_the_facilitator_records_the_answer(world):
    w = world["relaxed"]
    tid = w.table("Hoe?", workflow="volledig")
    w.record("fac", tid, "intake", "quote", amount=0, status="accepted")
    w.complete(tid, "intake")
    w.complete(tid, "interviews")
    item = w.record("fac", tid, "draaiboek", "agenda_item", start="10:00", activity="Koffie")
    w.record("fac", tid, "draaiboek", "approval", decision="approved")
    st, _, i2 = w.api["fac"].patch(f"/records/{item['id']}", {"fields": {"start": "10:30", "reason": "Later"}})
    assert st == 200, i2
    w.refused(tid, "draaiboek", "De opdrachtgever heeft nog niet ingestemd met de afwijking in 'Koffie'")
    w.record("fac", tid, "draaiboek", "deviation", item=item["id"], version=i2["version"], decision="agreed",
             note="Telefonisch akkoord")
    w.complete(tid, "draaiboek")


def test_a_declined_quote_does_not_start_the_work(world):
    w = world["full"]
    tid = w.table("Wat is ervoor nodig zodat de bibliotheek blijft?")
    q = w.record("fac", tid, "intake", "quote", amount=100000, status="sent")
    st, _, body = w.api["client"].patch(f"/records/{q['id']}", {"fields": {"status": "declined"}})
    assert st == 200, body
    w.refused(tid, "intake", "De offerte is nog niet geaccepteerd")
    # Declined is the client's last word on this quote.
    assert refusal(w.api["client"].patch(f"/records/{q['id']}", {"fields": {"status": "accepted"}}))


def test_the_short_workflow_with_relaxed_options(world):
    w = world["relaxed"]
    fac = w.api["fac"]
    tid = w.table("Hoe houden we het buurthuis open?")
    assert w.steps(tid) == {"intake": "active", "gesprek": "pending", "opbrengst": "pending", "verslag": "pending"}
    # Any question will do here; the facilitator may record the client's answer.
    w.refused(tid, "intake", "De offerte is nog niet geaccepteerd")
    w.record("fac", tid, "intake", "quote", amount=0, status="accepted")
    w.complete(tid, "intake")
    w.complete(tid, "gesprek")
    w.complete(tid, "opbrengst")
    w.refused(tid, "verslag", "Het verslag is nog niet gepubliceerd")
    w.record("fac", tid, "verslag", "report", summary="Het buurthuis blijft open.")
    w.complete(tid, "verslag")
    st, _, t = fac.get(f"/tables/{tid}")
    assert st == 200 and t["status"] == "open", t
    # The full workflow is there too, when asked for; its interviews
    # guard counts none here (min_interviews = 0, seldom_heard off).
    tid = w.table("Hoe?", workflow="volledig")
    w.record("fac", tid, "intake", "quote", amount=0, status="accepted")
    w.complete(tid, "intake")
    w.complete(tid, "interviews")
    assert w.steps(tid)["draaiboek"] == "active"


def test_the_admins_change_the_interviews_guard(world, pg):
    """min_interviews and seldom_heard are editable (/beheer/instellingen,
    PUT /settings/options): the guard reads the admins' value when it runs,
    and their value equal to tenant.lua's follows tenant.lua again."""
    w = world["relaxed"]
    fac = w.api["fac"]
    host, slug = RELAXED[0], RELAXED[1]
    make_user(pg, slug, "beheer@" + host, "admin", "Anke")
    admin = Api(fac.d, host, token=token_for(fac.d, host, "beheer@" + host)[0])
    assert fac.put("/settings/options", {"options": {"methode": {"min_interviews": 1}}})[0] == 403
    st, _, body = admin.put("/settings/options", {"options": {"methode": {"min_interviews": 1, "seldom_heard": True}}})
    assert st == 200 and body["options"]["methode"] == {"min_interviews": 1, "seldom_heard": True}, body
    tid = w.table("Hoe komt er een bankje?", workflow="volledig")
    w.record("fac", tid, "intake", "quote", amount=0, status="accepted")
    player = w.record("fac", tid, "intake", "player", name="Cor", seldom_heard=False)
    w.complete(tid, "intake")
    w.refused(tid, "interviews", "Er zijn 0 interviews gehouden; er zijn er minstens 1 nodig")
    w.record("fac", tid, "interviews", "interview", player=player["id"])
    w.refused(tid, "interviews", "Er is nog niemand geïnterviewd die zelden gehoord wordt")
    # Back to tenant.lua's values (0, off): no rows kept, the guard passes.
    st, _, body = admin.put("/settings/options", {"options": {"methode": {"min_interviews": 0, "seldom_heard": False}}})
    assert st == 200 and "methode" not in body["options"], body
    w.complete(tid, "interviews")
