"""Static files under /static/ (types, ETag and 304, cache headers, a
changed file, no escape from the directory), /healthz on any host, and
the static error pages in Dutch and English."""
import os
import time

import pytest

from harness import SOURCE_DIR, make_request, wait_for

SECRET = b"SECRET-OUTSIDE-THE-STATIC-DIR\n"


def fetch(d, path, headers=None, method="GET", raw_target=False):
    with d.conn() as c:
        return c.request(method, path, headers=headers)


# ---------------------------------------------------------------- types, caching

TYPES = {
    "index.html": "text/html; charset=utf-8",
    "site.css": "text/css; charset=utf-8",
    "app.js": "text/javascript; charset=utf-8",
    "mod.mjs": "text/javascript; charset=utf-8",
    "data.json": "application/json",
    "logo.svg": "image/svg+xml",
    "photo.png": "image/png",
    "PHOTO.PNG": "image/png",
    "photo.jpg": "image/jpeg",
    "font.woff2": "font/woff2",
    "notes.txt": "text/plain; charset=utf-8",
    "report.pdf": "application/pdf",
    "favicon.ico": "image/vnd.microsoft.icon",
    "site.webmanifest": "application/manifest+json",
    "blob.unknownext": "application/octet-stream",
    "README": "application/octet-stream",
    "sub.dir/noext": "application/octet-stream",
}


@pytest.mark.parametrize("name,ctype", TYPES.items(), ids=TYPES.keys())
def test_content_type(daemon, name, ctype):
    body = f"content of {name}\n".encode()
    daemon.write_static(name, body)
    for _ in range(2):      # from disk, then from the cache
        r = fetch(daemon, "/static/" + name)
        assert r.status == 200
        assert r.headers["content-type"] == ctype
        assert r.headers["x-content-type-options"] == "nosniff"
        assert r.body == body


def test_nested_file(daemon):
    daemon.write_static("css/themes/dark.css", "body{}")
    r = fetch(daemon, "/static/css/themes/dark.css")
    assert r.status == 200 and r.body == b"body{}"


def test_percent_encoded_name(daemon):
    daemon.write_static("with space.txt", "spaced")
    r = fetch(daemon, "/static/with%20space.txt")
    assert r.status == 200 and r.body == b"spaced"


def test_query_string_is_ignored(daemon):
    daemon.write_static("v.css", "v")
    r = fetch(daemon, "/static/v.css?v=123")
    assert r.status == 200 and r.body == b"v"


def test_etag_and_cache_control(daemon):
    daemon.write_static("a.css", "a{}")
    r = fetch(daemon, "/static/a.css")
    etag = r.headers["etag"]
    assert etag.startswith('"') and etag.endswith('"') and len(etag) > 2
    # A year: long, and the ETag makes a change seen at revalidation.
    assert r.headers["cache-control"] == "public, max-age=31536000"
    # Stable across requests (and workers).
    for _ in range(4):
        assert fetch(daemon, "/static/a.css").headers["etag"] == etag


@pytest.mark.parametrize("inm", [
    "{etag}",
    '"nope", {etag}',
    '"nope",{etag}, "other"',
    "W/{etag}",
    "*",
])
def test_if_none_match_304(daemon, inm):
    daemon.write_static("a.css", "a{}")
    etag = fetch(daemon, "/static/a.css").headers["etag"]
    for _ in range(2):
        with daemon.conn() as c:
            r = c.request("GET", "/static/a.css", headers={"If-None-Match": inm.format(etag=etag)})
            assert r.status == 304
            assert r.body == b""
            assert r.headers["etag"] == etag
            assert "content-length" not in r.headers
            # No body bytes: the connection goes on cleanly.
            assert c.request().body == b"ok\n"


@pytest.mark.parametrize("inm", ['"nope"', '"nope", "other"', "W/\"x\""])
def test_if_none_match_other_tag_200(daemon, inm):
    daemon.write_static("a.css", "a{}")
    r = fetch(daemon, "/static/a.css", headers={"If-None-Match": inm})
    assert r.status == 200 and r.body == b"a{}"


def test_head_if_none_match_304(daemon):
    daemon.write_static("a.css", "a{}")
    etag = fetch(daemon, "/static/a.css").headers["etag"]
    with daemon.conn() as c:
        r = c.request("HEAD", "/static/a.css", headers={"If-None-Match": etag})
        assert r.status == 304


def test_changed_file_gets_a_new_etag(daemon):
    daemon.write_static("c.js", "one();")
    old = fetch(daemon, "/static/c.js")
    assert old.body == b"one();"
    time.sleep(0.05)
    daemon.write_static("c.js", "two(); // longer")
    # The cache revalidates at most once a second (per worker).
    time.sleep(1.2)

    def fresh():
        r = fetch(daemon, "/static/c.js", headers={"If-None-Match": old.headers["etag"]})
        return r if r.status == 200 and r.body == b"two(); // longer" else None
    new = wait_for(fresh, timeout=10, interval=0.2, what="the changed file")
    assert new.headers["etag"] != old.headers["etag"]
    # Both workers agree after their next revalidation.
    for _ in range(6):
        r = fetch(daemon, "/static/c.js")
        assert r.body == b"two(); // longer" and r.headers["etag"] == new.headers["etag"]


def test_deleted_file_is_404_after_revalidation(daemon):
    path = daemon.write_static("gone.txt", "here")
    assert fetch(daemon, "/static/gone.txt").status == 200
    os.unlink(path)
    time.sleep(1.2)
    wait_for(lambda: all(fetch(daemon, "/static/gone.txt").status == 404 for _ in range(4)),
             timeout=10, interval=0.2, what="404 for a deleted file")


def test_large_file_from_disk(daemon):
    body = os.urandom(3 * 1024 * 1024 + 7)
    daemon.write_static("big.png", body)
    with daemon.conn(timeout=30) as c:
        for _ in range(2):
            r = c.request("GET", "/static/big.png")
            assert r.status == 200
            assert r.headers["content-type"] == "image/png"
            assert r.headers["etag"]
            assert r.body == body
        etag = r.headers["etag"]
        assert c.request("GET", "/static/big.png", headers={"If-None-Match": etag}).status == 304


def test_empty_file(daemon):
    daemon.write_static("empty.txt", b"")
    r = fetch(daemon, "/static/empty.txt")
    assert r.status == 200 and r.headers["content-length"] == "0" and r.body == b""


def test_post_to_static_is_405(daemon):
    daemon.write_static("a.css", "a{}")
    r = fetch(daemon, "/static/a.css", method="POST")
    assert r.status == 405
    assert r.headers["allow"] == "GET, HEAD"


# ---------------------------------------------------------------- no escape

@pytest.fixture
def jail(daemon):
    """A static dir with a secret beside it, hidden files, a folder and
    symlinks pointing out of it."""
    d = daemon
    with open(os.path.join(d.dir, "secret.txt"), "wb") as f:
        f.write(SECRET)
    os.makedirs(os.path.join(d.dir, "outside"), exist_ok=True)
    with open(os.path.join(d.dir, "outside", "secret.txt"), "wb") as f:
        f.write(SECRET)
    d.write_static("ok.txt", "fine")
    d.write_static(".env", SECRET)
    d.write_static("sub/x.txt", "x")
    d.write_static("sub/.hidden", SECRET)
    d.write_static(".git/config", SECRET)
    os.symlink("../secret.txt", d.static_path("link.txt"))
    os.symlink(os.path.join(d.dir, "secret.txt"), d.static_path("abslink.txt"))
    os.symlink("../outside", d.static_path("dirlink"))
    os.symlink(os.path.join(d.dir, "outside"), d.static_path("sub", "absdirlink"))
    os.symlink("/etc/passwd", d.static_path("passwd"))
    # Control: the layout works.
    assert fetch(d, "/static/ok.txt").body == b"fine"
    assert fetch(d, "/static/sub/x.txt").body == b"x"
    return d


ESCAPES = [
    "/static/../secret.txt",
    "/static/%2e%2e/secret.txt",
    "/static/%2E%2E/secret.txt",
    "/static/%2E%2E%2Fsecret.txt",
    "/static/%2e%2e%2fsecret.txt",
    "/static/..%2fsecret.txt",
    "/static/.%2e/secret.txt",
    "/static/a/../../secret.txt",
    "/static/sub/../../secret.txt",
    "/static/sub/%2e%2e/%2e%2e/secret.txt",
    "/static/%2e%2e%2f%2e%2e%2f%2e%2e%2fetc%2fpasswd",
    "/static/%252e%252e/secret.txt",
    "/static/..\\secret.txt",
    "/static/sub\\..\\..\\secret.txt",
    "/static/..%5csecret.txt",
    "/static/%5c..%5csecret.txt",
    "/static/ok.txt%00.png",
    "/static/ok.txt%00",
    "/static/%00",
    "/static//etc/passwd",
    "/static/%2fetc%2fpasswd",
    "/static/./ok.txt",
    "/static/sub/./x.txt",
    "/static/sub//x.txt",
    "/static/.env",
    "/static/%2eenv",
    "/static/sub/.hidden",
    "/static/.git/config",
    "/static/sub",
    "/static/sub/",
    "/static/link.txt",
    "/static/abslink.txt",
    "/static/passwd",
    "/static/dirlink/secret.txt",
    "/static/dirlink",
    "/static/sub/absdirlink/secret.txt",
    "/static/%",
    "/static/%zz",
    "/static/ok.txt%",
    "/static/" + "a/" * 600 + "x",
]


@pytest.mark.parametrize("target", ESCAPES)
def test_no_escape_from_static_dir(jail, target):
    for method in ("GET", "HEAD"):
        with jail.conn() as c:
            c.send(f"{method} {target} HTTP/1.1\r\nHost: localhost\r\n\r\n".encode())
            r = c.read_response(head_request=(method == "HEAD"))
            assert r.status == 404, f"{method} {target}: {r.status}"
            assert SECRET not in r.raw
            assert c.request().status == 200, "the connection goes on after a 404"


def test_no_escape_with_absolute_form_target(jail):
    with jail.conn() as c:
        c.send(b"GET http://localhost/static/../secret.txt HTTP/1.1\r\nHost: localhost\r\n\r\n")
        r = c.read_response()
        assert r.status == 404 and SECRET not in r.raw


def test_symlink_inside_the_dir_is_not_followed(jail):
    """Symlinks are refused altogether (RESOLVE_NO_SYMLINKS), even one that
    stays inside."""
    os.symlink("ok.txt", jail.static_path("alias.txt"))
    assert fetch(jail, "/static/alias.txt").status == 404


def test_fifo_is_404_without_blocking(daemon):
    """Opening a FIFO for reading would wait for a writer and stall the
    worker; it is refused at once instead."""
    os.mkfifo(daemon.static_path("pipe"))
    with daemon.conn(timeout=10) as c:
        c.send(make_request("GET", "/static/pipe") + make_request("GET", "/healthz"))
        assert c.read_response().status == 404
        assert c.read_response().status == 200


# ---------------------------------------------------------------- /healthz

@pytest.mark.parametrize("host", ["localhost", "unknown.example", "10.0.0.1:9999", "[::1]:8080",
                                  "UPPER.Example.", "x"])
def test_healthz_on_any_host(daemon, host):
    with daemon.conn() as c:
        r = c.request("GET", "/healthz", host=host)
        assert r.status == 200
        assert r.body == b"ok\n"
        assert r.headers["cache-control"] == "no-store"


def test_healthz_without_host_http10_and_absolute_form(daemon):
    with daemon.conn() as c:
        r = c.request("GET", "/healthz", host=None, version="HTTP/1.0")
        assert r.status == 200
    with daemon.conn() as c:
        c.send(b"GET http://somewhere.example/healthz HTTP/1.1\r\nHost: other.example\r\n\r\n")
        assert c.read_response().status == 200


# ---------------------------------------------------------------- error pages

def error_page(lang, status):
    with open(os.path.join(SOURCE_DIR, "errors", lang, f"{status}.html"), "rb") as f:
        return f.read()


def test_404_page_is_dutch_by_default(daemon):
    r = fetch(daemon, "/nope")
    assert r.status == 404
    assert r.headers["content-type"] == "text/html; charset=utf-8"
    assert r.headers["content-language"] == "nl"
    assert r.headers["cache-control"] == "no-store"
    assert r.body == error_page("nl", 404)
    assert b'lang="nl"' in r.body


@pytest.mark.parametrize("al,lang", [
    ("en", "en"),
    ("en-GB,en;q=0.9", "en"),
    ("nl;q=0.5, en;q=0.9", "en"),
    ("fr, en;q=0.5", "en"),
    ("nl-BE", "nl"),
    ("nl, en", "nl"),
    ("de", "nl"),
    ("en;q=0", "nl"),
    ("*", "nl"),
])
def test_404_page_language(daemon, al, lang):
    r = fetch(daemon, "/nope", headers={"Accept-Language": al})
    assert r.status == 404
    assert r.headers["content-language"] == lang
    assert r.body == error_page(lang, 404)


def test_static_404_is_the_same_page(daemon):
    r = fetch(daemon, "/static/missing.css", headers={"Accept-Language": "en"})
    assert r.status == 404 and r.body == error_page("en", 404)


def test_rejection_pages_come_from_the_errors_dir(make_daemon):
    d = make_daemon({"max_body_size": "10"})
    with d.conn() as c:
        c.send(b"POST /healthz HTTP/1.1\r\nHost: localhost\r\nContent-Length: 11\r\n\r\n")
        r = c.read_response()
        assert r.status == 413 and r.body == error_page("nl", 413)
    with d.conn() as c:
        c.send(b"GET / HTTP/1.1\nHost: localhost\n\n")
        r = c.read_response()
        assert r.status == 400 and r.body == error_page("nl", 400)


def test_vendored_nl_design_system_css(make_daemon):
    """The build copies the component library CSS (web/package-lock.json)
    into static/vendor/utrecht/; the project's static dir serves it with the
    long cache lifetime, byte for byte."""
    src = os.path.join(SOURCE_DIR, "web", "node_modules", "@utrecht", "component-library-css", "dist", "index.css")
    with open(os.path.join(SOURCE_DIR, "static", "vendor", "utrecht", "index.css"), "rb") as f:
        built = f.read()
    with open(src, "rb") as f:
        assert f.read() == built
    assert b".utrecht-document" in built
    d = make_daemon({"static_dir": os.path.join(SOURCE_DIR, "static")})
    r = fetch(d, "/static/vendor/utrecht/index.css")
    assert r.status == 200 and r.body == built
    assert r.headers["content-type"] == "text/css; charset=utf-8"
    assert r.headers["cache-control"] == "public, max-age=31536000"
