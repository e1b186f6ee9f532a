-- The tenancy rule in one place: the numbered migrations call this for
-- every tenant table. The policy reads the transaction-local setting; a
-- pooled connection returns '' after another tenant's transaction, which
-- nullif turns into NULL: no tenant, no rows.
CREATE OR REPLACE FUNCTION platform.make_tenant_table(t regclass) RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
    EXECUTE format('ALTER TABLE %s ENABLE ROW LEVEL SECURITY', t);
    EXECUTE format('ALTER TABLE %s FORCE ROW LEVEL SECURITY', t);
    EXECUTE format($p$CREATE POLICY tenant_isolation ON %s
        USING (tenant_id = nullif(current_setting('aantafel.tenant_id', true), '')::bigint)
        WITH CHECK (tenant_id = nullif(current_setting('aantafel.tenant_id', true), '')::bigint)$p$, t);
    EXECUTE format('GRANT SELECT, INSERT, UPDATE, DELETE ON %s TO aantafel_app', t);
END $$;

-- Tenant T's lock, until the transaction ends: shared for everyone who
-- works in the tenant (platform.enter_tenant takes it), exclusive for
-- the provider's commands that change whether it may be worked in
-- (suspend, resume, delete in provider.sql). An exclusive taker waits
-- until every transaction that entered the tenant has ended, and a
-- transaction entering it meanwhile waits until the taker's commit: a
-- deletion never runs beside a request, a job or the mail deliverer of
-- its tenant, and a suspension returns once none of them is still
-- working. An advisory lock of the coordinator's (every session of the
-- daemons and the commands is one of the coordinator's on a cluster),
-- so that nothing is written per request: the two-key form, with its
-- own first key, apart from `aantafel migrate`'s one-key lock; the id
-- folded into the second (two tenants sharing it only take turns).
-- Answers whether it had to wait for another transaction.
CREATE OR REPLACE FUNCTION platform.tenant_lock(t bigint, p_exclusive boolean) RETURNS boolean
LANGUAGE plpgsql AS $$
DECLARE
    k int := (t % 2147483648)::int;
BEGIN
    IF p_exclusive THEN
        IF pg_try_advisory_xact_lock(1952804212, k) THEN
            RETURN false;
        END IF;
        PERFORM pg_advisory_xact_lock(1952804212, k);
    ELSE
        IF pg_try_advisory_xact_lock_shared(1952804212, k) THEN
            RETURN false;
        END IF;
        PERFORM pg_advisory_xact_lock_shared(1952804212, k);
    END IF;
    RETURN true;
END $$;

-- Enters a tenant for the rest of the transaction: what the policy above
-- reads, and the daemon's writer tag (sql/code/notify.sql). SET LOCAL,
-- not set_config: on a Citus cluster (citus.propagate_set_commands =
-- 'local', set by `aantafel migrate --distribute`) SET LOCAL is sent to
-- every worker the transaction uses, set_config is not, and a worker
-- without the tenant would answer no rows and refuse every write. SET
-- cannot take a parameter, hence the quoting here. The daemon's
-- per-request statement (core/db/db.c) and every function that changes
-- tenant (sql/code/mail.sql) come through this. It takes the tenant's
-- lock (shared, above) first, outside a task Citus runs on a worker for
-- the coordinator's transaction (which holds it already). When it had
-- to wait, the tenant may have been deleted meanwhile: then it refuses
-- (SQLSTATE AT041), rather than let a write make a row of a tenant that
-- is no more (not every tenant table refers to the registry). Without a
-- wait nothing is read: no deletion can have begun.
CREATE OR REPLACE FUNCTION platform.enter_tenant(p_tenant text, p_writer text DEFAULT NULL) RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
    waited boolean := false;
BEGIN
    IF coalesce(p_tenant, '') <> '' AND NOT platform.in_citus_task() THEN
        waited := platform.tenant_lock(p_tenant::bigint, false);
    END IF;
    -- A statement of its own: its snapshot is taken after the wait.
    IF waited AND NOT EXISTS (SELECT 1 FROM platform.tenants x WHERE x.id = p_tenant::bigint) THEN
        RAISE EXCEPTION 'tenant % was deleted', p_tenant USING ERRCODE = 'AT041';
    END IF;
    PERFORM platform.visit_tenant(p_tenant);
    IF p_writer IS NOT NULL THEN
        EXECUTE format('SET LOCAL aantafel.writer = %L', p_writer);
    END IF;
END $$;

-- Enters a tenant as platform.enter_tenant does, without the tenant's
-- lock: for the loops over every tenant of the schedulers and the mail
-- deliverers (platform.job_claim, mail_claim, …), which only read rows or
-- change rows that exist, so that a deletion beside them waits for their
-- row locks and then deletes those rows too. A lock held per tenant
-- visited until their commit would fill the server's lock table with
-- thousands of tenants and a few daemons.
CREATE OR REPLACE FUNCTION platform.visit_tenant(p_tenant text) RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
    EXECUTE format('SET LOCAL aantafel.tenant_id = %L', coalesce(p_tenant, ''));
END $$;

-- The tenant of the current transaction (the setting enter_tenant made),
-- for the SECURITY DEFINER functions that act on the registry for the
-- daemon's role: refused when no tenant was entered.
CREATE OR REPLACE FUNCTION platform.entered_tenant() RETURNS bigint
LANGUAGE plpgsql STABLE AS $$
DECLARE
    t bigint := nullif(current_setting('aantafel.tenant_id', true), '')::bigint;
BEGIN
    IF t IS NULL THEN
        RAISE EXCEPTION 'no tenant entered' USING ERRCODE = 'insufficient_privilege';
    END IF;
    RETURN t;
END $$;
