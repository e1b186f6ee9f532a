-- The plugin store: JSON documents per tenant, plugin and key, written
-- with compare-and-set, within a quota of bytes per tenant. The bytes are
-- kept by a trigger in the same transaction as the write; every write
-- first locks the tenant's usage row, so that the quota's check and write
-- are one at a time per tenant.

-- Keeps plugin_store_usage: the bytes of every tenant's documents.
CREATE OR REPLACE FUNCTION platform.plugin_store_count() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    delta bigint := 0::bigint;
    tid bigint;
BEGIN
    IF TG_OP IN ('UPDATE', 'DELETE') THEN
        delta := delta - octet_length(OLD.value::text);
        tid := OLD.tenant_id;
    END IF;
    IF TG_OP IN ('INSERT', 'UPDATE') THEN
        delta := delta + octet_length(NEW.value::text);
        tid := NEW.tenant_id;
    END IF;
    INSERT INTO plugin_store_usage AS u (tenant_id, bytes) VALUES (tid, greatest(delta, 0))
    ON CONFLICT (tenant_id) DO UPDATE SET bytes = greatest(u.bytes + delta, 0);
    RETURN NULL;
END $$;

-- Locks the tenant's usage row, making it when there is none: every write
-- of the store takes it before any document's row, so that two writers
-- never wait for each other's rows in opposite order.
CREATE OR REPLACE FUNCTION platform.plugin_store_lock(p_tenant bigint) RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO plugin_store_usage (tenant_id, bytes) VALUES (p_tenant, 0) ON CONFLICT (tenant_id) DO NOTHING;
    PERFORM 1 FROM plugin_store_usage u WHERE u.tenant_id = p_tenant FOR UPDATE;
END $$;

-- Before any statement that writes documents (a delete too): the lock.
CREATE OR REPLACE FUNCTION platform.plugin_store_before() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    tid bigint := nullif(current_setting('aantafel.tenant_id', true), '')::bigint;
BEGIN
    IF tid IS NOT NULL THEN
        PERFORM platform.plugin_store_lock(tid);
    END IF;
    RETURN NULL;
END $$;

-- Writes one document, answering 'ok', 'conflict' (compare-and-set lost)
-- or 'quota' instead of raising, so that a plugin can tell its user.
-- EXPECTED: NULL writes unconditionally, 0 only creates, N only replaces
-- version N. Runs as the caller, so row-level security applies as to any
-- statement of the daemon.
CREATE OR REPLACE FUNCTION platform.plugin_store_put(p_tenant bigint, p_plugin text, p_key text, p_value jsonb,
                                                     p_expected bigint, OUT status text, OUT version bigint)
LANGUAGE plpgsql AS $$
DECLARE
    cur_version bigint;
    cur_bytes bigint := 0::bigint;
    used bigint;
    quota bigint;
    at timestamptz := now();
BEGIN
    PERFORM platform.plugin_store_lock(p_tenant);
    SELECT s.version, octet_length(s.value::text)::bigint INTO cur_version, cur_bytes
      FROM plugin_store s
     WHERE s.tenant_id = p_tenant AND s.plugin = p_plugin AND s.key = p_key
       FOR UPDATE;
    IF p_expected IS NOT NULL AND coalesce(cur_version, 0) <> p_expected THEN
        status := 'conflict';
        version := cur_version;
        RETURN;
    END IF;
    SELECT t.store_quota INTO quota FROM platform.tenants t WHERE t.id = p_tenant;
    SELECT u.bytes INTO used FROM plugin_store_usage u WHERE u.tenant_id = p_tenant;
    IF coalesce(used, 0) - coalesce(cur_bytes, 0) + octet_length(p_value::text) > coalesce(quota, 0) THEN
        status := 'quota';
        version := cur_version;
        RETURN;
    END IF;
    IF cur_version IS NULL THEN
        INSERT INTO plugin_store (tenant_id, plugin, key, value, updated_at)
        VALUES (p_tenant, p_plugin, p_key, p_value, at)
        ON CONFLICT ON CONSTRAINT plugin_store_pkey DO NOTHING
        RETURNING plugin_store.version INTO version;
        IF version IS NULL THEN
            -- Created by a concurrent transaction after our look.
            status := 'conflict';
            RETURN;
        END IF;
    ELSE
        UPDATE plugin_store s SET value = p_value, version = s.version + 1, updated_at = at
         WHERE s.tenant_id = p_tenant AND s.plugin = p_plugin AND s.key = p_key
        RETURNING s.version INTO version;
    END IF;
    status := 'ok';
END $$;

-- The plugin store's reads and its delete, as the runtime calls them
-- (core/lua/runtime_store.c): a plugin's document by key; its documents
-- whose keys start with P_PREFIX, by key or the most recently changed
-- first; and a delete, of P_VERSION only when it is given (a row: it was
-- there).
CREATE OR REPLACE FUNCTION platform.plugin_store_get(p_tenant bigint, p_plugin text, p_key text)
RETURNS TABLE (value text, version bigint)
LANGUAGE plpgsql STABLE AS $$
BEGIN
    RETURN QUERY SELECT s.value::text, s.version FROM plugin_store s
                  WHERE s.tenant_id = p_tenant AND s.plugin = p_plugin AND s.key = p_key;
END $$;

CREATE OR REPLACE FUNCTION platform.plugin_store_list(p_tenant bigint, p_plugin text, p_prefix text, p_limit int,
                                                      p_recent boolean)
RETURNS TABLE (key text, value text, version bigint, updated bigint)
LANGUAGE plpgsql STABLE AS $$
BEGIN
    IF p_recent THEN
        RETURN QUERY SELECT s.key, s.value::text, s.version, extract(epoch FROM s.updated_at)::bigint
                       FROM plugin_store s
                      WHERE s.tenant_id = p_tenant AND s.plugin = p_plugin
                        AND left(s.key, length(p_prefix)) = p_prefix
                      ORDER BY s.updated_at DESC, s.key LIMIT p_limit;
    ELSE
        RETURN QUERY SELECT s.key, s.value::text, s.version, extract(epoch FROM s.updated_at)::bigint
                       FROM plugin_store s
                      WHERE s.tenant_id = p_tenant AND s.plugin = p_plugin
                        AND left(s.key, length(p_prefix)) = p_prefix
                      ORDER BY s.key LIMIT p_limit;
    END IF;
END $$;

CREATE OR REPLACE FUNCTION platform.plugin_store_delete(p_tenant bigint, p_plugin text, p_key text, p_version bigint)
RETURNS SETOF int
LANGUAGE plpgsql AS $$
BEGIN
    RETURN QUERY DELETE FROM plugin_store s
                  WHERE s.tenant_id = p_tenant AND s.plugin = p_plugin AND s.key = p_key
                    AND (p_version IS NULL OR s.version = p_version)
                 RETURNING 1;
END $$;
