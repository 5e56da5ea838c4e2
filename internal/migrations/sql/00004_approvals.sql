-- The approval workflow, the release of batches to the bank and what the
-- bank answers. Same rules as before: UUID or natural keys, BIGINT counts,
-- DECIMAL(19,2) money, no foreign keys, nothing CockroachDB or PostgreSQL
-- lacks. The checks of 00003 on batch statuses and kinds are replaced by
-- named ones: PostgreSQL named them <table>_<column>_check, CockroachDB
-- check_<column>; both spellings are dropped when they exist.

-- +goose NO TRANSACTION
-- Each statement commits on its own and may run again: CockroachDB applies
-- schema changes outside transactions, so a migration stopped part-way is
-- finished by running it again.
-- +goose Up
ALTER TABLE batches DROP CONSTRAINT IF EXISTS batches_status_check;
ALTER TABLE batches DROP CONSTRAINT IF EXISTS check_status;
ALTER TABLE batches DROP CONSTRAINT IF EXISTS batches_kind_check;
ALTER TABLE batches DROP CONSTRAINT IF EXISTS check_kind;
ALTER TABLE batches DROP CONSTRAINT IF EXISTS batches_status_valid;
ALTER TABLE batches ADD CONSTRAINT batches_status_valid CHECK (status IN ('building', 'draft', 'replaced',
    'pending_approval', 'approving', 'unapproving', 'approved', 'cancelling', 'cancelled', 'releasing', 'released',
    'settled', 'partly_rejected'));
ALTER TABLE batches DROP CONSTRAINT IF EXISTS batches_kind_valid;
ALTER TABLE batches ADD CONSTRAINT batches_kind_valid CHECK (kind IN ('ada', 'grants', 'reissue'));
ALTER TABLE batch_lines DROP CONSTRAINT IF EXISTS batch_lines_kind_check;
ALTER TABLE batch_lines DROP CONSTRAINT IF EXISTS check_kind;
ALTER TABLE batch_lines DROP CONSTRAINT IF EXISTS batch_lines_kind_valid;
ALTER TABLE batch_lines ADD CONSTRAINT batch_lines_kind_valid CHECK (kind IN ('monthly', 'adjustment', 'lump_sum', 'tranche', 'reissue'));

-- Who did what to a batch. computed_by is copied from its run when it is
-- submitted (a reissue batch: whoever made it); approvals_needed is fixed
-- at submission from the gross total.
ALTER TABLE batches ADD COLUMN IF NOT EXISTS computed_by TEXT NOT NULL DEFAULT '';
ALTER TABLE batches ADD COLUMN IF NOT EXISTS prepared_by TEXT NOT NULL DEFAULT '';
ALTER TABLE batches ADD COLUMN IF NOT EXISTS submitted_at TIMESTAMPTZ;
ALTER TABLE batches ADD COLUMN IF NOT EXISTS approvals_needed BIGINT NOT NULL DEFAULT 0;
ALTER TABLE batches ADD COLUMN IF NOT EXISTS released_by TEXT NOT NULL DEFAULT '';
ALTER TABLE batches ADD COLUMN IF NOT EXISTS released_at TIMESTAMPTZ;
ALTER TABLE batches ADD COLUMN IF NOT EXISTS execution_date DATE;
ALTER TABLE batches ADD COLUMN IF NOT EXISTS closed_at TIMESTAMPTZ;
ALTER TABLE batches ADD COLUMN IF NOT EXISTS reason TEXT NOT NULL DEFAULT '';

-- The approvals of a pending batch: one per person. They are removed when
-- the batch goes back to draft; the audit trail keeps them.
CREATE TABLE IF NOT EXISTS batch_approvals (
    batch_id     UUID NOT NULL,
    approver     TEXT NOT NULL,
    address      TEXT NOT NULL DEFAULT '',
    note         TEXT NOT NULL DEFAULT '',
    approved_at  TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (batch_id, approver)
);

-- The audit trail: rows are inserted, never updated or deleted, in the
-- transaction of the change they record.
CREATE TABLE IF NOT EXISTS audit_events (
    id           UUID PRIMARY KEY,
    at           TIMESTAMPTZ NOT NULL,
    actor        TEXT NOT NULL,
    roles        TEXT NOT NULL DEFAULT '',
    address      TEXT NOT NULL DEFAULT '',
    action       TEXT NOT NULL,
    object_kind  TEXT NOT NULL,
    object_id    TEXT NOT NULL,
    from_status  TEXT NOT NULL DEFAULT '',
    to_status    TEXT NOT NULL DEFAULT '',
    reason       TEXT NOT NULL DEFAULT '',
    details      JSONB NOT NULL DEFAULT '{}'
);
CREATE INDEX IF NOT EXISTS audit_events_at_idx ON audit_events (at, id);
CREATE INDEX IF NOT EXISTS audit_events_object_idx ON audit_events (object_id, at, id);
CREATE INDEX IF NOT EXISTS audit_events_actor_idx ON audit_events (actor, at, id);

-- The payment files of released batches, kept byte for byte before the
-- first attempt to send them: the outbox. A file is 'building' until its
-- release is posted in the ledger, then 'queued' until the bank has it.
-- msg_id is unique forever.
CREATE TABLE IF NOT EXISTS payment_files (
    msg_id          TEXT PRIMARY KEY CHECK (length(msg_id) <= 35),
    batch_id        UUID NOT NULL,
    part            BIGINT NOT NULL,
    format          TEXT NOT NULL,
    pmt_inf_id      TEXT NOT NULL,
    execution_date  DATE NOT NULL,
    transactions    BIGINT NOT NULL,
    ctrl_sum        DECIMAL(19, 2) NOT NULL,
    first_line      TEXT NOT NULL,
    last_line       TEXT NOT NULL,
    content         BYTEA NOT NULL,
    sha256          TEXT NOT NULL,
    status          TEXT NOT NULL CHECK (status IN ('building', 'queued', 'sent', 'accepted', 'partly_rejected', 'refused')),
    created_at      TIMESTAMPTZ NOT NULL,
    sent_at         TIMESTAMPTZ,
    attempts        BIGINT NOT NULL DEFAULT 0,
    next_attempt_at TIMESTAMPTZ,
    last_error      TEXT NOT NULL DEFAULT '',
    UNIQUE (batch_id, part)
);
CREATE INDEX IF NOT EXISTS payment_files_status_idx ON payment_files (status, next_attempt_at);

-- Where each paid line stands at the bank: sent in a file, then the status
-- the bank's reports gave it (they only move forward).
CREATE TABLE IF NOT EXISTS line_payments (
    line_id        TEXT PRIMARY KEY,
    batch_id       UUID NOT NULL,
    msg_id         TEXT NOT NULL,
    pmt_inf_id     TEXT NOT NULL,
    beneficiary_id TEXT NOT NULL,
    amount         DECIMAL(19, 2) NOT NULL CHECK (amount > 0),
    status         TEXT NOT NULL,
    reason         TEXT NOT NULL DEFAULT '',
    report_id      TEXT NOT NULL DEFAULT '', -- the report that rejected it
    updated_at     TIMESTAMPTZ NOT NULL
);
CREATE INDEX IF NOT EXISTS line_payments_msg_idx ON line_payments (msg_id, line_id);
CREATE INDEX IF NOT EXISTS line_payments_report_idx ON line_payments (report_id, line_id);

-- The status reports received, by their own MsgId and by content: a report
-- is applied once. 'posting' until its rejections are posted.
CREATE TABLE IF NOT EXISTS status_reports (
    msg_id          TEXT PRIMARY KEY,
    original_msg_id TEXT NOT NULL,
    sha256          TEXT NOT NULL UNIQUE,
    content         BYTEA NOT NULL,
    group_status    TEXT NOT NULL DEFAULT '',
    status          TEXT NOT NULL CHECK (status IN ('posting', 'applied')),
    accepted        BIGINT NOT NULL DEFAULT 0,
    rejected        BIGINT NOT NULL DEFAULT 0,
    unchanged       BIGINT NOT NULL DEFAULT 0,
    received_at     TIMESTAMPTZ NOT NULL,
    applied_at      TIMESTAMPTZ
);
CREATE INDEX IF NOT EXISTS status_reports_original_idx ON status_reports (original_msg_id);

-- Payments the bank rejected, for staff to correct and pay again.
CREATE TABLE IF NOT EXISTS payment_exceptions (
    id               UUID PRIMARY KEY,
    line_id          TEXT NOT NULL UNIQUE,
    batch_id         UUID NOT NULL,
    msg_id           TEXT NOT NULL,
    beneficiary_id   TEXT NOT NULL,
    scheme           TEXT NOT NULL,
    period           TEXT NOT NULL,
    amount           DECIMAL(19, 2) NOT NULL,
    reason_code      TEXT NOT NULL,
    status           TEXT NOT NULL CHECK (status IN ('open', 'corrected', 'reissued', 'closed')),
    payee_name       TEXT NOT NULL DEFAULT '',
    payee_iban       TEXT NOT NULL DEFAULT '',
    payee_bic        TEXT NOT NULL DEFAULT '',
    corrected_name   TEXT NOT NULL DEFAULT '',
    corrected_iban   TEXT NOT NULL DEFAULT '',
    corrected_bic    TEXT NOT NULL DEFAULT '',
    corrected_by     TEXT NOT NULL DEFAULT '',
    reissue_batch_id UUID,
    note             TEXT NOT NULL DEFAULT '',
    created_at       TIMESTAMPTZ NOT NULL,
    updated_at       TIMESTAMPTZ NOT NULL
);
CREATE INDEX IF NOT EXISTS payment_exceptions_status_idx ON payment_exceptions (status, id);
CREATE INDEX IF NOT EXISTS payment_exceptions_batch_idx ON payment_exceptions (batch_id);

-- Overpayments booked in the ledger as receivables, each once.
CREATE TABLE IF NOT EXISTS overpayment_bookings (
    overpayment_id TEXT PRIMARY KEY,
    entry_id       UUID NOT NULL,
    booked_at      TIMESTAMPTZ NOT NULL
);

-- +goose Down
DROP TABLE IF EXISTS overpayment_bookings;
DROP TABLE IF EXISTS payment_exceptions;
DROP TABLE IF EXISTS status_reports;
DROP TABLE IF EXISTS line_payments;
DROP TABLE IF EXISTS payment_files;
DROP TABLE IF EXISTS audit_events;
DROP TABLE IF EXISTS batch_approvals;
ALTER TABLE batches DROP COLUMN IF EXISTS reason;
ALTER TABLE batches DROP COLUMN IF EXISTS closed_at;
ALTER TABLE batches DROP COLUMN IF EXISTS execution_date;
ALTER TABLE batches DROP COLUMN IF EXISTS released_at;
ALTER TABLE batches DROP COLUMN IF EXISTS released_by;
ALTER TABLE batches DROP COLUMN IF EXISTS approvals_needed;
ALTER TABLE batches DROP COLUMN IF EXISTS submitted_at;
ALTER TABLE batches DROP COLUMN IF EXISTS prepared_by;
ALTER TABLE batches DROP COLUMN IF EXISTS computed_by;
ALTER TABLE batch_lines DROP CONSTRAINT IF EXISTS batch_lines_kind_valid;
ALTER TABLE batches DROP CONSTRAINT IF EXISTS batches_kind_valid;
ALTER TABLE batches DROP CONSTRAINT IF EXISTS batches_status_valid;
ALTER TABLE batch_lines ADD CONSTRAINT batch_lines_kind_check CHECK (kind IN ('monthly', 'adjustment', 'lump_sum', 'tranche'));
ALTER TABLE batches ADD CONSTRAINT batches_kind_check CHECK (kind IN ('ada', 'grants'));
ALTER TABLE batches ADD CONSTRAINT batches_status_check CHECK (status IN ('building', 'draft', 'replaced', 'approving', 'unapproving', 'approved'));
