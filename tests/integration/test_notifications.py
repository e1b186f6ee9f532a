"""Notifications for residents (sql/code/notifications.sql): follows at a
cadence, the in-site list, the digest mails the scheduler builds (one per
person per period, whatever they follow, only what they may read), a mail
per item for "each", a mail at once for the method's moments, the
unsubscribe link and its RFC 8058 headers, and the attacks on what a
notification may tell: closed tables and groups not one's own, lost
membership, hidden contributions, another municipality's items."""
import datetime
import email
import email.policy
import re
import time

import pytest

from api_client import Api
from bundle_util import cursor, deployed, sql, write_bundle
from harness import aantafel, free_port, wait_for
from test_mail import smtp_options, smtp_server
from test_signin import SMALL
from world import make_user, token_for

HOST, SLUG = "meldingen.nt.test", "nt-meldingen"
OTHER_HOST, OTHER_SLUG = "anders.nt.test", "nt-anders"
OPTIONS = {"workers": "2", "job_lease": "3s", "job_poll_interval": "1h"}
PEOPLE = {"fac": ("fac@nt.test", "facilitator", "Fien"), "lid": ("lid@nt.test", "member", "Lot"),
          "bram": ("bram@nt.test", "member", "Bram"), "cato": ("cato@nt.test", "member", "Cato"),
          "admin": ("admin@nt.test", "admin", "Ada")}

TENANT = """return { workflow = "kort", plugins = { stappen = {} } }
"""
STEPS = """
plugin.step_type{ id = "gesprek", name = "nt.gesprek" }
plugin.step_type{ id = "verslag", name = "nt.verslag",
	records = { report = { visible = "readers", fields = { summary = { type = "markdown", required = true } } } } }
plugin.workflow{ id = "kort", name = "nt.kort", steps = { "gesprek", "verslag" } }
"""
NL = """return { ["nt.gesprek"] = "Gesprek", ["nt.verslag"] = "Verslag", ["nt.kort"] = "Kort" }"""


class Cast:
    def __init__(self, pg, tenant_id, other_id):
        self.pg, self.tenant_id, self.other_id = pg, tenant_id, other_id
        for email_, role, name in PEOPLE.values():
            make_user(pg, SLUG, email_, role, name)
        make_user(pg, OTHER_SLUG, "lid@nt.test", "member", "Lot elders")
        make_user(pg, OTHER_SLUG, "fac@nt.test", "facilitator", "Fien elders")

    def use(self, d):
        self.d = d
        wait_for(lambda: d.get("/inloggen", host=HOST)[0] == 200, what="sign-in page")
        if not hasattr(self, "tokens"):
            self.tokens = {who: token_for(d, HOST, e)[0] for who, (e, _, _) in PEOPLE.items()}
            self.other_tokens = {who: token_for(d, OTHER_HOST, f"{who}@nt.test")[0] for who in ("lid", "fac")}
        self.api = {who: Api(d, HOST, token=t) for who, t in self.tokens.items()}
        self.api["guest"] = Api(d, HOST)
        self.other = {who: Api(d, OTHER_HOST, token=t) for who, t in self.other_tokens.items()}
        self.ids = {who: a.get("/me")[2]["id"] for who, a in self.api.items() if who != "guest"}
        return self

    def table(self, title, visibility="public", people=()):
        fac = self.api["fac"]
        st, _, t = fac.post("/tables", {"title": title, "question": "Wat is nodig?", "visibility": visibility})
        assert st == 201, t
        for who in people:
            st, _, body = fac.put(f"/tables/{t['id']}/people/{self.ids[who]}", {"role": "member"})
            assert st == 200, body
        return t["id"]

    def group(self, tid, name, visibility):
        st, _, g = self.api["fac"].post(f"/tables/{tid}/groups", {"name": name, "visibility": visibility})
        assert st == 201, g
        return g["id"]

    def post(self, who, body, table=None, group=None):
        path = f"/groups/{group}/contributions" if group else f"/tables/{table}/contributions"
        st, _, c = self.api[who].post(path, {"body": body})
        assert st == 201, c
        return c["id"]

    def listed(self, who, **q):
        qs = "&".join(f"{k}={v}" for k, v in q.items())
        st, _, page = self.api[who].get("/me/notifications" + (f"?{qs}" if qs else ""))
        assert st == 200, page
        return page

    def job(self, kind, subject=0):
        """The pending job of KIND, else the one made last (on a Citus
        cluster ids do not follow the order rows were made in)."""
        rows = sql(self.pg, "super", "SELECT state, run_at, last_error FROM jobs WHERE tenant_id = %s AND kind = %s"
                   " AND subject = %s ORDER BY state = 'pending' DESC, created_at DESC, id DESC",
                   (self.tenant_id, kind, subject))
        return rows[0] if rows else None

    def due_now(self, kind):
        """The tenant's digest job of KIND moved to now, as an operator's
        SQL would: the scheduler takes it at once."""
        sql(self.pg, "super", "SELECT platform.enter_tenant(%s::text), platform.job_schedule(%s, %s, 0, now())",
            (self.tenant_id, self.tenant_id, kind))

    def outbox(self, who, like="%"):
        return sql(self.pg, "super", "SELECT subject, body_text, unsubscribe_url FROM mail_outbox"
                   " WHERE tenant_id = %s AND to_addr = %s AND body_text LIKE %s ORDER BY id",
                   (self.tenant_id, PEOPLE[who][0], like))


@pytest.fixture(scope="module")
def cast(pg, tmp_path_factory):
    aantafel("tenant", "create", SLUG, "--name", "Gemeente Meldingen", "--host", HOST, env=pg.daemon_env())
    aantafel("tenant", "create", OTHER_SLUG, "--name", "Gemeente Anders", "--host", OTHER_HOST, env=pg.daemon_env())
    root = tmp_path_factory.mktemp("bundle")
    deployed(pg, SLUG, write_bundle(root, {"tenant.lua": TENANT, "plugins/stappen.lua": STEPS,
                                           "translations/nl.lua": NL, "translations/en.lua": NL}))
    ids = dict(sql(pg, "super", "SELECT slug, id FROM platform.tenants"))
    return Cast(pg, ids[SLUG], ids[OTHER_SLUG])


@pytest.fixture
def one(cast, db_daemon):
    return cast.use(db_daemon(OPTIONS, SMALL))


def test_every_tenant_has_its_digest_jobs_and_settings_move_them(one):
    cast = one
    for kind in ("digest.daily", "digest.weekly"):
        job = cast.job(kind)
        assert job and job[0] == "pending", (kind, job)
    st, _, s = cast.api["fac"].get("/settings")
    assert st == 200 and s["digest_hour"] == 7 and s["digest_weekday"] == 1, s
    admin = cast.api["admin"]
    # Only admins change when the digests go.
    assert cast.api["fac"].put("/settings", {"digest_hour": 9})[0] == 403
    st, _, body = admin.put("/settings", {"digest_hour": 24})
    assert st == 422 and "digest_hour" in body["error"]["fields"], body
    st, _, body = admin.put("/settings", {"digest_weekday": 0})
    assert st == 422 and "digest_weekday" in body["error"]["fields"], body
    st, _, s = admin.put("/settings", {"digest_hour": 18, "digest_weekday": 3})
    assert st == 200 and s["digest_hour"] == 18 and s["digest_weekday"] == 3, s
    local = sql(cast.pg, "super", "SELECT extract(hour FROM run_at AT TIME ZONE 'Europe/Amsterdam'),"
                " extract(isodow FROM run_at AT TIME ZONE 'Europe/Amsterdam'), run_at > now() FROM jobs"
                " WHERE tenant_id = %s AND kind = %s AND state = 'pending'", (cast.tenant_id, "digest.weekly"))
    assert local == [(18, 3, True)], local
    local = sql(cast.pg, "super", "SELECT extract(hour FROM run_at AT TIME ZONE 'Europe/Amsterdam'), run_at > now()"
                " FROM jobs WHERE tenant_id = %s AND kind = 'digest.daily' AND state = 'pending'", (cast.tenant_id,))
    assert local == [(18, True)], local
    # The other municipality's jobs did not move.
    other = sql(cast.pg, "super", "SELECT count(*) FROM jobs WHERE tenant_id = %s AND kind LIKE 'digest.%%'"
                " AND state = 'pending'", (cast.other_id,))
    assert other == [(2,)]


def test_follow_operations_and_their_refusals(one):
    cast = one
    lid, fac, guest = cast.api["lid"], cast.api["fac"], cast.api["guest"]
    public = cast.table("Open plein")
    own = cast.table("Eigen tafel", "closed", people=("lid",))
    closed = cast.table("Dichte tafel", "closed")
    secret = cast.group(public, "Kerngroep", "closed")
    open_group = cast.group(public, "Open groep", "public")
    st, _, f = lid.get(f"/tables/{public}/follow")
    assert st == 200 and f == {"kind": "table", "id": public, "table_id": public, "cadence": "none", "automatic": False}
    st, _, f = lid.get(f"/tables/{own}/follow")
    assert st == 200 and f["cadence"] == "daily" and f["automatic"] is True, f
    # A bad cadence names the field; nothing is written.
    for bad in ({"cadence": "hourly"}, {"cadence": 3}, {}):
        st, _, body = lid.put(f"/tables/{public}/follow", bad)
        assert st == 422 and "cadence" in body["error"]["fields"], (bad, body)
    assert lid.get(f"/tables/{public}/follow")[2]["cadence"] == "none"
    st, _, f = lid.put(f"/tables/{public}/follow", {"cadence": "weekly"})
    assert st == 200 and f["cadence"] == "weekly" and f["automatic"] is False, f
    st, _, f = lid.put(f"/tables/{own}/follow", {"cadence": "none"})
    assert st == 200 and f["cadence"] == "none" and f["automatic"] is False, f
    st, _, f = lid.put(f"/groups/{open_group}/follow", {"cadence": "each"})
    assert st == 200 and f == {"kind": "group", "id": open_group, "table_id": public, "cadence": "each",
                               "automatic": False}, f
    st, _, mine = lid.get("/me/follows")
    assert st == 200
    got = {(i["kind"], i["id"]): (i["cadence"], i["automatic"]) for i in mine["items"]}
    assert got == {("table", public): ("weekly", False), ("table", own): ("none", False),
                   ("group", open_group): ("each", False)}, got
    # Back to the default: automatic for one's own table.
    st, _, f = lid.delete(f"/tables/{own}/follow")
    assert st == 200 and f["cadence"] == "daily" and f["automatic"] is True, f
    st, _, f = lid.delete(f"/tables/{public}/follow")
    assert st == 200 and f["cadence"] == "none" and f["automatic"] is False, f
    # A closed table not one's own, a closed group one is not in: 404,
    # whatever the method; a guest 401 (404 where even a guest may not read).
    for path in (f"/tables/{closed}/follow", f"/groups/{secret}/follow", "/tables/999999/follow"):
        assert lid.get(path)[0] == 404, path
        assert lid.put(path, {"cadence": "each"})[0] == 404, path
        assert lid.delete(path)[0] == 404, path
    assert guest.get(f"/tables/{public}/follow")[0] == 401
    assert guest.put(f"/tables/{public}/follow", {"cadence": "each"})[0] == 401
    assert guest.get(f"/tables/{closed}/follow")[0] == 404
    assert guest.get("/me/follows")[0] == 401 and guest.get("/me/notifications")[0] == 401
    assert sql(cast.pg, "super", "SELECT count(*) FROM follows WHERE tenant_id = %s AND table_id = %s",
               (cast.tenant_id, closed)) == [(0,)]
    # The facilitator reads the closed group: may follow it.
    assert fac.put(f"/groups/{secret}/follow", {"cadence": "daily"})[0] == 200
    # Another municipality: the same ids are not there.
    assert cast.other["lid"].get(f"/tables/{public}/follow")[0] == 404
    assert cast.other["lid"].put(f"/groups/{open_group}/follow", {"cadence": "each"})[0] == 404


def test_the_list_tells_only_what_may_be_read_and_marks_it_seen(one):
    cast = one
    lid = cast.api["lid"]
    t = cast.table("Lijst tafel", "closed", people=("lid", "bram"))
    secret = cast.group(t, "Besloten", "closed")
    before = cast.listed("lid")["unread"]
    c1 = cast.post("bram", "Eerste bijdrage over het plein", table=t)
    cast.post("lid", "Mijn eigen bijdrage", table=t)
    cast.post("fac", "In de besloten groep", group=secret)
    c3 = cast.post("fac", "Een die verborgen wordt", table=t)
    c4 = cast.post("fac", "Nog een gewone", table=t)
    page = cast.listed("lid", limit=100)
    texts = [i["summary"] for i in page["items"]]
    assert "Mijn eigen bijdrage" not in texts and "In de besloten groep" not in texts, texts
    assert texts[:3] == ["Nog een gewone", "Een die verborgen wordt", "Eerste bijdrage over het plein"], texts
    item = page["items"][0]
    assert item["kind"] == "contribution" and item["table_id"] == t and item["table_title"] == "Lijst tafel"
    assert item["url"] == f"/tafels/{t}#bijdrage-{c4}" and item["unread"] is True and item["group_id"] is None
    assert page["unread"] == before + 3
    # A hidden contribution vanishes from the list.
    st, _, body = cast.api["fac"].post(f"/contributions/{c3}/hide", {"reason": "Persoonlijke gegevens"})
    assert st == 200, body
    page = cast.listed("lid", limit=100)
    assert "Een die verborgen wordt" not in [i["summary"] for i in page["items"]]
    assert page["unread"] == before + 2
    # Pages and the cursor; unread only.
    first = cast.listed("lid", limit=1)
    assert len(first["items"]) == 1 and first["next_cursor"]
    second = cast.listed("lid", limit=1, cursor=first["next_cursor"])
    assert second["items"][0]["id"] < first["items"][0]["id"]
    assert lid.get("/me/notifications?cursor=zzz")[0] == 400
    assert lid.get("/me/notifications?unread=maybe")[0] == 422
    # Seen up to the first: the newer stays unread.
    st, _, body = lid.post("/me/notifications/seen", {"until": first["items"][0]["id"] - 1})
    assert st == 200 and body["unread"] == 1, body
    assert [i["summary"] for i in cast.listed("lid", unread="true")["items"]] == ["Nog een gewone"]
    st, _, body = lid.post("/me/notifications/seen", {})
    assert st == 200 and body["unread"] == 0
    assert cast.listed("lid", unread="true")["items"] == []
    # Read ones stay in the list, marked read: unread is a filter asked for.
    read = cast.listed("lid")["items"]
    assert "Nog een gewone" in [i["summary"] for i in read] and not any(i["unread"] for i in read), read
    assert cast.listed("lid", unread="false")["items"] == read
    assert lid.post("/me/notifications/seen", {"until": "x"})[0] == 422
    # Losing one's place at a closed table: nothing of it is told any more.
    assert cast.api["fac"].delete(f"/tables/{t}/people/{cast.ids['lid']}")[0] == 200
    assert not [i for i in cast.listed("lid", limit=100)["items"] if i["table_id"] == t]
    assert c1  # told before, gone now
    # Another municipality's list holds none of this one's items.
    other = cast.other["lid"].get("/me/notifications?limit=100")[2]
    assert other["items"] == [] and other["unread"] == 0, other


def test_settings_and_unsubscribe_without_a_session(one):
    cast = one
    lid, guest = cast.api["lid"], cast.api["guest"]
    st, _, s = lid.get("/me/notification-settings")
    assert st == 200 and s == {"mail": True, "lang": "nl"}, s
    for bad, field in (({"mail": "ja"}, "mail"), ({"lang": "de"}, "lang"), ({"colour": 1}, "colour")):
        st, _, body = lid.patch("/me/notification-settings", bad)
        assert st == 422 and field in body["error"]["fields"], body
    st, _, s = lid.patch("/me/notification-settings", {"lang": "en"})
    assert st == 200 and s == {"mail": True, "lang": "en"}
    assert guest.patch("/me/notification-settings", {"mail": False})[0] == 401
    token = sql(cast.pg, "super", "SELECT unsubscribe_token FROM notification_state WHERE tenant_id = %s"
                " AND account_id = %s", (cast.tenant_id, cast.ids["lid"]))[0][0]
    # Unknown tokens, another municipality's host: 404, nothing changes.
    assert guest.post("/unsubscribe", {"token": "0" * 64})[0] == 404
    assert guest.post("/unsubscribe", {"token": "x"})[0] == 404
    assert Api(cast.d, OTHER_HOST).post("/unsubscribe", {"token": token})[0] == 404
    assert lid.get("/me/notification-settings")[2]["mail"] is True
    st, _, body = guest.post("/unsubscribe", {"token": token})
    assert st == 200 and body == {"mail": False}, body
    assert lid.get("/me/notification-settings")[2] == {"mail": False, "lang": "en"}
    st, _, s = lid.patch("/me/notification-settings", {"mail": True, "lang": "nl"})
    assert st == 200 and s == {"mail": True, "lang": "nl"}


def test_each_mails_an_item_at_once_and_moments_go_to_every_follower(one):
    cast = one
    t = cast.table("Iedere tafel", people=("bram",))
    assert cast.api["lid"].put(f"/tables/{t}/follow", {"cadence": "each"})[0] == 200
    assert cast.api["cato"].put(f"/tables/{t}/follow", {"cadence": "weekly"})[0] == 200
    c = cast.post("bram", "Een bankje bij de bushalte", table=t)
    wait_for(lambda: cast.outbox("lid", "%bankje bij de bushalte%"), timeout=30, what="the each mail")
    subject, text, unsub = cast.outbox("lid", "%bankje bij de bushalte%")[0]
    assert subject == "Nieuw bij Iedere tafel", subject
    assert f"https://{HOST}/tafels/{t}#bijdrage-{c}" in text, text
    assert re.fullmatch(rf"https://{re.escape(HOST)}/afmelden/[0-9a-f]{{64}}", unsub), unsub
    assert unsub in text
    # Weekly and daily followers, and the author, get no mail of it.
    assert cast.outbox("cato", "%bankje bij de bushalte%") == []
    assert cast.outbox("bram", "%bankje bij de bushalte%") == []
    # A moment, the step completed: at once to every follower but 'none'.
    st, _, steps = cast.api["fac"].get(f"/tables/{t}/steps")
    assert st == 200 and steps["steps"][0]["state"] == "active", steps
    st, _, body = cast.api["fac"].post(f"/tables/{t}/steps/gesprek/complete")
    assert st == 200, body
    for who in ("lid", "cato", "bram"):
        wait_for(lambda: cast.outbox(who, "%Stap afgerond bij Iedere tafel: Gesprek%"), timeout=30,
                 what=f"{who}'s moment mail")
    # The report step: a report published.
    assert cast.api["fac"].post(f"/tables/{t}/steps/verslag/complete")[0] == 200
    wait_for(lambda: cast.outbox("cato", "%Verslag gepubliceerd bij Iedere tafel%"), timeout=30, what="report mail")
    assert f"https://{HOST}/tafels/{t}/verslag" in cast.outbox("cato", "%Verslag gepubliceerd%")[0][1]
    kinds = [i["kind"] for i in cast.listed("cato", limit=5)["items"]]
    assert kinds[:2] == ["report.published", "step.completed"], kinds
    # A meeting planned reaches a table's person (daily, automatic).
    st, _, m = cast.api["fac"].post(f"/tables/{t}/meetings", {
        "title": "Avond bij de halte", "starts_at": "2031-05-01T18:00:00Z", "ends_at": "2031-05-01T20:00:00Z",
        "place": "Buurthuis"})
    assert st == 201, m
    wait_for(lambda: cast.outbox("bram", "%Bijeenkomst gepland bij Iedere tafel%"), timeout=30, what="meeting mail")
    assert f"/bijeenkomsten/{m['id']}" in cast.outbox("bram", "%Bijeenkomst gepland%")[0][1]
    # Mail off: nothing more is queued for that person.
    assert cast.api["lid"].patch("/me/notification-settings", {"mail": False})[0] == 200
    cast.post("bram", "Nog een bankje erbij", table=t)
    wait_for(lambda: all(cast.job("notify.item", a)[0] == "done" for (a,) in sql(
        cast.pg, "super", "SELECT id FROM activity WHERE tenant_id = %s AND table_id = %s", (cast.tenant_id, t))),
        timeout=30, what="the item jobs done")
    assert cast.outbox("lid", "%Nog een bankje erbij%") == []
    assert cast.api["lid"].patch("/me/notification-settings", {"mail": True})[0] == 200


def test_one_digest_of_seventeen_sent_once_by_two_daemons(cast, db_daemon):
    port = free_port()
    with smtp_server(port) as store:
        opts = {**OPTIONS, **smtp_options(port)}
        a = db_daemon(opts, SMALL)
        b = db_daemon(opts, SMALL)
        cast.use(a)
        lid = cast.api["lid"]
        assert lid.patch("/me/notification-settings", {"mail": True, "lang": "nl"})[0] == 200
        # Nothing pending from earlier tests: a first digest takes it all.
        for kind in ("digest.daily", "digest.weekly"):
            cast.due_now(kind)
            wait_for(lambda: cast.job(kind)[1] > sql(cast.pg, "super", "SELECT now()")[0][0], timeout=30,
                     what="the earlier digest")
        wait_for(lambda: not sql(cast.pg, "super", "SELECT 1 FROM mail_outbox WHERE status IN ('queued', 'sending')"),
                 timeout=30, what="the outbox sent")
        sent_before = len(store.all())
        t1 = cast.table("Digest een", people=("lid", "bram"))              # lid: automatic daily
        t2 = cast.table("Digest twee", people=("cato",))
        t3 = cast.table("Digest drie", people=("bram",))
        assert lid.put(f"/tables/{t2}/follow", {"cadence": "daily"})[0] == 200
        assert lid.put(f"/tables/{t3}/follow", {"cadence": "daily"})[0] == 200
        secret = cast.group(t2, "Kern", "closed")
        for i in range(7):
            cast.post("bram", f"Digest bijdrage een {i}", table=t1)
        for i in range(5):
            cast.post("cato", f"Digest bijdrage twee {i}", table=t2)
        for i in range(3):
            cast.post("fac", f"Besloten bijdrage {i}", group=secret)
        for i in range(5):
            cast.post("bram", f"Digest bijdrage drie {i}", table=t3)
        cast.due_now("digest.daily")
        wait_for(lambda: cast.job("digest.daily")[1] > sql(cast.pg, "super", "SELECT now()")[0][0], timeout=30,
                 what="the digest run and the next one scheduled")
        wait_for(lambda: [m for m in store.all()[sent_before:] if PEOPLE["lid"][0] in m[1]], timeout=30,
                 what="the digest delivered")
        time.sleep(2)
        mine = [m for m in store.all()[sent_before:] if PEOPLE["lid"][0] in m[1]]
        assert len(mine) == 1, [m[2][:300] for m in mine]
        msg = email.message_from_bytes(mine[0][2], policy=email.policy.default)
        text = msg.get_body(("plain",)).get_content()
        assert msg["Subject"] == "Uw dagelijkse overzicht: 17 nieuw", msg["Subject"]
        assert text.count("* Bijdrage bij ") == 17, text
        assert "Besloten" not in text, text
        for i in range(7):
            assert f"Digest bijdrage een {i}" in text
        token = sql(cast.pg, "super", "SELECT unsubscribe_token FROM notification_state WHERE tenant_id = %s"
                    " AND account_id = %s", (cast.tenant_id, cast.ids["lid"]))[0][0]
        link = f"https://{HOST}/afmelden/{token}"
        assert msg["List-Unsubscribe"] == f"<{link}>", msg["List-Unsubscribe"]
        assert msg["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
        assert link in text
        # The next day's digest has nothing new: no mail.
        cast.due_now("digest.daily")
        wait_for(lambda: cast.job("digest.daily")[1] > sql(cast.pg, "super", "SELECT now()")[0][0], timeout=30,
                 what="the empty digest")
        time.sleep(2)
        assert len([m for m in store.all()[sent_before:] if PEOPLE["lid"][0] in m[1]]) == 1
        # Unsubscribed from the mail, with no session, through the other
        # daemon: the next digest does not come.
        st, _, body = Api(b, HOST).post("/unsubscribe", {"token": token})
        assert st == 200 and body == {"mail": False}
        cast.post("bram", "Na het afmelden", table=t1)
        cast.due_now("digest.daily")
        wait_for(lambda: cast.job("digest.daily")[1] > sql(cast.pg, "super", "SELECT now()")[0][0], timeout=30,
                 what="the digest after unsubscribing")
        time.sleep(2)
        assert len([m for m in store.all()[sent_before:] if PEOPLE["lid"][0] in m[1]]) == 1
        # The in-site list keeps working.
        assert "Na het afmelden" in [i["summary"] for i in cast.listed("lid")["items"]]


def test_a_digest_goes_in_batches_and_a_failed_batch_sends_nobody_twice(cast, db_daemon, pg):
    """With batches of 3 people (the setting aantafel.digest_batch, read by
    the daemon's sessions), seven new people's daily digest takes several
    runs of the job, each run its own transaction: the mails of a batch
    and those people's marks commit together. A batch that fails half-way
    (one person's address refused by the outbox) leaves the earlier
    batches' mails and sends nothing of its own; once it succeeds every
    person has had exactly one digest, and the next period is scheduled."""
    sql(pg, "super", "ALTER ROLE aantafel_app SET aantafel.digest_batch = '3'")
    try:
        cast.use(db_daemon(OPTIONS, SMALL))
        now = lambda: sql(cast.pg, "super", "SELECT now()")[0][0]  # noqa: E731
        # Nothing pending from earlier tests (in batches of 3 already).
        for kind in ("digest.daily", "digest.weekly"):
            cast.due_now(kind)
            wait_for(lambda: cast.job(kind)[1] > now(), timeout=60, what="the earlier digest")
        people = [f"deel{i}@nt.test" for i in range(1, 8)]
        for i, address in enumerate(people, 1):
            make_user(cast.pg, SLUG, address, "member", f"Deel {i}")
        ids = dict(sql(cast.pg, "super", "SELECT email, id FROM accounts WHERE tenant_id = %s AND email LIKE 'deel%%'",
                       (cast.tenant_id,)))
        assert sorted(ids.values()) == [ids[a] for a in people], ids
        t = cast.table("In delen")
        for address in people:
            st, _, body = cast.api["fac"].put(f"/tables/{t}/people/{ids[address]}", {"role": "member"})
            assert st == 200, body
        # What came after this (by time: on a Citus cluster ids do not
        # follow the order rows were made in).
        start = now()

        def digests():
            return sql(cast.pg, "super", "SELECT to_addr, subject FROM mail_outbox WHERE tenant_id = %s"
                       " AND created_at > %s AND subject LIKE 'Uw dagelijkse overzicht:%%' ORDER BY to_addr",
                       (cast.tenant_id, start))

        def set_address(who, address):
            sql(cast.pg, "super", "UPDATE accounts SET email = %s WHERE tenant_id = %s AND id = %s",
                (address, cast.tenant_id, ids[who]))

        # The fifth one's address is one the outbox refuses: the batch
        # that holds them fails, and is tried again.
        set_address(people[4], "deel 5@nt.test")
        cast.post("fac", "In delen een", table=t)
        cast.post("fac", "In delen twee", table=t)
        cast.due_now("digest.daily")
        wait_for(lambda: cast.job("digest.daily")[2], timeout=60, what="the failed batch")
        assert "mail_outbox_to_addr_check" in cast.job("digest.daily")[2], cast.job("digest.daily")
        sent = [a for a, _ in digests()]
        # The batches before it went, each person once, in account order
        # (deel1 to deel7); nobody of the failed batch or after it has had
        # a mail.
        assert sent and sent == people[:len(sent)] and len(sent) <= 4, sent
        run = sql(cast.pg, "super", "SELECT upto, done_until FROM digest_runs WHERE tenant_id = %s AND cadence = 'daily'",
                  (cast.tenant_id,))
        assert run and run[0][1] == ids[sent[-1]], (run, sent)
        marks = dict(sql(cast.pg, "super", "SELECT account_id, daily_until FROM notification_state WHERE tenant_id = %s",
                         (cast.tenant_id,)))
        assert [marks.get(ids[a]) for a in people] == [run[0][0]] * len(sent) + [None] * (7 - len(sent)), marks

        # A change of the digests' hours meanwhile lets the digest under way
        # go on at once (its last batch schedules the next at the new
        # hours); the weekly one, not under way, moves to its time. Seen in
        # a transaction that is rolled back.
        c = pg.connect("super")
        try:
            c.autocommit = False
            cur = c.cursor()
            cur.execute("SELECT platform.enter_tenant(%s::text), platform.digests_schedule(%s)",
                        (cast.tenant_id, cast.tenant_id))
            cur.execute("SELECT kind, run_at <= clock_timestamp() FROM jobs WHERE tenant_id = %s AND state = 'pending'"
                        " AND kind LIKE 'digest.%%' ORDER BY kind", (cast.tenant_id,))
            assert cur.fetchall() == [("digest.daily", True), ("digest.weekly", False)]
            c.rollback()
        finally:
            c.close()
        # The address put right, the job tried again at once: the rest go.
        set_address(people[4], people[4])
        cast.due_now("digest.daily")
        wait_for(lambda: cast.job("digest.daily")[1] > now(), timeout=60, what="the digest's last batch")
        got = digests()
        assert sorted(a for a, _ in got) == people, got
        assert {s for _, s in got} == {"Uw dagelijkse overzicht: 2 nieuw"}, got
        assert sql(cast.pg, "super", "SELECT count(*) FROM digest_runs WHERE tenant_id = %s", (cast.tenant_id,)) == [(0,)]
        marks = dict(sql(cast.pg, "super", "SELECT account_id, daily_until FROM notification_state WHERE tenant_id = %s",
                         (cast.tenant_id,)))
        assert {marks[ids[a]] for a in people} == {run[0][0]}, marks
        # Several runs of the one job (each batch moves it to now, the
        # last to the next period's hour, where it waits pending).
        runs = re.findall(rf"tenant={SLUG} job \d+ \(digest\.daily 0\) done", cast.d.log())
        assert len(runs) >= 4, runs                 # the earlier digest, then three batches or more
        assert sql(cast.pg, "super", "SELECT count(*), bool_and(run_at > now()) FROM jobs WHERE tenant_id = %s"
                   " AND kind = 'digest.daily' AND state = 'pending'", (cast.tenant_id,)) == [(1, True)]
        # The next day's digest has nothing new for them.
        cast.due_now("digest.daily")
        wait_for(lambda: cast.job("digest.daily")[1] > now(), timeout=60, what="the next digest")
        assert digests() == got
    finally:
        sql(pg, "super", "ALTER ROLE aantafel_app RESET aantafel.digest_batch")


def test_a_page_reads_its_size_not_all_that_is_followed(one):
    """A person following a table with 5,000 items gets a page, and the
    unread count (capped at 100: "100 or more"), without the database
    reading them all: the activity rows read in the request's transaction
    (pg_stat_xact_user_tables) stay near the page size."""
    cast = one
    lid = cast.api["lid"]
    t = cast.table("Drukke tafel")
    assert lid.put(f"/tables/{t}/follow", {"cadence": "weekly"})[0] == 200
    sql(cast.pg, "super", "SELECT platform.enter_tenant(%s::text); INSERT INTO activity (tenant_id, kind, table_id,"
        " actor_id, title, summary, url, created_at) SELECT %s, 'step.completed', %s, %s, 'Drukke stap ' || i,"
        " 'Stap ' || i, '/tafels/' || %s, now() FROM generate_series(1, 5000) i",
        (cast.tenant_id, cast.tenant_id, t, cast.ids["fac"], t))
    page = cast.listed("lid", limit=20)
    titles = [i["title"] for i in page["items"]]
    assert titles == [f"Drukke stap {i}" for i in range(5000, 4980, -1)], titles
    assert page["unread"] == 100 and page["next_cursor"], page["unread"]
    # The pages go on by the cursor, none skipped, none twice.
    seen_ids = [i["id"] for i in page["items"]]
    cursor_ = page["next_cursor"]
    for _ in range(3):
        nxt = cast.listed("lid", limit=20, cursor=cursor_)
        seen_ids += [i["id"] for i in nxt["items"]]
        cursor_ = nxt["next_cursor"]
    assert seen_ids == sorted(set(seen_ids), reverse=True) and len(seen_ids) == 80
    assert seen_ids[0] - seen_ids[-1] == 79
    if not cast.pg.citus:     # on Citus the rows are read on the workers' shards
        with cursor(cast.pg, "super") as cur:
            cur.execute("BEGIN")
            cur.execute("SELECT platform.enter_tenant(%s::text)", (cast.tenant_id,))
            cur.execute("SELECT api.notifications_list(%s, %s, 'member', '{\"limit\": \"20\"}')",
                        (cast.tenant_id, cast.ids["lid"]))
            body = cur.fetchone()[0]
            cur.execute("SELECT coalesce(seq_tup_read, 0) + coalesce(idx_tup_fetch, 0) FROM pg_stat_xact_user_tables"
                        " WHERE relname = 'activity'")
            read = cur.fetchone()[0]
            cur.execute("ROLLBACK")
        assert len(body["body"]["items"] if "body" in body else body["items"]) == 20, str(body)[:300]
        total = sql(cast.pg, "super", "SELECT count(*) FROM activity")[0][0]
        # The page (21 per table followed), the unread count (100 at most
        # per table) and the page's items: about 141 here, 5,000 and more
        # when every row the person may be told is computed.
        assert 0 < read < 1000 < total, (read, total)
    # Seen: none unread, and the count says so.
    st, _, body = lid.post("/me/notifications/seen", {})
    assert st == 200 and body["unread"] == 0, body
    assert cast.listed("lid", unread="true")["items"] == []


def join_closed(cast, gid, who):
    """WHO asks to join the closed group GID and the facilitator lets them in."""
    st, _, req = cast.api[who].post(f"/groups/{gid}/join", {})
    assert st in (200, 201, 202) and req.get("request_id"), req
    st, _, body = cast.api["fac"].post(f"/groups/{gid}/requests/{req['request_id']}", {"decision": "approve"})
    assert st == 200, body


def settled(cast, *tables):
    """Every mail job of the activity at TABLES has run."""
    def done():
        rows = sql(cast.pg, "super", "SELECT id FROM activity WHERE tenant_id = %s AND table_id = ANY (%s)",
                   (cast.tenant_id, list(tables)))
        return all((cast.job("notify.item", a) or ("done",))[0] == "done" for (a,) in rows)
    wait_for(done, timeout=30, what="the item jobs done")


def test_every_moment_is_told_once_and_only_to_who_may_read_it(one):
    cast = one
    fac = cast.api["fac"]
    for who in ("lid", "bram", "cato", "admin"):
        assert cast.api[who].patch("/me/notification-settings", {"mail": True, "lang": "nl"})[0] == 200
    t = cast.table("Momenten tafel", people=("bram",))                  # bram: automatic daily
    buurt = cast.group(t, "Buurt", "public")
    kern = cast.group(t, "Kern", "closed")
    join_closed(cast, kern, "bram")
    assert cast.api["bram"].post(f"/groups/{buurt}/join", {})[0] == 200
    # lid follows the table and one of its groups, both at 'each'.
    assert cast.api["lid"].put(f"/tables/{t}/follow", {"cadence": "each"})[0] == 200
    assert cast.api["lid"].put(f"/groups/{buurt}/follow", {"cadence": "each"})[0] == 200
    assert cast.api["cato"].put(f"/tables/{t}/follow", {"cadence": "daily"})[0] == 200
    # A closed table cato was one of, with a choice of hers left behind.
    dicht = cast.table("Dichte momenten", "closed", people=("cato",))
    assert cast.api["cato"].put(f"/tables/{dicht}/follow", {"cadence": "each"})[0] == 200
    assert cast.api["admin"].put(f"/tables/{dicht}/follow", {"cadence": "each"})[0] == 200
    assert fac.delete(f"/tables/{dicht}/people/{cast.ids['cato']}")[0] == 200

    def mails(who, text):
        return cast.outbox(who, f"%{text}%")

    def told(who, text):
        wait_for(lambda: mails(who, text), timeout=30, what=f"{who}'s mail: {text}")
        assert len(mails(who, text)) == 1, mails(who, text)
        return mails(who, text)[0]

    # A decision opened and closed by the facilitator.
    st, _, d1 = fac.post(f"/tables/{t}/decisions", {"title": "Bankjes kiezen", "proposal": "Vier bankjes."})
    assert st == 201, d1
    subject, text, _ = told("lid", "Besluit geopend bij Momenten tafel: Bankjes kiezen")
    assert subject == "Nieuw bij Momenten tafel" and f"https://{HOST}/besluiten/{d1['id']}" in text, text
    told("bram", "Besluit geopend bij Momenten tafel: Bankjes kiezen")
    told("cato", "Besluit geopend bij Momenten tafel: Bankjes kiezen")
    assert fac.post(f"/decisions/{d1['id']}/close", {})[0] == 200
    told("lid", "Besluit gesloten bij Momenten tafel: Bankjes kiezen")
    # A decision closed by the scheduler at its closes_at: no viewer, so
    # the facilitator hears of it too.
    closes = datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(seconds=2)
    st, _, d2 = fac.post(f"/tables/{t}/decisions", {"title": "Bomen kiezen", "proposal": "Twee bomen.",
                                                     "closes_at": closes.isoformat()})
    assert st == 201, d2
    told("lid", "Besluit gesloten bij Momenten tafel: Bomen kiezen")
    told("fac", "Besluit gesloten bij Momenten tafel: Bomen kiezen")
    assert sql(cast.pg, "super", "SELECT actor_id FROM activity WHERE tenant_id = %s AND kind = 'decision.closed'"
               " AND url = %s", (cast.tenant_id, f"/besluiten/{d2['id']}")) == [(None,)]
    # A meeting of the public group planned, changed and cancelled: lid
    # follows both the table and the group, and hears of each once.
    st, _, m = fac.post(f"/tables/{t}/meetings", {"title": "Buurtavond", "group_id": buurt, "place": "Buurthuis",
                                                  "starts_at": "2031-06-01T18:00:00Z", "ends_at": "2031-06-01T20:00:00Z"})
    assert st == 201, m
    told("lid", "Bijeenkomst gepland bij Momenten tafel (Buurt): Buurtavond")
    st, _, body = fac.patch(f"/meetings/{m['id']}", {"title": "Buurtavond verzet", "starts_at": "2031-06-02T18:00:00Z",
                                                      "ends_at": "2031-06-02T20:00:00Z"})
    assert st == 200, body
    told("lid", "Bijeenkomst gewijzigd bij Momenten tafel (Buurt): Buurtavond verzet")
    told("cato", "Bijeenkomst gewijzigd bij Momenten tafel (Buurt): Buurtavond verzet")
    assert fac.post(f"/meetings/{m['id']}/cancel", {"reason": "Zaal dicht"})[0] == 200
    told("lid", "Bijeenkomst afgelast bij Momenten tafel (Buurt): Buurtavond verzet")
    told("bram", "Bijeenkomst afgelast bij Momenten tafel (Buurt): Buurtavond verzet")
    # A contribution in the group lid follows twice: one mail.
    cast.post("bram", "Een bijdrage in de buurtgroep", group=buurt)
    told("lid", "Een bijdrage in de buurtgroep")
    kinds = [i["kind"] for i in cast.listed("lid", limit=8)["items"]]
    assert kinds == ["contribution", "meeting.cancelled", "meeting.changed", "meeting.planned", "decision.closed",
                     "decision.opened", "decision.closed", "decision.opened"], kinds
    # The closed group's decision and meeting: its member hears of them,
    # those who follow the table but may not read the group never do.
    st, _, d3 = fac.post(f"/tables/{t}/decisions", {"title": "Geheim besluit", "proposal": "Binnen de kern.",
                                                     "group_id": kern})
    assert st == 201, d3
    assert fac.post(f"/decisions/{d3['id']}/close", {})[0] == 200
    st, _, m2 = fac.post(f"/tables/{t}/meetings", {"title": "Geheime avond", "group_id": kern, "place": "Kelder",
                                                   "starts_at": "2031-07-01T18:00:00Z", "ends_at": "2031-07-01T20:00:00Z"})
    assert st == 201, m2
    assert fac.patch(f"/meetings/{m2['id']}", {"title": "Geheime avond later"})[0] == 200
    assert fac.post(f"/meetings/{m2['id']}/cancel", {})[0] == 200
    cast.post("fac", "Geheime bijdrage in de kern", group=kern)
    for text in ("Besluit geopend bij Momenten tafel (Kern): Geheim besluit",
                 "Besluit gesloten bij Momenten tafel (Kern): Geheim besluit",
                 "Bijeenkomst gepland bij Momenten tafel (Kern): Geheime avond",
                 "Bijeenkomst gewijzigd bij Momenten tafel (Kern): Geheime avond later",
                 "Bijeenkomst afgelast bij Momenten tafel (Kern): Geheime avond later"):
        told("bram", text)
    # The closed table: its admin hears of a decision, cato (no longer
    # one of its people, her choice still there) does not.
    st, _, d4 = fac.post(f"/tables/{dicht}/decisions", {"title": "Dicht besluit", "proposal": "Alleen voor ons."})
    assert st == 201, d4
    told("admin", "Besluit geopend bij Dichte momenten: Dicht besluit")
    settled(cast, t, dicht)
    # The digest: cato's daily one holds the group contribution she may
    # read, nothing of the closed group's or the closed table's.
    cast.due_now("digest.daily")
    wait_for(lambda: cast.job("digest.daily")[1] > sql(cast.pg, "super", "SELECT now()")[0][0], timeout=30,
             what="the digest run")
    told("cato", "Een bijdrage in de buurtgroep")
    for who in ("lid", "cato"):
        assert mails(who, "Geheim") == [] and mails(who, "Dicht") == [], who
        listed = cast.listed(who, limit=100)["items"]
        assert not [i for i in listed if i["group_id"] == kern or i["table_id"] == dicht], listed
        assert not [i for i in listed if "Geheim" in i["title"] + i["summary"]], listed
    assert "Geheim besluit" in [i["title"] for i in cast.listed("bram", limit=20)["items"]]


def test_the_mails_html_part_escapes_every_value_and_carries_the_unsubscribe_link(cast, db_daemon):
    """A hostile table title and contribution stay text in the HTML part of
    an item's mail and of a digest (read from the SMTP sink), and both
    parts carry the unsubscribe link."""
    port = free_port()
    with smtp_server(port) as store:
        cast.use(db_daemon({**OPTIONS, **smtp_options(port)}, SMALL))
        for who in ("lid", "cato"):
            assert cast.api[who].patch("/me/notification-settings", {"mail": True, "lang": "nl"})[0] == 200
        title = """Plein <script>alert("t")</script> & 'co'"""
        t = cast.table(title, people=("bram",))
        assert cast.api["lid"].put(f"/tables/{t}/follow", {"cadence": "each"})[0] == 200
        assert cast.api["cato"].put(f"/tables/{t}/follow", {"cadence": "daily"})[0] == 200
        body = """<script>alert('b')</script> "Aanhalingstekens" <img src=x onerror=alert(1)>"""
        cast.post("bram", body, table=t)

        def mails_to(who, marker):
            return [email.message_from_bytes(m[2], policy=email.policy.default) for m in store.all()
                    if PEOPLE[who][0] in m[1] and marker in m[2]]

        wait_for(lambda: mails_to("lid", b"Aanhalingstekens"), timeout=30, what="the each mail")
        cast.due_now("digest.daily")
        wait_for(lambda: mails_to("cato", b"Aanhalingstekens"), timeout=30, what="the digest")
        for who in ("lid", "cato"):
            msg = mails_to(who, b"Aanhalingstekens")[-1]
            assert msg.get_content_type() == "multipart/alternative", msg.get_content_type()
            text = msg.get_body(("plain",)).get_content()
            html = msg.get_body(("html",)).get_content()
            token = sql(cast.pg, "super", "SELECT unsubscribe_token FROM notification_state WHERE tenant_id = %s"
                        " AND account_id = %s", (cast.tenant_id, cast.ids[who]))[0][0]
            link = f"https://{HOST}/afmelden/{token}"
            assert msg["List-Unsubscribe"] == f"<{link}>"
            assert link in text and f'href="{link}"' in html, html
            # The text part says it as it is; the HTML part as text.
            assert title in text and "<script>alert('b')</script>" in text, text
            assert "<script" not in html and "<img" not in html and "onerror=alert(1)>" not in html, html
            assert "Plein &lt;script&gt;alert(&quot;t&quot;)&lt;/script&gt; &amp; &#39;co&#39;" in html, html
            assert "&lt;script&gt;alert(&#39;b&#39;)&lt;/script&gt; &quot;Aanhalingstekens&quot; &lt;img" in html, html
            assert html.startswith("<!DOCTYPE html><html lang=\"nl\">") and f'href="https://{HOST}/tafels/{t}#bijdrage-' in html
        assert "Nieuw bij de tafels die u volgt" in mails_to("cato", b"Aanhalingstekens")[-1].get_body(("html",)).get_content()


def test_export_and_erasure_cover_the_notification_rows(one):
    cast = one
    t = cast.table("Export tafel", people=("cato",))
    assert cast.api["cato"].put(f"/tables/{t}/follow", {"cadence": "each"})[0] == 200
    assert cast.api["cato"].patch("/me/notification-settings", {"lang": "en"})[0] == 200
    st, _, doc = cast.api["cato"].get("/me/export")
    assert st == 200
    assert {"table_id": t, "group_id": None, "cadence": "each"}.items() <= \
        [f for f in doc["follows"] if f["table_id"] == t][0].items()
    assert doc["notification_settings"]["lang"] == "en"
    cast.post("cato", "Van Cato", table=t)
    sql(cast.pg, "super", "SELECT platform.enter_tenant(%s::text), platform.account_erase(%s, %s)",
        (cast.tenant_id, cast.tenant_id, cast.ids["cato"]))
    left = sql(cast.pg, "super", "SELECT (SELECT count(*) FROM follows WHERE tenant_id = %s AND account_id = %s),"
               " (SELECT count(*) FROM notification_state WHERE tenant_id = %s AND account_id = %s),"
               " (SELECT count(*) FROM activity WHERE tenant_id = %s AND actor_id = %s)",
               (cast.tenant_id, cast.ids["cato"]) * 3)
    assert left == [(0, 0, 0)], left
