"""Exports of a table (sql/code/table_export.sql, core/app/api_stream.c):
the facilitators' JSON document with every documented key and everything
they see (closed groups, hidden contributions), CSV per kind (quoting of
commas, quotes and line breaks; formula cells neutralised; records with a
column per declared field; decisions with their counts), and a public
table's open data for anyone (no closed group's contribution, no hidden
one, only closed decisions). Who may not: a resident 403, a closed table
404 to outsiders, another municipality 404. A table of 100,000
contributions streams complete while the daemon's memory grows far less
than the export; a client that stops reading holds no more than a
bounded queue; one that leaves midway leaves the daemon healthy and its
connections free; a database that goes away midway cuts the answer short
(no last chunk). A HEAD answers the headers and refusals of a GET
without running the export's query. Plugins cannot call the exports
through plugin.api."""
import csv
import io
import json
import os
import time

import pytest

from api_client import check_answer, openapi
from bundle_util import sql, write_bundle
from harness import make_request, wait_for
from test_signin import SMALL
from world import HOST, OTHER, MethodTenant, World

METHOD_HOST, METHOD_SLUG = "export.methode.test", "export-methode"
BIG = 100_000


@pytest.fixture(scope="module")
def d(pg, make_daemon_module):
    # A small ASan quarantine: freed memory is given back for reuse at
    # once, so that the daemon's RSS shows what it holds, not what it
    # freed a while ago.
    asan = os.environ.get("ASAN_OPTIONS", "")
    env = {**pg.daemon_env(), **SMALL, "ASAN_OPTIONS": (asan + ":" if asan else "") + "quarantine_size_mb=1"}
    return make_daemon_module({"workers": "1"}, env)


@pytest.fixture(scope="module")
def w(d, pg):
    return World(d, pg)


# A plugin that tries to read an export through plugin.api, alone and in
# a batch.
PROBE = r'''plugin.route("GET", "/probe/:id", function(req, params)
	local ok, err = pcall(plugin.api.get, "/tables/" .. params.id .. "/export")
	local bok, berr = pcall(plugin.api.batch, { { "GET", "/tables/" .. params.id .. "/open-data" } })
	return { json = { ok = ok, err = tostring(err), batch_ok = bok, batch_err = tostring(berr) } }
end)
'''


@pytest.fixture(scope="module")
def method(d, pg, tmp_path_factory):
    folder = write_bundle(tmp_path_factory.mktemp("export") / METHOD_SLUG,
                          {"tenant.lua": "return { workflow = 'volledig', plugins = { methode = {}, probe = {} } }",
                           "plugins/probe.lua": PROBE})
    return MethodTenant(d, pg, METHOD_SLUG, METHOD_HOST, folder)


class Fetched:
    def __init__(self, status, headers, body, chunks):
        self.status, self.headers, self.body, self.chunks = status, headers, body, chunks


def fetch(d, host, path, api=None, timeout=120, headers=None):
    """GET /api/v1PATH as API's caller (None: a guest), read to the end of
    the connection in one go (a large export read in pieces would keep the
    test busy copying, not the daemon): status, headers, the body with its
    chunks put together, and how many chunks there were."""
    h = {"Connection": "close", **(headers or {})}
    if api is not None and api.token:
        h["Authorization"] = "Bearer " + api.token
    with d.conn(timeout=timeout) as c:
        c.send(make_request("GET", "/api/v1" + path, host, h))
        deadline, parts = time.time() + timeout, []
        while True:
            c.sock.settimeout(max(0.1, deadline - time.time()))
            b = c.sock.recv(1 << 20)
            if not b:
                break
            parts.append(b)
    data = b"".join(parts)
    head, _, rest = data.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split(" ")[1])
    hdr = {k.strip().lower(): v.strip() for k, _, v in (line.partition(":") for line in lines[1:])}
    if hdr.get("transfer-encoding") != "chunked":
        return Fetched(status, hdr, rest[:int(hdr.get("content-length", len(rest)))], 0)
    body, i, n = [], 0, 0
    while True:
        j = rest.index(b"\r\n", i)
        size = int(rest[i:j], 16)
        if size == 0:
            assert rest[j:j + 4] == b"\r\n\r\n", "the last chunk and an empty trailer"
            break
        body.append(rest[j + 2:j + 2 + size])
        assert rest[j + 2 + size:j + 4 + size] == b"\r\n"
        i, n = j + 4 + size, n + 1
    return Fetched(status, hdr, b"".join(body), n)


def doc_of(d, host, path, api=None):
    r = fetch(d, host, path, api)
    assert r.status == 200, (r.status, r.body[:500])
    assert r.headers["content-type"] == "application/json"
    body = json.loads(r.body)
    check_answer(openapi(d, host), "GET", path, 200, body)
    return r, body


def csv_of(d, host, path, api):
    r = fetch(d, host, path, api)
    assert r.status == 200, (r.status, r.body[:500])
    assert r.headers["content-type"] == "text/csv; charset=utf-8"
    assert r.body.startswith(b"\xef\xbb\xbf")             # UTF-8 with its byte order mark, for spreadsheets
    text = r.body.decode("utf-8-sig")
    return r, text, list(csv.reader(io.StringIO(text, newline="")))


def status(d, host, path, api=None):
    r = fetch(d, host, path, api)
    if r.status != 200:
        body = json.loads(r.body)
        check_answer(openapi(d, host), "GET", path, r.status, body)
    return r.status


# ---------------------------------------------------------------- JSON


DOCUMENTED = ["format", "exported_at", "table", "people", "groups", "workflow", "steps", "history", "records",
              "decisions", "meetings", "contributions"]


def test_the_facilitator_exports_everything_of_a_closed_table(d, w):
    fac = w.api["fac"]
    st, _, c = fac.post(f"/groups/{w.groups['Ccl']}/contributions", {"body": "Verborgen later: geheimwoordverborgen"})
    assert st == 201, c
    st, _, _ = fac.post(f"/contributions/{c['id']}/hide", {"reason": "Persoonlijke gegevens"})
    assert st == 200
    r, doc = doc_of(d, HOST, f"/tables/{w.C}/export", fac)
    assert sorted(doc) == sorted(DOCUMENTED) and list(doc)[-1] == "contributions"
    assert doc["format"] == "aantafel.table-export/1"
    assert r.headers["content-disposition"] == f'attachment; filename="tafel-{w.C}.json"'
    assert r.headers["cache-control"] == "private, no-store"
    assert r.headers["transfer-encoding"] == "chunked"
    assert doc["table"]["id"] == w.C and doc["table"]["visibility"] == "closed"
    ids = {x["id"] for x in doc["contributions"]}
    # The table's own, the public group's, the closed group's, and the
    # hidden one with its text: the facilitators read all of it.
    assert {w.contrib["C"], w.contrib["Cpub"], w.contrib["Ccl"], c["id"]} <= ids
    hidden = next(x for x in doc["contributions"] if x["id"] == c["id"])
    assert hidden["hidden"] and hidden["hidden_reason"] == "Persoonlijke gegevens"
    assert hidden["body"] == "Verborgen later: geheimwoordverborgen"
    assert [x["id"] for x in doc["contributions"]] == sorted(ids)
    groups = {g["id"]: g for g in doc["groups"]}
    assert set(groups) == {w.groups["Cpub"], w.groups["Ccl"]}
    assert "Kees Kring" in [m["name"] for m in groups[w.groups["Ccl"]]["members"]]
    assert {p["name"] for p in doc["people"]} >= {"Fien Facilitator", "Kees Kring"}
    assert isinstance(doc["meetings"], list)
    # A tenant admin stands as a facilitator of every table.
    _, doc2 = doc_of(d, HOST, f"/tables/{w.C}/export", w.api["admin"])
    assert {x["id"] for x in doc2["contributions"]} == ids


def test_who_may_not_export(d, w):
    for path in ("/tables/{}/export", "/tables/{}/export/contributions.csv", "/tables/{}/export/decisions.csv"):
        P, C = path.format(w.P), path.format(w.C)
        assert status(d, HOST, P) == 401                       # a guest of a public table: sign in
        assert status(d, HOST, C) == 404                       # a closed table is not there for a guest
        assert status(d, HOST, P, w.api["member"]) == 403      # a resident of the table
        assert status(d, HOST, C, w.api["member"]) == 404      # not one of the closed table's people
        assert status(d, HOST, C, w.api["cgm"]) == 403         # one of them, not its facilitator
        assert status(d, OTHER, P, w.api["foreign"]) == 404    # another municipality's admin, on its host
        assert status(d, OTHER, C, w.api["foreign"]) == 404
        assert status(d, HOST, path.format(999999), w.api["fac"]) == 404
    # An unknown kind, and what is not a CSV file name.
    assert status(d, HOST, f"/tables/{w.P}/export/nothing.csv", w.api["fac"]) == 404
    assert fetch(d, HOST, f"/tables/{w.P}/export/contributions.json", w.api["fac"]).status == 404
    assert fetch(d, HOST, f"/tables/{w.P}/export/Contributions.csv", w.api["fac"]).status == 404


def head_of(d, host, path, api=None, timeout=60):
    """A HEAD of /api/v1PATH as API's caller (None: a guest): its response
    (whatever came after the head must be nothing)."""
    h = {"Connection": "close"}
    if api is not None and api.token:
        h["Authorization"] = "Bearer " + api.token
    with d.conn(timeout=timeout) as c:
        r = c.request("HEAD", "/api/v1" + path, host, h, timeout=timeout)
        assert c.wait_closed(timeout=timeout) == b"", "a HEAD answered with a body"
    return r


def test_a_head_answers_the_headers_without_running_the_export(d, w, big, pg):
    """HEAD of an export: the same status and headers as a GET (who may
    read it is checked as for a GET), but no body, and the export's
    query does not run: with the contributions locked by another
    transaction, a GET would wait for the lock; every HEAD is answered."""
    fac = w.api["fac"]
    lock = pg.connect("super")
    try:
        cur = lock.cursor()
        cur.execute("BEGIN")
        cur.execute("LOCK TABLE contributions IN ACCESS EXCLUSIVE MODE")
        r = head_of(d, HOST, f"/tables/{big}/export", fac)
        assert r.status == 200 and r.body == b""
        assert r.headers["content-type"] == "application/json"
        assert r.headers["content-disposition"] == f'attachment; filename="tafel-{big}.json"'
        assert r.headers["cache-control"] == "private, no-store"
        r = head_of(d, HOST, f"/tables/{big}/export/contributions.csv", fac)
        assert r.status == 200 and r.headers["content-type"] == "text/csv; charset=utf-8"
        assert r.headers["content-disposition"] == f'attachment; filename="tafel-{big}-contributions.csv"'
        r = head_of(d, HOST, f"/tables/{big}/open-data")
        assert r.status == 200 and r.headers["content-type"] == "application/json"
        assert "content-disposition" not in r.headers and r.headers["cache-control"] == "no-cache"
        # The refusals are a GET's.
        for path in ("/tables/{}/export", "/tables/{}/export/contributions.csv"):
            assert head_of(d, HOST, path.format(w.P)).status == 401
            assert head_of(d, HOST, path.format(w.C)).status == 404
            assert head_of(d, HOST, path.format(w.P), w.api["member"]).status == 403
            assert head_of(d, HOST, path.format(w.C), w.api["member"]).status == 404
            assert head_of(d, OTHER, path.format(w.C), w.api["foreign"]).status == 404
        assert head_of(d, HOST, f"/tables/{w.P}/export/nothing.csv", fac).status == 404
        assert head_of(d, HOST, f"/tables/{w.C}/open-data").status == 404
        # A kind of record the steps declare, and the other CSV files.
        for kind in ("decisions", "meetings"):
            r = head_of(d, HOST, f"/tables/{w.P}/export/{kind}.csv", fac)
            assert r.status == 200 and r.headers["content-disposition"] == \
                f'attachment; filename="tafel-{w.P}-{kind}.csv"'
        cur.execute("ROLLBACK")
    finally:
        lock.close()
    # The GET after it is whole.
    r = fetch(d, HOST, f"/tables/{w.P}/export/contributions.csv", fac)
    assert r.status == 200 and r.body.startswith(b"\xef\xbb\xbf")


def test_meetings_with_registrations_and_attendance(d, w, pg):
    fac = w.api["fac"]
    st, _, m = fac.post(f"/tables/{w.C}/meetings", {"title": "Avond, in de bieb", "starts_at": "2027-03-01T19:00:00+01:00",
                                                   "ends_at": "2027-03-01T21:00:00+01:00", "place": "Bibliotheek"})
    assert st == 201, m
    st, _, reg = w.api["cgm"].put(f"/meetings/{m['id']}/registration")
    assert st in (200, 201), reg
    _, doc = doc_of(d, HOST, f"/tables/{w.C}/export", fac)
    mine = next(x for x in doc["meetings"] if x["id"] == m["id"])
    assert mine["title"] == "Avond, in de bieb" and mine["registered"] == 1 and mine["attendance"] is None
    assert [r["name"] for r in mine["registrations"]["items"]] == ["Kees Kring"]
    _, _, rows = csv_of(d, HOST, f"/tables/{w.C}/export/meetings.csv", fac)
    got = [dict(zip(rows[0], row)) for row in rows[1:]]
    assert got[-1]["title"] == "Avond, in de bieb" and got[-1]["registered"] == "1" and got[-1]["attended"] == ""
    # Attendance, once recorded, with the walk-ins.
    sql(pg, "super", "UPDATE meeting_registrations SET attended = true WHERE meeting_id = %s", (m["id"],))
    sql(pg, "super", "UPDATE meetings SET attendance_at = now(), walk_ins = 4 WHERE id = %s", (m["id"],))
    _, _, rows = csv_of(d, HOST, f"/tables/{w.C}/export/meetings.csv", fac)
    got = [dict(zip(rows[0], row)) for row in rows[1:]]
    assert (got[-1]["attended"], got[-1]["walk_ins"]) == ("1", "4")
    _, doc = doc_of(d, HOST, f"/tables/{w.C}/export", fac)
    mine = next(x for x in doc["meetings"] if x["id"] == m["id"])
    assert mine["attendance"]["attended"] == 1 and mine["attendance"]["walk_ins"] == 4
    assert status(d, HOST, f"/tables/{w.C}/export/meetings.csv", w.api["cgm"]) == 403


# ---------------------------------------------------------------- CSV

AWKWARD = ["Bankjes, prullenbakken en licht", 'Ze zei "genoeg" en ging', "Eerste regel\nTweede regel\r\nDerde",
           "=HYPERLINK(\"http://evil.example\",\"klik\")", "+31 6 1234 5678", "-2 bomen", "@SUM(A1:A9)",
           "\tingesprongen", "Gewoon een zin met é en ü"]


def test_csv_quotes_and_neutralises_formulas(d, w):
    fac = w.api["fac"]
    st, _, t = fac.post("/tables", {"title": "Lastige tekens", "question": "Wat is ervoor nodig zodat CSV klopt?",
                                    "visibility": "public"})
    assert st == 201, t
    for body in AWKWARD:
        st, _, c = fac.post(f"/tables/{t['id']}/contributions", {"body": body})
        assert st == 201, c
    r, text, rows = csv_of(d, HOST, f"/tables/{t['id']}/export/contributions.csv", fac)
    assert r.headers["content-disposition"] == f'attachment; filename="tafel-{t["id"]}-contributions.csv"'
    assert rows[0] == ["id", "group_id", "group", "parent_id", "author", "author_kind", "created_at", "edited_at",
                       "hidden", "hidden_reason", "body"]
    assert text.endswith("\r\n") and text.split("\r\n")[0] == ",".join(rows[0])
    bodies = [row[10] for row in rows[1:]]
    expected = ["'" + b if b[0] in "=+-@\t" else b for b in AWKWARD]
    assert bodies == expected
    # The quoting on the wire, RFC 4180: quotes doubled, commas and line
    # breaks inside quotes; a neutralised cell starts with the apostrophe.
    assert '"Bankjes, prullenbakken en licht"' in text
    assert '"Ze zei ""genoeg"" en ging"' in text
    assert '"Eerste regel\nTweede regel\r\nDerde"' in text
    assert "\"'=HYPERLINK(\"\"http://evil.example\"\",\"\"klik\"\")\"" in text
    assert ",'+31 6 1234 5678\r\n" in text and ",'-2 bomen\r\n" in text and ",'@SUM(A1:A9)\r\n" in text
    for row in rows[1:]:
        assert all(not cell or cell[0] not in "=+-@\t" for cell in row), row
    assert all(row[4] == "Fien Facilitator" and row[5] == "account" and row[8] == "nee" for row in rows[1:])


def test_the_decisions_csv_has_the_counts(d, w):
    fac, member = w.api["fac"], w.api["member"]
    st, _, dd = fac.post(f"/tables/{w.P}/decisions", {"title": "Een, twee: bankjes", "proposal": "Drie bankjes",
                                                     "voters": "people"})
    assert st == 201, dd
    assert member.put(f"/decisions/{dd['id']}/vote", {"choice": "for"})[0] == 200
    assert fac.put(f"/decisions/{dd['id']}/room", {"counts": {"for": 2, "against": 3}})[0] == 200
    assert fac.post(f"/decisions/{dd['id']}/close")[0] == 200
    _, _, rows = csv_of(d, HOST, f"/tables/{w.P}/export/decisions.csv", fac)
    head = rows[0]
    assert head[:9] == ["decision_id", "group_id", "title", "state", "path", "outcome", "closed_at", "choice",
                        "choice_label"]
    mine = [dict(zip(head, row)) for row in rows[1:] if row[0] == str(dd["id"])]
    by = {m["choice"]: m for m in mine}
    assert set(by) == {"for", "against", "abstain"}
    assert (by["for"]["votes"], by["for"]["room"], by["for"]["total"]) == ("1", "2", "3")
    assert (by["against"]["votes"], by["against"]["room"], by["against"]["total"]) == ("0", "3", "3")
    assert by["for"]["title"] == "Een, twee: bankjes" and by["for"]["state"] == "closed"
    # The JSON export has the same decision with its counts.
    _, doc = doc_of(d, HOST, f"/tables/{w.P}/export", fac)
    dj = next(x for x in doc["decisions"] if x["id"] == dd["id"])
    assert dj["totals"] == {"for": 3, "against": 3, "abstain": 0}


def test_records_per_kind_with_their_declared_fields(d, method):
    m = method
    tid = m.open(title="Groen", question="Wat is ervoor nodig zodat de buurt groener wordt?", visibility="closed")
    anna = m.record("fac", tid, "intake", "player", name="Anna, de buurvrouw", organisation="=cmd|' /C calc'!A0",
                    central=True, consent=True)
    m.record("fac", tid, "intake", "player", name="Bram", role="Bewoner", seldom_heard=True)
    _, _, rows = csv_of(d, METHOD_HOST, f"/tables/{tid}/export/player.csv", m.api["fac"])
    head = rows[0]
    assert head[:5] == ["id", "step_id", "version", "created_at", "updated_at"]
    assert {"name", "organisation", "central", "consent", "seldom_heard", "role"} <= set(head[5:])
    assert head[5:] == sorted(head[5:])
    got = [dict(zip(head, row)) for row in rows[1:]]
    assert [g["name"] for g in got] == ["Anna, de buurvrouw", "Bram"]
    assert got[0]["id"] == str(anna["id"]) and got[0]["step_id"] == "intake"
    assert got[0]["organisation"] == "'=cmd|' /C calc'!A0"
    assert got[0]["central"] == "true" and got[1]["seldom_heard"] == "true" and got[1]["organisation"] == ""
    # The client reads players on the pages, but exporting is the
    # facilitators'; interviews are the facilitators' kind.
    assert status(d, METHOD_HOST, f"/tables/{tid}/export/player.csv", m.api["client"]) == 403
    assert status(d, METHOD_HOST, f"/tables/{tid}/export/interview.csv", m.api["resident"]) == 404
    r, _, rows = csv_of(d, METHOD_HOST, f"/tables/{tid}/export/interview.csv", m.api["fac"])
    assert "player" in rows[0] and len(rows) == 1          # declared, none kept yet
    _, doc = doc_of(d, METHOD_HOST, f"/tables/{tid}/export", m.api["fac"])
    assert [x["fields"]["name"] for x in doc["records"]["player"]] == ["Anna, de buurvrouw", "Bram"]
    assert [s["id"] for s in doc["steps"]][:2] == ["intake", "interviews"]
    assert doc["workflow"]["id"] == "volledig"


def test_a_plugin_cannot_call_an_export(d, method):
    tid = method.open(title="Probe", question="Wat is ervoor nodig zodat het werkt?", visibility="public")
    st, _, body = d.get(f"/probe/{tid}", host=METHOD_HOST)
    assert st == 200, body
    out = json.loads(body)
    assert out["ok"] is False and "is a download, served over HTTP only" in out["err"], out
    assert out["batch_ok"] is False and "a download, served over HTTP only" in out["batch_err"], out
    # The operation itself is there, over HTTP.
    assert status(d, METHOD_HOST, f"/tables/{tid}/open-data") == 200


# ---------------------------------------------------------------- open data


def test_open_data_of_a_public_table_is_for_everyone(d, w):
    fac = w.api["fac"]
    st, _, h = fac.post(f"/tables/{w.P}/contributions", {"body": "Dit wordt verborgen: geheimwoordweg"})
    assert st == 201
    assert fac.post(f"/contributions/{h['id']}/hide", {"reason": "Scheldwoord"})[0] == 200
    st, _, closed_group = fac.post(f"/tables/{w.P}/decisions", {"title": "Besloten besluit", "proposal": "x",
                                                                "group_id": w.groups["Pcl"]})
    assert st == 201, closed_group
    assert fac.post(f"/decisions/{closed_group['id']}/close")[0] == 200
    st, _, still_open = fac.post(f"/tables/{w.P}/decisions", {"title": "Nog open", "proposal": "y"})
    assert st == 201
    bodies = {}
    for who in ("guest", "member", "cgm", "fac", "admin"):
        r, doc = doc_of(d, HOST, f"/tables/{w.P}/open-data", w.api[who] if who != "guest" else None)
        assert doc["format"] == "aantafel.open-data/1"
        assert sorted(doc) == ["contributions", "decisions", "format", "records", "table"]
        assert "content-disposition" not in r.headers
        bodies[who] = doc
    # The same for everyone (but its time-free parts are all there is).
    assert all(b == bodies["guest"] for b in bodies.values())
    doc = bodies["guest"]
    ids = {x["id"] for x in doc["contributions"]}
    assert {w.contrib["P"], w.contrib["Ppub"]} <= ids
    assert w.contrib["Pcl"] not in ids and h["id"] not in ids
    text = json.dumps(doc)
    assert "geheimwoordPcl" not in text and "geheimwoordweg" not in text
    titles = [x["title"] for x in doc["decisions"]]
    assert "Besloten besluit" not in titles and "Nog open" not in titles
    assert all(x["state"] == "closed" and x["votes"] is None for x in doc["decisions"])
    # A closed table has no open data, for its own people neither; nor does
    # another municipality's host know the public one.
    for who in ("guest", "member", "cgm", "fac", "admin"):
        assert status(d, HOST, f"/tables/{w.C}/open-data", w.api[who] if who != "guest" else None) == 404
    assert status(d, OTHER, f"/tables/{w.P}/open-data", w.api["foreign"]) == 404
    assert status(d, OTHER, f"/tables/{w.P}/open-data") == 404


def test_the_table_page_links_its_open_data(d, w):
    st, _, page = d.get(f"/tafels/{w.P}", host=HOST)
    assert st == 200
    assert f'href="/api/v1/tables/{w.P}/open-data"'.encode() in page
    assert b"Open data" in page
    assert b"/export" not in page                          # the exports are the facilitators'
    st, _, page = d.get(f"/tafels/{w.P}", host=HOST, headers={"Accept-Language": "en"})
    assert f'href="/api/v1/tables/{w.P}/open-data"'.encode() in page and b"Open data of this table" in page
    # A closed table has no open data to link; its facilitators see the
    # exports, which work with the session's cookie.
    b = w.browser["fac"]
    st, _, page, _ = b.go("GET", f"/tafels/{w.C}")
    page = page if isinstance(page, bytes) else page.encode()
    assert st == 200 and b"open-data" not in page
    assert f'href="/api/v1/tables/{w.C}/export/contributions.csv"'.encode() in page
    r = fetch(d, HOST, f"/tables/{w.C}/export/contributions.csv",
              headers={"Cookie": "; ".join(f"{k}={v}" for k, v in b.jar.items())})
    assert r.status == 200 and r.headers["content-type"] == "text/csv; charset=utf-8"
    st, _, page, _ = w.browser["member"].go("GET", f"/tafels/{w.P}")
    page = page if isinstance(page, bytes) else page.encode()
    assert st == 200 and b"/export" not in page and b"open-data" in page


def test_records_of_done_steps_declared_for_readers_are_open_data(d, method):
    m = method
    tid = m.open(title="Open verslag", question="Wat is ervoor nodig zodat het verslag openbaar is?",
                 visibility="public")
    m.record("fac", tid, "intake", "player", name="Geheime speler", consent=True)
    _, doc = doc_of(d, METHOD_HOST, f"/tables/{tid}/open-data")
    assert doc["records"] == {}                            # players are the client's, never open
    assert "Geheime speler" not in json.dumps(doc)
    for step in ("intake", "interviews", "draaiboek", "gesprek", "opbrengst"):
        assert m.api["fac"].post(f"/tables/{tid}/steps/{step}/skip", {"reason": "Niet nodig"})[0] == 200
    m.record("fac", tid, "verslag", "report", summary="Wat we *samen* vonden.", published_on="2026-06-01")
    _, doc = doc_of(d, METHOD_HOST, f"/tables/{tid}/open-data")
    assert doc["records"] == {}                            # the report step is not done yet
    assert m.api["fac"].post(f"/tables/{tid}/steps/verslag/complete")[0] == 200
    _, doc = doc_of(d, METHOD_HOST, f"/tables/{tid}/open-data")
    assert list(doc["records"]) == ["report"] and len(doc["records"]["report"]) == 1
    report = doc["records"]["report"][0]
    assert report["fields"]["summary"] == "Wat we *samen* vonden."
    assert report["fields_html"]["summary"] == "<p>Wat we <em>samen</em> vonden.</p>\n"


# ---------------------------------------------------------------- large


def reset_peak(d):
    """Starts the daemon's peak RSS (VmHWM) afresh from its RSS now."""
    with open(f"/proc/{d.proc.pid}/clear_refs", "w") as f:
        f.write("5")


def rss_kib(d, field="VmRSS"):
    with open(f"/proc/{d.proc.pid}/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    raise AssertionError(field)


@pytest.fixture(scope="module")
def big(d, w, pg):
    """A public table of the facilitator's with BIG contributions, written
    straight into the database (as its superuser: the owner's connection
    sees no tenant's rows)."""
    st, _, t = w.api["fac"].post("/tables", {"title": "Heel veel", "question": "Wat is ervoor nodig zodat het past?",
                                             "visibility": "public"})
    assert st == 201
    sql(pg, "super", """
        INSERT INTO contributions (tenant_id, table_id, author_id, body, body_html)
        SELECT x.tenant_id, x.id, a.id, 'Bijdrage nummer ' || n || ', met "aanhalingstekens" en een komma',
               '<p>Bijdrage nummer ' || n || '</p>'
          FROM tables x JOIN accounts a ON a.tenant_id = x.tenant_id AND a.email = 'gespreks@example.nl',
               generate_series(1, %s) n
         WHERE x.id = %s""", (BIG, t["id"]))
    assert sql(pg, "super", "SELECT count(*) FROM contributions WHERE table_id = %s", (t["id"],))[0][0] == BIG
    return t["id"]


def test_a_large_table_streams_complete_in_bounded_memory(d, w, big):
    reset_peak(d)
    before = rss_kib(d)
    for path, api in ((f"/tables/{big}/export", w.api["fac"]), (f"/tables/{big}/open-data", None)):
        r = fetch(d, HOST, path, api)
        assert r.status == 200
        doc = json.loads(r.body)
        assert len(doc["contributions"]) == BIG
        ids = [x["id"] for x in doc["contributions"]]
        assert ids == sorted(ids) and len(set(ids)) == BIG
        assert doc["contributions"][-1]["body"].startswith(f"Bijdrage nummer {BIG},")
        # Many chunks of at most a batch each, not one answer.
        assert r.chunks > BIG // 500
    r = fetch(d, HOST, f"/tables/{big}/export/contributions.csv", w.api["fac"])
    rows = list(csv.reader(io.StringIO(r.body.decode("utf-8-sig"), newline="")))
    assert len(rows) == BIG + 1
    grown = rss_kib(d, "VmHWM") - before
    size_kib = len(r.body) // 1024
    print(f"export of {BIG} contributions: {size_kib} KiB as CSV; the daemon's peak RSS grew {grown} KiB")
    # An answer built in memory would need the whole export at least once
    # (as text, and a JSON tree besides): the stream holds a batch.
    assert grown < size_kib // 4, (grown, size_kib)


def test_a_client_that_stops_reading_holds_a_bounded_queue(d, w, big, pg):
    before = rss_kib(d)
    reset_peak(d)
    c = d.conn(timeout=30, rcvbuf=4096)
    c.send(f"GET /api/v1/tables/{big}/export HTTP/1.1\r\nHost: {HOST}\r\n"
           f"Authorization: Bearer {w.api['fac'].token}\r\nConnection: close\r\n\r\n")
    c._take_until(b"\r\n\r\n", time.time() + 20)
    # The daemon stops fetching while the client does not read: its
    # transaction waits, idle, on the open cursor.
    wait_for(lambda: waiting_export(pg), timeout=20, what="the export waiting for the client")
    time.sleep(1)
    assert open_exports(pg) == 1                            # still waiting: nothing more was fetched
    assert rss_kib(d, "VmHWM") - before < 4 * 1024
    # The client leaves midway: the transaction ends, the connection goes
    # back to the pool, and the daemon answers as before.
    c.close()
    wait_for(lambda: not open_exports(pg), timeout=20, what="the export's transaction to end")
    for _ in range(20):
        st, _, body = w.api["fac"].get(f"/tables/{w.P}")
        assert st == 200, body
    r = fetch(d, HOST, f"/tables/{w.P}/open-data")
    assert r.status == 200 and json.loads(r.body)["format"] == "aantafel.open-data/1"
    st, _, _ = d.get("/healthz")
    assert st == 200


def open_exports(pg):
    return sql(pg, "super", "SELECT count(*) FROM pg_stat_activity WHERE state LIKE 'idle in transaction%%'"
                            " AND query LIKE 'FETCH FORWARD%%api_export_rows%%'")[0][0]


def waiting_export(pg):
    return open_exports(pg) == 1


def test_a_database_failure_midway_cuts_the_answer_short(d, w, big, pg):
    c = d.conn(timeout=60, rcvbuf=4096)
    c.send(f"GET /api/v1/tables/{big}/export/contributions.csv HTTP/1.1\r\nHost: {HOST}\r\n"
           f"Authorization: Bearer {w.api['fac'].token}\r\nConnection: close\r\n\r\n")
    head = c._take_until(b"\r\n\r\n", time.time() + 20)
    assert b" 200 " in head and b"chunked" in head.lower()
    wait_for(lambda: waiting_export(pg), timeout=20, what="the export waiting for the client")
    killed = sql(pg, "super", "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity"
                               " WHERE query LIKE 'FETCH FORWARD%%api_export_rows%%'")[0][0]
    assert killed == 1
    # The client reads on: what was queued comes, then the connection
    # closes without the last chunk, so the answer is not taken for whole.
    rest = c.wait_closed(timeout=60)
    c.close()
    assert len(rest) > 0 and not rest.endswith(b"\r\n0\r\n\r\n")
    assert b"\r\n0\r\n\r\n" not in rest
    # The pool has its connection again, and the next export is whole.
    wait_for(lambda: w.api["fac"].get(f"/tables/{w.P}")[0] == 200, timeout=20, what="the pool again")
    r = fetch(d, HOST, f"/tables/{big}/export/contributions.csv", w.api["fac"])
    assert r.status == 200 and r.body.count(b"\r\n") >= BIG + 1
    assert "export ended early" in d.log()
