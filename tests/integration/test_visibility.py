"""The visibility contract (DESIGN.md, "Who uses it, and what each may
see") as a table: every endpoint x viewer x place -> the expected status.
What a viewer may not read answers 404, never 403, and no id of a closed
place or of another municipality leaks through a list, a search or an
error."""
import pytest

from api_client import Api
from world import HOST, VIEWERS, World

G, M, K, F, A, X = VIEWERS  # guest, member, closed-group member, facilitator, admin, foreign


@pytest.fixture(scope="module")
def w(pg, make_daemon_module):
    from test_signin import SMALL
    d = make_daemon_module({"workers": "2"}, {**pg.daemon_env(), **SMALL})
    return World(d, pg)


def expect(**by_viewer):
    """Statuses in VIEWERS order from keyword groups, e.g. expect(ok="GMKFA")."""
    out = {}
    for status, who in by_viewer.items():
        code = {"ok": 200, "created": 201, "unauth": 401, "forbidden": 403, "missing": 404}[status]
        for letter in who:
            out[{"G": G, "M": M, "K": K, "F": F, "A": A, "X": X}[letter]] = code
    assert set(out) == set(VIEWERS), by_viewer
    return out


# (description, method, path template, place) -> expected statuses.
# Places: P/C the tables; Ppub/Pcl/Cpub/Ccl the groups; P.../C... contributions.
READS = [
    ("table", "GET", "/tables/{P}", expect(ok="GMKFA", missing="X")),
    ("table", "GET", "/tables/{C}", expect(ok="KFA", missing="GMX")),
    ("groups of table", "GET", "/tables/{P}/groups", expect(ok="GMKFA", missing="X")),
    ("groups of table", "GET", "/tables/{C}/groups", expect(ok="KFA", missing="GMX")),
    ("public group", "GET", "/groups/{Ppub}", expect(ok="GMKFA", missing="X")),
    ("closed group (name, purpose)", "GET", "/groups/{Pcl}", expect(ok="GMKFA", missing="X")),
    ("public group of closed table", "GET", "/groups/{Cpub}", expect(ok="KFA", missing="GMX")),
    ("closed group of closed table", "GET", "/groups/{Ccl}", expect(ok="KFA", missing="GMX")),
    ("table contributions", "GET", "/tables/{P}/contributions", expect(ok="GMKFA", missing="X")),
    ("table contributions", "GET", "/tables/{C}/contributions", expect(ok="KFA", missing="GMX")),
    ("public group content", "GET", "/groups/{Ppub}/contributions", expect(ok="GMKFA", missing="X")),
    ("closed group content", "GET", "/groups/{Pcl}/contributions", expect(ok="KFA", missing="GMX")),
    ("public group content in closed table", "GET", "/groups/{Cpub}/contributions", expect(ok="KFA", missing="GMX")),
    ("closed group content in closed table", "GET", "/groups/{Ccl}/contributions", expect(ok="KFA", missing="GMX")),
    ("contribution", "GET", "/contributions/{cP}", expect(ok="GMKFA", missing="X")),
    ("contribution", "GET", "/contributions/{cC}", expect(ok="KFA", missing="GMX")),
    ("contribution in public group", "GET", "/contributions/{cPpub}", expect(ok="GMKFA", missing="X")),
    ("contribution in closed group", "GET", "/contributions/{cPcl}", expect(ok="KFA", missing="GMX")),
    ("contribution in closed group of closed table", "GET", "/contributions/{cCcl}", expect(ok="KFA", missing="GMX")),
    ("people", "GET", "/tables/{P}/people", expect(ok="FA", unauth="G", forbidden="MK", missing="X")),
    ("people", "GET", "/tables/{C}/people", expect(ok="FA", forbidden="K", missing="GMX")),
    ("invitations", "GET", "/tables/{P}/invitations", expect(ok="FA", unauth="G", forbidden="MK", missing="X")),
    ("invitations", "GET", "/tables/{C}/invitations", expect(ok="FA", forbidden="K", missing="GMX")),
    ("moderation queue", "GET", "/tables/{P}/reports", expect(ok="FA", unauth="G", forbidden="MK", missing="X")),
    ("moderation queue", "GET", "/tables/{C}/reports", expect(ok="FA", forbidden="K", missing="GMX")),
    ("join requests", "GET", "/groups/{Pcl}/requests", expect(ok="FA", unauth="G", forbidden="MK", missing="X")),
    ("join requests", "GET", "/groups/{Ccl}/requests", expect(ok="FA", forbidden="K", missing="GMX")),
]

WRITES = [
    ("contribute to table", "POST", "/tables/{P}/contributions", expect(created="MKFA", unauth="G", missing="X")),
    ("contribute to table", "POST", "/tables/{C}/contributions", expect(created="KFA", missing="GMX")),
    ("contribute to public group", "POST", "/groups/{Ppub}/contributions", expect(created="MFA", unauth="G", forbidden="K", missing="X")),
    ("contribute to closed group", "POST", "/groups/{Pcl}/contributions", expect(created="KFA", missing="GMX")),
    ("contribute to closed group of closed table", "POST", "/groups/{Ccl}/contributions", expect(created="KFA", missing="GMX")),
    ("reply", "POST", "/tables/{P}/contributions?parent", expect(created="MKFA", unauth="G", missing="X")),
    ("report", "POST", "/contributions/{cPcl}/reports", expect(created="KFA", missing="GMX")),
    ("report", "POST", "/contributions/{cP}/reports", expect(created="MKFA", unauth="G", missing="X")),
]


def fill(w, template):
    ids = {"P": w.P, "C": w.C, **w.groups, **{"c" + k: v for k, v in w.contrib.items()}}
    return template.split("?")[0].format(**ids)


@pytest.mark.parametrize("what,method,path,statuses", READS, ids=[f"{m} {p}" for _, m, p, _ in READS])
def test_reads(w, what, method, path, statuses):
    for viewer in VIEWERS:
        st, _, body = w.api[viewer].call(method, fill(w, path))
        assert st == statuses[viewer], f"{what}: {viewer} got {st}, expected {statuses[viewer]}: {body}"
        if st == 404:
            assert body == {"error": {"code": "not_found", "message": "There is nothing here.", "fields": {}}}


@pytest.mark.parametrize("what,method,path,statuses", WRITES, ids=[f"{m} {p}" for _, m, p, _ in WRITES])
def test_writes(w, what, method, path, statuses):
    for viewer in VIEWERS:
        body = {"reason": "ongepast"} if path.endswith("/reports") else {"body": f"bijdrage van {viewer}"}
        if "?parent" in path:
            body["parent_id"] = w.contrib["P"]
        st, _, answer = w.api[viewer].call(method, fill(w, path), body)
        assert st == statuses[viewer], f"{what}: {viewer} got {st}, expected {statuses[viewer]}: {answer}"


def test_lists_show_only_what_each_may_read(w):
    def titles(viewer, path="/tables"):
        return {t["id"] for t in w.api[viewer].pages(path)}
    assert w.C not in titles("guest") and w.P in titles("guest")
    assert w.C not in titles("member") and w.C in titles("cgm") and w.C in titles("admin")
    assert titles("foreign").isdisjoint({w.P, w.C})
    assert {t["id"] for t in w.api["cgm"].pages("/tables?filter=mine")} == {w.P, w.C}
    # A closed group's name shows; its content does not.
    groups = {g["id"]: g for g in w.api["guest"].get(f"/tables/{w.P}/groups")[2]["items"]}
    assert groups[w.groups["Pcl"]]["can_read"] is False and groups[w.groups["Ppub"]]["can_read"] is True


def test_search_finds_only_what_each_may_read(w):
    def found(viewer, word):
        st, _, body = w.api[viewer].get(f"/search?q={word}")
        assert st == 200, body
        return {c["id"] for c in body["contributions"]}
    assert found("guest", "geheimwoordPpub") == {w.contrib["Ppub"]}
    assert found("guest", "geheimwoordPcl") == set()
    assert found("member", "geheimwoordPcl") == set()
    assert found("member", "geheimwoordCpub") == set()
    assert found("cgm", "geheimwoordPcl") == {w.contrib["Pcl"]}
    assert found("cgm", "geheimwoordCcl") == {w.contrib["Ccl"]}
    assert found("fac", "geheimwoordCcl") == {w.contrib["Ccl"]}
    assert found("foreign", "geheimwoordPpub") == set()
    st, _, body = w.api["guest"].get("/search?q=mantelzorgers")
    assert body["tables"] == []                                # the closed table's question
    st, _, body = w.api["cgm"].get("/search?q=mantelzorgers")
    assert [t["id"] for t in body["tables"]] == [w.C]


def test_another_municipalitys_token_is_worthless_here(w):
    foreign_here = Api(w.d, HOST, token=w.foreign_token)
    for path in (f"/tables/{w.P}", "/tables", "/me"):
        st, _, body = foreign_here.get(path)
        assert st == 401 and body["error"]["code"] == "invalid_token"


def test_ids_do_not_leak_through_errors(w):
    """A closed table's id gives the same answer as an id that never existed."""
    never = 10 ** 12
    for viewer in ("guest", "member", "foreign"):
        a = w.api[viewer]
        for path in ("/tables/{}", "/tables/{}/groups", "/tables/{}/contributions"):
            st1, _, b1 = a.get(path.format(w.C))
            st2, _, b2 = a.get(path.format(never))
            assert (st1, b1) == (st2, b2) == (404, b1)
        st1, _, b1 = a.post(f"/tables/{w.C}/join")
        st2, _, b2 = a.post(f"/tables/{never}/join")
        assert (st1, b1) == (st2, b2)


def test_a_closed_groups_size_is_for_those_inside(w):
    """Name and purpose show to whoever reads the table; the number of
    members is part of what is closed."""
    gid = w.groups["Pcl"]
    for viewer in ("guest", "member"):
        st, _, g = w.api[viewer].get(f"/groups/{gid}")
        assert st == 200 and g["name"] and g["members"] is None, viewer
        listed = {x["id"]: x for x in w.api[viewer].get(f"/tables/{w.P}/groups")[2]["items"]}
        assert listed[gid]["members"] is None
    # cgm is its one member (world.py); member is the public group's one.
    for viewer in ("cgm", "fac", "admin"):
        assert w.api[viewer].get(f"/groups/{gid}")[2]["members"] == 1, viewer
    assert w.api["guest"].get(f"/groups/{w.groups['Ppub']}")[2]["members"] == 1
