-- Invitations to a table (and optionally one of its groups): by e-mail
-- (single use) or as a link (many uses until it expires or is revoked).
-- The daemon draws a link's secret and passes its hash as _secret_hash;
-- the secret itself is shown once, in the answer, and never stored.

-- Invitations IDS, in the order of IDS.
CREATE OR REPLACE FUNCTION api.invitations_json(t bigint, ids bigint[]) RETURNS jsonb
LANGUAGE plpgsql STABLE AS $$
DECLARE
    at timestamptz := now();
BEGIN
    RETURN coalesce((SELECT jsonb_agg(jsonb_build_object('id', i.id, 'table_id', i.table_id, 'group_id', i.group_id,
            'kind', CASE WHEN i.email IS NULL THEN 'link' ELSE 'email' END, 'email', i.email, 'role', i.role,
            'created_at', i.created_at, 'expires_at', i.expires_at, 'revoked_at', i.revoked_at,
            'used_at', i.used_at, 'uses', i.uses,
            'valid', i.revoked_at IS NULL AND i.expires_at > at AND (i.email IS NULL OR i.used_at IS NULL))
            ORDER BY o.pos)
        FROM unnest(ids) WITH ORDINALITY AS o(id, pos)
        JOIN invitations i ON i.tenant_id = t AND i.id = o.id), '[]'::jsonb);
END $$;

CREATE OR REPLACE FUNCTION api.invitations_list(t bigint, viewer bigint, roles text, a jsonb) RETURNS jsonb
LANGUAGE plpgsql STABLE AS $$
DECLARE
    it record;
    ids bigint[];
BEGIN
    SELECT * INTO it FROM api.find_table(t, viewer, roles, a, '{facilitator}');
    IF it.refused IS NOT NULL THEN
        RETURN it.refused;
    END IF;
    ids := ARRAY(SELECT i.id FROM invitations i WHERE i.tenant_id = t AND i.table_id = (it.x).id ORDER BY i.id DESC);
    RETURN api.ok(jsonb_build_object('items', api.invitations_json(t, ids), 'next_cursor', NULL));
END $$;

-- An e-mail invitation is mailed by the site's hook on invitation.created.
-- At most 200 a day per table.
CREATE OR REPLACE FUNCTION api.invitation_create(t bigint, viewer bigint, roles text, a jsonb) RETURNS jsonb
LANGUAGE plpgsql AS $$
DECLARE
    it record;
    f jsonb := '{}'::jsonb;
    email text := lower(btrim(api.text_arg(a, 'email')));
    want text := coalesce(api.text_arg(a, 'role'), 'member');
    days int;
    gid bigint := api.id_arg(a, 'group_id');
    iid bigint;
    oldest timestamptz;
    at timestamptz := now();
BEGIN
    SELECT * INTO it FROM api.find_table(t, viewer, roles, a, '{facilitator}', 'Only the table''s facilitators invite.');
    IF it.refused IS NOT NULL THEN
        RETURN it.refused;
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
    IF a ? 'group_id' AND a -> 'group_id' <> 'null'::jsonb AND NOT EXISTS (
            SELECT 1 FROM groups g WHERE g.tenant_id = t AND g.table_id = (it.x).id AND g.id = gid) THEN
        f := f || jsonb_build_object('group_id', jsonb_build_object('code', 'unknown', 'message', 'No such group at this table.'));
    END IF;
    IF f <> '{}'::jsonb THEN
        RETURN api.invalid(f);
    END IF;
    -- One at a time per table: the count below sees every invitation
    -- made before the lock was ours.
    PERFORM 1 FROM tables y WHERE y.tenant_id = t AND y.id = (it.x).id FOR NO KEY UPDATE;
    SELECT min(j.created_at) INTO oldest FROM (
        SELECT j.created_at FROM invitations j WHERE j.tenant_id = t AND j.table_id = (it.x).id
           AND j.created_at > at - interval '1 day' ORDER BY j.created_at DESC LIMIT 200) j
    HAVING count(*) >= 200;
    IF oldest IS NOT NULL THEN
        RETURN api.too_many('At most 200 invitations a day per table.',
                            ceil(extract(epoch FROM oldest + interval '1 day' - at))::int);
    END IF;
    INSERT INTO invitations (tenant_id, table_id, group_id, email, role, token_hash, created_by, created_at, expires_at)
    VALUES (t, (it.x).id, gid, email, want, decode(a ->> '_secret_hash', 'hex'), viewer, at, at + make_interval(days => days))
    RETURNING id INTO iid;
    RETURN api.ok(api.invitations_json(t, ARRAY[iid]) -> 0
                  || jsonb_build_object('table', jsonb_build_object('id', (it.x).id, 'title', (it.x).title)), 201);
END $$;

CREATE OR REPLACE FUNCTION api.invitation_revoke(t bigint, viewer bigint, roles text, a jsonb) RETURNS jsonb
LANGUAGE plpgsql AS $$
DECLARE
    it record;
    iid bigint;
    at timestamptz := now();
BEGIN
    SELECT * INTO it FROM api.find_table(t, viewer, roles, a, '{facilitator}');
    IF it.refused IS NOT NULL THEN
        RETURN it.refused;
    END IF;
    UPDATE invitations j SET revoked_at = coalesce(j.revoked_at, at)
     WHERE j.tenant_id = t AND j.table_id = (it.x).id AND j.id = api.id_arg(a, 'invitation_id')
    RETURNING j.id INTO iid;
    IF iid IS NULL THEN
        RETURN api.not_found();
    END IF;
    RETURN api.ok(api.invitations_json(t, ARRAY[iid]) -> 0);
END $$;

-- Following an invitation: the viewer joins the table (and its group) in
-- the invited role. An e-mail invitation is single use; a link is valid
-- until it expires or is revoked. An unknown, used, expired or revoked
-- token is one answer: 404.
CREATE OR REPLACE FUNCTION api.invitation_accept(t bigint, viewer bigint, roles text, a jsonb) RETURNS jsonb
LANGUAGE plpgsql AS $$
DECLARE
    tok text := api.text_arg(a, 'token');
    iid bigint;
    x bigint;
    gid bigint;
    want text;
    at timestamptz := now();
BEGIN
    IF viewer IS NULL THEN
        RETURN api.unauthorized();
    END IF;
    IF tok IS NULL OR tok !~ '^at_[A-Za-z0-9_-]{43}$' THEN
        RETURN api.not_found();
    END IF;
    UPDATE invitations j SET uses = j.uses + 1, used_at = at
     WHERE j.tenant_id = t AND j.token_hash = sha256(convert_to(substr(tok, 4), 'UTF8'))
       AND j.revoked_at IS NULL AND j.expires_at > at AND (j.email IS NULL OR j.used_at IS NULL)
    RETURNING j.id, j.table_id, j.group_id, j.role INTO iid, x, gid, want;
    IF iid IS NULL THEN
        RETURN api.not_found();
    END IF;
    INSERT INTO table_members (tenant_id, table_id, account_id, role) VALUES (t, x, viewer, want)
    ON CONFLICT (tenant_id, table_id, account_id) DO UPDATE
        -- An invitation never lowers a role: facilitator > client > member.
        SET role = CASE WHEN array_position(ARRAY['member', 'client', 'facilitator'], EXCLUDED.role)
                             > array_position(ARRAY['member', 'client', 'facilitator'], table_members.role)
                        THEN EXCLUDED.role ELSE table_members.role END;
    IF gid IS NOT NULL THEN
        INSERT INTO group_members (tenant_id, group_id, account_id) VALUES (t, gid, viewer) ON CONFLICT DO NOTHING;
    END IF;
    RETURN api.ok(jsonb_build_object('table', api.table_json(t, viewer, roles, x), 'group_id', gid));
END $$;
