"""The report's page (GET /tafels/ID/verslag, plugins/methode): a whole
HTML document that a facilitator prints or saves, made from the same
document as the PDF (GET /tafels/ID/verslag.pdf).

* Every line of every section of the PDF (pdftotext) is on the page too,
  for each reader (the facilitator, the client, a guest), in Dutch and in
  English: the two never disagree on what the report says.
* The page is a document of its own: its title names the report, the
  table and the municipality; it carries the municipality's name for
  print and its colours (theme.css); the print styles leave the site's
  navigation out and start each section on a new page.
* Guests get the report as a shared page: kept until the table changes,
  a change seen at once, nothing of a signed-in reader's page."""
import datetime
import html
import os
import re
import subprocess

import pytest

from harness import make_request, parse_response, wait_for
from test_signin import SMALL
from bundle_util import deployed, write_bundle
from test_step_pages import HOST, SLUG, W, through


@pytest.fixture(scope="module")
def w(pg, make_daemon_module, tmp_path_factory):
    d = make_daemon_module({"workers": "2"}, {**pg.daemon_env(), **SMALL})
    tmp = tmp_path_factory.mktemp("reportpage")
    world = W(d, pg, tmp)
    # The municipality's colours, deployed over W's bundle.
    deployed(pg, SLUG, write_bundle(tmp / "kleur", {"tenant.lua": (
        "return { workflow = 'volledig', plugins = { methode = {} }, theme = { primary = '#8a1538' } }")}))
    wait_for(lambda: b"#8a1538" in d.get("/theme.css", host=HOST)[2], what="the new theme")
    return world


@pytest.fixture(scope="module")
def table(w):
    """A public table taken through the method, with a closed decision
    (the room's votes, the minority's points, one added and one not, the
    final text) and a published report."""
    tid = w.table("public")
    through(w, tid)
    fac = w.api["fac"]
    st, _, d = fac.post(f"/tables/{tid}/decisions", {"title": "Bankjes op het plein",
                                                     "proposal": "We zetten vier bankjes neer."})
    assert st == 201, d
    did = d["id"]
    assert fac.put(f"/decisions/{did}/room", {"counts": {"for": 3, "against": 1}})[0] == 200
    assert fac.post(f"/decisions/{did}/close")[0] == 200
    for body in ("Eén bankje in de schaduw", "Geen bankjes bij de speeltuin"):
        st, _, d = fac.post(f"/decisions/{did}/points", {"body": body, "for_room": True})
        assert st == 201, d
    assert fac.post(f"/decisions/{did}/points/{d['points'][0]['id']}", {"added": True})[0] == 200
    assert fac.post(f"/decisions/{did}/points/{d['points'][1]['id']}",
                    {"added": False, "reason": "De speeltuin heeft er al twee"})[0] == 200
    assert fac.put(f"/decisions/{did}/final", {"final_text": "Vier bankjes, één in de schaduw."})[0] == 200
    st, _, d = fac.post(f"/tables/{tid}/decisions", {"title": "Samen gedragen", "proposal": "Een boom per straat."})
    assert st == 201, d
    assert fac.post(f"/decisions/{d['id']}/collective", {"outcome": "Eén boom per straat, *samen* geplant."})[0] == 200
    # A meeting held, its attendance recorded (once it has begun): the
    # names for the facilitator and the client, the count for all.
    now = datetime.datetime.now(datetime.timezone.utc)
    st, _, m = fac.post(f"/tables/{tid}/meetings", {
        "title": "Avond op het plein", "place": "Buurthuis", "step": "gesprek",
        "starts_at": (now + datetime.timedelta(seconds=2)).isoformat(timespec="seconds"),
        "ends_at": (now + datetime.timedelta(hours=2)).isoformat(timespec="seconds")})
    assert st == 201, m
    assert w.api["member"].put(f"/meetings/{m['id']}/registration")[0] in (200, 201)
    reg = fac.get(f"/meetings/{m['id']}/registrations")[2]["items"][0]["id"]
    wait_for(lambda: fac.put(f"/meetings/{m['id']}/attendance", {
        "attended": [{"registration_id": reg, "attended": True}], "walk_ins": 2}, check=False)[0] == 200,
        what="the meeting begun")
    w.record("fac", tid, "verslag", "report", summary="Wat we *samen* vonden, met twintig mensen.",
             published_on="2026-06-01")
    return tid


def fetch(w, who, path, lang="nl"):
    """(status, headers, bytes) of a GET as WHO's browser, in LANG."""
    jar = dict(w.b[who].jar)
    hs = {"Connection": "close", "Accept-Language": lang}
    if lang == "en":
        jar["at_lang"] = "en"
    if jar:
        hs["Cookie"] = "; ".join(f"{k}={v}" for k, v in jar.items())
    return parse_response(w.d.raw(make_request("GET", path, HOST, hs), timeout=60))


def pdf_lines(data, tmp_path, labels):
    """The lines of the PDF's sections: its pages after the cover and the
    contents, without the running head and the page numbers."""
    path = tmp_path / "verslag.pdf"
    path.write_bytes(data)
    r = subprocess.run(["pdftotext", "-enc", "UTF-8", str(path), "-"], capture_output=True, timeout=120)
    assert r.returncode == 0, r.stderr
    pages = r.stdout.decode().split("\f")
    start = next(i for i, p in enumerate(pages) if labels["contents"] in p.split("\n")) + 1
    out = []
    for p in pages[start:]:
        for line in p.split("\n"):
            line = line.strip()
            if not line or re.fullmatch(r"\d+ ?/ ?\d+", line) or line in labels["running"]:
                continue
            out.append(line)
    return out


MARKS = "•✓–“◆"


def norm(s):
    """Text as both renderers may write it: typography and spacing aside."""
    s = s.replace("\u00ad", "").replace("\u00a0", " ").replace("\u202f", " ")
    for a, b in (("–", "-"), ("—", "-"), ("“", '"'), ("”", '"'), ("‘", "'"), ("’", "'"), ("…", "...")):
        s = s.replace(a, b)
    return " ".join(s.split())


def page_text(body):
    main = body.split('<main', 1)[1].split("</main>", 1)[0]
    main = main.split(">", 1)[1]
    # Inline markup and comments join their text; blocks separate it.
    main = re.sub(r"<!--.*?-->|</?(?:em|strong|a|span|code|abbr)\b[^>]*>", "", main, flags=re.S)
    main = re.sub(r"<[^>]+>", " ", main)
    return norm(html.unescape(main))


@pytest.mark.parametrize("who,lang", [("fac", "nl"), ("client", "nl"), ("guest", "nl"), ("fac", "en")])
def test_every_line_of_the_pdf_is_on_the_page(w, table, tmp_path, who, lang):
    st, _, data = fetch(w, who, f"/tafels/{table}/verslag.pdf", lang)
    assert st == 200 and data.startswith(b"%PDF-"), data[:200]
    st, _, body = fetch(w, who, f"/tafels/{table}/verslag", lang)
    assert st == 200
    body = body.decode()
    text = page_text(body)
    labels = {"contents": "Inhoud" if lang == "nl" else "Contents",
              "running": {"Gemeente Stappen", "Groen public"}}
    lines = pdf_lines(data, tmp_path, labels)
    assert len(lines) > 20, lines
    # In the PDF's order: each line is looked for after the one before.
    missing, at = [], 0
    for line in lines:
        n = norm(line.lstrip(MARKS).strip()) if line[:1] in MARKS else norm(line)
        if not n:
            continue
        found = text.find(n, at)
        if found < 0:
            missing.append((line, "not on the page" if n not in text else "out of order"))
        else:
            at = found + len(n)
    assert not missing, (missing, text)
    # The meetings' section, with the names only for who reads them.
    assert "Avond op het plein" in text and ("Aanwezig: 3" in text or "Present: 3" in text)
    assert ("Lies" in text) == (who in ("fac", "client")), who


def test_a_document_of_its_own_for_print(w, table):
    st, hdr, body = fetch(w, "fac", f"/tafels/{table}/verslag")
    body = body.decode()
    assert st == 200 and hdr["content-type"] == "text/html; charset=utf-8"
    assert body.startswith("<!doctype html>\n<html lang=\"nl\">") and body.rstrip().endswith("</html>")
    assert "<title>Verslag – Groen public – Gemeente Stappen</title>" in body
    assert body.count("<h1>") == 1 and "<h1>Groen public</h1>" in body
    # The cover: the municipality, what it is, the table and its question.
    cover = body.split('<div class="report-cover">', 1)[1].split("</div>", 1)[0]
    for text in ("Gemeente Stappen", "Verslag", "Groen public", "Wat is ervoor nodig zodat de buurt groener wordt?",
                 "Gepubliceerd op 1 juni 2026"):
        assert text in cover, text
    # Every section is one that print starts on a new page.
    assert body.count("<section ") == body.count('class="report-section"') == 9, body
    # Its styles: the site's, the municipality's colours, and the report's
    # print styles, all from this site.
    links = re.findall(r'<link rel="stylesheet" href="([^"]+)">', body)
    assert links == ["/static/vendor/utrecht/index.css", "/static/site.css", "/theme.css", "/static/report.css"]
    st, hdr, theme = fetch(w, "guest", "/theme.css")
    assert st == 200 and hdr["content-type"].startswith("text/css") and b"--at-primary: #8a1538;" in theme
    with open(os.path.join(os.environ.get("AANTAFEL_SOURCE_DIR", "."), "static", "report.css")) as f:
        css = f.read()
    printed = css.split("@media print", 1)[1]
    hidden = re.search(r"\n\s*([^{}]+)\{\s*display:\s*none;\s*\}", printed).group(1)
    for sel in (".site-header", ".site-footer", ".breadcrumb", ".skip", ".print-hint", ".lang-switch"):
        assert sel in hidden, sel
    assert re.search(r"\.report-section\s*\{[^}]*break-before:\s*page", printed)
    assert "var(--at-primary)" in printed
    # The navigation print leaves out is all outside the report's own
    # parts (header, footer, the breadcrumb and the hint in main).
    main = body.split("<main", 1)[1].split("</main>", 1)[0]
    assert main.count("<nav ") == 1 and 'class="breadcrumb"' in main


def test_guests_get_the_report_as_a_shared_page(w, table, pg):
    path = f"/tafels/{table}/verslag"
    token = "r" * 43

    def guest():
        st, _, body = parse_response(w.d.raw(make_request("GET", path, HOST, {
            "Connection": "close", "Cookie": f"at_csrf={token}"})))
        return st, body.decode()
    # The facilitator reads first: the advice and the players are theirs.
    st, _, mine = fetch(w, "fac", path)
    assert st == 200 and b"Begin klein" in mine and b"Anna" in mine
    st, first = guest()
    assert st == 200 and "Wat we" in first
    assert "Begin klein" not in first and "Anna" not in first and "Uitloggen" not in first
    # A change to the table's records is in the guests' page at once.
    rid = w.api["fac"].get(f"/tables/{table}/records?kind=report")[2]["items"][-1]["id"]
    assert w.api["fac"].patch(f"/records/{rid}", {"fields": {"summary": "Wat we samen vonden, opnieuw bekeken."}})[0] == 200
    st, body = guest()
    assert st == 200 and "opnieuw bekeken" in body and "Begin klein" not in body
    # Kept: given with the database away (each of the daemon's two workers
    # keeps its own, so ask until both have it: the kernel spreads the
    # connections by a hash, four of them could all reach one worker).
    for _ in range(40):
        assert guest() == (st, body)
    pg.stop()
    try:
        for _ in range(4):
            assert guest() == (st, body)
    finally:
        pg.start()
    wait_for(lambda: w.api["guest"].get("/tables")[0] == 200, what="the database back")
