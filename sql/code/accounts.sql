-- Accounts: who asks (a session cookie or an API token), the account's
-- own answer, every address an account has had or asked for, the links
-- sent by mail (reset, verification, a new address) and deleting an
-- account. Password attempts are counted in limits.sql; API tokens are
-- tokens.sql, members and roles members.sql, the export export.sql.

-- ---------------------------------------------------------------- who asks

-- The account of a session cookie (hash of the token) that is neither idle
-- nor too old; its last_seen_at moves at most once a minute.
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
                      WHERE r.tenant_id = a.tenant_id AND r.account_id = a.id), ''),
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
                      WHERE r.tenant_id = a.tenant_id AND r.account_id = a.id), '')
      FROM api_tokens k JOIN accounts a ON a.tenant_id = k.tenant_id AND a.id = k.account_id
     WHERE k.tenant_id = t AND k.token_hash = decode(hash, 'hex') AND k.revoked_at IS NULL
       AND a.deleted_at IS NULL;
END $$;

CREATE OR REPLACE FUNCTION api.me(t bigint, viewer bigint, roles text, a jsonb) RETURNS jsonb
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
           || CASE WHEN a ? '_csrf' THEN jsonb_build_object('csrf_token', a -> '_csrf') ELSE '{}'::jsonb END
      INTO r FROM accounts x WHERE x.tenant_id = t AND x.id = viewer AND x.deleted_at IS NULL;
    IF r IS NULL THEN
        RETURN api.unauthorized();
    END IF;
    RETURN api.ok(r);
END $$;

-- ---------------------------------------------------------------- addresses

-- Every address an account has had or asked for is kept in
-- account_addresses, with the time it last became the account's (or was
-- asked for): what was sent to it before another account took it is this
-- one's to erase. The account's own address, on accounts ...
CREATE OR REPLACE FUNCTION platform.account_address_kept() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    at timestamptz := now();
BEGIN
    INSERT INTO account_addresses (tenant_id, account_id, email, since) VALUES (NEW.tenant_id, NEW.id, NEW.email, at)
    ON CONFLICT (tenant_id, account_id, email) DO UPDATE SET since = at;
    RETURN NULL;
END $$;

-- ... and an address asked for, on account_tokens.
CREATE OR REPLACE FUNCTION platform.account_address_asked() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO account_addresses (tenant_id, account_id, email) VALUES (NEW.tenant_id, NEW.account_id, NEW.new_email)
    ON CONFLICT (tenant_id, account_id, email) DO NOTHING;
    RETURN NULL;
END $$;

-- The addresses of P_ACCOUNT, each with the time from which what is sent
-- to it belongs to the account that holds it now (NULL: to nobody else).
CREATE OR REPLACE FUNCTION platform.account_addresses_of(p_tenant bigint, p_account bigint)
RETURNS TABLE (email text, since timestamptz, others_from timestamptz)
LANGUAGE sql STABLE AS $$
    SELECT h.email, h.since,
           (SELECT o.since FROM account_addresses o JOIN accounts b ON b.tenant_id = o.tenant_id AND b.id = o.account_id
             WHERE o.tenant_id = p_tenant AND o.email = h.email AND o.account_id <> p_account
               AND b.email = h.email AND b.deleted_at IS NULL)
      FROM account_addresses h WHERE h.tenant_id = p_tenant AND h.account_id = p_account
$$;

-- ---------------------------------------------------------------- links by mail

-- A reset link for an existing, not deleted account: no row for an
-- unknown address, nor when 5 unused ones are still valid (nobody can
-- flood an inbox with reset mails: the page says the same either way).
CREATE OR REPLACE FUNCTION platform.reset_link(p_tenant bigint, p_email text, p_hash text, p_hours int)
RETURNS TABLE (display_name text)
LANGUAGE plpgsql AS $$
DECLARE
    who bigint;
    name text;
    at timestamptz := now();
BEGIN
    SELECT x.id, x.display_name INTO who, name FROM accounts x
     WHERE x.tenant_id = p_tenant AND x.email = p_email AND x.deleted_at IS NULL FOR NO KEY UPDATE;
    IF who IS NULL OR (SELECT count(*) FROM account_tokens o WHERE o.tenant_id = p_tenant AND o.account_id = who
                         AND o.purpose = 'reset' AND o.used_at IS NULL AND o.expires_at > at) >= 5 THEN
        RETURN;
    END IF;
    INSERT INTO account_tokens (tenant_id, token_hash, account_id, purpose, expires_at)
    VALUES (p_tenant, decode(p_hash, 'hex'), who, 'reset', at + make_interval(hours => p_hours));
    display_name := name;
    RETURN NEXT;
END $$;

-- A new verification link for an account that has not confirmed its
-- address: at most five valid ones at a time. No row for any other
-- address.
CREATE OR REPLACE FUNCTION platform.verify_link(p_tenant bigint, p_email text, p_hash text)
RETURNS TABLE (display_name text)
LANGUAGE plpgsql AS $$
DECLARE
    who bigint;
    name text;
    at timestamptz := now();
BEGIN
    SELECT x.id, x.display_name INTO who, name FROM accounts x
     WHERE x.tenant_id = p_tenant AND x.email = p_email AND x.deleted_at IS NULL AND x.email_verified_at IS NULL
       FOR NO KEY UPDATE;
    IF who IS NULL OR (SELECT count(*) FROM account_tokens k WHERE k.tenant_id = p_tenant AND k.account_id = who
                         AND k.purpose = 'verify' AND k.used_at IS NULL AND k.expires_at > at) >= 5 THEN
        RETURN;
    END IF;
    INSERT INTO account_tokens (tenant_id, token_hash, account_id, purpose, expires_at)
    VALUES (p_tenant, decode(p_hash, 'hex'), who, 'verify', at + interval '24 hours');
    display_name := name;
    RETURN NEXT;
END $$;

-- A new address waits for its confirmation link (24 hours): no row when
-- another account of the tenant has the address, nor when the account
-- has 5 valid links out already (the page answers alike).
CREATE OR REPLACE FUNCTION platform.email_link(p_tenant bigint, p_account bigint, p_hash text, p_email text)
RETURNS SETOF bigint
LANGUAGE plpgsql AS $$
DECLARE
    at timestamptz := now();
BEGIN
    PERFORM 1 FROM accounts x WHERE x.tenant_id = p_tenant AND x.id = p_account AND x.deleted_at IS NULL
        FOR NO KEY UPDATE;
    IF NOT FOUND
       OR EXISTS (SELECT 1 FROM accounts b WHERE b.tenant_id = p_tenant AND b.email = p_email)
       OR (SELECT count(*) FROM account_tokens k WHERE k.tenant_id = p_tenant AND k.account_id = p_account
             AND k.purpose = 'email' AND k.used_at IS NULL AND k.expires_at > at) >= 5 THEN
        RETURN;
    END IF;
    INSERT INTO account_tokens (tenant_id, token_hash, account_id, purpose, new_email, expires_at)
    VALUES (p_tenant, decode(p_hash, 'hex'), p_account, 'email', p_email, at + interval '24 hours');
    RETURN NEXT p_account;
END $$;

-- ---------------------------------------------------------------- deleting

-- Deletes P_ACCOUNT's personal data: e-mail, password and name from the
-- row (kept as "voormalig deelnemer" so that contributions keep an
-- author), its sessions, tokens, API tokens, roles, requests to join (with
-- their messages) and addresses, and for every address it had or asked
-- for the mails, invitations and sign-in counts of that address, except
-- what another account that holds the address now was sent since it got
-- it. Answers the id, or nothing when there is no such live account.
CREATE OR REPLACE FUNCTION platform.account_erase(p_tenant bigint, p_account bigint) RETURNS SETOF bigint
LANGUAGE plpgsql AS $$
DECLARE
    gone bigint;
    addrs text[];
    others timestamptz[];
    at timestamptz := now();
BEGIN
    SELECT array_agg(h.email), array_agg(h.others_from) INTO addrs, others FROM (
        SELECT o.email, o.others_from FROM platform.account_addresses_of(p_tenant, p_account) o
        UNION
        SELECT x.email, NULL FROM accounts x WHERE x.tenant_id = p_tenant AND x.id = p_account AND x.email IS NOT NULL) h;
    UPDATE accounts x SET email = NULL, password_hash = NULL, display_name = 'voormalig deelnemer',
                          email_verified_at = NULL, deleted_at = at
     WHERE x.tenant_id = p_tenant AND x.id = p_account AND x.deleted_at IS NULL
    RETURNING x.id INTO gone;
    IF gone IS NULL THEN
        RETURN;
    END IF;
    DELETE FROM sessions s WHERE s.tenant_id = p_tenant AND s.account_id = gone;
    DELETE FROM account_tokens k WHERE k.tenant_id = p_tenant AND k.account_id = gone;
    DELETE FROM api_tokens k WHERE k.tenant_id = p_tenant AND k.account_id = gone;
    DELETE FROM account_roles r WHERE r.tenant_id = p_tenant AND r.account_id = gone;
    DELETE FROM group_requests q WHERE q.tenant_id = p_tenant AND q.account_id = gone;
    DELETE FROM account_addresses h WHERE h.tenant_id = p_tenant AND h.account_id = gone;
    DELETE FROM mail_outbox m USING unnest(addrs, others) AS e(email, others_from)
     WHERE m.tenant_id = p_tenant AND m.to_addr = e.email AND (e.others_from IS NULL OR m.created_at < e.others_from);
    DELETE FROM invitations i USING unnest(addrs, others) AS e(email, others_from)
     WHERE i.tenant_id = p_tenant AND i.email = e.email AND (e.others_from IS NULL OR i.created_at < e.others_from);
    DELETE FROM signin_limits l USING unnest(addrs, others) AS e(email, others_from)
     WHERE l.tenant_id = p_tenant AND l.key = platform.address_key(e.email) AND e.others_from IS NULL;
    RETURN NEXT gone;
END $$;
