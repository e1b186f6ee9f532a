-- The JSON API's operations. Each operation is one function
--   api.NAME(t bigint, viewer bigint, roles text, a jsonb) RETURNS jsonb
-- called by the daemon in the request's transaction with the tenant, the
-- signed-in account (NULL for a guest), that account's tenant roles
-- ("admin facilitator member", as granted) and the arguments (query, body
-- and path parameters; keys starting with "_" are set by the daemon only).
-- It answers {"status": N, "body": …}; an error body is always
-- {"error": {"code", "message", "fields"}}. The site's pages call the same
-- functions through the Lua runtime, so the pages and the API share one set
-- of rules. The functions run as the caller (row-level security applies)
-- and also filter on t explicitly so that the indexes are used.

CREATE SCHEMA api;
GRANT USAGE ON SCHEMA api TO aantafel_app;


CREATE FUNCTION api.ok(body jsonb, status int DEFAULT 200) RETURNS jsonb
LANGUAGE sql IMMUTABLE AS $$
    SELECT jsonb_build_object('status', status, 'body', body)
$$;

CREATE FUNCTION api.error(status int, code text, message text, fields jsonb DEFAULT '{}') RETURNS jsonb
LANGUAGE sql IMMUTABLE AS $$
    SELECT jsonb_build_object('status', status, 'body',
        jsonb_build_object('error', jsonb_build_object('code', code, 'message', message,
                                                       'fields', coalesce(fields, '{}'))))
$$;

CREATE FUNCTION api.unauthorized() RETURNS jsonb
LANGUAGE sql IMMUTABLE AS $$
    SELECT api.error(401, 'unauthorized', 'Sign in or send an API token.')
$$;

CREATE FUNCTION api.not_found() RETURNS jsonb
LANGUAGE sql IMMUTABLE AS $$
    SELECT api.error(404, 'not_found', 'There is nothing here.')
$$;

CREATE FUNCTION api.invalid(fields jsonb) RETURNS jsonb
LANGUAGE sql IMMUTABLE AS $$
    SELECT api.error(422, 'invalid', 'Some fields are not valid.', fields)
$$;

CREATE FUNCTION api.has_role(roles text, role text) RETURNS boolean
LANGUAGE sql IMMUTABLE AS $$
    SELECT role = ANY (string_to_array(coalesce(roles, ''), ' '))
$$;

-- Adds a field's problem to F when VALUE (trimmed) is missing or too long.
CREATE FUNCTION api.check_text(f jsonb, name text, value text, max_len int, required boolean DEFAULT true)
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

-- A string argument: NULL when absent; "not a string" is reported by the
-- caller through api.check_type.
CREATE FUNCTION api.text_arg(a jsonb, name text) RETURNS text
LANGUAGE sql IMMUTABLE AS $$
    SELECT CASE WHEN jsonb_typeof(a -> name) = 'string' THEN a ->> name END
$$;

CREATE FUNCTION api.check_type(f jsonb, a jsonb, name text, want text) RETURNS jsonb
LANGUAGE sql IMMUTABLE AS $$
    SELECT CASE WHEN a ? name AND jsonb_typeof(a -> name) <> want AND jsonb_typeof(a -> name) <> 'null' THEN
        f || jsonb_build_object(name, jsonb_build_object('code', 'type', 'message', format('Must be a %s.', want)))
        ELSE f END
$$;

-- Cursor pagination: the cursor is opaque to clients (base64url of the
-- last item's sort key); a page holds 1..100 items, 20 by default.
CREATE FUNCTION api.cursor(id bigint) RETURNS text
LANGUAGE sql IMMUTABLE AS $$
    SELECT rtrim(translate(encode(convert_to('k' || id::text, 'UTF8'), 'base64'), '+/', '-_'), '=')
$$;

-- The id in a cursor; NULL without one; -1 when it is not one of ours.
CREATE FUNCTION api.cursor_id(a jsonb) RETURNS bigint
LANGUAGE plpgsql IMMUTABLE AS $$
DECLARE
    c text := a ->> 'cursor';
    s text;
BEGIN
    IF c IS NULL OR c = '' THEN
        RETURN NULL;
    END IF;
    IF c !~ '^[A-Za-z0-9_-]{1,32}$' THEN
        RETURN -1;
    END IF;
    c := translate(c, '-_', '+/');
    c := c || repeat('=', (4 - length(c) % 4) % 4);
    s := convert_from(decode(c, 'base64'), 'UTF8');
    IF s !~ '^k[0-9]{1,18}$' THEN
        RETURN -1;
    END IF;
    RETURN substr(s, 2)::bigint;
EXCEPTION WHEN others THEN
    RETURN -1;
END $$;

CREATE FUNCTION api.page_limit(a jsonb) RETURNS int
LANGUAGE sql IMMUTABLE AS $$
    SELECT CASE WHEN a ->> 'limit' ~ '^[0-9]{1,4}$' THEN least(greatest((a ->> 'limit')::int, 1), 100) ELSE 20 END
$$;

CREATE FUNCTION api.bad_cursor() RETURNS jsonb
LANGUAGE sql IMMUTABLE AS $$
    SELECT api.error(400, 'invalid_cursor', 'The cursor is not valid.',
                     jsonb_build_object('cursor', jsonb_build_object('code', 'invalid', 'message', 'Not a cursor of this list.')))
$$;

-- One page from ITEMS (a JSON array of LIMIT + 1 at most, each with an
-- "id"): the extra item only says that a next page exists.
CREATE FUNCTION api.page(items jsonb, lim int) RETURNS jsonb
LANGUAGE sql IMMUTABLE AS $$
    SELECT jsonb_build_object(
        'items', coalesce((SELECT jsonb_agg(e ORDER BY n) FROM jsonb_array_elements(coalesce(items, '[]')) WITH ORDINALITY x(e, n)
                            WHERE n <= lim), '[]'),
        'next_cursor', CASE WHEN jsonb_array_length(coalesce(items, '[]')) > lim
                            THEN to_jsonb(api.cursor(((items -> (lim - 1)) ->> 'id')::bigint)) ELSE 'null' END)
$$;

-- ---------------------------------------------------------------- who asks

-- The account of a session cookie (hash of the token) that is neither idle
-- nor too old; its last_seen_at moves at most once a minute.
CREATE FUNCTION api.session_principal(t bigint, hash text, idle bigint, absolute bigint)
RETURNS TABLE (account_id bigint, display_name text, roles text, csrf_token text)
LANGUAGE plpgsql AS $$
BEGIN
    UPDATE sessions s SET last_seen_at = now()
     WHERE s.tenant_id = t AND s.token_hash = decode(hash, 'hex')
       AND s.last_seen_at < now() - interval '60 seconds'
       AND s.last_seen_at > now() - make_interval(secs => idle);
    RETURN QUERY
    SELECT a.id, a.display_name,
           coalesce((SELECT string_agg(r.role, ' ' ORDER BY r.role) FROM account_roles r
                      WHERE r.tenant_id = a.tenant_id AND r.account_id = a.id), ''),
           s.csrf_token
      FROM sessions s JOIN accounts a ON a.tenant_id = s.tenant_id AND a.id = s.account_id
     WHERE s.tenant_id = t AND s.token_hash = decode(hash, 'hex') AND a.deleted_at IS NULL
       AND s.last_seen_at > now() - make_interval(secs => idle)
       AND s.created_at > now() - make_interval(secs => absolute);
END $$;

-- The account of an API token that is not revoked.
CREATE FUNCTION api.token_principal(t bigint, hash text)
RETURNS TABLE (account_id bigint, display_name text, roles text)
LANGUAGE plpgsql AS $$
BEGIN
    UPDATE api_tokens k SET last_used_at = now()
     WHERE k.tenant_id = t AND k.token_hash = decode(hash, 'hex') AND k.revoked_at IS NULL
       AND (k.last_used_at IS NULL OR k.last_used_at < now() - interval '60 seconds');
    RETURN QUERY
    SELECT a.id, a.display_name,
           coalesce((SELECT string_agg(r.role, ' ' ORDER BY r.role) FROM account_roles r
                      WHERE r.tenant_id = a.tenant_id AND r.account_id = a.id), '')
      FROM api_tokens k JOIN accounts a ON a.tenant_id = k.tenant_id AND a.id = k.account_id
     WHERE k.tenant_id = t AND k.token_hash = decode(hash, 'hex') AND k.revoked_at IS NULL
       AND a.deleted_at IS NULL;
END $$;

-- ---------------------------------------------------------------- me

CREATE FUNCTION api.me(t bigint, viewer bigint, roles text, a jsonb) RETURNS jsonb
LANGUAGE plpgsql STABLE AS $$
DECLARE
    r jsonb;
BEGIN
    IF viewer IS NULL THEN
        RETURN api.unauthorized();
    END IF;
    SELECT jsonb_build_object('id', x.id, 'name', x.display_name, 'email', x.email,
                              'email_verified', x.email_verified_at IS NOT NULL,
                              'roles', to_jsonb(coalesce(string_to_array(nullif(roles, ''), ' '), '{}'::text[])),
                              'created_at', x.created_at)
           || CASE WHEN a ? '_csrf' THEN jsonb_build_object('csrf_token', a -> '_csrf') ELSE '{}' END
      INTO r FROM accounts x WHERE x.tenant_id = t AND x.id = viewer AND x.deleted_at IS NULL;
    IF r IS NULL THEN
        RETURN api.unauthorized();
    END IF;
    RETURN api.ok(r);
END $$;

-- ---------------------------------------------------------------- API tokens

CREATE FUNCTION api.token_json(k api_tokens) RETURNS jsonb
LANGUAGE sql STABLE AS $$
    SELECT jsonb_build_object('id', k.id, 'name', k.name, 'created_at', k.created_at,
                              'last_used_at', k.last_used_at, 'revoked_at', k.revoked_at)
$$;

CREATE FUNCTION api.tokens_list(t bigint, viewer bigint, roles text, a jsonb) RETURNS jsonb
LANGUAGE plpgsql STABLE AS $$
DECLARE
    lim int := api.page_limit(a);
    after bigint := api.cursor_id(a);
BEGIN
    IF viewer IS NULL THEN
        RETURN api.unauthorized();
    END IF;
    IF after = -1 THEN
        RETURN api.bad_cursor();
    END IF;
    RETURN api.ok(api.page((SELECT jsonb_agg(api.token_json(k) ORDER BY k.id DESC) FROM (
        SELECT * FROM api_tokens k WHERE k.tenant_id = t AND k.account_id = viewer
           AND (after IS NULL OR k.id < after) ORDER BY k.id DESC LIMIT lim + 1) k), lim));
END $$;

-- The daemon draws the secret and passes its hash as _secret_hash; the
-- secret itself is shown once, in the answer, and never stored.
CREATE FUNCTION api.token_create(t bigint, viewer bigint, roles text, a jsonb) RETURNS jsonb
LANGUAGE plpgsql AS $$
DECLARE
    f jsonb := '{}';
    name text := api.text_arg(a, 'name');
    k api_tokens;
BEGIN
    IF viewer IS NULL THEN
        RETURN api.unauthorized();
    END IF;
    f := api.check_type(f, a, 'name', 'string');
    f := api.check_text(f, 'name', name, 100);
    IF f <> '{}' THEN
        RETURN api.invalid(f);
    END IF;
    IF (SELECT count(*) FROM api_tokens x WHERE x.tenant_id = t AND x.account_id = viewer AND x.revoked_at IS NULL) >= 20 THEN
        RETURN api.error(409, 'too_many', 'At most 20 active API tokens per account; revoke one first.');
    END IF;
    INSERT INTO api_tokens (tenant_id, account_id, name, token_hash)
    VALUES (t, viewer, btrim(name), decode(a ->> '_secret_hash', 'hex')) RETURNING * INTO k;
    RETURN api.ok(api.token_json(k), 201);
END $$;

CREATE FUNCTION api.token_revoke(t bigint, viewer bigint, roles text, a jsonb) RETURNS jsonb
LANGUAGE plpgsql AS $$
DECLARE
    k api_tokens;
BEGIN
    IF viewer IS NULL THEN
        RETURN api.unauthorized();
    END IF;
    UPDATE api_tokens x SET revoked_at = coalesce(x.revoked_at, now())
     WHERE x.tenant_id = t AND x.account_id = viewer AND x.id = (a ->> 'id')::bigint RETURNING * INTO k;
    IF k IS NULL THEN
        RETURN api.not_found();
    END IF;
    RETURN api.ok(api.token_json(k));
END $$;

-- ---------------------------------------------------------------- members (admins)

CREATE FUNCTION api.member_json(t bigint, x accounts) RETURNS jsonb
LANGUAGE sql STABLE AS $$
    SELECT jsonb_build_object('id', x.id, 'name', x.display_name, 'email', x.email,
        'email_verified', x.email_verified_at IS NOT NULL,
        'roles', coalesce((SELECT jsonb_agg(r.role ORDER BY r.role) FROM account_roles r
                            WHERE r.tenant_id = t AND r.account_id = x.id), '[]'),
        'created_at', x.created_at)
$$;

CREATE FUNCTION api.admin_only(viewer bigint, roles text) RETURNS jsonb
LANGUAGE sql IMMUTABLE AS $$
    SELECT CASE WHEN viewer IS NULL THEN api.unauthorized()
                WHEN NOT api.has_role(roles, 'admin') THEN api.error(403, 'forbidden', 'Only administrators may do this.')
           END
$$;

CREATE FUNCTION api.members_list(t bigint, viewer bigint, roles text, a jsonb) RETURNS jsonb
LANGUAGE plpgsql STABLE AS $$
DECLARE
    lim int := api.page_limit(a);
    after bigint := api.cursor_id(a);
    refused jsonb := api.admin_only(viewer, roles);
BEGIN
    IF refused IS NOT NULL THEN
        RETURN refused;
    END IF;
    IF after = -1 THEN
        RETURN api.bad_cursor();
    END IF;
    RETURN api.ok(api.page((SELECT jsonb_agg(api.member_json(t, x) ORDER BY x.id) FROM (
        SELECT * FROM accounts x WHERE x.tenant_id = t AND x.deleted_at IS NULL
           AND (after IS NULL OR x.id > after) ORDER BY x.id LIMIT lim + 1) x), lim));
END $$;

CREATE FUNCTION api.member_role(t bigint, viewer bigint, roles text, a jsonb) RETURNS jsonb
LANGUAGE plpgsql AS $$
DECLARE
    refused jsonb := api.admin_only(viewer, roles);
    who bigint := (a ->> 'id')::bigint;
    want text := a ->> 'role';
    x accounts;
BEGIN
    IF refused IS NOT NULL THEN
        RETURN refused;
    END IF;
    SELECT * INTO x FROM accounts y WHERE y.tenant_id = t AND y.id = who AND y.deleted_at IS NULL;
    IF x IS NULL OR want NOT IN ('admin', 'facilitator', 'member') THEN
        RETURN api.not_found();
    END IF;
    IF a ->> '_method' = 'PUT' THEN
        INSERT INTO account_roles (tenant_id, account_id, role) VALUES (t, who, want) ON CONFLICT DO NOTHING;
    ELSIF who = viewer AND want = 'admin' THEN
        RETURN api.error(409, 'own_admin', 'An administrator cannot take the admin role from themselves.');
    ELSE
        DELETE FROM account_roles r WHERE r.tenant_id = t AND r.account_id = who AND r.role = want;
    END IF;
    RETURN api.ok(api.member_json(t, x));
END $$;

REVOKE EXECUTE ON ALL FUNCTIONS IN SCHEMA api FROM PUBLIC;
GRANT EXECUTE ON ALL FUNCTIONS IN SCHEMA api TO aantafel_app;
