"""Search reads the GIN indexes on the text, as the daemon's own role under
row-level security: the tenant filter is explicit in api.search's
queries, and ts_match_vq is leakproof (packaging/pg.sh), so among many
municipalities' rows PostgreSQL finds a rare word through the index."""
import json


def plan(cur, sql, args):
    cur.execute("EXPLAIN (FORMAT JSON) " + sql, args)
    return json.dumps(cur.fetchone()[0])


def test_the_search_queries_use_the_search_indexes(pg, tenants):
    ids = tenants(*[(f"zoek-{i}", f"Gemeente Zoek {i}", f"zoek-{i}.test") for i in range(5)])
    t = ids["zoek-0"]
    with pg.connect("super") as c, c.cursor() as cur:
        for tid in ids.values():
            cur.execute("INSERT INTO accounts (tenant_id, email, display_name) VALUES (%s, 'a@example.nl', 'A')"
                        " RETURNING id", (tid,))
            aid = cur.fetchone()[0]
            cur.execute("INSERT INTO tables (tenant_id, title, question, visibility) SELECT %s, 'Tafel ' || i,"
                        " 'Wat is ervoor nodig?', 'public' FROM generate_series(1, 100) i", (tid,))
            cur.execute("INSERT INTO contributions (tenant_id, table_id, author_id, body, body_html)"
                        " SELECT %s, (SELECT min(id) FROM tables WHERE tenant_id = %s) + i %% 100, %s,"
                        " 'bijdrage ' || i || ' over de buurt en het park', '' FROM generate_series(1, 3000) i",
                        (tid, tid, aid))
        cur.execute("UPDATE contributions SET body = 'de speeltuin' WHERE tenant_id = %s AND id ="
                    " (SELECT min(id) FROM contributions WHERE tenant_id = %s)", (t, t))
        cur.execute("UPDATE tables SET title = 'De speeltuin' WHERE tenant_id = %s AND id ="
                    " (SELECT min(id) FROM tables WHERE tenant_id = %s)", (t, t))
    # VACUUM moves the rows from GIN's pending list into the index, as
    # autovacuum does on a live database.
    c = pg.connect("super")
    c.autocommit = True
    with c.cursor() as cur:
        cur.execute("VACUUM ANALYZE contributions")
        cur.execute("VACUUM ANALYZE tables")
    c.close()
    # As the daemon: its role, its tenant setting, row-level security on.
    with pg.connect("app") as c, c.cursor() as cur:
        cur.execute("SELECT set_config('aantafel.tenant_id', %s, false)", (str(t),))
        q = "websearch_to_tsquery('dutch', 'speeltuin')"
        p = plan(cur, f"SELECT id FROM contributions k WHERE k.tenant_id = %s AND k.search @@ {q}", (t,))
        assert "contributions_search" in p, p
        p = plan(cur, f"SELECT id FROM tables y WHERE y.tenant_id = %s AND y.search @@ {q}", (t,))
        assert "tables_search" in p, p
        cur.execute("SELECT count(*) FROM contributions k WHERE k.tenant_id = %s AND k.search @@ " + q, (t,))
        assert cur.fetchone()[0] == 1
    with pg.connect("super") as c, c.cursor() as cur:
        # api.search's own queries have the tenant filter next to each match.
        cur.execute("SELECT prosrc FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace"
                    " WHERE n.nspname = 'api' AND p.proname = 'search'")
        src = cur.fetchone()[0]
        assert "k.tenant_id = t AND k.search @@ tq" in src and "y.tenant_id = t AND y.search @@ tq" in src
        assert src.count("r.tenant_id = t AND r.search @@ tq") == 2, src
