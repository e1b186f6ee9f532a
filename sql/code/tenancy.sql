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
