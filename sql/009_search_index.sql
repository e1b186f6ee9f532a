-- Search: a GIN index on the text alone. The composite (tenant_id, search)
-- indexes of 007 were not chosen by the planner (one tenant's key has a
-- posting list as long as its rows); with the tenant filter explicit in
-- api.search the rows of the index scan are filtered by tenant, and under
-- row-level security the match can use the index where ts_match_vq is
-- marked leakproof (packaging/pg.sh does; docs/operations.md).
DROP INDEX contributions_search;
DROP INDEX tables_search;
CREATE INDEX contributions_search ON contributions USING gin (search);
CREATE INDEX tables_search ON tables USING gin (search);
