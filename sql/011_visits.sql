-- A visit to a table moves its mark only when something came since the
-- mark: the same contributions count as new either way, and reloading a
-- table's page then writes nothing (no WAL to flush at commit).
CREATE OR REPLACE FUNCTION api.table_visit(t bigint, viewer bigint, roles text, a jsonb) RETURNS jsonb
LANGUAGE plpgsql AS $$
DECLARE
    x tables := api.load_table(t, a);
    before timestamptz;
BEGIN
    IF api.table_standing(t, viewer, roles, x) IS NULL THEN
        RETURN api.not_found();
    END IF;
    IF viewer IS NULL THEN
        RETURN api.unauthorized();
    END IF;
    SELECT v.seen_at INTO before FROM table_visits v WHERE v.tenant_id = t AND v.table_id = x.id AND v.account_id = viewer;
    IF before IS NULL OR EXISTS (SELECT 1 FROM contributions c WHERE c.tenant_id = t AND c.table_id = x.id
                                   AND c.created_at > before) THEN
        INSERT INTO table_visits (tenant_id, table_id, account_id) VALUES (t, x.id, viewer)
        ON CONFLICT (tenant_id, table_id, account_id) DO UPDATE SET seen_at = now();
    END IF;
    RETURN api.ok(jsonb_build_object('last_visit_at', before));
END $$;

REVOKE EXECUTE ON FUNCTION api.table_visit(bigint, bigint, text, jsonb) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION api.table_visit(bigint, bigint, text, jsonb) TO aantafel_app;
