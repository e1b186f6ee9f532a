-- Contributions newest first on request (order=newest): a table's Atom
-- feed shows its newest contributions, and oldest first its first page
-- held the 100 oldest, so that a busy table's feed stopped at its 100th
-- contribution. The cursor goes the list's way: after the last id seen,
-- downwards when newest first.
CREATE OR REPLACE FUNCTION api.contributions_list(t bigint, viewer bigint, roles text, a jsonb) RETURNS jsonb
LANGUAGE plpgsql STABLE AS $$
DECLARE
    p record;
    lim int := api.page_limit(a);
    after bigint := api.cursor_id(a);
    newest boolean := a ->> 'order' = 'newest';
    manage boolean;
    ids bigint[];
BEGIN
    SELECT * INTO p FROM api.place(t, viewer, roles, a);
    IF p.ts IS NULL OR ((p.g).id IS NOT NULL AND p.gs NOT IN ('manage', 'member', 'read')) THEN
        RETURN api.not_found();
    END IF;
    IF after = -1 THEN
        RETURN api.bad_cursor();
    END IF;
    IF a ? 'order' AND (jsonb_typeof(a -> 'order') <> 'string' OR a ->> 'order' NOT IN ('oldest', 'newest')) THEN
        RETURN api.invalid(jsonb_build_object('order', jsonb_build_object('code', 'choice',
                                              'message', 'One of: oldest, newest.')));
    END IF;
    manage := p.ts = 'facilitator';
    -- Oldest first, as a conversation reads; replies come with their
    -- thread. Two queries, so that each walks the index its own way.
    IF newest THEN
        ids := ARRAY(SELECT c.id FROM contributions c
                      WHERE c.tenant_id = t AND c.table_id = (p.x).id
                        AND c.group_id IS NOT DISTINCT FROM (p.g).id AND c.parent_id IS NULL
                        AND (after IS NULL OR c.id < after)
                      ORDER BY c.id DESC LIMIT lim + 1);
    ELSE
        ids := ARRAY(SELECT c.id FROM contributions c
                      WHERE c.tenant_id = t AND c.table_id = (p.x).id
                        AND c.group_id IS NOT DISTINCT FROM (p.g).id AND c.parent_id IS NULL
                        AND (after IS NULL OR c.id > after)
                      ORDER BY c.id LIMIT lim + 1);
    END IF;
    RETURN api.ok(jsonb_build_object(
        'items', CASE WHEN newest
                      THEN coalesce((SELECT jsonb_agg(e ORDER BY (e ->> 'id')::bigint DESC)
                                       FROM jsonb_array_elements(api.contributions_json(t, viewer, manage, ids[1:lim])) e), '[]')
                      ELSE api.contributions_json(t, viewer, manage, ids[1:lim]) END,
        'next_cursor', CASE WHEN cardinality(ids) > lim THEN to_jsonb(api.cursor(ids[lim])) ELSE 'null' END));
END $$;

REVOKE EXECUTE ON FUNCTION api.contributions_list(bigint, bigint, text, jsonb) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION api.contributions_list(bigint, bigint, text, jsonb) TO aantafel_app;
