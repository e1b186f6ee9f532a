"""Every PL/pgSQL function of the schemas api and platform passes
plpgsql_check (Debian's postgresql-15-plpgsql-check, installed by
packaging/deps.sh check): a wrong column or function name, a wrong type or
a field a record does not have fails here, not in a resident's request.
A trigger function is checked against every table whose trigger calls it.

What fails: errors; warnings (an assignment between types that need a
conversion, a variable that shadows another, code that cannot be
reached, a function that may end without RETURN); performance warnings
(implicit casts that cost a conversion at run time); security warnings
(SQL injection in dynamic SQL). What does not: the "extra" warnings,
which say that an operation leaves one of its four parameters (t,
viewer, roles, a) unused, as many do by design, or that a function
returns a composite OUT parameter, as the find_* helpers of
sql/code/visibility.sql do on purpose.

SQL-language functions are not PL/pgSQL: `aantafel migrate` checks their
bodies against the schema each time it applies the code."""
import pytest


FAILING = ("error", "warning", "performance", "security")


@pytest.fixture(scope="module")
def lint(pg):
    """A connection as the superuser (the extension is not trusted), with
    plpgsql_check in a schema of its own."""
    c = pg.connect("super")
    cur = c.cursor()
    cur.execute("SELECT 1 FROM pg_available_extensions WHERE name = 'plpgsql_check'")
    assert cur.fetchone(), "plpgsql_check is not installed: packaging/deps.sh check (postgresql-15-plpgsql-check)"
    cur.execute("CREATE SCHEMA IF NOT EXISTS lint")
    cur.execute("CREATE EXTENSION IF NOT EXISTS plpgsql_check SCHEMA lint")
    yield cur
    c.close()


def findings(cur, schemas=("api", "platform")):
    cur.execute("""
        SELECT p.oid::regprocedure::text, tg.relid::regclass::text, c.level, c.message, c.lineno, c.statement,
               c.hint, c.query
          FROM pg_proc p JOIN pg_namespace s ON s.oid = p.pronamespace
          JOIN pg_language l ON l.oid = p.prolang AND l.lanname = 'plpgsql'
          LEFT JOIN LATERAL (SELECT DISTINCT t.tgrelid AS relid FROM pg_trigger t WHERE t.tgfoid = p.oid) tg ON true
         CROSS JOIN LATERAL lint.plpgsql_check_function_tb(p.oid::regprocedure, coalesce(tg.relid, 0),
               fatal_errors => false, other_warnings => true, performance_warnings => true,
               extra_warnings => true, security_warnings => true) c
         WHERE s.nspname = ANY (%s)
         ORDER BY 1, 2, c.lineno""", (list(schemas),))
    return cur.fetchall()


def show(rows):
    return "\n".join(f"{fn}{' on ' + rel if rel else ''}: line {line} ({stmt}): {level}: {msg}"
                     f"{'; ' + hint if hint else ''}{chr(10) + '    ' + query if query else ''}"
                     for fn, rel, level, msg, line, stmt, hint, query in rows)


def test_every_plpgsql_function_passes(lint):
    cur = lint
    cur.execute("SELECT count(*) FROM pg_proc p JOIN pg_namespace s ON s.oid = p.pronamespace"
                " JOIN pg_language l ON l.oid = p.prolang"
                " WHERE s.nspname IN ('api', 'platform') AND l.lanname = 'plpgsql'")
    assert cur.fetchone()[0] > 60
    rows = findings(cur)
    bad = [r for r in rows if r[2].split()[0] in FAILING and r[2] != "warning extra"]
    assert not bad, "plpgsql_check:\n" + show(bad)
    assert all(r[2] == "warning extra" for r in rows), show(rows)


def test_the_check_finds_what_it_is_for(lint):
    """The same check fails on the mistakes it is here for (in a schema of
    its own, gone afterwards)."""
    cur = lint
    cur.execute("CREATE SCHEMA probe")
    try:
        cur.execute("""
            CREATE FUNCTION probe.column_name(t bigint) RETURNS bigint LANGUAGE plpgsql AS $$
            BEGIN
                RETURN (SELECT count(*) FROM contributions c WHERE c.tenant_id = t AND c.hiden_at IS NULL);
            END $$;
            CREATE FUNCTION probe.record_field(t bigint, viewer bigint, roles text, a jsonb) RETURNS text
            LANGUAGE plpgsql AS $$
            DECLARE
                it record;
            BEGIN
                SELECT * INTO it FROM api.find_table(t, viewer, roles, a, NULL);
                RETURN (it.x).titel;
            END $$;
            CREATE FUNCTION probe.signature(t bigint) RETURNS jsonb LANGUAGE plpgsql AS $$
            BEGIN
                RETURN api.table_json(t, 1, 'x');
            END $$;
            CREATE FUNCTION probe.trigger_column() RETURNS trigger LANGUAGE plpgsql AS $$
            BEGIN
                PERFORM pg_notify('x', NEW.account_id::text);
                RETURN NULL;
            END $$;
            CREATE TABLE probe.t (tenant_id bigint, id bigint);
            CREATE TRIGGER t_probe AFTER INSERT ON probe.t FOR EACH ROW EXECUTE FUNCTION probe.trigger_column();
            """)
        rows = findings(cur, ("probe",))
        errors = {r[0]: r[3] for r in rows if r[2] == "error"}
        assert errors == {
            "probe.column_name(bigint)": "column c.hiden_at does not exist",
            "probe.record_field(bigint,bigint,text,jsonb)": 'column "titel" not found in data type tables',
            "probe.signature(bigint)": "function api.table_json(bigint, integer, unknown) does not exist",
            "probe.trigger_column()": 'record "new" has no field "account_id"',
        }, show(rows)
    finally:
        cur.execute("DROP SCHEMA probe CASCADE")
