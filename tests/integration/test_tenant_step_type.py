"""A municipality extends the method without touching the core: Gemeente
Voorbeeld's bundle (tenants/voorbeeld) declares a step type of its own,
the neighbourhood walk (buurtschouw: a route, a checklist, observations
with a place), with its Dutch and English names, and the workflow
"dorpshuis" that puts it between the methode plugin's intake and
conversation. `aantafel check` passes the bundle and names what a broken
copy lacks; nothing in core/ or plugins/ knows of the walk; a table on the
workflow runs through the walk through /api/v1, the walk's guard refusing
first and passing after; and a tenant's step type whose guard raises or
loops forever fails only its own request: the tenant's other requests and
the other tenant go on."""
import os
import shutil

import pytest

from bundle_util import example_bundle, write_bundle
from harness import SOURCE_DIR, aantafel
from test_signin import SMALL
from world import MethodTenant

VOORBEELD = ("tv-voorbeeld", "voorbeeld.tv.test")
KAPOT = ("tv-kapot", "kapot.tv.test")
DORPSHUIS = ["intake", "buurtschouw", "gesprek", "opbrengst", "verslag"]

# A second plugin for a copy of Voorbeeld's bundle: step types whose
# guards fail, in a workflow of their own.
BROKEN = """
plugin.step_type{ id = "fout", name = "kapot.fout", records = {},
	guard = function(tbl, step) error("de schouwlijst is kapot") end }
plugin.step_type{ id = "lus", name = "kapot.lus", records = {},
	guard = function(tbl, step) while true do end end }
plugin.workflow{ id = "kapot", name = "kapot.workflow", steps = { "fout", "lus", "buurtschouw" } }
"""
BROKEN_NL = 'return { ["kapot.fout"] = "Fout", ["kapot.lus"] = "Lus", ["kapot.workflow"] = "Kapot" }\n'
BROKEN_EN = 'return { ["kapot.fout"] = "Error", ["kapot.lus"] = "Loop", ["kapot.workflow"] = "Broken" }\n'


def copy_of_voorbeeld(root):
    shutil.copytree(example_bundle("voorbeeld"), root)
    return root


class Tenant(MethodTenant):
    def table(self, title, **extra):
        return self.open(title=title, visibility="public", question="Wat is ervoor nodig zodat het dorpshuis blijft?",
                         **extra)

    def past_intake(self, tid):
        q = self.record("fac", tid, "intake", "quote", amount=250000, status="sent")
        st, _, body = self.api["client"].patch(f"/records/{q['id']}", {"fields": {"status": "accepted"}})
        assert st == 200, body
        self.complete(tid, "intake")


@pytest.fixture(scope="module")
def world(pg, make_daemon_module, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("tenant-step")
    broken = copy_of_voorbeeld(tmp / "kapot")
    write_bundle(broken, {"plugins/kapot/init.lua": BROKEN, "plugins/kapot/translations/nl.lua": BROKEN_NL,
                          "plugins/kapot/translations/en.lua": BROKEN_EN})
    conf = (broken / "tenant.lua").read_text()
    assert "buurtschouw = { min_observations = 2 }," in conf
    (broken / "tenant.lua").write_text(conf.replace("buurtschouw = { min_observations = 2 },",
                                                    "buurtschouw = { min_observations = 2 }, kapot = {},"))
    d = make_daemon_module({"workers": "2"}, {**pg.daemon_env(), **SMALL, "AANTAFEL_LUA_TIME_LIMIT": "2s"})
    return {"voorbeeld": Tenant(d, pg, *VOORBEELD, example_bundle("voorbeeld")),
            "kapot": Tenant(d, pg, *KAPOT, str(broken))}


def test_check_passes_voorbeeld_and_names_a_missing_translation(tmp_path):
    root = tmp_path / "tenants"
    root.mkdir()
    os.symlink(example_bundle("voorbeeld"), root / "voorbeeld")
    p = aantafel("check", "--tenants", str(root), check=False)
    assert p.returncode == 0, p.stderr
    assert p.stdout.endswith(f"ok: {root}/voorbeeld\n"), p.stdout
    # The same bundle without the walk's English name is refused.
    bad = tmp_path / "bad"
    copy_of_voorbeeld(bad / "voorbeeld")
    en = bad / "voorbeeld/plugins/buurtschouw/translations/en.lua"
    en.write_text(en.read_text().replace('["buurtschouw.name"] = "Neighbourhood walk",', ""))
    p = aantafel("check", "--tenants", str(bad), check=False)
    assert p.returncode == 1, p.stdout
    assert "buurtschouw.name" in p.stderr and "en" in p.stderr, p.stderr
    assert "plugins/buurtschouw/init.lua" in p.stderr, p.stderr


def test_nothing_in_core_or_plugins_knows_of_the_walk():
    for top in ("core", "plugins"):
        for folder, _, files in os.walk(os.path.join(SOURCE_DIR, top)):
            for name in files:
                with open(os.path.join(folder, name), "rb") as f:
                    assert b"buurtschouw" not in f.read().lower(), os.path.join(folder, name)


def test_voorbeeld_offers_its_own_workflow_first(world):
    st, _, body = world["voorbeeld"].api["guest"].get("/workflows")
    assert st == 200, body
    assert body["default"] == "dorpshuis"
    wf = {w["id"]: w for w in body["items"]}
    assert set(wf) >= {"dorpshuis", "volledig", "kort"}
    assert wf["dorpshuis"]["title"] == {"nl": "Dorpshuis (met buurtschouw)",
                                         "en": "Village hall (with a neighbourhood walk)"}, wf["dorpshuis"]
    steps = wf["dorpshuis"]["steps"]
    assert [s["id"] for s in steps] == DORPSHUIS
    walk = steps[1]
    assert walk["type"] == "buurtschouw" and walk["title"] == {"nl": "Buurtschouw", "en": "Neighbourhood walk"}
    assert walk["records"]["route"]["fields"]["description"]["type"] == "markdown"
    assert walk["records"]["checklist"]["fields"]["points"]["type"] == "choices"
    assert walk["records"]["observation"]["fields"]["place"] == {"type": "text", "required": True, "max": 300}


def test_a_table_walks_the_neighbourhood(world):
    w = world["voorbeeld"]
    tid = w.table("Het dorpshuis")
    assert w.steps(tid) == {s: "active" if s == "intake" else "pending" for s in DORPSHUIS}
    w.past_intake(tid)
    assert w.steps(tid)["buurtschouw"] == "active"

    w.refused(tid, "buurtschouw", "De route van de buurtschouw is nog niet vastgelegd")
    route = w.record("fac", tid, "buurtschouw", "route", description="Van de kerk langs **de school** naar het veld.",
                     start="Kerkplein", walked_on="2026-04-11", walkers="Fien, Otto en zes bewoners")
    w.refused(tid, "buurtschouw", "Er zijn 0 waarnemingen vastgelegd; er zijn er minstens 2 nodig")
    # The walk's records are checked against their declared fields.
    st, _, body = w.api["fac"].post(f"/tables/{tid}/records", {"step": "buurtschouw", "kind": "checklist",
                                                               "fields": {"points": ["groen", "groen"]}})
    assert st == 400 and body["error"]["fields"]["points"]["code"] == "choice", body
    st, _, body = w.api["fac"].post(f"/tables/{tid}/records", {"step": "buurtschouw", "kind": "observation",
                                                               "fields": {"what": "Kapotte lamp"}})
    assert st == 400 and body["error"]["fields"]["place"]["code"] == "required", body
    w.record("fac", tid, "buurtschouw", "checklist", points=["verlichting", "groen", "spelen"])
    seen = w.record("fac", tid, "buurtschouw", "observation", place="Schoolstraat 4", seen_on="2026-04-11",
                    topic="verlichting", what="De lantaarn bij de school is stuk.",
                    photo_caption="Lantaarnpaal bij de schoolingang")
    w.refused(tid, "buurtschouw", "Er zijn 1 waarnemingen vastgelegd; er zijn er minstens 2 nodig")
    # The client reads but does not write the walk's records.
    st, _, body = w.api["client"].post(f"/tables/{tid}/records", {"step": "buurtschouw", "kind": "observation",
                                                                  "fields": {"place": "x", "what": "y"}})
    assert st == 403, body
    w.record("fac", tid, "buurtschouw", "observation", place="Sportveld", what="Het hek staat altijd open.")
    w.complete(tid, "buurtschouw")
    assert w.steps(tid)["gesprek"] == "active"
    # The route is for whoever reads the public table; the observations
    # for the people at it.
    assert w.api["guest"].get(f"/records/{route['id']}")[0] == 200
    for who, status in (("guest", 404), ("resident", 404), ("member", 200), ("client", 200)):
        assert w.api[who].get(f"/records/{seen['id']}")[0] == status, who
    st, _, h = w.api["client"].get(f"/tables/{tid}/history")
    assert st == 200 and ("buurtschouw", "completed") in [(x["step_id"], x["action"]) for x in h["items"]], h


def test_a_step_type_whose_guard_fails_fails_only_its_own_request(world):
    k, v = world["kapot"], world["voorbeeld"]
    fac = k.api["fac"]
    tid = k.table("Kapot", workflow="kapot")
    assert k.steps(tid) == {"fout": "active", "lus": "pending", "buurtschouw": "pending"}
    st, _, body = fac.post(f"/tables/{tid}/steps/fout/complete", check=False)
    assert st == 500 and body["error"]["message"], body
    assert k.steps(tid)["fout"] == "active"
    assert fac.post(f"/tables/{tid}/steps/fout/skip", {"reason": "De gids is kapot"})[0] == 200
    st, _, body = fac.post(f"/tables/{tid}/steps/lus/complete", check=False)
    assert st in (500, 503) and body["error"]["message"], body
    assert k.steps(tid)["lus"] == "active"
    # The same tenant's other requests and step types go on, and so does
    # the other tenant.
    assert fac.post(f"/tables/{tid}/steps/lus/skip", {"reason": "Loopt vast"})[0] == 200
    k.refused(tid, "buurtschouw", "De route van de buurtschouw is nog niet vastgelegd")
    other = k.table("Gewoon")
    k.past_intake(other)
    assert k.api["guest"].get(f"/tables/{other}")[0] == 200
    mine = v.table("Ernaast")
    v.past_intake(mine)
    assert v.steps(mine)["buurtschouw"] == "active"
