"""Tenant isolation read from the catalogue and proved with the daemon's
own role. Rule (DESIGN.md, sql/001_platform.sql): every table in schema
public is a tenant table: tenant_id in every primary, unique and foreign
key, row-level security enabled and forced with a policy; aantafel_app
owns nothing and cannot bypass RLS."""
import contextlib

import psycopg2
import psycopg2.errors
import pytest

SETTING = "aantafel.tenant_id"


@contextlib.contextmanager
def conn(pg, role):
    """An autocommit connection, closed afterwards. (No `with conn:`:
    psycopg2 >= 2.9 opens a transaction there even in autocommit.)"""
    c = pg.connect(role)
    try:
        yield c.cursor()
    finally:
        c.close()


def q(cur, sql, args=()):
    cur.execute(sql, args)
    return cur.fetchall()


@pytest.fixture(scope="module")
def catalogue(pg):
    with conn(pg, "super") as cur:
        tables = q(cur, """
            SELECT c.oid, c.relname, c.relkind, c.relrowsecurity, c.relforcerowsecurity
              FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
             WHERE n.nspname = 'public' AND c.relkind IN ('r', 'p', 'f')
             ORDER BY c.relname""")
    return {name: dict(oid=oid, kind=kind, rls=rls, force=force) for oid, name, kind, rls, force in tables}


def tenant_key(cur, oid, name):
    col = tenant_attnum(cur, oid)
    assert col, f"{name} has no tenant_id column"
    return col[0]


def tenant_attnum(cur, oid):
    rows = q(cur, "SELECT attnum, format_type(atttypid, atttypmod), attnotnull FROM pg_attribute"
                  " WHERE attrelid = %s AND attname = 'tenant_id' AND NOT attisdropped", (oid,))
    return rows[0] if rows else None


# ---------------------------------------------------------------- catalogue


def test_there_are_tenant_tables(catalogue):
    assert "plugin_store" in catalogue
    # No foreign tables: their data would live outside RLS.
    assert all(t["kind"] in ("r", "p") for t in catalogue.values()), catalogue


def test_every_tenant_table_has_a_tenant_id_column(pg, catalogue):
    with conn(pg, "super") as cur:
        for name, t in catalogue.items():
            col = tenant_attnum(cur, t["oid"])
            assert col, f"{name} has no tenant_id column"
            _, typ, notnull = col
            assert typ == "bigint", f"{name}.tenant_id is {typ}"
            assert notnull, f"{name}.tenant_id may be NULL"


def test_tenant_id_in_every_primary_and_unique_key(pg, catalogue):
    with conn(pg, "super") as cur:
        for name, t in catalogue.items():
            att = tenant_key(cur, t["oid"], name)
            pks = q(cur, "SELECT conname, conkey FROM pg_constraint WHERE conrelid = %s AND contype = 'p'",
                    (t["oid"],))
            assert len(pks) == 1, f"{name} has no primary key"
            assert att in pks[0][1], f"{name}: primary key {pks[0][0]} lacks tenant_id"
            for conname, conkey in q(cur, "SELECT conname, conkey FROM pg_constraint"
                                          " WHERE conrelid = %s AND contype IN ('u', 'x')", (t["oid"],)):
                assert att in conkey, f"{name}: unique/exclusion constraint {conname} lacks tenant_id"
            # Unique indexes, also those made without a constraint (CREATE
            # UNIQUE INDEX, partial or on expressions): tenant_id must be a
            # key column of each (not only in INCLUDE).
            for idx, keys in q(cur, """
                    SELECT i.indexrelid::regclass::text,
                           (string_to_array(i.indkey::text, ' ')::int2[])[1:i.indnkeyatts]
                      FROM pg_index i WHERE i.indrelid = %s AND i.indisunique""", (t["oid"],)):
                assert att in keys, f"{name}: unique index {idx} lacks tenant_id"


def test_tenant_id_in_every_foreign_key(pg, catalogue):
    oids = {t["oid"]: n for n, t in catalogue.items()}
    with conn(pg, "super") as cur:
        fks = q(cur, """
            SELECT conname, conrelid, conkey, confrelid, confkey FROM pg_constraint
             WHERE contype = 'f' AND (conrelid = ANY(%s) OR confrelid = ANY(%s))""",
                (list(oids), list(oids)))
        for conname, rel, key, frel, fkey in fks:
            assert rel in oids, f"{conname}: a table outside public refers to tenant table {oids.get(frel)}"
            att = tenant_key(cur, rel, oids[rel])
            assert att in key, f"{oids[rel]}: foreign key {conname} lacks tenant_id"
            if frel in oids:
                # Between tenant tables, tenant_id refers to tenant_id:
                # no row can point into another tenant.
                fatt = tenant_key(cur, frel, oids[frel])
                assert fkey[key.index(att)] == fatt, \
                    f"{oids[rel]}: foreign key {conname} maps tenant_id to another column of {oids[frel]}"
            else:
                # Out of public only to the registry itself.
                target = q(cur, "SELECT %s::regclass::text", (frel,))[0][0]
                assert target == "platform.tenants", f"{oids[rel]}: {conname} refers to {target}"


def test_rls_enabled_forced_and_with_a_tenant_policy(pg, catalogue):
    with conn(pg, "super") as cur:
        for name, t in catalogue.items():
            assert t["rls"], f"{name}: row-level security is not enabled"
            assert t["force"], f"{name}: row-level security is not forced"
            pols = q(cur, """
                SELECT polname, polpermissive, polcmd, pg_get_expr(polqual, polrelid),
                       pg_get_expr(polwithcheck, polrelid), polroles::regrole[]::text[]
                  FROM pg_policy WHERE polrelid = %s""", (t["oid"],))
            assert pols, f"{name} has no policy"
            for pname, permissive, cmd, using, check, roles in pols:
                if not permissive:
                    continue
                # Every permissive policy restricts to the tenant setting:
                # one `USING (true)` would open the table to all tenants.
                for expr in (using, check):
                    if expr is None:
                        continue
                    assert "tenant_id" in expr and SETTING in expr, f"{name}: policy {pname}: {expr}"
                if cmd in ("*", "r", "d", "w"):
                    assert using is not None, f"{name}: policy {pname} has no USING"
                if cmd in ("*", "a", "w"):
                    assert check is not None or using is not None, f"{name}: policy {pname} checks no new rows"


def test_the_app_role_owns_nothing_and_bypasses_nothing(pg):
    with conn(pg, "super") as cur:
        role = q(cur, "SELECT oid, rolsuper, rolbypassrls, rolcreaterole, rolcreatedb, rolreplication"
                      " FROM pg_roles WHERE rolname = 'aantafel_app'")
        assert role, "no role aantafel_app"
        oid, su, bypass, createrole, createdb, repl = role[0]
        assert not su and not bypass and not createrole and not createdb and not repl
        owned = q(cur, """
            SELECT 'table ' || oid::regclass::text FROM pg_class WHERE relowner = %(o)s
            UNION ALL SELECT 'schema ' || nspname FROM pg_namespace WHERE nspowner = %(o)s
            UNION ALL SELECT 'function ' || oid::regprocedure::text FROM pg_proc WHERE proowner = %(o)s
            UNION ALL SELECT 'type ' || oid::regtype::text FROM pg_type WHERE typowner = %(o)s
            UNION ALL SELECT 'database ' || datname FROM pg_database WHERE datdba = %(o)s
            UNION ALL SELECT 'large object ' || oid::text FROM pg_largeobject_metadata WHERE lomowner = %(o)s
            UNION ALL SELECT 'event trigger ' || evtname FROM pg_event_trigger WHERE evtowner = %(o)s""",
                  {"o": oid})
        assert owned == [], owned
        # Not a member of any role (membership of the owner would give
        # it the owner's rights).
        member = q(cur, "SELECT roleid::regrole::text FROM pg_auth_members WHERE member = %s", (oid,))
        assert member == [], member
        # Policies that would exempt it.
        exempt = q(cur, "SELECT polrelid::regclass::text, polname FROM pg_policy"
                        " WHERE polroles @> ARRAY[%s::oid]", (oid,))
        assert exempt == [], exempt


def test_the_app_role_cannot_turn_rls_off_or_write_the_registry(pg, tenants):
    tenants(("iso-a", "Iso A", "iso-a.test"))
    with conn(pg, "app") as cur:
        for sql in ("ALTER TABLE plugin_store DISABLE ROW LEVEL SECURITY",
                    "ALTER TABLE plugin_store NO FORCE ROW LEVEL SECURITY",
                    "DROP POLICY tenant_isolation ON plugin_store",
                    "CREATE TABLE public.app_made (tenant_id bigint)",
                    "INSERT INTO platform.tenants (slug, name) VALUES ('iso-evil', 'Evil')",
                    "UPDATE platform.tenants SET status = 'active'",
                    "DELETE FROM platform.tenant_hosts",
                    "SET ROLE aantafel_owner"):
            with pytest.raises(psycopg2.Error) as e:
                cur.execute(sql)
            assert e.value.pgcode == "42501", (sql, e.value.pgcode, e.value.pgerror)     # insufficient_privilege
        # row_security = off does not bypass: it makes queries fail.
        cur.execute("SET row_security = off")
        with pytest.raises(psycopg2.Error) as e:
            cur.execute("SELECT count(*) FROM plugin_store")
        assert e.value.pgcode == "42501"
        cur.execute("RESET row_security")
        # It may read the registry.
        assert q(cur, "SELECT count(*) FROM platform.tenants WHERE slug = 'iso-a'") == [(1,)]


# ---------------------------------------------------------------- rows


@pytest.fixture
def two(pg, tenants):
    """Rows for tenants A and B in plugin_store, written as the owner with
    the setting (RLS is forced on the owner too)."""
    ids = tenants(("iso-a", "Iso A", "iso-a.test"), ("iso-b", "Iso B", "iso-b.test"))
    with conn(pg, "owner") as cur:
        for slug, tid in ids.items():
            cur.execute("BEGIN")
            cur.execute("SELECT set_config(%s, %s, true)", (SETTING, str(tid)))
            cur.execute("DELETE FROM plugin_store WHERE tenant_id = %s AND plugin = 'iso'", (tid,))
            for k in range(3):
                cur.execute("INSERT INTO plugin_store (tenant_id, plugin, key, value)"
                            " VALUES (%s, 'iso', %s, jsonb_build_object('owner', %s::text))",
                            (tid, f"k{k}", slug))
            cur.execute("COMMIT")
        # The owner without the setting sees nothing either (FORCE).
        assert q(cur, "SELECT count(*) FROM plugin_store") == [(0,)]
    with conn(pg, "super") as cur:
        counts = dict(q(cur, "SELECT tenant_id, count(*) FROM plugin_store WHERE plugin = 'iso' GROUP BY 1"))
    assert counts == {ids["iso-a"]: 3, ids["iso-b"]: 3}
    return ids["iso-a"], ids["iso-b"]


def snapshot(pg):
    with conn(pg, "super") as cur:
        return q(cur, "SELECT tenant_id, plugin, key, value::text, version FROM plugin_store ORDER BY 1, 2, 3")


def visible_everywhere(cur, catalogue):
    """Row counts of every tenant table as this session sees them."""
    return {name: q(cur, f'SELECT count(*) FROM public."{name}"')[0][0] for name in catalogue}


def test_no_tenant_set_sees_no_rows(pg, catalogue, two):
    a, b = two
    with conn(pg, "app") as cur:
        assert q(cur, "SELECT current_setting(%s, true)", (SETTING,)) == [(None,)]
        assert set(visible_everywhere(cur, catalogue).values()) == {0}
        # Naming the tenant in the query does not help.
        assert q(cur, "SELECT count(*) FROM plugin_store WHERE tenant_id IN (%s, %s)", (a, b)) == [(0,)]
        # Nor does an explicit empty or NULL setting.
        cur.execute("BEGIN")
        cur.execute("SELECT set_config(%s, '', true)", (SETTING,))
        assert set(visible_everywhere(cur, catalogue).values()) == {0}
        cur.execute("COMMIT")
        # And it cannot write without a tenant.
        with pytest.raises(psycopg2.Error) as e:
            cur.execute("INSERT INTO plugin_store (tenant_id, plugin, key, value) VALUES (%s, 'iso', 'x', '{}')",
                        (a,))
        assert e.value.pgcode == "42501"
        cur.execute("UPDATE plugin_store SET version = version + 1")
        assert cur.rowcount == 0
        cur.execute("DELETE FROM plugin_store")
        assert cur.rowcount == 0


def test_pooled_connection_after_another_tenants_transaction(pg, catalogue, two):
    """The '' case: a transaction-local setting leaves '' behind on the
    connection, not NULL; the policy must treat it as no tenant."""
    a, b = two
    with conn(pg, "app") as cur:
        cur.execute("BEGIN")
        assert q(cur, "SELECT set_config(%s, %s, true)", (SETTING, str(a))) == [(str(a),)]
        assert q(cur, "SELECT count(*) FROM plugin_store WHERE plugin = 'iso'") == [(3,)]
        assert q(cur, "SELECT DISTINCT tenant_id FROM plugin_store") == [(a,)]
        cur.execute("COMMIT")

        cur.execute("BEGIN")
        assert q(cur, "SELECT current_setting(%s, true)", (SETTING,)) == [("",)]
        assert q(cur, "SELECT current_setting(%s)", (SETTING,)) == [("",)]
        assert set(visible_everywhere(cur, catalogue).values()) == {0}
        assert q(cur, "SELECT count(*) FROM plugin_store WHERE tenant_id = %s", (a,)) == [(0,)]
        cur.execute("COMMIT")

        # Also after a transaction that failed and rolled back.
        cur.execute("BEGIN")
        cur.execute("SELECT set_config(%s, %s, true)", (SETTING, str(b)))
        with pytest.raises(psycopg2.Error):
            cur.execute("SELECT 1 / 0")
        cur.execute("ROLLBACK")
        assert q(cur, "SELECT current_setting(%s, true)", (SETTING,)) == [("",)]
        assert set(visible_everywhere(cur, catalogue).values()) == {0}

        # Outside any explicit transaction (autocommit statements) too.
        assert q(cur, "SELECT count(*) FROM plugin_store") == [(0,)]


def test_naming_another_tenant_sees_and_changes_nothing(pg, two):
    a, b = two
    before = snapshot(pg)
    with conn(pg, "app") as cur:
        cur.execute("BEGIN")
        cur.execute("SELECT set_config(%s, %s, true)", (SETTING, str(a)))
        assert q(cur, "SELECT count(*) FROM plugin_store WHERE tenant_id = %s", (b,)) == [(0,)]
        assert q(cur, "SELECT count(*) FROM plugin_store WHERE tenant_id = %s OR true", (b,)) == [(3,)]
        assert q(cur, "SELECT DISTINCT tenant_id FROM plugin_store WHERE tenant_id = %s OR true", (b,)) == [(a,)]
        cur.execute("UPDATE plugin_store SET value = '{\"owner\": \"hijacked\"}' WHERE tenant_id = %s", (b,))
        assert cur.rowcount == 0
        cur.execute("DELETE FROM plugin_store WHERE tenant_id = %s", (b,))
        assert cur.rowcount == 0
        # Upsert onto B's key: the insert is checked, not turned into an
        # update of B's row.
        with pytest.raises(psycopg2.Error) as e:
            cur.execute("INSERT INTO plugin_store (tenant_id, plugin, key, value) VALUES (%s, 'iso', 'k0', '{}')"
                        " ON CONFLICT (tenant_id, plugin, key) DO UPDATE SET value = EXCLUDED.value", (b,))
        assert e.value.pgcode == "42501", e.value.pgerror
        assert "row-level security" in e.value.pgerror
        cur.execute("ROLLBACK")

        cur.execute("BEGIN")
        cur.execute("SELECT set_config(%s, %s, true)", (SETTING, str(a)))
        with pytest.raises(psycopg2.Error) as e:
            cur.execute("INSERT INTO plugin_store (tenant_id, plugin, key, value) VALUES (%s, 'iso', 'new', '{}')",
                        (b,))
        assert e.value.pgcode == "42501" and "row-level security" in e.value.pgerror
        cur.execute("ROLLBACK")

        # Moving one of A's rows to B is refused by the policy's check.
        cur.execute("BEGIN")
        cur.execute("SELECT set_config(%s, %s, true)", (SETTING, str(a)))
        with pytest.raises(psycopg2.Error) as e:
            cur.execute("UPDATE plugin_store SET tenant_id = %s WHERE tenant_id = %s AND key = 'k0'", (b, a))
        assert e.value.pgcode == "42501"
        cur.execute("ROLLBACK")

        # Switching the setting inside one transaction is the daemon's
        # business; a statement still sees one tenant at a time.
        cur.execute("BEGIN")
        cur.execute("SELECT set_config(%s, %s, true)", (SETTING, str(b)))
        assert q(cur, "SELECT DISTINCT tenant_id FROM plugin_store") == [(b,)]
        cur.execute("ROLLBACK")
    assert snapshot(pg) == before


def test_a_nonexistent_or_malformed_tenant_setting_sees_nothing(pg, catalogue, two):
    with conn(pg, "app") as cur:
        for value in ("0", "-1", "999999999999"):
            cur.execute("BEGIN")
            cur.execute("SELECT set_config(%s, %s, true)", (SETTING, value))
            assert set(visible_everywhere(cur, catalogue).values()) == {0}, value
            cur.execute("ROLLBACK")
        # Not a number: an error, never rows.
        cur.execute("BEGIN")
        cur.execute("SELECT set_config(%s, %s, true)", (SETTING, "1 OR true"))
        with pytest.raises(psycopg2.Error):
            cur.execute("SELECT count(*) FROM plugin_store")
        cur.execute("ROLLBACK")
