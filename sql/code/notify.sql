-- Notifications that keep every daemon's view of the database fresh.
-- PostgreSQL sends one notification per channel, distinct payload and
-- transaction, at commit, and none for a rollback.

-- Every daemon LISTENs on "aantafel_registry" and reloads its registry: a
-- change made by any `aantafel tenant ...` command is seen within moments.
--
-- On a Citus cluster a trigger runs where the row is: on a worker's shard,
-- in a connection the coordinator opened for the transaction. A NOTIFY
-- there would reach only that worker's listeners, and it makes the
-- two-phase commit of a write to several nodes fail ("cannot PREPARE a
-- transaction that has executed LISTEN, UNLISTEN, or NOTIFY"). So the
-- triggers notify only in a session of their own (one PostgreSQL, or the
-- coordinator's copy of a reference table), and otherwise leave a mark in
-- the worker's transaction that platform.commit_marks below reads from
-- the coordinator's session before COMMIT and turns into the same
-- notifications.

-- True in a connection Citus opened to run part of another session's
-- transaction (it names them so).
CREATE OR REPLACE FUNCTION platform.in_citus_task() RETURNS boolean
LANGUAGE sql STABLE AS $$
    SELECT coalesce(current_setting('application_name', true), '') LIKE 'citus_internal%'
$$;

CREATE OR REPLACE FUNCTION platform.notify_registry() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    -- The registry's tables are reference tables on a cluster: a copy on
    -- every node, the coordinator's written in its own session.
    IF NOT platform.in_citus_task() THEN
        PERFORM pg_notify('aantafel_registry', '');
    END IF;
    RETURN NULL;
END $$;

-- Every write to what a guest's page can show notifies "aantafel_data";
-- the daemons' listeners bump that tenant's data generation and their
-- caches of guests' reads drop what is older (core/db/datagen.h,
-- core/app/apicache.h). The payload is the tenant's id, then, when a daemon
-- wrote, a space and the transaction's writer tag (the setting
-- aantafel.writer: the daemon process's instance and the transaction's
-- number, core/db/datagen.h). The trigger also marks the transaction
-- (aantafel.data_changed), which the daemon's pool reads before COMMIT: a
-- commit that changed what guests see is applied to the daemon's caches
-- when it is answered, and the notification that comes back to the same
-- daemon a moment later is recognised as that same change, not a new one.
-- Another daemon's writes, and SQL outside any daemon (no tag), still make
-- every daemon's cached reads stale.
CREATE OR REPLACE FUNCTION platform.notify_data() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    writer text := coalesce(current_setting('aantafel.writer', true), '');
BEGIN
    PERFORM set_config('aantafel.data_changed', '1', true);
    IF NOT platform.in_citus_task() THEN
        PERFORM pg_notify('aantafel_data', (CASE WHEN TG_OP = 'DELETE' THEN OLD.tenant_id ELSE NEW.tenant_id END)::text
                                           || CASE WHEN writer = '' THEN '' ELSE ' ' || writer END);
    END IF;
    RETURN NULL;
END $$;

-- Read by the daemon before it commits a tenant's transaction (core/db/db.c):
-- answers '1' when the transaction changed what guests see (the mark of
-- notify_data), and sends from this session the notifications that the
-- triggers could not send where they ran (a worker of a cluster). The
-- marks are read where the tenant's rows are: a query on one of its
-- tables, filtered by tenant_id, runs on the tenant's shard, over the
-- connection that wrote there (and here, on one PostgreSQL). The row it
-- looks for never exists (ids start at 1); the aggregate answers one row
-- all the same. On one PostgreSQL the triggers have notified already,
-- and PostgreSQL sends a payload only once per transaction and channel.
CREATE OR REPLACE FUNCTION platform.commit_marks(p_tenant bigint) RETURNS text
LANGUAGE plpgsql AS $$
DECLARE
    data text;
    mail text;
    none bigint;
    writer text := coalesce(current_setting('aantafel.writer', true), '');
BEGIN
    SELECT max(a.id), current_setting('aantafel.data_changed', true), current_setting('aantafel.mail_queued', true)
      INTO STRICT none, data, mail
      FROM public.accounts a
     WHERE a.tenant_id = p_tenant AND a.id = 0;
    data := coalesce(nullif(data, ''), nullif(current_setting('aantafel.data_changed', true), ''), '');
    mail := coalesce(nullif(mail, ''), nullif(current_setting('aantafel.mail_queued', true), ''), '');
    IF data = '1' THEN
        PERFORM pg_notify('aantafel_data', p_tenant::text || CASE WHEN writer = '' THEN '' ELSE ' ' || writer END);
    END IF;
    IF mail = '1' THEN
        PERFORM pg_notify('aantafel_mail', p_tenant::text);
    END IF;
    RETURN data;
END $$;
