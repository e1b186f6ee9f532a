"""A municipality with the cast of the visibility contract, built through
the API: a public table P and a closed table C, each with a public and a
closed group and a contribution in each place, and these viewers:

  guest     not signed in
  member    a resident who joined P and its public group
  cgm       a person of P and C and of their closed groups (by invitation)
  fac       a tenant facilitator who opened both tables
  admin     a tenant admin, not one of the tables' people
  foreign   the admin of another municipality (calls its own host)

Each signed-in viewer holds an API token (api_client.Api)."""
from api_client import Api
from bundle_util import deployed
from harness import aantafel, wait_for
from test_signin import SMALL, Browser

PASSWORD = "een lang wachtwoord 123"
HOST, OTHER = "wereld-a.test", "wereld-b.test"
VIEWERS = ("guest", "member", "cgm", "fac", "admin", "foreign")


def make_user(pg, slug, email, role, name):
    r = aantafel("user", "create", "--tenant", slug, "--email", email, "--role", role, "--name", name,
                 env={**pg.daemon_env(), **SMALL}, input=PASSWORD + "\n", check=False)
    assert r.returncode == 0, r.stderr


def token_for(d, host, email):
    b = Browser(d, host)
    assert b.signin(email, PASSWORD)[0] == 303
    st, _, me = Api(d, host, browser=b).get("/me")
    s = Api(d, host, browser=b, csrf=me["csrf_token"])
    st, _, body = s.post("/tokens", {"name": "tests"})
    assert st == 201, body
    return body["token"], b


class World:
    def __init__(self, d, pg):
        self.d, self.pg = d, pg
        for slug, name, host in (("wereld-a", "Gemeente Wereld", HOST), ("wereld-b", "Gemeente Elders", OTHER)):
            aantafel("tenant", "create", slug, "--name", name, "--host", host, env=pg.daemon_env())
        people = {"member": ("lid@example.nl", "member", "Lies Lid"),
                  "cgm": ("kring@example.nl", "member", "Kees Kring"),
                  "fac": ("gespreks@example.nl", "facilitator", "Fien Facilitator"),
                  "admin": ("beheer@example.nl", "admin", "Bram Beheer")}
        for who, (email, role, name) in people.items():
            make_user(pg, "wereld-a", email, role, name)
        make_user(pg, "wereld-b", "elders@example.nl", "admin", "Els Elders")
        wait_for(lambda: d.get("/inloggen", host=HOST)[0] == 200, what="sign-in page")
        self.api = {"guest": Api(d, HOST)}
        self.browser = {}
        for who, (email, _, _) in people.items():
            tok, b = token_for(d, HOST, email)
            self.api[who], self.browser[who] = Api(d, HOST, token=tok), b
        tok, b = token_for(d, OTHER, "elders@example.nl")
        self.api["foreign"], self.browser["foreign"] = Api(d, OTHER, token=tok), b
        self.foreign_token = tok
        fac = self.api["fac"]
        self.P = self.ok(fac.post("/tables", {"title": "Speeltuin De Hoven", "question": "Wat is ervoor nodig zodat kinderen veilig spelen?",
                                              "description": "Een *openbare* tafel.", "visibility": "public"}), 201)["id"]
        self.C = self.ok(fac.post("/tables", {"title": "Zorg thuis", "question": "Wat is ervoor nodig zodat mantelzorgers steun vinden?",
                                              "visibility": "closed"}), 201)["id"]
        self.groups = {}
        for t in ("P", "C"):
            tid = getattr(self, t)
            self.groups[t + "pub"] = self.ok(fac.post(f"/tables/{tid}/groups", {"name": f"Open groep {t}", "visibility": "public"}), 201)["id"]
            self.groups[t + "cl"] = self.ok(fac.post(f"/tables/{tid}/groups", {"name": f"Besloten groep {t}", "purpose": "Voor wie het aangaat",
                                                                              "visibility": "closed"}), 201)["id"]
        # member: joins P and its public group.
        self.ok(self.api["member"].post(f"/groups/{self.groups['Ppub']}/join"))
        # cgm: invited (link) into C and both closed groups; joins P's closed group by request.
        for g in ("Ccl",):
            inv = self.ok(fac.post(f"/tables/{self.C}/invitations", {"group_id": self.groups[g]}), 201)
            self.ok(self.api["cgm"].post("/invitations/accept", {"token": inv["token"]}))
        st, _, req = self.api["cgm"].post(f"/groups/{self.groups['Pcl']}/join", {"message": "Ik woon er naast"})
        assert st == 202, req
        self.ok(fac.post(f"/groups/{self.groups['Pcl']}/requests/{req['request_id']}", {"decision": "approve"}))
        # A contribution in every place.
        self.contrib = {}
        for t in ("P", "C"):
            tid = getattr(self, t)
            self.contrib[t] = self.ok(fac.post(f"/tables/{tid}/contributions", {"body": f"Tafel {t}: welkom"}), 201)["id"]
            for kind in ("pub", "cl"):
                gid = self.groups[t + kind]
                self.contrib[t + kind] = self.ok(fac.post(f"/groups/{gid}/contributions",
                                                          {"body": f"Groep {t}{kind}: geheimwoord{t}{kind}"}), 201)["id"]

    @staticmethod
    def ok(answer, status=200):
        st, _, body = answer
        assert st == status, (st, body)
        return body


# The people of a municipality on the method (test_methode,
# test_tenant_step_type): role and display name.
METHOD_PEOPLE = {"fac": ("facilitator", "Fien"), "client": ("member", "Otto"), "member": ("member", "Lies"),
                 "resident": ("member", "Bert")}


class MethodTenant:
    """A municipality made with `aantafel tenant create`, the bundle in
    FOLDER deployed, and METHOD_PEOPLE with API tokens; the steps of a
    table through /api/v1 as its facilitator works them."""

    def __init__(self, d, pg, slug, host, folder):
        aantafel("tenant", "create", slug, "--name", "Gemeente " + slug, "--host", host, env=pg.daemon_env())
        deployed(pg, slug, folder)
        for who, (role, name) in METHOD_PEOPLE.items():
            make_user(pg, slug, f"{who}@{host}", role, name)
        wait_for(lambda: d.get("/inloggen", host=host)[0] == 200, what="sign-in page")
        self.api, self.ids = {"guest": Api(d, host)}, {}
        for who in METHOD_PEOPLE:
            self.api[who] = Api(d, host, token=token_for(d, host, f"{who}@{host}")[0])
            self.ids[who] = self.api[who].get("/me")[2]["id"]

    def open(self, **table):
        """A table opened by the facilitator, with the client and a member."""
        fac = self.api["fac"]
        st, _, t = fac.post("/tables", table)
        assert st == 201, t
        for who, role in (("client", "client"), ("member", "member")):
            st, _, body = fac.put(f"/tables/{t['id']}/people/{self.ids[who]}", {"role": role})
            assert st == 200, body
        return t["id"]

    def record(self, who, tid, step, kind, /, **fields):
        st, _, r = self.api[who].post(f"/tables/{tid}/records", {"step": step, "kind": kind, "fields": fields})
        assert st == 201, (who, kind, r)
        return r

    def steps(self, tid):
        st, _, body = self.api["fac"].get(f"/tables/{tid}/steps")
        assert st == 200, body
        return {s["id"]: s["state"] for s in body["steps"]}

    def refused(self, tid, step, reason):
        """The facilitator's completion of STEP is refused with REASON."""
        st, _, body = self.api["fac"].post(f"/tables/{tid}/steps/{step}/complete")
        assert st == 409 and body["error"]["code"] == "refused", body
        assert body["error"]["message"] == reason
        assert self.steps(tid)[step] == "active"

    def complete(self, tid, step):
        st, _, body = self.api["fac"].post(f"/tables/{tid}/steps/{step}/complete")
        assert st == 200, (step, body)
        assert self.steps(tid)[step] == "done"
