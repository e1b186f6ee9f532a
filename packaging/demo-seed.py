#!/usr/bin/python3
"""The example content of `make demo` (packaging/demo.sh), after the
migrations and the example tenants' bundles: the demo's accounts (with
`aantafel user create`), etc/demo.sql (Zutphen's first tables and their
conversation), then tables on the method's workflows. A table on a
workflow keeps the snapshot of its definition that the daemon takes when
it is opened, so those are made through /api/v1: this script starts the
daemon on a free port of 127.0.0.1, signs the demo's people in and drives
the API as they would, then stops it.

Zutphen (the full method, seven steps): a table at the intake with its
players, one in the middle of its interviews, one whose run-sheet the
client approved (with a deviation the client agreed to), an open
decision and two meetings to come with registrations (one full, with a
waiting list), and one finished with its report and evaluation (closed) and a
closed decision with the minority's wisdom added to it. Voorbeeld: a table on its own
workflow, dorpshuis, past its neighbourhood walk (buurtschouw).

Idempotent: an account that exists keeps its password, etc/demo.sql
writes only into a Zutphen without tables, and a table whose title its
facilitator already has is left as it is; a second run adds nothing.

Usage (from the repository's root, with the database URLs in the
environment): packaging/demo-seed.py [--aantafel BIN] [-c CONF]
AANTAFEL_DEMO_PASSWORD sets the demo accounts' password."""
import argparse
import http.client
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time

PASSWORD = os.environ.get("AANTAFEL_DEMO_PASSWORD", "aan tafel in de demo")

# tenant -> [(key, email, role, name)]
PEOPLE = {
    "zutphen": [
        ("fenna", "gespreksleider@zutphen.localhost", "facilitator", "Fenna de Gespreksleider"),
        ("anna", "anna@zutphen.localhost", "member", "Anna Jansen"),
        ("mehmet", "mehmet@zutphen.localhost", "member", "Mehmet Yılmaz"),
        ("joke", "joke@zutphen.localhost", "member", "Joke van Dijk"),
        ("karin", "opdrachtgever@zutphen.localhost", "member", "Karin Bos (gemeente)"),
    ],
    "voorbeeld": [
        ("sanne", "gespreksleider@voorbeeld.localhost", "facilitator", "Sanne de Gespreksleider"),
        ("piet", "opdrachtgever@voorbeeld.localhost", "member", "Piet Visser (gemeente)"),
        ("ria", "ria@voorbeeld.localhost", "member", "Ria de Boer"),
    ],
}
HOSTS = {"zutphen": "zutphen.localhost", "voorbeeld": "voorbeeld.localhost"}


class Failed(Exception):
    pass


class Person:
    """One demo account signed in to the daemon with a session."""

    def __init__(self, port, host, email):
        self.port, self.host, self.email = port, host, email
        self.cookies, self.csrf = {}, None
        st, body = self.call("POST", "/session", {"email": email, "password": PASSWORD}, check=False)
        if st != 200:
            raise Failed(f"cannot sign in as {email} ({st} {body}); an account made by an earlier demo "
                         f"without a password? Remove var/ to start afresh")
        st, me = self.call("GET", "/me")
        self.id, self.csrf = me["id"], me["csrf_token"]

    def call(self, method, path, body=None, check=True):
        headers = {"Host": self.host, "Accept": "application/json"}
        if self.cookies:
            headers["Cookie"] = "; ".join(f"{k}={v}" for k, v in self.cookies.items())
        if self.csrf and method != "GET":
            headers["X-CSRF-Token"] = self.csrf
        data = None
        if body is not None:
            data = json.dumps(body).encode()
            headers["Content-Type"] = "application/json"
        c = http.client.HTTPConnection("127.0.0.1", self.port, timeout=60)
        try:
            c.request(method, "/api/v1" + path, body=data, headers=headers)
            r = c.getresponse()
            raw = r.read()
            for name, value in r.getheaders():
                if name.lower() == "set-cookie":
                    k, _, v = value.split(";", 1)[0].partition("=")
                    self.cookies[k.strip()] = v.strip()
        finally:
            c.close()
        answer = json.loads(raw) if raw else None
        if check and not 200 <= r.status < 300:
            raise Failed(f"{method} {path} as {self.email}: {r.status} {answer}")
        return r.status, answer

    def get(self, path):
        return self.call("GET", path)[1]

    def post(self, path, body=None):
        return self.call("POST", path, body if body is not None else {})[1]

    def patch(self, path, body):
        return self.call("PATCH", path, body)[1]

    def put(self, path, body):
        return self.call("PUT", path, body)[1]


class Table:
    """A demo table: opened by FAC, with its people, driven step by step."""

    def __init__(self, fac, people, title, question, description, visibility="public", workflow=None):
        self.fac = fac
        args = {"title": title, "question": question, "description": description, "visibility": visibility}
        if workflow:
            args["workflow"] = workflow
        self.id = fac.post("/tables", args)["id"]
        for person, role in people:
            fac.put(f"/tables/{self.id}/people/{person.id}", {"role": role})

    def record(self, step, kind, by=None, **fields):
        return (by or self.fac).post(f"/tables/{self.id}/records", {"step": step, "kind": kind, "fields": fields})

    def complete(self, step):
        self.fac.post(f"/tables/{self.id}/steps/{step}/complete")

    def decision(self, step, title, proposal):
        """A decision put forward in STEP (its id)."""
        return self.fac.post(f"/tables/{self.id}/decisions", {"title": title, "proposal": proposal, "step": step})["id"]

    def meeting(self, step, title, days, hours=2, **extra):
        """A meeting of STEP DAYS days from now at half past seven in the
        evening, Amsterdam time."""
        import zoneinfo
        from datetime import datetime, timedelta
        day = datetime.now(zoneinfo.ZoneInfo("Europe/Amsterdam")) + timedelta(days=days)
        start = day.replace(hour=19, minute=30, second=0, microsecond=0)
        body = {"title": title, "starts_at": start.isoformat(), "ends_at": (start + timedelta(hours=hours)).isoformat(),
                "step": step, **extra}
        return self.fac.post(f"/tables/{self.id}/meetings", body)["id"]

    def accepted_quote(self, client, amount, description):
        q = self.record("intake", "quote", amount=amount, description=description, status="sent")
        client.patch(f"/records/{q['id']}", {"fields": {"status": "accepted"}})


def players(t, names):
    out = {}
    for name, organisation, role, central, seldom in names:
        fields = {"name": name, "organisation": organisation, "role": role, "central": central,
                  "seldom_heard": seldom, "consent": True}
        out[name] = t.record("intake", "player", **{k: v for k, v in fields.items() if v != ""})
    return out


def intake(t, client, cost):
    p = players(t, [
        ("Anna Jansen", "Buurtvereniging", "voorzitter", True, False),
        ("Mehmet Yılmaz", "", "ondernemer", True, False),
        ("Joke van Dijk", "", "bewoner, mantelzorger", False, True),
        ("Daan Smit", "Jongerenwerk", "jongerenwerker", True, False),
        ("Fatima El Amrani", "", "moeder van drie", False, True),
    ])
    t.record("intake", "agreement", duration="Drie maanden, vier bijeenkomsten",
             cost=cost, note="Inclusief twee interviews per week en het verslag.")
    t.accepted_quote(client, cost, "Intake, interviews, draaiboek, het gesprek en het verslag.")
    t.complete("intake")
    return p


def interviews(t, p, n):
    said = [("Anna Jansen", "held", "beheer, vrijwilligers", "Zonder vaste beheerder wordt het niemands plek."),
            ("Joke van Dijk", "reworded", "eenzaamheid, toegankelijkheid", "Ze komt alleen als ze weet wie er is."),
            ("Daan Smit", "held", "jongeren, veiligheid", "Jongeren willen een eigen hoek, niet gecontroleerd."),
            ("Fatima El Amrani", "held", "kinderen, tijd", "Overdag kan ze niet; 's avonds wel, met oppas.")]
    for i, (name, question, perspectives, notes) in enumerate(said[:n]):
        fields = {"player": p[name]["id"], "held_on": f"2026-03-{12 + i}", "question": question,
                  "perspectives": perspectives, "notes": notes}
        if question == "reworded":
            fields["new_wording"] = "Wat is ervoor nodig zodat iedereen zich er welkom voelt?"
        t.record("interviews", "interview", **fields)


def runsheet(t, client):
    welkom = t.record("draaiboek", "agenda_item", start="19:30", duration=15, activity="Welkom en kennismaking",
                      working_form="Kring", who="Fenna")
    t.record("draaiboek", "agenda_item", start="19:45", duration=45, activity="Gesprek in kleine groepen",
             working_form="Tafels van zes", who="Fenna en twee tafelhoofden")
    t.record("draaiboek", "agenda_item", start="20:30", duration=15, activity="Playbacktheater",
             working_form="Spel", who="Theatergroep De Spiegel")
    t.record("draaiboek", "agenda_item", start="20:45", duration=30, activity="Wat nemen we mee?",
             working_form="Plenair, Deep Democracy", who="Fenna")
    t.record("draaiboek", "approval", by=client, decision="approved", note="Goed zo.")
    # After the approval: a deviation with its reason, agreed by the client.
    w2 = t.fac.patch(f"/records/{welkom['id']}", {"fields": {
        "duration": 20, "reason": "Er komen meer mensen dan verwacht; de kennismaking duurt langer."}})
    t.record("draaiboek", "deviation", by=client, item=welkom["id"], version=w2["version"], decision="agreed")
    t.complete("draaiboek")


def zutphen(port):
    host = HOSTS["zutphen"]
    fenna, anna, mehmet, joke, karin = (Person(port, host, e) for _, e, _, _ in PEOPLE["zutphen"])
    have = existing(fenna)
    people = [(karin, "client"), (anna, "member"), (mehmet, "member"), (joke, "member")]
    made = []

    title = "Speeltuin Noorderhaven"
    if title not in have:
        t = Table(fenna, people, title, "Wat is ervoor nodig zodat kinderen in de Noorderhaven weer buiten spelen?",
                  "De speeltuin is verouderd en wordt weinig gebruikt. Eerst brengen we in kaart wie erbij horen.")
        players(t, [("Anna Jansen", "Buurtvereniging", "voorzitter", True, False),
                    ("Wijkagent Bram", "Politie", "wijkagent", True, False),
                    ("Fatima El Amrani", "", "moeder van drie", False, True),
                    ("Basisschool De Zevensprong", "Onderwijs", "directeur", True, False)])
        t.record("intake", "agreement", duration="Twee maanden", cost=320000)
        t.record("intake", "quote", amount=320000, description="Intake, interviews en één tafelgesprek.",
                 status="sent")
        made.append(title)

    title = "Eenzaamheid in De Hoven"
    if title not in have:
        t = Table(fenna, people, title, "Wat is ervoor nodig zodat ouderen in De Hoven elkaar vaker ontmoeten?",
                  "Veel ouderen in De Hoven wonen alleen. We spreken eerst met wie het weet en met wie zelden gehoord wordt.")
        p = intake(t, karin, 480000)
        interviews(t, p, 2)
        made.append(title)

    title = "Fietsroute naar school"
    if title not in have:
        t = Table(fenna, people, title, "Wat is ervoor nodig zodat kinderen veilig naar school fietsen?",
                  "Ouders, scholen, de fietsersbond en de gemeente zoeken samen naar een veilige route.")
        p = intake(t, karin, 560000)
        interviews(t, p, 4)
        t.complete("interviews")
        runsheet(t, karin)
        # An open decision of the conversation: two have voted, the
        # facilitator closes it.
        d = t.decision("gesprek", "Een proefroute langs de Rijkenhage",
                       "We proberen **een half jaar** de route langs de Rijkenhage, met een klaar-over bij de kruising.")
        anna.put(f"/decisions/{d}/vote", {"choice": "for"})
        joke.put(f"/decisions/{d}/vote", {"choice": "abstain"})
        # The conversation's meetings to come: one full, with a waiting
        # list (one with an account, one registered by name), and one
        # online with an interpreter.
        m = t.meeting("gesprek", "Tafelgesprek in de bibliotheek", days=10, place="Bibliotheek Zutphen, Broederenkerkplein",
                      capacity=2, support=["actor"],
                      description="We praten met ouders, scholen en de fietsersbond over **de route**.")
        anna.put(f"/meetings/{m}/registration", {"lang": "nl"})
        mehmet.put(f"/meetings/{m}/registration", {"lang": "nl"})
        joke.put(f"/meetings/{m}/registration", {"lang": "nl"})
        fenna.post(f"/meetings/{m}/registrations", {"name": "Gerrit de Vries"})
        m = t.meeting("gesprek", "Online terugblik op de proefroute", days=12, online_url="https://meet.example.org/fietsroute",
                      support=["interpreter"])
        joke.put(f"/meetings/{m}/registration", {"lang": "nl"})
        fenna.post(f"/meetings/{m}/registrations", {"name": "Els Bakker"})
        made.append(title)

    title = "Groen in de Binnenstad"
    if title not in have:
        t = Table(fenna, people, title, "Wat is ervoor nodig zodat de binnenstad groener wordt?",
                  "Van stenen naar groen: bewoners, winkeliers en de gemeente maakten samen een plan.")
        p = intake(t, karin, 640000)
        interviews(t, p, 4)
        t.complete("interviews")
        runsheet(t, karin)
        t.record("gesprek", "note", body="Zesentwintig mensen aan tafel, van winkelier tot scholier.",
                 held_on="2026-05-12")
        t.complete("gesprek")
        t.record("opbrengst", "outcome", decision="Elk jaar tien geveltuinen en twee pleinen groen.",
                 minority="Met vaste plekken om te zitten, ook voor wie slecht ter been is.")
        # The closed decision: a majority for, the room counted apart, and
        # the minority's wisdom added to it (Deep Democracy).
        d = t.decision("opbrengst", "Twee pleinen per jaar groen",
                       "Elk jaar maken we **twee pleinen** groen, te beginnen bij de Houtmarkt.")
        anna.put(f"/decisions/{d}/vote", {"choice": "for"})
        mehmet.put(f"/decisions/{d}/vote", {"choice": "for"})
        joke.put(f"/decisions/{d}/vote", {"choice": "against"})
        fenna.put(f"/decisions/{d}/room", {"counts": {"for": 14, "against": 5, "abstain": 3}})
        fenna.post(f"/decisions/{d}/close")
        points = joke.post(f"/decisions/{d}/points",
                           {"body": "Vaste plekken om te zitten, ook voor wie slecht ter been is."})["points"]
        fenna.post(f"/decisions/{d}/points", {"body": "Geen bomen die de markt in de weg staan.", "for_room": True})
        fenna.post(f"/decisions/{d}/points/{points[0]['id']}", {"added": True})
        room = fenna.get(f"/decisions/{d}")["points"][1]
        fenna.post(f"/decisions/{d}/points/{room['id']}",
                   {"added": False, "reason": "De markt blijft waar ze is; de bomen komen aan de randen."})
        fenna.put(f"/decisions/{d}/final", {"final_text": (
            "Elk jaar maken we twee pleinen groen, te beginnen bij de Houtmarkt. "
            "**Op elk plein komen vaste zitplekken**, ook voor wie slecht ter been is.")})
        t.complete("opbrengst")
        t.record("verslag", "advice", title="Begin bij de Houtmarkt",
                 body="Daar is de steun het grootst; de rest volgt.")
        t.record("verslag", "report", published_on="2026-06-01", summary=(
            "## Wat we samen vonden\n\nDe binnenstad wordt groener als bewoners en winkeliers het samen "
            "onderhouden. De minderheid vroeg om zitplekken: die komen bij elk plein."))
        t.complete("verslag")
        t.record("evaluatie", "evaluation", by=karin, went_well="De opkomst en de open sfeer.",
                 learned="Vroeg de winkeliers betrekken.", follows="Een vervolgtafel in het najaar.")
        t.complete("evaluatie")
        made.append(title)
    return made


def voorbeeld(port):
    host = HOSTS["voorbeeld"]
    sanne, piet, ria = (Person(port, host, e) for _, e, _, _ in PEOPLE["voorbeeld"])
    title = "Het nieuwe dorpshuis"
    if title in existing(sanne):
        return []
    t = Table(sanne, [(piet, "client"), (ria, "member")], title,
              "Wat is ervoor nodig zodat het dorpshuis van iedereen wordt?",
              "Het oude dorpshuis sluit. Voordat we praten, lopen we samen door het dorp.")
    players(t, [("Ria de Boer", "Vrouwenvereniging", "secretaris", True, False),
                    ("Kees Bakker", "", "boer aan de rand van het dorp", False, True)])
    t.record("intake", "agreement", duration="Zes weken", cost=150000)
    t.accepted_quote(piet, 150000, "Intake, buurtschouw, één tafelgesprek en het verslag.")
    t.complete("intake")
    t.record("buurtschouw", "route", start="Kerkplein", walked_on="2026-04-11",
             walkers="Sanne, Piet, Ria en zes bewoners",
             description="Van het **Kerkplein** langs de school en de sporthal naar het oude dorpshuis, "
                         "terug over de Dorpsstraat.")
    t.record("buurtschouw", "checklist", points=["ontmoeting", "toegankelijkheid", "verlichting", "spelen"],
             note="Let op wie waar samenkomt, en op wie er niet komt.")
    t.record("buurtschouw", "observation", place="Schoolplein", seen_on="2026-04-11", topic="ontmoeting",
             what="Na schooltijd praten ouders hier een half uur; een bankje is er niet.",
             photo_caption="Ouders bij het hek van de school")
    t.record("buurtschouw", "observation", place="Oude dorpshuis, ingang", seen_on="2026-04-11",
             topic="toegankelijkheid", what="De drempel en de trap houden rolstoelen en rollators buiten.",
             photo_caption="De trap bij de ingang")
    t.record("buurtschouw", "observation", place="Dorpsstraat 12", seen_on="2026-04-11", topic="verlichting",
             what="Geen straatlicht tussen de sporthal en het dorpshuis.")
    t.complete("buurtschouw")
    return [title]


def existing(fac):
    titles, cursor = set(), None
    while True:
        page = fac.get("/tables?filter=mine&limit=100" + (f"&cursor={cursor}" if cursor else ""))
        titles |= {t["title"] for t in page["items"]}
        cursor = page.get("next_cursor")
        if not cursor:
            return titles


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def accounts(binary, conf):
    for slug, people in PEOPLE.items():
        for _, email, role, name in people:
            r = subprocess.run([binary, "user", "create", "-c", conf, "--tenant", slug, "--email", email,
                                "--role", role, "--name", name], input=PASSWORD + "\n", text=True,
                               capture_output=True)
            if r.returncode != 0:
                raise Failed(f"user create {email}: {r.stderr.strip()}")


def serve(binary, conf, log):
    port = free_port()
    env = {**os.environ, "AANTAFEL_LISTEN": f"127.0.0.1:{port}", "AANTAFEL_WORKERS": "1"}
    proc = subprocess.Popen([binary, "serve", "-c", conf], env=env, stdout=log, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise Failed(f"the daemon exited with {proc.returncode}")
        try:
            c = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
            c.request("GET", "/readyz")
            ok = c.getresponse().status == 200
            c.close()
            if ok and all(tenant_ready(port, h) for h in HOSTS.values()):
                return proc, port
        except OSError:
            pass
        time.sleep(0.2)
    proc.kill()
    raise Failed("the daemon did not become ready")


def tenant_ready(port, host):
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    try:
        c.request("GET", "/api/v1/workflows", headers={"Host": host})
        r = c.getresponse()
        body = r.read()
        return r.status == 200 and json.loads(body)["items"] != []
    finally:
        c.close()


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--aantafel", default="./build/aantafel")
    ap.add_argument("-c", "--config", default="etc/aantafel.conf")
    args = ap.parse_args()
    accounts(args.aantafel, args.config)
    subprocess.run(["psql", "-d", os.environ["AANTAFEL_OWNER_DATABASE_URL"], "-X", "-q", "-v", "ON_ERROR_STOP=1",
                    "-f", "etc/demo.sql"], check=True)
    with tempfile.TemporaryFile() as log:
        proc, port = serve(args.aantafel, args.config, log)
        try:
            made = zutphen(port) + voorbeeld(port)
        finally:
            proc.send_signal(signal.SIGTERM)
            try:
                rc = proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                proc.kill()
                rc = proc.wait()
            if rc != 0:
                log.seek(0)
                sys.stderr.write(log.read().decode(errors="replace")[-4000:])
                raise Failed(f"the daemon exited with {rc}")
    print("example tables on workflows: " + (", ".join(made) if made else "all there already"))


if __name__ == "__main__":
    try:
        main()
    except Failed as e:
        sys.exit(f"demo-seed: {e}")
