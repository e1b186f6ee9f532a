-- Who sees what, decided here and nowhere else (DESIGN.md, "Who uses it,
-- and what each may see"):
--
-- * a public table is readable by everyone; a closed table only by its
--   people; tenant admins stand as facilitators of every table;
-- * a table's facilitators (and admins) read everything in it, closed
--   groups included, and moderate it;
-- * a closed group shows its name and purpose to whoever reads the table;
--   its content only to its members and the table's facilitators;
-- * what a viewer may not read answers 404, never 403, in every list,
--   page, search and feed (api.search applies the same rules to many rows
--   at once; tests/integration/test_visibility.py is the contract).
--
-- Every operation on one table, group or contribution starts with
-- api.find_table, api.find_group or api.find_contribution: the thing the
-- arguments name, the viewer's standing there and the refusal, if any.

-- ---------------------------------------------------------------- standing

-- The viewer's standing at table X (of visibility VISIBILITY):
-- 'facilitator', 'client', 'member', 'guest' (reads a public table without
-- being one of its people), or NULL (the table is not there for them: 404).
CREATE OR REPLACE FUNCTION api.table_standing(t bigint, viewer bigint, roles text, x bigint, visibility text)
RETURNS text LANGUAGE plpgsql STABLE AS $$
BEGIN
    IF x IS NULL THEN
        RETURN NULL;
    END IF;
    IF viewer IS NOT NULL AND api.has_role(roles, 'admin') THEN
        RETURN 'facilitator';
    END IF;
    RETURN coalesce(CASE WHEN viewer IS NOT NULL THEN
                        (SELECT m.role FROM table_members m
                          WHERE m.tenant_id = t AND m.table_id = x AND m.account_id = viewer) END,
                    CASE WHEN visibility = 'public' THEN 'guest' END);
END $$;

-- The viewer's standing in group G (of visibility VISIBILITY), given their
-- standing at its table: 'manage' (the table's facilitators), 'member',
-- 'read' (a public group's content, not joined), 'outside' (a closed
-- group: name and purpose only), or NULL.
CREATE OR REPLACE FUNCTION api.group_standing(t bigint, viewer bigint, tstanding text, g bigint, visibility text)
RETURNS text LANGUAGE plpgsql STABLE AS $$
BEGIN
    IF tstanding IS NULL OR g IS NULL THEN
        RETURN NULL;
    END IF;
    IF tstanding = 'facilitator' THEN
        RETURN 'manage';
    END IF;
    IF viewer IS NOT NULL AND EXISTS (SELECT 1 FROM group_members m
                                       WHERE m.tenant_id = t AND m.group_id = g AND m.account_id = viewer) THEN
        RETURN 'member';
    END IF;
    RETURN CASE WHEN visibility = 'public' THEN 'read' ELSE 'outside' END;
END $$;

-- What refuses an operation to a viewer of STANDING (NULL: the thing is
-- not there for them) when it needs one of NEED ('{}': anyone signed in;
-- NULL: anyone who may read): 404, 401 or 403 with MESSAGE; NULL when it
-- is allowed.
CREATE OR REPLACE FUNCTION api.refusal(standing text, viewer bigint, need text[],
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

-- ---------------------------------------------------------------- finding

-- The table that A's KEY names, as the viewer finds it: its row (all NULL
-- when there is none), their STANDING there, and REFUSED, the answer that
-- refuses an operation needing one of NEED (api.refusal), or NULL.
CREATE OR REPLACE FUNCTION api.find_table(t bigint, viewer bigint, roles text, a jsonb, need text[],
                                          message text DEFAULT 'You may not do this.', key text DEFAULT 'id',
                                          OUT x tables, OUT standing text, OUT refused jsonb)
LANGUAGE plpgsql STABLE AS $$
BEGIN
    SELECT * INTO x FROM tables y WHERE y.tenant_id = t AND y.id = api.id_arg(a, key);
    standing := api.table_standing(t, viewer, roles, x.id, x.visibility);
    refused := api.refusal(standing, viewer, need, message);
END $$;

-- The group that A's KEY names, and its table, as the viewer finds them:
-- STANDING is theirs in the group (api.group_standing), REFUSED as above.
CREATE OR REPLACE FUNCTION api.find_group(t bigint, viewer bigint, roles text, a jsonb, need text[],
                                          message text DEFAULT 'You may not do this.', key text DEFAULT 'id',
                                          OUT g groups, OUT x tables, OUT standing text, OUT refused jsonb)
LANGUAGE plpgsql STABLE AS $$
BEGIN
    SELECT * INTO g FROM groups y WHERE y.tenant_id = t AND y.id = api.id_arg(a, key);
    IF g.id IS NOT NULL THEN
        SELECT * INTO x FROM tables y WHERE y.tenant_id = t AND y.id = g.table_id;
    END IF;
    standing := api.group_standing(t, viewer, api.table_standing(t, viewer, roles, x.id, x.visibility),
                                   g.id, g.visibility);
    refused := api.refusal(standing, viewer, need, message);
END $$;

-- Contribution CID when the viewer may read it (all NULL otherwise), with
-- their STANDING at its table (NULL when they may not read it) and REFUSED
-- as above.
CREATE OR REPLACE FUNCTION api.find_contribution(t bigint, viewer bigint, roles text, cid bigint, need text[],
                                                 message text DEFAULT 'You may not do this.',
                                                 OUT c contributions, OUT standing text, OUT refused jsonb)
LANGUAGE plpgsql STABLE AS $$
DECLARE
    tvisibility text;
    gvisibility text;
BEGIN
    SELECT * INTO c FROM contributions q WHERE q.tenant_id = t AND q.id = cid;
    IF c.id IS NOT NULL THEN
        SELECT y.visibility INTO tvisibility FROM tables y WHERE y.tenant_id = t AND y.id = c.table_id;
        standing := api.table_standing(t, viewer, roles, c.table_id, tvisibility);
        IF standing IS NOT NULL AND c.group_id IS NOT NULL THEN
            SELECT y.visibility INTO gvisibility FROM groups y WHERE y.tenant_id = t AND y.id = c.group_id;
            IF api.group_standing(t, viewer, standing, c.group_id, gvisibility) NOT IN ('manage', 'member', 'read') THEN
                standing := NULL;
            END IF;
        END IF;
    END IF;
    IF standing IS NULL THEN
        c := NULL;
    END IF;
    refused := api.refusal(standing, viewer, need, message);
END $$;

-- Where a contribution list or a new contribution lives: the table (no
-- group) or one of its groups, and what the viewer may do there. Answers
-- (table, group, standing at the table, standing in the group or NULL).
CREATE OR REPLACE FUNCTION api.place(t bigint, viewer bigint, roles text, a jsonb,
                                     OUT x tables, OUT g groups, OUT ts text, OUT gs text)
LANGUAGE plpgsql STABLE AS $$
BEGIN
    IF a ? 'group_id' AND a -> 'group_id' <> 'null'::jsonb THEN
        SELECT * INTO g FROM groups y WHERE y.tenant_id = t AND y.id = api.id_arg(a, 'group_id');
        SELECT * INTO x FROM tables y WHERE y.tenant_id = t AND y.id = g.table_id;
        IF a ? 'table_id' AND x.id IS DISTINCT FROM api.id_arg(a, 'table_id') THEN
            x := NULL;
        END IF;
    ELSE
        SELECT * INTO x FROM tables y WHERE y.tenant_id = t AND y.id = api.id_arg(a, 'table_id');
    END IF;
    ts := api.table_standing(t, viewer, roles, x.id, x.visibility);
    gs := CASE WHEN g.id IS NOT NULL THEN api.group_standing(t, viewer, ts, g.id, g.visibility) END;
END $$;

-- ---------------------------------------------------------------- workflows

-- Whether a viewer of STANDING at a table reads what is visible to LEVEL,
-- a step type's record kind's `visible` (docs/plugins.md): its
-- 'facilitators', its 'client' (and facilitators), its 'people' (all its
-- people), or its 'readers' (whoever reads the table). An unknown or
-- missing level is the facilitators'.
CREATE OR REPLACE FUNCTION api.level_visible(standing text, level text) RETURNS boolean
LANGUAGE sql IMMUTABLE AS $$
    SELECT standing IS NOT NULL AND CASE coalesce(level, 'facilitators')
        WHEN 'readers' THEN true
        WHEN 'people' THEN standing IN ('facilitator', 'client', 'member')
        WHEN 'client' THEN standing IN ('facilitator', 'client')
        ELSE standing = 'facilitator' END
$$;

-- The record kinds of a step (its snapshot's {kind: {visible, fields}})
-- that a viewer of STANDING reads.
CREATE OR REPLACE FUNCTION api.visible_kinds(standing text, kinds jsonb) RETURNS jsonb
LANGUAGE sql IMMUTABLE AS $$
    SELECT coalesce(jsonb_object_agg(k.key, k.value) FILTER (WHERE api.level_visible(standing, k.value ->> 'visible')),
                    '{}'::jsonb)
      FROM jsonb_each(CASE WHEN jsonb_typeof(kinds) = 'object' THEN kinds ELSE '{}'::jsonb END) k
$$;

-- Who reads a table's step history: its facilitators and its client.
CREATE OR REPLACE FUNCTION api.history_readers() RETURNS text[]
LANGUAGE sql IMMUTABLE AS $$
    SELECT ARRAY['facilitator', 'client']
$$;
