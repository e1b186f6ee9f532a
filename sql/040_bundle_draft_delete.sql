-- Deleting a draft (DELETE /api/v1/bundle/versions/{id}, sql/code/bundles.sql):
-- its rows go, and so do its bytes from the bundle quota. Its version
-- number is never given again: the daemons keep bundles and Lua states by
-- (tenant, version), so a new upload under a deleted draft's number could
-- be served from a cache with the deleted draft's files. bundle_last is
-- the highest version number the tenant was ever given; it only grows
-- (an upload and `aantafel tenant deploy` take bundle_last + 1).
ALTER TABLE platform.tenants ADD COLUMN bundle_last int NOT NULL DEFAULT 0 CHECK (bundle_last >= 0);

UPDATE platform.tenants x SET bundle_last = m.newest
  FROM (SELECT b.tenant_id, max(b.version) AS newest FROM platform.bundles b GROUP BY b.tenant_id) m
 WHERE m.tenant_id = x.id;
