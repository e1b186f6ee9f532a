"""A municipality's life on a Citus cluster (docs/operations.md, "Scaling
out"): moved onto a worker of its own while the daemon keeps serving it,
its data whole and alone there afterwards; then deleted with `aantafel
tenant delete`, leaving no row on any node, which each node is asked
directly (its shards by name, as the superuser).

The world of the visibility contract: wereld-a with its people, tables,
groups and contributions, and wereld-b beside it, which must not change.
Runs only on a cluster (AANTAFEL_TEST_CITUS; the ctest label citus)."""
import json
import os
import threading
import time

import psycopg2
import pytest

from harness import aantafel, make_request, parse_response, wait_for
from world import HOST, OTHER, World

pytestmark = pytest.mark.skipif(
    not os.environ.get("AANTAFEL_TEST_CITUS"),
    reason="needs a Citus cluster: AANTAFEL_TEST_CITUS=1 (ctest -L citus, make check-citus)")


@pytest.fixture(scope="module")
def w(pg, make_daemon_module):
    from test_signin import SMALL
    # Writes (and a signed-in request's session bookkeeping) wait while
    # their shard group is copied: longer than the default 5 s here.
    d = make_daemon_module({"workers": "2", "db_statement_timeout": "120s"}, {**pg.daemon_env(), **SMALL})
    world = World(d, pg)
    world.member_token = world.api["member"].token
    world.fac_token = world.api["fac"].token
    return world


def ports(pg):
    """{node name: port} of the cluster packaging/citus.sh made."""
    with open(os.path.join(pg.dir, "ports")) as f:
        return {name: int(port) for name, port in (line.split() for line in f if line.strip())}


def node(pg, name):
    # A shard move that cannot finish fails the test, rather than hang it.
    c = psycopg2.connect(host="127.0.0.1", port=ports(pg)[name], dbname="aantafel", user="postgres",
                         options="-c statement_timeout=300s")
    c.autocommit = True
    return c


def query(pg, sql, args=(), name="coordinator"):
    c = node(pg, name)
    try:
        cur = c.cursor()
        cur.execute(sql, args)
        return cur.fetchall()
    finally:
        c.close()


def tenant_id(pg, slug):
    return query(pg, "SELECT id FROM platform.tenants WHERE slug = %s", (slug,))[0][0]


def tenant_tables(pg):
    """The distributed tables (each has tenant_id)."""
    return [r[0] for r in query(pg, "SELECT logicalrelid::regclass::text FROM pg_dist_partition"
                                    " WHERE partmethod = 'h' ORDER BY logicalrelid")]


def rows_by_table(pg, tid):
    """{table: rows of TID} through the coordinator."""
    return {t: query(pg, f"SELECT count(*) FROM {t} WHERE tenant_id = %s", (tid,))[0][0] for t in tenant_tables(pg)}


def digest_by_table(pg, tid):
    """{table: md5 of TID's rows as text, in order}: the rows themselves."""
    return {t: query(pg, f"SELECT count(*), md5(coalesce(string_agg(x::text, '|' ORDER BY x::text), ''))"
                         f" FROM {t} x WHERE x.tenant_id = %s", (tid,))[0] for t in tenant_tables(pg)}


def rows_on_each_node(pg, tid):
    """{node: {shard: rows of TID}} asked of each node itself: every
    shard placed on it (distributed and reference tables), by name."""
    placed = query(pg, "SELECT s.shard_name, s.nodeport, p.partmethod FROM citus_shards s"
                       " JOIN pg_dist_partition p ON p.logicalrelid = s.table_name")
    by_port = {port: name for name, port in ports(pg).items()}
    out = {name: {} for name in ports(pg)}
    for name in out:
        shards = [(shard, method) for shard, port, method in placed if by_port.get(port) == name]
        if not shards:
            continue
        c = node(pg, name)
        try:
            cur = c.cursor()
            for shard, method in shards:
                column = "id" if shard.startswith("platform.tenants_") else "tenant_id"
                cur.execute(f"SELECT count(*) FROM {shard} WHERE {column} = %s", (tid,))
                out[name][shard] = cur.fetchone()[0]
        finally:
            c.close()
    return out


def placement_of(pg, tid):
    """{port} holding TID's shard of every distributed table, and the
    shard ids."""
    rows = query(pg, "SELECT s.shardid, s.nodeport FROM citus_shards s JOIN pg_dist_partition p"
                     " ON p.logicalrelid = s.table_name WHERE p.partmethod = 'h'"
                     " AND s.shardid = get_shard_id_for_distribution_column(s.table_name, %s)", (tid,))
    return {r[1] for r in rows}, [r[0] for r in rows]


def call(d, token, method, path, body=None, timeout=90):
    """An API call with a long patience: a write may wait while its shard
    is copied."""
    h = {"Connection": "close", "Accept": "application/json", "Authorization": "Bearer " + token}
    data = None
    if body is not None:
        data = json.dumps(body).encode()
        h["Content-Type"] = "application/json"
    st, _, out = parse_response(d.raw(make_request(method, "/api/v1" + path, HOST, h, data), timeout=timeout))
    return st, json.loads(out) if out else None


# The tables the traffic below writes: its contributions and their
# activity (what notifications tell), the site plugin's store and its
# usage, the token's last use, the outbox.
TRAFFIC_WRITES = {"contributions", "activity", "plugin_store", "plugin_store_usage", "api_tokens", "mail_outbox",
                  "table_visits", "sessions"}


class Traffic:
    """Reads (the member's API, the guest's home page) and writes (the
    facilitator's contributions) against wereld-a, each in a thread of
    its own, until stopped; every answer that is not the expected one is
    kept, and the slowest."""

    def __init__(self, w):
        self.w, self.stop_flag = w, threading.Event()
        self.reads = self.writes = 0
        self.slowest = 0.0
        self.written, self.failures = [], []
        self.threads = [threading.Thread(target=self.read_loop), threading.Thread(target=self.write_loop)]

    def timed(self, fn):
        start = time.time()
        try:
            return fn()
        finally:
            self.slowest = max(self.slowest, time.time() - start)

    def read_loop(self):
        while not self.stop_flag.is_set():
            try:
                st, body = self.timed(lambda: call(self.w.d, self.w.member_token, "GET", f"/tables/{self.w.P}"))
                if st != 200 or body.get("id") != self.w.P:
                    self.failures.append(("member GET table", st, body))
                st = self.timed(lambda: self.w.d.get("/", host=HOST, timeout=90)[0])
                if st != 200:
                    self.failures.append(("guest GET /", st))
            except Exception as e:       # a refused or broken connection counts as a failure
                self.failures.append(("read", repr(e)))
            self.reads += 1

    def write_loop(self):
        while not self.stop_flag.is_set():
            text = f"Tijdens de verhuizing {self.writes}"
            try:
                st, body = self.timed(lambda: call(self.w.d, self.w.fac_token, "POST",
                                                   f"/tables/{self.w.P}/contributions", {"body": text}))
                if st == 201:
                    self.written.append((body["id"], text))
                else:
                    self.failures.append(("fac POST contribution", st, body))
            except Exception as e:
                self.failures.append(("write", repr(e)))
            self.writes += 1
            time.sleep(0.2)

    def __enter__(self):
        for t in self.threads:
            t.start()
        return self

    def __exit__(self, *exc):
        self.stop_flag.set()
        for t in self.threads:
            t.join(timeout=120)


def test_a_municipality_moves_to_a_worker_of_its_own_while_it_is_served(pg, w):
    a, b = tenant_id(pg, "wereld-a"), tenant_id(pg, "wereld-b")
    before_a = rows_by_table(pg, a)
    digest_a = digest_by_table(pg, a)
    before_b = digest_by_table(pg, b)
    for table in ("accounts", "tables", "groups", "contributions", "group_members", "api_tokens"):
        assert before_a[table] > 0, (table, before_a)
    sources, _ = placement_of(pg, a)
    assert len(sources) == 1, sources
    source = sources.pop()
    names = {port: name for name, port in ports(pg).items()}
    target = next(port for port, name in names.items() if name.startswith("worker") and port != source)

    with Traffic(w) as traffic:
        wait_for(lambda: traffic.reads >= 3 and traffic.writes >= 3, timeout=60, what="traffic before the move")
        # Its own shard group (the tenant alone in a new shard of every
        # colocated table), then that group onto the other worker. With
        # block_writes, reads go on and writes wait while a shard group is
        # copied; the daemon's db_statement_timeout outlasts the copy.
        query(pg, "SELECT isolate_tenant_to_new_shard('accounts', %s, 'CASCADE',"
                  " shard_transfer_mode => 'block_writes')", (a,))
        moving = query(pg, "SELECT get_shard_id_for_distribution_column('accounts', %s)", (a,))[0][0]
        query(pg, "SELECT citus_move_shard_placement(%s, '127.0.0.1', %s, '127.0.0.1', %s,"
                  " shard_transfer_mode => 'block_writes')", (moving, source, target))
        reads, writes = traffic.reads, traffic.writes
        wait_for(lambda: traffic.reads >= reads + 3 and traffic.writes >= writes + 3, timeout=60,
                 what="traffic after the move")
    assert not traffic.failures, (traffic.failures[:5], len(traffic.failures),
                                  [l for l in w.d.log().splitlines() if " error" in l or " warn" in l or "ERROR" in l][-10:])
    assert traffic.written, "no write went through"
    print(f"\nduring the move: {traffic.reads} reads, {traffic.writes} writes, slowest {traffic.slowest:.1f} s")

    # Where it is now: every table's shard of wereld-a on the target, and
    # holding wereld-a's rows only.
    ports_now, shards = placement_of(pg, a)
    assert ports_now == {target}, (ports_now, source, target)
    assert len(shards) == len(tenant_tables(pg))
    names_of = dict(query(pg, "SELECT shardid, shard_name FROM citus_shards WHERE shardid = ANY (%s)", (shards,)))
    c = node(pg, names[target])
    try:
        cur = c.cursor()
        for sid in shards:
            cur.execute(f"SELECT array_agg(DISTINCT tenant_id) FROM {names_of[sid]}")
            assert cur.fetchone()[0] in (None, [a]), names_of[sid]
    finally:
        c.close()
    on_nodes = rows_on_each_node(pg, a)
    for name, shard_rows in on_nodes.items():
        if ports(pg)[name] == target:
            continue
        distributed = {s: n for s, n in shard_rows.items() if not s.startswith("platform.")}
        assert not any(distributed.values()), (name, {s: n for s, n in distributed.items() if n})

    # Whole: every row it had, and each contribution written during the
    # move exactly once; the tenant beside it unchanged, row for row.
    after_a = rows_by_table(pg, a)
    assert after_a["contributions"] == before_a["contributions"] + len(traffic.written)
    changed = {t for t, d in digest_by_table(pg, a).items() if d != digest_a[t]}
    # What the requests during the move wrote; every other table is the
    # same, row for row.
    assert changed <= TRAFFIC_WRITES, (changed - TRAFFIC_WRITES, before_a, after_a)
    for table in changed:
        assert after_a[table] >= before_a[table], (table, before_a[table], after_a[table])
    ids = [i for i, _ in traffic.written]
    stored = query(pg, "SELECT id, body FROM contributions WHERE tenant_id = %s AND id = ANY (%s)", (a, ids))
    assert sorted(stored) == sorted(traffic.written)
    for cid, text in traffic.written[-3:]:
        st, body = call(w.d, w.member_token, "GET", f"/contributions/{cid}")
        assert st == 200 and body["body"] == text, body
    assert digest_by_table(pg, b) == before_b

    # Alone: the other municipality still sees nothing of it, and the
    # daemon serves both.
    st, _, _ = w.api["foreign"].get(f"/tables/{w.P}")
    assert st == 404
    st, _, found = w.api["foreign"].get("/search?q=geheimwoordPpub")
    assert st == 200 and "geheimwoordPpub" not in str(found)
    st, _, found = w.api["member"].get("/search?q=geheimwoordPpub")
    assert st == 200 and "geheimwoordPpub" in str(found)
    assert w.d.get("/", host=OTHER)[0] == 200


def test_delete_leaves_no_row_of_it_on_any_node(pg, w, tmp_path):
    a, b = tenant_id(pg, "wereld-a"), tenant_id(pg, "wereld-b")
    bundle = tmp_path / "bundle"
    bundle.mkdir()
    (bundle / "tenant.lua").write_text('return { name = "Gemeente Wereld" }\n')
    env = pg.daemon_env()
    p = aantafel("tenant", "deploy", "wereld-a", str(bundle), env=env, check=False)
    assert p.returncode == 0, p.stderr
    c = psycopg2.connect(pg.owner_url)
    try:
        cur = c.cursor()
        cur.execute("SELECT platform.enter_tenant(%s)", (str(a),))
        cur.execute("SELECT platform.plugin_store_put(%s, 'site', 'welcome', '{\"text\": \"Welkom\"}', NULL)", (a,))
        cur.execute("SELECT platform.commit_marks(%s)", (a,))
        c.commit()
    finally:
        c.close()
    wait_for(lambda: w.d.get("/", host=HOST)[0] == 200, what="wereld-a served")
    before = rows_on_each_node(pg, a)
    held = {name: sum(n for n in shards.values()) for name, shards in before.items()}
    assert held["worker1"] and held["worker2"], held     # the registry and bundles are on every worker
    workers = [name for name in before if name.startswith("worker")]
    assert sum(sum(n for s, n in before[name].items() if not s.startswith("platform.")) for name in workers) > 20
    kept = rows_on_each_node(pg, b)
    kept_rows = digest_by_table(pg, b)

    p = aantafel("tenant", "delete", "wereld-a", env=env, check=False)
    assert p.returncode == 1 and "suspend it first" in p.stderr, p.stderr
    assert rows_on_each_node(pg, a) == before
    assert aantafel("tenant", "suspend", "wereld-a", env=env).returncode == 0
    p = aantafel("tenant", "delete", "wereld-a", env=env, check=False)
    assert p.returncode == 0, p.stderr
    assert p.stdout.startswith("wereld-a: deleted"), p.stdout

    after = rows_on_each_node(pg, a)
    for name, shards in after.items():
        assert len(shards) == len(before[name]), name
        left = {s: n for s, n in shards.items() if n}
        assert not left, (name, left)
    assert rows_on_each_node(pg, b) == kept
    assert digest_by_table(pg, b) == kept_rows
    wait_for(lambda: w.d.get("/", host=HOST)[0] == 404, what="wereld-a's host unknown")
    assert w.d.get("/", host=OTHER)[0] == 200
    st, _, me = w.api["foreign"].get("/me")
    assert st == 200, me
