-- A table's workflow: opening it on one of the municipality's workflows,
-- its steps and their states (pending, active, done, skipped), completing,
-- skipping and reopening a step, the history of those changes, and moving
-- a table to the current definition of its workflow.
--
-- The definitions are declared in Lua (plugin.workflow, plugin.step_type)
-- and reach SQL as data: an operation whose route has API_DEFS
-- (core/app/api.h) gets the tenant's declared definitions as the argument
-- "_definitions" ({"default": id, "workflows": {id: {id, name, title,
-- steps: [{id, type, name, title, records: {kind: {visible, fields}}}]}}}),
-- which the runtime made when it built the tenant's state
-- (core/lua/prelude.lua, definitions()). A table keeps its workflow's
-- definition as a snapshot (table_workflows, table_steps): a later deploy
-- or rollback changes what new tables get, never a running one, until a
-- facilitator moves it. The step types' guards and hooks run in the
-- tenant's Lua around these operations (the route's events), not here.
--
-- Who may see what is visibility.sql's: where a table stands is for
-- whoever reads the table; the history for its facilitators and client;
-- the changes for its facilitators.

-- ---------------------------------------------------------------- JSON

CREATE OR REPLACE FUNCTION api.step_object(step_id text, pos int, type text, name text, title jsonb,
                                           state text, changed_at timestamptz, records jsonb) RETURNS jsonb
LANGUAGE sql IMMUTABLE AS $$
    SELECT jsonb_build_object('id', step_id, 'position', pos, 'type', type, 'name', name, 'title', title,
                              'state', state, 'changed_at', changed_at, 'records', records)
$$;

-- Step STEP of table X as JSON, or NULL.
CREATE OR REPLACE FUNCTION api.step_json(t bigint, x bigint, step text) RETURNS jsonb
LANGUAGE plpgsql STABLE AS $$
BEGIN
    RETURN (SELECT api.step_object(s.step_id, s.position, s.type, s.name, s.title, s.state, s.changed_at, s.records)
              FROM table_steps s WHERE s.tenant_id = t AND s.table_id = x AND s.step_id = step);
END $$;

-- What a step's event carries: the table, the step, who, and why.
CREATE OR REPLACE FUNCTION api.step_event_data(t bigint, x bigint, step text, viewer bigint, reason text) RETURNS jsonb
LANGUAGE plpgsql STABLE AS $$
BEGIN
    RETURN jsonb_build_object('table_id', x, 'step', api.step_json(t, x, step), 'by', viewer, 'reason', reason);
END $$;

-- ---------------------------------------------------------------- definitions

-- The workflow A asks for (its "workflow", else the tenant's default)
-- among the declared definitions: WF is the definition (NULL when the
-- tenant declares none and none was asked for), FIELDS a field's problem.
CREATE OR REPLACE FUNCTION api.workflow_chosen(a jsonb, OUT wf jsonb, OUT fields jsonb)
LANGUAGE plpgsql IMMUTABLE AS $$
DECLARE
    defs jsonb := coalesce(a -> '_definitions', '{}'::jsonb);
    wanted text;
BEGIN
    fields := '{}'::jsonb;
    IF a ? 'workflow' AND jsonb_typeof(a -> 'workflow') NOT IN ('string', 'null') THEN
        fields := api.field('workflow', 'type', 'Must be a string.');
        RETURN;
    END IF;
    wanted := coalesce(api.text_arg(a, 'workflow'), defs ->> 'default');
    IF wanted IS NULL THEN
        RETURN;
    END IF;
    wf := defs -> 'workflows' -> wanted;
    IF jsonb_typeof(wf) IS DISTINCT FROM 'object' OR jsonb_typeof(wf -> 'steps') IS DISTINCT FROM 'array'
       OR jsonb_array_length(wf -> 'steps') = 0 THEN
        wf := NULL;
        fields := api.field('workflow', 'choice', 'One of: ' || coalesce((SELECT string_agg(k, ', ' ORDER BY k)
                             FROM jsonb_object_keys(coalesce(defs -> 'workflows', '{}'::jsonb)) k), '') || '.');
    END IF;
END $$;

-- Table X opens on workflow WF (a definition from api.workflow_chosen):
-- the snapshot, its steps (the first one active), and the history.
-- Answers the first step's id.
CREATE OR REPLACE FUNCTION api.workflow_start(t bigint, x bigint, viewer bigint, wf jsonb) RETURNS text
LANGUAGE plpgsql AS $$
DECLARE
    at timestamptz := statement_timestamp();
    first text;
    step_def jsonb;
    pos bigint;
BEGIN
    INSERT INTO table_workflows (tenant_id, table_id, workflow_id, definition, started_at)
    VALUES (t, x, wf ->> 'id', wf, at);
    -- One INSERT … VALUES per step: an INSERT … SELECT from the
    -- definition would reach a Citus cluster's shards as COPY, which
    -- row-level security refuses.
    FOR step_def, pos IN SELECT e.s, e.n FROM jsonb_array_elements(wf -> 'steps') WITH ORDINALITY AS e(s, n) LOOP
        INSERT INTO table_steps (tenant_id, table_id, step_id, position, type, name, title, records, state, changed_at)
        VALUES (t, x, step_def ->> 'id', pos::int, step_def ->> 'type', coalesce(step_def ->> 'name', step_def ->> 'type'),
                coalesce(step_def -> 'title', '{}'::jsonb),
                CASE WHEN jsonb_typeof(step_def -> 'records') = 'object' THEN step_def -> 'records' ELSE '{}'::jsonb END,
                CASE WHEN pos = 1 THEN 'active' ELSE 'pending' END, at);
    END LOOP;
    first := wf -> 'steps' -> 0 ->> 'id';
    INSERT INTO step_history (tenant_id, table_id, step_id, action, from_state, to_state, account_id, reason, at)
    VALUES (t, x, NULL, 'started', NULL, NULL, viewer, wf ->> 'id', at),
           (t, x, first, 'entered', 'pending', 'active', viewer, NULL, at);
    RETURN first;
END $$;

-- ---------------------------------------------------------------- reads

-- GET /workflows: the municipality's workflows as declared now.
CREATE OR REPLACE FUNCTION api.workflows_list(t bigint, viewer bigint, roles text, a jsonb) RETURNS jsonb
LANGUAGE plpgsql IMMUTABLE AS $$
DECLARE
    defs jsonb := coalesce(a -> '_definitions', '{}'::jsonb);
BEGIN
    RETURN api.ok(jsonb_build_object(
        'default', defs -> 'default',
        'items', coalesce((SELECT jsonb_agg(jsonb_build_object('id', w.value -> 'id', 'name', w.value -> 'name',
                               'title', w.value -> 'title', 'steps', w.value -> 'steps') ORDER BY w.key)
                             FROM jsonb_each(coalesce(defs -> 'workflows', '{}'::jsonb)) w), '[]'::jsonb)));
END $$;

-- The record kinds of a step that a viewer of STANDING reads, each with
-- can_write: whether they may keep records of it (api.may_write).
CREATE OR REPLACE FUNCTION api.kinds_for(standing text, kinds jsonb) RETURNS jsonb
LANGUAGE plpgsql IMMUTABLE AS $$
BEGIN
    RETURN (SELECT coalesce(jsonb_object_agg(k.key, k.value || jsonb_build_object('can_write',
                                                 coalesce(api.may_write(standing, k.value), false))), '{}'::jsonb)
              FROM jsonb_each(api.visible_kinds(standing, kinds)) k);
END $$;

-- GET /tables/{id}/steps: the table's workflow and where it stands.
CREATE OR REPLACE FUNCTION api.table_steps(t bigint, viewer bigint, roles text, a jsonb) RETURNS jsonb
LANGUAGE plpgsql STABLE AS $$
DECLARE
    it record;
    w table_workflows;
BEGIN
    SELECT * INTO it FROM api.find_table(t, viewer, roles, a, NULL);
    IF it.refused IS NOT NULL THEN
        RETURN it.refused;
    END IF;
    SELECT * INTO w FROM table_workflows y WHERE y.tenant_id = t AND y.table_id = (it.x).id;
    RETURN api.ok(jsonb_build_object(
        'table_id', (it.x).id,
        'workflow', CASE WHEN w.table_id IS NULL THEN 'null'::jsonb ELSE
            jsonb_build_object('id', w.workflow_id, 'name', w.definition -> 'name', 'title', w.definition -> 'title',
                               'started_at', w.started_at, 'moved_at', w.moved_at) END,
        -- What the viewer may do, so that pages offer only that (the
        -- operations decide again): change the steps, read the history,
        -- and per kind (can_write) keep records of it.
        'can_change', it.standing = 'facilitator',
        'can_read_history', it.standing = ANY (api.history_readers()),
        'steps', coalesce((SELECT jsonb_agg(api.step_object(s.step_id, s.position, s.type, s.name, s.title, s.state,
                                      s.changed_at, api.kinds_for(it.standing, s.records)) ORDER BY s.position)
                             FROM table_steps s WHERE s.tenant_id = t AND s.table_id = (it.x).id), '[]'::jsonb)));
END $$;

-- GET /tables/{id}/history: who changed which step, when, and why.
CREATE OR REPLACE FUNCTION api.step_history(t bigint, viewer bigint, roles text, a jsonb) RETURNS jsonb
LANGUAGE plpgsql STABLE AS $$
DECLARE
    it record;
    lim int := api.page_limit(a);
    after bigint := api.cursor_id(a);
    xid bigint;
    ids bigint[];
BEGIN
    IF after = -1 THEN
        RETURN api.bad_cursor();
    END IF;
    SELECT * INTO it FROM api.find_table(t, viewer, roles, a, api.history_readers(),
                                         'Only the facilitators and the client read the history.');
    IF it.refused IS NOT NULL THEN
        RETURN it.refused;
    END IF;
    -- The ids first, then the rows with their names: one query at a time
    -- on the tenant's shard, every table filtered on the tenant itself
    -- (sql/README.md, "Citus").
    xid := (it.x).id;
    ids := ARRAY(SELECT y.id FROM step_history y WHERE y.tenant_id = t AND y.table_id = xid
                    AND (after IS NULL OR y.id < after) ORDER BY y.id DESC LIMIT lim + 1);
    RETURN api.ok(api.page((SELECT jsonb_agg(jsonb_build_object('id', h.id, 'step_id', h.step_id,
                                'action', h.action, 'from_state', h.from_state, 'to_state', h.to_state,
                                'by', CASE WHEN h.account_id IS NULL THEN 'null'::jsonb ELSE
                                      jsonb_build_object('id', h.account_id, 'name', p.display_name) END,
                                'reason', h.reason, 'at', h.at) ORDER BY h.id DESC)
                              FROM step_history h
                              LEFT JOIN accounts p ON p.tenant_id = t AND p.id = h.account_id
                             WHERE h.tenant_id = t AND h.id = ANY (ids)), lim));
END $$;

-- ---------------------------------------------------------------- changes

-- Step STEP_ID (at POS) of table X goes FROM_STATE -> TO_STATE by
-- VIEWER, recorded as ACTION with REASON, EVENT fired, and the next
-- pending step entered when none is active: the answer of complete and
-- skip (the steps as the viewer reads them, and the events).
CREATE OR REPLACE FUNCTION api.step_close(t bigint, viewer bigint, roles text, x bigint, step_id text,
                                          pos int, from_state text, to_state text, action text,
                                          event text, reason text, at timestamptz) RETURNS jsonb
LANGUAGE plpgsql AS $$
DECLARE
    answer jsonb;
BEGIN
    PERFORM api.step_set(t, x, step_id, from_state, to_state, action, viewer, reason, at);
    answer := api.event('{}'::jsonb, event, api.step_event_data(t, x, step_id, viewer, reason));
    answer := api.step_next(t, x, pos, viewer, at, answer);
    RETURN api.steps_answer(t, viewer, roles, x) || jsonb_build_object('events', answer -> 'events');
END $$;

-- The table and step A names, for a change by its facilitators: X (the
-- table's id), S (the step's row), or REFUSED.
CREATE OR REPLACE FUNCTION api.find_step(t bigint, viewer bigint, roles text, a jsonb,
                                         OUT x bigint, OUT s table_steps, OUT refused jsonb)
LANGUAGE plpgsql AS $$
DECLARE
    it record;
BEGIN
    SELECT * INTO it FROM api.find_table(t, viewer, roles, a, ARRAY['facilitator'],
                                         'Only the table''s facilitators change its steps.');
    IF it.refused IS NOT NULL THEN
        refused := it.refused;
        RETURN;
    END IF;
    x := (it.x).id;
    -- Steps of one table change one at a time.
    PERFORM 1 FROM table_workflows w WHERE w.tenant_id = t AND w.table_id = x FOR UPDATE;
    IF NOT FOUND THEN
        refused := api.error(409, 'no_workflow', 'This table has no workflow.');
        RETURN;
    END IF;
    SELECT * INTO s FROM table_steps y WHERE y.tenant_id = t AND y.table_id = x AND y.step_id = a ->> 'step';
    IF s.step_id IS NULL THEN
        refused := api.not_found();
    END IF;
END $$;

-- Moves step STEP of table X to state TO and writes the history.
CREATE OR REPLACE FUNCTION api.step_set(t bigint, x bigint, step text, from_state text, to_state text,
                                        action text, viewer bigint, reason text, at timestamptz) RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
    UPDATE table_steps y SET state = to_state, changed_at = at
     WHERE y.tenant_id = t AND y.table_id = x AND y.step_id = step;
    INSERT INTO step_history (tenant_id, table_id, step_id, action, from_state, to_state, account_id, reason, at)
    VALUES (t, x, step, action, from_state, to_state, viewer, reason, at);
END $$;

-- After a step of table X at position POS ended: the first pending step
-- after it becomes active (when no step is active). Answers ANSWER with
-- step.entered added for it.
CREATE OR REPLACE FUNCTION api.step_next(t bigint, x bigint, pos int, viewer bigint, at timestamptz, answer jsonb)
RETURNS jsonb LANGUAGE plpgsql AS $$
DECLARE
    nxt text;
BEGIN
    IF EXISTS (SELECT 1 FROM table_steps y WHERE y.tenant_id = t AND y.table_id = x AND y.state = 'active') THEN
        RETURN answer;
    END IF;
    SELECT y.step_id INTO nxt FROM table_steps y
     WHERE y.tenant_id = t AND y.table_id = x AND y.state = 'pending' AND y.position > pos
     ORDER BY y.position LIMIT 1;
    IF nxt IS NULL THEN
        RETURN answer;
    END IF;
    PERFORM api.step_set(t, x, nxt, 'pending', 'active', 'entered', viewer, NULL, at);
    RETURN api.event(answer, 'step.entered', api.step_event_data(t, x, nxt, viewer, NULL));
END $$;

-- A reason that skipping and reopening require: trimmed, 1 to 2000
-- characters; NULL with the field's problem in F otherwise.
CREATE OR REPLACE FUNCTION api.reason_arg(a jsonb, OUT reason text, OUT f jsonb)
LANGUAGE plpgsql IMMUTABLE AS $$
BEGIN
    f := api.check_type('{}'::jsonb, a, 'reason', 'string');
    f := api.check_text(f, 'reason', api.text_arg(a, 'reason'), 2000, true);
    IF f = '{}'::jsonb THEN
        reason := btrim(a ->> 'reason');
    END IF;
END $$;

-- The answer of a change: the table's steps as the viewer sees them.
CREATE OR REPLACE FUNCTION api.steps_answer(t bigint, viewer bigint, roles text, x bigint) RETURNS jsonb
LANGUAGE plpgsql STABLE AS $$
BEGIN
    RETURN api.table_steps(t, viewer, roles, jsonb_build_object('id', x));
END $$;

-- POST /tables/{id}/steps/{step}/complete: the active step is done, the
-- next pending one active. The step type's guard ran before (the route's
-- step.before_complete, in the tenant's Lua).
CREATE OR REPLACE FUNCTION api.step_complete(t bigint, viewer bigint, roles text, a jsonb) RETURNS jsonb
LANGUAGE plpgsql AS $$
DECLARE
    it record;
    at timestamptz := statement_timestamp();
BEGIN
    SELECT * INTO it FROM api.find_step(t, viewer, roles, a);
    IF it.refused IS NOT NULL THEN
        RETURN it.refused;
    END IF;
    IF (it.s).state <> 'active' THEN
        RETURN api.error(409, 'not_active', format('Only the active step can be completed; this one is %s.', (it.s).state));
    END IF;
    -- Told to the table's followers: a step whose type keeps a report
    -- (the methode plugin's verslag) publishes it by completing.
    PERFORM platform.activity_add(t, CASE WHEN (it.s).records ? 'report' THEN 'report.published' ELSE 'step.completed' END,
                                  it.x, NULL, NULL, viewer, coalesce((it.s).title ->> 'nl', (it.s).name),
                                  coalesce((it.s).title ->> 'nl', (it.s).name),
                                  '/tafels/' || it.x || CASE WHEN (it.s).records ? 'report' THEN '/verslag' ELSE '' END);
    RETURN api.step_close(t, viewer, roles, it.x, (it.s).step_id, (it.s).position, 'active', 'done', 'completed',
                          'step.completed', NULL, at);
END $$;

-- POST /tables/{id}/steps/{step}/skip {reason}: a pending or active step
-- is skipped; when it was the active one, the next pending one follows.
CREATE OR REPLACE FUNCTION api.step_skip(t bigint, viewer bigint, roles text, a jsonb) RETURNS jsonb
LANGUAGE plpgsql AS $$
DECLARE
    it record;
    r record;
    at timestamptz := statement_timestamp();
BEGIN
    SELECT * INTO it FROM api.find_step(t, viewer, roles, a);
    IF it.refused IS NOT NULL THEN
        RETURN it.refused;
    END IF;
    SELECT * INTO r FROM api.reason_arg(a);
    IF r.f <> '{}'::jsonb THEN
        RETURN api.invalid(r.f);
    END IF;
    IF (it.s).state NOT IN ('pending', 'active') THEN
        RETURN api.error(409, 'not_open', format('Only a pending or active step can be skipped; this one is %s.',
                                                 (it.s).state));
    END IF;
    RETURN api.step_close(t, viewer, roles, it.x, (it.s).step_id, (it.s).position, (it.s).state, 'skipped',
                          'skipped', 'step.skipped', r.reason, at);
END $$;

-- POST /tables/{id}/steps/{step}/reopen {reason}: a done or skipped step
-- is active again; the step that was active goes back to pending.
CREATE OR REPLACE FUNCTION api.step_reopen(t bigint, viewer bigint, roles text, a jsonb) RETURNS jsonb
LANGUAGE plpgsql AS $$
DECLARE
    it record;
    r record;
    at timestamptz := statement_timestamp();
    was text;
BEGIN
    SELECT * INTO it FROM api.find_step(t, viewer, roles, a);
    IF it.refused IS NOT NULL THEN
        RETURN it.refused;
    END IF;
    SELECT * INTO r FROM api.reason_arg(a);
    IF r.f <> '{}'::jsonb THEN
        RETURN api.invalid(r.f);
    END IF;
    IF (it.s).state NOT IN ('done', 'skipped') THEN
        RETURN api.error(409, 'not_closed', format('Only a done or skipped step can be reopened; this one is %s.',
                                                   (it.s).state));
    END IF;
    SELECT y.step_id INTO was FROM table_steps y WHERE y.tenant_id = t AND y.table_id = it.x AND y.state = 'active';
    IF was IS NOT NULL THEN
        PERFORM api.step_set(t, it.x, was, 'active', 'pending', 'reopened', viewer,
                             format('Step %s reopened', (it.s).step_id), at);
    END IF;
    PERFORM api.step_set(t, it.x, (it.s).step_id, (it.s).state, 'active', 'reopened', viewer, r.reason, at);
    RETURN api.event(api.steps_answer(t, viewer, roles, it.x), 'step.reopened',
                     api.step_event_data(t, it.x, (it.s).step_id, viewer, r.reason));
END $$;

-- POST /tables/{id}/workflow: the table moves to the current definition
-- of its workflow (API_DEFS). Steps are matched by id: a step kept keeps
-- its state and records and takes the new definition's position, type,
-- name and record kinds; a new step is pending; a step that the new
-- definition drops goes, unless it holds records: then nothing moves and
-- the answer is 409 naming it. Without an active step afterwards, the
-- first pending one becomes active.
CREATE OR REPLACE FUNCTION api.workflow_move(t bigint, viewer bigint, roles text, a jsonb) RETURNS jsonb
LANGUAGE plpgsql AS $$
DECLARE
    it record;
    w table_workflows;
    wf jsonb;
    at timestamptz := statement_timestamp();
    kept text;
    answer jsonb := '{}'::jsonb;
    step_def jsonb;
    pos bigint;
BEGIN
    SELECT * INTO it FROM api.find_table(t, viewer, roles, a, ARRAY['facilitator'],
                                         'Only the table''s facilitators move its workflow.');
    IF it.refused IS NOT NULL THEN
        RETURN it.refused;
    END IF;
    SELECT * INTO w FROM table_workflows y WHERE y.tenant_id = t AND y.table_id = (it.x).id FOR UPDATE;
    IF w.table_id IS NULL THEN
        RETURN api.error(409, 'no_workflow', 'This table has no workflow.');
    END IF;
    wf := a -> '_definitions' -> 'workflows' -> w.workflow_id;
    IF jsonb_typeof(wf) IS DISTINCT FROM 'object' OR jsonb_typeof(wf -> 'steps') IS DISTINCT FROM 'array' THEN
        RETURN api.error(409, 'workflow_gone',
                         format('The workflow %s is no longer declared; the table keeps the definition it has.',
                                w.workflow_id));
    END IF;
    SELECT string_agg(s.step_id, ', ' ORDER BY s.position) INTO kept
      FROM table_steps s
     WHERE s.tenant_id = t AND s.table_id = w.table_id
       AND NOT EXISTS (SELECT 1 FROM jsonb_array_elements(wf -> 'steps') e WHERE e ->> 'id' = s.step_id)
       AND EXISTS (SELECT 1 FROM records r WHERE r.tenant_id = t AND r.table_id = s.table_id AND r.step_id = s.step_id);
    IF kept IS NOT NULL THEN
        RETURN api.error(409, 'step_has_data',
                         format('The current definition drops steps that hold records: %s.', kept),
                         jsonb_build_object('steps', jsonb_build_object('code', 'has_data', 'message', kept)));
    END IF;
    DELETE FROM table_steps s
     WHERE s.tenant_id = t AND s.table_id = w.table_id
       AND NOT EXISTS (SELECT 1 FROM jsonb_array_elements(wf -> 'steps') e WHERE e ->> 'id' = s.step_id);
    -- Positions are moved out of the way first (no two steps share one
    -- only by convention, but a clean renumbering reads better).
    -- Step by step, as api.workflow_start does (no COPY on a cluster).
    FOR step_def, pos IN SELECT q.e, q.n FROM jsonb_array_elements(wf -> 'steps') WITH ORDINALITY AS q(e, n) LOOP
        INSERT INTO table_steps AS s (tenant_id, table_id, step_id, position, type, name, title, records, state, changed_at)
        VALUES (t, w.table_id, step_def ->> 'id', pos::int, step_def ->> 'type',
                coalesce(step_def ->> 'name', step_def ->> 'type'), coalesce(step_def -> 'title', '{}'::jsonb),
                CASE WHEN jsonb_typeof(step_def -> 'records') = 'object' THEN step_def -> 'records' ELSE '{}'::jsonb END,
                'pending', at)
        ON CONFLICT (tenant_id, table_id, step_id) DO UPDATE
           SET position = excluded.position, type = excluded.type, name = excluded.name, title = excluded.title,
               records = excluded.records;
    END LOOP;
    UPDATE table_workflows y SET definition = wf, moved_at = at
     WHERE y.tenant_id = t AND y.table_id = w.table_id;
    -- Which fields are text is the definition's to say: the records'
    -- search text follows it (sql/021).
    UPDATE records r SET search = to_tsvector('dutch', api.record_text(s.records -> r.kind -> 'fields', r.fields))
      FROM table_steps s
     WHERE r.tenant_id = t AND r.table_id = w.table_id
       AND s.tenant_id = t AND s.table_id = w.table_id AND s.step_id = r.step_id;
    INSERT INTO step_history (tenant_id, table_id, step_id, action, account_id, reason, at)
    VALUES (t, w.table_id, NULL, 'moved', viewer, w.workflow_id, at);
    answer := api.step_next(t, w.table_id, 0, viewer, at, answer);
    RETURN api.steps_answer(t, viewer, roles, w.table_id) || jsonb_build_object('events', coalesce(answer -> 'events', '[]'::jsonb));
END $$;
