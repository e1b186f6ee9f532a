-- API tokens for integrations: shown once, listed, revoked; at most 20
-- live ones per account. The daemon draws the secret and passes its hash
-- as _secret_hash; the secret itself is shown once, in the answer, and
-- never stored.

-- Tokens IDS, in the order of IDS.
CREATE OR REPLACE FUNCTION api.tokens_json(t bigint, ids bigint[]) RETURNS jsonb
LANGUAGE plpgsql STABLE AS $$
BEGIN
    RETURN (SELECT coalesce(jsonb_agg(jsonb_build_object('id', k.id, 'name', k.name, 'created_at', k.created_at,
                                                     'last_used_at', k.last_used_at, 'revoked_at', k.revoked_at)
                                  ORDER BY o.pos), '[]'::jsonb)
          FROM unnest(ids) WITH ORDINALITY AS o(id, pos)
          JOIN api_tokens k ON k.tenant_id = t AND k.id = o.id);
END $$;

CREATE OR REPLACE FUNCTION api.tokens_list(t bigint, viewer bigint, roles text, a jsonb) RETURNS jsonb
LANGUAGE plpgsql STABLE AS $$
DECLARE
    lim int := api.page_limit(a);
    after bigint := api.cursor_id(a);
    ids bigint[];
BEGIN
    IF viewer IS NULL THEN
        RETURN api.unauthorized();
    END IF;
    IF after = -1 THEN
        RETURN api.bad_cursor();
    END IF;
    ids := ARRAY(SELECT k.id FROM api_tokens k WHERE k.tenant_id = t AND k.account_id = viewer
                    AND (after IS NULL OR k.id < after) ORDER BY k.id DESC LIMIT lim + 1);
    RETURN api.ok(api.page(api.tokens_json(t, ids), lim));
END $$;

CREATE OR REPLACE FUNCTION api.token_create(t bigint, viewer bigint, roles text, a jsonb) RETURNS jsonb
LANGUAGE plpgsql AS $$
DECLARE
    f jsonb := '{}'::jsonb;
    name text := api.text_arg(a, 'name');
    kid bigint;
BEGIN
    IF viewer IS NULL THEN
        RETURN api.unauthorized();
    END IF;
    f := api.check_type(f, a, 'name', 'string');
    f := api.check_text(f, 'name', name, 100);
    IF f <> '{}'::jsonb THEN
        RETURN api.invalid(f);
    END IF;
    -- One at a time per account: the count below sees every token made
    -- before the lock was ours.
    PERFORM 1 FROM accounts x WHERE x.tenant_id = t AND x.id = viewer FOR NO KEY UPDATE;
    IF (SELECT count(*) FROM api_tokens x WHERE x.tenant_id = t AND x.account_id = viewer AND x.revoked_at IS NULL) >= 20 THEN
        RETURN api.error(409, 'too_many', 'At most 20 active API tokens per account; revoke one first.');
    END IF;
    INSERT INTO api_tokens (tenant_id, account_id, name, token_hash)
    VALUES (t, viewer, btrim(name), decode(a ->> '_secret_hash', 'hex')) RETURNING id INTO kid;
    RETURN api.ok(api.tokens_json(t, ARRAY[kid]) -> 0, 201);
END $$;

CREATE OR REPLACE FUNCTION api.token_revoke(t bigint, viewer bigint, roles text, a jsonb) RETURNS jsonb
LANGUAGE plpgsql AS $$
DECLARE
    kid bigint;
    at timestamptz := now();
BEGIN
    IF viewer IS NULL THEN
        RETURN api.unauthorized();
    END IF;
    UPDATE api_tokens x SET revoked_at = coalesce(x.revoked_at, at)
     WHERE x.tenant_id = t AND x.account_id = viewer AND x.id = (a ->> 'id')::bigint RETURNING x.id INTO kid;
    IF kid IS NULL THEN
        RETURN api.not_found();
    END IF;
    RETURN api.ok(api.tokens_json(t, ARRAY[kid]) -> 0);
END $$;
