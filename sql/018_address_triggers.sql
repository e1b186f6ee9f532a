-- The addresses an account has had and those it asked for are kept by one
-- trigger function each (sql/code/accounts.sql): one function on two
-- tables named columns that only one of them has, which no checker of
-- PL/pgSQL can pass. The function of account_tokens' trigger is made here
-- as it must be before the trigger can name it; `aantafel migrate` then
-- applies sql/code, which holds the live definition.
CREATE FUNCTION platform.account_address_asked() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO account_addresses (tenant_id, account_id, email) VALUES (NEW.tenant_id, NEW.account_id, NEW.new_email)
    ON CONFLICT (tenant_id, account_id, email) DO NOTHING;
    RETURN NULL;
END $$;

DROP TRIGGER account_tokens_address ON account_tokens;
CREATE TRIGGER account_tokens_address AFTER INSERT ON account_tokens
    FOR EACH ROW WHEN (NEW.new_email IS NOT NULL) EXECUTE FUNCTION platform.account_address_asked();
