-- Tenant bundles: each `aantafel tenant deploy` stores the municipality's
-- files as a numbered, immutable version; platform.tenants.bundle_version
-- names the one every daemon runs (0: none deployed yet).

-- A deployed version never changes: a new deploy is a new version. Rows
-- go only with their tenant (ON DELETE CASCADE).
CREATE OR REPLACE FUNCTION platform.refuse_bundle_update() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'bundle versions are immutable: deploy a new version instead'
        USING ERRCODE = 'raise_exception';
END $$;

-- bundle_version names a stored version (a foreign key cannot: 0 means
-- none).
CREATE OR REPLACE FUNCTION platform.check_bundle_version() RETURNS trigger
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

-- A bundle version as the daemon fetches it (core/app/bundle.c): its
-- checksum and file count, then its files.
CREATE OR REPLACE FUNCTION platform.bundle_head(p_tenant bigint, p_version int)
RETURNS TABLE (checksum text, nfiles int)
LANGUAGE plpgsql STABLE AS $$
BEGIN
    RETURN QUERY SELECT b.checksum, b.nfiles FROM platform.bundles b
                  WHERE b.tenant_id = p_tenant AND b.version = p_version;
END $$;

CREATE OR REPLACE FUNCTION platform.bundle_files_of(p_tenant bigint, p_version int)
RETURNS TABLE (path text, content bytea)
LANGUAGE plpgsql STABLE AS $$
BEGIN
    RETURN QUERY SELECT f.path, f.content FROM platform.bundle_files f
                  WHERE f.tenant_id = p_tenant AND f.version = p_version;
END $$;
