-- Accounts: the account's own answer, signing up and confirming the
-- address, a forgotten password, changing the password or the address,
-- deleting the account; every address an account has had or asked for,
-- and the links sent by mail (reset, verification, a new address). Who
-- asks and signing in are sessions.sql; password attempts are counted in
-- limits.sql; API tokens are tokens.sql, members and roles members.sql,
-- the export export.sql.
--
-- The steps that need C are flags on the routes (core/app/api.h): the core
-- takes the passwords out of the arguments, checks a new one against the
-- policy (_password_refused: why not) and hashes it on its hashing queue
-- (_password_hash), checks a current one against the hash the lookup
-- gives (_verified), and draws the links' secrets (_secret_hash), which
-- only the events see: the site plugin mails them.

-- ---------------------------------------------------------------- helpers

-- Whether EMAIL (lower case) is an address an account may have and a mail
-- may be sent to: a dot-atom of at most 64 bytes, one '@', a domain of at
-- least two labels of letters, digits and inner hyphens, at most 254 bytes
-- in all (what the outbox takes, core/app/mail.c).
CREATE OR REPLACE FUNCTION api.email_valid(email text) RETURNS boolean
LANGUAGE sql IMMUTABLE AS $$
    SELECT coalesce(octet_length(email) BETWEEN 3 AND 254
       AND email ~ '^[a-z0-9!#$%&''*+/=?^_`{|}~-]+(\.[a-z0-9!#$%&''*+/=?^_`{|}~-]+)*@[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?(\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)+$'
       AND octet_length(split_part(email, '@', 1)) <= 64
       AND octet_length(split_part(email, '@', 2)) <= 253, false)
$$;

-- The address in argument NAME as a form gives it: spaces around it gone,
-- in lower case; '' when there is none.
CREATE OR REPLACE FUNCTION api.email_arg(a jsonb, name text) RETURNS text
LANGUAGE sql IMMUTABLE AS $$
    SELECT lower(btrim(coalesce(api.text_arg(a, name), ''), E' \t\n\r\f\x0b'))
$$;

-- The stored hash of the link's secret in argument NAME, or NULL when it
-- is not a secret's shape (43 characters of base64url).
CREATE OR REPLACE FUNCTION api.link_hash(a jsonb, name text) RETURNS bytea
LANGUAGE sql IMMUTABLE AS $$
    SELECT CASE WHEN api.text_arg(a, name) ~ '^[A-Za-z0-9_-]{43}$'
                THEN sha256(convert_to(api.text_arg(a, name), 'UTF8')) END
$$;

CREATE OR REPLACE FUNCTION api.link_refused() RETURNS jsonb
LANGUAGE sql IMMUTABLE AS $$
    SELECT api.error(400, 'invalid_token', 'The link is not valid (any more).')
$$;

-- The answer alike for every address (sign-up, a forgotten password, the
-- link again, a new address).
CREATE OR REPLACE FUNCTION api.sent() RETURNS jsonb
LANGUAGE sql IMMUTABLE AS $$
    SELECT api.ok(jsonb_build_object('status', 'sent'), 202)
$$;

CREATE OR REPLACE FUNCTION api.password_refused(a jsonb) RETURNS jsonb
LANGUAGE sql IMMUTABLE AS $$
    SELECT api.invalid(api.field('password', 'policy', coalesce(a ->> '_password_refused', 'This password cannot be used.')))
$$;

CREATE OR REPLACE FUNCTION api.current_wrong() RETURNS jsonb
LANGUAGE sql IMMUTABLE AS $$
    SELECT api.invalid(api.field('current', 'wrong', 'The current password is not right.'))
$$;

-- The lookup of an operation that asks for the signed-in account's
-- current password (API_VERIFY): the attempt counted on the account's
-- address, as a sign-in with it is (100 an hour), before anything is
-- hashed; then the stored hash for the core to check.
CREATE OR REPLACE FUNCTION api.current_lookup(t bigint, viewer bigint) RETURNS jsonb
LANGUAGE plpgsql AS $$
DECLARE
    addr text;
    stored text;
    allowed boolean;
    wait int;
BEGIN
    SELECT x.email, x.password_hash INTO addr, stored FROM accounts x
     WHERE x.tenant_id = t AND x.id = viewer AND x.deleted_at IS NULL;
    IF addr IS NULL THEN
        RETURN api.current_wrong();
    END IF;
    SELECT r.allowed, r.retry_after INTO allowed, wait
      FROM platform.attempt(t, ARRAY[platform.address_key(addr)], ARRAY[100]) r;
    IF NOT allowed THEN
        RETURN api.limited(wait);
    END IF;
    RETURN api.proceed(jsonb_build_object('password_hash', stored));
END $$;

-- The current password was right: the count of the account's address ends.
CREATE OR REPLACE FUNCTION api.current_right(t bigint, viewer bigint) RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM platform.attempt_good(t, ARRAY(SELECT platform.address_key(x.email) FROM accounts x
                                            WHERE x.tenant_id = t AND x.id = viewer AND x.email IS NOT NULL), '{}');
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

-- ---------------------------------------------------------------- signing up

-- Sign-up (API_HASH, API_EVENT_SECRET, API_ATTEMPTS), checked in the
-- form's order, the first problem answered: the name (1 to 100
-- characters, no control characters, spaces around it gone), the address,
-- the password's policy; the lookup then counts the client address's
-- sign-ups (100 an hour) before the password is hashed. A new address gets an unverified account (role
-- member) and a verification link (24 hours), mailed from the event
-- account.created; a taken one the same answer, and its owner is told
-- (account.exists).
CREATE OR REPLACE FUNCTION api.account_create(t bigint, viewer bigint, roles text, a jsonb) RETURNS jsonb
LANGUAGE plpgsql AS $$
DECLARE
    name text := btrim(api.text_arg(a, 'name'), E' \t');
    addr text := api.email_arg(a, 'email');
    allowed boolean;
    wait int;
    who bigint;
    at timestamptz := now();
BEGIN
    IF coalesce(name, '') = '' OR char_length(name) > 100 OR name ~ '[\x01-\x1f\x7f-\x9f]' THEN
        RETURN api.invalid(api.field('name', 'required', 'A name of 1 to 100 characters.'));
    END IF;
    IF NOT api.email_valid(addr) THEN
        RETURN api.invalid(api.field('email', 'email', 'Not an e-mail address.'));
    END IF;
    IF a ? '_password_refused' THEN
        RETURN api.password_refused(a);
    END IF;
    IF a ? '_lookup' THEN
        SELECT r.allowed, r.retry_after INTO allowed, wait
          FROM platform.attempt(t, ARRAY['signup-ip:' || coalesce(a ->> '_client', '')], ARRAY[100]) r;
        IF NOT allowed THEN
            RETURN api.limited(wait);
        END IF;
        RETURN api.proceed();
    END IF;
    INSERT INTO accounts (tenant_id, email, display_name, password_hash)
    VALUES (t, addr, name, a ->> '_password_hash')
    ON CONFLICT (tenant_id, email) DO NOTHING RETURNING id INTO who;
    IF who IS NULL THEN
        RETURN api.event(api.sent(), 'account.exists', jsonb_build_object('email', addr));
    END IF;
    INSERT INTO account_roles (tenant_id, account_id, role) VALUES (t, who, 'member');
    INSERT INTO account_tokens (tenant_id, token_hash, account_id, purpose, expires_at)
    VALUES (t, decode(a ->> '_secret_hash', 'hex'), who, 'verify', at + interval '24 hours');
    RETURN api.event(api.sent(), 'account.created', jsonb_build_object('email', addr, 'name', name));
END $$;

-- The link in the verification mail marks the address verified. The
-- first use spends it; following it again while it is valid confirms
-- again instead of failing (mail scanners open links before people do).
CREATE OR REPLACE FUNCTION api.account_verify(t bigint, viewer bigint, roles text, a jsonb) RETURNS jsonb
LANGUAGE plpgsql AS $$
DECLARE
    h bytea := api.link_hash(a, 'token');
    who bigint;
    at timestamptz := now();
BEGIN
    IF h IS NULL THEN
        RETURN api.link_refused();
    END IF;
    UPDATE account_tokens k SET used_at = at
     WHERE k.tenant_id = t AND k.token_hash = h AND k.purpose = 'verify' AND k.used_at IS NULL AND k.expires_at > at
    RETURNING k.account_id INTO who;
    IF who IS NOT NULL THEN
        UPDATE accounts x SET email_verified_at = coalesce(x.email_verified_at, at)
         WHERE x.tenant_id = t AND x.id = who AND x.deleted_at IS NULL RETURNING x.id INTO who;
    ELSE
        SELECT k.account_id INTO who FROM account_tokens k
          JOIN accounts x ON x.tenant_id = k.tenant_id AND x.id = k.account_id
         WHERE k.tenant_id = t AND k.token_hash = h AND k.purpose = 'verify' AND k.used_at IS NOT NULL
           AND k.expires_at > at AND x.email_verified_at IS NOT NULL AND x.deleted_at IS NULL;
    END IF;
    IF who IS NULL THEN
        RETURN api.link_refused();
    END IF;
    RETURN api.ok(jsonb_build_object('verified', true));
END $$;

-- The verification link again (API_EVENT_SECRET), for an address whose
-- account has not confirmed it: the same answer for every address, a new
-- link (verification.resent) only for such an account, at most five valid
-- ones at a time.
CREATE OR REPLACE FUNCTION api.account_resend(t bigint, viewer bigint, roles text, a jsonb) RETURNS jsonb
LANGUAGE plpgsql AS $$
DECLARE
    addr text := api.email_arg(a, 'email');
    name text;
BEGIN
    IF api.email_valid(addr) THEN
        SELECT l.display_name INTO name FROM platform.verify_link(t, addr, a ->> '_secret_hash') l;
        IF FOUND THEN
            RETURN api.event(api.sent(), 'verification.resent', jsonb_build_object('email', addr, 'name', name));
        END IF;
    END IF;
    RETURN api.sent();
END $$;

-- ---------------------------------------------------------------- passwords

-- A forgotten password (API_EVENT_SECRET): for an existing account a reset
-- link (1 hour, single use, at most five valid), mailed from the event
-- password.forgotten; the same answer for every address.
CREATE OR REPLACE FUNCTION api.password_forgot(t bigint, viewer bigint, roles text, a jsonb) RETURNS jsonb
LANGUAGE plpgsql AS $$
DECLARE
    addr text := api.email_arg(a, 'email');
    name text;
BEGIN
    IF api.email_valid(addr) THEN
        SELECT l.display_name INTO name FROM platform.reset_link(t, addr, a ->> '_secret_hash', 1) l;
        IF FOUND THEN
            RETURN api.event(api.sent(), 'password.forgotten', jsonb_build_object('email', addr, 'name', name));
        END IF;
    END IF;
    RETURN api.sent();
END $$;

-- Whether the reset link's token is valid; spends nothing (the page that
-- shows the form).
CREATE OR REPLACE FUNCTION api.reset_valid(t bigint, h bytea) RETURNS boolean
LANGUAGE plpgsql STABLE AS $$
BEGIN
    RETURN (SELECT h IS NOT NULL AND EXISTS (SELECT 1 FROM account_tokens k
                                           JOIN accounts x ON x.tenant_id = k.tenant_id AND x.id = k.account_id
                                          WHERE k.tenant_id = t AND k.token_hash = h AND k.purpose = 'reset'
                                            AND k.used_at IS NULL AND k.expires_at > now() AND x.deleted_at IS NULL));
END $$;

CREATE OR REPLACE FUNCTION api.password_reset_check(t bigint, viewer bigint, roles text, a jsonb) RETURNS jsonb
LANGUAGE plpgsql STABLE AS $$
BEGIN
    IF NOT api.reset_valid(t, api.link_hash(a, 'token')) THEN
        RETURN api.link_refused();
    END IF;
    RETURN api.ok(jsonb_build_object('valid', true));
END $$;

-- A new password with the reset link (API_HASH): the token first, then
-- the policy (the token stays unspent), then the hash; the operation
-- spends the token and the account's other reset tokens, stores the hash,
-- marks the address verified (the mail reached it) and ends every session
-- and the address's count of attempts. A token spent twice at once
-- changes nothing the second time.
CREATE OR REPLACE FUNCTION api.password_reset(t bigint, viewer bigint, roles text, a jsonb) RETURNS jsonb
LANGUAGE plpgsql AS $$
DECLARE
    h bytea := api.link_hash(a, 'token');
    who bigint;
    addr text;
    at timestamptz := now();
BEGIN
    IF a ? '_lookup' THEN
        IF NOT api.reset_valid(t, h) THEN
            RETURN api.link_refused();
        END IF;
        IF a ? '_password_refused' THEN
            RETURN api.password_refused(a);
        END IF;
        RETURN api.proceed();
    END IF;
    UPDATE account_tokens k SET used_at = at
     WHERE k.tenant_id = t AND k.token_hash = h AND k.purpose = 'reset' AND k.used_at IS NULL AND k.expires_at > at
    RETURNING k.account_id INTO who;
    IF who IS NOT NULL THEN
        UPDATE accounts x SET password_hash = a ->> '_password_hash',
                              email_verified_at = coalesce(x.email_verified_at, at)
         WHERE x.tenant_id = t AND x.id = who AND x.deleted_at IS NULL RETURNING x.email INTO addr;
    END IF;
    IF addr IS NULL THEN
        RETURN api.link_refused();
    END IF;
    UPDATE account_tokens k SET used_at = at
     WHERE k.tenant_id = t AND k.account_id = who AND k.purpose = 'reset' AND k.used_at IS NULL;
    DELETE FROM sessions s WHERE s.tenant_id = t AND s.account_id = who;
    PERFORM platform.attempt_good(t, ARRAY[platform.address_key(addr)], '{}');
    RETURN api.ok(jsonb_build_object('reset', true));
END $$;

-- The signed-in account's password (API_VERIFY, API_HASH, API_ATTEMPTS):
-- the new one against the policy, the current one counted and checked
-- (api.current_lookup), then the new hash; every other session of the
-- account ends (this one, _session, stays).
CREATE OR REPLACE FUNCTION api.password_change(t bigint, viewer bigint, roles text, a jsonb) RETURNS jsonb
LANGUAGE plpgsql AS $$
BEGIN
    IF viewer IS NULL THEN
        RETURN api.unauthorized();
    END IF;
    IF a ? '_password_refused' THEN
        RETURN api.password_refused(a);
    END IF;
    IF a ? '_lookup' THEN
        RETURN api.current_lookup(t, viewer);
    END IF;
    IF (a ->> '_verified') IS DISTINCT FROM 'true' THEN
        RETURN api.current_wrong();
    END IF;
    UPDATE accounts x SET password_hash = a ->> '_password_hash'
     WHERE x.tenant_id = t AND x.id = viewer AND x.deleted_at IS NULL;
    DELETE FROM sessions s WHERE s.tenant_id = t AND s.account_id = viewer
       AND s.token_hash IS DISTINCT FROM decode(a ->> '_session', 'hex');
    PERFORM api.current_right(t, viewer);
    RETURN api.ok(jsonb_build_object('changed', true));
END $$;

-- ---------------------------------------------------------------- a new address

-- A new address for the signed-in account (API_VERIFY, API_EVENT_SECRET,
-- API_ATTEMPTS) once the current password is right: a confirmation link
-- to it (24 hours, single use), mailed from email.change_requested. The
-- same answer when another account has the address or five links are out
-- (then no link). The address moves only when the link is followed.
CREATE OR REPLACE FUNCTION api.email_change(t bigint, viewer bigint, roles text, a jsonb) RETURNS jsonb
LANGUAGE plpgsql AS $$
DECLARE
    addr text := api.email_arg(a, 'email');
    name text;
BEGIN
    IF viewer IS NULL THEN
        RETURN api.unauthorized();
    END IF;
    IF NOT api.email_valid(addr) THEN
        RETURN api.invalid(api.field('email', 'email', 'Not an e-mail address.'));
    END IF;
    IF a ? '_lookup' THEN
        RETURN api.current_lookup(t, viewer);
    END IF;
    IF (a ->> '_verified') IS DISTINCT FROM 'true' THEN
        RETURN api.current_wrong();
    END IF;
    PERFORM api.current_right(t, viewer);
    SELECT x.display_name INTO name FROM accounts x WHERE x.tenant_id = t AND x.id = viewer;
    PERFORM 1 FROM platform.email_link(t, viewer, a ->> '_secret_hash', addr);
    IF FOUND THEN
        RETURN api.event(api.sent(), 'email.change_requested', jsonb_build_object('email', addr, 'name', name));
    END IF;
    RETURN api.sent();
END $$;

-- The link to the new address moves it, once, unless another account took
-- the address meanwhile.
CREATE OR REPLACE FUNCTION api.email_confirm(t bigint, viewer bigint, roles text, a jsonb) RETURNS jsonb
LANGUAGE plpgsql AS $$
DECLARE
    h bytea := api.link_hash(a, 'token');
    who bigint;
    addr text;
    moved bigint;
    at timestamptz := now();
BEGIN
    IF h IS NOT NULL THEN
        UPDATE account_tokens k SET used_at = at
         WHERE k.tenant_id = t AND k.token_hash = h AND k.purpose = 'email' AND k.used_at IS NULL
           AND k.expires_at > at
        RETURNING k.account_id, k.new_email INTO who, addr;
    END IF;
    IF who IS NOT NULL AND NOT EXISTS (SELECT 1 FROM accounts b WHERE b.tenant_id = t AND b.email = addr) THEN
        UPDATE accounts x SET email = addr, email_verified_at = at
         WHERE x.tenant_id = t AND x.id = who AND x.deleted_at IS NULL RETURNING x.id INTO moved;
    END IF;
    IF moved IS NULL THEN
        RETURN api.link_refused();
    END IF;
    RETURN api.ok(jsonb_build_object('confirmed', true));
END $$;

-- ---------------------------------------------------------------- deleting

-- Deleting the signed-in account (API_VERIFY, API_SIGNOUT, API_ATTEMPTS)
-- once the current password is right: platform.account_erase below; the
-- core clears the session cookie.
CREATE OR REPLACE FUNCTION api.account_delete(t bigint, viewer bigint, roles text, a jsonb) RETURNS jsonb
LANGUAGE plpgsql AS $$
BEGIN
    IF viewer IS NULL THEN
        RETURN api.unauthorized();
    END IF;
    IF a ? '_lookup' THEN
        RETURN api.current_lookup(t, viewer);
    END IF;
    IF (a ->> '_verified') IS DISTINCT FROM 'true' THEN
        RETURN api.current_wrong();
    END IF;
    PERFORM 1 FROM platform.account_erase(t, viewer);
    IF NOT FOUND THEN
        RETURN api.current_wrong();
    END IF;
    RETURN api.ok(jsonb_build_object('deleted', true));
END $$;

-- ---------------------------------------------------------------- addresses

-- Every address an account has had or asked for is kept in
-- account_addresses, with the time it last became the account's (or was
-- asked for): what was sent to it before another account took it is this
-- one's to erase. The account's own address, on accounts ... The time is
-- the row's own where the statement set it (a new account's created_at,
-- a confirmed change's email_verified_at): on a Citus cluster this
-- trigger runs on a worker, whose now() is later than the coordinator's
-- that stamps the mails of the same transaction.
CREATE OR REPLACE FUNCTION platform.account_address_kept() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    at timestamptz := CASE WHEN TG_OP = 'INSERT' THEN NEW.created_at
                           WHEN NEW.email_verified_at IS DISTINCT FROM OLD.email_verified_at THEN NEW.email_verified_at
                           ELSE now() END;
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
LANGUAGE plpgsql STABLE AS $$
BEGIN
    RETURN QUERY
    SELECT h.email, h.since,
           (SELECT o.since FROM account_addresses o JOIN accounts b ON b.tenant_id = o.tenant_id AND b.id = o.account_id
             WHERE o.tenant_id = p_tenant AND o.email = h.email AND o.account_id <> p_account
               AND b.email = h.email AND b.deleted_at IS NULL)
      FROM account_addresses h WHERE h.tenant_id = p_tenant AND h.account_id = p_account;
END $$;

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
-- it; its meeting registrations are anonymised (their places at meetings
-- to come freed). Answers the id, or nothing when there is no such live
-- account.
CREATE OR REPLACE FUNCTION platform.account_erase(p_tenant bigint, p_account bigint) RETURNS SETOF bigint
LANGUAGE plpgsql AS $$
DECLARE
    gone bigint;
    addrs text[];
    others timestamptz[];
    own text;
    mid bigint;
    at timestamptz := now();
BEGIN
    -- The addresses first, then the account's own beside them: one query
    -- that joins the function's result to accounts would be pushed to a
    -- Citus worker whole, and the function's own query with it.
    SELECT array_agg(o.email), array_agg(o.others_from) INTO addrs, others
      FROM platform.account_addresses_of(p_tenant, p_account) o;
    SELECT x.email INTO own FROM accounts x WHERE x.tenant_id = p_tenant AND x.id = p_account AND x.email IS NOT NULL;
    SELECT array_agg(h.email), array_agg(h.others_from) INTO addrs, others FROM (
        SELECT u.email, u.others_from FROM unnest(addrs, others) AS u(email, others_from)
        UNION
        SELECT own, NULL::timestamptz WHERE own IS NOT NULL) h;
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
    -- What they followed, their notification settings and unsubscribe
    -- token; the activity keeps no trace of who caused it.
    DELETE FROM follows f WHERE f.tenant_id = p_tenant AND f.account_id = gone;
    DELETE FROM notification_state n WHERE n.tenant_id = p_tenant AND n.account_id = gone;
    UPDATE activity y SET actor_id = NULL WHERE y.tenant_id = p_tenant AND y.actor_id = gone;
    -- Their places at meetings that have not begun go to the first
    -- waiting (meetings.sql); every registration of theirs keeps neither
    -- account nor name: the counts stay.
    FOREACH mid IN ARRAY ARRAY(SELECT r.meeting_id FROM meeting_registrations r
                                WHERE r.tenant_id = p_tenant AND r.account_id = gone AND r.state <> 'cancelled') LOOP
        PERFORM 1 FROM meetings y WHERE y.tenant_id = p_tenant AND y.id = mid AND now() < y.starts_at FOR UPDATE;
        IF FOUND THEN
            UPDATE meeting_registrations r SET state = 'cancelled', position = NULL, changed_at = at
             WHERE r.tenant_id = p_tenant AND r.meeting_id = mid AND r.account_id = gone;
            PERFORM api.meeting_promote(p_tenant, mid);
        END IF;
    END LOOP;
    UPDATE meeting_registrations r SET account_id = NULL, name = NULL
     WHERE r.tenant_id = p_tenant AND r.account_id = gone;
    UPDATE meeting_registrations r SET registered_by = NULL
     WHERE r.tenant_id = p_tenant AND r.registered_by = gone;
    DELETE FROM mail_outbox m USING unnest(addrs, others) AS e(email, others_from)
     WHERE m.tenant_id = p_tenant AND m.to_addr = e.email AND (e.others_from IS NULL OR m.created_at < e.others_from);
    DELETE FROM invitations i USING unnest(addrs, others) AS e(email, others_from)
     WHERE i.tenant_id = p_tenant AND i.email = e.email AND (e.others_from IS NULL OR i.created_at < e.others_from);
    DELETE FROM signin_limits l USING unnest(addrs, others) AS e(email, others_from)
     WHERE l.tenant_id = p_tenant AND l.key = platform.address_key(e.email) AND e.others_from IS NULL;
    RETURN NEXT gone;
END $$;
