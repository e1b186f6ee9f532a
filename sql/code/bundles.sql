-- Tenant bundles: each `aantafel tenant deploy` stores the municipality's
-- files as a numbered, immutable version; platform.tenants.bundle_version
-- names the one every daemon runs (0: none deployed yet).

-- A deployed version never changes: a new deploy is a new version. Rows
-- go only with their tenant (ON DELETE CASCADE).
-- The one change allowed: a draft's first publication (made_current_at
-- and made_current_by set once, sql/035_bundle_previews.sql). Told by
-- the row's columns, not the table's name: on a Citus cluster the
-- trigger fires on each placement, named after its shard.
CREATE OR REPLACE FUNCTION platform.refuse_bundle_update() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF to_jsonb(OLD) ? 'made_current_at' AND to_jsonb(OLD) ->> 'made_current_at' IS NULL
       AND to_jsonb(NEW) ->> 'made_current_at' IS NOT NULL
       AND to_jsonb(NEW) - 'made_current_at' - 'made_current_by' = to_jsonb(OLD) - 'made_current_at' - 'made_current_by'
    THEN
        RETURN NEW;
    END IF;
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

-- ---------------------------------------------------------------- a tenant's admins

-- The versions of the tenant of the request's transaction, newest first,
-- each with the account that uploaded it (NULL: `aantafel tenant
-- deploy`). It reads the registry's tables as their owner, as the rollback
-- and the upload write them: on a Citus cluster a transaction may not read
-- a reference table's placements as another user than the one that
-- changed them. (The accounts are read by the caller, as the request's
-- own role, which may have written them in this transaction.)
CREATE OR REPLACE FUNCTION platform.bundle_versions_json() RETURNS jsonb
LANGUAGE plpgsql STABLE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    t bigint := platform.entered_tenant();
    cur int;
BEGIN
    SELECT x.bundle_version INTO cur FROM platform.tenants x WHERE x.id = t;
    RETURN jsonb_build_object('current', cur, 'items', coalesce((
        SELECT jsonb_agg(jsonb_build_object('version', b.version, 'created_at', api.utc_text(b.created_at),
                                            'nfiles', b.nfiles, 'total_bytes', b.total_bytes,
                                            'checksum', b.checksum, 'account', b.published_by,
                                            'current', b.version = cur, 'draft', b.made_current_at IS NULL,
                                            'made_current_at', api.utc_text(b.made_current_at),
                                            'made_current_by', b.made_current_by) ORDER BY b.version DESC)
          FROM platform.bundles b
         WHERE b.tenant_id = t), '[]'));
END $$;

-- GET /bundle/versions: the tenant's versions for its admins; who
-- published each is "provider" for `aantafel tenant deploy` (the
-- provider's own user names are not shown to a municipality), the admin's
-- name for an upload (POST /bundle). A draft has not been current yet;
-- made_current_by names the admin who published a draft (NULL: the
-- version became current when it was stored, or by a rollback).
CREATE OR REPLACE FUNCTION api.bundle_versions(t bigint, viewer bigint, roles text, a jsonb) RETURNS jsonb
LANGUAGE plpgsql STABLE AS $$
DECLARE
    refused jsonb := api.admin_only(viewer, roles);
    v jsonb;
    items jsonb := '[]'::jsonb;
    it jsonb;
    who text;
    publisher text;
BEGIN
    IF refused IS NOT NULL THEN
        RETURN refused;
    END IF;
    IF t <> nullif(current_setting('aantafel.tenant_id', true), '')::bigint THEN
        RETURN api.forbidden();
    END IF;
    v := platform.bundle_versions_json();
    FOR it IN SELECT x FROM jsonb_array_elements(v -> 'items') x LOOP
        who := 'provider';
        IF jsonb_typeof(it -> 'account') = 'number' THEN
            SELECT coalesce(ac.display_name, 'admin') INTO who
              FROM accounts ac WHERE ac.tenant_id = t AND ac.id = (it ->> 'account')::bigint;
            who := coalesce(who, 'admin');
        END IF;
        publisher := NULL;
        IF jsonb_typeof(it -> 'made_current_by') = 'number' THEN
            SELECT coalesce(ac.display_name, 'admin') INTO publisher
              FROM accounts ac WHERE ac.tenant_id = t AND ac.id = (it ->> 'made_current_by')::bigint;
            publisher := coalesce(publisher, 'admin');
        END IF;
        items := items || jsonb_build_array((it - 'account' - 'made_current_by')
                                            || jsonb_build_object('published_by', who, 'made_current_by', publisher));
    END LOOP;
    RETURN api.ok(jsonb_build_object('current', v -> 'current', 'items', items));
END $$;

-- The rollback of `aantafel tenant rollback` (platform.bundle_make_current)
-- for the daemon's role, only ever for the tenant of the request's
-- transaction (the setting platform.enter_tenant made): the daemon cannot
-- move another tenant's version. False when there is no such version.
CREATE OR REPLACE FUNCTION platform.bundle_rollback_current(p_version int) RETURNS boolean
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    t bigint := platform.entered_tenant();
BEGIN
    -- Rollbacks and deploys of one tenant take turns on its row.
    PERFORM 1 FROM platform.tenants x WHERE x.id = t FOR UPDATE;
    RETURN platform.bundle_make_current(t, p_version);
END $$;

-- POST /bundle/rollback {"version"}: admins make a stored version current
-- again, on every daemon.
CREATE OR REPLACE FUNCTION api.bundle_rollback(t bigint, viewer bigint, roles text, a jsonb) RETURNS jsonb
LANGUAGE plpgsql AS $$
DECLARE
    refused jsonb := api.admin_only(viewer, roles);
    v int;
BEGIN
    IF refused IS NOT NULL THEN
        RETURN refused;
    END IF;
    IF coalesce(jsonb_typeof(a -> 'version'), '') <> 'number' OR (a ->> 'version') !~ '^[1-9][0-9]{0,8}$' THEN
        RETURN api.invalid(api.field('version', 'type', 'A version number.'));
    END IF;
    v := (a ->> 'version')::int;
    IF t <> nullif(current_setting('aantafel.tenant_id', true), '')::bigint THEN
        RETURN api.forbidden();
    END IF;
    IF NOT platform.bundle_rollback_current(v) THEN
        RETURN api.error(404, 'not_found', 'There is no such version.');
    END IF;
    RETURN api.bundle_versions(t, viewer, roles, '{}');
END $$;

-- ---------------------------------------------------------------- uploads

-- Stores a bundle as tenant T's next version, or finds it the newest one
-- again: the one place a version number is given, for an upload
-- (platform.bundle_upload_store) and for `aantafel tenant deploy`
-- (platform.tenant_deploy). Its files P_PATHS and P_CONTENTS, their
-- checksum P_CHECKSUM and size P_TOTAL_BYTES; recorded as created by
-- P_CREATED_BY and published by account P_ACCOUNT (NULL: the provider).
-- The same bundle as the newest version stores nothing and is that
-- version (UNCHANGED). Granted to no one: its callers say which tenant.
CREATE OR REPLACE FUNCTION platform.bundle_store_next(t bigint, p_checksum text, p_total_bytes bigint,
                                                      p_created_by text, p_account bigint, p_paths text[],
                                                      p_contents bytea[])
RETURNS TABLE (version int, unchanged boolean)
LANGUAGE plpgsql AS $$
DECLARE
    newest int;
    newest_sum text;
    last int;
BEGIN
    IF coalesce(cardinality(p_paths), 0) <> coalesce(cardinality(p_contents), 0) THEN
        RAISE EXCEPTION 'paths and contents differ in number' USING ERRCODE = 'invalid_parameter_value';
    END IF;
    -- Uploads, deploys and rollbacks of one tenant take turns on its row.
    SELECT x.bundle_last INTO last FROM platform.tenants x WHERE x.id = t FOR UPDATE;
    SELECT b.version, b.checksum INTO newest, newest_sum
      FROM platform.bundles b WHERE b.tenant_id = t ORDER BY b.version DESC LIMIT 1;
    unchanged := newest IS NOT NULL AND newest_sum = p_checksum;
    IF unchanged THEN
        version := newest;
        RETURN NEXT;
        RETURN;
    END IF;
    -- Never a number given before, not even a deleted draft's
    -- (sql/040_bundle_draft_delete.sql).
    version := greatest(coalesce(newest, 0), coalesce(last, 0)) + 1;
    UPDATE platform.tenants x SET bundle_last = version WHERE x.id = t;
    INSERT INTO platform.bundles (tenant_id, version, checksum, total_bytes, nfiles, created_by, published_by)
    VALUES (t, version, p_checksum, p_total_bytes, coalesce(cardinality(p_paths), 0), p_created_by, p_account);
    -- Row by row: on a cluster an INSERT … SELECT into a reference table
    -- goes through COPY.
    FOR i IN 1 .. coalesce(cardinality(p_paths), 0) LOOP
        INSERT INTO platform.bundle_files (tenant_id, version, path, content)
        VALUES (t, version, p_paths[i], p_contents[i]);
    END LOOP;
    RETURN NEXT;
END $$;

-- An uploaded bundle, read and checked by the daemon (core/app/bundle_archive.c,
-- runtime_check_bundle) and stored as the next version of the tenant of the
-- request's transaction (platform.bundle_store_next), published by account
-- P_ACCOUNT; current at once when P_PUBLISH (on every daemon, through the
-- registry's trigger), a draft to preview otherwise. The same bundle as
-- the newest version is that version. Returns the version.
CREATE OR REPLACE FUNCTION platform.bundle_upload_store(p_account bigint, p_checksum text, p_total_bytes bigint,
                                                        p_paths text[], p_contents bytea[], p_publish boolean)
RETURNS int
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    t bigint := platform.entered_tenant();
    v int;
BEGIN
    SELECT s.version INTO v
      FROM platform.bundle_store_next(t, p_checksum, p_total_bytes, 'account ' || p_account, p_account, p_paths,
                                      p_contents) s;
    IF p_publish THEN
        PERFORM platform.bundle_make_current(t, v);
    END IF;
    RETURN v;
END $$;

-- The bundle quota (platform.tenants.bundle_quota) for an upload of
-- P_TOTAL_BYTES whose checksum is P_CHECKSUM, in the tenant of the
-- request's transaction: NULL when it fits (or is the newest version
-- again, which stores nothing), else {quota, used, size} in bytes. It
-- takes the tenant's row as platform.bundle_upload_store does, so that
-- the check and the store that follows in the same transaction are one
-- at a time per tenant.
CREATE OR REPLACE FUNCTION platform.bundle_quota_over(p_checksum text, p_total_bytes bigint) RETURNS jsonb
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    t bigint := platform.entered_tenant();
    quota bigint;
    used bigint;
    newest_sum text;
BEGIN
    SELECT x.bundle_quota INTO quota FROM platform.tenants x WHERE x.id = t FOR UPDATE;
    SELECT b.checksum INTO newest_sum
      FROM platform.bundles b WHERE b.tenant_id = t ORDER BY b.version DESC LIMIT 1;
    IF newest_sum IS NOT DISTINCT FROM p_checksum THEN
        RETURN NULL;
    END IF;
    SELECT coalesce(sum(b.total_bytes), 0)::bigint INTO used FROM platform.bundles b WHERE b.tenant_id = t;
    IF used + coalesce(p_total_bytes, 0) <= quota THEN
        RETURN NULL;
    END IF;
    RETURN jsonb_build_object('quota', quota, 'used', used, 'size', coalesce(p_total_bytes, 0));
END $$;

-- POST /bundle: the body is the archive, read and checked by the daemon
-- before this runs (a refused one never gets here); the daemon passes its
-- files as P_PATHS and P_CONTENTS and A's _checksum and _total_bytes. A
-- `draft` (from the query string) is stored without becoming current:
-- the admin previews it, then publishes it with POST /bundle/rollback.
-- One that would take the tenant's stored versions over its bundle quota
-- is refused (413 with the bytes: quota, used, size) and nothing is
-- stored.
CREATE OR REPLACE FUNCTION api.bundle_upload(t bigint, viewer bigint, roles text, a jsonb, p_paths text[],
                                             p_contents bytea[]) RETURNS jsonb
LANGUAGE plpgsql AS $$
DECLARE
    refused jsonb := api.admin_only(viewer, roles);
    draft boolean := coalesce(a ->> 'draft', '') IN ('1', 'true');
    v int;
    over jsonb;
BEGIN
    IF refused IS NOT NULL THEN
        RETURN refused;
    END IF;
    IF t <> nullif(current_setting('aantafel.tenant_id', true), '')::bigint THEN
        RETURN api.forbidden();
    END IF;
    IF coalesce(a ->> '_checksum', '') !~ '^[0-9a-f]{64}$' OR p_paths IS NULL THEN
        RETURN api.error(400, 'invalid_bundle', 'Send the bundle as a .tar.gz or a .zip archive.');
    END IF;
    over := platform.bundle_quota_over(a ->> '_checksum', (a ->> '_total_bytes')::bigint);
    IF over IS NOT NULL THEN
        RETURN api.ok(jsonb_build_object('error', jsonb_build_object(
            'code', 'over_quota',
            'message', format('The bundle takes %s bytes; this municipality''s bundle versions may take %s bytes in all '
                              'and take %s already. Nothing was stored: ask the hosting provider for a larger quota.',
                              over ->> 'size', over ->> 'quota', over ->> 'used'),
            'fields', '{}'::jsonb, 'problems', '[]'::jsonb) || over), 413);
    END IF;
    v := platform.bundle_upload_store(viewer, a ->> '_checksum', (a ->> '_total_bytes')::bigint, p_paths, p_contents,
                                      NOT draft);
    RETURN api.ok(api.bundle_versions(t, viewer, roles, '{}') -> 'body'
                  || jsonb_build_object('version', v, 'published', NOT draft), 201);
END $$;

-- ---------------------------------------------------------------- drafts: preview and publish

-- What P_VERSION of the tenant of the request's transaction is: 'draft'
-- (stored, never current, sql/035_bundle_previews.sql), 'not_draft' (it
-- has been current) or 'none' (no such version). One row read, as the
-- registry's owner, as the other functions here read it.
CREATE OR REPLACE FUNCTION platform.bundle_version_state(p_version int) RETURNS text
LANGUAGE plpgsql STABLE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    t bigint := platform.entered_tenant();
    draft boolean;
BEGIN
    SELECT b.made_current_at IS NULL INTO draft FROM platform.bundles b WHERE b.tenant_id = t AND b.version = p_version;
    IF NOT FOUND THEN
        RETURN 'none';
    END IF;
    RETURN CASE WHEN draft THEN 'draft' ELSE 'not_draft' END;
END $$;

-- Publishes draft P_VERSION of the tenant of the request's transaction:
-- recorded as made current by P_ACCOUNT, now, then made current on every
-- daemon as a rollback is (platform.bundle_make_current). 'published', or
-- why not: 'none' (no such version), 'not_draft' (it has been current).
CREATE OR REPLACE FUNCTION platform.bundle_publish_current(p_version int, p_account bigint) RETURNS text
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    t bigint := platform.entered_tenant();
    at timestamptz := now();
    state text;
BEGIN
    -- Uploads, deploys, rollbacks and publications of one tenant take
    -- turns on its row; the draft is looked at again once it is taken.
    PERFORM 1 FROM platform.tenants x WHERE x.id = t FOR UPDATE;
    state := platform.bundle_version_state(p_version);
    IF state <> 'draft' THEN
        RETURN state;
    END IF;
    UPDATE platform.bundles b SET made_current_at = at, made_current_by = p_account
     WHERE b.tenant_id = t AND b.version = p_version;
    PERFORM platform.bundle_make_current(t, p_version);
    RETURN 'published';
END $$;

-- The version of the path ({id}), or NULL.
CREATE OR REPLACE FUNCTION api.bundle_version_arg(a jsonb) RETURNS int
LANGUAGE sql IMMUTABLE AS $$
    SELECT CASE WHEN coalesce(a ->> 'id', '') ~ '^[1-9][0-9]{0,8}$' THEN (a ->> 'id')::int END
$$;

-- Why an admin's operation on draft V of tenant T is refused (NULL: it
-- is not): not an admin, another tenant's transaction, no version
-- number, no such version (404), or a version that has been current
-- (409 with NOT_DRAFT, what to do instead).
CREATE OR REPLACE FUNCTION api.bundle_draft_refusal(t bigint, viewer bigint, roles text, v int, not_draft text)
RETURNS jsonb
LANGUAGE plpgsql STABLE AS $$
DECLARE
    refused jsonb := api.admin_only(viewer, roles);
    state text;
BEGIN
    IF refused IS NOT NULL THEN
        RETURN refused;
    END IF;
    IF t <> nullif(current_setting('aantafel.tenant_id', true), '')::bigint THEN
        RETURN api.forbidden();
    END IF;
    IF v IS NULL THEN
        RETURN api.invalid(api.field('id', 'type', 'A version number.'));
    END IF;
    -- Refused before the tenant's row is locked (a write to the registry,
    -- on every node of a cluster).
    state := platform.bundle_version_state(v);
    IF state = 'none' THEN
        RETURN api.error(404, 'not_found', 'There is no such version.');
    ELSIF state = 'not_draft' THEN
        RETURN api.error(409, 'not_draft', not_draft);
    END IF;
    RETURN NULL;
END $$;

-- POST /bundle/versions/{id}/publish: an admin makes a draft current on
-- every daemon; the versions' list answers.
CREATE OR REPLACE FUNCTION api.bundle_publish(t bigint, viewer bigint, roles text, a jsonb) RETURNS jsonb
LANGUAGE plpgsql AS $$
DECLARE
    not_draft text := 'This version is not a draft: it has been current before (make it current again with POST /bundle/rollback).';
    refused jsonb := api.bundle_draft_refusal(t, viewer, roles, api.bundle_version_arg(a), not_draft);
    outcome text;
BEGIN
    IF refused IS NOT NULL THEN
        RETURN refused;
    END IF;
    -- The tenant's row locked, the draft looked at again: a race settled.
    outcome := platform.bundle_publish_current(api.bundle_version_arg(a), viewer);
    IF outcome = 'none' THEN
        RETURN api.error(404, 'not_found', 'There is no such version.');
    ELSIF outcome = 'not_draft' THEN
        RETURN api.error(409, 'not_draft', not_draft);
    END IF;
    RETURN api.bundle_versions(t, viewer, roles, '{}');
END $$;

-- POST /bundle/versions/{id}/preview: a link for an admin to see draft
-- {id} on the live site for an hour. The daemon drew the link's token
-- (_secret_hash; the token itself is in the answer, once); the link is
-- the admin's alone, bound to the session that asked for it (_session)
-- or else to the first of the admin's sessions that opens it. The
-- tenant's expired links go now.
CREATE OR REPLACE FUNCTION api.bundle_preview(t bigint, viewer bigint, roles text, a jsonb) RETURNS jsonb
LANGUAGE plpgsql AS $$
DECLARE
    v int := api.bundle_version_arg(a);
    refused jsonb := api.bundle_draft_refusal(t, viewer, roles, v,
                                              'Only a draft (a version that has not been current) has a preview.');
    at timestamptz := now();
    ends timestamptz := at + interval '1 hour';
BEGIN
    IF refused IS NOT NULL THEN
        RETURN refused;
    END IF;
    IF coalesce(a ->> '_secret_hash', '') !~ '^[0-9a-f]{64}$' THEN
        RETURN api.error(400, 'no_token', 'The daemon drew no token for the link.');
    END IF;
    DELETE FROM bundle_previews p WHERE p.tenant_id = t AND p.expires_at < at;
    INSERT INTO bundle_previews (tenant_id, token_hash, account_id, version, session_hash, created_at, expires_at)
    VALUES (t, decode(a ->> '_secret_hash', 'hex'), viewer, v,
            CASE WHEN coalesce(a ->> '_session', '') ~ '^[0-9a-f]{64}$' THEN decode(a ->> '_session', 'hex') END,
            at, ends);
    RETURN api.ok(jsonb_build_object('version', v, 'expires_at', api.utc_text(ends), 'path', '/voorbeeld/'), 201);
END $$;

-- Which draft a preview shows (core/lua/runtime_preview.c), and who asks:
-- the principal of the session whose cookie hashes to P_SESSION (valid
-- for IDLE and ABSOLUTE seconds, read and its last use moved by
-- api.session_principal; no row when there is none), with the version of
-- the preview whose token hashes to P_TOKEN and the seconds it has left.
-- Those two are NULL when the link has expired, is another tenant's or
-- another admin's, belongs to another session, the account is no longer
-- an admin, or the version is no longer a draft. The page uses the
-- principal as its own: it reads the session no second time. P_OPEN: the
-- link is being opened, and binds itself to the session when no session
-- has it yet.
CREATE OR REPLACE FUNCTION platform.bundle_preview_find(t bigint, p_token text, p_session text, idle bigint,
                                                        absolute bigint, p_open boolean)
RETURNS TABLE (account_id bigint, display_name text, roles text, version int, seconds_left int)
LANGUAGE plpgsql AS $$
DECLARE
    at timestamptz := now();
    p_account bigint;
    p_version int;
    p_bound bytea;
    p_ends timestamptz;
BEGIN
    IF p_session !~ '^[0-9a-f]{64}$' THEN
        RETURN;
    END IF;
    SELECT s.account_id, s.display_name, s.roles INTO account_id, display_name, roles
      FROM api.session_principal(t, p_session, idle, absolute) s;
    IF account_id IS NULL THEN
        RETURN;
    END IF;
    IF p_token ~ '^[0-9a-f]{64}$' AND api.has_role(roles, 'admin') THEN
        SELECT p.account_id, p.version, p.session_hash, p.expires_at INTO p_account, p_version, p_bound, p_ends
          FROM bundle_previews p
         WHERE p.tenant_id = t AND p.token_hash = decode(p_token, 'hex');
        IF FOUND AND p_ends > at AND p_account = account_id THEN
            IF p_bound IS NULL AND p_open THEN
                UPDATE bundle_previews p SET session_hash = decode(p_session, 'hex')
                 WHERE p.tenant_id = t AND p.token_hash = decode(p_token, 'hex') AND p.session_hash IS NULL;
                p_bound := decode(p_session, 'hex');
            END IF;
            IF p_bound = decode(p_session, 'hex') AND platform.bundle_version_state(p_version) = 'draft' THEN
                version := p_version;
                seconds_left := greatest(1, ceil(extract(epoch FROM p_ends - at)))::int;
            END IF;
        END IF;
    END IF;
    RETURN NEXT;
END $$;

-- ---------------------------------------------------------------- drafts: deletion

-- Deletes draft P_VERSION of the tenant of the request's transaction (a
-- version never current): its files and its row go, and with them its
-- bytes from the bundle quota; its number is never given again
-- (platform.tenants.bundle_last). The tenant's row is touched so that
-- every daemon hears of it (the registry's trigger) and drops the
-- draft's Lua states. 'deleted', or why not: 'none' (no such version),
-- 'not_draft' (it has been current).
CREATE OR REPLACE FUNCTION platform.bundle_delete_draft(p_version int) RETURNS text
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    t bigint := platform.entered_tenant();
    at timestamptz := now();
    cur int;
    state text;
BEGIN
    -- Uploads, deploys, rollbacks, publications and deletions of one
    -- tenant take turns on its row; the draft is looked at again once it
    -- is taken.
    SELECT x.bundle_version INTO cur FROM platform.tenants x WHERE x.id = t FOR UPDATE;
    state := platform.bundle_version_state(p_version);
    IF state = 'none' THEN
        RETURN 'none';
    ELSIF state = 'not_draft' OR p_version = cur THEN
        RETURN 'not_draft';
    END IF;
    DELETE FROM platform.bundle_files f WHERE f.tenant_id = t AND f.version = p_version;
    DELETE FROM platform.bundles b WHERE b.tenant_id = t AND b.version = p_version;
    UPDATE platform.tenants x SET updated_at = at WHERE x.id = t;
    RETURN 'deleted';
END $$;

-- DELETE /bundle/versions/{id}: an admin deletes a draft (a version that
-- has never been current); its preview links stop working at once, its
-- bytes no longer count against the bundle quota, and its number is not
-- given to a later upload. The versions' list answers.
CREATE OR REPLACE FUNCTION api.bundle_delete(t bigint, viewer bigint, roles text, a jsonb) RETURNS jsonb
LANGUAGE plpgsql AS $$
DECLARE
    not_draft text := 'This version is not a draft: it has been current, and stays in the list to roll back to.';
    v int := api.bundle_version_arg(a);
    refused jsonb := api.bundle_draft_refusal(t, viewer, roles, v, not_draft);
    outcome text;
BEGIN
    IF refused IS NOT NULL THEN
        RETURN refused;
    END IF;
    -- The links first, as the request's role; then the registry's rows,
    -- as their owner (the tenant's row locked, the draft looked at again:
    -- a race with a publication settled).
    DELETE FROM bundle_previews p WHERE p.tenant_id = t AND p.version = v;
    outcome := platform.bundle_delete_draft(v);
    IF outcome = 'none' THEN
        RETURN api.error(404, 'not_found', 'There is no such version.');
    ELSIF outcome = 'not_draft' THEN
        RETURN api.error(409, 'not_draft', not_draft);
    END IF;
    RETURN api.bundle_versions(t, viewer, roles, '{}');
END $$;
