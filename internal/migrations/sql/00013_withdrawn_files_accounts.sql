-- A batch left 'releasing' can be cancelled for what it did not send: its
-- files not yet at the bank become 'withdrawn', kept for the record (a
-- MsgId is unique forever). The check of 00004 on file statuses is
-- replaced by a named one: PostgreSQL named it payment_files_status_check,
-- CockroachDB check_status; both spellings are dropped when they exist.
--
-- The service may hold several accounts at the bank, each with its ledger
-- account: a statement keeps the ledger account its postings go to. Those
-- imported before were all of the one account, bank:main.

-- +goose NO TRANSACTION
-- Each statement commits on its own and may run again (see 00001).
-- +goose Up
ALTER TABLE payment_files DROP CONSTRAINT IF EXISTS payment_files_status_check;
ALTER TABLE payment_files DROP CONSTRAINT IF EXISTS check_status;
ALTER TABLE payment_files DROP CONSTRAINT IF EXISTS payment_files_status_valid;
ALTER TABLE payment_files ADD CONSTRAINT payment_files_status_valid CHECK (status IN ('building', 'queued', 'sent', 'accepted',
    'partly_rejected', 'refused', 'withdrawn'));
ALTER TABLE statements ADD COLUMN IF NOT EXISTS ledger_account TEXT NOT NULL DEFAULT 'bank:main';

-- +goose Down
ALTER TABLE statements DROP COLUMN IF EXISTS ledger_account;
ALTER TABLE payment_files DROP CONSTRAINT IF EXISTS payment_files_status_valid;
-- The files withdrawn stay, and stay allowed: no other status tells them.
ALTER TABLE payment_files ADD CONSTRAINT payment_files_status_check CHECK (status IN ('building', 'queued', 'sent', 'accepted',
    'partly_rejected', 'refused', 'withdrawn'));
