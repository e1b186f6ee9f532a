"""`make demo`'s example content (packaging/demo-seed.py) against a fresh
database, as packaging/demo.sh runs it after the migrations and the
example tenants' bundles: the demo's tables stand at the steps the demo
promises (Zutphen: one at the intake with its players, one in the middle
of its interviews, one with an approved run-sheet, one finished and
closed with its report and evaluation; Voorbeeld: one on its own workflow
past its neighbourhood walk), the guests of a public table read where it
stands, and a second run adds nothing. So the demo cannot rot unseen when
the method's guards or the API change."""
import os
import subprocess

import pytest

from api_client import Api
from bundle_util import deployed, example_bundle
from harness import SOURCE_DIR, aantafel, wait_for
from test_signin import SMALL

SEED = os.path.join(SOURCE_DIR, "packaging", "demo-seed.py")
VOLLEDIG = ["intake", "interviews", "draaiboek", "gesprek", "opbrengst", "verslag", "evaluatie"]


def seed(pg, tmp):
    env = {k: v for k, v in os.environ.items() if not k.startswith("AANTAFEL_")}
    env.update({**pg.daemon_env(), **SMALL, "AANTAFEL_MAIL_TRANSPORT": f"file:{tmp}/mail"})
    p = subprocess.run(["/usr/bin/python3", SEED, "--aantafel", os.environ["AANTAFEL_BIN"], "-c", "etc/aantafel.conf"],
                       cwd=SOURCE_DIR, env=env, capture_output=True, text=True, timeout=600)
    assert p.returncode == 0, (p.stdout, p.stderr)
    return p.stdout


def rows(pg, query, args=()):
    with pg.connect("super") as c, c.cursor() as cur:
        cur.execute(query, args)
        return cur.fetchall()


def counts(pg):
    return {name: rows(pg, f"SELECT count(*) FROM {name}")[0][0]
            for name in ("accounts", "tables", "table_members", "contributions", "records", "record_versions",
                         "step_history", "decisions", "votes", "minority_points", "meetings",
                         "meeting_registrations")}


def states(pg, slug, title):
    got = rows(pg, """SELECT w.workflow_id, s.step_id, s.state, y.status FROM tables y
                        JOIN platform.tenants n ON n.id = y.tenant_id
                        JOIN table_workflows w ON w.tenant_id = y.tenant_id AND w.table_id = y.id
                        JOIN table_steps s ON s.tenant_id = y.tenant_id AND s.table_id = y.id
                       WHERE n.slug = %s AND y.title = %s ORDER BY s.position""", (slug, title))
    assert got, (slug, title)
    return got[0][0], [(r[1], r[2]) for r in got], got[0][3]


def kinds(pg, slug, title):
    got = rows(pg, """SELECT r.kind, count(*) FROM records r JOIN tables y ON y.tenant_id = r.tenant_id
                        AND y.id = r.table_id JOIN platform.tenants n ON n.id = y.tenant_id
                       WHERE n.slug = %s AND y.title = %s GROUP BY r.kind""", (slug, title))
    return dict(got)


def at(step, steps):
    """The states of STEPS when STEP is the active one."""
    i = steps.index(step)
    return [(s, "done" if n < i else "active" if n == i else "pending") for n, s in enumerate(steps)]


@pytest.fixture(scope="module")
def seeded(pg, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("demo")
    for slug, name in (("zutphen", "Gemeente Zutphen"), ("voorbeeld", "Gemeente Voorbeeld")):
        aantafel("tenant", "create", slug, "--name", name, "--host", f"{slug}.localhost", env=pg.daemon_env())
        deployed(pg, slug, example_bundle(slug))
    out = seed(pg, tmp)
    assert "Speeltuin Noorderhaven" in out and "Het nieuwe dorpshuis" in out, out
    return tmp


def test_zutphen_has_tables_at_every_stage(pg, seeded):
    wf, steps, status = states(pg, "zutphen", "Speeltuin Noorderhaven")
    assert wf == "volledig" and steps == at("intake", VOLLEDIG) and status == "open"
    k = kinds(pg, "zutphen", "Speeltuin Noorderhaven")
    assert k["player"] == 4 and k["quote"] == 1, k

    wf, steps, status = states(pg, "zutphen", "Eenzaamheid in De Hoven")
    assert steps == at("interviews", VOLLEDIG) and kinds(pg, "zutphen", "Eenzaamheid in De Hoven")["interview"] == 2

    wf, steps, status = states(pg, "zutphen", "Fietsroute naar school")
    assert steps == at("gesprek", VOLLEDIG)
    k = kinds(pg, "zutphen", "Fietsroute naar school")
    assert k["approval"] == 1 and k["deviation"] == 1 and k["agenda_item"] == 4, k

    wf, steps, status = states(pg, "zutphen", "Groen in de Binnenstad")
    assert steps == [(s, "done") for s in VOLLEDIG] and status == "closed"
    k = kinds(pg, "zutphen", "Groen in de Binnenstad")
    assert k["report"] == 1 and k["evaluation"] == 1 and k["outcome"] == 1, k
    # The first tables of etc/demo.sql, with their conversation, are there too.
    assert rows(pg, "SELECT count(*) FROM contributions k JOIN tables y ON y.tenant_id = k.tenant_id"
                    " AND y.id = k.table_id WHERE y.title = 'Buurthuis Hanzehof'")[0][0] == 6


def test_zutphen_has_an_open_decision_and_a_closed_one_with_the_minoritys_wisdom(pg, seeded):
    got = rows(pg, """SELECT y.title, d.title, d.step_id, d.state, d.path, d.outcome, d.final_text,
                             (SELECT count(*) FROM votes v WHERE v.tenant_id = d.tenant_id AND v.decision_id = d.id),
                             (SELECT coalesce(sum(r.count), 0) FROM room_counts r
                               WHERE r.tenant_id = d.tenant_id AND r.decision_id = d.id)
                        FROM decisions d JOIN tables y ON y.tenant_id = d.tenant_id AND y.id = d.table_id
                        JOIN platform.tenants n ON n.id = d.tenant_id
                       WHERE n.slug = 'zutphen' ORDER BY d.id""")
    assert [(r[0], r[2], r[3]) for r in got] == [("Fietsroute naar school", "gesprek", "open"),
                                                  ("Groen in de Binnenstad", "opbrengst", "closed")], got
    open_one, closed = got
    assert open_one[7] == 2 and open_one[6] is None
    assert closed[4] == "vote" and closed[5] == "for" and closed[7] == 3 and closed[8] == 22
    assert "vaste zitplekken" in closed[6]
    points = rows(pg, """SELECT m.for_room, m.added, m.reason FROM minority_points m
                           JOIN decisions d ON d.tenant_id = m.tenant_id AND d.id = m.decision_id
                          WHERE d.title = 'Twee pleinen per jaar groen' ORDER BY m.id""")
    assert [(p[0], p[1]) for p in points] == [(False, True), (True, False)] and points[1][2], points


def test_zutphen_has_meetings_to_come_one_full_with_a_waiting_list(pg, seeded):
    got = rows(pg, """SELECT y.title, m.title, m.step_id, m.state, m.capacity, m.starts_at > now() + interval '7 days',
                             m.place, m.online_url, m.support,
                             (SELECT array_agg(coalesce(p.display_name, r.name) || ':' || r.state ORDER BY r.id)
                                FROM meeting_registrations r LEFT JOIN accounts p
                                  ON p.tenant_id = r.tenant_id AND p.id = r.account_id
                               WHERE r.tenant_id = m.tenant_id AND r.meeting_id = m.id)
                        FROM meetings m JOIN tables y ON y.tenant_id = m.tenant_id AND y.id = m.table_id
                        JOIN platform.tenants t ON t.id = m.tenant_id AND t.slug = 'zutphen'
                       ORDER BY m.starts_at""")
    assert len(got) == 2, got
    full, online = got
    assert full[:6] == ("Fietsroute naar school", "Tafelgesprek in de bibliotheek", "gesprek", "planned", 2, True), full
    assert full[9] == ["Anna Jansen:registered", "Mehmet Yılmaz:registered", "Joke van Dijk:waiting",
                       "Gerrit de Vries:waiting"], full
    assert online[1] == "Online terugblik op de proefroute" and online[4] is None and online[6] is None
    assert online[7] == "https://meet.example.org/fietsroute" and online[8] == ["interpreter"]
    assert online[9] == ["Joke van Dijk:registered", "Els Bakker:registered"], online
    # Each has its reminder waiting for the day before.
    jobs = rows(pg, """SELECT count(*) FROM jobs j JOIN platform.tenants t ON t.id = j.tenant_id AND t.slug = 'zutphen'
                        WHERE j.kind = 'meeting.remind' AND j.state = 'pending' AND j.run_at > now() + interval '6 days'""")
    assert jobs[0][0] == 2, jobs


def test_voorbeeld_has_a_table_past_its_neighbourhood_walk(pg, seeded):
    wf, steps, status = states(pg, "voorbeeld", "Het nieuwe dorpshuis")
    assert wf == "dorpshuis" and steps == at("gesprek", ["intake", "buurtschouw", "gesprek", "opbrengst", "verslag"])
    k = kinds(pg, "voorbeeld", "Het nieuwe dorpshuis")
    assert k["route"] == 1 and k["checklist"] == 1 and k["observation"] == 3, k


def test_a_guest_reads_where_the_tables_stand(pg, seeded, make_daemon):
    d = make_daemon({"workers": "1"}, {**pg.daemon_env(), **SMALL})
    wait_for(lambda: d.get("/api/v1/workflows", host="voorbeeld.localhost")[0] == 200, what="the API")
    guest = Api(d, "voorbeeld.localhost")
    [tid] = [t["id"] for t in guest.get("/tables")[2]["items"] if t["title"] == "Het nieuwe dorpshuis"]
    st, _, body = guest.get(f"/tables/{tid}/steps")
    assert st == 200 and [s["state"] for s in body["steps"]][:3] == ["done", "done", "active"], body
    st, _, page = guest.get(f"/tables/{tid}/records")
    assert st == 200 and {r["kind"] for r in page["items"]} == {"route"}, page


def test_a_second_run_adds_nothing(pg, seeded):
    before = counts(pg)
    out = seed(pg, seeded)
    assert "all there already" in out, out
    assert counts(pg) == before
