-- Search in the records a table's steps keep (019): the text of a
-- record's text and Markdown fields, as its kind declares them in the
-- table's snapshot, in PostgreSQL's dutch configuration. The column is
-- written with the record (api.record_create, api.record_update; a move
-- to another definition writes it again), so it is no generated column:
-- which fields are text is the snapshot's to say. api.search reads it
-- with the GIN index, the tenant filter explicit (as 009).
ALTER TABLE records ADD COLUMN search tsvector;
CREATE INDEX records_search ON records USING gin (search);

-- The records kept so far, tenant by tenant (row-level security is forced).
DO $$
DECLARE
    tid bigint;
BEGIN
    FOR tid IN SELECT id FROM platform.tenants ORDER BY id LOOP
        EXECUTE format('SET LOCAL aantafel.tenant_id = %L', tid);
        UPDATE records r SET search = to_tsvector('dutch', coalesce((
            SELECT string_agg(e.value #>> '{}', ' ' ORDER BY e.key)
              FROM table_steps s, jsonb_each(r.fields) e
             WHERE s.tenant_id = tid AND s.table_id = r.table_id AND s.step_id = r.step_id
               AND jsonb_typeof(e.value) = 'string'
               AND s.records -> r.kind -> 'fields' -> e.key ->> 'type' IN ('text', 'markdown')), ''))
         WHERE r.tenant_id = tid;
    END LOOP;
    SET LOCAL aantafel.tenant_id = '';
END $$;
