-- The FEC export reads the entries of a period in the order of their
-- effective date, by keyset pages: this index makes each page a range
-- read, however many entries the ledger holds. Entries are few beside
-- postings, so the index costs the posting of an entry next to nothing.

-- +goose NO TRANSACTION
-- +goose Up
CREATE INDEX IF NOT EXISTS entries_effective_idx ON entries (effective_date, posted_at, id);

-- +goose Down
DROP INDEX IF EXISTS entries_effective_idx;
