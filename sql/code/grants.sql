-- Who may call what. `aantafel migrate` applies this file after every
-- other file of sql/code, once it has taken every privilege on the
-- functions of the schemas api and platform away from everyone but their
-- owner: what is granted here is all there is, and nothing is executable
-- by PUBLIC. Trigger functions need no grant (a trigger runs its function
-- whoever fires it), nor does platform.make_tenant_table, which only the
-- migrations call. The functions of the provider's commands
-- (provider.sql) are the owner's alone: none is granted here.

-- The daemon's role calls every operation of the API, and the operations
-- call the helpers of the schema as the caller.
GRANT EXECUTE ON ALL FUNCTIONS IN SCHEMA api TO aantafel_app;

-- What the daemon calls in schema platform (and what those call in turn:
-- account_erase and api.account_export read account_addresses_of, the
-- store's writes lock with plugin_store_lock).
GRANT EXECUTE ON FUNCTION
    platform.enter_tenant(text, text),
    platform.tenant_lock(bigint, boolean),
    platform.visit_tenant(text),
    platform.commit_marks(bigint),
    platform.in_citus_task(),
    platform.plugin_store_put(bigint, text, text, jsonb, bigint),
    platform.plugin_store_get(bigint, text, text),
    platform.plugin_store_list(bigint, text, text, int, boolean),
    platform.plugin_store_delete(bigint, text, text, bigint),
    platform.bundle_head(bigint, int),
    platform.bundle_files_of(bigint, int),
    platform.bundle_rollback_current(int),
    platform.bundle_versions_json(),
    platform.bundle_upload_store(bigint, text, bigint, text[], bytea[], boolean),
    platform.bundle_version_state(int),
    platform.bundle_publish_current(int, bigint),
    platform.bundle_delete_draft(int),
    platform.bundle_preview_find(bigint, text, text, bigint, bigint, boolean),
    platform.bundle_quota_over(text, bigint),
    platform.tenant_default_lang_set(text),
    platform.plugin_store_lock(bigint),
    platform.enqueue_mail(bigint, text, text, text, text, text, text),
    platform.mail_claim(int, bigint[]),
    platform.mail_sent(bigint, bigint),
    platform.mail_retry(bigint, bigint, text, int),
    platform.mail_release(bigint, bigint),
    platform.mail_requeue_stale(interval, int),
    platform.address_key(text),
    platform.attempt(bigint, text[], int[]),
    platform.attempt_good(bigint, text[], text[]),
    platform.account_addresses_of(bigint, bigint),
    platform.account_erase(bigint, bigint),
    platform.reset_link(bigint, text, text, int),
    platform.verify_link(bigint, text, text),
    platform.email_link(bigint, bigint, text, text),
    platform.job_schedule(bigint, text, bigint, timestamptz),
    platform.job_cancel(bigint, text, bigint),
    platform.job_next_at(bigint[]),
    platform.job_claim(text, interval, int, int, bigint[]),
    platform.job_dispatch(bigint, text, bigint),
    platform.job_run(bigint, bigint, text, text),
    platform.job_failed(bigint, bigint, text, text, text, int),
    platform.job_release(bigint, bigint, text, text),
    platform.job_decision_close(bigint, bigint),
    platform.job_meeting_remind(bigint, bigint),
    platform.activity_add(bigint, text, bigint, bigint, bigint, bigint, text, text, text),
    platform.site_base(bigint),
    platform.notification_recipient(bigint, bigint),
    platform.notification_mail(bigint, text, boolean, text, text, text, text, text, text),
    platform.notification_line(text, text, text, text, text, text, text),
    platform.notification_heading(text, text, text, text, text),
    platform.notification_line_html(text, text, text, text, text, text, text),
    platform.html_text(text),
    platform.job_notify_item(bigint, bigint),
    platform.digest_next(bigint, text),
    platform.digests_schedule(bigint),
    platform.digest_batch(),
    platform.digest_send(bigint, text),
    platform.job_digest_daily(bigint, bigint),
    platform.job_digest_weekly(bigint, bigint)
TO aantafel_app;
