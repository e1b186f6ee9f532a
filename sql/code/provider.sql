-- The provider's commands (`aantafel tenant …`, `aantafel user create`,
-- core/cmd/): one function per action, each called as one statement, so
-- each action is one transaction. They run as the owner role the commands
-- connect with; grants.sql grants none of them to the daemon's role.
--
-- The names and hosts are checked in C first, so that the provider gets a
-- plain reason before any connection; the constraints stay the final word.
-- What the provider can act on is refused here with a message meant for
-- them and a SQLSTATE of the class 'AT' (the commands print the message
-- and exit 1):
--
--   AT001  no such tenant
--   AT002  the tenant exists already
--   AT003  the host belongs to a tenant already
--   AT004  the host does not belong to this tenant
--   AT005  the tenant has no such bundle version
--   AT006  the tenant is not suspended (delete)
--
-- Registry changes notify every daemon through the triggers of
-- platform.tenants and tenant_hosts (sql/code/notify.sql), on one
-- PostgreSQL and on a Citus cluster alike (reference tables, written from
-- this session).

-- The tenant's id, its row locked until the transaction ends when
-- P_LOCK (deploys, rollbacks and deletions of one tenant take turns).
CREATE OR REPLACE FUNCTION platform.tenant_find(p_slug text, p_lock boolean DEFAULT false) RETURNS bigint
LANGUAGE plpgsql AS $$
DECLARE
    t bigint;
BEGIN
    IF p_lock THEN
        SELECT id INTO t FROM platform.tenants WHERE slug = p_slug FOR UPDATE;
    ELSE
        SELECT id INTO t FROM platform.tenants WHERE slug = p_slug;
    END IF;
    IF t IS NULL THEN
        RAISE EXCEPTION 'no tenant ''%''', p_slug USING ERRCODE = 'AT001';
    END IF;
    RETURN t;
END $$;

-- Tenant SLUG's id, with the tenant's lock taken exclusively
-- (platform.tenant_lock: no transaction works in it until this one ends)
-- and then its registry row locked. In that order: a transaction working
-- in the tenant may wait for the row (a foreign key's check) while it
-- holds the shared lock.
CREATE OR REPLACE FUNCTION platform.tenant_locked(p_slug text) RETURNS bigint
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM platform.tenant_lock(platform.tenant_find(p_slug), true);
    -- Found again: it may have gone while this waited.
    RETURN platform.tenant_find(p_slug, true);
END $$;

-- Refuses HOST when a tenant has it, naming that tenant.
CREATE OR REPLACE FUNCTION platform.tenant_host_free(p_host text) RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
    owner_slug text;
BEGIN
    SELECT t.slug INTO owner_slug
      FROM platform.tenant_hosts h JOIN platform.tenants t ON t.id = h.tenant_id
     WHERE h.host = p_host;
    IF owner_slug IS NOT NULL THEN
        RAISE EXCEPTION 'host ''%'' already belongs to tenant ''%''', p_host, owner_slug USING ERRCODE = 'AT003';
    END IF;
END $$;

-- Adds HOST to tenant T, checked by tenant_host_free before. A host taken
-- since (by another command's transaction, which the insert waits for) is
-- refused too, without a name.
CREATE OR REPLACE FUNCTION platform.tenant_host_add(p_tenant bigint, p_host text) RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO platform.tenant_hosts (host, tenant_id) VALUES (p_host, p_tenant) ON CONFLICT DO NOTHING;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'host ''%'' is already taken', p_host USING ERRCODE = 'AT003';
    END IF;
END $$;

-- `aantafel tenant create`: the tenant and its hosts, all or nothing.
CREATE OR REPLACE FUNCTION platform.tenant_create(p_slug text, p_name text, p_hosts text[]) RETURNS bigint
LANGUAGE plpgsql AS $$
DECLARE
    t bigint;
    h text;
    prev text;
BEGIN
    IF EXISTS (SELECT 1 FROM platform.tenants WHERE slug = p_slug) THEN
        RAISE EXCEPTION 'tenant ''%'' already exists', p_slug USING ERRCODE = 'AT002';
    END IF;
    -- Every host checked before anything is written: the first taken one
    -- is named with its tenant.
    FOREACH h IN ARRAY p_hosts LOOP
        PERFORM platform.tenant_host_free(h);
    END LOOP;
    -- A create that lost the race for the slug waits for the winner's
    -- commit here, then finds the slug taken.
    INSERT INTO platform.tenants (slug, name) VALUES (p_slug, p_name) ON CONFLICT (slug) DO NOTHING
    RETURNING id INTO t;
    IF t IS NULL THEN
        RAISE EXCEPTION 'tenant ''%'' already exists', p_slug USING ERRCODE = 'AT002';
    END IF;
    FOREACH h IN ARRAY p_hosts LOOP
        PERFORM platform.tenant_host_add(t, h);
    END LOOP;
    -- Its first digests (sql/code/notifications.sql): each schedules the
    -- next. Visited, not entered: nothing can work in a tenant made in
    -- this transaction, so its lock is not needed; the caller's setting
    -- is put back.
    prev := current_setting('aantafel.tenant_id', true);
    PERFORM platform.visit_tenant(t::text);
    PERFORM platform.digests_schedule(t);
    PERFORM platform.visit_tenant(prev);
    RETURN t;
END $$;

-- `aantafel tenant list`.
CREATE OR REPLACE FUNCTION platform.tenant_list()
RETURNS TABLE (slug text, status text, name text, hosts text)
LANGUAGE plpgsql STABLE AS $$
BEGIN
    RETURN QUERY
    SELECT t.slug, t.status, t.name, coalesce(string_agg(h.host, ' ' ORDER BY h.host), '')
      FROM platform.tenants t LEFT JOIN platform.tenant_hosts h ON h.tenant_id = t.id
     GROUP BY t.id ORDER BY t.slug;
END $$;

-- `aantafel tenant hosts`: removes, then adds, and answers the hosts the
-- tenant has then ('' for none). Without hosts to change, only the list.
CREATE OR REPLACE FUNCTION platform.tenant_hosts_change(p_slug text, p_add text[], p_remove text[])
RETURNS text
LANGUAGE plpgsql AS $$
DECLARE
    t bigint := platform.tenant_find(p_slug);
    h text;
    hosts text;
BEGIN
    FOREACH h IN ARRAY coalesce(p_remove, '{}') LOOP
        DELETE FROM platform.tenant_hosts x WHERE x.host = h AND x.tenant_id = t;
        IF NOT FOUND THEN
            RAISE EXCEPTION 'host ''%'' does not belong to tenant ''%''', h, p_slug USING ERRCODE = 'AT004';
        END IF;
    END LOOP;
    FOREACH h IN ARRAY coalesce(p_add, '{}') LOOP
        PERFORM platform.tenant_host_free(h);
        PERFORM platform.tenant_host_add(t, h);
    END LOOP;
    SELECT coalesce(string_agg(x.host, ' ' ORDER BY x.host), '') INTO hosts
      FROM platform.tenant_hosts x WHERE x.tenant_id = t;
    RETURN hosts;
END $$;

-- `aantafel tenant suspend | resume`. With the tenant's lock
-- (tenancy.sql): the change waits for every transaction still working in
-- the tenant, so that none of them runs on after a suspension returns
-- (the daemons stop serving it on the registry's notification, and the
-- schedulers and mail deliverers take only an active tenant's work).
CREATE OR REPLACE FUNCTION platform.tenant_set_status(p_slug text, p_status text) RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
    t bigint := platform.tenant_locked(p_slug);
    at timestamptz := now();
BEGIN
    UPDATE platform.tenants x SET status = p_status, updated_at = at WHERE x.id = t;
END $$;

-- `aantafel tenant deploy`: the bundle checked by the command (its
-- checksum, size and files, path by path) becomes the tenant's next
-- version and current; a bundle equal to the newest version stores
-- nothing and makes that one current again. Answers the version and
-- whether it was unchanged.
CREATE OR REPLACE FUNCTION platform.tenant_deploy(p_slug text, p_checksum text, p_total_bytes bigint,
                                                  p_by text, p_paths text[], p_contents bytea[])
RETURNS TABLE (version int, unchanged boolean)
LANGUAGE plpgsql AS $$
DECLARE
    t bigint := platform.tenant_find(p_slug, true);
BEGIN
    SELECT s.version, s.unchanged INTO version, unchanged
      FROM platform.bundle_store_next(t, p_checksum, p_total_bytes, p_by, NULL, p_paths, p_contents) s;
    -- Current, and so no longer a draft if it was one (an upload's).
    PERFORM platform.bundle_make_current(t, version);
    RETURN NEXT;
END $$;

-- `aantafel tenant versions`: newest first.
CREATE OR REPLACE FUNCTION platform.tenant_versions(p_slug text)
RETURNS TABLE (version int, created_at timestamptz, nfiles int, total_bytes bigint, checksum text,
               created_by text, is_current boolean)
LANGUAGE plpgsql STABLE AS $$
DECLARE
    t bigint := platform.tenant_find(p_slug);
    current_version int;
BEGIN
    SELECT x.bundle_version INTO current_version FROM platform.tenants x WHERE x.id = t;
    RETURN QUERY
    SELECT b.version, b.created_at, b.nfiles, b.total_bytes, b.checksum, b.created_by,
           b.version = current_version
      FROM platform.bundles b WHERE b.tenant_id = t ORDER BY b.version DESC;
END $$;

-- `aantafel tenant quota`: sets the bytes the tenant's stored bundle
-- versions (P_BUNDLES) and its plugins' store (P_STORE) may take, each
-- when given; answers both with what is used now.
CREATE OR REPLACE FUNCTION platform.tenant_quota(p_slug text, p_bundles bigint, p_store bigint)
RETURNS TABLE (bundle_quota bigint, bundle_used bigint, store_quota bigint, store_used bigint)
LANGUAGE plpgsql AS $$
DECLARE
    t bigint := platform.tenant_find(p_slug, true);
    at timestamptz := now();
    used_b bigint;
    used_s bigint;
BEGIN
    IF p_bundles < 0 OR p_store < 0 THEN
        RAISE EXCEPTION 'a quota is 0 bytes or more' USING ERRCODE = 'AT001';
    END IF;
    IF p_bundles IS NOT NULL OR p_store IS NOT NULL THEN
        UPDATE platform.tenants x SET bundle_quota = coalesce(p_bundles, x.bundle_quota),
                                      store_quota = coalesce(p_store, x.store_quota), updated_at = at
         WHERE x.id = t;
    END IF;
    SELECT coalesce(sum(b.total_bytes), 0)::bigint INTO used_b FROM platform.bundles b WHERE b.tenant_id = t;
    SELECT coalesce(max(u.bytes), 0)::bigint INTO used_s FROM plugin_store_usage u WHERE u.tenant_id = t;
    RETURN QUERY SELECT x.bundle_quota, used_b, x.store_quota, used_s FROM platform.tenants x WHERE x.id = t;
END $$;

-- `aantafel tenant rollback`: makes a stored version current; answers the
-- version that was current (equal to P_VERSION: nothing changed).
CREATE OR REPLACE FUNCTION platform.tenant_rollback(p_slug text, p_version int) RETURNS int
LANGUAGE plpgsql AS $$
DECLARE
    t bigint := platform.tenant_find(p_slug, true);
    was int;
    have text;
BEGIN
    SELECT x.bundle_version INTO was FROM platform.tenants x WHERE x.id = t;
    IF NOT platform.bundle_make_current(t, p_version) THEN
        SELECT string_agg(b.version::text, ', ' ORDER BY b.version) INTO have
          FROM platform.bundles b WHERE b.tenant_id = t;
        RAISE EXCEPTION '% has no version % (%)', p_slug, p_version,
              CASE WHEN have IS NULL THEN 'nothing deployed yet' ELSE 'versions: ' || have END
              USING ERRCODE = 'AT005';
    END IF;
    RETURN was;
END $$;

-- A rollback, from `aantafel tenant rollback` and from a tenant's admins
-- (platform.bundle_rollback_current in bundles.sql): makes stored version
-- P_VERSION of tenant T current (its row locked by the caller); false when
-- there is no such version. The registry's trigger tells every daemon.
CREATE OR REPLACE FUNCTION platform.bundle_make_current(t bigint, p_version int) RETURNS boolean
LANGUAGE plpgsql AS $$
DECLARE
    at timestamptz := now();
BEGIN
    IF NOT EXISTS (SELECT 1 FROM platform.bundles b WHERE b.tenant_id = t AND b.version = p_version) THEN
        RETURN false;
    END IF;
    -- A draft is one no more (platform.bundle_publish_current names who
    -- published it before it comes here).
    UPDATE platform.bundles b SET made_current_at = at
     WHERE b.tenant_id = t AND b.version = p_version AND b.made_current_at IS NULL;
    UPDATE platform.tenants SET bundle_version = p_version, updated_at = now()
     WHERE id = t AND bundle_version <> p_version;
    RETURN true;
END $$;

-- `aantafel user create`: the account of tenant P_SLUG with address
-- P_EMAIL (lower case), created with P_NAME and the scrypt hash P_HASH and
-- its address counted as verified, or found when it exists (its password
-- kept); either way it gets P_ROLE. Within the tenant's row-level
-- security, as the daemon's writes are.
CREATE OR REPLACE FUNCTION platform.account_provision(p_slug text, p_email text, p_name text, p_hash text,
                                                      p_role text)
RETURNS TABLE (account_id bigint, created boolean)
LANGUAGE plpgsql AS $$
DECLARE
    t bigint := platform.tenant_find(p_slug);
    at timestamptz := now();
BEGIN
    PERFORM platform.enter_tenant(t::text);
    INSERT INTO public.accounts (tenant_id, email, display_name, password_hash, email_verified_at)
    VALUES (t, p_email, p_name, p_hash, at)
    ON CONFLICT (tenant_id, email) DO NOTHING
    RETURNING id INTO account_id;
    created := account_id IS NOT NULL;
    IF NOT created THEN
        SELECT a.id INTO STRICT account_id FROM public.accounts a WHERE a.tenant_id = t AND a.email = p_email;
    END IF;
    INSERT INTO public.account_roles (tenant_id, account_id, role) VALUES (t, account_id, p_role)
    ON CONFLICT DO NOTHING;
    RETURN NEXT;
END $$;

-- `aantafel tenant delete`: every row of a suspended tenant, in one
-- transaction, with the tenant's lock (platform.tenant_locked): it waits
-- for every transaction still working in the tenant (a request a daemon
-- began before the suspension reached it, a job run, a mail deliverer
-- recording a sending), and any that would begin waits for the deletion,
-- then finds the tenant gone (platform.enter_tenant). So no row of the
-- tenant is written between the statements below, which a foreign key
-- would refuse (a row referring to one already deleted) or which would
-- stay behind. The tenant tables (those with the tenant policy, as
-- sql/citus/distribute.sql finds them) are emptied of the tenant's rows
-- children first, in the order of their foreign keys, each by one
-- statement on tenant_id: on a Citus cluster each such statement runs on
-- the tenant's shard alone, and no foreign key is left to cascade from the
-- registry (a reference table) into the shards, which Citus cannot order.
-- A pass is repeated while rows are left (a trigger may write another
-- table: any statement on the store's documents makes its usage row).
-- Then the bundles, the hosts and the tenant's row, whose trigger tells
-- every daemon. Answers the rows deleted per table, tables in the order
-- they were emptied.
CREATE OR REPLACE FUNCTION platform.tenant_delete(p_slug text)
RETURNS TABLE (table_name text, deleted bigint)
LANGUAGE plpgsql AS $$
DECLARE
    t bigint := platform.tenant_locked(p_slug);
    state text;
    tenant_tables regclass[];
    ordered regclass[] := '{}'::regclass[];
    ready regclass[];
    tbl regclass;
    n bigint;
    found_rows boolean;
    left_in regclass;
    counts jsonb := '{}'::jsonb;
BEGIN
    SELECT x.status INTO state FROM platform.tenants x WHERE x.id = t;
    IF state <> 'suspended' THEN
        RAISE EXCEPTION 'tenant ''%'' is %: suspend it first (aantafel tenant suspend %)', p_slug, state, p_slug
              USING ERRCODE = 'AT006';
    END IF;
    PERFORM platform.enter_tenant(t::text);

    SELECT array_agg(c.oid::regclass ORDER BY c.oid) INTO tenant_tables
      FROM pg_class c JOIN pg_namespace s ON s.oid = c.relnamespace
     WHERE c.relkind = 'r' AND s.nspname IN ('public', 'platform')
       AND EXISTS (SELECT 1 FROM pg_policy p WHERE p.polrelid = c.oid AND p.polname = 'tenant_isolation');
    -- Children first: a table goes once no table still to go refers to it.
    WHILE cardinality(ordered) < cardinality(tenant_tables) LOOP
        SELECT array_agg(x ORDER BY x::oid) INTO ready
          FROM unnest(tenant_tables) x
         WHERE x <> ALL (ordered)
           AND NOT EXISTS (SELECT 1 FROM pg_constraint f
                            WHERE f.contype = 'f' AND f.confrelid = x AND f.conrelid <> x
                              AND f.conrelid = ANY (tenant_tables) AND f.conrelid <> ALL (ordered));
        IF ready IS NULL THEN
            RAISE EXCEPTION 'the tenant tables'' foreign keys form a cycle: %',
                  array_to_string(ARRAY(SELECT x::text FROM unnest(tenant_tables) x WHERE x <> ALL (ordered)), ', ');
        END IF;
        ordered := ordered || ready;
    END LOOP;

    FOR pass IN 1 .. 5 LOOP
        FOREACH tbl IN ARRAY ordered LOOP
            EXECUTE format('DELETE FROM %s WHERE tenant_id = $1', tbl) USING t;
            GET DIAGNOSTICS n = ROW_COUNT;
            IF n > 0 THEN
                counts := jsonb_set(counts, ARRAY[tbl::text], to_jsonb(coalesce((counts ->> tbl::text)::bigint, 0) + n));
            END IF;
        END LOOP;
        left_in := NULL;
        FOREACH tbl IN ARRAY ordered LOOP
            EXECUTE format('SELECT EXISTS (SELECT 1 FROM %s WHERE tenant_id = $1)', tbl) INTO found_rows USING t;
            IF found_rows THEN
                left_in := tbl;
                EXIT;
            END IF;
        END LOOP;
        EXIT WHEN left_in IS NULL;
        IF pass = 5 THEN
            RAISE EXCEPTION 'rows of tenant % keep coming back in %', p_slug, left_in;
        END IF;
    END LOOP;
    -- Tell the daemons' caches, as a daemon's own commit would (on a
    -- cluster the triggers on the shards could not).
    PERFORM platform.commit_marks(t);
    -- Out of the tenant again: the registry's foreign keys still cascade
    -- (into no rows), and the store's statement trigger, which makes the
    -- entered tenant's usage row, must not make one again.
    PERFORM platform.enter_tenant(NULL);

    DELETE FROM platform.bundle_files f WHERE f.tenant_id = t;
    GET DIAGNOSTICS n = ROW_COUNT;
    counts := counts || jsonb_build_object('platform.bundle_files', n);
    DELETE FROM platform.bundles b WHERE b.tenant_id = t;
    GET DIAGNOSTICS n = ROW_COUNT;
    counts := counts || jsonb_build_object('platform.bundles', n);
    DELETE FROM platform.tenant_hosts h WHERE h.tenant_id = t;
    GET DIAGNOSTICS n = ROW_COUNT;
    counts := counts || jsonb_build_object('platform.tenant_hosts', n);
    DELETE FROM platform.tenants x WHERE x.id = t;
    counts := counts || jsonb_build_object('platform.tenants', 1);

    RETURN QUERY
    SELECT x::text, coalesce((counts ->> x::text)::bigint, 0)
      FROM unnest(ordered || ARRAY['platform.bundle_files', 'platform.bundles', 'platform.tenant_hosts',
                                   'platform.tenants']::regclass[]) WITH ORDINALITY AS u(x, i)
     ORDER BY u.i;
END $$;
