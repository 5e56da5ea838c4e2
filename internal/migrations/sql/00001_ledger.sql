-- The double-entry ledger. Kept inside what both CockroachDB and PostgreSQL
-- accept: natural or UUID keys, BIGINT counters, DECIMAL(19,2) money, no
-- sequences, triggers, advisory locks or stored procedures.

-- +goose NO TRANSACTION
-- Each statement commits on its own and may run again: CockroachDB applies
-- schema changes outside transactions, so a migration stopped part-way is
-- finished by running it again.
-- +goose Up
CREATE TABLE IF NOT EXISTS accounts (
    code           TEXT PRIMARY KEY,
    name           TEXT NOT NULL,
    type           TEXT NOT NULL CHECK (type IN ('asset', 'liability', 'equity', 'income', 'expense')),
    currency       TEXT NOT NULL CHECK (length(currency) = 3),
    normal_side    TEXT NOT NULL CHECK (normal_side IN ('debit', 'credit')),
    parent_code    TEXT,
    sub_ledger     BOOLEAN NOT NULL DEFAULT false,
    balance_shards BIGINT NOT NULL DEFAULT 1 CHECK (balance_shards BETWEEN 1 AND 64),
    metadata       JSONB NOT NULL DEFAULT '{}',
    created_at     TIMESTAMPTZ NOT NULL DEFAULT now()
);

-- An account's balance is the sum of its shard rows; a hot account has
-- several so that concurrent postings rarely touch the same row.
--
-- Neither this table nor accounts.parent_code carries a foreign key: the
-- store checks accounts before writing, verify proves the links, and on
-- PostgreSQL a per-row check planned while the table was small turns a
-- monthly run's account creation quadratic.
CREATE TABLE IF NOT EXISTS account_balances (
    account_code TEXT NOT NULL,
    shard        BIGINT NOT NULL,
    balance      DECIMAL(19, 2) NOT NULL,
    postings     BIGINT NOT NULL,
    PRIMARY KEY (account_code, shard)
);

CREATE TABLE IF NOT EXISTS entries (
    id              UUID PRIMARY KEY,
    idempotency_key TEXT NOT NULL,
    kind            TEXT NOT NULL CHECK (kind IN ('standard', 'reversal', 'bulk')),
    status          TEXT NOT NULL CHECK (status IN ('open', 'posted')),
    effective_date  DATE NOT NULL,
    posted_at       TIMESTAMPTZ NOT NULL,
    description     TEXT NOT NULL,
    source_ref      TEXT NOT NULL DEFAULT '',
    metadata        JSONB NOT NULL DEFAULT '{}',
    reverses        UUID REFERENCES entries (id),
    contra          TEXT NOT NULL DEFAULT '',
    header_hash     BYTEA NOT NULL,
    line_count      BIGINT NOT NULL DEFAULT 0,
    chunk_count     BIGINT NOT NULL DEFAULT 0,
    content_hash    BYTEA,
    entry_hash      BYTEA,
    seal_seq        BIGINT,
    CONSTRAINT entries_idempotency_key_key UNIQUE (idempotency_key)
);
-- An entry is reversed at most once. Partial, so that the many entries that
-- reverse nothing cost no index row.
CREATE UNIQUE INDEX IF NOT EXISTS entries_reverses_key ON entries (reverses) WHERE reverses IS NOT NULL;
CREATE INDEX IF NOT EXISTS entries_seal_idx ON entries (seal_seq, posted_at, id);

-- A chunk is a balanced run of an entry's lines written in one transaction;
-- a small entry has one.
CREATE TABLE IF NOT EXISTS entry_chunks (
    entry_id   UUID NOT NULL REFERENCES entries (id),
    chunk      BIGINT NOT NULL,
    first_line BIGINT NOT NULL,
    line_count BIGINT NOT NULL,
    hash       BYTEA NOT NULL,
    PRIMARY KEY (entry_id, chunk)
);

-- Postings carry no foreign keys: they are written only by the ledger store,
-- which checks accounts and entries first, and verify proves both links.
-- Per-row foreign key checks would double the cost of bulk posting.
CREATE TABLE IF NOT EXISTS postings (
    entry_id       UUID NOT NULL,
    line           BIGINT NOT NULL,
    account_code   TEXT NOT NULL,
    amount         DECIMAL(19, 2) NOT NULL CHECK (amount <> 0),
    currency       TEXT NOT NULL,
    effective_date DATE NOT NULL,
    posted_at      TIMESTAMPTZ NOT NULL,
    memo           TEXT NOT NULL DEFAULT '',
    PRIMARY KEY (entry_id, line)
);
CREATE INDEX IF NOT EXISTS postings_account_idx ON postings (account_code, effective_date, posted_at, entry_id, line);

CREATE TABLE IF NOT EXISTS seals (
    seq         BIGINT PRIMARY KEY,
    sealed_at   TIMESTAMPTZ NOT NULL,
    prev_hash   BYTEA NOT NULL,
    hash        BYTEA NOT NULL,
    entry_count BIGINT NOT NULL,
    reason      TEXT NOT NULL DEFAULT ''
);

-- One row: the last seal. Sealers update it first, so they take turns.
CREATE TABLE IF NOT EXISTS seal_head (
    id   BIGINT PRIMARY KEY CHECK (id = 1),
    seq  BIGINT NOT NULL,
    hash BYTEA NOT NULL
);
INSERT INTO seal_head (id, seq, hash) VALUES (1, 0, '\x') ON CONFLICT (id) DO NOTHING;

-- +goose Down
DROP TABLE IF EXISTS seal_head;
DROP TABLE IF EXISTS seals;
DROP TABLE IF EXISTS postings;
DROP TABLE IF EXISTS entry_chunks;
DROP TABLE IF EXISTS entries;
DROP TABLE IF EXISTS account_balances;
DROP TABLE IF EXISTS accounts;
