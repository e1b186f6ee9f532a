-- The bytes a tenant's stored bundle versions may take in all (the sum of
-- platform.bundles.total_bytes): an admin's upload (POST /api/v1/bundle)
-- that would go over it is refused with the numbers; the provider's own
-- `aantafel tenant deploy` is counted, never refused. 256 MiB is eight
-- bundles at the largest a bundle may be.
ALTER TABLE platform.tenants
    ADD COLUMN bundle_quota bigint NOT NULL DEFAULT 268435456 CHECK (bundle_quota >= 0);
