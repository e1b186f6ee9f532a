-- The mail outbox. A request queues a mail by inserting a row in its own
-- transaction, so a mail goes out only when the request commits. The
-- daemon's deliverer sends the rows of every tenant; since its role cannot
-- bypass row-level security (and FORCE applies to the owner too), it goes
-- through the SECURITY DEFINER functions below, which set the tenant for
-- each statement exactly as a request does: no policy has an exception.
-- Each restores the caller's tenant setting before it returns.
--
-- Life of a row: queued -> sending (claimed, attempts + 1) -> sent, or
-- back to queued with a later next_attempt_at (1 min x 2^(attempts - 1),
-- at most 6 h), or failed after the last allowed attempt. A row left in
-- 'sending' by a deliverer that died is put back after a timeout: delivery
-- is at least once.

-- Wakes the deliverers: a new mail, or one put back in the queue and due
-- now (a deliverer that died, or an operator's "send again"). The payload
-- is the tenant's id, so that a woken deliverer looks at that tenant only;
-- PostgreSQL sends one notification per distinct payload and transaction,
-- at commit, and none for a rollback. Runs as the inserting role.
-- On a cluster's worker it leaves a mark instead, which the daemon's
-- commit turns into the notification (platform.commit_marks, notify.sql).
CREATE OR REPLACE FUNCTION platform.mail_notify() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM set_config('aantafel.mail_queued', '1', true);
    IF NOT platform.in_citus_task() THEN
        PERFORM pg_notify('aantafel_mail', NEW.tenant_id::text);
    END IF;
    RETURN NULL;
END $$;

-- Claims up to P_LIMIT due messages of the active tenants in P_TENANTS,
-- or of every active tenant when it is NULL (a suspended tenant's mail
-- waits), each row locked with SKIP LOCKED so that daemons never claim
-- the same row. Tenants are visited in random order so that one tenant's
-- backlog cannot hold back the others' mail. The cost grows with the
-- number of tenants visited (one index probe each): a notified deliverer
-- names the tenants, and only its poll timer visits them all.
CREATE OR REPLACE FUNCTION platform.mail_claim(p_limit int, p_tenants bigint[])
RETURNS TABLE (tenant_id bigint, id bigint, slug text, tenant_name text, created_us bigint,
               to_addr text, from_name text, subject text, body_text text, body_html text,
               attempts int, unsubscribe_url text)
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
#variable_conflict use_column
DECLARE
    t record;
    c record;
    wanted int := least(greatest(coalesce(p_limit, 0), 0), 1000);
    n bigint;
    prev text := current_setting('aantafel.tenant_id', true);
    at timestamptz := now();
BEGIN
    FOR t IN SELECT pt.id, pt.slug, pt.name FROM platform.tenants pt
              WHERE pt.status = 'active' AND (p_tenants IS NULL OR pt.id = ANY (p_tenants))
              ORDER BY random() LOOP
        EXIT WHEN wanted <= 0;
        PERFORM platform.visit_tenant(t.id::text);
        -- The epoch is computed here, not in RETURNING, where Citus takes
        -- immutable functions only (extract from a timestamptz is stable).
        n := 0;
        FOR c IN
            WITH due AS (
                SELECT m.id FROM public.mail_outbox m
                 WHERE m.tenant_id = t.id AND m.status = 'queued' AND m.next_attempt_at <= at
                 ORDER BY m.next_attempt_at, m.id
                 LIMIT wanted
                 FOR UPDATE SKIP LOCKED)
            UPDATE public.mail_outbox m
               SET status = 'sending', attempts = m.attempts + 1, claimed_at = at
              FROM due
             WHERE m.tenant_id = t.id AND m.id = due.id
            RETURNING m.tenant_id, m.id, m.created_at, m.to_addr, m.from_name, m.subject, m.body_text,
                      m.body_html, m.attempts, m.unsubscribe_url
        LOOP
            RETURN QUERY SELECT c.tenant_id, c.id, t.slug, t.name, (extract(epoch FROM c.created_at) * 1000000)::bigint,
                                c.to_addr, c.from_name, c.subject, c.body_text, c.body_html, c.attempts,
                                c.unsubscribe_url;
            n := n + 1;
        END LOOP;
        wanted := wanted - n::int;
    END LOOP;
    PERFORM platform.enter_tenant(coalesce(prev, ''));
END $$;

-- The message went out. A row the stale sweep put back meanwhile is marked
-- too, so that it is not sent once more.
CREATE OR REPLACE FUNCTION platform.mail_sent(p_tenant bigint, p_id bigint) RETURNS boolean
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    prev text := current_setting('aantafel.tenant_id', true);
    done boolean;
    at timestamptz := now();
BEGIN
    PERFORM platform.enter_tenant(p_tenant::text);
    UPDATE public.mail_outbox m
       SET status = 'sent', sent_at = at, claimed_at = NULL, last_error = NULL
     WHERE m.tenant_id = p_tenant AND m.id = p_id AND m.status IN ('sending', 'queued');
    done := FOUND;
    PERFORM platform.enter_tenant(coalesce(prev, ''));
    RETURN done;
END $$;

-- The attempt failed: back to the queue with exponential backoff, or
-- 'failed' once ATTEMPTS reached P_MAX_ATTEMPTS (0 fails it at once: a
-- message that can never be sent). Returns the new status and when the
-- next attempt is due (NULL when no row was 'sending').
CREATE OR REPLACE FUNCTION platform.mail_retry(p_tenant bigint, p_id bigint, p_error text, p_max_attempts int,
                                               OUT status text, OUT next_attempt_at timestamptz)
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
#variable_conflict use_column
DECLARE
    prev text := current_setting('aantafel.tenant_id', true);
    at timestamptz := now();
    tried int;
    due timestamptz;
BEGIN
    PERFORM platform.enter_tenant(p_tenant::text);
    -- The row first, then the new values from it: Citus takes no stable
    -- function of a column (timestamptz + interval) in an UPDATE's SET.
    SELECT m.attempts INTO tried FROM public.mail_outbox m
     WHERE m.tenant_id = p_tenant AND m.id = p_id AND m.status = 'sending' FOR UPDATE;
    IF FOUND THEN
        IF tried < p_max_attempts THEN
            due := at + least(interval '1 minute' * power(2, least(greatest(tried - 1, 0), 16)), interval '6 hours');
        END IF;
        UPDATE public.mail_outbox m
           SET status = CASE WHEN due IS NULL THEN 'failed' ELSE 'queued' END,
               next_attempt_at = coalesce(due, m.next_attempt_at),
               claimed_at = NULL,
               last_error = left(coalesce(p_error, 'unknown error'), 1000)
         WHERE m.tenant_id = p_tenant AND m.id = p_id AND m.status = 'sending'
        RETURNING m.status, m.next_attempt_at INTO mail_retry.status, mail_retry.next_attempt_at;
    END IF;
    PERFORM platform.enter_tenant(coalesce(prev, ''));
END $$;

-- A claimed message that was never tried (the deliverer is stopping): back
-- to the queue without counting the attempt.
CREATE OR REPLACE FUNCTION platform.mail_release(p_tenant bigint, p_id bigint) RETURNS boolean
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    prev text := current_setting('aantafel.tenant_id', true);
    done boolean;
BEGIN
    PERFORM platform.enter_tenant(p_tenant::text);
    UPDATE public.mail_outbox m
       SET status = 'queued', attempts = greatest(m.attempts - 1, 0), claimed_at = NULL
     WHERE m.tenant_id = p_tenant AND m.id = p_id AND m.status = 'sending';
    done := FOUND;
    PERFORM platform.enter_tenant(coalesce(prev, ''));
    RETURN done;
END $$;

-- Rows in 'sending' for longer than P_TIMEOUT belong to a deliverer that
-- died: back to the queue (the interrupted attempt counts), or 'failed'
-- when it was the last one. Returns how many rows changed.
CREATE OR REPLACE FUNCTION platform.mail_requeue_stale(p_timeout interval, p_max_attempts int) RETURNS bigint
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    t record;
    n bigint;
    total bigint := 0::bigint;
    prev text := current_setting('aantafel.tenant_id', true);
    at timestamptz := now();
    stale_before timestamptz := at - p_timeout;
    why text := 'delivery interrupted: still sending after ' || p_timeout::text;
BEGIN
    FOR t IN SELECT pt.id FROM platform.tenants pt LOOP
        PERFORM platform.visit_tenant(t.id::text);
        UPDATE public.mail_outbox m
           SET status = CASE WHEN m.attempts >= p_max_attempts THEN 'failed' ELSE 'queued' END,
               claimed_at = NULL,
               last_error = why
         WHERE m.tenant_id = t.id AND m.status = 'sending' AND m.claimed_at < stale_before;
        GET DIAGNOSTICS n = ROW_COUNT;
        total := total + n;
    END LOOP;
    PERFORM platform.enter_tenant(coalesce(prev, ''));
    RETURN total;
END $$;

-- A message into the outbox, in the request's transaction (mail.h): sent
-- once the transaction commits. P_UNSUBSCRIBE: a notification's
-- unsubscribe link, written as its List-Unsubscribe headers (RFC 8058).
CREATE OR REPLACE FUNCTION platform.enqueue_mail(p_tenant bigint, p_to text, p_from_name text, p_subject text,
                                                 p_text text, p_html text, p_unsubscribe text DEFAULT NULL)
RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO mail_outbox (tenant_id, to_addr, from_name, subject, body_text, body_html, unsubscribe_url)
    VALUES (p_tenant, p_to, p_from_name, p_subject, p_text, p_html, p_unsubscribe);
END $$;
