"""`aantafel migrate` against fresh databases of the test cluster: applies
each numbered file once with a checksum, and the code of sql/code after
them; is safe twice and from two processes at once, refuses changed
applied files, and leaves nothing of a broken one. The code's own rules
are test_sql_code.py's."""
import os
import re
import shutil
import subprocess

import pytest

from harness import BIN, SOURCE_DIR, aantafel
from migrate_util import SQL_DIR, FreshDb, applied, copy_sql, sha256, sql_files


@pytest.fixture
def fresh(pg):
    return FreshDb(pg)


@pytest.fixture
def sqlcopy():
    d = copy_sql()
    yield d
    shutil.rmtree(d, ignore_errors=True)


def test_fresh_database_then_up_to_date(fresh):
    files = sql_files()
    assert files and files[0].startswith("001_")
    p = fresh.migrate()
    assert p.returncode == 0, p.stderr
    assert applied(p.stdout) == files
    assert re.search(r"^code from \S+/code: \d+ files, \d+ functions$", p.stdout, re.M), p.stdout
    rec = fresh.recorded()
    assert [(n, s) for n, s, _ in rec] == [(f, sha256(os.path.join(SQL_DIR, f))) for f in files]
    # The schema is there: the registry and the tenant tables.
    assert fresh.exists("platform.tenants") and fresh.exists("platform.tenant_hosts")
    assert fresh.exists("public.plugin_store")

    dump = fresh.dump()
    p = fresh.migrate()
    assert p.returncode == 0, p.stderr
    assert "up to date" in p.stdout
    assert applied(p.stdout) == [] and "dropped" not in p.stdout
    assert fresh.recorded() == rec                         # nothing re-applied, not even re-stamped
    assert fresh.dump() == dump                            # the code again, the same catalogue


def test_migrate_help_and_bad_arguments():
    p = aantafel("migrate", "--help", check=False)
    assert p.returncode == 0 and "advisory lock" in p.stdout
    p = aantafel("migrate", "--bogus", check=False)
    assert p.returncode == 2 and "--bogus" in p.stderr


def test_distribute_needs_citus(fresh):
    """--distribute on a PostgreSQL without Citus says so and fails; the
    same database then migrates without it (the cluster's own tests are
    the label citus)."""
    p = aantafel("migrate", "--distribute", env=fresh.env(), check=False)
    assert p.returncode == 1, p.stdout
    assert "citus extension is not in database" in p.stderr and "CREATE EXTENSION citus" in p.stderr
    p = fresh.migrate()
    assert p.returncode == 0, p.stderr
    assert re.search(r"^code from \S+/code: \d+ files, \d+ functions$", p.stdout, re.M), p.stdout


def test_no_owner_url_or_unreachable_database(fresh, tmp_path):
    p = aantafel("migrate", env={"AANTAFEL_SQL_DIR": SQL_DIR}, check=False)
    assert p.returncode == 1 and "owner_database_url" in p.stderr
    p = aantafel("migrate", env={"AANTAFEL_SQL_DIR": SQL_DIR,
                                 "AANTAFEL_OWNER_DATABASE_URL": f"host={tmp_path} dbname=x user=y"}, check=False)
    assert p.returncode == 1 and "connect" in p.stderr
    p = aantafel("migrate", env=fresh.env(str(tmp_path / "missing")), check=False)
    assert p.returncode == 1 and "missing" in p.stderr


def test_no_code_no_migration(fresh, sqlcopy):
    """Without its code (sql/code missing or empty) a tree is incomplete:
    nothing is applied, since the code's sweep would drop every function."""
    code = os.path.join(sqlcopy, "code")
    for f in os.listdir(code):
        os.remove(os.path.join(code, f))
    p = fresh.migrate(sqlcopy)
    assert p.returncode == 1 and "holds no .sql files" in p.stderr, p.stderr
    os.rmdir(code)
    p = fresh.migrate(sqlcopy)
    assert p.returncode == 1 and code in p.stderr, p.stderr
    assert not fresh.exists("platform.tenants")


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
    done = [f for out, _ in outs for f in applied(out)]
    assert sorted(done) == sql_files()
    assert sum("up to date" in out for out, _ in outs) >= 1
    assert all("code from" in out for out, _ in outs)
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
    done = [f for out, _ in outs for f in applied(out)]
    assert sorted(done) == sql_files()
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
    assert applied(p.stdout) == [name]
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
