-- Every write to what a guest's page can show notifies "aantafel_data"
-- with the tenant's id; the daemons' listeners bump that tenant's data
-- generation and their caches of guests' reads drop what is older
-- (core/datagen.h, core/apicache.h). PostgreSQL sends one notification per
-- distinct payload and transaction, at commit, and none for a rollback.
CREATE FUNCTION platform.notify_data() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('aantafel_data', (CASE WHEN TG_OP = 'DELETE' THEN OLD.tenant_id ELSE NEW.tenant_id END)::text);
    RETURN NULL;
END $$;

CREATE TRIGGER tables_data AFTER INSERT OR UPDATE OR DELETE ON tables
    FOR EACH ROW EXECUTE FUNCTION platform.notify_data();
CREATE TRIGGER table_members_data AFTER INSERT OR UPDATE OR DELETE ON table_members
    FOR EACH ROW EXECUTE FUNCTION platform.notify_data();
CREATE TRIGGER groups_data AFTER INSERT OR UPDATE OR DELETE ON groups
    FOR EACH ROW EXECUTE FUNCTION platform.notify_data();
CREATE TRIGGER group_members_data AFTER INSERT OR UPDATE OR DELETE ON group_members
    FOR EACH ROW EXECUTE FUNCTION platform.notify_data();
CREATE TRIGGER contributions_data AFTER INSERT OR UPDATE OR DELETE ON contributions
    FOR EACH ROW EXECUTE FUNCTION platform.notify_data();
-- Names show as authors; a deleted account becomes "voormalig deelnemer".
CREATE TRIGGER accounts_data AFTER UPDATE OF display_name, deleted_at OR DELETE ON accounts
    FOR EACH ROW EXECUTE FUNCTION platform.notify_data();
