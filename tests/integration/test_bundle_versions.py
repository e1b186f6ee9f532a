"""A municipality's admins see its bundle versions (GET /bundle/versions,
/beheer/bundel) with who published them and when, and make an earlier one
current again from the page (POST /bundle/rollback, the rollback of
`aantafel tenant rollback`): the site changes on two daemons; a
facilitator, a member and a guest may not; a form without its CSRF token is
refused; another municipality's version does not move."""
from api_client import Api
from bundle_util import deployed, wait_page, write_bundle
from harness import aantafel, wait_for
from test_signin import SMALL, Browser
from world import PASSWORD, make_user, token_for

HOST, SLUG = "versies.test", "vers-a"
OTHER, OTHER_SLUG = "versies-b.test", "vers-b"


def welcome(root, text):
    return write_bundle(root, {"tenant.lua": 'return { plugins = { site = { welcome = "%s" } } }\n' % text})


def current(pg, slug):
    with pg.connect("super") as c, c.cursor() as cur:
        cur.execute("SELECT bundle_version FROM platform.tenants WHERE slug = %s", (slug,))
        return cur.fetchone()[0]


def test_versions_and_rollback_from_the_page(pg, make_daemon, tmp_path):
    for slug, name, host in ((SLUG, "Gemeente Versie", HOST), (OTHER_SLUG, "Gemeente Anders", OTHER)):
        aantafel("tenant", "create", slug, "--name", name, "--host", host, env=pg.daemon_env())
    for email, role in (("admin@vers.test", "admin"), ("gl@vers.test", "facilitator"), ("lid@vers.test", "member")):
        make_user(pg, SLUG, email, role, email.split("@")[0])
    make_user(pg, OTHER_SLUG, "admin@anders.test", "admin", "Anders")
    assert deployed(pg, SLUG, welcome(tmp_path / "v1", "Welkom bij versie een")) == 1
    assert deployed(pg, SLUG, welcome(tmp_path / "v2", "Welkom bij versie twee")) == 2
    assert deployed(pg, OTHER_SLUG, welcome(tmp_path / "o1", "Elders een")) == 1
    assert deployed(pg, OTHER_SLUG, welcome(tmp_path / "o2", "Elders twee")) == 2
    d1 = make_daemon(None, {**pg.daemon_env(), **SMALL})
    d2 = make_daemon({"workers": "1"}, {**pg.daemon_env(), **SMALL})
    for d in (d1, d2):
        wait_page(d, HOST, "Welkom bij versie twee")

    tok = {who: token_for(d1, HOST, email)[0] for who, email in
           (("admin", "admin@vers.test"), ("fac", "gl@vers.test"), ("member", "lid@vers.test"))}
    st, _, v = Api(d1, HOST, token=tok["admin"]).get("/bundle/versions")
    assert st == 200 and v["current"] == 2, v
    assert [(i["version"], i["current"], i["published_by"]) for i in v["items"]] == [
        (2, True, "provider"), (1, False, "provider")]
    for who, status in (("fac", 403), ("member", 403)):
        assert Api(d1, HOST, token=tok[who]).get("/bundle/versions")[0] == status
        assert Api(d1, HOST, token=tok[who]).post("/bundle/rollback", {"version": 1})[0] == status
    assert Api(d1, HOST).get("/bundle/versions")[0] == 401
    assert Api(d1, HOST).post("/bundle/rollback", {"version": 1})[0] == 401
    for bad in ({"version": "1"}, {"version": 0}, {}, {"version": 1.5}):
        assert Api(d1, HOST, token=tok["admin"]).post("/bundle/rollback", bad)[0] == 422, bad
    assert Api(d1, HOST, token=tok["admin"]).post("/bundle/rollback", {"version": 7})[0] == 404
    assert current(pg, SLUG) == 2

    # The page: the versions, who and when; a facilitator gets 403, a guest
    # the sign-in page; a form without the CSRF token changes nothing.
    fac = Browser(d1, HOST)
    assert fac.signin("gl@vers.test", PASSWORD)[0] == 303
    assert fac.go("GET", "/beheer/bundel")[0] == 403
    assert fac.go("POST", "/beheer/bundel/terugzetten", {"csrf": fac.jar["at_csrf"], "version": "1"})[0] == 403
    assert Browser(d1, HOST).go("GET", "/beheer/bundel")[0] == 303
    admin = Browser(d1, HOST)
    assert admin.signin("admin@vers.test", PASSWORD)[0] == 303
    st, _, body, _ = admin.go("GET", "/beheer/bundel")
    assert st == 200 and "hostingpartij" in body and "Versie 1 terugzetten" in body
    assert "Versie 2 terugzetten" not in body
    assert admin.go("POST", "/beheer/bundel/terugzetten", {"version": "1"})[0] == 403
    for bad in ("x", "0", "-1", "99999999999", ""):
        st = admin.go("POST", "/beheer/bundel/terugzetten", {"csrf": admin.jar["at_csrf"], "version": bad})[0]
        assert st == 404, bad
    # What the page says after a rollback is its own text, not the query's.
    assert "gehackt" not in admin.go("GET", "/beheer/bundel?done=gehackt")[2]
    assert current(pg, SLUG) == 2

    st, hdr, body, _ = admin.go("POST", "/beheer/bundel/terugzetten", {"csrf": admin.jar["at_csrf"], "version": "1"})
    assert st == 303 and hdr["location"] == "/beheer/bundel?done=1", body
    assert current(pg, SLUG) == 1
    for d in (d1, d2):
        page = wait_page(d, HOST, "Welkom bij versie een")
        assert "versie twee" not in page
    # `aantafel tenant versions` shows the same current one.
    assert "* 1 " in aantafel("tenant", "versions", SLUG, env=pg.daemon_env()).stdout
    # The other municipality still runs its version 2.
    assert current(pg, OTHER_SLUG) == 2
    for d in (d1, d2):
        wait_page(d, OTHER, "Elders twee")
    # Its admin's token means nothing on this host.
    other_tok = token_for(d1, OTHER, "admin@anders.test")[0]
    assert Api(d1, HOST, token=other_tok).post("/bundle/rollback", {"version": 2}, check=False)[0] == 401
    assert current(pg, SLUG) == 1
