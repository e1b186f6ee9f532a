"""The scheduler (core/app/scheduler.c, sql/code/jobs.sql): a decision
with a closing time closes by itself, as the facilitator's close does
(the counts, the majority's outcome; a vote after it is a 409), once
however many daemons run, with one decision.closed event for the
tenant's plugin hooks (answered as a guest in them); a daemon killed
(SIGKILL) with the job taken leaves it to the other daemon after the
lease, which runs it once; a job survives a restart of the only daemon;
a failing job records its attempts and last error and `aantafel jobs
list --failed` shows it; a facilitator's close before the time leaves the
job nothing to do; moving the closing time moves the job; another
municipality neither sees our jobs nor moves our decisions."""
import datetime
import json
import signal

import psycopg2
import psycopg2.errors
import pytest

from api_client import Api
from bundle_util import deployed, sql, write_bundle
from harness import aantafel, wait_for
from test_signin import SMALL
from world import make_user, token_for

HOST, SLUG = "plan.sched.test", "sched-plan"
OTHER, OTHER_SLUG = "elders.sched.test", "sched-elders"
LEASE_S = 3

# Records every decision.closed it sees: the first under closed/ID (only
# created, version 0), any later one under again/ID; and what a guest's
# read of the decision answers inside the hook.
PLUGIN = """
plugin.hook("decision.closed", function(d)
	local st = plugin.api.get("/decisions/" .. d.id)
	local doc = { by = d.by or 0, outcome = d.outcome or "", state = d.state, read = st }
	if not plugin.store.put("closed/" .. d.id, doc, 0) then
		plugin.store.put("again/" .. d.id, doc)
	end
end)
plugin.route("GET", "/plan/log/:id", function(req, params)
	local out = {}
	for _, k in ipairs({ "closed/", "again/" }) do
		local row = plugin.store.get(k .. params.id)
		if row then out[k:sub(1, -2)] = row end
	end
	return { json = out }
end)
"""

BUNDLE = {
    "tenant.lua": 'return { plugins = { plan = {} } }',
    "plugins/plan.lua": PLUGIN,
}

# No polling to speak of: the schedulers must wake at the next job's time
# (a lease's end included) and on the notification of a new one.
OPTIONS = {"workers": "2", "job_lease": f"{LEASE_S}s", "job_poll_interval": "1h", "job_max_attempts": "2"}


def at(seconds):
    return (datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(seconds=seconds)).isoformat()


class Cast:
    def __init__(self, pg, tenant_id, other_id):
        self.pg, self.tenant_id, self.other_id = pg, tenant_id, other_id
        self.people = {"fac": ("fac@plan.test", "facilitator", "Fien"), "anna": ("anna@plan.test", "member", "Anna"),
                       "bram": ("bram@plan.test", "member", "Bram"), "cato": ("cato@plan.test", "member", "Cato")}
        for email, role, name in self.people.values():
            make_user(pg, SLUG, email, role, name)
        make_user(pg, OTHER_SLUG, "admin@elders.test", "admin", "Els")
        self.d = None

    def use(self, d):
        """Talks to daemon D from now on (tokens are the database's: any
        daemon takes them)."""
        self.d = d
        wait_for(lambda: d.get("/inloggen", host=HOST)[0] == 200, what="sign-in page")
        if not hasattr(self, "tokens"):
            self.tokens = {who: token_for(d, HOST, email)[0] for who, (email, _, _) in self.people.items()}
            self.foreign_token = token_for(d, OTHER, "admin@elders.test")[0]
        self.api = {who: Api(d, HOST, token=t) for who, t in self.tokens.items()}
        self.api["guest"] = Api(d, HOST)
        self.foreign = Api(d, OTHER, token=self.foreign_token)
        self.ids = {who: a.get("/me")[2]["id"] for who, a in self.api.items() if who != "guest"}
        return self

    def table(self):
        fac = self.api["fac"]
        st, _, t = fac.post("/tables", {"title": "De planning", "question": "Wanneer?", "visibility": "closed"})
        assert st == 201, t
        for who in ("anna", "bram", "cato"):
            st, _, body = fac.put(f"/tables/{t['id']}/people/{self.ids[who]}", {"role": "member"})
            assert st == 200, body
        return t["id"]

    def decision(self, closes_in=None, **extra):
        if closes_in is not None:
            extra["closes_at"] = at(closes_in)
        st, _, d = self.api["fac"].post(f"/tables/{self.table()}/decisions",
                                        {"title": "Het plein", "proposal": "Bankjes.", **extra})
        assert st == 201, d
        return d

    def vote(self, who, did, choice):
        return self.api[who].put(f"/decisions/{did}/vote", {"choice": choice})

    def log(self, did):
        st, _, body = self.d.get(f"/plan/log/{did}", host=HOST)
        assert st == 200, body
        return {k: v["value"] if isinstance(v, dict) and "value" in v else v for k, v in json.loads(body).items()}

    def row(self, did):
        """The decision's state and closer, as stored."""
        return sql(self.pg, "super", "SELECT state, closed_by, outcome FROM decisions WHERE tenant_id = %s AND id = %s",
                   (self.tenant_id, did))[0]

    def job(self, did):
        rows = sql(self.pg, "super",
                   "SELECT state, attempts, taken_by, last_error, run_at FROM jobs"
                   " WHERE tenant_id = %s AND kind = 'decision.close' AND subject = %s ORDER BY id DESC",
                   (self.tenant_id, did))
        return rows[0] if rows else None


@pytest.fixture(scope="module")
def cast(pg, tmp_path_factory):
    aantafel("tenant", "create", SLUG, "--name", "Gemeente Plan", "--host", HOST, env=pg.daemon_env())
    deployed(pg, SLUG, write_bundle(tmp_path_factory.mktemp("plan"), BUNDLE))
    aantafel("tenant", "create", OTHER_SLUG, "--name", "Gemeente Elders", "--host", OTHER, env=pg.daemon_env())
    ids = dict(sql(pg, "super", "SELECT slug, id FROM platform.tenants"))
    return Cast(pg, ids[SLUG], ids[OTHER_SLUG])


@pytest.fixture
def one(cast, db_daemon):
    return cast.use(db_daemon(OPTIONS, SMALL))


def closed(cast, did):
    return cast.row(did)[0] == "closed"


def test_a_decision_closes_by_itself_at_its_time(one):
    cast = one
    d = cast.decision(closes_in=4)
    did = d["id"]
    assert cast.job(did)[0] == "pending"
    for who, choice in (("anna", "for"), ("bram", "for"), ("cato", "against")):
        assert cast.vote(who, did, choice)[0] == 200
    wait_for(lambda: closed(cast, did), timeout=15, what="the decision closed by the scheduler")
    st, _, body = cast.api["fac"].get(f"/decisions/{did}")
    assert st == 200 and body["state"] == "closed" and body["path"] == "vote", body
    assert body["counts"] == {"for": 2, "against": 1} and body["totals"]["for"] == 2, body
    assert body["outcome"] == "for" and body["votes_cast"] == 3, body
    assert cast.row(did) == ("closed", None, "for")         # nobody closed it
    # A vote after it is refused and counts nowhere; the minority round is open.
    st, _, body = cast.vote("cato", did, "for")
    assert st == 409 and body["error"]["code"] == "closed", body
    st, _, body = cast.api["cato"].post(f"/decisions/{did}/points", {"body": "Eén bankje in de schaduw."})
    assert st == 201, body
    assert cast.api["fac"].get(f"/decisions/{did}")[2]["counts"] == {"for": 2, "against": 1}
    job = cast.job(did)
    assert job[0] == "done" and job[1] == 1 and job[3] is None, job
    # decision.closed reached the tenant's hook once, with nobody as its
    # actor; a guest's read of a closed table's decision is a 404 there.
    log = wait_for(lambda: cast.log(did).get("closed"), what="the hook's record")
    assert log == {"by": 0, "outcome": "for", "state": "closed", "read": 404}, log
    assert "again" not in cast.log(did)
    # A tie closes without an outcome, as the facilitator's close does.
    d = cast.decision(closes_in=3)
    assert cast.vote("anna", d["id"], "for")[0] == 200 and cast.vote("bram", d["id"], "against")[0] == 200
    wait_for(lambda: closed(cast, d["id"]), timeout=15, what="the tied decision closed")
    assert cast.row(d["id"]) == ("closed", None, None)


def test_two_daemons_close_it_once_with_one_event(cast, db_daemon):
    import time
    a = db_daemon(OPTIONS, SMALL)
    b = db_daemon(OPTIONS, SMALL)
    cast.use(a)
    dids = []
    for i in range(6):
        d = cast.decision(closes_in=4)
        assert cast.vote("anna", d["id"], "against")[0] == 200
        dids.append(d["id"])
    for did in dids:
        wait_for(lambda: closed(cast, did), timeout=20, what="each decision closed")
    for did in dids:
        assert cast.row(did) == ("closed", None, "against")
        wait_for(lambda: "closed" in cast.log(did), what="its hook's record")
        assert cast.job(did)[:2] == ("done", 1), cast.job(did)
    # Give a second run every chance to show itself.
    time.sleep(2)
    for did in dids:
        log = cast.log(did)
        assert "again" not in log and log["closed"]["by"] == 0, log
        # Each job is logged done by exactly one of the two daemons.
        jid = sql(cast.pg, "super", "SELECT id FROM jobs WHERE tenant_id = %s AND kind = 'decision.close' AND subject = %s",
                  (cast.tenant_id, did))[0][0]
        line = f"job {jid} (decision.close {did}) done"
        assert a.log().count(line) + b.log().count(line) == 1, (line, a.log()[-3000:], b.log()[-3000:])


def test_a_killed_daemons_job_is_run_once_by_the_other_after_its_lease(cast, db_daemon, pg):
    a = db_daemon(OPTIONS, SMALL)
    cast.use(a)
    d = cast.decision(closes_in=3)
    did = d["id"]
    assert cast.vote("anna", did, "for")[0] == 200
    # Our own connection holds the decision's row: the job's runner waits
    # for it, with the job taken.
    hold = pg.connect("super")
    hold.autocommit = False
    cur = hold.cursor()
    cur.execute("SELECT 1 FROM decisions WHERE tenant_id = %s AND id = %s FOR UPDATE", (cast.tenant_id, did))
    try:
        job = wait_for(lambda: (lambda j: j if j and j[2] else None)(cast.job(did)), timeout=15,
                       what="the job taken")
        assert job[0] == "pending" and job[1] == 1, job
        a.proc.send_signal(signal.SIGKILL)
        a.proc.wait()
    finally:
        hold.rollback()
        hold.close()
    first = sql(pg, "super", "SELECT taken_by, lease_until FROM jobs WHERE tenant_id = %s AND kind = 'decision.close'"
                             " AND subject = %s",
                (cast.tenant_id, did))[0]
    b = db_daemon(OPTIONS, SMALL)
    cast.use(b)
    wait_for(lambda: closed(cast, did), timeout=LEASE_S + 15, what="the other daemon ran it")
    # Not before the dead daemon's lease had passed, by the other one, on
    # its second attempt, once.
    job = sql(pg, "super", "SELECT state, attempts, taken_by, done_at >= %s FROM jobs"
                           " WHERE tenant_id = %s AND kind = 'decision.close' AND subject = %s",
                (first[1], cast.tenant_id, did))[0]
    assert job[0] == "done" and job[1] == 2 and job[2] != first[0] and job[3], (job, first)
    assert cast.row(did) == ("closed", None, "for")
    log = wait_for(lambda: cast.log(did).get("closed"), what="the hook's record")
    assert log["by"] == 0 and "again" not in cast.log(did)
    assert cast.api["fac"].get(f"/decisions/{did}")[2]["counts"] == {"for": 1}


def test_a_job_survives_a_restart_of_the_only_daemon(cast, db_daemon):
    import time
    a = db_daemon(OPTIONS, SMALL)
    cast.use(a)
    d = cast.decision(closes_in=3)
    assert a.stop() == 0
    time.sleep(4)
    assert cast.row(d["id"])[0] == "open" and cast.job(d["id"])[0] == "pending"
    b = db_daemon(OPTIONS, SMALL)
    cast.use(b)
    wait_for(lambda: closed(cast, d["id"]), timeout=15, what="closed after the restart")
    assert cast.job(d["id"])[:2] == ("done", 1)
    wait_for(lambda: "closed" in cast.log(d["id"]), what="the hook's record")


def test_a_daemon_stopped_while_a_job_waits_gives_it_back_at_once(cast, db_daemon, pg):
    # A lease far longer than the test: only the giving back lets the
    # next daemon run it now.
    opts = {**OPTIONS, "job_lease": "10m"}
    a = db_daemon(opts, SMALL)
    cast.use(a)
    d = cast.decision(closes_in=3)
    did = d["id"]
    hold = pg.connect("super")
    hold.autocommit = False
    cur = hold.cursor()
    cur.execute("SELECT 1 FROM decisions WHERE tenant_id = %s AND id = %s FOR UPDATE", (cast.tenant_id, did))
    try:
        wait_for(lambda: (cast.job(did) or [None] * 3)[2], timeout=15, what="the job taken")
        # SIGTERM: the job's statement is cancelled, the job given back
        # unrun with its attempt not counted, and the daemon stops.
        assert a.stop(timeout=20) == 0
    finally:
        hold.rollback()
        hold.close()
    job = cast.job(did)
    assert job[0] == "pending" and job[1] == 0 and job[2] is None, job
    assert "given back unrun" in a.log()
    assert cast.row(did)[0] == "open"
    b = db_daemon(opts, SMALL)
    cast.use(b)
    wait_for(lambda: closed(cast, did), timeout=15, what="the next daemon ran it")
    assert cast.job(did)[:2] == ("done", 1)
    wait_for(lambda: "closed" in cast.log(did), what="the hook's record")
    assert "again" not in cast.log(did)


def test_a_failing_job_records_its_attempts_and_error(one, pg):
    cast = one
    env = pg.daemon_env()
    # A kind this daemon does not know (one a newer version scheduled):
    # every attempt fails. One fresh, one on its last attempt.
    with pg.connect("owner") as c, c.cursor() as cur:
        cur.execute("BEGIN")
        cur.execute("SELECT platform.enter_tenant(%s)", (str(cast.tenant_id),))
        cur.execute("SELECT platform.job_schedule(%s, 'report.export', 7, now())", (cast.tenant_id,))
        cur.execute("INSERT INTO jobs (tenant_id, kind, subject, run_at, attempts, created_at)"
                    " VALUES (%s, 'report.export', 8, now(), 1, now())", (cast.tenant_id,))
        cur.execute("COMMIT")

    def jobs():
        return dict((s, (st, n, e)) for s, st, n, e in sql(
            pg, "super", "SELECT subject, state, attempts, last_error FROM jobs"
                         " WHERE tenant_id = %s AND kind = 'report.export'", (cast.tenant_id,)))
    wait_for(lambda: jobs()[7][2] and jobs()[8][0] == "failed", timeout=15, what="both attempts failed")
    j = jobs()
    assert j[7][0] == "pending" and j[7][1] == 1 and "unknown job kind report.export" in j[7][2], j
    assert j[8][0] == "failed" and j[8][1] == 2 and "unknown job kind report.export" in j[8][2], j
    # Tried again later (backoff), not at once.
    assert sql(pg, "super", "SELECT run_at > now() + interval '10 seconds' FROM jobs"
                            " WHERE tenant_id = %s AND kind = 'report.export' AND subject = 7",
               (cast.tenant_id,))[0][0]
    out = aantafel("jobs", "list", "--failed", env=env).stdout
    lines = [ln for ln in out.splitlines() if "report.export" in ln]
    assert len(lines) == 2, out
    assert any(" failed " in ln and "unknown job kind report.export" in ln for ln in lines), out
    assert any(" retrying " in ln for ln in lines), out
    # Without --failed the pending jobs are there too; another tenant's
    # list has none of ours; a tenant that does not exist is refused.
    d = cast.decision(closes_in=3600)
    out = aantafel("jobs", "list", "--tenant", SLUG, env=env).stdout
    assert any("decision.close" in ln and str(d["id"]) in ln and " waiting " in ln for ln in out.splitlines()), out
    assert "report.export" in out
    out = aantafel("jobs", "list", "--tenant", OTHER_SLUG, env=env).stdout
    assert SLUG not in out and "report.export" not in out, out
    p = aantafel("jobs", "list", "--tenant", "no-such-town", env=env, check=False)
    assert p.returncode == 1 and "no-such-town" in p.stderr, p.stderr
    p = aantafel("jobs", "list", "--bogus", env=env, check=False)
    assert p.returncode == 2


def test_a_facilitators_close_before_the_time_leaves_the_job_nothing_to_do(one):
    import time
    cast = one
    d = cast.decision(closes_in=3)
    did = d["id"]
    assert cast.vote("anna", did, "against")[0] == 200
    st, _, body = cast.api["fac"].post(f"/decisions/{did}/close")
    assert st == 200 and body["state"] == "closed", body
    assert cast.job(did)[0] == "cancelled"
    time.sleep(5)
    assert cast.row(did) == ("closed", cast.ids["fac"], "against")
    log = cast.log(did)
    assert log["closed"]["by"] == cast.ids["fac"] and "again" not in log, log
    assert cast.job(did)[0] == "cancelled"
    # Closed as collective wisdom: the same.
    d = cast.decision(closes_in=3)
    st, _, body = cast.api["fac"].post(f"/decisions/{d['id']}/collective", {"outcome": "Samen gevonden."})
    assert st == 200, body
    assert cast.job(d["id"])[0] == "cancelled"


def test_moving_the_closing_time_moves_the_job(one):
    import time
    cast = one
    fac = cast.api["fac"]
    # Sooner: closes at the new time.
    d = cast.decision(closes_in=3600)
    st, _, body = fac.patch(f"/decisions/{d['id']}", {"closes_at": at(3)})
    assert st == 200 and body["closes_at"] != d["closes_at"], body
    wait_for(lambda: closed(cast, d["id"]), timeout=15, what="closed at the earlier time")
    assert cast.job(d["id"])[:2] == ("done", 1)
    # Later: still open after the first time; one job, at the new time.
    d = cast.decision(closes_in=3)
    st, _, body = fac.patch(f"/decisions/{d['id']}", {"closes_at": at(3600)})
    assert st == 200, body
    time.sleep(5)
    assert cast.row(d["id"])[0] == "open"
    n = sql(cast.pg, "super", "SELECT count(*), min(run_at) > now() + interval '50 minutes' FROM jobs"
                              " WHERE tenant_id = %s AND kind = 'decision.close' AND subject = %s AND state = 'pending'",
            (cast.tenant_id, d["id"]))[0]
    assert n == (1, True), n
    # Removed: no job left; set again: one again.
    st, _, body = fac.patch(f"/decisions/{d['id']}", {"closes_at": None})
    assert st == 200 and body["closes_at"] is None, body
    assert cast.job(d["id"])[0] == "cancelled"
    st, _, body = fac.patch(f"/decisions/{d['id']}", {"closes_at": at(3600)})
    assert st == 200 and cast.job(d["id"])[0] == "pending"
    # Refusals: a member, a bad time, a time past, no closes_at, another
    # municipality (404), a guest, a closed decision.
    assert cast.api["anna"].patch(f"/decisions/{d['id']}", {"closes_at": at(60)})[0] == 403
    st, _, body = fac.patch(f"/decisions/{d['id']}", {"closes_at": "morgen"})
    assert st == 400 and "closes_at" in body["error"]["fields"], body
    st, _, body = fac.patch(f"/decisions/{d['id']}", {"closes_at": "2026-12-01T19:00:00"})
    assert st == 400, body
    st, _, body = fac.patch(f"/decisions/{d['id']}", {"closes_at": at(-60)})
    assert st == 400, body
    st, _, body = fac.patch(f"/decisions/{d['id']}", {})
    assert st == 400, body
    st, _, body = cast.foreign.patch(f"/decisions/{d['id']}", {"closes_at": at(60)})
    assert st == 404, body
    # A guest: the table is closed, so there is no decision to them.
    assert cast.api["guest"].patch(f"/decisions/{d['id']}", {"closes_at": at(60)})[0] == 404
    assert fac.post(f"/decisions/{d['id']}/close")[0] == 200
    st, _, body = fac.patch(f"/decisions/{d['id']}", {"closes_at": at(60)})
    assert st == 409, body
    assert cast.job(d["id"])[0] == "cancelled"


def test_another_tenants_jobs_are_invisible(one, pg):
    cast = one
    d = cast.decision(closes_in=3600)
    # The daemon's role, in the other municipality, sees none of our jobs
    # and cannot schedule one for us; nor can it list jobs.
    with pg.connect("app") as c, c.cursor() as cur:
        cur.execute("BEGIN")
        cur.execute("SELECT platform.enter_tenant(%s)", (str(cast.other_id),))
        cur.execute("SELECT count(*) FROM jobs WHERE tenant_id <> %s", (cast.other_id,))
        assert cur.fetchone()[0] == 0
        cur.execute("SELECT count(*) FROM jobs WHERE tenant_id = %s", (cast.tenant_id,))
        assert cur.fetchone()[0] == 0
        cur.execute("SAVEPOINT s")
        with pytest.raises(psycopg2.errors.InsufficientPrivilege, match="row-level security"):
            cur.execute("SELECT platform.job_schedule(%s, 'decision.close', %s, now())", (cast.tenant_id, d["id"]))
        cur.execute("ROLLBACK TO SAVEPOINT s")
        with pytest.raises(psycopg2.errors.InsufficientPrivilege, match="permission denied"):
            cur.execute("SELECT * FROM platform.jobs_list(NULL, false)")
        cur.execute("ROLLBACK")
    with pg.connect("app") as c, c.cursor() as cur:
        cur.execute("BEGIN")
        cur.execute("SELECT platform.enter_tenant(%s)", (str(cast.tenant_id),))
        cur.execute("SELECT count(*) FROM jobs WHERE kind = 'decision.close' AND subject = %s", (d["id"],))
        assert cur.fetchone()[0] == 1
        cur.execute("ROLLBACK")
    # Through the API: the other municipality finds no decision of ours.
    assert cast.foreign.get(f"/decisions/{d['id']}")[0] == 404


def test_finished_jobs_are_kept_a_month(one, pg):
    """A job run removes its tenant's jobs finished more than 30 days ago
    (done or cancelled); younger ones and failed ones stay."""
    cast = one
    ids = {}
    for name, state, days in (("old_done", "done", 31), ("old_cancelled", "cancelled", 40),
                              ("young_done", "done", 29), ("old_failed", "failed", 60)):
        ids[name] = sql(pg, "super",
                        "INSERT INTO jobs (tenant_id, kind, subject, state, run_at, created_at, done_at)"
                        " VALUES (%s, 'test.old', %s, %s, now() - make_interval(days => %s),"
                        " now() - make_interval(days => %s), now() - make_interval(days => %s)) RETURNING id",
                        (cast.tenant_id, 900000 + days, state, days, days, days))[0][0]
    d = cast.decision(closes_in=3)
    wait_for(lambda: closed(cast, d["id"]), timeout=20, what="the decision closed by its job")
    left = {r[0] for r in sql(pg, "super", "SELECT id FROM jobs WHERE tenant_id = %s AND id = ANY(%s)",
                              (cast.tenant_id, list(ids.values())))}
    assert left == {ids["young_done"], ids["old_failed"]}, (left, ids)


def visits(pg):
    """How often the daemons' sessions entered a tenant's rows without its
    lock (platform.visit_tenant: once per tenant a claim or a look for the
    next job visits), as PostgreSQL's function statistics count it."""
    rows = sql(pg, "super", "SELECT coalesce(sum(calls), 0) FROM pg_stat_user_functions"
                            " WHERE schemaname = 'platform' AND funcname = 'visit_tenant'")
    return int(rows[0][0])


def test_a_notified_scheduler_looks_at_that_tenant_only(cast, db_daemon, pg):
    """With forty tenants more, a job scheduled for one of them (its
    notification names the tenant) is claimed and run, and the next due
    time looked up, by visiting that tenant, not all forty-odd: the cost of
    a wake follows the tenants with work, not the installation's size.
    Only the timer (a job falling due, job_poll_interval) visits them all."""
    with pg.connect("owner") as c, c.cursor() as cur:
        cur.execute("INSERT INTO platform.tenants (slug, name) SELECT 'sched-extra-' || i, 'Gemeente Extra ' || i"
                    " FROM generate_series(1, 40) i ON CONFLICT (slug) DO NOTHING")
    n_active = sql(pg, "super", "SELECT count(*) FROM platform.tenants WHERE status = 'active'")[0][0]
    assert n_active > 40
    # The earlier tests' jobs wait for tomorrow: a job falling due wakes
    # the scheduler's timer, which looks at every tenant.
    sql(pg, "super", "UPDATE jobs SET run_at = now() + interval '1 day', lease_until = NULL WHERE state = 'pending'")
    sql(pg, "super", "ALTER ROLE aantafel_app SET track_functions = 'pl'")
    try:
        # The mail deliverer's timer visits every tenant too: not now.
        cast.use(db_daemon({**OPTIONS, "mail_poll_interval": "1h"}, SMALL))
        # The start looks at every tenant (what was missed while away).
        wait_for(lambda: visits(pg) >= 2 * n_active, timeout=30, what="the first look at every tenant")
        settled = {"v": -1}

        def quiet():
            v, settled["v"] = settled["v"], visits(pg)
            return v == settled["v"]
        wait_for(quiet, timeout=30, interval=1.5, what="the scheduler asleep")
        before = settled["v"]
        sql(pg, "super", "SELECT platform.enter_tenant(%s::text), platform.job_schedule(%s, 'meeting.remind', 999999, now())",
            (cast.tenant_id, cast.tenant_id))
        wait_for(lambda: sql(pg, "super", "SELECT state FROM jobs WHERE tenant_id = %s AND kind = 'meeting.remind'"
                                          " AND subject = 999999", (cast.tenant_id,)) == [("done",)],
                 timeout=20, what="the job run")
        wait_for(quiet, timeout=30, interval=1.5, what="the scheduler asleep again")
        # A claim, the job's run and a look for the next: a few visits of
        # the one tenant, where a look at every tenant makes two per tenant.
        assert settled["v"] - before < 10, (before, settled["v"], n_active)
    finally:
        sql(pg, "super", "ALTER ROLE aantafel_app RESET track_functions")
