"""The report as a PDF (GET /tafels/ID/verslag.pdf, plugins/methode),
rendered by the daemon on its PDF threads from the same document as the
report's page, driven through the method by the real API.

* The PDF is valid and A4 (pdfinfo), holds each section's content with
  the minority's wisdom (pdftotext), embeds all its fonts (pdffonts) and
  shows the bundle's logo (pdfimages); every page is drawn into the
  test's artefacts (pdftoppm) for a person to look at.
* Its address answers with a file name from the table's title; it is
  visible exactly to those who may read the report (the closed table's
  is a 404 to a resident and a guest, a public table's report without
  what is the client's, and another municipality's host finds none); its ETag stays until the table changes, and
  If-None-Match gets a 304.
* A plugin's report.sections hook reorders, drops and adds sections, in the
  page and the PDF alike.
* Hostile content (10,000 characters, a 300-character word, right-to-left
  names, emoji) and a report without anything else make a PDF; a burst
  beyond the PDF queue's room gets 503."""
import os
import shutil
import struct
import subprocess
import zlib
from concurrent.futures import ThreadPoolExecutor

import pytest

from bundle_util import deployed, write_bundle
from harness import aantafel, make_request, parse_response, wait_for
from test_signin import SMALL
from test_step_pages import PEOPLE, QUESTION, W, through

HOST, SLUG = "pdf.test", "pdfverslag"


def png(w, h, rgb):
    """A plain PNG of W x H pixels of colour RGB."""
    raw = b"".join(b"\x00" + bytes(rgb) * w for _ in range(h))

    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xffffffff)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b""))


BUNDLE = {
    "tenant.lua": """return { name = "Gemeente Verslagstad", workflow = 'volledig',
	theme = { primary = "#1f5f3a", text = "#1d1d1b" },
	plugins = { methode = {}, extra = {} } }""",
    "static/logo.png": png(120, 40, (31, 95, 58)),
    # A plugin of the municipality's own: the players first, the themes
    # dropped, a section of its own at the end (and what is no section:
    # left out).
    "plugins/extra/init.lua": """plugin.hook("report.sections", function(sections, doc)
	for i, s in ipairs(sections) do
		if s == "players" then table.remove(sections, i); table.insert(sections, 1, "players"); break end
	end
	for i, s in ipairs(sections) do
		if s == "themes" then table.remove(sections, i); break end
	end
	sections[#sections + 1] = { id = "colofon", title = "Colofon van Verslagstad",
		body = "Dit verslag is gemaakt door **de gemeente**.\\n\\n- eerste punt\\n- tweede *punt*\\n\\n"
			.. "1. een\\n2. twee\\n\\nMeer op [onze website](https://www.verslagstad.nl/tafels-2026) en <script>x</script>." }
	sections[#sections + 1] = "custom"
	sections[#sections + 1] = 42
end)""",
    "plugins/extra/translations/nl.lua": "return {}",
    "plugins/extra/translations/en.lua": "return {}",
}


class PdfWorld(W):
    def __init__(self, d, pg, tmp, host=HOST, slug=SLUG, bundle=None):
        # W's own municipality, with a theme, a logo and a plugin.
        self.d, self.host = d, host
        aantafel("tenant", "create", slug, "--name", "Gemeente Verslagstad", "--host", host, env=pg.daemon_env())
        deployed(pg, slug, write_bundle(tmp / slug, bundle or BUNDLE))
        from api_client import Api
        from test_signin import Browser
        from world import make_user, token_for
        for who, (role, name) in PEOPLE.items():
            make_user(pg, slug, f"{who}@{host}", role, name)
        wait_for(lambda: d.get("/inloggen", host=host)[0] == 200, what="sign-in page")
        self.api, self.b, self.ids = {"guest": Api(d, host)}, {"guest": Browser(d, host)}, {}
        for who in PEOPLE:
            token, b = token_for(d, host, f"{who}@{host}")
            self.api[who], self.b[who] = Api(d, host, token=token), b
            self.ids[who] = self.api[who].get("/me")[2]["id"]

    def pdf(self, who, path, headers=None):
        """(status, headers, bytes) of a GET as WHO's browser."""
        jar = self.b[who].jar
        hs = {"Connection": "close", **(headers or {})}
        if jar:
            hs["Cookie"] = "; ".join(f"{k}={v}" for k, v in jar.items())
        return parse_response(self.d.raw(make_request("GET", path, self.host, hs), timeout=60))


@pytest.fixture(scope="module")
def w(pg, make_daemon_module, tmp_path_factory):
    # One PDF thread and room for one render: a burst finds the queue full.
    d = make_daemon_module({"workers": "2", "pdf_threads": "1", "pdf_queue": "1"}, {**pg.daemon_env(), **SMALL})
    return PdfWorld(d, pg, tmp_path_factory.mktemp("reportpdf"))


def artefacts(name):
    build = os.environ.get("AANTAFEL_BUILD_DIR", os.path.join(os.getcwd(), "build-check"))
    out = os.path.join(build, "artefacts", "report_pdf", name)
    shutil.rmtree(out, ignore_errors=True)
    os.makedirs(out)
    return out


def tool(*args):
    r = subprocess.run(args, capture_output=True, timeout=120)
    assert r.returncode == 0, (args, r.stderr)
    return r.stdout.decode("utf-8", "replace")


def inspect(data, name):
    """pdfinfo, pdftotext and pdffonts of DATA; its pages drawn into the
    artefacts as NAME-N.png."""
    out = artefacts(name)
    path = os.path.join(out, name + ".pdf")
    with open(path, "wb") as f:
        f.write(data)
    info = tool("pdfinfo", path)
    text = tool("pdftotext", "-layout", path, "-")
    fonts = tool("pdffonts", path)
    tool("pdftoppm", "-r", "60", "-png", path, os.path.join(out, name))
    pages = int(info.split("Pages:")[1].split()[0])
    assert len([p for p in os.listdir(out) if p.endswith(".png")]) == pages
    return info, text, fonts, pages, path


def decided(w, pub):
    """A decision of table PUB, voted by the room, with the minority's
    round (one point added, one not), and one still open."""
    fac = w.api["fac"]
    st, _, d = fac.post(f"/tables/{pub}/decisions", {"title": "Bankjes op het plein",
                                                     "proposal": "We zetten vier bankjes neer."})
    assert st == 201, d
    did = d["id"]
    assert fac.put(f"/decisions/{did}/room", {"counts": {"for": 3, "against": 1}})[0] == 200
    assert fac.post(f"/decisions/{did}/close")[0] == 200
    for body in ("Eén bankje in de schaduw", "Geen bankjes bij de speeltuin"):
        st, _, d = fac.post(f"/decisions/{did}/points", {"body": body, "for_room": True})
        assert st == 201, d
    st, _, d = fac.post(f"/decisions/{did}/points/{d['points'][0]['id']}", {"added": True})
    assert st == 200, d
    st, _, d = fac.put(f"/decisions/{did}/final", {"final_text": "Vier bankjes, één in de schaduw."})
    assert st == 200, d
    st, _, d = fac.post(f"/tables/{pub}/decisions", {"title": "Nog open besluit", "proposal": "x"})
    assert st == 201, d


@pytest.fixture(scope="module")
def tables(w):
    pub, closed = w.table("public"), w.table("closed")
    for tid in (pub, closed):
        through(w, tid)
    decided(w, pub)
    return pub, closed


def test_no_report_no_pdf(w, tables):
    pub, closed = tables
    for tid in tables:
        for who in ("fac", "client", "resident", "guest"):
            st, _, _ = w.pdf(who, f"/tafels/{tid}/verslag.pdf")
            assert st == 404, who
    assert w.pdf("fac", "/tafels/0/verslag.pdf")[0] == 404
    assert w.pdf("fac", "/tafels/x1/verslag.pdf")[0] == 404
    assert w.pdf("fac", "/tafels/999999999999/verslag.pdf")[0] == 404


def test_the_pdf(w, tables):
    pub, closed = tables
    for tid in tables:
        w.record("fac", tid, "verslag", "report", summary="Wat we *samen* vonden: 10-12 mensen, 50 % jong.",
                 published_on="2026-06-01")
    st, hdr, data = w.pdf("fac", f"/tafels/{pub}/verslag.pdf")
    assert st == 200, data[:300]
    assert hdr["content-type"] == "application/pdf"
    assert hdr["content-disposition"] == 'inline; filename="verslag-groen-public.pdf"'
    assert data.startswith(b"%PDF-")
    info, text, fonts, pages, path = inspect(data, "facilitator")
    assert "595.276 x 841.89 pts (A4)" in info and pages >= 8, info
    assert "Title:           Groen public" in info and "Gemeente Verslagstad" in info
    # The cover, the contents, the sections in the hook's order.
    assert text.count("Gemeente Verslagstad") >= pages - 1
    assert "Inhoud" in text and QUESTION in text.replace("\n", " ")
    order = [text.index(s) for s in ("Wie deden er mee", "De centrale vraag", "Samenvatting", "Het gesprek",
                                     "Wat het opleverde", "Advies voor wat volgt", "Colofon van Verslagstad")]
    assert order == sorted(order), order
    assert "Perspectieven uit de interviews" not in text and "groen (2" not in text
    # Who was heard, the seldom heard marked; the notes (the themes, which
    # the hook dropped here, are test_pdf's).
    assert "Anna" in text and "Bram" in text and "Cor" in text and "zelden gehoord" in text
    assert "3 spelers · 2 gehoord · 1 zelden gehoord" in text
    assert "Wat is ervoor nodig zodat iedereen meedoet?" in text
    assert "Twintig mensen aan tafel." in text and "1 mei 2026" in text
    # The decision, the minority's wisdom (its raw HTML left out, as on
    # the page), the advice, the plugin's own section.
    assert "Een tuin op het plein" in text and "Wijsheid van de minderheid" in text
    assert "Met een bankje x" in text and "<script>" not in text
    assert "Begin klein" in text and "Eerst één straat." in text
    # Its Markdown rendered: bold, lists, a link's text with its address
    # (as written: no soft hyphen or dash in it), no raw HTML.
    flat = " ".join(text.split())
    assert "Dit verslag is gemaakt door de gemeente." in text and "**" not in text
    assert "• eerste punt • tweede punt 1. een 2. twee" in flat
    assert "Meer op onze website (https://www.verslagstad.nl/tafels-2026) en x." in flat
    assert "<script>" not in text and "](" not in text
    # The decisions: the majority's final text, the minority's points and
    # what was added; an open decision is not in the report.
    assert "Besluiten" in text and "Bankjes op het plein" in text and "Vier bankjes, één in de schaduw." in text
    assert "Wat eraan werd toegevoegd" in text and "Geen bankjes bij de speeltuin" in text
    assert text.index("Geen bankjes bij de speeltuin") < text.index("Wat eraan werd toegevoegd") \
        < text.rindex("Eén bankje in de schaduw")
    assert "Nog open besluit" not in text
    # Dutch typography: an en dash between numbers, the published date in
    # Dutch (the non-breaking space before a unit, which pdftotext gives
    # as a space, is test_pdf's).
    assert "10–12 mensen" in text and "10-12" not in text and "Gepubliceerd op 1 juni 2026" in text
    # Every font is embedded.
    rows = fonts.strip().split("\n")[2:]
    assert rows and all(r.split()[-5] == "yes" for r in rows), fonts
    # The logo from the bundle is on the cover.
    images = tool("pdfimages", "-list", path)
    assert len(images.strip().split("\n")) == 3 and " 120    40 " in images, images
    # The page shows the same order and the plugin's section, and links the PDF.
    st, _, page = w.get("fac", f"/tafels/{pub}/verslag")
    assert st == 200 and page.index("Wie deden er mee") < page.index("De centrale vraag")
    assert "Perspectieven uit de interviews" not in page
    assert "Colofon van Verslagstad" in page and f'href="/tafels/{pub}/verslag.pdf"' in page
    # The plugin's section's Markdown as HTML, as the PDF renders it.
    assert "door <strong>de gemeente</strong>." in page and "<li>tweede <em>punt</em></li>" in page
    assert '<a rel="nofollow ugc noopener" href="https://www.verslagstad.nl/tafels-2026">onze website</a>' in page
    assert "<script>x" not in page and "**de gemeente**" not in page
    assert "Vier bankjes, één in de schaduw." in page and "<li>Geen bankjes bij de speeltuin" in page
    assert "Nog open besluit" not in page


def test_who_may_read_it(w, tables):
    pub, closed = tables
    # A resident and a guest read the public table's PDF without what is
    # the client's (the players, the advice).
    for who in ("resident", "guest"):
        st, hdr, data = w.pdf(who, f"/tafels/{pub}/verslag.pdf")
        assert st == 200 and hdr["content-type"] == "application/pdf", who
        _, text, _, _, _ = inspect(data, who)
        assert "Een tuin op het plein" in text and "Wijsheid van de minderheid" in text, who
        assert "Anna" not in text and "Begin klein" not in text and "Twintig mensen" not in text, who
    # The closed table's is for its people only.
    for who in ("fac", "client", "member"):
        st, _, data = w.pdf(who, f"/tafels/{closed}/verslag.pdf")
        assert st == 200 and data.startswith(b"%PDF-"), who
    for who in ("resident", "guest"):
        st, hdr, data = w.pdf(who, f"/tafels/{closed}/verslag.pdf")
        assert st == 404 and not data.startswith(b"%PDF"), who
        assert "application/pdf" not in hdr.get("content-type", "")


def test_another_municipality_finds_nothing(w, tables, pg, tmp_path):
    """The same table's address on another municipality's host is a 404
    (its own tables have other ids)."""
    aantafel("tenant", "create", "pdfander", "--name", "Gemeente Ander", "--host", "ander.test", env=pg.daemon_env())
    deployed(pg, "pdfander", write_bundle(tmp_path / "ander", {
        "tenant.lua": "return { workflow = 'volledig', plugins = { methode = {} } }"}))
    wait_for(lambda: w.d.get("/inloggen", host="ander.test")[0] == 200, what="sign-in page")
    for tid in tables:
        st, hdr, data = parse_response(w.d.raw(make_request("GET", f"/tafels/{tid}/verslag.pdf", "ander.test",
                                                            {"Connection": "close"})))
        assert st == 404 and not data.startswith(b"%PDF"), tid


def test_cached_until_the_table_changes(w, tables):
    pub, _ = tables
    path = f"/tafels/{pub}/verslag.pdf"
    st, hdr, first = w.pdf("fac", path)
    etag = hdr["etag"]
    assert st == 200 and etag.startswith('"') and len(etag) == 34
    st, hdr2, again = w.pdf("fac", path)
    assert st == 200 and hdr2["etag"] == etag and again == first
    st, hdr3, body = w.pdf("fac", path, {"If-None-Match": etag})
    assert st == 304 and hdr3["etag"] == etag and body == b""
    # Another reader's document differs: so does the ETag.
    assert w.pdf("guest", path)[1]["etag"] != etag
    # The table changes: a new PDF, a new ETag, with the change in it.
    w.record("fac", pub, "verslag", "advice", title="Nog een advies voor later")
    st, hdr4, data = w.pdf("fac", path, {"If-None-Match": etag})
    assert st == 200 and hdr4["etag"] != etag
    assert "Nog een advies voor later" in inspect(data, "changed")[1]


def test_hostile_content(w):
    tid = w.table("closed")
    long_text = ("Een lange bijdrage. " * 500)[:10000]
    word = "x" * 300
    p = w.record("fac", tid, "intake", "player", name="محمد الأحمد", organisation="שרה כהן 🎉")
    w.record("fac", tid, "intake", "player", name=word[:200], seldom_heard=True)  # a name's most
    q = w.record("fac", tid, "intake", "quote", amount=1000, status="sent")
    assert w.api["client"].patch(f"/records/{q['id']}", {"fields": {"status": "accepted"}})[0] == 200
    w.record("fac", tid, "interviews", "interview", player=p["id"], perspectives="🌍, " + word)
    w.record("fac", tid, "gesprek", "note", body=long_text)
    w.record("fac", tid, "opbrengst", "outcome", decision=word, minority="🎉" * 200)
    w.record("fac", tid, "verslag", "report", summary=long_text)
    st, _, data = w.pdf("fac", f"/tafels/{tid}/verslag.pdf")
    assert st == 200, data[:300]
    info, text, fonts, pages, _ = inspect(data, "hostile")
    assert pages >= 6 and "A4" in info
    assert "Een lange bijdrage." in text and "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxx" in text
    assert "שרה" in text or "הרש" in text
    # The PDF queue holds one render: a burst of requests for a PDF not
    # made yet gets 503 beyond it (the log says why), and afterwards the
    # PDF is served.
    path = f"/tafels/{tid}/verslag.pdf"
    w.record("fac", tid, "verslag", "advice", title="Nog een advies")
    with ThreadPoolExecutor(6) as ex:
        statuses = list(ex.map(lambda _: w.pdf("fac", path)[0], range(6)))
    assert 200 in statuses and 503 in statuses, statuses
    assert "the PDF queue is full" in w.d.log()
    assert w.pdf("fac", path)[0] == 200
    # A report with nothing else: the cover, the contents, the question,
    # the summary and the plugin's section.
    empty = w.table("closed")
    w.record("fac", empty, "verslag", "report", summary="Kort.")
    st, _, data = w.pdf("fac", f"/tafels/{empty}/verslag.pdf")
    assert st == 200
    info, text, _, pages, _ = inspect(data, "empty")
    assert pages == 5 and "De centrale vraag" in text and "Kort." in text and "Wie deden er mee" not in text
    assert "Colofon van Verslagstad" in text  # the plugin's own section


def test_the_evaluation_when_done(w):
    """The evaluation with the client is the report's last section (the
    plugin's own added after it) once the evaluatie step is done, in the
    PDF and on the page alike; its records are the client's, so a guest
    and a resident reading the public report never see it."""
    tid = w.table("public")
    through(w, tid)
    w.record("fac", tid, "verslag", "report", summary="Wat we vonden.")
    w.complete(tid, "verslag")
    w.record("client", tid, "evaluatie", "evaluation", went_well="De **opkomst** was hoog.",
             learned="Vroeg beginnen met de buurt.", follows="- een tweede tafel\n- een wandeling")
    pdf_path, page_path = f"/tafels/{tid}/verslag.pdf", f"/tafels/{tid}/verslag"

    def pdf_text(who, name):
        st, _, data = w.pdf(who, pdf_path)
        assert st == 200, (who, data[:300])
        return inspect(data, name)[1]
    # Not while the step goes on.
    for who in ("fac", "client"):
        assert "De opkomst was hoog." not in pdf_text(who, "evaluation-open-" + who)
        st, _, page = w.get(who, page_path)
        assert st == 200 and "De opkomst was hoog." not in page and 'id="r-evaluatie"' not in page
    w.complete(tid, "evaluatie")
    for who in ("fac", "client"):
        text = pdf_text(who, "evaluation-" + who)
        assert "Evaluatie" in text and "Wat ging goed" in text and "De opkomst was hoog." in text, who
        assert "**" not in text and "Vroeg beginnen met de buurt." in text
        assert "Wat volgt" in text and "• een tweede tafel" in text and "• een wandeling" in text
        assert text.index("Advies voor wat volgt") < text.rindex("Evaluatie") < text.rindex("Wat ging goed") \
            < text.rindex("Colofon van Verslagstad")
        st, _, page = w.get(who, page_path)
        assert st == 200 and 'id="r-evaluatie"' in page
        assert "<strong>opkomst</strong>" in page and "<li>een wandeling</li>" in page
        assert page.index('id="r-advies"') < page.index('id="r-evaluatie"')
    for who in ("resident", "guest"):
        text = pdf_text(who, "evaluation-" + who)
        assert "Een tuin op het plein" in text, who
        assert "Evaluatie" not in text and "opkomst" not in text and "Wat ging goed" not in text, who
        st, _, page = w.get(who, page_path)
        assert st == 200 and "Een tuin op het plein" in page
        assert 'id="r-evaluatie"' not in page and "opkomst" not in page, who


def example_plugin(name):
    """The files of tenants/voorbeeld's plugin NAME (NAME.lua and NAME/)."""
    root = os.path.join(os.environ.get("AANTAFEL_SOURCE_DIR", os.getcwd()), "tenants", "voorbeeld")
    files = {}
    for base, _, names in os.walk(os.path.join(root, "plugins")):
        for n in names:
            rel = os.path.relpath(os.path.join(base, n), root)
            if rel == f"plugins/{name}.lua" or rel.startswith(f"plugins/{name}/"):
                with open(os.path.join(base, n), encoding="utf-8") as f:
                    files[rel] = f.read()
    assert f"plugins/{name}.lua" in files, files
    return files


# Hooks that fail: an error for the advice, a block of no known type for
# the players, a table too wide for the themes (each keeps its default
# layout, logged); the summary laid
# out with text that looks like markup (printed as text).
BROKEN = """plugin.hook("report.layout", function(section, doc, lang)
	if section == "advice" then error("kapotte opmaak") end
	if section == "players" then return { { type = "video", text = "x" } } end
	if section == "themes" then return { { type = "table", rows = { { 1, 2, 3, 4, 5, 6, 7, 8, 9 } } } } end
	if section == "summary" then
		return { { type = "paragraph", text = '<b>vet</b> <span foreground="red">rood</span> &amp;' },
			{ type = "list", ordered = true, items = { "een", 2 } } }
	end
end, 10)
"""


def test_a_section_with_its_own_layout(w, pg, tmp_path):
    """A bundle's report.layout hook lays out a built-in section (the
    example of tenants/voorbeeld: the decisions as one table) in the PDF
    and on the page alike; a hook that fails or answers no layout leaves
    its section's default layout, logged; its texts are text."""
    lw = PdfWorld(w.d, pg, tmp_path, host="vorm.test", slug="pdfvorm", bundle={
        "tenant.lua": """return { name = "Gemeente Vorm", workflow = 'volledig',
	plugins = { methode = {}, verslagvorm = {}, kapot = {} } }""",
        **example_plugin("verslagvorm"),
        "plugins/kapot.lua": BROKEN})
    tid = lw.table("public")
    through(lw, tid)
    decided(lw, tid)
    lw.record("fac", tid, "verslag", "report", summary="De samenvatting zelf.")
    mark = w.d.log_mark()
    st, _, data = lw.pdf("fac", f"/tafels/{tid}/verslag.pdf")
    assert st == 200, data[:300]
    _, text, _, _, _ = inspect(data, "layout")
    flat = " ".join(text.split())
    # The decisions as the bundle lays them out: its title, a table with
    # a header and a row per closed decision, the points added as quotes;
    # not the default layout.
    assert "Wat we samen besloten" in text and "Elk besluit van de tafel in één overzicht." in text
    assert "Besluit Gekozen Stemmen" in flat and "Bankjes op het plein" in text
    assert "Wat de minderheid eraan toevoegde" in text and "Eén bankje in de schaduw" in text
    assert "Wat eraan werd toegevoegd" not in text and "Geen bankjes bij de speeltuin" not in text
    assert "Nog open besluit" not in text
    # The contents name the bundle's title.
    assert text.count("Wat we samen besloten") >= 2
    # The summary's own blocks print their markup as text.
    assert '<b>vet</b> <span foreground="red">rood</span> &amp;' in text.replace("\u201c", '"').replace(
        "\u201d", '"') and "1. een" in flat and "2. 2" in flat
    assert "De samenvatting zelf." not in text
    # The failing hooks: the default layouts, and the reasons logged.
    assert "Begin klein" in text and "Eerst één straat." in text and "3 spelers" in text
    log = w.d.log_since(mark)
    assert "the report.layout of section 'advice' failed" in log and "kapotte opmaak" in log
    assert "the report.layout of section 'players' failed" in log and "no known type" in log
    assert "the report.layout of section 'themes' failed" in log and "has more than 8 entries" in log
    assert "Perspectieven uit de interviews" in text and "groen" in text
    # The page: the same blocks, escaped.
    st, _, page = lw.get("fac", f"/tafels/{tid}/verslag")
    assert st == 200
    assert "<h2>Wat we samen besloten</h2>" in page and '<th scope="col">Gekozen</th>' in page
    assert "<td>Bankjes op het plein</td>" in page and "<blockquote><p class=\"long\">Eén bankje in de schaduw" in page
    assert "Geen bankjes bij de speeltuin" not in page
    assert "&lt;b&gt;vet&lt;/b&gt;" in page and "<b>vet</b>" not in page and "<ol><li>een</li><li>2</li></ol>" in page
    assert "Begin klein" in page and 'id="r-spelers"' in page
