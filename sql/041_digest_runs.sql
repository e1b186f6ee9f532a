-- A digest in progress (sql/code/notifications.sql, platform.digest_send):
-- a tenant's digest of a cadence goes out in batches of people, each run
-- of its job one batch in a transaction of its own, the job scheduled
-- again at once until the last batch is done. This row carries the
-- period from one batch to the next: its upper bound, fixed when its
-- first batch ran, and the account the batches have reached. It goes
-- with the last batch.
CREATE TABLE digest_runs (
    tenant_id   bigint NOT NULL,
    cadence     text NOT NULL CHECK (cadence IN ('daily', 'weekly')),
    -- The activity up to this id is the period's (the newest one when its
    -- first batch ran): every batch tells up to it, and every mark moves
    -- to it.
    upto        bigint NOT NULL,
    -- The people up to this account id had their batch.
    done_until  bigint NOT NULL DEFAULT 0,
    -- The mails the batches queued so far (the digest.sent event's count).
    mailed      int NOT NULL DEFAULT 0,
    started_at  timestamptz NOT NULL,
    updated_at  timestamptz NOT NULL,
    PRIMARY KEY (tenant_id, cadence)
);
SELECT platform.make_tenant_table('digest_runs');

-- platform.notification_mail takes the recipient's state as read once by
-- its caller (platform.notification_recipient): a new signature.
DROP FUNCTION IF EXISTS platform.notification_mail(bigint, bigint, text, text, text, text);
