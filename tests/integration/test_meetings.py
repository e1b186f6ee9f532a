"""Meetings through /api/v1 (sql/code/meetings.sql): a facilitator plans
a meeting, the table's people register and cancel, a full meeting keeps a
waiting list (100 registrations at once for 20 places: exactly 20
registered and 80 waiting in order; a cancellation promotes exactly the
first waiting and mails them; a larger capacity promotes as many as fit);
a facilitator registers people without an account by name, removes a
registration and records attendance; cancelling; the iCalendar file and
feed (parsed by python3-icalendar, and checked line by line for folding
and escaping); every bad field a 400 naming it; CSRF; the events with a
plugin's hooks; the account export and erasure."""
import datetime
import json
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import icalendar
import pytest

from api_client import Api
from bundle_util import deployed, sql, write_bundle
from harness import aantafel, make_request, parse_response, wait_for
from test_signin import SMALL, Browser
from world import PASSWORD, make_user, token_for

HOST, SLUG = "vergader.mt.test", "mt-vergader"
OTHER, OTHER_SLUG = "elders.mt.test", "mt-elders"
CROWD, PLACES = 100, 20

PLUGIN = """
for _, name in ipairs({ "meeting.created", "meeting.changed", "meeting.cancelled" }) do
	plugin.hook(name, function(m)
		plugin.store.put(name .. "/" .. m.id, { title = m.title, state = m.state, by = m.by,
			capacity = m.capacity or 0 })
	end)
end
plugin.route("GET", "/vergader/log/:id", function(req, params)
	local out = {}
	for _, row in ipairs(plugin.store.list("", { limit = 100 })) do
		if row.key:match("/" .. params.id .. "$") then out[#out + 1] = { key = row.key, value = row.value } end
	end
	return { json = out }
end)
"""

BUNDLE = {
    "tenant.lua": 'return { plugins = { vergader = {} } }',
    "plugins/vergader.lua": PLUGIN,
}


def at(**delta):
    return (datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(**delta)).isoformat(timespec="seconds")


class Cast:
    def __init__(self, d, pg):
        self.d, self.pg = d, pg
        people = {"fac": ("fac@mt.test", "facilitator", "Fien"), "client": ("client@mt.test", "member", "Otto"),
                  "anna": ("anna@mt.test", "member", "Anna"), "bram": ("bram@mt.test", "member", "Bram"),
                  "resident": ("bert@mt.test", "member", "Bert")}
        for email, role, name in people.values():
            make_user(pg, SLUG, email, role, name)
        wait_for(lambda: d.get("/inloggen", host=HOST)[0] == 200, what="sign-in page")
        self.api = {"guest": Api(d, HOST)}
        self.ids, self.browser = {}, {}
        for who, (email, _, _) in people.items():
            tok, self.browser[who] = token_for(d, HOST, email)
            self.api[who] = Api(d, HOST, token=tok)
            self.ids[who] = self.api[who].get("/me")[2]["id"]

    def table(self, visibility="closed"):
        fac = self.api["fac"]
        st, _, t = fac.post("/tables", {"title": "Het plein", "question": "Wat is ervoor nodig?", "visibility": visibility})
        assert st == 201, t
        for who, role in (("client", "client"), ("anna", "member"), ("bram", "member")):
            st, _, body = fac.put(f"/tables/{t['id']}/people/{self.ids[who]}", {"role": role})
            assert st == 200, body
        return t["id"]

    def meeting(self, tid, **extra):
        body = {"title": "Avond over het plein", "description": "We praten over **bankjes**.",
                "starts_at": at(days=3), "ends_at": at(days=3, hours=2), "place": "Buurthuis De Hoven"}
        body.update(extra)
        st, _, m = self.api["fac"].post(f"/tables/{tid}/meetings", body)
        assert st == 201, m
        return m


@pytest.fixture(scope="module")
def cast(pg, make_daemon_module, tmp_path_factory):
    aantafel("tenant", "create", SLUG, "--name", "Gemeente Vergader", "--host", HOST, env=pg.daemon_env())
    deployed(pg, SLUG, write_bundle(tmp_path_factory.mktemp("vergader"), BUNDLE))
    aantafel("tenant", "create", OTHER_SLUG, "--name", "Gemeente Elders", "--host", OTHER, env=pg.daemon_env())
    # A hundred registrations queue for one meeting's row: the pool's wait
    # is long enough for all of them on a busy test machine.
    d = make_daemon_module({"workers": "2", "db_wait_timeout": "30s"}, {**pg.daemon_env(), **SMALL})
    c = Cast(d, pg)
    make_user(pg, OTHER_SLUG, "admin@elders.mt.test", "admin", "Els")
    c.foreign = Api(d, OTHER, token=token_for(d, OTHER, "admin@elders.mt.test")[0])
    return c


def log(cast, mid):
    st, _, body = cast.d.get(f"/vergader/log/{mid}", host=HOST)
    assert st == 200, body
    return {e["key"].split("/")[0]: e["value"] for e in json.loads(body)}


def raw_get(cast, path, host=HOST, token=None):
    h = {"Connection": "close"}
    if token:
        h["Authorization"] = "Bearer " + token
    return parse_response(cast.d.raw(make_request("GET", "/api/v1" + path, host, h)))


def mails_to(cast, addr):
    # The meetings' own mails; notifications of what the table follows
    # (test_notifications.py) carry an unsubscribe link.
    return sql(cast.pg, "super", "SELECT subject, body_text FROM mail_outbox WHERE to_addr = %s"
               " AND unsubscribe_url IS NULL ORDER BY id", (addr,))


def test_the_whole_path_of_a_meeting(cast):
    fac, anna, client = cast.api["fac"], cast.api["anna"], cast.api["client"]
    tid = cast.table()
    m = cast.meeting(tid, capacity=2, support=["interpreter", "other", "actor"], support_note="Een tekenaar")
    mid = m["id"]
    assert m["state"] == "planned" and m["registration_open"] and m["capacity"] == 2
    assert "<strong>bankjes</strong>" in m["description_html"]
    assert m["support"] == ["actor", "interpreter", "other"] and m["support_note"] == "Een tekenaar"
    assert m["timezone"] == "Europe/Amsterdam" and m["registered"] == 0 and m["places_left"] == 2
    assert m["can_manage"] and m["can_register"] is True
    assert log(cast, mid)["meeting.created"]["by"] == cast.ids["fac"]
    # Two register (one twice: nothing changes), the third waits.
    st, _, a = anna.put(f"/meetings/{mid}/registration")
    assert st == 200 and a["my_registration"]["state"] == "registered" and not a["can_register"], a
    assert anna.put(f"/meetings/{mid}/registration")[2]["registered"] == 1
    assert client.put(f"/meetings/{mid}/registration")[2]["my_registration"]["state"] == "registered"
    st, _, b = cast.api["bram"].put(f"/meetings/{mid}/registration", {"lang": "en"})
    assert st == 200 and b["my_registration"] == {**b["my_registration"], "state": "waiting", "position": 1}, b
    assert b["registered"] == 2 and b["waiting"] == 1 and b["places_left"] == 0
    # Names to the facilitators and the client; counts and one's own to the others.
    for who in ("fac", "client"):
        st, _, regs = cast.api[who].get(f"/meetings/{mid}/registrations")
        assert st == 200 and [(r["name"], r["state"]) for r in regs["items"]] == [
            ("Anna", "registered"), ("Otto", "registered"), ("Bram", "waiting")], (who, regs)
    st, _, regs = anna.get(f"/meetings/{mid}/registrations")
    assert regs["items"] is None and regs["registered"] == 2 and regs["waiting"] == 1
    assert regs["mine"]["state"] == "registered" and "name" not in regs["mine"]
    # Anna cancels: Bram, first in line, is promoted and mailed, in English.
    st, _, a = anna.delete(f"/meetings/{mid}/registration")
    assert st == 200 and a["my_registration"] is None and a["registered"] == 2 and a["waiting"] == 0
    assert cast.api["bram"].get(f"/meetings/{mid}")[2]["my_registration"]["state"] == "registered"
    got = mails_to(cast, "bram@mt.test")
    assert len(got) == 1 and got[0][0] == "A place for you: Avond over het plein", got
    assert "you are registered" in got[0][1]
    # Cancelling again: not registered.
    st, _, e = anna.delete(f"/meetings/{mid}/registration")
    assert st == 409 and e["error"]["code"] == "not_registered"
    # A change: the capacity and the place; meeting.changed.
    st, _, m = fac.patch(f"/meetings/{mid}", {"capacity": 0, "place": "Het dorpshuis"})     # 0: no limit
    assert st == 200 and m["capacity"] is None and m["places_left"] is None and m["place"] == "Het dorpshuis"
    assert log(cast, mid)["meeting.changed"]["capacity"] == 0
    # Registration closed: residents are refused, a facilitator still registers by name.
    assert fac.patch(f"/meetings/{mid}", {"registration_open": False})[0] == 200
    st, _, e = anna.put(f"/meetings/{mid}/registration")
    assert st == 409 and e["error"]["code"] == "registration_closed"
    st, _, regs = fac.post(f"/meetings/{mid}/registrations", {"name": "Mevrouw Jansen"})
    jansen = [r for r in regs["items"] if r["id"] == regs["registration_id"]]
    assert st == 201 and jansen == [{**jansen[0], "name": "Mevrouw Jansen", "account": None, "state": "registered"}]
    # Residents and guests may not manage.
    assert anna.patch(f"/meetings/{mid}", {"title": "x"})[0] == 403
    assert anna.post(f"/meetings/{mid}/registrations", {"name": "x"})[0] == 403
    assert anna.post(f"/meetings/{mid}/cancel")[0] == 403
    assert cast.api["guest"].get(f"/meetings/{mid}")[0] == 404            # a closed table
    # Cancelling the meeting: meeting.cancelled, then every change is a 409.
    st, _, m = fac.post(f"/meetings/{mid}/cancel", {"reason": "De zaal is dicht"})
    assert st == 200 and m["state"] == "cancelled" and m["cancel_reason"] == "De zaal is dicht" and not m["can_register"]
    assert log(cast, mid)["meeting.cancelled"]["state"] == "cancelled"
    for answer in (fac.post(f"/meetings/{mid}/cancel"), fac.patch(f"/meetings/{mid}", {"title": "Toch"}),
                   client.delete(f"/meetings/{mid}/registration"),
                   fac.post(f"/meetings/{mid}/registrations", {"name": "Nog een"})):
        assert answer[0] == 409 and answer[2]["error"]["code"] == "cancelled", answer


def test_a_name_only_registration_removed_and_attendance(cast):
    fac = cast.api["fac"]
    tid = cast.table()
    # Starts in a few seconds: registrations before, attendance after.
    starts = datetime.datetime.fromisoformat(at(seconds=4))
    mid = cast.meeting(tid, capacity=2, starts_at=starts.isoformat(), ends_at=at(hours=1))["id"]
    st, _, e = fac.put(f"/meetings/{mid}/attendance", {"walk_ins": 3})
    assert st == 409 and e["error"]["code"] == "not_begun"
    st, _, regs = fac.post(f"/meetings/{mid}/registrations", {"name": "Henk zonder account"})
    assert st == 201 and regs["registered"] == 1
    henk = regs["registration_id"]
    assert cast.api["anna"].put(f"/meetings/{mid}/registration")[0] == 200
    assert fac.post(f"/meetings/{mid}/registrations", {"name": "Truus"})[2]["waiting"] == 1
    # Removing Henk promotes Truus (no address: no mail).
    outbox = sql(cast.pg, "super", "SELECT count(*) FROM mail_outbox WHERE unsubscribe_url IS NULL")[0][0]
    st, _, regs = fac.delete(f"/meetings/{mid}/registrations/{henk}")
    assert st == 200 and [(r["name"], r["state"]) for r in regs["items"]] == [
        ("Anna", "registered"), ("Truus", "registered"), ("Henk zonder account", "cancelled")], regs
    assert sql(cast.pg, "super", "SELECT count(*) FROM mail_outbox WHERE unsubscribe_url IS NULL")[0][0] == outbox
    assert fac.delete(f"/meetings/{mid}/registrations/999999")[0] == 404
    ids = {r["name"]: r["id"] for r in regs["items"]}
    time.sleep(max(0.0, (starts - datetime.datetime.now(datetime.timezone.utc)).total_seconds()) + 0.5)
    # Begun: no more registering or cancelling; attendance now.
    st, _, e = cast.api["bram"].put(f"/meetings/{mid}/registration")
    assert st == 409 and e["error"]["code"] == "past"
    st, _, e = cast.api["anna"].delete(f"/meetings/{mid}/registration")
    assert st == 409 and e["error"]["code"] == "past"
    st, _, regs = fac.put(f"/meetings/{mid}/attendance", {
        "attended": [{"registration_id": ids["Anna"], "attended": True}, {"registration_id": ids["Truus"], "attended": False}],
        "walk_ins": 3})
    assert st == 200, regs
    assert {r["name"]: r["attended"] for r in regs["items"]} == {"Anna": True, "Truus": False, "Henk zonder account": None}
    assert regs["walk_ins"] == 3
    m = cast.api["anna"].get(f"/meetings/{mid}")[2]
    assert m["attendance"]["attended"] == 1 and m["attendance"]["walk_ins"] == 3
    # A cancelled registration, or another meeting's, is no one to record.
    for bad in ({"attended": [{"registration_id": ids["Henk zonder account"], "attended": True}]},
                {"attended": [{"registration_id": 999999, "attended": True}]},
                {"attended": [{"registration_id": ids["Anna"], "attended": "ja"}]},
                {"walk_ins": -1}, {"walk_ins": "drie"}, {}):
        st, _, e = fac.put(f"/meetings/{mid}/attendance", bad)
        assert st == 400 and set(e["error"]["fields"]) & {"attended", "walk_ins"}, (bad, e)
    assert cast.api["anna"].put(f"/meetings/{mid}/attendance", {"walk_ins": 1})[0] == 403


def test_bad_fields_are_400s_naming_them(cast):
    fac = cast.api["fac"]
    tid = cast.table()
    good = {"title": "Avond", "starts_at": at(days=2), "ends_at": at(days=2, hours=2), "place": "Buurthuis"}
    cases = [
        ({"title": ""}, "title"), ({"title": "x" * 201}, "title"), ({"title": 7}, "title"),
        ({"starts_at": "2030-01-01T19:00:00"}, "starts_at"),           # no zone
        ({"starts_at": "morgen"}, "starts_at"), ({"starts_at": at(days=-1)}, "starts_at"),
        ({"ends_at": at(days=1)}, "ends_at"),                             # before the start
        ({"ends_at": at(days=30)}, "ends_at"),                            # longer than 14 days
        ({"online_url": "javascript:alert(1)"}, "online_url"), ({"online_url": "ftp://x.nl"}, "online_url"),
        ({"online_url": "https://"}, "online_url"), ({"online_url": "HTTPS://x.nl"}, "online_url"),
        ({"online_url": "https://x.nl/a b"}, "online_url"),
        ({"capacity": 100001}, "capacity"), ({"capacity": "20"}, "capacity"), ({"capacity": 1.5}, "capacity"),
        ({"support": ["dj"]}, "support"), ({"support": "actor"}, "support"),
        ({"support": ["other"]}, "support_note"),
        ({"place": ""}, "place"), ({"place": None}, "place"),
        ({"group_id": 999999}, "group_id"), ({"step": "nergens"}, "step"),
        ({"registration_open": "ja"}, "registration_open"),
    ]
    for change, field in cases:
        st, _, e = fac.post(f"/tables/{tid}/meetings", {**good, **change})
        assert st == 400 and field in e["error"]["fields"], (change, e)
    mid = fac.post(f"/tables/{tid}/meetings", {**good, "place": None, "online_url": "https://meet.example.nl/plein"})
    assert mid[0] == 201 and mid[2]["online_url"] == "https://meet.example.nl/plein"
    mid = mid[2]["id"]
    for change, field in (({"ends_at": at(days=1)}, "ends_at"), ({"online_url": ""}, "place"),
                          ({"capacity": -3}, "capacity"), ({"group_id": 1}, "group_id"), ({"title": " "}, "title")):
        st, _, e = fac.patch(f"/meetings/{mid}", change)
        assert st == 400 and field in e["error"]["fields"], (change, e)
    st, _, e = cast.api["anna"].put(f"/meetings/{mid}/registration", {"lang": "fr"})
    assert st == 400 and "lang" in e["error"]["fields"]
    for name in ("", "x" * 101, "twee\nregels"):
        st, _, e = fac.post(f"/meetings/{mid}/registrations", {"name": name})
        assert st == 400 and "name" in e["error"]["fields"], (name, e)
    assert fac.get("/meetings/999999")[0] == 404
    assert fac.post(f"/meetings/{mid}/cancel", {"reason": 5})[0] == 400


def test_a_session_changes_only_with_its_csrf_token(cast):
    tid = cast.table()
    mid = cast.meeting(tid)["id"]
    b = cast.browser["anna"]
    st, _, me = Api(cast.d, HOST, browser=b).get("/me")
    without = Api(cast.d, HOST, browser=b)
    st, _, e = without.put(f"/meetings/{mid}/registration")
    assert st == 403 and e["error"]["code"] == "csrf"
    assert cast.api["fac"].get(f"/meetings/{mid}/registrations")[2]["registered"] == 0
    with_token = Api(cast.d, HOST, browser=b, csrf=me["csrf_token"])
    assert with_token.put(f"/meetings/{mid}/registration")[0] == 200
    assert with_token.delete(f"/meetings/{mid}/registration")[0] == 200
    # A form of another site cannot put the arguments in the query string.
    assert with_token.put(f"/meetings/{mid}/registration?lang=en")[0] == 400


def test_a_groups_meeting_is_for_its_members(cast):
    fac = cast.api["fac"]
    tid = cast.table(visibility="public")
    st, _, g = fac.post(f"/tables/{tid}/groups", {"name": "Kring", "visibility": "public"})
    assert st == 201
    assert cast.api["anna"].post(f"/groups/{g['id']}/join")[0] == 200
    mid = cast.meeting(tid, group_id=g["id"])["id"]
    assert cast.api["anna"].put(f"/meetings/{mid}/registration")[0] == 200
    st, _, e = cast.api["bram"].put(f"/meetings/{mid}/registration")
    assert st == 403 and "group" in e["error"]["message"]
    assert cast.api["resident"].put(f"/meetings/{mid}/registration")[0] == 403
    assert cast.api["guest"].put(f"/meetings/{mid}/registration")[0] == 401
    # A public table's meeting: every signed-in resident may come.
    open_mid = cast.meeting(tid)["id"]
    st, _, m = cast.api["resident"].put(f"/meetings/{open_mid}/registration")
    assert st == 200 and m["my_registration"]["state"] == "registered"


def unfold(text):
    assert text.endswith("\r\n")
    lines = text[:-2].split("\r\n")
    for line in lines:
        assert len(line.encode()) <= 75, line
        assert "\n" not in line and "\r" not in line
    out = []
    for line in lines:
        if line.startswith(" "):
            out[-1] += line[1:]
        else:
            out.append(line)
    return out


def test_the_icalendar_file_and_feed(cast):
    fac = cast.api["fac"]
    tid = cast.table(visibility="public")
    title = "Bankjes, bomen; en \\ meer\nvoor het plein " + "é" * 60 + " " + "x" * 200
    title = title[:200]
    m = cast.meeting(tid, title=title, description="Regel één,\nregel twee; klaar", place="Zaal 1, boven",
                     online_url="https://meet.example.nl/plein?a=1;b=2", starts_at="2031-03-05T19:30:00+01:00",
                     ends_at="2031-03-05T21:00:00+01:00")
    mid = m["id"]
    st, hdr, body = raw_get(cast, f"/meetings/{mid}/ical")
    assert st == 200 and hdr["content-type"] == "text/calendar; charset=utf-8", hdr
    text = body.decode()
    lines = unfold(text)
    assert lines[0] == "BEGIN:VCALENDAR" and lines[-1] == "END:VCALENDAR"
    summary = [x for x in lines if x.startswith("SUMMARY:")]
    want = title.replace("\\", "\\\\").replace(";", "\\;").replace(",", "\\,").replace("\n", "\\n")
    assert summary == ["SUMMARY:" + want]
    assert any(len(x.encode()) > 75 for x in lines)           # the summary was folded
    assert "DTSTART:20310305T183000Z" in lines and "DTEND:20310305T200000Z" in lines
    assert "LOCATION:Zaal 1\\, boven" in lines and "STATUS:CONFIRMED" in lines
    assert f"UID:meeting-" in text and "DTSTAMP:" in text
    cal = icalendar.Calendar.from_ical(text)
    ev = cal.walk("VEVENT")[0]
    assert str(ev["SUMMARY"]) == title and str(ev["DESCRIPTION"]) == "Regel één,\nregel twee; klaar"
    assert str(ev["LOCATION"]) == "Zaal 1, boven" and str(ev["URL"]) == "https://meet.example.nl/plein?a=1;b=2"
    assert ev.decoded("DTSTART") == datetime.datetime(2031, 3, 5, 18, 30, tzinfo=datetime.timezone.utc)
    uid = str(ev["UID"])
    # The feed: guests read a public table's; the UID is the same.
    cast.meeting(tid, title="Tweede avond")
    st, hdr, body = raw_get(cast, f"/tables/{tid}/meetings.ical")
    assert st == 200 and hdr["content-type"].startswith("text/calendar")
    feed = icalendar.Calendar.from_ical(body.decode())
    events = feed.walk("VEVENT")
    assert [str(e["SUMMARY"]) for e in events] == ["Tweede avond", title] and str(events[1]["UID"]) == uid
    # An ETag, and 304 with it.
    st, hdr2, _ = parse_response(cast.d.raw(make_request("GET", f"/api/v1/tables/{tid}/meetings.ical", HOST,
                                                         {"Connection": "close", "If-None-Match": hdr["etag"]})))
    assert st == 304
    # Cancelled: STATUS:CANCELLED, a new SEQUENCE, the same UID.
    assert fac.post(f"/meetings/{mid}/cancel")[0] == 200
    ev = icalendar.Calendar.from_ical(raw_get(cast, f"/meetings/{mid}/ical")[2].decode()).walk("VEVENT")[0]
    assert str(ev["STATUS"]) == "CANCELLED" and str(ev["UID"]) == uid and int(ev["SEQUENCE"]) == 1
    # A closed table's calendar is not there for guests (JSON 404).
    closed = cast.table()
    cmid = cast.meeting(closed)["id"]
    for path in (f"/meetings/{cmid}/ical", f"/tables/{closed}/meetings.ical"):
        st, hdr, body = raw_get(cast, path)
        assert st == 404 and hdr["content-type"] == "application/json", path
        st, hdr, body = raw_get(cast, path, host=OTHER, token=cast.foreign.token)
        assert st == 404, path
    assert cast.api["anna"].get(f"/meetings/{cmid}")[0] == 200


def test_a_hundred_register_at_once_for_twenty_places(cast):
    fac = cast.api["fac"]
    tid = cast.table(visibility="public")
    mid = cast.meeting(tid, capacity=PLACES)["id"]
    emails = [f"r{i}@menigte.mt.test" for i in range(CROWD)]
    with ThreadPoolExecutor(8) as ex:
        list(ex.map(lambda e: make_user(cast.pg, SLUG, e, "member", "Bewoner " + e.split("@")[0]), emails))
        tokens = list(ex.map(lambda e: token_for(cast.d, HOST, e)[0], emails))
    crowd = [Api(cast.d, HOST, token=tok) for tok in tokens]
    start = threading.Barrier(CROWD)
    results = [None] * CROWD

    def register(i):
        start.wait()
        results[i] = crowd[i].put(f"/meetings/{mid}/registration", {"lang": "en" if i % 2 else "nl"})

    threads = [threading.Thread(target=register, args=(i,)) for i in range(CROWD)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    assert [r[0] for r in results] == [200] * CROWD, [r for r in results if r[0] != 200][:3]
    states = [r[2]["my_registration"]["state"] for r in results]
    assert states.count("registered") == PLACES and states.count("waiting") == CROWD - PLACES
    rows = sql(cast.pg, "super", "SELECT r.state, r.position, r.created_at, a.email FROM meeting_registrations r "
               "JOIN accounts a ON a.tenant_id = r.tenant_id AND a.id = r.account_id "
               "WHERE r.meeting_id = %s ORDER BY r.id", (mid,))
    assert len(rows) == CROWD
    waiting = sorted((r for r in rows if r[0] == "waiting"), key=lambda r: r[1])
    registered = [r for r in rows if r[0] == "registered"]
    # In order: positions 1..80, each waiting one after every registered one.
    assert [r[1] for r in waiting] == list(range(1, CROWD - PLACES + 1))
    assert max(r[2] for r in registered) <= min(r[2] for r in waiting)
    assert [r[2] for r in waiting] == sorted(r[2] for r in waiting)
    # What each was told is their place in line.
    told = {emails[i]: r[2]["my_registration"]["position"] for i, r in enumerate(results)}
    assert all(told[r[3]] == r[1] for r in waiting)
    st, _, regs = fac.get(f"/meetings/{mid}/registrations")
    assert regs["registered"] == PLACES and regs["waiting"] == CROWD - PLACES
    # One cancels: exactly the first waiting is promoted, and mailed once.
    crowd_of = dict(zip(emails, crowd))
    before = sql(cast.pg, "super", "SELECT count(*) FROM mail_outbox WHERE to_addr LIKE '%%@menigte.mt.test'"
                                   " AND unsubscribe_url IS NULL")[0][0]
    assert before == 0
    assert crowd_of[registered[0][3]].delete(f"/meetings/{mid}/registration")[0] == 200
    sent = sql(cast.pg, "super", "SELECT to_addr, subject FROM mail_outbox WHERE to_addr LIKE '%%@menigte.mt.test'"
                                 " AND unsubscribe_url IS NULL")
    first = waiting[0][3]
    assert [s[0] for s in sent] == [first], sent
    lang_en = emails.index(first) % 2 == 1
    assert sent[0][1].startswith("A place for you" if lang_en else "Er is een plek voor u"), sent
    assert crowd_of[first].get(f"/meetings/{mid}")[2]["my_registration"]["state"] == "registered"
    assert crowd_of[waiting[1][3]].get(f"/meetings/{mid}")[2]["my_registration"]["position"] == 1
    # A larger capacity promotes as many as fit, in order; a smaller one keeps them.
    st, _, m = fac.patch(f"/meetings/{mid}", {"capacity": PLACES + 5})
    assert st == 200 and m["registered"] == PLACES + 5 and m["waiting"] == CROWD - PLACES - 6
    sent = sql(cast.pg, "super", "SELECT to_addr FROM mail_outbox WHERE to_addr LIKE '%%@menigte.mt.test'"
                                 " AND unsubscribe_url IS NULL ORDER BY id")
    assert [s[0] for s in sent] == [w[3] for w in waiting[:6]]
    st, _, m = fac.patch(f"/meetings/{mid}", {"capacity": 10})
    assert st == 200 and m["registered"] == PLACES + 5 and m["places_left"] == 0
    assert sql(cast.pg, "super", "SELECT count(*) FROM meeting_registrations WHERE meeting_id = %s "
               "AND state = 'registered'", (mid,))[0][0] == PLACES + 5


def test_another_municipality_finds_no_meeting_of_ours(cast):
    tid = cast.table(visibility="public")
    mid = cast.meeting(tid)["id"]
    foreign = cast.foreign
    assert cast.api["guest"].get(f"/meetings/{mid}")[0] == 200
    for path in (f"/meetings/{mid}", f"/tables/{tid}/meetings", f"/meetings/{mid}/registrations"):
        assert foreign.get(path)[0] == 404, path
    assert foreign.put(f"/meetings/{mid}/registration")[0] == 404
    assert foreign.delete(f"/meetings/{mid}/registration")[0] == 404
    assert foreign.patch(f"/meetings/{mid}", {"title": "x"})[0] == 404
    assert foreign.post(f"/meetings/{mid}/cancel")[0] == 404
    assert foreign.post(f"/meetings/{mid}/registrations", {"name": "x"})[0] == 404
    assert foreign.put(f"/meetings/{mid}/attendance", {"walk_ins": 1})[0] == 404
    assert foreign.post(f"/tables/{tid}/meetings", {"title": "t", "starts_at": at(days=1), "ends_at": at(days=1, hours=1),
                                                     "place": "x"})[0] == 404
    m = cast.api["guest"].get(f"/meetings/{mid}")[2]
    assert m["state"] == "planned" and m["title"] == "Avond over het plein"


def test_the_export_has_ones_registrations_and_erasure_anonymises_them(cast):
    tid = cast.table(visibility="public")
    mid = cast.meeting(tid, capacity=1)["id"]
    make_user(cast.pg, SLUG, "weg@mt.test", "member", "Wim Weg")
    tok, _ = token_for(cast.d, HOST, "weg@mt.test")
    wim = Api(cast.d, HOST, token=tok)
    assert cast.api["anna"].put(f"/meetings/{mid}/registration")[0] == 200
    assert wim.put(f"/meetings/{mid}/registration")[0] == 200          # waiting
    st, _, doc = wim.get("/me/export")
    assert st == 200 and [(r["meeting_id"], r["state"], r["title"]) for r in doc["meeting_registrations"]] == [
        (mid, "waiting", "Avond over het plein")], doc["meeting_registrations"]
    wid = wim.get("/me")[2]["id"]
    st, _, body = wim.delete("/me", body={"current": PASSWORD})
    assert st == 200, body
    rows = sql(cast.pg, "super", "SELECT account_id, name, state FROM meeting_registrations WHERE meeting_id = %s "
               "ORDER BY id", (mid,))
    assert rows[1] == (None, None, "cancelled") and rows[0][0] == cast.ids["anna"], rows
    assert sql(cast.pg, "super", "SELECT count(*) FROM meeting_registrations WHERE account_id = %s", (wid,))[0][0] == 0
    st, _, regs = cast.api["fac"].get(f"/meetings/{mid}/registrations")
    assert regs["waiting"] == 0 and [r["name"] for r in regs["items"]] == ["Anna", None]
