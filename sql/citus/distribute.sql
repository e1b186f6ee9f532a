-- `aantafel migrate --distribute`: after the migrations and the code,
-- spreads the database over a Citus cluster. Every tenant table (the ones
-- platform.make_tenant_table made: row-level security on tenant_id) is
-- distributed by tenant_id, all of them colocated, so that a tenant's rows
-- of every table live on one worker and each statement of a request runs
-- on that one shard group. The provider's registry and the bundles are
-- reference tables, copied to every node. platform.schema_migrations
-- stays on the coordinator, which alone runs migrations.
--
-- Idempotent: a table already distributed is left alone, so this runs
-- after every migrate; a table a later migration adds is distributed then.
-- Runs as the database's owner, in a transaction of its own, after the
-- numbered migrations and before the code (which Citus then creates on the
-- workers too).
DO $$
DECLARE
    tbl regclass;
    first_table regclass;
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'citus') THEN
        RAISE EXCEPTION 'the citus extension is not in database %', current_database()
            USING HINT = 'create it as a superuser (CREATE EXTENSION citus) before the roles, '
                         'and add the workers; packaging/citus.sh shows how';
    END IF;

    -- The tenant is set with SET LOCAL (platform.enter_tenant), which Citus
    -- sends to the workers only when told to; every session of this
    -- database gets it, the daemon's and the commands' alike.
    EXECUTE format('ALTER DATABASE %I SET citus.propagate_set_commands = %L', current_database(), 'local');
    -- Triggers on distributed tables (the data notifications, the address
    -- and store bookkeeping) run on the shards: they only touch their own
    -- tenant's rows, which the colocation keeps on the same node. Later
    -- migrations that add a trigger need it too.
    EXECUTE format('ALTER DATABASE %I SET citus.enable_unsafe_triggers = on', current_database());
    SET LOCAL citus.enable_unsafe_triggers = on;
    -- Tables with a foreign key to a reference table are distributed here,
    -- never turned into Citus local tables behind our back.
    SET LOCAL citus.enable_local_reference_table_foreign_keys = off;
    -- DDL and copies in one transaction go over one connection per node.
    SET LOCAL citus.multi_shard_modify_mode = 'sequential';

    -- Reference tables, parents before children (foreign keys).
    FOREACH tbl IN ARRAY ARRAY['platform.tenants', 'platform.tenant_hosts',
                               'platform.bundles', 'platform.bundle_files']::regclass[] LOOP
        IF NOT EXISTS (SELECT 1 FROM pg_dist_partition p WHERE p.logicalrelid = tbl) THEN
            PERFORM create_reference_table(tbl);
        END IF;
    END LOOP;

    -- Tenant tables, in creation order so that a referenced table is
    -- distributed before the tables that refer to it; each colocated with
    -- the first.
    FOR tbl IN
        SELECT c.oid::regclass
          FROM pg_class c
          JOIN pg_namespace s ON s.oid = c.relnamespace
         WHERE c.relkind = 'r' AND s.nspname IN ('public', 'platform')
           AND EXISTS (SELECT 1 FROM pg_policy p WHERE p.polrelid = c.oid AND p.polname = 'tenant_isolation')
         ORDER BY c.oid
    LOOP
        IF first_table IS NULL THEN
            first_table := tbl;
        END IF;
        IF NOT EXISTS (SELECT 1 FROM pg_dist_partition p WHERE p.logicalrelid = tbl) THEN
            IF tbl = first_table THEN
                PERFORM create_distributed_table(tbl, 'tenant_id', colocate_with => 'none');
            ELSE
                PERFORM create_distributed_table(tbl, 'tenant_id', colocate_with => first_table::text);
            END IF;
        END IF;
    END LOOP;
END $$;
