-- Durable timed jobs (sql/023_jobs.sql) and their runners.
--
-- A job's life: platform.job_schedule makes it (or moves the pending one
-- of the same kind and subject) in the transaction of the change that
-- needs it, and notifies "aantafel_jobs" so that a scheduler whose next
-- wake-up is later looks again. Each daemon's scheduler
-- (core/app/scheduler.c) claims due jobs with platform.job_claim: the row
-- locked with SKIP LOCKED, one attempt counted, and a lease taken (its
-- name and until when) in a transaction of its own. It then runs each
-- with platform.job_run in a second transaction, which locks the row
-- again, checks that the lease is still its own, runs the kind's runner
-- and marks the job done: the runner's changes and the mark commit
-- together, so a job's work is done exactly once. A taker that died
-- leaves its lease, and the job is claimed again once the lease has
-- passed (the interrupted attempt counts); a runner that raises rolls
-- back its work, and platform.job_failed records the error and sets the
-- next attempt (backoff), or gives up after the most attempts.
--
-- Adding a kind: write its runner, platform.job_<kind with _ for .>(t,
-- subject) returning the events it produced (a jsonb array of {name,
-- data}, '[]' for none; the daemon fires them to the tenant's plugin
-- hooks), add a WHEN line for it in platform.job_dispatch, and schedule
-- it with platform.job_schedule(t, kind, subject, at) from the code that
-- knows when it is due. A runner runs with the tenant entered, as the
-- daemon's role, with no viewer; it must be a no-op when its work is no
-- longer needed (the subject gone or already done), since a job may be
-- due after its subject changed.

-- ---------------------------------------------------------------- scheduling

-- Schedules job KIND for SUBJECT of tenant T at AT: the pending one is
-- moved there (its attempts and error reset, a lease dropped: a taker
-- that has not started it yet leaves it), else a new one is made. Runs in
-- the tenant's transaction, as its caller.
CREATE OR REPLACE FUNCTION platform.job_schedule(p_tenant bigint, p_kind text, p_subject bigint, p_at timestamptz)
RETURNS bigint
LANGUAGE plpgsql AS $$
DECLARE
    jid bigint;
BEGIN
    INSERT INTO jobs AS j (tenant_id, kind, subject, run_at, created_at)
    VALUES (p_tenant, p_kind, coalesce(p_subject, 0), p_at, statement_timestamp())
    ON CONFLICT (tenant_id, kind, subject) WHERE state = 'pending'
    DO UPDATE SET run_at = excluded.run_at, attempts = 0, last_error = NULL,
                  taken_by = NULL, taken_at = NULL, lease_until = NULL
    RETURNING j.id INTO jid;
    -- The schedulers wake and look for their next job (at commit; none
    -- for a rollback). In the coordinator's session on a cluster: this
    -- is called by the API's functions, never by a trigger on a shard.
    IF NOT platform.in_citus_task() THEN
        PERFORM pg_notify('aantafel_jobs', p_tenant::text);
    END IF;
    RETURN jid;
END $$;

-- Cancels the pending job KIND for SUBJECT of tenant T, if any.
CREATE OR REPLACE FUNCTION platform.job_cancel(p_tenant bigint, p_kind text, p_subject bigint) RETURNS boolean
LANGUAGE plpgsql AS $$
DECLARE
    at timestamptz := statement_timestamp();
BEGIN
    UPDATE jobs j SET state = 'cancelled', done_at = at, lease_until = NULL
     WHERE j.tenant_id = p_tenant AND j.kind = p_kind AND j.subject = coalesce(p_subject, 0) AND j.state = 'pending';
    RETURN FOUND;
END $$;

-- ---------------------------------------------------------------- the schedulers

-- When the next pending job of an active tenant in P_TENANTS (every
-- active tenant when NULL) falls due (a taken one when its lease passes),
-- or NULL when there is none. A scheduler woken by a notification names
-- the notified tenants; only its poll timer visits them all (the cost
-- grows with the tenants visited, one index probe each).
CREATE OR REPLACE FUNCTION platform.job_next_at(p_tenants bigint[] DEFAULT NULL) RETURNS timestamptz
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    t record;
    best timestamptz;
    due timestamptz;
    prev text := current_setting('aantafel.tenant_id', true);
BEGIN
    FOR t IN SELECT pt.id FROM platform.tenants pt
              WHERE pt.status = 'active' AND (p_tenants IS NULL OR pt.id = ANY (p_tenants)) LOOP
        PERFORM platform.visit_tenant(t.id::text);
        SELECT min(greatest(j.run_at, coalesce(j.lease_until, j.run_at))) INTO due
          FROM public.jobs j WHERE j.tenant_id = t.id AND j.state = 'pending';
        IF due IS NOT NULL AND (best IS NULL OR due < best) THEN
            best := due;
        END IF;
    END LOOP;
    PERFORM platform.enter_tenant(coalesce(prev, ''));
    RETURN best;
END $$;

-- Claims up to P_LIMIT due jobs of the active tenants in P_TENANTS (every
-- active tenant when NULL, as job_next_at) for P_TAKER (the
-- daemon's instance) for P_LEASE: each row locked with SKIP LOCKED (a job
-- another daemon is running is passed over), its attempt counted. A job
-- whose lease passed with P_MAX_ATTEMPTS attempts made fails instead: its
-- taker died each time (a job that kills its daemon is not tried for
-- ever). Commit it before running the jobs (platform.job_run).
CREATE OR REPLACE FUNCTION platform.job_claim(p_taker text, p_lease interval, p_limit int, p_max_attempts int,
                                              p_tenants bigint[] DEFAULT NULL)
RETURNS TABLE (tenant_id bigint, id bigint, slug text, kind text, subject bigint, attempts int, taken_at text)
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
#variable_conflict use_column
DECLARE
    t record;
    c record;
    wanted int := least(greatest(coalesce(p_limit, 0), 0), 100);
    n int;
    prev text := current_setting('aantafel.tenant_id', true);
    at timestamptz := clock_timestamp();
    lease_end timestamptz := at + p_lease;
BEGIN
    FOR t IN SELECT pt.id, pt.slug FROM platform.tenants pt
              WHERE pt.status = 'active' AND (p_tenants IS NULL OR pt.id = ANY (p_tenants)) ORDER BY random() LOOP
        EXIT WHEN wanted <= 0;
        PERFORM platform.visit_tenant(t.id::text);
        WITH dead AS (
            SELECT j.id FROM public.jobs j
             WHERE j.tenant_id = t.id AND j.state = 'pending' AND j.lease_until <= at AND j.attempts >= p_max_attempts
             FOR UPDATE SKIP LOCKED)
        UPDATE public.jobs j
           SET state = 'failed', done_at = at, lease_until = NULL,
               last_error = left('taken by ' || coalesce(j.taken_by, '?') || ' and not finished within its lease', 2000)
          FROM dead
         WHERE j.tenant_id = t.id AND j.id = dead.id;
        n := 0;
        FOR c IN
            WITH due AS (
                SELECT j.id FROM public.jobs j
                 WHERE j.tenant_id = t.id AND j.state = 'pending' AND j.run_at <= at
                   AND (j.lease_until IS NULL OR j.lease_until <= at)
                 ORDER BY j.run_at, j.id
                 LIMIT wanted
                 FOR UPDATE SKIP LOCKED)
            UPDATE public.jobs j
               SET attempts = j.attempts + 1, taken_by = p_taker, taken_at = at, lease_until = lease_end
              FROM due
             WHERE j.tenant_id = t.id AND j.id = due.id
            RETURNING j.tenant_id, j.id, j.kind, j.subject, j.attempts
        LOOP
            -- The time as text with every digit: job_run compares it.
            RETURN QUERY SELECT c.tenant_id, c.id, t.slug, c.kind, c.subject, c.attempts,
                                to_char(at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"');
            n := n + 1;
        END LOOP;
        wanted := wanted - n;
    END LOOP;
    PERFORM platform.enter_tenant(coalesce(prev, ''));
END $$;

-- Runs kind KIND for SUBJECT of tenant T (the tenant entered): the events
-- it produced. One WHEN per kind; an unknown kind (scheduled by a newer
-- daemon, say) raises and the job fails.
CREATE OR REPLACE FUNCTION platform.job_dispatch(t bigint, p_kind text, p_subject bigint) RETURNS jsonb
LANGUAGE plpgsql AS $$
BEGIN
    CASE p_kind
        WHEN 'decision.close' THEN RETURN platform.job_decision_close(t, p_subject);
        WHEN 'meeting.remind' THEN RETURN platform.job_meeting_remind(t, p_subject);
        WHEN 'notify.item' THEN RETURN platform.job_notify_item(t, p_subject);
        WHEN 'digest.daily' THEN RETURN platform.job_digest_daily(t, p_subject);
        WHEN 'digest.weekly' THEN RETURN platform.job_digest_weekly(t, p_subject);
        ELSE RAISE EXCEPTION 'unknown job kind %', p_kind USING ERRCODE = 'AT030';
    END CASE;
END $$;

-- Runs job JID of tenant T that P_TAKER claimed at P_TAKEN_AT (as
-- job_claim gave it): the row locked, the runner run and the job marked
-- done, all in the caller's transaction, with the tenant entered for the
-- rest of it. Returns the events the runner produced, or NULL when the
-- job is no longer this taker's (rescheduled, cancelled, or its lease
-- passed and another daemon took it, or its tenant is not active now).
-- Called as the daemon's role.
CREATE OR REPLACE FUNCTION platform.job_run(p_tenant bigint, p_id bigint, p_taker text, p_taken_at text) RETURNS jsonb
LANGUAGE plpgsql AS $$
DECLARE
    j record;
    events jsonb;
    at timestamptz;
BEGIN
    PERFORM platform.enter_tenant(p_tenant::text);
    -- Claimed before its tenant was suspended (entering waited for the
    -- suspension, which waited for the claim): left for when it is
    -- active again, its lease dropped and this attempt not counted.
    IF NOT EXISTS (SELECT 1 FROM platform.tenants x WHERE x.id = p_tenant AND x.status = 'active') THEN
        PERFORM platform.job_release(p_tenant, p_id, p_taker, p_taken_at);
        RETURN NULL;
    END IF;
    SELECT * INTO j FROM jobs y WHERE y.tenant_id = p_tenant AND y.id = p_id FOR UPDATE;
    IF NOT FOUND OR j.state <> 'pending' OR j.taken_by IS DISTINCT FROM p_taker
       OR j.taken_at IS DISTINCT FROM p_taken_at::timestamptz THEN
        RETURN NULL;
    END IF;
    events := coalesce(platform.job_dispatch(p_tenant, j.kind, j.subject), '[]'::jsonb);
    at := clock_timestamp();
    -- A runner that scheduled its own kind and subject again (a digest:
    -- the next batch, the next period) moved this very row, the pending
    -- one, and job_schedule cleared its taker: it stays pending for then.
    UPDATE jobs y SET state = 'done', done_at = at, lease_until = NULL, last_error = NULL
     WHERE y.tenant_id = p_tenant AND y.id = p_id AND y.taken_by IS NOT DISTINCT FROM p_taker;
    -- The tenant's jobs finished more than 30 days ago go, a hundred at a
    -- time with each job run, so that the table holds a month of them
    -- (failed ones stay until looked at: `aantafel jobs list --failed`).
    DELETE FROM jobs y
     WHERE y.tenant_id = p_tenant AND y.id IN (
           SELECT o.id FROM jobs o
            WHERE o.tenant_id = p_tenant AND o.state IN ('done', 'cancelled')
              AND o.done_at < at - interval '30 days'
            ORDER BY o.done_at LIMIT 100);
    RETURN events;
END $$;

-- Job JID of tenant T, claimed by P_TAKER at P_TAKEN_AT, failed with
-- P_ERROR (its work was rolled back): tried again after a backoff (30 s,
-- doubling, at most an hour), or 'failed' once P_MAX_ATTEMPTS were made.
-- Returns the new state, or NULL when the job is no longer this taker's.
CREATE OR REPLACE FUNCTION platform.job_failed(p_tenant bigint, p_id bigint, p_taker text, p_taken_at text,
                                               p_error text, p_max_attempts int) RETURNS text
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    j record;
    at timestamptz := clock_timestamp();
    due timestamptz;
    prev text := current_setting('aantafel.tenant_id', true);
    outcome text;
BEGIN
    PERFORM platform.enter_tenant(p_tenant::text);
    SELECT * INTO j FROM public.jobs y WHERE y.tenant_id = p_tenant AND y.id = p_id FOR UPDATE;
    IF FOUND AND j.state = 'pending' AND j.taken_by IS NOT DISTINCT FROM p_taker
       AND j.taken_at IS NOT DISTINCT FROM p_taken_at::timestamptz THEN
        IF j.attempts < p_max_attempts THEN
            due := at + least(interval '30 seconds' * power(2, least(greatest(j.attempts - 1, 0), 16)), interval '1 hour');
        END IF;
        outcome := CASE WHEN due IS NULL THEN 'failed' ELSE 'pending' END;
        UPDATE public.jobs y
           SET state = outcome, run_at = coalesce(due, y.run_at), lease_until = NULL,
               done_at = CASE WHEN due IS NULL THEN at END,
               last_error = left(coalesce(p_error, 'unknown error'), 2000)
         WHERE y.tenant_id = p_tenant AND y.id = p_id;
    END IF;
    PERFORM platform.enter_tenant(coalesce(prev, ''));
    RETURN outcome;
END $$;

-- Job JID of tenant T, claimed by P_TAKER at P_TAKEN_AT, was not run to
-- its end (its daemon is stopping): free at once for any daemon, its
-- attempt not counted. Returns whether it was still this taker's.
CREATE OR REPLACE FUNCTION platform.job_release(p_tenant bigint, p_id bigint, p_taker text, p_taken_at text)
RETURNS boolean
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    prev text := current_setting('aantafel.tenant_id', true);
    done boolean;
    taken timestamptz := p_taken_at::timestamptz;
BEGIN
    PERFORM platform.enter_tenant(p_tenant::text);
    UPDATE public.jobs y SET taken_by = NULL, taken_at = NULL, lease_until = NULL, attempts = greatest(y.attempts - 1, 0)
     WHERE y.tenant_id = p_tenant AND y.id = p_id AND y.state = 'pending' AND y.taken_by = p_taker AND y.taken_at = taken;
    done := FOUND;
    PERFORM platform.enter_tenant(coalesce(prev, ''));
    RETURN done;
END $$;

-- ---------------------------------------------------------------- runners

-- decision.close: closes decision DID at its closes_at exactly as its
-- facilitator's close does (api.decision_close_vote: the same counts and
-- majority outcome), with nobody as the closer; a no-op when it is gone,
-- closed already, or its closes_at is not (or no longer) due.
CREATE OR REPLACE FUNCTION platform.job_decision_close(t bigint, did bigint) RETURNS jsonb
LANGUAGE plpgsql AS $$
DECLARE
    d decisions;
BEGIN
    SELECT * INTO d FROM decisions y WHERE y.tenant_id = t AND y.id = did FOR UPDATE;
    IF NOT FOUND OR d.state <> 'open' OR d.closes_at IS NULL OR d.closes_at > clock_timestamp() THEN
        RETURN '[]'::jsonb;
    END IF;
    PERFORM api.decision_close_vote(t, d, NULL);
    RETURN jsonb_build_array(jsonb_build_object('name', 'decision.closed', 'data', api.decision_event(t, did, NULL)));
END $$;

-- ---------------------------------------------------------------- the provider

-- `aantafel jobs list [--tenant SLUG] [--failed]` (core/cmd/jobs_cmd.c):
-- the pending jobs and the failed ones, or with P_FAILED those that
-- failed and those whose last attempt failed, of every tenant or of
-- P_SLUG's. STATUS: due (run_at passed, nobody has it), taken (a lease
-- runs), waiting (run_at ahead), retrying (waiting after a failed
-- attempt) or failed. The owner's alone, like provider.sql's functions.
CREATE OR REPLACE FUNCTION platform.jobs_list(p_slug text, p_failed boolean)
RETURNS TABLE (slug text, id bigint, kind text, subject bigint, status text, run_at timestamptz, attempts int,
               taken_by text, lease_until timestamptz, last_error text)
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
#variable_conflict use_column
DECLARE
    t record;
    prev text := current_setting('aantafel.tenant_id', true);
    at timestamptz := clock_timestamp();
BEGIN
    IF p_slug IS NOT NULL THEN
        PERFORM platform.tenant_find(p_slug);
    END IF;
    FOR t IN SELECT pt.id, pt.slug FROM platform.tenants pt WHERE p_slug IS NULL OR pt.slug = p_slug ORDER BY pt.slug LOOP
        PERFORM platform.visit_tenant(t.id::text);
        RETURN QUERY
            SELECT t.slug, j.id, j.kind, j.subject,
                   CASE WHEN j.state = 'failed' THEN 'failed'
                        WHEN j.lease_until > at THEN 'taken'
                        WHEN j.run_at <= at THEN 'due'
                        WHEN j.last_error IS NOT NULL THEN 'retrying'
                        ELSE 'waiting' END,
                   j.run_at, j.attempts, j.taken_by, j.lease_until, j.last_error
              FROM public.jobs j
             WHERE j.tenant_id = t.id
               AND (j.state = 'failed' OR (j.state = 'pending' AND (NOT p_failed OR j.last_error IS NOT NULL)))
             ORDER BY j.state = 'pending', j.run_at, j.id;
    END LOOP;
    PERFORM platform.enter_tenant(coalesce(prev, ''));
END $$;
