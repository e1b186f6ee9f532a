"""A municipality's admin uploads a bundle as a .tar.gz or a .zip (POST /bundle): it
is read with every limit of a bundle held while it is inflated, checked as
`aantafel check` does, and stored as the next version, current on every
daemon, with the admin's name as who published it. A bundle with a Lua
syntax error (the report names file and line), a symbolic or hard link, a
device, a 100 MB file, 10,000 files, a '..' path or an absolute path is
refused with the reason, and nothing changes. A facilitator and a member
get 403, a guest 401; a session without its CSRF token is refused. An
upload as a draft (draft=1) is stored but not current: the site does not
change until the admin publishes it (POST /bundle/rollback). Another
municipality's version does not move."""
import gzip
import io
import struct
import tarfile
import warnings
import zipfile

from api_client import Api
from bundle_util import deployed, wait_page, write_bundle
from harness import aantafel
from test_signin import SMALL, Browser
from world import PASSWORD, make_user, token_for

HOST, SLUG = "upload.test", "upl-a"
OTHER, OTHER_SLUG = "upload-b.test", "upl-b"
PAGE_HOST, PAGE_SLUG = "upload-c.test", "upl-c"


def welcome_lua(text):
    return 'return { plugins = { site = { welcome = "%s" } } }\n' % text


def targz(entries, top=None):
    """A .tar.gz of ENTRIES: {name: bytes or str} for files, or a
    tarfile.TarInfo (with its data, or None) for anything else; TOP puts
    every file under one folder, as `tar czf b.tgz folder` does."""
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w", format=tarfile.PAX_FORMAT) as tf:
        for name, data in entries.items():
            if isinstance(data, tuple):
                info, content = data
                tf.addfile(info, io.BytesIO(content) if content is not None else None)
                continue
            data = data.encode() if isinstance(data, str) else data
            info = tarfile.TarInfo((top + "/" if top else "") + name)
            info.size = len(data)
            tf.addfile(info, io.BytesIO(data))
    return gzip.compress(raw.getvalue(), compresslevel=6)


class Zeros(io.RawIOBase):
    """SIZE zero bytes, without holding them."""
    def __init__(self, size):
        self.left = size

    def readable(self):
        return True

    def readinto(self, b):
        n = min(len(b), self.left)
        b[:n] = bytes(n)
        self.left -= n
        return n


def big_file_targz(size):
    raw = io.BytesIO()
    with gzip.GzipFile(fileobj=raw, mode="wb", compresslevel=1) as gz:
        with tarfile.open(fileobj=gz, mode="w", format=tarfile.PAX_FORMAT) as tf:
            tf.addfile(tarfile.TarInfo("tenant.lua"), io.BytesIO(b""))
            info = tarfile.TarInfo("static/groot.bin")
            info.size = size
            tf.addfile(info, Zeros(size))
    return raw.getvalue()


def special(name, kind, target="tenant.lua"):
    info = tarfile.TarInfo(name)
    info.type = kind
    info.linkname = target
    return (info, None)


def current(pg, slug):
    with pg.connect("super") as c, c.cursor() as cur:
        cur.execute("SELECT bundle_version, (SELECT count(*) FROM platform.bundles b WHERE b.tenant_id = t.id)"
                    " FROM platform.tenants t WHERE slug = %s", (slug,))
        return tuple(cur.fetchone())


def upload(api, body, query="", content_type="application/gzip"):
    return api.call("POST", "/bundle" + query, raw=body, headers={"Content-Type": content_type}, check=False)


def test_bundle_upload(pg, make_daemon, tmp_path):
    for slug, name, host in ((SLUG, "Gemeente Upload", HOST), (OTHER_SLUG, "Gemeente Elders", OTHER)):
        aantafel("tenant", "create", slug, "--name", name, "--host", host, env=pg.daemon_env())
    for email, role, name in (("admin@upl.test", "admin", "Anna Beheer"), ("gl@upl.test", "facilitator", "Gert"),
                              ("lid@upl.test", "member", "Lia")):
        make_user(pg, SLUG, email, role, name)
    make_user(pg, OTHER_SLUG, "admin@elders.test", "admin", "Els")
    assert deployed(pg, SLUG, write_bundle(tmp_path / "v1", {"tenant.lua": welcome_lua("Welkom van de provider")})) == 1
    assert deployed(pg, OTHER_SLUG, write_bundle(tmp_path / "o1", {"tenant.lua": welcome_lua("Elders welkom")})) == 1
    d1 = make_daemon(None, {**pg.daemon_env(), **SMALL})
    d2 = make_daemon({"workers": "1"}, {**pg.daemon_env(), **SMALL})
    for d in (d1, d2):
        wait_page(d, HOST, "Welkom van de provider")
    tok = {who: token_for(d1, HOST, email)[0] for who, email in
           (("admin", "admin@upl.test"), ("fac", "gl@upl.test"), ("member", "lid@upl.test"))}
    admin = Api(d1, HOST, token=tok["admin"])
    # One top folder is the bundle; hidden files (macOS's ._ files, .git)
    # are left out, as `tenant deploy` leaves them out.
    good = targz({"tenant.lua": welcome_lua("Welkom van de gemeente zelf"), "._tenant.lua": b"\0\5\x16\7",
                  ".git/config": "[core]"}, top="mijnbundel")

    # Who may not: a facilitator, a member, a guest, another tenant's admin.
    for who in ("fac", "member"):
        st, _, body = upload(Api(d1, HOST, token=tok[who]), good)
        assert st == 403, (who, body)
    assert upload(Api(d1, HOST), good)[0] == 401
    other_tok = token_for(d1, OTHER, "admin@elders.test")[0]
    assert upload(Api(d1, HOST, token=other_tok), good)[0] == 401
    # A session must send its CSRF token, as for any change.
    br = Browser(d1, HOST)
    assert br.signin("admin@upl.test", PASSWORD)[0] == 303
    st, _, body = Api(d1, HOST, browser=br).call("POST", "/bundle", raw=good,
                                                 headers={"Content-Type": "application/gzip"}, check=False)
    assert st == 403 and body["error"]["code"] == "csrf", body
    assert current(pg, SLUG) == (1, 1)

    # Refused archives: the reason, and nothing changes.
    refused = {
        "syntax": (targz({"tenant.lua": "return {\n  plugins = {\n    site = { welcome = 'x' \n}\n"}), "tenant.lua"),
        "symlink": (targz({"tenant.lua": welcome_lua("x"), "static/l": special("static/l", tarfile.SYMTYPE)}),
                    "symbolic link"),
        "hardlink": (targz({"tenant.lua": welcome_lua("x"), "static/h": special("static/h", tarfile.LNKTYPE)}),
                     "hard link"),
        "fifo": (targz({"tenant.lua": welcome_lua("x"), "static/f": special("static/f", tarfile.FIFOTYPE)}), "FIFO"),
        "device": (targz({"tenant.lua": welcome_lua("x"), "static/d": special("static/d", tarfile.CHRTYPE)}),
                   "device"),
        "dotdot": (targz({"tenant.lua": welcome_lua("x"), "../buiten.lua": "x"}), "'..'"),
        # Named as the archive gives it, as a .zip's is (not half cleaned).
        "dotdot later": (targz({"tenant.lua": welcome_lua("x"), "./static/../../buiten.lua": "x"}),
                         "./static/../../buiten.lua: a path with a '..' part is not allowed"),
        "absolute": (targz({"tenant.lua": welcome_lua("x"), "/etc/passwd": "x"}), "absolute path"),
        "100MB": (big_file_targz(100 * 1024 * 1024), "larger than the 4 MiB"),
        "10000 files": (targz({**{"static/f%05d.txt" % i: "" for i in range(10000)}, "tenant.lua": ""}),
                        "files a bundle may have"),
        "duplicate": (targz({"tenant.lua": welcome_lua("x"), "./tenant.lua": welcome_lua("y")}), "given twice"),
        "not gzip": (b"this is not an archive at all", "not a .tar.gz"),
        "truncated": (good[: len(good) // 2], "not a valid .tar.gz"),
        "bad name": (targz({"tenant.lua": welcome_lua("x"), "static/a b.txt": "x"}), "only letters"),
    }
    for what, (body, reason) in refused.items():
        st, _, ans = upload(admin, body)
        assert st == 422, (what, st, ans)
        text = ans["error"]["message"] + " " + " ".join(
            "%s:%s: %s" % (p.get("file"), p.get("line"), p["message"]) for p in ans["error"].get("problems", []))
        assert reason in text, (what, ans)
    syntax = upload(admin, refused["syntax"][0])[2]["error"]["problems"]
    assert any(p.get("file") == "tenant.lua" and isinstance(p.get("line"), int) for p in syntax), syntax
    assert upload(admin, good, content_type="application/json")[0] == 415
    assert upload(admin, b"")[0] == 400
    assert current(pg, SLUG) == (1, 1)

    # A good one: the next version, current on both daemons, published by
    # the admin by name; the provider's stays "provider".
    st, _, ans = upload(admin, good)
    assert st == 201 and ans["version"] == 2 and ans["published"] is True and ans["current"] == 2, ans
    assert [(i["version"], i["published_by"], i["nfiles"]) for i in ans["items"]] == [
        (2, "Anna Beheer", 1), (1, "provider", 1)]
    for d in (d1, d2):
        page = wait_page(d, HOST, "Welkom van de gemeente zelf")
        assert "provider" not in page
    assert current(pg, SLUG) == (2, 2)

    # A draft: stored, not current; the site does not change until it is
    # published.
    draft = targz({"tenant.lua": welcome_lua("Welkom in het concept")})
    st, _, ans = upload(admin, draft, query="?draft=1")
    assert st == 201 and ans["version"] == 3 and ans["published"] is False and ans["current"] == 2, ans
    assert current(pg, SLUG) == (2, 3)
    for d in (d1, d2):
        page = wait_page(d, HOST, "Welkom van de gemeente zelf")
        assert "concept" not in page
    st, _, ans = admin.post("/bundle/rollback", {"version": 3})
    assert st == 200 and ans["current"] == 3, ans
    for d in (d1, d2):
        wait_page(d, HOST, "Welkom in het concept")

    # The other municipality is untouched.
    assert current(pg, OTHER_SLUG) == (1, 1)
    for d in (d1, d2):
        wait_page(d, OTHER, "Elders welkom")


def multipart(fields, boundary="----aantafelTestBoundary7MA4YWxk"):
    """FIELDS {name: str or (filename, bytes)} as a browser's
    multipart/form-data body; returns (content type, body)."""
    out = b""
    for name, value in fields.items():
        out += b"--" + boundary.encode() + b"\r\n"
        if isinstance(value, tuple):
            out += ('Content-Disposition: form-data; name="%s"; filename="%s"\r\n'
                    "Content-Type: application/gzip\r\n\r\n" % (name, value[0])).encode() + value[1] + b"\r\n"
        else:
            out += ('Content-Disposition: form-data; name="%s"\r\n\r\n' % name).encode() + value.encode() + b"\r\n"
    out += b"--" + boundary.encode() + b"--\r\n"
    return "multipart/form-data; boundary=" + boundary, out


def post_form(d, browser, path, fields):
    from harness import make_request, parse_response
    ct, body = multipart(fields)
    headers = {"Connection": "close", "Content-Type": ct,
               "Cookie": "; ".join(f"{k}={v}" for k, v in browser.jar.items())}
    st, hdr, out = parse_response(d.raw(make_request("POST", path, PAGE_HOST, headers, body)))
    return st, hdr, out.decode("utf-8", "replace")


def test_bundle_upload_from_the_page(pg, make_daemon, tmp_path):
    aantafel("tenant", "create", PAGE_SLUG, "--name", "Gemeente Upload", "--host", PAGE_HOST, env=pg.daemon_env())
    make_user(pg, PAGE_SLUG, "admin@upl-page.test", "admin", "Anna Beheer")
    make_user(pg, PAGE_SLUG, "gl@upl-page.test", "facilitator", "Gert")
    assert deployed(pg, PAGE_SLUG, write_bundle(tmp_path / "v1", {"tenant.lua": welcome_lua("Welkom van de provider")})) == 1
    d = make_daemon(None, {**pg.daemon_env(), **SMALL})
    wait_page(d, PAGE_HOST, "Welkom van de provider")
    admin = Browser(d, PAGE_HOST)
    assert admin.signin("admin@upl-page.test", PASSWORD)[0] == 303
    st, _, page, _ = admin.go("GET", "/beheer/bundel")
    assert st == 200 and 'enctype="multipart/form-data"' in page and 'name="bundle"' in page, page
    good = targz({"tenant.lua": welcome_lua("Welkom via het formulier")})

    # Without the CSRF token, or as a facilitator: refused, nothing stored.
    assert post_form(d, admin, "/beheer/bundel/uploaden", {"bundle": ("b.tar.gz", good)})[0] == 403
    assert post_form(d, admin, "/beheer/bundel/uploaden",
                     {"csrf": "x" * 43, "bundle": ("b.tar.gz", good)})[0] == 403
    fac = Browser(d, PAGE_HOST)
    assert fac.signin("gl@upl-page.test", PASSWORD)[0] == 303
    assert post_form(d, fac, "/beheer/bundel/uploaden",
                     {"csrf": fac.jar["at_csrf"], "bundle": ("b.tar.gz", good)})[0] == 403
    assert current(pg, PAGE_SLUG) == (1, 1)

    # A bundle with a syntax error: the page shows the report with file and
    # line, escaped; nothing changes.
    bad = targz({"tenant.lua": "return {\n  plugins = { site = { welcome = '<b>x</b>' }\n"})
    st, _, page = post_form(d, admin, "/beheer/bundel/uploaden", {"csrf": admin.jar["at_csrf"],
                                                                  "bundle": ("kapot.tar.gz", bad)})
    assert st == 422 and "<code>tenant.lua:" in page and "De bundel is niet geplaatst" in page, page
    assert "<b>x</b>" not in page
    st, _, page = post_form(d, admin, "/beheer/bundel/uploaden", {"csrf": admin.jar["at_csrf"]})
    assert st == 422 and "De bundel is niet geplaatst" in page
    assert current(pg, PAGE_SLUG) == (1, 1)

    # A draft: stored, the site unchanged; published from the page.
    st, hdr, _ = post_form(d, admin, "/beheer/bundel/uploaden", {"csrf": admin.jar["at_csrf"], "draft": "1",
                                                                 "bundle": ("b.tar.gz", good)})
    assert st == 303 and hdr["location"] == "/beheer/bundel?draft=2", hdr
    assert current(pg, PAGE_SLUG) == (1, 2)
    st, _, page, _ = admin.go("GET", "/beheer/bundel?draft=2")
    assert "Versie 2 publiceren" in page and "Anna Beheer" in page and "hostingpartij" in page, page
    wait_page(d, PAGE_HOST, "Welkom van de provider")
    st, hdr, _, _ = admin.go("POST", "/beheer/bundel/terugzetten", {"csrf": admin.jar["at_csrf"], "version": "2"})
    assert st == 303 and current(pg, PAGE_SLUG) == (2, 2)
    wait_page(d, PAGE_HOST, "Welkom via het formulier")
    # Straight to current.
    again = targz({"tenant.lua": welcome_lua("Derde versie")})
    st, hdr, _ = post_form(d, admin, "/beheer/bundel/uploaden", {"csrf": admin.jar["at_csrf"],
                                                                 "bundle": ("c.tar.gz", again)})
    assert st == 303 and hdr["location"] == "/beheer/bundel?uploaded=3", hdr
    wait_page(d, PAGE_HOST, "Derde versie")


ZIP_HOST, ZIP_SLUG = "upload-zip.test", "upl-zip"


def zipped(entries, top=None, method=zipfile.ZIP_DEFLATED):
    """A .zip of ENTRIES: {name: bytes or str} for files, or a ZipInfo
    (with its data) for anything else; TOP puts every file under one
    folder, as zipping a folder in a file manager does."""
    raw = io.BytesIO()
    with zipfile.ZipFile(raw, "w", method) as zf:
        for name, data in entries.items():
            if isinstance(data, tuple):
                zf.writestr(data[0], data[1])
                continue
            zf.writestr((top + "/" if top else "") + name, data)
    return raw.getvalue()


def zip_special(name, mode, data=b"tenant.lua"):
    info = zipfile.ZipInfo(name)
    info.create_system = 3          # Unix: the mode is in the high 16 bits
    info.external_attr = mode << 16
    return (info, data)


def test_bundle_upload_zip(pg, make_daemon, tmp_path):
    """A .zip of the bundle folder (told from a .tar.gz by its content,
    whatever its type says) becomes current; the limits of a .tar.gz hold
    for it, and a zip bomb (far more out than in, or a header that says
    fewer bytes than the entry holds) is refused with the reason."""
    aantafel("tenant", "create", ZIP_SLUG, "--name", "Gemeente Zip", "--host", ZIP_HOST, env=pg.daemon_env())
    make_user(pg, ZIP_SLUG, "admin@zip.test", "admin", "Anna Beheer")
    make_user(pg, ZIP_SLUG, "gl@zip.test", "facilitator", "Gert")
    assert deployed(pg, ZIP_SLUG, write_bundle(tmp_path / "v1", {"tenant.lua": welcome_lua("Welkom van de provider")})) == 1
    d = make_daemon(None, {**pg.daemon_env(), **SMALL})
    wait_page(d, ZIP_HOST, "Welkom van de provider")
    admin = Api(d, ZIP_HOST, token=token_for(d, ZIP_HOST, "admin@zip.test")[0])
    fac = Api(d, ZIP_HOST, token=token_for(d, ZIP_HOST, "gl@zip.test")[0])
    # As macOS's Finder zips a folder: the folder's entry, its files and
    # the __MACOSX/._ files beside them.
    good = zipped({"mijnbundel/": "", "mijnbundel/tenant.lua": welcome_lua("Welkom uit een zip"),
                   "mijnbundel/static/stijl.css": "body { color: #123; }\n",
                   "__MACOSX/mijnbundel/._tenant.lua": b"\0\5\x16\7"})
    assert upload(fac, good, content_type="application/zip")[0] == 403
    assert current(pg, ZIP_SLUG) == (1, 1)

    # The size a header declares, and what the entry holds: a stored
    # tenant.lua whose headers say 4 bytes where it holds 30.
    lies = bytearray(zipped({"tenant.lua": welcome_lua("x")}, method=zipfile.ZIP_STORED))
    for sig, off in ((b"PK\3\4", 18), (b"PK\1\2", 20)):
        i = lies.find(sig)
        struct.pack_into("<II", lies, i + off, 4, 4)
    hundred_mb = io.BytesIO()
    with zipfile.ZipFile(hundred_mb, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("tenant.lua", "")
        with zf.open("static/groot.bin", "w", force_zip64=True) as f:
            for _ in range(100):
                f.write(bytes(1024 * 1024))
    refused = {
        "symlink": (zipped({"tenant.lua": welcome_lua("x"), "l": zip_special("static/l", 0o120777)}),
                    "symbolic link"),
        "fifo": (zipped({"tenant.lua": welcome_lua("x"), "f": zip_special("static/f", 0o010644, b"")}), "FIFO"),
        "device": (zipped({"tenant.lua": welcome_lua("x"), "d": zip_special("static/d", 0o020644, b"")}),
                   "device"),
        "dotdot": (zipped({"tenant.lua": welcome_lua("x"), "../buiten.lua": "x"}), "'..'"),
        "dotdot later": (zipped({"tenant.lua": welcome_lua("x"), "./static/../../buiten.lua": "x"}),
                         "./static/../../buiten.lua: a path with a '..' part is not allowed"),
        "absolute": (zipped({"tenant.lua": welcome_lua("x"), "/etc/passwd": "x"}), "absolute path"),
        "10000 files": (zipped({**{"%04d" % i: "" for i in range(10000)}, "tenant.lua": ""},
                               method=zipfile.ZIP_STORED), "files a bundle may have"),
        "100MB": (hundred_mb.getvalue(), "larger than the 4 MiB"),
        "bomb": (zipped({"tenant.lua": welcome_lua("x"), "static/nul.bin": bytes(3 * 1024 * 1024)}),
                 "zip bomb"),
        "size lies": (bytes(lies), "tenant.lua: damaged"),
        "syntax": (zipped({"tenant.lua": "return {\n  plugins = {\n"}), "tenant.lua"),
        "not zip": (b"PK\3\4 and then nothing a zip has" + bytes(40), "not a valid .zip"),
    }
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")     # zipfile warns of the duplicate name it writes
        refused["duplicate"] = (zipped({"a": ("tenant.lua", welcome_lua("x")), "b": ("tenant.lua", welcome_lua("y"))}),
                                "given twice")
    for what, (body, reason) in refused.items():
        st, _, ans = upload(admin, body, content_type="application/zip")
        assert st == 422, (what, st, ans)
        text = ans["error"]["message"] + " " + " ".join(
            "%s:%s: %s" % (p.get("file"), p.get("line"), p["message"]) for p in ans["error"].get("problems", []))
        assert reason in text, (what, ans)
    assert current(pg, ZIP_SLUG) == (1, 1)
    wait_page(d, ZIP_HOST, "Welkom van de provider")

    # The good one, sent as application/gzip: told apart by content.
    st, _, ans = upload(admin, good)
    assert st == 201 and ans["version"] == 2 and ans["current"] == 2 and ans["items"][0]["nfiles"] == 2, ans
    assert current(pg, ZIP_SLUG) == (2, 2)
    wait_page(d, ZIP_HOST, "Welkom uit een zip")


QUOTA_HOST, QUOTA_SLUG = "upload-quota.test", "upl-quota"


def test_bundle_upload_quota(pg, make_daemon, tmp_path):
    """The provider's bundle quota (`aantafel tenant quota --bundles`, bytes
    of all stored versions): an upload that would go over it is 413 with the
    numbers, from the API and from the page, and nothing is stored; the
    newest version sent again stores nothing and passes; a larger quota
    lets the upload in."""
    aantafel("tenant", "create", QUOTA_SLUG, "--name", "Gemeente Vol", "--host", QUOTA_HOST, env=pg.daemon_env())
    make_user(pg, QUOTA_SLUG, "admin@vol.test", "admin", "Anna Beheer")
    v1 = {"tenant.lua": welcome_lua("Welkom van de provider"), "static/ruimte.txt": "x" * 6000}
    assert deployed(pg, QUOTA_SLUG, write_bundle(tmp_path / "v1", v1)) == 1
    with pg.connect("super") as c, c.cursor() as cur:
        cur.execute("SELECT b.total_bytes FROM platform.bundles b JOIN platform.tenants t ON t.id = b.tenant_id"
                    " WHERE t.slug = %s", (QUOTA_SLUG,))
        used = cur.fetchone()[0]
    # The provider's command sets it, and shows it with what is used.
    out = aantafel("tenant", "quota", QUOTA_SLUG, "--bundles", str(used + 5000), env=pg.daemon_env()).stdout
    assert "bundles" in out and "(%d of %d bytes)" % (used, used + 5000) in out, out
    assert "(0 of 10485760 bytes)" in out, out                  # the store: untouched, its default
    p = aantafel("tenant", "quota", QUOTA_SLUG, "--bundles", "veel", env=pg.daemon_env(), check=False)
    assert p.returncode == 2 and "not a size" in p.stderr, p.stderr
    d = make_daemon(None, {**pg.daemon_env(), **SMALL})
    wait_page(d, QUOTA_HOST, "Welkom van de provider")
    admin = Api(d, QUOTA_HOST, token=token_for(d, QUOTA_HOST, "admin@vol.test")[0])
    big = {"tenant.lua": welcome_lua("Te groot"), "static/ruimte.txt": "y" * 6000}
    size = len(big["tenant.lua"]) + 6000
    for body in (targz(big), zipped(big)):
        st, _, ans = upload(admin, body)
        assert st == 413 and ans["error"]["code"] == "over_quota", ans
        assert (ans["error"]["quota"], ans["error"]["used"], ans["error"]["size"]) == (used + 5000, used, size), ans
        assert str(used + 5000) in ans["error"]["message"], ans
    assert current(pg, QUOTA_SLUG) == (1, 1)
    # From the page: the same refusal, in Dutch, nothing stored.
    br = Browser(d, QUOTA_HOST)
    assert br.signin("admin@vol.test", PASSWORD)[0] == 303
    ct, form = multipart({"csrf": br.jar["at_csrf"], "bundle": ("b.tar.gz", targz(big))})
    from harness import make_request, parse_response
    headers = {"Connection": "close", "Content-Type": ct,
               "Cookie": "; ".join(f"{k}={v}" for k, v in br.jar.items())}
    st, _, page = parse_response(d.raw(make_request("POST", "/beheer/bundel/uploaden", QUOTA_HOST, headers, form)))
    assert st == 413 and "Vraag de hostingpartij om meer ruimte" in page.decode(), page
    assert current(pg, QUOTA_SLUG) == (1, 1)
    # A small one fits; the newest sent again stores nothing, even when full.
    small = {"tenant.lua": welcome_lua("Klein")}
    st, _, ans = upload(admin, targz(small))
    assert st == 201 and ans["version"] == 2, ans
    aantafel("tenant", "quota", QUOTA_SLUG, "--bundles", "0", env=pg.daemon_env())
    st, _, ans = upload(admin, zipped(small))
    assert st == 201 and ans["version"] == 2, ans
    aantafel("tenant", "quota", QUOTA_SLUG, "--bundles", "256MiB", env=pg.daemon_env())
    st, _, ans = upload(admin, targz(big))
    assert st == 201 and ans["version"] == 3 and ans["current"] == 3, ans
    wait_page(d, QUOTA_HOST, "Te groot")


SLOW_HOST, SLOW_SLUG = "upload-slow.test", "upl-slow"


def slow_bundle():
    """A bundle whose check takes a while: a tenant.lua that loops until
    the check's instruction limit stops it (and refuses the bundle, so
    that the test's tenant keeps its version), beside 28 MiB of Lua in
    seven plugin files of 4 MiB."""
    files = {"tenant.lua": "local n = 0 for i = 1, 1e15 do n = n + i end\n" + welcome_lua("Traag")}
    line = "local x%d = { a = 1, b = 'tekst', c = { 1, 2, 3 } }\n"
    body = "".join(line % (i % 150) for i in range(4 * 1024 * 1024 // 52))
    for i in range(7):
        files["plugins/p%d.lua" % i] = "do\n" + body[: 4 * 1024 * 1024 - 64] + "end\nreturn {}\n"
    return zipped(files)


def test_bundle_check_off_the_loop(pg, make_daemon, tmp_path):
    """The archive is read and checked on the bundle queue's thread, not on
    the worker that took the upload: with one worker, a page asked for
    after the upload was sent is answered before the upload's answer."""
    import select
    from harness import make_request, parse_response, read_until_close
    aantafel("tenant", "create", SLOW_SLUG, "--name", "Gemeente Traag", "--host", SLOW_HOST, env=pg.daemon_env())
    make_user(pg, SLOW_SLUG, "admin@traag.test", "admin", "Anna Beheer")
    assert deployed(pg, SLOW_SLUG, write_bundle(tmp_path / "v1", {"tenant.lua": welcome_lua("Welkom traag")})) == 1
    d = make_daemon({"workers": "1", "max_body_size": "8MiB"}, {**pg.daemon_env(), **SMALL})
    wait_page(d, SLOW_HOST, "Welkom traag")
    tok = token_for(d, SLOW_HOST, "admin@traag.test")[0]
    body = slow_bundle()
    up = d.connect(timeout=120)
    up.sendall(make_request("POST", "/api/v1/bundle", SLOW_HOST,
                            {"Authorization": "Bearer " + tok, "Content-Type": "application/zip",
                             "Connection": "close"}, body))
    st, _, page = d.get("/", host=SLOW_HOST, timeout=60)
    assert st == 200 and b"Welkom traag" in page
    ready, _, _ = select.select([up], [], [], 0)
    assert not ready, "the upload was answered before the page"
    st, _, ans = parse_response(read_until_close(up, 120))
    up.close()
    assert st == 422 and b"instruction limit" in ans, (st, ans)
    assert current(pg, SLOW_SLUG) == (1, 1)
