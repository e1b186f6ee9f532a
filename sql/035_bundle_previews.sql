-- A draft's preview and its publication (docs/operations.md, "Bundles"):
-- an uploaded version that has not been current yet is a draft; an admin
-- previews it on the live site through a link valid for an hour, then
-- publishes it. The functions are sql/code/bundles.sql.

-- When a version first became current, and the admin who published it
-- (NULL: it became current when it was stored, by an upload or `aantafel
-- tenant deploy`, or by a rollback). NULL made_current_at: a draft. The
-- versions stay immutable otherwise (platform.refuse_bundle_update lets
-- these two be set once).
ALTER TABLE platform.bundles ADD COLUMN made_current_at timestamptz, ADD COLUMN made_current_by bigint;

-- Every version up to the current one has been current: before drafts
-- existed, a version was current when it was stored.
ALTER TABLE platform.bundles DISABLE TRIGGER bundles_immutable;
UPDATE platform.bundles b SET made_current_at = b.created_at
  FROM platform.tenants x
 WHERE x.id = b.tenant_id AND b.version <= x.bundle_version;
ALTER TABLE platform.bundles ENABLE TRIGGER bundles_immutable;

-- A preview link (POST /api/v1/bundle/versions/{id}/preview): the hash
-- of its token, the admin who asked for it and the draft it shows, until
-- expires_at. session_hash is the session it is bound to: the one that
-- asked for it from a page, or the first of that admin's sessions to open
-- it (a link asked for with an API token).
CREATE TABLE bundle_previews (
    tenant_id    bigint NOT NULL,
    token_hash   bytea NOT NULL,
    account_id   bigint NOT NULL,
    version      int NOT NULL CHECK (version > 0),
    session_hash bytea,
    created_at   timestamptz NOT NULL,
    expires_at   timestamptz NOT NULL,
    PRIMARY KEY (tenant_id, token_hash),
    FOREIGN KEY (tenant_id, account_id) REFERENCES accounts (tenant_id, id) ON DELETE CASCADE
);
CREATE INDEX bundle_previews_account ON bundle_previews (tenant_id, account_id);
SELECT platform.make_tenant_table('bundle_previews');
