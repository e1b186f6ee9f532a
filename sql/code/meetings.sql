-- Meetings of a table (sql/024_meetings.sql): a facilitator plans one
-- (for the table, or one of its groups), its people register and cancel,
-- a full meeting keeps a waiting list whose first is promoted, and mailed,
-- when a place frees up or the capacity grows; a facilitator registers
-- people without an account by name, removes registrations, records who
-- came afterwards, and cancels the meeting. Every meeting has an
-- iCalendar file, and every table a feed of them.
--
-- Who reads what (on top of visibility.sql's standings): a meeting is read
-- by whoever reads its table, and a group's meeting by whoever reads the
-- group's content; a closed table or group is 404 for the others. The
-- names of the registered are shown to the table's facilitators and its
-- client only; everyone else who reads the meeting sees the counts and
-- their own registration.
--
-- Who registers: for a table's meeting, whoever may take part in the
-- table (its people; on a public table every signed-in resident, as
-- joining it is open to them); for a group's meeting, the group's members.
--
-- Registrations, cancellations, capacity changes and cancelling the
-- meeting lock the meeting's row FOR UPDATE: one at a time per meeting, so
-- that the count of places taken is never read by two at once, and the
-- waiting list keeps its order (the order in which they got the lock).

-- ---------------------------------------------------------------- finding

-- Meeting MID as the viewer finds it: its row (NULL when they may not
-- read it), their STANDING at its table (NULL: 404), whether they see
-- the registered's NAMES (facilitators, the client), whether they may
-- TAKE PART (register), and REFUSED for an operation needing one of NEED
-- (api.refusal). LOCK: 'update' or NULL.
CREATE OR REPLACE FUNCTION api.find_meeting(t bigint, viewer bigint, roles text, mid bigint, need text[],
                                            message text, lock text,
                                            OUT m meetings, OUT standing text, OUT names boolean,
                                            OUT take_part boolean, OUT refused jsonb)
LANGUAGE plpgsql AS $$
DECLARE
    tvisibility text;
    gvisibility text;
    gs text;
BEGIN
    IF lock = 'update' THEN
        SELECT * INTO m FROM meetings y WHERE y.tenant_id = t AND y.id = mid FOR UPDATE;
    ELSE
        SELECT * INTO m FROM meetings y WHERE y.tenant_id = t AND y.id = mid;
    END IF;
    names := false;
    take_part := false;
    IF m.id IS NOT NULL THEN
        SELECT y.visibility INTO tvisibility FROM tables y WHERE y.tenant_id = t AND y.id = m.table_id;
        standing := api.table_standing(t, viewer, roles, m.table_id, tvisibility);
        names := standing IN ('facilitator', 'client');
        take_part := viewer IS NOT NULL AND standing IS NOT NULL;
        IF standing IS NOT NULL AND m.group_id IS NOT NULL THEN
            SELECT y.visibility INTO gvisibility FROM groups y WHERE y.tenant_id = t AND y.id = m.group_id;
            gs := api.group_standing(t, viewer, standing, m.group_id, gvisibility);
            IF gs NOT IN ('manage', 'member', 'read') THEN
                standing := NULL;
            END IF;
            take_part := viewer IS NOT NULL AND EXISTS (
                SELECT 1 FROM group_members g WHERE g.tenant_id = t AND g.group_id = m.group_id AND g.account_id = viewer);
        END IF;
    END IF;
    IF standing IS NULL THEN
        m := NULL;
        names := false;
        take_part := false;
    END IF;
    refused := api.refusal(standing, viewer, need, message);
END $$;

-- Why meeting M takes no registration changes now, or NULL: cancelled,
-- begun already, or (for residents themselves, OPEN_NEEDED) closed for
-- registration.
CREATE OR REPLACE FUNCTION api.meeting_closed(m meetings, open_needed boolean) RETURNS jsonb
LANGUAGE plpgsql STABLE AS $$
BEGIN
    IF m.state = 'cancelled' THEN
        RETURN api.error(409, 'cancelled', 'This meeting has been cancelled.');
    END IF;
    IF now() >= m.starts_at THEN
        RETURN api.error(409, 'past', 'This meeting has begun or is over.');
    END IF;
    IF open_needed AND NOT m.registration_open THEN
        RETURN api.error(409, 'registration_closed', 'Registration for this meeting is closed.');
    END IF;
    RETURN NULL;
END $$;

-- ---------------------------------------------------------------- JSON

-- The registration REG's place: its state and, waiting, its place in line
-- (1 for the first).
CREATE OR REPLACE FUNCTION api.registration_json(t bigint, r meeting_registrations, names boolean) RETURNS jsonb
LANGUAGE plpgsql STABLE AS $$
DECLARE
    who text;
BEGIN
    IF r.id IS NULL THEN
        RETURN 'null'::jsonb;
    END IF;
    IF r.account_id IS NOT NULL THEN
        SELECT p.display_name INTO who FROM accounts p WHERE p.tenant_id = t AND p.id = r.account_id;
    END IF;
    RETURN jsonb_build_object(
        'id', r.id, 'state', r.state,
        'position', CASE WHEN r.state = 'waiting' THEN
                        (SELECT count(*) FROM meeting_registrations w
                          WHERE w.tenant_id = t AND w.meeting_id = r.meeting_id AND w.state = 'waiting'
                            AND w.position <= r.position) END,
        'created_at', r.created_at, 'promoted_at', r.promoted_at)
        || CASE WHEN names THEN jsonb_build_object(
               'account', CASE WHEN r.account_id IS NULL THEN 'null'::jsonb
                               ELSE jsonb_build_object('id', r.account_id, 'name', who) END,
               'name', coalesce(r.name, who), 'attended', r.attended)
           ELSE '{}'::jsonb END;
END $$;

-- Meeting MID as a viewer of STANDING reads it.
CREATE OR REPLACE FUNCTION api.meeting_json(t bigint, viewer bigint, standing text, take_part boolean, mid bigint)
RETURNS jsonb LANGUAGE plpgsql STABLE AS $$
DECLARE
    m meetings;
    n_registered bigint;
    n_waiting bigint;
    n_attended bigint;
    mine meeting_registrations;
BEGIN
    SELECT * INTO m FROM meetings y WHERE y.tenant_id = t AND y.id = mid;
    SELECT count(*) FILTER (WHERE r.state = 'registered'), count(*) FILTER (WHERE r.state = 'waiting'),
           count(*) FILTER (WHERE r.attended)
      INTO n_registered, n_waiting, n_attended
      FROM meeting_registrations r WHERE r.tenant_id = t AND r.meeting_id = mid;
    IF viewer IS NOT NULL THEN
        SELECT * INTO mine FROM meeting_registrations r
         WHERE r.tenant_id = t AND r.meeting_id = mid AND r.account_id = viewer;
    END IF;
    RETURN jsonb_build_object(
        'id', m.id, 'table_id', m.table_id, 'group_id', m.group_id, 'step_id', m.step_id,
        'title', m.title, 'description', m.description, 'description_html', m.description_html,
        'starts_at', m.starts_at, 'ends_at', m.ends_at, 'timezone', 'Europe/Amsterdam',
        'starts_local', to_char(m.starts_at AT TIME ZONE 'Europe/Amsterdam', 'YYYY-MM-DD"T"HH24:MI'),
        'ends_local', to_char(m.ends_at AT TIME ZONE 'Europe/Amsterdam', 'YYYY-MM-DD"T"HH24:MI'),
        'place', m.place, 'online_url', m.online_url, 'capacity', m.capacity,
        'registration_open', m.registration_open, 'support', to_jsonb(m.support), 'support_note', m.support_note,
        'state', m.state, 'cancel_reason', m.cancel_reason, 'cancelled_at', m.cancelled_at,
        'created_at', m.created_at, 'updated_at', m.updated_at,
        'registered', n_registered, 'waiting', n_waiting,
        'places_left', CASE WHEN m.capacity IS NULL THEN NULL ELSE greatest(m.capacity - n_registered, 0) END,
        'attendance', CASE WHEN m.attendance_at IS NULL THEN 'null'::jsonb
                           ELSE jsonb_build_object('attended', n_attended, 'walk_ins', coalesce(m.walk_ins, 0),
                                                   'recorded_at', m.attendance_at) END,
        'my_registration', CASE WHEN mine.state IN ('registered', 'waiting') THEN api.registration_json(t, mine, false)
                                ELSE 'null'::jsonb END,
        'can_register', take_part AND m.state = 'planned' AND m.registration_open AND now() < m.starts_at
                        AND mine.state IS DISTINCT FROM 'registered' AND mine.state IS DISTINCT FROM 'waiting',
        'can_manage', standing = 'facilitator');
END $$;

-- The answer of a change of meeting MID: the meeting as the viewer reads it.
CREATE OR REPLACE FUNCTION api.meeting_answer(t bigint, viewer bigint, roles text, mid bigint, status int DEFAULT 200)
RETURNS jsonb LANGUAGE plpgsql AS $$
DECLARE
    it record;
BEGIN
    SELECT * INTO it FROM api.find_meeting(t, viewer, roles, mid, NULL, NULL, NULL);
    RETURN api.ok(api.meeting_json(t, viewer, it.standing, it.take_part, mid), status);
END $$;

-- What meeting.created, meeting.changed and meeting.cancelled carry.
CREATE OR REPLACE FUNCTION api.meeting_event(t bigint, mid bigint, viewer bigint) RETURNS jsonb
LANGUAGE plpgsql STABLE AS $$
BEGIN
    RETURN (SELECT jsonb_build_object('id', m.id, 'table_id', m.table_id, 'group_id', m.group_id, 'step_id', m.step_id,
                                      'title', m.title, 'starts_at', m.starts_at, 'ends_at', m.ends_at,
                                      'capacity', m.capacity, 'state', m.state, 'by', viewer)
              FROM meetings m WHERE m.tenant_id = t AND m.id = mid);
END $$;

-- ---------------------------------------------------------------- reads

-- GET /tables/{id}/meetings: the table's meetings the viewer reads, by
-- their start (a closed group's only to its members and facilitators).
CREATE OR REPLACE FUNCTION api.meetings_list(t bigint, viewer bigint, roles text, a jsonb) RETURNS jsonb
LANGUAGE plpgsql STABLE AS $$
DECLARE
    it record;
    mid bigint;
    f record;
    items jsonb := '[]'::jsonb;
BEGIN
    SELECT * INTO it FROM api.find_table(t, viewer, roles, a, NULL);
    IF it.refused IS NOT NULL THEN
        RETURN it.refused;
    END IF;
    -- The ids first, then one at a time: on Citus a cursor on the shards
    -- stays open no longer than its query.
    FOREACH mid IN ARRAY ARRAY(SELECT y.id FROM meetings y WHERE y.tenant_id = t AND y.table_id = (it.x).id
                                ORDER BY y.starts_at, y.id LIMIT 500) LOOP
        SELECT * INTO f FROM api.find_meeting(t, viewer, roles, mid, NULL, NULL, NULL);
        IF f.standing IS NOT NULL THEN
            items := items || jsonb_build_array(api.meeting_json(t, viewer, f.standing, f.take_part, mid));
        END IF;
    END LOOP;
    RETURN api.ok(jsonb_build_object('items', items));
END $$;

-- GET /meetings/{id}
CREATE OR REPLACE FUNCTION api.meeting_get(t bigint, viewer bigint, roles text, a jsonb) RETURNS jsonb
LANGUAGE plpgsql STABLE AS $$
DECLARE
    it record;
BEGIN
    SELECT * INTO it FROM api.find_meeting(t, viewer, roles, api.id_arg(a, 'id'), NULL, NULL, NULL);
    IF it.refused IS NOT NULL THEN
        RETURN it.refused;
    END IF;
    RETURN api.ok(api.meeting_json(t, viewer, it.standing, it.take_part, (it.m).id));
END $$;

-- The registrations of meeting MID as a viewer reads them: the counts and
-- their own; with NAMES every live one (registered first, then the
-- waiting in line, then the cancelled).
CREATE OR REPLACE FUNCTION api.registrations_json(t bigint, viewer bigint, names boolean, mid bigint) RETURNS jsonb
LANGUAGE plpgsql STABLE AS $$
DECLARE
    m meetings;
    mine meeting_registrations;
    reg meeting_registrations;
    rid bigint;
    items jsonb;
    n_registered bigint;
    n_waiting bigint;
    mine_json jsonb;
BEGIN
    SELECT * INTO m FROM meetings y WHERE y.tenant_id = t AND y.id = mid;
    IF viewer IS NOT NULL THEN
        SELECT * INTO mine FROM meeting_registrations r
         WHERE r.tenant_id = t AND r.meeting_id = mid AND r.account_id = viewer;
    END IF;
    IF names THEN
        -- One row at a time: on Citus a query on the shards cannot call
        -- what queries them again (registration_json does).
        items := '[]'::jsonb;
        FOREACH rid IN ARRAY ARRAY(SELECT y.id FROM meeting_registrations y WHERE y.tenant_id = t AND y.meeting_id = mid
                                    ORDER BY CASE y.state WHEN 'registered' THEN 0 WHEN 'waiting' THEN 1 ELSE 2 END,
                                             y.position, y.id) LOOP
            SELECT * INTO reg FROM meeting_registrations y WHERE y.tenant_id = t AND y.id = rid;
            items := items || jsonb_build_array(api.registration_json(t, reg, true));
        END LOOP;
    END IF;
    -- The counts apart from the call of registration_json: on Citus one
    -- statement with both would run on the shard, calling it there.
    SELECT count(*) FILTER (WHERE y.state = 'registered'), count(*) FILTER (WHERE y.state = 'waiting')
      INTO n_registered, n_waiting
      FROM meeting_registrations y WHERE y.tenant_id = t AND y.meeting_id = mid;
    mine_json := CASE WHEN mine.id IS NULL THEN 'null'::jsonb ELSE api.registration_json(t, mine, false) END;
    RETURN jsonb_build_object(
        'meeting_id', mid, 'capacity', m.capacity, 'registered', n_registered, 'waiting', n_waiting,
        'walk_ins', m.walk_ins, 'mine', mine_json, 'items', coalesce(items, 'null'::jsonb));
END $$;

-- GET /meetings/{id}/registrations
CREATE OR REPLACE FUNCTION api.registrations_list(t bigint, viewer bigint, roles text, a jsonb) RETURNS jsonb
LANGUAGE plpgsql STABLE AS $$
DECLARE
    it record;
BEGIN
    SELECT * INTO it FROM api.find_meeting(t, viewer, roles, api.id_arg(a, 'id'), NULL, NULL, NULL);
    IF it.refused IS NOT NULL THEN
        RETURN it.refused;
    END IF;
    RETURN api.ok(api.registrations_json(t, viewer, it.names, (it.m).id));
END $$;

-- ---------------------------------------------------------------- checking

-- The problems of A's meeting fields (FOR_CREATE: title, starts_at and
-- ends_at required) against the meeting as it is (M, NULL when new), and
-- the values as they will be.
CREATE OR REPLACE FUNCTION api.meeting_fields(t bigint, x bigint, a jsonb, m meetings,
                                              OUT f jsonb, OUT starts timestamptz, OUT ends timestamptz,
                                              OUT support text[], OUT gid bigint)
LANGUAGE plpgsql STABLE AS $$
DECLARE
    creating boolean := m.id IS NULL;
    s record;
    e record;
    gtable bigint;
    url text;
    v jsonb;
BEGIN
    f := '{}'::jsonb;
    f := api.check_type(f, a, 'title', 'string');
    IF creating OR a ? 'title' THEN
        f := api.check_text(f, 'title', api.text_arg(a, 'title'), 200, true);
    END IF;
    f := api.check_type(f, a, 'description', 'string');
    f := api.check_text(f, 'description', api.text_arg(a, 'description'), 20000, false);
    f := api.check_type(f, a, 'place', 'string');
    f := api.check_text(f, 'place', nullif(btrim(api.text_arg(a, 'place')), ''), 500, false);
    f := api.check_type(f, a, 'online_url', 'string');
    url := nullif(btrim(api.text_arg(a, 'online_url')), '');
    IF url IS NOT NULL AND NOT f ? 'online_url'
       AND (url !~ '^https?://[^[:space:][:cntrl:]/?#]+[^[:space:][:cntrl:]]*$' OR length(url) > 2000) THEN
        f := f || api.field('online_url', 'invalid', 'An http:// or https:// address.');
    END IF;
    f := api.check_type(f, a, 'registration_open', 'boolean');
    f := api.check_type(f, a, 'support_note', 'string');
    f := api.check_text(f, 'support_note', api.text_arg(a, 'support_note'), 1000, false);
    f := api.check_type(f, a, 'step', 'string');
    IF a ? 'capacity' AND a -> 'capacity' <> 'null'::jsonb
       AND (jsonb_typeof(a -> 'capacity') <> 'number' OR (a ->> 'capacity') !~ '^[0-9]{1,6}$'
            OR (a ->> 'capacity')::int > 100000) THEN
        f := f || api.field('capacity', 'invalid', 'A whole number from 1 to 100000, or 0 (or null) for no limit.');
    END IF;
    support := CASE WHEN creating THEN '{}'::text[] ELSE m.support END;
    IF a ? 'support' THEN
        v := a -> 'support';
        -- An empty object is the empty list as a plugin's empty Lua table
        -- travels (plugin.api): the site's form clears the support so.
        IF v = '{}'::jsonb THEN
            v := '[]'::jsonb;
        END IF;
        IF jsonb_typeof(v) <> 'array' OR EXISTS (
               SELECT 1 FROM jsonb_array_elements(v) q(e)
                WHERE jsonb_typeof(q.e) <> 'string'
                   OR NOT (q.e #>> '{}') = ANY (ARRAY['actor', 'playback_theatre', 'interpreter', 'other'])) THEN
            f := f || api.field('support', 'invalid',
                                'A list of: actor, playback_theatre, interpreter, other.');
        ELSE
            support := ARRAY(SELECT DISTINCT q.e #>> '{}' FROM jsonb_array_elements(v) q(e) ORDER BY 1);
        END IF;
    END IF;
    IF 'other' = ANY (support) AND NOT f ? 'support_note' AND NOT f ? 'support'
       AND coalesce(btrim(CASE WHEN a ? 'support_note' THEN api.text_arg(a, 'support_note') ELSE m.support_note END), '') = '' THEN
        f := f || api.field('support_note', 'required', 'Say which other expertise is arranged.');
    END IF;
    gid := m.group_id;
    IF creating AND a ? 'group_id' AND a -> 'group_id' <> 'null'::jsonb THEN
        gid := api.id_arg(a, 'group_id');
        IF gid IS NOT NULL THEN
            SELECT y.table_id INTO gtable FROM groups y WHERE y.tenant_id = t AND y.id = gid;
        END IF;
        IF gtable IS DISTINCT FROM x THEN
            f := f || api.field('group_id', 'invalid', 'Not a group of this table.');
        END IF;
    END IF;
    IF api.text_arg(a, 'step') IS NOT NULL AND NOT EXISTS (
           SELECT 1 FROM table_steps y WHERE y.tenant_id = t AND y.table_id = x AND y.step_id = a ->> 'step') THEN
        f := f || api.field('step', 'invalid', 'Not a step of this table''s workflow.');
    END IF;
    SELECT * INTO s FROM api.time_arg(a, 'starts_at');
    SELECT * INTO e FROM api.time_arg(a, 'ends_at');
    IF s.bad OR (creating AND s.v IS NULL) OR (a ? 'starts_at' AND s.v IS NULL) THEN
        f := f || api.field('starts_at', 'invalid', 'A time such as 2026-12-01T19:00:00+01:00.');
    END IF;
    IF e.bad OR (creating AND e.v IS NULL) OR (a ? 'ends_at' AND e.v IS NULL) THEN
        f := f || api.field('ends_at', 'invalid', 'A time such as 2026-12-01T21:00:00+01:00.');
    END IF;
    starts := coalesce(s.v, m.starts_at);
    ends := coalesce(e.v, m.ends_at);
    IF NOT f ? 'starts_at' AND s.v IS NOT NULL AND s.v <= now() THEN
        f := f || api.field('starts_at', 'invalid', 'Must be later than now.');
    END IF;
    IF NOT f ? 'starts_at' AND NOT f ? 'ends_at' AND ends <= starts THEN
        f := f || api.field('ends_at', 'invalid', 'Must be later than the start.');
    END IF;
    IF NOT f ? 'ends_at' AND ends > starts + interval '14 days' THEN
        f := f || api.field('ends_at', 'invalid', 'A meeting lasts at most 14 days.');
    END IF;
END $$;

-- ---------------------------------------------------------------- the line

-- Promotes the first waiting of meeting MID (locked FOR UPDATE by the
-- caller) while there are places, and mails each promoted one who has an
-- address, in their language, in this transaction. Answers how many.
CREATE OR REPLACE FUNCTION api.meeting_promote(t bigint, mid bigint) RETURNS int
LANGUAGE plpgsql AS $$
DECLARE
    m meetings;
    r meeting_registrations;
    taken bigint;
    n int := 0;
    addr text;
    who text;
    at timestamptz := statement_timestamp();
    en boolean;
    subject text;
    body text;
    where_ text;
BEGIN
    SELECT * INTO m FROM meetings y WHERE y.tenant_id = t AND y.id = mid;
    IF m.state <> 'planned' OR now() >= m.starts_at THEN
        RETURN 0;
    END IF;
    LOOP
        SELECT count(*) INTO taken FROM meeting_registrations y
         WHERE y.tenant_id = t AND y.meeting_id = mid AND y.state = 'registered';
        EXIT WHEN m.capacity IS NOT NULL AND taken >= m.capacity;
        SELECT * INTO r FROM meeting_registrations y
         WHERE y.tenant_id = t AND y.meeting_id = mid AND y.state = 'waiting'
         ORDER BY y.position, y.id LIMIT 1 FOR UPDATE;
        EXIT WHEN r.id IS NULL;
        UPDATE meeting_registrations y SET state = 'registered', position = NULL, promoted_at = at, changed_at = at
         WHERE y.tenant_id = t AND y.id = r.id;
        n := n + 1;
        addr := NULL;
        IF r.account_id IS NOT NULL THEN
            SELECT p.email, p.display_name INTO addr, who FROM accounts p
             WHERE p.tenant_id = t AND p.id = r.account_id AND p.deleted_at IS NULL;
        END IF;
        IF addr IS NOT NULL THEN
            en := r.lang = 'en';
            where_ := coalesce(m.place, m.online_url, '');
            IF en THEN
                subject := 'A place for you: ' || m.title;
                body := format(E'Dear %s,\n\nA place has become free at "%s" and it is yours now: you are registered.\n\n'
                                'When: %s (Amsterdam time)\nWhere: %s\n\n'
                                'If you can no longer come, cancel your registration so that the next one gets the place.\n',
                               who, m.title,
                               to_char(m.starts_at AT TIME ZONE 'Europe/Amsterdam', 'YYYY-MM-DD "at" HH24:MI'), where_);
            ELSE
                subject := 'Er is een plek voor u: ' || m.title;
                body := format(E'Beste %s,\n\nEr is een plek vrijgekomen bij "%s" en die is nu voor u: u bent aangemeld.\n\n'
                                'Wanneer: %s\nWaar: %s\n\n'
                                'Kunt u toch niet komen? Meld u dan af, zodat de volgende de plek krijgt.\n',
                               who, m.title,
                               to_char(m.starts_at AT TIME ZONE 'Europe/Amsterdam', 'DD-MM-YYYY "om" HH24:MI'), where_);
            END IF;
            PERFORM platform.enqueue_mail(t, addr, NULL, left(regexp_replace(subject, '[[:cntrl:]]', ' ', 'g'), 500),
                                          body, NULL);
        END IF;
    END LOOP;
    RETURN n;
END $$;

-- Takes a place at meeting M (locked FOR UPDATE) for ACCOUNT or NAME:
-- registered while there are places and nobody waits, waiting otherwise.
-- An account's earlier, cancelled registration comes back to life (at the
-- end of the line). Answers the registration.
CREATE OR REPLACE FUNCTION api.meeting_take_place(t bigint, m meetings, account bigint, who text, lang text, by_account bigint)
RETURNS meeting_registrations LANGUAGE plpgsql AS $$
DECLARE
    taken bigint;
    waiting bigint;
    last_pos bigint;
    st text;
    pos bigint;
    r meeting_registrations;
    -- The time it got the meeting's lock: the order of the line.
    at timestamptz := clock_timestamp();
BEGIN
    SELECT count(*) FILTER (WHERE y.state = 'registered'), count(*) FILTER (WHERE y.state = 'waiting')
      INTO taken, waiting
      FROM meeting_registrations y WHERE y.tenant_id = t AND y.meeting_id = m.id;
    IF waiting = 0 AND (m.capacity IS NULL OR taken < m.capacity) THEN
        st := 'registered';
    ELSE
        st := 'waiting';
        -- Behind the last one waiting (only the waiting have a position).
        SELECT max(y.position) INTO last_pos FROM meeting_registrations y
         WHERE y.tenant_id = t AND y.meeting_id = m.id AND y.position IS NOT NULL;
        pos := coalesce(last_pos, 0) + 1;
    END IF;
    IF account IS NOT NULL THEN
        INSERT INTO meeting_registrations AS y (tenant_id, meeting_id, account_id, lang, state, position, registered_by,
                                                created_at, changed_at)
        VALUES (t, m.id, account, lang, st, pos, by_account, at, at)
        ON CONFLICT (tenant_id, meeting_id, account_id) DO UPDATE
           SET state = excluded.state, position = excluded.position, lang = excluded.lang,
               registered_by = excluded.registered_by, created_at = excluded.created_at,
               changed_at = excluded.changed_at, promoted_at = NULL, attended = NULL
        RETURNING * INTO r;
    ELSE
        INSERT INTO meeting_registrations (tenant_id, meeting_id, name, lang, state, position, registered_by,
                                           created_at, changed_at)
        VALUES (t, m.id, who, lang, st, pos, by_account, at, at)
        RETURNING * INTO r;
    END IF;
    RETURN r;
END $$;

-- Cancels registration RID of meeting M (locked FOR UPDATE) and gives its
-- place, if it had one, to the first waiting.
CREATE OR REPLACE FUNCTION api.meeting_free_place(t bigint, m meetings, rid bigint) RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
    UPDATE meeting_registrations y SET state = 'cancelled', position = NULL, changed_at = statement_timestamp()
     WHERE y.tenant_id = t AND y.id = rid AND y.meeting_id = m.id AND y.state <> 'cancelled';
    PERFORM api.meeting_promote(t, m.id);
END $$;

-- ---------------------------------------------------------------- reminders

-- How long before its start a meeting's reminder is sent: the day before.
CREATE OR REPLACE FUNCTION api.meeting_remind_lead() RETURNS interval
LANGUAGE sql IMMUTABLE AS $$ SELECT interval '24 hours' $$;

-- Schedules the reminder of meeting MID (sql/code/jobs.sql,
-- meeting.remind) a day before its start, or at once when that has
-- passed but the start has not (a meeting planned or moved to within a
-- day: those registered by then hear of it). Called where a start is set.
CREATE OR REPLACE FUNCTION api.meeting_remind_schedule(t bigint, mid bigint) RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
    m meetings;
BEGIN
    SELECT * INTO m FROM meetings y WHERE y.tenant_id = t AND y.id = mid;
    IF NOT FOUND OR m.state <> 'planned' OR m.starts_at <= statement_timestamp() THEN
        PERFORM platform.job_cancel(t, 'meeting.remind', mid);
        RETURN;
    END IF;
    PERFORM platform.job_schedule(t, 'meeting.remind', mid,
                                  greatest(m.starts_at - api.meeting_remind_lead(), statement_timestamp()));
END $$;

-- A time in Europe/Amsterdam written out in LANG: "dinsdag 8 december
-- 2026 om 19:30" or "Tuesday 8 December 2026 at 19:30".
CREATE OR REPLACE FUNCTION api.meeting_when(v timestamptz, lang text) RETURNS text
LANGUAGE plpgsql STABLE AS $$
DECLARE
    l timestamp := v AT TIME ZONE 'Europe/Amsterdam';
    dow int := extract(isodow FROM l)::int;
    mon int := extract(month FROM l)::int;
BEGIN
    IF lang = 'en' THEN
        RETURN format('%s %s %s %s at %s',
                      (ARRAY['Monday', 'Tuesday', 'Wednesday', 'Thursday', 'Friday', 'Saturday', 'Sunday'])[dow],
                      extract(day FROM l)::int,
                      (ARRAY['January', 'February', 'March', 'April', 'May', 'June', 'July', 'August', 'September',
                             'October', 'November', 'December'])[mon],
                      extract(year FROM l)::int, to_char(l, 'HH24:MI'));
    END IF;
    RETURN format('%s %s %s %s om %s',
                  (ARRAY['maandag', 'dinsdag', 'woensdag', 'donderdag', 'vrijdag', 'zaterdag', 'zondag'])[dow],
                  extract(day FROM l)::int,
                  (ARRAY['januari', 'februari', 'maart', 'april', 'mei', 'juni', 'juli', 'augustus', 'september',
                         'oktober', 'november', 'december'])[mon],
                  extract(year FROM l)::int, to_char(l, 'HH24:MI'));
END $$;

-- meeting.remind (the scheduler): one mail to each one registered (not
-- waiting, not cancelled) with an account and an address, in their
-- language: when (Europe/Amsterdam), where (the place or the link), and
-- the link to the meeting's iCalendar file on the tenant's site (its
-- first host name). A no-op when the meeting is gone, cancelled, begun,
-- or its reminder no longer due (its start moved later). The meeting is
-- locked, so that a registration at the same moment is either mailed or
-- registered after the mails were made. The job runs once, so the mails
-- are made once, however many daemons run.
CREATE OR REPLACE FUNCTION platform.job_meeting_remind(t bigint, mid bigint) RETURNS jsonb
LANGUAGE plpgsql AS $$
DECLARE
    m meetings;
    r record;
    host text;
    ical text;
    where_ text;
    subject text;
    body text;
    n int := 0;
BEGIN
    SELECT * INTO m FROM meetings y WHERE y.tenant_id = t AND y.id = mid FOR UPDATE;
    IF NOT FOUND OR m.state <> 'planned' OR m.starts_at <= clock_timestamp()
       OR m.starts_at - api.meeting_remind_lead() > clock_timestamp() + interval '1 minute' THEN
        RETURN '[]'::jsonb;
    END IF;
    SELECT h.host INTO host FROM platform.tenant_hosts h WHERE h.tenant_id = t ORDER BY h.host LIMIT 1;
    ical := CASE WHEN host IS NOT NULL THEN 'https://' || host ELSE '' END || '/bijeenkomsten/' || m.id || '/agenda.ics';
    FOR r IN SELECT g.lang, p.email, p.display_name
               FROM meeting_registrations g
               JOIN accounts p ON p.tenant_id = g.tenant_id AND p.id = g.account_id
              WHERE g.tenant_id = t AND g.meeting_id = mid AND g.state = 'registered'
                AND p.deleted_at IS NULL AND p.email IS NOT NULL
              ORDER BY g.id LOOP
        IF r.lang = 'en' THEN
            where_ := CASE WHEN m.place IS NOT NULL THEN 'Where: ' || m.place || E'\n' ELSE '' END
                   || CASE WHEN m.online_url IS NOT NULL THEN 'Online: ' || m.online_url || E'\n' ELSE '' END;
            subject := 'Reminder: ' || m.title || ', ' || api.meeting_when(m.starts_at, 'en');
            body := format(E'Dear %s,\n\nThis is a reminder: you are registered for "%s".\n\n'
                            'When: %s (Amsterdam time), until %s\n%s\n'
                            'Add it to your calendar: %s\n\n'
                            'If you can no longer come, cancel your registration so that someone else gets the place.\n',
                           r.display_name, m.title, api.meeting_when(m.starts_at, 'en'),
                           to_char(m.ends_at AT TIME ZONE 'Europe/Amsterdam', 'HH24:MI'), where_, ical);
        ELSE
            where_ := CASE WHEN m.place IS NOT NULL THEN 'Waar: ' || m.place || E'\n' ELSE '' END
                   || CASE WHEN m.online_url IS NOT NULL THEN 'Online: ' || m.online_url || E'\n' ELSE '' END;
            subject := 'Herinnering: ' || m.title || ', ' || api.meeting_when(m.starts_at, 'nl');
            body := format(E'Beste %s,\n\nDit is een herinnering: u bent aangemeld voor "%s".\n\n'
                            'Wanneer: %s, tot %s\n%s\n'
                            'Zet het in uw agenda: %s\n\n'
                            'Kunt u toch niet komen? Meld u dan af, zodat iemand anders de plek krijgt.\n',
                           r.display_name, m.title, api.meeting_when(m.starts_at, 'nl'),
                           to_char(m.ends_at AT TIME ZONE 'Europe/Amsterdam', 'HH24:MI'), where_, ical);
        END IF;
        PERFORM platform.enqueue_mail(t, r.email, NULL, left(regexp_replace(subject, '[[:cntrl:]]', ' ', 'g'), 500),
                                      body, NULL);
        n := n + 1;
    END LOOP;
    RETURN jsonb_build_array(jsonb_build_object('name', 'meeting.reminded',
                                                'data', jsonb_build_object('meeting_id', mid, 'table_id', m.table_id,
                                                                           'mailed', n)));
END $$;

-- ---------------------------------------------------------------- changes

-- POST /tables/{id}/meetings {title, starts_at, ends_at, description?,
-- place?, online_url?, capacity?, registration_open?, support?,
-- support_note?, group_id?, step?}: the table's facilitators plan a
-- meeting (meeting.created).
CREATE OR REPLACE FUNCTION api.meeting_create(t bigint, viewer bigint, roles text, a jsonb) RETURNS jsonb
LANGUAGE plpgsql AS $$
DECLARE
    it record;
    v record;
    mid bigint;
    at timestamptz := statement_timestamp();
BEGIN
    SELECT * INTO it FROM api.find_table(t, viewer, roles, a, ARRAY['facilitator'],
                                         'Only the table''s facilitators plan meetings.');
    IF it.refused IS NOT NULL THEN
        RETURN it.refused;
    END IF;
    SELECT * INTO v FROM api.meeting_fields(t, (it.x).id, a, NULL::meetings);
    IF v.f = '{}'::jsonb AND nullif(btrim(api.text_arg(a, 'place')), '') IS NULL
       AND nullif(btrim(api.text_arg(a, 'online_url')), '') IS NULL THEN
        v.f := api.field('place', 'required', 'A place or an online link.');
    END IF;
    IF v.f <> '{}'::jsonb THEN
        RETURN api.bad_fields(v.f);
    END IF;
    INSERT INTO meetings (tenant_id, table_id, group_id, step_id, title, description, description_html,
                          starts_at, ends_at, place, online_url, capacity, registration_open, support, support_note,
                          created_by, created_at, updated_at)
    VALUES (t, (it.x).id, v.gid, api.text_arg(a, 'step'), btrim(a ->> 'title'), coalesce(a ->> 'description', ''),
            coalesce(a ->> '_description_html', ''), v.starts, v.ends,
            nullif(btrim(api.text_arg(a, 'place')), ''), nullif(btrim(api.text_arg(a, 'online_url')), ''),
            nullif(CASE WHEN jsonb_typeof(a -> 'capacity') = 'number' THEN (a ->> 'capacity')::int END, 0),
            coalesce((a ->> 'registration_open')::boolean, true), v.support,
            nullif(btrim(api.text_arg(a, 'support_note')), ''), viewer, at, at)
    RETURNING id INTO mid;
    PERFORM api.meeting_remind_schedule(t, mid);
    PERFORM api.meeting_activity(t, mid, 'meeting.planned', viewer);
    RETURN api.event(api.meeting_answer(t, viewer, roles, mid, 201), 'meeting.created',
                     api.meeting_event(t, mid, viewer));
END $$;

-- The meeting A's id names, locked FOR UPDATE, for a change by its
-- table's facilitators.
CREATE OR REPLACE FUNCTION api.meeting_for_facilitator(t bigint, viewer bigint, roles text, a jsonb, message text,
                                                       OUT m meetings, OUT refused jsonb)
LANGUAGE plpgsql AS $$
DECLARE
    it record;
BEGIN
    SELECT * INTO it FROM api.find_meeting(t, viewer, roles, api.id_arg(a, 'id'), ARRAY['facilitator'], message, 'update');
    m := it.m;
    refused := it.refused;
END $$;

-- PATCH /meetings/{id} {any of meeting_create's fields but group_id}: the
-- facilitators change a meeting (an empty place or online_url clears it,
-- capacity 0 lifts the limit: a JSON null does not pass the plugins'
-- hooks, which this operation runs through) that is not cancelled; a larger capacity
-- (or none) promotes as many waiting as fit. A smaller one keeps those
-- registered: only new ones wait. meeting.changed.
CREATE OR REPLACE FUNCTION api.meeting_update(t bigint, viewer bigint, roles text, a jsonb) RETURNS jsonb
LANGUAGE plpgsql AS $$
DECLARE
    it record;
    v record;
    m meetings;
    new_place text;
    new_url text;
BEGIN
    SELECT * INTO it FROM api.meeting_for_facilitator(t, viewer, roles, a, 'Only the table''s facilitators change meetings.');
    IF it.refused IS NOT NULL THEN
        RETURN it.refused;
    END IF;
    m := it.m;
    IF a ? 'group_id' THEN
        RETURN api.bad_fields(api.field('group_id', 'invalid', 'A meeting stays with its table or group.'));
    END IF;
    SELECT * INTO v FROM api.meeting_fields(t, m.table_id, a, m);
    new_place := CASE WHEN a ? 'place' THEN nullif(btrim(api.text_arg(a, 'place')), '') ELSE m.place END;
    new_url := CASE WHEN a ? 'online_url' THEN nullif(btrim(api.text_arg(a, 'online_url')), '') ELSE m.online_url END;
    IF v.f = '{}'::jsonb AND new_place IS NULL AND new_url IS NULL THEN
        v.f := api.field('place', 'required', 'A place or an online link.');
    END IF;
    IF v.f <> '{}'::jsonb THEN
        RETURN api.bad_fields(v.f);
    END IF;
    IF m.state = 'cancelled' THEN
        RETURN api.error(409, 'cancelled', 'This meeting has been cancelled.');
    END IF;
    UPDATE meetings y SET
        title = CASE WHEN a ? 'title' THEN btrim(a ->> 'title') ELSE y.title END,
        description = CASE WHEN a ? 'description' THEN coalesce(a ->> 'description', '') ELSE y.description END,
        description_html = CASE WHEN a ? 'description' THEN coalesce(a ->> '_description_html', '') ELSE y.description_html END,
        starts_at = v.starts, ends_at = v.ends, place = new_place, online_url = new_url,
        capacity = CASE WHEN a ? 'capacity' THEN nullif(CASE WHEN jsonb_typeof(a -> 'capacity') = 'number'
                                                             THEN (a ->> 'capacity')::int END, 0)
                        ELSE y.capacity END,
        registration_open = coalesce((a ->> 'registration_open')::boolean, y.registration_open),
        support = v.support,
        support_note = CASE WHEN a ? 'support_note' THEN nullif(btrim(api.text_arg(a, 'support_note')), '')
                            ELSE y.support_note END,
        step_id = CASE WHEN a ? 'step' THEN api.text_arg(a, 'step') ELSE y.step_id END,
        sequence = y.sequence + 1, updated_at = statement_timestamp()
     WHERE y.tenant_id = t AND y.id = m.id;
    PERFORM api.meeting_promote(t, m.id);
    -- A start that moved moves its reminder (one already sent for the
    -- old start is followed by one for the new).
    IF v.starts IS DISTINCT FROM m.starts_at THEN
        PERFORM api.meeting_remind_schedule(t, m.id);
    END IF;
    PERFORM api.meeting_activity(t, m.id, 'meeting.changed', viewer);
    RETURN api.event(api.meeting_answer(t, viewer, roles, m.id), 'meeting.changed', api.meeting_event(t, m.id, viewer));
END $$;

-- POST /meetings/{id}/cancel {reason?}: the facilitators cancel a meeting
-- that has not ended (meeting.cancelled). The registrations stay as they
-- were: who was coming.
CREATE OR REPLACE FUNCTION api.meeting_cancel(t bigint, viewer bigint, roles text, a jsonb) RETURNS jsonb
LANGUAGE plpgsql AS $$
DECLARE
    it record;
    f jsonb := '{}'::jsonb;
    at timestamptz := statement_timestamp();
BEGIN
    SELECT * INTO it FROM api.meeting_for_facilitator(t, viewer, roles, a, 'Only the table''s facilitators cancel meetings.');
    IF it.refused IS NOT NULL THEN
        RETURN it.refused;
    END IF;
    f := api.check_type(f, a, 'reason', 'string');
    f := api.check_text(f, 'reason', api.text_arg(a, 'reason'), 2000, false);
    IF f <> '{}'::jsonb THEN
        RETURN api.bad_fields(f);
    END IF;
    IF (it.m).state = 'cancelled' THEN
        RETURN api.error(409, 'cancelled', 'This meeting has been cancelled already.');
    END IF;
    IF now() >= (it.m).ends_at THEN
        RETURN api.error(409, 'past', 'This meeting is over.');
    END IF;
    UPDATE meetings y SET state = 'cancelled', cancel_reason = nullif(btrim(api.text_arg(a, 'reason')), ''),
                          cancelled_by = viewer, cancelled_at = at, sequence = y.sequence + 1, updated_at = at
     WHERE y.tenant_id = t AND y.id = (it.m).id;
    PERFORM platform.job_cancel(t, 'meeting.remind', (it.m).id);
    PERFORM api.meeting_activity(t, (it.m).id, 'meeting.cancelled', viewer);
    RETURN api.event(api.meeting_answer(t, viewer, roles, (it.m).id), 'meeting.cancelled',
                     api.meeting_event(t, (it.m).id, viewer));
END $$;

-- PUT /meetings/{id}/registration {lang?}: someone who may take part
-- registers (or joins the waiting list). Registering again changes
-- nothing. 409 when cancelled, begun, or closed for registration.
CREATE OR REPLACE FUNCTION api.registration_create(t bigint, viewer bigint, roles text, a jsonb) RETURNS jsonb
LANGUAGE plpgsql AS $$
DECLARE
    it record;
    f jsonb := '{}'::jsonb;
    why jsonb;
    cur text;
BEGIN
    SELECT * INTO it FROM api.find_meeting(t, viewer, roles, api.id_arg(a, 'id'), '{}'::text[], NULL, 'update');
    IF it.refused IS NOT NULL THEN
        RETURN it.refused;
    END IF;
    IF NOT it.take_part THEN
        RETURN api.forbidden(CASE WHEN (it.m).group_id IS NOT NULL THEN 'Only the group''s members register for this meeting.'
                                  ELSE 'Only the table''s people register for this meeting.' END);
    END IF;
    f := api.check_type(f, a, 'lang', 'string');
    f := api.check_choice(f, 'lang', api.text_arg(a, 'lang'), ARRAY['nl', 'en'], false);
    IF f <> '{}'::jsonb THEN
        RETURN api.bad_fields(f);
    END IF;
    why := api.meeting_closed(it.m, true);
    IF why IS NOT NULL THEN
        RETURN why;
    END IF;
    SELECT r.state INTO cur FROM meeting_registrations r
     WHERE r.tenant_id = t AND r.meeting_id = (it.m).id AND r.account_id = viewer;
    IF cur IS NULL OR cur = 'cancelled' THEN
        PERFORM api.meeting_take_place(t, it.m, viewer, NULL, coalesce(api.text_arg(a, 'lang'), 'nl'), viewer);
    END IF;
    RETURN api.ok(api.meeting_json(t, viewer, it.standing, it.take_part, (it.m).id));
END $$;

-- DELETE /meetings/{id}/registration: one cancels their own registration
-- before the meeting begins; their place goes to the first waiting.
CREATE OR REPLACE FUNCTION api.registration_cancel(t bigint, viewer bigint, roles text, a jsonb) RETURNS jsonb
LANGUAGE plpgsql AS $$
DECLARE
    it record;
    rid bigint;
    why jsonb;
BEGIN
    SELECT * INTO it FROM api.find_meeting(t, viewer, roles, api.id_arg(a, 'id'), '{}'::text[], NULL, 'update');
    IF it.refused IS NOT NULL THEN
        RETURN it.refused;
    END IF;
    SELECT r.id INTO rid FROM meeting_registrations r
     WHERE r.tenant_id = t AND r.meeting_id = (it.m).id AND r.account_id = viewer AND r.state <> 'cancelled';
    IF rid IS NULL THEN
        RETURN api.error(409, 'not_registered', 'You are not registered for this meeting.');
    END IF;
    why := api.meeting_closed(it.m, false);
    IF why IS NOT NULL THEN
        RETURN why;
    END IF;
    PERFORM api.meeting_free_place(t, it.m, rid);
    RETURN api.ok(api.meeting_json(t, viewer, it.standing, it.take_part, (it.m).id));
END $$;

-- POST /meetings/{id}/registrations {name, lang?}: a facilitator
-- registers someone without an account by name (registration closed or
-- not), on the waiting list when the meeting is full.
CREATE OR REPLACE FUNCTION api.registration_add(t bigint, viewer bigint, roles text, a jsonb) RETURNS jsonb
LANGUAGE plpgsql AS $$
DECLARE
    it record;
    f jsonb := '{}'::jsonb;
    why jsonb;
    r meeting_registrations;
BEGIN
    SELECT * INTO it FROM api.meeting_for_facilitator(t, viewer, roles, a,
                                                      'Only the table''s facilitators register others.');
    IF it.refused IS NOT NULL THEN
        RETURN it.refused;
    END IF;
    f := api.check_type(f, a, 'name', 'string');
    f := api.check_text(f, 'name', api.text_arg(a, 'name'), 100, true);
    IF NOT f ? 'name' AND api.text_arg(a, 'name') ~ '[[:cntrl:]]' THEN
        f := f || api.field('name', 'invalid', 'A name on one line.');
    END IF;
    IF f <> '{}'::jsonb THEN
        RETURN api.bad_fields(f);
    END IF;
    why := api.meeting_closed(it.m, false);
    IF why IS NOT NULL THEN
        RETURN why;
    END IF;
    r := api.meeting_take_place(t, it.m, NULL, btrim(a ->> 'name'), 'nl', viewer);
    RETURN api.ok(api.registrations_json(t, viewer, true, (it.m).id) || jsonb_build_object('registration_id', r.id), 201);
END $$;

-- DELETE /meetings/{id}/registrations/{registration_id}: a facilitator
-- removes a registration before the meeting begins; its place goes to the
-- first waiting.
CREATE OR REPLACE FUNCTION api.registration_remove(t bigint, viewer bigint, roles text, a jsonb) RETURNS jsonb
LANGUAGE plpgsql AS $$
DECLARE
    it record;
    rid bigint;
    why jsonb;
BEGIN
    SELECT * INTO it FROM api.meeting_for_facilitator(t, viewer, roles, a,
                                                      'Only the table''s facilitators remove registrations.');
    IF it.refused IS NOT NULL THEN
        RETURN it.refused;
    END IF;
    SELECT r.id INTO rid FROM meeting_registrations r
     WHERE r.tenant_id = t AND r.meeting_id = (it.m).id AND r.id = api.id_arg(a, 'registration_id');
    IF rid IS NULL THEN
        RETURN api.not_found();
    END IF;
    why := api.meeting_closed(it.m, false);
    IF why IS NOT NULL THEN
        RETURN why;
    END IF;
    PERFORM api.meeting_free_place(t, it.m, rid);
    RETURN api.ok(api.registrations_json(t, viewer, true, (it.m).id));
END $$;

-- PUT /meetings/{id}/attendance {attended?: [{registration_id, attended}],
-- walk_ins?}: once the meeting has begun, a facilitator records who of
-- the registered came, and how many came in without registering.
CREATE OR REPLACE FUNCTION api.attendance_set(t bigint, viewer bigint, roles text, a jsonb) RETURNS jsonb
LANGUAGE plpgsql AS $$
DECLARE
    it record;
    e jsonb;
    rid bigint;
BEGIN
    SELECT * INTO it FROM api.meeting_for_facilitator(t, viewer, roles, a,
                                                      'Only the table''s facilitators record attendance.');
    IF it.refused IS NOT NULL THEN
        RETURN it.refused;
    END IF;
    IF NOT a ? 'attended' AND NOT a ? 'walk_ins' THEN
        RETURN api.bad_fields(api.field('attended', 'required', 'Who came (attended), how many walked in (walk_ins), or both.'));
    END IF;
    IF a ? 'walk_ins' AND (jsonb_typeof(a -> 'walk_ins') <> 'number' OR (a ->> 'walk_ins') !~ '^[0-9]{1,6}$'
                           OR (a ->> 'walk_ins')::int > 100000) THEN
        RETURN api.bad_fields(api.field('walk_ins', 'invalid', 'A whole number from 0 to 100000.'));
    END IF;
    IF a ? 'attended' THEN
        IF jsonb_typeof(a -> 'attended') <> 'array' OR jsonb_array_length(a -> 'attended') > 100000 THEN
            RETURN api.bad_fields(api.field('attended', 'invalid', 'A list of {registration_id, attended}.'));
        END IF;
        FOR e IN SELECT q FROM jsonb_array_elements(a -> 'attended') q LOOP
            rid := CASE WHEN jsonb_typeof(e) = 'object' THEN api.id_arg(e, 'registration_id') END;
            IF rid IS NULL OR jsonb_typeof(e -> 'attended') IS DISTINCT FROM 'boolean' THEN
                RETURN api.bad_fields(api.field('attended', 'invalid', 'A list of {registration_id, attended}.'));
            END IF;
            IF NOT EXISTS (SELECT 1 FROM meeting_registrations r WHERE r.tenant_id = t AND r.meeting_id = (it.m).id
                              AND r.id = rid AND r.state <> 'cancelled') THEN
                RETURN api.bad_fields(api.field('attended', 'invalid',
                                                format('%s is not a registration of this meeting.', rid)));
            END IF;
        END LOOP;
    END IF;
    IF (it.m).state = 'cancelled' THEN
        RETURN api.error(409, 'cancelled', 'This meeting has been cancelled.');
    END IF;
    IF now() < (it.m).starts_at THEN
        RETURN api.error(409, 'not_begun', 'Attendance is recorded once the meeting has begun.');
    END IF;
    IF a ? 'attended' THEN
        FOR e IN SELECT q FROM jsonb_array_elements(a -> 'attended') q LOOP
            UPDATE meeting_registrations r SET attended = (e ->> 'attended')::boolean
             WHERE r.tenant_id = t AND r.meeting_id = (it.m).id AND r.id = api.id_arg(e, 'registration_id');
        END LOOP;
    END IF;
    UPDATE meetings y SET walk_ins = CASE WHEN a ? 'walk_ins' THEN (a ->> 'walk_ins')::int ELSE coalesce(y.walk_ins, 0) END,
                          attendance_at = statement_timestamp()
     WHERE y.tenant_id = t AND y.id = (it.m).id;
    RETURN api.ok(api.registrations_json(t, viewer, true, (it.m).id));
END $$;

-- ---------------------------------------------------------------- iCalendar

-- TEXT as an iCalendar TEXT value (RFC 5545, 3.3.11): \ ; , escaped,
-- every line break as \n.
CREATE OR REPLACE FUNCTION api.ical_text(s text) RETURNS text
LANGUAGE sql IMMUTABLE AS $$
    SELECT replace(replace(replace(replace(replace(replace(coalesce(s, ''), E'\\', E'\\\\'), ';', E'\\;'), ',', E'\\,'),
                                   E'\r\n', E'\\n'), E'\n', E'\\n'), E'\r', E'\\n')
$$;

-- The content line NAME:VALUE folded at 75 octets (RFC 5545, 3.1): each
-- continuation starts with a space; a character's octets are never split.
-- Ends with CRLF.
CREATE OR REPLACE FUNCTION api.ical_line(name text, value text) RETURNS text
LANGUAGE plpgsql IMMUTABLE AS $$
DECLARE
    line text := name || ':' || regexp_replace(value, '[\x01-\x08\x0b\x0c\x0e-\x1f\x7f]', '', 'g');
    parts text[] := '{}'::text[];
    chunk text;
    at int := 1;
    room int := 75;
    n int;
BEGIN
    -- At most ROOM characters, fewer while their octets are more.
    WHILE at <= length(line) LOOP
        n := room;
        chunk := substr(line, at, n);
        WHILE octet_length(chunk) > room LOOP
            n := n - 1;
            chunk := substr(line, at, n);
        END LOOP;
        parts := array_append(parts, chunk);
        at := at + n;
        room := 74;
    END LOOP;
    RETURN array_to_string(parts, E'\r\n ') || E'\r\n';
END $$;

-- A time in UTC, as iCalendar writes it.
CREATE OR REPLACE FUNCTION api.ical_time(v timestamptz) RETURNS text
LANGUAGE sql IMMUTABLE AS $$
    SELECT to_char(v AT TIME ZONE 'UTC', 'YYYYMMDD"T"HH24MISS"Z"')
$$;

-- The VEVENT of meeting MID.
CREATE OR REPLACE FUNCTION api.ical_event(t bigint, mid bigint) RETURNS text
LANGUAGE plpgsql STABLE AS $$
DECLARE
    m meetings;
BEGIN
    SELECT * INTO m FROM meetings y WHERE y.tenant_id = t AND y.id = mid;
    RETURN E'BEGIN:VEVENT\r\n'
        || api.ical_line('UID', format('meeting-%s-%s@aantafel', t, m.id))
        || api.ical_line('DTSTAMP', api.ical_time(m.updated_at))
        || api.ical_line('CREATED', api.ical_time(m.created_at))
        || api.ical_line('LAST-MODIFIED', api.ical_time(m.updated_at))
        || api.ical_line('SEQUENCE', m.sequence::text)
        || api.ical_line('DTSTART', api.ical_time(m.starts_at))
        || api.ical_line('DTEND', api.ical_time(m.ends_at))
        || api.ical_line('SUMMARY', api.ical_text(m.title))
        || CASE WHEN m.description <> '' THEN api.ical_line('DESCRIPTION', api.ical_text(m.description)) ELSE '' END
        || CASE WHEN coalesce(m.place, m.online_url) IS NOT NULL
                THEN api.ical_line('LOCATION', api.ical_text(coalesce(m.place, m.online_url))) ELSE '' END
        || CASE WHEN m.online_url IS NOT NULL THEN api.ical_line('URL', m.online_url) ELSE '' END
        || api.ical_line('STATUS', CASE WHEN m.state = 'cancelled' THEN 'CANCELLED' ELSE 'CONFIRMED' END)
        || E'END:VEVENT\r\n';
END $$;

-- A VCALENDAR named NAME around EVENTS.
CREATE OR REPLACE FUNCTION api.ical_calendar(name text, events text) RETURNS text
LANGUAGE sql IMMUTABLE AS $$
    SELECT E'BEGIN:VCALENDAR\r\n'
        || api.ical_line('VERSION', '2.0')
        || api.ical_line('PRODID', '-//Aantafel//Meetings//NL')
        || api.ical_line('CALSCALE', 'GREGORIAN')
        || api.ical_line('METHOD', 'PUBLISH')
        || api.ical_line('X-WR-CALNAME', api.ical_text(name))
        || coalesce(events, '')
        || E'END:VCALENDAR\r\n'
$$;

-- GET /meetings/{id}/ical: the meeting as an iCalendar file (the answer's
-- body is its text; the daemon serves it as text/calendar).
CREATE OR REPLACE FUNCTION api.meeting_ical(t bigint, viewer bigint, roles text, a jsonb) RETURNS jsonb
LANGUAGE plpgsql STABLE AS $$
DECLARE
    it record;
BEGIN
    SELECT * INTO it FROM api.find_meeting(t, viewer, roles, api.id_arg(a, 'id'), NULL, NULL, NULL);
    IF it.refused IS NOT NULL THEN
        RETURN it.refused;
    END IF;
    RETURN api.ok(to_jsonb(api.ical_calendar((it.m).title, api.ical_event(t, (it.m).id))));
END $$;

-- GET /tables/{id}/meetings.ical: the feed of the table's meetings the
-- viewer reads.
CREATE OR REPLACE FUNCTION api.table_meetings_ical(t bigint, viewer bigint, roles text, a jsonb) RETURNS jsonb
LANGUAGE plpgsql STABLE AS $$
DECLARE
    it record;
    f record;
    mid bigint;
    events text := '';
BEGIN
    SELECT * INTO it FROM api.find_table(t, viewer, roles, a, NULL);
    IF it.refused IS NOT NULL THEN
        RETURN it.refused;
    END IF;
    -- The ids first, then one at a time: on Citus a cursor on the shards
    -- stays open no longer than its query.
    FOREACH mid IN ARRAY ARRAY(SELECT y.id FROM meetings y WHERE y.tenant_id = t AND y.table_id = (it.x).id
                                ORDER BY y.starts_at, y.id LIMIT 500) LOOP
        SELECT * INTO f FROM api.find_meeting(t, viewer, roles, mid, NULL, NULL, NULL);
        IF f.standing IS NOT NULL THEN
            events := events || api.ical_event(t, mid);
        END IF;
    END LOOP;
    RETURN api.ok(to_jsonb(api.ical_calendar((it.x).title, events)));
END $$;
