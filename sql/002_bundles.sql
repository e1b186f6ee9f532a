-- Tenant bundles: each `aantafel tenant deploy` stores the municipality's
-- files (tenant.lua, plugins, templates, translations, static files) as a
-- numbered, immutable version; platform.tenants.bundle_version names the
-- one every daemon runs (0: none deployed yet). Like the registry these
-- are global provider tables: written by the owner role only, read by the
-- daemon's role. Changing bundle_version updates platform.tenants, whose
-- trigger notifies every daemon.

CREATE TABLE platform.bundles (
    tenant_id   bigint NOT NULL REFERENCES platform.tenants (id) ON DELETE CASCADE,
    version     int NOT NULL CHECK (version > 0),
    checksum    text NOT NULL CHECK (checksum ~ '^[0-9a-f]{64}$'),
    total_bytes bigint NOT NULL CHECK (total_bytes >= 0),
    nfiles      int NOT NULL CHECK (nfiles >= 0),
    created_at  timestamptz NOT NULL DEFAULT now(),
    created_by  text NOT NULL CHECK (length(created_by) BETWEEN 1 AND 200),
    PRIMARY KEY (tenant_id, version)
);

CREATE TABLE platform.bundle_files (
    tenant_id   bigint NOT NULL,
    version     int NOT NULL,
    path        text NOT NULL CHECK (length(path) BETWEEN 1 AND 200),
    content     bytea NOT NULL,
    PRIMARY KEY (tenant_id, version, path),
    FOREIGN KEY (tenant_id, version) REFERENCES platform.bundles (tenant_id, version) ON DELETE CASCADE
);

GRANT SELECT ON platform.bundles, platform.bundle_files TO aantafel_app;

-- A deployed version never changes: a new deploy is a new version. Rows
-- go only with their tenant (ON DELETE CASCADE).
CREATE FUNCTION platform.refuse_bundle_update() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'bundle versions are immutable: deploy a new version instead'
        USING ERRCODE = 'raise_exception';
END $$;

CREATE TRIGGER bundles_immutable BEFORE UPDATE ON platform.bundles
    FOR EACH ROW EXECUTE FUNCTION platform.refuse_bundle_update();
CREATE TRIGGER bundle_files_immutable BEFORE UPDATE ON platform.bundle_files
    FOR EACH ROW EXECUTE FUNCTION platform.refuse_bundle_update();

-- The deployed version and the plugin store's quota (bytes of JSON
-- documents per tenant).
ALTER TABLE platform.tenants
    ADD COLUMN bundle_version int NOT NULL DEFAULT 0 CHECK (bundle_version >= 0),
    ADD COLUMN store_quota bigint NOT NULL DEFAULT 10485760 CHECK (store_quota >= 0);

-- bundle_version names a stored version (a foreign key cannot: 0 means
-- none).
CREATE FUNCTION platform.check_bundle_version() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.bundle_version <> 0 AND NOT EXISTS (
        SELECT 1 FROM platform.bundles b WHERE b.tenant_id = NEW.id AND b.version = NEW.bundle_version)
    THEN
        RAISE EXCEPTION 'tenant % has no bundle version %', NEW.slug, NEW.bundle_version
            USING ERRCODE = 'foreign_key_violation';
    END IF;
    RETURN NEW;
END $$;

CREATE TRIGGER tenants_bundle_version BEFORE INSERT OR UPDATE OF bundle_version ON platform.tenants
    FOR EACH ROW EXECUTE FUNCTION platform.check_bundle_version();
