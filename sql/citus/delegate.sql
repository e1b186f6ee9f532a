-- After the code, on a Citus cluster whose tables are distributed
-- (distribute.sql): each operation of the API that only reads,
-- api.NAME(t, viewer, roles, a) declared STABLE in PL/pgSQL, runs whole on
-- the worker that holds tenant T's shards. The daemon calls it as
-- `SELECT api.NAME($1, …)`; Citus sends that one statement to the worker,
-- where every query of the function runs on local shards (or local copies
-- of the reference tables): one round trip per operation, where each of
-- its queries would otherwise be one from the coordinator. The pages are
-- mostly such reads.
--
-- force_delegation: the daemon calls inside a transaction (the tenant
-- entered first, platform.enter_tenant, whose SET LOCAL reaches the
-- worker, and other operations of the same tenant beside it).
--
-- Not delegated:
-- - The operations that write. A row inserted on a worker takes its id
--   from that worker's range of the sequence (Citus gives each node its
--   own, from groupid << 48): ids would jump to fifteen digits, and stop
--   following the order in which rows were made as soon as some come from
--   the coordinator (a job, SQL by hand) or the tenant moves to another
--   worker; and a worker's now() is its own transaction's, so that rows
--   stamped there and on the coordinator in one transaction would
--   disagree on which came first. They run on the coordinator, each query
--   routed to the tenant's shard, as before.
-- - Those in SQL: the planner inlines them into the daemon's statement, so
--   it is their query that Citus routes to the shard (one round trip all
--   the same). The IMMUTABLE ones read no table.
--
-- Idempotent, run after every migrate of a distributed database: a
-- function already delegated as wanted is left alone, a new reading
-- operation is delegated then, and one that came to write (its
-- volatility changed) is taken back to the coordinator.
DO $$
DECLARE
    fn record;
    colocated text;
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'citus') THEN
        RETURN;
    END IF;
    SELECT p.logicalrelid::regclass::text INTO colocated
      FROM pg_dist_partition p
     WHERE p.partmethod = 'h' AND p.logicalrelid = 'public.accounts'::regclass;
    IF colocated IS NULL THEN
        RETURN;                 -- not distributed: nothing to delegate to
    END IF;
    FOR fn IN
        SELECT p.oid::regprocedure AS proc, p.provolatile = 's' AND l.lanname = 'plpgsql' AS reads,
               o.distribution_argument_index AS arg, o.force_delegation AS forced
          FROM pg_proc p
          JOIN pg_namespace s ON s.oid = p.pronamespace
          JOIN pg_language l ON l.oid = p.prolang
          LEFT JOIN pg_dist_object o ON o.classid = 'pg_proc'::regclass AND o.objid = p.oid
         WHERE s.nspname = 'api' AND p.prokind = 'f'
           AND p.pronargs >= 4 AND p.proargnames[1] = 't' AND p.proargtypes[0] = 'bigint'::regtype
           AND p.proargnames[2] = 'viewer' AND p.proargnames[4] = 'a'
         ORDER BY p.proname
    LOOP
        IF fn.reads AND (fn.arg IS DISTINCT FROM 0 OR fn.forced IS DISTINCT FROM true) THEN
            PERFORM create_distributed_function(fn.proc, '$1', colocate_with => colocated,
                                                force_delegation => true);
        ELSIF NOT fn.reads AND fn.arg IS NOT NULL THEN
            -- Kept distributed (Citus creates it on every node), no longer
            -- sent: without a distribution argument it runs where called.
            PERFORM create_distributed_function(fn.proc);
        END IF;
    END LOOP;
END $$;
