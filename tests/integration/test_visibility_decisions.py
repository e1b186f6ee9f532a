"""The visibility contract of decisions (sql/code/decisions.sql), in the
style of test_visibility_workflows.py: every read of a decision x every
viewer x a public and a closed table -> the expected status; a closed
group's decision only for its members and the facilitators; who voted
what only when the decision is not secret, to the table's people, never
to guests; a secret decision names nobody's vote (nor who added a
minority point) to anyone but the voter; hidden results shown to nobody
until the decision closes; and who may open, vote and close."""
import pytest

from api_client import Api
from harness import aantafel, wait_for
from test_signin import SMALL
from world import make_user, token_for

HOST, SLUG = "zicht.dd.test", "dd-zicht"
VIEWERS = ("guest", "resident", "member", "client", "fac", "admin")
PEOPLE = ("member", "client", "fac", "admin")       # the table's people (admins stand as facilitators)


def expect(**by):
    """Statuses in VIEWERS order from groups of letters: G guest, R resident
    (signed in, not at the table), M member, C client, F facilitator, A admin."""
    letters = dict(zip("GRMCFA", VIEWERS))
    codes = {"ok": 200, "created": 201, "unauth": 401, "forbidden": 403, "missing": 404, "closed": 409}
    out = {letters[ch]: codes[k] for k, who in by.items() for ch in who}
    assert set(out) == set(VIEWERS), by
    return out


READS = [
    ("decision", "/decisions/{n}", {"P": expect(ok="GRMCFA"), "C": expect(ok="MCFA", missing="GR")}),
    ("list", "/tables/{T}/decisions", {"P": expect(ok="GRMCFA"), "C": expect(ok="MCFA", missing="GR")}),
    ("closed group's decision", "/decisions/{g}", {"P": expect(ok="FA", missing="GRMC"),
                                                    "C": expect(ok="FA", missing="GRMC")}),
]


@pytest.fixture(scope="module")
def w(pg, make_daemon_module):
    aantafel("tenant", "create", SLUG, "--name", "Gemeente Zicht", "--host", HOST, env=pg.daemon_env())
    d = make_daemon_module({"workers": "2"}, {**pg.daemon_env(), **SMALL})
    people = {"resident": ("r@zicht.dd.test", "member", "Rik"), "member": ("m@zicht.dd.test", "member", "Mia"),
              "client": ("c@zicht.dd.test", "member", "Cor"), "fac": ("f@zicht.dd.test", "facilitator", "Fem"),
              "admin": ("a@zicht.dd.test", "admin", "Ada")}
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
        st, _, g = fac.post(f"/tables/{x['id']}/groups", {"name": "Kring", "purpose": "Dicht", "visibility": "closed"})
        assert st == 201, g
        made = {}
        for key, extra in (("n", {}), ("h", {"results_hidden": True}), ("s", {"secret": True}),
                           ("g", {"group_id": g["id"]})):
            st, _, dec = fac.post(f"/tables/{x['id']}/decisions", {"title": "Besluit " + key, "proposal": "Voorstel",
                                                                    **extra})
            assert st == 201, dec
            made[key] = dec["id"]
        places[t] = {"T": x["id"], **made}
    return api, ids, places


@pytest.mark.parametrize("what,path,by_place", READS, ids=[r[0] for r in READS])
def test_reads(w, what, path, by_place):
    api, _, places = w
    for place, statuses in by_place.items():
        url = path.format(**places[place])
        got = {who: api[who].get(url)[0] for who in VIEWERS}
        assert got == statuses, (what, place)


def test_lists_leave_out_a_closed_groups_decision(w):
    api, _, places = w
    for place in ("P", "C"):
        p = places[place]
        for who in VIEWERS:
            st, _, body = api[who].get(f"/tables/{p['T']}/decisions")
            if st == 404:
                assert place == "C" and who in ("guest", "resident")
                continue
            want = {p["n"], p["h"], p["s"]} | ({p["g"]} if who in ("fac", "admin") else set())
            assert {x["id"] for x in body["items"]} == want, (place, who)


def test_who_opens_votes_and_closes(w):
    api, _, places = w
    for place, opens in (("P", expect(created="FA", unauth="G", forbidden="RMC")),
                         ("C", expect(created="FA", forbidden="MC", missing="GR"))):
        t = places[place]["T"]
        got = {who: api[who].post(f"/tables/{t}/decisions", {"title": who, "proposal": "p"})[0] for who in VIEWERS}
        assert got == opens, place
        st, _, dec = api["fac"].post(f"/tables/{t}/decisions", {"title": "stem", "proposal": "p"})
        # The table's members and client vote; its facilitators and admins lead.
        votes = {"P": expect(ok="MC", unauth="G", forbidden="RFA"),
                 "C": expect(ok="MC", forbidden="FA", missing="GR")}[place]
        got = {who: api[who].put(f"/decisions/{dec['id']}/vote", {"choice": "for"})[0] for who in VIEWERS}
        assert got == votes, place
        changes = {"P": expect(ok="F", unauth="G", forbidden="RMC", closed="A"),
                   "C": expect(ok="F", forbidden="MC", missing="GR", closed="A")}[place]
        got = {who: api[who].post(f"/decisions/{dec['id']}/close")[0] for who in VIEWERS}
        assert got == changes, place


def test_named_votes_only_to_the_tables_people_and_never_when_secret(w):
    api, ids, places = w
    for place in ("P", "C"):
        p = places[place]
        for key in ("n", "s"):
            assert api["member"].put(f"/decisions/{p[key]}/vote", {"choice": "for"})[0] == 200
            assert api["client"].put(f"/decisions/{p[key]}/vote", {"choice": "against"})[0] == 200
        for who in VIEWERS:
            st, _, n = api[who].get(f"/decisions/{p['n']}")
            if st == 404:
                continue
            assert n["counts"] == {"for": 1, "against": 1}, (place, who)
            if who in PEOPLE:
                assert sorted((v["account"]["name"], v["choice"]) for v in n["votes"]) == [
                    ("Cor", "against"), ("Mia", "for")], (place, who)
            else:
                assert n["votes"] is None, (place, who)
            st, _, s = api[who].get(f"/decisions/{p['s']}")
            assert s["votes"] is None and s["counts"] == {"for": 1, "against": 1}, (place, who)
            assert s["my_vote"] == {"member": "for", "client": "against"}.get(who), (place, who)
        # The minority round of a secret decision names nobody either.
        assert api["fac"].post(f"/decisions/{p['s']}/close")[2]["outcome"] is None       # a tie
        st, _, s = api["client"].post(f"/decisions/{p['s']}/points", {"body": "Wat ik nodig heb"})
        assert st == 201, s
        assert s["points"][0]["mine"] and s["points"][0]["by"] is None
        for who in ("member", "fac", "admin"):
            st, _, s = api[who].get(f"/decisions/{p['s']}")
            assert [(x["by"], x["mine"]) for x in s["points"]] == [(None, False)], (place, who)


def test_hidden_results_until_closing(w):
    api, _, places = w
    for place in ("P", "C"):
        p = places[place]
        assert api["member"].put(f"/decisions/{p['h']}/vote", {"choice": "against"})[0] == 200
        assert api["fac"].put(f"/decisions/{p['h']}/room", {"counts": {"for": 4}})[0] == 200
        for who in VIEWERS:
            st, _, h = api[who].get(f"/decisions/{p['h']}")
            if st == 404:
                continue
            assert (h["counts"], h["room_counts"], h["totals"], h["votes"]) == (None, None, None, None), (place, who)
            assert h["votes_cast"] == 1 and h["my_vote"] == ("against" if who == "member" else None)
        st, _, closed = api["fac"].post(f"/decisions/{p['h']}/close")
        assert st == 200 and closed["outcome"] == "for", closed
        for who in VIEWERS:
            st, _, h = api[who].get(f"/decisions/{p['h']}")
            if st == 404:
                continue
            assert h["totals"] == {"for": 4, "against": 1, "abstain": 0}, (place, who)
            assert (h["votes"] is not None) == (who in PEOPLE), (place, who)
