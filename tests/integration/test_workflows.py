"""The workflow engine through /api/v1: a municipality's bundle declares
two step types (one with a guard that reads the step's records) and a
workflow; a table goes from its first step to its last, the guard
refusing first and passing after; steps are skipped and reopened with
reasons; records are checked against their declared fields and keep
their versions; a redeploy changes the workflow while a table runs on the
old definition, and the table moves; a guard that raises or loops fails
only its own request."""
import json

import pytest

from api_client import Api
from bundle_util import cursor, deployed, write_bundle
from harness import wait_for
from test_signin import SMALL
from world import make_user, token_for

HOST = "stappen.wf.test"
SLUG = "wf-stappen"

TENANT = """return {
	workflow = "proef",
	plugins = { stappen = {} },
}
"""

STEPS = """
plugin.step_type{
	id = "intake", name = "wf.intake",
	records = {
		quote = { visible = "client", fields = {
			amount = { type = "cents", required = true },
			status = { type = "choice", choices = { "draft", "sent", "accepted", "declined" } },
			sent_on = { type = "date" },
		} },
		player = { visible = "readers", fields = {
			name = { type = "text", required = true, max = 100 },
			seldom_heard = { type = "bool" },
			themes = { type = "choices", choices = { "wonen", "zorg", "groen" } },
			contact = { type = "person" },
		} },
	},
	guard = function(tbl, step)
		local status, page = plugin.api.get("/tables/" .. tbl.id .. "/records", { step = step.id, kind = "quote" })
		for _, r in ipairs(page.items or {}) do
			if r.fields.status == "accepted" then return nil end
		end
		return false, "De offerte is nog niet geaccepteerd"
	end,
	on_enter = function(ev)
		plugin.store.put("entered/" .. ev.table_id .. "/" .. ev.step.id, { by = ev.by })
	end,
	on_complete = function(ev)
		plugin.store.put("completed/" .. ev.table_id .. "/" .. ev.step.id, { by = ev.by })
	end,
}

plugin.step_type{
	id = "gesprek", name = "wf.gesprek",
	records = {
		note = { visible = "people", fields = { body = { type = "markdown", required = true },
			about = { type = "ref" }, at = { type = "datetime" }, count = { type = "int" } } },
		secret = { visible = "facilitators", fields = { body = { type = "text" } } },
	},
	guard = function(tbl, step)
		if tbl.title == "Boem" then error("de gids is kapot") end
		if tbl.title == "Lus" then while true do end end
	end,
	on_enter = function(ev)
		plugin.store.put("entered/" .. ev.table_id .. "/" .. ev.step.id, { by = ev.by })
	end,
}

plugin.workflow{ id = "proef", name = "wf.proef", steps = { "intake", "gesprek" } }
%s

plugin.hook("record.before_save", function(r)
	if type(r.fields) == "table" and r.fields.name == "Verboden" then
		return false, "Deze naam mag niet"
	end
end)

plugin.route("GET", "/proef/log/:id", function(req, params)
	local out = {}
	for _, row in ipairs(plugin.store.list("", { limit = 100 })) do
		if row.key:match("/" .. params.id .. "/") then out[#out + 1] = row.key end
	end
	table.sort(out)
	return { json = out }
end)
"""

NL = """return { ["wf.intake"] = "Intake", ["wf.gesprek"] = "Gesprek", ["wf.proef"] = "Proef",
	["wf.evaluatie"] = "Evaluatie", ["wf.kort"] = "Kort" }"""
EN = """return { ["wf.intake"] = "Intake", ["wf.gesprek"] = "Conversation", ["wf.proef"] = "Trial",
	["wf.evaluatie"] = "Evaluation", ["wf.kort"] = "Short" }"""

EVALUATIE = """
plugin.step_type{ id = "evaluatie", name = "wf.evaluatie" }
"""


def bundle(root, extra=""):
    return write_bundle(root, {"tenant.lua": TENANT, "plugins/stappen.lua": STEPS % extra,
                               "translations/nl.lua": NL, "translations/en.lua": EN})


class Cast:
    """The facilitator who opens the tables, the client, a member at the
    table, a resident who is not, and a guest."""

    def __init__(self, d, pg, tmp):
        self.d, self.pg = d, pg
        deployed(pg, SLUG, bundle(tmp / "v1"))
        people = {"fac": ("fac@wf.test", "facilitator", "Fien"), "client": ("client@wf.test", "member", "Otto Opdracht"),
                  "member": ("lid@wf.test", "member", "Lies"), "resident": ("bewoner@wf.test", "member", "Bert")}
        for email, role, name in people.values():
            make_user(pg, SLUG, email, role, name)
        wait_for(lambda: d.get("/inloggen", host=HOST)[0] == 200, what="sign-in page")
        self.api = {"guest": Api(d, HOST)}
        self.ids = {}
        for who, (email, _, _) in people.items():
            tok, _ = token_for(d, HOST, email)
            self.api[who] = Api(d, HOST, token=tok)
            self.ids[who] = self.api[who].get("/me")[2]["id"]

    def table(self, title="Buurthuis", visibility="closed", **extra):
        fac = self.api["fac"]
        st, _, t = fac.post("/tables", {"title": title, "question": "Wat is ervoor nodig zodat?",
                                        "visibility": visibility, **extra})
        assert st == 201, t
        for who, role in (("client", "client"), ("member", "member")):
            st, _, body = fac.put(f"/tables/{t['id']}/people/{self.ids[who]}", {"role": role})
            assert st == 200, body
        return t["id"]


@pytest.fixture(scope="module")
def cast(pg, make_daemon_module, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("wf")
    with sql_owner(pg) as cur:
        cur.execute("SELECT 1 FROM platform.tenants WHERE slug = %s", (SLUG,))
        exists = cur.fetchone()
    if not exists:
        from harness import aantafel
        aantafel("tenant", "create", SLUG, "--name", "Gemeente Stappen", "--host", HOST, env=pg.daemon_env())
    d = make_daemon_module({"workers": "2"}, {**pg.daemon_env(), **SMALL, "AANTAFEL_LUA_TIME_LIMIT": "2s"})
    c = Cast(d, pg, tmp)
    c.tmp = tmp
    return c


def sql_owner(pg):
    return cursor(pg, "owner")


def steps(api, tid):
    st, _, body = api.get(f"/tables/{tid}/steps")
    assert st == 200, body
    return {s["id"]: s["state"] for s in body["steps"]}


def log(cast, tid):
    st, _, body = cast.d.get(f"/proef/log/{tid}", host=HOST)
    assert st == 200, body
    return json.loads(body)


def test_workflows_are_listed_as_declared(cast):
    st, _, body = cast.api["guest"].get("/workflows")
    assert st == 200, body
    assert body["default"] == "proef"
    [wf] = body["items"]
    assert [s["id"] for s in wf["steps"]] == ["intake", "gesprek"]
    assert wf["title"] == {"nl": "Proef", "en": "Trial"}
    assert wf["steps"][0]["records"]["quote"]["fields"]["amount"] == {"type": "cents", "required": True}


def test_a_table_opens_on_the_default_workflow_with_its_first_step_active(cast):
    tid = cast.table()
    assert steps(cast.api["fac"], tid) == {"intake": "active", "gesprek": "pending"}
    assert log(cast, tid) == [f"entered/{tid}/intake"]
    st, _, body = cast.api["fac"].post("/tables", {"title": "X", "question": "Wat?", "visibility": "public",
                                                   "workflow": "bestaat_niet"})
    assert st == 422 and body["error"]["fields"]["workflow"]["code"] == "choice", body


def test_a_table_from_first_step_to_last_with_the_guard(cast):
    fac = cast.api["fac"]
    tid = cast.table()
    # The guard refuses: no accepted quote yet.
    st, _, body = fac.post(f"/tables/{tid}/steps/intake/complete")
    assert st == 409, body
    assert body["error"] == {"code": "refused", "message": "De offerte is nog niet geaccepteerd", "fields": {}}
    assert steps(fac, tid)["intake"] == "active"
    st, _, q = fac.post(f"/tables/{tid}/records", {"step": "intake", "kind": "quote",
                                                    "fields": {"amount": 125000, "status": "sent"}})
    assert st == 201, q
    assert fac.post(f"/tables/{tid}/steps/intake/complete")[0] == 409
    # Accepted: the guard lets it pass; the next step is entered.
    st, _, q2 = fac.patch(f"/records/{q['id']}", {"fields": {"status": "accepted"}, "version": 1})
    assert st == 200 and q2["version"] == 2 and q2["fields"] == {"amount": 125000, "status": "accepted"}, q2
    st, _, body = fac.post(f"/tables/{tid}/steps/intake/complete")
    assert st == 200, body
    assert {s["id"]: s["state"] for s in body["steps"]} == {"intake": "done", "gesprek": "active"}
    assert log(cast, tid) == [f"completed/{tid}/intake", f"entered/{tid}/gesprek", f"entered/{tid}/intake"]
    # A done step cannot complete again; the last step completes.
    st, _, body = fac.post(f"/tables/{tid}/steps/intake/complete")
    assert st == 409 and body["error"]["code"] == "not_active", body
    st, _, body = fac.post(f"/tables/{tid}/steps/gesprek/complete")
    assert st == 200, body
    assert steps(fac, tid) == {"intake": "done", "gesprek": "done"}
    # The history says who did what, newest first.
    st, _, h = fac.get(f"/tables/{tid}/history")
    assert st == 200, h
    assert [(x["step_id"], x["action"]) for x in h["items"]] == [
        ("gesprek", "completed"), ("gesprek", "entered"), ("intake", "completed"), ("intake", "entered"), (None, "started")]
    assert h["items"][0]["by"] == {"id": cast.ids["fac"], "name": "Fien"}
    # Versions are kept.
    st, _, v = fac.get(f"/records/{q['id']}/versions")
    assert st == 200 and [x["fields"]["status"] for x in v["items"]] == ["accepted", "sent"], v
    # The facilitator's export holds the versions they saved and their step changes.
    st, _, doc = fac.get("/me/export")
    assert st == 200, doc
    [mine] = [r for r in doc["records"] if r["id"] == q["id"]]
    assert [x["fields"].get("status") for x in mine["versions"]] == ["sent", "accepted"]
    assert {(c["step_id"], c["action"]) for c in doc["step_changes"] if c["table_id"] == tid} >= {
        ("intake", "completed"), ("gesprek", "completed")}


def test_only_facilitators_change_steps(cast):
    tid = cast.table()
    for who, status in (("client", 403), ("member", 403), ("resident", 404), ("guest", 404)):
        st, _, body = cast.api[who].post(f"/tables/{tid}/steps/intake/skip", {"reason": "waarom niet"})
        assert st == status, (who, body)
    assert cast.api["fac"].post(f"/tables/{tid}/steps/nergens/skip", {"reason": "x"})[0] == 404
    # The guard would refuse (no accepted quote), but only a facilitator hears its reason.
    for who, status in (("client", 403), ("member", 403), ("resident", 404), ("guest", 404), ("fac", 409)):
        st, _, body = cast.api[who].post(f"/tables/{tid}/steps/intake/complete")
        assert st == status, (who, body)


def test_skip_and_reopen_need_a_reason(cast):
    fac = cast.api["fac"]
    tid = cast.table()
    for action in ("skip", "reopen"):
        st, _, body = fac.post(f"/tables/{tid}/steps/intake/{action}", {"reason": "  "})
        assert st == 422 and body["error"]["fields"]["reason"]["code"] == "required", body
    st, _, body = fac.post(f"/tables/{tid}/steps/intake/skip", {"reason": "De opdrachtgever had al een offerte"})
    assert st == 200, body
    assert steps(fac, tid) == {"intake": "skipped", "gesprek": "active"}
    st, _, body = fac.post(f"/tables/{tid}/steps/gesprek/reopen", {"reason": "x"})
    assert st == 409 and body["error"]["code"] == "not_closed", body
    st, _, body = fac.post(f"/tables/{tid}/steps/intake/reopen", {"reason": "Toch een intake nodig"})
    assert st == 200, body
    assert steps(fac, tid) == {"intake": "active", "gesprek": "pending"}
    st, _, h = cast.api["client"].get(f"/tables/{tid}/history")
    assert st == 200
    reasons = [(x["step_id"], x["action"], x["reason"]) for x in h["items"]][:4]
    assert reasons == [("intake", "reopened", "Toch een intake nodig"),
                       ("gesprek", "reopened", "Step intake reopened"),
                       ("gesprek", "entered", None),
                       ("intake", "skipped", "De opdrachtgever had al een offerte")], reasons


def test_records_are_checked_against_their_declaration(cast):
    fac = cast.api["fac"]
    tid = cast.table()

    def bad(fields, kind="player", step="intake"):
        st, _, body = fac.post(f"/tables/{tid}/records", {"step": step, "kind": kind, "fields": fields})
        assert st == 400, body
        return {k: v["code"] for k, v in body["error"]["fields"].items()}

    assert bad({}) == {"name": "required"}
    assert bad({"name": "x" * 101}) == {"name": "too_long"}
    assert bad({"name": "A", "seldom_heard": "ja"}) == {"seldom_heard": "type"}
    assert bad({"name": "A", "themes": ["wonen", "wonen"]}) == {"themes": "choice"}
    assert bad({"name": "A", "themes": ["verkeer"]}) == {"themes": "choice"}
    assert bad({"name": "A", "contact": cast.ids["resident"]}) == {"contact": "person"}
    assert bad({"name": "A", "colour": "rood"}) == {"colour": "unknown"}
    assert bad({"amount": 12.5}, kind="quote") == {"amount": "type"}
    assert bad({"amount": 1, "status": "misschien"}, kind="quote") == {"status": "choice"}
    assert bad({"amount": 1, "sent_on": "2026-02-30"}, kind="quote") == {"sent_on": "type"}
    assert bad({"body": "x", "at": "gisteren"}, kind="note", step="gesprek") == {"at": "type"}
    assert bad({"body": "x", "about": 999999}, kind="note", step="gesprek") == {"about": "ref"}
    assert bad({"x": 1}, kind="nope") == {"kind": "choice"}
    assert bad({"x": 1}, step="nope") == {"step": "choice"}
    st, _, p = fac.post(f"/tables/{tid}/records", {"step": "intake", "kind": "player", "fields": {
        "name": "Buurtvereniging", "seldom_heard": True, "themes": ["zorg", "groen"], "contact": cast.ids["member"]}})
    assert st == 201, p
    st, _, n = fac.post(f"/tables/{tid}/records", {"step": "gesprek", "kind": "note", "fields": {
        "body": "*Goed* gesprek", "about": p["id"], "at": "2026-03-01T19:30:00+01:00", "count": 12}})
    assert st == 201, n
    # A plugin's guard on every save refuses with its reason; nothing is kept.
    st, _, body = fac.post(f"/tables/{tid}/records", {"step": "intake", "kind": "player", "fields": {"name": "Verboden"}})
    assert st == 422 and body["error"]["message"] == "Deze naam mag niet", body
    assert len(fac.get(f"/tables/{tid}/records?kind=player")[2]["items"]) == 1
    # A bad change keeps the record as it was; a stale version is a conflict.
    st, _, body = fac.patch(f"/records/{p['id']}", {"fields": {}, "remove": ["name"]})
    assert st == 400 and body["error"]["fields"]["name"]["code"] == "required", body
    st, _, body = fac.patch(f"/records/{p['id']}", {"fields": {"name": "B"}, "version": 7})
    assert st == 409, body
    st, _, body = fac.get(f"/records/{p['id']}")
    assert body["version"] == 1 and body["fields"]["name"] == "Buurtvereniging"


def test_a_redeploy_leaves_running_tables_on_their_definition_until_moved(cast):
    fac = cast.api["fac"]
    old, quiet = cast.table(), cast.table("Stil")
    st, _, q = fac.post(f"/tables/{old}/records", {"step": "intake", "kind": "quote", "fields": {"amount": 5}})
    assert st == 201
    # Version 2: the workflow loses intake and gains evaluatie.
    v2 = write_bundle(cast.tmp / "v2", {"tenant.lua": TENANT, "translations/nl.lua": NL, "translations/en.lua": EN,
                                        "plugins/stappen.lua": (STEPS % EVALUATIE).replace(
                                            'steps = { "intake", "gesprek" }', 'steps = { "gesprek", "evaluatie" }')})
    deployed(cast.pg, SLUG, v2)

    def new_definition():
        st, _, body = cast.api["guest"].get("/workflows")
        return [s["id"] for s in body["items"][0]["steps"]] == ["gesprek", "evaluatie"]
    wait_for(new_definition, what="the new definition")
    new = cast.table("Nieuw")
    assert steps(fac, new) == {"gesprek": "active", "evaluatie": "pending"}
    # The old table still runs on its snapshot, guard and all.
    assert steps(fac, old) == {"intake": "active", "gesprek": "pending"}
    assert fac.post(f"/tables/{old}/steps/intake/complete")[0] == 409
    # Moving would drop intake, which holds a record: refused, nothing moves.
    st, _, body = fac.post(f"/tables/{old}/workflow")
    assert st == 409 and body["error"]["code"] == "step_has_data" and "intake" in body["error"]["message"], body
    assert steps(fac, old) == {"intake": "active", "gesprek": "pending"}
    # A table whose dropped step holds nothing moves; steps are matched by id.
    st, _, body = fac.post(f"/tables/{quiet}/workflow")
    assert st == 200, body
    assert [(s["id"], s["state"]) for s in body["steps"]] == [("gesprek", "active"), ("evaluatie", "pending")]
    assert cast.api["member"].post(f"/tables/{old}/workflow")[0] == 403
    st, _, h = fac.get(f"/tables/{quiet}/history")
    assert [x["action"] for x in h["items"]][:2] == ["entered", "moved"]


def test_a_guard_that_raises_or_loops_fails_only_its_own_request(cast):
    fac = cast.api["fac"]
    boom, loop, fine = cast.table("Boem"), cast.table("Lus"), cast.table("Goed")
    for tid in (boom, loop, fine):
        if steps(fac, tid).get("intake") == "active":      # the definition before the redeploy above
            assert fac.post(f"/tables/{tid}/steps/intake/skip", {"reason": "meteen door"})[0] == 200
    st, _, body = fac.post(f"/tables/{boom}/steps/gesprek/complete", check=False)
    assert st == 500, body
    st, _, body = fac.post(f"/tables/{loop}/steps/gesprek/complete", check=False)
    assert st in (500, 503), body
    # Nothing of theirs was written; the others go on.
    assert steps(fac, boom)["gesprek"] == "active"
    assert steps(fac, loop)["gesprek"] == "active"
    st, _, body = fac.post(f"/tables/{fine}/steps/gesprek/complete")
    assert st == 200, body


def test_an_erased_account_leaves_records_without_its_personal_data(cast):
    from world import PASSWORD
    make_user(cast.pg, SLUG, "weg@wf.test", "facilitator", "Wim Weg")
    gone = Api(cast.d, HOST, token=token_for(cast.d, HOST, "weg@wf.test")[0])
    st, _, t = gone.post("/tables", {"title": "Weg", "question": "Wat?", "visibility": "closed", "workflow": "proef"})
    assert st == 201, t
    first = steps(gone, t["id"])
    step = [k for k, v in first.items() if v == "active"][0]
    kind = "note" if step == "gesprek" else "player"
    fields = {"body": "door Wim"} if kind == "note" else {"name": "door Wim"}
    st, _, r = gone.post(f"/tables/{t['id']}/records", {"step": step, "kind": kind, "fields": fields})
    assert st == 201, r
    st, _, body = gone.delete("/me", body={"current": PASSWORD})
    assert st == 200, body
    # The table stays with an admin; its record names a former participant.
    make_user(cast.pg, SLUG, "beheer@wf.test", "admin", "Bea Beheer")
    admin = Api(cast.d, HOST, token=token_for(cast.d, HOST, "beheer@wf.test")[0])
    st, _, rec = admin.get(f"/records/{r['id']}")
    assert st == 200, rec
    assert rec["created_by"]["name"] == "voormalig deelnemer" and rec["updated_by"]["name"] == "voormalig deelnemer"
    st, _, h = admin.get(f"/tables/{t['id']}/history")
    assert all(x["by"]["name"] == "voormalig deelnemer" for x in h["items"]), h
    assert "Wim" not in json.dumps(h) and "weg@wf.test" not in json.dumps(rec)
