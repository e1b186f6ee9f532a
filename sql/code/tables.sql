-- Local tables and their people: the list, a table's page, opening,
-- changing, joining and leaving a table, and its facilitators' work on
-- its people. Who sees a table is decided in visibility.sql.

-- ---------------------------------------------------------------- JSON

-- A table in answers, from its columns, the viewer's role there (NULL:
-- not one of its people), its number of visible contributions to its
-- own conversation and where its workflow stands (api.table_progress).
-- Immutable and without subqueries, so PostgreSQL inlines it into the
-- query that reads the table.
CREATE OR REPLACE FUNCTION api.table_object(id bigint, title text, question text, description text,
                                            description_html text, visibility text, status text,
                                            created_at timestamptz, updated_at timestamptz,
                                            my_role text, contributions bigint, workflow jsonb) RETURNS jsonb
LANGUAGE sql IMMUTABLE AS $$
    SELECT jsonb_build_object('id', id, 'title', title, 'question', question,
        'description', description, 'description_html', description_html,
        'visibility', visibility, 'status', status, 'created_at', created_at, 'updated_at', updated_at,
        'my_role', my_role, 'contributions', contributions, 'workflow', workflow)
$$;

-- Where a table's workflow stands, for lists (the home page): NULL for a
-- table without one (opened before workflows), else its id and the
-- active step ({id, name, title}), null when no step is active (every
-- step done or skipped: the workflow is finished). From the columns of
-- table_workflows (WORKFLOW_ID, NULL: none) and the active table_steps row.
CREATE OR REPLACE FUNCTION api.table_progress(workflow_id text, step_id text, name text, title jsonb) RETURNS jsonb
LANGUAGE sql IMMUTABLE AS $$
    SELECT CASE WHEN workflow_id IS NOT NULL THEN jsonb_build_object('id', workflow_id,
        'step', CASE WHEN step_id IS NULL THEN 'null'::jsonb
                     ELSE jsonb_build_object('id', step_id, 'name', name, 'title', title) END) END
$$;

-- Tables IDS as VIEWER sees them, in the order of IDS (admins stand as
-- facilitators). One query for a page: the counts are read together.
CREATE OR REPLACE FUNCTION api.tables_json(t bigint, viewer bigint, admin boolean, ids bigint[]) RETURNS jsonb
LANGUAGE plpgsql STABLE AS $$
BEGIN
    RETURN coalesce((SELECT jsonb_agg(api.table_object(x.id, x.title, x.question, x.description, x.description_html,
            x.visibility, x.status, x.created_at, x.updated_at,
            CASE WHEN admin THEN 'facilitator'
                 WHEN viewer IS NOT NULL THEN (SELECT m.role FROM table_members m
                      WHERE m.tenant_id = t AND m.table_id = x.id AND m.account_id = viewer) END,
            coalesce(n.contributions, 0), api.table_progress(w.workflow_id, s.step_id, s.name, s.title)) ORDER BY o.pos)
        FROM unnest(ids) WITH ORDINALITY AS o(id, pos)
        JOIN tables x ON x.tenant_id = t AND x.id = o.id
        LEFT JOIN table_workflows w ON w.tenant_id = t AND w.table_id = x.id
        LEFT JOIN table_steps s ON s.tenant_id = t AND s.table_id = x.id AND s.state = 'active'
        LEFT JOIN (SELECT c.tenant_id, c.table_id, count(*) AS contributions FROM contributions c
                    WHERE c.tenant_id = t AND c.table_id = ANY (ids) AND c.group_id IS NULL AND c.hidden_at IS NULL
                    GROUP BY c.tenant_id, c.table_id) n ON n.tenant_id = x.tenant_id AND n.table_id = x.id), '[]'::jsonb);
END $$;

-- Table X as the viewer sees it, in the same shape: one row, one plan.
CREATE OR REPLACE FUNCTION api.table_json(t bigint, viewer bigint, roles text, x bigint) RETURNS jsonb
LANGUAGE plpgsql STABLE AS $$
DECLARE
    admin boolean := viewer IS NOT NULL AND api.has_role(roles, 'admin');
BEGIN
    RETURN (SELECT api.table_object(y.id, y.title, y.question, y.description, y.description_html,
            y.visibility, y.status, y.created_at, y.updated_at,
            CASE WHEN admin THEN 'facilitator'
                 WHEN viewer IS NOT NULL THEN (SELECT m.role FROM table_members m
                      WHERE m.tenant_id = t AND m.table_id = y.id AND m.account_id = viewer) END,
            (SELECT count(*) FROM contributions c WHERE c.tenant_id = t AND c.table_id = y.id
                AND c.group_id IS NULL AND c.hidden_at IS NULL),
            api.table_progress(w.workflow_id, s.step_id, s.name, s.title))
      FROM tables y
      LEFT JOIN table_workflows w ON w.tenant_id = t AND w.table_id = y.id
      LEFT JOIN table_steps s ON s.tenant_id = t AND s.table_id = y.id AND s.state = 'active'
     WHERE y.tenant_id = t AND y.id = x);
END $$;

-- ---------------------------------------------------------------- tables

CREATE OR REPLACE FUNCTION api.tables_list(t bigint, viewer bigint, roles text, a jsonb) RETURNS jsonb
LANGUAGE plpgsql STABLE AS $$
DECLARE
    lim int := api.page_limit(a);
    after bigint := api.cursor_id(a);
    mine boolean := a ->> 'filter' = 'mine';
    st text := a ->> 'status';
    admin boolean := viewer IS NOT NULL AND api.has_role(roles, 'admin');
    ids bigint[];
BEGIN
    IF after = -1 THEN
        RETURN api.bad_cursor();
    END IF;
    IF st IS NOT NULL AND st NOT IN ('open', 'closed', 'archived') THEN
        RETURN api.invalid(jsonb_build_object('status', jsonb_build_object('code', 'choice',
                                              'message', 'One of: open, closed, archived.')));
    END IF;
    IF mine AND viewer IS NULL THEN
        RETURN api.unauthorized();
    END IF;
    ids := ARRAY(SELECT x.id FROM tables x
                  WHERE x.tenant_id = t AND (after IS NULL OR x.id < after)
                    AND (st IS NULL OR x.status = st)
                    AND (st IS NOT NULL OR x.status <> 'archived')
                    AND (CASE WHEN mine THEN EXISTS (SELECT 1 FROM table_members m WHERE m.tenant_id = t
                                                     AND m.table_id = x.id AND m.account_id = viewer)
                              ELSE x.visibility = 'public' OR admin OR EXISTS (SELECT 1 FROM table_members m
                                   WHERE m.tenant_id = t AND m.table_id = x.id AND m.account_id = viewer) END)
                  ORDER BY x.id DESC LIMIT lim + 1);
    RETURN api.ok(jsonb_build_object(
        'items', api.tables_json(t, viewer, admin, ids[1:lim]),
        'next_cursor', CASE WHEN cardinality(ids) > lim THEN to_jsonb(api.cursor(ids[lim])) ELSE 'null'::jsonb END));
END $$;

-- The fields of a table from A, checked; REQUIRED for a new one.
CREATE OR REPLACE FUNCTION api.table_fields(a jsonb, required boolean) RETURNS jsonb
LANGUAGE plpgsql IMMUTABLE AS $$
DECLARE
    f jsonb := '{}'::jsonb;
BEGIN
    f := api.check_type(f, a, 'title', 'string');
    f := api.check_type(f, a, 'question', 'string');
    f := api.check_type(f, a, 'description', 'string');
    f := api.check_type(f, a, 'visibility', 'string');
    f := api.check_type(f, a, 'status', 'string');
    f := api.check_text(f, 'title', api.text_arg(a, 'title'), 200, required);
    f := api.check_text(f, 'question', api.text_arg(a, 'question'), 500, required);
    IF length(api.text_arg(a, 'description')) > 20000 THEN
        f := f || jsonb_build_object('description', jsonb_build_object('code', 'too_long',
                                     'message', 'At most 20000 characters.'));
    END IF;
    f := api.check_choice(f, 'visibility', api.text_arg(a, 'visibility'), ARRAY['public', 'closed'], required);
    f := api.check_choice(f, 'status', api.text_arg(a, 'status'), ARRAY['open', 'closed', 'archived'], false);
    RETURN f;
END $$;

CREATE OR REPLACE FUNCTION api.table_create(t bigint, viewer bigint, roles text, a jsonb) RETURNS jsonb
LANGUAGE plpgsql AS $$
DECLARE
    f jsonb;
    x bigint;
    wf record;
    first text;
BEGIN
    IF viewer IS NULL THEN
        RETURN api.unauthorized();
    END IF;
    IF NOT (api.has_role(roles, 'admin') OR api.has_role(roles, 'facilitator')) THEN
        RETURN api.forbidden('Only facilitators and administrators open tables.');
    END IF;
    SELECT * INTO wf FROM api.workflow_chosen(a);      -- workflows.sql
    f := api.table_fields(a, true) || wf.fields;
    IF f <> '{}'::jsonb THEN
        RETURN api.invalid(f);
    END IF;
    INSERT INTO tables (tenant_id, title, question, description, description_html, visibility, created_by)
    VALUES (t, btrim(a ->> 'title'), btrim(a ->> 'question'), coalesce(a ->> 'description', ''),
            coalesce(a ->> '_description_html', ''), a ->> 'visibility', viewer)
    RETURNING id INTO x;
    INSERT INTO table_members (tenant_id, table_id, account_id, role) VALUES (t, x, viewer, 'facilitator');
    IF wf.wf IS NOT NULL THEN
        first := api.workflow_start(t, x, viewer, wf.wf);
        RETURN api.event(api.ok(api.table_json(t, viewer, roles, x), 201), 'step.entered',
                         api.step_event_data(t, x, first, viewer, NULL));
    END IF;
    RETURN api.ok(api.table_json(t, viewer, roles, x), 201);
END $$;

CREATE OR REPLACE FUNCTION api.table_get(t bigint, viewer bigint, roles text, a jsonb) RETURNS jsonb
LANGUAGE plpgsql STABLE AS $$
DECLARE
    it record;
    seen timestamptz;
BEGIN
    SELECT * INTO it FROM api.find_table(t, viewer, roles, a, NULL);
    IF it.refused IS NOT NULL THEN
        RETURN it.refused;
    END IF;
    -- Read on its own: a statement that reads a tenant table and calls a
    -- function that reads others (table_json) is two queries at once on
    -- the same worker of a Citus cluster, which it refuses.
    seen := (SELECT v.seen_at FROM table_visits v WHERE v.tenant_id = t AND v.table_id = (it.x).id
                AND v.account_id = viewer);
    RETURN api.ok(api.table_json(t, viewer, roles, (it.x).id) || jsonb_build_object('last_visit_at', seen));
END $$;

CREATE OR REPLACE FUNCTION api.table_update(t bigint, viewer bigint, roles text, a jsonb) RETURNS jsonb
LANGUAGE plpgsql AS $$
DECLARE
    it record;
    f jsonb;
    at timestamptz := now();
BEGIN
    SELECT * INTO it FROM api.find_table(t, viewer, roles, a, '{facilitator}', 'Only the table''s facilitators change it.');
    IF it.refused IS NOT NULL THEN
        RETURN it.refused;
    END IF;
    f := api.table_fields(a, false);
    IF f <> '{}'::jsonb THEN
        RETURN api.invalid(f);
    END IF;
    UPDATE tables y SET
        title = coalesce(btrim(a ->> 'title'), y.title),
        question = coalesce(btrim(a ->> 'question'), y.question),
        description = coalesce(a ->> 'description', y.description),
        description_html = coalesce(a ->> '_description_html', y.description_html),
        visibility = coalesce(a ->> 'visibility', y.visibility),
        status = coalesce(a ->> 'status', y.status),
        updated_at = at
     WHERE y.tenant_id = t AND y.id = (it.x).id;
    RETURN api.ok(api.table_json(t, viewer, roles, (it.x).id));
END $$;

-- Marks the table as seen by the viewer; answers the previous visit. The
-- mark moves only when something came since it: the same contributions
-- count as new either way, and reloading a table's page then writes
-- nothing (no WAL to flush at commit).
CREATE OR REPLACE FUNCTION api.table_visit(t bigint, viewer bigint, roles text, a jsonb) RETURNS jsonb
LANGUAGE plpgsql AS $$
DECLARE
    it record;
    before timestamptz;
    at timestamptz := now();
BEGIN
    SELECT * INTO it FROM api.find_table(t, viewer, roles, a, '{}');
    IF it.refused IS NOT NULL THEN
        RETURN it.refused;
    END IF;
    SELECT v.seen_at INTO before FROM table_visits v
     WHERE v.tenant_id = t AND v.table_id = (it.x).id AND v.account_id = viewer;
    IF before IS NULL OR EXISTS (SELECT 1 FROM contributions c WHERE c.tenant_id = t AND c.table_id = (it.x).id
                                   AND c.created_at > before) THEN
        INSERT INTO table_visits (tenant_id, table_id, account_id, seen_at) VALUES (t, (it.x).id, viewer, at)
        ON CONFLICT (tenant_id, table_id, account_id) DO UPDATE SET seen_at = at;
    END IF;
    RETURN api.ok(jsonb_build_object('last_visit_at', before));
END $$;

-- Joining a public table (a closed one takes an invitation).
CREATE OR REPLACE FUNCTION api.table_join(t bigint, viewer bigint, roles text, a jsonb) RETURNS jsonb
LANGUAGE plpgsql AS $$
DECLARE
    it record;
    joined boolean;
BEGIN
    SELECT * INTO it FROM api.find_table(t, viewer, roles, a, '{}');
    IF it.refused IS NOT NULL THEN
        RETURN it.refused;
    END IF;
    IF (it.x).status = 'archived' THEN
        RETURN api.error(409, 'archived', 'This table is archived.');
    END IF;
    INSERT INTO table_members (tenant_id, table_id, account_id, role) VALUES (t, (it.x).id, viewer, 'member')
    ON CONFLICT DO NOTHING;
    joined := FOUND;
    RETURN api.ok(api.table_json(t, viewer, roles, (it.x).id) || jsonb_build_object('joined', joined));
END $$;

CREATE OR REPLACE FUNCTION api.table_leave(t bigint, viewer bigint, roles text, a jsonb) RETURNS jsonb
LANGUAGE plpgsql AS $$
DECLARE
    it record;
BEGIN
    SELECT * INTO it FROM api.find_table(t, viewer, roles, a, '{}');
    IF it.refused IS NOT NULL THEN
        RETURN it.refused;
    END IF;
    IF api.last_facilitator(t, (it.x).id, viewer) THEN
        RETURN api.error(409, 'last_facilitator', 'A table keeps at least one facilitator.');
    END IF;
    DELETE FROM group_members g WHERE g.tenant_id = t AND g.account_id = viewer
       AND g.group_id IN (SELECT y.id FROM groups y WHERE y.tenant_id = t AND y.table_id = (it.x).id);
    DELETE FROM table_members m WHERE m.tenant_id = t AND m.table_id = (it.x).id AND m.account_id = viewer;
    RETURN api.ok(jsonb_build_object('left', FOUND));
END $$;

-- ---------------------------------------------------------------- people

-- Whether WHO is the last facilitator of table X, who may not leave or
-- step down. A deleted account keeps its membership row (its
-- contributions still point at it) but facilitates nothing, so only the
-- others with a live account count.
CREATE OR REPLACE FUNCTION api.last_facilitator(t bigint, x bigint, who bigint) RETURNS boolean
LANGUAGE plpgsql STABLE AS $$
BEGIN
    RETURN (SELECT EXISTS (SELECT 1 FROM table_members m WHERE m.tenant_id = t AND m.table_id = x AND m.account_id = who
                         AND m.role = 'facilitator')
           AND NOT EXISTS (SELECT 1 FROM table_members m JOIN accounts p ON p.tenant_id = m.tenant_id AND p.id = m.account_id
                            WHERE m.tenant_id = t AND m.table_id = x AND m.account_id <> who
                              AND m.role = 'facilitator' AND p.deleted_at IS NULL));
END $$;

CREATE OR REPLACE FUNCTION api.table_people(t bigint, viewer bigint, roles text, a jsonb) RETURNS jsonb
LANGUAGE plpgsql STABLE AS $$
DECLARE
    it record;
BEGIN
    SELECT * INTO it FROM api.find_table(t, viewer, roles, a, '{facilitator}',
                                         'Only the table''s facilitators see its people.');
    IF it.refused IS NOT NULL THEN
        RETURN it.refused;
    END IF;
    RETURN api.ok(jsonb_build_object('items', coalesce((
        SELECT jsonb_agg(jsonb_build_object('id', p.id, 'name', p.display_name, 'email', p.email,
                                            'role', m.role, 'joined_at', m.joined_at) ORDER BY m.role, lower(p.display_name), p.id)
          FROM table_members m JOIN accounts p ON p.tenant_id = m.tenant_id AND p.id = m.account_id
         WHERE m.tenant_id = t AND m.table_id = (it.x).id AND p.deleted_at IS NULL), '[]'::jsonb), 'next_cursor', NULL));
END $$;

-- Sets (PUT) or removes (DELETE) a person's role at the table.
CREATE OR REPLACE FUNCTION api.table_person(t bigint, viewer bigint, roles text, a jsonb) RETURNS jsonb
LANGUAGE plpgsql AS $$
DECLARE
    it record;
    who bigint := api.id_arg(a, 'account_id');
    want text := api.text_arg(a, 'role');
    f jsonb := '{}'::jsonb;
BEGIN
    SELECT * INTO it FROM api.find_table(t, viewer, roles, a, '{facilitator}',
                                         'Only the table''s facilitators manage its people.');
    IF it.refused IS NOT NULL THEN
        RETURN it.refused;
    END IF;
    IF NOT EXISTS (SELECT 1 FROM accounts p WHERE p.tenant_id = t AND p.id = who AND p.deleted_at IS NULL) THEN
        RETURN api.not_found();
    END IF;
    IF a ->> '_method' = 'DELETE' THEN
        IF api.last_facilitator(t, (it.x).id, who) THEN
            RETURN api.error(409, 'last_facilitator', 'A table keeps at least one facilitator.');
        END IF;
        DELETE FROM group_members g WHERE g.tenant_id = t AND g.account_id = who
           AND g.group_id IN (SELECT y.id FROM groups y WHERE y.tenant_id = t AND y.table_id = (it.x).id);
        DELETE FROM table_members m WHERE m.tenant_id = t AND m.table_id = (it.x).id AND m.account_id = who;
        RETURN api.ok(jsonb_build_object('id', who, 'role', NULL));
    END IF;
    f := api.check_choice(f, 'role', want, ARRAY['facilitator', 'client', 'member']);
    IF f <> '{}'::jsonb THEN
        RETURN api.invalid(f);
    END IF;
    IF want <> 'facilitator' AND api.last_facilitator(t, (it.x).id, who) THEN
        RETURN api.error(409, 'last_facilitator', 'A table keeps at least one facilitator.');
    END IF;
    INSERT INTO table_members (tenant_id, table_id, account_id, role) VALUES (t, (it.x).id, who, want)
    ON CONFLICT (tenant_id, table_id, account_id) DO UPDATE SET role = EXCLUDED.role;
    RETURN api.ok(jsonb_build_object('id', who, 'role', want));
END $$;
