-- Sessions: who asks (a session cookie or an API token), signing in and
-- signing out. The core draws the session's token and its CSRF token and
-- checks the password on its hashing queue (core/app/api.h: API_VERIFY,
-- API_SIGNIN); these functions count the attempt, look up the stored hash
-- and write the session. Password attempts are counted in limits.sql.

-- ---------------------------------------------------------------- who asks

-- The account of a session cookie (hash of the token) that is neither idle
-- nor too old; its last_seen_at moves at most once a minute. The one
-- look-up of a session, for the pages and the API alike (the request
-- then commits, so that the move is kept).
CREATE OR REPLACE FUNCTION api.session_principal(t bigint, hash text, idle bigint, absolute bigint)
RETURNS TABLE (account_id bigint, display_name text, roles text, csrf_token text)
LANGUAGE plpgsql AS $$
DECLARE
    at timestamptz := now();
BEGIN
    UPDATE sessions s SET last_seen_at = at
     WHERE s.tenant_id = t AND s.token_hash = decode(hash, 'hex')
       AND s.last_seen_at < at - interval '60 seconds'
       AND s.last_seen_at > at - make_interval(secs => idle);
    RETURN QUERY
    SELECT a.id, a.display_name,
           coalesce((SELECT string_agg(r.role, ' ' ORDER BY r.role) FROM account_roles r
                      WHERE r.tenant_id = t AND r.account_id = a.id), ''),
           s.csrf_token
      FROM sessions s JOIN accounts a ON a.tenant_id = s.tenant_id AND a.id = s.account_id
     WHERE s.tenant_id = t AND s.token_hash = decode(hash, 'hex') AND a.deleted_at IS NULL
       AND s.last_seen_at > at - make_interval(secs => idle)
       AND s.created_at > at - make_interval(secs => absolute);
END $$;

-- The account of an API token that is not revoked.
CREATE OR REPLACE FUNCTION api.token_principal(t bigint, hash text)
RETURNS TABLE (account_id bigint, display_name text, roles text)
LANGUAGE plpgsql AS $$
DECLARE
    at timestamptz := now();
BEGIN
    UPDATE api_tokens k SET last_used_at = at
     WHERE k.tenant_id = t AND k.token_hash = decode(hash, 'hex') AND k.revoked_at IS NULL
       AND (k.last_used_at IS NULL OR k.last_used_at < at - interval '60 seconds');
    RETURN QUERY
    SELECT a.id, a.display_name,
           coalesce((SELECT string_agg(r.role, ' ' ORDER BY r.role) FROM account_roles r
                      WHERE r.tenant_id = t AND r.account_id = a.id), '')
      FROM api_tokens k JOIN accounts a ON a.tenant_id = k.tenant_id AND a.id = k.account_id
     WHERE k.tenant_id = t AND k.token_hash = decode(hash, 'hex') AND k.revoked_at IS NULL
       AND a.deleted_at IS NULL;
END $$;

-- ---------------------------------------------------------------- signing in and out

-- The answer to a sign-in that does not succeed: the same for an unknown
-- address and a wrong password.
CREATE OR REPLACE FUNCTION api.signin_refused() RETURNS jsonb
LANGUAGE sql IMMUTABLE AS $$
    SELECT api.error(401, 'invalid_credentials', 'The e-mail address or the password is not right.')
$$;

-- Sign-in (API_VERIFY, API_SIGNIN, API_ATTEMPTS). The lookup (_lookup)
-- counts the attempt on the address asked for and on the client's address
-- (_client) before anything is hashed, an address without an account
-- alike, and gives the stored hash (NULL: none, and the core does the same
-- work against a dummy); the operation then gets the verdict (_verified),
-- and for a right password stores the session (_session_hash, _new_csrf,
-- both drawn by the core), ends the address's count, takes the attempt off
-- the client's, and keeps a stronger hash of the password when the core
-- made one (_password_hash). The core replaces the password by its length
-- (_password_bytes): an empty or over-long one is refused uncounted.
CREATE OR REPLACE FUNCTION api.session_create(t bigint, viewer bigint, roles text, a jsonb) RETURNS jsonb
LANGUAGE plpgsql AS $$
DECLARE
    addr text := api.text_arg(a, 'email');
    bytes bigint := CASE WHEN jsonb_typeof(a -> '_password_bytes') = 'number' THEN (a ->> '_password_bytes')::bigint END;
    client text := 'ip:' || coalesce(a ->> '_client', '');
    akey text;
    allowed boolean;
    wait int;
    who bigint;
    stored text;
BEGIN
    IF addr IS NULL THEN
        RETURN api.invalid(api.field('email', 'required', 'This field is required.'));
    END IF;
    IF bytes IS NULL THEN
        RETURN api.invalid(api.field('password', 'required', 'This field is required.'));
    END IF;
    IF addr = '' OR octet_length(addr) > 254 OR bytes = 0 OR bytes > 1024 THEN
        RETURN api.signin_refused();
    END IF;
    addr := lower(addr);
    akey := platform.address_key(addr);
    IF a ? '_lookup' THEN
        SELECT r.allowed, r.retry_after INTO allowed, wait
          FROM platform.attempt(t, ARRAY[akey, client], ARRAY[100, 300]) r;
        IF NOT allowed THEN
            RETURN api.limited(wait);
        END IF;
        SELECT x.password_hash INTO stored FROM accounts x
         WHERE x.tenant_id = t AND x.email = addr AND x.deleted_at IS NULL;
        RETURN api.proceed(jsonb_build_object('password_hash', stored));
    END IF;
    IF (a ->> '_verified') IS DISTINCT FROM 'true' THEN
        RETURN api.signin_refused();    -- the attempt was counted by the lookup: nothing to write
    END IF;
    SELECT x.id INTO who FROM accounts x WHERE x.tenant_id = t AND x.email = addr AND x.deleted_at IS NULL;
    IF who IS NULL THEN
        RETURN api.signin_refused();
    END IF;
    INSERT INTO sessions (tenant_id, token_hash, account_id, csrf_token)
    VALUES (t, decode(a ->> '_session_hash', 'hex'), who, a ->> '_new_csrf');
    PERFORM platform.attempt_good(t, ARRAY[akey], ARRAY[client]);
    IF a ? '_password_hash' THEN
        UPDATE accounts x SET password_hash = a ->> '_password_hash' WHERE x.tenant_id = t AND x.id = who;
    END IF;
    RETURN api.ok(jsonb_build_object('csrf_token', a ->> '_new_csrf'));
END $$;

-- Sign-out (API_SIGNOUT): ends this request's session (_session, the hash
-- of its cookie), if it has one; the core clears the cookie.
CREATE OR REPLACE FUNCTION api.session_delete(t bigint, viewer bigint, roles text, a jsonb) RETURNS jsonb
LANGUAGE plpgsql AS $$
BEGIN
    IF a ? '_session' THEN
        DELETE FROM sessions s WHERE s.tenant_id = t AND s.token_hash = decode(a ->> '_session', 'hex');
    END IF;
    RETURN api.ok(jsonb_build_object('signed_out', true));
END $$;
