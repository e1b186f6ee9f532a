-- A table's workflow (docs/plugins.md, "Workflows and step types"): the
-- definition it was opened on, kept as a snapshot so that a later deploy
-- or rollback of the municipality's bundle never breaks a running table;
-- its steps and their states; the history of their changes; and the
-- records its steps keep, with every earlier version. The functions are
-- sql/code/workflows.sql and sql/code/records.sql.

-- The snapshot: the workflow's id and its definition as the runtime gave
-- it when the table was opened or last moved (steps, their record kinds,
-- fields and visibility; never the Lua functions).
CREATE TABLE table_workflows (
    tenant_id   bigint NOT NULL,
    table_id    bigint NOT NULL,
    workflow_id text NOT NULL CHECK (workflow_id ~ '^[a-z][a-z0-9_]{0,63}$'),
    definition  jsonb NOT NULL CHECK (jsonb_typeof(definition) = 'object'),
    started_at  timestamptz NOT NULL,
    moved_at    timestamptz,
    PRIMARY KEY (tenant_id, table_id),
    FOREIGN KEY (tenant_id, table_id) REFERENCES tables (tenant_id, id) ON DELETE CASCADE
);
SELECT platform.make_tenant_table('table_workflows');

-- One row per step of the snapshot, in order; RECORDS is the step's
-- record kinds from the snapshot ({kind: {visible, fields}}), so that a
-- record's kind and visibility are read with its step.
CREATE TABLE table_steps (
    tenant_id   bigint NOT NULL,
    table_id    bigint NOT NULL,
    step_id     text NOT NULL CHECK (step_id ~ '^[a-z][a-z0-9_]{0,63}$'),
    position    int NOT NULL CHECK (position >= 1),
    type        text NOT NULL CHECK (type ~ '^[a-z][a-z0-9_]{0,63}$'),
    name        text NOT NULL,
    title       jsonb NOT NULL DEFAULT '{}',
    records     jsonb NOT NULL DEFAULT '{}' CHECK (jsonb_typeof(records) = 'object'),
    state       text NOT NULL CHECK (state IN ('pending', 'active', 'done', 'skipped')),
    changed_at  timestamptz NOT NULL,
    PRIMARY KEY (tenant_id, table_id, step_id),
    FOREIGN KEY (tenant_id, table_id) REFERENCES table_workflows (tenant_id, table_id) ON DELETE CASCADE
);
-- At most one active step per table.
CREATE UNIQUE INDEX table_steps_active ON table_steps (tenant_id, table_id) WHERE state = 'active';
SELECT platform.make_tenant_table('table_steps');

-- Who changed which step when, what and why (skip and reopen need a
-- reason; a move names the definition it moved to).
CREATE TABLE step_history (
    tenant_id   bigint NOT NULL,
    id          bigint GENERATED ALWAYS AS IDENTITY,
    table_id    bigint NOT NULL,
    step_id     text,
    action      text NOT NULL CHECK (action IN ('started', 'entered', 'completed', 'skipped', 'reopened', 'moved')),
    from_state  text,
    to_state    text,
    account_id  bigint,
    reason      text CHECK (length(reason) <= 2000),
    at          timestamptz NOT NULL,
    PRIMARY KEY (tenant_id, id),
    FOREIGN KEY (tenant_id, table_id) REFERENCES table_workflows (tenant_id, table_id) ON DELETE CASCADE,
    FOREIGN KEY (tenant_id, account_id) REFERENCES accounts (tenant_id, id)
);
CREATE INDEX step_history_table ON step_history (tenant_id, table_id, id);
CREATE INDEX step_history_account ON step_history (tenant_id, account_id);
SELECT platform.make_tenant_table('step_history');

-- A record a step keeps (a quote, an interview, a player): its fields are
-- checked against the kind's declared fields in the snapshot.
CREATE TABLE records (
    tenant_id   bigint NOT NULL,
    id          bigint GENERATED ALWAYS AS IDENTITY,
    table_id    bigint NOT NULL,
    step_id     text NOT NULL,
    kind        text NOT NULL CHECK (kind ~ '^[a-z][a-z0-9_]{0,63}$'),
    fields      jsonb NOT NULL CHECK (jsonb_typeof(fields) = 'object'),
    version     int NOT NULL DEFAULT 1,
    created_by  bigint NOT NULL,
    created_at  timestamptz NOT NULL,
    updated_by  bigint NOT NULL,
    updated_at  timestamptz NOT NULL,
    PRIMARY KEY (tenant_id, id),
    FOREIGN KEY (tenant_id, table_id, step_id) REFERENCES table_steps (tenant_id, table_id, step_id),
    FOREIGN KEY (tenant_id, created_by) REFERENCES accounts (tenant_id, id),
    FOREIGN KEY (tenant_id, updated_by) REFERENCES accounts (tenant_id, id)
);
CREATE INDEX records_table ON records (tenant_id, table_id, step_id, kind, id);
CREATE INDEX records_created_by ON records (tenant_id, created_by);
SELECT platform.make_tenant_table('records');

-- Every version of every record, the current one included.
CREATE TABLE record_versions (
    tenant_id   bigint NOT NULL,
    record_id   bigint NOT NULL,
    version     int NOT NULL,
    fields      jsonb NOT NULL,
    saved_by    bigint NOT NULL,
    saved_at    timestamptz NOT NULL,
    PRIMARY KEY (tenant_id, record_id, version),
    FOREIGN KEY (tenant_id, record_id) REFERENCES records (tenant_id, id) ON DELETE CASCADE,
    FOREIGN KEY (tenant_id, saved_by) REFERENCES accounts (tenant_id, id)
);
CREATE INDEX record_versions_saved_by ON record_versions (tenant_id, saved_by);
SELECT platform.make_tenant_table('record_versions');

-- What guests may read (where a table stands, records for its readers)
-- moves the data generation, as tables and contributions do (010).
CREATE TRIGGER table_steps_data AFTER INSERT OR UPDATE OR DELETE ON table_steps
    FOR EACH ROW EXECUTE FUNCTION platform.notify_data();
CREATE TRIGGER records_data AFTER INSERT OR UPDATE OR DELETE ON records
    FOR EACH ROW EXECUTE FUNCTION platform.notify_data();
