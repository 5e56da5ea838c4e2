-- Incremental matching: an import matches its own lines, and the lines left
-- unmatched are matched again only against the payments written or changed
-- since the last pass (line_payments.updated_at past the watermark).
-- match_pending marks a statement whose matching or postings did not finish
-- (a client that hung up, a process that stopped): ledgerd's bank pass, or
-- importing the file again, finishes it. The partial indexes find the
-- unmatched lines a payment may explain without reading the others.

-- +goose NO TRANSACTION
-- Each statement commits on its own and may run again (see 00001).
-- +goose Up
ALTER TABLE statements ADD COLUMN IF NOT EXISTS match_pending BOOL NOT NULL DEFAULT false;
CREATE INDEX IF NOT EXISTS statements_match_pending_idx ON statements (id) WHERE match_pending;
CREATE INDEX IF NOT EXISTS line_payments_updated_idx ON line_payments (updated_at, line_id);
CREATE INDEX IF NOT EXISTS statement_lines_open_e2e_idx ON statement_lines (end_to_end_id) WHERE match_status = 'unmatched';
CREATE INDEX IF NOT EXISTS statement_lines_open_pmtinf_idx ON statement_lines (pmt_inf_id) WHERE match_status = 'unmatched';
CREATE INDEX IF NOT EXISTS statement_lines_open_msg_idx ON statement_lines (msg_id) WHERE match_status = 'unmatched';
CREATE INDEX IF NOT EXISTS statement_lines_open_iban_idx ON statement_lines (counterparty_iban) WHERE match_status = 'unmatched';
CREATE INDEX IF NOT EXISTS recon_exceptions_line_idx ON recon_exceptions (statement_id, idx) WHERE status = 'open';
-- The watermark of the payments the unmatched lines were last matched
-- against; the first pass after this migration takes the payments of the
-- last day again, those before were matched by the imports of old.
CREATE TABLE IF NOT EXISTS recon_watermarks (
    name TEXT PRIMARY KEY,
    at   TIMESTAMPTZ NOT NULL
);
INSERT INTO recon_watermarks (name, at)
    SELECT 'payments', COALESCE(max(updated_at) - INTERVAL '1 day', TIMESTAMPTZ '1970-01-01 00:00:00+00') FROM line_payments
    ON CONFLICT (name) DO NOTHING;

-- +goose Down
DROP TABLE IF EXISTS recon_watermarks;
DROP INDEX IF EXISTS recon_exceptions_line_idx;
DROP INDEX IF EXISTS statement_lines_open_iban_idx;
DROP INDEX IF EXISTS statement_lines_open_msg_idx;
DROP INDEX IF EXISTS statement_lines_open_pmtinf_idx;
DROP INDEX IF EXISTS statement_lines_open_e2e_idx;
DROP INDEX IF EXISTS line_payments_updated_idx;
DROP INDEX IF EXISTS statements_match_pending_idx;
ALTER TABLE statements DROP COLUMN IF EXISTS match_pending;
