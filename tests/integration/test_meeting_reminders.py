"""Meeting reminders (sql/code/meetings.sql, the meeting.remind job of
sql/code/jobs.sql): a day before a meeting's start the scheduler puts one
mail in the outbox for each one registered with an account (not those
waiting, not those who cancelled, not those registered by name), in
their language, with the time in Europe/Amsterdam, the place or link and
the meeting's iCalendar link; a meeting starting in 24 hours and a few
seconds shows it at once. Moving the start moves the reminder; a
cancelled meeting sends none; with two daemons each reminder is mailed
once; another municipality's meeting is not touched."""
import datetime
import time
import zoneinfo

import pytest

from api_client import Api
from bundle_util import sql
from harness import aantafel, wait_for
from test_signin import SMALL
from world import make_user, token_for

HOST, SLUG = "herinner.mr.test", "mr-herinner"
LEAD = datetime.timedelta(hours=24)
OPTIONS = {"workers": "2", "job_lease": "3s", "job_poll_interval": "1h"}
PEOPLE = {"fac": ("fac@mr.test", "facilitator", "Fien"), "anna": ("anna@mr.test", "member", "Anna"),
          "bram": ("bram@mr.test", "member", "Bram"), "cato": ("cato@mr.test", "member", "Cato"),
          "dirk": ("dirk@mr.test", "member", "Dirk")}


def utc_in(delta):
    return datetime.datetime.now(datetime.timezone.utc) + delta


class Cast:
    def __init__(self, pg, tenant_id):
        self.pg, self.tenant_id = pg, tenant_id
        for email, role, name in PEOPLE.values():
            make_user(pg, SLUG, email, role, name)

    def use(self, d):
        self.d = d
        wait_for(lambda: d.get("/inloggen", host=HOST)[0] == 200, what="sign-in page")
        if not hasattr(self, "tokens"):
            self.tokens = {who: token_for(d, HOST, email)[0] for who, (email, _, _) in PEOPLE.items()}
        self.api = {who: Api(d, HOST, token=t) for who, t in self.tokens.items()}
        self.ids = {who: a.get("/me")[2]["id"] for who, a in self.api.items()}
        return self

    def table(self):
        fac = self.api["fac"]
        st, _, t = fac.post("/tables", {"title": "Het plein", "question": "Wat is nodig?", "visibility": "closed"})
        assert st == 201, t
        for who in ("anna", "bram", "cato", "dirk"):
            st, _, body = fac.put(f"/tables/{t['id']}/people/{self.ids[who]}", {"role": "member"})
            assert st == 200, body
        return t["id"]

    def meeting(self, title, starts_in, **extra):
        start = utc_in(starts_in)
        body = {"title": title, "starts_at": start.isoformat(), "ends_at": (start + datetime.timedelta(hours=2)).isoformat(),
                "place": "Buurthuis De Hoven"}
        body.update(extra)
        st, _, m = self.api["fac"].post(f"/tables/{self.table()}/meetings", body)
        assert st == 201, m
        return m

    def register(self, who, mid, lang="nl"):
        st, _, body = self.api[who].put(f"/meetings/{mid}/registration", {"lang": lang})
        assert st == 200 or st == 201, body
        return body

    def mails(self, who, title):
        return sql(self.pg, "super",
                   "SELECT subject, body_text FROM mail_outbox WHERE to_addr = %s AND body_text LIKE %s ORDER BY id",
                   (PEOPLE[who][0], '%"' + title + '"%'))

    def job(self, mid):
        rows = sql(self.pg, "super",
                   "SELECT state, run_at, taken_by, last_error, attempts FROM jobs WHERE tenant_id = %s AND kind = 'meeting.remind'"
                   " AND subject = %s ORDER BY id DESC", (self.tenant_id, mid))
        return rows[0] if rows else None


@pytest.fixture(scope="module")
def cast(pg):
    aantafel("tenant", "create", SLUG, "--name", "Gemeente Herinner", "--host", HOST, env=pg.daemon_env())
    ids = dict(sql(pg, "super", "SELECT slug, id FROM platform.tenants"))
    return Cast(pg, ids[SLUG])


@pytest.fixture
def one(cast, db_daemon):
    return cast.use(db_daemon(OPTIONS, SMALL))


def test_the_reminder_reaches_the_registered_once(one):
    cast = one
    m = cast.meeting("Avond over bankjes", LEAD + datetime.timedelta(seconds=6), capacity=3,
                     online_url="https://meet.example.org/plein")
    mid = m["id"]
    job = cast.job(mid)
    assert job[0] == "pending", job
    assert abs((job[1] - (utc_in(datetime.timedelta(seconds=6)))).total_seconds()) < 5, job
    cast.register("anna", mid, "en")
    cast.register("bram", mid)
    cast.register("dirk", mid)
    assert cast.api["dirk"].delete(f"/meetings/{mid}/registration")[0] == 200
    st, _, body = cast.api["fac"].post(f"/meetings/{mid}/registrations", {"name": "Els zonder account"})
    assert st == 201, body
    assert cast.register("cato", mid)["my_registration"]["state"] == "waiting"
    wait_for(lambda: cast.job(mid)[0] == "done", timeout=30, what="the reminder job done")
    anna, bram = cast.mails("anna", "Avond over bankjes"), cast.mails("bram", "Avond over bankjes")
    assert len(anna) == 1 and len(bram) == 1, (anna, bram)
    assert cast.mails("cato", "Avond over bankjes") == [] and cast.mails("dirk", "Avond over bankjes") == []
    # In each one's language, the time in Amsterdam written out, the place,
    # the link and the iCalendar file on the municipality's host.
    start = datetime.datetime.fromisoformat(m["starts_at"].replace("Z", "+00:00"))
    local = start.astimezone(zoneinfo.ZoneInfo("Europe/Amsterdam"))
    months_nl = ["januari", "februari", "maart", "april", "mei", "juni", "juli", "augustus", "september",
                 "oktober", "november", "december"]
    subject, text = bram[0]
    assert subject.startswith("Herinnering: Avond over bankjes"), subject
    assert f"{local.day} {months_nl[local.month - 1]} {local.year} om {local:%H:%M}" in text, text
    assert "Waar: Buurthuis De Hoven" in text and "Online: https://meet.example.org/plein" in text, text
    assert f"https://{HOST}/bijeenkomsten/{mid}/agenda.ics" in text, text
    assert "Beste Bram" in text
    subject, text = anna[0]
    assert subject.startswith("Reminder: Avond over bankjes"), subject
    assert f"{local.day} {local:%B} {local.year} at {local:%H:%M} (Amsterdam time)" in text, text
    assert "Where: Buurthuis De Hoven" in text and f"https://{HOST}/bijeenkomsten/{mid}/agenda.ics" in text
    # Once: nothing more comes, and a change that leaves the start where it
    # is schedules no second one.
    assert cast.api["fac"].patch(f"/meetings/{mid}", {"title": "Avond over bankjes"})[0] == 200
    time.sleep(3)
    assert len(cast.mails("anna", "Avond over bankjes")) == 1 and len(cast.mails("bram", "Avond over bankjes")) == 1
    assert cast.job(mid)[0] == "done"


def test_moving_the_start_moves_the_reminder(one):
    cast = one
    m = cast.meeting("Verschoven avond", LEAD + datetime.timedelta(seconds=5))
    mid = m["id"]
    cast.register("anna", mid)
    later = utc_in(datetime.timedelta(days=2))
    st, _, body = cast.api["fac"].patch(f"/meetings/{mid}", {"starts_at": later.isoformat(),
                                                            "ends_at": (later + datetime.timedelta(hours=1)).isoformat()})
    assert st == 200, body
    job = cast.job(mid)
    assert job[0] == "pending" and abs((job[1] - (later - LEAD)).total_seconds()) < 2, job
    time.sleep(8)
    assert cast.mails("anna", "Verschoven avond") == []
    assert cast.job(mid)[0] == "pending"
    # Back to tomorrow and a few seconds: it comes, once.
    soon = utc_in(LEAD + datetime.timedelta(seconds=3))
    st, _, body = cast.api["fac"].patch(f"/meetings/{mid}", {"starts_at": soon.isoformat(),
                                                            "ends_at": (soon + datetime.timedelta(hours=1)).isoformat()})
    assert st == 200, body
    wait_for(lambda: cast.mails("anna", "Verschoven avond"), timeout=30, what="the moved reminder")
    time.sleep(2)
    assert len(cast.mails("anna", "Verschoven avond")) == 1
    # Only one job was ever made for it: moved, not added.
    assert sql(cast.pg, "super", "SELECT count(*) FROM jobs WHERE tenant_id = %s AND kind = 'meeting.remind'"
               " AND subject = %s", (cast.tenant_id, mid))[0][0] == 1


def test_a_cancelled_meeting_sends_none(one):
    cast = one
    m = cast.meeting("Afgelaste avond", LEAD + datetime.timedelta(seconds=4))
    mid = m["id"]
    cast.register("anna", mid)
    cast.register("bram", mid, "en")
    st, _, body = cast.api["fac"].post(f"/meetings/{mid}/cancel", {"reason": "De zaal is dicht."})
    assert st == 200, body
    assert cast.job(mid)[0] == "cancelled"
    time.sleep(8)
    assert cast.mails("anna", "Afgelaste avond") == [] and cast.mails("bram", "Afgelaste avond") == []
    # A meeting whose reminder came due after it was cancelled (the job
    # made by hand, as a newer daemon might) is a no-op all the same.
    sql(cast.pg, "super", "SELECT platform.enter_tenant(%s::text), platform.job_schedule(%s, 'meeting.remind', %s, now())",
        (cast.tenant_id, cast.tenant_id, mid))
    wait_for(lambda: cast.job(mid)[0] == "done", timeout=30, what="the stray job run")
    assert cast.mails("anna", "Afgelaste avond") == []


def test_two_daemons_mail_each_reminder_once(cast, db_daemon):
    a = db_daemon(OPTIONS, SMALL)
    b = db_daemon(OPTIONS, SMALL)
    cast.use(a)
    mids = []
    for i in range(4):
        m = cast.meeting(f"Avond {i} met twee", LEAD + datetime.timedelta(seconds=6))
        cast.register("anna", m["id"])
        cast.register("bram", m["id"], "en")
        mids.append(m["id"])
    for mid in mids:
        wait_for(lambda: cast.job(mid)[0] == "done", timeout=40, what="each reminder done")
    time.sleep(2)
    for i, mid in enumerate(mids):
        assert len(cast.mails("anna", f"Avond {i} met twee")) == 1
        assert len(cast.mails("bram", f"Avond {i} met twee")) == 1
    assert b.get("/inloggen", host=HOST)[0] == 200
