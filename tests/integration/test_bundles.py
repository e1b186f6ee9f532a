"""Tenant bundles: `aantafel tenant deploy | versions | rollback` and
`aantafel check` against the test cluster, the rows they leave, and the
daemon's side: its registry hears of a deploy, and its own fetch code
(tests/db/bundle_fetch) gets back exactly the bytes that were deployed."""
import hashlib
import os
import pwd
import re
import struct
import subprocess

import psycopg2
import pytest

from harness import BIN, aantafel, wait_for

BUILD_DIR = os.environ.get("AANTAFEL_BUILD_DIR", os.path.join(os.getcwd(), "build"))
FETCH = os.path.join(BUILD_DIR, "tests", "db", "bundle_fetch")

# Every byte value, NULs and invalid UTF-8 included: bundles carry images.
PNG = b"\x89PNG\r\n\x1a\n\x00\x00" + bytes(range(256)) * 4


def write_bundle(root, files):
    """Creates ROOT with FILES {relative path: bytes or str}."""
    os.makedirs(root, exist_ok=True)
    for rel, data in files.items():
        path = os.path.join(root, rel)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "wb") as f:
            f.write(data.encode() if isinstance(data, str) else data)
    return str(root)


def base_files(name="Bundeltest"):
    return {"tenant.lua": f'return {{ name = "{name}" }}\n',
            "static/logo.png": PNG,
            "static/site.css": "body { margin: 0 }\n"}


def checksum(files):
    """The bundle checksum as documented in core/app/bundle.c: SHA-256 over
    each file in path order as path, NUL, length (8 bytes, big-endian),
    content."""
    h = hashlib.sha256()
    for path in sorted(files, key=lambda p: p.encode()):
        data = files[path].encode() if isinstance(files[path], str) else files[path]
        h.update(path.encode() + b"\0" + struct.pack(">Q", len(data)) + data)
    return h.hexdigest()


def deploy(pg, slug, d, check=False):
    return aantafel("tenant", "deploy", slug, d, env=pg.daemon_env(), check=check)


def rows(pg, sql, args=()):
    c = pg.connect("super")
    try:
        cur = c.cursor()
        cur.execute(sql, args)
        return cur.fetchall()
    finally:
        c.close()


def versions_of(pg, tid):
    return rows(pg, "SELECT version, checksum, nfiles, total_bytes, created_by FROM platform.bundles"
                    " WHERE tenant_id = %s ORDER BY version", (tid,))


def current(pg, tid):
    return rows(pg, "SELECT bundle_version FROM platform.tenants WHERE id = %s", (tid,))[0][0]


def stored_files(pg, tid, version):
    return {p: bytes(c) for p, c in rows(pg, "SELECT path, content FROM platform.bundle_files"
                                             " WHERE tenant_id = %s AND version = %s", (tid, version))}


def table(stdout):
    """versions output as [(marker, version)]."""
    out = []
    for line in stdout.splitlines()[1:]:
        out.append((line[0], int(line[2:].split()[0])))
    return out


# ---------------------------------------------------------------- deploy


def test_deploy_versions_rollback(pg, tenants, tmp_path):
    tid = tenants(("bun-a", "Bundel A", "bun-a.test"))["bun-a"]
    files = base_files()
    d = write_bundle(tmp_path / "a", {**files, ".git/HEAD": "ref: x\n", "static/.DS_Store": "junk"})
    assert current(pg, tid) == 0

    p = deploy(pg, "bun-a", d)
    assert p.returncode == 0, p.stderr
    assert re.fullmatch(r"bun-a: version 1 deployed \(3 files, \d+ KiB\)\n", p.stdout), p.stdout
    me = pwd.getpwuid(os.geteuid()).pw_name
    size = sum(len(v.encode() if isinstance(v, str) else v) for v in files.values())
    assert versions_of(pg, tid) == [(1, checksum(files), 3, size, me)]
    assert current(pg, tid) == 1
    # Byte for byte, hidden files left out.
    assert stored_files(pg, tid, 1) == {k: (v.encode() if isinstance(v, str) else v) for k, v in files.items()}

    # The same folder again: no new version.
    p = deploy(pg, "bun-a", d)
    assert p.returncode == 0, p.stderr
    assert p.stdout == "bun-a: unchanged, version 1 is current\n"
    assert len(versions_of(pg, tid)) == 1

    # One changed byte makes version 2.
    files2 = {**files, "static/site.css": "body { margin: 1 }\n"}
    write_bundle(d, files2)
    p = deploy(pg, "bun-a", d)
    assert p.returncode == 0, p.stderr
    assert p.stdout.startswith("bun-a: version 2 deployed (3 files, ")
    vs = versions_of(pg, tid)
    assert [v[0] for v in vs] == [1, 2] and vs[1][1] == checksum(files2) and vs[0][1] != vs[1][1]
    assert current(pg, tid) == 2

    p = aantafel("tenant", "versions", "bun-a", env=pg.daemon_env())
    assert p.stdout.splitlines()[0].split() == ["VERSION", "CREATED", "FILES", "BYTES", "CHECKSUM", "BY"]
    assert table(p.stdout) == [("*", 2), (" ", 1)]
    line2 = p.stdout.splitlines()[1]
    assert checksum(files2)[:12] in line2 and checksum(files2)[:13] not in line2
    assert me in line2 and str(size) in line2

    p = aantafel("tenant", "rollback", "bun-a", "1", env=pg.daemon_env())
    assert p.stdout == "bun-a: version 1 is current (was 2)\n"
    assert current(pg, tid) == 1
    assert table(aantafel("tenant", "versions", "bun-a", env=pg.daemon_env()).stdout) == [(" ", 2), ("*", 1)]
    p = aantafel("tenant", "rollback", "bun-a", "1", env=pg.daemon_env())
    assert p.stdout == "bun-a: version 1 is already current\n"

    p = aantafel("tenant", "rollback", "bun-a", "99", env=pg.daemon_env(), check=False)
    assert p.returncode == 1
    assert "no version 99" in p.stderr and "versions: 1, 2" in p.stderr, p.stderr
    assert current(pg, tid) == 1

    # Deploying what version 2 holds makes version 2 current again rather
    # than a copy of it.
    p = deploy(pg, "bun-a", d)
    assert p.stdout == "bun-a: unchanged, version 2 is current\n", p.stdout
    assert current(pg, tid) == 2 and len(versions_of(pg, tid)) == 2


def test_versions_of_a_tenant_without_bundles(pg, tenants):
    tenants(("bun-none", "Bundel Geen", "bun-none.test"))
    p = aantafel("tenant", "versions", "bun-none", env=pg.daemon_env())
    assert "no version deployed yet" in p.stdout
    p = aantafel("tenant", "rollback", "bun-none", "1", env=pg.daemon_env(), check=False)
    assert p.returncode == 1 and "nothing deployed yet" in p.stderr


def test_unknown_tenant_refused(pg, tmp_path):
    before = rows(pg, "SELECT count(*) FROM platform.bundles")
    d = write_bundle(tmp_path / "x", base_files())
    p = deploy(pg, "bun-nobody", d)
    assert p.returncode == 1 and "no tenant 'bun-nobody'" in p.stderr, p.stderr
    for cmd in (["versions", "bun-nobody"], ["rollback", "bun-nobody", "1"]):
        p = aantafel("tenant", *cmd, env=pg.daemon_env(), check=False)
        assert p.returncode == 1 and "no tenant 'bun-nobody'" in p.stderr, (cmd, p.stderr)
    assert rows(pg, "SELECT count(*) FROM platform.bundles") == before


def test_usage_errors():
    for args, text in ((["deploy"], "SLUG missing"), (["rollback", "bun-a"], "N missing"),
                       (["rollback", "bun-a", "two"], "not a version number"),
                       (["rollback", "bun-a", "0"], "not a version number"),
                       (["rollback", "bun-a", "-1"], "not a version number"),
                       (["versions", "bun-a", "extra"], "unexpected argument"),
                       (["deploy", "bun-a", "d1", "d2"], "unexpected argument")):
        p = aantafel("tenant", *args, check=False)
        assert p.returncode == 2 and text in p.stderr, (args, p.stderr)
    p = aantafel("tenant", "--help")
    for word in ("deploy SLUG [DIR]", "versions SLUG", "rollback SLUG N"):
        assert word in p.stdout


def test_refused_bundles_write_nothing(pg, tenants, tmp_path):
    tid = tenants(("bun-b", "Bundel B", "bun-b.test"))["bun-b"]
    d = write_bundle(tmp_path / "b", base_files())
    assert deploy(pg, "bun-b", d).returncode == 0
    before = (versions_of(pg, tid), current(pg, tid), rows(pg, "SELECT count(*) FROM platform.bundle_files"))

    os.symlink("/etc/passwd", os.path.join(d, "static", "passwd.txt"))
    p = deploy(pg, "bun-b", d)
    assert p.returncode == 1
    assert "static/passwd.txt" in p.stderr and "symbolic link" in p.stderr, p.stderr
    assert "nothing was deployed" in p.stderr
    os.unlink(os.path.join(d, "static", "passwd.txt"))

    with open(os.path.join(d, "static", "huge.bin"), "wb") as f:
        f.truncate(4 * 1024 * 1024 + 1)
    p = deploy(pg, "bun-b", d)
    assert p.returncode == 1 and "huge.bin" in p.stderr and "4 MiB" in p.stderr, p.stderr
    os.unlink(os.path.join(d, "static", "huge.bin"))

    p = deploy(pg, "bun-b", str(tmp_path / "missing"))
    assert p.returncode == 1 and "missing" in p.stderr

    assert (versions_of(pg, tid), current(pg, tid),
            rows(pg, "SELECT count(*) FROM platform.bundle_files")) == before


def test_invalid_lua_is_refused_with_file_and_line(pg, tenants, tmp_path):
    tid = tenants(("bun-c", "Bundel C", "bun-c.test"))["bun-c"]
    d = write_bundle(tmp_path / "c", {**base_files(), "tenant.lua": 'return {\n  name = "C",\n  plugins = {\n'})
    p = deploy(pg, "bun-c", d)
    assert p.returncode == 1
    assert "tenant.lua:" in p.stderr, p.stderr
    # Lua names the line it stood on at the end of the text: after the
    # third line's newline, the fourth.
    assert "tenant.lua:4: unexpected symbol near <eof>" in p.stderr, p.stderr
    assert "nothing was deployed" in p.stderr
    assert versions_of(pg, tid) == [] and current(pg, tid) == 0

    write_bundle(d, {"tenant.lua": 'return {\n  name = "C",\n  x = = 1,\n}\n'})
    p = deploy(pg, "bun-c", d)
    assert p.returncode == 1 and "tenant.lua:3:" in p.stderr, p.stderr
    assert versions_of(pg, tid) == []


POOR_CONTRAST = ('return {\n  name = "Grijs",\n  theme = {\n    text = "#777",\n    background = "#fff",\n'
                 '    primary = "rgb(170, 170, 170)",\n  },\n}\n')
TEXT_WARNING = "theme: text #777 on background #fff has contrast 4.48:1, below the 4.5:1 of WCAG AA"
PRIMARY_WARNING = "theme: primary rgb(170, 170, 170) on background #fff has contrast 2.32:1, below the 4.5:1 of WCAG AA"


def test_poor_contrast_deploys_with_a_warning(pg, tenants, tmp_path):
    tid = tenants(("bun-grijs", "Bundel Grijs", "bun-grijs.test"))["bun-grijs"]
    d = write_bundle(tmp_path / "grijs", {**base_files(), "tenant.lua": POOR_CONTRAST})
    p = deploy(pg, "bun-grijs", d)
    assert p.returncode == 0, p.stderr
    assert f"warning: {d}: {TEXT_WARNING}\n" in p.stderr, p.stderr
    assert f"warning: {d}: {PRIMARY_WARNING}\n" in p.stderr, p.stderr
    assert "version 1 deployed" in p.stdout
    assert [v[0] for v in versions_of(pg, tid)] == [1] and current(pg, tid) == 1

    # #767676 on white is 4.54:1: no warning.
    write_bundle(d, {"tenant.lua": 'return { theme = { text = "#767676", background = "#fff" } }\n'})
    p = deploy(pg, "bun-grijs", d)
    assert p.returncode == 0 and "warning" not in p.stderr, p.stderr


def test_two_deploys_at_once_get_distinct_versions(pg, tenants, tmp_path):
    """Both wait on the tenant row held by a blocker, so they overlap for
    certain; then each stores its own version, none twice."""
    tid = tenants(("bun-d", "Bundel D", "bun-d.test"))["bun-d"]
    dirs = [write_bundle(tmp_path / f"d{i}", base_files(f"Bundel D {i}")) for i in range(2)]
    env = {k: v for k, v in os.environ.items() if not k.startswith("AANTAFEL_")}
    env.update(pg.daemon_env())
    blocker = psycopg2.connect(pg.owner_url)
    try:
        cur = blocker.cursor()
        cur.execute("SELECT id FROM platform.tenants WHERE id = %s FOR UPDATE", (tid,))
        cur.execute("SELECT pg_backend_pid()")
        me = cur.fetchone()[0]
        procs = [subprocess.Popen([BIN, "tenant", "deploy", "bun-d", d], stdout=subprocess.PIPE,
                                  stderr=subprocess.PIPE, text=True, env=env) for d in dirs]

        def waiting():
            n = rows(pg, "SELECT count(*) FROM pg_stat_activity WHERE pid <> %s AND wait_event_type = 'Lock'"
                         " AND query LIKE '%%FOR UPDATE%%'", (me,))[0][0]
            return n == 2 or any(p.poll() is not None for p in procs)
        wait_for(waiting, timeout=60, interval=0.05, what="both deploys waiting for the tenant row")
        assert all(p.poll() is None for p in procs), [p.communicate() for p in procs]
    finally:
        blocker.rollback()
        blocker.close()
    outs = [p.communicate(timeout=120) for p in procs]
    for p, (out, err) in zip(procs, outs):
        assert p.returncode == 0, (out, err)
    got = sorted(int(re.search(r"version (\d+) deployed", out).group(1)) for out, _ in outs)
    assert got == [1, 2]
    vs = versions_of(pg, tid)
    assert [v[0] for v in vs] == [1, 2] and vs[0][1] != vs[1][1]
    assert sorted(v[1] for v in vs) == sorted(checksum(base_files(f"Bundel D {i}")) for i in range(2))
    assert current(pg, tid) == 2


# ---------------------------------------------------------------- the database


def test_bundles_are_immutable_and_read_only_to_the_daemon(pg, tenants, tmp_path):
    tid = tenants(("bun-e", "Bundel E", "bun-e.test"))["bun-e"]
    assert deploy(pg, "bun-e", write_bundle(tmp_path / "e", base_files())).returncode == 0
    c = pg.connect("owner")
    try:
        cur = c.cursor()
        for sql in ("UPDATE platform.bundle_files SET content = 'x' WHERE tenant_id = %s",
                    "UPDATE platform.bundles SET checksum = repeat('0', 64) WHERE tenant_id = %s"):
            with pytest.raises(psycopg2.Error) as e:
                cur.execute(sql, (tid,))
            assert "immutable" in e.value.pgerror
        # bundle_version must name a stored version.
        with pytest.raises(psycopg2.Error) as e:
            cur.execute("UPDATE platform.tenants SET bundle_version = 42 WHERE id = %s", (tid,))
        assert e.value.pgcode == "23503"
    finally:
        c.close()
    c = pg.connect("app")
    try:
        cur = c.cursor()
        cur.execute("SELECT count(*) FROM platform.bundle_files WHERE tenant_id = %s", (tid,))
        assert cur.fetchone()[0] == 3
        for sql in ("INSERT INTO platform.bundles (tenant_id, version, checksum, total_bytes, nfiles, created_by)"
                    " VALUES (%s, 9, repeat('0', 64), 0, 0, 'app')",
                    "DELETE FROM platform.bundle_files WHERE tenant_id = %s",
                    "UPDATE platform.tenants SET bundle_version = 0 WHERE id = %s"):
            with pytest.raises(psycopg2.Error) as e:
                cur.execute(sql, (tid,))
            assert e.value.pgcode == "42501", (sql, e.value.pgerror)
    finally:
        c.close()
    # Deleting the tenant takes its bundles along.
    c = pg.connect("owner")
    try:
        c.cursor().execute("DELETE FROM platform.tenants WHERE id = %s", (tid,))
    finally:
        c.close()
    assert rows(pg, "SELECT count(*) FROM platform.bundles WHERE tenant_id = %s", (tid,)) == [(0,)]
    assert rows(pg, "SELECT count(*) FROM platform.bundle_files WHERE tenant_id = %s", (tid,)) == [(0,)]


def test_store_quota_column(pg, tenants):
    tid = tenants(("bun-q", "Bundel Q", "bun-q.test"))["bun-q"]
    assert rows(pg, "SELECT store_quota FROM platform.tenants WHERE id = %s", (tid,)) == [(10485760,)]


# ---------------------------------------------------------------- the daemon's side


def test_fetch_through_the_daemons_pool_returns_the_deployed_bytes(pg, tenants, tmp_path):
    tid = tenants(("bun-f", "Bundel F", "bun-f.test"))["bun-f"]
    files = {**base_files(), "static/js/app.js": "console.log(1);\n", "static/img/photo.jpg": bytes(range(255, -1, -1)),
             "static/empty.txt": b""}
    assert deploy(pg, "bun-f", write_bundle(tmp_path / "f", files)).returncode == 0
    p = subprocess.run([FETCH, pg.app_url, str(tid), "1"], capture_output=True, text=True, timeout=120)
    assert p.returncode == 0, (p.stdout, p.stderr)
    lines = p.stdout.splitlines()
    assert lines[0] == f"checksum {checksum(files)}"
    assert lines[1] == f"files {len(files)}"
    got = {}
    for line in lines[2:]:
        _, path, length, digest, etag = line.split()
        got[path] = (int(length), digest, etag)
    want = {}
    for path, data in files.items():
        data = data.encode() if isinstance(data, str) else data
        digest = hashlib.sha256(data).hexdigest()
        want[path] = (len(data), digest, f'"{digest[:16]}"')
    assert got == want

    # A version that is not there: an error, no crash, no leak.
    p = subprocess.run([FETCH, pg.app_url, str(tid), "7"], capture_output=True, text=True, timeout=120)
    assert p.returncode == 1 and "version 7" in p.stdout and "not in the database" in p.stdout, p.stdout
    assert "Sanitizer" not in p.stderr


def test_the_daemons_registry_hears_of_a_deploy_and_a_rollback(pg, tenants, db_daemon, tmp_path):
    tid = tenants(("bun-g", "Bundel G", "bun-g.test"))["bun-g"]
    d = db_daemon()
    d.wait_log(re.compile(r"registry: \d+ tenants? loaded"))
    mark = d.log_mark()
    src = write_bundle(tmp_path / "g", base_files())
    assert deploy(pg, "bun-g", src).returncode == 0
    d.wait_log("registry: tenant bun-g now runs bundle version 1 (was 0)", mark)
    write_bundle(src, {"static/site.css": "p { color: red }\n"})
    assert deploy(pg, "bun-g", src).returncode == 0
    d.wait_log("registry: tenant bun-g now runs bundle version 2 (was 1)", mark)
    aantafel("tenant", "rollback", "bun-g", "1", env=pg.daemon_env())
    d.wait_log("registry: tenant bun-g now runs bundle version 1 (was 2)", mark)
    assert current(pg, tid) == 1


# ---------------------------------------------------------------- aantafel check


def test_check_reads_every_bundle(tmp_path):
    root = tmp_path / "tenants"
    write_bundle(root / "goed", base_files())
    write_bundle(root / "ook-goed", {"tenant.lua": "return {}\n"})
    (root / "README.md").write_text("not a bundle\n")
    p = aantafel("check", "--tenants", str(root), check=False)
    assert p.returncode == 0, p.stderr
    assert f"ok: {root}/goed\n" in p.stdout and f"ok: {root}/ook-goed\n" in p.stdout
    assert "README" not in p.stdout + p.stderr

    os.symlink("/etc/passwd", root / "ook-goed" / "link.txt")
    write_bundle(root / "Fout", {"tenant.lua": "return {}\n"})
    p = aantafel("check", "--tenants", str(root), check=False)
    assert p.returncode == 1
    assert f"ok: {root}/goed\n" in p.stdout
    assert "link.txt" in p.stderr and "symbolic link" in p.stderr
    assert "'Fout' is not a valid slug" in p.stderr

    p = aantafel("check", "--tenants", str(tmp_path / "nowhere"), check=False)
    assert p.returncode == 1 and "nowhere" in p.stderr
    p = aantafel("check", "--tenants", check=False)
    assert p.returncode == 2


def test_check_warns_about_poor_contrast_and_still_passes(tmp_path):
    root = tmp_path / "tenants"
    write_bundle(root / "goed", {"tenant.lua": 'return { theme = { text = "#000", background = "#fff",'
                                               ' primary = "white" } }\n'})
    write_bundle(root / "grijs", {"tenant.lua": POOR_CONTRAST})
    p = aantafel("check", "--tenants", str(root), check=False)
    assert p.returncode == 0, p.stderr
    assert f"ok: {root}/goed\n" in p.stdout and f"ok: {root}/grijs\n" in p.stdout
    assert p.stderr.count("warning:") == 2, p.stderr
    assert f"warning: {root}/grijs: {TEXT_WARNING}\n" in p.stderr
    assert f"warning: {root}/grijs: {PRIMARY_WARNING}\n" in p.stderr


def test_the_example_bundles_have_no_warnings():
    p = aantafel("check", check=False)
    assert p.returncode == 0, p.stderr
    assert "ok: tenants/zutphen\n" in p.stdout and "ok: tenants/voorbeeld\n" in p.stdout
    assert "warning" not in p.stderr, p.stderr


def test_check_reports_lua_errors_with_file_and_line(tmp_path):
    root = tmp_path / "tenants"
    write_bundle(root / "goed", base_files())
    write_bundle(root / "kapot", {"tenant.lua": 'return {\n  name = "K",\n  x = = 1,\n}\n'})
    p = aantafel("check", "--tenants", str(root), check=False)
    assert p.returncode == 1
    assert f"ok: {root}/goed" in p.stdout
    assert f"{root}/kapot: tenant.lua:3:" in p.stderr, p.stderr


def test_check_with_a_missing_plugins_dir(tmp_path):
    p = aantafel("check", env={"AANTAFEL_PLUGINS_DIR": str(tmp_path / "noplugins")}, check=False)
    assert p.returncode == 1 and "noplugins" in p.stderr and "plugins_dir" in p.stderr
