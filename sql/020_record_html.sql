-- The Markdown fields of a workflow's records as safe HTML, rendered by
-- the daemon when a record is saved (cmark, as a table's description and
-- a contribution's body are): {field: html} for the fields the kind
-- declares `markdown`, in the record and in each of its versions.
-- Records kept before this migration have none; the pages show their
-- text escaped until it is saved again.
ALTER TABLE records ADD COLUMN fields_html jsonb NOT NULL DEFAULT '{}'
    CHECK (jsonb_typeof(fields_html) = 'object');
ALTER TABLE record_versions ADD COLUMN fields_html jsonb NOT NULL DEFAULT '{}'
    CHECK (jsonb_typeof(fields_html) = 'object');
