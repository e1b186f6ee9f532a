-- Decisions the Deep Democracy way (sql/022_decisions.sql): a
-- facilitator opens one at a table (or for one of its groups), its voters
-- (the table's people, or the group's members) vote and may change their
-- vote until it closes, the facilitator records the room's counts and
-- closes it (the majority's outcome) or closes it as collective wisdom (a
-- shared outcome, no vote); then the minority round, the facilitator's
-- marks, and the final text.
--
-- Who reads what (decided here, on top of visibility.sql's standings):
-- a decision is read by whoever reads its table, and for a group's
-- decision whoever reads the group's content; a closed table or group is
-- 404 for the others. Counts are shown while open unless results_hidden
-- (then to nobody, facilitators included, until closing; the number of
-- votes cast is always shown). Who voted what is named only when the
-- decision is not secret, only to the table's people (facilitators,
-- client, members; for a group's decision its members and the
-- facilitators), never to guests, and only when the counts are shown. A
-- secret decision names nobody's vote to anyone but the voter, and its
-- minority points name nobody. A viewer always sees their own vote.
--
-- Votes and closing are serialised on the decision's row: a vote takes it
-- FOR SHARE, closing FOR UPDATE, so that a vote either commits before the
-- close reads the counts or sees the decision closed and answers 409.

-- ---------------------------------------------------------------- finding

-- Decision DID as the viewer finds it: its row (NULL when they may not
-- read it), their STANDING at its table (NULL: 404), whether they are one
-- of its PEOPLE (named votes), and REFUSED for an operation needing one of
-- NEED (api.refusal). LOCK: 'update', 'share' or NULL.
CREATE OR REPLACE FUNCTION api.find_decision(t bigint, viewer bigint, roles text, did bigint, need text[],
                                             message text, lock text,
                                             OUT d decisions, OUT standing text, OUT people boolean,
                                             OUT refused jsonb)
LANGUAGE plpgsql AS $$
DECLARE
    tvisibility text;
    gvisibility text;
    gs text;
BEGIN
    IF lock = 'update' THEN
        SELECT * INTO d FROM decisions y WHERE y.tenant_id = t AND y.id = did FOR UPDATE;
    ELSIF lock = 'share' THEN
        SELECT * INTO d FROM decisions y WHERE y.tenant_id = t AND y.id = did FOR SHARE;
    ELSE
        SELECT * INTO d FROM decisions y WHERE y.tenant_id = t AND y.id = did;
    END IF;
    IF d.id IS NOT NULL THEN
        SELECT y.visibility INTO tvisibility FROM tables y WHERE y.tenant_id = t AND y.id = d.table_id;
        standing := api.table_standing(t, viewer, roles, d.table_id, tvisibility);
        people := standing IN ('facilitator', 'client', 'member');
        IF standing IS NOT NULL AND d.group_id IS NOT NULL THEN
            SELECT y.visibility INTO gvisibility FROM groups y WHERE y.tenant_id = t AND y.id = d.group_id;
            gs := api.group_standing(t, viewer, standing, d.group_id, gvisibility);
            IF gs NOT IN ('manage', 'member', 'read') THEN
                standing := NULL;
            END IF;
            people := gs IN ('manage', 'member');
        END IF;
    END IF;
    IF standing IS NULL THEN
        d := NULL;
        people := false;
    END IF;
    refused := api.refusal(standing, viewer, need, message);
END $$;

-- Whether VIEWER votes on a decision of table X (group G) whose VOTERS
-- are 'people' (the table's members and client) or 'group' (G's members).
CREATE OR REPLACE FUNCTION api.decision_voter(t bigint, viewer bigint, x bigint, g bigint, voters text) RETURNS boolean
LANGUAGE plpgsql STABLE AS $$
BEGIN
    IF viewer IS NULL THEN
        RETURN false;
    END IF;
    IF voters = 'group' THEN
        RETURN EXISTS (SELECT 1 FROM group_members m WHERE m.tenant_id = t AND m.group_id = g AND m.account_id = viewer);
    END IF;
    -- The table's people but its facilitators, who lead the decision
    -- and record the room.
    RETURN EXISTS (SELECT 1 FROM table_members m WHERE m.tenant_id = t AND m.table_id = x AND m.account_id = viewer
                      AND m.role IN ('member', 'client'));
END $$;

-- The choice ids of CHOICES ([{id, label}, …]).
CREATE OR REPLACE FUNCTION api.choice_ids(choices jsonb) RETURNS text[]
LANGUAGE sql IMMUTABLE AS $$
    SELECT coalesce(array_agg(e ->> 'id' ORDER BY n), '{}') FROM jsonb_array_elements(choices) WITH ORDINALITY q(e, n)
$$;

-- The default choices: for, against, abstain.
CREATE OR REPLACE FUNCTION api.default_choices() RETURNS jsonb
LANGUAGE sql IMMUTABLE AS $$
    SELECT '[{"id": "for", "label": {"nl": "Voor", "en": "For"}},
             {"id": "against", "label": {"nl": "Tegen", "en": "Against"}},
             {"id": "abstain", "label": {"nl": "Onthouding", "en": "Abstain"}}]'::jsonb
$$;

-- A time argument: V, or BAD when it is present and not a date and time
-- with its zone, checked as a record's datetime field is (records.sql:
-- api.is_timestamp): a time without its zone would be read in the
-- session's, which nobody chose.
CREATE OR REPLACE FUNCTION api.time_arg(a jsonb, name text, OUT v timestamptz, OUT bad boolean)
LANGUAGE plpgsql STABLE AS $$
DECLARE
    s text := CASE WHEN jsonb_typeof(a -> name) = 'string' THEN a ->> name END;
BEGIN
    bad := false;
    IF NOT a ? name OR a -> name = 'null'::jsonb THEN
        RETURN;
    END IF;
    IF s IS NULL OR s !~ '^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}(:[0-9]{2}(\.[0-9]{1,6})?)?(Z|[+-][0-9]{2}:[0-9]{2})$'
       OR NOT api.is_timestamp(s) THEN
        bad := true;
        RETURN;
    END IF;
    v := s::timestamptz;
END $$;

-- ---------------------------------------------------------------- JSON

-- Decision DID as a viewer of STANDING reads it (PEOPLE: one of the
-- people who may see named votes).
CREATE OR REPLACE FUNCTION api.decision_json(t bigint, viewer bigint, standing text, people boolean, did bigint)
RETURNS jsonb LANGUAGE plpgsql STABLE AS $$
DECLARE
    d decisions;
    shown boolean;
    counts jsonb;
    room jsonb;
    cast_n int;
    mine text;
    named jsonb;
    points jsonb;
    voter boolean;
    minority boolean;
BEGIN
    SELECT * INTO d FROM decisions y WHERE y.tenant_id = t AND y.id = did;
    shown := d.state = 'closed' OR NOT d.results_hidden;
    SELECT coalesce(jsonb_object_agg(v.choice, v.n), '{}'::jsonb), coalesce(sum(v.n), 0)::int INTO counts, cast_n
      FROM (SELECT y.choice, count(*) AS n FROM votes y WHERE y.tenant_id = t AND y.decision_id = did GROUP BY y.choice) v;
    SELECT coalesce(jsonb_object_agg(r.choice, r.count), '{}'::jsonb) INTO room
      FROM room_counts r WHERE r.tenant_id = t AND r.decision_id = did;
    IF viewer IS NOT NULL THEN
        SELECT y.choice INTO mine FROM votes y WHERE y.tenant_id = t AND y.decision_id = did AND y.account_id = viewer;
    END IF;
    IF shown AND people AND NOT d.secret THEN
        SELECT coalesce(jsonb_agg(jsonb_build_object('account', jsonb_build_object('id', y.account_id,
                                                     'name', p.display_name), 'choice', y.choice)
                                  ORDER BY y.cast_at, y.account_id), '[]'::jsonb) INTO named
          FROM votes y JOIN accounts p ON p.tenant_id = t AND p.id = y.account_id
         WHERE y.tenant_id = t AND y.decision_id = did;
    END IF;
    SELECT coalesce(jsonb_agg(jsonb_build_object(
               'id', m.id, 'body', m.body, 'for_room', m.for_room,
               'by', CASE WHEN m.account_id IS NULL OR d.secret OR NOT people THEN 'null'::jsonb
                          ELSE jsonb_build_object('id', m.account_id, 'name', p.display_name) END,
               'mine', viewer IS NOT NULL AND m.account_id IS NOT DISTINCT FROM viewer AND NOT m.for_room,
               'added', m.added, 'reason', m.reason, 'created_at', m.created_at, 'marked_at', m.marked_at)
               ORDER BY m.id), '[]'::jsonb) INTO points
      FROM minority_points m LEFT JOIN accounts p ON p.tenant_id = t AND p.id = m.account_id
     WHERE m.tenant_id = t AND m.decision_id = did;
    voter := api.decision_voter(t, viewer, d.table_id, d.group_id, d.voters);
    minority := mine IS NOT NULL AND mine <> 'abstain' AND mine IS DISTINCT FROM d.outcome;
    RETURN jsonb_build_object(
        'id', d.id, 'table_id', d.table_id, 'group_id', d.group_id, 'step_id', d.step_id,
        'title', d.title, 'proposal', d.proposal, 'proposal_html', d.proposal_html,
        'choices', d.choices, 'voters', d.voters, 'opens_at', d.opens_at, 'closes_at', d.closes_at,
        'results_hidden', d.results_hidden, 'secret', d.secret, 'state', d.state, 'path', d.path,
        'outcome', d.outcome, 'outcome_text', d.outcome_text, 'outcome_html', d.outcome_html,
        'final_text', d.final_text, 'final_html', d.final_html,
        'created_at', d.created_at, 'closed_at', d.closed_at, 'final_at', d.final_at,
        'votes_cast', cast_n,
        'counts', CASE WHEN shown THEN counts ELSE 'null'::jsonb END,
        'room_counts', CASE WHEN shown THEN room ELSE 'null'::jsonb END,
        'totals', CASE WHEN shown THEN (SELECT coalesce(jsonb_object_agg(c, coalesce((counts ->> c)::int, 0)
                                                          + coalesce((room ->> c)::int, 0)), '{}'::jsonb)
                                          FROM unnest(api.choice_ids(d.choices)) c) ELSE 'null'::jsonb END,
        'votes', coalesce(named, 'null'::jsonb),
        'my_vote', mine,
        'points', points,
        'can_vote', voter AND d.state = 'open' AND now() >= d.opens_at AND (d.closes_at IS NULL OR now() < d.closes_at),
        'can_manage', standing = 'facilitator',
        'can_add_point', d.state = 'closed' AND d.path = 'vote' AND d.final_text IS NULL
                         AND ((voter AND minority) OR standing = 'facilitator'));
END $$;

-- The answer of a change of decision DID: the decision as the viewer reads it.
CREATE OR REPLACE FUNCTION api.decision_answer(t bigint, viewer bigint, roles text, did bigint, status int DEFAULT 200)
RETURNS jsonb LANGUAGE plpgsql STABLE AS $$
DECLARE
    it record;
BEGIN
    SELECT * INTO it FROM api.find_decision(t, viewer, roles, did, NULL, NULL, NULL);
    RETURN api.ok(api.decision_json(t, viewer, it.standing, it.people, did), status);
END $$;

-- What decision.opened and decision.closed carry.
CREATE OR REPLACE FUNCTION api.decision_event(t bigint, did bigint, viewer bigint) RETURNS jsonb
LANGUAGE plpgsql STABLE AS $$
BEGIN
    RETURN (SELECT jsonb_build_object('id', d.id, 'table_id', d.table_id, 'group_id', d.group_id, 'step_id', d.step_id,
                                      'title', d.title, 'state', d.state, 'path', d.path, 'outcome', d.outcome,
                                      'closes_at', d.closes_at, 'by', viewer)
              FROM decisions d WHERE d.tenant_id = t AND d.id = did);
END $$;

-- ---------------------------------------------------------------- reads

-- GET /tables/{id}/decisions: the table's decisions the viewer reads,
-- newest first (a closed group's only to its members and facilitators).
CREATE OR REPLACE FUNCTION api.decisions_list(t bigint, viewer bigint, roles text, a jsonb) RETURNS jsonb
LANGUAGE plpgsql STABLE AS $$
DECLARE
    it record;
    lim int := api.page_limit(a);
    after bigint := api.cursor_id(a);
    ids bigint[];
    did bigint;
    f record;
    items jsonb := '[]'::jsonb;
BEGIN
    IF after = -1 THEN
        RETURN api.bad_cursor();
    END IF;
    SELECT * INTO it FROM api.find_table(t, viewer, roles, a, NULL);
    IF it.refused IS NOT NULL THEN
        RETURN it.refused;
    END IF;
    ids := ARRAY(SELECT y.id FROM decisions y WHERE y.tenant_id = t AND y.table_id = (it.x).id
                    AND (after IS NULL OR y.id < after) ORDER BY y.id DESC);
    FOREACH did IN ARRAY ids LOOP
        SELECT * INTO f FROM api.find_decision(t, viewer, roles, did, NULL, NULL, NULL);
        IF f.standing IS NOT NULL THEN
            items := items || jsonb_build_array(api.decision_json(t, viewer, f.standing, f.people, did));
            EXIT WHEN jsonb_array_length(items) > lim;
        END IF;
    END LOOP;
    RETURN api.ok(api.page(items, lim));
END $$;

-- GET /decisions/{id}
CREATE OR REPLACE FUNCTION api.decision_get(t bigint, viewer bigint, roles text, a jsonb) RETURNS jsonb
LANGUAGE plpgsql STABLE AS $$
DECLARE
    it record;
BEGIN
    SELECT * INTO it FROM api.find_decision(t, viewer, roles, api.id_arg(a, 'id'), NULL, NULL, NULL);
    IF it.refused IS NOT NULL THEN
        RETURN it.refused;
    END IF;
    RETURN api.ok(api.decision_json(t, viewer, it.standing, it.people, (it.d).id));
END $$;

-- ---------------------------------------------------------------- changes

-- The choices A gives ([{id, label: {nl, en}}], 2 to 10, ids unique), the
-- default ones without; F: the field's problem.
CREATE OR REPLACE FUNCTION api.choices_arg(a jsonb, OUT choices jsonb, OUT f jsonb)
LANGUAGE plpgsql IMMUTABLE AS $$
DECLARE
    c jsonb := a -> 'choices';
    e jsonb;
    seen text[] := '{}'::text[];
BEGIN
    f := '{}'::jsonb;
    IF c IS NULL OR c = 'null'::jsonb THEN
        choices := api.default_choices();
        RETURN;
    END IF;
    IF jsonb_typeof(c) <> 'array' OR jsonb_array_length(c) NOT BETWEEN 2 AND 10 THEN
        f := api.field('choices', 'invalid', 'A list of 2 to 10 choices.');
        RETURN;
    END IF;
    choices := '[]'::jsonb;
    FOR e IN SELECT x FROM jsonb_array_elements(c) x LOOP
        IF jsonb_typeof(e) <> 'object' OR jsonb_typeof(e -> 'id') IS DISTINCT FROM 'string'
           OR (e ->> 'id') !~ '^[a-z][a-z0-9_]{0,31}$' OR (e ->> 'id') = ANY (seen)
           OR jsonb_typeof(e -> 'label') IS DISTINCT FROM 'object'
           OR jsonb_typeof(e -> 'label' -> 'nl') IS DISTINCT FROM 'string'
           OR length(btrim(e -> 'label' ->> 'nl')) NOT BETWEEN 1 AND 100
           OR (e -> 'label' ? 'en' AND (jsonb_typeof(e -> 'label' -> 'en') IS DISTINCT FROM 'string'
                                        OR length(e -> 'label' ->> 'en') > 100)) THEN
            f := api.field('choices', 'invalid',
                           'Each choice is {id: a unique word, label: {nl, en}} with labels of at most 100 characters.');
            choices := NULL;
            RETURN;
        END IF;
        seen := seen || (e ->> 'id');
        choices := choices || jsonb_build_array(jsonb_build_object('id', e ->> 'id', 'label',
                       jsonb_build_object('nl', btrim(e -> 'label' ->> 'nl'),
                                          'en', coalesce(btrim(e -> 'label' ->> 'en'), btrim(e -> 'label' ->> 'nl')))));
    END LOOP;
END $$;

-- POST /tables/{id}/decisions {title, proposal, choices?, group_id?,
-- step?, voters?, opens_at?, closes_at?, results_hidden?, secret?}: the
-- table's facilitators open a decision (decision.opened).
CREATE OR REPLACE FUNCTION api.decision_create(t bigint, viewer bigint, roles text, a jsonb) RETURNS jsonb
LANGUAGE plpgsql AS $$
DECLARE
    it record;
    f jsonb := '{}'::jsonb;
    ch record;
    o record;
    c record;
    gid bigint;
    gtable bigint;
    voters text;
    at timestamptz := statement_timestamp();
    did bigint;
BEGIN
    SELECT * INTO it FROM api.find_table(t, viewer, roles, a, ARRAY['facilitator'],
                                         'Only the table''s facilitators open decisions.');
    IF it.refused IS NOT NULL THEN
        RETURN it.refused;
    END IF;
    f := api.check_type(f, a, 'title', 'string');
    f := api.check_text(f, 'title', api.text_arg(a, 'title'), 200, true);
    f := api.check_type(f, a, 'proposal', 'string');
    f := api.check_text(f, 'proposal', api.text_arg(a, 'proposal'), 20000, true);
    f := api.check_type(f, a, 'results_hidden', 'boolean');
    f := api.check_type(f, a, 'secret', 'boolean');
    f := api.check_type(f, a, 'voters', 'string');
    f := api.check_type(f, a, 'step', 'string');
    SELECT * INTO ch FROM api.choices_arg(a);
    f := f || ch.f;
    IF a ? 'group_id' AND a -> 'group_id' <> 'null'::jsonb THEN
        gid := api.id_arg(a, 'group_id');
        IF gid IS NOT NULL THEN
            SELECT y.table_id INTO gtable FROM groups y WHERE y.tenant_id = t AND y.id = gid;
        END IF;
        IF gtable IS DISTINCT FROM (it.x).id THEN
            f := f || api.field('group_id', 'invalid', 'Not a group of this table.');
        END IF;
    END IF;
    voters := coalesce(api.text_arg(a, 'voters'), CASE WHEN gid IS NOT NULL THEN 'group' ELSE 'people' END);
    f := api.check_choice(f, 'voters', voters, ARRAY['people', 'group']);
    IF voters = 'group' AND gid IS NULL AND NOT f ? 'voters' THEN
        f := f || api.field('voters', 'invalid', 'A group''s members vote only on a group''s decision.');
    END IF;
    IF api.text_arg(a, 'step') IS NOT NULL AND NOT EXISTS (
           SELECT 1 FROM table_steps s WHERE s.tenant_id = t AND s.table_id = (it.x).id AND s.step_id = a ->> 'step') THEN
        f := f || api.field('step', 'invalid', 'Not a step of this table''s workflow.');
    END IF;
    SELECT * INTO o FROM api.time_arg(a, 'opens_at');
    IF o.bad THEN
        f := f || api.field('opens_at', 'invalid', 'A time such as 2026-12-01T19:00:00+01:00.');
    END IF;
    SELECT * INTO c FROM api.time_arg(a, 'closes_at');
    IF c.bad THEN
        f := f || api.field('closes_at', 'invalid', 'A time such as 2026-12-01T19:00:00+01:00.');
    ELSIF c.v IS NOT NULL AND c.v <= greatest(coalesce(o.v, at), at) THEN
        f := f || api.field('closes_at', 'invalid', 'Must be later than the opening and than now.');
    END IF;
    IF f <> '{}'::jsonb THEN
        RETURN api.bad_fields(f);
    END IF;
    INSERT INTO decisions (tenant_id, table_id, group_id, step_id, title, proposal, proposal_html, choices, voters,
                           opens_at, closes_at, results_hidden, secret, created_by, created_at)
    VALUES (t, (it.x).id, gid, api.text_arg(a, 'step'), btrim(a ->> 'title'), a ->> 'proposal',
            coalesce(a ->> '_proposal_html', ''), ch.choices, voters, coalesce(o.v, now()), c.v,
            coalesce((a ->> 'results_hidden')::boolean,
                     (a -> '_definitions' -> 'decisions' ->> 'results_hidden')::boolean, false), coalesce((a ->> 'secret')::boolean, false), viewer, at)
    RETURNING id INTO did;
    -- Closed at its time by the scheduler (sql/code/jobs.sql).
    IF c.v IS NOT NULL THEN
        PERFORM platform.job_schedule(t, 'decision.close', did, c.v);
    END IF;
    PERFORM api.decision_activity(t, did, 'decision.opened', viewer);
    RETURN api.event(api.decision_answer(t, viewer, roles, did, 201), 'decision.opened',
                     api.decision_event(t, did, viewer));
END $$;

-- Why decision D (its STATE, OPENS, CLOSES) takes no votes now, or NULL.
CREATE OR REPLACE FUNCTION api.voting_closed(state text, opens timestamptz, closes timestamptz) RETURNS jsonb
LANGUAGE plpgsql STABLE AS $$
BEGIN
    IF state <> 'open' OR (closes IS NOT NULL AND now() >= closes) THEN
        RETURN api.error(409, 'closed', 'Voting on this decision has closed.');
    END IF;
    IF now() < opens THEN
        RETURN api.error(409, 'not_open', 'Voting on this decision has not opened yet.');
    END IF;
    RETURN NULL;
END $$;

-- PUT /decisions/{id}/vote {choice}: a voter casts or changes their vote
-- (vote.before_cast ran before, in the tenant's Lua). 409 once closed.
CREATE OR REPLACE FUNCTION api.vote_cast(t bigint, viewer bigint, roles text, a jsonb) RETURNS jsonb
LANGUAGE plpgsql AS $$
DECLARE
    it record;
    f jsonb := '{}'::jsonb;
    at timestamptz := statement_timestamp();
    why jsonb;
BEGIN
    -- FOR SHARE: votes go on side by side; a close waits for them, and
    -- one that waits for a close sees it closed.
    SELECT * INTO it FROM api.find_decision(t, viewer, roles, api.id_arg(a, 'id'), '{}'::text[], NULL, 'share');
    IF it.refused IS NOT NULL THEN
        RETURN it.refused;
    END IF;
    IF NOT api.decision_voter(t, viewer, (it.d).table_id, (it.d).group_id, (it.d).voters) THEN
        RETURN api.forbidden(CASE WHEN (it.d).voters = 'group' THEN 'Only the group''s members vote on this decision.'
                                  ELSE 'Only the table''s people vote on this decision.' END);
    END IF;
    f := api.check_type(f, a, 'choice', 'string');
    f := api.check_choice(f, 'choice', api.text_arg(a, 'choice'), api.choice_ids((it.d).choices));
    IF f <> '{}'::jsonb THEN
        RETURN api.bad_fields(f);
    END IF;
    why := api.voting_closed((it.d).state, (it.d).opens_at, (it.d).closes_at);
    IF why IS NOT NULL THEN
        RETURN why;
    END IF;
    INSERT INTO votes AS v (tenant_id, decision_id, account_id, choice, cast_at, changed_at)
    VALUES (t, (it.d).id, viewer, a ->> 'choice', at, at)
    ON CONFLICT (tenant_id, decision_id, account_id) DO UPDATE SET choice = excluded.choice, changed_at = excluded.changed_at;
    RETURN api.ok(api.decision_json(t, viewer, it.standing, it.people, (it.d).id));
END $$;

-- The decision A's id names, locked FOR UPDATE, for a change by its
-- table's facilitators.
CREATE OR REPLACE FUNCTION api.decision_for_facilitator(t bigint, viewer bigint, roles text, a jsonb, message text,
                                                        OUT d decisions, OUT refused jsonb)
LANGUAGE plpgsql AS $$
DECLARE
    it record;
BEGIN
    SELECT * INTO it FROM api.find_decision(t, viewer, roles, api.id_arg(a, 'id'), ARRAY['facilitator'], message, 'update');
    d := it.d;
    refused := it.refused;
END $$;

-- PUT /decisions/{id}/room {counts: {choice: n}}: the facilitator records
-- the room's counts (replacing those given; 0 clears one) while it is open.
CREATE OR REPLACE FUNCTION api.room_counts_set(t bigint, viewer bigint, roles text, a jsonb) RETURNS jsonb
LANGUAGE plpgsql AS $$
DECLARE
    it record;
    k text;
    v jsonb;
    ids text[];
    at timestamptz := statement_timestamp();
BEGIN
    SELECT * INTO it FROM api.decision_for_facilitator(t, viewer, roles, a,
                                                       'Only the table''s facilitators record the room''s counts.');
    IF it.refused IS NOT NULL THEN
        RETURN it.refused;
    END IF;
    ids := api.choice_ids((it.d).choices);
    IF jsonb_typeof(a -> 'counts') IS DISTINCT FROM 'object' OR a -> 'counts' = '{}'::jsonb THEN
        RETURN api.bad_fields(api.field('counts', 'required', 'An object of counts per choice.'));
    END IF;
    FOR k, v IN SELECT e.key, e.value FROM jsonb_each(a -> 'counts') e LOOP
        IF NOT k = ANY (ids) THEN
            RETURN api.bad_fields(api.field('counts', 'choice', 'One of: ' || array_to_string(ids, ', ') || '.'));
        END IF;
        IF jsonb_typeof(v) <> 'number' OR v::text !~ '^[0-9]{1,6}$' OR v::text::int > 100000 THEN
            RETURN api.bad_fields(api.field('counts', 'invalid', 'Each count is a whole number from 0 to 100000.'));
        END IF;
    END LOOP;
    IF (it.d).state <> 'open' THEN
        RETURN api.error(409, 'closed', 'This decision has closed.');
    END IF;
    FOR k, v IN SELECT e.key, e.value FROM jsonb_each(a -> 'counts') e LOOP
        INSERT INTO room_counts AS r (tenant_id, decision_id, choice, count, recorded_by, recorded_at)
        VALUES (t, (it.d).id, k, v::text::int, viewer, at)
        ON CONFLICT (tenant_id, decision_id, choice) DO UPDATE
           SET count = excluded.count, recorded_by = excluded.recorded_by, recorded_at = excluded.recorded_at;
    END LOOP;
    RETURN api.decision_answer(t, viewer, roles, (it.d).id);
END $$;

-- Closes the vote on decision D (locked FOR UPDATE by the caller, still
-- open) for BY (NULL: at its closes_at, by the scheduler): the outcome is
-- the choice with the most votes and room counts together (none on a tie
-- or without votes). The facilitator's close and the scheduler's
-- (sql/code/jobs.sql, decision.close) both come through here.
CREATE OR REPLACE FUNCTION api.decision_close_vote(t bigint, d decisions, by bigint) RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
    ids text[];
    totals jsonb;
    best text;
    top int;
    ties bigint;
    at timestamptz := statement_timestamp();
BEGIN
    ids := api.choice_ids(d.choices);
    SELECT coalesce(jsonb_object_agg(q.choice, q.n), '{}'::jsonb) INTO totals
      FROM (SELECT u.choice, sum(u.n)::int AS n
              FROM (SELECT y.choice, count(*)::int AS n FROM votes y WHERE y.tenant_id = t AND y.decision_id = d.id
                     GROUP BY y.choice
                    UNION ALL
                    SELECT r.choice, r.count FROM room_counts r WHERE r.tenant_id = t AND r.decision_id = d.id) u
             GROUP BY u.choice) q;
    SELECT max((e.value)::int) INTO top FROM jsonb_each_text(totals) e WHERE e.key = ANY (ids);
    IF coalesce(top, 0) > 0 THEN
        SELECT count(*), min(e.key) INTO ties, best FROM jsonb_each_text(totals) e
         WHERE e.key = ANY (ids) AND (e.value)::int = top;
        IF ties > 1 THEN
            best := NULL;
        END IF;
    END IF;
    UPDATE decisions y SET state = 'closed', outcome = best, closed_by = by, closed_at = at
     WHERE y.tenant_id = t AND y.id = d.id;
    -- Closed: its closing job has nothing left to do.
    PERFORM platform.job_cancel(t, 'decision.close', d.id);
    PERFORM api.decision_activity(t, d.id, 'decision.closed', by);
END $$;

-- POST /decisions/{id}/close: the facilitator closes the vote
-- (api.decision_close_vote). decision.closed.
CREATE OR REPLACE FUNCTION api.decision_close(t bigint, viewer bigint, roles text, a jsonb) RETURNS jsonb
LANGUAGE plpgsql AS $$
DECLARE
    it record;
BEGIN
    SELECT * INTO it FROM api.decision_for_facilitator(t, viewer, roles, a, 'Only the table''s facilitators close decisions.');
    IF it.refused IS NOT NULL THEN
        RETURN it.refused;
    END IF;
    IF (it.d).state <> 'open' THEN
        RETURN api.error(409, 'closed', 'This decision has closed already.');
    END IF;
    PERFORM api.decision_close_vote(t, it.d, viewer);
    RETURN api.event(api.decision_answer(t, viewer, roles, (it.d).id), 'decision.closed',
                     api.decision_event(t, (it.d).id, viewer));
END $$;

-- PATCH /decisions/{id} {closes_at}: the facilitator moves (or, with
-- null, removes) the closing time of an open decision; its closing job
-- moves with it (sql/code/jobs.sql).
CREATE OR REPLACE FUNCTION api.decision_update(t bigint, viewer bigint, roles text, a jsonb) RETURNS jsonb
LANGUAGE plpgsql AS $$
DECLARE
    it record;
    c record;
    at timestamptz := statement_timestamp();
BEGIN
    SELECT * INTO it FROM api.decision_for_facilitator(t, viewer, roles, a, 'Only the table''s facilitators change decisions.');
    IF it.refused IS NOT NULL THEN
        RETURN it.refused;
    END IF;
    IF NOT a ? 'closes_at' THEN
        RETURN api.bad_fields(api.field('closes_at', 'required', 'The new closing time, or null for none.'));
    END IF;
    SELECT * INTO c FROM api.time_arg(a, 'closes_at');
    IF c.bad THEN
        RETURN api.bad_fields(api.field('closes_at', 'invalid', 'A time such as 2026-12-01T19:00:00+01:00.'));
    END IF;
    IF c.v IS NOT NULL AND c.v <= greatest((it.d).opens_at, at) THEN
        RETURN api.bad_fields(api.field('closes_at', 'invalid', 'Must be later than the opening and than now.'));
    END IF;
    IF (it.d).state <> 'open' OR ((it.d).closes_at IS NOT NULL AND (it.d).closes_at <= at) THEN
        RETURN api.error(409, 'closed', 'This decision has closed already.');
    END IF;
    UPDATE decisions y SET closes_at = c.v WHERE y.tenant_id = t AND y.id = (it.d).id;
    IF c.v IS NULL THEN
        PERFORM platform.job_cancel(t, 'decision.close', (it.d).id);
    ELSE
        PERFORM platform.job_schedule(t, 'decision.close', (it.d).id, c.v);
    END IF;
    RETURN api.decision_answer(t, viewer, roles, (it.d).id);
END $$;

-- POST /decisions/{id}/collective {outcome}: the facilitator closes with
-- a shared outcome and no vote. decision.closed.
CREATE OR REPLACE FUNCTION api.decision_collective(t bigint, viewer bigint, roles text, a jsonb) RETURNS jsonb
LANGUAGE plpgsql AS $$
DECLARE
    it record;
    f jsonb := '{}'::jsonb;
    at timestamptz := statement_timestamp();
BEGIN
    SELECT * INTO it FROM api.decision_for_facilitator(t, viewer, roles, a, 'Only the table''s facilitators close decisions.');
    IF it.refused IS NOT NULL THEN
        RETURN it.refused;
    END IF;
    f := api.check_type(f, a, 'outcome', 'string');
    f := api.check_text(f, 'outcome', api.text_arg(a, 'outcome'), 20000, true);
    IF f <> '{}'::jsonb THEN
        RETURN api.bad_fields(f);
    END IF;
    IF (it.d).state <> 'open' THEN
        RETURN api.error(409, 'closed', 'This decision has closed already.');
    END IF;
    UPDATE decisions y SET state = 'closed', path = 'collective', outcome = NULL, outcome_text = a ->> 'outcome',
                           outcome_html = coalesce(a ->> '_outcome_html', ''), closed_by = viewer, closed_at = at
     WHERE y.tenant_id = t AND y.id = (it.d).id;
    PERFORM platform.job_cancel(t, 'decision.close', (it.d).id);
    PERFORM api.decision_activity(t, (it.d).id, 'decision.closed', viewer);
    RETURN api.event(api.decision_answer(t, viewer, roles, (it.d).id), 'decision.closed',
                     api.decision_event(t, (it.d).id, viewer));
END $$;

-- POST /decisions/{id}/points {body, for_room?}: in the minority round
-- (closed by vote, no final text yet) someone who voted other than the
-- outcome (abstaining aside) says what it would take for them to go
-- along; a facilitator adds the room's with for_room.
CREATE OR REPLACE FUNCTION api.point_create(t bigint, viewer bigint, roles text, a jsonb) RETURNS jsonb
LANGUAGE plpgsql AS $$
DECLARE
    it record;
    f jsonb := '{}'::jsonb;
    room boolean;
    mine text;
    at timestamptz := statement_timestamp();
BEGIN
    SELECT * INTO it FROM api.find_decision(t, viewer, roles, api.id_arg(a, 'id'), '{}'::text[], NULL, 'share');
    IF it.refused IS NOT NULL THEN
        RETURN it.refused;
    END IF;
    f := api.check_type(f, a, 'body', 'string');
    f := api.check_text(f, 'body', api.text_arg(a, 'body'), 5000, true);
    f := api.check_type(f, a, 'for_room', 'boolean');
    IF f <> '{}'::jsonb THEN
        RETURN api.bad_fields(f);
    END IF;
    room := coalesce((a ->> 'for_room')::boolean, false);
    IF room AND it.standing <> 'facilitator' THEN
        RETURN api.forbidden('Only the table''s facilitators speak for the room.');
    END IF;
    IF NOT room THEN
        SELECT y.choice INTO mine FROM votes y WHERE y.tenant_id = t AND y.decision_id = (it.d).id AND y.account_id = viewer;
        IF mine IS NULL OR mine = 'abstain' OR mine IS NOT DISTINCT FROM (it.d).outcome THEN
            RETURN api.forbidden('Only those who voted against the outcome add what they need.');
        END IF;
    END IF;
    IF (it.d).state <> 'closed' OR (it.d).path <> 'vote' OR (it.d).final_text IS NOT NULL THEN
        RETURN api.error(409, 'not_minority_round', 'Points are added after the vote closed and before the final text.');
    END IF;
    INSERT INTO minority_points (tenant_id, decision_id, account_id, for_room, body, created_at)
    VALUES (t, (it.d).id, viewer, room, btrim(a ->> 'body'), at);
    RETURN api.decision_answer(t, viewer, roles, (it.d).id, 201);
END $$;

-- POST /decisions/{id}/points/{point_id} {added, reason}: the facilitator
-- marks a point added to the decision or not (then with a reason).
CREATE OR REPLACE FUNCTION api.point_mark(t bigint, viewer bigint, roles text, a jsonb) RETURNS jsonb
LANGUAGE plpgsql AS $$
DECLARE
    it record;
    f jsonb := '{}'::jsonb;
    pid bigint;
    at timestamptz := statement_timestamp();
BEGIN
    SELECT * INTO it FROM api.decision_for_facilitator(t, viewer, roles, a, 'Only the table''s facilitators mark points.');
    IF it.refused IS NOT NULL THEN
        RETURN it.refused;
    END IF;
    SELECT m.id INTO pid FROM minority_points m
     WHERE m.tenant_id = t AND m.decision_id = (it.d).id AND m.id = api.id_arg(a, 'point_id');
    IF pid IS NULL THEN
        RETURN api.not_found();
    END IF;
    IF jsonb_typeof(a -> 'added') IS DISTINCT FROM 'boolean' THEN
        f := api.field('added', 'required', 'true or false.');
    END IF;
    f := api.check_type(f, a, 'reason', 'string');
    f := api.check_text(f, 'reason', api.text_arg(a, 'reason'), 2000, (a -> 'added') = 'false'::jsonb);
    IF f <> '{}'::jsonb THEN
        RETURN api.bad_fields(f);
    END IF;
    IF (it.d).final_text IS NOT NULL THEN
        RETURN api.error(409, 'final', 'The final text is written; the points stay as they were marked.');
    END IF;
    UPDATE minority_points m SET added = (a ->> 'added')::boolean, reason = nullif(btrim(coalesce(a ->> 'reason', '')), ''),
                                 marked_by = viewer, marked_at = at
     WHERE m.tenant_id = t AND m.id = pid;
    RETURN api.decision_answer(t, viewer, roles, (it.d).id);
END $$;

-- PUT /decisions/{id}/final {final_text}: the facilitator writes (or
-- rewrites) the final decision text once it has closed.
CREATE OR REPLACE FUNCTION api.decision_final(t bigint, viewer bigint, roles text, a jsonb) RETURNS jsonb
LANGUAGE plpgsql AS $$
DECLARE
    it record;
    f jsonb := '{}'::jsonb;
    at timestamptz := statement_timestamp();
BEGIN
    SELECT * INTO it FROM api.decision_for_facilitator(t, viewer, roles, a,
                                                       'Only the table''s facilitators write the final text.');
    IF it.refused IS NOT NULL THEN
        RETURN it.refused;
    END IF;
    f := api.check_type(f, a, 'final_text', 'string');
    f := api.check_text(f, 'final_text', api.text_arg(a, 'final_text'), 20000, true);
    IF f <> '{}'::jsonb THEN
        RETURN api.bad_fields(f);
    END IF;
    IF (it.d).state <> 'closed' THEN
        RETURN api.error(409, 'open', 'The final text follows the closing.');
    END IF;
    UPDATE decisions y SET final_text = a ->> 'final_text', final_html = coalesce(a ->> '_final_text_html', ''),
                           final_by = viewer, final_at = at
     WHERE y.tenant_id = t AND y.id = (it.d).id;
    RETURN api.decision_answer(t, viewer, roles, (it.d).id);
END $$;
