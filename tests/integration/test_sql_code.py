"""The database's code (sql/code) as `aantafel migrate` applies it after
the numbered files, every time and in one transaction: a fresh database
and one upgraded from the schema before sql/code existed end with the
same catalogue; what the code no longer defines is dropped, unless the
schema still needs it; a broken file changes nothing; the grants in
sql/code/grants.sql are all there is."""
import os
import re
import shutil
import subprocess
import tempfile

import pytest

from harness import SOURCE_DIR
from migrate_util import SQL_DIR, FreshDb, applied, copy_sql, sha256, sql_files


@pytest.fixture
def fresh(pg):
    return FreshDb(pg)


@pytest.fixture
def sqlcopy():
    d = copy_sql()
    yield d
    shutil.rmtree(d, ignore_errors=True)


def write(d, name, text):
    with open(os.path.join(d, name), "w") as f:
        f.write(text)


def migrated(db, sql_dir=SQL_DIR):
    p = db.migrate(sql_dir)
    assert p.returncode == 0, p.stdout + p.stderr
    assert "AddressSanitizer" not in p.stderr
    return p


# ---------------------------------------------------------------- upgrade

def git(*args):
    return subprocess.run(["git", "-C", SOURCE_DIR, *args], capture_output=True, text=True)


def sql_before_code():
    """The numbered files of the last commit before sql/code existed (the
    parent of the first commit that added a file there; HEAD while it is
    not committed), written to a new folder."""
    added = git("log", "--diff-filter=A", "--format=%H", "--", "sql/code")
    assert added.returncode == 0, f"the upgrade test needs the repository's history:\n{added.stderr}"
    first = added.stdout.split()[-1:] or []
    base = git("rev-parse", "--verify", (first[0] + "^") if first else "HEAD")
    assert base.returncode == 0, \
        f"the commit before sql/code is not in this clone (a shallow one? git fetch --unshallow):\n{base.stderr}"
    base = base.stdout.strip()
    names = git("ls-tree", "--name-only", base, "sql/").stdout.split()
    d = tempfile.mkdtemp(prefix="aantafel-sql-before-")
    for path in names:
        name = os.path.basename(path)
        if re.match(r"^[0-9]{3}_.*\.sql$", name):
            text = subprocess.run(["git", "-C", SOURCE_DIR, "show", f"{base}:{path}"], capture_output=True,
                                  check=True).stdout
            with open(os.path.join(d, name), "wb") as f:
                f.write(text)
    assert not os.path.exists(os.path.join(d, "code"))
    return base, d


def migrate_as_before(db, d):
    """What `aantafel migrate` did before sql/code existed: each numbered
    file once, in its own transaction together with its row in
    platform.schema_migrations."""
    c = db.connect("owner")
    try:
        cur = c.cursor()
        cur.execute("SET client_min_messages = warning")
        cur.execute("CREATE SCHEMA IF NOT EXISTS platform")
        cur.execute("CREATE TABLE IF NOT EXISTS platform.schema_migrations ("
                    " name text PRIMARY KEY, checksum text NOT NULL,"
                    " applied_at timestamptz NOT NULL DEFAULT now())")
        for name in sql_files(d):
            with open(os.path.join(d, name), encoding="utf-8") as f:
                text = f.read()
            cur.execute("BEGIN")
            cur.execute(text)
            cur.execute("INSERT INTO platform.schema_migrations (name, checksum) VALUES (%s, %s)",
                        (name, sha256(os.path.join(d, name))))
            cur.execute("COMMIT")
    finally:
        c.close()


SOME_DATA = """
INSERT INTO platform.tenants (slug, name) VALUES ('oud', 'Oud');
SELECT set_config('aantafel.tenant_id', (SELECT id FROM platform.tenants WHERE slug = 'oud')::text, false);
INSERT INTO accounts (tenant_id, email, display_name) SELECT id, 'anne@example.nl', 'Anne' FROM platform.tenants;
INSERT INTO account_tokens (tenant_id, token_hash, account_id, purpose, new_email, expires_at)
SELECT tenant_id, sha256('x'), id, 'email', 'anne@nieuw.example', now() + interval '1 day' FROM accounts;
INSERT INTO tables (tenant_id, title, question, visibility, created_by)
SELECT tenant_id, 'Een tafel', 'Wat is ervoor nodig?', 'public', id FROM accounts;
INSERT INTO table_members (tenant_id, table_id, account_id, role)
SELECT a.tenant_id, t.id, a.id, 'facilitator' FROM accounts a JOIN tables t USING (tenant_id);
INSERT INTO contributions (tenant_id, table_id, author_id, body, body_html)
SELECT a.tenant_id, t.id, a.id, 'Ruimte om te spelen', '<p>Ruimte om te spelen</p>'
  FROM accounts a JOIN tables t USING (tenant_id);
"""


def test_upgrade_from_the_schema_before_code_equals_a_fresh_migrate(pg):
    """A database migrated by the tree before sql/code (with data in it),
    then by this tree, has the catalogue of a database migrated by this
    tree alone: pg_dump --schema-only is the same, to the byte, but for
    the \\restrict key pg_dump draws for every dump. Its data is still
    read by the new code, as the daemon's role."""
    base, before = sql_before_code()
    try:
        old = FreshDb(pg)
        migrate_as_before(old, before)
        c = old.connect("owner")
        try:
            c.cursor().execute(SOME_DATA)
        finally:
            c.close()
        p = migrated(old)
        new_files = [f for f in sql_files() if f not in sql_files(before)]
        assert applied(p.stdout) == new_files, (base, p.stdout)
        assert "dropped function api.table_object(tables,text,bigint)" in p.stdout

        new = FreshDb(pg)
        p = migrated(new)
        assert applied(p.stdout) == sql_files()
        old_dump, new_dump = old.dump(), new.dump()
        assert "CREATE FUNCTION api.find_table(" in new_dump
        if old_dump != new_dump:
            import difflib
            diff = "".join(difflib.unified_diff(new_dump.splitlines(True), old_dump.splitlines(True),
                                                "fresh", "upgraded", n=2))
            pytest.fail(f"the upgraded catalogue differs from the fresh one (from {base}):\n{diff[:20000]}")

        # The old rows, through the new code, as the daemon reads them.
        tid, aid, tbl = old.query("SELECT t.id, a.id, x.id FROM platform.tenants t JOIN accounts a ON a.tenant_id = t.id"
                                  " JOIN tables x ON x.tenant_id = t.id")[0]
        c = old.connect("app")
        try:
            cur = c.cursor()
            cur.execute("SELECT set_config('aantafel.tenant_id', %s, false)", (str(tid),))
            cur.execute("SELECT api.table_get(%s, %s, '', jsonb_build_object('id', %s))", (tid, aid, tbl))
            got = cur.fetchone()[0]
            assert got["status"] == 200 and got["body"]["my_role"] == "facilitator", got
            assert got["body"]["contributions"] == 1
            cur.execute("SELECT api.search(%s, NULL, NULL, '{\"q\": \"spelen\"}')", (tid,))
            assert [x["table_id"] for x in cur.fetchone()[0]["body"]["contributions"]] == [tbl]
            # Erasing finds the address asked for before the upgrade.
            cur.execute("SELECT * FROM platform.account_erase(%s, %s)", (tid, aid))
            assert cur.fetchall() == [(aid,)]
        finally:
            c.close()
        assert old.query("SELECT count(*) FROM account_addresses") == [(0,)]
        # The tenant that was there got its first notification digests
        # (sql/033), each of which schedules the next.
        assert old.query("SELECT kind FROM jobs WHERE tenant_id = %s AND state = 'pending' ORDER BY kind",
                         (tid,)) == [("digest.daily",), ("digest.weekly",)]
    finally:
        shutil.rmtree(before, ignore_errors=True)


# ---------------------------------------------------------------- the sweep

PROBES = """
CREATE OR REPLACE FUNCTION api.probe_one() RETURNS int LANGUAGE sql IMMUTABLE AS $$ SELECT 1 $$;
CREATE OR REPLACE FUNCTION api.probe_one(x int) RETURNS int LANGUAGE sql IMMUTABLE AS $$ SELECT x $$;
CREATE OR REPLACE VIEW api.probe_view AS SELECT api.probe_one() AS one;
"""


def test_what_the_code_no_longer_defines_is_dropped(fresh, sqlcopy):
    write(os.path.join(sqlcopy, "code"), "probes.sql", PROBES)
    with open(os.path.join(sqlcopy, "code", "grants.sql")) as f:
        grants = f.read()
    write(os.path.join(sqlcopy, "code"), "grants.sql", grants + "GRANT SELECT ON api.probe_view TO aantafel_app;\n")
    migrated(fresh, sqlcopy)
    assert fresh.function("api.probe_one()") and fresh.function("api.probe_one(int)")
    assert fresh.query("SELECT one FROM api.probe_view") == [(1,)]
    assert fresh.query("SELECT has_table_privilege('aantafel_app', 'api.probe_view', 'SELECT')") == [(True,)]

    # One overload and the view go; what uses nothing gone stays.
    write(os.path.join(sqlcopy, "code"), "probes.sql",
          "CREATE OR REPLACE FUNCTION api.probe_one(x int) RETURNS int LANGUAGE sql IMMUTABLE AS $$ SELECT x $$;\n")
    write(os.path.join(sqlcopy, "code"), "grants.sql", grants)
    p = migrated(fresh, sqlcopy)
    assert re.findall(r"^dropped .*$", p.stdout, re.M) == [
        f"dropped view api.probe_view (not in {sqlcopy}/code)",
        f"dropped function api.probe_one() (not in {sqlcopy}/code)"], p.stdout
    assert fresh.function("api.probe_one()") is None and fresh.function("api.probe_one(int)")
    assert not fresh.exists("api.probe_view")

    os.remove(os.path.join(sqlcopy, "code", "probes.sql"))
    p = migrated(fresh, sqlcopy)
    assert "dropped function api.probe_one(integer)" in p.stdout
    assert fresh.function("api.probe_one(int)") is None


def test_a_function_the_schema_needs_is_not_dropped(fresh, sqlcopy):
    """A trigger's function taken out of the code stops the migration, and
    the code's transaction leaves everything as it was."""
    write(sqlcopy, "950_probe.sql", """
        CREATE TABLE platform.probe (id int);
        CREATE FUNCTION platform.probe_seen() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RETURN NULL; END $$;
        CREATE TRIGGER probe_seen AFTER INSERT ON platform.probe FOR EACH ROW EXECUTE FUNCTION platform.probe_seen();
        """)
    write(os.path.join(sqlcopy, "code"), "probe.sql", """
        CREATE OR REPLACE FUNCTION platform.probe_seen() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN RETURN NULL; END $$;
        """)
    migrated(fresh, sqlcopy)

    os.remove(os.path.join(sqlcopy, "code", "probe.sql"))
    with open(os.path.join(sqlcopy, "code", "api.sql"), "a") as f:
        f.write("CREATE OR REPLACE FUNCTION api.probe_two() RETURNS int LANGUAGE sql AS $$ SELECT 2 $$;\n")
    before = fresh.dump()
    p = fresh.migrate(sqlcopy)
    assert p.returncode == 1, p.stdout
    assert "function platform.probe_seen() is not in the code any more, and cannot go" in p.stderr, p.stderr
    assert "trigger probe_seen on table platform.probe depends on function platform.probe_seen()" in p.stderr
    assert "hint: define it in the code again, or drop what uses it in a numbered migration" in p.stderr
    assert "dropped" not in p.stdout
    assert fresh.dump() == before
    assert fresh.function("api.probe_two()") is None


def test_a_broken_code_file_changes_nothing(fresh, sqlcopy):
    migrated(fresh, sqlcopy)
    before = fresh.dump()
    code = os.path.join(sqlcopy, "code")
    # A change that would be applied, in a file before the broken one ...
    with open(os.path.join(code, "api.sql")) as f:
        text = f.read()
    write(code, "api.sql", text.replace("'There is nothing here.'", "'Niets.'"))
    write(code, "zz_broken.sql",
          "CREATE OR REPLACE FUNCTION api.probe_ok() RETURNS int LANGUAGE sql AS $$ SELECT 1 $$;\n"
          "\n"
          "CREATE OR REPLAC FUNCTION api.probe_bad() RETURNS int LANGUAGE sql AS $$ SELECT 1 $$;\n")
    p = fresh.migrate(sqlcopy)
    assert p.returncode == 1
    assert f"{code}/zz_broken.sql:3: syntax error" in p.stderr, p.stderr
    assert fresh.dump() == before
    assert "There is nothing here." in fresh.function("api.not_found()")

    # A body that does not fit the schema is found once all the code is
    # there, and named.
    write(code, "zz_broken.sql",
          "CREATE OR REPLACE FUNCTION api.probe_ok() RETURNS bigint LANGUAGE sql AS $$\n"
          "    SELECT count(*) FROM tables WHERE nosuchcolumn\n$$;\n")
    p = fresh.migrate(sqlcopy)
    assert p.returncode == 1
    assert f"{code}: api.probe_ok(): column \"nosuchcolumn\" does not exist" in p.stderr, p.stderr
    assert fresh.dump() == before

    os.remove(os.path.join(code, "zz_broken.sql"))
    migrated(fresh, sqlcopy)
    assert "Niets." in fresh.function("api.not_found()")

    # A code file may not end the transaction (what came before it is
    # then committed): migrate stops and names it.
    write(code, "zz_broken.sql", "COMMIT;\n")
    p = fresh.migrate(sqlcopy)
    assert p.returncode == 1 and f"{code}/zz_broken.sql: ends the transaction" in p.stderr, p.stderr


def test_what_create_or_replace_cannot_change_says_what_to_do(fresh, sqlcopy):
    """Another return type needs the old function dropped first, in a
    numbered file; then the code defines the new one."""
    migrated(fresh, sqlcopy)
    code = os.path.join(sqlcopy, "code")
    with open(os.path.join(code, "api.sql")) as f:
        text = f.read()
    old = "CREATE OR REPLACE FUNCTION api.cursor(id bigint) RETURNS text\nLANGUAGE sql IMMUTABLE AS $$"
    assert old in text
    write(code, "api.sql", text.replace(old, "CREATE OR REPLACE FUNCTION api.cursor(id bigint) RETURNS varchar\n"
                                              "LANGUAGE sql IMMUTABLE AS $$"))
    p = fresh.migrate(sqlcopy)
    assert p.returncode == 1
    assert "cannot change return type of existing function" in p.stderr
    assert "hint: Use DROP FUNCTION api.cursor(bigint) first." in p.stderr, p.stderr
    write(sqlcopy, "950_cursor.sql", "DROP FUNCTION api.cursor(bigint);\n")
    migrated(fresh, sqlcopy)
    assert "RETURNS character varying" in fresh.function("api.cursor(bigint)")


# ---------------------------------------------------------------- grants

def platform_grants():
    """The platform functions that grants.sql lets the daemon's role call."""
    with open(os.path.join(SQL_DIR, "code", "grants.sql")) as f:
        text = f.read()
    block = text[text.index("GRANT EXECUTE ON FUNCTION"):]
    return sorted(re.findall(r"(platform\.\w+)\(", block[:block.index("TO aantafel_app")]))


def test_grants_are_all_there_is(fresh, sqlcopy):
    migrated(fresh, sqlcopy)
    rows = fresh.query(
        "SELECT s.nspname, p.oid::regprocedure::text, p.proname, p.prorettype = 'trigger'::regtype,"
        "       has_function_privilege('aantafel_app', p.oid, 'EXECUTE'),"
        "       EXISTS (SELECT 1 FROM aclexplode(coalesce(p.proacl, acldefault('f', p.proowner))) a WHERE a.grantee = 0)"
        "  FROM pg_proc p JOIN pg_namespace s ON s.oid = p.pronamespace"
        " WHERE s.nspname IN ('api', 'platform') ORDER BY 2")
    assert rows
    assert [r[1] for r in rows if r[5]] == []                          # nothing for PUBLIC
    assert [r[1] for r in rows if r[0] == "api" and not r[4]] == []    # every operation and helper
    callable_ = sorted("platform." + r[2] for r in rows if r[0] == "platform" and r[4])
    assert callable_ == platform_grants()
    assert all(not r[4] for r in rows if r[3])                         # no trigger function

    # A grant taken out of grants.sql is taken away; put back, it is back.
    code = os.path.join(sqlcopy, "code")
    with open(os.path.join(code, "grants.sql")) as f:
        text = f.read()
    write(code, "grants.sql", text.replace("    platform.address_key(text),\n", ""))
    migrated(fresh, sqlcopy)
    assert fresh.query("SELECT has_function_privilege('aantafel_app', 'platform.address_key(text)', 'EXECUTE')") \
        == [(False,)]
    write(code, "grants.sql", text)
    migrated(fresh, sqlcopy)
    assert fresh.query("SELECT has_function_privilege('aantafel_app', 'platform.address_key(text)', 'EXECUTE')") \
        == [(True,)]


# ---------------------------------------------------------------- one place

def test_one_live_definition_per_function(pg):
    """Each function of the schemas api and platform is defined once, in
    one file of sql/code: as many definitions of a name as the database
    has overloads of it, all in one file; grants.sql defines none."""
    files = {}
    count = {}
    code = os.path.join(SQL_DIR, "code")
    for name in sorted(os.listdir(code)):
        with open(os.path.join(code, name)) as f:
            text = f.read()
        assert not re.search(r"^\s*CREATE\s+(FUNCTION|VIEW)", text, re.M | re.I), f"{name}: CREATE without OR REPLACE"
        for fn in re.findall(r"CREATE OR REPLACE FUNCTION (\w+\.\w+)\(", text):
            files.setdefault(fn, set()).add(name)
            count[fn] = count.get(fn, 0) + 1
    with pg.connect("owner") as c, c.cursor() as cur:
        cur.execute("SELECT s.nspname || '.' || p.proname, count(*) FROM pg_proc p"
                    "  JOIN pg_namespace s ON s.oid = p.pronamespace"
                    " WHERE s.nspname IN ('api', 'platform') GROUP BY 1")
        live = dict(cur.fetchall())
    assert live == count
    assert {fn: f for fn, f in files.items() if len(f) > 1} == {}
    assert "grants.sql" not in set().union(*files.values())
