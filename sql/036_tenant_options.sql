-- The bytes a tenant's stored bundle versions may take in all (the sum of
-- platform.bundles.total_bytes): an admin's upload (POST /api/v1/bundle)
-- that would go over it is refused with the numbers; the provider's own
-- `aantafel tenant deploy` is counted, never refused. 256 MiB is eight
-- bundles at the largest a bundle may be.
ALTER TABLE platform.tenants
    ADD COLUMN bundle_quota bigint NOT NULL DEFAULT 268435456 CHECK (bundle_quota >= 0);

-- The options a tenant's plugins declare editable (plugin.option with its
-- labels), as the municipality's admins set them at /beheer/instellingen
-- (PUT /api/v1/settings/options): one row per option set; no row means
-- tenant.lua's value or the declared default. The declarations live in
-- the tenant's Lua; the value is checked against them when it is set and
-- again when a plugin reads it (plugin.setting), so a row that a newer
-- declaration no longer allows is not used. The functions are
-- sql/code/options.sql.
CREATE TABLE plugin_options (
    tenant_id   bigint NOT NULL,
    plugin      text NOT NULL CHECK (plugin ~ '^[A-Za-z0-9_-]{1,64}$'),
    name        text NOT NULL CHECK (name ~ '^[a-z][a-z0-9_]{0,59}$'),
    value       jsonb NOT NULL CHECK (jsonb_typeof(value) IN ('string', 'number', 'boolean')
                                      AND octet_length(value::text) <= 20000),
    updated_at  timestamptz NOT NULL,
    PRIMARY KEY (tenant_id, plugin, name)
);
SELECT platform.make_tenant_table('plugin_options');

-- Every page may read them: a change moves the data generation on every
-- daemon, so no cached page keeps the old value.
CREATE TRIGGER plugin_options_data AFTER INSERT OR UPDATE OR DELETE ON plugin_options
    FOR EACH ROW EXECUTE FUNCTION platform.notify_data();

-- The site's default language in the registry, where every daemon reads
-- it before a request's Lua runs (the language decides the guests' cached
-- pages): a visitor's own choice (the at_lang cookie of /taal) wins over
-- it, and it wins over the browser's Accept-Language. NULL: the browser
-- decides. Kept equal to site_settings.default_lang by
-- platform.tenant_default_lang_set, which api.settings_put calls.
ALTER TABLE platform.tenants
    ADD COLUMN default_lang text CHECK (default_lang IN ('nl', 'en'));

DO $$
DECLARE
    r record;
BEGIN
    FOR r IN SELECT s.tenant_id, s.default_lang FROM site_settings s WHERE s.default_lang IS NOT NULL LOOP
        UPDATE platform.tenants t SET default_lang = r.default_lang WHERE t.id = r.tenant_id;
    END LOOP;
END $$;
