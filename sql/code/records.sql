-- The records a table's steps keep (a quote, a player, an interview):
-- rows of their own, each of a kind that the step's snapshot declares
-- (table_steps.records: {kind: {visible, fields: {name: {type, required,
-- choices, max}}}}), its fields checked here against that declaration, and
-- every version kept (record_versions). A record is read by whoever the
-- kind's `visible` admits (visibility.sql, api.level_visible) and written
-- by the table's facilitators, or also by its client when the kind says
-- `write = "client"` (api.may_write); the tenant's Lua may refuse a save
-- on the route's event record.before_save.

-- ---------------------------------------------------------------- fields

-- The problems of FIELDS (a JSON object) against DECL, a kind's declared
-- fields, for a record of table X: {name: {code, message}}, '{}' when
-- none. A null value is no value; text is kept as given.
CREATE OR REPLACE FUNCTION api.record_problems(t bigint, x bigint, decl jsonb, fields jsonb) RETURNS jsonb
LANGUAGE plpgsql STABLE AS $$
DECLARE
    f jsonb := '{}'::jsonb;
    k text;
    v jsonb;
    d jsonb;
    ty text;
    s text;
    lim int;
    bad text;
BEGIN
    IF jsonb_typeof(fields) IS DISTINCT FROM 'object' THEN
        RETURN api.field('fields', 'type', 'Must be an object of field = value.');
    END IF;
    FOR k, v IN SELECT e.key, e.value FROM jsonb_each(fields) e LOOP
        d := decl -> k;
        bad := NULL;
        IF d IS NULL THEN
            f := f || api.field(k, 'unknown', 'This kind of record has no such field.');
            CONTINUE;
        END IF;
        IF jsonb_typeof(v) = 'null' THEN
            CONTINUE;
        END IF;
        ty := d ->> 'type';
        s := CASE WHEN jsonb_typeof(v) = 'string' THEN v #>> '{}' END;
        IF ty IN ('text', 'markdown') THEN
            lim := coalesce((d ->> 'max')::int, CASE WHEN ty = 'text' THEN 2000 ELSE 20000 END);
            IF s IS NULL THEN
                bad := 'type:Must be a string.';
            ELSIF length(s) > lim THEN
                bad := format('too_long:At most %s characters.', lim);
            END IF;
        ELSIF ty = 'choice' THEN
            IF s IS NULL OR NOT (d -> 'choices') ? s THEN
                bad := 'choice:One of: ' || (SELECT string_agg(c, ', ') FROM jsonb_array_elements_text(d -> 'choices') c) || '.';
            END IF;
        ELSIF ty = 'choices' THEN
            IF jsonb_typeof(v) <> 'array'
               OR EXISTS (SELECT 1 FROM jsonb_array_elements(v) c
                           WHERE jsonb_typeof(c) <> 'string' OR NOT (d -> 'choices') ? (c #>> '{}'))
               OR (SELECT count(DISTINCT c) <> count(*) FROM jsonb_array_elements(v) c) THEN
                bad := 'choice:A list of different ones of: '
                       || (SELECT string_agg(c, ', ') FROM jsonb_array_elements_text(d -> 'choices') c) || '.';
            END IF;
        ELSIF ty = 'date' THEN
            IF s IS NULL OR s !~ '^[0-9]{4}-[0-9]{2}-[0-9]{2}$' OR NOT api.is_date(s) THEN
                bad := 'type:Must be a date, YYYY-MM-DD.';
            END IF;
        ELSIF ty = 'datetime' THEN
            IF s IS NULL OR s !~ '^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}(:[0-9]{2}(\.[0-9]{1,6})?)?(Z|[+-][0-9]{2}:[0-9]{2})$'
               OR NOT api.is_timestamp(s) THEN
                bad := 'type:Must be a date and time with its zone, YYYY-MM-DDTHH:MM:SSZ.';
            END IF;
        ELSIF ty IN ('int', 'cents') THEN
            IF jsonb_typeof(v) <> 'number' OR (v #>> '{}') !~ '^-?[0-9]{1,15}$' THEN
                bad := CASE WHEN ty = 'cents' THEN 'type:Must be a whole number of cents.'
                            ELSE 'type:Must be a whole number.' END;
            END IF;
        ELSIF ty = 'bool' THEN
            IF jsonb_typeof(v) <> 'boolean' THEN
                bad := 'type:Must be true or false.';
            END IF;
        ELSIF ty = 'person' THEN
            IF api.id_arg(jsonb_build_object('v', v), 'v') IS NULL
               OR NOT EXISTS (SELECT 1 FROM table_members m WHERE m.tenant_id = t AND m.table_id = x
                                 AND m.account_id = api.id_arg(jsonb_build_object('v', v), 'v')) THEN
                bad := 'person:Must be the id of a person at this table.';
            END IF;
        ELSIF ty = 'ref' THEN
            IF api.id_arg(jsonb_build_object('v', v), 'v') IS NULL
               OR NOT EXISTS (SELECT 1 FROM records r WHERE r.tenant_id = t AND r.table_id = x
                                 AND r.id = api.id_arg(jsonb_build_object('v', v), 'v')
                                 AND (d ->> 'kind' IS NULL OR r.kind = d ->> 'kind')) THEN
                bad := CASE WHEN d ->> 'kind' IS NULL THEN 'ref:Must be the id of a record of this table.'
                            ELSE format('ref:Must be the id of a record of kind %s of this table.', d ->> 'kind') END;
            END IF;
        ELSE
            bad := 'type:This field''s declared type is unknown.';
        END IF;
        IF bad IS NOT NULL THEN
            f := f || api.field(k, split_part(bad, ':', 1), substr(bad, strpos(bad, ':') + 1));
        END IF;
    END LOOP;
    FOR k IN SELECT e.key FROM jsonb_each(decl) e WHERE (e.value ->> 'required')::boolean IS TRUE LOOP
        v := fields -> k;
        IF NOT f ? k AND (v IS NULL OR jsonb_typeof(v) = 'null' OR (jsonb_typeof(v) = 'string' AND btrim(v #>> '{}') = '')
                          OR (jsonb_typeof(v) = 'array' AND jsonb_array_length(v) = 0)) THEN
            f := f || api.field(k, 'required', 'This field is required.');
        END IF;
    END LOOP;
    RETURN f;
END $$;

CREATE OR REPLACE FUNCTION api.is_date(s text) RETURNS boolean
LANGUAGE plpgsql IMMUTABLE AS $$
BEGIN
    RETURN to_char(s::date, 'YYYY-MM-DD') = s;
EXCEPTION WHEN others THEN
    RETURN false;
END $$;

CREATE OR REPLACE FUNCTION api.is_timestamp(s text) RETURNS boolean
LANGUAGE plpgsql STABLE AS $$
BEGIN
    PERFORM s::timestamptz;
    RETURN true;
EXCEPTION WHEN others THEN
    RETURN false;
END $$;

-- A 400 naming the fields that are not valid.
CREATE OR REPLACE FUNCTION api.bad_fields(f jsonb) RETURNS jsonb
LANGUAGE sql IMMUTABLE AS $$
    SELECT api.error(400, 'invalid', 'Some fields are not valid.', f)
$$;

-- ---------------------------------------------------------------- JSON

-- FIELDS_HTML: the Markdown fields as safe HTML ({name: html}), rendered
-- by the daemon when the record was saved (api.record_html).
CREATE OR REPLACE FUNCTION api.record_object(id bigint, table_id bigint, step_id text, kind text, fields jsonb,
                                             fields_html jsonb, version int, created_by bigint, created_name text,
                                             created_at timestamptz, updated_by bigint, updated_name text,
                                             updated_at timestamptz) RETURNS jsonb
LANGUAGE sql IMMUTABLE AS $$
    SELECT jsonb_build_object('id', id, 'table_id', table_id, 'step_id', step_id, 'kind', kind, 'fields', fields,
        'fields_html', fields_html, 'version', version, 'created_by', jsonb_build_object('id', created_by, 'name', created_name),
        'created_at', created_at, 'updated_by', jsonb_build_object('id', updated_by, 'name', updated_name),
        'updated_at', updated_at)
$$;

CREATE OR REPLACE FUNCTION api.record_json(t bigint, rid bigint) RETURNS jsonb
LANGUAGE plpgsql STABLE AS $$
BEGIN
    RETURN (SELECT api.record_object(r.id, r.table_id, r.step_id, r.kind, r.fields, r.fields_html, r.version, r.created_by,
                                     c.display_name, r.created_at, r.updated_by, u.display_name, r.updated_at)
              FROM records r
              JOIN accounts c ON c.tenant_id = t AND c.id = r.created_by
              JOIN accounts u ON u.tenant_id = t AND u.id = r.updated_by
             WHERE r.tenant_id = t AND r.id = rid);
END $$;

-- Record A's KEY as the viewer finds it: R (NULL when they may not read
-- it), STANDING at its table, its kind's DECL and REFUSED for NEED.
CREATE OR REPLACE FUNCTION api.find_record(t bigint, viewer bigint, roles text, a jsonb, need text[],
                                           message text DEFAULT 'You may not do this.',
                                           OUT r records, OUT standing text, OUT decl jsonb, OUT refused jsonb)
LANGUAGE plpgsql STABLE AS $$
DECLARE
    tvisibility text;
    kinds jsonb;
BEGIN
    SELECT * INTO r FROM records y WHERE y.tenant_id = t AND y.id = api.id_arg(a, 'id');
    IF r.id IS NOT NULL THEN
        SELECT y.visibility INTO tvisibility FROM tables y WHERE y.tenant_id = t AND y.id = r.table_id;
        standing := api.table_standing(t, viewer, roles, r.table_id, tvisibility);
        SELECT s.records INTO kinds FROM table_steps s
         WHERE s.tenant_id = t AND s.table_id = r.table_id AND s.step_id = r.step_id;
        decl := kinds -> r.kind;
        IF NOT api.level_visible(standing, decl ->> 'visible') THEN
            standing := NULL;
        END IF;
    END IF;
    IF standing IS NULL THEN
        r := NULL;
    END IF;
    refused := api.refusal(standing, viewer, need, message);
END $$;

-- ---------------------------------------------------------------- operations

-- Whether a viewer of STANDING at the table writes records of kind DECL:
-- the facilitators always, the client when the kind's `write` is
-- 'client' and the client also reads it.
CREATE OR REPLACE FUNCTION api.may_write(standing text, decl jsonb) RETURNS boolean
LANGUAGE sql IMMUTABLE AS $$
    SELECT standing = 'facilitator'
        OR (standing = 'client' AND decl ->> 'write' = 'client' AND api.level_visible(standing, decl ->> 'visible'))
$$;


-- GET /tables/{id}/records?step=&kind=&visible=&step_state=: the records
-- the viewer may read, oldest first; VISIBLE keeps those whose kind is
-- declared visible at that level ("readers": a table's public results),
-- STEP_STATE those of steps in that state.
CREATE OR REPLACE FUNCTION api.records_list(t bigint, viewer bigint, roles text, a jsonb) RETURNS jsonb
LANGUAGE plpgsql STABLE AS $$
DECLARE
    it record;
    lim int := api.page_limit(a);
    after bigint := api.cursor_id(a);
    ids bigint[];
    f jsonb := '{}'::jsonb;
BEGIN
    IF after = -1 THEN
        RETURN api.bad_cursor();
    END IF;
    f := api.check_choice(f, 'visible', api.text_arg(a, 'visible'), ARRAY['facilitators', 'client', 'people', 'readers'],
                          false);
    f := api.check_choice(f, 'step_state', api.text_arg(a, 'step_state'), ARRAY['pending', 'active', 'done', 'skipped'],
                          false);
    IF f <> '{}'::jsonb THEN
        RETURN api.bad_fields(f);
    END IF;
    SELECT * INTO it FROM api.find_table(t, viewer, roles, a, NULL);
    IF it.refused IS NOT NULL THEN
        RETURN it.refused;
    END IF;
    ids := ARRAY(SELECT r.id FROM records r
                   JOIN table_steps s ON s.tenant_id = t AND s.table_id = r.table_id AND s.step_id = r.step_id
                  WHERE r.tenant_id = t AND r.table_id = (it.x).id AND (after IS NULL OR r.id > after)
                    AND (a ->> 'step' IS NULL OR r.step_id = a ->> 'step')
                    AND (a ->> 'kind' IS NULL OR r.kind = a ->> 'kind')
                    AND (a ->> 'visible' IS NULL OR s.records -> r.kind ->> 'visible' = a ->> 'visible')
                    AND (a ->> 'step_state' IS NULL OR s.state = a ->> 'step_state')
                    AND api.level_visible(it.standing, s.records -> r.kind ->> 'visible')
                  ORDER BY r.id LIMIT lim + 1);
    RETURN api.ok(jsonb_build_object(
        'items', coalesce((SELECT jsonb_agg(api.record_json(t, o.id) ORDER BY o.n)
                             FROM unnest(ids[1:lim]) WITH ORDINALITY o(id, n)), '[]'::jsonb),
        'next_cursor', CASE WHEN cardinality(ids) > lim THEN to_jsonb(api.cursor(ids[lim])) ELSE 'null'::jsonb END));
END $$;

-- GET /records/{id}
CREATE OR REPLACE FUNCTION api.record_get(t bigint, viewer bigint, roles text, a jsonb) RETURNS jsonb
LANGUAGE plpgsql STABLE AS $$
DECLARE
    it record;
BEGIN
    SELECT * INTO it FROM api.find_record(t, viewer, roles, a, NULL);
    IF it.refused IS NOT NULL THEN
        RETURN it.refused;
    END IF;
    RETURN api.ok(api.record_json(t, (it.r).id));
END $$;

-- GET /records/{id}/versions: every version, newest first.
CREATE OR REPLACE FUNCTION api.record_versions(t bigint, viewer bigint, roles text, a jsonb) RETURNS jsonb
LANGUAGE plpgsql STABLE AS $$
DECLARE
    it record;
BEGIN
    SELECT * INTO it FROM api.find_record(t, viewer, roles, a, NULL);
    IF it.refused IS NOT NULL THEN
        RETURN it.refused;
    END IF;
    RETURN api.ok(jsonb_build_object('items', coalesce((SELECT jsonb_agg(jsonb_build_object('version', v.version,
            'fields', v.fields, 'fields_html', v.fields_html, 'saved_by', jsonb_build_object('id', v.saved_by, 'name', p.display_name),
            'saved_at', v.saved_at) ORDER BY v.version DESC)
        FROM record_versions v JOIN accounts p ON p.tenant_id = t AND p.id = v.saved_by
       WHERE v.tenant_id = t AND v.record_id = (it.r).id), '[]'::jsonb)));
END $$;

-- The fields to store: FIELDS without its null values.
CREATE OR REPLACE FUNCTION api.record_values(fields jsonb) RETURNS jsonb
LANGUAGE sql IMMUTABLE AS $$
    SELECT coalesce(jsonb_object_agg(e.key, e.value) FILTER (WHERE jsonb_typeof(e.value) <> 'null'), '{}'::jsonb)
      FROM jsonb_each(fields) e
$$;

-- The safe HTML to keep for VALS (the stored fields) of a kind whose
-- declared fields are DECL: of HTML ({name: html}, what the daemon
-- rendered from every string the request gave: the route's API_FIELDS,
-- core/app/api.h) those of the fields declared `markdown`, over KEPT (the
-- record's HTML before, for the fields a change leaves as they were);
-- only fields VALS still has.
CREATE OR REPLACE FUNCTION api.record_html(decl jsonb, vals jsonb, html jsonb, kept jsonb) RETURNS jsonb
LANGUAGE sql IMMUTABLE AS $$
    SELECT coalesce(jsonb_object_agg(e.key, coalesce(CASE WHEN jsonb_typeof(html -> e.key) = 'string'
                                                          THEN html -> e.key END, kept -> e.key))
                      FILTER (WHERE coalesce(CASE WHEN jsonb_typeof(html -> e.key) = 'string'
                                                  THEN html -> e.key END, kept -> e.key) IS NOT NULL), '{}'::jsonb)
      FROM jsonb_each(vals) e
     WHERE decl -> e.key ->> 'type' = 'markdown'
$$;

-- The text of a record for search: the values of its text and Markdown
-- fields (DECL, its kind's declared fields), in the order of their names.
CREATE OR REPLACE FUNCTION api.record_text(decl jsonb, vals jsonb) RETURNS text
LANGUAGE sql IMMUTABLE AS $$
    SELECT coalesce(string_agg(e.value #>> '{}', ' ' ORDER BY e.key), '')
      FROM jsonb_each(CASE WHEN jsonb_typeof(vals) = 'object' THEN vals ELSE '{}'::jsonb END) e
     WHERE jsonb_typeof(e.value) = 'string' AND decl -> e.key ->> 'type' IN ('text', 'markdown')
$$;

-- POST /tables/{id}/records {step, kind, fields}: by the table's
-- facilitators, of a kind the step declares; by its client, of a kind
-- the client writes (any other step or kind is refused to them alike).
CREATE OR REPLACE FUNCTION api.record_create(t bigint, viewer bigint, roles text, a jsonb) RETURNS jsonb
LANGUAGE plpgsql AS $$
DECLARE
    it record;
    kinds jsonb;
    decl jsonb;
    f jsonb;
    vals jsonb;
    html jsonb;
    rid bigint;
    at timestamptz := statement_timestamp();
BEGIN
    SELECT * INTO it FROM api.find_table(t, viewer, roles, a, ARRAY['facilitator', 'client'],
                                         'Only the table''s facilitators keep its records.');
    IF it.refused IS NOT NULL THEN
        RETURN it.refused;
    END IF;
    IF it.standing <> 'facilitator' THEN
        SELECT s.records -> (a ->> 'kind') INTO decl FROM table_steps s
         WHERE s.tenant_id = t AND s.table_id = (it.x).id AND s.step_id = a ->> 'step';
        IF decl IS NULL OR NOT api.may_write(it.standing, decl) THEN
            RETURN api.forbidden('The table''s client writes only the records the client may write.');
        END IF;
    END IF;
    IF jsonb_typeof(a -> 'step') IS DISTINCT FROM 'string' THEN
        RETURN api.bad_fields(api.field('step', 'required', 'The step this record belongs to.'));
    END IF;
    SELECT s.records INTO kinds FROM table_steps s
     WHERE s.tenant_id = t AND s.table_id = (it.x).id AND s.step_id = a ->> 'step';
    IF kinds IS NULL THEN
        RETURN api.bad_fields(api.field('step', 'choice', 'This table has no such step.'));
    END IF;
    IF jsonb_typeof(a -> 'kind') IS DISTINCT FROM 'string' OR kinds -> (a ->> 'kind') IS NULL THEN
        RETURN api.bad_fields(api.field('kind', 'choice', 'One of: ' || coalesce((SELECT string_agg(k, ', ' ORDER BY k)
                                        FROM jsonb_object_keys(kinds) k), '') || '.'));
    END IF;
    decl := kinds -> (a ->> 'kind');
    f := api.record_problems(t, (it.x).id, coalesce(decl -> 'fields', '{}'::jsonb), coalesce(a -> 'fields', '{}'::jsonb));
    IF f <> '{}'::jsonb THEN
        RETURN api.bad_fields(f);
    END IF;
    vals := api.record_values(coalesce(a -> 'fields', '{}'::jsonb));
    html := api.record_html(coalesce(decl -> 'fields', '{}'::jsonb), vals, a -> '_fields_html', '{}'::jsonb);
    INSERT INTO records (tenant_id, table_id, step_id, kind, fields, fields_html, version, created_by, created_at,
                         updated_by, updated_at, search)
    VALUES (t, (it.x).id, a ->> 'step', a ->> 'kind', vals, html, 1, viewer, at, viewer, at,
            to_tsvector('dutch', api.record_text(decl -> 'fields', vals)))
    RETURNING id INTO rid;
    INSERT INTO record_versions (tenant_id, record_id, version, fields, fields_html, saved_by, saved_at)
    VALUES (t, rid, 1, vals, html, viewer, at);
    RETURN api.ok(api.record_json(t, rid), 201);
END $$;

-- PATCH /records/{id} {fields, remove, version}: the fields given replace
-- those of the record, the names in REMOVE go (a page's call passes
-- through Lua, which has no null); the whole is checked again. With
-- VERSION, only that version is replaced (409 otherwise).
CREATE OR REPLACE FUNCTION api.record_update(t bigint, viewer bigint, roles text, a jsonb) RETURNS jsonb
LANGUAGE plpgsql AS $$
DECLARE
    it record;
    merged jsonb;
    f jsonb;
    vals jsonb;
    html jsonb;
    v int;
    words tsvector;
    at timestamptz := statement_timestamp();
BEGIN
    SELECT * INTO it FROM api.find_record(t, viewer, roles, a, ARRAY['facilitator', 'client'],
                                          'Only the table''s facilitators keep its records.');
    IF it.refused IS NOT NULL THEN
        RETURN it.refused;
    END IF;
    IF NOT coalesce(api.may_write(it.standing, it.decl), false) THEN
        RETURN api.forbidden('The table''s client writes only the records the client may write.');
    END IF;
    IF it.decl IS NULL THEN
        RETURN api.error(409, 'kind_gone', 'The table''s workflow no longer declares this kind of record.');
    END IF;
    IF jsonb_typeof(a -> 'fields') IS DISTINCT FROM 'object' THEN
        RETURN api.bad_fields(api.field('fields', 'type', 'Must be an object of field = value.'));
    END IF;
    IF a ? 'version' AND (jsonb_typeof(a -> 'version') <> 'number' OR (a ->> 'version') !~ '^[0-9]{1,9}$') THEN
        RETURN api.bad_fields(api.field('version', 'type', 'Must be a whole number.'));
    END IF;
    SELECT y.version INTO v FROM records y WHERE y.tenant_id = t AND y.id = (it.r).id FOR UPDATE;
    IF a ? 'version' AND (a ->> 'version')::int <> v THEN
        RETURN api.error(409, 'conflict', format('The record is at version %s now.', v));
    END IF;
    IF a ? 'remove' AND (jsonb_typeof(a -> 'remove') <> 'array'
                         OR EXISTS (SELECT 1 FROM jsonb_array_elements(a -> 'remove') e WHERE jsonb_typeof(e) <> 'string')) THEN
        RETURN api.bad_fields(api.field('remove', 'type', 'Must be a list of field names.'));
    END IF;
    merged := ((it.r).fields || (a -> 'fields'))
              - ARRAY(SELECT e FROM jsonb_array_elements_text(coalesce(a -> 'remove', '[]'::jsonb)) e);
    f := api.record_problems(t, (it.r).table_id, coalesce(it.decl -> 'fields', '{}'::jsonb), merged);
    IF f <> '{}'::jsonb THEN
        RETURN api.bad_fields(f);
    END IF;
    vals := api.record_values(merged);
    -- The HTML of the fields given is new; a field the change left keeps its own.
    html := api.record_html(coalesce(it.decl -> 'fields', '{}'::jsonb), vals, a -> '_fields_html',
                            (it.r).fields_html - ARRAY(SELECT k FROM jsonb_object_keys(a -> 'fields') k));
    words := to_tsvector('dutch', api.record_text(it.decl -> 'fields', vals));
    UPDATE records y SET fields = vals, fields_html = html, version = v + 1, updated_by = viewer, updated_at = at,
                         search = words
     WHERE y.tenant_id = t AND y.id = (it.r).id;
    INSERT INTO record_versions (tenant_id, record_id, version, fields, fields_html, saved_by, saved_at)
    VALUES (t, (it.r).id, v + 1, vals, html, viewer, at);
    RETURN api.ok(api.record_json(t, (it.r).id));
END $$;
