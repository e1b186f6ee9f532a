"""The residents' notification pages (plugins/site/notifications.lua),
seen as a browser without scripts sees them: plain HTTP with cookies and
the CSRF token in the forms.

* Following from a table's and a group's page: the form for a signed-in
  person (the cadence as the API has it), the sign-in line for a guest;
  a bad cadence is refused with its reason; a closed group's follow form
  only for its members.
* /meldingen: what is new, newest first, the unread marked, linking to
  each item; shown once as unread, then marked read; paged; the follows
  with a cadence each and the mail switch; a guest is sent to sign in.
* A hostile table title is escaped in the list and the follows.
* /afmelden/TOKEN: GET changes nothing; POST without a session or a CSRF
  token (a mail client's one-click post) turns the mail off; an unknown
  token is a 404 page; a session sent along changes nothing for its
  owner. Every other form still refuses a missing CSRF token.
* /beheer/instellingen: the digests' hour and weekday, changed by an
  admin, a bad value refused naming the field."""
import datetime
import re
import zoneinfo

import pytest

from api_client import Api
from bundle_util import sql
from harness import aantafel, make_request, parse_response, wait_for
from test_signin import SMALL, Browser
from world import make_user, token_for

HOST, SLUG = "meldingen.test", "meldingen"
PEOPLE = {"fac": ("facilitator", "Fien"), "ria": ("member", "Ria"), "sam": ("member", "Sam"),
          "olaf": ("member", "Olaf"), "adm": ("admin", "Ada")}
HOSTILE = "<script>alert('t')</script> Plein"
MONTHS = ("januari", "februari", "maart", "april", "mei", "juni", "juli", "augustus", "september", "oktober",
          "november", "december")


class W:
    def __init__(self, d, pg):
        self.d, self.pg = d, pg
        aantafel("tenant", "create", SLUG, "--name", "Gemeente Meldingen", "--host", HOST, env=pg.daemon_env())
        for who, (role, name) in PEOPLE.items():
            make_user(pg, SLUG, f"{who}@{HOST}", role, name)
        wait_for(lambda: d.get("/inloggen", host=HOST)[0] == 200, what="sign-in page")
        self.api, self.b, self.ids = {"guest": Api(d, HOST)}, {"guest": Browser(d, HOST)}, {}
        for who in PEOPLE:
            token, b = token_for(d, HOST, f"{who}@{HOST}")
            self.api[who], self.b[who] = Api(d, HOST, token=token), b
            self.ids[who] = self.api[who].get("/me")[2]["id"]

    def table(self, title="Het plein", visibility="public"):
        st, _, t = self.api["fac"].post("/tables", {"title": title, "question": "Wat is nodig?",
                                                   "visibility": visibility})
        assert st == 201, t
        return t["id"]

    def contribute(self, who, tid, body):
        st, _, c = self.api[who].post(f"/tables/{tid}/contributions", {"body": body})
        assert st == 201, c
        return c["id"]

    def get(self, who, path):
        st, hdr, body, _ = self.b[who].go("GET", path)
        return st, hdr, body

    def post(self, who, path, form, csrf=True):
        f = dict(form)
        if csrf:
            f["csrf"] = self.b[who].csrf()
        st, hdr, body, _ = self.b[who].go("POST", path, f)
        return st, hdr, body

    def follow(self, who, kind, pid):
        st, _, f = self.api[who].get(f"/{kind}/{pid}/follow")
        assert st == 200, f
        return f

    def mail_on(self, who):
        st, _, s = self.api[who].get("/me/notification-settings")
        assert st == 200, s
        return s["mail"]


@pytest.fixture(scope="module")
def w(pg, make_daemon_module):
    d = make_daemon_module({"workers": "2"}, {**pg.daemon_env(), **SMALL})
    return W(d, pg)


def section(body, sid):
    m = re.search(r'<section id="%s".*?</section>' % sid, body, re.S)
    return m and m.group(0) or ""


def checked(body, cadence):
    """The cadence radio that is checked in BODY's first follow form."""
    return re.search(r'<input type="radio" id="[^"]*" name="cadence" value="%s" checked>' % cadence, body) is not None


def test_follow_from_a_table_page(w):
    tid = w.table()
    # A guest: the sign-in line, no form (the page is the same for every guest).
    st, _, body = w.get("guest", f"/tafels/{tid}")
    s = section(body, "volgen")
    assert st == 200 and 'href="/inloggen"' in s and "om te volgen" in s and "/volgen" not in s, s
    # Sam, not at the table: not following yet; he chooses a daily digest.
    st, _, body = w.get("sam", f"/tafels/{tid}")
    s = section(body, "volgen")
    assert f'action="/tafels/{tid}/volgen"' in s and "U volgt dit nog niet." in s and checked(s, "none"), s
    for label in ("Elke bijdrage", "Dagelijks overzicht", "Wekelijks overzicht", "Niet"):
        assert f">{label}</label>" in s, label
    assert "<legend>Meldingen over deze tafel</legend>" in s
    st, hdr, _ = w.post("sam", f"/tafels/{tid}/volgen", {"cadence": "daily"})
    assert st == 303 and hdr["location"] == f"/tafels/{tid}#volgen", hdr
    assert w.follow("sam", "tables", tid)["cadence"] == "daily"
    st, _, body = w.get("sam", f"/tafels/{tid}")
    s = section(body, "volgen")
    assert "Volgend: dagelijks" in s and checked(s, "daily"), s
    # A bad cadence: refused with the reason, nothing changes.
    st, _, body = w.post("sam", f"/tafels/{tid}/volgen", {"cadence": "hourly"})
    assert st == 422 and "Kies hoe vaak u meldingen wilt" in body, body
    st, _, body = w.post("sam", f"/tafels/{tid}/volgen", {})
    assert st == 422
    assert w.follow("sam", "tables", tid)["cadence"] == "daily"
    # Without the CSRF token: refused before any Lua, nothing changes.
    st, _, _ = w.post("sam", f"/tafels/{tid}/volgen", {"cadence": "none"}, csrf=False)
    assert st == 403
    assert w.follow("sam", "tables", tid)["cadence"] == "daily"
    # A guest who posts is sent to sign in.
    for cadence in ("each", "hourly"):
        st, hdr, _ = w.post("guest", f"/tafels/{tid}/volgen", {"cadence": cadence})
        assert st == 303 and hdr["location"] == "/inloggen", hdr
    # A closed table is a 404 for those not at it, its follow too.
    closed = w.table("Besloten tafel", "closed")
    st, _, body = w.post("sam", f"/tafels/{closed}/volgen", {"cadence": "each"})
    assert st == 404 and "Besloten tafel" not in body


def test_follow_a_group_only_where_one_may_read(w):
    tid = w.table("Groepentafel")
    fac = w.api["fac"]
    assert fac.put(f"/tables/{tid}/people/{w.ids['ria']}", {"role": "member"})[0] == 200
    st, _, g = fac.post(f"/tables/{tid}/groups", {"name": "Open groep", "visibility": "public"})
    assert st == 201, g
    st, _, cg = fac.post(f"/tables/{tid}/groups", {"name": "Dichte groep", "visibility": "closed"})
    assert st == 201, cg
    st, _, body = w.get("ria", f"/groepen/{g['id']}")
    s = section(body, "volgen")
    assert f'action="/groepen/{g["id"]}/volgen"' in s and "<legend>Meldingen over deze groep</legend>" in s, s
    st, hdr, _ = w.post("ria", f"/groepen/{g['id']}/volgen", {"cadence": "weekly"})
    assert st == 303 and hdr["location"] == f"/groepen/{g['id']}#volgen"
    assert w.follow("ria", "groups", g["id"])["cadence"] == "weekly"
    # /meldingen lists it with its table, the weekly digest chosen.
    st, _, body = w.get("ria", "/meldingen")
    item = re.search(r'<article class="follow-item" aria-labelledby="volg-group-%d">.*?</article>' % g["id"],
                     body, re.S).group(0)
    assert f'href="/groepen/{g["id"]}">Open groep</a> <span class="tag">Groep</span>' in item, item
    assert "Aan tafel Groepentafel" in item and 'value="weekly" checked' in item, item
    # The closed group: no form for one who is not in it, and a post is a 404.
    st, _, body = w.get("olaf", f"/groepen/{cg['id']}")
    assert st == 200 and section(body, "volgen") == "", body
    st, _, _ = w.post("olaf", f"/groepen/{cg['id']}/volgen", {"cadence": "each"})
    assert st == 404
    st, _, f = w.api["olaf"].get(f"/groups/{cg['id']}/follow")
    assert st == 404


def test_the_list_marks_read_once_shown_and_escapes(w):
    tid = w.table(HOSTILE)
    assert w.post("olaf", f"/tafels/{tid}/volgen", {"cadence": "each"})[0] == 303
    cids = [w.contribute("fac", tid, f"Bijdrage nummer {i} over het plein") for i in range(1, 4)]
    # Olaf's own contribution is no notification for him.
    assert w.api["olaf"].post(f"/tables/{tid}/join")[0] == 200
    w.contribute("olaf", tid, "Mijn eigen bijdrage")
    st, _, n = w.api["olaf"].get("/me/notifications?unread=true")
    assert st == 200 and n["unread"] >= 3, n
    # The time as the Dutch read it: the API's UTC in Europe/Amsterdam.
    at = datetime.datetime.fromisoformat(n["items"][0]["created_at"].replace("Z", "+00:00"))
    local = at.astimezone(zoneinfo.ZoneInfo("Europe/Amsterdam"))
    # Every page's header counts them beside the link to /meldingen.
    st, _, body = w.get("olaf", "/")
    assert re.search(r'<a href="/meldingen">Mijn meldingen <span class="count">%d<span class="visually-hidden">'
                     r' ongelezen</span></span></a>' % n["unread"], body), body
    st, hdr, body = w.get("olaf", "/meldingen")
    assert st == 200 and "no-store" in hdr.get("cache-control", ""), hdr
    assert '<a href="/meldingen">Mijn meldingen</a>' in body
    new = section(body, "nieuw")
    # Newest first, each linking to its place, marked unread this once.
    links = re.findall(r'<a href="(/tafels/%d#bijdrage-(\d+))">' % tid, new)
    assert [int(c) for _, c in links][:3] == cids[::-1], new
    assert new.count("ongelezen</span>") >= 3
    assert "Mijn eigen bijdrage" not in new
    assert "Bijdrage nummer 3 over het plein" in new
    assert f"{local.day} {MONTHS[local.month - 1]} {local.year}, {local:%H:%M}" in new, new
    # The hostile title: escaped in the list and in the follows.
    assert "<script>alert('t')</script>" not in body
    assert "&lt;script&gt;alert(&#39;t&#39;)&lt;/script&gt; Plein" in body or \
        "&lt;script&gt;alert(&#x27;t&#x27;)&lt;/script&gt; Plein" in body, body
    # Read now: the API says so, and the page shows nothing as unread.
    st, _, n = w.api["olaf"].get("/me/notifications?unread=true")
    assert n["unread"] == 0 and n["items"] == [], n
    st, _, body = w.get("olaf", "/meldingen")
    assert "ongelezen</span>" not in section(body, "nieuw")
    st, _, home = w.get("olaf", "/")
    assert '<a href="/meldingen">Mijn meldingen</a>' in home
    assert "U heeft alles gelezen." in body
    # Only the unread: none now.
    st, _, body = w.get("olaf", "/meldingen?ongelezen=1")
    assert "Er is nog niets nieuws" in section(body, "nieuw")
    # The follows, each with its cadence; a change from here comes back here.
    follows = section(body, "volgend")
    assert f'href="/tafels/{tid}"' in follows and 'value="each" checked' in follows, follows
    st, hdr, _ = w.post("olaf", f"/tafels/{tid}/volgen", {"cadence": "weekly", "terug": "meldingen"})
    assert st == 303 and hdr["location"].startswith("/meldingen"), hdr
    assert w.follow("olaf", "tables", tid)["cadence"] == "weekly"
    # "terug" names no address: anything else goes back to the table.
    st, hdr, _ = w.post("olaf", f"/tafels/{tid}/volgen", {"cadence": "each", "terug": "//evil.example"})
    assert st == 303 and hdr["location"] == f"/tafels/{tid}#volgen", hdr
    # A guest is sent to sign in.
    st, hdr, _ = w.get("guest", "/meldingen")
    assert st == 303 and hdr["location"] == "/inloggen"


def test_the_list_is_paged(w):
    tid = w.table("Drukke tafel")
    assert w.post("ria", f"/tafels/{tid}/volgen", {"cadence": "daily"})[0] == 303
    for i in range(25):
        w.contribute("fac", tid, f"Veel bijdragen {i}")
    st, _, body = w.get("ria", "/meldingen")
    new = section(body, "nieuw")
    assert len(re.findall(r'<li class="notification', new)) == 20, new
    more = re.search(r'<a href="(/meldingen\?na=[^"]+)">Oudere meldingen</a>', new)
    assert more, new
    st, _, body = w.get("ria", more.group(1).replace("&amp;", "&"))
    older = section(body, "nieuw")
    assert "Veel bijdragen 0" in older and "Veel bijdragen 24" not in older, older
    # Both pages were shown: nothing is unread.
    st, _, n = w.api["ria"].get("/me/notifications?unread=true")
    assert n["unread"] == 0, n


def test_more_than_99_unread_show_as_99_plus(w):
    """The API counts unread items up to 100 ("100 or more"); the header
    and the list show that as 99+."""
    tid = w.table("Overvolle tafel")
    assert w.post("sam", f"/tafels/{tid}/volgen", {"cadence": "weekly"})[0] == 303
    sql(w.pg, "super", "SELECT platform.enter_tenant(t.id::text) FROM platform.tenants t WHERE t.slug = %s; "
        "INSERT INTO activity (tenant_id, kind, table_id, actor_id, title, summary, url, created_at)"
        " SELECT t.id, 'step.completed', %s, %s, 'Stap ' || i, 'Stap ' || i, '/tafels/' || %s, now()"
        " FROM platform.tenants t, generate_series(1, 150) i WHERE t.slug = %s",
        (SLUG, tid, w.ids["fac"], tid, SLUG))
    st, _, n = w.api["sam"].get("/me/notifications?unread=true&limit=1")
    assert st == 200 and n["unread"] == 100, n
    st, _, body = w.get("sam", "/")
    assert '<a href="/meldingen">Mijn meldingen <span class="count">99+<span class="visually-hidden">' in body, body
    st, _, body = w.get("sam", "/meldingen")
    assert st == 200 and "99+ ongelezen." in body, body
    # Shown, all is read.
    assert w.api["sam"].get("/me/notifications?unread=true&limit=1")[2]["unread"] == 0
    st, _, body = w.get("sam", "/")
    assert '<a href="/meldingen">Mijn meldingen</a>' in body


def test_the_mail_switch(w):
    st, _, body = w.get("sam", "/meldingen")
    mail = section(body, "mail")
    assert 'name="mail" value="1" checked' in mail and "<legend>E-mail over wat u volgt</legend>" in mail, mail
    st, hdr, _ = w.post("sam", "/meldingen", {"mail": "0", "lang": "en"})
    assert st == 303, hdr
    st, _, s = w.api["sam"].get("/me/notification-settings")
    assert s == {**s, "mail": False, "lang": "en"}, s
    st, _, body = w.post("sam", "/meldingen", {"mail": "misschien"})
    assert st == 422 and "aan of uit" in body
    st, _, _ = w.post("sam", "/meldingen", {"mail": "1"}, csrf=False)
    assert st == 403
    assert not w.mail_on("sam")
    assert w.post("sam", "/meldingen", {"mail": "1", "lang": "nl"})[0] == 303
    assert w.mail_on("sam")


def raw_post(w, path, body, headers=None):
    """A POST as a mail client sends it: no cookies at all."""
    h = {"Connection": "close", "Content-Type": "application/x-www-form-urlencoded", **(headers or {})}
    st, hdr, out = parse_response(w.d.raw(make_request("POST", path, HOST, h, body.encode())))
    return st, hdr, out.decode("utf-8", "replace")


def unsubscribe_token(w, who):
    """The person's unsubscribe token, as the mails carry it (their
    notification state is made by their first notification operation)."""
    w.mail_on(who)
    with w.pg.connect("super") as c, c.cursor() as cur:
        cur.execute("SELECT unsubscribe_token FROM notification_state WHERE account_id = %s", (w.ids[who],))
        return cur.fetchone()[0]


def test_unsubscribe_without_a_session(w):
    token = unsubscribe_token(w, "ria")
    assert w.mail_on("ria")
    # GET shows the page and the button, and changes nothing (scanners follow links).
    for _ in range(2):
        st, hdr, body = w.get("guest", f"/afmelden/{token}")
        assert st == 200 and f'action="/afmelden/{token}"' in body and "Geen e-mail meer ontvangen" in body, body
        assert "no-store" in hdr.get("cache-control", "") and "noindex" in hdr.get("x-robots-tag", ""), hdr
        assert 'name="csrf"' not in re.search(r'<form method="post" action="/afmelden/.*?</form>', body, re.S).group(0)
    assert w.mail_on("ria")
    # A session sent along is not read: another person's post changes only the token's owner.
    st, _, body = w.post("fac", f"/afmelden/{token}", {}, csrf=False)
    assert st == 200 and "U ontvangt geen e-mail meer" in body
    assert not w.mail_on("ria") and w.mail_on("fac")
    assert w.post("ria", "/meldingen", {"mail": "1"})[0] == 303
    # The mail client's one-click post: no cookies, no CSRF token.
    st, hdr, body = raw_post(w, f"/afmelden/{token}", "List-Unsubscribe=One-Click")
    assert st == 200 and "U ontvangt geen e-mail meer" in body and 'href="/meldingen"' in body, body
    assert "no-store" in hdr.get("cache-control", "")
    assert not w.mail_on("ria")
    # Again: still off, still 200.
    assert raw_post(w, f"/afmelden/{token}", "List-Unsubscribe=One-Click")[0] == 200
    # An unknown token: the 404 page; a token of another shape never reaches the page.
    st, _, body = raw_post(w, "/afmelden/" + "x" * 40, "List-Unsubscribe=One-Click")
    assert st == 404 and "Deze link werkt niet" in body, body
    st, _, _ = w.get("guest", "/afmelden/" + "x" * 129)
    assert st == 404
    # The exemption is this path alone: every other form still wants the token.
    tid = w.table("Nog een tafel")
    for path, form in ((f"/afmelden/{token}/meer", {}), (f"/afmelden/{token}%2Fx", {}), ("/afmelden/" + "x" * 129, {}),
                       ("/afmelden/", {}), (f"/afmelden/{token}.", {}), (f"/Afmelden/{token}", {}),
                       (f"/tafels/{tid}/volgen", {"cadence": "each"}), ("/meldingen", {"mail": "1"}),
                       (f"/tafels/{tid}/bijdragen", {"body": "Zonder token"}), ("/uitloggen", {})):
        st, _, _ = raw_post(w, path, "x=1&" + "&".join(f"{k}={v}" for k, v in form.items()))
        assert st == 403, path
        st, _, _ = w.post("ria", path, form, csrf=False)
        assert st == 403, path
    assert not w.mail_on("ria")
    st, _, c = w.api["fac"].get(f"/tables/{tid}/contributions")
    assert c["items"] == []


def test_the_digest_settings(w):
    st, _, body = w.get("adm", "/beheer/instellingen")
    assert st == 200 and "<legend>Overzichtsmails</legend>" in body, body
    assert '<option value="7" selected>07:00 uur</option>' in body
    assert '<option value="1" selected>maandag</option>' in body
    assert '<label for="f-digest_hour">Uur van verzending</label>' in body
    form = {"welcome": "", "digest_hour": "18", "digest_weekday": "5"}
    st, hdr, body = w.post("adm", "/beheer/instellingen", form)
    assert st == 303, body
    st, _, s = w.api["adm"].get("/settings")
    assert s["digest_hour"] == 18 and s["digest_weekday"] == 5, s
    st, _, body = w.get("adm", "/beheer/instellingen")
    assert '<option value="18" selected>18:00 uur</option>' in body and '<option value="5" selected>vrijdag</option>' in body
    # A value out of range: refused, the field named, nothing changed.
    st, _, body = w.post("adm", "/beheer/instellingen", {**form, "digest_hour": "24"})
    assert st == 422 and 'id="f-digest_hour-error"' in body and "Deze waarde kan niet." in body, body
    st, _, body = w.post("adm", "/beheer/instellingen", {**form, "digest_weekday": "maandag"})
    assert st == 422 and 'id="f-digest_weekday-error"' in body, body
    assert w.api["adm"].get("/settings")[2]["digest_hour"] == 18
    # Not for others; not without the CSRF token.
    st, _, _ = w.post("fac", "/beheer/instellingen", {**form, "digest_hour": "3"})
    assert st == 403
    st, _, _ = w.post("adm", "/beheer/instellingen", {**form, "digest_hour": "3"}, csrf=False)
    assert st == 403
    assert w.api["adm"].get("/settings")[2]["digest_hour"] == 18
