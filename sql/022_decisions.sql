-- Decisions the Deep Democracy way (docs/api.md, "Decisions"): a
-- proposal at a table (optionally of one of its groups, or made in one of
-- its workflow's steps), the votes of its people or of a group's members,
-- the counts a facilitator records for the room, the majority's outcome
-- when it closes, and the minority round: what it would take for those
-- who voted against to go along, which of it was added, and the final
-- text. The functions are sql/code/decisions.sql.

CREATE TABLE decisions (
    tenant_id       bigint NOT NULL,
    id              bigint GENERATED ALWAYS AS IDENTITY,
    table_id        bigint NOT NULL,
    group_id        bigint,
    step_id         text CHECK (step_id ~ '^[a-z][a-z0-9_]{0,63}$'),
    title           text NOT NULL CHECK (length(title) BETWEEN 1 AND 200),
    proposal        text NOT NULL CHECK (length(proposal) <= 20000),
    proposal_html   text NOT NULL DEFAULT '',
    -- [{id, label: {nl, en}}, …]: 2 to 10 choices.
    choices         jsonb NOT NULL CHECK (jsonb_typeof(choices) = 'array'),
    voters          text NOT NULL CHECK (voters IN ('people', 'group')),
    opens_at        timestamptz NOT NULL,
    closes_at       timestamptz,
    results_hidden  boolean NOT NULL DEFAULT false,
    secret          boolean NOT NULL DEFAULT false,
    state           text NOT NULL DEFAULT 'open' CHECK (state IN ('open', 'closed')),
    path            text NOT NULL DEFAULT 'vote' CHECK (path IN ('vote', 'collective')),
    -- The majority's choice (NULL: a tie, no votes, or the collective path).
    outcome         text,
    -- What was found together (the collective path).
    outcome_text    text CHECK (length(outcome_text) <= 20000),
    outcome_html    text,
    final_text      text CHECK (length(final_text) <= 20000),
    final_html      text,
    created_by      bigint,
    created_at      timestamptz NOT NULL,
    closed_by       bigint,
    closed_at       timestamptz,
    final_by        bigint,
    final_at        timestamptz,
    PRIMARY KEY (tenant_id, id),
    CHECK (voters = 'people' OR group_id IS NOT NULL),
    CHECK (closes_at IS NULL OR closes_at > opens_at),
    FOREIGN KEY (tenant_id, table_id) REFERENCES tables (tenant_id, id) ON DELETE CASCADE,
    FOREIGN KEY (tenant_id, group_id) REFERENCES groups (tenant_id, id) ON DELETE CASCADE,
    FOREIGN KEY (tenant_id, created_by) REFERENCES accounts (tenant_id, id),
    FOREIGN KEY (tenant_id, closed_by) REFERENCES accounts (tenant_id, id),
    FOREIGN KEY (tenant_id, final_by) REFERENCES accounts (tenant_id, id)
);
CREATE INDEX decisions_table ON decisions (tenant_id, table_id, id);
CREATE INDEX decisions_group ON decisions (tenant_id, group_id) WHERE group_id IS NOT NULL;
CREATE INDEX decisions_created_by ON decisions (tenant_id, created_by);
CREATE INDEX decisions_closed_by ON decisions (tenant_id, closed_by);
CREATE INDEX decisions_final_by ON decisions (tenant_id, final_by);
SELECT platform.make_tenant_table('decisions');

-- One vote per person per decision, changeable until it closes.
CREATE TABLE votes (
    tenant_id   bigint NOT NULL,
    decision_id bigint NOT NULL,
    account_id  bigint NOT NULL,
    choice      text NOT NULL,
    cast_at     timestamptz NOT NULL,
    changed_at  timestamptz NOT NULL,
    PRIMARY KEY (tenant_id, decision_id, account_id),
    FOREIGN KEY (tenant_id, decision_id) REFERENCES decisions (tenant_id, id) ON DELETE CASCADE,
    FOREIGN KEY (tenant_id, account_id) REFERENCES accounts (tenant_id, id) ON DELETE CASCADE
);
CREATE INDEX votes_account ON votes (tenant_id, account_id);
SELECT platform.make_tenant_table('votes');

-- The counts a facilitator records per choice for the people in the room
-- without an account: kept apart from the individual votes.
CREATE TABLE room_counts (
    tenant_id   bigint NOT NULL,
    decision_id bigint NOT NULL,
    choice      text NOT NULL,
    count       int NOT NULL CHECK (count BETWEEN 0 AND 100000),
    recorded_by bigint,
    recorded_at timestamptz NOT NULL,
    PRIMARY KEY (tenant_id, decision_id, choice),
    FOREIGN KEY (tenant_id, decision_id) REFERENCES decisions (tenant_id, id) ON DELETE CASCADE,
    FOREIGN KEY (tenant_id, recorded_by) REFERENCES accounts (tenant_id, id)
);
CREATE INDEX room_counts_recorded_by ON room_counts (tenant_id, recorded_by);
SELECT platform.make_tenant_table('room_counts');

-- The minority round: what it would take for someone who voted against
-- (or, for the room, its facilitator) to go along; the facilitator marks
-- each point added to the decision or not, with a reason.
CREATE TABLE minority_points (
    tenant_id   bigint NOT NULL,
    id          bigint GENERATED ALWAYS AS IDENTITY,
    decision_id bigint NOT NULL,
    account_id  bigint,
    for_room    boolean NOT NULL DEFAULT false,
    body        text NOT NULL CHECK (length(body) BETWEEN 1 AND 5000),
    created_at  timestamptz NOT NULL,
    added       boolean,
    reason      text CHECK (length(reason) <= 2000),
    marked_by   bigint,
    marked_at   timestamptz,
    PRIMARY KEY (tenant_id, id),
    FOREIGN KEY (tenant_id, decision_id) REFERENCES decisions (tenant_id, id) ON DELETE CASCADE,
    FOREIGN KEY (tenant_id, account_id) REFERENCES accounts (tenant_id, id),
    FOREIGN KEY (tenant_id, marked_by) REFERENCES accounts (tenant_id, id)
);
CREATE INDEX minority_points_decision ON minority_points (tenant_id, decision_id, id);
CREATE INDEX minority_points_account ON minority_points (tenant_id, account_id);
CREATE INDEX minority_points_marked_by ON minority_points (tenant_id, marked_by);
SELECT platform.make_tenant_table('minority_points');

-- What guests may read (a public table's decisions, their counts and
-- points) moves the data generation, as records do (019).
CREATE TRIGGER decisions_data AFTER INSERT OR UPDATE OR DELETE ON decisions
    FOR EACH ROW EXECUTE FUNCTION platform.notify_data();
CREATE TRIGGER votes_data AFTER INSERT OR UPDATE OR DELETE ON votes
    FOR EACH ROW EXECUTE FUNCTION platform.notify_data();
CREATE TRIGGER room_counts_data AFTER INSERT OR UPDATE OR DELETE ON room_counts
    FOR EACH ROW EXECUTE FUNCTION platform.notify_data();
CREATE TRIGGER minority_points_data AFTER INSERT OR UPDATE OR DELETE ON minority_points
    FOR EACH ROW EXECUTE FUNCTION platform.notify_data();
