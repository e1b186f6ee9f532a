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

-- Enters a tenant for the rest of the transaction: what the policy above
-- reads, and the daemon's writer tag (sql/code/notify.sql). SET LOCAL,
-- not set_config: on a Citus cluster (citus.propagate_set_commands =
-- 'local', set by `aantafel migrate --distribute`) SET LOCAL is sent to
-- every worker the transaction uses, set_config is not, and a worker
-- without the tenant would answer no rows and refuse every write. SET
-- cannot take a parameter, hence the quoting here. The daemon's
-- per-request statement (core/db/db.c) and every function that changes
-- tenant (sql/code/mail.sql) come through this.
CREATE OR REPLACE FUNCTION platform.enter_tenant(p_tenant text, p_writer text DEFAULT NULL) RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
    EXECUTE format('SET LOCAL aantafel.tenant_id = %L', coalesce(p_tenant, ''));
    IF p_writer IS NOT NULL THEN
        EXECUTE format('SET LOCAL aantafel.writer = %L', p_writer);
    END IF;
END $$;
