-- A run left running by a process that stopped may be cancelled by staff:
-- runs gain the status 'cancelled'. The check of 00003 on run statuses is
-- replaced by a named one: PostgreSQL named it runs_status_check,
-- CockroachDB check_status; both spellings are dropped when they exist.

-- +goose NO TRANSACTION
-- Each statement commits on its own and may run again (see 00001).
-- +goose Up
ALTER TABLE runs DROP CONSTRAINT IF EXISTS runs_status_check;
ALTER TABLE runs DROP CONSTRAINT IF EXISTS check_status;
ALTER TABLE runs DROP CONSTRAINT IF EXISTS runs_status_valid;
ALTER TABLE runs ADD CONSTRAINT runs_status_valid CHECK (status IN ('running', 'done', 'failed', 'cancelled'));

-- +goose Down
UPDATE runs SET status = 'failed' WHERE status = 'cancelled';
ALTER TABLE runs DROP CONSTRAINT IF EXISTS runs_status_valid;
ALTER TABLE runs ADD CONSTRAINT runs_status_check CHECK (status IN ('running', 'done', 'failed'));
