-- Moderation: a table's facilitators hide contributions with a reason
-- (the text stays for them), and anyone who reads a contribution may
-- report it to them; at most 30 reports an hour per account.

-- Hides contribution CID with REASON, once: a second hiding keeps the
-- first one's time, reason and facilitator.
CREATE OR REPLACE FUNCTION api.hide_contribution(t bigint, viewer bigint, cid bigint, reason text) RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
    at timestamptz := now();
BEGIN
    UPDATE contributions q SET hidden_at = coalesce(q.hidden_at, at), hidden_reason = coalesce(q.hidden_reason, reason),
                               hidden_by = coalesce(q.hidden_by, viewer)
     WHERE q.tenant_id = t AND q.id = cid;
END $$;

CREATE OR REPLACE FUNCTION api.contribution_hide(t bigint, viewer bigint, roles text, a jsonb) RETURNS jsonb
LANGUAGE plpgsql AS $$
DECLARE
    it record;
    f jsonb := '{}'::jsonb;
    reason text := api.text_arg(a, 'reason');
    at timestamptz := now();
BEGIN
    SELECT * INTO it FROM api.find_contribution(t, viewer, roles, api.id_arg(a, 'id'), '{facilitator}',
                                                'Only the table''s facilitators hide contributions.');
    IF it.refused IS NOT NULL THEN
        RETURN it.refused;
    END IF;
    f := api.check_type(f, a, 'reason', 'string');
    f := api.check_text(f, 'reason', reason, 1000);
    IF f <> '{}'::jsonb THEN
        RETURN api.invalid(f);
    END IF;
    PERFORM api.hide_contribution(t, viewer, (it.c).id, btrim(reason));
    UPDATE reports q SET status = 'hidden', handled_by = viewer, handled_at = at
     WHERE q.tenant_id = t AND q.contribution_id = (it.c).id AND q.status = 'open';
    RETURN api.ok(api.contribution_json(t, viewer, (it.c).id, true));
END $$;

CREATE OR REPLACE FUNCTION api.report_create(t bigint, viewer bigint, roles text, a jsonb) RETURNS jsonb
LANGUAGE plpgsql AS $$
DECLARE
    it record;
    f jsonb := '{}'::jsonb;
    reason text := api.text_arg(a, 'reason');
    rep reports;
    oldest timestamptz;
    at timestamptz := now();
BEGIN
    SELECT * INTO it FROM api.find_contribution(t, viewer, roles, api.id_arg(a, 'id'), '{}');
    IF it.refused IS NOT NULL THEN
        RETURN it.refused;
    END IF;
    f := api.check_type(f, a, 'reason', 'string');
    f := api.check_text(f, 'reason', reason, 1000);
    IF f <> '{}'::jsonb THEN
        RETURN api.invalid(f);
    END IF;
    -- One at a time per account: the count sees every report made before
    -- the lock was ours.
    PERFORM 1 FROM accounts y WHERE y.tenant_id = t AND y.id = viewer FOR NO KEY UPDATE;
    SELECT min(q.created_at) INTO oldest FROM (
        SELECT q.created_at FROM reports q WHERE q.tenant_id = t AND q.reporter_id = viewer
           AND q.created_at > at - interval '1 hour' ORDER BY q.created_at DESC LIMIT 30) q
    HAVING count(*) >= 30;
    IF oldest IS NOT NULL THEN
        RETURN api.too_many('At most 30 reports an hour.', ceil(extract(epoch FROM oldest + interval '1 hour' - at))::int);
    END IF;
    INSERT INTO reports (tenant_id, contribution_id, reporter_id, reason, created_at)
    VALUES (t, (it.c).id, viewer, btrim(reason), at)
    ON CONFLICT (tenant_id, contribution_id, reporter_id) WHERE status = 'open' DO UPDATE SET reason = EXCLUDED.reason
    RETURNING * INTO rep;
    RETURN api.ok(jsonb_build_object('id', rep.id, 'contribution_id', rep.contribution_id, 'status', rep.status,
                                     'created_at', rep.created_at), 201);
END $$;

-- The moderation queue of a table: open reports, for its facilitators.
CREATE OR REPLACE FUNCTION api.reports_list(t bigint, viewer bigint, roles text, a jsonb) RETURNS jsonb
LANGUAGE plpgsql STABLE AS $$
DECLARE
    it record;
BEGIN
    SELECT * INTO it FROM api.find_table(t, viewer, roles, a, '{facilitator}');
    IF it.refused IS NOT NULL THEN
        RETURN it.refused;
    END IF;
    RETURN api.ok(jsonb_build_object('items', coalesce((
        SELECT jsonb_agg(jsonb_build_object('id', p.id, 'reason', p.reason, 'created_at', p.created_at,
                   'reporter', jsonb_build_object('id', u.id, 'name', u.display_name),
                   'contribution', api.contribution_json(t, viewer, c.id, true)) ORDER BY p.id)
          FROM reports p JOIN contributions c ON c.tenant_id = p.tenant_id AND c.id = p.contribution_id
          JOIN accounts u ON u.tenant_id = p.tenant_id AND u.id = p.reporter_id
         WHERE p.tenant_id = t AND c.table_id = (it.x).id AND p.status = 'open'), '[]'::jsonb), 'next_cursor', NULL));
END $$;

CREATE OR REPLACE FUNCTION api.report_handle(t bigint, viewer bigint, roles text, a jsonb) RETURNS jsonb
LANGUAGE plpgsql AS $$
DECLARE
    rep reports;
    it record;
    action text := api.text_arg(a, 'action');
    reason text := api.text_arg(a, 'reason');
    at timestamptz := now();
BEGIN
    SELECT * INTO rep FROM reports q WHERE q.tenant_id = t AND q.id = api.id_arg(a, 'id');
    SELECT * INTO it FROM api.find_contribution(t, viewer, roles, rep.contribution_id, '{facilitator}');
    IF it.refused IS NOT NULL THEN
        RETURN it.refused;
    END IF;
    IF action IS NULL OR action NOT IN ('hide', 'dismiss') THEN
        RETURN api.invalid(jsonb_build_object('action', jsonb_build_object('code', 'choice', 'message', 'One of: hide, dismiss.')));
    END IF;
    IF length(reason) > 1000 THEN
        RETURN api.invalid(jsonb_build_object('reason', jsonb_build_object('code', 'too_long', 'message', 'At most 1000 characters.')));
    END IF;
    IF rep.status <> 'open' THEN
        RETURN api.error(409, 'handled', 'This report was handled already.');
    END IF;
    IF action = 'hide' THEN
        -- The reporter wrote for the facilitators: their reason is not
        -- shown to everyone; the facilitator's own is, if given.
        PERFORM api.hide_contribution(t, viewer, rep.contribution_id, nullif(btrim(reason), ''));
        UPDATE reports q SET status = 'hidden', handled_by = viewer, handled_at = at
         WHERE q.tenant_id = t AND q.contribution_id = rep.contribution_id AND q.status = 'open';
    ELSE
        UPDATE reports q SET status = 'dismissed', handled_by = viewer, handled_at = at
         WHERE q.tenant_id = t AND q.id = rep.id;
    END IF;
    RETURN api.ok(jsonb_build_object('id', rep.id, 'status', CASE WHEN action = 'hide' THEN 'hidden' ELSE 'dismissed' END));
END $$;
