-- The composite (tenant_id, search) indexes that needed btree_gin are gone
-- (sql/009); so is the extension.
DROP EXTENSION IF EXISTS btree_gin;
