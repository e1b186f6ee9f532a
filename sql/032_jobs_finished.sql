-- Finished jobs (done or cancelled) are kept a while for `aantafel jobs
-- list` and a look after the fact, then removed by platform.job_run
-- (sql/code/jobs.sql): this finds the oldest of a tenant's quickly.
CREATE INDEX jobs_finished ON jobs (tenant_id, done_at) WHERE state IN ('done', 'cancelled');
