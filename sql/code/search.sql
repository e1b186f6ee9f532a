-- Search over what the viewer may read, with the rules of visibility.sql
-- written for many rows at once.

-- Tables, contributions and workflow records the viewer may read that match Q, in
-- PostgreSQL's dutch configuration. The GIN indexes hold the text alone
-- (sql/009); under row-level security the match may use them where
-- ts_match_vq is leakproof (docs/operations.md), and the tenant filter is
-- explicit in every statement.
CREATE OR REPLACE FUNCTION api.search(t bigint, viewer bigint, roles text, a jsonb) RETURNS jsonb
LANGUAGE plpgsql STABLE AS $$
DECLARE
    q text := api.text_arg(a, 'q');
    tq tsquery;
    lim int := api.page_limit(a);
    admin boolean := viewer IS NOT NULL AND api.has_role(roles, 'admin');
    tids bigint[];
    tvis text[];
    standings text[];
    recs jsonb;
BEGIN
    IF q IS NULL OR btrim(q) = '' OR length(q) > 200 THEN
        RETURN api.invalid(jsonb_build_object('q', jsonb_build_object('code',
            CASE WHEN length(q) > 200 THEN 'too_long' ELSE 'required' END, 'message', 'Give 1 to 200 characters to search for.')));
    END IF;
    -- The dutch stemmer leaves inflections apart ("spelen" is 'spel',
    -- "spelende" 'spelend'): every lexeme of three or more characters
    -- matches as a prefix, so that a word finds its longer forms. The text
    -- form of a tsquery is quoted lexemes ('it''s') between operators; it
    -- is cut into those pieces (a regular expression over the whole text
    -- could take an operator between two quotes for a lexeme), and the cast
    -- back does not stem again.
    tq := coalesce((SELECT string_agg(CASE WHEN p.m[1] LIKE '''%' AND length(p.m[1]) >= 5 THEN p.m[1] || ':*'
                                           ELSE p.m[1] END, '' ORDER BY p.n)
                      FROM regexp_matches(websearch_to_tsquery('dutch', q)::text, $r$('(?:[^']|'')*'|[^']+)$r$, 'g')
                           WITH ORDINALITY AS p(m, n)), '')::tsquery;
    -- Records: the viewer's standing at each table that has matching
    -- records is visibility.sql's to say (api.table_standing, one table
    -- at a time), and whether that standing reads a record's kind too
    -- (api.level_visible, as api.find_record and api.records_list).
    SELECT array_agg(y.id ORDER BY y.id), array_agg(y.visibility ORDER BY y.id) INTO tids, tvis
      FROM tables y
     WHERE y.tenant_id = t AND y.status <> 'archived'
       AND y.id IN (SELECT r.table_id FROM records r WHERE r.tenant_id = t AND r.search @@ tq);
    standings := ARRAY(SELECT api.table_standing(t, viewer, roles, tids[i], tvis[i])
                         FROM generate_subscripts(coalesce(tids, '{}'), 1) i ORDER BY i);
    recs := coalesce((SELECT jsonb_agg(jsonb_build_object('id', x.id, 'table_id', x.table_id, 'table_title', x.title,
                    'step_id', x.step_id, 'step_title', x.step_title, 'kind', x.kind,
                    'snippet', ts_headline('dutch', api.record_text(x.decl -> 'fields', x.fields), tq,
                                           'StartSel=«, StopSel=», MaxWords=30, MinWords=10'))
                    ORDER BY x.rank DESC, x.id DESC)
            FROM (SELECT r.id, r.table_id, r.step_id, r.kind, r.fields, y.title, s.title AS step_title,
                         s.records -> r.kind AS decl, ts_rank(r.search, tq) AS rank
                    FROM records r
                    JOIN tables y ON y.tenant_id = t AND y.id = r.table_id
                    JOIN table_steps s ON s.tenant_id = t AND s.table_id = r.table_id AND s.step_id = r.step_id
                    JOIN unnest(coalesce(tids, '{}'), standings) AS v(table_id, standing) ON v.table_id = r.table_id
                   WHERE r.tenant_id = t AND r.search @@ tq
                     AND api.level_visible(v.standing, s.records -> r.kind ->> 'visible')
                   ORDER BY rank DESC, r.id DESC LIMIT lim) x), '[]');
    RETURN api.ok(jsonb_build_object(
        'records', recs,
        'tables', coalesce((SELECT jsonb_agg(jsonb_build_object('id', x.id, 'title', x.title, 'question', x.question,
                                                                'status', x.status) ORDER BY x.rank DESC, x.id DESC)
            FROM (SELECT y.*, ts_rank(y.search, tq) AS rank FROM tables y
                   WHERE y.tenant_id = t AND y.search @@ tq AND y.status <> 'archived'
                     AND (y.visibility = 'public' OR admin OR EXISTS (SELECT 1 FROM table_members m
                          WHERE m.tenant_id = t AND m.table_id = y.id AND m.account_id = viewer))
                   ORDER BY rank DESC, y.id DESC LIMIT lim) x), '[]'),
        'contributions', coalesce((SELECT jsonb_agg(jsonb_build_object('id', c.id, 'table_id', c.table_id,
                    'group_id', c.group_id, 'table_title', c.title,
                    'snippet', ts_headline('dutch', c.body, tq, 'StartSel=«, StopSel=», MaxWords=30, MinWords=10'))
                    ORDER BY c.rank DESC, c.id DESC)
            FROM (SELECT k.*, y.title, ts_rank(k.search, tq) AS rank
                    FROM contributions k JOIN tables y ON y.tenant_id = k.tenant_id AND y.id = k.table_id
                   WHERE k.tenant_id = t AND k.search @@ tq AND k.hidden_at IS NULL
                     AND y.status <> 'archived'
                     AND (y.visibility = 'public' OR admin OR EXISTS (SELECT 1 FROM table_members m
                          WHERE m.tenant_id = t AND m.table_id = y.id AND m.account_id = viewer))
                     AND (k.group_id IS NULL OR admin
                          OR EXISTS (SELECT 1 FROM groups g WHERE g.tenant_id = t AND g.id = k.group_id AND g.visibility = 'public')
                          OR EXISTS (SELECT 1 FROM group_members gm WHERE gm.tenant_id = t AND gm.group_id = k.group_id
                                     AND gm.account_id = viewer)
                          OR EXISTS (SELECT 1 FROM table_members m WHERE m.tenant_id = t AND m.table_id = y.id
                                     AND m.account_id = viewer AND m.role = 'facilitator'))
                   ORDER BY rank DESC, k.id DESC LIMIT lim) c), '[]')));
END $$;
