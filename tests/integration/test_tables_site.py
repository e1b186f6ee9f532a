"""The tables' pages of the site plugin (plugins/site/tables.lua), seen as a
browser without scripts sees them: plain HTTP with cookies and the CSRF
token in the forms.

* The visibility contract for pages: what a viewer may not read is a 404
  page (never a 403 for a closed thing), management pages send a guest to
  the sign-in page, closed words never reach pages, search or feeds of
  those who may not read them, and a closed table has no feed.
* Every user-written field is escaped on every page that shows it, and the
  Atom feed is well-formed XML.
* The forms end to end (contributions, replies, edits, table mode, hiding,
  reports, moderation, tables, groups, invitations by link and by mail,
  requests to join) and the CSRF check on each of them.
* Events from a municipality's own plugin: a guard refuses on pages and in
  the API alike, after-hooks count, and a failing hook rolls back.
* The "new since your last visit" marker."""
import html
import re
import urllib.parse
import xml.etree.ElementTree as ET
from html.parser import HTMLParser

import pytest

from bundle_util import deployed, wait_page, write_bundle
from test_signin import SMALL, Browser
from world import HOST, OTHER, PASSWORD, VIEWERS, World, make_user, token_for

G, M, K, F, A, X = VIEWERS  # guest, member, closed-group member, facilitator, admin, foreign


@pytest.fixture(scope="module")
def w(pg, make_daemon_module):
    d = make_daemon_module({"workers": "2"}, {**pg.daemon_env(), **SMALL})
    world = World(d, pg)
    world.tenant_id = q(pg, "SELECT id FROM platform.tenants WHERE slug = 'wereld-a'")[0][0]
    return world


# ---------------------------------------------------------------- helpers


def q(pg, sql, *args):
    with pg.connect("super") as c, c.cursor() as cur:
        cur.execute(sql, args)
        return cur.fetchall() if cur.description else None


def one(pg, sql, *args):
    return q(pg, sql, *args)[0][0]


def browser(w, who):
    return Browser(w.d, HOST) if who == G else w.browser[who]


def get(w, who, path):
    st, hdr, body, _ = browser(w, who).go("GET", path)
    return st, hdr, body


def send(b, path, form=None, csrf=True):
    """POSTs a form as the browser B, with the CSRF token unless told not to."""
    f = dict(form or {})
    if csrf:
        f["csrf"] = b.csrf()
    st, hdr, body, _ = b.go("POST", path, f)
    return st, hdr, body


def anchor_id(hdr):
    m = re.search(r"#bijdrage-(\d+)$", hdr.get("location", ""))
    assert m, hdr
    return int(m.group(1))


def new_person(w, email, name):
    """A signed-in Browser for a new member of wereld-a."""
    make_user(w.pg, "wereld-a", email, "member", name)
    b = Browser(w.d, HOST)
    assert b.signin(email, PASSWORD)[0] == 303
    return b


def account_id(w, email):
    return one(w.pg, "SELECT id FROM accounts WHERE tenant_id = %s AND email = %s", w.tenant_id, email)


def mails_to(w, addr):
    return q(w.pg, "SELECT subject, body_text, body_html FROM mail_outbox WHERE tenant_id = %s AND to_addr = %s"
                   " ORDER BY id", w.tenant_id, addr)


def articles(body):
    """id -> the HTML of each contribution's <article> on a page."""
    return {int(m.group(1)): m.group(0) for m in
            re.finditer(r'<article class="[^"]*" id="bijdrage-(\d+)".*?</article>', body, re.S)}


class Elements(HTMLParser):
    """Every start tag with its attributes, and the text inside <script>."""

    def __init__(self, text):
        super().__init__(convert_charrefs=True)
        self.tags, self.scripts, self._in_script = [], [], False
        self.feed(text)
        self.close()

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))
        self._in_script = tag == "script"

    def handle_startendtag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))

    def handle_endtag(self, tag):
        self._in_script = False

    def handle_data(self, data):
        if self._in_script:
            self.scripts.append(data)


def assert_no_markup(page, where):
    """No element, attribute or link came from a payload."""
    low = page.lower()
    assert "<script>alert" not in low and "<img src=x onerror" not in low, where
    assert 'href="javascript:' not in low, where
    e = Elements(page)
    for tag, attrs in e.tags:
        assert tag not in ("script", "img") or "alert" not in str(attrs), (where, tag, attrs)
        for name, value in attrs.items():
            assert not name.startswith("on"), (where, tag, attrs)
            if name in ("href", "src", "action"):
                assert not (value or "").strip().lower().startswith("javascript:"), (where, tag, attrs)
    assert not any("alert" in s for s in e.scripts), where


# ---------------------------------------------------------------- 1. visibility


def expect(**by_viewer):
    """Statuses in VIEWERS order from keyword groups; "signin" is a redirect
    to /inloggen."""
    out = {}
    for status, who in by_viewer.items():
        code = {"ok": 200, "signin": 303, "forbidden": 403, "missing": 404}[status]
        for letter in who:
            out[{"G": G, "M": M, "K": K, "F": F, "A": A, "X": X}[letter]] = code
    assert set(out) == set(VIEWERS), by_viewer
    return out


PAGES = [
    ("/tafels/{P}", expect(ok="GMKFA", missing="X")),
    ("/tafels/{C}", expect(ok="KFA", missing="GMX")),
    ("/groepen/{Ppub}", expect(ok="GMKFA", missing="X")),
    ("/groepen/{Pcl}", expect(ok="GMKFA", missing="X")),
    ("/groepen/{Cpub}", expect(ok="KFA", missing="GMX")),
    ("/groepen/{Ccl}", expect(ok="KFA", missing="GMX")),
    ("/bijdragen/{cP}", expect(ok="GMKFA", missing="X")),
    ("/bijdragen/{cC}", expect(ok="KFA", missing="GMX")),
    ("/bijdragen/{cPpub}", expect(ok="GMKFA", missing="X")),
    ("/bijdragen/{cPcl}", expect(ok="KFA", missing="GMX")),
    ("/bijdragen/{cCpub}", expect(ok="KFA", missing="GMX")),
    ("/bijdragen/{cCcl}", expect(ok="KFA", missing="GMX")),
    ("/tafels/{P}/mensen", expect(ok="FA", signin="G", forbidden="MK", missing="X")),
    ("/tafels/{C}/mensen", expect(ok="FA", forbidden="K", missing="GMX")),
    ("/tafels/{P}/moderatie", expect(ok="FA", signin="G", forbidden="MK", missing="X")),
    ("/tafels/{C}/moderatie", expect(ok="FA", forbidden="K", missing="GMX")),
    ("/tafels/{P}/bewerken", expect(ok="FA", signin="G", forbidden="MK", missing="X")),
    ("/tafels/{C}/bewerken", expect(ok="FA", forbidden="K", missing="GMX")),
    ("/tafels/{P}/feed.atom", expect(ok="GMKFA", missing="X")),
    ("/tafels/{C}/feed.atom", expect(missing="GMKFAX")),
]


def fill(w, template):
    ids = {"P": w.P, "C": w.C, **w.groups, **{"c" + k: v for k, v in w.contrib.items()}}
    return template.format(**ids)


@pytest.mark.parametrize("path,statuses", PAGES, ids=[p for p, _ in PAGES])
def test_page_visibility(w, path, statuses):
    missing = None
    for viewer in VIEWERS:
        st, hdr, body = get(w, viewer, fill(w, path))
        assert st == statuses[viewer], f"{path}: {viewer} got {st}, expected {statuses[viewer]}: {body[:300]}"
        if st == 303:
            assert hdr["location"] == "/inloggen", hdr
        if st == 404:
            # The same page as for something that never existed.
            missing = missing or get(w, viewer, "/tafels/999999999999")[2]
            assert re.sub(r"[0-9A-Za-z]{10,}", "", body) == re.sub(r"[0-9A-Za-z]{10,}", "", missing), body
            assert "geheimwoord" not in body and "Zorg thuis" not in body


def test_a_closed_groups_page_shows_name_and_purpose_but_not_content(w):
    for viewer in (G, M):
        st, _, body = get(w, viewer, f"/groepen/{w.groups['Pcl']}")
        assert st == 200
        assert "Besloten groep P" in body and "Voor wie het aangaat" in body
        assert "geheimwoordPcl" not in body
        assert "Wat in deze groep gezegd wordt, lezen alleen de leden." in body
    for viewer in (K, F, A):
        st, _, body = get(w, viewer, f"/groepen/{w.groups['Pcl']}")
        assert st == 200 and "geheimwoordPcl" in body, viewer
    # The public group's content is there for everyone of the tenant.
    st, _, body = get(w, G, f"/groepen/{w.groups['Ppub']}")
    assert "geheimwoordPpub" in body


SECRETS = {  # word -> the viewers who may read it
    "geheimwoordPpub": {G, M, K, F, A},
    "geheimwoordPcl": {K, F, A},
    "geheimwoordCpub": {K, F, A},
    "geheimwoordCcl": {K, F, A},
}


def test_closed_words_stay_out_of_pages_search_and_feeds(w):
    pages = ["/", f"/tafels/{w.P}", f"/tafels/{w.C}", f"/tafels/{w.P}/feed.atom", f"/bijdragen/{w.contrib['P']}"]
    pages += [f"/groepen/{g}" for g in w.groups.values()]
    for viewer in VIEWERS:
        seen = ""
        for path in pages:
            st, _, body = get(w, viewer, path)
            if st == 200:
                seen += body
        for word, readers in SECRETS.items():
            st, _, found = get(w, viewer, "/zoeken?q=" + word)
            assert st == 200, found[:300]
            hit = f"/bijdragen/{w.contrib[word[len('geheimwoord'):]]}" in found
            assert hit == (viewer in readers), (viewer, word, found[:2000])
            if viewer not in readers:
                assert word not in seen, (viewer, word)
                # The search page repeats the query in its box, but nothing else.
                assert found.count(word) == found.count(f'value="{word}"'), (viewer, word)
    # A query too long: the error by the search box.
    st, _, body = get(w, M, "/zoeken?q=" + "a" * 201)
    assert st == 422 and 'aria-invalid="true" aria-describedby="q-error"' in body
    # The closed table's question is found only by its people.
    assert "Zorg thuis" not in get(w, M, "/zoeken?q=mantelzorgers")[2]
    assert "Zorg thuis" in get(w, K, "/zoeken?q=mantelzorgers")[2]
    # The feed of the public table has the public words only, for anyone.
    st, hdr, feed = get(w, G, f"/tafels/{w.P}/feed.atom")
    assert st == 200 and "atom" in hdr.get("content-type", ""), hdr
    root = ET.fromstring(feed)
    assert root.tag == "{http://www.w3.org/2005/Atom}feed"
    text = ET.tostring(root, encoding="unicode")
    assert "Tafel P: welkom" in text
    for word in ("geheimwoordPcl", "geheimwoordPpub", "geheimwoordCcl", "geheimwoordCpub"):
        assert word not in text      # groups' contributions are not the table's feed
    # A closed table has no feed, not even for its facilitator.
    for viewer in VIEWERS:
        assert get(w, viewer, f"/tafels/{w.C}/feed.atom")[0] == 404


def test_pages_of_another_municipality_are_missing(w):
    # A signed-in person of wereld-b asks wereld-b's host for wereld-a's ids.
    for path in (f"/tafels/{w.P}", f"/groepen/{w.groups['Ppub']}", f"/bijdragen/{w.contrib['P']}",
                 f"/tafels/{w.P}/feed.atom"):
        st, _, body = get(w, X, path)
        assert st == 404 and "Speeltuin" not in body and "welkom" not in body
    st, _, body = get(w, X, "/zoeken?q=Speeltuin")
    assert st == 200 and f"/tafels/{w.P}" not in body


# ---------------------------------------------------------------- 2. escaping

PAY = "<script>alert(1)</script> \"><img src=x onerror=alert(1)> ' onmouseover='x"
MD_PAY = PAY + " [klik](javascript:alert(1))"
XSS_EMAIL = "xss@example.nl"


def escaped(page, text=PAY):
    """TEXT is on the page as text: escaped, and unescaped it reads back."""
    return "&lt;script&gt;alert(1)&lt;/script&gt;" in page and text in html.unescape(page)


def rendered(page, prefix):
    """A Markdown field with the payloads, rendered: the raw HTML left out
    (or escaped), the attribute text as text, the javascript: link gone."""
    m = re.search(re.escape(prefix) + r"(.*?)</p>", page, re.S)
    assert m, (prefix, page)
    part = m.group(0)
    assert "<script" not in part and "<img" not in part and "javascript" not in part.lower(), part
    return "' onmouseover='x" in html.unescape(part) and "klik" in part


def test_user_written_fields_are_escaped_everywhere(w):
    fac = w.browser[F]
    # An account whose display name is a payload (the CLI takes it).
    make_user(w.pg, "wereld-a", XSS_EMAIL, "member", "<script>alert(1)</script> ' onmouseover='x")
    x = Browser(w.d, HOST)
    assert x.signin(XSS_EMAIL, PASSWORD)[0] == 303

    # A table, its groups.
    st, hdr, body = send(fac, "/tafels/nieuw", {"title": "T " + PAY, "question": "Q " + PAY,
                                                 "description": "Beschrijving " + MD_PAY, "visibility": "public"})
    assert st == 303, body[:500]
    tid = int(hdr["location"].rsplit("/", 1)[1])
    st, hdr, body = send(fac, f"/tafels/{tid}/groepen", {"name": "G " + PAY[:80], "purpose": "D " + PAY,
                                                         "visibility": "closed"})
    assert st == 303, body[:500]
    gid = int(hdr["location"].rsplit("/", 1)[1])

    # The person joins the table, asks to join the closed group, posts.
    assert send(x, f"/tafels/{tid}/deelnemen")[0] == 303
    assert send(x, f"/groepen/{gid}/deelnemen", {"message": "M " + PAY})[0] == 303
    st, hdr, _ = send(x, f"/tafels/{tid}/bijdragen", {"body": "B " + MD_PAY})
    assert st == 303
    c1 = anchor_id(hdr)
    # Table mode with a payload as the name; a contribution to hide.
    st, hdr, _ = send(fac, f"/tafels/{tid}/bijdragen", {"body": "opgeschreven", "behalf": "1",
                                                        "behalf_name": "N " + PAY[:90]})
    assert st == 303
    c2 = anchor_id(hdr)
    st, hdr, _ = send(fac, f"/tafels/{tid}/bijdragen", {"body": "te verbergen " + MD_PAY})
    c3 = anchor_id(hdr)
    assert send(fac, f"/bijdragen/{c3}/verbergen", {"reason": "H " + PAY})[0] == 303
    assert send(x, f"/bijdragen/{c1}/melden", {"reason": "R " + PAY})[0] == 303
    st, hdr, _ = send(x, f"/bijdragen/{c1}/reactie", {"body": "reactie " + MD_PAY})
    assert st == 303

    pages = {
        "home (fac)": (fac, "/"), "home (x)": (x, "/"), "table": (x, f"/tafels/{tid}"),
        "table (fac)": (fac, f"/tafels/{tid}"), "group (fac, requests)": (fac, f"/groepen/{gid}"),
        "group (x)": (x, f"/groepen/{gid}"), "thread": (x, f"/bijdragen/{c1}"),
        "thread (fac)": (fac, f"/bijdragen/{c1}"), "hidden (fac)": (fac, f"/bijdragen/{c3}"),
        "hidden (x)": (x, f"/bijdragen/{c3}"), "recorded": (x, f"/bijdragen/{c2}"),
        "moderation": (fac, f"/tafels/{tid}/moderatie"), "people": (fac, f"/tafels/{tid}/mensen"),
        "search": (x, "/zoeken?q=alert"), "search (fac)": (fac, "/zoeken?q=" + urllib.parse.quote(PAY)),
        "edit form": (fac, f"/tafels/{tid}/bewerken"),
        "invitation": (x, "/uitnodiging?token=" + urllib.parse.quote(PAY)),
    }
    seen = {}
    for name, (b, path) in pages.items():
        st, _, body, _ = b.go("GET", path)
        assert st == 200, (name, st, body[:300])
        assert_no_markup(body, name)
        seen[name] = body
    # The escaped text is there where each field shows.
    assert escaped(seen["home (fac)"], "T " + PAY) and escaped(seen["home (fac)"], "Q " + PAY)
    assert escaped(seen["home (x)"], "<script>alert(1)</script> ' onmouseover='x")          # the name
    assert escaped(seen["table"], "T " + PAY) and escaped(seen["table"], "Q " + PAY)
    assert escaped(seen["table"], "G " + PAY[:80]) and escaped(seen["table"], "D " + PAY)
    assert rendered(seen["table"], '<div class="description"><p>Beschrijving ')     # the description
    assert rendered(seen["table"], "<p>B ")                             # the contribution
    assert escaped(seen["table"], "N " + PAY[:90])                      # the table-mode name
    assert escaped(seen["group (fac, requests)"], "M " + PAY)          # the request's message
    assert escaped(seen["group (fac, requests)"], "<script>alert(1)</script> ' onmouseover='x")
    assert rendered(seen["thread"], "<p>B ") and rendered(seen["thread"], "<p>reactie ")
    assert escaped(seen["thread"], "B " + MD_PAY)                      # the author's edit box
    assert escaped(seen["hidden (fac)"], "H " + PAY) and escaped(seen["hidden (x)"], "H " + PAY)
    assert "te verbergen" not in seen["hidden (x)"]                    # hidden: the body only for moderators
    assert escaped(seen["moderation"], "R " + PAY) and rendered(seen["moderation"], "<p>B ")
    assert escaped(seen["moderation"], "<script>alert(1)</script> ' onmouseover='x")  # the reporter
    assert escaped(seen["thread"], "<script>alert(1)</script> ' onmouseover='x")      # the author
    assert escaped(seen["invitation"], PAY)                            # the token, reflected
    assert escaped(seen["people"], "<script>alert(1)</script> ' onmouseover='x")
    assert escaped(seen["people"], "G " + PAY[:80])
    assert escaped(seen["search"], "T " + PAY)
    assert escaped(seen["search (fac)"], PAY)                          # the query in its box
    assert escaped(seen["edit form"], "T " + PAY) and escaped(seen["edit form"], "Beschrijving " + MD_PAY)

    # The feed: well-formed XML, the payloads as text only.
    st, _, feed = get(w, G, f"/tafels/{tid}/feed.atom")
    assert st == 200
    root = ET.fromstring(feed)
    ns = {"a": "http://www.w3.org/2005/Atom", "x": "http://www.w3.org/1999/xhtml"}
    assert root.find("a:title", ns).text == "T " + PAY
    assert root.find("a:subtitle", ns).text == "Q " + PAY
    entries = root.findall("a:entry", ns)
    # The entries are the table's posts (a reply is part of its post's
    # thread, not an entry), the hidden one left out: the person with the
    # payload as their name, and the name recorded in table mode.
    assert sorted(e.find("a:author/a:name", ns).text for e in entries) == sorted(
        ["<script>alert(1)</script> ' onmouseover='x", "N " + PAY[:90]])
    texts = "".join(ET.tostring(e, encoding="unicode") for e in entries)
    assert "te verbergen" not in texts                                  # hidden: not in the feed
    for el in root.iter():
        local = el.tag.rsplit("}", 1)[-1]
        assert local not in ("script", "img"), el.tag
        for name, value in el.attrib.items():
            assert not name.lower().startswith("on"), (el.tag, name)
            assert not value.strip().lower().startswith("javascript:"), (el.tag, value)
    content = "".join("".join(c.itertext()) for c in root.iterfind("a:entry/a:content", ns))
    assert "B " in content and "' onmouseover='x" in content and "alert(1)" in content


# ---------------------------------------------------------------- 3. forms


def counts(w):
    """What a refused POST must not change."""
    return q(w.pg, """SELECT (SELECT count(*) FROM contributions WHERE tenant_id = %(t)s),
                             (SELECT count(*) FROM contributions WHERE tenant_id = %(t)s AND hidden_at IS NOT NULL),
                             (SELECT count(*) FROM contribution_edits WHERE tenant_id = %(t)s),
                             (SELECT count(*) FROM reports WHERE tenant_id = %(t)s),
                             (SELECT count(*) FROM reports WHERE tenant_id = %(t)s AND status <> 'open'),
                             (SELECT count(*) FROM tables WHERE tenant_id = %(t)s),
                             (SELECT max(updated_at) FROM tables WHERE tenant_id = %(t)s),
                             (SELECT count(*) FROM groups WHERE tenant_id = %(t)s),
                             (SELECT count(*) FROM group_members WHERE tenant_id = %(t)s),
                             (SELECT count(*) FROM group_requests WHERE tenant_id = %(t)s),
                             (SELECT count(*) FROM group_requests WHERE tenant_id = %(t)s AND status <> 'pending'),
                             (SELECT count(*) FROM invitations WHERE tenant_id = %(t)s),
                             (SELECT count(*) FROM invitations WHERE tenant_id = %(t)s AND revoked_at IS NOT NULL),
                             (SELECT count(*) FROM table_members WHERE tenant_id = %(t)s),
                             (SELECT string_agg(role, ',' ORDER BY table_id, account_id) FROM table_members
                               WHERE tenant_id = %(t)s)""".replace("%(t)s", str(int(w.tenant_id))))[0]


def test_contribution_reply_and_edit(w, pg):
    m = w.browser[M]
    st, hdr, body = send(m, f"/tafels/{w.P}/bijdragen", {"body": "Een **bankje** bij de zandbak"})
    assert st == 303 and hdr["location"].startswith(f"/tafels/{w.P}#bijdrage-"), (st, hdr, body[:300])
    cid = anchor_id(hdr)
    page = get(w, G, f"/tafels/{w.P}")[2]
    assert cid in articles(page) and "<strong>bankje</strong>" in articles(page)[cid]
    assert "Lies Lid" in articles(page)[cid]
    # An empty contribution: the error next to the field, nothing stored.
    before = counts(w)
    st, _, body = send(m, f"/tafels/{w.P}/bijdragen", {"body": ""})
    assert st == 422
    assert 'id="f-body-error"' in body and 'aria-invalid="true"' in body and "Vul dit veld in." in body
    assert counts(w) == before

    # A reply; a reply to the reply is refused with a message.
    st, hdr, body = send(w.browser[K], f"/bijdragen/{cid}/reactie", {"body": "Goed idee"})
    assert st == 303 and hdr["location"].startswith(f"/bijdragen/{cid}#bijdrage-"), (st, hdr, body[:300])
    rid = anchor_id(hdr)
    thread = get(w, G, f"/bijdragen/{cid}")[2]
    assert rid in articles(thread) and "Goed idee" in thread and "Kees Kring" in thread
    assert one(pg, "SELECT parent_id FROM contributions WHERE tenant_id = %s AND id = %s", w.tenant_id, rid) == cid
    reply_page = get(w, K, f"/bijdragen/{rid}")[2]
    assert f'action="/bijdragen/{rid}/reactie"' not in reply_page        # no reply form on a reply
    before = counts(w)
    st, _, body = send(w.browser[K], f"/bijdragen/{rid}/reactie", {"body": "Te diep"})
    assert st == 422, (st, body[:300])
    assert "U kunt alleen op een bijdrage reageren, niet op een reactie." in body
    assert counts(w) == before

    # Editing within 15 minutes: the new text, the old one kept.
    page = get(w, M, f"/bijdragen/{cid}")[2]
    assert f'action="/bijdragen/{cid}/bewerken"' in page
    assert f'action="/bijdragen/{cid}/bewerken"' not in get(w, K, f"/bijdragen/{cid}")[2]
    st, hdr, _ = send(m, f"/bijdragen/{cid}/bewerken", {"body": "Een **bankje** en een boom"})
    assert st == 303 and hdr["location"] == f"/bijdragen/{cid}"
    page = get(w, G, f"/bijdragen/{cid}")[2]
    assert "en een boom" in page and "bewerkt" in page.lower()
    assert one(pg, "SELECT count(*) FROM contribution_edits WHERE tenant_id = %s AND contribution_id = %s",
               w.tenant_id, cid) == 1
    # Someone else cannot.
    st, _, _ = send(w.browser[K], f"/bijdragen/{cid}/bewerken", {"body": "overgenomen"})
    assert st == 403            # K reads it (a public table), but it is not K's
    assert "overgenomen" not in get(w, G, f"/bijdragen/{cid}")[2]
    # After 15 minutes: refused with the reason.
    q(pg, "UPDATE contributions SET created_at = now() - interval '20 minutes' WHERE tenant_id = %s AND id = %s",
      w.tenant_id, cid)
    st, _, body = send(m, f"/bijdragen/{cid}/bewerken", {"body": "te laat"})
    assert st == 409 and "tot 15 minuten na het plaatsen" in body
    assert re.search(r'<p class="error" id="f-[a-z-]*body-error">Een bijdrage kunt u tot 15 minuten', body), body[:3000]
    assert "te laat" not in get(w, G, f"/bijdragen/{cid}")[2]


def test_table_mode(w, pg):
    fac = w.browser[F]
    form = get(w, F, f"/tafels/{w.P}")[2]
    assert 'name="behalf"' in form and 'name="behalf_name"' in form
    assert 'name="behalf"' not in get(w, M, f"/tafels/{w.P}")[2]       # only facilitators record
    st, hdr, _ = send(fac, f"/tafels/{w.P}/bijdragen", {"body": "Meer licht", "behalf": "1", "behalf_name": "Jan"})
    named = anchor_id(hdr)
    st, hdr, _ = send(fac, f"/tafels/{w.P}/bijdragen", {"body": "Een hek", "behalf": "1", "behalf_name": ""})
    anon = anchor_id(hdr)
    st, hdr, _ = send(fac, f"/tafels/{w.P}/bijdragen", {"body": "Zelf gezegd", "behalf_name": "Genegeerd"})
    own = anchor_id(hdr)
    page = articles(get(w, G, f"/tafels/{w.P}")[2])
    assert "Jan" in page[named] and "aan tafel opgeschreven" in page[named] and "Fien" not in page[named]
    assert "deelnemer aan tafel" in page[anon] and "aan tafel opgeschreven" in page[anon]
    assert "Fien Facilitator" in page[own] and "opgeschreven" not in page[own] and "Genegeerd" not in page[own]
    rows = dict((r[0], r[1:]) for r in q(pg, "SELECT id, author_id, author_name, recorded_by FROM contributions"
                                             " WHERE tenant_id = %s AND id IN (%s, %s, %s)",
                                         w.tenant_id, named, anon, own))
    fac_id = account_id(w, "gespreks@example.nl")
    assert rows[named] == (None, "Jan", fac_id) and rows[anon][0] is None and rows[anon][2] == fac_id
    assert rows[own] == (fac_id, None, None)
    # A member cannot record for someone else.
    before = counts(w)
    st, hdr, body = send(w.browser[M], f"/tafels/{w.P}/bijdragen", {"body": "Namens Piet", "behalf": "1",
                                                                    "behalf_name": "Piet"})
    assert st == 403 and counts(w) == before
    # A name too long: the error next to the name's field, the text kept.
    st, _, body = send(fac, f"/tafels/{w.P}/bijdragen", {"body": "Lange naam", "behalf": "1",
                                                         "behalf_name": "n" * 101})
    assert st == 422, body[:300]
    m = re.search(r'<input id="f-behalf_name"[^>]*>', body)
    assert m and 'aria-invalid="true"' in m.group(0) and "f-behalf_name-error" in m.group(0), body
    assert re.search(r'id="f-behalf_name-error">Dit is te lang.<', body)
    assert ">Lange naam</textarea>" in body and counts(w) == before


def test_hide_report_and_moderation(w, pg):
    fac, m, k = w.browser[F], w.browser[M], w.browser[K]
    st, hdr, _ = send(m, f"/tafels/{w.P}/bijdragen", {"body": "Iets onaardigs over de buren"})
    bad = anchor_id(hdr)
    st, hdr, _ = send(m, f"/tafels/{w.P}/bijdragen", {"body": "Nog iets onaardigs"})
    bad2 = anchor_id(hdr)
    # Hiding needs a reason; a member has no hide form and cannot hide.
    assert 'action="/bijdragen/%d/verbergen"' % bad not in get(w, M, f"/bijdragen/{bad}")[2]
    st, _, _ = send(m, f"/bijdragen/{bad}/verbergen", {"reason": "zelf"})
    assert st == 403
    st, _, body = send(fac, f"/bijdragen/{bad}/verbergen", {"reason": ""})
    assert st == 422 and 'id="f-hide-reason-error"' in body and "Vul dit veld in." in body
    assert one(pg, "SELECT hidden_at IS NULL FROM contributions WHERE tenant_id = %s AND id = %s", w.tenant_id, bad)
    st, hdr, _ = send(fac, f"/bijdragen/{bad}/verbergen", {"reason": "Persoonlijke aanval"})
    assert st == 303
    for who in (G, M):
        page = get(w, who, f"/bijdragen/{bad}")[2]
        assert "Verborgen door de gespreksleider: Persoonlijke aanval" in page and "onaardigs" not in page
    assert "onaardigs over de buren" in get(w, F, f"/bijdragen/{bad}")[2]  # moderators still read it
    assert "onaardigs over de buren" not in get(w, G, f"/tafels/{w.P}")[2]
    assert "onaardigs over de buren" not in get(w, G, f"/tafels/{w.P}/feed.atom")[2]

    # Reporting: a reason is needed; thanks; the queue shows it.
    st, _, body = send(k, f"/bijdragen/{bad2}/melden", {"reason": ""})
    assert st == 422 and "Vul dit veld in." in body
    st, hdr, _ = send(k, f"/bijdragen/{bad2}/melden", {"reason": "Dit kwetst"})
    assert st == 303 and hdr["location"] == f"/bijdragen/{bad2}?gemeld=1"
    assert "Bedankt. De gespreksleiders bekijken uw melding." in get(w, K, hdr["location"])[2]
    st, hdr, _ = send(k, f"/bijdragen/{w.contrib['P']}/melden", {"reason": "Ten onrechte"})
    assert st == 303
    mod = get(w, F, f"/tafels/{w.P}/moderatie")[2]
    assert "Dit kwetst" in mod and "Ten onrechte" in mod and "Nog iets onaardigs" in mod
    reports = dict(q(pg, "SELECT contribution_id, id FROM reports WHERE tenant_id = %s AND status = 'open'",
                     w.tenant_id))
    r_bad, r_ok = reports[bad2], reports[w.contrib["P"]]
    # Handling: a member cannot; the facilitator hides one and dismisses the other.
    st, _, _ = send(m, f"/meldingen/{r_bad}", {"action": "dismiss", "table": str(w.P)})
    assert st == 403            # as the API answers a member (test_tables_api)
    assert one(pg, "SELECT status FROM reports WHERE tenant_id = %s AND id = %s", w.tenant_id, r_bad) == "open"
    st, hdr, _ = send(fac, f"/meldingen/{r_bad}", {"action": "hide", "reason": "Na melding", "table": str(w.P)})
    assert st == 303 and hdr["location"] == f"/tafels/{w.P}/moderatie"
    st, hdr, _ = send(fac, f"/meldingen/{r_ok}", {"action": "dismiss", "table": str(w.P)})
    assert st == 303
    assert dict(q(pg, "SELECT id, status FROM reports WHERE tenant_id = %s AND id IN (%s, %s)",
                  w.tenant_id, r_bad, r_ok)) == {r_bad: "hidden", r_ok: "dismissed"}
    mod = get(w, F, f"/tafels/{w.P}/moderatie")[2]
    assert "Dit kwetst" not in mod and "Ten onrechte" not in mod
    assert "Verborgen door de gespreksleider: Na melding" in get(w, G, f"/bijdragen/{bad2}")[2]
    page = get(w, G, f"/bijdragen/{w.contrib['P']}")[2]
    assert "Tafel P: welkom" in page and "Verborgen" not in page      # dismissed: still shown


def test_create_table_with_validation_errors(w, pg):
    fac = w.browser[F]
    assert get(w, F, "/tafels/nieuw")[0] == 200
    assert get(w, M, "/tafels/nieuw")[0] == 403
    st, hdr, _ = get(w, G, "/tafels/nieuw")
    assert st == 303 and hdr["location"] == "/inloggen"
    before = counts(w)
    st, _, body = send(fac, "/tafels/nieuw", {"title": "", "question": "Wat is ervoor nodig?", "description": "",
                                             "visibility": "public"})
    assert st == 422
    m = re.search(r'<input id="f-title"[^>]*>', body)
    assert m, body
    assert 'aria-invalid="true"' in m.group(0) and 'aria-describedby="f-title-error"' in m.group(0)
    assert re.search(r'<p class="error" id="f-title-error">Vul dit veld in.</p>', body)
    assert 'value="Wat is ervoor nodig?"' in body                          # what was typed stays
    assert 'aria-invalid' not in re.search(r'<input id="f-question"[^>]*>', body).group(0)
    assert counts(w) == before
    st, _, body = send(fac, "/tafels/nieuw", {"title": "x" * 201, "question": "Vraag", "visibility": "public"})
    assert st == 422 and "Dit is te lang." in body
    st, _, body = send(fac, "/tafels/nieuw", {"title": "Titel", "question": "Vraag", "visibility": "geheim"})
    assert st == 422 and 'aria-describedby="f-visibility-error"' in body
    assert counts(w) == before
    # A member may not open a table.
    st, _, _ = send(w.browser[M], "/tafels/nieuw", {"title": "Van mij", "question": "Mag dat?", "visibility": "public"})
    assert st == 403 and counts(w) == before
    st, hdr, _ = send(fac, "/tafels/nieuw", {"title": "Fietsenstalling", "question": "Waar?", "visibility": "closed",
                                             "description": "Over *fietsen*."})
    assert st == 303
    tid = int(hdr["location"].rsplit("/", 1)[1])
    page = get(w, F, f"/tafels/{tid}")[2]
    assert "Fietsenstalling" in page and "<em>fietsen</em>" in page
    assert get(w, M, f"/tafels/{tid}")[0] == 404                           # closed
    # Editing the table through its form.
    st, hdr, _ = send(fac, f"/tafels/{tid}/bewerken", {"title": "Fietsenstalling centrum", "question": "Waar?",
                                                       "description": "", "visibility": "public", "status": "open"})
    assert st == 303 and hdr["location"] == f"/tafels/{tid}"
    assert "Fietsenstalling centrum" in get(w, M, f"/tafels/{tid}")[2]
    st, _, body = send(fac, f"/tafels/{tid}/bewerken", {"title": "", "question": "Waar?", "visibility": "public",
                                                        "status": "open"})
    assert st == 422 and 'aria-describedby="f-title-error"' in body
    st, _, _ = send(w.browser[M], f"/tafels/{tid}/bewerken", {"title": "Gekaapt", "question": "?",
                                                              "visibility": "public", "status": "open"})
    assert st == 403
    assert "Gekaapt" not in get(w, M, f"/tafels/{tid}")[2]


def test_groups_and_requests_to_join(w, pg):
    fac = w.browser[F]
    st, hdr, body = send(fac, f"/tafels/{w.P}/groepen", {"name": "Werkgroep hek", "purpose": "Het hek",
                                                        "visibility": "closed"})
    assert st == 303, body[:300]
    gid = int(hdr["location"].rsplit("/", 1)[1])
    st, _, body = send(fac, f"/tafels/{w.P}/groepen", {"name": "", "visibility": "public"})
    assert st == 422 and 'id="f-name-error"' in body
    st, _, _ = send(w.browser[M], f"/tafels/{w.P}/groepen", {"name": "Eigen groep", "visibility": "public"})
    assert st == 403
    assert one(pg, "SELECT count(*) FROM groups WHERE tenant_id = %s AND name = 'Eigen groep'", w.tenant_id) == 0
    assert "Werkgroep hek" in get(w, G, f"/tafels/{w.P}")[2]

    yes = new_person(w, "ja@example.nl", "Jet Ja")
    no = new_person(w, "nee@example.nl", "Nico Nee")
    for b, msg in ((yes, "Ik woon aan het hek"), (no, "Ik wil meedoen")):
        assert send(b, f"/tafels/{w.P}/deelnemen")[0] == 303
        st, hdr, _ = send(b, f"/groepen/{gid}/deelnemen", {"message": msg})
        assert st == 303 and hdr["location"] == f"/groepen/{gid}"
        page = b.go("GET", f"/groepen/{gid}")[2]
        assert "Uw verzoek om lid te worden is verstuurd." in page
    # A message too long: the error on the page, no request.
    late = new_person(w, "laat@example.nl", "Lars Laat")
    assert send(late, f"/tafels/{w.P}/deelnemen")[0] == 303
    st, _, body = send(late, f"/groepen/{gid}/deelnemen", {"message": "m" * 1001})
    assert st == 422 and re.search(r'<p class="error"[^>]*>Dit is te lang.</p>', body), body[:3000]
    assert ">" + "m" * 1001 + "</textarea>" in body             # what was typed is kept
    assert one(pg, "SELECT count(*) FROM group_requests WHERE tenant_id = %s AND group_id = %s",
               w.tenant_id, gid) == 2
    # The facilitator sees the requests on the group page; the others do not.
    page = get(w, F, f"/groepen/{gid}")[2]
    assert "Jet Ja" in page and "Ik woon aan het hek" in page and "Nico Nee" in page
    assert "Ik woon aan het hek" not in get(w, M, f"/groepen/{gid}")[2]
    reqs = dict(q(pg, "SELECT a.email, r.id FROM group_requests r JOIN accounts a ON a.tenant_id = r.tenant_id"
                      " AND a.id = r.account_id WHERE r.tenant_id = %s AND r.group_id = %s", w.tenant_id, gid))
    # Someone who is not the group's manager cannot decide.
    st, _, _ = send(w.browser[M], f"/groepen/{gid}/verzoeken/{reqs['ja@example.nl']}", {"decision": "approve"})
    assert st == 403            # M sees the group's name, not its requests to decide
    assert one(pg, "SELECT status FROM group_requests WHERE tenant_id = %s AND id = %s", w.tenant_id,
               reqs["ja@example.nl"]) == "pending"
    st, _, body = send(fac, f"/groepen/{gid}/verzoeken/{reqs['ja@example.nl']}", {"decision": "misschien"})
    assert st == 422 and "Kies toelaten of afwijzen." in body
    st, hdr, _ = send(fac, f"/groepen/{gid}/verzoeken/{reqs['ja@example.nl']}", {"decision": "approve"})
    assert st == 303 and hdr["location"] == f"/groepen/{gid}"
    st, hdr, _ = send(fac, f"/groepen/{gid}/verzoeken/{reqs['nee@example.nl']}", {"decision": "decline"})
    assert st == 303
    # Both hear of it by mail, with a link to the group.
    for addr in ("ja@example.nl", "nee@example.nl"):
        mails = mails_to(w, addr)
        assert len(mails) == 1, (addr, mails)
        subject, text, body_html = mails[0]
        assert "Werkgroep hek" in subject and f"http://{HOST}/groepen/{gid}" in text, (subject, text)
    assert mails_to(w, "ja@example.nl")[0][1] != mails_to(w, "nee@example.nl")[0][1]
    # The approved one is in and can post; the declined one is not.
    st, hdr, _ = send(yes, f"/groepen/{gid}/bijdragen", {"body": "Binnen in de werkgroep"})
    assert st == 303
    assert "Binnen in de werkgroep" in yes.go("GET", f"/groepen/{gid}")[2]
    page = no.go("GET", f"/groepen/{gid}")[2]
    assert "Binnen in de werkgroep" not in page
    st, _, _ = send(no, f"/groepen/{gid}/bijdragen", {"body": "Toch erin"})
    assert st == 404            # the closed group's content is not for the declined one
    # The handled requests are gone from the list.
    page = get(w, F, f"/groepen/{gid}")[2]
    assert "Ik woon aan het hek" not in page and "Ik wil meedoen" not in page


def test_invitations_by_link_and_by_mail(w, pg):
    fac = w.browser[F]
    # By link: shown once.
    st, _, body = send(fac, f"/tafels/{w.C}/uitnodigingen", {"email": "", "role": "member", "group_id": "",
                                                            "expires_in_days": "7"})
    assert st == 201, body[:500]
    m = re.search(r'<code class="link">(http://wereld-a\.test/uitnodiging\?token=([A-Za-z0-9_-]+))</code>', body)
    assert m, body
    link_token = m.group(2)
    again = get(w, F, f"/tafels/{w.C}/mensen")[2]
    assert link_token not in again and "Link – " in again
    assert link_token not in get(w, A, f"/tafels/{w.C}/mensen")[2]
    # Invalid days: the error by the field, nothing stored.
    before = counts(w)
    st, _, body = send(fac, f"/tafels/{w.C}/uitnodigingen", {"email": "", "role": "member", "group_id": "",
                                                            "expires_in_days": "500"})
    assert st == 422 and 'id="f-expires_in_days-error"' in body and "Kies 1 tot 90 dagen." in body
    st, _, body = send(fac, f"/tafels/{w.C}/uitnodigingen", {"email": "geen-adres", "role": "member",
                                                            "group_id": "", "expires_in_days": "7"})
    assert st == 422 and 'id="f-email-error"' in body
    assert counts(w) == before

    linked = new_person(w, "link@example.nl", "Lotte Link")
    assert linked.go("GET", f"/tafels/{w.C}")[0] == 404
    page = linked.go("GET", "/uitnodiging?token=" + link_token)[2]
    assert f'name="token" value="{link_token}"' in page
    assert account_id(w, "link@example.nl") not in [r[0] for r in q(
        pg, "SELECT account_id FROM table_members WHERE tenant_id = %s AND table_id = %s", w.tenant_id, w.C)]
    # A guest is asked to sign in first; accepting without signing in changes nothing.
    guest = Browser(w.d, HOST)
    assert "Inloggen" in guest.go("GET", "/uitnodiging?token=" + link_token)[2]
    st, hdr, _ = send(guest, "/uitnodiging", {"token": link_token})
    assert st == 303 and hdr["location"] == "/inloggen"
    st, hdr, _ = send(linked, "/uitnodiging", {"token": link_token})
    assert st == 303 and hdr["location"] == f"/tafels/{w.C}", hdr
    assert linked.go("GET", f"/tafels/{w.C}")[0] == 200
    # A wrong token: the page says so.
    st, _, body = send(linked, "/uitnodiging", {"token": "x" * 43})
    assert st == 404 and "Deze uitnodiging werkt niet (meer)." in body

    # By mail: the mail carries a link that works once.
    st, hdr, body = send(fac, f"/tafels/{w.C}/uitnodigingen", {"email": "Post@Example.NL", "role": "member",
                                                              "group_id": str(w.groups["Ccl"]), "expires_in_days": "7"})
    assert st == 303 and hdr["location"] == f"/tafels/{w.C}/mensen", (st, body[:300])
    people = get(w, F, f"/tafels/{w.C}/mensen")[2]
    assert "post@example.nl" in people
    mails = mails_to(w, "post@example.nl")
    assert len(mails) == 1, mails
    subject, text, body_html = mails[0]
    assert subject == "Uitnodiging voor een tafel van Gemeente Wereld", subject
    assert "Zorg thuis" in text
    m = re.search(r"http://wereld-a\.test/uitnodiging\?token=([A-Za-z0-9_-]+)", text)
    assert m, text
    assert m.group(0) in html.unescape(body_html)
    mail_token = m.group(1)
    invited = new_person(w, "post@example.nl", "Pim Post")
    assert invited.go("GET", f"/groepen/{w.groups['Ccl']}")[0] == 404
    page = invited.go("GET", "/uitnodiging?token=" + mail_token)[2]
    assert f'value="{mail_token}"' in page
    st, hdr, _ = send(invited, "/uitnodiging", {"token": mail_token})
    assert st == 303 and hdr["location"] == f"/groepen/{w.groups['Ccl']}", hdr
    assert "geheimwoordCcl" in invited.go("GET", f"/groepen/{w.groups['Ccl']}")[2]
    assert one(pg, "SELECT role FROM table_members WHERE tenant_id = %s AND table_id = %s AND account_id = %s",
               w.tenant_id, w.C, account_id(w, "post@example.nl")) == "member"
    # Used: a second person cannot use it.
    other = new_person(w, "ander@example.nl", "Anna Ander")
    st, _, _ = send(other, "/uitnodiging", {"token": mail_token})
    assert st == 404
    assert other.go("GET", f"/tafels/{w.C}")[0] == 404
    # Revoking the link invitation: it no longer works.
    inv = one(pg, "SELECT id FROM invitations WHERE tenant_id = %s AND table_id = %s AND email IS NULL"
                  " AND revoked_at IS NULL ORDER BY id DESC LIMIT 1", w.tenant_id, w.C)
    assert send(w.browser[K], f"/tafels/{w.C}/uitnodigingen/{inv}/intrekken")[0] == 403
    assert send(fac, f"/tafels/{w.C}/uitnodigingen/{inv}/intrekken")[0] == 303
    st, _, _ = send(other, "/uitnodiging", {"token": link_token})
    assert st == 404 and other.go("GET", f"/tafels/{w.C}")[0] == 404


def test_every_post_needs_the_csrf_token(w, pg):
    c = w.contrib["P"]
    r = one(pg, "SELECT id FROM reports WHERE tenant_id = %s ORDER BY id DESC LIMIT 1", w.tenant_id) \
        if q(pg, "SELECT 1 FROM reports WHERE tenant_id = %s", w.tenant_id) else 1
    inv = one(pg, "SELECT coalesce(max(id), 1) FROM invitations WHERE tenant_id = %s", w.tenant_id)
    req = one(pg, "SELECT coalesce(max(id), 1) FROM group_requests WHERE tenant_id = %s", w.tenant_id)
    posts = [
        (F, "/tafels/nieuw", {"title": "Zonder token", "question": "?", "visibility": "public"}),
        (F, f"/tafels/{w.P}/bewerken", {"title": "Zonder token", "question": "?", "visibility": "public",
                                        "status": "open"}),
        ("new", f"/tafels/{w.P}/deelnemen", {}),
        (M, f"/tafels/{w.P}/verlaten", {}),
        (M, f"/tafels/{w.P}/bijdragen", {"body": "Zonder token"}),
        (F, f"/tafels/{w.P}/bijdragen", {"body": "Zonder token", "behalf": "1", "behalf_name": "Jan"}),
        (M, f"/groepen/{w.groups['Ppub']}/bijdragen", {"body": "Zonder token"}),
        ("new", f"/groepen/{w.groups['Pcl']}/deelnemen", {"message": "Zonder token"}),
        (M, f"/groepen/{w.groups['Ppub']}/verlaten", {}),
        (F, f"/groepen/{w.groups['Pcl']}/verzoeken/{req}", {"decision": "approve"}),
        (M, f"/bijdragen/{c}/reactie", {"body": "Zonder token"}),
        (F, f"/bijdragen/{c}/bewerken", {"body": "Zonder token"}),
        (F, f"/bijdragen/{c}/verbergen", {"reason": "Zonder token"}),
        (M, f"/bijdragen/{c}/melden", {"reason": "Zonder token"}),
        (F, f"/meldingen/{r}", {"action": "hide", "reason": "Zonder token", "table": str(w.P)}),
        (F, f"/tafels/{w.P}/mensen", {"account": str(account_id(w, "lid@example.nl")), "action": "set",
                                      "role": "facilitator"}),
        (F, f"/tafels/{w.P}/mensen", {"account": str(account_id(w, "lid@example.nl")), "action": "remove"}),
        (F, f"/tafels/{w.P}/uitnodigingen", {"email": "zonder@example.nl", "role": "member", "expires_in_days": "7"}),
        (F, f"/tafels/{w.P}/uitnodigingen", {"email": "", "role": "member", "expires_in_days": "7"}),
        (F, f"/tafels/{w.P}/uitnodigingen/{inv}/intrekken", {}),
        (F, f"/tafels/{w.P}/groepen", {"name": "Zonder token", "visibility": "public"}),
        ("new", "/uitnodiging", {"token": "x" * 43}),
    ]
    newcomer = new_person(w, "zonder@example.nl", "Zeno Zonder")
    before, mails = counts(w), one(pg, "SELECT count(*) FROM mail_outbox WHERE tenant_id = %s", w.tenant_id)
    for who, path, form in posts:
        b = newcomer if who == "new" else w.browser[who]
        st, _, body = send(b, path, form, csrf=False)
        assert st == 403, (who, path, st, body[:300])
        # A wrong token is no better than none.
        st, _, body = send(b, path, {**form, "csrf": "A" * 43}, csrf=False)
        assert st == 403, (who, path, st, body[:300])
        assert counts(w) == before, (who, path)
    assert one(pg, "SELECT count(*) FROM mail_outbox WHERE tenant_id = %s", w.tenant_id) == mails
    assert one(pg, "SELECT count(*) FROM contributions WHERE tenant_id = %s AND body = 'Zonder token'",
               w.tenant_id) == 0


# ---------------------------------------------------------------- 5. new since the last visit


def test_new_since_the_last_visit(w, pg):
    k = w.browser[K]
    assert get(w, K, f"/tafels/{w.P}")[0] == 200                           # the first visit
    q(pg, "UPDATE table_visits SET seen_at = seen_at - interval '1 second' WHERE tenant_id = %s AND table_id = %s"
          " AND account_id = %s", w.tenant_id, w.P, account_id(w, "kring@example.nl"))
    st, hdr, _ = send(w.browser[M], f"/tafels/{w.P}/bijdragen", {"body": "Na uw bezoek geplaatst"})
    theirs = anchor_id(hdr)
    st, hdr, _ = send(k, f"/tafels/{w.P}/bijdragen", {"body": "Zelf na het bezoek geplaatst"})
    mine = anchor_id(hdr)
    page = get(w, K, f"/tafels/{w.P}")[2]                                  # the second visit
    arts = articles(page)
    assert "contribution--new" in arts[theirs] and ">Nieuw<" in arts[theirs]
    assert "contribution--new" not in arts[mine] and ">Nieuw<" not in arts[mine]
    assert "contribution--new" not in arts[w.contrib["P"]]                # from before the first visit
    assert re.search(r'<p class="since">\d+ nieuw sinds uw vorige bezoek op', page), page
    # The third visit: nothing new since the second.
    page = get(w, K, f"/tafels/{w.P}")[2]
    assert "contribution--new" not in page and "Niets nieuw sinds uw vorige bezoek op" in page
    # A guest has no visits and no markers.
    page = get(w, G, f"/tafels/{w.P}")[2]
    assert "contribution--new" not in page and 'class="since"' not in page


# ---------------------------------------------------------------- 4. events from a tenant plugin

GUARD = r'''
-- Refuses a word, counts tables and contributions, and fails on purpose.
plugin.hook("contribution.before_create", function(c)
	if type(c.body) == "string" and c.body:find("verboden", 1, true) then
		return false, "Dat woord mag hier niet"
	end
end)

local function count(key)
	for _ = 1, 5 do
		local doc, version = plugin.store.get(key)
		if plugin.store.put(key, (doc or 0) + 1, version or 0) then return end
	end
	error("could not count " .. key)
end

plugin.hook("table.created", function(t) count("tables") end)
plugin.hook("contribution.created", function(c)
	if type(c.body) == "string" and c.body:find("ontploffen", 1, true) then
		error("deze bijdrage laat de hook ontploffen")
	end
	count("contributions")
end)

plugin.route("GET", "/teller", function(req)
	return { json = { tables = plugin.store.get("tables") or 0,
		contributions = plugin.store.get("contributions") or 0, ready = true } }
end)
'''


def store_counts(w):
    rows = q(w.pg, "SELECT key, value FROM plugin_store WHERE tenant_id = %s AND plugin = 'teller'", w.tenant_id)
    return {k: v for k, v in rows}


def test_events_from_a_tenant_plugin(w, pg, tmp_path):
    folder = write_bundle(tmp_path / "bundle", {
        "tenant.lua": 'return { name = "Gemeente Wereld", plugins = { teller = true } }\n',
        "plugins/teller.lua": GUARD,
    })
    deployed(pg, "wereld-a", folder)
    wait_page(w.d, HOST, '"ready":true', "/teller")
    m = w.browser[M]
    start = store_counts(w)

    # Through a page: the reason is shown, what was typed stays, nothing is stored.
    before = counts(w)
    st, _, body = send(m, f"/tafels/{w.P}/bijdragen", {"body": "Dit is verboden taal"})
    assert st == 422, (st, body[:500])
    assert "Dat woord mag hier niet" in body and 'role="alert"' in body
    assert ">Dit is verboden taal</textarea>" in body
    st, _, body = send(m, f"/groepen/{w.groups['Ppub']}/bijdragen", {"body": "ook verboden"})
    assert st == 422 and "Dat woord mag hier niet" in body
    st, _, body = send(m, f"/bijdragen/{w.contrib['P']}/reactie", {"body": "verboden reactie"})
    assert st == 422 and "Dat woord mag hier niet" in body
    assert counts(w) == before
    assert one(pg, "SELECT count(*) FROM contributions WHERE tenant_id = %s AND body LIKE '%%verboden%%'",
               w.tenant_id) == 0

    # Through the API: 422 "refused" with the reason.
    st, _, answer = w.api[M].post(f"/tables/{w.P}/contributions", {"body": "via de API verboden"})
    assert st == 422 and answer["error"]["code"] == "refused", answer
    assert answer["error"]["message"] == "Dat woord mag hier niet"
    assert counts(w) == before and store_counts(w) == start

    # Allowed ones are stored and counted, from pages and the API alike.
    st, _, _ = send(m, f"/tafels/{w.P}/bijdragen", {"body": "Dit mag wel"})
    assert st == 303
    st, _, answer = w.api[M].post(f"/tables/{w.P}/contributions", {"body": "Dit mag ook"})
    assert st == 201, answer
    st, _, _ = send(w.browser[F], "/tafels/nieuw", {"title": "Geteld", "question": "Telt dit?", "visibility": "public"})
    assert st == 303
    now = store_counts(w)
    assert now.get("contributions", 0) == start.get("contributions", 0) + 2, (start, now)
    assert now.get("tables", 0) == start.get("tables", 0) + 1, (start, now)
    st, _, body = get(w, G, "/teller")
    assert '"contributions":%d' % now["contributions"] in body.replace(" ", "")

    # A hook that fails rolls the whole operation back.
    before = counts(w)
    st, _, body = send(m, f"/tafels/{w.P}/bijdragen", {"body": "Dit laat de hook ontploffen"})
    assert st == 500, (st, body[:300])
    st, _, answer = w.api[M].post(f"/tables/{w.P}/contributions", {"body": "API laat ontploffen"}, check=False)
    assert st == 500 and answer["error"]["code"] == "internal", answer
    assert "ontploffen" not in str(answer)                                 # no Lua detail
    assert counts(w) == before and store_counts(w) == now
    assert one(pg, "SELECT count(*) FROM contributions WHERE tenant_id = %s AND body LIKE '%%ontploffen%%'",
               w.tenant_id) == 0
    # And the site still works.
    assert get(w, G, f"/tafels/{w.P}")[0] == 200


def test_long_conversations_go_on_over_pages(w, pg):
    # More than one page (100) of contributions, at a table and in a
    # group: a link leads on to the rest.
    fac = w.api[F]
    tid = w.ok(fac.post("/tables", {"title": "Lange tafel", "question": "Wat is ervoor nodig?", "visibility": "public"}), 201)["id"]
    gid = w.ok(fac.post(f"/tables/{tid}/groups", {"name": "Lange groep", "visibility": "public"}), 201)["id"]
    author = one(pg, "SELECT id FROM accounts WHERE tenant_id = %s AND email = 'gespreks@example.nl'", w.tenant_id)
    for group in (None, gid):
        q(pg, "INSERT INTO contributions (tenant_id, table_id, group_id, author_id, body, body_html)"
              " SELECT %s, %s, %s, %s, 'Bijdrage nr' || i || '.', '<p>Bijdrage nr' || i || '.</p>'"
              " FROM generate_series(1, 101) i", w.tenant_id, tid, group, author)
    for path in (f"/tafels/{tid}", f"/groepen/{gid}"):
        st, _, body = get(w, G, path)
        assert st == 200 and "Bijdrage nr100." in body and "Bijdrage nr101." not in body, path
        more = re.search(r'href="(' + re.escape(path) + r'\?na=[A-Za-z0-9_-]+)"', body)
        assert more, path
        st, _, body = get(w, G, more.group(1))
        assert st == 200 and "Bijdrage nr101." in body and "Bijdrage nr100." not in body, path


def test_no_other_errors_in_the_log(w):
    """The only errors the pages caused are the two the failing hook made."""
    lines = [line for line in w.d.log().splitlines() if re.search(r"\berror request=", line)]
    assert len(lines) == 2 and all("ontploffen" in line for line in lines), "\n".join(lines)
