-- The options a tenant's plugins declare editable (sql/036_tenant_options.sql):
-- everyone's requests read them (a plugin's plugin.setting), admins set
-- them, each value checked against the declaration the tenant's Lua
-- passes as _definitions.options ({plugin: {name: {type, default, min,
-- max, choices, label}}}).

-- {plugin: {name: value}} of the tenant.
CREATE OR REPLACE FUNCTION api.plugin_options_json(t bigint) RETURNS jsonb
LANGUAGE plpgsql STABLE AS $$
DECLARE
    out jsonb := '{}'::jsonb;
    r record;
BEGIN
    FOR r IN SELECT o.plugin, o.name, o.value FROM plugin_options o WHERE o.tenant_id = t ORDER BY o.plugin, o.name LOOP
        out := jsonb_set(out, ARRAY[r.plugin], coalesce(out -> r.plugin, '{}'::jsonb) || jsonb_build_object(r.name, r.value));
    END LOOP;
    RETURN out;
END $$;

-- GET /settings/options: the values set, for everyone (a plugin reads
-- them on any visitor's behalf; they are the site's, not anyone's data).
CREATE OR REPLACE FUNCTION api.plugin_options_get(t bigint, viewer bigint, roles text, a jsonb) RETURNS jsonb
LANGUAGE plpgsql STABLE AS $$
BEGIN
    RETURN api.ok(jsonb_build_object('options', api.plugin_options_json(t)));
END $$;

-- The problem with V as a value of the declared option D, as
-- {code: 'type' | 'range', message}, or NULL.
CREATE OR REPLACE FUNCTION api.plugin_option_refusal(d jsonb, v jsonb) RETURNS jsonb
LANGUAGE plpgsql IMMUTABLE AS $$
DECLARE
    ty text := d ->> 'type';
    n numeric;
BEGIN
    IF ty = 'boolean' THEN
        RETURN CASE WHEN jsonb_typeof(v) <> 'boolean' THEN jsonb_build_object('code', 'type', 'message', 'Must be true or false.') END;
    ELSIF ty = 'string' THEN
        IF jsonb_typeof(v) <> 'string' THEN
            RETURN jsonb_build_object('code', 'type', 'message', 'Must be a text.');
        ELSIF octet_length(v::text) > 20000 THEN
            -- What the table holds (sql/036), declared max or not.
            RETURN jsonb_build_object('code', 'range', 'message', 'At most 20000 bytes (as JSON text).');
        ELSIF jsonb_typeof(d -> 'max') = 'number' AND octet_length(v #>> '{}') > (d ->> 'max')::numeric THEN
            RETURN jsonb_build_object('code', 'range', 'message', format('At most %s bytes.', d ->> 'max'));
        END IF;
        RETURN NULL;
    ELSIF ty = 'choice' THEN
        IF jsonb_typeof(v) <> 'string' OR NOT coalesce(d -> 'choices', '[]'::jsonb) @> jsonb_build_array(v) THEN
            RETURN jsonb_build_object('code', 'type', 'message', format('Must be one of: %s.',
                          (SELECT string_agg(c, ', ') FROM jsonb_array_elements_text(coalesce(d -> 'choices', '[]')) c)));
        END IF;
        RETURN NULL;
    ELSIF ty IN ('integer', 'number') THEN
        IF jsonb_typeof(v) <> 'number' THEN
            RETURN jsonb_build_object('code', 'type', 'message',
                                      CASE WHEN ty = 'integer' THEN 'Must be a whole number.' ELSE 'Must be a number.' END);
        END IF;
        n := (v #>> '{}')::numeric;
        IF ty = 'integer' AND n <> trunc(n) THEN
            RETURN jsonb_build_object('code', 'type', 'message', 'Must be a whole number.');
        ELSIF (jsonb_typeof(d -> 'min') = 'number' AND n < (d ->> 'min')::numeric)
           OR (jsonb_typeof(d -> 'max') = 'number' AND n > (d ->> 'max')::numeric) THEN
            RETURN jsonb_build_object('code', 'range', 'message',
                                      format('Must be between %s and %s.', coalesce(d ->> 'min', '…'), coalesce(d ->> 'max', '…')));
        END IF;
        RETURN NULL;
    END IF;
    RETURN jsonb_build_object('code', 'type', 'message', 'The declaration has no known type.');
END $$;

-- PUT /settings/options {"options": {plugin: {name: value}}}: admins set
-- the options their plugins declare editable; the value that tenant.lua
-- or the declaration gives (or null) puts one back to following them (no
-- row is kept). Every value is checked against the
-- declaration first (422 naming options.PLUGIN.NAME); nothing is written
-- unless all are right. Answers the values as GET does.
CREATE OR REPLACE FUNCTION api.plugin_options_put(t bigint, viewer bigint, roles text, a jsonb) RETURNS jsonb
LANGUAGE plpgsql AS $$
DECLARE
    refused jsonb := api.admin_only(viewer, roles);
    decls jsonb := coalesce(a -> '_definitions' -> 'options', '{}'::jsonb);
    f jsonb := '{}'::jsonb;
    k text;
    p text;
    vals jsonb;
    nm text;
    v jsonb;
    why jsonb;
    at timestamptz := now();
BEGIN
    IF refused IS NOT NULL THEN
        RETURN refused;
    END IF;
    FOR k IN SELECT jsonb_object_keys(a) LOOP
        IF k !~ '^_' AND k <> 'options' THEN
            f := f || api.field(left(k, 40), 'unknown', 'Not an argument; send {"options": {plugin: {name: value}}}.');
        END IF;
    END LOOP;
    IF jsonb_typeof(a -> 'options') IS DISTINCT FROM 'object' THEN
        RETURN api.invalid(f || api.field('options', 'type', 'Must be an object of plugins, each an object of options.'));
    END IF;
    IF jsonb_typeof(decls) <> 'object' THEN
        decls := '{}'::jsonb;
    END IF;
    FOR p, vals IN SELECT * FROM jsonb_each(a -> 'options') LOOP
        IF NOT decls ? p THEN
            f := f || api.field('options.' || left(p, 64), 'unknown', 'No plugin of this site declares editable options by this name.');
            CONTINUE;
        ELSIF jsonb_typeof(vals) <> 'object' THEN
            f := f || api.field('options.' || p, 'type', 'Must be an object of options.');
            CONTINUE;
        END IF;
        FOR nm, v IN SELECT * FROM jsonb_each(vals) LOOP
            IF NOT (decls -> p) ? nm THEN
                f := f || api.field('options.' || p || '.' || left(nm, 60), 'unknown',
                                    format('The plugin %s declares no editable option by this name.', p));
            ELSIF jsonb_typeof(v) <> 'null' THEN
                why := api.plugin_option_refusal(decls -> p -> nm, v);
                IF why IS NOT NULL THEN
                    f := f || jsonb_build_object('options.' || p || '.' || nm, why);
                END IF;
            END IF;
        END LOOP;
    END LOOP;
    IF f <> '{}' THEN
        RETURN api.invalid(f);
    END IF;
    FOR p, vals IN SELECT * FROM jsonb_each(a -> 'options') LOOP
        FOR nm, v IN SELECT * FROM jsonb_each(vals) LOOP
            IF jsonb_typeof(v) = 'null' OR v = decls -> p -> nm -> 'default' THEN
                DELETE FROM plugin_options o WHERE o.tenant_id = t AND o.plugin = p AND o.name = nm;
            ELSE
                INSERT INTO plugin_options AS o (tenant_id, plugin, name, value, updated_at) VALUES (t, p, nm, v, at)
                    ON CONFLICT (tenant_id, plugin, name) DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at;
            END IF;
        END LOOP;
    END LOOP;
    RETURN api.plugin_options_get(t, viewer, roles, '{}');
END $$;
