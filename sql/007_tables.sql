-- Local tables, their people, groups, invitations, contributions, edits
-- and reports, with the API operations that read and change them. Who may
-- see what is decided here, in one place (DESIGN.md, "Who uses it, and
-- what each may see"):
--
-- * a public table is readable by everyone; a closed table only by its
--   people; tenant admins stand as facilitators of every table;
-- * a table's facilitators (and admins) read everything in it, closed
--   groups included, and moderate it;
-- * a closed group shows its name and purpose to whoever reads the table;
--   its content only to its members and the table's facilitators;
-- * what a viewer may not read answers 404, never 403, in every list,
--   page, search and feed.
CREATE EXTENSION IF NOT EXISTS btree_gin;

CREATE TABLE tables (
    tenant_id   bigint NOT NULL REFERENCES platform.tenants (id) ON DELETE CASCADE,
    id          bigint GENERATED ALWAYS AS IDENTITY,
    title       text NOT NULL CHECK (length(title) BETWEEN 1 AND 200),
    question    text NOT NULL CHECK (length(question) BETWEEN 1 AND 500),
    description text NOT NULL DEFAULT '' CHECK (length(description) <= 20000),
    description_html text NOT NULL DEFAULT '',
    visibility  text NOT NULL CHECK (visibility IN ('public', 'closed')),
    status      text NOT NULL DEFAULT 'open' CHECK (status IN ('open', 'closed', 'archived')),
    created_by  bigint,
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now(),
    search      tsvector GENERATED ALWAYS AS (
                    setweight(to_tsvector('dutch', title), 'A') || setweight(to_tsvector('dutch', question), 'A')
                    || setweight(to_tsvector('dutch', description), 'B')) STORED,
    PRIMARY KEY (tenant_id, id),
    FOREIGN KEY (tenant_id, created_by) REFERENCES accounts (tenant_id, id)
);
CREATE INDEX tables_search ON tables USING gin (tenant_id, search);
SELECT platform.make_tenant_table('tables');

CREATE TABLE table_members (
    tenant_id   bigint NOT NULL,
    table_id    bigint NOT NULL,
    account_id  bigint NOT NULL,
    role        text NOT NULL CHECK (role IN ('facilitator', 'client', 'member')),
    joined_at   timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, table_id, account_id),
    FOREIGN KEY (tenant_id, table_id) REFERENCES tables (tenant_id, id) ON DELETE CASCADE,
    FOREIGN KEY (tenant_id, account_id) REFERENCES accounts (tenant_id, id) ON DELETE CASCADE
);
CREATE INDEX table_members_account ON table_members (tenant_id, account_id);
SELECT platform.make_tenant_table('table_members');

-- When a person last opened a table's page: what is new is what came after.
CREATE TABLE table_visits (
    tenant_id   bigint NOT NULL,
    table_id    bigint NOT NULL,
    account_id  bigint NOT NULL,
    seen_at     timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, table_id, account_id),
    FOREIGN KEY (tenant_id, table_id) REFERENCES tables (tenant_id, id) ON DELETE CASCADE,
    FOREIGN KEY (tenant_id, account_id) REFERENCES accounts (tenant_id, id) ON DELETE CASCADE
);
SELECT platform.make_tenant_table('table_visits');

CREATE TABLE groups (
    tenant_id   bigint NOT NULL,
    id          bigint GENERATED ALWAYS AS IDENTITY,
    table_id    bigint NOT NULL,
    name        text NOT NULL CHECK (length(name) BETWEEN 1 AND 100),
    purpose     text NOT NULL DEFAULT '' CHECK (length(purpose) <= 1000),
    visibility  text NOT NULL CHECK (visibility IN ('public', 'closed')),
    created_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, id),
    FOREIGN KEY (tenant_id, table_id) REFERENCES tables (tenant_id, id) ON DELETE CASCADE
);
CREATE INDEX groups_table ON groups (tenant_id, table_id);
SELECT platform.make_tenant_table('groups');

CREATE TABLE group_members (
    tenant_id   bigint NOT NULL,
    group_id    bigint NOT NULL,
    account_id  bigint NOT NULL,
    joined_at   timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, group_id, account_id),
    FOREIGN KEY (tenant_id, group_id) REFERENCES groups (tenant_id, id) ON DELETE CASCADE,
    FOREIGN KEY (tenant_id, account_id) REFERENCES accounts (tenant_id, id) ON DELETE CASCADE
);
CREATE INDEX group_members_account ON group_members (tenant_id, account_id);
SELECT platform.make_tenant_table('group_members');

CREATE TABLE group_requests (
    tenant_id   bigint NOT NULL,
    id          bigint GENERATED ALWAYS AS IDENTITY,
    group_id    bigint NOT NULL,
    account_id  bigint NOT NULL,
    message     text NOT NULL DEFAULT '' CHECK (length(message) <= 1000),
    status      text NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'approved', 'declined')),
    created_at  timestamptz NOT NULL DEFAULT now(),
    decided_at  timestamptz,
    decided_by  bigint,
    PRIMARY KEY (tenant_id, id),
    FOREIGN KEY (tenant_id, group_id) REFERENCES groups (tenant_id, id) ON DELETE CASCADE,
    FOREIGN KEY (tenant_id, account_id) REFERENCES accounts (tenant_id, id) ON DELETE CASCADE
);
CREATE UNIQUE INDEX group_requests_pending ON group_requests (tenant_id, group_id, account_id) WHERE status = 'pending';
SELECT platform.make_tenant_table('group_requests');

-- An invitation to a table (and optionally one of its groups): by e-mail
-- (single use) or as a link (many uses until it expires or is revoked).
CREATE TABLE invitations (
    tenant_id   bigint NOT NULL,
    id          bigint GENERATED ALWAYS AS IDENTITY,
    table_id    bigint NOT NULL,
    group_id    bigint,
    email       text CHECK (email = lower(email) AND length(email) BETWEEN 3 AND 254),
    role        text NOT NULL DEFAULT 'member' CHECK (role IN ('facilitator', 'client', 'member')),
    token_hash  bytea NOT NULL CHECK (length(token_hash) = 32),
    created_by  bigint,
    created_at  timestamptz NOT NULL DEFAULT now(),
    expires_at  timestamptz NOT NULL,
    revoked_at  timestamptz,
    used_at     timestamptz,
    uses        int NOT NULL DEFAULT 0,
    PRIMARY KEY (tenant_id, id),
    UNIQUE (tenant_id, token_hash),
    FOREIGN KEY (tenant_id, table_id) REFERENCES tables (tenant_id, id) ON DELETE CASCADE,
    FOREIGN KEY (tenant_id, group_id) REFERENCES groups (tenant_id, id) ON DELETE CASCADE
);
CREATE INDEX invitations_table ON invitations (tenant_id, table_id);
SELECT platform.make_tenant_table('invitations');

-- A contribution by an account, or recorded by a facilitator on behalf of
-- someone at the table without an account (author_id NULL, author_name
-- the name given or NULL for "deelnemer aan tafel").
CREATE TABLE contributions (
    tenant_id   bigint NOT NULL,
    id          bigint GENERATED ALWAYS AS IDENTITY,
    table_id    bigint NOT NULL,
    group_id    bigint,
    parent_id   bigint,
    author_id   bigint,
    author_name text CHECK (length(author_name) BETWEEN 1 AND 100),
    recorded_by bigint,
    body        text NOT NULL CHECK (length(body) BETWEEN 1 AND 10000),
    body_html   text NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now(),
    edited_at   timestamptz,
    hidden_at   timestamptz,
    hidden_reason text CHECK (length(hidden_reason) <= 1000),
    hidden_by   bigint,
    search      tsvector GENERATED ALWAYS AS (to_tsvector('dutch', body)) STORED,
    PRIMARY KEY (tenant_id, id),
    FOREIGN KEY (tenant_id, table_id) REFERENCES tables (tenant_id, id) ON DELETE CASCADE,
    FOREIGN KEY (tenant_id, group_id) REFERENCES groups (tenant_id, id) ON DELETE CASCADE,
    FOREIGN KEY (tenant_id, parent_id) REFERENCES contributions (tenant_id, id) ON DELETE CASCADE,
    FOREIGN KEY (tenant_id, author_id) REFERENCES accounts (tenant_id, id),
    FOREIGN KEY (tenant_id, recorded_by) REFERENCES accounts (tenant_id, id)
);
CREATE INDEX contributions_place ON contributions (tenant_id, table_id, group_id, id);
CREATE INDEX contributions_parent ON contributions (tenant_id, parent_id) WHERE parent_id IS NOT NULL;
CREATE INDEX contributions_search ON contributions USING gin (tenant_id, search);
SELECT platform.make_tenant_table('contributions');

CREATE TABLE contribution_edits (
    tenant_id   bigint NOT NULL,
    id          bigint GENERATED ALWAYS AS IDENTITY,
    contribution_id bigint NOT NULL,
    body        text NOT NULL,
    replaced_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, id),
    FOREIGN KEY (tenant_id, contribution_id) REFERENCES contributions (tenant_id, id) ON DELETE CASCADE
);
CREATE INDEX contribution_edits_of ON contribution_edits (tenant_id, contribution_id);
SELECT platform.make_tenant_table('contribution_edits');

CREATE TABLE reports (
    tenant_id   bigint NOT NULL,
    id          bigint GENERATED ALWAYS AS IDENTITY,
    contribution_id bigint NOT NULL,
    reporter_id bigint NOT NULL,
    reason      text NOT NULL CHECK (length(reason) BETWEEN 1 AND 1000),
    status      text NOT NULL DEFAULT 'open' CHECK (status IN ('open', 'hidden', 'dismissed')),
    created_at  timestamptz NOT NULL DEFAULT now(),
    handled_by  bigint,
    handled_at  timestamptz,
    PRIMARY KEY (tenant_id, id),
    FOREIGN KEY (tenant_id, contribution_id) REFERENCES contributions (tenant_id, id) ON DELETE CASCADE,
    FOREIGN KEY (tenant_id, reporter_id) REFERENCES accounts (tenant_id, id) ON DELETE CASCADE
);
CREATE UNIQUE INDEX reports_open_once ON reports (tenant_id, contribution_id, reporter_id) WHERE status = 'open';
SELECT platform.make_tenant_table('reports');

-- ---------------------------------------------------------------- standing

-- The viewer's standing at a table: 'facilitator', 'client', 'member',
-- 'guest' (reads a public table without being one of its people), or NULL
-- (the table is not there for them: 404).
CREATE FUNCTION api.table_standing(t bigint, viewer bigint, roles text, tb tables) RETURNS text
LANGUAGE sql STABLE AS $$
    SELECT CASE
        WHEN tb.id IS NULL THEN NULL
        WHEN viewer IS NOT NULL AND api.has_role(roles, 'admin') THEN 'facilitator'
        ELSE coalesce((SELECT m.role FROM table_members m
                        WHERE m.tenant_id = t AND m.table_id = tb.id AND m.account_id = viewer),
                      CASE WHEN tb.visibility = 'public' THEN 'guest' END)
    END
$$;

-- The viewer's standing in a group, given their standing at its table:
-- 'manage' (the table's facilitators), 'member', 'read' (a public group's
-- content, not joined), 'outside' (a closed group: name and purpose only),
-- or NULL.
CREATE FUNCTION api.group_standing(t bigint, viewer bigint, tstanding text, g groups) RETURNS text
LANGUAGE sql STABLE AS $$
    SELECT CASE
        WHEN tstanding IS NULL OR g.id IS NULL THEN NULL
        WHEN tstanding = 'facilitator' THEN 'manage'
        WHEN viewer IS NOT NULL AND EXISTS (SELECT 1 FROM group_members m
              WHERE m.tenant_id = t AND m.group_id = g.id AND m.account_id = viewer) THEN 'member'
        WHEN g.visibility = 'public' THEN 'read'
        ELSE 'outside'
    END
$$;

CREATE FUNCTION api.id_arg(a jsonb, name text) RETURNS bigint
LANGUAGE sql IMMUTABLE AS $$
    SELECT CASE WHEN jsonb_typeof(a -> name) = 'number' AND (a ->> name) ~ '^[1-9][0-9]{0,17}$' THEN (a ->> name)::bigint
                WHEN jsonb_typeof(a -> name) = 'string' AND (a ->> name) ~ '^[1-9][0-9]{0,17}$' THEN (a ->> name)::bigint
           END
$$;

CREATE FUNCTION api.check_choice(f jsonb, name text, value text, choices text[], required boolean DEFAULT true)
RETURNS jsonb LANGUAGE sql IMMUTABLE AS $$
    SELECT CASE
        WHEN f ? name OR (value IS NULL AND NOT required) THEN f
        WHEN value IS NULL THEN f || jsonb_build_object(name, jsonb_build_object('code', 'required', 'message', 'This field is required.'))
        WHEN NOT value = ANY (choices) THEN
            f || jsonb_build_object(name, jsonb_build_object('code', 'choice',
                                    'message', 'One of: ' || array_to_string(choices, ', ') || '.'))
        ELSE f END
$$;

CREATE FUNCTION api.forbidden(message text DEFAULT 'You may not do this.') RETURNS jsonb
LANGUAGE sql IMMUTABLE AS $$
    SELECT api.error(403, 'forbidden', message)
$$;

-- What refuses an operation to a viewer of STANDING (NULL: the thing is
-- not there for them) when it needs one of NEED ('{}': anyone signed in;
-- NULL: anyone who may read): 404, 401 or 403 with MESSAGE; NULL when it
-- is allowed.
CREATE FUNCTION api.refusal(standing text, viewer bigint, need text[],
                            message text DEFAULT 'You may not do this.') RETURNS jsonb
LANGUAGE sql IMMUTABLE AS $$
    SELECT CASE
        WHEN standing IS NULL THEN api.not_found()
        WHEN need IS NULL THEN NULL
        WHEN viewer IS NULL THEN api.unauthorized()
        WHEN cardinality(need) = 0 OR standing = ANY (need) THEN NULL
        ELSE api.forbidden(message)
    END
$$;

-- Whether WHO is the last facilitator of table X, who may not leave or
-- step down. A deleted account keeps its membership row (its
-- contributions still point at it) but facilitates nothing, so only the
-- others with a live account count.
CREATE FUNCTION api.last_facilitator(t bigint, x bigint, who bigint) RETURNS boolean
LANGUAGE sql STABLE AS $$
    SELECT EXISTS (SELECT 1 FROM table_members m WHERE m.tenant_id = t AND m.table_id = x AND m.account_id = who
                     AND m.role = 'facilitator')
       AND NOT EXISTS (SELECT 1 FROM table_members m JOIN accounts p ON p.tenant_id = m.tenant_id AND p.id = m.account_id
                        WHERE m.tenant_id = t AND m.table_id = x AND m.account_id <> who
                          AND m.role = 'facilitator' AND p.deleted_at IS NULL)
$$;

-- ---------------------------------------------------------------- JSON shapes

-- A table as JSON, given the viewer's role there (NULL: none) and its
-- number of visible contributions. Immutable and without subqueries, so
-- PostgreSQL inlines it into a list's query.
CREATE FUNCTION api.table_object(tb tables, my_role text, contributions bigint) RETURNS jsonb
LANGUAGE sql IMMUTABLE AS $$
    SELECT jsonb_build_object('id', tb.id, 'title', tb.title, 'question', tb.question,
        'description', tb.description, 'description_html', tb.description_html,
        'visibility', tb.visibility, 'status', tb.status, 'created_at', tb.created_at, 'updated_at', tb.updated_at,
        'my_role', my_role, 'contributions', contributions)
$$;

CREATE FUNCTION api.table_json(t bigint, tb tables, standing text) RETURNS jsonb
LANGUAGE sql STABLE AS $$
    SELECT api.table_object(tb, CASE WHEN standing = 'guest' THEN NULL ELSE standing END,
        (SELECT count(*) FROM contributions c WHERE c.tenant_id = t AND c.table_id = tb.id
            AND c.group_id IS NULL AND c.hidden_at IS NULL))
$$;

CREATE FUNCTION api.group_json(t bigint, viewer bigint, g groups, standing text) RETURNS jsonb
LANGUAGE sql STABLE AS $$
    SELECT jsonb_build_object('id', g.id, 'table_id', g.table_id, 'name', g.name, 'purpose', g.purpose,
        'visibility', g.visibility, 'created_at', g.created_at,
        'my_status', CASE WHEN standing IN ('manage', 'member') THEN standing
                          WHEN EXISTS (SELECT 1 FROM group_requests r WHERE r.tenant_id = t AND r.group_id = g.id
                                       AND r.status = 'pending' AND r.account_id = viewer)
                          THEN 'requested' END,
        'can_read', standing IN ('manage', 'member', 'read'),
        'members', (SELECT count(*) FROM group_members m WHERE m.tenant_id = t AND m.group_id = g.id))
$$;

-- A contribution as VIEWER sees it: a hidden one keeps its place and its
-- reason, and its text only for the table's facilitators.
-- Contributions IDS as VIEWER sees them, in id order: a hidden one keeps
-- its place and its reason, and its text only for the table's
-- facilitators (MANAGE). One set-based query for a whole list: a function
-- called per row costs a planned query per row.
CREATE FUNCTION api.contributions_json(t bigint, viewer bigint, manage boolean, ids bigint[]) RETURNS jsonb
LANGUAGE sql STABLE AS $$
    SELECT coalesce(jsonb_agg(jsonb_build_object('id', c.id, 'table_id', c.table_id, 'group_id', c.group_id,
        'parent_id', c.parent_id,
        'author', CASE WHEN c.author_id IS NOT NULL THEN
                jsonb_build_object('id', a.id, 'name', a.display_name,
                                   'kind', CASE WHEN a.deleted_at IS NULL THEN 'account' ELSE 'former' END)
            ELSE jsonb_build_object('id', NULL, 'name', coalesce(c.author_name, 'deelnemer aan tafel'), 'kind', 'table')
            END,
        'recorded', c.recorded_by IS NOT NULL,
        'body', CASE WHEN c.hidden_at IS NULL OR manage THEN c.body END,
        'body_html', CASE WHEN c.hidden_at IS NULL OR manage THEN c.body_html END,
        'created_at', c.created_at, 'edited_at', c.edited_at,
        'hidden', c.hidden_at IS NOT NULL, 'hidden_reason', c.hidden_reason,
        -- IS NOT DISTINCT FROM: a contribution recorded for someone at the
        -- table has no author_id, and "= viewer" would answer null, not false.
        'mine', viewer IS NOT NULL AND c.author_id IS NOT DISTINCT FROM viewer,
        'can_edit', viewer IS NOT NULL AND c.author_id IS NOT DISTINCT FROM viewer AND c.hidden_at IS NULL
                    AND c.created_at > now() - interval '15 minutes',
        'replies', CASE WHEN c.parent_id IS NULL THEN coalesce(r.n, 0) END) ORDER BY c.id), '[]')
      FROM contributions c
      LEFT JOIN accounts a ON a.tenant_id = c.tenant_id AND a.id = c.author_id
      LEFT JOIN (SELECT q.parent_id, count(*) AS n FROM contributions q
                  WHERE q.tenant_id = t AND q.parent_id = ANY (ids) GROUP BY q.parent_id) r ON r.parent_id = c.id
     WHERE c.tenant_id = t AND c.id = ANY (ids)
$$;

-- One contribution, the same shape.
CREATE FUNCTION api.contribution_json(t bigint, viewer bigint, c contributions, manage boolean) RETURNS jsonb
LANGUAGE sql STABLE AS $$
    SELECT api.contributions_json(t, viewer, manage, ARRAY[c.id]) -> 0
$$;

-- ---------------------------------------------------------------- tables

CREATE FUNCTION api.load_table(t bigint, a jsonb, key text DEFAULT 'id') RETURNS tables
LANGUAGE sql STABLE AS $$
    SELECT * FROM tables x WHERE x.tenant_id = t AND x.id = api.id_arg(a, key)
$$;

CREATE FUNCTION api.tables_list(t bigint, viewer bigint, roles text, a jsonb) RETURNS jsonb
LANGUAGE plpgsql STABLE AS $$
DECLARE
    lim int := api.page_limit(a);
    after bigint := api.cursor_id(a);
    mine boolean := a ->> 'filter' = 'mine';
    st text := a ->> 'status';
    admin boolean := viewer IS NOT NULL AND api.has_role(roles, 'admin');
    ids bigint[];
BEGIN
    IF after = -1 THEN
        RETURN api.bad_cursor();
    END IF;
    IF st IS NOT NULL AND st NOT IN ('open', 'closed', 'archived') THEN
        RETURN api.invalid(jsonb_build_object('status', jsonb_build_object('code', 'choice',
                                              'message', 'One of: open, closed, archived.')));
    END IF;
    IF mine AND viewer IS NULL THEN
        RETURN api.unauthorized();
    END IF;
    ids := ARRAY(SELECT x.id FROM tables x
                  WHERE x.tenant_id = t AND (after IS NULL OR x.id < after)
                    AND (st IS NULL OR x.status = st)
                    AND (st IS NOT NULL OR x.status <> 'archived')
                    AND (CASE WHEN mine THEN EXISTS (SELECT 1 FROM table_members m WHERE m.tenant_id = t
                                                     AND m.table_id = x.id AND m.account_id = viewer)
                              ELSE x.visibility = 'public' OR admin OR EXISTS (SELECT 1 FROM table_members m
                                   WHERE m.tenant_id = t AND m.table_id = x.id AND m.account_id = viewer) END)
                  ORDER BY x.id DESC LIMIT lim + 1);
    -- One query for the page: roles and counts joined, not asked per table.
    RETURN api.ok(jsonb_build_object(
        'items', coalesce((SELECT jsonb_agg(api.table_object(x, CASE WHEN admin THEN 'facilitator' ELSE m.role END,
                                                              coalesce(n.n, 0)) ORDER BY x.id DESC)
            FROM tables x
            LEFT JOIN table_members m ON m.tenant_id = t AND m.table_id = x.id AND m.account_id = viewer
            LEFT JOIN (SELECT c.table_id, count(*) AS n FROM contributions c
                        WHERE c.tenant_id = t AND c.table_id = ANY (ids[1:lim]) AND c.group_id IS NULL
                          AND c.hidden_at IS NULL GROUP BY c.table_id) n ON n.table_id = x.id
           WHERE x.tenant_id = t AND x.id = ANY (ids[1:lim])), '[]'),
        'next_cursor', CASE WHEN cardinality(ids) > lim THEN to_jsonb(api.cursor(ids[lim])) ELSE 'null' END));
END $$;

-- The fields of a table from A, checked; REQUIRED for a new one.
CREATE FUNCTION api.table_fields(a jsonb, required boolean) RETURNS jsonb
LANGUAGE plpgsql IMMUTABLE AS $$
DECLARE
    f jsonb := '{}';
BEGIN
    f := api.check_type(f, a, 'title', 'string');
    f := api.check_type(f, a, 'question', 'string');
    f := api.check_type(f, a, 'description', 'string');
    f := api.check_type(f, a, 'visibility', 'string');
    f := api.check_type(f, a, 'status', 'string');
    f := api.check_text(f, 'title', api.text_arg(a, 'title'), 200, required);
    f := api.check_text(f, 'question', api.text_arg(a, 'question'), 500, required);
    IF length(api.text_arg(a, 'description')) > 20000 THEN
        f := f || jsonb_build_object('description', jsonb_build_object('code', 'too_long',
                                     'message', 'At most 20000 characters.'));
    END IF;
    f := api.check_choice(f, 'visibility', api.text_arg(a, 'visibility'), ARRAY['public', 'closed'], required);
    f := api.check_choice(f, 'status', api.text_arg(a, 'status'), ARRAY['open', 'closed', 'archived'], false);
    RETURN f;
END $$;

CREATE FUNCTION api.table_create(t bigint, viewer bigint, roles text, a jsonb) RETURNS jsonb
LANGUAGE plpgsql AS $$
DECLARE
    f jsonb;
    x tables;
BEGIN
    IF viewer IS NULL THEN
        RETURN api.unauthorized();
    END IF;
    IF NOT (api.has_role(roles, 'admin') OR api.has_role(roles, 'facilitator')) THEN
        RETURN api.forbidden('Only facilitators and administrators open tables.');
    END IF;
    f := api.table_fields(a, true);
    IF f <> '{}' THEN
        RETURN api.invalid(f);
    END IF;
    INSERT INTO tables (tenant_id, title, question, description, description_html, visibility, created_by)
    VALUES (t, btrim(a ->> 'title'), btrim(a ->> 'question'), coalesce(a ->> 'description', ''),
            coalesce(a ->> '_description_html', ''), a ->> 'visibility', viewer)
    RETURNING * INTO x;
    INSERT INTO table_members (tenant_id, table_id, account_id, role) VALUES (t, x.id, viewer, 'facilitator');
    RETURN api.ok(api.table_json(t, x, 'facilitator'), 201);
END $$;

CREATE FUNCTION api.table_get(t bigint, viewer bigint, roles text, a jsonb) RETURNS jsonb
LANGUAGE plpgsql STABLE AS $$
DECLARE
    x tables := api.load_table(t, a);
    s text := api.table_standing(t, viewer, roles, x);
BEGIN
    IF s IS NULL THEN
        RETURN api.not_found();
    END IF;
    RETURN api.ok(api.table_json(t, x, s) || jsonb_build_object(
        'last_visit_at', (SELECT v.seen_at FROM table_visits v WHERE v.tenant_id = t AND v.table_id = x.id
                            AND v.account_id = viewer)));
END $$;

CREATE FUNCTION api.table_update(t bigint, viewer bigint, roles text, a jsonb) RETURNS jsonb
LANGUAGE plpgsql AS $$
DECLARE
    refused jsonb;
    x tables := api.load_table(t, a);
    s text := api.table_standing(t, viewer, roles, x);
    f jsonb;
BEGIN
    refused := api.refusal(s, viewer, '{facilitator}', 'Only the table''s facilitators change it.');
    IF refused IS NOT NULL THEN
        RETURN refused;
    END IF;
    f := api.table_fields(a, false);
    IF f <> '{}' THEN
        RETURN api.invalid(f);
    END IF;
    UPDATE tables y SET
        title = coalesce(btrim(a ->> 'title'), y.title),
        question = coalesce(btrim(a ->> 'question'), y.question),
        description = coalesce(a ->> 'description', y.description),
        description_html = coalesce(a ->> '_description_html', y.description_html),
        visibility = coalesce(a ->> 'visibility', y.visibility),
        status = coalesce(a ->> 'status', y.status),
        updated_at = now()
     WHERE y.tenant_id = t AND y.id = x.id RETURNING * INTO x;
    RETURN api.ok(api.table_json(t, x, s));
END $$;

-- Marks the table as seen by the viewer; answers the previous visit.
CREATE FUNCTION api.table_visit(t bigint, viewer bigint, roles text, a jsonb) RETURNS jsonb
LANGUAGE plpgsql AS $$
DECLARE
    x tables := api.load_table(t, a);
    before timestamptz;
BEGIN
    IF api.table_standing(t, viewer, roles, x) IS NULL THEN
        RETURN api.not_found();
    END IF;
    IF viewer IS NULL THEN
        RETURN api.unauthorized();
    END IF;
    SELECT v.seen_at INTO before FROM table_visits v WHERE v.tenant_id = t AND v.table_id = x.id AND v.account_id = viewer;
    INSERT INTO table_visits (tenant_id, table_id, account_id) VALUES (t, x.id, viewer)
    ON CONFLICT (tenant_id, table_id, account_id) DO UPDATE SET seen_at = now();
    RETURN api.ok(jsonb_build_object('last_visit_at', before));
END $$;

-- Joining a public table (a closed one takes an invitation).
CREATE FUNCTION api.table_join(t bigint, viewer bigint, roles text, a jsonb) RETURNS jsonb
LANGUAGE plpgsql AS $$
DECLARE
    refused jsonb;
    x tables := api.load_table(t, a);
    s text := api.table_standing(t, viewer, roles, x);
BEGIN
    refused := api.refusal(s, viewer, '{}');
    IF refused IS NOT NULL THEN
        RETURN refused;
    END IF;
    IF x.status = 'archived' THEN
        RETURN api.error(409, 'archived', 'This table is archived.');
    END IF;
    INSERT INTO table_members (tenant_id, table_id, account_id, role) VALUES (t, x.id, viewer, 'member')
    ON CONFLICT DO NOTHING;
    RETURN api.ok(api.table_json(t, x, api.table_standing(t, viewer, roles, x))
                  || jsonb_build_object('joined', FOUND));
END $$;

CREATE FUNCTION api.table_leave(t bigint, viewer bigint, roles text, a jsonb) RETURNS jsonb
LANGUAGE plpgsql AS $$
DECLARE
    refused jsonb;
    x tables := api.load_table(t, a);
    s text := api.table_standing(t, viewer, roles, x);
BEGIN
    refused := api.refusal(s, viewer, '{}');
    IF refused IS NOT NULL THEN
        RETURN refused;
    END IF;
    IF api.last_facilitator(t, x.id, viewer) THEN
        RETURN api.error(409, 'last_facilitator', 'A table keeps at least one facilitator.');
    END IF;
    DELETE FROM group_members g WHERE g.tenant_id = t AND g.account_id = viewer
       AND g.group_id IN (SELECT id FROM groups WHERE tenant_id = t AND table_id = x.id);
    DELETE FROM table_members m WHERE m.tenant_id = t AND m.table_id = x.id AND m.account_id = viewer;
    RETURN api.ok(jsonb_build_object('left', FOUND));
END $$;

-- ---------------------------------------------------------------- people and invitations

CREATE FUNCTION api.table_people(t bigint, viewer bigint, roles text, a jsonb) RETURNS jsonb
LANGUAGE plpgsql STABLE AS $$
DECLARE
    refused jsonb;
    x tables := api.load_table(t, a);
    s text := api.table_standing(t, viewer, roles, x);
BEGIN
    refused := api.refusal(s, viewer, '{facilitator}', 'Only the table''s facilitators see its people.');
    IF refused IS NOT NULL THEN
        RETURN refused;
    END IF;
    RETURN api.ok(jsonb_build_object('items', coalesce((
        SELECT jsonb_agg(jsonb_build_object('id', p.id, 'name', p.display_name, 'email', p.email,
                                            'role', m.role, 'joined_at', m.joined_at) ORDER BY m.role, lower(p.display_name), p.id)
          FROM table_members m JOIN accounts p ON p.tenant_id = m.tenant_id AND p.id = m.account_id
         WHERE m.tenant_id = t AND m.table_id = x.id AND p.deleted_at IS NULL), '[]'), 'next_cursor', NULL));
END $$;

-- Sets (PUT) or removes (DELETE) a person's role at the table.
CREATE FUNCTION api.table_person(t bigint, viewer bigint, roles text, a jsonb) RETURNS jsonb
LANGUAGE plpgsql AS $$
DECLARE
    refused jsonb;
    x tables := api.load_table(t, a);
    s text := api.table_standing(t, viewer, roles, x);
    who bigint := api.id_arg(a, 'account_id');
    want text := api.text_arg(a, 'role');
    f jsonb := '{}';
BEGIN
    refused := api.refusal(s, viewer, '{facilitator}', 'Only the table''s facilitators manage its people.');
    IF refused IS NOT NULL THEN
        RETURN refused;
    END IF;
    IF NOT EXISTS (SELECT 1 FROM accounts p WHERE p.tenant_id = t AND p.id = who AND p.deleted_at IS NULL) THEN
        RETURN api.not_found();
    END IF;
    IF a ->> '_method' = 'DELETE' THEN
        IF api.last_facilitator(t, x.id, who) THEN
            RETURN api.error(409, 'last_facilitator', 'A table keeps at least one facilitator.');
        END IF;
        DELETE FROM group_members g WHERE g.tenant_id = t AND g.account_id = who
           AND g.group_id IN (SELECT id FROM groups WHERE tenant_id = t AND table_id = x.id);
        DELETE FROM table_members m WHERE m.tenant_id = t AND m.table_id = x.id AND m.account_id = who;
        RETURN api.ok(jsonb_build_object('id', who, 'role', NULL));
    END IF;
    f := api.check_choice(f, 'role', want, ARRAY['facilitator', 'client', 'member']);
    IF f <> '{}' THEN
        RETURN api.invalid(f);
    END IF;
    IF want <> 'facilitator' AND api.last_facilitator(t, x.id, who) THEN
        RETURN api.error(409, 'last_facilitator', 'A table keeps at least one facilitator.');
    END IF;
    INSERT INTO table_members (tenant_id, table_id, account_id, role) VALUES (t, x.id, who, want)
    ON CONFLICT (tenant_id, table_id, account_id) DO UPDATE SET role = EXCLUDED.role;
    RETURN api.ok(jsonb_build_object('id', who, 'role', want));
END $$;

CREATE FUNCTION api.invitation_json(i invitations) RETURNS jsonb
LANGUAGE sql STABLE AS $$
    SELECT jsonb_build_object('id', i.id, 'table_id', i.table_id, 'group_id', i.group_id,
        'kind', CASE WHEN i.email IS NULL THEN 'link' ELSE 'email' END, 'email', i.email, 'role', i.role,
        'created_at', i.created_at, 'expires_at', i.expires_at, 'revoked_at', i.revoked_at,
        'used_at', i.used_at, 'uses', i.uses,
        'valid', i.revoked_at IS NULL AND i.expires_at > now() AND (i.email IS NULL OR i.used_at IS NULL))
$$;

CREATE FUNCTION api.invitations_list(t bigint, viewer bigint, roles text, a jsonb) RETURNS jsonb
LANGUAGE plpgsql STABLE AS $$
DECLARE
    refused jsonb;
    x tables := api.load_table(t, a);
    s text := api.table_standing(t, viewer, roles, x);
BEGIN
    refused := api.refusal(s, viewer, '{facilitator}');
    IF refused IS NOT NULL THEN
        RETURN refused;
    END IF;
    RETURN api.ok(jsonb_build_object('items', coalesce((
        SELECT jsonb_agg(api.invitation_json(i) ORDER BY i.id DESC) FROM invitations i
         WHERE i.tenant_id = t AND i.table_id = x.id), '[]'), 'next_cursor', NULL));
END $$;

-- The daemon draws the link's secret (_secret_hash in, the secret out once
-- as "token"); an e-mail invitation is mailed by the site's hook on
-- invitation.created.
CREATE FUNCTION api.invitation_create(t bigint, viewer bigint, roles text, a jsonb) RETURNS jsonb
LANGUAGE plpgsql AS $$
DECLARE
    refused jsonb;
    x tables := api.load_table(t, a);
    s text := api.table_standing(t, viewer, roles, x);
    f jsonb := '{}';
    email text := lower(btrim(api.text_arg(a, 'email')));
    want text := coalesce(api.text_arg(a, 'role'), 'member');
    days int;
    gid bigint := api.id_arg(a, 'group_id');
    i invitations;
BEGIN
    refused := api.refusal(s, viewer, '{facilitator}', 'Only the table''s facilitators invite.');
    IF refused IS NOT NULL THEN
        RETURN refused;
    END IF;
    f := api.check_type(f, a, 'email', 'string');
    f := api.check_type(f, a, 'expires_in_days', 'number');
    IF email IS NOT NULL AND (email !~ '^[^@[:space:][:cntrl:]]+@[^@[:space:][:cntrl:]]+\.[^@[:space:][:cntrl:]]+$'
                              OR length(email) > 254) THEN
        f := f || jsonb_build_object('email', jsonb_build_object('code', 'email', 'message', 'Not an e-mail address.'));
    END IF;
    f := api.check_choice(f, 'role', want, ARRAY['facilitator', 'client', 'member']);
    -- The range is checked on the numeric: a huge number must answer 422,
    -- not overflow the cast to int (a 500).
    IF NOT f ? 'expires_in_days' THEN
        IF (a ->> 'expires_in_days')::numeric NOT BETWEEN 1 AND 90 THEN
            f := f || jsonb_build_object('expires_in_days', jsonb_build_object('code', 'range', 'message', 'From 1 to 90 days.'));
        ELSE
            days := coalesce((a ->> 'expires_in_days')::numeric::int, 14);
        END IF;
    END IF;
    IF a ? 'group_id' AND a -> 'group_id' <> 'null' AND NOT EXISTS (
            SELECT 1 FROM groups g WHERE g.tenant_id = t AND g.table_id = x.id AND g.id = gid) THEN
        f := f || jsonb_build_object('group_id', jsonb_build_object('code', 'unknown', 'message', 'No such group at this table.'));
    END IF;
    IF f <> '{}' THEN
        RETURN api.invalid(f);
    END IF;
    IF (SELECT count(*) FROM invitations j WHERE j.tenant_id = t AND j.table_id = x.id
          AND j.created_at > now() - interval '1 day') >= 200 THEN
        RETURN api.error(429, 'too_many', 'At most 200 invitations a day per table.');
    END IF;
    INSERT INTO invitations (tenant_id, table_id, group_id, email, role, token_hash, created_by, expires_at)
    VALUES (t, x.id, gid, email, want, decode(a ->> '_secret_hash', 'hex'), viewer, now() + make_interval(days => days))
    RETURNING * INTO i;
    RETURN api.ok(api.invitation_json(i) || jsonb_build_object('table', jsonb_build_object('id', x.id, 'title', x.title)), 201);
END $$;

CREATE FUNCTION api.invitation_revoke(t bigint, viewer bigint, roles text, a jsonb) RETURNS jsonb
LANGUAGE plpgsql AS $$
DECLARE
    refused jsonb;
    x tables := api.load_table(t, a);
    s text := api.table_standing(t, viewer, roles, x);
    i invitations;
BEGIN
    refused := api.refusal(s, viewer, '{facilitator}');
    IF refused IS NOT NULL THEN
        RETURN refused;
    END IF;
    UPDATE invitations j SET revoked_at = coalesce(j.revoked_at, now())
     WHERE j.tenant_id = t AND j.table_id = x.id AND j.id = api.id_arg(a, 'invitation_id') RETURNING * INTO i;
    IF i.id IS NULL THEN
        RETURN api.not_found();
    END IF;
    RETURN api.ok(api.invitation_json(i));
END $$;

-- Following an invitation: the viewer joins the table (and its group) in
-- the invited role. An e-mail invitation is single use; a link is valid
-- until it expires or is revoked. An unknown, used, expired or revoked
-- token is one answer: 404.
CREATE FUNCTION api.invitation_accept(t bigint, viewer bigint, roles text, a jsonb) RETURNS jsonb
LANGUAGE plpgsql AS $$
DECLARE
    tok text := api.text_arg(a, 'token');
    i invitations;
    x tables;
BEGIN
    IF viewer IS NULL THEN
        RETURN api.unauthorized();
    END IF;
    IF tok IS NULL OR tok !~ '^at_[A-Za-z0-9_-]{43}$' THEN
        RETURN api.not_found();
    END IF;
    UPDATE invitations j SET uses = j.uses + 1, used_at = now()
     WHERE j.tenant_id = t AND j.token_hash = sha256(convert_to(substr(tok, 4), 'UTF8'))
       AND j.revoked_at IS NULL AND j.expires_at > now() AND (j.email IS NULL OR j.used_at IS NULL)
    RETURNING * INTO i;
    IF i.id IS NULL THEN
        RETURN api.not_found();
    END IF;
    SELECT * INTO x FROM tables y WHERE y.tenant_id = t AND y.id = i.table_id;
    INSERT INTO table_members (tenant_id, table_id, account_id, role) VALUES (t, i.table_id, viewer, i.role)
    ON CONFLICT (tenant_id, table_id, account_id) DO UPDATE
        -- An invitation never lowers a role: facilitator > client > member.
        SET role = CASE WHEN array_position(ARRAY['member', 'client', 'facilitator'], EXCLUDED.role)
                             > array_position(ARRAY['member', 'client', 'facilitator'], table_members.role)
                        THEN EXCLUDED.role ELSE table_members.role END;
    IF i.group_id IS NOT NULL THEN
        INSERT INTO group_members (tenant_id, group_id, account_id) VALUES (t, i.group_id, viewer) ON CONFLICT DO NOTHING;
    END IF;
    RETURN api.ok(jsonb_build_object('table', api.table_json(t, x, api.table_standing(t, viewer, roles, x)),
                                     'group_id', i.group_id));
END $$;

-- ---------------------------------------------------------------- groups

CREATE FUNCTION api.load_group(t bigint, a jsonb, key text DEFAULT 'id') RETURNS groups
LANGUAGE sql STABLE AS $$
    SELECT * FROM groups g WHERE g.tenant_id = t AND g.id = api.id_arg(a, key)
$$;

CREATE FUNCTION api.groups_list(t bigint, viewer bigint, roles text, a jsonb) RETURNS jsonb
LANGUAGE plpgsql STABLE AS $$
DECLARE
    x tables := api.load_table(t, a);
    s text := api.table_standing(t, viewer, roles, x);
BEGIN
    IF s IS NULL THEN
        RETURN api.not_found();
    END IF;
    RETURN api.ok(jsonb_build_object('items', coalesce((
        SELECT jsonb_agg(api.group_json(t, viewer, g, api.group_standing(t, viewer, s, g)) ORDER BY g.id)
          FROM groups g WHERE g.tenant_id = t AND g.table_id = x.id), '[]'), 'next_cursor', NULL));
END $$;

CREATE FUNCTION api.group_fields(a jsonb, required boolean) RETURNS jsonb
LANGUAGE plpgsql IMMUTABLE AS $$
DECLARE
    f jsonb := '{}';
BEGIN
    f := api.check_type(f, a, 'name', 'string');
    f := api.check_type(f, a, 'purpose', 'string');
    f := api.check_type(f, a, 'visibility', 'string');
    f := api.check_text(f, 'name', api.text_arg(a, 'name'), 100, required);
    f := api.check_text(f, 'purpose', api.text_arg(a, 'purpose'), 1000, false);
    f := api.check_choice(f, 'visibility', api.text_arg(a, 'visibility'), ARRAY['public', 'closed'], required);
    RETURN f;
END $$;

CREATE FUNCTION api.group_create(t bigint, viewer bigint, roles text, a jsonb) RETURNS jsonb
LANGUAGE plpgsql AS $$
DECLARE
    refused jsonb;
    x tables := api.load_table(t, a);
    s text := api.table_standing(t, viewer, roles, x);
    f jsonb;
    g groups;
BEGIN
    refused := api.refusal(s, viewer, '{facilitator}', 'Only the table''s facilitators make groups.');
    IF refused IS NOT NULL THEN
        RETURN refused;
    END IF;
    f := api.group_fields(a, true);
    IF f <> '{}' THEN
        RETURN api.invalid(f);
    END IF;
    IF (SELECT count(*) FROM groups y WHERE y.tenant_id = t AND y.table_id = x.id) >= 100 THEN
        RETURN api.error(409, 'too_many', 'At most 100 groups per table.');
    END IF;
    INSERT INTO groups (tenant_id, table_id, name, purpose, visibility)
    VALUES (t, x.id, btrim(a ->> 'name'), coalesce(btrim(a ->> 'purpose'), ''), a ->> 'visibility') RETURNING * INTO g;
    RETURN api.ok(api.group_json(t, viewer, g, 'manage'), 201);
END $$;

CREATE FUNCTION api.group_get(t bigint, viewer bigint, roles text, a jsonb) RETURNS jsonb
LANGUAGE plpgsql STABLE AS $$
DECLARE
    g groups := api.load_group(t, a);
    x tables;
    s text;
BEGIN
    SELECT * INTO x FROM tables y WHERE y.tenant_id = t AND y.id = g.table_id;
    s := api.group_standing(t, viewer, api.table_standing(t, viewer, roles, x), g);
    IF s IS NULL THEN
        RETURN api.not_found();
    END IF;
    RETURN api.ok(api.group_json(t, viewer, g, s) || jsonb_build_object('table',
        jsonb_build_object('id', x.id, 'title', x.title, 'status', x.status, 'visibility', x.visibility)));
END $$;

CREATE FUNCTION api.group_update(t bigint, viewer bigint, roles text, a jsonb) RETURNS jsonb
LANGUAGE plpgsql AS $$
DECLARE
    refused jsonb;
    g groups := api.load_group(t, a);
    x tables;
    s text;
    f jsonb;
BEGIN
    SELECT * INTO x FROM tables y WHERE y.tenant_id = t AND y.id = g.table_id;
    s := api.group_standing(t, viewer, api.table_standing(t, viewer, roles, x), g);
    refused := api.refusal(s, viewer, '{manage}');
    IF refused IS NOT NULL THEN
        RETURN refused;
    END IF;
    f := api.group_fields(a, false);
    IF f <> '{}' THEN
        RETURN api.invalid(f);
    END IF;
    UPDATE groups y SET name = coalesce(btrim(a ->> 'name'), y.name), purpose = coalesce(btrim(a ->> 'purpose'), y.purpose),
                        visibility = coalesce(a ->> 'visibility', y.visibility)
     WHERE y.tenant_id = t AND y.id = g.id RETURNING * INTO g;
    RETURN api.ok(api.group_json(t, viewer, g, s));
END $$;

-- Joining: a public group at once (and its table, if the viewer was not
-- one of its people); a closed group by a request with a message, which
-- the table's facilitators decide.
CREATE FUNCTION api.group_join(t bigint, viewer bigint, roles text, a jsonb) RETURNS jsonb
LANGUAGE plpgsql AS $$
DECLARE
    refused jsonb;
    g groups := api.load_group(t, a);
    x tables;
    ts text;
    s text;
    msg text := api.text_arg(a, 'message');
    r group_requests;
BEGIN
    SELECT * INTO x FROM tables y WHERE y.tenant_id = t AND y.id = g.table_id;
    ts := api.table_standing(t, viewer, roles, x);
    s := api.group_standing(t, viewer, ts, g);
    refused := api.refusal(s, viewer, '{}');
    IF refused IS NOT NULL THEN
        RETURN refused;
    END IF;
    IF x.status = 'archived' THEN
        RETURN api.error(409, 'archived', 'This table is archived.');
    END IF;
    IF length(msg) > 1000 THEN
        RETURN api.invalid(jsonb_build_object('message', jsonb_build_object('code', 'too_long', 'message', 'At most 1000 characters.')));
    END IF;
    IF s IN ('member') OR (s = 'manage' AND EXISTS (SELECT 1 FROM group_members m WHERE m.tenant_id = t
                                                    AND m.group_id = g.id AND m.account_id = viewer)) THEN
        RETURN api.ok(jsonb_build_object('status', 'member', 'group_id', g.id));
    END IF;
    IF g.visibility = 'public' OR s = 'manage' THEN
        INSERT INTO table_members (tenant_id, table_id, account_id, role) VALUES (t, x.id, viewer, 'member')
        ON CONFLICT DO NOTHING;
        INSERT INTO group_members (tenant_id, group_id, account_id) VALUES (t, g.id, viewer) ON CONFLICT DO NOTHING;
        RETURN api.ok(jsonb_build_object('status', 'member', 'group_id', g.id, 'table_id', x.id));
    END IF;
    INSERT INTO group_requests (tenant_id, group_id, account_id, message)
    VALUES (t, g.id, viewer, coalesce(btrim(msg), '')) ON CONFLICT (tenant_id, group_id, account_id) WHERE status = 'pending'
    DO UPDATE SET message = EXCLUDED.message RETURNING * INTO r;
    RETURN api.ok(jsonb_build_object('status', 'requested', 'group_id', g.id, 'table_id', x.id,
                                     'request_id', r.id, 'group_name', g.name), 202);
END $$;

CREATE FUNCTION api.group_leave(t bigint, viewer bigint, roles text, a jsonb) RETURNS jsonb
LANGUAGE plpgsql AS $$
DECLARE
    refused jsonb;
    g groups := api.load_group(t, a);
    x tables;
    s text;
BEGIN
    SELECT * INTO x FROM tables y WHERE y.tenant_id = t AND y.id = g.table_id;
    s := api.group_standing(t, viewer, api.table_standing(t, viewer, roles, x), g);
    refused := api.refusal(s, viewer, '{}');
    IF refused IS NOT NULL THEN
        RETURN refused;
    END IF;
    DELETE FROM group_members m WHERE m.tenant_id = t AND m.group_id = g.id AND m.account_id = viewer;
    DELETE FROM group_requests r WHERE r.tenant_id = t AND r.group_id = g.id AND r.account_id = viewer AND r.status = 'pending';
    RETURN api.ok(jsonb_build_object('status', NULL, 'group_id', g.id));
END $$;

CREATE FUNCTION api.group_requests_list(t bigint, viewer bigint, roles text, a jsonb) RETURNS jsonb
LANGUAGE plpgsql STABLE AS $$
DECLARE
    refused jsonb;
    g groups := api.load_group(t, a);
    x tables;
    s text;
BEGIN
    SELECT * INTO x FROM tables y WHERE y.tenant_id = t AND y.id = g.table_id;
    s := api.group_standing(t, viewer, api.table_standing(t, viewer, roles, x), g);
    refused := api.refusal(s, viewer, '{manage}');
    IF refused IS NOT NULL THEN
        RETURN refused;
    END IF;
    RETURN api.ok(jsonb_build_object('items', coalesce((
        SELECT jsonb_agg(jsonb_build_object('id', r.id, 'group_id', r.group_id, 'account',
                   jsonb_build_object('id', p.id, 'name', p.display_name), 'message', r.message,
                   'status', r.status, 'created_at', r.created_at) ORDER BY r.id)
          FROM group_requests r JOIN accounts p ON p.tenant_id = r.tenant_id AND p.id = r.account_id
         WHERE r.tenant_id = t AND r.group_id = g.id AND r.status = 'pending'), '[]'), 'next_cursor', NULL));
END $$;

-- A facilitator's decision on a request; the requester is mailed by the
-- site's hook on group.request_decided (the answer names their address).
CREATE FUNCTION api.group_request_decide(t bigint, viewer bigint, roles text, a jsonb) RETURNS jsonb
LANGUAGE plpgsql AS $$
DECLARE
    refused jsonb;
    g groups := api.load_group(t, a);
    x tables;
    s text;
    d text := api.text_arg(a, 'decision');
    r group_requests;
BEGIN
    SELECT * INTO x FROM tables y WHERE y.tenant_id = t AND y.id = g.table_id;
    s := api.group_standing(t, viewer, api.table_standing(t, viewer, roles, x), g);
    refused := api.refusal(s, viewer, '{manage}');
    IF refused IS NOT NULL THEN
        RETURN refused;
    END IF;
    IF d IS NULL OR d NOT IN ('approve', 'decline') THEN
        RETURN api.invalid(jsonb_build_object('decision', jsonb_build_object('code', 'choice', 'message', 'One of: approve, decline.')));
    END IF;
    UPDATE group_requests q SET status = CASE WHEN d = 'approve' THEN 'approved' ELSE 'declined' END,
                                decided_at = now(), decided_by = viewer
     WHERE q.tenant_id = t AND q.group_id = g.id AND q.id = api.id_arg(a, 'request_id') AND q.status = 'pending'
    RETURNING * INTO r;
    IF r.id IS NULL THEN
        RETURN api.not_found();
    END IF;
    IF d = 'approve' THEN
        INSERT INTO table_members (tenant_id, table_id, account_id, role) VALUES (t, x.id, r.account_id, 'member')
        ON CONFLICT DO NOTHING;
        INSERT INTO group_members (tenant_id, group_id, account_id) VALUES (t, g.id, r.account_id) ON CONFLICT DO NOTHING;
    END IF;
    RETURN api.ok(jsonb_build_object('id', r.id, 'status', r.status, 'group_id', g.id, 'group_name', g.name,
        'table_id', x.id, 'table_title', x.title,
        'requester', (SELECT jsonb_build_object('id', p.id, 'name', p.display_name, 'email', p.email)
                        FROM accounts p WHERE p.tenant_id = t AND p.id = r.account_id AND p.deleted_at IS NULL)));
END $$;

-- ---------------------------------------------------------------- contributions

-- Where a contribution list or a new contribution lives: the table (no
-- group) or one of its groups, and what the viewer may do there. Answers
-- (table, group, standing at the table, standing in the group or NULL).
CREATE FUNCTION api.place(t bigint, viewer bigint, roles text, a jsonb,
                          OUT x tables, OUT g groups, OUT ts text, OUT gs text)
LANGUAGE plpgsql STABLE AS $$
BEGIN
    IF a ? 'group_id' AND a -> 'group_id' <> 'null' THEN
        g := api.load_group(t, a, 'group_id');
        SELECT * INTO x FROM tables y WHERE y.tenant_id = t AND y.id = g.table_id;
        IF a ? 'table_id' AND x.id IS DISTINCT FROM api.id_arg(a, 'table_id') THEN
            x := NULL;
        END IF;
    ELSE
        x := api.load_table(t, a, 'table_id');
    END IF;
    ts := api.table_standing(t, viewer, roles, x);
    gs := CASE WHEN g.id IS NOT NULL THEN api.group_standing(t, viewer, ts, g) END;
END $$;

CREATE FUNCTION api.contributions_list(t bigint, viewer bigint, roles text, a jsonb) RETURNS jsonb
LANGUAGE plpgsql STABLE AS $$
DECLARE
    p record;
    lim int := api.page_limit(a);
    after bigint := api.cursor_id(a);
    manage boolean;
    ids bigint[];
BEGIN
    SELECT * INTO p FROM api.place(t, viewer, roles, a);
    IF p.ts IS NULL OR ((p.g).id IS NOT NULL AND p.gs NOT IN ('manage', 'member', 'read')) THEN
        RETURN api.not_found();
    END IF;
    IF after = -1 THEN
        RETURN api.bad_cursor();
    END IF;
    manage := p.ts = 'facilitator';
    -- Oldest first, as a conversation reads; replies come with their thread.
    ids := ARRAY(SELECT c.id FROM contributions c
                  WHERE c.tenant_id = t AND c.table_id = (p.x).id
                    AND c.group_id IS NOT DISTINCT FROM (p.g).id AND c.parent_id IS NULL
                    AND (after IS NULL OR c.id > after)
                  ORDER BY c.id LIMIT lim + 1);
    RETURN api.ok(jsonb_build_object(
        'items', api.contributions_json(t, viewer, manage, ids[1:lim]),
        'next_cursor', CASE WHEN cardinality(ids) > lim THEN to_jsonb(api.cursor(ids[lim])) ELSE 'null' END));
END $$;

CREATE FUNCTION api.contribution_create(t bigint, viewer bigint, roles text, a jsonb) RETURNS jsonb
LANGUAGE plpgsql AS $$
DECLARE
    p record;
    f jsonb := '{}';
    body text := api.text_arg(a, 'body');
    parent contributions;
    behalf jsonb := a -> 'on_behalf';
    c contributions;
BEGIN
    SELECT * INTO p FROM api.place(t, viewer, roles, a);
    IF p.ts IS NULL OR ((p.g).id IS NOT NULL AND p.gs NOT IN ('manage', 'member', 'read')) THEN
        RETURN api.not_found();
    END IF;
    IF viewer IS NULL THEN
        RETURN api.unauthorized();
    END IF;
    IF (p.x).status <> 'open' THEN
        RETURN api.error(409, 'table_' || (p.x).status, 'This table takes no new contributions.');
    END IF;
    -- Taking part: a person of the table, and a member of the group.
    IF p.ts = 'guest' OR ((p.g).id IS NOT NULL AND p.gs = 'read') THEN
        RETURN api.forbidden(CASE WHEN (p.g).id IS NULL THEN 'Join the table first.' ELSE 'Join the group first.' END);
    END IF;
    f := api.check_type(f, a, 'body', 'string');
    f := api.check_text(f, 'body', body, 10000);
    IF a ? 'on_behalf' AND behalf <> 'null' THEN
        IF p.ts <> 'facilitator' THEN
            RETURN api.forbidden('Only facilitators record contributions for people at the table.');
        END IF;
        IF jsonb_typeof(behalf) <> 'object' OR (behalf ? 'name' AND jsonb_typeof(behalf -> 'name') NOT IN ('string', 'null')) THEN
            f := f || jsonb_build_object('on_behalf', jsonb_build_object('code', 'type', 'message', 'An object with an optional name.'));
        ELSIF length(behalf ->> 'name') > 100 THEN
            f := f || jsonb_build_object('on_behalf', jsonb_build_object('code', 'too_long', 'message', 'At most 100 characters.'));
        END IF;
    END IF;
    IF a ? 'parent_id' AND a -> 'parent_id' <> 'null' THEN
        SELECT * INTO parent FROM contributions q WHERE q.tenant_id = t AND q.id = api.id_arg(a, 'parent_id')
           AND q.table_id = (p.x).id AND q.group_id IS NOT DISTINCT FROM (p.g).id;
        IF parent.id IS NULL THEN
            f := f || jsonb_build_object('parent_id', jsonb_build_object('code', 'unknown', 'message', 'No such contribution here.'));
        ELSIF parent.parent_id IS NOT NULL THEN
            f := f || jsonb_build_object('parent_id', jsonb_build_object('code', 'depth', 'message', 'Replies go one level deep.'));
        END IF;
    END IF;
    IF f <> '{}' THEN
        RETURN api.invalid(f);
    END IF;
    INSERT INTO contributions (tenant_id, table_id, group_id, parent_id, author_id, author_name, recorded_by, body, body_html)
    VALUES (t, (p.x).id, (p.g).id, parent.id,
            CASE WHEN behalf IS NULL OR behalf = 'null' THEN viewer END,
            CASE WHEN behalf IS NOT NULL AND behalf <> 'null' THEN nullif(btrim(behalf ->> 'name'), '') END,
            CASE WHEN behalf IS NOT NULL AND behalf <> 'null' THEN viewer END,
            body, coalesce(a ->> '_body_html', ''))
    RETURNING * INTO c;
    RETURN api.ok(api.contribution_json(t, viewer, c, p.ts = 'facilitator'), 201);
END $$;

-- A contribution the viewer may read, and their standing at its table.
CREATE FUNCTION api.readable_contribution(t bigint, viewer bigint, roles text, id bigint,
                                          OUT c contributions, OUT ts text)
LANGUAGE plpgsql STABLE AS $$
DECLARE
    x tables;
    g groups;
BEGIN
    SELECT * INTO c FROM contributions q WHERE q.tenant_id = t AND q.id = readable_contribution.id;
    IF c.id IS NULL THEN
        RETURN;
    END IF;
    SELECT * INTO x FROM tables y WHERE y.tenant_id = t AND y.id = c.table_id;
    ts := api.table_standing(t, viewer, roles, x);
    IF ts IS NOT NULL AND c.group_id IS NOT NULL THEN
        SELECT * INTO g FROM groups y WHERE y.tenant_id = t AND y.id = c.group_id;
        IF api.group_standing(t, viewer, ts, g) NOT IN ('manage', 'member', 'read') THEN
            ts := NULL;
        END IF;
    END IF;
    IF ts IS NULL THEN
        c := NULL;
    END IF;
END $$;

CREATE FUNCTION api.contribution_get(t bigint, viewer bigint, roles text, a jsonb) RETURNS jsonb
LANGUAGE plpgsql STABLE AS $$
DECLARE
    r record;
    manage boolean;
BEGIN
    SELECT * INTO r FROM api.readable_contribution(t, viewer, roles, api.id_arg(a, 'id'));
    manage := r.ts = 'facilitator';
    IF r.ts IS NULL THEN
        RETURN api.not_found();
    END IF;
    RETURN api.ok(api.contribution_json(t, viewer, r.c, manage) || jsonb_build_object(
        'thread', api.contributions_json(t, viewer, manage,
                      ARRAY(SELECT q.id FROM contributions q WHERE q.tenant_id = t AND q.parent_id = (r.c).id)),
        'edits', CASE WHEN manage OR (r.c).author_id = viewer THEN coalesce((
            SELECT jsonb_agg(jsonb_build_object('body', e.body, 'replaced_at', e.replaced_at) ORDER BY e.id)
              FROM contribution_edits e WHERE e.tenant_id = t AND e.contribution_id = (r.c).id), '[]') END));
END $$;

-- The author edits within 15 minutes; the earlier text is kept.
CREATE FUNCTION api.contribution_edit(t bigint, viewer bigint, roles text, a jsonb) RETURNS jsonb
LANGUAGE plpgsql AS $$
DECLARE
    refused jsonb;
    r record;
    f jsonb := '{}';
    c contributions;
BEGIN
    SELECT * INTO r FROM api.readable_contribution(t, viewer, roles, api.id_arg(a, 'id'));
    refused := api.refusal(r.ts, viewer, '{}');
    IF refused IS NOT NULL THEN
        RETURN refused;
    END IF;
    IF (r.c).author_id IS DISTINCT FROM viewer THEN
        RETURN api.forbidden('Only the author edits a contribution.');
    END IF;
    IF (r.c).hidden_at IS NOT NULL OR (r.c).created_at <= now() - interval '15 minutes' THEN
        RETURN api.error(409, 'edit_window', 'A contribution can be edited for 15 minutes after posting.');
    END IF;
    f := api.check_type(f, a, 'body', 'string');
    f := api.check_text(f, 'body', api.text_arg(a, 'body'), 10000);
    IF f <> '{}' THEN
        RETURN api.invalid(f);
    END IF;
    INSERT INTO contribution_edits (tenant_id, contribution_id, body) VALUES (t, (r.c).id, (r.c).body);
    UPDATE contributions q SET body = a ->> 'body', body_html = coalesce(a ->> '_body_html', ''), edited_at = now()
     WHERE q.tenant_id = t AND q.id = (r.c).id RETURNING * INTO c;
    RETURN api.ok(api.contribution_json(t, viewer, c, r.ts = 'facilitator'));
END $$;

CREATE FUNCTION api.hide(t bigint, viewer bigint, id bigint, reason text) RETURNS contributions
LANGUAGE sql AS $$
    UPDATE contributions q SET hidden_at = coalesce(q.hidden_at, now()), hidden_reason = coalesce(q.hidden_reason, reason),
                               hidden_by = coalesce(q.hidden_by, viewer)
     WHERE q.tenant_id = t AND q.id = hide.id RETURNING *
$$;

CREATE FUNCTION api.contribution_hide(t bigint, viewer bigint, roles text, a jsonb) RETURNS jsonb
LANGUAGE plpgsql AS $$
DECLARE
    refused jsonb;
    r record;
    f jsonb := '{}';
    reason text := api.text_arg(a, 'reason');
    c contributions;
BEGIN
    SELECT * INTO r FROM api.readable_contribution(t, viewer, roles, api.id_arg(a, 'id'));
    refused := api.refusal(r.ts, viewer, '{facilitator}', 'Only the table''s facilitators hide contributions.');
    IF refused IS NOT NULL THEN
        RETURN refused;
    END IF;
    f := api.check_type(f, a, 'reason', 'string');
    f := api.check_text(f, 'reason', reason, 1000);
    IF f <> '{}' THEN
        RETURN api.invalid(f);
    END IF;
    c := api.hide(t, viewer, (r.c).id, btrim(reason));
    UPDATE reports p SET status = 'hidden', handled_by = viewer, handled_at = now()
     WHERE p.tenant_id = t AND p.contribution_id = c.id AND p.status = 'open';
    RETURN api.ok(api.contribution_json(t, viewer, c, true));
END $$;

CREATE FUNCTION api.report_create(t bigint, viewer bigint, roles text, a jsonb) RETURNS jsonb
LANGUAGE plpgsql AS $$
DECLARE
    refused jsonb;
    r record;
    f jsonb := '{}';
    reason text := api.text_arg(a, 'reason');
    p reports;
BEGIN
    SELECT * INTO r FROM api.readable_contribution(t, viewer, roles, api.id_arg(a, 'id'));
    refused := api.refusal(r.ts, viewer, '{}');
    IF refused IS NOT NULL THEN
        RETURN refused;
    END IF;
    f := api.check_type(f, a, 'reason', 'string');
    f := api.check_text(f, 'reason', reason, 1000);
    IF f <> '{}' THEN
        RETURN api.invalid(f);
    END IF;
    IF (SELECT count(*) FROM reports q WHERE q.tenant_id = t AND q.reporter_id = viewer
          AND q.created_at > now() - interval '1 hour') >= 30 THEN
        RETURN api.error(429, 'too_many', 'At most 30 reports an hour.');
    END IF;
    INSERT INTO reports (tenant_id, contribution_id, reporter_id, reason) VALUES (t, (r.c).id, viewer, btrim(reason))
    ON CONFLICT (tenant_id, contribution_id, reporter_id) WHERE status = 'open' DO UPDATE SET reason = EXCLUDED.reason
    RETURNING * INTO p;
    RETURN api.ok(jsonb_build_object('id', p.id, 'contribution_id', p.contribution_id, 'status', p.status,
                                     'created_at', p.created_at), 201);
END $$;

-- The moderation queue of a table: open reports, for its facilitators.
CREATE FUNCTION api.reports_list(t bigint, viewer bigint, roles text, a jsonb) RETURNS jsonb
LANGUAGE plpgsql STABLE AS $$
DECLARE
    refused jsonb;
    x tables := api.load_table(t, a);
    s text := api.table_standing(t, viewer, roles, x);
BEGIN
    refused := api.refusal(s, viewer, '{facilitator}');
    IF refused IS NOT NULL THEN
        RETURN refused;
    END IF;
    RETURN api.ok(jsonb_build_object('items', coalesce((
        SELECT jsonb_agg(jsonb_build_object('id', p.id, 'reason', p.reason, 'created_at', p.created_at,
                   'reporter', jsonb_build_object('id', u.id, 'name', u.display_name),
                   'contribution', api.contribution_json(t, viewer, c, true)) ORDER BY p.id)
          FROM reports p JOIN contributions c ON c.tenant_id = p.tenant_id AND c.id = p.contribution_id
          JOIN accounts u ON u.tenant_id = p.tenant_id AND u.id = p.reporter_id
         WHERE p.tenant_id = t AND c.table_id = x.id AND p.status = 'open'), '[]'), 'next_cursor', NULL));
END $$;

CREATE FUNCTION api.report_handle(t bigint, viewer bigint, roles text, a jsonb) RETURNS jsonb
LANGUAGE plpgsql AS $$
DECLARE
    p reports;
    r record;
    action text := api.text_arg(a, 'action');
    reason text := api.text_arg(a, 'reason');
    c contributions;
BEGIN
    SELECT * INTO p FROM reports q WHERE q.tenant_id = t AND q.id = api.id_arg(a, 'id');
    SELECT * INTO r FROM api.readable_contribution(t, viewer, roles, p.contribution_id);
    IF p.id IS NULL OR r.ts IS NULL THEN
        RETURN api.not_found();
    END IF;
    IF r.ts <> 'facilitator' THEN
        RETURN CASE WHEN viewer IS NULL THEN api.unauthorized() ELSE api.forbidden() END;
    END IF;
    IF action IS NULL OR action NOT IN ('hide', 'dismiss') THEN
        RETURN api.invalid(jsonb_build_object('action', jsonb_build_object('code', 'choice', 'message', 'One of: hide, dismiss.')));
    END IF;
    IF length(reason) > 1000 THEN
        RETURN api.invalid(jsonb_build_object('reason', jsonb_build_object('code', 'too_long', 'message', 'At most 1000 characters.')));
    END IF;
    IF p.status <> 'open' THEN
        RETURN api.error(409, 'handled', 'This report was handled already.');
    END IF;
    IF action = 'hide' THEN
        -- The reporter wrote for the facilitators: their reason is not
        -- shown to everyone; the facilitator's own is, if given.
        c := api.hide(t, viewer, p.contribution_id, nullif(btrim(reason), ''));
        UPDATE reports q SET status = 'hidden', handled_by = viewer, handled_at = now()
         WHERE q.tenant_id = t AND q.contribution_id = p.contribution_id AND q.status = 'open';
    ELSE
        UPDATE reports q SET status = 'dismissed', handled_by = viewer, handled_at = now()
         WHERE q.tenant_id = t AND q.id = p.id;
    END IF;
    RETURN api.ok(jsonb_build_object('id', p.id, 'status', CASE WHEN action = 'hide' THEN 'hidden' ELSE 'dismissed' END));
END $$;

-- ---------------------------------------------------------------- search

-- Tables and contributions the viewer may read that match Q (PostgreSQL's
-- dutch configuration; the tenant filter explicit so that the composite
-- GIN indexes are used).
CREATE FUNCTION api.search(t bigint, viewer bigint, roles text, a jsonb) RETURNS jsonb
LANGUAGE plpgsql STABLE AS $$
DECLARE
    q text := api.text_arg(a, 'q');
    tq tsquery;
    lim int := api.page_limit(a);
    admin boolean := viewer IS NOT NULL AND api.has_role(roles, 'admin');
BEGIN
    IF q IS NULL OR btrim(q) = '' OR length(q) > 200 THEN
        RETURN api.invalid(jsonb_build_object('q', jsonb_build_object('code',
            CASE WHEN length(q) > 200 THEN 'too_long' ELSE 'required' END, 'message', 'Give 1 to 200 characters to search for.')));
    END IF;
    -- The dutch stemmer leaves inflections apart ("spelen" is 'spel',
    -- "spelende" 'spelend'): every lexeme of three or more characters
    -- matches as a prefix, so that a word finds its longer forms. The text
    -- form of a tsquery is quoted lexemes ('it''s') between operators; it
    -- is cut into those pieces (a regular expression over the whole text
    -- could take an operator between two quotes for a lexeme), and the cast
    -- back does not stem again.
    tq := coalesce((SELECT string_agg(CASE WHEN p.m[1] LIKE '''%' AND length(p.m[1]) >= 5 THEN p.m[1] || ':*'
                                           ELSE p.m[1] END, '' ORDER BY p.n)
                      FROM regexp_matches(websearch_to_tsquery('dutch', q)::text, $r$('(?:[^']|'')*'|[^']+)$r$, 'g')
                           WITH ORDINALITY AS p(m, n)), '')::tsquery;
    RETURN api.ok(jsonb_build_object(
        'tables', coalesce((SELECT jsonb_agg(jsonb_build_object('id', x.id, 'title', x.title, 'question', x.question,
                                                                'status', x.status) ORDER BY x.rank DESC, x.id DESC)
            FROM (SELECT y.*, ts_rank(y.search, tq) AS rank FROM tables y
                   WHERE y.tenant_id = t AND y.search @@ tq AND y.status <> 'archived'
                     AND (y.visibility = 'public' OR admin OR EXISTS (SELECT 1 FROM table_members m
                          WHERE m.tenant_id = t AND m.table_id = y.id AND m.account_id = viewer))
                   ORDER BY rank DESC, y.id DESC LIMIT lim) x), '[]'),
        'contributions', coalesce((SELECT jsonb_agg(jsonb_build_object('id', c.id, 'table_id', c.table_id,
                    'group_id', c.group_id, 'table_title', c.title,
                    'snippet', ts_headline('dutch', c.body, tq, 'StartSel=«, StopSel=», MaxWords=30, MinWords=10'))
                    ORDER BY c.rank DESC, c.id DESC)
            FROM (SELECT k.*, y.title, ts_rank(k.search, tq) AS rank
                    FROM contributions k JOIN tables y ON y.tenant_id = k.tenant_id AND y.id = k.table_id
                   WHERE k.tenant_id = t AND k.search @@ tq AND k.hidden_at IS NULL
                     AND y.status <> 'archived'
                     AND (y.visibility = 'public' OR admin OR EXISTS (SELECT 1 FROM table_members m
                          WHERE m.tenant_id = t AND m.table_id = y.id AND m.account_id = viewer))
                     AND (k.group_id IS NULL OR admin
                          OR EXISTS (SELECT 1 FROM groups g WHERE g.tenant_id = t AND g.id = k.group_id AND g.visibility = 'public')
                          OR EXISTS (SELECT 1 FROM group_members gm WHERE gm.tenant_id = t AND gm.group_id = k.group_id
                                     AND gm.account_id = viewer)
                          OR EXISTS (SELECT 1 FROM table_members m WHERE m.tenant_id = t AND m.table_id = y.id
                                     AND m.account_id = viewer AND m.role = 'facilitator'))
                   ORDER BY rank DESC, k.id DESC LIMIT lim) c), '[]')));
END $$;


REVOKE EXECUTE ON ALL FUNCTIONS IN SCHEMA api FROM PUBLIC;
GRANT EXECUTE ON ALL FUNCTIONS IN SCHEMA api TO aantafel_app;
