"""`aantafel migrate` against fresh databases of the test cluster: applies
each file once with a checksum, is safe twice and from two processes at
once, refuses changed applied files, and leaves nothing of a broken one."""
import glob
import hashlib
import itertools
import os
import re
import shutil
import subprocess
import tempfile

import pytest

from harness import BIN, SOURCE_DIR, aantafel

SQL_DIR = os.path.join(SOURCE_DIR, "sql")
_n = itertools.count()


def sql_files(d=SQL_DIR):
    return sorted(os.path.basename(f) for f in glob.glob(os.path.join(d, "[0-9][0-9][0-9]_*.sql")))


def sha256(path):
    with open(path, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()


class FreshDb:
    """A new empty database in the test cluster, set up the way
    packaging/pg.sh sets up 'aantafel'."""

    def __init__(self, pg):
        import psycopg2
        self.pg = pg
        self.name = f"mig_{os.getpid()}_{next(_n)}"
        # Autocommit, and no `with conn:` (psycopg2 >= 2.9 opens a
        # transaction there even in autocommit; CREATE DATABASE refuses).
        c = pg.connect("super")
        try:
            cur = c.cursor()
            cur.execute(f"CREATE DATABASE {self.name} OWNER aantafel_owner")
            cur.execute(f"REVOKE ALL ON DATABASE {self.name} FROM PUBLIC")
            cur.execute(f"GRANT CONNECT, TEMPORARY ON DATABASE {self.name} TO aantafel_app")
        finally:
            c.close()
        c = psycopg2.connect(self.url("super"))
        c.autocommit = True
        try:
            cur = c.cursor()
            cur.execute("ALTER SCHEMA public OWNER TO aantafel_owner")
            cur.execute("REVOKE ALL ON SCHEMA public FROM PUBLIC")
            cur.execute("GRANT USAGE ON SCHEMA public TO aantafel_app")
        finally:
            c.close()

    def url(self, role="owner"):
        base = {"app": self.pg.app_url, "owner": self.pg.owner_url, "super": self.pg.super_url}[role]
        assert "dbname=aantafel " in base + " "
        return re.sub(r"dbname=aantafel\b", f"dbname={self.name}", base)

    def env(self, sql_dir=SQL_DIR):
        return {"AANTAFEL_OWNER_DATABASE_URL": self.url("owner"), "AANTAFEL_SQL_DIR": sql_dir}

    def migrate(self, sql_dir=SQL_DIR):
        return aantafel("migrate", env=self.env(sql_dir), check=False)

    def query(self, sql, args=()):
        import psycopg2
        c = psycopg2.connect(self.url("super"))
        c.autocommit = True
        try:
            cur = c.cursor()
            cur.execute(sql, args)
            return cur.fetchall()
        finally:
            c.close()

    def recorded(self):
        return self.query("SELECT name, checksum, applied_at FROM platform.schema_migrations ORDER BY name")

    def exists(self, regclass):
        return self.query("SELECT to_regclass(%s) IS NOT NULL", (regclass,))[0][0]


@pytest.fixture
def fresh(pg):
    return FreshDb(pg)


@pytest.fixture
def sqlcopy():
    d = tempfile.mkdtemp(prefix="aantafel-sql-")
    for f in sql_files():
        shutil.copy(os.path.join(SQL_DIR, f), d)
    yield d
    shutil.rmtree(d, ignore_errors=True)


def test_fresh_database_then_up_to_date(fresh):
    files = sql_files()
    assert files and files[0].startswith("001_")
    p = fresh.migrate()
    assert p.returncode == 0, p.stderr
    assert re.findall(r"^applied (\S+)$", p.stdout, re.M) == files
    rec = fresh.recorded()
    assert [(n, s) for n, s, _ in rec] == [(f, sha256(os.path.join(SQL_DIR, f))) for f in files]
    # The schema is there: the registry and the tenant tables.
    assert fresh.exists("platform.tenants") and fresh.exists("platform.tenant_hosts")
    assert fresh.exists("public.plugin_store")

    p = fresh.migrate()
    assert p.returncode == 0, p.stderr
    assert "up to date" in p.stdout
    assert "applied" not in p.stdout
    assert fresh.recorded() == rec                         # nothing re-applied, not even re-stamped


def test_migrate_help_and_bad_arguments():
    p = aantafel("migrate", "--help", check=False)
    assert p.returncode == 0 and "advisory lock" in p.stdout
    p = aantafel("migrate", "--bogus", check=False)
    assert p.returncode == 2 and "--bogus" in p.stderr


def test_no_owner_url_or_unreachable_database(fresh, tmp_path):
    p = aantafel("migrate", env={"AANTAFEL_SQL_DIR": SQL_DIR}, check=False)
    assert p.returncode == 1 and "owner_database_url" in p.stderr
    p = aantafel("migrate", env={"AANTAFEL_SQL_DIR": SQL_DIR,
                                 "AANTAFEL_OWNER_DATABASE_URL": f"host={tmp_path} dbname=x user=y"}, check=False)
    assert p.returncode == 1 and "connect" in p.stderr
    p = aantafel("migrate", env=fresh.env(str(tmp_path / "missing")), check=False)
    assert p.returncode == 1 and "missing" in p.stderr


@pytest.mark.parametrize("round", range(3))
def test_two_processes_at_the_same_moment(pg, round):
    fresh = FreshDb(pg)
    env = {k: v for k, v in os.environ.items() if not k.startswith("AANTAFEL_")}
    env.update(fresh.env())
    # Both exec'ed before either can have connected.
    procs = [subprocess.Popen([BIN, "migrate"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                              env=env, cwd=SOURCE_DIR) for _ in range(2)]
    outs = [p.communicate(timeout=300) for p in procs]
    for p, (out, err) in zip(procs, outs):
        assert p.returncode == 0, f"exit {p.returncode}:\n{out}\n{err}"
        assert "AddressSanitizer" not in err
    # Between them, each file was applied exactly once; the one that
    # waited found nothing left to do.
    applied = [f for out, _ in outs for f in re.findall(r"^applied (\S+)$", out, re.M)]
    assert sorted(applied) == sql_files()
    assert sum("up to date" in out for out, _ in outs) >= 1
    rec = fresh.recorded()
    assert [n for n, _, _ in rec] == sql_files()
    assert fresh.exists("public.plugin_store")


def test_two_processes_held_until_both_are_connected(pg):
    """The same, with an overlap that does not depend on timing: an
    uncommitted CREATE SCHEMA platform holds whichever migrate gets to its
    own CREATE SCHEMA first; once both processes wait on locks, it rolls
    back and both go on. Without migrate's own serialisation both would
    then create the same objects and one would fail."""
    import psycopg2
    from harness import wait_for
    fresh = FreshDb(pg)
    blocker = psycopg2.connect(fresh.url("super"))
    try:
        cur = blocker.cursor()
        cur.execute("CREATE SCHEMA platform")            # transaction left open
        cur.execute("SELECT pg_backend_pid()")
        me = cur.fetchone()[0]
        env = {k: v for k, v in os.environ.items() if not k.startswith("AANTAFEL_")}
        env.update(fresh.env())
        procs = [subprocess.Popen([BIN, "migrate"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                  env=env, cwd=SOURCE_DIR) for _ in range(2)]

        def waiting():
            rows = fresh.query("SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()"
                               " AND pid <> %s AND wait_event_type = 'Lock'", (me,))
            return rows[0][0] == 2 or any(p.poll() is not None for p in procs)
        wait_for(waiting, timeout=60, interval=0.1, what="both migrate processes waiting on a lock")
        assert all(p.poll() is None for p in procs), [p.communicate() for p in procs]
    finally:
        blocker.rollback()
        blocker.close()
    outs = [p.communicate(timeout=300) for p in procs]
    for p, (out, err) in zip(procs, outs):
        assert p.returncode == 0, f"exit {p.returncode}:\n{out}\n{err}"
    applied = [f for out, _ in outs for f in re.findall(r"^applied (\S+)$", out, re.M)]
    assert sorted(applied) == sql_files()
    assert sum("up to date" in out for out, _ in outs) == 1
    assert [n for n, _, _ in fresh.recorded()] == sql_files()


def test_changed_applied_file_is_refused(fresh, sqlcopy):
    p = fresh.migrate(sqlcopy)
    assert p.returncode == 0, p.stderr
    before = fresh.recorded()
    target = os.path.join(sqlcopy, sql_files()[-1])
    with open(target, "a") as f:
        f.write("\n-- a comment is a change too\n")
    # A new file after it must not run either.
    with open(os.path.join(sqlcopy, "990_after_change.sql"), "w") as f:
        f.write("CREATE TABLE platform.after_change (id int);\n")
    p = fresh.migrate(sqlcopy)
    assert p.returncode == 1, (p.stdout, p.stderr)
    assert os.path.basename(target) in p.stderr
    assert "changed" in p.stderr
    assert "ERROR:" not in p.stderr
    assert not fresh.exists("platform.after_change")
    assert fresh.recorded() == before

    # Putting the file back makes it acceptable again.
    shutil.copy(os.path.join(SQL_DIR, os.path.basename(target)), target)
    p = fresh.migrate(sqlcopy)
    assert p.returncode == 0, p.stderr
    assert "applied 990_after_change.sql" in p.stdout
    assert fresh.exists("platform.after_change")


BROKEN = {
    # name: (file text, line the error is on)
    "unknown_type": (
        "-- Een migratie voor Zo\u00eb, \u00e9\u00e9n regel met accenten: \u00e0\u00e8\u00ec\u00f2\u00f9\n"
        "CREATE TABLE platform.probe_ok (id int PRIMARY KEY);\n"
        "INSERT INTO platform.probe_ok VALUES (1), (2);\n"
        "\n"
        "CREATE TABLE platform.probe_bad (\n"
        "    id int,\n"
        "    v  nosuchtype\n"
        ");\n", 7),
    "syntax": (
        "CREATE TABLE platform.probe_ok (id int);\n"
        "-- \u201cgekrulde aanhalingstekens\u201d en \u20ac\n"
        "SELEC 1;\n", 3),
    "unknown_column": (
        "CREATE TABLE platform.probe_ok (id int);\n"
        "CREATE INDEX probe_ok_idx ON platform.probe_ok (id);\n"
        "\n\n\n"
        "SELECT nosuchcolumn FROM platform.probe_ok;\n", 6),
}


@pytest.mark.parametrize("kind", sorted(BROKEN))
def test_broken_migration_reports_file_and_line_and_leaves_nothing(fresh, sqlcopy, kind):
    text, line = BROKEN[kind]
    name = "950_broken.sql"
    with open(os.path.join(sqlcopy, name), "w", encoding="utf-8") as f:
        f.write(text)
    p = fresh.migrate(sqlcopy)
    assert p.returncode == 1, (p.stdout, p.stderr)
    assert f"{name}:{line}:" in p.stderr, p.stderr
    assert "AddressSanitizer" not in p.stderr
    # The files before it were applied (each in its own transaction) ...
    assert [n for n, _, _ in fresh.recorded()] == sql_files()
    # ... and nothing of it exists, nor is it recorded.
    assert not fresh.exists("platform.probe_ok")
    assert not fresh.exists("platform.probe_bad")
    assert not fresh.exists("platform.probe_ok_idx")

    # A second run fails the same way (nothing was left to trip over).
    p = fresh.migrate(sqlcopy)
    assert p.returncode == 1 and f"{name}:{line}:" in p.stderr, p.stderr

    # Fixed, it applies.
    with open(os.path.join(sqlcopy, name), "w") as f:
        f.write("CREATE TABLE platform.probe_ok (id int);\n")
    p = fresh.migrate(sqlcopy)
    assert p.returncode == 0, p.stderr
    assert p.stdout.strip() == f"applied {name}"
    assert fresh.exists("platform.probe_ok")


def test_runtime_error_names_the_file(fresh, sqlcopy):
    """An error without a position in the text (raised while executing)
    still names the file and leaves nothing behind."""
    with open(os.path.join(sqlcopy, "960_runtime.sql"), "w") as f:
        f.write("CREATE TABLE platform.probe_rt (id int);\nSELECT 1 / 0;\n")
    p = fresh.migrate(sqlcopy)
    assert p.returncode == 1
    assert "960_runtime.sql" in p.stderr and "division by zero" in p.stderr
    assert not fresh.exists("platform.probe_rt")
    assert "960_runtime.sql" not in [n for n, _, _ in fresh.recorded()]


def test_files_sharing_a_number_are_refused(fresh, sqlcopy):
    first = sql_files()[0]
    shutil.copy(os.path.join(sqlcopy, first), os.path.join(sqlcopy, first[:3] + "_duplicate.sql"))
    p = fresh.migrate(sqlcopy)
    assert p.returncode == 1 and first[:3] in p.stderr
    assert not fresh.exists("platform.tenants")
