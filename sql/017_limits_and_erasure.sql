-- Limits that hold under concurrency, attempt counts that cannot tell
-- whether an address has an account, and deleting an account that finds
-- every address it ever had.
--
-- * Attempts (sign-in, sign-up, the current password on a change) are
--   counted before any hashing by platform.attempt, which locks each
--   counter row and counts the attempt in one go: two attempts on one
--   counter wait for each other, so no more are hashed than the limit
--   allows. The per-account count is keyed by the address asked for
--   (platform.address_key), so an unknown address is counted, limited and
--   answered exactly as a known one.
-- * Every other limit that counts rows (the plugin store's bytes, API
--   tokens, invitations, groups, reports, reset, verification and address
--   links) locks its owner's row in a statement of its own before it
--   counts: the count's statement then sees what the transaction it waited
--   for committed (READ COMMITTED takes a snapshot per statement), and the
--   check and the write happen under the lock.
-- * account_addresses records every address an account had or asked for,
--   so that platform.account_erase finds the mails, invitations and counts
--   of each of them.

-- ---------------------------------------------------------------- attempts

-- The per-address key of signin_limits: a hash of the lower-cased
-- address, the same for an address with or without an account (and the
-- address itself is not kept).
CREATE FUNCTION platform.address_key(email text) RETURNS text
LANGUAGE sql IMMUTABLE STRICT AS $$
    SELECT 'e:' || encode(sha256(convert_to(lower(email), 'UTF8')), 'hex')
$$;

-- Counts one attempt on each of P_KEYS, whose limits are P_LIMITS (an
-- hour from the first attempt of the window). ALLOWED is false, and
-- nothing counted, when one of them is at its limit; RETRY_AFTER then says
-- in how many seconds its window ends. Rows are locked in key order (no
-- deadlock between two attempts) until the transaction ends: an attempt on
-- the same key waits, and then sees this one's count. The caller undoes
-- the count of an attempt that turns out good (platform.attempt_good).
-- A hundred expired rows of the tenant go with each call.
CREATE FUNCTION platform.attempt(p_tenant bigint, p_keys text[], p_limits int[],
                                 OUT allowed boolean, OUT retry_after int)
LANGUAGE plpgsql AS $$
DECLARE
    at timestamptz := now();
    k record;
    n int;
    since timestamptz;
BEGIN
    allowed := true;
    retry_after := 0;
    FOR k IN SELECT u.key, u.lim FROM unnest(p_keys, p_limits) AS u(key, lim) ORDER BY u.key LOOP
        INSERT INTO signin_limits AS l (tenant_id, key, window_start, failures) VALUES (p_tenant, k.key, at, 0)
        ON CONFLICT (tenant_id, key) DO UPDATE SET
            failures = CASE WHEN l.window_start > at - interval '1 hour' THEN l.failures ELSE 0 END,
            window_start = CASE WHEN l.window_start > at - interval '1 hour' THEN l.window_start ELSE at END
        RETURNING l.failures, l.window_start INTO n, since;
        IF n >= k.lim THEN
            allowed := false;
            retry_after := greatest(retry_after, 3600 - floor(extract(epoch FROM at - since))::int, 1);
        END IF;
    END LOOP;
    IF allowed THEN
        UPDATE signin_limits l SET failures = l.failures + 1 WHERE l.tenant_id = p_tenant AND l.key = ANY (p_keys);
    END IF;
    DELETE FROM signin_limits l WHERE l.tenant_id = p_tenant AND l.key IN (
        SELECT o.key FROM signin_limits o WHERE o.tenant_id = p_tenant AND o.window_start < at - interval '1 hour'
         ORDER BY o.window_start LIMIT 100 FOR UPDATE SKIP LOCKED);
END $$;

-- An attempt counted by platform.attempt was good: P_CLEAR's counts end
-- (the address's, as a reset does), P_UNDO's lose the attempt (the client
-- address's: only failures count there).
CREATE FUNCTION platform.attempt_good(p_tenant bigint, p_clear text[], p_undo text[]) RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
    DELETE FROM signin_limits l WHERE l.tenant_id = p_tenant AND l.key = ANY (p_clear);
    UPDATE signin_limits l SET failures = greatest(l.failures - 1, 0)
     WHERE l.tenant_id = p_tenant AND l.key = ANY (p_undo);
END $$;

CREATE INDEX signin_limits_window ON signin_limits (tenant_id, window_start);

-- ---------------------------------------------------------------- addresses

-- Every address an account has had or asked for, with the time it last
-- became the account's (or was asked for): what was sent to it before
-- another account took it is this one's to erase.
CREATE TABLE account_addresses (
    tenant_id   bigint NOT NULL,
    account_id  bigint NOT NULL,
    email       text NOT NULL CHECK (email = lower(email) AND length(email) BETWEEN 3 AND 254),
    since       timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, account_id, email),
    FOREIGN KEY (tenant_id, account_id) REFERENCES accounts (tenant_id, id) ON DELETE CASCADE
);
CREATE INDEX account_addresses_email ON account_addresses (tenant_id, email);
SELECT platform.make_tenant_table('account_addresses');

CREATE FUNCTION platform.account_address_kept() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF TG_TABLE_NAME = 'accounts' THEN
        INSERT INTO account_addresses (tenant_id, account_id, email) VALUES (NEW.tenant_id, NEW.id, NEW.email)
        ON CONFLICT (tenant_id, account_id, email) DO UPDATE SET since = now();
    ELSE
        INSERT INTO account_addresses (tenant_id, account_id, email) VALUES (NEW.tenant_id, NEW.account_id, NEW.new_email)
        ON CONFLICT (tenant_id, account_id, email) DO NOTHING;
    END IF;
    RETURN NULL;
END $$;

CREATE TRIGGER accounts_address AFTER INSERT OR UPDATE OF email ON accounts
    FOR EACH ROW WHEN (NEW.email IS NOT NULL) EXECUTE FUNCTION platform.account_address_kept();
CREATE TRIGGER account_tokens_address AFTER INSERT ON account_tokens
    FOR EACH ROW WHEN (NEW.new_email IS NOT NULL) EXECUTE FUNCTION platform.account_address_kept();

-- The addresses of P_ACCOUNT, each with the time from which what is sent
-- to it belongs to the account that holds it now (NULL: to nobody else).
CREATE FUNCTION platform.account_addresses_of(p_tenant bigint, p_account bigint)
RETURNS TABLE (email text, since timestamptz, others_from timestamptz)
LANGUAGE sql STABLE AS $$
    SELECT h.email, h.since,
           (SELECT o.since FROM account_addresses o JOIN accounts b ON b.tenant_id = o.tenant_id AND b.id = o.account_id
             WHERE o.tenant_id = p_tenant AND o.email = h.email AND o.account_id <> p_account
               AND b.email = h.email AND b.deleted_at IS NULL)
      FROM account_addresses h WHERE h.tenant_id = p_tenant AND h.account_id = p_account
$$;

-- Deletes P_ACCOUNT's personal data: e-mail, password and name from the
-- row (kept as "voormalig deelnemer" so that contributions keep an
-- author), its sessions, tokens, API tokens, roles, requests to join (with
-- their messages) and addresses, and for every address it had or asked
-- for the mails, invitations and sign-in counts of that address, except
-- what another account that holds the address now was sent since it got
-- it. Answers the id, or nothing when there is no such live account.
CREATE FUNCTION platform.account_erase(p_tenant bigint, p_account bigint) RETURNS SETOF bigint
LANGUAGE plpgsql AS $$
DECLARE
    gone bigint;
    addrs text[];
    others timestamptz[];
BEGIN
    SELECT array_agg(h.email), array_agg(h.others_from) INTO addrs, others FROM (
        SELECT o.email, o.others_from FROM platform.account_addresses_of(p_tenant, p_account) o
        UNION
        SELECT x.email, NULL FROM accounts x WHERE x.tenant_id = p_tenant AND x.id = p_account AND x.email IS NOT NULL) h;
    UPDATE accounts x SET email = NULL, password_hash = NULL, display_name = 'voormalig deelnemer',
                          email_verified_at = NULL, deleted_at = now()
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

-- Existing accounts: their addresses, and the per-account counts keyed by
-- address from now on. The owner runs this under row-level security too,
-- so tenant by tenant.
DO $$
DECLARE
    t record;
BEGIN
    FOR t IN SELECT id FROM platform.tenants LOOP
        PERFORM set_config('aantafel.tenant_id', t.id::text, true);
        INSERT INTO account_addresses (tenant_id, account_id, email, since)
        SELECT a.tenant_id, a.id, a.email, coalesce(a.email_verified_at, a.created_at) FROM accounts a
         WHERE a.tenant_id = t.id AND a.email IS NOT NULL
        ON CONFLICT DO NOTHING;
        INSERT INTO account_addresses (tenant_id, account_id, email, since)
        SELECT k.tenant_id, k.account_id, k.new_email, k.expires_at - interval '24 hours' FROM account_tokens k
         WHERE k.tenant_id = t.id AND k.new_email IS NOT NULL
        ON CONFLICT DO NOTHING;
        UPDATE signin_limits l SET key = platform.address_key(a.email) FROM accounts a
         WHERE l.tenant_id = t.id AND a.tenant_id = t.id AND l.key = 'a:' || a.id AND a.email IS NOT NULL;
        DELETE FROM signin_limits l WHERE l.tenant_id = t.id AND l.key LIKE 'a:%';
    END LOOP;
    PERFORM set_config('aantafel.tenant_id', '', true);
END $$;

-- ---------------------------------------------------------------- links by mail

-- A reset link for an existing, not deleted account: no row for an
-- unknown address, nor when 5 unused ones are still valid (nobody can
-- flood an inbox with reset mails: the page says the same either way).
CREATE FUNCTION platform.reset_link(p_tenant bigint, p_email text, p_hash text, p_hours int)
RETURNS TABLE (display_name text)
LANGUAGE plpgsql AS $$
DECLARE
    who bigint;
    name text;
BEGIN
    SELECT x.id, x.display_name INTO who, name FROM accounts x
     WHERE x.tenant_id = p_tenant AND x.email = p_email AND x.deleted_at IS NULL FOR NO KEY UPDATE;
    IF who IS NULL OR (SELECT count(*) FROM account_tokens o WHERE o.tenant_id = p_tenant AND o.account_id = who
                         AND o.purpose = 'reset' AND o.used_at IS NULL AND o.expires_at > now()) >= 5 THEN
        RETURN;
    END IF;
    INSERT INTO account_tokens (tenant_id, token_hash, account_id, purpose, expires_at)
    VALUES (p_tenant, decode(p_hash, 'hex'), who, 'reset', now() + make_interval(hours => p_hours));
    display_name := name;
    RETURN NEXT;
END $$;

-- A new verification link for an account that has not confirmed its
-- address: at most five valid ones at a time. No row for any other
-- address.
CREATE FUNCTION platform.verify_link(p_tenant bigint, p_email text, p_hash text)
RETURNS TABLE (display_name text)
LANGUAGE plpgsql AS $$
DECLARE
    who bigint;
    name text;
BEGIN
    SELECT x.id, x.display_name INTO who, name FROM accounts x
     WHERE x.tenant_id = p_tenant AND x.email = p_email AND x.deleted_at IS NULL AND x.email_verified_at IS NULL
       FOR NO KEY UPDATE;
    IF who IS NULL OR (SELECT count(*) FROM account_tokens k WHERE k.tenant_id = p_tenant AND k.account_id = who
                         AND k.purpose = 'verify' AND k.used_at IS NULL AND k.expires_at > now()) >= 5 THEN
        RETURN;
    END IF;
    INSERT INTO account_tokens (tenant_id, token_hash, account_id, purpose, expires_at)
    VALUES (p_tenant, decode(p_hash, 'hex'), who, 'verify', now() + interval '24 hours');
    display_name := name;
    RETURN NEXT;
END $$;

-- A new address waits for its confirmation link (24 hours): no row when
-- another account of the tenant has the address, nor when the account
-- has 5 valid links out already (the page answers alike).
CREATE FUNCTION platform.email_link(p_tenant bigint, p_account bigint, p_hash text, p_email text)
RETURNS SETOF bigint
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM 1 FROM accounts x WHERE x.tenant_id = p_tenant AND x.id = p_account AND x.deleted_at IS NULL
        FOR NO KEY UPDATE;
    IF NOT FOUND
       OR EXISTS (SELECT 1 FROM accounts b WHERE b.tenant_id = p_tenant AND b.email = p_email)
       OR (SELECT count(*) FROM account_tokens k WHERE k.tenant_id = p_tenant AND k.account_id = p_account
             AND k.purpose = 'email' AND k.used_at IS NULL AND k.expires_at > now()) >= 5 THEN
        RETURN;
    END IF;
    INSERT INTO account_tokens (tenant_id, token_hash, account_id, purpose, new_email, expires_at)
    VALUES (p_tenant, decode(p_hash, 'hex'), p_account, 'email', p_email, now() + interval '24 hours');
    RETURN NEXT p_account;
END $$;

-- ---------------------------------------------------------------- the plugin store's quota

-- Locks the tenant's usage row, making it when there is none: every write
-- of the store takes it before any document's row, so that the quota's
-- check and write are one at a time per tenant and two writers never wait
-- for each other's rows in opposite order.
CREATE FUNCTION platform.plugin_store_lock(p_tenant bigint) RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO plugin_store_usage (tenant_id, bytes) VALUES (p_tenant, 0) ON CONFLICT (tenant_id) DO NOTHING;
    PERFORM 1 FROM plugin_store_usage u WHERE u.tenant_id = p_tenant FOR UPDATE;
END $$;

-- Before any statement that writes documents (a delete too): the lock.
CREATE FUNCTION platform.plugin_store_before() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    tid bigint := nullif(current_setting('aantafel.tenant_id', true), '')::bigint;
BEGIN
    IF tid IS NOT NULL THEN
        PERFORM platform.plugin_store_lock(tid);
    END IF;
    RETURN NULL;
END $$;

CREATE TRIGGER plugin_store_before BEFORE INSERT OR UPDATE OR DELETE ON plugin_store
    FOR EACH STATEMENT EXECUTE FUNCTION platform.plugin_store_before();

CREATE OR REPLACE FUNCTION platform.plugin_store_put(p_tenant bigint, p_plugin text, p_key text, p_value jsonb,
                                                     p_expected bigint, OUT status text, OUT version bigint)
LANGUAGE plpgsql AS $$
DECLARE
    cur_version bigint;
    cur_bytes bigint := 0;
    used bigint;
    quota bigint;
BEGIN
    PERFORM platform.plugin_store_lock(p_tenant);
    SELECT s.version, octet_length(s.value::text) INTO cur_version, cur_bytes
      FROM plugin_store s
     WHERE s.tenant_id = p_tenant AND s.plugin = p_plugin AND s.key = p_key
       FOR UPDATE;
    IF p_expected IS NOT NULL AND coalesce(cur_version, 0) <> p_expected THEN
        status := 'conflict';
        version := cur_version;
        RETURN;
    END IF;
    SELECT t.store_quota INTO quota FROM platform.tenants t WHERE t.id = p_tenant;
    SELECT u.bytes INTO used FROM plugin_store_usage u WHERE u.tenant_id = p_tenant;
    IF coalesce(used, 0) - coalesce(cur_bytes, 0) + octet_length(p_value::text) > coalesce(quota, 0) THEN
        status := 'quota';
        version := cur_version;
        RETURN;
    END IF;
    IF cur_version IS NULL THEN
        INSERT INTO plugin_store (tenant_id, plugin, key, value)
        VALUES (p_tenant, p_plugin, p_key, p_value)
        ON CONFLICT ON CONSTRAINT plugin_store_pkey DO NOTHING
        RETURNING plugin_store.version INTO version;
        IF version IS NULL THEN
            -- Created by a concurrent transaction after our look.
            status := 'conflict';
            RETURN;
        END IF;
    ELSE
        UPDATE plugin_store s SET value = p_value, version = s.version + 1, updated_at = now()
         WHERE s.tenant_id = p_tenant AND s.plugin = p_plugin AND s.key = p_key
        RETURNING s.version INTO version;
    END IF;
    status := 'ok';
END $$;

-- ---------------------------------------------------------------- the API's limits

CREATE OR REPLACE FUNCTION api.token_create(t bigint, viewer bigint, roles text, a jsonb) RETURNS jsonb
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
    -- One at a time per account: the count below sees every token made
    -- before the lock was ours.
    PERFORM 1 FROM accounts x WHERE x.tenant_id = t AND x.id = viewer FOR NO KEY UPDATE;
    IF (SELECT count(*) FROM api_tokens x WHERE x.tenant_id = t AND x.account_id = viewer AND x.revoked_at IS NULL) >= 20 THEN
        RETURN api.error(409, 'too_many', 'At most 20 active API tokens per account; revoke one first.');
    END IF;
    INSERT INTO api_tokens (tenant_id, account_id, name, token_hash)
    VALUES (t, viewer, btrim(name), decode(a ->> '_secret_hash', 'hex')) RETURNING * INTO k;
    RETURN api.ok(api.token_json(k), 201);
END $$;

-- A 429 with the seconds until a place is free again, which the daemon
-- also sends as Retry-After.
CREATE FUNCTION api.too_many(message text, seconds int) RETURNS jsonb
LANGUAGE sql IMMUTABLE AS $$
    SELECT jsonb_set(api.error(429, 'too_many', message), '{body,error,retry_after}', to_jsonb(greatest(seconds, 1)))
$$;

CREATE OR REPLACE FUNCTION api.invitation_create(t bigint, viewer bigint, roles text, a jsonb) RETURNS jsonb
LANGUAGE plpgsql AS $$
DECLARE
    refused jsonb;
    x tables := api.load_table(t, a);
    s text := api.table_standing(t, viewer, roles, x);
    f jsonb := '{}';
    email text := lower(btrim(api.text_arg(a, 'email')));
    want text := coalesce(api.text_arg(a, 'role'), 'member');
    days int;
    gid bigint := api.id_arg(a, 'group_id');
    i invitations;
    oldest timestamptz;
BEGIN
    refused := api.refusal(s, viewer, '{facilitator}', 'Only the table''s facilitators invite.');
    IF refused IS NOT NULL THEN
        RETURN refused;
    END IF;
    f := api.check_type(f, a, 'email', 'string');
    f := api.check_type(f, a, 'expires_in_days', 'number');
    IF email IS NOT NULL AND (email !~ '^[^@[:space:][:cntrl:]]+@[^@[:space:][:cntrl:]]+\.[^@[:space:][:cntrl:]]+$'
                              OR length(email) > 254) THEN
        f := f || jsonb_build_object('email', jsonb_build_object('code', 'email', 'message', 'Not an e-mail address.'));
    END IF;
    f := api.check_choice(f, 'role', want, ARRAY['facilitator', 'client', 'member']);
    -- The range is checked on the numeric: a huge number must answer 422,
    -- not overflow the cast to int (a 500).
    IF NOT f ? 'expires_in_days' THEN
        IF (a ->> 'expires_in_days')::numeric NOT BETWEEN 1 AND 90 THEN
            f := f || jsonb_build_object('expires_in_days', jsonb_build_object('code', 'range', 'message', 'From 1 to 90 days.'));
        ELSE
            days := coalesce((a ->> 'expires_in_days')::numeric::int, 14);
        END IF;
    END IF;
    IF a ? 'group_id' AND a -> 'group_id' <> 'null' AND NOT EXISTS (
            SELECT 1 FROM groups g WHERE g.tenant_id = t AND g.table_id = x.id AND g.id = gid) THEN
        f := f || jsonb_build_object('group_id', jsonb_build_object('code', 'unknown', 'message', 'No such group at this table.'));
    END IF;
    IF f <> '{}' THEN
        RETURN api.invalid(f);
    END IF;
    -- One at a time per table: the count below sees every invitation
    -- made before the lock was ours.
    PERFORM 1 FROM tables y WHERE y.tenant_id = t AND y.id = x.id FOR NO KEY UPDATE;
    SELECT min(j.created_at) INTO oldest FROM (
        SELECT j.created_at FROM invitations j WHERE j.tenant_id = t AND j.table_id = x.id
           AND j.created_at > now() - interval '1 day' ORDER BY j.created_at DESC LIMIT 200) j
    HAVING count(*) >= 200;
    IF oldest IS NOT NULL THEN
        RETURN api.too_many('At most 200 invitations a day per table.',
                            ceil(extract(epoch FROM oldest + interval '1 day' - now()))::int);
    END IF;
    INSERT INTO invitations (tenant_id, table_id, group_id, email, role, token_hash, created_by, expires_at)
    VALUES (t, x.id, gid, email, want, decode(a ->> '_secret_hash', 'hex'), viewer, now() + make_interval(days => days))
    RETURNING * INTO i;
    RETURN api.ok(api.invitation_json(i) || jsonb_build_object('table', jsonb_build_object('id', x.id, 'title', x.title)), 201);
END $$;

CREATE OR REPLACE FUNCTION api.group_create(t bigint, viewer bigint, roles text, a jsonb) RETURNS jsonb
LANGUAGE plpgsql AS $$
DECLARE
    refused jsonb;
    x tables := api.load_table(t, a);
    s text := api.table_standing(t, viewer, roles, x);
    f jsonb;
    g groups;
BEGIN
    refused := api.refusal(s, viewer, '{facilitator}', 'Only the table''s facilitators make groups.');
    IF refused IS NOT NULL THEN
        RETURN refused;
    END IF;
    f := api.group_fields(a, true);
    IF f <> '{}' THEN
        RETURN api.invalid(f);
    END IF;
    PERFORM 1 FROM tables y WHERE y.tenant_id = t AND y.id = x.id FOR NO KEY UPDATE;
    IF (SELECT count(*) FROM groups y WHERE y.tenant_id = t AND y.table_id = x.id) >= 100 THEN
        RETURN api.error(409, 'too_many', 'At most 100 groups per table.');
    END IF;
    INSERT INTO groups (tenant_id, table_id, name, purpose, visibility)
    VALUES (t, x.id, btrim(a ->> 'name'), coalesce(btrim(a ->> 'purpose'), ''), a ->> 'visibility') RETURNING * INTO g;
    RETURN api.ok(api.group_json(t, viewer, g, 'manage'), 201);
END $$;

CREATE OR REPLACE FUNCTION api.report_create(t bigint, viewer bigint, roles text, a jsonb) RETURNS jsonb
LANGUAGE plpgsql AS $$
DECLARE
    refused jsonb;
    r record;
    f jsonb := '{}';
    reason text := api.text_arg(a, 'reason');
    p reports;
    oldest timestamptz;
BEGIN
    SELECT * INTO r FROM api.readable_contribution(t, viewer, roles, api.id_arg(a, 'id'));
    refused := api.refusal(r.ts, viewer, '{}');
    IF refused IS NOT NULL THEN
        RETURN refused;
    END IF;
    f := api.check_type(f, a, 'reason', 'string');
    f := api.check_text(f, 'reason', reason, 1000);
    IF f <> '{}' THEN
        RETURN api.invalid(f);
    END IF;
    PERFORM 1 FROM accounts y WHERE y.tenant_id = t AND y.id = viewer FOR NO KEY UPDATE;
    SELECT min(q.created_at) INTO oldest FROM (
        SELECT q.created_at FROM reports q WHERE q.tenant_id = t AND q.reporter_id = viewer
           AND q.created_at > now() - interval '1 hour' ORDER BY q.created_at DESC LIMIT 30) q
    HAVING count(*) >= 30;
    IF oldest IS NOT NULL THEN
        RETURN api.too_many('At most 30 reports an hour.', ceil(extract(epoch FROM oldest + interval '1 hour' - now()))::int);
    END IF;
    INSERT INTO reports (tenant_id, contribution_id, reporter_id, reason) VALUES (t, (r.c).id, viewer, btrim(reason))
    ON CONFLICT (tenant_id, contribution_id, reporter_id) WHERE status = 'open' DO UPDATE SET reason = EXCLUDED.reason
    RETURNING * INTO p;
    RETURN api.ok(jsonb_build_object('id', p.id, 'contribution_id', p.contribution_id, 'status', p.status,
                                     'created_at', p.created_at), 201);
END $$;

-- ---------------------------------------------------------------- the export

-- As in 008, with the addresses the account has had or asked for, and
-- the mails to each of them that are this account's.
CREATE OR REPLACE FUNCTION api.account_export(t bigint, viewer bigint, roles text, a jsonb) RETURNS jsonb
LANGUAGE plpgsql STABLE AS $$
DECLARE
    doc jsonb;
BEGIN
    IF viewer IS NULL THEN
        RETURN api.unauthorized();
    END IF;
    SELECT jsonb_build_object(
        'account', jsonb_build_object('email', x.email, 'name', x.display_name, 'created_at', x.created_at,
            'email_verified_at', x.email_verified_at,
            'roles', coalesce((SELECT jsonb_agg(r.role ORDER BY r.role) FROM account_roles r
                                WHERE r.tenant_id = t AND r.account_id = x.id), '[]')),
        'addresses', coalesce((SELECT jsonb_agg(jsonb_build_object('email', h.email, 'since', h.since)
                ORDER BY h.since, h.email) FROM platform.account_addresses_of(t, x.id) h), '[]'),
        'sessions', coalesce((SELECT jsonb_agg(jsonb_build_object('created_at', s.created_at,
                'last_seen_at', s.last_seen_at) ORDER BY s.created_at) FROM sessions s
             WHERE s.tenant_id = t AND s.account_id = x.id), '[]'),
        'api_tokens', coalesce((SELECT jsonb_agg(jsonb_build_object('name', k.name, 'created_at', k.created_at,
                'last_used_at', k.last_used_at, 'revoked_at', k.revoked_at) ORDER BY k.id) FROM api_tokens k
             WHERE k.tenant_id = t AND k.account_id = x.id), '[]'),
        'mails', coalesce((SELECT jsonb_agg(jsonb_build_object('to', m.to_addr, 'subject', m.subject,
                'created_at', m.created_at, 'status', m.status) ORDER BY m.created_at, m.id)
             FROM mail_outbox m JOIN platform.account_addresses_of(t, x.id) h ON m.to_addr = h.email
             WHERE m.tenant_id = t AND (h.others_from IS NULL OR m.created_at < h.others_from)), '[]'),
        'tables', coalesce((SELECT jsonb_agg(jsonb_build_object('id', tb.id, 'title', tb.title, 'role', tm.role,
                'joined_at', tm.joined_at) ORDER BY tm.joined_at) FROM table_members tm
             JOIN tables tb ON tb.tenant_id = tm.tenant_id AND tb.id = tm.table_id
             WHERE tm.tenant_id = t AND tm.account_id = x.id), '[]'),
        'groups', coalesce((SELECT jsonb_agg(jsonb_build_object('id', g.id, 'name', g.name, 'joined_at', gm.joined_at)
                ORDER BY gm.joined_at) FROM group_members gm JOIN groups g ON g.tenant_id = gm.tenant_id AND g.id = gm.group_id
             WHERE gm.tenant_id = t AND gm.account_id = x.id), '[]'),
        'contributions', coalesce((SELECT jsonb_agg(jsonb_build_object('id', c.id, 'table_id', c.table_id,
                'group_id', c.group_id, 'parent_id', c.parent_id, 'body', c.body, 'created_at', c.created_at,
                'edited_at', c.edited_at, 'hidden_reason', c.hidden_reason,
                'earlier_versions', coalesce((SELECT jsonb_agg(jsonb_build_object('body', e.body,
                    'replaced_at', e.replaced_at) ORDER BY e.id) FROM contribution_edits e
                     WHERE e.tenant_id = t AND e.contribution_id = c.id), '[]')) ORDER BY c.id)
             FROM contributions c WHERE c.tenant_id = t AND c.author_id = x.id), '[]'),
        'group_requests', coalesce((SELECT jsonb_agg(jsonb_build_object('group_id', q.group_id, 'message', q.message,
                'status', q.status, 'created_at', q.created_at) ORDER BY q.id) FROM group_requests q
             WHERE q.tenant_id = t AND q.account_id = x.id), '[]'),
        'reports', coalesce((SELECT jsonb_agg(jsonb_build_object('contribution_id', p.contribution_id,
                'reason', p.reason, 'status', p.status, 'created_at', p.created_at) ORDER BY p.id) FROM reports p
             WHERE p.tenant_id = t AND p.reporter_id = x.id), '[]'))
      INTO doc FROM accounts x WHERE x.tenant_id = t AND x.id = viewer AND x.deleted_at IS NULL;
    IF doc IS NULL THEN
        RETURN api.unauthorized();
    END IF;
    RETURN api.ok(doc);
END $$;

-- Functions are executable by PUBLIC by default: only the daemon's role
-- may call these.
REVOKE ALL ON FUNCTION platform.address_key(text), platform.attempt(bigint, text[], int[]),
    platform.attempt_good(bigint, text[], text[]), platform.account_address_kept(),
    platform.account_addresses_of(bigint, bigint), platform.account_erase(bigint, bigint),
    platform.reset_link(bigint, text, text, int), platform.verify_link(bigint, text, text),
    platform.email_link(bigint, bigint, text, text), platform.plugin_store_lock(bigint),
    platform.plugin_store_before(), api.too_many(text, int) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION platform.address_key(text), platform.attempt(bigint, text[], int[]),
    platform.attempt_good(bigint, text[], text[]), platform.account_addresses_of(bigint, bigint),
    platform.account_erase(bigint, bigint), platform.reset_link(bigint, text, text, int),
    platform.verify_link(bigint, text, text), platform.email_link(bigint, bigint, text, text),
    platform.plugin_store_lock(bigint), api.too_many(text, int) TO aantafel_app;
