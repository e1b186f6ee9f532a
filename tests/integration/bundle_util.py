"""Helpers for the tests that serve tenant bundles through the Lua runtime
(test_runtime*.py): writing bundles into temporary folders, publishing
them, and reading pages and log lines back from a daemon."""
import contextlib
import hashlib
import getpass
import os
import re
import struct

from harness import SOURCE_DIR, aantafel, wait_for

# Live changes (deploy, rollback) should arrive within a second; the bound
# is loose because the machine is shared and the daemon runs under ASan.
LIVE = 20


def write_bundle(root, files):
    """Creates ROOT with FILES {relative path: str or bytes}; returns ROOT
    as a string. Existing files not named stay."""
    root = str(root)
    os.makedirs(root, exist_ok=True)
    for rel, data in files.items():
        path = os.path.join(root, rel)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "wb") as f:
            f.write(data.encode() if isinstance(data, str) else data)
    return root


def example_bundle(name):
    """The folder of an example bundle shipped in tenants/."""
    return os.path.join(SOURCE_DIR, "tenants", name)


def visits_plugin():
    """The files of the example plugin that counts the home page's views
    (tenants/voorbeeld/plugins/bezoeken*), to put in a bundle whose
    tenant.lua names it (plugins = { bezoeken = true }): the tests' way to
    have every view write to the plugin store."""
    root = example_bundle("voorbeeld")
    files = {}
    for base, _, names in os.walk(os.path.join(root, "plugins")):
        for n in names:
            path = os.path.join(base, n)
            rel = os.path.relpath(path, root)
            if rel.startswith(os.path.join("plugins", "bezoeken")):
                with open(path, encoding="utf-8") as f:
                    files[rel] = f.read()
    assert "plugins/bezoeken.lua" in files and "plugins/bezoeken/templates/bezoeken.html" in files, files
    return files


def deploy(pg, slug, folder, check=False):
    return aantafel("tenant", "deploy", slug, str(folder), env=pg.daemon_env(), check=check)


def deployed(pg, slug, folder):
    """Deploys FOLDER and returns the new current version number."""
    p = deploy(pg, slug, folder)
    assert p.returncode == 0, (p.stdout, p.stderr)
    m = re.search(r"version (\d+) (?:deployed|is current)", p.stdout)
    assert m, p.stdout
    return int(m.group(1))


@contextlib.contextmanager
def cursor(pg, role):
    """An autocommit cursor whose connection is closed afterwards."""
    c = pg.connect(role)
    try:
        yield c.cursor()
    finally:
        c.close()


def sql(pg, role, query, args=()):
    with cursor(pg, role) as cur:
        cur.execute(query, args)
        return cur.fetchall() if cur.description else None


def current_version(pg, slug):
    return sql(pg, "super", "SELECT bundle_version FROM platform.tenants WHERE slug = %s", (slug,))[0][0]


def version_numbers(pg, slug):
    return [r[0] for r in sql(pg, "super", "SELECT b.version FROM platform.bundles b JOIN platform.tenants t"
                                           " ON t.id = b.tenant_id WHERE t.slug = %s ORDER BY 1", (slug,))]


def checksum(files):
    """The bundle checksum (core/app/bundle.c): SHA-256 over each file in path
    order as path, NUL, length (8 bytes, big-endian), content."""
    h = hashlib.sha256()
    for path in sorted(files, key=lambda p: p.encode()):
        data = files[path]
        data = data.encode() if isinstance(data, str) else data
        h.update(path.encode() + b"\0" + struct.pack(">Q", len(data)) + data)
    return h.hexdigest()


def store_unchecked(pg, slug, files):
    """Stores FILES as the tenant's next bundle version and makes it
    current, straight into the tables as the owner, bypassing the checks
    of `tenant deploy` (as a version published before a check existed
    would be). Returns the version number."""
    c = pg.connect("owner")
    try:
        c.autocommit = False
        cur = c.cursor()
        cur.execute("SELECT id FROM platform.tenants WHERE slug = %s FOR UPDATE", (slug,))
        tid = cur.fetchone()[0]
        cur.execute("SELECT coalesce(max(version), 0) + 1 FROM platform.bundles WHERE tenant_id = %s", (tid,))
        version = cur.fetchone()[0]
        blobs = {p: (d.encode() if isinstance(d, str) else d) for p, d in files.items()}
        cur.execute("INSERT INTO platform.bundles (tenant_id, version, checksum, total_bytes, nfiles, created_by)"
                    " VALUES (%s, %s, %s, %s, %s, %s)",
                    (tid, version, checksum(blobs), sum(len(b) for b in blobs.values()), len(blobs),
                     getpass.getuser()))
        for p, b in blobs.items():
            cur.execute("INSERT INTO platform.bundle_files (tenant_id, version, path, content)"
                        " VALUES (%s, %s, %s, %s)", (tid, version, p, b))
        cur.execute("UPDATE platform.tenants SET bundle_version = %s WHERE id = %s", (version, tid))
        c.commit()
        return version
    finally:
        c.close()


# ---------------------------------------------------------------- talking to the daemon


def get(d, host, path="/", headers=None, timeout=20):
    """(status, headers, body text) of one request; status 0 when the
    connection failed or nothing came."""
    try:
        st, hdr, body = d.get(path, host=host, headers=headers, timeout=timeout)
    except OSError:
        return 0, {}, ""
    return st, hdr, body.decode("utf-8", "replace")


def wait_page(d, host, needle, path="/", timeout=LIVE, headers=None):
    """Polls until PATH on HOST answers 200 with NEEDLE in its body;
    returns the body. Several tries in a row must agree, because the
    daemon's workers each hold their own copy of the registry."""
    def ok():
        for _ in range(6):
            st, _, body = get(d, host, path, headers)
            if st != 200 or needle not in body:
                return None
        return body
    return wait_for(ok, timeout=timeout, interval=0.1,
                    what=f"{needle!r} in {host}{path} (last: {get(d, host, path, headers)[:2]})")


def expect_500(d, host, path, headers=None, timeout=30):
    """Requests PATH and checks the Lua error page: 500, the request id in
    the X-Request-Id header and in the page, no Lua detail. Returns the
    request id."""
    st, hdr, body = get(d, host, path, headers, timeout=timeout)
    assert st == 500, (path, st, body[:300])
    rid = hdr.get("x-request-id")
    assert rid and re.fullmatch(r"[0-9A-Za-z]+", rid), hdr
    assert rid in body, body
    assert hdr.get("content-type", "").startswith("text/html")
    for leak in (".lua:", "prelude", "stack traceback", "limit exceeded", "attempt to"):
        assert leak not in body, (leak, body)
    return rid


def error_line(d, rid, timeout=LIVE):
    """The daemon's error line for request RID (`request=RID tenant=...`)."""
    return d.wait_log(re.compile(rf"\berror request={re.escape(rid)} tenant="), timeout=timeout)


def healthy(d, *hosts):
    """Every HOST's home page answers 200."""
    for h in hosts:
        st, _, body = get(d, h, "/")
        assert st == 200, (h, st, body[:300])


def field(body, name):
    """The text of <p id="NAME"> in BODY (the test pages' way of showing a
    value), or None."""
    m = re.search(rf'<p id="{name}">([^<]*)</p>', body)
    return m and m.group(1)


def csrf_cookie(hdr):
    """The at_csrf token a response sets, or None."""
    line = hdr.get("set-cookie", "")
    return line.split(";", 1)[0].split("=", 1)[1] if line.startswith("at_csrf=") else None
