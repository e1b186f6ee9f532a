"""The site's settings and content pages, changed by a municipality's
admins without a deploy (sql/code/site.sql, plugins/site/beheer.lua):
GET/PUT /api/v1/settings and /pages; a change shows at once on a second
daemon; a notice ends at its time; content pages render Markdown with raw
HTML left out and escape what they show; the accessibility statement after
the government's model; only admins change anything, a form without its
CSRF token is refused, and another municipality sees none of it."""
import datetime
import time

import pytest

from api_client import Api
from harness import wait_for
from test_signin import SMALL, Browser
from world import PASSWORD, make_user, token_for


def settled(d, path, cond, host=None):
    """The answer (status, headers, text) of PATH on daemon D once COND
    holds of it: a second daemon hears of a change by NOTIFY, soon but not
    at once, and may answer from its guests' cache until then."""
    def look():
        st, hdr, body = d.get(path, host=host or HOST)
        r = (st, hdr, body.decode())
        return r if cond(r) else None
    return wait_for(look, what=f"{path} on the second daemon")

HOST, SLUG = "instellingen.test", "inst-a"
OTHER, OTHER_SLUG = "instellingen-b.test", "inst-b"


def utc(seconds):
    t = datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(seconds=seconds)
    return t.strftime("%Y-%m-%dT%H:%M:%SZ")


@pytest.fixture(scope="module")
def two(pg, make_daemon_module):
    from harness import aantafel
    for slug, name, host in ((SLUG, "Gemeente Instelling", HOST), (OTHER_SLUG, "Gemeente Elders", OTHER)):
        aantafel("tenant", "create", slug, "--name", name, "--host", host, env=pg.daemon_env(), check=False)
    for email, role, name in (("admin@inst.test", "admin", "Anke Admin"), ("gl@inst.test", "facilitator", "Gert"),
                              ("lid@inst.test", "member", "Lies")):
        make_user(pg, SLUG, email, role, name)
    make_user(pg, OTHER_SLUG, "admin@elders.test", "admin", "Els")
    d1 = make_daemon_module(None, {**pg.daemon_env(), **SMALL})
    d2 = make_daemon_module(None, {**pg.daemon_env(), **SMALL})
    for d in (d1, d2):
        wait_for(lambda: d.get("/", host=HOST)[0] == 200, what="home page")
    tokens = {}
    for who, email, host in (("admin", "admin@inst.test", HOST), ("fac", "gl@inst.test", HOST),
                             ("member", "lid@inst.test", HOST), ("foreign", "admin@elders.test", OTHER)):
        tokens[who] = token_for(d1, host, email)
    return d1, d2, tokens


def api(d, tokens, who, host=HOST):
    return Api(d, host, token=tokens[who][0]) if who else Api(d, host)


def test_only_admins_change_settings_and_pages(two):
    d1, _, tokens = two
    for who, status in (("fac", 403), ("member", 403), (None, 401)):
        st, _, body = api(d1, tokens, who).put("/settings", {"welcome": "Overgenomen"})
        assert st == status, body
        st, _, body = api(d1, tokens, who).put("/pages/over", {"title": "Over", "body": "x"})
        assert st == status, body
    assert api(d1, tokens, None).get("/settings")[2]["welcome"] != "Overgenomen"
    # Pages: a facilitator's browser form gets 403 too, a guest the sign-in page.
    fac = Browser(d1, HOST)
    assert fac.signin("gl@inst.test", PASSWORD)[0] == 303
    for path in ("/beheer/instellingen", "/beheer/paginas", "/beheer/toegankelijkheid", "/beheer/paginas/nieuw"):
        assert fac.go("GET", path)[0] == 403, path
        assert Browser(d1, HOST).go("GET", path)[0] == 303, path
    st, _, _, _ = fac.go("POST", "/beheer/instellingen", {"csrf": fac.jar["at_csrf"], "welcome": "Van mij"})
    assert st == 403
    # The admin's form without its CSRF token is refused before any Lua runs.
    admin = Browser(d1, HOST)
    assert admin.signin("admin@inst.test", PASSWORD)[0] == 303
    st, _, _, _ = admin.go("POST", "/beheer/instellingen", {"welcome": "Zonder token"})
    assert st == 403
    st, _, _, _ = admin.go("POST", "/beheer/instellingen", {"csrf": "0" * 43, "welcome": "Fout token"})
    assert st == 403
    assert "Zonder token" not in d1.get("/", host=HOST)[2].decode()


def test_bad_settings_are_refused_with_the_field(two):
    d1, _, tokens = two
    a = api(d1, tokens, "admin")
    for body, field in (({"welcome": "x" * 5001}, "welcome"),
                        ({"welcome": 12}, "welcome"),
                        ({"default_lang": "de"}, "default_lang"),
                        ({"notices": [{"title": "Oud", "ends_at": utc(-60)}]}, "notices"),
                        ({"notices": [{"title": "Zonder zone", "ends_at": "2030-01-01T10:00:00"}]}, "notices"),
                        ({"notices": [{"title": "", "ends_at": utc(600)}]}, "notices"),
                        ({"notices": [{"title": "n", "ends_at": utc(600)}] * 11}, "notices"),
                        ({"notices": "geen lijst"}, "notices"),
                        ({"contact": {"email": "geen adres"}}, "contact"),
                        ({"contact": {"url": "javascript:alert(1)"}}, "contact"),
                        ({"contact": {"fax": "123"}}, "contact"),
                        ({"accessibility": {"status": "F"}}, "accessibility"),
                        ({"accessibility": {"date": "gisteren"}}, "accessibility"),
                        ({"accessibility": {"issues": [{"fix": "zonder beschrijving"}]}}, "accessibility"),
                        ({"kleur": "rood"}, "kleur")):
        st, _, ans = a.put("/settings", body)
        assert st == 422, (body, ans)
        assert field in ans["error"]["fields"], (body, ans)
    st, _, ans = a.put("/pages/Hoofdletters", {"title": "x"}, check=False)
    assert st == 404, ans   # not a slug: no such operation's path
    for body, field in (({"body": "zonder titel"}, "title"), ({"title": "x", "menu_order": 100}, "menu_order"),
                        ({"title": "x", "menu_order": "1"}, "menu_order"), ({"title": "x" * 201}, "title")):
        st, _, ans = a.put("/pages/goed", body)
        assert st == 422 and field in ans["error"]["fields"], (body, ans)
    assert a.get("/pages/goed")[0] == 404


def test_a_change_shows_at_once_on_a_second_daemon(two):
    d1, d2, tokens = two
    # A guest's read on the second daemon first, so that its cache holds
    # the old answer.
    assert "Nieuw welkom" not in d2.get("/", host=HOST)[2].decode()
    assert api(d2, tokens, None).get("/settings")[0] == 200
    st, _, s = api(d1, tokens, "admin").put("/settings", {
        "welcome": "**Nieuw welkom** bij ons <script>alert(1)</script>",
        "notices": [{"title": "Werk aan de weg", "text": "De Houtmarkt is dicht.", "ends_at": utc(3600)}],
        "contact": {"name": "Gemeente Instelling", "email": "info@inst.test", "phone": "14 0575",
                    "url": "https://inst.test/contact"},
        "default_lang": "nl",
    })
    assert st == 200, s
    assert s["welcome_html"].startswith("<p><strong>Nieuw welkom</strong>") and "<script" not in s["welcome_html"]
    assert s["updated_by"] == "Anke Admin"

    def shows():
        body = d2.get("/", host=HOST)[2].decode()
        return "<strong>Nieuw welkom</strong>" in body and "Werk aan de weg" in body
    wait_for(shows, what="the change on the second daemon")
    body = d2.get("/", host=HOST)[2].decode()
    assert "<script>alert" not in body
    assert "info@inst.test" in body and "https://inst.test/contact" in body
    # Every page shows the notice, a guest's API read on d2 the new answer.
    assert "Werk aan de weg" in d2.get("/zoeken", host=HOST)[2].decode()
    assert api(d2, tokens, None).get("/settings")[2]["notices"][0]["title"] == "Werk aan de weg"
    # Another municipality sees nothing of it, and its admin cannot change it.
    other = d2.get("/", host=OTHER)[2].decode()
    assert "Werk aan de weg" not in other and "Nieuw welkom" not in other
    assert api(d2, tokens, "foreign", OTHER).get("/settings")[2]["notices"] == []
    st, _, _ = api(d1, tokens, "foreign").put("/settings", {"welcome": "Van elders"}, check=False)
    assert st == 401


def test_a_notice_ends(two):
    d1, d2, tokens = two
    st, _, s = api(d1, tokens, "admin").put("/settings", {"notices": [
        {"title": "Kort bericht", "ends_at": utc(3)}, {"title": "Lang bericht", "ends_at": utc(3600)}]})
    assert st == 200, s
    wait_for(lambda: "Kort bericht" in d2.get("/", host=HOST)[2].decode(), what="the notice")
    time.sleep(4)
    for d in (d1, d2):
        body = d.get("/", host=HOST)[2].decode()
        assert "Kort bericht" not in body and "Lang bericht" in body
    titles = [n["title"] for n in api(d1, tokens, "admin").get("/settings")[2]["notices"]]
    assert titles == ["Lang bericht"]


def test_the_settings_form(two):
    d1, d2, _ = two
    admin = Browser(d1, HOST)
    assert admin.signin("admin@inst.test", PASSWORD)[0] == 303
    st, _, body, _ = admin.go("GET", "/beheer/instellingen")
    assert st == 200 and 'name="welcome"' in body and 'name="notice_title_1"' in body
    end = (datetime.date.today() + datetime.timedelta(days=2)).isoformat()
    st, hdr, body, _ = admin.go("POST", "/beheer/instellingen", {
        "csrf": admin.jar["at_csrf"], "welcome": "Welkom via het *formulier*",
        "notice_title_1": "Inloopavond <b>dinsdag</b>", "notice_text_1": "In het stadhuis.", "notice_end_1": end,
        "contact_name": "Balie", "contact_email": "balie@inst.test", "default_lang": "nl"})
    assert st == 303 and hdr["location"] == "/beheer/instellingen?saved=1", body
    page = settled(d2, "/", lambda r: "Welkom via het <em>formulier</em>" in r[2])[2]
    assert "Inloopavond &lt;b&gt;dinsdag&lt;/b&gt;" in page and "<b>dinsdag" not in page
    # A bad field: the form again with the reason, nothing changed.
    st, _, body, _ = admin.go("POST", "/beheer/instellingen", {
        "csrf": admin.jar["at_csrf"], "welcome": "Nog eens", "contact_email": "geen adres"})
    assert st == 422 and "Dit is geen e-mailadres." in body
    assert "Nog eens" not in d1.get("/", host=HOST)[2].decode()


def test_content_pages_render_and_escape(two):
    d1, d2, tokens = two
    a = api(d1, tokens, "admin")
    st, _, p = a.put("/pages/over-ons", {"title": "Over <ons>", "menu_order": 1,
                                          "body": "# Wie wij zijn\n\nEen *gemeente*.\n\n<img src=x onerror=alert(1)>\n\n[link](javascript:alert(1))"})
    assert st == 201, p
    assert "<em>gemeente</em>" in p["body_html"] and "<img" not in p["body_html"]
    assert "javascript:" not in p["body_html"]
    st, _, p = a.put("/pages/privacy", {"title": "Privacyverklaring", "body": "Wat we bewaren."})
    assert st == 201
    st, _, p = a.put("/pages/privacy", {"title": "Privacyverklaring", "body": "Wat we bewaren, en hoe lang."})
    assert st == 200 and p["body"] == "Wat we bewaren, en hoe lang."
    lst = wait_for(lambda: (lambda x: x if [i["slug"] for i in x["items"]] == ["over-ons", "privacy"] else None)(
        api(d2, tokens, None).get("/pages")[2]), what="the pages on the second daemon")
    assert [i["slug"] for i in lst["items"]] == ["over-ons", "privacy"]
    st, _, body = d2.get("/pagina/over-ons", host=HOST)
    body = body.decode()
    assert st == 200 and "<h1>Over &lt;ons&gt;</h1>" in body and "<em>gemeente</em>" in body
    assert "<img" not in body and "javascript:" not in body
    # In the menu of every page (menu_order set), privacy not.
    home = settled(d2, "/", lambda r: 'href="/pagina/over-ons"' in r[2])[2]
    assert 'href="/pagina/over-ons"' in home and 'href="/pagina/privacy"' not in home
    assert d2.get("/pagina/bestaat-niet", host=HOST)[0] == 404
    # A path that is no page's is a 404, never an error.
    for path in ("/pagina/Hoofdletters", "/pagina/a%2Fb", "/pagina/..", "/pagina/" + "a" * 61, "/pagina/-x"):
        assert d2.get(path, host=HOST)[0] == 404, path
    # The other municipality has none of them.
    assert d2.get("/pagina/over-ons", host=OTHER)[0] == 404
    assert api(d2, tokens, "foreign", OTHER).get("/pages")[2]["items"] == []
    assert api(d2, tokens, "foreign", OTHER).get("/pages/over-ons")[0] == 404
    # Written and deleted through the admin's pages.
    admin = Browser(d1, HOST)
    assert admin.signin("admin@inst.test", PASSWORD)[0] == 303
    st, hdr, body, _ = admin.go("POST", "/beheer/paginas/nieuw", {
        "csrf": admin.jar["at_csrf"], "slug": "meedoen", "title": "Zo doet u mee", "body": "Kom naar een **tafel**.",
        "menu_order": "2"})
    assert st == 303 and hdr["location"] == "/pagina/meedoen", body
    settled(d2, "/pagina/meedoen", lambda r: "Kom naar een <strong>tafel</strong>." in r[2])
    st, _, body, _ = admin.go("POST", "/beheer/paginas/nieuw", {"csrf": admin.jar["at_csrf"], "slug": "../x",
                                                              "title": "Fout"})
    assert st == 422
    for path in ("/beheer/paginas/Hoofdletters", "/beheer/paginas/a%2Fb", "/beheer/paginas/%2e%2e"):
        assert admin.go("GET", path)[0] == 404, path
        assert admin.go("POST", path, {"csrf": admin.jar["at_csrf"], "title": "x"})[0] == 404, path
    assert admin.go("POST", "/beheer/paginas/Hoofd/verwijderen", {"csrf": admin.jar["at_csrf"]})[0] == 404
    assert "Zo doet u mee" in admin.go("GET", "/beheer/paginas")[2]
    assert api(d1, tokens, "fac").delete("/pages/meedoen")[0] == 403
    st, hdr, _, _ = admin.go("POST", "/beheer/paginas/meedoen/verwijderen", {"csrf": admin.jar["at_csrf"]})
    assert st == 303
    settled(d2, "/pagina/meedoen", lambda r: r[0] == 404)


def test_the_accessibility_statement(two):
    d1, d2, tokens = two
    # Before it is filled in: the platform's own part.
    body = d2.get("/toegankelijkheid", host=HOST)[2].decode()
    assert "WCAG 2.1" in body and "Nalevingsstatus" not in body
    admin = Browser(d1, HOST)
    assert admin.signin("admin@inst.test", PASSWORD)[0] == 303
    st, _, body, _ = admin.go("GET", "/beheer/toegankelijkheid")
    assert st == 200 and 'name="status"' in body
    st, hdr, body, _ = admin.go("POST", "/beheer/toegankelijkheid", {
        "csrf": admin.jar["at_csrf"], "status": "B", "date": "2026-11-30", "scope": "instellingen.test",
        "contact_email": "toegankelijk@inst.test",
        "issue_description_1": "Pdf's <zijn> niet toegankelijk", "issue_fix_1": "We maken ze opnieuw",
        "issue_planned_1": "maart 2027"})
    assert st == 303, body
    # The second daemon hears of the change by NOTIFY: soon, not at once.
    body = wait_for(lambda: (lambda b: "Nalevingsstatus" in b and b)(d2.get("/toegankelijkheid", host=HOST)[2].decode()),
                    what="the statement on the second daemon")
    assert "Nalevingsstatus" in body and "voldoet gedeeltelijk" in body and "2026-11-30" in body
    assert "Pdf&#39;s &lt;zijn&gt; niet toegankelijk" in body or "Pdf's &lt;zijn&gt; niet toegankelijk" in body
    assert "maart 2027" in body and "toegankelijk@inst.test" in body and "WCAG 2.1" in body
    st, _, body, _ = admin.go("POST", "/beheer/toegankelijkheid", {"csrf": admin.jar["at_csrf"], "status": "Z"})
    assert st == 422
    assert "voldoet gedeeltelijk" in d2.get("/toegankelijkheid", host=HOST)[2].decode()
    assert "Nalevingsstatus" not in d2.get("/toegankelijkheid", host=OTHER)[2].decode()


def lang_of(d, headers=None, host=HOST):
    st, _, body = d.get("/", host=host, headers=headers)
    assert st == 200
    text = body.decode()
    return text.split('<html lang="', 1)[1][:2]


def settle_lang(d, headers, want, what):
    """Waits until D answers in WANT several times in a row: each of its
    workers reloads the registry on its own."""
    wait_for(lambda: all(lang_of(d, headers) == want for _ in range(6)), what=what)


def test_the_default_language(two):
    """The order that decides a page's language: the visitor's own choice
    (the at_lang cookie /taal sets), then the municipality's default
    language, then the browser's Accept-Language, then Dutch. It holds on
    the second daemon at once, and a guest's cached page is never given to
    a guest whose language is another."""
    d1, d2, tokens = two
    en, nl = {"Accept-Language": "en-GB,en;q=0.9"}, {"Accept-Language": "nl-NL,nl;q=0.9,en;q=0.5"}
    chose_nl, chose_en = {"Cookie": "at_lang=nl"}, {"Cookie": "at_lang=en"}
    st, _, s = api(d1, tokens, "admin").put("/settings", {"default_lang": None})
    assert st == 200 and s["default_lang"] is None, s
    for d in (d1, d2):
        settle_lang(d, en, "en", "the browser's language")
        assert (lang_of(d), lang_of(d, nl), lang_of(d, chose_en)) == ("nl", "nl", "en")
    # English as the default: it wins over the browser, not over a choice.
    st, _, s = api(d1, tokens, "admin").put("/settings", {"default_lang": "en"})
    assert st == 200 and s["default_lang"] == "en", s
    for d in (d1, d2):
        settle_lang(d, None, "en", "the default language")
        for headers, want in ((None, "en"), (nl, "en"), (en, "en"), (chose_nl, "nl"), ({**nl, **chose_nl}, "nl"),
                              (None, "en"), (chose_nl, "nl")):
            assert lang_of(d, headers) == want, (headers, want)
    assert "Sign in" in d2.get("/", host=HOST)[2].decode()
    # Another municipality keeps following the browser.
    assert (lang_of(d2, host=OTHER), lang_of(d2, en, host=OTHER)) == ("nl", "en")
    # Dutch as the default: an English browser gets Dutch too.
    st, _, s = api(d1, tokens, "admin").put("/settings", {"default_lang": "nl"})
    assert st == 200
    for d in (d1, d2):
        settle_lang(d, en, "nl", "Dutch as the default")
        assert lang_of(d, chose_en) == "en"
    # Back to the browser.
    st, _, s = api(d1, tokens, "admin").put("/settings", {"default_lang": None})
    assert st == 200
    for d in (d1, d2):
        settle_lang(d, en, "en", "the browser's language again")
        assert (lang_of(d), lang_of(d, nl)) == ("nl", "nl")
