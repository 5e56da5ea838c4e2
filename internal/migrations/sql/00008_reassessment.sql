-- What each computation of a beneficiary's period was made from, so that a
-- period already paid is computed again whenever a fact covering one of
-- its days arrives after it was last computed, whatever runs came in
-- between; and the overpayments a run finds, kept with its batch until the
-- batch is approved. Same rules as before: no foreign keys, DECIMAL(19,2)
-- money, BIGINT counts, nothing CockroachDB or PostgreSQL lacks.
--
-- facts_seen is how many of the beneficiary's ADA facts taking effect on or
-- before the last day of the period the computation read (facts are only
-- ever added: a larger count means a fact arrived since); due is what the
-- period came to then. A record holds while what the period is taken to
-- have been paid is that due. Rows written before this migration have
-- neither, and fall back on the time of the period's approved run.

-- +goose NO TRANSACTION
-- Each statement commits on its own and may run again (see 00001).
-- +goose Up
ALTER TABLE batch_lines ADD COLUMN IF NOT EXISTS facts_seen BIGINT;
ALTER TABLE period_payments ADD COLUMN IF NOT EXISTS facts_seen BIGINT;
ALTER TABLE period_payments ADD COLUMN IF NOT EXISTS due DECIMAL(19, 2);

-- The batch whose approval established an overpayment a run found (null for
-- the overpayments of the eligibility topic).
ALTER TABLE overpayments ADD COLUMN IF NOT EXISTS batch_id UUID;

-- The overpayments a run found, established when its batch is approved.
-- basis is what had been paid for the period when it was found: the
-- approval refuses an overpayment whose basis is no longer what is paid.
CREATE TABLE IF NOT EXISTS batch_overpayments (
    batch_id       UUID NOT NULL,
    overpayment_id TEXT NOT NULL,
    beneficiary_id TEXT NOT NULL,
    period         TEXT NOT NULL CHECK (length(period) = 7),
    amount         DECIMAL(19, 2) NOT NULL CHECK (amount > 0),
    basis          DECIMAL(19, 2) NOT NULL,
    facts_seen     BIGINT NOT NULL,
    reason         TEXT NOT NULL DEFAULT '',
    PRIMARY KEY (batch_id, overpayment_id)
);

-- A period computed again and found to come to what was paid for it: the
-- latest such computation per beneficiary and period.
CREATE TABLE IF NOT EXISTS period_checks (
    beneficiary_id TEXT NOT NULL,
    period         TEXT NOT NULL CHECK (length(period) = 7),
    facts_seen     BIGINT NOT NULL,
    due            DECIMAL(19, 2) NOT NULL,
    checked_at     TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (beneficiary_id, period)
);

-- +goose Down
DROP TABLE IF EXISTS period_checks;
DROP TABLE IF EXISTS batch_overpayments;
ALTER TABLE overpayments DROP COLUMN IF EXISTS batch_id;
ALTER TABLE period_payments DROP COLUMN IF EXISTS due;
ALTER TABLE period_payments DROP COLUMN IF EXISTS facts_seen;
ALTER TABLE batch_lines DROP COLUMN IF EXISTS facts_seen;
