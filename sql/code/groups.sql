-- A table's groups: public ones are joined freely; a closed one shows its
-- name and purpose to whoever reads the table, and takes requests to join
-- that the table's facilitators decide (visibility.sql).

-- Group G as the viewer of STANDING (api.group_standing) sees it. How many
-- belong to a closed group is part of what is closed (a group of three is
-- telling): the count is null for those outside.
CREATE OR REPLACE FUNCTION api.group_json(t bigint, viewer bigint, g bigint, standing text) RETURNS jsonb
LANGUAGE plpgsql STABLE AS $$
BEGIN
    RETURN (SELECT jsonb_build_object('id', y.id, 'table_id', y.table_id, 'name', y.name, 'purpose', y.purpose,
        'visibility', y.visibility, 'created_at', y.created_at,
        'my_status', CASE WHEN standing IN ('manage', 'member') THEN standing
                          WHEN EXISTS (SELECT 1 FROM group_requests r WHERE r.tenant_id = t AND r.group_id = y.id
                                       AND r.status = 'pending' AND r.account_id = viewer)
                          THEN 'requested' END,
        'can_read', standing IN ('manage', 'member', 'read'),
        'members', CASE WHEN standing IN ('manage', 'member', 'read') THEN
            (SELECT count(*) FROM group_members m WHERE m.tenant_id = t AND m.group_id = y.id) END)
      FROM groups y WHERE y.tenant_id = t AND y.id = g);
END $$;

CREATE OR REPLACE FUNCTION api.groups_list(t bigint, viewer bigint, roles text, a jsonb) RETURNS jsonb
LANGUAGE plpgsql STABLE AS $$
DECLARE
    it record;
BEGIN
    SELECT * INTO it FROM api.find_table(t, viewer, roles, a, NULL);
    IF it.refused IS NOT NULL THEN
        RETURN it.refused;
    END IF;
    RETURN api.ok(jsonb_build_object('items', coalesce((
        SELECT jsonb_agg(api.group_json(t, viewer, g.id, api.group_standing(t, viewer, it.standing, g.id, g.visibility))
                         ORDER BY g.id)
          FROM groups g WHERE g.tenant_id = t AND g.table_id = (it.x).id), '[]'::jsonb), 'next_cursor', NULL));
END $$;

CREATE OR REPLACE FUNCTION api.group_fields(a jsonb, required boolean) RETURNS jsonb
LANGUAGE plpgsql IMMUTABLE AS $$
DECLARE
    f jsonb := '{}'::jsonb;
BEGIN
    f := api.check_type(f, a, 'name', 'string');
    f := api.check_type(f, a, 'purpose', 'string');
    f := api.check_type(f, a, 'visibility', 'string');
    f := api.check_text(f, 'name', api.text_arg(a, 'name'), 100, required);
    f := api.check_text(f, 'purpose', api.text_arg(a, 'purpose'), 1000, false);
    f := api.check_choice(f, 'visibility', api.text_arg(a, 'visibility'), ARRAY['public', 'closed'], required);
    RETURN f;
END $$;

-- At most 100 groups per table.
CREATE OR REPLACE FUNCTION api.group_create(t bigint, viewer bigint, roles text, a jsonb) RETURNS jsonb
LANGUAGE plpgsql AS $$
DECLARE
    it record;
    f jsonb;
    gid bigint;
BEGIN
    SELECT * INTO it FROM api.find_table(t, viewer, roles, a, '{facilitator}', 'Only the table''s facilitators make groups.');
    IF it.refused IS NOT NULL THEN
        RETURN it.refused;
    END IF;
    f := api.group_fields(a, true);
    IF f <> '{}'::jsonb THEN
        RETURN api.invalid(f);
    END IF;
    -- One at a time per table: the count sees every group made before the
    -- lock was ours.
    PERFORM 1 FROM tables y WHERE y.tenant_id = t AND y.id = (it.x).id FOR NO KEY UPDATE;
    IF (SELECT count(*) FROM groups y WHERE y.tenant_id = t AND y.table_id = (it.x).id) >= 100 THEN
        RETURN api.error(409, 'too_many', 'At most 100 groups per table.');
    END IF;
    INSERT INTO groups (tenant_id, table_id, name, purpose, visibility)
    VALUES (t, (it.x).id, btrim(a ->> 'name'), coalesce(btrim(a ->> 'purpose'), ''), a ->> 'visibility')
    RETURNING id INTO gid;
    RETURN api.ok(api.group_json(t, viewer, gid, 'manage'), 201);
END $$;

CREATE OR REPLACE FUNCTION api.group_get(t bigint, viewer bigint, roles text, a jsonb) RETURNS jsonb
LANGUAGE plpgsql STABLE AS $$
DECLARE
    it record;
BEGIN
    SELECT * INTO it FROM api.find_group(t, viewer, roles, a, NULL);
    IF it.refused IS NOT NULL THEN
        RETURN it.refused;
    END IF;
    RETURN api.ok(api.group_json(t, viewer, (it.g).id, it.standing) || jsonb_build_object('table',
        jsonb_build_object('id', (it.x).id, 'title', (it.x).title, 'status', (it.x).status,
                           'visibility', (it.x).visibility)));
END $$;

CREATE OR REPLACE FUNCTION api.group_update(t bigint, viewer bigint, roles text, a jsonb) RETURNS jsonb
LANGUAGE plpgsql AS $$
DECLARE
    it record;
    f jsonb;
BEGIN
    SELECT * INTO it FROM api.find_group(t, viewer, roles, a, '{manage}');
    IF it.refused IS NOT NULL THEN
        RETURN it.refused;
    END IF;
    f := api.group_fields(a, false);
    IF f <> '{}'::jsonb THEN
        RETURN api.invalid(f);
    END IF;
    UPDATE groups y SET name = coalesce(btrim(a ->> 'name'), y.name), purpose = coalesce(btrim(a ->> 'purpose'), y.purpose),
                        visibility = coalesce(a ->> 'visibility', y.visibility)
     WHERE y.tenant_id = t AND y.id = (it.g).id;
    RETURN api.ok(api.group_json(t, viewer, (it.g).id, it.standing));
END $$;

-- Joining: a public group at once (and its table, if the viewer was not
-- one of its people); a closed group by a request with a message, which
-- the table's facilitators decide.
CREATE OR REPLACE FUNCTION api.group_join(t bigint, viewer bigint, roles text, a jsonb) RETURNS jsonb
LANGUAGE plpgsql AS $$
DECLARE
    it record;
    msg text := api.text_arg(a, 'message');
    rid bigint;
BEGIN
    SELECT * INTO it FROM api.find_group(t, viewer, roles, a, '{}');
    IF it.refused IS NOT NULL THEN
        RETURN it.refused;
    END IF;
    IF (it.x).status = 'archived' THEN
        RETURN api.error(409, 'archived', 'This table is archived.');
    END IF;
    IF length(msg) > 1000 THEN
        RETURN api.invalid(jsonb_build_object('message', jsonb_build_object('code', 'too_long', 'message', 'At most 1000 characters.')));
    END IF;
    IF it.standing = 'member' OR (it.standing = 'manage' AND EXISTS (SELECT 1 FROM group_members m WHERE m.tenant_id = t
                                                                       AND m.group_id = (it.g).id AND m.account_id = viewer)) THEN
        RETURN api.ok(jsonb_build_object('status', 'member', 'group_id', (it.g).id));
    END IF;
    IF (it.g).visibility = 'public' OR it.standing = 'manage' THEN
        INSERT INTO table_members (tenant_id, table_id, account_id, role) VALUES (t, (it.x).id, viewer, 'member')
        ON CONFLICT DO NOTHING;
        INSERT INTO group_members (tenant_id, group_id, account_id) VALUES (t, (it.g).id, viewer) ON CONFLICT DO NOTHING;
        RETURN api.ok(jsonb_build_object('status', 'member', 'group_id', (it.g).id, 'table_id', (it.x).id));
    END IF;
    INSERT INTO group_requests (tenant_id, group_id, account_id, message)
    VALUES (t, (it.g).id, viewer, coalesce(btrim(msg), '')) ON CONFLICT (tenant_id, group_id, account_id) WHERE status = 'pending'
    DO UPDATE SET message = EXCLUDED.message RETURNING id INTO rid;
    RETURN api.ok(jsonb_build_object('status', 'requested', 'group_id', (it.g).id, 'table_id', (it.x).id,
                                     'request_id', rid, 'group_name', (it.g).name), 202);
END $$;

CREATE OR REPLACE FUNCTION api.group_leave(t bigint, viewer bigint, roles text, a jsonb) RETURNS jsonb
LANGUAGE plpgsql AS $$
DECLARE
    it record;
BEGIN
    SELECT * INTO it FROM api.find_group(t, viewer, roles, a, '{}');
    IF it.refused IS NOT NULL THEN
        RETURN it.refused;
    END IF;
    DELETE FROM group_members m WHERE m.tenant_id = t AND m.group_id = (it.g).id AND m.account_id = viewer;
    DELETE FROM group_requests r WHERE r.tenant_id = t AND r.group_id = (it.g).id AND r.account_id = viewer
       AND r.status = 'pending';
    RETURN api.ok(jsonb_build_object('status', NULL, 'group_id', (it.g).id));
END $$;

CREATE OR REPLACE FUNCTION api.group_requests_list(t bigint, viewer bigint, roles text, a jsonb) RETURNS jsonb
LANGUAGE plpgsql STABLE AS $$
DECLARE
    it record;
BEGIN
    SELECT * INTO it FROM api.find_group(t, viewer, roles, a, '{manage}');
    IF it.refused IS NOT NULL THEN
        RETURN it.refused;
    END IF;
    RETURN api.ok(jsonb_build_object('items', coalesce((
        SELECT jsonb_agg(jsonb_build_object('id', r.id, 'group_id', r.group_id, 'account',
                   jsonb_build_object('id', p.id, 'name', p.display_name), 'message', r.message,
                   'status', r.status, 'created_at', r.created_at) ORDER BY r.id)
          FROM group_requests r JOIN accounts p ON p.tenant_id = r.tenant_id AND p.id = r.account_id
         WHERE r.tenant_id = t AND r.group_id = (it.g).id AND r.status = 'pending'), '[]'::jsonb), 'next_cursor', NULL));
END $$;

-- A facilitator's decision on a request; the requester is mailed by the
-- site's hook on group.request_decided (the answer names their address).
CREATE OR REPLACE FUNCTION api.group_request_decide(t bigint, viewer bigint, roles text, a jsonb) RETURNS jsonb
LANGUAGE plpgsql AS $$
DECLARE
    it record;
    d text := api.text_arg(a, 'decision');
    rid bigint;
    rstatus text;
    who bigint;
    at timestamptz := now();
BEGIN
    SELECT * INTO it FROM api.find_group(t, viewer, roles, a, '{manage}');
    IF it.refused IS NOT NULL THEN
        RETURN it.refused;
    END IF;
    IF d IS NULL OR d NOT IN ('approve', 'decline') THEN
        RETURN api.invalid(jsonb_build_object('decision', jsonb_build_object('code', 'choice', 'message', 'One of: approve, decline.')));
    END IF;
    UPDATE group_requests q SET status = CASE WHEN d = 'approve' THEN 'approved' ELSE 'declined' END,
                                decided_at = at, decided_by = viewer
     WHERE q.tenant_id = t AND q.group_id = (it.g).id AND q.id = api.id_arg(a, 'request_id') AND q.status = 'pending'
    RETURNING q.id, q.status, q.account_id INTO rid, rstatus, who;
    IF rid IS NULL THEN
        RETURN api.not_found();
    END IF;
    IF d = 'approve' THEN
        INSERT INTO table_members (tenant_id, table_id, account_id, role) VALUES (t, (it.x).id, who, 'member')
        ON CONFLICT DO NOTHING;
        INSERT INTO group_members (tenant_id, group_id, account_id) VALUES (t, (it.g).id, who) ON CONFLICT DO NOTHING;
    END IF;
    RETURN api.ok(jsonb_build_object('id', rid, 'status', rstatus, 'group_id', (it.g).id, 'group_name', (it.g).name,
        'table_id', (it.x).id, 'table_title', (it.x).title,
        'requester', (SELECT jsonb_build_object('id', p.id, 'name', p.display_name, 'email', p.email)
                        FROM accounts p WHERE p.tenant_id = t AND p.id = who AND p.deleted_at IS NULL)));
END $$;
