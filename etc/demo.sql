-- Example content for `make demo`: Zutphen's first local tables, with
-- groups and a conversation, written once (when Zutphen has no table yet).
-- Runs as the owner, inside Zutphen's row-level security.
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
BEGIN
    IF EXISTS (SELECT 1 FROM tables WHERE tenant_id = t) THEN
        RETURN;
    END IF;
    INSERT INTO accounts (tenant_id, email, display_name, email_verified_at)
    SELECT t, email, name, now() FROM demo_people ON CONFLICT (tenant_id, email) DO NOTHING;
    SELECT id INTO fac FROM accounts WHERE tenant_id = t AND email = 'gespreksleider@zutphen.localhost';
    INSERT INTO account_roles (tenant_id, account_id, role)
    SELECT t, id, 'member' FROM accounts WHERE tenant_id = t AND email LIKE '%@zutphen.localhost'
    ON CONFLICT DO NOTHING;
    INSERT INTO account_roles (tenant_id, account_id, role) VALUES (t, fac, 'facilitator') ON CONFLICT DO NOTHING;

    INSERT INTO tables (tenant_id, title, question, description, description_html, visibility, created_by)
    VALUES (t, 'Buurthuis Hanzehof', 'Wat is ervoor nodig zodat de Hanzehof een buurthuis wordt?',
            'Het gebouw aan de Hanzehof staat leeg. Buurtbewoners, ondernemers en de gemeente praten samen over wat er nodig is.',
            '<p>Het gebouw aan de Hanzehof staat leeg. Buurtbewoners, ondernemers en de gemeente praten samen over wat er nodig is.</p>' || chr(10),
            'public', fac) RETURNING id INTO p;
    INSERT INTO table_members (tenant_id, table_id, account_id, role)
    SELECT t, p, id, CASE WHEN id = fac THEN 'facilitator' ELSE 'member' END
      FROM accounts WHERE tenant_id = t AND email LIKE '%@zutphen.localhost';
    INSERT INTO groups (tenant_id, table_id, name, purpose, visibility)
    VALUES (t, p, 'Jongeren', 'Wat willen jongeren in het buurthuis?', 'public') RETURNING id INTO g;
    INSERT INTO groups (tenant_id, table_id, name, purpose, visibility)
    VALUES (t, p, 'Omwonenden', 'Voor de bewoners van de Hanzehof zelf: geluid, parkeren, openingstijden.', 'closed');
    INSERT INTO contributions (tenant_id, table_id, author_id, body, body_html)
    SELECT t, p, a.id, x.body, '<p>' || x.body || '</p>' || chr(10)
      FROM (VALUES ('anna@zutphen.localhost', 'Een vaste beheerder, anders wordt het niemands huis.', 1),
                   ('mehmet@zutphen.localhost', 'Een koffiehoek die elke ochtend open is, ook voor wie alleen woont.', 2),
                   ('joke@zutphen.localhost', 'Afspraken over geluid met de buren, vóór de eerste feestavond.', 3)) x(email, body, n)
      JOIN accounts a ON a.tenant_id = t AND a.email = x.email ORDER BY x.n;
    SELECT min(id) INTO c FROM contributions WHERE tenant_id = t AND table_id = p;
    INSERT INTO contributions (tenant_id, table_id, parent_id, author_id, body, body_html)
    SELECT t, p, c, fac, 'Wie zou die beheerder kunnen zijn? Iemand uit de buurt?', '<p>Wie zou die beheerder kunnen zijn? Iemand uit de buurt?</p>' || chr(10);
    INSERT INTO contributions (tenant_id, table_id, recorded_by, author_name, body, body_html)
    VALUES (t, p, fac, NULL, 'Aan tafel gezegd: de bibliotheek wil er een uitleenpunt.', '<p>Aan tafel gezegd: de bibliotheek wil er een uitleenpunt.</p>' || chr(10));
    INSERT INTO contributions (tenant_id, table_id, group_id, author_id, body, body_html)
    SELECT t, p, g, a.id, 'Een plek om te gamen en huiswerk te maken, met goede wifi.', '<p>Een plek om te gamen en huiswerk te maken, met goede wifi.</p>' || chr(10)
      FROM accounts a WHERE a.tenant_id = t AND a.email = 'mehmet@zutphen.localhost';

    INSERT INTO tables (tenant_id, title, question, description, description_html, visibility, created_by)
    VALUES (t, 'Mantelzorg in de Waterkwartier', 'Wat is ervoor nodig zodat mantelzorgers er niet alleen voor staan?',
            'Een besloten tafel: alleen wie is uitgenodigd leest mee.', '<p>Een besloten tafel: alleen wie is uitgenodigd leest mee.</p>' || chr(10),
            'closed', fac) RETURNING id INTO p;
    INSERT INTO table_members (tenant_id, table_id, account_id, role) VALUES (t, p, fac, 'facilitator');
END $$;
COMMIT;
