-- Durable timed jobs (docs/architecture.md, "The scheduler"): what a
-- tenant's data needs done at a time, such as closing a decision at its
-- closes_at. Each daemon's scheduler takes due jobs with row locks (SKIP
-- LOCKED) and a lease, so that however many daemons run, one runs a job,
-- and a job whose taker died is taken again once its lease has passed.
-- The functions are sql/code/jobs.sql.

CREATE TABLE jobs (
    tenant_id   bigint NOT NULL,
    id          bigint GENERATED ALWAYS AS IDENTITY,
    -- What to do (a runner in sql/code/jobs.sql), and to what: the
    -- decision's id for decision.close; 0 when the kind needs none.
    kind        text NOT NULL CHECK (kind ~ '^[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)*$' AND length(kind) <= 64),
    subject     bigint NOT NULL DEFAULT 0,
    -- pending (due at run_at; taken while lease_until is ahead), done,
    -- failed (gave up after the most attempts) or cancelled.
    state       text NOT NULL DEFAULT 'pending' CHECK (state IN ('pending', 'done', 'failed', 'cancelled')),
    run_at      timestamptz NOT NULL,
    attempts    int NOT NULL DEFAULT 0,
    last_error  text CHECK (length(last_error) <= 2000),
    taken_by    text CHECK (length(taken_by) <= 200),
    taken_at    timestamptz,
    lease_until timestamptz,
    created_at  timestamptz NOT NULL,
    done_at     timestamptz,
    PRIMARY KEY (tenant_id, id)
);
-- One pending job per (kind, subject): scheduling again moves its run_at.
CREATE UNIQUE INDEX jobs_pending ON jobs (tenant_id, kind, subject) WHERE state = 'pending';
CREATE INDEX jobs_due ON jobs (tenant_id, run_at) WHERE state = 'pending';
SELECT platform.make_tenant_table('jobs');
