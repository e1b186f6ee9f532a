-- Notifications that keep every daemon's view of the database fresh.
-- PostgreSQL sends one notification per channel, distinct payload and
-- transaction, at commit, and none for a rollback.

-- Every daemon LISTENs on "aantafel_registry" and reloads its registry: a
-- change made by any `aantafel tenant ...` command is seen within moments.
CREATE OR REPLACE FUNCTION platform.notify_registry() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('aantafel_registry', '');
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
    PERFORM pg_notify('aantafel_data', (CASE WHEN TG_OP = 'DELETE' THEN OLD.tenant_id ELSE NEW.tenant_id END)::text
                                       || CASE WHEN writer = '' THEN '' ELSE ' ' || writer END);
    RETURN NULL;
END $$;
