-- Exports of a table: everything its facilitators may see as one JSON
-- document (GET /tables/{id}/export), a CSV file per kind
-- (GET /tables/{id}/export/{kind}.csv) and a public table's open data
-- (GET /tables/{id}/open-data). docs/api.md ("Exports") documents the
-- shapes.
--
-- These answers can be far larger than an operation's one JSON value (a
-- table with 100,000 contributions), so they stream (core/app/api_stream.c):
-- the operation checks who asks and answers {"status": 200, "body":
-- {"content_type", "filename", "head", "sep", "tail", "rows"}}, having
-- opened the cursor api.export_cursor() names when "rows" is true. The
-- daemon sends HEAD, then the cursor's rows (one text column) fetched in
-- batches and joined by SEP, then TAIL, in the request's transaction: one
-- snapshot from the first byte to the last. Everything that is not the
-- rows is small and built here as a whole.
--
-- A HEAD request has "_head": true among its arguments (the daemon's own
-- key, core/app/api_http.c): the operation checks who asks as for a GET
-- and answers the same content type and file name with an empty body:
-- it opens no cursor and builds no document.

-- Whether the arguments A are a HEAD request's.
CREATE OR REPLACE FUNCTION api.export_head_only(a jsonb) RETURNS boolean
LANGUAGE sql IMMUTABLE AS $$
    SELECT coalesce(a ->> '_head' = 'true', false)
$$;

-- The name of the cursor an export opens for its rows.
CREATE OR REPLACE FUNCTION api.export_cursor() RETURNS refcursor
LANGUAGE sql IMMUTABLE AS $$
    SELECT 'api_export_rows'::refcursor
$$;

-- ---------------------------------------------------------------- CSV

-- One CSV cell (RFC 4180): NULL is empty; a value that a spreadsheet would
-- read as a formula (starting with =, +, -, @, a tab or a carriage return)
-- gets a leading apostrophe, which spreadsheets show as text; a value with
-- a comma, a quote or a line break is quoted, its quotes doubled.
CREATE OR REPLACE FUNCTION api.csv_cell(v text) RETURNS text
LANGUAGE sql IMMUTABLE AS $$
    -- One expression, so that the planner inlines it: it runs for every
    -- cell of a large export.
    SELECT CASE WHEN v IS NULL THEN ''
                WHEN v ~ '[",\r\n]' THEN
                    '"' || replace(CASE WHEN v ~ '^[=+\-@\t\r]' THEN '''' || v ELSE v END, '"', '""') || '"'
                WHEN v ~ '^[=+\-@\t\r]' THEN '''' || v
                ELSE v END
$$;

-- One CSV line of CELLS, ended by CRLF.
CREATE OR REPLACE FUNCTION api.csv_line(cells text[]) RETURNS text
LANGUAGE sql IMMUTABLE AS $$
    SELECT coalesce((SELECT string_agg(api.csv_cell(c), ',' ORDER BY n) FROM unnest(cells) WITH ORDINALITY u(c, n)), '')
           || E'\r\n'
$$;

-- A record's field value as a CSV cell's text: a string as it is, null
-- empty, anything else as JSON (true, 12.5, ["a","b"]).
CREATE OR REPLACE FUNCTION api.csv_value(v jsonb) RETURNS text
LANGUAGE sql IMMUTABLE AS $$
    SELECT CASE jsonb_typeof(v) WHEN 'string' THEN v #>> '{}' WHEN 'null' THEN NULL ELSE v::text END
$$;

-- The answer of an export: CONTENT_TYPE, FILENAME (NULL: shown, not
-- downloaded), HEAD, SEP and TAIL around the rows of the cursor (ROWS).
CREATE OR REPLACE FUNCTION api.export_answer(content_type text, filename text, head text, sep text, tail text,
                                             has_rows boolean) RETURNS jsonb
LANGUAGE sql IMMUTABLE AS $$
    SELECT api.ok(jsonb_build_object('content_type', content_type, 'filename', filename, 'head', head,
                                     'sep', sep, 'tail', tail, 'rows', has_rows))
$$;

-- ---------------------------------------------------------------- pieces

-- The record kinds the table's steps declare that a viewer of STANDING
-- reads: {kind: [field names, sorted]}, the fields of every step that
-- declares the kind together.
CREATE OR REPLACE FUNCTION api.export_kinds(t bigint, x bigint, standing text) RETURNS jsonb
LANGUAGE plpgsql STABLE AS $$
DECLARE
    declared jsonb;
    v record;
    acc jsonb := '{}'::jsonb;
BEGIN
    -- The steps' declarations first, then the kinds and fields from them
    -- here (in PL/pgSQL: Citus plans no SQL function with parameters).
    FOR declared IN SELECT s.records FROM table_steps s WHERE s.tenant_id = t AND s.table_id = x LOOP
        FOR v IN SELECT e.key, e.value FROM jsonb_each(api.visible_kinds(standing, declared)) e LOOP
            acc := jsonb_set(acc, ARRAY[v.key], coalesce(acc -> v.key, '[]'::jsonb) || coalesce((
                SELECT jsonb_agg(f) FROM jsonb_object_keys(CASE WHEN jsonb_typeof(v.value -> 'fields') = 'object'
                                                                THEN v.value -> 'fields' ELSE '{}'::jsonb END) f),
                '[]'::jsonb));
        END LOOP;
    END LOOP;
    RETURN coalesce((SELECT jsonb_object_agg(e.key, (SELECT coalesce(jsonb_agg(DISTINCT f ORDER BY f), '[]'::jsonb)
                                                       FROM jsonb_array_elements_text(e.value) f))
                       FROM jsonb_each(acc) e), '{}'::jsonb);
END $$;

-- The records of table X a viewer of STANDING reads, per kind
-- ({kind: [record, ...]}, oldest first); ONLY_DONE: of steps that are done.
-- The ids first, then each record: on Citus a query on the shards cannot
-- call what queries them again (api.record_json does).
CREATE OR REPLACE FUNCTION api.export_records(t bigint, x bigint, standing text, only_done boolean) RETURNS jsonb
LANGUAGE plpgsql STABLE AS $$
DECLARE
    rid bigint;
    k text;
    acc jsonb := '{}'::jsonb;
BEGIN
    FOR rid, k IN SELECT r.id, r.kind FROM records r
                    JOIN table_steps s ON s.tenant_id = t AND s.table_id = r.table_id AND s.step_id = r.step_id
                   WHERE r.tenant_id = t AND r.table_id = x
                     AND api.level_visible(standing, s.records -> r.kind ->> 'visible')
                     AND (NOT only_done OR s.state = 'done')
                   ORDER BY r.id LOOP
        acc := jsonb_set(acc, ARRAY[k], coalesce(acc -> k, '[]'::jsonb) || jsonb_build_array(api.record_json(t, rid)));
    END LOOP;
    RETURN acc;
END $$;

-- The meetings of table X as its facilitators read them, by their start:
-- each as GET /meetings/{id}, with its registrations and attendance as
-- GET /meetings/{id}/registrations (one at a time, as api.meetings_list).
CREATE OR REPLACE FUNCTION api.export_meetings(t bigint, viewer bigint, standing text, x bigint) RETURNS jsonb
LANGUAGE plpgsql STABLE AS $$
DECLARE
    mid bigint;
    items jsonb := '[]'::jsonb;
BEGIN
    FOREACH mid IN ARRAY ARRAY(SELECT y.id FROM meetings y WHERE y.tenant_id = t AND y.table_id = x
                                ORDER BY y.starts_at, y.id) LOOP
        items := items || jsonb_build_array(api.meeting_json(t, viewer, standing, false, mid)
                                            - 'my_registration' - 'can_register'
                                            || jsonb_build_object('registrations',
                                                                  api.registrations_json(t, viewer, true, mid)));
    END LOOP;
    RETURN items;
END $$;

-- The decisions of table X as VIEWER (of STANDING at the table) reads
-- them, oldest first: each as GET /decisions/{id} answers it. OPEN_DATA:
-- as a guest reads them, and only the closed ones.
CREATE OR REPLACE FUNCTION api.export_decisions(t bigint, viewer bigint, roles text, x bigint, open_data boolean)
RETURNS jsonb LANGUAGE plpgsql AS $$
DECLARE
    did bigint;
    f record;
    items jsonb := '[]'::jsonb;
BEGIN
    FOR did IN SELECT y.id FROM decisions y WHERE y.tenant_id = t AND y.table_id = x
                  AND (NOT open_data OR y.state = 'closed') ORDER BY y.id LOOP
        IF open_data THEN
            SELECT * INTO f FROM api.find_decision(t, NULL, '', did, NULL, NULL, NULL);
            IF f.standing IS NOT NULL THEN
                items := items || jsonb_build_array(api.decision_json(t, NULL, f.standing, false, did)
                                                    - 'my_vote' - 'can_vote' - 'can_manage' - 'can_add_point');
            END IF;
        ELSE
            SELECT * INTO f FROM api.find_decision(t, viewer, roles, did, NULL, NULL, NULL);
            IF f.standing IS NOT NULL THEN
                items := items || jsonb_build_array(api.decision_json(t, viewer, f.standing, f.people, did));
            END IF;
        END IF;
    END LOOP;
    RETURN items;
END $$;

-- Opens the export's cursor on the contributions of table X: all of them
-- for its facilitators (closed groups and hidden ones, with their text),
-- or, for open data, what a guest reads on the pages: not hidden, and not
-- in a closed group. Each row one JSON object (CSV: one line).
CREATE OR REPLACE FUNCTION api.export_open_contributions(t bigint, x bigint, open_data boolean, csv boolean)
RETURNS void LANGUAGE plpgsql AS $$
DECLARE
    cur refcursor := api.export_cursor();
BEGIN
    OPEN cur NO SCROLL FOR
        SELECT CASE WHEN csv THEN
                   -- Cell by cell (api.csv_cell inlined), not through
                   -- api.csv_line's array: this runs for every row.
                   -- concat_ws leaves NULL out: every cell is text here.
                   concat_ws(',', c.id, coalesce(c.group_id::text, ''), api.csv_cell(g.name),
                       coalesce(c.parent_id::text, ''),
                       api.csv_cell(CASE WHEN c.author_id IS NOT NULL THEN p.display_name
                                         ELSE coalesce(c.author_name, 'deelnemer aan tafel') END),
                       CASE WHEN c.author_id IS NOT NULL THEN 'account' ELSE 'table' END,
                       to_char(c.created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"'),
                       coalesce(to_char(c.edited_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"'), ''),
                       CASE WHEN c.hidden_at IS NOT NULL THEN 'ja' ELSE 'nee' END,
                       api.csv_cell(c.hidden_reason), api.csv_cell(c.body)) || E'\r\n'
               ELSE json_build_object('id', c.id, 'group_id', c.group_id, 'parent_id', c.parent_id,
                   'author', CASE WHEN c.author_id IS NOT NULL THEN
                           json_build_object('id', p.id, 'name', p.display_name,
                                             'kind', CASE WHEN p.deleted_at IS NULL THEN 'account' ELSE 'former' END)
                       ELSE json_build_object('id', NULL, 'name', coalesce(c.author_name, 'deelnemer aan tafel'),
                                              'kind', 'table') END,
                   'recorded', c.recorded_by IS NOT NULL,
                   'body', c.body, 'body_html', c.body_html,
                   'created_at', c.created_at, 'edited_at', c.edited_at,
                   'hidden', c.hidden_at IS NOT NULL, 'hidden_reason', c.hidden_reason)::text END
          FROM contributions c
          LEFT JOIN accounts p ON p.tenant_id = c.tenant_id AND p.id = c.author_id
          LEFT JOIN groups g ON g.tenant_id = c.tenant_id AND g.id = c.group_id
         WHERE c.tenant_id = t AND c.table_id = x
           AND (NOT open_data OR (c.hidden_at IS NULL AND (c.group_id IS NULL OR g.visibility = 'public')))
         ORDER BY c.id;
END $$;

-- The table as its export names it.
CREATE OR REPLACE FUNCTION api.export_table(x tables) RETURNS jsonb
LANGUAGE sql IMMUTABLE AS $$
    SELECT jsonb_build_object('id', x.id, 'title', x.title, 'question', x.question, 'description', x.description,
                              'description_html', x.description_html, 'visibility', x.visibility, 'status', x.status,
                              'created_at', x.created_at, 'updated_at', x.updated_at)
$$;

-- A JSON document DOC (an object) as the text before its streamed
-- "contributions" array, and the text after it.
CREATE OR REPLACE FUNCTION api.export_json_answer(doc jsonb, filename text) RETURNS jsonb
LANGUAGE sql IMMUTABLE AS $$
    SELECT api.export_answer('application/json', filename, left(doc::text, -1) || ', "contributions": [', ',',
                             ']}', true)
$$;

-- ---------------------------------------------------------------- operations

-- GET /tables/{id}/export: everything the table's facilitators (and the
-- municipality's admins) see of it, as one JSON document.
CREATE OR REPLACE FUNCTION api.table_export(t bigint, viewer bigint, roles text, a jsonb) RETURNS jsonb
LANGUAGE plpgsql AS $$
DECLARE
    it record;
    xid bigint;
    w table_workflows;
    doc jsonb;
    v_table jsonb;
    v_records jsonb;
    v_decisions jsonb;
    v_meetings jsonb;
BEGIN
    SELECT * INTO it FROM api.find_table(t, viewer, roles, a, '{facilitator}',
                                         'Only the table''s facilitators export it.');
    IF it.refused IS NOT NULL THEN
        RETURN it.refused;
    END IF;
    xid := (it.x).id;
    IF api.export_head_only(a) THEN
        RETURN api.export_answer('application/json', 'tafel-' || xid || '.json', '', '', '', false);
    END IF;
    SELECT * INTO w FROM table_workflows y WHERE y.tenant_id = t AND y.table_id = xid;
    -- The parts that query themselves first, each on its own: inside the
    -- statement below, which reads the tables, a Citus cluster would run
    -- them on the tenant's shard, where a query may not start another.
    v_table := api.export_table(it.x);
    v_records := api.export_records(t, xid, it.standing, false);
    v_decisions := api.export_decisions(t, viewer, roles, xid, false);
    v_meetings := api.export_meetings(t, viewer, it.standing, xid);
    doc := jsonb_build_object(
        'format', 'aantafel.table-export/1',
        'exported_at', now(),
        'table', v_table,
        'people', coalesce((SELECT jsonb_agg(jsonb_build_object('id', p.id, 'name', p.display_name, 'email', p.email,
                                'role', m.role, 'joined_at', m.joined_at) ORDER BY m.role, lower(p.display_name), p.id)
                              FROM table_members m JOIN accounts p ON p.tenant_id = m.tenant_id AND p.id = m.account_id
                             WHERE m.tenant_id = t AND m.table_id = xid AND p.deleted_at IS NULL), '[]'::jsonb),
        'groups', coalesce((SELECT jsonb_agg(jsonb_build_object('id', g.id, 'name', g.name, 'purpose', g.purpose,
                                'visibility', g.visibility, 'created_at', g.created_at,
                                'members', coalesce((SELECT jsonb_agg(jsonb_build_object('id', p.id,
                                        'name', p.display_name, 'joined_at', gm.joined_at) ORDER BY gm.joined_at, p.id)
                                      FROM group_members gm JOIN accounts p ON p.tenant_id = gm.tenant_id
                                                                           AND p.id = gm.account_id
                                     WHERE gm.tenant_id = t AND gm.group_id = g.id AND p.deleted_at IS NULL),
                                    '[]'::jsonb)) ORDER BY g.id)
                              FROM groups g WHERE g.tenant_id = t AND g.table_id = xid), '[]'::jsonb),
        'workflow', CASE WHEN w.table_id IS NULL THEN 'null'::jsonb ELSE
            jsonb_build_object('id', w.workflow_id, 'name', w.definition -> 'name', 'title', w.definition -> 'title',
                               'started_at', w.started_at, 'moved_at', w.moved_at) END,
        'steps', coalesce((SELECT jsonb_agg(jsonb_build_object('id', s.step_id, 'position', s.position, 'type', s.type,
                               'name', s.name, 'title', s.title, 'state', s.state, 'changed_at', s.changed_at,
                               'kinds', api.visible_kinds(it.standing, s.records)) ORDER BY s.position)
                             FROM table_steps s WHERE s.tenant_id = t AND s.table_id = xid), '[]'::jsonb),
        'history', coalesce((SELECT jsonb_agg(jsonb_build_object('id', h.id, 'step_id', h.step_id, 'action', h.action,
                                 'from_state', h.from_state, 'to_state', h.to_state,
                                 'by', CASE WHEN h.account_id IS NULL THEN 'null'::jsonb ELSE
                                       jsonb_build_object('id', h.account_id, 'name', p.display_name) END,
                                 'reason', h.reason, 'at', h.at) ORDER BY h.id)
                               FROM step_history h LEFT JOIN accounts p ON p.tenant_id = t AND p.id = h.account_id
                              WHERE h.tenant_id = t AND h.table_id = xid), '[]'::jsonb),
        'records', v_records,
        'decisions', v_decisions,
        'meetings', v_meetings);
    PERFORM api.export_open_contributions(t, xid, false, false);
    RETURN api.export_json_answer(doc, 'tafel-' || xid || '.json');
END $$;

-- GET /tables/{id}/export/{kind}.csv: one kind of the table as CSV, for
-- its facilitators: contributions, decisions (a line per choice, with
-- its counts), meetings (with attendance), or the records of a kind its
-- steps declare (a column per declared field).
CREATE OR REPLACE FUNCTION api.table_export_csv(t bigint, viewer bigint, roles text, a jsonb) RETURNS jsonb
LANGUAGE plpgsql AS $$
DECLARE
    it record;
    xid bigint;
    want text := api.text_arg(a, 'kind');
    kinds jsonb;
    cols text[];
    cur refcursor := api.export_cursor();
    fname text;
BEGIN
    SELECT * INTO it FROM api.find_table(t, viewer, roles, a, '{facilitator}',
                                         'Only the table''s facilitators export it.');
    IF it.refused IS NOT NULL THEN
        RETURN it.refused;
    END IF;
    xid := (it.x).id;
    fname := 'tafel-' || xid || '-' || want || '.csv';
    IF api.export_head_only(a) AND (want IN ('contributions', 'decisions', 'meetings')
                                     OR api.export_kinds(t, xid, it.standing) ? want) THEN
        RETURN api.export_answer('text/csv; charset=utf-8', fname, '', '', '', false);
    END IF;
    IF want = 'contributions' THEN
        PERFORM api.export_open_contributions(t, xid, false, true);
        RETURN api.export_answer('text/csv; charset=utf-8', fname,
            E'\uFEFF' || api.csv_line(ARRAY['id', 'group_id', 'group', 'parent_id', 'author', 'author_kind',
                                            'created_at', 'edited_at', 'hidden', 'hidden_reason', 'body']),
            '', '', true);
    END IF;
    IF want = 'decisions' THEN
        -- A line per decision and choice: the counts only where the
        -- facilitators see them (not while an open decision hides them).
        OPEN cur NO SCROLL FOR
            SELECT api.csv_line(ARRAY[d.id::text, d.group_id::text, d.title, d.state, d.path, d.outcome,
                       to_char(d.closed_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"'),
                       ch.value ->> 'id', coalesce(ch.value -> 'label' ->> 'nl', ch.value ->> 'id'),
                       CASE WHEN shown THEN coalesce(v.n, 0)::text END,
                       CASE WHEN shown THEN coalesce(r.count, 0)::text END,
                       CASE WHEN shown THEN (coalesce(v.n, 0) + coalesce(r.count, 0))::text END,
                       CASE WHEN d.outcome = ch.value ->> 'id' THEN 'ja' ELSE 'nee' END,
                       (SELECT count(*) FROM minority_points m WHERE m.tenant_id = t AND m.decision_id = d.id)::text,
                       (SELECT count(*) FROM minority_points m WHERE m.tenant_id = t AND m.decision_id = d.id
                           AND m.added)::text])
              FROM (SELECT y.*, y.state = 'closed' OR NOT y.results_hidden AS shown
                      FROM decisions y WHERE y.tenant_id = t AND y.table_id = xid) d
             CROSS JOIN LATERAL jsonb_array_elements(d.choices) WITH ORDINALITY ch(value, n)
              LEFT JOIN (SELECT y.decision_id, y.choice, count(*) AS n FROM votes y WHERE y.tenant_id = t
                          GROUP BY y.decision_id, y.choice) v ON v.decision_id = d.id AND v.choice = ch.value ->> 'id'
              LEFT JOIN room_counts r ON r.tenant_id = t AND r.decision_id = d.id AND r.choice = ch.value ->> 'id'
             ORDER BY d.id, ch.n;
        RETURN api.export_answer('text/csv; charset=utf-8', fname,
            E'\uFEFF' || api.csv_line(ARRAY['decision_id', 'group_id', 'title', 'state', 'path', 'outcome',
                                            'closed_at', 'choice', 'choice_label', 'votes', 'room', 'total',
                                            'chosen', 'minority_points', 'points_added']),
            '', '', true);
    END IF;
    IF want = 'meetings' THEN
        -- A line per meeting with its attendance (empty until recorded).
        OPEN cur NO SCROLL FOR
            SELECT api.csv_line(ARRAY[m.id::text, m.group_id::text, m.step_id, m.title,
                       to_char(m.starts_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"'),
                       to_char(m.ends_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"'),
                       m.place, m.online_url, m.state, m.capacity::text,
                       (SELECT count(*) FROM meeting_registrations r WHERE r.tenant_id = t AND r.meeting_id = m.id
                           AND r.state = 'registered')::text,
                       (SELECT count(*) FROM meeting_registrations r WHERE r.tenant_id = t AND r.meeting_id = m.id
                           AND r.state = 'waiting')::text,
                       CASE WHEN m.attendance_at IS NOT NULL THEN
                           (SELECT count(*) FROM meeting_registrations r WHERE r.tenant_id = t
                               AND r.meeting_id = m.id AND r.attended)::text END,
                       CASE WHEN m.attendance_at IS NOT NULL THEN coalesce(m.walk_ins, 0)::text END])
              FROM meetings m WHERE m.tenant_id = t AND m.table_id = xid
             ORDER BY m.starts_at, m.id;
        RETURN api.export_answer('text/csv; charset=utf-8', fname,
            E'\uFEFF' || api.csv_line(ARRAY['meeting_id', 'group_id', 'step_id', 'title', 'starts_at', 'ends_at',
                                            'place', 'online_url', 'state', 'capacity', 'registered', 'waiting',
                                            'attended', 'walk_ins']),
            '', '', true);
    END IF;
    kinds := api.export_kinds(t, xid, it.standing);
    IF want IS NULL OR NOT kinds ? want THEN
        RETURN api.not_found();
    END IF;
    cols := ARRAY(SELECT jsonb_array_elements_text(kinds -> want));
    OPEN cur NO SCROLL FOR
        SELECT api.csv_line(ARRAY[r.id::text, r.step_id, r.version::text,
                   to_char(r.created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"'),
                   to_char(r.updated_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"')]
                   || ARRAY(SELECT api.csv_value(r.fields -> f.name) FROM unnest(cols) WITH ORDINALITY f(name, n)
                             ORDER BY f.n))
          FROM records r
          JOIN table_steps s ON s.tenant_id = t AND s.table_id = r.table_id AND s.step_id = r.step_id
         WHERE r.tenant_id = t AND r.table_id = xid AND r.kind = want
           AND api.level_visible(it.standing, s.records -> r.kind ->> 'visible')
         ORDER BY r.id;
    RETURN api.export_answer('text/csv; charset=utf-8', fname,
        E'\uFEFF' || api.csv_line(ARRAY['id', 'step_id', 'version', 'created_at', 'updated_at'] || cols),
        '', '', true);
END $$;

-- GET /tables/{id}/open-data: what everyone may read of a public table,
-- the same for every caller: its contributions outside closed groups and
-- not hidden, its closed decisions (outside closed groups) with counts and
-- the minority's points, and the records of its done steps that are
-- declared for every reader (the method's outcome and report). A closed
-- table has no open data: 404, for its people too.
CREATE OR REPLACE FUNCTION api.table_open_data(t bigint, viewer bigint, roles text, a jsonb) RETURNS jsonb
LANGUAGE plpgsql AS $$
DECLARE
    it record;
    xid bigint;
BEGIN
    SELECT * INTO it FROM api.find_table(t, viewer, roles, a, NULL);
    IF it.refused IS NOT NULL OR (it.x).visibility IS DISTINCT FROM 'public' THEN
        RETURN api.not_found();
    END IF;
    xid := (it.x).id;
    IF api.export_head_only(a) THEN
        RETURN api.export_answer('application/json', NULL, '', '', '', false);
    END IF;
    PERFORM api.export_open_contributions(t, xid, true, false);
    RETURN api.export_json_answer(jsonb_build_object(
        'format', 'aantafel.open-data/1',
        'table', api.export_table(it.x),
        'records', api.export_records(t, xid, 'guest', true),
        'decisions', api.export_decisions(t, NULL, '', xid, true)), NULL);
END $$;
