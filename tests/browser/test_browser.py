"""Browser tests: Debian's Chromium, driven by playwright-core, goes through
the site's pages as a person would (tests/browser/flows.mjs), runs axe-core
on every page and keeps a full-page screenshot of each. This file only sets
the stage with the integration harness: a private PostgreSQL, a tenant on
the method's workflow, an admin, a facilitator, a client and a resident
made with `aantafel user create`, and the real
daemon writing its mails as .eml files; then it runs the Node script
against it."""
import os
import shutil
import subprocess
import sys

import pytest

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "integration"))
from harness import SOURCE_DIR, Daemon, Postgres, aantafel, wait_for  # noqa: E402

CHROMIUM = "/usr/bin/chromium"
NODE_MODULES = os.path.join(SOURCE_DIR, "web", "node_modules")
FLOWS = os.path.join(SOURCE_DIR, "tests", "browser", "flows.mjs")
SLUG, NAME, HOST = "br-a", "Gemeente Browser", "br-a.test"
ADMIN_EMAIL, ADMIN_NAME = "beheer@example.nl", "Bram Beheer"
FACILITATOR_EMAIL, FACILITATOR_NAME = "gespreksleider@example.nl", "Fien Gespreksleider"
# The method's flow: the table's client and a resident who reads the report.
CLIENT_EMAIL, CLIENT_NAME = "opdrachtgever@example.nl", "Otto Opdrachtgever"
READER_EMAIL, READER_NAME = "lezer@example.nl", "Lea Lezer"
PASSWORD = "een lang wachtwoord 123"
BUNDLE = """return { workflow = "volledig", plugins = { methode = {
	question_prefix = false, client_decides = false, min_interviews = 0, seldom_heard = false,
} } }
"""
# A cheap scrypt: the tests sign in a few times, not a thousand.
SMALL = {"AANTAFEL_SCRYPT_N": "1024", "AANTAFEL_SCRYPT_MAXMEM": "16MiB"}


def artefact_dir():
    build = os.environ.get("AANTAFEL_BUILD_DIR", os.path.join(SOURCE_DIR, "build-check"))
    return os.environ.get("AANTAFEL_ARTEFACT_DIR", os.path.join(build, "artefacts", "browser"))


def check_prerequisites():
    """Fails (never skips): `make check` installs all of these."""
    missing = []
    if not os.access(CHROMIUM, os.X_OK):
        missing.append(f"{CHROMIUM} (Debian package chromium: packaging/deps.sh check)")
    node = shutil.which("node")
    if not node:
        missing.append("node (Debian package nodejs: packaging/deps.sh build)")
    for pkg in ("playwright-core", "axe-core"):
        if not os.path.isfile(os.path.join(NODE_MODULES, pkg, "package.json")):
            missing.append(f"web/node_modules/{pkg} (npm devDependency of web/package.json: packaging/web.sh runs npm ci)")
    if missing:
        pytest.fail("browser tests cannot run; missing:\n  " + "\n  ".join(missing) +
                    "\n`make check` installs them all", pytrace=False)
    return node


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    node = check_prerequisites()
    pg = Postgres()
    daemon = None
    try:
        pg.start()
        env = {**pg.daemon_env(), **SMALL}
        aantafel("migrate", env=pg.daemon_env())
        aantafel("tenant", "create", SLUG, "--name", NAME, "--host", HOST, env=pg.daemon_env())
        # The method's workflows, their guards relaxed: the steps flow
        # moves a table on by the API, with the facilitator alone.
        bundle = tmp_path_factory.mktemp("bundle")
        (bundle / "tenant.lua").write_text(BUNDLE)
        aantafel("tenant", "deploy", SLUG, str(bundle), env=pg.daemon_env())
        aantafel("user", "create", "--tenant", SLUG, "--email", ADMIN_EMAIL, "--role", "admin",
                 "--name", ADMIN_NAME, env=env, input=PASSWORD + "\n")
        # The tables scenario's facilitator: a tenant role given by the CLI.
        aantafel("user", "create", "--tenant", SLUG, "--email", FACILITATOR_EMAIL, "--role", "facilitator",
                 "--name", FACILITATOR_NAME, env=env, input=PASSWORD + "\n")
        for email, name in ((CLIENT_EMAIL, CLIENT_NAME), (READER_EMAIL, READER_NAME)):
            aantafel("user", "create", "--tenant", SLUG, "--email", email, "--role", "member",
                     "--name", name, env=env, input=PASSWORD + "\n")
        maildir = str(tmp_path_factory.mktemp("mail"))
        # The real static files: the pages are checked with the CSS they ship with.
        daemon = Daemon({"workers": "2", "static_dir": os.path.join(SOURCE_DIR, "static"),
                         "mail_transport": f"file:{maildir}", "mail_from": "noreply@example.nl",
                         "mail_poll_interval": "200ms", "log_level": "info"}, env)
        daemon.start()
        wait_for(lambda: daemon.get("/inloggen", host=HOST)[0] == 200, what="sign-in page")
        yield node, daemon, maildir
    finally:
        try:
            if daemon is not None:
                rc = daemon.stop()
                assert rc == 0, f"daemon exit code {rc}:\n{daemon.log()[-4000:]}"
        finally:
            if daemon is not None:
                daemon.remove_dir()
            pg.destroy()


# ---- bundle upload: the archives the admin's flow uploads at /beheer/bundel
def upload_archives(root):
    """ROOT/bundel.tar.gz: the tenant's own tenant.lua and one file more (a
    new version that changes nothing the other flows see);
    ROOT/kapot.tar.gz: a tenant.lua with a Lua syntax error on line 2;
    ROOT/weg.tar.gz: another version, uploaded as a draft and deleted."""
    import io
    import tarfile

    def targz(path, files):
        with tarfile.open(path, "w:gz") as tf:
            for name, text in files.items():
                data = text.encode()
                info = tarfile.TarInfo("bundel/" + name)
                info.size = len(data)
                tf.addfile(info, io.BytesIO(data))
    targz(os.path.join(root, "bundel.tar.gz"), {"tenant.lua": BUNDLE, "static/geupload.txt": "versie 2\n"})
    targz(os.path.join(root, "kapot.tar.gz"), {"tenant.lua": "return {\n  name = = 'x'\n}\n"})
    targz(os.path.join(root, "weg.tar.gz"), {"tenant.lua": BUNDLE, "static/geupload.txt": "verwijderd\n"})
    return str(root)
# ---- end of the bundle upload


def test_flows_in_chromium_with_axe(site, tmp_path):
    node, daemon, maildir = site
    out = artefact_dir()
    shutil.rmtree(out, ignore_errors=True)
    os.makedirs(out)
    env = {**os.environ,
           "BROWSER_BASE_URL": f"http://{HOST}:{daemon.port}",
           "BROWSER_MAIL_DIR": os.path.join(maildir, SLUG),
           "BROWSER_ARTEFACT_DIR": out,
           "BROWSER_CHROMIUM": CHROMIUM,
           "BROWSER_NODE_MODULES": NODE_MODULES,
           "BROWSER_ADMIN_EMAIL": ADMIN_EMAIL,
           "BROWSER_ADMIN_NAME": ADMIN_NAME,
           "BROWSER_FACILITATOR_EMAIL": FACILITATOR_EMAIL,
           "BROWSER_FACILITATOR_NAME": FACILITATOR_NAME,
           "BROWSER_CLIENT_EMAIL": CLIENT_EMAIL,
           "BROWSER_CLIENT_NAME": CLIENT_NAME,
           "BROWSER_READER_EMAIL": READER_EMAIL,
           "BROWSER_PASSWORD": PASSWORD,
           "BROWSER_UPLOAD_DIR": upload_archives(tmp_path)}
    print(f"\nbrowser: {FLOWS} against {env['BROWSER_BASE_URL']}; screenshots in {out}", flush=True)
    # Output goes straight through (pytest -s under ctest): the per-page
    # lines name each screenshot and what axe found.
    # AANTAFEL_BROWSER_ONLY=PATTERN runs the flows whose name matches it.
    only = os.environ.get("AANTAFEL_BROWSER_ONLY")
    r = subprocess.run([node, "--test-reporter=spec"] + ([f"--test-name-pattern={only}"] if only else []) + [FLOWS],
                       env=env, cwd=SOURCE_DIR, timeout=1080)
    assert r.returncode == 0, (f"browser flows failed (exit {r.returncode}); see the output above,"
                               f" screenshots in {out}\ndaemon log tail:\n{daemon.log()[-3000:]}")
