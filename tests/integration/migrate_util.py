"""What the tests of `aantafel migrate` share: new empty databases in the
test cluster, the SQL tree's files, and a copy of it to change."""
import glob
import hashlib
import itertools
import os
import re
import shutil
import subprocess
import tempfile

from harness import SOURCE_DIR, aantafel

SQL_DIR = os.path.join(SOURCE_DIR, "sql")
CODE_DIR = os.path.join(SQL_DIR, "code")
_n = itertools.count()


def sql_files(d=SQL_DIR):
    """The numbered migrations of D, in order."""
    return sorted(os.path.basename(f) for f in glob.glob(os.path.join(d, "[0-9][0-9][0-9]_*.sql")))


def sha256(path):
    with open(path, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()


def applied(out):
    """The numbered files a migrate's output says it applied."""
    return re.findall(r"^applied (\S+)$", out, re.M)


def copy_sql():
    """A copy of sql/ (numbered files and code) in a new temporary folder."""
    d = tempfile.mkdtemp(prefix="aantafel-sql-")
    for f in sql_files():
        shutil.copy(os.path.join(SQL_DIR, f), d)
    shutil.copytree(CODE_DIR, os.path.join(d, "code"))
    return d


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

    def connect(self, role="super"):
        import psycopg2
        c = psycopg2.connect(self.url(role))
        c.autocommit = True
        return c

    def query(self, sql, args=(), role="super"):
        c = self.connect(role)
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

    def function(self, signature):
        """The function's definition, or None when there is none."""
        rows = self.query("SELECT pg_get_functiondef(to_regprocedure(%s)) WHERE to_regprocedure(%s) IS NOT NULL",
                          (signature, signature))
        return rows[0][0] if rows else None

    def dump(self):
        """pg_dump --schema-only, without what differs between any two
        dumps: the \\restrict key that pg_dump draws for each one."""
        bindir = sorted(os.listdir("/usr/lib/postgresql"))[-1]
        p = subprocess.run([f"/usr/lib/postgresql/{bindir}/bin/pg_dump", "--schema-only", "-d", self.url("super")],
                           capture_output=True, text=True, check=True)
        return "".join(line for line in p.stdout.splitlines(keepends=True)
                       if not line.startswith(("\\restrict ", "\\unrestrict ")))
