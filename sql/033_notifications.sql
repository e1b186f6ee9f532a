-- Notifications for residents (docs/api.md, "Notifications"): what a
-- person follows and how often they hear of it, what happened that can be
-- told (the activity), and each person's notification state (mail on or
-- off, language, the unsubscribe token, what they have seen, up to where
-- each digest went). The functions are sql/code/notifications.sql.

-- An explicit choice of ACCOUNT for a table (group_id NULL) or one of its
-- groups. A table's people follow it at 'daily' without a row here
-- (automatic); a row overrides that, 'none' included. A group's row
-- overrides the table's for that group's content.
CREATE TABLE follows (
    tenant_id   bigint NOT NULL,
    account_id  bigint NOT NULL,
    table_id    bigint NOT NULL,
    group_id    bigint,
    cadence     text NOT NULL CHECK (cadence IN ('each', 'daily', 'weekly', 'none')),
    -- Only what happened after this is told.
    since       timestamptz NOT NULL,
    updated_at  timestamptz NOT NULL,
    FOREIGN KEY (tenant_id, account_id) REFERENCES accounts (tenant_id, id) ON DELETE CASCADE,
    FOREIGN KEY (tenant_id, table_id) REFERENCES tables (tenant_id, id) ON DELETE CASCADE,
    FOREIGN KEY (tenant_id, group_id) REFERENCES groups (tenant_id, id) ON DELETE CASCADE
);
CREATE UNIQUE INDEX follows_key ON follows (tenant_id, account_id, table_id, (coalesce(group_id, 0)));
-- Who follows a table (the mails of an item, the digests).
CREATE INDEX follows_table ON follows (tenant_id, table_id);
CREATE INDEX follows_group ON follows (tenant_id, group_id) WHERE group_id IS NOT NULL;
SELECT platform.make_tenant_table('follows');

-- One row per thing that can be told: a contribution, or one of the
-- method's moments. Written by the operation that made it, in its
-- transaction. Who may read it is decided when it is read
-- (notifications.sql, with visibility.sql's rules): the table, the group
-- (NULL: the table's own), the contribution (hidden ones are never told).
CREATE TABLE activity (
    tenant_id       bigint NOT NULL,
    id              bigint GENERATED ALWAYS AS IDENTITY,
    kind            text NOT NULL CHECK (kind IN ('contribution', 'step.completed', 'meeting.planned',
                                                  'meeting.changed', 'meeting.cancelled', 'decision.opened',
                                                  'decision.closed', 'report.published')),
    table_id        bigint NOT NULL,
    group_id        bigint,
    contribution_id bigint,
    -- Whoever caused it: never told about it themselves.
    actor_id        bigint,
    title           text NOT NULL CHECK (length(title) <= 300),
    summary         text NOT NULL CHECK (length(summary) <= 300),
    url             text NOT NULL CHECK (length(url) <= 300),
    created_at      timestamptz NOT NULL,
    PRIMARY KEY (tenant_id, id),
    FOREIGN KEY (tenant_id, table_id) REFERENCES tables (tenant_id, id) ON DELETE CASCADE
);
CREATE INDEX activity_table ON activity (tenant_id, table_id, id);
CREATE INDEX activity_contribution ON activity (tenant_id, contribution_id) WHERE contribution_id IS NOT NULL;
CREATE INDEX activity_actor ON activity (tenant_id, actor_id) WHERE actor_id IS NOT NULL;
SELECT platform.make_tenant_table('activity');

-- Each person's notification state, made by their first notification
-- operation or the first digest that concerns them.
CREATE TABLE notification_state (
    tenant_id   bigint NOT NULL,
    account_id  bigint NOT NULL,
    mail        boolean NOT NULL DEFAULT true,
    lang        text NOT NULL DEFAULT 'nl' CHECK (lang IN ('nl', 'en')),
    -- The authority of /afmelden/TOKEN: no sign-in needed.
    unsubscribe_token text NOT NULL CHECK (unsubscribe_token ~ '^[0-9a-f]{64}$'),
    -- The activity up to this id is read (the in-site list).
    seen_until  bigint NOT NULL DEFAULT 0,
    -- The activity up to these ids went in a daily, a weekly digest.
    daily_until  bigint NOT NULL DEFAULT 0,
    weekly_until bigint NOT NULL DEFAULT 0,
    updated_at  timestamptz NOT NULL,
    PRIMARY KEY (tenant_id, account_id),
    UNIQUE (tenant_id, unsubscribe_token),
    FOREIGN KEY (tenant_id, account_id) REFERENCES accounts (tenant_id, id) ON DELETE CASCADE
);
SELECT platform.make_tenant_table('notification_state');

-- When a tenant's digests go out: the hour (Europe/Amsterdam) of the
-- daily one, and the ISO weekday of the weekly one (at the same hour).
ALTER TABLE site_settings
    ADD COLUMN digest_hour int NOT NULL DEFAULT 7 CHECK (digest_hour BETWEEN 0 AND 23),
    ADD COLUMN digest_weekday int NOT NULL DEFAULT 1 CHECK (digest_weekday BETWEEN 1 AND 7);

-- A notification mail's unsubscribe link: the List-Unsubscribe headers
-- (RFC 8058) are written from it.
ALTER TABLE mail_outbox
    ADD COLUMN unsubscribe_url text CHECK (length(unsubscribe_url) <= 500 AND unsubscribe_url ~ '^https?://[^\s<>]+$');
-- mail_claim answers it: a new return type, defined again by sql/code/mail.sql.
DROP FUNCTION IF EXISTS platform.mail_claim(int, bigint[]);
-- enqueue_mail takes it: a new parameter, defined again by sql/code/mail.sql
-- (on a fresh database the code has not been applied yet).
DROP FUNCTION IF EXISTS platform.enqueue_mail(bigint, text, text, text, text, text);

-- The first digests of the tenants that exist (a new tenant's are made by
-- platform.tenant_create): due now, each run schedules the next one.
DO $$
DECLARE
    t record;
    at timestamptz := statement_timestamp();
BEGIN
    -- SET LOCAL, as platform.enter_tenant (not yet defined here on a new
    -- database): on a Citus cluster it reaches the workers.
    FOR t IN SELECT pt.id FROM platform.tenants pt LOOP
        EXECUTE format('SET LOCAL aantafel.tenant_id = %L', t.id::text);
        INSERT INTO jobs (tenant_id, kind, subject, run_at, created_at)
        VALUES (t.id, 'digest.daily', 0, at, at), (t.id, 'digest.weekly', 0, at, at)
        ON CONFLICT (tenant_id, kind, subject) WHERE state = 'pending' DO NOTHING;
    END LOOP;
    SET LOCAL aantafel.tenant_id = '';
END $$;
