-- Accounts, their roles, sessions, single-use tokens (e-mail verification,
-- password reset, e-mail change), API tokens and sign-in rate limits. All
-- tenant tables: an account belongs to one municipality, and a session
-- cookie of one tenant means nothing on another's host.
--
-- Secrets are never stored: session, API and single-use tokens are kept as
-- SHA-256 hashes of 256-bit random values; passwords as scrypt hashes that
-- carry their own parameters.

CREATE TABLE accounts (
    tenant_id       bigint NOT NULL REFERENCES platform.tenants (id) ON DELETE CASCADE,
    id              bigint GENERATED ALWAYS AS IDENTITY,
    email           text CHECK (email = lower(email) AND length(email) BETWEEN 3 AND 254),
    display_name    text NOT NULL CHECK (length(display_name) BETWEEN 1 AND 100),
    password_hash   text,
    email_verified_at timestamptz,
    created_at      timestamptz NOT NULL DEFAULT now(),
    deleted_at      timestamptz,            -- anonymised: email and hash gone, name "voormalig deelnemer"
    PRIMARY KEY (tenant_id, id),
    UNIQUE (tenant_id, email)
);
SELECT platform.make_tenant_table('accounts');

CREATE TABLE account_roles (
    tenant_id   bigint NOT NULL,
    account_id  bigint NOT NULL,
    role        text NOT NULL CHECK (role IN ('admin', 'facilitator', 'member')),
    granted_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, account_id, role),
    FOREIGN KEY (tenant_id, account_id) REFERENCES accounts (tenant_id, id) ON DELETE CASCADE
);
SELECT platform.make_tenant_table('account_roles');

CREATE TABLE sessions (
    tenant_id   bigint NOT NULL,
    token_hash  bytea NOT NULL CHECK (length(token_hash) = 32),
    account_id  bigint NOT NULL,
    csrf_token  text NOT NULL CHECK (length(csrf_token) = 43),
    created_at  timestamptz NOT NULL DEFAULT now(),
    last_seen_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, token_hash),
    FOREIGN KEY (tenant_id, account_id) REFERENCES accounts (tenant_id, id) ON DELETE CASCADE
);
CREATE INDEX sessions_account ON sessions (tenant_id, account_id);
SELECT platform.make_tenant_table('sessions');

CREATE TABLE account_tokens (
    tenant_id   bigint NOT NULL,
    token_hash  bytea NOT NULL CHECK (length(token_hash) = 32),
    account_id  bigint NOT NULL,
    purpose     text NOT NULL CHECK (purpose IN ('verify', 'reset', 'email')),
    new_email   text CHECK (new_email = lower(new_email)),
    expires_at  timestamptz NOT NULL,
    used_at     timestamptz,
    PRIMARY KEY (tenant_id, token_hash),
    FOREIGN KEY (tenant_id, account_id) REFERENCES accounts (tenant_id, id) ON DELETE CASCADE
);
CREATE INDEX account_tokens_account ON account_tokens (tenant_id, account_id);
SELECT platform.make_tenant_table('account_tokens');

CREATE TABLE api_tokens (
    tenant_id   bigint NOT NULL,
    id          bigint GENERATED ALWAYS AS IDENTITY,
    account_id  bigint NOT NULL,
    name        text NOT NULL CHECK (length(name) BETWEEN 1 AND 100),
    token_hash  bytea NOT NULL CHECK (length(token_hash) = 32),
    created_at  timestamptz NOT NULL DEFAULT now(),
    last_used_at timestamptz,
    revoked_at  timestamptz,
    PRIMARY KEY (tenant_id, id),
    UNIQUE (tenant_id, token_hash),
    FOREIGN KEY (tenant_id, account_id) REFERENCES accounts (tenant_id, id) ON DELETE CASCADE
);
SELECT platform.make_tenant_table('api_tokens');

-- Failed sign-ins counted per window, keyed by account or client address
-- ("a:42", "ip:192.0.2.1"): limits apply before any hashing.
CREATE TABLE signin_limits (
    tenant_id   bigint NOT NULL,
    key         text NOT NULL CHECK (length(key) BETWEEN 1 AND 100),
    window_start timestamptz NOT NULL,
    failures    int NOT NULL DEFAULT 0,
    PRIMARY KEY (tenant_id, key)
);
SELECT platform.make_tenant_table('signin_limits');
