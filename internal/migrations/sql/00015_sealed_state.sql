-- What a seal proved, so that verify can start from the last seal instead
-- of from the first posting: the postings it covers, a digest of the
-- balances of every account over all sealed entries and a hash chaining
-- that state to the previous seal's; the sealed balances themselves, which
-- each seal updates for the accounts its entries touch.

-- +goose NO TRANSACTION
-- +goose Up
ALTER TABLE seals ADD COLUMN IF NOT EXISTS posting_count BIGINT;
ALTER TABLE seals ADD COLUMN IF NOT EXISTS balances_hash BYTEA;
ALTER TABLE seals ADD COLUMN IF NOT EXISTS state_hash BYTEA;
ALTER TABLE seal_head ADD COLUMN IF NOT EXISTS state_hash BYTEA NOT NULL DEFAULT '\x';

-- The balance and posting count of each account, per currency, over the
-- postings of the entries sealed so far.
CREATE TABLE IF NOT EXISTS sealed_balances (
    account_code TEXT NOT NULL,
    currency     TEXT NOT NULL,
    balance      DECIMAL(19, 2) NOT NULL,
    postings     BIGINT NOT NULL,
    seal_seq     BIGINT NOT NULL,
    PRIMARY KEY (account_code, currency)
);

-- Entries sealed before this migration: their balances start the table,
-- and the next seal records their digest.
INSERT INTO sealed_balances (account_code, currency, balance, postings, seal_seq)
SELECT p.account_code, p.currency, sum(p.amount), count(*), max(e.seal_seq)
FROM postings p JOIN entries e ON e.id = p.entry_id
WHERE e.seal_seq IS NOT NULL
GROUP BY p.account_code, p.currency
ON CONFLICT (account_code, currency) DO NOTHING;

-- +goose Down
DROP TABLE IF EXISTS sealed_balances;
ALTER TABLE seal_head DROP COLUMN IF EXISTS state_hash;
ALTER TABLE seals DROP COLUMN IF EXISTS state_hash;
ALTER TABLE seals DROP COLUMN IF EXISTS balances_hash;
ALTER TABLE seals DROP COLUMN IF EXISTS posting_count;
