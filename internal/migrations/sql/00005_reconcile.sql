-- Reconciliation: the bank statements imported, their lines, the matches
-- that explain them, the postings those matches owe the ledger, and the
-- exceptions controllers resolve. Same rules as before: UUID or natural
-- keys, BIGINT counts, DECIMAL(19,2) money, no foreign keys.

-- +goose NO TRANSACTION
-- Each statement commits on its own and may run again: CockroachDB applies
-- schema changes outside transactions, so a migration stopped part-way is
-- finished by running it again.
-- +goose Up
-- A statement file is imported once (by its SHA-256).
CREATE TABLE IF NOT EXISTS statement_files (
    sha256       TEXT PRIMARY KEY,
    format       TEXT NOT NULL,
    bytes        BIGINT NOT NULL,
    statements   BIGINT NOT NULL DEFAULT 0,
    lines        BIGINT NOT NULL DEFAULT 0,
    status       TEXT NOT NULL CHECK (status IN ('importing', 'imported')),
    imported_by  TEXT NOT NULL,
    imported_at  TIMESTAMPTZ NOT NULL
);

-- A statement is imported once, by account, statement id and sequence
-- number. It is 'importing' while its lines are written: nothing reads it
-- until the whole file was read and checked.
CREATE TABLE IF NOT EXISTS statements (
    id            UUID PRIMARY KEY,
    account       TEXT NOT NULL,
    stmt_id       TEXT NOT NULL,
    sequence      BIGINT NOT NULL,
    file_sha256   TEXT NOT NULL,
    format        TEXT NOT NULL,
    currency      TEXT NOT NULL,
    stmt_date     DATE NOT NULL,
    opening       DECIMAL(19, 2) NOT NULL,
    closing       DECIMAL(19, 2) NOT NULL,
    entries       BIGINT NOT NULL DEFAULT 0,
    status        TEXT NOT NULL CHECK (status IN ('importing', 'imported')),
    imported_at   TIMESTAMPTZ NOT NULL,
    UNIQUE (account, stmt_id, sequence)
);
CREATE INDEX IF NOT EXISTS statements_date_idx ON statements (account, stmt_date);

-- The lines of a statement, in their order. match_status says what
-- explains a line: a match (by which rule), a suspense booking, or nothing
-- yet ('unmatched', with an exception).
CREATE TABLE IF NOT EXISTS statement_lines (
    statement_id   UUID NOT NULL,
    idx            BIGINT NOT NULL,
    amount         DECIMAL(19, 2) NOT NULL CHECK (amount >= 0),
    direction      TEXT NOT NULL CHECK (direction IN ('DBIT', 'CRDT')),
    status         TEXT NOT NULL,
    booking_date   DATE NOT NULL,
    value_date     DATE,
    bank_ref       TEXT NOT NULL DEFAULT '',
    bank_code      TEXT NOT NULL DEFAULT '', -- domain/family/subfamily, or the CFONB operation code
    end_to_end_id  TEXT NOT NULL DEFAULT '',
    pmt_inf_id     TEXT NOT NULL DEFAULT '',
    msg_id         TEXT NOT NULL DEFAULT '',
    batch_count    BIGINT NOT NULL DEFAULT 0,
    batch_total    DECIMAL(19, 2),
    return_reason  TEXT NOT NULL DEFAULT '',
    counterparty_name TEXT NOT NULL DEFAULT '',
    counterparty_iban TEXT NOT NULL DEFAULT '',
    label          TEXT NOT NULL DEFAULT '',
    match_status   TEXT NOT NULL DEFAULT 'unmatched' CHECK (match_status IN ('unmatched', 'matched', 'ignored')),
    rule           TEXT NOT NULL DEFAULT '',
    match_id       UUID,
    PRIMARY KEY (statement_id, idx)
);

-- A match explains a statement line: its rule, the payment(s) it books
-- or returns, who made it. Matches by EndToEndId are made while the lines
-- are imported and kept in payment_bookings; every other match, and a
-- match by EndToEndId once undone, has a row here. Undoing one posts its
-- reversal and keeps the row, marked undone.
CREATE TABLE IF NOT EXISTS recon_matches (
    id             UUID PRIMARY KEY,
    statement_id   UUID NOT NULL,
    idx            BIGINT NOT NULL,
    rule           TEXT NOT NULL CHECK (rule IN ('end_to_end', 'batch', 'return', 'suggestion', 'manual', 'fee', 'suspense')),
    amount         DECIMAL(19, 2) NOT NULL,
    payment_line   TEXT NOT NULL DEFAULT '', -- the one payment; '' for a batch (recon_match_payments), a fee or suspense
    matched_by     TEXT NOT NULL,
    matched_at     TIMESTAMPTZ NOT NULL,
    reason         TEXT NOT NULL DEFAULT '',
    undone_by      TEXT NOT NULL DEFAULT '',
    undone_at      TIMESTAMPTZ,
    undo_reason    TEXT NOT NULL DEFAULT ''
);
CREATE INDEX IF NOT EXISTS recon_matches_payment_idx ON recon_matches (payment_line) WHERE payment_line <> '';

-- The payments of a match of several (a batch booking, a match by hand).
CREATE TABLE IF NOT EXISTS recon_match_payments (
    match_id       UUID NOT NULL,
    line_id        TEXT NOT NULL,
    amount         DECIMAL(19, 2) NOT NULL,
    PRIMARY KEY (match_id, line_id)
);
CREATE INDEX IF NOT EXISTS recon_match_payments_line_idx ON recon_match_payments (line_id);

-- The payments booked on a statement, each once, by the match that booked
-- it and on which line: written by COPY while a statement is imported (a
-- narrow table costs a tenth of an update of line_payments and its
-- indexes). A match by EndToEndId (rule 1) is this row and its statement
-- line alone, with no row in recon_matches until it is undone.
CREATE TABLE IF NOT EXISTS payment_bookings (
    line_id        TEXT PRIMARY KEY,
    match_id       UUID NOT NULL,
    statement_id   UUID NOT NULL,
    idx            BIGINT NOT NULL
);

-- A paid line returned by the bank, by the match of the return.
ALTER TABLE line_payments ADD COLUMN IF NOT EXISTS returned_by UUID;

-- The postings the matches owe the ledger: written with the matches, posted
-- after their commit (an outbox), each once by its key.
CREATE TABLE IF NOT EXISTS recon_postings (
    key            TEXT PRIMARY KEY,
    effective_date DATE NOT NULL,
    description    TEXT NOT NULL,
    source_ref     TEXT NOT NULL,
    statement_id   UUID NOT NULL,
    lines          JSONB NOT NULL,
    status         TEXT NOT NULL CHECK (status IN ('pending', 'posted')),
    entry_id       UUID,
    created_at     TIMESTAMPTZ NOT NULL
);
CREATE INDEX IF NOT EXISTS recon_postings_pending_idx ON recon_postings (status, created_at);

-- What controllers resolve: statement lines nothing explains, amounts that
-- differ, duplicates, suggestions to confirm, returns, payments in transit
-- for too long.
CREATE TABLE IF NOT EXISTS recon_exceptions (
    id             UUID PRIMARY KEY,
    kind           TEXT NOT NULL CHECK (kind IN ('unmatched', 'amount_mismatch', 'duplicate', 'ambiguous', 'suggestion',
                       'returned', 'in_transit_too_long')),
    statement_id   UUID NOT NULL DEFAULT '00000000-0000-0000-0000-000000000000', -- none: a payment's exception
    idx            BIGINT NOT NULL DEFAULT -1,
    payment_line   TEXT NOT NULL DEFAULT '',
    amount         DECIMAL(19, 2) NOT NULL,
    reason         TEXT NOT NULL,
    owner          TEXT NOT NULL DEFAULT '',
    status         TEXT NOT NULL CHECK (status IN ('open', 'resolved', 'closed')),
    resolution     TEXT NOT NULL DEFAULT '',
    resolved_by    TEXT NOT NULL DEFAULT '',
    created_at     TIMESTAMPTZ NOT NULL,
    updated_at     TIMESTAMPTZ NOT NULL,
    UNIQUE (kind, statement_id, idx, payment_line)
);
CREATE INDEX IF NOT EXISTS recon_exceptions_status_idx ON recon_exceptions (status, created_at);

-- +goose Down
DROP TABLE IF EXISTS recon_exceptions;
DROP TABLE IF EXISTS recon_postings;
ALTER TABLE line_payments DROP COLUMN IF EXISTS returned_by;
DROP TABLE IF EXISTS payment_bookings;
DROP TABLE IF EXISTS recon_match_payments;
DROP TABLE IF EXISTS recon_matches;
DROP TABLE IF EXISTS statement_lines;
DROP TABLE IF EXISTS statements;
DROP TABLE IF EXISTS statement_files;
