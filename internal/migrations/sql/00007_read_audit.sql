-- Who read what: the audit trail also records every read of a
-- beneficiary's file through the API (the timeline, the days, the lines
-- and exceptions that pay them, the dead letters of their events), one row
-- per beneficiary shown, with the fields shown in full (an IBAN to the
-- roles that pay). beneficiary_id is NULL on the rows that concern no one
-- beneficiary; the partial index finds one person's rows, newest or oldest
-- first, without reading the rest of the trail. Each statement stands
-- alone (CockroachDB indexes a column once the column exists), and each may
-- run again after a migration cut short.

-- +goose NO TRANSACTION
-- +goose Up
ALTER TABLE audit_events ADD COLUMN IF NOT EXISTS beneficiary_id TEXT;
ALTER TABLE audit_events ADD COLUMN IF NOT EXISTS fields_in_full TEXT NOT NULL DEFAULT '';
CREATE INDEX IF NOT EXISTS audit_events_beneficiary_idx ON audit_events (beneficiary_id, at, id) WHERE beneficiary_id IS NOT NULL;

-- +goose Down
DROP INDEX IF EXISTS audit_events_beneficiary_idx;
ALTER TABLE audit_events DROP COLUMN IF EXISTS fields_in_full;
ALTER TABLE audit_events DROP COLUMN IF EXISTS beneficiary_id;
