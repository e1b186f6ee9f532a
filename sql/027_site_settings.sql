-- What a municipality's admins change on their site without a deploy
-- (docs/api.md, "Settings and pages"): the settings a communication
-- advisor edits (the welcome text, notices with an end date, the footer's
-- contact details, the default language, the accessibility statement) and
-- the content pages written in Markdown. The functions are
-- sql/code/site.sql.

-- One row per tenant, created by the first change.
CREATE TABLE site_settings (
    tenant_id       bigint PRIMARY KEY,
    welcome         text NOT NULL DEFAULT '' CHECK (length(welcome) <= 5000),
    welcome_html    text NOT NULL DEFAULT '',
    -- [{title, text, ends_at}, …]: at most 10, each shown until ends_at.
    notices         jsonb NOT NULL DEFAULT '[]' CHECK (jsonb_typeof(notices) = 'array'),
    -- {name, email, phone, address, url}: the footer's contact details.
    contact         jsonb NOT NULL DEFAULT '{}' CHECK (jsonb_typeof(contact) = 'object'),
    default_lang    text CHECK (default_lang IN ('nl', 'en')),
    -- The accessibility statement after the government's model: {status,
    -- date, scope, contact_email, contact_phone, issues: [{description, fix, planned}]}.
    accessibility   jsonb NOT NULL DEFAULT '{}' CHECK (jsonb_typeof(accessibility) = 'object'),
    updated_by      bigint,
    updated_at      timestamptz NOT NULL,
    FOREIGN KEY (tenant_id, updated_by) REFERENCES accounts (tenant_id, id)
);
CREATE INDEX site_settings_updated_by ON site_settings (tenant_id, updated_by);
SELECT platform.make_tenant_table('site_settings');

-- Content pages (/pagina/SLUG): about, the privacy statement, how taking
-- part works. menu_order NULL: not in the menu.
CREATE TABLE site_pages (
    tenant_id   bigint NOT NULL,
    slug        text NOT NULL CHECK (slug ~ '^[a-z0-9][a-z0-9-]{0,59}$'),
    title       text NOT NULL CHECK (length(title) BETWEEN 1 AND 200),
    body        text NOT NULL CHECK (length(body) <= 50000),
    body_html   text NOT NULL DEFAULT '',
    menu_order  int CHECK (menu_order BETWEEN 0 AND 99),
    updated_by  bigint,
    updated_at  timestamptz NOT NULL,
    PRIMARY KEY (tenant_id, slug),
    FOREIGN KEY (tenant_id, updated_by) REFERENCES accounts (tenant_id, id)
);
CREATE INDEX site_pages_updated_by ON site_pages (tenant_id, updated_by);
SELECT platform.make_tenant_table('site_pages');

-- Guests read both: a change moves the data generation on every daemon.
CREATE TRIGGER site_settings_data AFTER INSERT OR UPDATE OR DELETE ON site_settings
    FOR EACH ROW EXECUTE FUNCTION platform.notify_data();
CREATE TRIGGER site_pages_data AFTER INSERT OR UPDATE OR DELETE ON site_pages
    FOR EACH ROW EXECUTE FUNCTION platform.notify_data();
