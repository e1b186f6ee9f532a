"""The meetings' pages (plugins/site/meetings.lua), seen as a browser
without scripts sees them: plain HTTP with cookies and the CSRF token in
the forms.

* Per viewer (facilitator, a resident at the table, a signed-in resident
  not at it, a guest) on a public and a closed table: the table page's
  list of meetings to come, the meeting page (Dutch date and time, place,
  link, support, places left, registration state and buttons, the
  iCalendar file and the table's feed); a closed table's meeting is a 404
  page for those not at it, its calendar too.
* The facilitator plans a meeting with the form (from the table and from
  the method's `gesprek` step, where it belongs to the step), changes and
  cancels it, registers someone by name, sees the registrations and
  records attendance once it has begun; the report's document model has
  the meetings with attendance.
* Full: the waiting list message in Dutch; a cancellation promotes the
  first waiting.
* A POST without the CSRF token changes nothing; a `<script>` in a title
  or a name is escaped; another municipality does not reach it."""
import datetime
import re
import time

import pytest

from api_client import Api
from bundle_util import deployed, write_bundle
from harness import aantafel, wait_for
from test_signin import SMALL, Browser
from world import make_user, token_for

HOST, SLUG = "bijeenkomsten.test", "bijeenkomsten"
PEOPLE = {"fac": ("facilitator", "Fien"), "ria": ("member", "Ria"), "sam": ("member", "Sam"),
          "outsider": ("member", "Olaf")}


def at(**delta):
    return (datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(**delta)).isoformat(timespec="seconds")


def local_form(**delta):
    """A datetime-local value in Amsterdam time, as a browser sends it."""
    import zoneinfo
    t = datetime.datetime.now(zoneinfo.ZoneInfo("Europe/Amsterdam")) + datetime.timedelta(**delta)
    return t.strftime("%Y-%m-%dT%H:%M")


class W:
    def __init__(self, d, pg, tmp):
        self.d = d
        aantafel("tenant", "create", SLUG, "--name", "Gemeente Bijeenkomsten", "--host", HOST, env=pg.daemon_env())
        deployed(pg, SLUG, write_bundle(tmp / SLUG, {
            "tenant.lua": "return { workflow = 'volledig', plugins = { methode = {} } }"}))
        for who, (role, name) in PEOPLE.items():
            make_user(pg, SLUG, f"{who}@{HOST}", role, name)
        aantafel("tenant", "create", "mp-elders", "--name", "Gemeente Elders", "--host", "elders.mp.test",
                 env=pg.daemon_env())
        make_user(pg, "mp-elders", "els@elders.mp.test", "facilitator", "Els")
        wait_for(lambda: d.get("/inloggen", host=HOST)[0] == 200, what="sign-in page")
        wait_for(lambda: d.get("/inloggen", host="elders.mp.test")[0] == 200, what="the other sign-in page")
        self.elders = token_for(d, "elders.mp.test", "els@elders.mp.test")[1]
        self.api, self.b, self.ids = {"guest": Api(d, HOST)}, {"guest": Browser(d, HOST)}, {}
        for who in PEOPLE:
            token, b = token_for(d, HOST, f"{who}@{HOST}")
            self.api[who], self.b[who] = Api(d, HOST, token=token), b
            self.ids[who] = self.api[who].get("/me")[2]["id"]

    def table(self, visibility):
        fac = self.api["fac"]
        st, _, t = fac.post("/tables", {"title": "Plein " + visibility, "question": "Wat is nodig?",
                                        "visibility": visibility})
        assert st == 201, t
        for who in ("ria", "sam"):
            assert fac.put(f"/tables/{t['id']}/people/{self.ids[who]}", {"role": "member"})[0] == 200
        return t["id"]

    def meeting(self, tid, **extra):
        args = {"title": "Avond over het plein", "description": "We praten over **bankjes**.",
                "starts_at": at(days=3), "ends_at": at(days=3, hours=2), "place": "Buurthuis De Hoven", **extra}
        st, _, m = self.api["fac"].post(f"/tables/{tid}/meetings", args)
        assert st == 201, m
        return m

    def get(self, who, path):
        st, hdr, body, _ = self.b[who].go("GET", path)
        return st, hdr, body

    def post(self, who, path, form, csrf=True):
        f = dict(form)
        if csrf:
            f["csrf"] = self.b[who].csrf()
        st, hdr, body, _ = self.b[who].go("POST", path, f)
        return st, hdr, body

    def read(self, who, mid):
        st, _, m = self.api[who].get(f"/meetings/{mid}")
        assert st == 200, m
        return m


@pytest.fixture(scope="module")
def w(pg, make_daemon_module, tmp_path_factory):
    d = make_daemon_module({"workers": "2"}, {**pg.daemon_env(), **SMALL})
    return W(d, pg, tmp_path_factory.mktemp("meetingpages"))


def section(body, sid):
    m = re.search(r'<section id="%s".*?</section>' % sid, body, re.S)
    return m and m.group(0) or ""


def test_each_page_per_viewer(w):
    for vis in ("public", "closed"):
        tid = w.table(vis)
        m = w.meeting(tid, capacity=5, support=["interpreter", "playback_theatre"],
                      online_url="https://meet.example.org/plein")
        page = f"/bijeenkomsten/{m['id']}"
        for who in ("fac", "ria", "outsider", "guest"):
            st, _, body = w.get(who, f"/tafels/{tid}")
            if vis == "closed" and who in ("outsider", "guest"):
                assert st == 404 and "Avond over het plein" not in body, who
                for path in (page, page + "/agenda.ics", f"/tafels/{tid}/bijeenkomsten.ics"):
                    st, _, body = w.get(who, path)
                    assert st == 404 and "Avond" not in body, (who, path)
                continue
            assert st == 200, (who, body)
            s = section(body, "bijeenkomsten")
            assert f'href="{page}"' in s and "Buurthuis De Hoven" in s, (who, s)
            assert f'href="/tafels/{tid}/bijeenkomsten.ics"' in s
            assert ("/bijeenkomsten/nieuw" in s) == (who == "fac"), who
            st, _, body = w.get(who, page)
            assert st == 200, body
            assert "<strong>bankjes</strong>" in body and "Buurthuis De Hoven" in body
            assert 'href="https://meet.example.org/plein"' in body
            assert "Een tolk" in body and "Playbacktheater" in body
            assert "nog 5 plaatsen vrij" in body and "0 aangemeld" in body
            assert f'href="{page}/agenda.ics"' in body and "meetings." not in body
            # The time in Dutch: the weekday and month names.
            assert re.search(r"(maandag|dinsdag|woensdag|donderdag|vrijdag|zaterdag|zondag) \d+ "
                             r"(januari|februari|maart|april|mei|juni|juli|augustus|september|oktober|november|december)",
                             body), body
            reg = section(body, "aanmelding")
            assert (f'action="{page}/aanmelden"' in reg) == (who in ("ria", "fac") or (who == "outsider" and vis == "public")), who
            assert ("Log in om u aan te melden" in reg) == (who == "guest"), who
            assert (f'action="{page}/namen"' in body) == (who == "fac"), who
            assert (f'href="{page}/wijzigen"' in body) == (who == "fac"), who
            st, hdr, ics = w.get(who, page + "/agenda.ics")
            assert st == 200 and "BEGIN:VCALENDAR" in ics and "SUMMARY:Avond over het plein" in ics, ics
            assert hdr.get("content-type", "").startswith("text/calendar"), hdr
            st, hdr, feed = w.get(who, f"/tafels/{tid}/bijeenkomsten.ics")
            assert st == 200 and "BEGIN:VEVENT" in feed
        # The forms of others: only the facilitator's work.
        st, _, _ = w.get("ria", page + "/wijzigen")
        assert st == 403
        st, _, _ = w.get("ria", f"/tafels/{tid}/bijeenkomsten/nieuw")
        assert st == 403
        st, _, _ = w.post("ria", page + "/namen", {"name": "Iemand"})
        assert st == 403
        assert w.read("fac", m["id"])["registered"] == 0
    # Another municipality does not find it.
    st, _, body, _ = w.elders.go("GET", f"/bijeenkomsten/{m['id']}")
    assert st == 404 and "Avond" not in body


def test_register_full_waiting_list_and_promotion(w):
    tid = w.table("closed")
    m = w.meeting(tid, capacity=1)
    page = f"/bijeenkomsten/{m['id']}"
    st, hdr, _ = w.post("ria", page + "/aanmelden", {})
    assert st == 303 and hdr["location"].endswith(page + "#aanmelding"), hdr
    st, _, body = w.get("ria", page)
    assert "U bent aangemeld voor deze bijeenkomst." in body and f'action="{page}/afmelden"' in body
    assert "nog 0 plaatsen vrij" in body
    # Full: Sam is told so, in Dutch, and joins the waiting list.
    st, _, body = w.get("sam", page)
    assert "De bijeenkomst is vol. U kunt op de wachtlijst" in body and "Op de wachtlijst" in body
    st, _, _ = w.post("sam", page + "/aanmelden", {})
    assert st == 303
    st, _, body = w.get("sam", page)
    assert "u staat op de wachtlijst" in body and "Uw plaats op de wachtlijst: 1." in body
    # The facilitator sees both, and registers someone by name (waiting).
    st, _, _ = w.post("fac", page + "/namen", {"name": "<script>alert(1)</script> Jan"})
    assert st == 303
    st, _, body = w.get("fac", page)
    regs = section(body, "aanmeldingen")
    assert "Ria" in regs and "Sam" in regs and "Wachtlijst" in regs
    assert "<script>alert(1)</script>" not in body and "&lt;script&gt;alert(1)&lt;/script&gt; Jan" in regs
    # An empty name: the refusal on the page, in Dutch.
    st, _, body = w.post("fac", page + "/namen", {"name": " "})
    assert st == 400 and 'aria-invalid="true"' in body, body
    # Ria cancels: Sam is promoted.
    st, _, _ = w.post("ria", page + "/afmelden", {})
    assert st == 303
    assert w.read("sam", m["id"])["my_registration"]["state"] == "registered"
    st, _, body = w.get("sam", page)
    assert "U bent aangemeld voor deze bijeenkomst." in body
    st, _, body = w.get("ria", page)
    assert f'action="{page}/aanmelden"' in body and "De bijeenkomst is vol" in body
    # Cancelling again: the refusal on the page, nothing changes.
    st, _, body = w.post("ria", page + "/afmelden", {})
    assert st == 409 and "U bent niet aangemeld." in body, body


def test_csrf_and_escaping(w):
    tid = w.table("public")
    m = w.meeting(tid, title="<script>alert('x')</script> Avond", place="<b>Zaal</b>")
    page = f"/bijeenkomsten/{m['id']}"
    st, _, body = w.get("ria", page)
    assert "<script>alert('x')</script>" not in body and "&lt;script&gt;" in body
    assert "<b>Zaal</b>" not in body and "&lt;b&gt;Zaal&lt;/b&gt;" in body
    st, _, body = w.get("ria", f"/tafels/{tid}")
    assert "<script>alert('x')</script>" not in body
    for path, form in ((page + "/aanmelden", {}), (page + "/afgelasten", {}), (page + "/namen", {"name": "X"}),
                       (page, {"title": "Anders"}), (f"/tafels/{tid}/bijeenkomsten", {"title": "Nieuw"})):
        who = "ria" if path.endswith("aanmelden") else "fac"
        st, _, _ = w.post(who, path, form, csrf=False)
        assert st == 403, path
    after = w.read("fac", m["id"])
    assert after["registered"] == 0 and after["state"] == "planned" and after["title"].startswith("<script>")


def test_the_facilitator_plans_changes_cancels_and_records_attendance(w):
    tid = w.table("closed")
    st, _, body = w.get("fac", f"/tafels/{tid}/bijeenkomsten/nieuw")
    assert st == 200 and 'name="starts_at"' in body and "Een acteur" in body
    # A bad form: the errors in Dutch, the values kept.
    st, _, body = w.post("fac", f"/tafels/{tid}/bijeenkomsten", {"title": "Avond", "starts_at": "", "ends_at": "x"})
    assert st == 400 and "Vul een datum en tijd in." in body and "Vul een geldige datum en tijd in." in body
    form = {"title": "Gesprek in de bieb", "description": "Kom *ook*.", "starts_at": local_form(days=2),
            "ends_at": local_form(days=2, hours=2), "place": "Bibliotheek", "online_url": "", "capacity": "12",
            "support_actor": "1", "registration_open": "1"}
    st, _, body = w.post("fac", f"/tafels/{tid}/bijeenkomsten", {**form, "place": ""})
    assert st == 400 and "plaats" in body.lower(), body
    st, hdr, _ = w.post("fac", f"/tafels/{tid}/bijeenkomsten", form)
    assert st == 303, hdr
    mid = int(hdr["location"].rsplit("/", 1)[1])
    m = w.read("fac", mid)
    assert m["title"] == "Gesprek in de bieb" and m["capacity"] == 12 and m["support"] == ["actor"]
    assert m["starts_local"] == form["starts_at"] and m["place"] == "Bibliotheek"
    # Changed with the edit form (prefilled).
    st, _, body = w.get("fac", f"/bijeenkomsten/{mid}/wijzigen")
    assert st == 200 and 'value="Gesprek in de bieb"' in body and f'value="{form["starts_at"]}"' in body
    st, _, body = w.post("fac", f"/bijeenkomsten/{mid}", {**form, "title": "Gesprek in de bibliotheek", "capacity": ""})
    assert st == 303, re.findall(r"error-summary.*?</div>", body, re.S)
    m = w.read("fac", mid)
    assert m["title"] == "Gesprek in de bibliotheek" and m["capacity"] is None and m["support"] == ["actor"], m
    # The support cleared (no box ticked).
    form.pop("support_actor")
    st, _, body = w.post("fac", f"/bijeenkomsten/{mid}", {**form, "title": "Gesprek in de bibliotheek"})
    assert st == 303, re.findall(r"error-summary.*?</div>", body, re.S)
    assert w.read("fac", mid)["support"] == []
    # Cancelled with a reason: the page says so; registering is refused.
    st, _, _ = w.post("fac", f"/bijeenkomsten/{mid}/afgelasten", {"reason": "Zaal is dicht"})
    assert st == 303
    st, _, body = w.get("ria", f"/bijeenkomsten/{mid}")
    assert "Deze bijeenkomst is afgelast." in body and "Zaal is dicht" in body and "/aanmelden" not in body
    st, _, body = w.post("ria", f"/bijeenkomsten/{mid}/aanmelden", {})
    assert st == 409 and "Deze bijeenkomst is afgelast." in body
    # Attendance, once a meeting has begun.
    m = w.meeting(tid, starts_at=at(seconds=3), ends_at=at(hours=2))
    page = f"/bijeenkomsten/{m['id']}"
    for who in ("ria", "sam"):
        assert w.post(who, page + "/aanmelden", {})[0] == 303
    w.post("fac", page + "/namen", {"name": "Jan"})
    st, _, body = w.post("fac", page + "/aanwezigheid", {"walk_ins": "2"})
    assert st == 409 and "zodra de bijeenkomst begonnen is" in body, (st, re.findall(r"error-summary.*?</div>", body, re.S))
    time.sleep(4)
    st, _, body = w.get("fac", page)
    assert f'action="{page}/aanwezigheid"' in body
    regs = w.api["fac"].get(f"/meetings/{m['id']}/registrations")[2]["items"]
    ids = {r["name"]: r["id"] for r in regs}
    st, _, body = w.post("fac", page + "/aanwezigheid", {"walk_ins": "veel"})
    assert st == 400 and "Vul een heel getal in." in body
    st, _, _ = w.post("fac", page + "/aanwezigheid", {f"aanwezig_{ids['Ria']}": "1", f"aanwezig_{ids['Jan']}": "1",
                                                      "walk_ins": "4"})
    assert st == 303
    m = w.read("fac", m["id"])
    assert m["attendance"]["attended"] == 2 and m["attendance"]["walk_ins"] == 4
    st, _, body = w.get("ria", page)
    assert "2 aangemelde deelnemers kwamen, en 4 anderen liepen binnen." in body
    st, _, _ = w.post("ria", page + "/aanwezigheid", {"walk_ins": "9"})
    assert st == 403
    assert w.read("fac", m["id"])["attendance"]["walk_ins"] == 4


def test_english(w):
    tid = w.table("public")
    m = w.meeting(tid, capacity=1)
    page = f"/bijeenkomsten/{m['id']}"
    w.post("ria", page + "/aanmelden", {})
    b = w.b["sam"]
    b.go("GET", "/taal?lang=en")
    st, _, body, _ = b.go("GET", page)
    assert st == 200 and "The meeting is full. You can join the waiting list" in body, body
    assert "Add this meeting to your calendar" in body and "meetings." not in body
    b.go("GET", "/taal?lang=nl")


def test_the_gesprek_step_and_the_report(w):
    tid = w.table("public")
    st, _, step = w.get("fac", f"/tafels/{tid}/stappen/gesprek")
    assert st == 200 and f'href="/tafels/{tid}/bijeenkomsten/nieuw?stap=gesprek"' in step, step
    assert "In deze stap is nog geen bijeenkomst gepland." in step
    st, _, body = w.get("fac", f"/tafels/{tid}/bijeenkomsten/nieuw?stap=gesprek")
    assert st == 200 and 'name="step" value="gesprek"' in body and "In de stap" in body
    st, hdr, body = w.post("fac", f"/tafels/{tid}/bijeenkomsten", {
        "title": "Het gesprek met de groep", "starts_at": local_form(days=4), "ends_at": local_form(days=4, hours=2),
        "place": "Wijkcentrum", "step": "gesprek", "registration_open": "1"})
    assert st == 303, re.findall(r"error-summary.*?</div>", body, re.S)
    mid = int(hdr["location"].rsplit("/", 1)[1])
    assert w.read("fac", mid)["step_id"] == "gesprek"
    st, _, step = w.get("fac", f"/tafels/{tid}/stappen/gesprek")
    assert f'href="/bijeenkomsten/{mid}"' in step and "Het gesprek met de groep" in step
    st, _, page = w.get("fac", f"/bijeenkomsten/{mid}")
    assert f'href="/tafels/{tid}/stappen/gesprek"' in page
    # A meeting held, its attendance recorded: in the report's document
    # and page, with the names for the facilitator, the count for all.
    m = w.meeting(tid, title="Avond die plaatsvond", starts_at=at(seconds=3), ends_at=at(hours=2))
    w.meeting(tid, title="Avond nog te komen")
    assert w.post("ria", f"/bijeenkomsten/{m['id']}/aanmelden", {})[0] == 303
    time.sleep(4)
    rid = w.api["fac"].get(f"/meetings/{m['id']}/registrations")[2]["items"][0]["id"]
    st, _, _ = w.post("fac", f"/bijeenkomsten/{m['id']}/aanwezigheid", {f"aanwezig_{rid}": "1", "walk_ins": "3"})
    assert st == 303
    st, _, rec = w.api["fac"].post(f"/tables/{tid}/records", {"step": "verslag", "kind": "report",
                                                              "fields": {"summary": "Samenvatting"}})
    assert st == 201, rec
    for who in ("fac", "ria", "guest"):
        st, _, body = w.get(who, f"/tafels/{tid}/verslag")
        assert st == 200, (who, body)
        s = re.search(r'<section aria-labelledby="r-bijeenkomsten"[^>]*>.*?</section>', body, re.S)
        assert s, (who, body)
        s = s.group(0)
        assert "Avond die plaatsvond" in s and "Aanwezig: 4" in s, (who, s)
        assert "Avond nog te komen" not in s and "Het gesprek met de groep" not in s
        assert ("Ria" in s) == (who == "fac"), (who, s)
