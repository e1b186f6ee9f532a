"""Deep Democracy decisions through /api/v1 (sql/code/decisions.sql): a
facilitator opens a decision, the table's people vote and change their
vote, the facilitator records the room's counts and closes it; a vote
after closing, or past its closing time, is refused with 409; the
minority round (points, marks, the final text); the collective-wisdom
path; every bad field a 400 naming it; the events with a plugin's hooks,
one of which refuses a vote; another municipality finding none of them;
and 50 residents voting at once while the
facilitator closes: every accepted vote counted exactly once, every
refused one a 409."""
import datetime
import json
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from api_client import Api
from bundle_util import deployed, sql, write_bundle
from harness import aantafel, wait_for
from test_signin import SMALL
from world import make_user, token_for

HOST, SLUG = "besluit.dd.test", "dd-besluit"
OTHER, OTHER_SLUG = "elders.dd.test", "dd-elders"
CROWD = 50

PLUGIN = """
plugin.hook("vote.before_cast", function(v)
	if v.choice == "veto" then return false, "Een veto kan hier niet" end
end)
plugin.hook("decision.opened", function(d)
	plugin.store.put("opened/" .. d.id, { title = d.title, by = d.by })
end)
plugin.hook("decision.closed", function(d)
	plugin.store.put("closed/" .. d.id, { path = d.path, outcome = d.outcome or "" })
end)
plugin.route("GET", "/besluit/log/:id", function(req, params)
	local out = {}
	for _, row in ipairs(plugin.store.list("", { limit = 100 })) do
		if row.key:match("/" .. params.id .. "$") then out[#out + 1] = { key = row.key, value = row.value } end
	end
	table.sort(out, function(a, b) return a.key < b.key end)
	return { json = out }
end)
"""

BUNDLE = {
    "tenant.lua": 'return { plugins = { besluit = {} } }',
    "plugins/besluit.lua": PLUGIN,
}


class Cast:
    def __init__(self, d, pg):
        self.d, self.pg = d, pg
        people = {"fac": ("fac@dd.test", "facilitator", "Fien"), "client": ("client@dd.test", "member", "Otto"),
                  "anna": ("anna@dd.test", "member", "Anna"), "bram": ("bram@dd.test", "member", "Bram"),
                  "cato": ("cato@dd.test", "member", "Cato"), "resident": ("bert@dd.test", "member", "Bert")}
        for email, role, name in people.values():
            make_user(pg, SLUG, email, role, name)
        wait_for(lambda: d.get("/inloggen", host=HOST)[0] == 200, what="sign-in page")
        self.api = {"guest": Api(d, HOST)}
        self.ids = {}
        for who, (email, _, _) in people.items():
            self.api[who] = Api(d, HOST, token=token_for(d, HOST, email)[0])
            self.ids[who] = self.api[who].get("/me")[2]["id"]

    def table(self, visibility="closed"):
        fac = self.api["fac"]
        st, _, t = fac.post("/tables", {"title": "Het plein", "question": "Wat is ervoor nodig?", "visibility": visibility})
        assert st == 201, t
        for who, role in (("client", "client"), ("anna", "member"), ("bram", "member"), ("cato", "member")):
            st, _, body = fac.put(f"/tables/{t['id']}/people/{self.ids[who]}", {"role": role})
            assert st == 200, body
        return t["id"]

    def decision(self, tid, **extra):
        st, _, d = self.api["fac"].post(f"/tables/{tid}/decisions", {
            "title": "Bankjes op het plein", "proposal": "We zetten **vier** bankjes neer.", **extra})
        assert st == 201, d
        return d


@pytest.fixture(scope="module")
def cast(pg, make_daemon_module, tmp_path_factory):
    aantafel("tenant", "create", SLUG, "--name", "Gemeente Besluit", "--host", HOST, env=pg.daemon_env())
    deployed(pg, SLUG, write_bundle(tmp_path_factory.mktemp("besluit"), BUNDLE))
    aantafel("tenant", "create", OTHER_SLUG, "--name", "Gemeente Elders", "--host", OTHER, env=pg.daemon_env())
    d = make_daemon_module({"workers": "2"}, {**pg.daemon_env(), **SMALL})
    c = Cast(d, pg)
    make_user(pg, OTHER_SLUG, "admin@elders.dd.test", "admin", "Els")
    c.foreign = Api(d, OTHER, token=token_for(d, OTHER, "admin@elders.dd.test")[0])
    return c


def log(cast, did):
    st, _, body = cast.d.get(f"/besluit/log/{did}", host=HOST)
    assert st == 200, body
    return {e["key"].split("/")[0]: e["value"] for e in json.loads(body)}


def vote(cast, who, did, choice):
    return cast.api[who].put(f"/decisions/{did}/vote", {"choice": choice})


def test_the_whole_path_of_a_decision(cast):
    fac = cast.api["fac"]
    tid = cast.table()
    d = cast.decision(tid)
    did = d["id"]
    assert d["state"] == "open" and d["path"] == "vote" and d["voters"] == "people"
    assert [c["id"] for c in d["choices"]] == ["for", "against", "abstain"]
    assert d["choices"][1]["label"] == {"nl": "Tegen", "en": "Against"}
    assert "<strong>vier</strong>" in d["proposal_html"]
    assert d["can_manage"] and not d["can_vote"]       # the facilitator leads and records the room
    assert log(cast, did)["opened"] == {"title": "Bankjes op het plein", "by": cast.ids["fac"]}
    # Votes, and a changed one.
    for who, choice in (("anna", "for"), ("bram", "for"), ("cato", "against"), ("client", "abstain")):
        st, _, body = vote(cast, who, did, choice)
        assert st == 200, body
        assert body["my_vote"] == choice and body["can_vote"]
    st, _, body = vote(cast, "bram", did, "against")
    assert st == 200 and body["my_vote"] == "against", body
    assert body["counts"] == {"for": 1, "against": 2, "abstain": 1}
    # Who voted what, for the table's people (not secret).
    assert sorted((v["account"]["name"], v["choice"]) for v in body["votes"]) == [
        ("Anna", "for"), ("Bram", "against"), ("Cato", "against"), ("Otto", "abstain")]
    # Only the table's people vote; the facilitator records the room.
    st, _, body = vote(cast, "fac", did, "for")
    assert st == 403, body
    st, _, body = cast.api["anna"].put(f"/decisions/{did}/room", {"counts": {"for": 3}})
    assert st == 403, body
    st, _, body = fac.put(f"/decisions/{did}/room", {"counts": {"for": 3, "against": 0}})
    assert st == 200, body
    assert body["room_counts"] == {"for": 3, "against": 0}
    assert body["counts"] == {"for": 1, "against": 2, "abstain": 1}        # kept apart
    assert body["totals"] == {"for": 4, "against": 2, "abstain": 1}
    # No minority round, marks or final text while open.
    st, _, body = cast.api["cato"].post(f"/decisions/{did}/points", {"body": "Meer schaduw"})
    assert st == 409 and body["error"]["code"] == "not_minority_round", body
    st, _, body = fac.put(f"/decisions/{did}/final", {"final_text": "x"})
    assert st == 409, body
    # Only a facilitator closes; the outcome counts votes and the room.
    assert cast.api["anna"].post(f"/decisions/{did}/close")[0] == 403
    st, _, body = fac.post(f"/decisions/{did}/close")
    assert st == 200, body
    assert body["state"] == "closed" and body["outcome"] == "for" and body["closed_at"], body
    assert log(cast, did)["closed"] == {"path": "vote", "outcome": "for"}
    # After closing: no vote counts, and it closes once.
    st, _, body = vote(cast, "anna", did, "against")
    assert st == 409 and body["error"]["code"] == "closed", body
    assert fac.post(f"/decisions/{did}/close")[0] == 409
    assert fac.put(f"/decisions/{did}/room", {"counts": {"for": 9}})[0] == 409
    st, _, body = cast.api["anna"].get(f"/decisions/{did}")
    assert body["counts"] == {"for": 1, "against": 2, "abstain": 1} and body["my_vote"] == "for", body
    # The minority round: those who voted against, and the facilitator for the room.
    st, _, body = cast.api["anna"].post(f"/decisions/{did}/points", {"body": "Ik stemde voor"})
    assert st == 403, body
    st, _, body = cast.api["client"].post(f"/decisions/{did}/points", {"body": "Ik onthield me"})
    assert st == 403, body
    st, _, body = cast.api["cato"].post(f"/decisions/{did}/points", {"body": "Eén bankje in de schaduw"})
    assert st == 201, body
    assert body["points"][0]["mine"] and body["points"][0]["by"] == {"id": cast.ids["cato"], "name": "Cato"}
    st, _, body = cast.api["bram"].post(f"/decisions/{did}/points", {"body": "Geen bankjes bij de speeltuin"})
    assert st == 201, body
    st, _, body = cast.api["cato"].post(f"/decisions/{did}/points", {"body": "x", "for_room": True})
    assert st == 403, body
    st, _, body = fac.post(f"/decisions/{did}/points", {"body": "De zaal wil een prullenbak erbij", "for_room": True})
    assert st == 201, body
    p1, p2, p3 = [p["id"] for p in body["points"]]
    assert body["points"][2]["for_room"] and not body["points"][2]["mine"]
    # Marks: added, or not with a reason.
    assert cast.api["cato"].post(f"/decisions/{did}/points/{p1}", {"added": True})[0] == 403
    st, _, body = fac.post(f"/decisions/{did}/points/{p1}", {"added": True})
    assert st == 200, body
    st, _, body = fac.post(f"/decisions/{did}/points/{p2}", {"added": False})
    assert st == 400 and set(body["error"]["fields"]) == {"reason"}, body
    st, _, body = fac.post(f"/decisions/{did}/points/{p2}", {"added": False, "reason": "De speeltuin ligt elders"})
    assert st == 200, body
    st, _, body = fac.post(f"/decisions/{did}/points/{p3}", {"added": True})
    assert st == 200, body
    assert [(p["added"], p["reason"]) for p in body["points"]] == [
        (True, None), (False, "De speeltuin ligt elders"), (True, None)]
    assert fac.post(f"/decisions/{did}/points/999999", {"added": True})[0] == 404
    # The final text; after it, the round is over.
    assert cast.api["cato"].put(f"/decisions/{did}/final", {"final_text": "x"})[0] == 403
    st, _, body = fac.put(f"/decisions/{did}/final", {"final_text": "Vier bankjes, één in de *schaduw*, en een prullenbak."})
    assert st == 200, body
    assert "<em>schaduw</em>" in body["final_html"] and body["final_at"]
    st, _, body = cast.api["bram"].post(f"/decisions/{did}/points", {"body": "nog iets"})
    assert st == 409, body
    assert fac.post(f"/decisions/{did}/points/{p1}", {"added": False, "reason": "x"})[0] == 409
    # Each person's export holds their vote and what they added.
    st, _, doc = cast.api["cato"].get("/me/export")
    assert st == 200, doc
    assert [(v["decision_id"], v["choice"]) for v in doc["votes"] if v["decision_id"] == did] == [(did, "against")]
    assert [(m["body"], m["added"]) for m in doc["minority_points"] if m["decision_id"] == did] == [
        ("Eén bankje in de schaduw", True)]
    # The record, in the table's list.
    st, _, page = cast.api["client"].get(f"/tables/{tid}/decisions")
    assert st == 200 and [x["id"] for x in page["items"]] == [did], page
    assert page["items"][0]["final_text"].startswith("Vier bankjes")


def test_the_collective_wisdom_path(cast):
    fac = cast.api["fac"]
    tid = cast.table()
    did = cast.decision(tid)["id"]
    st, _, body = fac.post(f"/decisions/{did}/collective", {"outcome": "  "})
    assert st == 400 and set(body["error"]["fields"]) == {"outcome"}, body
    assert cast.api["anna"].post(f"/decisions/{did}/collective", {"outcome": "x"})[0] == 403
    st, _, body = fac.post(f"/decisions/{did}/collective", {"outcome": "We vonden samen: **twee** bankjes."})
    assert st == 200, body
    assert body["state"] == "closed" and body["path"] == "collective" and body["outcome"] is None
    assert "<strong>twee</strong>" in body["outcome_html"]
    assert log(cast, did)["closed"] == {"path": "collective", "outcome": ""}
    assert vote(cast, "anna", did, "for")[0] == 409
    assert fac.post(f"/decisions/{did}/close")[0] == 409
    assert fac.post(f"/decisions/{did}/points", {"body": "x", "for_room": True})[0] == 409
    st, _, body = fac.put(f"/decisions/{did}/final", {"final_text": "Twee bankjes."})
    assert st == 200 and body["final_text"] == "Twee bankjes.", body


def test_bad_input_is_a_400_naming_the_field(cast):
    fac = cast.api["fac"]
    tid = cast.table()
    st, _, body = fac.post(f"/tables/{tid}/decisions", {"title": "", "proposal": 3})
    assert st == 400 and set(body["error"]["fields"]) == {"title", "proposal"}, body
    base = {"title": "T", "proposal": "P"}
    for extra, name in (({"choices": []}, "choices"), ({"choices": [{"id": "ja"}, {"id": "nee"}]}, "choices"),
                        ({"choices": [{"id": "ja", "label": {"nl": "Ja"}}, {"id": "ja", "label": {"nl": "Nee"}}]}, "choices"),
                        ({"voters": "iedereen"}, "voters"), ({"voters": "group"}, "voters"),
                        ({"group_id": 999999}, "group_id"), ({"step": "nergens"}, "step"),
                        ({"opens_at": "morgen"}, "opens_at"), ({"closes_at": "2020-01-01T00:00:00Z"}, "closes_at"),
                        ({"closes_at": "2099-01-01T19:00:00"}, "closes_at"),   # no zone: whose evening?
                        ({"closes_at": 5}, "closes_at"), ({"secret": "ja"}, "secret"),
                        ({"results_hidden": 1}, "results_hidden")):
        st, _, body = fac.post(f"/tables/{tid}/decisions", {**base, **extra})
        assert st == 400 and set(body["error"]["fields"]) == {name}, (extra, body)
    did = cast.decision(tid)["id"]
    for choice in ("misschien", 1, None):
        st, _, body = vote(cast, "anna", did, choice)
        assert st == 400 and set(body["error"]["fields"]) == {"choice"}, body
    for counts in ({"misschien": 1}, {"for": -1}, {"for": 1.5}, {}, "drie"):
        st, _, body = fac.put(f"/decisions/{did}/room", {"counts": counts})
        assert st == 400 and set(body["error"]["fields"]) == {"counts"}, (counts, body)
    assert fac.post(f"/decisions/{did}/close")[0] == 200
    st, _, body = cast.api["cato"].post(f"/decisions/{did}/points", {"body": ""})
    assert st == 400 and set(body["error"]["fields"]) == {"body"}, body
    st, _, body = fac.post(f"/decisions/{did}/points", {"body": "zaal", "for_room": True})
    pid = body["points"][0]["id"]
    st, _, body = fac.post(f"/decisions/{did}/points/{pid}", {"added": "ja"})
    assert st == 400 and set(body["error"]["fields"]) == {"added"}, body
    st, _, body = fac.put(f"/decisions/{did}/final", {"final_text": ""})
    assert st == 400 and set(body["error"]["fields"]) == {"final_text"}, body
    assert fac.get("/decisions/999999")[0] == 404


def test_own_choices_and_a_hook_that_refuses_a_vote(cast):
    tid = cast.table()
    d = cast.decision(tid, choices=[{"id": "consent", "label": {"nl": "Instemming", "en": "Consent"}},
                                    {"id": "objection", "label": {"nl": "Bezwaar"}},
                                    {"id": "veto", "label": {"nl": "Veto", "en": "Veto"}}])
    assert d["choices"][1] == {"id": "objection", "label": {"nl": "Bezwaar", "en": "Bezwaar"}}
    st, _, body = vote(cast, "anna", d["id"], "veto")
    assert st == 409 and body["error"] == {"code": "refused", "message": "Een veto kan hier niet", "fields": {}}, body
    st, _, body = vote(cast, "anna", d["id"], "consent")
    assert st == 200 and body["counts"] == {"consent": 1}, body
    st, _, body = vote(cast, "anna", d["id"], "for")
    assert st == 400, body


def test_a_vote_past_the_closing_time_or_before_the_opening_is_refused(cast):
    tid = cast.table()
    now = datetime.datetime.now(datetime.timezone.utc)
    d = cast.decision(tid, closes_at=(now + datetime.timedelta(seconds=3)).isoformat())
    assert vote(cast, "anna", d["id"], "for")[0] == 200
    wait_for(lambda: datetime.datetime.now(datetime.timezone.utc) > now + datetime.timedelta(seconds=3.5),
             what="the closing time")
    st, _, body = vote(cast, "anna", d["id"], "against")
    assert st == 409 and body["error"]["code"] == "closed", body
    st, _, body = cast.api["anna"].get(f"/decisions/{d['id']}")
    # Closed by the scheduler at its time, or about to be (test_scheduler):
    # either way no vote is taken and the one cast stays.
    assert body["my_vote"] == "for" and not body["can_vote"], body
    later = cast.decision(tid, opens_at=(now + datetime.timedelta(hours=1)).isoformat())
    st, _, body = vote(cast, "anna", later["id"], "for")
    assert st == 409 and body["error"]["code"] == "not_open", body


def test_a_groups_decision_is_for_its_members(cast):
    fac = cast.api["fac"]
    tid = cast.table(visibility="public")
    st, _, g = fac.post(f"/tables/{tid}/groups", {"name": "Kring", "purpose": "Besluiten", "visibility": "closed"})
    assert st == 201, g
    st, _, inv = fac.post(f"/tables/{tid}/invitations", {"group_id": g["id"]})
    assert st == 201, inv
    st, _, body = cast.api["anna"].post("/invitations/accept", {"token": inv["token"]})
    assert st == 200, body
    d = cast.decision(tid, group_id=g["id"])
    assert d["voters"] == "group" and d["group_id"] == g["id"]
    assert vote(cast, "anna", d["id"], "for")[0] == 200
    # Bram is of the table, not of the closed group: the decision is not there for him.
    assert vote(cast, "bram", d["id"], "for")[0] == 404
    assert cast.api["bram"].get(f"/decisions/{d['id']}")[0] == 404
    assert cast.api["guest"].get(f"/decisions/{d['id']}")[0] == 404
    st, _, page = cast.api["bram"].get(f"/tables/{tid}/decisions")
    assert st == 200 and page["items"] == [], page
    st, _, page = cast.api["anna"].get(f"/tables/{tid}/decisions")
    assert [x["id"] for x in page["items"]] == [d["id"]], page


def test_fifty_residents_vote_while_the_facilitator_closes(cast):
    fac = cast.api["fac"]
    tid = cast.table(visibility="public")
    emails = [f"r{i}@menigte.dd.test" for i in range(CROWD)]
    with ThreadPoolExecutor(8) as ex:
        list(ex.map(lambda e: make_user(cast.pg, SLUG, e, "member", "Bewoner " + e.split("@")[0]), emails))
        tokens = list(ex.map(lambda e: token_for(cast.d, HOST, e)[0], emails))
    crowd = [Api(cast.d, HOST, token=tok) for tok in tokens]
    with ThreadPoolExecutor(8) as ex:
        assert set(ex.map(lambda a: a.post(f"/tables/{tid}/join")[0], crowd)) == {200}
    did = cast.decision(tid)["id"]
    start = threading.Barrier(CROWD + 1)
    results = [None] * CROWD

    def voter(i):
        start.wait()
        time.sleep(i * 0.04)           # spread over two seconds, the close among them
        results[i] = crowd[i].put(f"/decisions/{did}/vote", {"choice": ("for", "against", "abstain")[i % 3]})

    def closer():
        start.wait()
        time.sleep(0.5)
        return fac.post(f"/decisions/{did}/close")

    threads = [threading.Thread(target=voter, args=(i,)) for i in range(CROWD)]
    for th in threads:
        th.start()
    with ThreadPoolExecutor(1) as ex:
        closed = ex.submit(closer)
        for th in threads:
            th.join()
        st, _, final = closed.result()
    assert st == 200, final
    statuses = [r[0] for r in results]
    assert set(statuses) <= {200, 409}, statuses
    accepted = [i for i, s in enumerate(statuses) if s == 200]
    # The close fell among the votes (it went out after a quarter of them).
    assert 0 < len(accepted) < CROWD, statuses
    for i, r in enumerate(results):
        if r[0] == 409:
            assert r[2]["error"]["code"] == "closed", r
    # The closed record counts exactly the accepted votes, each once.
    want = {}
    for i in accepted:
        c = ("for", "against", "abstain")[i % 3]
        want[c] = want.get(c, 0) + 1
    assert final["counts"] == want and final["votes_cast"] == len(accepted), (final["counts"], want)
    assert sql(cast.pg, "super", "SELECT count(*) FROM votes WHERE decision_id = %s", (did,))[0][0] == len(accepted)
    # And it stays so: every later vote is refused.
    assert crowd[0].put(f"/decisions/{did}/vote", {"choice": "for"})[0] == 409
    st, _, again = cast.api["guest"].get(f"/decisions/{did}")
    assert st == 200 and again["counts"] == want and again["votes"] is None, again
    print(f"{len(accepted)} of {CROWD} votes accepted before the close")


def test_another_municipality_finds_no_decision_of_ours(cast):
    tid = cast.table(visibility="public")
    did = cast.decision(tid)["id"]
    foreign = cast.foreign
    assert cast.api["guest"].get(f"/decisions/{did}")[0] == 200
    assert foreign.get(f"/decisions/{did}")[0] == 404
    assert foreign.get(f"/tables/{tid}/decisions")[0] == 404
    assert foreign.put(f"/decisions/{did}/vote", {"choice": "for"})[0] == 404
    for path in ("close", "points"):
        assert foreign.post(f"/decisions/{did}/{path}", {"body": "x", "for_room": True})[0] == 404
    assert foreign.put(f"/decisions/{did}/room", {"counts": {"for": 1}})[0] == 404
    assert foreign.put(f"/decisions/{did}/final", {"final_text": "x"})[0] == 404
    assert foreign.post(f"/tables/{tid}/decisions", {"title": "t", "proposal": "p"})[0] == 404
    st, _, d = cast.api["guest"].get(f"/decisions/{did}")
    assert d["state"] == "open" and d["votes_cast"] == 0, d


def test_a_municipality_hides_results_until_closing_by_default(cast, pg, tmp_path_factory):
    """tenant.lua's decisions.results_hidden is the default of a new
    decision: a facilitator may still say otherwise; a wrong value is a
    problem `aantafel check` names."""
    deployed(pg, OTHER_SLUG, write_bundle(tmp_path_factory.mktemp("verborgen"), {
        "tenant.lua": "return { decisions = { results_hidden = true } }"}))
    make_user(pg, OTHER_SLUG, "fac@elders.dd.test", "facilitator", "Fenna")
    fac = Api(cast.d, OTHER, token=token_for(cast.d, OTHER, "fac@elders.dd.test")[0])

    def decision(**extra):
        st, _, t = fac.post("/tables", {"title": "Elders", "question": "Wat is ervoor nodig?", "visibility": "public"})
        assert st == 201, t
        st, _, d = fac.post(f"/tables/{t['id']}/decisions", {"title": "Een boom", "proposal": "Ja.", **extra})
        assert st == 201, d
        return d

    # The daemon hears of the new version soon, not at once.
    wait_for(lambda: decision()["results_hidden"] is True, what="the municipality's default")
    assert decision(results_hidden=False)["results_hidden"] is False
    # Our municipality says nothing: its decisions show their counts.
    assert cast.decision(cast.table())["results_hidden"] is False
    tenants = tmp_path_factory.mktemp("tenants")
    write_bundle(tenants / "fout", {"tenant.lua": 'return { decisions = { results_hidden = "ja" } }'})
    r = aantafel("check", "--tenants", str(tenants), env=pg.daemon_env(), check=False)
    assert r.returncode != 0 and "decisions.results_hidden" in (r.stdout + r.stderr), (r.stdout, r.stderr)
