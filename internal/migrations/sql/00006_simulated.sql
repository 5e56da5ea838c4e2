-- What went to, or came from, the embedded bank simulator of dev mode
-- rather than a bank: a payment file sent to it paid nobody, and a
-- statement fetched from it booked nothing at a bank. Both are marked, so
-- that no one takes them for the real thing. The rows written before this
-- migration read as not simulated: nothing recorded then where they went.

-- +goose Up
ALTER TABLE payment_files ADD COLUMN simulated BOOL NOT NULL DEFAULT false;
ALTER TABLE statements ADD COLUMN simulated BOOL NOT NULL DEFAULT false;

-- +goose Down
ALTER TABLE statements DROP COLUMN simulated;
ALTER TABLE payment_files DROP COLUMN simulated;
