-- platform.bundle_preview_find answers the session's principal with the
-- preview it finds (sql/code/bundles.sql), so that a preview's page reads
-- its session once: its result changes, and so the function goes first.
DROP FUNCTION IF EXISTS platform.bundle_preview_find(bigint, text, text, bigint, bigint, boolean);
