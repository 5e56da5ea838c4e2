-- What went to, or came from, the embedded bank simulator of dev mode
-- rather than a bank: a payment file sent to it paid nobody, and a
-- statement fetched from it booked nothing at a bank. Both are marked, so
-- that no one takes them for the real thing. The rows written before this
-- migration read as not simulated: nothing recorded then where they went.

-- +goose NO TRANSACTION
-- Each statement commits on its own and may run again (see 00001).
-- +goose Up
ALTER TABLE payment_files ADD COLUMN IF NOT EXISTS simulated BOOL NOT NULL DEFAULT false;
ALTER TABLE statements ADD COLUMN IF NOT EXISTS simulated BOOL NOT NULL DEFAULT false;

-- +goose Down
ALTER TABLE statements DROP COLUMN IF EXISTS simulated;
ALTER TABLE payment_files DROP COLUMN IF EXISTS simulated;
