-- The platform schema: the provider's registry of tenants and their hosts.
-- Tables in schema "platform" are global (one row per tenant or host);
-- every table in schema "public" holds tenant data and follows the tenancy
-- rules (tenant_id in every key, row-level security forced). The daemon's
-- role "aantafel_app" only reads the registry.

CREATE SCHEMA IF NOT EXISTS platform;
GRANT USAGE ON SCHEMA platform TO aantafel_app;

CREATE TABLE platform.tenants (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    slug        text NOT NULL UNIQUE
                CHECK (slug ~ '^[a-z][a-z0-9-]{0,62}$'),
    name        text NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
    status      text NOT NULL DEFAULT 'active'
                CHECK (status IN ('active', 'suspended')),
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE platform.tenant_hosts (
    host        text PRIMARY KEY
                CHECK (length(host) <= 253
                       AND host ~ '^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?(\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)*$'),
    tenant_id   bigint NOT NULL REFERENCES platform.tenants (id) ON DELETE CASCADE
);
CREATE INDEX tenant_hosts_tenant ON platform.tenant_hosts (tenant_id);

GRANT SELECT ON platform.tenants, platform.tenant_hosts TO aantafel_app;

-- Every daemon LISTENs on this channel and reloads its registry: a
-- change made by any `aantafel tenant ...` command is seen within moments.
CREATE FUNCTION platform.notify_registry() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('aantafel_registry', '');
    RETURN NULL;
END $$;

CREATE TRIGGER tenants_changed AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE
    ON platform.tenants FOR EACH STATEMENT EXECUTE FUNCTION platform.notify_registry();
CREATE TRIGGER tenant_hosts_changed AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE
    ON platform.tenant_hosts FOR EACH STATEMENT EXECUTE FUNCTION platform.notify_registry();

-- The tenancy rule in one place: later migrations call this for every
-- tenant table. The policy reads the transaction-local setting; a pooled
-- connection returns '' after another tenant's transaction, which nullif
-- turns into NULL: no tenant, no rows.
CREATE FUNCTION platform.make_tenant_table(t regclass) RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
    EXECUTE format('ALTER TABLE %s ENABLE ROW LEVEL SECURITY', t);
    EXECUTE format('ALTER TABLE %s FORCE ROW LEVEL SECURITY', t);
    EXECUTE format($p$CREATE POLICY tenant_isolation ON %s
        USING (tenant_id = nullif(current_setting('aantafel.tenant_id', true), '')::bigint)
        WITH CHECK (tenant_id = nullif(current_setting('aantafel.tenant_id', true), '')::bigint)$p$, t);
    EXECUTE format('GRANT SELECT, INSERT, UPDATE, DELETE ON %s TO aantafel_app', t);
END $$;

-- Plugin data: JSON documents per tenant, plugin and key, with a version
-- for compare-and-set writes.
CREATE TABLE plugin_store (
    tenant_id   bigint NOT NULL REFERENCES platform.tenants (id) ON DELETE CASCADE,
    plugin      text NOT NULL CHECK (plugin ~ '^[a-z][a-z0-9_]{0,63}$'),
    key         text NOT NULL CHECK (length(key) BETWEEN 1 AND 200),
    value       jsonb NOT NULL,
    version     bigint NOT NULL DEFAULT 1,
    updated_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, plugin, key)
);
CREATE INDEX plugin_store_recent ON plugin_store (tenant_id, plugin, updated_at DESC);
SELECT platform.make_tenant_table('plugin_store');
