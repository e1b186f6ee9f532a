-- Notifications for residents (sql/033_notifications.sql; docs/api.md,
-- "Notifications"). What a person follows: a table or one of its groups,
-- each at a cadence ('each': a mail per new contribution, 'daily' or
-- 'weekly': a digest, 'none'); a table's people follow it at 'daily'
-- unless they chose otherwise, and a group's choice overrides its table's
-- for that group's content. What can be told is the activity: one row per
-- contribution and per method's moment, written by the operation itself
-- (platform.activity_add). Who is told what is decided when it is read,
-- by api.notification_rows, with visibility.sql's rules for many rows at
-- once: a person hears only of what they may read now (the table, the
-- group's content, a contribution not hidden), never of their own doing,
-- and only of what happened after they began following.
--
-- Mails: a contribution is mailed by the notify.item job to those who
-- follow it at 'each'; a method's moment (a step completed, a meeting
-- planned, changed or cancelled, a decision opened or closed, a report
-- published) is mailed by the same job at once to everyone who follows it
-- at any cadence but 'none' (it is rare and has a date). The digest.daily
-- and digest.weekly jobs, one each per tenant at its digest_hour (and
-- digest_weekday), mail every person one digest of the contributions that
-- are new to them, however many tables they follow, a batch of people per
-- run of the job (platform.digest_send), then schedule the next period.
-- No mail when a person turned mail off or nothing is new. Every
-- mail carries the unsubscribe link, and the outbox row its URL for the
-- List-Unsubscribe headers (RFC 8058).

-- ---------------------------------------------------------------- writing

-- Records activity KIND at table X (group G, contribution C) by ACTOR,
-- with TITLE, SUMMARY (plain text, 200 characters at most) and the site
-- path URL, in the caller's transaction; schedules the notify.item job
-- that mails it when someone may want a mail of it at once. Returns the
-- activity's id.
CREATE OR REPLACE FUNCTION platform.activity_add(t bigint, p_kind text, x bigint, g bigint, c bigint, actor bigint,
                                                 p_title text, p_summary text, p_url text) RETURNS bigint
LANGUAGE plpgsql AS $$
DECLARE
    aid bigint;
    at timestamptz := statement_timestamp();
    wanted boolean;
BEGIN
    INSERT INTO activity (tenant_id, kind, table_id, group_id, contribution_id, actor_id, title, summary, url, created_at)
    VALUES (t, p_kind, x, g, c, actor, left(coalesce(p_title, ''), 300),
            left(regexp_replace(btrim(coalesce(p_summary, '')), '\s+', ' ', 'g'), 200), p_url, at)
    RETURNING id INTO aid;
    -- A contribution is mailed at once to its 'each' followers only: no
    -- job when the table has none.
    IF p_kind = 'contribution' THEN
        SELECT EXISTS (SELECT 1 FROM follows f WHERE f.tenant_id = t AND f.table_id = x AND f.cadence = 'each') INTO wanted;
    ELSE
        wanted := true;
    END IF;
    IF wanted THEN
        PERFORM platform.job_schedule(t, 'notify.item', aid, at);
    END IF;
    RETURN aid;
END $$;

-- ---------------------------------------------------------------- reading

-- Who is told of what: (account, activity, the cadence it reaches them
-- at) for the person P_ACCOUNT (NULL: everyone), the activity P_ACTIVITY
-- (NULL: all), of the kinds P_KINDS (NULL: all), at the cadences
-- P_CADENCES, newer than P_AFTER, or than the person's own mark when
-- P_MARK names one ('daily', 'weekly': what their last digest held), at
-- most P_UPTO, and the newest P_LIMIT (NULL: all) of each table they
-- follow. Only what the person may read now, not their own doing, after
-- they began following, with their account not deleted.
--
-- The table's rules (one may read it, the table's follow) are decided
-- once per person and table; each table's activity is then read newest
-- first by the index activity_table, a row's own rules (its group, its
-- contribution) applied to it as a candidate, and the scan stops at
-- P_LIMIT rows told. A page of the list reads its page size per table,
-- however much the tables hold (test_notifications, "a page reads").
CREATE OR REPLACE FUNCTION api.notification_rows(t bigint, p_account bigint, p_activity bigint, p_kinds text[],
                                                 p_cadences text[], p_after bigint, p_mark text, p_upto bigint,
                                                 p_limit int)
RETURNS TABLE (account_id bigint, activity_id bigint, cadence text)
LANGUAGE plpgsql STABLE AS $$
#variable_conflict use_column
BEGIN
    RETURN QUERY
    WITH people AS (
        SELECT f.account_id, f.table_id FROM follows f
         WHERE f.tenant_id = t AND (p_account IS NULL OR f.account_id = p_account)
        UNION
        SELECT m.account_id, m.table_id FROM table_members m
         WHERE m.tenant_id = t AND (p_account IS NULL OR m.account_id = p_account)
    ), readers AS (
        SELECT p.account_id, p.table_id, tm.role AS member_role, tm.joined_at, tm.account_id IS NOT NULL AS member,
               r.account_id IS NOT NULL AS admin, ft.cadence AS table_cadence, ft.since AS table_since,
               CASE p_mark WHEN 'daily' THEN coalesce(n.daily_until, 0)
                           WHEN 'weekly' THEN coalesce(n.weekly_until, 0)
                           ELSE coalesce(p_after, 0) END AS after_id
          FROM people p
          JOIN tables x ON x.tenant_id = t AND x.id = p.table_id
          JOIN accounts u ON u.tenant_id = t AND u.id = p.account_id
          LEFT JOIN table_members tm ON tm.tenant_id = t AND tm.table_id = p.table_id AND tm.account_id = p.account_id
          LEFT JOIN account_roles r ON r.tenant_id = t AND r.account_id = p.account_id AND r.role = 'admin'
          LEFT JOIN follows ft ON ft.tenant_id = t AND ft.account_id = p.account_id AND ft.table_id = p.table_id
                              AND ft.group_id IS NULL
          LEFT JOIN notification_state n ON n.tenant_id = t AND n.account_id = p.account_id
         WHERE u.deleted_at IS NULL
           -- The table: public, one's own, or an admin's (api.table_standing).
           AND (x.visibility = 'public' OR tm.account_id IS NOT NULL OR r.account_id IS NOT NULL)
    )
    SELECT p.account_id, w.id, w.cadence
      FROM readers p
     CROSS JOIN LATERAL (
        SELECT a.id, z.cadence
          FROM activity a
          LEFT JOIN groups g ON g.tenant_id = t AND g.id = a.group_id
          LEFT JOIN contributions c ON c.tenant_id = t AND c.id = a.contribution_id
          LEFT JOIN group_members gm ON gm.tenant_id = t AND gm.group_id = a.group_id AND gm.account_id = p.account_id
          LEFT JOIN follows fg ON fg.tenant_id = t AND fg.account_id = p.account_id AND fg.table_id = a.table_id
                              AND fg.group_id = a.group_id
          -- A group's choice overrides its table's; a table's people
          -- follow it at 'daily' unless they chose.
          CROSS JOIN LATERAL (
              SELECT CASE WHEN fg.account_id IS NOT NULL THEN fg.cadence
                          WHEN p.table_cadence IS NOT NULL THEN p.table_cadence
                          WHEN p.member THEN 'daily'
                          ELSE 'none' END AS cadence,
                     CASE WHEN fg.account_id IS NOT NULL THEN fg.since
                          WHEN p.table_cadence IS NOT NULL THEN p.table_since
                          ELSE p.joined_at END AS since) z
         WHERE a.tenant_id = t AND a.table_id = p.table_id
           AND (p_activity IS NULL OR a.id = p_activity)
           AND (p_kinds IS NULL OR a.kind = ANY (p_kinds))
           AND (p_upto IS NULL OR a.id <= p_upto)
           AND a.id > p.after_id
           -- Never one's own doing.
           AND a.actor_id IS DISTINCT FROM p.account_id
           AND (a.contribution_id IS NULL OR c.author_id IS DISTINCT FROM p.account_id)
           -- A hidden contribution is told to nobody.
           AND (a.contribution_id IS NULL OR (c.id IS NOT NULL AND c.hidden_at IS NULL))
           -- A group's content: a public group, its members, the table's
           -- facilitators and admins (api.group_standing).
           AND (a.group_id IS NULL OR g.visibility = 'public' OR gm.account_id IS NOT NULL
                OR p.member_role = 'facilitator' OR p.admin)
           AND z.cadence = ANY (p_cadences) AND a.created_at >= z.since
         ORDER BY a.id DESC
         LIMIT p_limit) w;
END $$;

-- How many items of the list are unread to VIEWER (after SEEN), counted
-- up to 100: 100 says "100 or more" (the site shows 99+), so that the
-- count, too, reads no more than that whatever the tables hold.
CREATE OR REPLACE FUNCTION api.notification_unread(t bigint, viewer bigint, seen bigint) RETURNS bigint
LANGUAGE plpgsql STABLE AS $$
DECLARE
    n bigint;
BEGIN
    SELECT count(*) INTO n
      FROM (SELECT 1 FROM api.notification_rows(t, viewer, NULL, NULL, ARRAY['each', 'daily', 'weekly'], seen, NULL,
                                                NULL, 100) r
             LIMIT 100) q;
    RETURN n;
END $$;

-- The items of IDS as the contract's list shows them (newest first), with
-- "unread" after SEEN.
CREATE OR REPLACE FUNCTION api.notification_items(t bigint, ids bigint[], seen bigint) RETURNS jsonb
LANGUAGE plpgsql STABLE AS $$
BEGIN
    RETURN (SELECT coalesce(jsonb_agg(jsonb_build_object(
                'id', a.id, 'kind', a.kind, 'table_id', a.table_id, 'table_title', x.title,
                'group_id', a.group_id, 'group_name', g.name, 'title', a.title, 'summary', a.summary,
                'url', a.url, 'created_at', api.utc_text(a.created_at), 'unread', a.id > seen)
              ORDER BY a.id DESC), '[]'::jsonb)
              -- Each by its key (OFFSET 0 keeps it a lookup per id): the
              -- page's rows, never all of its tables'.
              FROM unnest(ids) i (id)
             CROSS JOIN LATERAL (SELECT y.* FROM activity y WHERE y.tenant_id = t AND y.id = i.id OFFSET 0) a
              JOIN tables x ON x.tenant_id = t AND x.id = a.table_id
              LEFT JOIN groups g ON g.tenant_id = t AND g.id = a.group_id);
END $$;

-- Account P's notification state, made when they have none (mail on, the
-- tenant's default language, a new unsubscribe token). Returns the token.
CREATE OR REPLACE FUNCTION api.notification_state_ensure(t bigint, p bigint) RETURNS text
LANGUAGE plpgsql AS $$
DECLARE
    token text;
    lang text;
    at timestamptz := statement_timestamp();
BEGIN
    SELECT n.unsubscribe_token INTO token FROM notification_state n WHERE n.tenant_id = t AND n.account_id = p;
    IF token IS NOT NULL THEN
        RETURN token;
    END IF;
    SELECT s.default_lang INTO lang FROM site_settings s WHERE s.tenant_id = t;
    -- 244 random bits as 64 hex digits.
    token := replace(gen_random_uuid()::text, '-', '') || replace(gen_random_uuid()::text, '-', '');
    INSERT INTO notification_state (tenant_id, account_id, lang, unsubscribe_token, updated_at)
    VALUES (t, p, coalesce(lang, 'nl'), token, at)
    ON CONFLICT (tenant_id, account_id) DO NOTHING;
    SELECT n.unsubscribe_token INTO token FROM notification_state n WHERE n.tenant_id = t AND n.account_id = p;
    RETURN token;
END $$;

-- ---------------------------------------------------------------- follows

-- The answer of a follow operation: what VIEWER's follow of table X (G
-- NULL) or group G is now.
CREATE OR REPLACE FUNCTION api.follow_json(t bigint, viewer bigint, x bigint, g bigint) RETURNS jsonb
LANGUAGE plpgsql STABLE AS $$
DECLARE
    chosen text;
    member boolean;
BEGIN
    SELECT f.cadence INTO chosen FROM follows f
     WHERE f.tenant_id = t AND f.account_id = viewer AND f.table_id = x AND coalesce(f.group_id, 0) = coalesce(g, 0);
    IF chosen IS NOT NULL THEN
        RETURN jsonb_build_object('kind', CASE WHEN g IS NULL THEN 'table' ELSE 'group' END, 'id', coalesce(g, x),
                                  'table_id', x, 'cadence', chosen, 'automatic', false);
    END IF;
    SELECT EXISTS (SELECT 1 FROM table_members m WHERE m.tenant_id = t AND m.table_id = x AND m.account_id = viewer)
      INTO member;
    RETURN jsonb_build_object('kind', CASE WHEN g IS NULL THEN 'table' ELSE 'group' END, 'id', coalesce(g, x),
                              'table_id', x, 'cadence', CASE WHEN member AND g IS NULL THEN 'daily' ELSE 'none' END,
                              'automatic', member AND g IS NULL);
END $$;

-- The table or group A's id names, for VIEWER's follow: its table X, its
-- group G (NULL for a table), or REFUSED: 404 when they may not read the
-- table or the group's content, 401 for a guest.
CREATE OR REPLACE FUNCTION api.follow_target(t bigint, viewer bigint, roles text, a jsonb, kind text,
                                             OUT x bigint, OUT g bigint, OUT refused jsonb)
LANGUAGE plpgsql STABLE AS $$
DECLARE
    it record;
BEGIN
    IF kind = 'table' THEN
        SELECT * INTO it FROM api.find_table(t, viewer, roles, a, '{}');
        x := (it.x).id;
        refused := it.refused;
    ELSE
        SELECT * INTO it FROM api.find_group(t, viewer, roles, a, '{}');
        x := (it.x).id;
        g := (it.g).id;
        refused := CASE WHEN it.standing = 'outside' THEN api.not_found() ELSE it.refused END;
    END IF;
END $$;

-- GET /tables/{id}/follow, GET /groups/{id}/follow.
CREATE OR REPLACE FUNCTION api.follow_read(t bigint, viewer bigint, roles text, a jsonb, kind text) RETURNS jsonb
LANGUAGE plpgsql STABLE AS $$
DECLARE
    it record;
BEGIN
    SELECT * INTO it FROM api.follow_target(t, viewer, roles, a, kind);
    IF it.refused IS NOT NULL THEN
        RETURN it.refused;
    END IF;
    RETURN api.ok(api.follow_json(t, viewer, it.x, it.g));
END $$;

-- PUT /tables/{id}/follow, PUT /groups/{id}/follow {cadence}: the
-- viewer's choice. A new follow tells what happens from now on (a table's
-- person keeps what they were told since they joined); choosing again
-- keeps its start, unless it was 'none'.
CREATE OR REPLACE FUNCTION api.follow_set(t bigint, viewer bigint, roles text, a jsonb, kind text) RETURNS jsonb
LANGUAGE plpgsql AS $$
DECLARE
    it record;
    f jsonb := '{}'::jsonb;
    wanted text := api.text_arg(a, 'cadence');
    at timestamptz := statement_timestamp();
    start timestamptz;
BEGIN
    SELECT * INTO it FROM api.follow_target(t, viewer, roles, a, kind);
    IF it.refused IS NOT NULL THEN
        RETURN it.refused;
    END IF;
    f := api.check_type(f, a, 'cadence', 'string');
    f := api.check_choice(f, 'cadence', wanted, ARRAY['each', 'daily', 'weekly', 'none']);
    IF f <> '{}'::jsonb THEN
        RETURN api.invalid(f);
    END IF;
    SELECT m.joined_at INTO start FROM table_members m
     WHERE m.tenant_id = t AND m.table_id = it.x AND m.account_id = viewer;
    start := coalesce(start, at);
    INSERT INTO follows AS y (tenant_id, account_id, table_id, group_id, cadence, since, updated_at)
    VALUES (t, viewer, it.x, it.g, wanted, start, at)
    ON CONFLICT (tenant_id, account_id, table_id, (coalesce(group_id, 0)))
    DO UPDATE SET cadence = excluded.cadence, updated_at = excluded.updated_at,
                  since = CASE WHEN y.cadence = 'none' THEN excluded.since ELSE y.since END;
    RETURN api.ok(api.follow_json(t, viewer, it.x, it.g));
END $$;

-- DELETE /tables/{id}/follow, DELETE /groups/{id}/follow: back to the
-- default (a table's people follow it daily, anyone else not at all).
CREATE OR REPLACE FUNCTION api.follow_unset(t bigint, viewer bigint, roles text, a jsonb, kind text) RETURNS jsonb
LANGUAGE plpgsql AS $$
DECLARE
    it record;
BEGIN
    SELECT * INTO it FROM api.follow_target(t, viewer, roles, a, kind);
    IF it.refused IS NOT NULL THEN
        RETURN it.refused;
    END IF;
    DELETE FROM follows y
     WHERE y.tenant_id = t AND y.account_id = viewer AND y.table_id = it.x AND coalesce(y.group_id, 0) = coalesce(it.g, 0);
    RETURN api.ok(api.follow_json(t, viewer, it.x, it.g));
END $$;

CREATE OR REPLACE FUNCTION api.table_follow_get(t bigint, viewer bigint, roles text, a jsonb) RETURNS jsonb
LANGUAGE plpgsql STABLE AS $$
BEGIN
    RETURN api.follow_read(t, viewer, roles, a, 'table');
END $$;

CREATE OR REPLACE FUNCTION api.table_follow_put(t bigint, viewer bigint, roles text, a jsonb) RETURNS jsonb
LANGUAGE plpgsql AS $$
BEGIN
    RETURN api.follow_set(t, viewer, roles, a, 'table');
END $$;

CREATE OR REPLACE FUNCTION api.table_follow_delete(t bigint, viewer bigint, roles text, a jsonb) RETURNS jsonb
LANGUAGE plpgsql AS $$
BEGIN
    RETURN api.follow_unset(t, viewer, roles, a, 'table');
END $$;

CREATE OR REPLACE FUNCTION api.group_follow_get(t bigint, viewer bigint, roles text, a jsonb) RETURNS jsonb
LANGUAGE plpgsql STABLE AS $$
BEGIN
    RETURN api.follow_read(t, viewer, roles, a, 'group');
END $$;

CREATE OR REPLACE FUNCTION api.group_follow_put(t bigint, viewer bigint, roles text, a jsonb) RETURNS jsonb
LANGUAGE plpgsql AS $$
BEGIN
    RETURN api.follow_set(t, viewer, roles, a, 'group');
END $$;

CREATE OR REPLACE FUNCTION api.group_follow_delete(t bigint, viewer bigint, roles text, a jsonb) RETURNS jsonb
LANGUAGE plpgsql AS $$
BEGIN
    RETURN api.follow_unset(t, viewer, roles, a, 'group');
END $$;

-- GET /me/follows: the viewer's explicit choices and their own tables'
-- automatic follows, of what they may read now.
CREATE OR REPLACE FUNCTION api.follows_list(t bigint, viewer bigint, roles text, a jsonb) RETURNS jsonb
LANGUAGE plpgsql STABLE AS $$
DECLARE
    admin boolean := api.has_role(roles, 'admin');
    items jsonb;
BEGIN
    IF viewer IS NULL THEN
        RETURN api.unauthorized();
    END IF;
    WITH chosen AS (
        SELECT f.table_id, f.group_id, f.cadence, false AS automatic FROM follows f
         WHERE f.tenant_id = t AND f.account_id = viewer
        UNION ALL
        SELECT m.table_id, NULL::bigint, 'daily', true FROM table_members m
         WHERE m.tenant_id = t AND m.account_id = viewer
           AND NOT EXISTS (SELECT 1 FROM follows f WHERE f.tenant_id = t AND f.account_id = viewer
                              AND f.table_id = m.table_id AND f.group_id IS NULL)
    )
    SELECT coalesce(jsonb_agg(jsonb_build_object(
               'kind', CASE WHEN c.group_id IS NULL THEN 'table' ELSE 'group' END,
               'id', coalesce(c.group_id, c.table_id), 'table_id', c.table_id,
               'title', CASE WHEN c.group_id IS NULL THEN x.title ELSE g.name END,
               'table_title', x.title, 'cadence', c.cadence, 'automatic', c.automatic)
             ORDER BY x.title, x.id, c.group_id NULLS FIRST), '[]'::jsonb)
      INTO items
      FROM chosen c
      JOIN tables x ON x.tenant_id = t AND x.id = c.table_id
      LEFT JOIN groups g ON g.tenant_id = t AND g.id = c.group_id
      LEFT JOIN table_members tm ON tm.tenant_id = t AND tm.table_id = c.table_id AND tm.account_id = viewer
      LEFT JOIN group_members gm ON gm.tenant_id = t AND gm.group_id = c.group_id AND gm.account_id = viewer
     WHERE (x.visibility = 'public' OR tm.account_id IS NOT NULL OR admin)
       AND (c.group_id IS NULL OR g.visibility = 'public' OR gm.account_id IS NOT NULL
            OR tm.role = 'facilitator' OR admin);
    RETURN api.ok(jsonb_build_object('items', items));
END $$;

-- ---------------------------------------------------------------- the list

-- GET /me/notifications?unread=true&limit=N&cursor=C: what is new to the
-- viewer, newest first, and how many are unread.
CREATE OR REPLACE FUNCTION api.notifications_list(t bigint, viewer bigint, roles text, a jsonb) RETURNS jsonb
LANGUAGE plpgsql STABLE AS $$
DECLARE
    lim int := api.page_limit(a);
    before bigint := api.cursor_id(a);
    only_unread boolean;
    seen bigint;
    ids bigint[];
    unread bigint;
    f jsonb;
BEGIN
    IF viewer IS NULL THEN
        RETURN api.unauthorized();
    END IF;
    IF before = -1 THEN
        RETURN api.bad_cursor();
    END IF;
    f := api.check_choice('{}'::jsonb, 'unread', lower(a ->> 'unread'), ARRAY['true', 'false'], false);
    IF f <> '{}'::jsonb THEN
        RETURN api.invalid(f);
    END IF;
    only_unread := coalesce(lower(a ->> 'unread') = 'true', false);
    SELECT n.seen_until INTO seen FROM notification_state n WHERE n.tenant_id = t AND n.account_id = viewer;
    seen := coalesce(seen, 0);
    -- A page: the newest LIM + 1 of each table before the cursor, and of
    -- those the newest LIM + 1 (api.notification_rows).
    ids := ARRAY(SELECT r.activity_id
                   FROM api.notification_rows(t, viewer, NULL, NULL, ARRAY['each', 'daily', 'weekly'],
                                              CASE WHEN only_unread THEN seen END, NULL, before - 1, lim + 1) r
                  ORDER BY r.activity_id DESC LIMIT lim + 1);
    unread := api.notification_unread(t, viewer, seen);
    RETURN api.ok(jsonb_build_object(
        'items', api.notification_items(t, ids[1:lim], seen),
        'unread', unread,
        'next_cursor', CASE WHEN cardinality(ids) > lim THEN api.cursor(ids[lim]) END));
END $$;

-- POST /me/notifications/seen {until?}: everything up to UNTIL (default:
-- all there is now) is read. Answers how many are still unread.
CREATE OR REPLACE FUNCTION api.notifications_seen(t bigint, viewer bigint, roles text, a jsonb) RETURNS jsonb
LANGUAGE plpgsql AS $$
DECLARE
    upto bigint;
    at timestamptz := statement_timestamp();
    seen bigint;
    unread bigint;
BEGIN
    IF viewer IS NULL THEN
        RETURN api.unauthorized();
    END IF;
    IF a ? 'until' AND a -> 'until' <> 'null'::jsonb THEN
        upto := api.id_arg(a, 'until');
        IF upto IS NULL THEN
            RETURN api.invalid(api.field('until', 'type', 'The id of a notification.'));
        END IF;
    ELSE
        SELECT max(y.id) INTO upto FROM activity y WHERE y.tenant_id = t;
    END IF;
    PERFORM api.notification_state_ensure(t, viewer);
    UPDATE notification_state n SET seen_until = greatest(n.seen_until, coalesce(upto, 0)), updated_at = at
     WHERE n.tenant_id = t AND n.account_id = viewer;
    SELECT n.seen_until INTO seen FROM notification_state n WHERE n.tenant_id = t AND n.account_id = viewer;
    unread := api.notification_unread(t, viewer, seen);
    RETURN api.ok(jsonb_build_object('unread', unread));
END $$;

-- ---------------------------------------------------------------- settings

CREATE OR REPLACE FUNCTION api.notification_settings_json(t bigint, viewer bigint) RETURNS jsonb
LANGUAGE plpgsql STABLE AS $$
DECLARE
    n record;
    lang text;
BEGIN
    SELECT y.mail, y.lang INTO n FROM notification_state y WHERE y.tenant_id = t AND y.account_id = viewer;
    IF NOT FOUND THEN
        SELECT s.default_lang INTO lang FROM site_settings s WHERE s.tenant_id = t;
        RETURN jsonb_build_object('mail', true, 'lang', coalesce(lang, 'nl'));
    END IF;
    RETURN jsonb_build_object('mail', n.mail, 'lang', n.lang);
END $$;

-- GET /me/notification-settings.
CREATE OR REPLACE FUNCTION api.notification_settings_get(t bigint, viewer bigint, roles text, a jsonb) RETURNS jsonb
LANGUAGE plpgsql STABLE AS $$
BEGIN
    IF viewer IS NULL THEN
        RETURN api.unauthorized();
    END IF;
    RETURN api.ok(api.notification_settings_json(t, viewer));
END $$;

-- PATCH /me/notification-settings {mail?, lang?}.
CREATE OR REPLACE FUNCTION api.notification_settings_patch(t bigint, viewer bigint, roles text, a jsonb) RETURNS jsonb
LANGUAGE plpgsql AS $$
DECLARE
    f jsonb := '{}'::jsonb;
    k text;
    at timestamptz := statement_timestamp();
BEGIN
    IF viewer IS NULL THEN
        RETURN api.unauthorized();
    END IF;
    FOR k IN SELECT jsonb_object_keys(a) LOOP
        IF k !~ '^_' AND k NOT IN ('mail', 'lang') THEN
            f := f || api.field(left(k, 40), 'unknown', 'Not a notification setting.');
        END IF;
    END LOOP;
    IF a ? 'mail' AND jsonb_typeof(a -> 'mail') <> 'boolean' THEN
        f := f || api.field('mail', 'type', 'Must be true or false.');
    END IF;
    f := api.check_type(f, a, 'lang', 'string');
    IF a ? 'lang' THEN
        f := api.check_choice(f, 'lang', api.text_arg(a, 'lang'), ARRAY['nl', 'en']);
    END IF;
    IF f <> '{}'::jsonb THEN
        RETURN api.invalid(f);
    END IF;
    PERFORM api.notification_state_ensure(t, viewer);
    UPDATE notification_state n
       SET mail = CASE WHEN a ? 'mail' THEN (a ->> 'mail')::boolean ELSE n.mail END,
           lang = coalesce(api.text_arg(a, 'lang'), n.lang), updated_at = at
     WHERE n.tenant_id = t AND n.account_id = viewer;
    RETURN api.ok(api.notification_settings_json(t, viewer));
END $$;

-- POST /unsubscribe {token}: no sign-in and no CSRF token, the token is
-- the authority (the link in every notification mail, and the one-click
-- POST of RFC 8058). All notification mail stops; the in-site list stays.
CREATE OR REPLACE FUNCTION api.unsubscribe(t bigint, viewer bigint, roles text, a jsonb) RETURNS jsonb
LANGUAGE plpgsql AS $$
DECLARE
    token text := api.text_arg(a, 'token');
    at timestamptz := statement_timestamp();
BEGIN
    IF token IS NULL OR token !~ '^[0-9a-f]{64}$' THEN
        RETURN api.not_found();
    END IF;
    UPDATE notification_state n SET mail = false, updated_at = at
     WHERE n.tenant_id = t AND n.unsubscribe_token = token;
    IF NOT FOUND THEN
        RETURN api.not_found();
    END IF;
    RETURN api.ok(jsonb_build_object('mail', false));
END $$;

-- ---------------------------------------------------------------- mails

-- The site's address of tenant T ('https://HOST'), or NULL without a host.
CREATE OR REPLACE FUNCTION platform.site_base(t bigint) RETURNS text
LANGUAGE plpgsql STABLE AS $$
DECLARE
    host text;
BEGIN
    SELECT h.host INTO host FROM platform.tenant_hosts h WHERE h.tenant_id = t ORDER BY h.host LIMIT 1;
    RETURN CASE WHEN host IS NOT NULL THEN 'https://' || host END;
END $$;

-- Text S escaped for HTML, for an element's content and a quoted
-- attribute's value alike.
CREATE OR REPLACE FUNCTION platform.html_text(s text) RETURNS text
LANGUAGE sql IMMUTABLE AS $$
    SELECT replace(replace(replace(replace(replace(coalesce(s, ''), '&', '&amp;'), '<', '&lt;'), '>', '&gt;'),
                           '"', '&quot;'), '''', '&#39;')
$$;

-- What a mail to account P needs of them, in one read: whether their
-- notification mail is on, its language, their unsubscribe token and
-- their address (NULL when the account is deleted or has none). Their
-- notification state is made when they have none yet (read once more
-- then, for their first mail only).
CREATE OR REPLACE FUNCTION platform.notification_recipient(t bigint, p bigint, OUT mail boolean, OUT lang text,
                                                           OUT token text, OUT email text)
LANGUAGE plpgsql AS $$
BEGIN
    SELECT y.mail, y.lang, y.unsubscribe_token, u.email INTO mail, lang, token, email
      FROM accounts u
      LEFT JOIN notification_state y ON y.tenant_id = t AND y.account_id = u.id
     WHERE u.tenant_id = t AND u.id = p AND u.deleted_at IS NULL;
    IF NOT FOUND THEN
        mail := false;
        lang := 'nl';
        RETURN;
    END IF;
    IF token IS NULL THEN
        token := api.notification_state_ensure(t, p);
        SELECT y.mail, y.lang INTO mail, lang FROM notification_state y WHERE y.tenant_id = t AND y.account_id = p;
    END IF;
END $$;

-- The notification mail to a recipient as platform.notification_recipient
-- read them (EMAIL, MAIL on, LANG, TOKEN): BODY without its ending, and
-- HTML, the same in HTML (what goes in the document's body, every value
-- escaped), with the unsubscribe link in both parts and its URL for the
-- headers; nothing when their mail is off or they have no address.
CREATE OR REPLACE FUNCTION platform.notification_mail(t bigint, email text, mail boolean, lang text, token text,
                                                      base text, subject text, body text, html text)
RETURNS boolean
LANGUAGE plpgsql AS $$
DECLARE
    unsub text;
BEGIN
    IF NOT coalesce(mail, false) OR email IS NULL THEN
        RETURN false;
    END IF;
    unsub := CASE WHEN base IS NOT NULL THEN base || '/afmelden/' || token END;
    body := body || E'\n-- \n' || CASE WHEN lang = 'en' THEN
                format(E'You receive this mail because you follow tables on %s.\n'
                        'Change what you receive: %s/meldingen\n'
                        'No more notification mail: %s\n', coalesce(base, ''), coalesce(base, ''), coalesce(unsub, ''))
            ELSE
                format(E'U ontvangt deze mail omdat u tafels volgt op %s.\n'
                        'Kies wat u ontvangt: %s/meldingen\n'
                        'Geen meldingen meer per mail: %s\n', coalesce(base, ''), coalesce(base, ''), coalesce(unsub, ''))
            END;
    subject := left(regexp_replace(subject, '[[:cntrl:]]', ' ', 'g'), 500);
    html := format('<!DOCTYPE html><html lang="%s"><head><meta charset="utf-8"><title>%s</title></head>'
                   '<body style="font-family: sans-serif; font-size: 16px; line-height: 1.5; color: #1a1a1a">',
                   lang, platform.html_text(subject))
            || html || '<hr>' || CASE WHEN lang = 'en' THEN
                format('<p>You receive this mail because you follow tables on <a href="%s">%s</a>.<br>'
                       '<a href="%s/meldingen">Change what you receive</a><br>'
                       'No more notification mail: <a href="%s">%s</a></p>',
                       platform.html_text(base), platform.html_text(base), platform.html_text(base),
                       platform.html_text(unsub), platform.html_text(unsub))
            ELSE
                format('<p>U ontvangt deze mail omdat u tafels volgt op <a href="%s">%s</a>.<br>'
                       '<a href="%s/meldingen">Kies wat u ontvangt</a><br>'
                       'Geen meldingen meer per mail: <a href="%s">%s</a></p>',
                       platform.html_text(base), platform.html_text(base), platform.html_text(base),
                       platform.html_text(unsub), platform.html_text(unsub))
            END || '</body></html>';
    PERFORM platform.enqueue_mail(t, email, NULL, subject, body, html, unsub);
    RETURN true;
END $$;

-- An item's heading in a mail, in LANG: what happened where.
CREATE OR REPLACE FUNCTION platform.notification_heading(lang text, kind text, table_title text, group_name text,
                                                         title text) RETURNS text
LANGUAGE sql IMMUTABLE AS $$
    SELECT CASE kind
               WHEN 'contribution' THEN CASE WHEN lang = 'en' THEN 'Contribution at ' ELSE 'Bijdrage bij ' END
               WHEN 'step.completed' THEN CASE WHEN lang = 'en' THEN 'Step completed at ' ELSE 'Stap afgerond bij ' END
               WHEN 'meeting.planned' THEN CASE WHEN lang = 'en' THEN 'Meeting planned at ' ELSE 'Bijeenkomst gepland bij ' END
               WHEN 'meeting.changed' THEN CASE WHEN lang = 'en' THEN 'Meeting changed at ' ELSE 'Bijeenkomst gewijzigd bij ' END
               WHEN 'meeting.cancelled' THEN CASE WHEN lang = 'en' THEN 'Meeting cancelled at ' ELSE 'Bijeenkomst afgelast bij ' END
               WHEN 'decision.opened' THEN CASE WHEN lang = 'en' THEN 'Decision opened at ' ELSE 'Besluit geopend bij ' END
               WHEN 'decision.closed' THEN CASE WHEN lang = 'en' THEN 'Decision closed at ' ELSE 'Besluit gesloten bij ' END
               ELSE CASE WHEN lang = 'en' THEN 'Report published at ' ELSE 'Verslag gepubliceerd bij ' END
           END || table_title
           || CASE WHEN group_name IS NOT NULL THEN ' (' || group_name || ')' ELSE '' END
           || CASE WHEN kind <> 'contribution' AND title <> '' AND title <> table_title THEN ': ' || title ELSE '' END
$$;

-- One item's lines in a mail, in LANG.
CREATE OR REPLACE FUNCTION platform.notification_line(lang text, kind text, table_title text, group_name text,
                                                      title text, summary text, url text) RETURNS text
LANGUAGE sql IMMUTABLE AS $$
    SELECT format(E'* %s\n  %s\n  %s\n', platform.notification_heading(lang, kind, table_title, group_name, title),
                  summary, url)
$$;

-- The same item in the mail's HTML: a list item, its heading the link,
-- every value escaped.
CREATE OR REPLACE FUNCTION platform.notification_line_html(lang text, kind text, table_title text, group_name text,
                                                           title text, summary text, url text) RETURNS text
LANGUAGE sql IMMUTABLE AS $$
    SELECT format('<li style="margin-bottom: 1em"><a href="%s">%s</a>%s</li>', platform.html_text(url),
                  platform.html_text(platform.notification_heading(lang, kind, table_title, group_name, title)),
                  CASE WHEN summary <> '' THEN '<br>' || platform.html_text(summary) ELSE '' END)
$$;

-- notify.item: activity AID mailed at once to those who want it so (a
-- contribution: its 'each' followers; a moment: every follower but
-- 'none'), each a mail of their own. A no-op when it is gone or hidden.
CREATE OR REPLACE FUNCTION platform.job_notify_item(t bigint, aid bigint) RETURNS jsonb
LANGUAGE plpgsql AS $$
DECLARE
    it record;
    who bigint[];
    p bigint;
    r record;
    base text := platform.site_base(t);
    n int := 0;
BEGIN
    SELECT a.kind, a.title, a.summary, a.url, x.title AS table_title, g.name AS group_name INTO it
      FROM activity a
      JOIN tables x ON x.tenant_id = t AND x.id = a.table_id
      LEFT JOIN groups g ON g.tenant_id = t AND g.id = a.group_id
     WHERE a.tenant_id = t AND a.id = aid;
    IF NOT FOUND THEN
        RETURN '[]'::jsonb;
    END IF;
    who := ARRAY(SELECT w.account_id FROM api.notification_rows(t, NULL, aid, NULL,
                     CASE WHEN it.kind = 'contribution' THEN ARRAY['each'] ELSE ARRAY['each', 'daily', 'weekly'] END,
                     NULL, NULL, NULL, NULL) w ORDER BY w.account_id);
    FOREACH p IN ARRAY who LOOP
        SELECT * INTO r FROM platform.notification_recipient(t, p);
        IF platform.notification_mail(t, r.email, r.mail, r.lang, r.token, base,
               CASE WHEN r.lang = 'en' THEN 'New at ' ELSE 'Nieuw bij ' END || it.table_title,
               platform.notification_line(r.lang, it.kind, it.table_title, it.group_name, it.title, it.summary,
                                          coalesce(base, '') || it.url),
               '<ul style="padding-left: 1.2em">'
               || platform.notification_line_html(r.lang, it.kind, it.table_title, it.group_name, it.title,
                                                  it.summary, coalesce(base, '') || it.url) || '</ul>') THEN
            n := n + 1;
        END IF;
    END LOOP;
    RETURN jsonb_build_array(jsonb_build_object('name', 'notification.mailed',
                                                'data', jsonb_build_object('activity_id', aid, 'mailed', n)));
END $$;

-- When tenant T's next digest of CADENCE ('daily' or 'weekly') is due
-- after now: the tenant's digest_hour, Amsterdam time, the next day (on
-- its digest_weekday for the weekly one).
CREATE OR REPLACE FUNCTION platform.digest_next(t bigint, cadence text) RETURNS timestamptz
LANGUAGE plpgsql STABLE AS $$
DECLARE
    h int;
    wd int;
    here timestamp := clock_timestamp() AT TIME ZONE 'Europe/Amsterdam';
    due timestamp;
BEGIN
    SELECT s.digest_hour, s.digest_weekday INTO h, wd FROM site_settings s WHERE s.tenant_id = t;
    h := coalesce(h, 7);
    wd := coalesce(wd, 1);
    due := date_trunc('day', here) + make_interval(hours => h);
    IF cadence = 'weekly' THEN
        due := due + make_interval(days => (wd - extract(isodow FROM due)::int + 7) % 7);
        IF due <= here THEN
            due := due + interval '7 days';
        END IF;
    ELSIF due <= here THEN
        due := due + interval '1 day';
    END IF;
    RETURN due AT TIME ZONE 'Europe/Amsterdam';
END $$;

-- Schedules tenant T's next digests (a new tenant, a change of its hours).
-- A digest whose batches are under way (digest_runs) goes on at once: its
-- last batch schedules the next at the new hours.
CREATE OR REPLACE FUNCTION platform.digests_schedule(t bigint) RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
    c text;
    at timestamptz := statement_timestamp();
BEGIN
    FOREACH c IN ARRAY ARRAY['daily', 'weekly'] LOOP
        PERFORM platform.job_schedule(t, 'digest.' || c, 0,
                    CASE WHEN EXISTS (SELECT 1 FROM digest_runs d WHERE d.tenant_id = t AND d.cadence = c) THEN at
                         ELSE platform.digest_next(t, c) END);
    END LOOP;
END $$;

-- How many people one run of a digest job takes (platform.digest_send):
-- 200, or the setting aantafel.digest_batch (1 to 10,000; a database or
-- role setting, for an operator's tuning and for the tests, which lower
-- it to see several runs with a few people). Each run is a transaction
-- of its own, so a batch bounds how long it holds its locks and how much
-- one failure rolls back.
CREATE OR REPLACE FUNCTION platform.digest_batch() RETURNS int
LANGUAGE plpgsql STABLE AS $$
DECLARE
    v text := current_setting('aantafel.digest_batch', true);
BEGIN
    IF v ~ '^[0-9]{1,5}$' AND v::int BETWEEN 1 AND 10000 THEN
        RETURN v::int;
    END IF;
    RETURN 200;
END $$;

-- A digest of CADENCE for tenant T, one batch per run of its job: every
-- person who follows something at that cadence gets one mail of the
-- contributions new to them since their last one (after their mark), of
-- every table they follow, up to the period's bound.
--
-- The bound is the newest activity when the period's first batch runs,
-- kept in digest_runs with the account the batches have reached, so
-- that every batch of the period tells up to the same place. A batch is
-- the next platform.digest_batch() people (those api.notification_rows
-- reads: who follows a table or a group, or is at a table) in account
-- order; their mails are queued and their marks (daily_until,
-- weekly_until: those with a notification state, which their first mail
-- makes) move to the bound in the batch's transaction. A batch that
-- fails rolls back whole and is run again as it was: nobody gets the
-- period's digest twice (their mark moved with their mail), nobody is
-- passed over (the place in the order moves with the batch). While
-- people remain, the job is scheduled again at once. After the last
-- batch every other notification state's mark moves to the bound too
-- (those who follow nothing now, or began after the bound was set, so
-- that nothing of the period is theirs): what one may read later (a
-- group joined) is not told as new. Accounts without a notification
-- state keep no mark: they have had nothing to be told. Then the next
-- period is scheduled, and the event digest.sent counts the mails of
-- all the batches.
CREATE OR REPLACE FUNCTION platform.digest_send(t bigint, cadence text) RETURNS jsonb
LANGUAGE plpgsql AS $$
DECLARE
    batch int := platform.digest_batch();
    run record;
    upto bigint;
    after bigint := 0::bigint;
    n int := 0;
    people bigint[];
    more boolean;
    base text;
    p bigint;
    ids bigint[];
    r record;
    body text;
    html text;
    it record;
    at timestamptz := statement_timestamp();
BEGIN
    SELECT d.upto, d.done_until, d.mailed INTO run
      FROM digest_runs d WHERE d.tenant_id = t AND d.cadence = digest_send.cadence FOR UPDATE;
    IF FOUND THEN
        upto := run.upto;
        after := run.done_until;
        n := run.mailed;
    ELSE
        SELECT max(a.id) INTO upto FROM activity a WHERE a.tenant_id = t;
        IF upto IS NULL THEN
            PERFORM platform.job_schedule(t, 'digest.' || cadence, 0, platform.digest_next(t, cadence));
            RETURN jsonb_build_array(jsonb_build_object('name', 'digest.sent',
                                     'data', jsonb_build_object('cadence', cadence, 'mailed', 0)));
        END IF;
        INSERT INTO digest_runs (tenant_id, cadence, upto, done_until, mailed, started_at, updated_at)
        VALUES (t, cadence, upto, 0, 0, at, at);
    END IF;

    -- The batch, and one more to know whether people remain. Each side
    -- reads its first distinct accounts in order (follows_key,
    -- table_members_account), however many the tenant has.
    people := ARRAY(
        SELECT q.account_id
          FROM ((SELECT DISTINCT f.account_id FROM follows f
                  WHERE f.tenant_id = t AND f.account_id > after ORDER BY f.account_id LIMIT batch + 1)
                UNION
                (SELECT DISTINCT m.account_id FROM table_members m
                  WHERE m.tenant_id = t AND m.account_id > after ORDER BY m.account_id LIMIT batch + 1)) q
         ORDER BY q.account_id LIMIT batch + 1);
    more := cardinality(people) > batch;
    people := people[1:batch];

    base := platform.site_base(t);
    FOREACH p IN ARRAY people LOOP
        ids := ARRAY(SELECT w.activity_id
                       FROM api.notification_rows(t, p, NULL, ARRAY['contribution'], ARRAY[cadence], NULL, cadence,
                                                  upto, NULL) w
                      ORDER BY w.activity_id);
        CONTINUE WHEN cardinality(ids) = 0;
        SELECT * INTO r FROM platform.notification_recipient(t, p);
        body := CASE WHEN r.lang = 'en' THEN format(E'New at the tables you follow (%s):\n\n', cardinality(ids))
                     ELSE format(E'Nieuw bij de tafels die u volgt (%s):\n\n', cardinality(ids)) END;
        html := '';
        FOR it IN
            SELECT a.kind, a.title, a.summary, a.url, x.title AS table_title, g.name AS group_name
              FROM activity a
              JOIN tables x ON x.tenant_id = t AND x.id = a.table_id
              LEFT JOIN groups g ON g.tenant_id = t AND g.id = a.group_id
             WHERE a.tenant_id = t AND a.id = ANY (ids)
             ORDER BY x.title, a.table_id, a.id
        LOOP
            body := body || platform.notification_line(r.lang, it.kind, it.table_title, it.group_name, it.title,
                                                       it.summary, coalesce(base, '') || it.url) || E'\n';
            html := html || platform.notification_line_html(r.lang, it.kind, it.table_title, it.group_name, it.title,
                                                            it.summary, coalesce(base, '') || it.url);
        END LOOP;
        IF platform.notification_mail(t, r.email, r.mail, r.lang, r.token, base,
               CASE WHEN cadence = 'daily' AND r.lang = 'en' THEN 'Your daily digest: '
                    WHEN r.lang = 'en' THEN 'Your weekly digest: '
                    WHEN cadence = 'daily' THEN 'Uw dagelijkse overzicht: '
                    ELSE 'Uw wekelijkse overzicht: ' END
               || cardinality(ids) || CASE WHEN r.lang = 'en' THEN ' new' ELSE ' nieuw' END,
               body,
               format('<p>%s</p><ul style="padding-left: 1.2em">%s</ul>',
                      CASE WHEN r.lang = 'en' THEN format('New at the tables you follow (%s):', cardinality(ids))
                           ELSE format('Nieuw bij de tafels die u volgt (%s):', cardinality(ids)) END, html)) THEN
            n := n + 1;
        END IF;
    END LOOP;

    -- The marks: the batch's people's, or with the last batch everyone's.
    UPDATE notification_state y
       SET daily_until = CASE WHEN digest_send.cadence = 'daily' THEN upto ELSE y.daily_until END,
           weekly_until = CASE WHEN digest_send.cadence = 'weekly' THEN upto ELSE y.weekly_until END,
           updated_at = at
     WHERE y.tenant_id = t AND (NOT more OR y.account_id = ANY (people))
       AND CASE WHEN digest_send.cadence = 'daily' THEN y.daily_until ELSE y.weekly_until END < upto;

    IF more THEN
        -- A scalar: Citus 13.2 crashes on an array subscript in an
        -- UPDATE's SET.
        after := people[batch];
        UPDATE digest_runs d SET done_until = after, mailed = n, updated_at = at
         WHERE d.tenant_id = t AND d.cadence = digest_send.cadence;
        PERFORM platform.job_schedule(t, 'digest.' || cadence, 0, at);
        RETURN '[]'::jsonb;
    END IF;
    DELETE FROM digest_runs d WHERE d.tenant_id = t AND d.cadence = digest_send.cadence;
    PERFORM platform.job_schedule(t, 'digest.' || cadence, 0, platform.digest_next(t, cadence));
    RETURN jsonb_build_array(jsonb_build_object('name', 'digest.sent',
                                                'data', jsonb_build_object('cadence', cadence, 'mailed', n)));
END $$;

-- digest.daily, digest.weekly (subject 0): the tenant's digests.
CREATE OR REPLACE FUNCTION platform.job_digest_daily(t bigint, subject bigint) RETURNS jsonb
LANGUAGE plpgsql AS $$
BEGIN
    RETURN platform.digest_send(t, 'daily');
END $$;

CREATE OR REPLACE FUNCTION platform.job_digest_weekly(t bigint, subject bigint) RETURNS jsonb
LANGUAGE plpgsql AS $$
BEGIN
    RETURN platform.digest_send(t, 'weekly');
END $$;

-- ---------------------------------------------------------------- moments

-- Meeting MID's moment KIND (meeting.planned, .changed, .cancelled) by
-- ACTOR, told to its table's (or group's) followers.
CREATE OR REPLACE FUNCTION api.meeting_activity(t bigint, mid bigint, kind text, actor bigint) RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
    m record;
BEGIN
    SELECT y.table_id, y.group_id, y.title, y.starts_at INTO m FROM meetings y WHERE y.tenant_id = t AND y.id = mid;
    IF FOUND THEN
        PERFORM platform.activity_add(t, kind, m.table_id, m.group_id, NULL, actor, m.title,
                                      api.meeting_when(m.starts_at, 'nl'), '/bijeenkomsten/' || mid);
    END IF;
END $$;

-- Decision DID's moment KIND (decision.opened, .closed) by ACTOR (NULL:
-- closed at its time), told to its table's (or group's) followers.
CREATE OR REPLACE FUNCTION api.decision_activity(t bigint, did bigint, kind text, actor bigint) RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
    d record;
BEGIN
    SELECT y.table_id, y.group_id, y.title, y.proposal INTO d FROM decisions y WHERE y.tenant_id = t AND y.id = did;
    IF FOUND THEN
        PERFORM platform.activity_add(t, kind, d.table_id, d.group_id, NULL, actor, d.title, d.proposal,
                                      '/besluiten/' || did);
    END IF;
END $$;
