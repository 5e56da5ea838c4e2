-- Runs and batches: what each run computed, as the lines of a batch, and
-- what approval recorded as paid and recovered. Same rules as before:
-- UUID or natural keys, BIGINT counts, DECIMAL(19,2) money, no foreign
-- keys (the store checks references and writes lines in bulk), nothing
-- CockroachDB or PostgreSQL lacks.

-- +goose NO TRANSACTION
-- Each statement commits on its own and may run again: CockroachDB applies
-- schema changes outside transactions, so a migration stopped part-way is
-- finished by running it again.
-- +goose Up
-- One row per run. A running run proves it is alive by heartbeat_at, which
-- each chunk moves; a run whose heartbeat is older than the lease is taken
-- for interrupted and marked failed by the next run of its kind.
CREATE TABLE IF NOT EXISTS runs (
    id            UUID PRIMARY KEY,
    kind          TEXT NOT NULL CHECK (kind IN ('ada', 'grants')),
    period        TEXT NOT NULL CHECK (length(period) = 7), -- YYYY-MM
    run_day       DATE NOT NULL,
    status        TEXT NOT NULL CHECK (status IN ('running', 'done', 'failed')),
    trigger       TEXT NOT NULL CHECK (trigger IN ('staff', 'schedule')),
    started_by    TEXT NOT NULL,
    started_at    TIMESTAMPTZ NOT NULL,
    heartbeat_at  TIMESTAMPTZ NOT NULL,
    finished_at   TIMESTAMPTZ,
    batch_id      UUID NOT NULL,
    processed     BIGINT NOT NULL DEFAULT 0,
    lines         BIGINT NOT NULL DEFAULT 0,
    error         TEXT NOT NULL DEFAULT ''
);
-- One run of a kind at a time.
CREATE UNIQUE INDEX IF NOT EXISTS runs_one_running_idx ON runs (kind) WHERE status = 'running';
CREATE INDEX IF NOT EXISTS runs_started_idx ON runs (started_at DESC, id DESC);
CREATE INDEX IF NOT EXISTS runs_kind_period_idx ON runs (kind, period);

-- A batch is written by its run while 'building', and becomes the period's
-- draft only once complete, replacing the draft before it (whose lines are
-- then removed, a chunk at a time). At most one draft per kind and period.
CREATE TABLE IF NOT EXISTS batches (
    id            UUID PRIMARY KEY,
    run_id        UUID NOT NULL,
    kind          TEXT NOT NULL CHECK (kind IN ('ada', 'grants')),
    period        TEXT NOT NULL CHECK (length(period) = 7),
    status        TEXT NOT NULL CHECK (status IN ('building', 'draft', 'replaced', 'approving', 'unapproving', 'approved')),
    created_at    TIMESTAMPTZ NOT NULL,
    completed_at  TIMESTAMPTZ,
    approved_at   TIMESTAMPTZ,
    lines         BIGINT NOT NULL DEFAULT 0
);
CREATE UNIQUE INDEX IF NOT EXISTS batches_one_draft_idx ON batches (kind, period) WHERE status = 'draft';
CREATE INDEX IF NOT EXISTS batches_created_idx ON batches (created_at DESC, id DESC);
CREATE INDEX IF NOT EXISTS batches_kind_period_idx ON batches (kind, period, status);

-- The totals of a complete batch, per scheme.
CREATE TABLE IF NOT EXISTS batch_totals (
    batch_id      UUID NOT NULL,
    scheme        TEXT NOT NULL,
    lines         BIGINT NOT NULL,
    gross         DECIMAL(19, 2) NOT NULL,
    deduction     DECIMAL(19, 2) NOT NULL,
    net           DECIMAL(19, 2) NOT NULL,
    PRIMARY KEY (batch_id, scheme)
);

-- The lines of a batch, kept together by the key. id is the EndToEndId the
-- bank sees, unique across batches. basis is what had been paid for the
-- period when the line was computed: approval refuses a line whose basis
-- is no longer what has been paid.
CREATE TABLE IF NOT EXISTS batch_lines (
    batch_id       UUID NOT NULL,
    id             TEXT NOT NULL CHECK (length(id) <= 35),
    scheme         TEXT NOT NULL CHECK (scheme IN ('ada', 'return', 'reinsertion', 'business_creation')),
    kind           TEXT NOT NULL CHECK (kind IN ('monthly', 'adjustment', 'lump_sum', 'tranche')),
    beneficiary_id TEXT NOT NULL,
    period         TEXT NOT NULL CHECK (length(period) = 7),
    ref            TEXT NOT NULL DEFAULT '',
    gross          DECIMAL(19, 2) NOT NULL CHECK (gross >= 0),
    deduction      DECIMAL(19, 2) NOT NULL CHECK (deduction >= 0),
    net            DECIMAL(19, 2) NOT NULL CHECK (net >= 0),
    basis          DECIMAL(19, 2) NOT NULL DEFAULT 0,
    deductions     JSONB NOT NULL DEFAULT '[]',
    payee_name     TEXT NOT NULL DEFAULT '',
    payee_iban     TEXT NOT NULL DEFAULT '',
    payee_bic      TEXT NOT NULL DEFAULT '',
    explanation    JSONB NOT NULL,
    PRIMARY KEY (batch_id, id),
    CONSTRAINT batch_lines_net_is_gross_less_deduction CHECK (net = gross - deduction)
);
CREATE UNIQUE INDEX IF NOT EXISTS batch_lines_id_idx ON batch_lines (id);
-- A batch pays a beneficiary's ADA of one month at most once.
CREATE UNIQUE INDEX IF NOT EXISTS batch_lines_one_ada_idx ON batch_lines (batch_id, beneficiary_id, period) WHERE scheme = 'ada';
-- Grant lines by grant or tranche: a grant is batched once.
CREATE INDEX IF NOT EXISTS batch_lines_ref_idx ON batch_lines (scheme, ref);

-- What has been paid gross per beneficiary, scheme and period: one row per
-- approved line (source_id is the line's id), and one negative row per
-- overpayment a run established for the period (source_id is the
-- overpayment's id, batch_id is null), so that the sum is what the period
-- is taken to have been paid.
CREATE TABLE IF NOT EXISTS period_payments (
    beneficiary_id TEXT NOT NULL,
    scheme         TEXT NOT NULL,
    period         TEXT NOT NULL CHECK (length(period) = 7),
    source_id      TEXT NOT NULL,
    batch_id       UUID,
    ref            TEXT NOT NULL DEFAULT '',
    gross          DECIMAL(19, 2) NOT NULL,
    recorded_at    TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (beneficiary_id, scheme, period, source_id)
);
CREATE INDEX IF NOT EXISTS period_payments_batch_idx ON period_payments (batch_id);

-- What approved lines withheld against each overpayment.
CREATE TABLE IF NOT EXISTS recoveries (
    overpayment_id TEXT NOT NULL,
    line_id        TEXT NOT NULL,
    beneficiary_id TEXT NOT NULL,
    batch_id       UUID NOT NULL,
    amount         DECIMAL(19, 2) NOT NULL CHECK (amount > 0),
    recorded_at    TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (overpayment_id, line_id)
);
CREATE INDEX IF NOT EXISTS recoveries_beneficiary_idx ON recoveries (beneficiary_id);
CREATE INDEX IF NOT EXISTS recoveries_batch_idx ON recoveries (batch_id);

-- +goose Down
DROP TABLE IF EXISTS recoveries;
DROP TABLE IF EXISTS period_payments;
DROP TABLE IF EXISTS batch_lines;
DROP TABLE IF EXISTS batch_totals;
DROP TABLE IF EXISTS batches;
DROP TABLE IF EXISTS runs;
