"""The visibility contract of workflows (sql/code/visibility.sql), in the
style of test_visibility.py: every read of a table's steps, history and
records x every viewer x a public and a closed table -> the expected
status. Record kinds are declared visible to the facilitators, the
client, the table's people or its readers; what a viewer may not read
answers 404, and a list leaves it out. Records are written by the
facilitators, and also by the client where the kind says write = "client"."""
import pytest

from api_client import Api
from bundle_util import deployed, write_bundle
from harness import aantafel, wait_for
from test_signin import SMALL
from world import make_user, token_for

HOST, SLUG = "zicht.wf.test", "wf-zicht"
VIEWERS = ("guest", "resident", "member", "client", "fac", "admin")

BUNDLE = {
    "tenant.lua": 'return { workflow = "w", plugins = { stap = {} } }',
    "plugins/stap.lua": """
plugin.step_type{ id = "s", name = "wf.s", records = {
	f = { visible = "facilitators", fields = { t = { type = "text" } } },
	c = { visible = "client", fields = { t = { type = "text" } } },
	p = { visible = "people", fields = { t = { type = "text" } } },
	r = { visible = "readers", fields = { t = { type = "text" } } },
} }
plugin.step_type{ id = "s2", name = "wf.s", records = {
	w = { visible = "client", write = "client", fields = { t = { type = "text" } } },
	x = { visible = "client", fields = { t = { type = "text" } } },
	y = { visible = "readers", write = "client", fields = { t = { type = "text" } } },
} }
plugin.workflow{ id = "w", name = "wf.w", steps = { "s", { id = "t", type = "s2" } } }
""",
    "translations/nl.lua": 'return { ["wf.s"] = "Stap", ["wf.w"] = "Werk" }',
    "translations/en.lua": 'return { ["wf.s"] = "Step", ["wf.w"] = "Work" }',
}


def expect(**by):
    """Statuses in VIEWERS order from groups of letters: G guest, R resident
    (signed in, not at the table), M member, C client, F facilitator, A admin."""
    letters = dict(zip("GRMCFA", VIEWERS))
    codes = {"ok": 200, "created": 201, "unauth": 401, "forbidden": 403, "missing": 404}
    out = {letters[ch]: codes[k] for k, who in by.items() for ch in who}
    assert set(out) == set(VIEWERS), by
    return out


READS = [
    ("steps", "/tables/{T}/steps", {"P": expect(ok="GRMCFA"), "C": expect(ok="MCFA", missing="GR")}),
    ("history", "/tables/{T}/history", {"P": expect(ok="CFA", unauth="G", forbidden="RM"),
                                        "C": expect(ok="CFA", forbidden="M", missing="GR")}),
    ("records list", "/tables/{T}/records", {"P": expect(ok="GRMCFA"), "C": expect(ok="MCFA", missing="GR")}),
    ("facilitators' record", "/records/{f}", {"P": expect(ok="FA", missing="GRMC"), "C": expect(ok="FA", missing="GRMC")}),
    ("client's record", "/records/{c}", {"P": expect(ok="CFA", missing="GRM"), "C": expect(ok="CFA", missing="GRM")}),
    ("people's record", "/records/{p}", {"P": expect(ok="MCFA", missing="GR"), "C": expect(ok="MCFA", missing="GR")}),
    ("readers' record", "/records/{r}", {"P": expect(ok="GRMCFA"), "C": expect(ok="MCFA", missing="GR")}),
    ("readers' record versions", "/records/{r}/versions", {"P": expect(ok="GRMCFA"), "C": expect(ok="MCFA", missing="GR")}),
    ("facilitators' record versions", "/records/{f}/versions", {"P": expect(ok="FA", missing="GRMC"),
                                                                 "C": expect(ok="FA", missing="GRMC")}),
    ("client's record versions", "/records/{c}/versions", {"P": expect(ok="CFA", missing="GRM"),
                                                           "C": expect(ok="CFA", missing="GRM")}),
    ("people's record versions", "/records/{p}/versions", {"P": expect(ok="MCFA", missing="GR"),
                                                           "C": expect(ok="MCFA", missing="GR")}),
    # The finished steps' records for readers (what the table page shows).
    ("readers' records of finished steps", "/tables/{T}/records?visible=readers&step_state=done",
     {"P": expect(ok="GRMCFA"), "C": expect(ok="MCFA", missing="GR")}),
    # The declared workflows are the municipality's, not a table's.
    ("workflows", "/workflows", {"P": expect(ok="GRMCFA"), "C": expect(ok="GRMCFA")}),
]

# Which kinds each viewer finds in the list.
LISTED = {"guest": "r", "resident": "r", "member": "pr", "client": "cpr", "fac": "cfpr", "admin": "cfpr"}


@pytest.fixture(scope="module")
def w(pg, make_daemon_module, tmp_path_factory):
    aantafel("tenant", "create", SLUG, "--name", "Gemeente Zicht", "--host", HOST, env=pg.daemon_env())
    deployed(pg, SLUG, write_bundle(tmp_path_factory.mktemp("zicht"), BUNDLE))
    d = make_daemon_module({"workers": "2"}, {**pg.daemon_env(), **SMALL})
    people = {"resident": ("r@zicht.test", "member", "Rik"), "member": ("m@zicht.test", "member", "Mia"),
              "client": ("c@zicht.test", "member", "Cor"), "fac": ("f@zicht.test", "facilitator", "Fem"),
              "admin": ("a@zicht.test", "admin", "Ada")}
    for email, role, name in people.values():
        make_user(pg, SLUG, email, role, name)
    wait_for(lambda: d.get("/inloggen", host=HOST)[0] == 200, what="sign-in page")
    api = {"guest": Api(d, HOST)}
    ids = {}
    for who, (email, _, _) in people.items():
        api[who] = Api(d, HOST, token=token_for(d, HOST, email)[0])
        ids[who] = api[who].get("/me")[2]["id"]
    fac = api["fac"]
    places = {}
    for t, visibility in (("P", "public"), ("C", "closed")):
        st, _, x = fac.post("/tables", {"title": "Tafel " + t, "question": "Wat?", "visibility": visibility})
        assert st == 201, x
        for who, role in (("member", "member"), ("client", "client")):
            assert fac.put(f"/tables/{x['id']}/people/{ids[who]}", {"role": role})[0] == 200
        rec = {}
        for kind in "fcpr":
            st, _, r = fac.post(f"/tables/{x['id']}/records", {"step": "s", "kind": kind, "fields": {"t": "geheim " + kind}})
            assert st == 201, r
            rec[kind] = r["id"]
        places[t] = {"T": x["id"], **rec}
    return api, places


@pytest.mark.parametrize("what,path,by_place", READS, ids=[r[0] for r in READS])
def test_reads(w, what, path, by_place):
    api, places = w
    for place, statuses in by_place.items():
        url = path.format(**places[place])
        got = {who: api[who].get(url)[0] for who in VIEWERS}
        assert got == statuses, (what, place)


def test_lists_leave_out_what_a_viewer_may_not_read(w):
    api, places = w
    for place in ("P", "C"):
        for who, kinds in LISTED.items():
            st, _, body = api[who].get(f"/tables/{places[place]['T']}/records")
            if st == 404:
                assert place == "C" and who in ("guest", "resident")
                continue
            assert "".join(sorted(r["kind"] for r in body["items"])) == kinds, (place, who)
            # The steps' record kinds are those the viewer reads, too.
            st, _, s = api[who].get(f"/tables/{places[place]['T']}/steps")
            assert "".join(sorted(s["steps"][0]["records"])) == kinds, (place, who)


def test_only_facilitators_write_records_and_steps(w):
    api, places = w
    for place, writes in (("P", expect(created="FA", unauth="G", forbidden="RMC")),
                          ("C", expect(created="FA", forbidden="MC", missing="GR"))):
        t = places[place]["T"]
        got = {who: api[who].post(f"/tables/{t}/records", {"step": "s", "kind": "r", "fields": {"t": who}})[0]
               for who in VIEWERS}
        assert got == writes, place
        for rid in (places[place]["r"],):
            got = {who: api[who].patch(f"/records/{rid}", {"fields": {"t": "x"}})[0] for who in VIEWERS}
            assert got == {**writes, "fac": 200, "admin": 200}, place


def test_the_client_writes_the_kinds_declared_for_the_client(w):
    api, places = w
    fac = api["fac"]
    client_ok = {"P": expect(created="CFA", unauth="G", forbidden="RM"),
                 "C": expect(created="CFA", forbidden="M", missing="GR")}
    fac_only = {"P": expect(created="FA", unauth="G", forbidden="RMC"),
                "C": expect(created="FA", forbidden="MC", missing="GR")}
    for place in ("P", "C"):
        t = places[place]["T"]
        for kind, writes in (("w", client_ok[place]), ("y", client_ok[place]), ("x", fac_only[place])):
            got = {who: api[who].post(f"/tables/{t}/records", {"step": "t", "kind": kind, "fields": {"t": who}})[0]
                   for who in VIEWERS}
            assert got == writes, (place, kind)
        # A kind or step that does not exist is refused to the client
        # like one the client may not write: nothing about it is told.
        for step, kind in (("t", "nope"), ("nope", "w"), ("s", "c")):
            st, _, body = api["client"].post(f"/tables/{t}/records", {"step": step, "kind": kind, "fields": {}})
            assert st == 403 and body["error"]["code"] == "forbidden", (place, step, kind, body)
        ids = {}
        for kind in "wxy":
            st, _, r = fac.post(f"/tables/{t}/records", {"step": "t", "kind": kind, "fields": {"t": "f"}})
            assert st == 201, r
            ids[kind] = r["id"]
        # Changes: the client's own kinds (w read by the client, y by the
        # table's readers) and one only the facilitators write (x).
        got = {who: api[who].patch(f"/records/{ids['w']}", {"fields": {"t": who}})[0] for who in VIEWERS}
        assert got == expect(ok="CFA", missing="GRM"), (place, "w")
        got = {who: api[who].patch(f"/records/{ids['y']}", {"fields": {"t": who}})[0] for who in VIEWERS}
        assert got == (expect(ok="CFA", unauth="G", forbidden="RM") if place == "P"
                       else expect(ok="CFA", forbidden="M", missing="GR")), (place, "y")
        got = {who: api[who].patch(f"/records/{ids['x']}", {"fields": {"t": who}})[0] for who in VIEWERS}
        assert got == expect(ok="FA", forbidden="C", missing="GRM"), (place, "x")
        # Every version keeps who saved it and when, the client's too.
        st, _, v = fac.get(f"/records/{ids['w']}/versions")
        assert st == 200, v
        assert [i["saved_by"]["name"] for i in v["items"]] == ["Ada", "Fem", "Cor", "Fem"], v
        assert all(i["saved_at"] for i in v["items"])


def test_search_finds_records_only_where_the_viewer_reads_them(w):
    """GET /search finds records by their text fields, each where the
    viewer may read its kind (the same rule as /records/{id}): the
    client-only record is found by the client, not by a member or a guest."""
    api, places = w
    place_of = {places[p]["T"]: p for p in ("P", "C")}
    ids = {}
    for place in ("P", "C"):
        for kind in "fcpr":
            st, _, r = api["fac"].post(f"/tables/{places[place]['T']}/records",
                                       {"step": "s", "kind": kind, "fields": {"t": "Het verslag van de wijkschouw"}})
            assert st == 201, r
            ids[place + kind] = r["id"]
    both = lambda kinds: {p + k for p in "PC" for k in kinds}   # noqa: E731
    found = {"guest": {"Pr"}, "resident": {"Pr"}, "member": both("pr"), "client": both("cpr"),
             "fac": both("fcpr"), "admin": both("fcpr")}
    for who in VIEWERS:
        st, _, body = api[who].get("/search?q=wijkschouw")
        assert st == 200, body
        assert {place_of[r["table_id"]] + r["kind"] for r in body["records"]} == found[who], (who, body)
        for r in body["records"]:
            assert r["id"] == ids[place_of[r["table_id"]] + r["kind"]], r
            assert r["step_id"] == "s" and r["step_title"] == {"nl": "Stap", "en": "Step"}, r
            assert r["table_title"] == "Tafel " + place_of[r["table_id"]] and "«wijkschouw»" in r["snippet"], r
    # A word only the client's record holds: found by the client, the
    # facilitator and an admin; not by a member, a resident or a guest.
    for place in ("P", "C"):
        st, _, r = api["fac"].patch(f"/records/{ids[place + 'c']}", {"fields": {"t": "De opdrachtgeversnotitie"}})
        assert st == 200, r
    for who in VIEWERS:
        st, _, body = api[who].get("/search?q=opdrachtgeversnotitie")
        assert st == 200, body
        want = {"Pc", "Cc"} if who in ("client", "fac", "admin") else set()
        assert {place_of[r["table_id"]] + r["kind"] for r in body["records"]} == want, (who, body)
        assert body["tables"] == [] and body["contributions"] == []
    # What the record no longer says is no longer found.
    st, _, body = api["client"].get("/search?q=wijkschouw")
    assert {place_of[r["table_id"]] + r["kind"] for r in body["records"]} == both("pr")
