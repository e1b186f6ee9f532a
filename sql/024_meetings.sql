-- Meetings of a table (docs/api.md, "Meetings"): when and where it meets
-- (optionally one of its groups, or in one of its workflow's steps), how
-- many places it has, whether registration is open, the support arranged;
-- the registrations with their waiting list, and the attendance recorded
-- afterwards. The functions are sql/code/meetings.sql.

CREATE TABLE meetings (
    tenant_id         bigint NOT NULL,
    id                bigint GENERATED ALWAYS AS IDENTITY,
    table_id          bigint NOT NULL,
    group_id          bigint,
    step_id           text CHECK (step_id ~ '^[a-z][a-z0-9_]{0,63}$'),
    title             text NOT NULL CHECK (length(title) BETWEEN 1 AND 200),
    description       text NOT NULL DEFAULT '' CHECK (length(description) <= 20000),
    description_html  text NOT NULL DEFAULT '',
    starts_at         timestamptz NOT NULL,
    ends_at           timestamptz NOT NULL,
    place             text CHECK (length(place) BETWEEN 1 AND 500),
    online_url        text CHECK (online_url ~ '^https?://[^[:space:][:cntrl:]]+$' AND length(online_url) <= 2000),
    -- NULL: unlimited.
    capacity          int CHECK (capacity BETWEEN 1 AND 100000),
    registration_open boolean NOT NULL DEFAULT true,
    -- The support arranged: a set of actor, playback_theatre, interpreter,
    -- other (other expertise, described in support_note).
    support           text[] NOT NULL DEFAULT '{}'
                      CHECK (support <@ ARRAY['actor', 'playback_theatre', 'interpreter', 'other']::text[]),
    support_note      text CHECK (length(support_note) <= 1000),
    state             text NOT NULL DEFAULT 'planned' CHECK (state IN ('planned', 'cancelled')),
    cancel_reason     text CHECK (length(cancel_reason) <= 2000),
    -- People who came in without registering (attendance).
    walk_ins          int CHECK (walk_ins BETWEEN 0 AND 100000),
    attendance_at     timestamptz,
    -- Changes, for the iCalendar SEQUENCE.
    sequence          int NOT NULL DEFAULT 0,
    created_by        bigint,
    created_at        timestamptz NOT NULL,
    updated_at        timestamptz NOT NULL,
    cancelled_by      bigint,
    cancelled_at      timestamptz,
    PRIMARY KEY (tenant_id, id),
    CHECK (ends_at > starts_at),
    FOREIGN KEY (tenant_id, table_id) REFERENCES tables (tenant_id, id) ON DELETE CASCADE,
    FOREIGN KEY (tenant_id, group_id) REFERENCES groups (tenant_id, id) ON DELETE CASCADE,
    FOREIGN KEY (tenant_id, created_by) REFERENCES accounts (tenant_id, id),
    FOREIGN KEY (tenant_id, cancelled_by) REFERENCES accounts (tenant_id, id)
);
CREATE INDEX meetings_table ON meetings (tenant_id, table_id, starts_at, id);
CREATE INDEX meetings_group ON meetings (tenant_id, group_id) WHERE group_id IS NOT NULL;
CREATE INDEX meetings_created_by ON meetings (tenant_id, created_by);
CREATE INDEX meetings_cancelled_by ON meetings (tenant_id, cancelled_by);
SELECT platform.make_tenant_table('meetings');

-- A place at a meeting: an account's, or a name a facilitator registered
-- for someone without an account. Waiting ones keep their place in line
-- (position, rising); a registration erased with its account keeps
-- neither account nor name.
CREATE TABLE meeting_registrations (
    tenant_id     bigint NOT NULL,
    id            bigint GENERATED ALWAYS AS IDENTITY,
    meeting_id    bigint NOT NULL,
    account_id    bigint,
    name          text CHECK (length(name) BETWEEN 1 AND 100),
    -- The language of the mails to them.
    lang          text NOT NULL DEFAULT 'nl' CHECK (lang IN ('nl', 'en')),
    state         text NOT NULL CHECK (state IN ('registered', 'waiting', 'cancelled')),
    position      bigint,
    attended      boolean,
    registered_by bigint,
    created_at    timestamptz NOT NULL,
    changed_at    timestamptz NOT NULL,
    promoted_at   timestamptz,
    PRIMARY KEY (tenant_id, id),
    UNIQUE (tenant_id, meeting_id, account_id),
    CHECK (account_id IS NULL OR name IS NULL),
    CHECK ((state = 'waiting') = (position IS NOT NULL)),
    FOREIGN KEY (tenant_id, meeting_id) REFERENCES meetings (tenant_id, id) ON DELETE CASCADE,
    FOREIGN KEY (tenant_id, account_id) REFERENCES accounts (tenant_id, id) ON DELETE CASCADE,
    FOREIGN KEY (tenant_id, registered_by) REFERENCES accounts (tenant_id, id)
);
CREATE INDEX meeting_registrations_line ON meeting_registrations (tenant_id, meeting_id, state, position, id);
CREATE INDEX meeting_registrations_account ON meeting_registrations (tenant_id, account_id);
CREATE INDEX meeting_registrations_registered_by ON meeting_registrations (tenant_id, registered_by);
SELECT platform.make_tenant_table('meeting_registrations');

-- What guests may read (a public table's meetings, their counts and
-- calendars) moves the data generation, as decisions do (022).
CREATE TRIGGER meetings_data AFTER INSERT OR UPDATE OR DELETE ON meetings
    FOR EACH ROW EXECUTE FUNCTION platform.notify_data();
CREATE TRIGGER meeting_registrations_data AFTER INSERT OR UPDATE OR DELETE ON meeting_registrations
    FOR EACH ROW EXECUTE FUNCTION platform.notify_data();
