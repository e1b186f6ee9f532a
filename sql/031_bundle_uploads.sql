-- Bundles uploaded by a tenant's admins (POST /api/v1/bundle): the
-- version records the account that published it; NULL for the provider's
-- `aantafel tenant deploy`.
ALTER TABLE platform.bundles ADD COLUMN published_by bigint;
