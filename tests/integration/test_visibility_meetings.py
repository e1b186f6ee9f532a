"""The visibility contract of meetings (sql/code/meetings.sql), in the
style of test_visibility_decisions.py: every read of a meeting (the
meeting, the table's list, its registrations, its iCalendar file and the
table's feed) x every viewer x a public and a closed table -> the expected
status; a closed group's meeting only for its members and the
facilitators; the names of the registered only to the table's
facilitators and its client; who may plan, register and cancel; and
another municipality, which finds none of it."""
import datetime

import pytest

from api_client import Api
from harness import aantafel, make_request, parse_response, wait_for
from test_signin import SMALL
from world import make_user, token_for

HOST, SLUG = "zicht.mt.test", "mt-zicht"
OTHER, OTHER_SLUG = "ander.mt.test", "mt-ander"
VIEWERS = ("guest", "resident", "member", "client", "fac", "admin", "foreign")
NAMES = ("client", "fac", "admin")      # who sees the registered's names


def expect(**by):
    """Statuses in VIEWERS order from groups of letters: G guest, R resident
    (signed in, not at the table), M member, C client, F facilitator, A
    admin, X the admin of another municipality."""
    letters = dict(zip("GRMCFAX", VIEWERS))
    codes = {"ok": 200, "created": 201, "unauth": 401, "forbidden": 403, "missing": 404, "closed": 409}
    out = {letters[ch]: codes[k] for k, who in by.items() for ch in who}
    assert set(out) == set(VIEWERS), by
    return out


READS = [
    ("meeting", "/meetings/{n}", {"P": expect(ok="GRMCFA", missing="X"), "C": expect(ok="MCFA", missing="GRX")}),
    ("list", "/tables/{T}/meetings", {"P": expect(ok="GRMCFA", missing="X"), "C": expect(ok="MCFA", missing="GRX")}),
    ("registrations", "/meetings/{n}/registrations", {"P": expect(ok="GRMCFA", missing="X"),
                                                      "C": expect(ok="MCFA", missing="GRX")}),
    ("ical", "/meetings/{n}/ical", {"P": expect(ok="GRMCFA", missing="X"), "C": expect(ok="MCFA", missing="GRX")}),
    ("feed", "/tables/{T}/meetings.ical", {"P": expect(ok="GRMCFA", missing="X"),
                                           "C": expect(ok="MCFA", missing="GRX")}),
    ("closed group's meeting", "/meetings/{g}", {"P": expect(ok="MFA", missing="GRCX"),
                                                 "C": expect(ok="MFA", missing="GRCX")}),
    ("closed group's calendar", "/meetings/{g}/ical", {"P": expect(ok="MFA", missing="GRCX"),
                                                       "C": expect(ok="MFA", missing="GRCX")}),
]


def at(**delta):
    return (datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(**delta)).isoformat(timespec="seconds")


class Viewer:
    """A viewer's reads, JSON or calendar: the status."""

    def __init__(self, d, host, api, token=None):
        self.d, self.host, self.api, self.token = d, host, api, token

    def status(self, path):
        if not path.endswith("ical"):
            return self.api.get(path)[0]
        h = {"Connection": "close"}
        if self.token:
            h["Authorization"] = "Bearer " + self.token
        st, hdr, body = parse_response(self.d.raw(make_request("GET", "/api/v1" + path, self.host, h)))
        if st == 200:
            assert hdr["content-type"].startswith("text/calendar") and body.startswith(b"BEGIN:VCALENDAR\r\n")
        return st


@pytest.fixture(scope="module")
def w(pg, make_daemon_module):
    aantafel("tenant", "create", SLUG, "--name", "Gemeente Zicht", "--host", HOST, env=pg.daemon_env())
    aantafel("tenant", "create", OTHER_SLUG, "--name", "Gemeente Ander", "--host", OTHER, env=pg.daemon_env())
    d = make_daemon_module({"workers": "2"}, {**pg.daemon_env(), **SMALL})
    people = {"resident": ("r@zicht.mt.test", "member", "Rik"), "member": ("m@zicht.mt.test", "member", "Mia"),
              "client": ("c@zicht.mt.test", "member", "Cor"), "fac": ("f@zicht.mt.test", "facilitator", "Fem"),
              "admin": ("a@zicht.mt.test", "admin", "Ada")}
    for email, role, name in people.values():
        make_user(pg, SLUG, email, role, name)
    make_user(pg, OTHER_SLUG, "x@ander.mt.test", "admin", "Xan")
    wait_for(lambda: d.get("/inloggen", host=HOST)[0] == 200, what="sign-in page")
    api, viewers, ids = {"guest": Api(d, HOST)}, {"guest": Viewer(d, HOST, Api(d, HOST))}, {}
    for who, (email, _, _) in people.items():
        tok = token_for(d, HOST, email)[0]
        api[who] = Api(d, HOST, token=tok)
        viewers[who] = Viewer(d, HOST, api[who], tok)
        ids[who] = api[who].get("/me")[2]["id"]
    tok = token_for(d, OTHER, "x@ander.mt.test")[0]
    api["foreign"] = Api(d, OTHER, token=tok)
    viewers["foreign"] = Viewer(d, OTHER, api["foreign"], tok)
    fac = api["fac"]
    places = {}
    for t, visibility in (("P", "public"), ("C", "closed")):
        st, _, x = fac.post("/tables", {"title": "Tafel " + t, "question": "Wat?", "visibility": visibility})
        assert st == 201, x
        for who, role in (("member", "member"), ("client", "client")):
            assert fac.put(f"/tables/{x['id']}/people/{ids[who]}", {"role": role})[0] == 200
        st, _, g = fac.post(f"/tables/{x['id']}/groups", {"name": "Kring", "purpose": "Dicht", "visibility": "closed"})
        assert st == 201, g
        inv = fac.post(f"/tables/{x['id']}/invitations", {"group_id": g["id"]})[2]
        assert api["member"].post("/invitations/accept", {"token": inv["token"]})[0] == 200
        made = {}
        for key, extra in (("n", {}), ("g", {"group_id": g["id"]})):
            st, _, m = fac.post(f"/tables/{x['id']}/meetings", {"title": "Bijeenkomst " + key + t,
                                                                 "starts_at": at(days=5), "ends_at": at(days=5, hours=2),
                                                                 "place": "Geheime zaal " + t + key, **extra})
            assert st == 201, m
            made[key] = m["id"]
        places[t] = {"T": x["id"], **made}
    return api, viewers, ids, places


@pytest.mark.parametrize("what,path,by_place", READS, ids=[r[0] for r in READS])
def test_reads(w, what, path, by_place):
    _, viewers, _, places = w
    for place, statuses in by_place.items():
        url = path.format(**places[place])
        got = {who: viewers[who].status(url) for who in VIEWERS}
        assert got == statuses, (what, place)


def test_lists_and_feeds_leave_out_a_closed_groups_meeting(w):
    api, viewers, _, places = w
    for place in ("P", "C"):
        p = places[place]
        for who in VIEWERS:
            st, _, body = api[who].get(f"/tables/{p['T']}/meetings")
            if st == 404:
                continue
            want = {p["n"]} | ({p["g"]} if who in ("member", "fac", "admin") else set())
            assert {x["id"] for x in body["items"]} == want, (place, who)
            h = {"Connection": "close"}
            if viewers[who].token:
                h["Authorization"] = "Bearer " + viewers[who].token
            st, _, cal = parse_response(viewers[who].d.raw(make_request("GET", f"/api/v1/tables/{p['T']}/meetings.ical",
                                                                         HOST, h)))
            assert st == 200
            assert (b"Geheime zaal " + place.encode() + b"g" in cal) == (who in ("member", "fac", "admin")), (place, who)


def test_who_plans_registers_and_cancels(w):
    api, _, _, places = w
    for place, plans in (("P", expect(created="FA", unauth="G", forbidden="RMC", missing="X")),
                         ("C", expect(created="FA", forbidden="MC", missing="GRX"))):
        t = places[place]["T"]
        body = {"title": "Plan", "starts_at": at(days=2), "ends_at": at(days=2, hours=1), "place": "Zaal"}
        got = {who: api[who].post(f"/tables/{t}/meetings", body)[0] for who in VIEWERS}
        assert got == plans, place
        st, _, m = api["fac"].post(f"/tables/{t}/meetings", body)
        # Whoever may take part registers: the table's people; on a public
        # table every signed-in resident too.
        registers = {"P": expect(ok="RMCFA", unauth="G", missing="X"),
                     "C": expect(ok="MCFA", missing="GRX")}[place]
        got = {who: api[who].put(f"/meetings/{m['id']}/registration")[0] for who in VIEWERS}
        assert got == registers, place
        # The names of the registered: the facilitators and the client only.
        for who in VIEWERS:
            st, _, regs = api[who].get(f"/meetings/{m['id']}/registrations")
            if st == 404:
                continue
            assert (regs["items"] is not None) == (who in NAMES), (place, who)
            if who in NAMES:
                assert {r["name"] for r in regs["items"]} >= {"Mia", "Cor", "Fem"}
            assert regs["registered"] == sum(1 for s in registers.values() if s == 200), (place, who)
        # A closed group's meeting: its members register, not the others.
        g = places[place]["g"]
        got = {who: api[who].put(f"/meetings/{g}/registration")[0] for who in VIEWERS}
        assert got == expect(ok="M", missing="GRCX", forbidden="FA"), place
        changes = {"P": expect(ok="F", unauth="G", forbidden="RMC", closed="A", missing="X"),
                   "C": expect(ok="F", forbidden="MC", missing="GRX", closed="A")}[place]
        got = {who: api[who].post(f"/meetings/{m['id']}/cancel")[0] for who in VIEWERS}
        assert got == changes, place
