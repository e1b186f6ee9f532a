-- A municipality's members and their roles, for its administrators.

-- Accounts IDS, in the order of IDS, with their roles.
CREATE OR REPLACE FUNCTION api.members_json(t bigint, ids bigint[]) RETURNS jsonb
LANGUAGE plpgsql STABLE AS $$
BEGIN
    RETURN (SELECT coalesce(jsonb_agg(jsonb_build_object('id', x.id, 'name', x.display_name, 'email', x.email,
            'email_verified', x.email_verified_at IS NOT NULL,
            'roles', coalesce((SELECT jsonb_agg(r.role ORDER BY r.role) FROM account_roles r
                                WHERE r.tenant_id = t AND r.account_id = x.id), '[]'::jsonb),
            'created_at', x.created_at) ORDER BY o.pos), '[]'::jsonb)
          FROM unnest(ids) WITH ORDINALITY AS o(id, pos)
          JOIN accounts x ON x.tenant_id = t AND x.id = o.id);
END $$;

CREATE OR REPLACE FUNCTION api.members_list(t bigint, viewer bigint, roles text, a jsonb) RETURNS jsonb
LANGUAGE plpgsql STABLE AS $$
DECLARE
    lim int := api.page_limit(a);
    after bigint := api.cursor_id(a);
    refused jsonb := api.admin_only(viewer, roles);
    ids bigint[];
BEGIN
    IF refused IS NOT NULL THEN
        RETURN refused;
    END IF;
    IF after = -1 THEN
        RETURN api.bad_cursor();
    END IF;
    -- The ids first, then the function that reads them: one query at a
    -- time on a tenant's shard (sql/README.md, "Citus").
    ids := ARRAY(SELECT x.id FROM accounts x WHERE x.tenant_id = t AND x.deleted_at IS NULL
                    AND (after IS NULL OR x.id > after) ORDER BY x.id LIMIT lim + 1);
    RETURN api.ok(api.page(api.members_json(t, ids), lim));
END $$;

-- Grants (PUT) or takes away (DELETE) a tenant role; an administrator
-- cannot take the admin role from themselves.
CREATE OR REPLACE FUNCTION api.member_role(t bigint, viewer bigint, roles text, a jsonb) RETURNS jsonb
LANGUAGE plpgsql AS $$
DECLARE
    refused jsonb := api.admin_only(viewer, roles);
    who bigint := (a ->> 'id')::bigint;
    want text := a ->> 'role';
BEGIN
    IF refused IS NOT NULL THEN
        RETURN refused;
    END IF;
    IF NOT EXISTS (SELECT 1 FROM accounts y WHERE y.tenant_id = t AND y.id = who AND y.deleted_at IS NULL)
       OR want IS NULL OR want NOT IN ('admin', 'facilitator', 'member') THEN
        RETURN api.not_found();
    END IF;
    IF a ->> '_method' = 'PUT' THEN
        INSERT INTO account_roles (tenant_id, account_id, role) VALUES (t, who, want) ON CONFLICT DO NOTHING;
    ELSIF who = viewer AND want = 'admin' THEN
        RETURN api.error(409, 'own_admin', 'An administrator cannot take the admin role from themselves.');
    ELSE
        DELETE FROM account_roles r WHERE r.tenant_id = t AND r.account_id = who AND r.role = want;
    END IF;
    RETURN api.ok(api.members_json(t, ARRAY[who]) -> 0);
END $$;
