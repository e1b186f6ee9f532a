-- Password attempts (sign-in, sign-up, the current password on a change)
-- are counted before any hashing by platform.attempt, which locks each
-- counter row and counts the attempt in one go: two attempts on one
-- counter wait for each other, so no more are hashed than the limit
-- allows. The per-account count is keyed by the address asked for
-- (platform.address_key), so an unknown address is counted, limited and
-- answered exactly as a known one. The other limits (API tokens,
-- invitations, groups, reports, links by mail, the plugin store's quota)
-- lock their owner's row in a statement of their own before they count,
-- in the functions that write.

-- The per-address key of signin_limits: a hash of the lower-cased
-- address, the same for an address with or without an account (and the
-- address itself is not kept).
CREATE OR REPLACE FUNCTION platform.address_key(email text) RETURNS text
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
CREATE OR REPLACE FUNCTION platform.attempt(p_tenant bigint, p_keys text[], p_limits int[],
                                            OUT allowed boolean, OUT retry_after int)
LANGUAGE plpgsql AS $$
DECLARE
    at timestamptz := now();
    -- Computed here: timestamptz - interval is only stable, and Citus
    -- takes nothing but constants and immutable functions in ON CONFLICT
    -- DO UPDATE SET.
    window_from timestamptz := at - interval '1 hour';
    k record;
    n int;
    since timestamptz;
BEGIN
    allowed := true;
    retry_after := 0;
    FOR k IN SELECT u.key, u.lim FROM unnest(p_keys, p_limits) AS u(key, lim) ORDER BY u.key LOOP
        INSERT INTO signin_limits AS l (tenant_id, key, window_start, failures) VALUES (p_tenant, k.key, at, 0)
        ON CONFLICT (tenant_id, key) DO UPDATE SET
            failures = CASE WHEN l.window_start > window_from THEN l.failures ELSE 0 END,
            window_start = CASE WHEN l.window_start > window_from THEN l.window_start ELSE at END
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
CREATE OR REPLACE FUNCTION platform.attempt_good(p_tenant bigint, p_clear text[], p_undo text[]) RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
    DELETE FROM signin_limits l WHERE l.tenant_id = p_tenant AND l.key = ANY (p_clear);
    UPDATE signin_limits l SET failures = greatest(l.failures - 1, 0)
     WHERE l.tenant_id = p_tenant AND l.key = ANY (p_undo);
END $$;
