-- Example content for `make demo`: Zutphen's first local tables, with
-- groups and a conversation, written once (when Zutphen has no table yet).
-- packaging/demo-seed.py runs it after making the demo's accounts, then
-- adds the tables on the method's workflows through the API.
-- Runs as the owner, inside Zutphen's row-level security. On one PostgreSQL
-- and on a Citus cluster alike: rows from outside the tenant's tables go in
-- with INSERT ... VALUES (Citus writes any other INSERT ... SELECT into a
-- distributed table with COPY, which row-level security refuses, unless
-- it is one tenant table's rows into another, with the source's tenant_id).
BEGIN;
SELECT platform.enter_tenant(id::text) FROM platform.tenants WHERE slug = 'zutphen' \gset

CREATE TEMP TABLE demo_people (email text, name text) ON COMMIT DROP;
INSERT INTO demo_people VALUES
    ('gespreksleider@zutphen.localhost', 'Fenna de Gespreksleider'),
    ('anna@zutphen.localhost', 'Anna Jansen'),
    ('mehmet@zutphen.localhost', 'Mehmet Yılmaz'),
    ('joke@zutphen.localhost', 'Joke van Dijk');

DO $$
DECLARE
    t bigint := current_setting('aantafel.tenant_id')::bigint;
    fac bigint;
    p bigint;
    c bigint;
    g bigint;
    who bigint;
    r record;
BEGIN
    IF EXISTS (SELECT 1 FROM tables WHERE tenant_id = t) THEN
        RETURN;
    END IF;
    FOR r IN SELECT d.email, d.name FROM demo_people d LOOP
        INSERT INTO accounts (tenant_id, email, display_name, email_verified_at)
        VALUES (t, r.email, r.name, now()) ON CONFLICT (tenant_id, email) DO NOTHING;
    END LOOP;
    SELECT id INTO fac FROM accounts WHERE tenant_id = t AND email = 'gespreksleider@zutphen.localhost';
    INSERT INTO account_roles (tenant_id, account_id, role)
    SELECT tenant_id, id, 'member' FROM accounts WHERE tenant_id = t AND email LIKE '%@zutphen.localhost'
    ON CONFLICT DO NOTHING;
    INSERT INTO account_roles (tenant_id, account_id, role) VALUES (t, fac, 'facilitator') ON CONFLICT DO NOTHING;

    INSERT INTO tables (tenant_id, title, question, description, description_html, visibility, created_by)
    VALUES (t, 'Buurthuis Hanzehof', 'Wat is ervoor nodig zodat de Hanzehof een buurthuis wordt?',
            'Het gebouw aan de Hanzehof staat leeg. Buurtbewoners, ondernemers en de gemeente praten samen over wat er nodig is.',
            '<p>Het gebouw aan de Hanzehof staat leeg. Buurtbewoners, ondernemers en de gemeente praten samen over wat er nodig is.</p>' || chr(10),
            'public', fac) RETURNING id INTO p;
    INSERT INTO table_members (tenant_id, table_id, account_id, role)
    SELECT tenant_id, p, id, CASE WHEN id = fac THEN 'facilitator' ELSE 'member' END
      FROM accounts WHERE tenant_id = t AND email LIKE '%@zutphen.localhost';
    INSERT INTO groups (tenant_id, table_id, name, purpose, visibility)
    VALUES (t, p, 'Jongeren', 'Wat willen jongeren in het buurthuis?', 'public') RETURNING id INTO g;
    INSERT INTO groups (tenant_id, table_id, name, purpose, visibility)
    VALUES (t, p, 'Omwonenden', 'Voor de bewoners van de Hanzehof zelf: geluid, parkeren, openingstijden.', 'closed');
    FOR r IN SELECT x.email, x.body
               FROM (VALUES ('anna@zutphen.localhost', 'Een vaste beheerder, anders wordt het niemands huis.', 1),
                            ('mehmet@zutphen.localhost', 'Een koffiehoek die elke ochtend open is, ook voor wie alleen woont.', 2),
                            ('joke@zutphen.localhost', 'Afspraken over geluid met de buren, vóór de eerste feestavond.', 3)) x(email, body, n)
              ORDER BY x.n LOOP
        SELECT a.id INTO who FROM accounts a WHERE a.tenant_id = t AND a.email = r.email;
        INSERT INTO contributions (tenant_id, table_id, author_id, body, body_html)
        VALUES (t, p, who, r.body, '<p>' || r.body || '</p>' || chr(10));
    END LOOP;
    SELECT min(id) INTO c FROM contributions WHERE tenant_id = t AND table_id = p;
    INSERT INTO contributions (tenant_id, table_id, parent_id, author_id, body, body_html)
    VALUES (t, p, c, fac, 'Wie zou die beheerder kunnen zijn? Iemand uit de buurt?', '<p>Wie zou die beheerder kunnen zijn? Iemand uit de buurt?</p>' || chr(10));
    INSERT INTO contributions (tenant_id, table_id, recorded_by, author_name, body, body_html)
    VALUES (t, p, fac, NULL, 'Aan tafel gezegd: de bibliotheek wil er een uitleenpunt.', '<p>Aan tafel gezegd: de bibliotheek wil er een uitleenpunt.</p>' || chr(10));
    SELECT a.id INTO who FROM accounts a WHERE a.tenant_id = t AND a.email = 'mehmet@zutphen.localhost';
    INSERT INTO contributions (tenant_id, table_id, group_id, author_id, body, body_html)
    VALUES (t, p, g, who, 'Een plek om te gamen en huiswerk te maken, met goede wifi.', '<p>Een plek om te gamen en huiswerk te maken, met goede wifi.</p>' || chr(10));

    INSERT INTO tables (tenant_id, title, question, description, description_html, visibility, created_by)
    VALUES (t, 'Mantelzorg in de Waterkwartier', 'Wat is ervoor nodig zodat mantelzorgers er niet alleen voor staan?',
            'Een besloten tafel: alleen wie is uitgenodigd leest mee.', '<p>Een besloten tafel: alleen wie is uitgenodigd leest mee.</p>' || chr(10),
            'closed', fac) RETURNING id INTO p;
    INSERT INTO table_members (tenant_id, table_id, account_id, role) VALUES (t, p, fac, 'facilitator');
END $$;
COMMIT;
