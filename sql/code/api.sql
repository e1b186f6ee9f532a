-- The frame of the JSON API. Each operation is one function
--   api.NAME(t bigint, viewer bigint, roles text, a jsonb) RETURNS jsonb
-- called by the daemon in the request's transaction with the tenant, the
-- signed-in account (NULL for a guest), that account's tenant roles
-- ("admin facilitator member", as granted) and the arguments (query, body
-- and path parameters; keys starting with "_" are set by the daemon only).
-- It answers {"status": N, "body": …}; an error body is always
-- {"error": {"code", "message", "fields"}}. An operation whose route has
-- API_EVENTS may add "events": [{"name", "data"}, …] (api.event), which the
-- core fires for the tenant's plugins after a success and never answers;
-- the lookup of a route with password steps (API_HASH, API_VERIFY)
-- answers status 100 (api.proceed) to let the core go on (core/app/api.h). The site's pages call the same
-- functions through the Lua runtime, so the pages and the API share one set
-- of rules. The functions run as the caller (row-level security applies)
-- and also filter on t explicitly so that the indexes are used.
--
-- This file holds what every operation uses: the answers, the checks of
-- arguments and cursor pagination. Who may see what is visibility.sql.

-- ---------------------------------------------------------------- answers

CREATE OR REPLACE FUNCTION api.ok(body jsonb, status int DEFAULT 200) RETURNS jsonb
LANGUAGE sql IMMUTABLE AS $$
    SELECT jsonb_build_object('status', status, 'body', body)
$$;

CREATE OR REPLACE FUNCTION api.error(status int, code text, message text, fields jsonb DEFAULT '{}') RETURNS jsonb
LANGUAGE sql IMMUTABLE AS $$
    SELECT jsonb_build_object('status', status, 'body',
        jsonb_build_object('error', jsonb_build_object('code', code, 'message', message,
                                                       'fields', coalesce(fields, '{}'))))
$$;

CREATE OR REPLACE FUNCTION api.unauthorized() RETURNS jsonb
LANGUAGE sql IMMUTABLE AS $$
    SELECT api.error(401, 'unauthorized', 'Sign in or send an API token.')
$$;

CREATE OR REPLACE FUNCTION api.forbidden(message text DEFAULT 'You may not do this.') RETURNS jsonb
LANGUAGE sql IMMUTABLE AS $$
    SELECT api.error(403, 'forbidden', message)
$$;

CREATE OR REPLACE FUNCTION api.not_found() RETURNS jsonb
LANGUAGE sql IMMUTABLE AS $$
    SELECT api.error(404, 'not_found', 'There is nothing here.')
$$;

CREATE OR REPLACE FUNCTION api.invalid(fields jsonb) RETURNS jsonb
LANGUAGE sql IMMUTABLE AS $$
    SELECT api.error(422, 'invalid', 'Some fields are not valid.', fields)
$$;

-- A 429 with the seconds until a place is free again, which the daemon
-- also sends as Retry-After.
CREATE OR REPLACE FUNCTION api.too_many(message text, seconds int) RETURNS jsonb
LANGUAGE sql IMMUTABLE AS $$
    SELECT jsonb_set(api.error(429, 'too_many', message), '{body,error,retry_after}', to_jsonb(greatest(seconds, 1)))
$$;

-- A 429 for too many password attempts (platform.attempt), with the
-- seconds until the window ends.
CREATE OR REPLACE FUNCTION api.limited(seconds int) RETURNS jsonb
LANGUAGE sql IMMUTABLE AS $$
    SELECT jsonb_set(api.error(429, 'limited', format('Too many failed attempts; try again in %s seconds.',
                                                      greatest(seconds, 1))),
                     '{body,error,retry_after}', to_jsonb(greatest(seconds, 1)))
$$;

-- One field's problem, for api.invalid.
CREATE OR REPLACE FUNCTION api.field(name text, code text, message text) RETURNS jsonb
LANGUAGE sql IMMUTABLE AS $$
    SELECT jsonb_build_object(name, jsonb_build_object('code', code, 'message', message))
$$;

-- The lookup of an operation with password steps found nothing to refuse:
-- the core goes on (verifies or hashes on its hashing queue, then calls the
-- operation again). BODY holds what the core needs: password_hash, the
-- stored hash to check a password against (NULL: none, the dummy work).
CREATE OR REPLACE FUNCTION api.proceed(body jsonb DEFAULT '{}') RETURNS jsonb
LANGUAGE sql IMMUTABLE AS $$
    SELECT jsonb_build_object('status', 100, 'body', body)
$$;

-- ANSWER with the event NAME added, fired with DATA for the tenant's
-- plugins once the operation succeeded (the site plugin's hooks mail).
CREATE OR REPLACE FUNCTION api.event(answer jsonb, name text, data jsonb) RETURNS jsonb
LANGUAGE sql IMMUTABLE AS $$
    SELECT answer || jsonb_build_object('events', coalesce(answer -> 'events', '[]'::jsonb)
                                                  || jsonb_build_array(jsonb_build_object('name', name, 'data', data)))
$$;

-- ---------------------------------------------------------------- roles

CREATE OR REPLACE FUNCTION api.has_role(roles text, role text) RETURNS boolean
LANGUAGE sql IMMUTABLE AS $$
    SELECT role = ANY (string_to_array(coalesce(roles, ''), ' '))
$$;

CREATE OR REPLACE FUNCTION api.admin_only(viewer bigint, roles text) RETURNS jsonb
LANGUAGE sql IMMUTABLE AS $$
    SELECT CASE WHEN viewer IS NULL THEN api.unauthorized()
                WHEN NOT api.has_role(roles, 'admin') THEN api.error(403, 'forbidden', 'Only administrators may do this.')
           END
$$;

-- ---------------------------------------------------------------- arguments

-- A string argument: NULL when absent; "not a string" is reported by the
-- caller through api.check_type.
CREATE OR REPLACE FUNCTION api.text_arg(a jsonb, name text) RETURNS text
LANGUAGE sql IMMUTABLE AS $$
    SELECT CASE WHEN jsonb_typeof(a -> name) = 'string' THEN a ->> name END
$$;

-- An id argument, as a JSON number or a string of digits: NULL otherwise.
CREATE OR REPLACE FUNCTION api.id_arg(a jsonb, name text) RETURNS bigint
LANGUAGE sql IMMUTABLE AS $$
    SELECT CASE WHEN jsonb_typeof(a -> name) = 'number' AND (a ->> name) ~ '^[1-9][0-9]{0,17}$' THEN (a ->> name)::bigint
                WHEN jsonb_typeof(a -> name) = 'string' AND (a ->> name) ~ '^[1-9][0-9]{0,17}$' THEN (a ->> name)::bigint
           END
$$;

-- Adds a field's problem to F when VALUE (trimmed) is missing or too long.
CREATE OR REPLACE FUNCTION api.check_text(f jsonb, name text, value text, max_len int, required boolean DEFAULT true)
RETURNS jsonb LANGUAGE sql IMMUTABLE AS $$
    SELECT CASE
        WHEN f ? name OR (value IS NULL AND NOT required) THEN f
        WHEN value IS NULL OR btrim(value) = '' THEN
            f || jsonb_build_object(name, jsonb_build_object('code', 'required', 'message', 'This field is required.'))
        WHEN length(value) > max_len THEN
            f || jsonb_build_object(name, jsonb_build_object('code', 'too_long',
                                    'message', format('At most %s characters.', max_len)))
        ELSE f END
$$;

CREATE OR REPLACE FUNCTION api.check_type(f jsonb, a jsonb, name text, want text) RETURNS jsonb
LANGUAGE sql IMMUTABLE AS $$
    SELECT CASE WHEN a ? name AND jsonb_typeof(a -> name) <> want AND jsonb_typeof(a -> name) <> 'null' THEN
        f || jsonb_build_object(name, jsonb_build_object('code', 'type', 'message', format('Must be a %s.', want)))
        ELSE f END
$$;

CREATE OR REPLACE FUNCTION api.check_choice(f jsonb, name text, value text, choices text[], required boolean DEFAULT true)
RETURNS jsonb LANGUAGE sql IMMUTABLE AS $$
    SELECT CASE
        WHEN f ? name OR (value IS NULL AND NOT required) THEN f
        WHEN value IS NULL THEN f || jsonb_build_object(name, jsonb_build_object('code', 'required', 'message', 'This field is required.'))
        WHEN NOT value = ANY (choices) THEN
            f || jsonb_build_object(name, jsonb_build_object('code', 'choice',
                                    'message', 'One of: ' || array_to_string(choices, ', ') || '.'))
        ELSE f END
$$;

-- ---------------------------------------------------------------- pages

-- Cursor pagination: the cursor is opaque to clients (base64url of the
-- last item's sort key); a page holds 1..100 items, 20 by default.
CREATE OR REPLACE FUNCTION api.cursor(id bigint) RETURNS text
LANGUAGE sql IMMUTABLE AS $$
    SELECT rtrim(translate(encode(convert_to('k' || id::text, 'UTF8'), 'base64'), '+/', '-_'), '=')
$$;

-- The id in a cursor; NULL without one; -1 when it is not one of ours.
CREATE OR REPLACE FUNCTION api.cursor_id(a jsonb) RETURNS bigint
LANGUAGE plpgsql IMMUTABLE AS $$
DECLARE
    c text := a ->> 'cursor';
    s text;
BEGIN
    IF c IS NULL OR c = '' THEN
        RETURN NULL;
    END IF;
    IF c !~ '^[A-Za-z0-9_-]{1,32}$' THEN
        RETURN -1::bigint;
    END IF;
    c := translate(c, '-_', '+/');
    c := c || repeat('=', (4 - length(c) % 4) % 4);
    s := convert_from(decode(c, 'base64'), 'UTF8');
    IF s !~ '^k[0-9]{1,18}$' THEN
        RETURN -1::bigint;
    END IF;
    RETURN substr(s, 2)::bigint;
EXCEPTION WHEN others THEN
    RETURN -1::bigint;
END $$;

CREATE OR REPLACE FUNCTION api.page_limit(a jsonb) RETURNS int
LANGUAGE sql IMMUTABLE AS $$
    SELECT CASE WHEN a ->> 'limit' ~ '^[0-9]{1,4}$' THEN least(greatest((a ->> 'limit')::int, 1), 100) ELSE 20 END
$$;

CREATE OR REPLACE FUNCTION api.bad_cursor() RETURNS jsonb
LANGUAGE sql IMMUTABLE AS $$
    SELECT api.error(400, 'invalid_cursor', 'The cursor is not valid.',
                     jsonb_build_object('cursor', jsonb_build_object('code', 'invalid', 'message', 'Not a cursor of this list.')))
$$;

-- One page from ITEMS (a JSON array of LIMIT + 1 at most, each with an
-- "id"): the extra item only says that a next page exists.
CREATE OR REPLACE FUNCTION api.page(items jsonb, lim int) RETURNS jsonb
LANGUAGE sql IMMUTABLE AS $$
    SELECT jsonb_build_object(
        'items', coalesce((SELECT jsonb_agg(e ORDER BY n) FROM jsonb_array_elements(coalesce(items, '[]')) WITH ORDINALITY x(e, n)
                            WHERE n <= lim), '[]'),
        'next_cursor', CASE WHEN jsonb_array_length(coalesce(items, '[]')) > lim
                            THEN to_jsonb(api.cursor(((items -> (lim - 1)) ->> 'id')::bigint)) ELSE 'null' END)
$$;
