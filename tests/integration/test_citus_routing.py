"""On a Citus cluster every statement of a tenant's request stays on that
tenant's shard group (DESIGN.md, "Scale"). Every operation of the API (each
function api.NAME(t, viewer, roles, a) the database has, so a new one is
covered without a change here) is called as the daemon calls it: the
daemon's role, the tenant entered with platform.enter_tenant, the
commit marks read before the end. Citus is told to refuse any query of more
than one task (citus.multi_task_query_log_level), and to report every
command it sends to a worker (citus.log_remote_commands): every shard those
commands name must be one of the tenant's colocated shards, on one node.

The calls use the world of the visibility contract, as an administrator and
as a guest, with arguments naming its places; an operation that refuses
them (a missing field, a wrong password step) still runs its look-ups. Each
call is rolled back. Runs only on a cluster (AANTAFEL_TEST_CITUS; the ctest
label citus)."""
import json
import re

import psycopg2
import pytest

from world import HOST, World

pytestmark = pytest.mark.skipif(
    not __import__("os").environ.get("AANTAFEL_TEST_CITUS"),
    reason="needs a Citus cluster: AANTAFEL_TEST_CITUS=1 (ctest -L citus, make check-citus)")

SHARD_NAME = re.compile(r"\b[a-z_]+_(\d{6,})\b")
SERVER = re.compile(r"on server \S+@([\d.]+:\d+)")
# The errors by which Citus says it cannot run a statement as written.
CITUS_REFUSALS = ("distributed", "shard", "multi-task", "Citus", "citus", "co-located", "colocated",
                  "transaction id", "worker", "coordinator", "IMMUTABLE")


@pytest.fixture(scope="module")
def w(pg, make_daemon_module):
    from test_signin import SMALL
    d = make_daemon_module({"workers": "1"}, {**pg.daemon_env(), **SMALL})
    return World(d, pg)


def shard_map(pg):
    """{shardid: (table, shardminvalue or None for a reference table)}."""
    with pg.connect("super") as c, c.cursor() as cur:
        cur.execute("SELECT s.shardid, s.logicalrelid::regclass::text, s.shardminvalue FROM pg_dist_shard s")
        return {r[0]: (r[1], r[2]) for r in cur.fetchall()}


def tenant_group(pg, tenant):
    """The shardminvalue of the tenant's shard group (every colocated
    table's shard for this tenant has it)."""
    with pg.connect("super") as c, c.cursor() as cur:
        cur.execute("SELECT s.shardminvalue FROM pg_dist_shard s"
                    " WHERE s.shardid = get_shard_id_for_distribution_column('accounts', %s)", (tenant,))
        return cur.fetchone()[0]


def reading(pg):
    """The operations that only read: STABLE, in PL/pgSQL (one in SQL is
    inlined into the caller's statement, whose queries Citus routes one
    by one)."""
    with pg.connect("super") as c, c.cursor() as cur:
        cur.execute("SELECT p.proname FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace"
                    " JOIN pg_language l ON l.oid = p.prolang WHERE n.nspname = 'api'"
                    " AND l.lanname = 'plpgsql' AND p.provolatile = 's'")
        return {r[0] for r in cur.fetchall()}


def delegated(pg):
    """The operations Citus runs whole on the tenant's worker
    (sql/citus/delegate.sql)."""
    with pg.connect("super") as c, c.cursor() as cur:
        cur.execute("SELECT p.proname FROM pg_dist_object o JOIN pg_proc p ON p.oid = o.objid"
                    " JOIN pg_namespace n ON n.oid = p.pronamespace"
                    " WHERE o.classid = 'pg_proc'::regclass AND n.nspname = 'api' AND o.force_delegation"
                    " AND o.distribution_argument_index = 0")
        return {r[0] for r in cur.fetchall()}


def tenant_node(pg, tenant):
    """host:port of the worker that holds the tenant's shard group."""
    with pg.connect("super") as c, c.cursor() as cur:
        cur.execute("SELECT n.nodename || ':' || n.nodeport FROM pg_dist_placement p"
                    " JOIN pg_dist_node n ON n.groupid = p.groupid"
                    " WHERE p.shardid = get_shard_id_for_distribution_column('accounts', %s)", (tenant,))
        return cur.fetchone()[0]


def operations(pg):
    with pg.connect("super") as c, c.cursor() as cur:
        cur.execute("SELECT p.proname FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace"
                    " WHERE n.nspname = 'api' AND oidvectortypes(p.proargtypes) = 'bigint, bigint, text, jsonb'"
                    " ORDER BY 1")
        return [r[0] for r in cur.fetchall()]


def args_for(w):
    """One argument object naming the world's places under every name the
    operations read."""
    g = w.groups
    c = w.contrib
    return {"id": w.P, "table_id": w.P, "table": w.P, "group_id": g["Ppub"], "group": g["Ppub"],
            "contribution_id": c["P"], "parent_id": c["P"], "account_id": 1, "request_id": 1,
            "invitation_id": 1, "token_id": 1, "report_id": 1, "q": "speeltuin", "limit": 5,
            "title": "Een tafel", "question": "Wat is ervoor nodig zodat het lukt?", "body": "Een bijdrage",
            "name": "Een groep", "purpose": "Praten", "visibility": "public", "reason": "Dubbel",
            "role": "member", "email": "iemand@example.nl", "display_name": "Iemand", "status": "open",
            "decision": "accept", "message": "Graag", "plugin": "site", "key": "k", "cadence": "each",
            "mail": True, "token": "ab" * 32}


# The exports (API_STREAM) are called for a HEAD too: the daemon's own
# argument _head, which stops them before their document and cursor.
STREAMED = ("table_export", "table_export_csv", "table_open_data")

# Every request reads its principal first: these too.
PRINCIPALS = {
    "session_principal": "SELECT * FROM api.session_principal(%s, repeat('ab', 32), 3600, 86400)",
    "token_principal": "SELECT * FROM api.token_principal(%s, repeat('ab', 32))",
}


def call(pg, tenant, name, viewer, roles, a):
    """Runs api.NAME as the daemon would, rolled back; answers (error or
    None, [remote command log lines])."""
    conn = psycopg2.connect(pg.app_url)
    try:
        cur = conn.cursor()
        cur.execute("SET citus.multi_task_query_log_level = 'error'")
        cur.execute("SET citus.log_remote_commands = on")
        cur.execute("SET client_min_messages = 'log'")
        del conn.notices[:]
        err = None
        try:
            cur.execute("SELECT platform.enter_tenant(%s, %s)", (str(tenant), "routing-test"))
            if name in PRINCIPALS:
                cur.execute(PRINCIPALS[name], (tenant,))
            else:
                cur.execute(f"SELECT api.{name}(%s, %s, %s, %s::jsonb)", (tenant, viewer, roles, json.dumps(a)))
            cur.fetchall()
            cur.execute("SELECT platform.commit_marks(%s)", (tenant,))
        except psycopg2.Error as e:
            err = e
        notices = list(conn.notices)
        conn.rollback()
        return err, notices
    finally:
        conn.close()


def test_every_api_operation_stays_on_its_tenants_shard_group(pg, w):
    with pg.connect("super") as c, c.cursor() as cur:
        cur.execute("SELECT id FROM platform.tenants WHERE slug = 'wereld-a'")
        tenant = cur.fetchone()[0]
        cur.execute("SELECT a.id FROM accounts a JOIN account_roles r ON r.tenant_id = a.tenant_id"
                    " AND r.account_id = a.id WHERE a.tenant_id = %s AND r.role = 'admin' LIMIT 1", (tenant,))
        admin = cur.fetchone()[0]
    shards = shard_map(pg)
    group = tenant_group(pg, tenant)
    ops = operations(pg)
    assert len(ops) > 40, ops
    # Every operation that only reads runs whole on the tenant's worker:
    # one statement sent there, not one per query; those that write stay
    # on the coordinator (sql/citus/delegate.sql says why).
    sent_whole = delegated(pg)
    reads = reading(pg) & set(ops)
    assert len(reads) > 20 and sent_whole & set(ops) == reads, (sorted(reads ^ (sent_whole & set(ops))))
    node = tenant_node(pg, tenant)
    ops += sorted(PRINCIPALS)
    a = args_for(w)
    report = []
    reached = set()
    for name in ops:
        for viewer, roles, args in ((admin, "admin", a), (None, "", a)) + (
                ((admin, "admin", {**a, "kind": "contributions", "_head": True}),) if name in STREAMED else ()):
            err, notices = call(pg, tenant, name, viewer, roles, args)
            if err is not None:
                msg = str(err)
                assert not any(word in msg for word in CITUS_REFUSALS), f"api.{name} as {roles or 'guest'}: {msg}"
            servers = set()
            for n in notices:
                if "issuing" not in n:
                    continue
                servers.update(SERVER.findall(n))
                for sid in SHARD_NAME.findall(n):
                    sid = int(sid)
                    if sid not in shards:
                        continue
                    table, minvalue = shards[sid]
                    if minvalue is None:
                        continue                    # a reference table: a copy on every node
                    assert minvalue == group, (f"api.{name} as {roles or 'guest'} reached {table}'s shard {sid},"
                                               f" not the tenant's shard group:\n{n}")
                    reached.add(name)
            assert len(servers) <= 1, f"api.{name} as {roles or 'guest'} went to {sorted(servers)}"
            if name in sent_whole:
                whole = [n for n in notices if f"issuing SELECT api.{name}(" in n]
                assert whole and servers == {node}, \
                    f"api.{name} as {roles or 'guest'} was not sent whole to {node}:\n" + "\n".join(notices[:6])
                reached.add(name)
            report.append((name, roles or "guest", len([n for n in notices if "issuing" in n]),
                           type(err).__name__ if err else "ok"))
    # The check saw the shards: most operations read a tenant table.
    assert len(reached) > len(ops) // 2, (sorted(reached), report)
    print("\noperation, viewer, commands sent to the worker, outcome")
    for r in report:
        print(*r, sep="\t")


def test_the_tenant_survives_a_rolled_back_savepoint(pg, w):
    """A worker keeps the tenant after an error was rolled back to a
    savepoint, also when its connection was opened inside the savepoint."""
    with pg.connect("super") as c, c.cursor() as cur:
        cur.execute("SELECT id FROM platform.tenants WHERE slug = 'wereld-a'")
        tenant = cur.fetchone()[0]
    conn = psycopg2.connect(pg.app_url)
    try:
        cur = conn.cursor()
        cur.execute("SELECT platform.enter_tenant(%s)", (str(tenant),))
        cur.execute("SAVEPOINT s")
        with pytest.raises(psycopg2.Error):
            cur.execute("SELECT 1 / (id - id) FROM accounts WHERE tenant_id = %s", (tenant,))   # fails on the worker
        cur.execute("ROLLBACK TO SAVEPOINT s")
        cur.execute("SELECT count(*) FROM accounts WHERE tenant_id = %s", (tenant,))
        assert cur.fetchone()[0] > 0
        cur.execute("SAVEPOINT t")
        cur.execute("SELECT count(*) FROM tables WHERE tenant_id = %s", (tenant,))
        assert cur.fetchone()[0] > 0
        cur.execute("ROLLBACK TO SAVEPOINT t")
        cur.execute("SELECT count(*) FROM groups WHERE tenant_id = %s", (tenant,))
        assert cur.fetchone()[0] > 0
        conn.rollback()
    finally:
        conn.close()


def test_migrate_again_on_a_distributed_database(pg, w):
    """--distribute is idempotent, and a migrate without it leaves the
    cluster as it is."""
    from harness import aantafel
    for args in (("migrate", "--distribute"), ("migrate",)):
        p = aantafel(*args, env=pg.daemon_env())
        assert "database schema is up to date" in p.stdout, p.stdout
    with pg.connect("super") as c, c.cursor() as cur:
        cur.execute("SELECT count(*) FROM pg_dist_partition WHERE partmethod = 'h'")
        distributed = cur.fetchone()[0]
        cur.execute("SELECT count(*) FROM pg_class c JOIN pg_policy p ON p.polrelid = c.oid"
                    " WHERE p.polname = 'tenant_isolation'")
        assert distributed == cur.fetchone()[0]
        cur.execute("SELECT count(*) FROM pg_dist_partition WHERE partmethod = 'n'")
        assert cur.fetchone()[0] == 4                       # the registry and the bundles
        cur.execute("SELECT count(DISTINCT colocationid) FROM pg_dist_partition WHERE partmethod = 'h'")
        assert cur.fetchone()[0] == 1
