-- The site's settings and content pages (sql/027_site_settings.sql):
-- everyone reads them, admins change them. The pages render the Markdown
-- through the core (the routes' API_MARKDOWN: _welcome_html, _body_html),
-- raw HTML left out.

-- ---------------------------------------------------------------- settings

-- A notice's end as the site compares it: UTC, to the second, with Z.
CREATE OR REPLACE FUNCTION api.utc_text(v timestamptz) RETURNS text
LANGUAGE sql IMMUTABLE AS $$
    SELECT to_char(v AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"')
$$;

CREATE OR REPLACE FUNCTION api.settings_json(t bigint) RETURNS jsonb
LANGUAGE plpgsql STABLE AS $$
DECLARE
    s site_settings;
BEGIN
    SELECT * INTO s FROM site_settings WHERE tenant_id = t;
    IF NOT FOUND THEN
        RETURN jsonb_build_object('welcome', '', 'welcome_html', '', 'notices', '[]'::jsonb,
                                  'contact', '{}'::jsonb, 'default_lang', NULL,
                                  'accessibility', '{}'::jsonb, 'digest_hour', 7, 'digest_weekday', 1,
                                  'updated_at', NULL, 'updated_by', NULL);
    END IF;
    RETURN jsonb_build_object(
        'welcome', s.welcome, 'welcome_html', s.welcome_html,
        -- Only notices that have not ended.
        'notices', coalesce((SELECT jsonb_agg(n ORDER BY n ->> 'ends_at')
                               FROM jsonb_array_elements(s.notices) n
                              WHERE (n ->> 'ends_at')::timestamptz > now()), '[]'::jsonb),
        'contact', s.contact, 'default_lang', s.default_lang, 'accessibility', s.accessibility,
        'digest_hour', s.digest_hour, 'digest_weekday', s.digest_weekday,
        'updated_at', api.utc_text(s.updated_at),
        'updated_by', (SELECT a.display_name FROM accounts a WHERE a.tenant_id = t AND a.id = s.updated_by));
END $$;

-- The default language of the tenant of the request's transaction, in the
-- registry (platform.tenants.default_lang), which every daemon reloads on
-- the change: the daemon's role may set it only for the tenant it entered,
-- as the owner (a registry table).
CREATE OR REPLACE FUNCTION platform.tenant_default_lang_set(p_lang text) RETURNS void
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    t bigint := platform.entered_tenant();
BEGIN
    IF p_lang IS NOT NULL AND p_lang NOT IN ('nl', 'en') THEN
        RAISE EXCEPTION 'not a language: %', p_lang USING ERRCODE = 'invalid_parameter_value';
    END IF;
    UPDATE platform.tenants x SET default_lang = p_lang WHERE x.id = t AND x.default_lang IS DISTINCT FROM p_lang;
END $$;

CREATE OR REPLACE FUNCTION api.settings_get(t bigint, viewer bigint, roles text, a jsonb) RETURNS jsonb
LANGUAGE sql STABLE AS $$
    SELECT api.ok(api.settings_json(t))
$$;

-- An object of short strings: the keys of ALLOWED only, each a string of
-- at most MAX_LEN characters (empty strings dropped). F: its problem.
CREATE OR REPLACE FUNCTION api.short_strings(v jsonb, name text, allowed text[], max_len int, OUT o jsonb, OUT f jsonb)
LANGUAGE plpgsql IMMUTABLE AS $$
DECLARE
    k text;
    x jsonb;
BEGIN
    o := '{}';
    f := '{}';
    IF jsonb_typeof(v) <> 'object' THEN
        f := api.field(name, 'type', 'Must be an object.');
        RETURN;
    END IF;
    FOR k, x IN SELECT * FROM jsonb_each(v) LOOP
        IF NOT k = ANY (allowed) THEN
            f := api.field(name, 'unknown', format('Unknown key %s; known: %s.', left(k, 40), array_to_string(allowed, ', ')));
            RETURN;
        ELSIF jsonb_typeof(x) = 'null' OR x = '""'::jsonb THEN
            CONTINUE;
        ELSIF jsonb_typeof(x) <> 'string' THEN
            f := api.field(name, 'type', format('%s must be a string.', k));
            RETURN;
        ELSIF length(x #>> '{}') > max_len THEN
            f := api.field(name, 'too_long', format('%s: at most %s characters.', k, max_len));
            RETURN;
        END IF;
        o := o || jsonb_build_object(k, btrim(x #>> '{}'));
    END LOOP;
END $$;

-- The notices A gives: at most 10 of {title (1-200), text (0-1000),
-- ends_at (a date and time with its zone, in the future)}. An empty
-- object is the empty list, as a plugin's empty Lua table arrives (the
-- settings page with every notice's title cleared).
CREATE OR REPLACE FUNCTION api.notices_arg(v jsonb, OUT o jsonb, OUT f jsonb)
LANGUAGE plpgsql STABLE AS $$
DECLARE
    n jsonb;
    title text;
    body text;
    ends record;
BEGIN
    o := '[]';
    f := '{}';
    IF v = '{}'::jsonb THEN
        RETURN;
    ELSIF jsonb_typeof(v) <> 'array' THEN
        f := api.field('notices', 'type', 'Must be an array.');
        RETURN;
    ELSIF jsonb_array_length(v) > 10 THEN
        f := api.field('notices', 'too_long', 'At most 10 notices.');
        RETURN;
    END IF;
    FOR n IN SELECT * FROM jsonb_array_elements(v) LOOP
        IF jsonb_typeof(n) <> 'object' THEN
            f := api.field('notices', 'type', 'Each notice must be an object.');
            RETURN;
        END IF;
        title := btrim(api.text_arg(n, 'title'));
        body := coalesce(btrim(api.text_arg(n, 'text')), '');
        SELECT * INTO ends FROM api.time_arg(n, 'ends_at');
        IF title IS NULL OR title = '' OR length(title) > 200 THEN
            f := api.field('notices', 'required', 'Each notice needs a title of at most 200 characters.');
        ELSIF length(body) > 1000 THEN
            f := api.field('notices', 'too_long', 'A notice''s text: at most 1000 characters.');
        ELSIF ends.bad OR ends.v IS NULL THEN
            f := api.field('notices', 'type', 'Each notice needs ends_at, a date and time with its zone.');
        ELSIF ends.v <= now() THEN
            f := api.field('notices', 'range', 'A notice''s end must lie in the future.');
        END IF;
        IF f <> '{}' THEN
            RETURN;
        END IF;
        o := o || jsonb_build_array(jsonb_build_object('title', title, 'text', body, 'ends_at', api.utc_text(ends.v)));
    END LOOP;
END $$;

-- The accessibility statement after the government's model: status A
-- (complies fully) to E (no statement of compliance yet), the date of the
-- last check, the scope, how to reach the municipality about it, and the
-- known issues with their planned fix.
CREATE OR REPLACE FUNCTION api.accessibility_arg(v jsonb, OUT o jsonb, OUT f jsonb)
LANGUAGE plpgsql STABLE AS $$
DECLARE
    base jsonb;
    i jsonb;
    issues jsonb := '[]'::jsonb;
    s text;
BEGIN
    f := '{}';
    IF jsonb_typeof(v) <> 'object' THEN
        f := api.field('accessibility', 'type', 'Must be an object.');
        RETURN;
    END IF;
    SELECT * INTO base, f FROM api.short_strings(v - 'issues', 'accessibility',
        ARRAY['status', 'date', 'scope', 'contact_email', 'contact_phone', 'evaluation_url'], 1000);
    IF f <> '{}' THEN
        RETURN;
    END IF;
    s := base ->> 'status';
    IF s IS NOT NULL AND s NOT IN ('A', 'B', 'C', 'D', 'E') THEN
        f := api.field('accessibility', 'choice', 'status: one of A, B, C, D, E.');
        RETURN;
    END IF;
    s := base ->> 'date';
    IF s IS NOT NULL AND (s !~ '^[0-9]{4}-[0-9]{2}-[0-9]{2}$' OR NOT api.is_timestamp(s)) THEN
        f := api.field('accessibility', 'type', 'date: a date as YYYY-MM-DD.');
        RETURN;
    END IF;
    s := base ->> 'contact_email';
    IF s IS NOT NULL AND s !~ '^[^@\s]+@[^@\s]+\.[^@\s]+$' THEN
        f := api.field('accessibility', 'email', 'contact_email: an e-mail address.');
        RETURN;
    END IF;
    IF v ? 'issues' AND jsonb_typeof(v -> 'issues') <> 'null' THEN
        IF jsonb_typeof(v -> 'issues') <> 'array' OR jsonb_array_length(v -> 'issues') > 30 THEN
            f := api.field('accessibility', 'type', 'issues: an array of at most 30.');
            RETURN;
        END IF;
        FOR i IN SELECT * FROM jsonb_array_elements(v -> 'issues') LOOP
            SELECT * INTO i, f FROM api.short_strings(i, 'accessibility', ARRAY['description', 'fix', 'planned'], 1000);
            IF f <> '{}' THEN
                RETURN;
            ELSIF NOT i ? 'description' THEN
                f := api.field('accessibility', 'required', 'Each known issue needs a description.');
                RETURN;
            END IF;
            issues := issues || jsonb_build_array(i);
        END LOOP;
    END IF;
    o := base || jsonb_build_object('issues', issues);
END $$;

-- Changes the settings A names (the others stay): welcome (Markdown, at
-- most 5000), notices (the whole list), contact, default_lang (nl, en or
-- null), accessibility (the whole statement), digest_hour (0-23, Amsterdam
-- time) and digest_weekday (1-7, Monday 1): when the notification digests
-- go out (their jobs move at once). Admins only.
CREATE OR REPLACE FUNCTION api.settings_put(t bigint, viewer bigint, roles text, a jsonb) RETURNS jsonb
LANGUAGE plpgsql AS $$
DECLARE
    refused jsonb := api.admin_only(viewer, roles);
    f jsonb := '{}'::jsonb;
    g jsonb;
    v_notices jsonb;
    v_contact jsonb;
    v_access jsonb;
    lang text := api.text_arg(a, 'default_lang');
    k text;
BEGIN
    IF refused IS NOT NULL THEN
        RETURN refused;
    END IF;
    FOR k IN SELECT jsonb_object_keys(a) LOOP
        IF k !~ '^_' AND k NOT IN ('welcome', 'notices', 'contact', 'default_lang', 'accessibility',
                                   'digest_hour', 'digest_weekday') THEN
            f := f || api.field(left(k, 40), 'unknown', 'Not a setting.');
        END IF;
    END LOOP;
    f := api.check_type(f, a, 'welcome', 'string');
    IF length(api.text_arg(a, 'welcome')) > 5000 THEN
        f := f || api.field('welcome', 'too_long', 'At most 5000 characters.');
    END IF;
    f := api.check_type(f, a, 'default_lang', 'string');
    f := api.check_choice(f, 'default_lang', lang, ARRAY['nl', 'en'], false);
    IF a ? 'notices' THEN
        SELECT * INTO v_notices, g FROM api.notices_arg(a -> 'notices');
        f := f || g;
    END IF;
    IF a ? 'contact' THEN
        SELECT * INTO v_contact, g FROM api.short_strings(a -> 'contact', 'contact',
                                                        ARRAY['name', 'email', 'phone', 'address', 'url'], 200);
        f := f || g;
        IF g = '{}' AND v_contact ? 'url' AND v_contact ->> 'url' !~ '^https://[^\s"<>]+$' THEN
            f := f || api.field('contact', 'type', 'url: an https:// address.');
        END IF;
        IF g = '{}' AND v_contact ? 'email' AND v_contact ->> 'email' !~ '^[^@\s]+@[^@\s]+\.[^@\s]+$' THEN
            f := f || api.field('contact', 'email', 'email: an e-mail address.');
        END IF;
    END IF;
    IF a ? 'accessibility' THEN
        SELECT * INTO v_access, g FROM api.accessibility_arg(a -> 'accessibility');
        f := f || g;
    END IF;
    IF a ? 'digest_hour' AND (jsonb_typeof(a -> 'digest_hour') <> 'number' OR (a ->> 'digest_hour') !~ '^[0-9]{1,2}$'
                              OR (a ->> 'digest_hour')::int > 23) THEN
        f := f || api.field('digest_hour', 'range', 'A whole hour from 0 to 23.');
    END IF;
    IF a ? 'digest_weekday' AND (jsonb_typeof(a -> 'digest_weekday') <> 'number' OR (a ->> 'digest_weekday') !~ '^[1-7]$') THEN
        f := f || api.field('digest_weekday', 'range', 'A day of the week from 1 (Monday) to 7 (Sunday).');
    END IF;
    IF f <> '{}' THEN
        RETURN api.invalid(f);
    END IF;
    INSERT INTO site_settings AS s (tenant_id, updated_by, updated_at) VALUES (t, viewer, now())
        ON CONFLICT (tenant_id) DO NOTHING;
    UPDATE site_settings s SET
        welcome = CASE WHEN a ? 'welcome' THEN coalesce(btrim(api.text_arg(a, 'welcome')), '') ELSE s.welcome END,
        welcome_html = CASE WHEN a ? 'welcome' THEN coalesce(a ->> '_welcome_html', '') ELSE s.welcome_html END,
        notices = coalesce(v_notices, s.notices),
        contact = coalesce(v_contact, s.contact),
        default_lang = CASE WHEN a ? 'default_lang' THEN lang ELSE s.default_lang END,
        accessibility = coalesce(v_access, s.accessibility),
        digest_hour = coalesce((a ->> 'digest_hour')::int, s.digest_hour),
        digest_weekday = coalesce((a ->> 'digest_weekday')::int, s.digest_weekday),
        updated_by = viewer, updated_at = now()
     WHERE s.tenant_id = t;
    IF a ? 'default_lang' THEN
        PERFORM platform.tenant_default_lang_set(lang);
    END IF;
    IF a ? 'digest_hour' OR a ? 'digest_weekday' THEN
        PERFORM platform.digests_schedule(t);
    END IF;
    RETURN api.ok(api.settings_json(t));
END $$;

-- ---------------------------------------------------------------- pages

-- A page as the API answers it. It takes the columns, not the row: a
-- query on the pages runs on a Citus worker whole, where the row's type is
-- its shard's (docs/operations.md, "Scaling out").
CREATE OR REPLACE FUNCTION api.page_json(slug text, title text, menu_order int, updated_at timestamptz,
                                         body text, body_html text, with_body boolean) RETURNS jsonb
LANGUAGE sql IMMUTABLE AS $$
    SELECT jsonb_build_object('slug', slug, 'title', title, 'menu_order', menu_order,
                              'updated_at', api.utc_text(updated_at))
           || CASE WHEN with_body THEN jsonb_build_object('body', body, 'body_html', body_html) ELSE '{}' END
$$;

-- All pages, those in the menu first in its order, then by title.
CREATE OR REPLACE FUNCTION api.pages_list(t bigint, viewer bigint, roles text, a jsonb) RETURNS jsonb
LANGUAGE sql STABLE AS $$
    SELECT api.ok(jsonb_build_object('items', coalesce(jsonb_agg(api.page_json(p.slug, p.title, p.menu_order, p.updated_at, NULL, NULL, false)
                                                                 ORDER BY p.menu_order NULLS LAST, p.title, p.slug), '[]'),
                                     'next_cursor', NULL))
      FROM site_pages p WHERE p.tenant_id = t
$$;

CREATE OR REPLACE FUNCTION api.page_get(t bigint, viewer bigint, roles text, a jsonb) RETURNS jsonb
LANGUAGE plpgsql STABLE AS $$
DECLARE
    p site_pages;
BEGIN
    SELECT * INTO p FROM site_pages WHERE tenant_id = t AND slug = api.text_arg(a, 'slug');
    IF NOT FOUND THEN
        RETURN api.not_found();
    END IF;
    RETURN api.ok(api.page_json(p.slug, p.title, p.menu_order, p.updated_at, p.body, p.body_html, true));
END $$;

-- Creates or replaces the page SLUG: title, body (Markdown), menu_order
-- (0-99, or null: not in the menu). 201 when it is new.
CREATE OR REPLACE FUNCTION api.page_put(t bigint, viewer bigint, roles text, a jsonb) RETURNS jsonb
LANGUAGE plpgsql AS $$
DECLARE
    refused jsonb := api.admin_only(viewer, roles);
    f jsonb := '{}'::jsonb;
    v_slug text := api.text_arg(a, 'slug');
    v_title text := btrim(api.text_arg(a, 'title'));
    v_body text := coalesce(api.text_arg(a, 'body'), '');
    v_menu int;
    p site_pages;
    created boolean;
BEGIN
    IF refused IS NOT NULL THEN
        RETURN refused;
    END IF;
    IF v_slug IS NULL OR v_slug !~ '^[a-z0-9][a-z0-9-]{0,59}$' THEN
        f := f || api.field('slug', 'type', 'Lower-case letters, digits and hyphens, at most 60.');
    END IF;
    f := api.check_type(f, a, 'title', 'string');
    f := api.check_text(f, 'title', v_title, 200);
    f := api.check_type(f, a, 'body', 'string');
    f := api.check_text(f, 'body', v_body, 50000, false);
    IF a ? 'menu_order' AND jsonb_typeof(a -> 'menu_order') <> 'null' THEN
        IF jsonb_typeof(a -> 'menu_order') <> 'number' OR (a ->> 'menu_order') !~ '^[0-9]{1,2}$' THEN
            f := f || api.field('menu_order', 'range', 'A whole number from 0 to 99, or null.');
        ELSE
            v_menu := (a ->> 'menu_order')::int;
        END IF;
    END IF;
    IF f <> '{}' THEN
        RETURN api.invalid(f);
    END IF;
    INSERT INTO site_pages AS s (tenant_id, slug, title, body, body_html, menu_order, updated_by, updated_at)
        VALUES (t, v_slug, v_title, v_body, coalesce(a ->> '_body_html', ''), v_menu, viewer, now())
        ON CONFLICT (tenant_id, slug) DO UPDATE SET
            title = EXCLUDED.title, body = EXCLUDED.body, body_html = EXCLUDED.body_html,
            menu_order = EXCLUDED.menu_order, updated_by = EXCLUDED.updated_by, updated_at = EXCLUDED.updated_at
        RETURNING (xmax = 0) INTO created;
    SELECT * INTO p FROM site_pages s WHERE s.tenant_id = t AND s.slug = v_slug;
    RETURN api.ok(api.page_json(p.slug, p.title, p.menu_order, p.updated_at, p.body, p.body_html, true), CASE WHEN created THEN 201 ELSE 200 END);
END $$;

CREATE OR REPLACE FUNCTION api.page_delete(t bigint, viewer bigint, roles text, a jsonb) RETURNS jsonb
LANGUAGE plpgsql AS $$
DECLARE
    refused jsonb := api.admin_only(viewer, roles);
BEGIN
    IF refused IS NOT NULL THEN
        RETURN refused;
    END IF;
    DELETE FROM site_pages WHERE tenant_id = t AND slug = api.text_arg(a, 'slug');
    IF NOT FOUND THEN
        RETURN api.not_found();
    END IF;
    RETURN api.ok(jsonb_build_object('deleted', true));
END $$;
