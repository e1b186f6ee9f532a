"""The behaviour of the tables API (tables, groups, invitations,
contributions, reports, search) beyond who may see what, which
test_visibility.py covers: validation naming the field, Markdown that
cannot carry script, one level of replies, the edit window, contributions
recorded for people at the table, hiding and the moderation queue,
invitations (single use, revoked, expired, stored as hashes), join
requests, Dutch search, deleted accounts and the last facilitator.

The world is built once for the module; every test makes its own tables so
that the tests do not depend on each other's order."""
import hashlib
import json

import pytest

from world import HOST, PASSWORD, World, make_user, token_for
from api_client import Api

EVIL = ["<script>alert(1)</script>", "<img src=x onerror=alert(1)>", "[x](javascript:alert(1))",
        "[y](JAVASCRIPT:alert(1))", "[z](vbscript:x)", '<a href="javascript:1">klik</a>']


@pytest.fixture(scope="module")
def w(pg, make_daemon_module):
    from test_signin import SMALL
    d = make_daemon_module({"workers": "2"}, {**pg.daemon_env(), **SMALL})
    return World(d, pg)


def query(pg, sql, *args):
    with pg.connect("super") as c, c.cursor() as cur:
        cur.execute(sql, args)
        return cur.fetchall() if cur.description else None


def ok(answer, status=200):
    st, _, body = answer
    assert st == status, (st, body)
    return body


def fails(answer, status, code):
    st, _, body = answer
    assert st == status, (st, body)
    assert body["error"]["code"] == code, body
    return body["error"]


def field_errors(answer):
    """The field -> code map of a 422 answer."""
    err = fails(answer, 422, "invalid")
    return {k: v["code"] for k, v in err["fields"].items()}


def me(api):
    return ok(api.get("/me"))["id"]


def new_table(w, visibility="public", who="fac", **extra):
    body = {"title": "Tafel " + visibility, "question": "Wat is ervoor nodig?", "visibility": visibility, **extra}
    return ok(w.api[who].post("/tables", body), 201)


def joined_table(w, *people):
    """A new public table that PEOPLE have joined."""
    tid = new_table(w)["id"]
    for who in people:
        ok(w.api[who].post(f"/tables/{tid}/join"))
    return tid


def contribute(api, tid, body, status=201, **extra):
    return ok(api.post(f"/tables/{tid}/contributions", {"body": body, **extra}), status)


def assert_safe(html):
    low = html.lower()
    assert "<script" not in low, html
    assert "onerror" not in low, html
    assert "javascript:" not in low, html
    assert "vbscript:" not in low, html
    assert "<strong>vet</strong>" in html, html


# ---------------------------------------------------------------- tables

def test_table_create_validates_each_field(w):
    fac = w.api["fac"]
    assert field_errors(fac.post("/tables", {})) == {"title": "required", "question": "required", "visibility": "required"}
    assert field_errors(fac.post("/tables", {"title": "  ", "question": "Vraag?", "visibility": "public"})) == {"title": "required"}
    assert field_errors(fac.post("/tables", {"title": "x" * 201, "question": "q" * 501, "visibility": "public",
                                             "description": "d" * 20001})) == {
        "title": "too_long", "question": "too_long", "description": "too_long"}
    assert field_errors(fac.post("/tables", {"title": 5, "question": ["?"], "visibility": "public",
                                             "description": {"a": 1}})) == {
        "title": "type", "question": "type", "description": "type"}
    assert field_errors(fac.post("/tables", {"title": "T", "question": "Q", "visibility": "geheim"})) == {"visibility": "choice"}
    assert field_errors(fac.post("/tables", {"title": "T", "question": "Q", "visibility": "public",
                                             "status": "weg"})) == {"status": "choice"}
    # Exactly at the limits: accepted.
    t = ok(fac.post("/tables", {"title": "x" * 200, "question": "q" * 500, "visibility": "closed"}), 201)
    assert t["visibility"] == "closed" and t["status"] == "open" and t["my_role"] == "facilitator"


def test_only_facilitators_and_admins_open_tables(w):
    body = {"title": "Van een lid", "question": "Mag dit?", "visibility": "public"}
    fails(w.api["member"].post("/tables", body), 403, "forbidden")
    fails(w.api["cgm"].post("/tables", body), 403, "forbidden")
    fails(w.api["guest"].post("/tables", body), 401, "unauthorized")
    t = ok(w.api["admin"].post("/tables", body), 201)
    assert t["my_role"] == "facilitator"


def test_the_creator_becomes_facilitator(w):
    t = new_table(w, "closed", title="  Buurthuis  ")
    assert t["title"] == "Buurthuis" and t["my_role"] == "facilitator"
    assert ok(w.api["fac"].get(f"/tables/{t['id']}"))["my_role"] == "facilitator"
    people = ok(w.api["fac"].get(f"/tables/{t['id']}/people"))["items"]
    assert [(p["id"], p["role"]) for p in people] == [(me(w.api["fac"]), "facilitator")]
    assert t["id"] in {x["id"] for x in w.api["fac"].pages("/tables?filter=mine")}


def test_a_facilitator_changes_the_table(w):
    tid = joined_table(w, "member")
    fails(w.api["member"].patch(f"/tables/{tid}", {"title": "Van mij"}), 403, "forbidden")
    fails(w.api["guest"].patch(f"/tables/{tid}", {"title": "Van mij"}), 401, "unauthorized")
    t = ok(w.api["fac"].patch(f"/tables/{tid}", {"title": "Nieuwe titel", "question": "Nieuwe vraag?",
                                                  "description": "Met **nadruk**."}))
    assert (t["title"], t["question"], t["description"]) == ("Nieuwe titel", "Nieuwe vraag?", "Met **nadruk**.")
    assert "<strong>nadruk</strong>" in t["description_html"]
    # Fields not sent stay as they were.
    t = ok(w.api["fac"].patch(f"/tables/{tid}", {"visibility": "closed"}))
    assert (t["title"], t["visibility"], t["description"]) == ("Nieuwe titel", "closed", "Met **nadruk**.")
    assert "<strong>nadruk</strong>" in t["description_html"]
    assert field_errors(w.api["fac"].patch(f"/tables/{tid}", {"title": "", "visibility": "half"})) == {
        "title": "required", "visibility": "choice"}
    assert field_errors(w.api["fac"].patch(f"/tables/{tid}", {"status": "gesloten"})) == {"status": "choice"}
    assert ok(w.api["fac"].get(f"/tables/{tid}"))["title"] == "Nieuwe titel"


def test_a_closed_table_takes_no_contributions(w):
    tid = joined_table(w, "member")
    contribute(w.api["member"], tid, "Nog open")
    assert ok(w.api["fac"].patch(f"/tables/{tid}", {"status": "closed"}))["status"] == "closed"
    for who in ("member", "fac"):
        fails(w.api[who].post(f"/tables/{tid}/contributions", {"body": "Te laat"}), 409, "table_closed")
    # What was said stays readable.
    items = ok(w.api["member"].get(f"/tables/{tid}/contributions"))["items"]
    assert [c["body"] for c in items] == ["Nog open"]
    ok(w.api["fac"].patch(f"/tables/{tid}", {"status": "archived"}))
    fails(w.api["fac"].post(f"/tables/{tid}/contributions", {"body": "Te laat"}), 409, "table_archived")


def test_archived_tables_leave_the_list(w):
    tid = new_table(w)["id"]
    other = new_table(w)["id"]
    assert tid in {t["id"] for t in w.api["guest"].pages("/tables")}
    ok(w.api["fac"].patch(f"/tables/{tid}", {"status": "archived"}))
    for who in ("guest", "member", "fac", "admin"):
        listed = {t["id"] for t in w.api[who].pages("/tables")}
        assert tid not in listed and other in listed, who
        archived = {t["id"] for t in w.api[who].pages("/tables?status=archived")}
        assert tid in archived and other not in archived, who
    assert tid not in {t["id"] for t in w.api["fac"].pages("/tables?filter=mine")}
    assert tid not in {t["id"] for t in w.api["fac"].pages("/tables?status=open")}
    assert field_errors(w.api["guest"].get("/tables?status=weg")) == {"status": "choice"}
    # Still there by its id.
    assert ok(w.api["guest"].get(f"/tables/{tid}"))["status"] == "archived"
    fails(w.api["member"].post(f"/tables/{tid}/join"), 409, "archived")


# ---------------------------------------------------------------- Markdown

def test_markdown_carries_no_script(w):
    text = "\n\n".join(EVIL + ["**vet**"])
    t = new_table(w, description=text)
    assert t["description"] == text
    assert_safe(t["description_html"])
    t = ok(w.api["fac"].patch(f"/tables/{t['id']}", {"description": text + "\n\nmeer"}))
    assert_safe(t["description_html"])
    c = contribute(w.api["fac"], t["id"], text)
    assert c["body"] == text
    assert_safe(c["body_html"])
    assert_safe(ok(w.api["guest"].get(f"/contributions/{c['id']}"))["body_html"])
    c = ok(w.api["fac"].patch(f"/contributions/{c['id']}", {"body": "\n\n".join(reversed(EVIL)) + "\n\n**vet**"}))
    assert_safe(c["body_html"])
    # Each on its own line, too (inline HTML rather than an HTML block).
    for evil in EVIL:
        c = contribute(w.api["fac"], t["id"], f"tekst {evil} **vet**")
        assert_safe(c["body_html"])


def test_clients_cannot_send_html(w):
    fac = w.api["fac"]
    inject = {"body_html": "<script>a()</script>", "_body_html": "<script>b()</script>",
              "description_html": "<script>c()</script>", "_description_html": "<script>d()</script>"}
    t = ok(fac.post("/tables", {"title": "HTML", "question": "Mag het?", "visibility": "public",
                                "description": "gewoon", **inject}), 201)
    assert t["description_html"] == "<p>gewoon</p>\n"
    # Without a description: the HTML is not taken either.
    t2 = ok(fac.post("/tables", {"title": "HTML", "question": "Mag het?", "visibility": "public", **inject}), 201)
    assert t2["description_html"] == ""
    t2 = ok(fac.patch(f"/tables/{t2['id']}", {"title": "Nog steeds", **inject}))
    assert t2["description_html"] == ""
    c = contribute(fac, t["id"], "gewoon", **inject)
    assert c["body_html"] == "<p>gewoon</p>\n"
    c = ok(fac.patch(f"/contributions/{c['id']}", {"body": "anders", **inject}))
    assert c["body_html"] == "<p>anders</p>\n"
    for k in ("tables", "contributions"):
        assert not query(w.pg, f"SELECT id FROM {k} WHERE {'description_html' if k == 'tables' else 'body_html'}"
                               " LIKE '%%<script%%'")


# ---------------------------------------------------------------- replies

def test_replies_go_one_level_deep(w):
    tid = joined_table(w, "member")
    top = contribute(w.api["fac"], tid, "Waar beginnen we?")
    reply = contribute(w.api["member"], tid, "Bij de speeltuin", parent_id=top["id"])
    assert reply["parent_id"] == top["id"] and reply["replies"] is None
    assert field_errors(w.api["member"].post(f"/tables/{tid}/contributions",
                                             {"body": "Dieper", "parent_id": reply["id"]})) == {"parent_id": "depth"}
    # A parent from another table, from a group of this table, or nonsense: unknown.
    assert field_errors(w.api["member"].post(f"/tables/{tid}/contributions",
                                             {"body": "Elders", "parent_id": w.contrib["P"]})) == {"parent_id": "unknown"}
    g = ok(w.api["fac"].post(f"/tables/{tid}/groups", {"name": "Groep", "visibility": "public"}), 201)["id"]
    in_group = ok(w.api["fac"].post(f"/groups/{g}/contributions", {"body": "In de groep"}), 201)
    assert field_errors(w.api["member"].post(f"/tables/{tid}/contributions",
                                             {"body": "Mis", "parent_id": in_group["id"]})) == {"parent_id": "unknown"}
    assert field_errors(w.api["member"].post(f"/tables/{tid}/contributions",
                                             {"body": "Mis", "parent_id": "abc"})) == {"parent_id": "unknown"}
    # Replies come with their thread, not in the list.
    second = contribute(w.api["fac"], tid, "En verder", parent_id=str(top["id"]))
    assert [c["id"] for c in ok(w.api["guest"].get(f"/tables/{tid}/contributions"))["items"]] == [top["id"]]
    got = ok(w.api["guest"].get(f"/contributions/{top['id']}"))
    assert [c["id"] for c in got["thread"]] == [reply["id"], second["id"]]
    assert got["replies"] == 2 and got["thread"][0]["body"] == "Bij de speeltuin"
    assert ok(w.api["guest"].get(f"/contributions/{reply['id']}"))["thread"] == []


# ---------------------------------------------------------------- edits

def test_the_author_edits_within_fifteen_minutes(w):
    tid = joined_table(w, "member")
    c = contribute(w.api["member"], tid, "Eerste versie")
    assert c["can_edit"] is True and c["mine"] is True and c["edited_at"] is None
    fails(w.api["cgm"].patch(f"/contributions/{c['id']}", {"body": "Van een ander"}), 403, "forbidden")
    fails(w.api["fac"].patch(f"/contributions/{c['id']}", {"body": "Van de facilitator"}), 403, "forbidden")
    fails(w.api["guest"].patch(f"/contributions/{c['id']}", {"body": "Anoniem"}), 401, "unauthorized")
    assert field_errors(w.api["member"].patch(f"/contributions/{c['id']}", {"body": " "})) == {"body": "required"}
    assert field_errors(w.api["member"].patch(f"/contributions/{c['id']}", {"body": 7})) == {"body": "type"}
    e = ok(w.api["member"].patch(f"/contributions/{c['id']}", {"body": "Tweede *versie*"}))
    assert e["body"] == "Tweede *versie*" and "<em>versie</em>" in e["body_html"] and e["edited_at"] is not None
    ok(w.api["member"].patch(f"/contributions/{c['id']}", {"body": "Derde versie"}))
    for who in ("member", "fac", "admin"):
        got = ok(w.api[who].get(f"/contributions/{c['id']}"))
        assert got["body"] == "Derde versie"
        assert [x["body"] for x in got["edits"]] == ["Eerste versie", "Tweede *versie*"], who
    for who in ("guest", "cgm"):
        got = ok(w.api[who].get(f"/contributions/{c['id']}"))
        assert got["body"] == "Derde versie" and got["edits"] is None, who
    query(w.pg, "UPDATE contributions SET created_at = now() - interval '16 minutes' WHERE id = %s", c["id"])
    fails(w.api["member"].patch(f"/contributions/{c['id']}", {"body": "Te laat"}), 409, "edit_window")
    got = ok(w.api["member"].get(f"/contributions/{c['id']}"))
    assert got["body"] == "Derde versie" and got["can_edit"] is False and len(got["edits"]) == 2


# ---------------------------------------------------------------- table mode

def test_facilitators_record_for_people_at_the_table(w):
    tid = joined_table(w, "member")
    c = contribute(w.api["fac"], tid, "Meer bankjes", on_behalf={"name": "Mevrouw Jansen"})
    assert c["author"] == {"id": None, "name": "Mevrouw Jansen", "kind": "table"}
    assert c["recorded"] is True and c["mine"] is False
    c = contribute(w.api["fac"], tid, "Minder auto's", on_behalf={})
    assert c["author"] == {"id": None, "name": "deelnemer aan tafel", "kind": "table"} and c["recorded"] is True
    c = contribute(w.api["fac"], tid, "Blanco", on_behalf={"name": "   "})
    assert c["author"]["name"] == "deelnemer aan tafel"
    assert ok(w.api["guest"].get(f"/contributions/{c['id']}"))["author"]["kind"] == "table"
    plain = contribute(w.api["fac"], tid, "Zelf", on_behalf=None)
    assert plain["author"]["kind"] == "account" and plain["recorded"] is False
    fails(w.api["member"].post(f"/tables/{tid}/contributions", {"body": "Namens", "on_behalf": {"name": "Buurman"}}),
          403, "forbidden")
    assert field_errors(w.api["fac"].post(f"/tables/{tid}/contributions",
                                          {"body": "x", "on_behalf": "Jansen"})) == {"on_behalf": "type"}
    assert field_errors(w.api["fac"].post(f"/tables/{tid}/contributions",
                                          {"body": "x", "on_behalf": {"name": "n" * 101}})) == {"on_behalf": "too_long"}
    # A facilitator cannot edit what they recorded as someone else's words.
    r = contribute(w.api["fac"], tid, "Opgeschreven", on_behalf={"name": "Piet"})
    fails(w.api["fac"].patch(f"/contributions/{r['id']}", {"body": "Anders"}), 403, "forbidden")


# ---------------------------------------------------------------- hiding

def test_a_facilitator_hides_with_a_reason(w):
    tid = joined_table(w, "member")
    c = contribute(w.api["member"], tid, "Mijn buurman Jan de Vries op nummer 3")
    count = ok(w.api["guest"].get(f"/tables/{tid}"))["contributions"]
    fails(w.api["member"].post(f"/contributions/{c['id']}/hide", {"reason": "mag niet"}), 403, "forbidden")
    fails(w.api["guest"].post(f"/contributions/{c['id']}/hide", {"reason": "mag niet"}), 401, "unauthorized")
    assert field_errors(w.api["fac"].post(f"/contributions/{c['id']}/hide", {})) == {"reason": "required"}
    assert field_errors(w.api["fac"].post(f"/contributions/{c['id']}/hide", {"reason": " "})) == {"reason": "required"}
    assert field_errors(w.api["fac"].post(f"/contributions/{c['id']}/hide", {"reason": "r" * 1001})) == {"reason": "too_long"}
    assert ok(w.api["member"].get(f"/contributions/{c['id']}"))["hidden"] is False
    h = ok(w.api["fac"].post(f"/contributions/{c['id']}/hide", {"reason": " Persoonsgegevens "}))
    assert h["hidden"] is True and h["hidden_reason"] == "Persoonsgegevens" and h["body"] == c["body"]
    for who in ("member", "guest", "cgm"):
        got = ok(w.api[who].get(f"/contributions/{c['id']}"))
        assert got["body"] is None and got["body_html"] is None, who
        assert got["hidden"] is True and got["hidden_reason"] == "Persoonsgegevens", who
        listed = {x["id"]: x for x in ok(w.api[who].get(f"/tables/{tid}/contributions"))["items"]}
        assert listed[c["id"]]["body"] is None and listed[c["id"]]["hidden"] is True, who
    for who in ("fac", "admin"):
        got = ok(w.api[who].get(f"/contributions/{c['id']}"))
        assert got["body"] == c["body"] and got["body_html"] == c["body_html"] and got["hidden"] is True, who
    assert ok(w.api["guest"].get(f"/tables/{tid}"))["contributions"] == count - 1
    # The author cannot edit it back into view.
    mine = ok(w.api["member"].get(f"/contributions/{c['id']}"))
    assert mine["can_edit"] is False
    fails(w.api["member"].patch(f"/contributions/{c['id']}", {"body": "Nu netjes"}), 409, "edit_window")
    # Hiding again keeps the first reason.
    h = ok(w.api["fac"].post(f"/contributions/{c['id']}/hide", {"reason": "Nog eens"}))
    assert h["hidden_reason"] == "Persoonsgegevens"


# ---------------------------------------------------------------- reports

def test_reports_and_the_moderation_queue(w):
    tid = joined_table(w, "member", "cgm")
    c = contribute(w.api["fac"], tid, "Iets kwetsends")
    path = f"/contributions/{c['id']}/reports"
    assert field_errors(w.api["member"].post(path, {})) == {"reason": "required"}
    assert field_errors(w.api["member"].post(path, {"reason": "  "})) == {"reason": "required"}
    assert field_errors(w.api["member"].post(path, {"reason": "r" * 1001})) == {"reason": "too_long"}
    fails(w.api["guest"].post(path, {"reason": "ongepast"}), 401, "unauthorized")
    r1 = ok(w.api["member"].post(path, {"reason": "ongepast"}), 201)
    assert r1["status"] == "open" and r1["contribution_id"] == c["id"]
    again = ok(w.api["member"].post(path, {"reason": "echt ongepast"}), 201)
    assert again["id"] == r1["id"]
    queue = ok(w.api["fac"].get(f"/tables/{tid}/reports"))["items"]
    assert [(q["id"], q["reason"], q["contribution"]["id"]) for q in queue] == [(r1["id"], "echt ongepast", c["id"])]
    assert queue[0]["reporter"] == {"id": me(w.api["member"]), "name": "Lies Lid"}
    fails(w.api["member"].get(f"/tables/{tid}/reports"), 403, "forbidden")
    fails(w.api["member"].post(f"/reports/{r1['id']}", {"action": "dismiss"}), 403, "forbidden")
    assert field_errors(w.api["fac"].post(f"/reports/{r1['id']}", {"action": "weg"})) == {"action": "choice"}
    assert field_errors(w.api["fac"].post(f"/reports/{r1['id']}", {})) == {"action": "choice"}
    assert ok(w.api["fac"].post(f"/reports/{r1['id']}", {"action": "dismiss"}))["status"] == "dismissed"
    assert ok(w.api["fac"].get(f"/tables/{tid}/reports"))["items"] == []
    assert ok(w.api["guest"].get(f"/contributions/{c['id']}"))["hidden"] is False
    fails(w.api["fac"].post(f"/reports/{r1['id']}", {"action": "hide"}), 409, "handled")
    # Reported again, by two people: hiding handles both.
    r2 = ok(w.api["member"].post(path, {"reason": "nog steeds ongepast"}), 201)
    r3 = ok(w.api["cgm"].post(path, {"reason": "kwetsend"}), 201)
    assert r2["id"] != r1["id"]
    assert {q["id"] for q in ok(w.api["fac"].get(f"/tables/{tid}/reports"))["items"]} == {r2["id"], r3["id"]}
    assert ok(w.api["fac"].post(f"/reports/{r2['id']}", {"action": "hide", "reason": "Kwetsend"}))["status"] == "hidden"
    got = ok(w.api["member"].get(f"/contributions/{c['id']}"))
    assert got["hidden"] is True and got["body"] is None and got["hidden_reason"] == "Kwetsend"
    assert ok(w.api["fac"].get(f"/tables/{tid}/reports"))["items"] == []
    fails(w.api["fac"].post(f"/reports/{r2['id']}", {"action": "hide"}), 409, "handled")
    fails(w.api["fac"].post(f"/reports/{r3['id']}", {"action": "dismiss"}), 409, "handled")
    fails(w.api["fac"].post("/reports/999999999", {"action": "dismiss"}), 404, "not_found")


# ---------------------------------------------------------------- invitations

def invitation_rows(w, table_id):
    return query(w.pg, "SELECT i::text, encode(token_hash, 'hex') FROM invitations i WHERE table_id = %s", table_id)


def test_link_invitations(w):
    t = new_table(w, "closed")["id"]
    g = ok(w.api["fac"].post(f"/tables/{t}/groups", {"name": "Binnenkring", "visibility": "closed"}), 201)["id"]
    inv = ok(w.api["fac"].post(f"/tables/{t}/invitations", {"group_id": g}), 201)
    token = inv["token"]
    assert token.startswith("at_") and inv["kind"] == "link" and inv["valid"] is True and inv["group_id"] == g
    listed = ok(w.api["fac"].get(f"/tables/{t}/invitations"))
    assert [i["id"] for i in listed["items"]] == [inv["id"]]
    assert "token" not in listed["items"][0] and token[3:] not in json.dumps(listed)
    fails(w.api["member"].post(f"/tables/{t}/invitations", {}), 404, "not_found")
    fails(w.api["guest"].post("/invitations/accept", {"token": token}), 401, "unauthorized")
    fails(w.api["member"].get(f"/tables/{t}"), 404, "not_found")
    acc = ok(w.api["member"].post("/invitations/accept", {"token": token}))
    assert acc["table"]["id"] == t and acc["table"]["my_role"] == "member" and acc["group_id"] == g
    assert ok(w.api["member"].get(f"/tables/{t}"))["my_role"] == "member"
    assert ok(w.api["member"].get(f"/groups/{g}"))["my_status"] == "member"
    ok(w.api["member"].get(f"/groups/{g}/contributions"))
    people = {p["id"]: p["role"] for p in ok(w.api["fac"].get(f"/tables/{t}/people"))["items"]}
    assert people[me(w.api["member"])] == "member"
    # A link serves many.
    ok(w.api["cgm"].post("/invitations/accept", {"token": token}))
    assert ok(w.api["fac"].get(f"/tables/{t}/invitations"))["items"][0]["uses"] == 2
    # Revoked: gone.
    rev = ok(w.api["fac"].delete(f"/tables/{t}/invitations/{inv['id']}"))
    assert rev["revoked_at"] is not None and rev["valid"] is False
    new = make_person(w, "link-na-intrekking@example.nl", "Nina Laat")
    fails(new.post("/invitations/accept", {"token": token}), 404, "not_found")
    fails(new.get(f"/tables/{t}"), 404, "not_found")
    fails(w.api["fac"].delete(f"/tables/{t}/invitations/999999999"), 404, "not_found")
    # Expired: gone.
    inv2 = ok(w.api["fac"].post(f"/tables/{t}/invitations", {"expires_in_days": 1}), 201)
    query(w.pg, "UPDATE invitations SET expires_at = now() - interval '1 minute' WHERE id = %s", inv2["id"])
    fails(new.post("/invitations/accept", {"token": inv2["token"]}), 404, "not_found")
    assert ok(w.api["fac"].get(f"/tables/{t}/invitations"))["items"][0]["valid"] is False
    # Nonsense tokens.
    for bad in ("", "at_kort", "at_" + "A" * 43, 42):
        fails(new.post("/invitations/accept", {"token": bad}), 404, "not_found")
    fails(new.post("/invitations/accept", {}), 404, "not_found")
    fails(new.get(f"/tables/{t}"), 404, "not_found")


def make_person(w, email, name):
    make_user(w.pg, "wereld-a", email, "member", name)
    tok, _ = token_for(w.d, HOST, email)
    return Api(w.d, HOST, token=tok)


def test_email_invitations_are_single_use(w):
    t = new_table(w, "closed")["id"]
    inv = ok(w.api["fac"].post(f"/tables/{t}/invitations", {"email": "  Iemand@Example.NL ", "role": "client"}), 201)
    assert inv["kind"] == "email" and inv["email"] == "iemand@example.nl" and inv["role"] == "client"
    acc = ok(w.api["cgm"].post("/invitations/accept", {"token": inv["token"]}))
    assert acc["table"]["my_role"] == "client" and acc["group_id"] is None
    fails(w.api["member"].post("/invitations/accept", {"token": inv["token"]}), 404, "not_found")
    fails(w.api["member"].get(f"/tables/{t}"), 404, "not_found")
    listed = ok(w.api["fac"].get(f"/tables/{t}/invitations"))["items"][0]
    assert listed["used_at"] is not None and listed["uses"] == 1 and listed["valid"] is False
    # A facilitator accepting an invitation as member stays facilitator.
    inv = ok(w.api["fac"].post(f"/tables/{t}/invitations", {"email": "zelf@example.nl"}), 201)
    assert ok(w.api["fac"].post("/invitations/accept", {"token": inv["token"]}))["table"]["my_role"] == "facilitator"


def test_invitation_validation(w):
    t = new_table(w, "closed")["id"]
    other = new_table(w, "closed")["id"]
    g_other = ok(w.api["fac"].post(f"/tables/{other}/groups", {"name": "Elders", "visibility": "public"}), 201)["id"]
    path = f"/tables/{t}/invitations"
    for days in (0, 91, -1, 10 ** 12, 1e300):
        assert field_errors(w.api["fac"].post(path, {"expires_in_days": days})) == {"expires_in_days": "range"}, days
    assert field_errors(w.api["fac"].post(path, {"expires_in_days": "7"})) == {"expires_in_days": "type"}
    for days in (1, 90):
        ok(w.api["fac"].post(path, {"expires_in_days": days}), 201)
    assert field_errors(w.api["fac"].post(path, {"email": "geen adres"})) == {"email": "email"}
    assert field_errors(w.api["fac"].post(path, {"email": 5})) == {"email": "type"}
    assert field_errors(w.api["fac"].post(path, {"role": "admin"})) == {"role": "choice"}
    assert field_errors(w.api["fac"].post(path, {"group_id": g_other})) == {"group_id": "unknown"}
    assert field_errors(w.api["fac"].post(path, {"group_id": "x"})) == {"group_id": "unknown"}
    fails(w.api["cgm"].post(f"/tables/{w.C}/invitations", {}), 403, "forbidden")
    assert len(ok(w.api["fac"].get(path))["items"]) == 2


def test_invitation_tokens_are_stored_as_hashes(w):
    t = new_table(w, "closed")["id"]
    tokens = [ok(w.api["fac"].post(f"/tables/{t}/invitations", body), 201)["token"]
              for body in ({}, {"email": "hash@example.nl"}, {"role": "facilitator"})]
    rows = invitation_rows(w, t)
    assert len(rows) == 3
    hashes = {h for _, h in rows}
    for tok in tokens:
        assert hashlib.sha256(tok[3:].encode()).hexdigest() in hashes
        for text, _ in rows:
            assert tok not in text and tok[3:] not in text
    # Nor anywhere else in the database, but in the mail that carries the
    # link to the one invited by address.
    columns = query(w.pg, "SELECT table_schema, table_name, column_name FROM information_schema.columns"
                          " WHERE table_schema IN ('public', 'platform') AND data_type IN ('text', 'jsonb')")
    assert len(columns) > 20, columns
    for i, tok in enumerate(tokens):
        where = {(schema, table, column) for schema, table, column in columns
                 if query(w.pg, f'SELECT count(*) FROM "{schema}"."{table}" WHERE "{column}"::text LIKE %s',
                          f"%{tok[3:]}%")[0][0]}
        mailed = {("public", "mail_outbox", "body_text"), ("public", "mail_outbox", "body_html")}
        assert where == (mailed if i == 1 else set()), (i, where)


# ---------------------------------------------------------------- groups

def test_closed_group_requests(w):
    t = new_table(w)["id"]
    g = ok(w.api["fac"].post(f"/tables/{t}/groups", {"name": "Besloten", "visibility": "closed"}), 201)["id"]
    secret = ok(w.api["fac"].post(f"/groups/{g}/contributions", {"body": "Binnen"}), 201)["id"]
    assert field_errors(w.api["member"].post(f"/groups/{g}/join", {"message": "m" * 1001})) == {"message": "too_long"}
    fails(w.api["guest"].post(f"/groups/{g}/join", {"message": "Hallo"}), 401, "unauthorized")
    st, _, req = w.api["member"].post(f"/groups/{g}/join", {"message": "Ik woon om de hoek"})
    assert st == 202 and req["status"] == "requested" and req["group_name"] == "Besloten", req
    assert ok(w.api["member"].get(f"/groups/{g}"))["my_status"] == "requested"
    fails(w.api["member"].get(f"/groups/{g}/contributions"), 404, "not_found")
    fails(w.api["member"].get(f"/contributions/{secret}"), 404, "not_found")
    # Asking twice keeps one request, with the newer message.
    st, _, again = w.api["member"].post(f"/groups/{g}/join", {"message": "Echt om de hoek"})
    assert st == 202 and again["request_id"] == req["request_id"]
    items = ok(w.api["fac"].get(f"/groups/{g}/requests"))["items"]
    assert [(r["id"], r["account"]["name"], r["message"], r["status"]) for r in items] == [
        (req["request_id"], "Lies Lid", "Echt om de hoek", "pending")]
    fails(w.api["member"].get(f"/groups/{g}/requests"), 403, "forbidden")
    fails(w.api["member"].post(f"/groups/{g}/requests/{req['request_id']}", {"decision": "approve"}), 403, "forbidden")
    assert field_errors(w.api["fac"].post(f"/groups/{g}/requests/{req['request_id']}", {"decision": "ja"})) == {
        "decision": "choice"}
    d = ok(w.api["fac"].post(f"/groups/{g}/requests/{req['request_id']}", {"decision": "decline"}))
    assert d["status"] == "declined" and d["requester"]["name"] == "Lies Lid"
    assert ok(w.api["fac"].get(f"/groups/{g}/requests"))["items"] == []
    assert ok(w.api["member"].get(f"/groups/{g}"))["my_status"] is None
    fails(w.api["member"].get(f"/groups/{g}/contributions"), 404, "not_found")
    fails(w.api["fac"].post(f"/groups/{g}/requests/{req['request_id']}", {"decision": "approve"}), 404, "not_found")
    # Asked again and approved: a member of the group, and of the table.
    st, _, req2 = w.api["member"].post(f"/groups/{g}/join", {})
    assert st == 202 and req2["request_id"] != req["request_id"]
    assert ok(w.api["fac"].post(f"/groups/{g}/requests/{req2['request_id']}", {"decision": "approve"}))["status"] == "approved"
    assert ok(w.api["member"].get(f"/groups/{g}"))["my_status"] == "member"
    assert ok(w.api["member"].get(f"/tables/{t}"))["my_role"] == "member"
    assert [c["id"] for c in ok(w.api["member"].get(f"/groups/{g}/contributions"))["items"]] == [secret]
    ok(w.api["member"].post(f"/groups/{g}/contributions", {"body": "Ik ben er"}), 201)
    assert ok(w.api["fac"].get(f"/groups/{g}/requests"))["items"] == []
    # Joining when a member already: nothing changes.
    assert ok(w.api["member"].post(f"/groups/{g}/join", {}))["status"] == "member"
    # Leaving.
    assert ok(w.api["member"].post(f"/groups/{g}/leave"))["status"] is None
    assert ok(w.api["member"].get(f"/groups/{g}"))["my_status"] is None
    fails(w.api["member"].get(f"/groups/{g}/contributions"), 404, "not_found")
    fails(w.api["member"].post(f"/groups/{g}/contributions", {"body": "Nog hier?"}), 404, "not_found")
    # Leaving withdraws a pending request too.
    st, _, req3 = w.api["member"].post(f"/groups/{g}/join", {})
    assert st == 202
    ok(w.api["member"].post(f"/groups/{g}/leave"))
    assert ok(w.api["fac"].get(f"/groups/{g}/requests"))["items"] == []


def test_public_group_join_makes_a_table_member(w):
    t = new_table(w)["id"]
    g = ok(w.api["fac"].post(f"/tables/{t}/groups", {"name": "Open", "visibility": "public"}), 201)["id"]
    assert ok(w.api["cgm"].get(f"/tables/{t}"))["my_role"] is None
    fails(w.api["cgm"].post(f"/groups/{g}/contributions", {"body": "Eerst lid worden"}), 403, "forbidden")
    j = ok(w.api["cgm"].post(f"/groups/{g}/join"))
    assert j["status"] == "member" and j["table_id"] == t
    assert ok(w.api["cgm"].get(f"/tables/{t}"))["my_role"] == "member"
    got = ok(w.api["cgm"].get(f"/groups/{g}"))
    assert got["my_status"] == "member" and got["members"] == 1
    ok(w.api["cgm"].post(f"/groups/{g}/contributions", {"body": "Nu wel"}), 201)
    ok(w.api["cgm"].post(f"/tables/{t}/contributions", {"body": "Aan tafel ook"}), 201)
    assert t in {x["id"] for x in w.api["cgm"].pages("/tables?filter=mine")}
    # Leaving the table leaves its groups too.
    assert ok(w.api["cgm"].post(f"/tables/{t}/leave"))["left"] is True
    assert ok(w.api["cgm"].get(f"/groups/{g}"))["my_status"] is None


# ---------------------------------------------------------------- search

def search(api, q):
    return ok(api.get(f"/search?q={q}"))


def test_search_in_dutch(w):
    tid = joined_table(w, "member")
    a = contribute(w.api["member"], tid, "De kinderen spelende in het park")
    b = contribute(w.api["member"], tid, "Mijn dochter speelt daar graag")
    # "spelen" is 'spel' to the dutch stemmer, a prefix of "spelende"
    # ('spelend'), not of "speelt" ('speelt'): the search finds a alone.
    found = {c["id"] for c in search(w.api["guest"], "spelen")["contributions"]}
    assert a["id"] in found and b["id"] not in found, found
    hit = [c for c in search(w.api["guest"], "kinderen")["contributions"] if c["id"] == a["id"]]
    assert hit and "«" in hit[0]["snippet"] and hit[0]["table_id"] == tid
    # The other words of a question narrow it down; a word that is not there finds nothing.
    assert a["id"] in {c["id"] for c in search(w.api["guest"], "spelen%20park")["contributions"]}
    assert b["id"] not in {c["id"] for c in search(w.api["guest"], "spelen%20park")["contributions"]}
    # Others' contributions in this world may match; a and b do not.
    found = {c["id"] for c in search(w.api["guest"], "spelen%20-park%20-dochter")["contributions"]}
    assert a["id"] not in found and b["id"] not in found, found
    assert b["id"] in {c["id"] for c in search(w.api["guest"], "dochter")["contributions"]}
    assert search(w.api["guest"], "onvindbaarwoord")["contributions"] == []


def test_search_leaves_out_hidden_and_archived(w):
    tid = joined_table(w, "member")
    c = contribute(w.api["member"], tid, "Het zeldzaamwoord staat hier")
    assert [x["id"] for x in search(w.api["guest"], "zeldzaamwoord")["contributions"]] == [c["id"]]
    ok(w.api["fac"].post(f"/contributions/{c['id']}/hide", {"reason": "weg"}))
    for who in ("guest", "member", "fac", "admin"):
        assert search(w.api[who], "zeldzaamwoord")["contributions"] == [], who
    arch = new_table(w, title="Archieftafelnaam")["id"]
    contribute(w.api["fac"], arch, "Het archiefwoord")
    assert [x["id"] for x in search(w.api["guest"], "archieftafelnaam")["tables"]] == [arch]
    assert len(search(w.api["guest"], "archiefwoord")["contributions"]) == 1
    ok(w.api["fac"].patch(f"/tables/{arch}", {"status": "archived"}))
    for who in ("guest", "fac", "admin"):
        assert search(w.api[who], "archieftafelnaam")["tables"] == [], who
        assert search(w.api[who], "archiefwoord")["contributions"] == [], who


def test_search_needs_a_question(w):
    for path in ("/search", "/search?q=", "/search?q=%20%20", "/search?q=" + "a" * 201):
        err = fails(w.api["guest"].get(path), 422, "invalid")
        assert list(err["fields"]) == ["q"], path
    assert fails(w.api["guest"].get("/search"), 422, "invalid")["fields"]["q"]["code"] == "required"
    assert fails(w.api["guest"].get("/search?q=" + "a" * 201), 422, "invalid")["fields"]["q"]["code"] == "too_long"
    # Operators, quotes and short words in the question are harmless.
    from urllib.parse import quote
    for q in ('"kinderen & !|("', "ab kinderen", "it's spelen", "spelen -kinderen", '"rode auto" or fiets',
              "de het een", "'''", "a:* & b", "x" * 200):
        ok(w.api["guest"].get("/search?q=" + quote(q)))


# ---------------------------------------------------------------- deleted accounts

def test_a_deleted_account_leaves_its_contributions_as_former(w):
    email = "weg.gaan@example.nl"
    make_user(w.pg, "wereld-a", email, "member", "Wim Weggaan")
    tok, b = token_for(w.d, HOST, email)
    wim = Api(w.d, HOST, token=tok)
    wim_id = me(wim)
    tid = joined_table(w)
    ok(wim.post(f"/tables/{tid}/join"))
    c = contribute(wim, tid, "Tot ziens allemaal")
    other = new_table(w, "closed")["id"]
    ok(w.api["fac"].post(f"/tables/{other}/invitations", {"email": email}), 201)
    ok(w.api["fac"].post(f"/tables/{other}/invitations", {"email": "blijft@example.nl"}), 201)
    st, _, body, _ = b.go("POST", "/account/verwijderen", {"csrf": b.jar["at_csrf"], "current": PASSWORD})
    assert st == 200, body
    for who in ("guest", "member", "fac"):
        got = ok(w.api[who].get(f"/contributions/{c['id']}"))
        assert got["author"]["kind"] == "former" and got["author"]["name"] == "voormalig deelnemer", who
        assert got["body"] == "Tot ziens allemaal"
    listed = ok(w.api["guest"].get(f"/tables/{tid}/contributions"))["items"]
    assert [x["author"]["name"] for x in listed] == ["voormalig deelnemer"]
    invitations = ok(w.api["fac"].get(f"/tables/{other}/invitations"))["items"]
    assert [i["email"] for i in invitations] == ["blijft@example.nl"]
    assert query(w.pg, "SELECT count(*) FROM invitations WHERE email = %s", email)[0][0] == 0
    assert wim_id not in {p["id"] for p in ok(w.api["fac"].get(f"/tables/{tid}/people"))["items"]}
    fails(wim.get("/me"), 401, "invalid_token")


# ---------------------------------------------------------------- the last facilitator

def test_the_last_facilitator_stays(w):
    fac, member = w.api["fac"], w.api["member"]
    tid = joined_table(w, "member")
    fac_id, member_id = me(fac), me(member)
    fails(fac.post(f"/tables/{tid}/leave"), 409, "last_facilitator")
    fails(fac.put(f"/tables/{tid}/people/{fac_id}", {"role": "member"}), 409, "last_facilitator")
    fails(fac.delete(f"/tables/{tid}/people/{fac_id}"), 409, "last_facilitator")
    assert field_errors(fac.put(f"/tables/{tid}/people/{member_id}", {"role": "baas"})) == {"role": "choice"}
    fails(member.put(f"/tables/{tid}/people/{member_id}", {"role": "facilitator"}), 403, "forbidden")
    fails(fac.put(f"/tables/{tid}/people/999999999", {"role": "member"}), 404, "not_found")
    assert ok(fac.get(f"/tables/{tid}"))["my_role"] == "facilitator"
    assert ok(fac.put(f"/tables/{tid}/people/{member_id}", {"role": "facilitator"})) == {"id": member_id, "role": "facilitator"}
    assert ok(member.get(f"/tables/{tid}"))["my_role"] == "facilitator"
    assert ok(fac.post(f"/tables/{tid}/leave"))["left"] is True
    assert ok(fac.get(f"/tables/{tid}"))["my_role"] is None
    # Now the other is the last one.
    fails(member.post(f"/tables/{tid}/leave"), 409, "last_facilitator")
    fails(member.put(f"/tables/{tid}/people/{member_id}", {"role": "client"}), 409, "last_facilitator")
    # Two facilitators: one may step down.
    ok(member.put(f"/tables/{tid}/people/{fac_id}", {"role": "facilitator"}))
    assert ok(member.put(f"/tables/{tid}/people/{member_id}", {"role": "member"}))["role"] == "member"
    fails(fac.put(f"/tables/{tid}/people/{fac_id}", {"role": "member"}), 409, "last_facilitator")
    roles = {p["id"]: p["role"] for p in ok(fac.get(f"/tables/{tid}/people"))["items"]}
    assert roles == {fac_id: "facilitator", member_id: "member"}



def test_a_deleted_facilitator_does_not_count(w):
    """A deleted account keeps its row at the table for its contributions;
    it facilitates nothing, so the one left is still the last."""
    email = "vertrek@example.nl"
    make_user(w.pg, "wereld-a", email, "member", "Fleur Vertrek")
    tok, b = token_for(w.d, HOST, email)
    fleur = Api(w.d, HOST, token=tok)
    tid = joined_table(w)
    fleur_id, fac_id = me(fleur), me(w.api["fac"])
    ok(w.api["fac"].put(f"/tables/{tid}/people/{fleur_id}", {"role": "facilitator"}))
    contribute(fleur, tid, "Ik stop ermee")
    st, _, body, _ = b.go("POST", "/account/verwijderen", {"csrf": b.jar["at_csrf"], "current": PASSWORD})
    assert st == 200, body
    assert [p["id"] for p in ok(w.api["fac"].get(f"/tables/{tid}/people"))["items"]] == [fac_id]
    fails(w.api["fac"].post(f"/tables/{tid}/leave"), 409, "last_facilitator")
    fails(w.api["fac"].put(f"/tables/{tid}/people/{fac_id}", {"role": "member"}), 409, "last_facilitator")
    fails(w.api["fac"].delete(f"/tables/{tid}/people/{fac_id}"), 409, "last_facilitator")
    fails(w.api["fac"].put(f"/tables/{tid}/people/{fleur_id}", {"role": "member"}), 404, "not_found")
    assert ok(w.api["fac"].get(f"/tables/{tid}"))["my_role"] == "facilitator"


def test_contribution_pages_and_visits(w):
    tid = joined_table(w, "member")
    ids = [contribute(w.api["member"], tid, f"Punt {i}")["id"] for i in range(5)]
    contribute(w.api["fac"], tid, "Antwoord", parent_id=ids[0])
    assert [c["id"] for c in w.api["guest"].pages(f"/tables/{tid}/contributions", limit=2)] == ids
    assert ok(w.api["guest"].get(f"/tables/{tid}"))["contributions"] == 6
    fails(w.api["guest"].get(f"/tables/{tid}/contributions?cursor=bestaatniet!"), 400, "invalid_cursor")
    fails(w.api["guest"].get("/tables?cursor=AAAA"), 400, "invalid_cursor")
    fails(w.api["guest"].post(f"/tables/{tid}/visit"), 401, "unauthorized")
    assert ok(w.api["member"].post(f"/tables/{tid}/visit"))["last_visit_at"] is None
    assert ok(w.api["member"].get(f"/tables/{tid}"))["last_visit_at"] is not None
    assert ok(w.api["member"].post(f"/tables/{tid}/visit"))["last_visit_at"] is not None
    assert ok(w.api["cgm"].get(f"/tables/{tid}"))["last_visit_at"] is None


def test_an_invitation_never_lowers_a_role(w):
    tid = new_table(w, "closed")["id"]
    cgm = me(w.api["cgm"])
    ok(w.api["fac"].put(f"/tables/{tid}/people/{cgm}", {"role": "client"}))
    inv = ok(w.api["fac"].post(f"/tables/{tid}/invitations", {"role": "member"}), 201)
    ok(w.api["cgm"].post("/invitations/accept", {"token": inv["token"]}))
    assert ok(w.api["cgm"].get(f"/tables/{tid}"))["my_role"] == "client"
    up = ok(w.api["fac"].post(f"/tables/{tid}/invitations", {"role": "facilitator"}), 201)
    ok(w.api["cgm"].post("/invitations/accept", {"token": up["token"]}))
    assert ok(w.api["cgm"].get(f"/tables/{tid}"))["my_role"] == "facilitator"


def test_a_reporters_reason_is_not_made_public(w):
    tid = joined_table(w, "member")
    c = contribute(w.api["member"], tid, "iets")
    r = ok(w.api["fac"].post(f"/contributions/{c['id']}/reports", {"reason": "privé opmerking"}), 201)
    ok(w.api["fac"].post(f"/reports/{r['id']}", {"action": "hide"}))
    got = ok(w.api["member"].get(f"/contributions/{c['id']}"))
    assert got["hidden"] is True and got["hidden_reason"] is None


def test_links_people_write_carry_no_weight(w):
    tid = joined_table(w, "member")
    c = contribute(w.api["member"], tid, "Zie [de gemeente](https://example.nl/a?b=1&c=2) en <https://example.org>.")
    html = c["body_html"]
    assert html.count('<a rel="nofollow ugc noopener" href="') == 2, html
    assert 'href="https://example.nl/a?b=1&amp;c=2"' in html
    c = contribute(w.api["member"], tid, 'Geen link: `<a href="x">` en \\<a href="y">')
    assert "nofollow" not in c["body_html"] and "<a " not in c["body_html"], c["body_html"]
