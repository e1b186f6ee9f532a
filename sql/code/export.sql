-- Everything the platform keeps about the signed-in person, as one JSON
-- document: the account, roles, the addresses it has had or asked for,
-- sessions, API tokens, the mails to each of its addresses that are this
-- account's, the tables and groups they belong to, what they wrote (with
-- earlier versions), their requests to join and their reports, the
-- versions of workflow records they saved, the step changes they made, their
-- votes and their points in a decision's minority round, their meeting
-- registrations. The site's
-- download (/account/gegevens) and GET /api/v1/me/export give the same.
CREATE OR REPLACE FUNCTION api.account_export(t bigint, viewer bigint, roles text, a jsonb) RETURNS jsonb
LANGUAGE plpgsql STABLE AS $$
DECLARE
    doc jsonb;
    addresses jsonb;
    emails text[];
    others_from timestamptz[];
BEGIN
    IF viewer IS NULL THEN
        RETURN api.unauthorized();
    END IF;
    -- The addresses first: account_addresses_of reads tenant tables, and a
    -- query on a tenant's shard cannot call what queries the shards again.
    SELECT coalesce(jsonb_agg(jsonb_build_object('email', h.email, 'since', h.since) ORDER BY h.since, h.email), '[]'),
           coalesce(array_agg(h.email), '{}'), coalesce(array_agg(h.others_from), '{}')
      INTO addresses, emails, others_from
      FROM platform.account_addresses_of(t, viewer) h;
    SELECT jsonb_build_object(
        'account', jsonb_build_object('email', x.email, 'name', x.display_name, 'created_at', x.created_at,
            'email_verified_at', x.email_verified_at,
            'roles', coalesce((SELECT jsonb_agg(r.role ORDER BY r.role) FROM account_roles r
                                WHERE r.tenant_id = t AND r.account_id = x.id), '[]')),
        'addresses', addresses,
        'sessions', coalesce((SELECT jsonb_agg(jsonb_build_object('created_at', s.created_at,
                'last_seen_at', s.last_seen_at) ORDER BY s.created_at) FROM sessions s
             WHERE s.tenant_id = t AND s.account_id = x.id), '[]'),
        'api_tokens', coalesce((SELECT jsonb_agg(jsonb_build_object('name', k.name, 'created_at', k.created_at,
                'last_used_at', k.last_used_at, 'revoked_at', k.revoked_at) ORDER BY k.id) FROM api_tokens k
             WHERE k.tenant_id = t AND k.account_id = x.id), '[]'),
        'mails', coalesce((SELECT jsonb_agg(jsonb_build_object('to', m.to_addr, 'subject', m.subject,
                'created_at', m.created_at, 'status', m.status) ORDER BY m.created_at, m.id)
             FROM mail_outbox m JOIN unnest(emails, others_from) AS h(email, others_from) ON m.to_addr = h.email
             WHERE m.tenant_id = t AND (h.others_from IS NULL OR m.created_at < h.others_from)), '[]'),
        'tables', coalesce((SELECT jsonb_agg(jsonb_build_object('id', tb.id, 'title', tb.title, 'role', tm.role,
                'joined_at', tm.joined_at) ORDER BY tm.joined_at) FROM table_members tm
             JOIN tables tb ON tb.tenant_id = tm.tenant_id AND tb.id = tm.table_id
             WHERE tm.tenant_id = t AND tm.account_id = x.id), '[]'),
        'groups', coalesce((SELECT jsonb_agg(jsonb_build_object('id', g.id, 'name', g.name, 'joined_at', gm.joined_at)
                ORDER BY gm.joined_at) FROM group_members gm JOIN groups g ON g.tenant_id = gm.tenant_id AND g.id = gm.group_id
             WHERE gm.tenant_id = t AND gm.account_id = x.id), '[]'),
        'contributions', coalesce((SELECT jsonb_agg(jsonb_build_object('id', c.id, 'table_id', c.table_id,
                'group_id', c.group_id, 'parent_id', c.parent_id, 'body', c.body, 'created_at', c.created_at,
                'edited_at', c.edited_at, 'hidden_reason', c.hidden_reason,
                'earlier_versions', coalesce((SELECT jsonb_agg(jsonb_build_object('body', e.body,
                    'replaced_at', e.replaced_at) ORDER BY e.id) FROM contribution_edits e
                     WHERE e.tenant_id = t AND e.contribution_id = c.id), '[]')) ORDER BY c.id)
             FROM contributions c WHERE c.tenant_id = t AND c.author_id = x.id), '[]'),
        'group_requests', coalesce((SELECT jsonb_agg(jsonb_build_object('group_id', q.group_id, 'message', q.message,
                'status', q.status, 'created_at', q.created_at) ORDER BY q.id) FROM group_requests q
             WHERE q.tenant_id = t AND q.account_id = x.id), '[]'),
        'reports', coalesce((SELECT jsonb_agg(jsonb_build_object('contribution_id', p.contribution_id,
                'reason', p.reason, 'status', p.status, 'created_at', p.created_at) ORDER BY p.id) FROM reports p
             WHERE p.tenant_id = t AND p.reporter_id = x.id), '[]'),
        -- A workflow's records (workflows.sql) whose versions they saved,
        -- and the step changes they made with their reasons.
        'records', coalesce((SELECT jsonb_agg(jsonb_build_object('id', r.id, 'table_id', r.table_id,
                'step_id', r.step_id, 'kind', r.kind,
                'versions', (SELECT jsonb_agg(jsonb_build_object('version', v.version, 'fields', v.fields,
                    'saved_at', v.saved_at) ORDER BY v.version) FROM record_versions v
                     WHERE v.tenant_id = t AND v.record_id = r.id AND v.saved_by = x.id)) ORDER BY r.id)
             FROM records r WHERE r.tenant_id = t AND EXISTS (SELECT 1 FROM record_versions v
                 WHERE v.tenant_id = t AND v.record_id = r.id AND v.saved_by = x.id)), '[]'),
        'step_changes', coalesce((SELECT jsonb_agg(jsonb_build_object('table_id', h.table_id, 'step_id', h.step_id,
                'action', h.action, 'reason', h.reason, 'at', h.at) ORDER BY h.id) FROM step_history h
             WHERE h.tenant_id = t AND h.account_id = x.id), '[]'),
        -- Their votes on decisions, and what they added in a minority
        -- round (decisions.sql).
        'votes', coalesce((SELECT jsonb_agg(jsonb_build_object('decision_id', v.decision_id, 'choice', v.choice,
                'cast_at', v.cast_at, 'changed_at', v.changed_at) ORDER BY v.decision_id) FROM votes v
             WHERE v.tenant_id = t AND v.account_id = x.id), '[]'),
        'minority_points', coalesce((SELECT jsonb_agg(jsonb_build_object('decision_id', m.decision_id, 'body', m.body,
                'for_room', m.for_room, 'added', m.added, 'reason', m.reason, 'created_at', m.created_at) ORDER BY m.id)
             FROM minority_points m WHERE m.tenant_id = t AND m.account_id = x.id), '[]'),
        -- Their registrations for meetings (meetings.sql).
        'meeting_registrations', coalesce((SELECT jsonb_agg(jsonb_build_object('meeting_id', r.meeting_id,
                'title', g.title, 'starts_at', g.starts_at, 'state', r.state, 'position', r.position,
                'attended', r.attended, 'created_at', r.created_at) ORDER BY r.id)
             FROM meeting_registrations r JOIN meetings g ON g.tenant_id = r.tenant_id AND g.id = r.meeting_id
             WHERE r.tenant_id = t AND r.account_id = x.id), '[]'),
        -- What they follow and their notification settings (notifications.sql).
        'follows', coalesce((SELECT jsonb_agg(jsonb_build_object('table_id', f.table_id, 'group_id', f.group_id,
                'cadence', f.cadence, 'since', f.since, 'updated_at', f.updated_at) ORDER BY f.table_id, f.group_id NULLS FIRST)
             FROM follows f WHERE f.tenant_id = t AND f.account_id = x.id), '[]'),
        'notification_settings', (SELECT jsonb_build_object('mail', n.mail, 'lang', n.lang, 'seen_until', n.seen_until,
                'updated_at', n.updated_at)
             FROM notification_state n WHERE n.tenant_id = t AND n.account_id = x.id))
      INTO doc FROM accounts x WHERE x.tenant_id = t AND x.id = viewer AND x.deleted_at IS NULL;
    IF doc IS NULL THEN
        RETURN api.unauthorized();
    END IF;
    RETURN api.ok(doc);
END $$;
