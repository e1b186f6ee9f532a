-- A closed group shows its name and purpose to those who read its table,
-- and nothing more: how many belong to it is part of what is closed (a
-- group of three is telling). The count is null for those outside.
CREATE OR REPLACE FUNCTION api.group_json(t bigint, viewer bigint, g groups, standing text) RETURNS jsonb
LANGUAGE sql STABLE AS $$
    SELECT jsonb_build_object('id', g.id, 'table_id', g.table_id, 'name', g.name, 'purpose', g.purpose,
        'visibility', g.visibility, 'created_at', g.created_at,
        'my_status', CASE WHEN standing IN ('manage', 'member') THEN standing
                          WHEN EXISTS (SELECT 1 FROM group_requests r WHERE r.tenant_id = t AND r.group_id = g.id
                                       AND r.status = 'pending' AND r.account_id = viewer)
                          THEN 'requested' END,
        'can_read', standing IN ('manage', 'member', 'read'),
        'members', CASE WHEN standing IN ('manage', 'member', 'read') THEN
            (SELECT count(*) FROM group_members m WHERE m.tenant_id = t AND m.group_id = g.id) END)
$$;

REVOKE EXECUTE ON FUNCTION api.group_json(bigint, bigint, groups, text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION api.group_json(bigint, bigint, groups, text) TO aantafel_app;
