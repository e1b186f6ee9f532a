-- A table's and a group's conversation: contributions by accounts, or
-- recorded by a facilitator for someone at the table without one ("table
-- mode"), replies one level deep, and the author's edits within 15
-- minutes (earlier versions kept). Hiding and reports: moderation.sql.

-- ---------------------------------------------------------------- JSON

-- Contributions IDS as VIEWER sees them, oldest first (newest first when
-- NEWEST): a hidden one keeps its place and its reason, and its text only
-- for the table's facilitators (MANAGE). One set-based query for a whole
-- list, built as json, not jsonb: the answer leaves the database as text
-- anyway, and json_build_object writes text where jsonb_build_object
-- builds a tree to serialise it again.
CREATE OR REPLACE FUNCTION api.contributions_items(t bigint, viewer bigint, manage boolean, ids bigint[],
                                                   newest boolean DEFAULT false) RETURNS json
LANGUAGE plpgsql STABLE AS $$
DECLARE
    at timestamptz := now();
BEGIN
    RETURN (SELECT coalesce(json_agg(json_build_object('id', c.id, 'table_id', c.table_id, 'group_id', c.group_id,
        'parent_id', c.parent_id,
        'author', CASE WHEN c.author_id IS NOT NULL THEN
                json_build_object('id', p.id, 'name', p.display_name,
                                  'kind', CASE WHEN p.deleted_at IS NULL THEN 'account' ELSE 'former' END)
            ELSE json_build_object('id', NULL, 'name', coalesce(c.author_name, 'deelnemer aan tafel'), 'kind', 'table')
            END,
        'recorded', c.recorded_by IS NOT NULL,
        'body', CASE WHEN c.hidden_at IS NULL OR manage THEN c.body END,
        'body_html', CASE WHEN c.hidden_at IS NULL OR manage THEN c.body_html END,
        'created_at', c.created_at, 'edited_at', c.edited_at,
        'hidden', c.hidden_at IS NOT NULL, 'hidden_reason', c.hidden_reason,
        -- IS NOT DISTINCT FROM: a contribution recorded for someone at the
        -- table has no author_id, and "= viewer" would answer null, not false.
        'mine', viewer IS NOT NULL AND c.author_id IS NOT DISTINCT FROM viewer,
        'can_edit', viewer IS NOT NULL AND c.author_id IS NOT DISTINCT FROM viewer AND c.hidden_at IS NULL
                    AND c.created_at > at - interval '15 minutes',
        'replies', CASE WHEN c.parent_id IS NULL THEN coalesce(r.n, 0) END)
        ORDER BY CASE WHEN newest THEN -c.id ELSE c.id END), '[]'::json)
      FROM contributions c
      LEFT JOIN accounts p ON p.tenant_id = c.tenant_id AND p.id = c.author_id
      LEFT JOIN (SELECT q.tenant_id, q.parent_id, count(*) AS n FROM contributions q
                  WHERE q.tenant_id = t AND q.parent_id = ANY (ids) GROUP BY q.tenant_id, q.parent_id) r
             ON r.tenant_id = c.tenant_id AND r.parent_id = c.id
     WHERE c.tenant_id = t AND c.id = ANY (ids));
END $$;

-- The same shape as jsonb, for single contributions and threads inside
-- larger jsonb answers.
CREATE OR REPLACE FUNCTION api.contributions_json(t bigint, viewer bigint, manage boolean, ids bigint[]) RETURNS jsonb
LANGUAGE plpgsql STABLE AS $$
BEGIN
    RETURN api.contributions_items(t, viewer, manage, ids)::jsonb;
END $$;

-- Contribution C, the same shape.
CREATE OR REPLACE FUNCTION api.contribution_json(t bigint, viewer bigint, c bigint, manage boolean) RETURNS jsonb
LANGUAGE sql STABLE AS $$
    SELECT api.contributions_json(t, viewer, manage, ARRAY[c]) -> 0
$$;

-- ---------------------------------------------------------------- operations

-- A conversation's threads, oldest first as a conversation reads (replies
-- come with their thread); newest first (order=newest) for a feed. The
-- cursor goes the list's way. The answer is json: {"status", "body"} as
-- every operation, its items written once as text.
CREATE OR REPLACE FUNCTION api.contributions_list(t bigint, viewer bigint, roles text, a jsonb) RETURNS json
LANGUAGE plpgsql STABLE AS $$
DECLARE
    p record;
    lim int := api.page_limit(a);
    after bigint := api.cursor_id(a);
    newest boolean := a ->> 'order' = 'newest';
    ids bigint[];
    f jsonb;
BEGIN
    SELECT * INTO p FROM api.place(t, viewer, roles, a);
    IF p.ts IS NULL OR ((p.g).id IS NOT NULL AND p.gs NOT IN ('manage', 'member', 'read')) THEN
        RETURN api.not_found()::json;
    END IF;
    IF after = -1 THEN
        RETURN api.bad_cursor()::json;
    END IF;
    f := api.check_choice('{}'::jsonb, 'order', a ->> 'order', ARRAY['oldest', 'newest'], false);
    IF f <> '{}'::jsonb THEN
        RETURN api.invalid(f)::json;
    END IF;
    -- Two queries, so that each walks contributions_heads its own way (a
    -- group's id, or 0 for the table's own conversation).
    IF newest THEN
        ids := ARRAY(SELECT c.id FROM contributions c
                      WHERE c.tenant_id = t AND c.table_id = (p.x).id
                        AND coalesce(c.group_id, 0) = coalesce((p.g).id, 0) AND c.parent_id IS NULL
                        AND (after IS NULL OR c.id < after)
                      ORDER BY c.id DESC LIMIT lim + 1);
    ELSE
        ids := ARRAY(SELECT c.id FROM contributions c
                      WHERE c.tenant_id = t AND c.table_id = (p.x).id
                        AND coalesce(c.group_id, 0) = coalesce((p.g).id, 0) AND c.parent_id IS NULL
                        AND (after IS NULL OR c.id > after)
                      ORDER BY c.id LIMIT lim + 1);
    END IF;
    RETURN json_build_object('status', 200, 'body', json_build_object(
        'items', api.contributions_items(t, viewer, p.ts = 'facilitator', ids[1:lim], newest),
        'next_cursor', CASE WHEN cardinality(ids) > lim THEN api.cursor(ids[lim]) END));
END $$;

CREATE OR REPLACE FUNCTION api.contribution_create(t bigint, viewer bigint, roles text, a jsonb) RETURNS jsonb
LANGUAGE plpgsql AS $$
DECLARE
    p record;
    f jsonb := '{}'::jsonb;
    body text := api.text_arg(a, 'body');
    parent contributions;
    behalf jsonb := a -> 'on_behalf';
    cid bigint;
BEGIN
    SELECT * INTO p FROM api.place(t, viewer, roles, a);
    IF p.ts IS NULL OR ((p.g).id IS NOT NULL AND p.gs NOT IN ('manage', 'member', 'read')) THEN
        RETURN api.not_found();
    END IF;
    IF viewer IS NULL THEN
        RETURN api.unauthorized();
    END IF;
    IF (p.x).status <> 'open' THEN
        RETURN api.error(409, 'table_' || (p.x).status, 'This table takes no new contributions.');
    END IF;
    -- Taking part: a person of the table, and a member of the group.
    IF p.ts = 'guest' OR ((p.g).id IS NOT NULL AND p.gs = 'read') THEN
        RETURN api.forbidden(CASE WHEN (p.g).id IS NULL THEN 'Join the table first.' ELSE 'Join the group first.' END);
    END IF;
    f := api.check_type(f, a, 'body', 'string');
    f := api.check_text(f, 'body', body, 10000);
    IF a ? 'on_behalf' AND behalf <> 'null'::jsonb THEN
        IF p.ts <> 'facilitator' THEN
            RETURN api.forbidden('Only facilitators record contributions for people at the table.');
        END IF;
        IF jsonb_typeof(behalf) <> 'object' OR (behalf ? 'name' AND jsonb_typeof(behalf -> 'name') NOT IN ('string', 'null')) THEN
            f := f || jsonb_build_object('on_behalf', jsonb_build_object('code', 'type', 'message', 'An object with an optional name.'));
        ELSIF length(behalf ->> 'name') > 100 THEN
            f := f || jsonb_build_object('on_behalf', jsonb_build_object('code', 'too_long', 'message', 'At most 100 characters.'));
        END IF;
    END IF;
    IF a ? 'parent_id' AND a -> 'parent_id' <> 'null'::jsonb THEN
        SELECT * INTO parent FROM contributions q WHERE q.tenant_id = t AND q.id = api.id_arg(a, 'parent_id')
           AND q.table_id = (p.x).id AND q.group_id IS NOT DISTINCT FROM (p.g).id;
        IF parent.id IS NULL THEN
            f := f || jsonb_build_object('parent_id', jsonb_build_object('code', 'unknown', 'message', 'No such contribution here.'));
        ELSIF parent.parent_id IS NOT NULL THEN
            f := f || jsonb_build_object('parent_id', jsonb_build_object('code', 'depth', 'message', 'Replies go one level deep.'));
        END IF;
    END IF;
    IF f <> '{}'::jsonb THEN
        RETURN api.invalid(f);
    END IF;
    INSERT INTO contributions (tenant_id, table_id, group_id, parent_id, author_id, author_name, recorded_by, body, body_html)
    VALUES (t, (p.x).id, (p.g).id, parent.id,
            CASE WHEN behalf IS NULL OR behalf = 'null'::jsonb THEN viewer END,
            CASE WHEN behalf IS NOT NULL AND behalf <> 'null'::jsonb THEN nullif(btrim(behalf ->> 'name'), '') END,
            CASE WHEN behalf IS NOT NULL AND behalf <> 'null'::jsonb THEN viewer END,
            body, coalesce(a ->> '_body_html', ''))
    RETURNING id INTO cid;
    -- Told to its followers (sql/code/notifications.sql).
    PERFORM platform.activity_add(t, 'contribution', (p.x).id, (p.g).id, cid, viewer, (p.x).title, body,
                                  CASE WHEN (p.g).id IS NOT NULL THEN '/groepen/' || (p.g).id ELSE '/tafels/' || (p.x).id END
                                  || '#bijdrage-' || cid);
    RETURN api.ok(api.contribution_json(t, viewer, cid, p.ts = 'facilitator'), 201);
END $$;

CREATE OR REPLACE FUNCTION api.contribution_get(t bigint, viewer bigint, roles text, a jsonb) RETURNS jsonb
LANGUAGE plpgsql STABLE AS $$
DECLARE
    it record;
    manage boolean;
BEGIN
    SELECT * INTO it FROM api.find_contribution(t, viewer, roles, api.id_arg(a, 'id'), NULL);
    IF it.refused IS NOT NULL THEN
        RETURN it.refused;
    END IF;
    manage := it.standing = 'facilitator';
    RETURN api.ok(api.contribution_json(t, viewer, (it.c).id, manage) || jsonb_build_object(
        'thread', api.contributions_json(t, viewer, manage,
                      ARRAY(SELECT q.id FROM contributions q WHERE q.tenant_id = t AND q.parent_id = (it.c).id)),
        'edits', CASE WHEN manage OR (it.c).author_id = viewer THEN coalesce((
            SELECT jsonb_agg(jsonb_build_object('body', e.body, 'replaced_at', e.replaced_at) ORDER BY e.id)
              FROM contribution_edits e WHERE e.tenant_id = t AND e.contribution_id = (it.c).id), '[]'::jsonb) END));
END $$;

-- The author edits within 15 minutes; the earlier text is kept.
CREATE OR REPLACE FUNCTION api.contribution_edit(t bigint, viewer bigint, roles text, a jsonb) RETURNS jsonb
LANGUAGE plpgsql AS $$
DECLARE
    it record;
    f jsonb := '{}'::jsonb;
    at timestamptz := now();
BEGIN
    SELECT * INTO it FROM api.find_contribution(t, viewer, roles, api.id_arg(a, 'id'), '{}');
    IF it.refused IS NOT NULL THEN
        RETURN it.refused;
    END IF;
    IF (it.c).author_id IS DISTINCT FROM viewer THEN
        RETURN api.forbidden('Only the author edits a contribution.');
    END IF;
    IF (it.c).hidden_at IS NOT NULL OR (it.c).created_at <= at - interval '15 minutes' THEN
        RETURN api.error(409, 'edit_window', 'A contribution can be edited for 15 minutes after posting.');
    END IF;
    f := api.check_type(f, a, 'body', 'string');
    f := api.check_text(f, 'body', api.text_arg(a, 'body'), 10000);
    IF f <> '{}'::jsonb THEN
        RETURN api.invalid(f);
    END IF;
    INSERT INTO contribution_edits (tenant_id, contribution_id, body, replaced_at) VALUES (t, (it.c).id, (it.c).body, at);
    UPDATE contributions q SET body = a ->> 'body', body_html = coalesce(a ->> '_body_html', ''), edited_at = at
     WHERE q.tenant_id = t AND q.id = (it.c).id;
    RETURN api.ok(api.contribution_json(t, viewer, (it.c).id, it.standing = 'facilitator'));
END $$;
