-- The amendments of the appropriation of each scheme and fiscal year:
-- recorded by one person, confirmed by another. A confirmed amendment is
-- posted to the budget's memorandum accounts (payments/budget.go); the
-- row keeps who did what, the ledger keeps the amounts.

-- +goose NO TRANSACTION
-- +goose Up
CREATE TABLE IF NOT EXISTS budget_amendments (
    id           UUID PRIMARY KEY,
    scheme       TEXT NOT NULL CHECK (scheme IN ('ada', 'return', 'reinsertion', 'business_creation')),
    fiscal_year  INT NOT NULL CHECK (fiscal_year BETWEEN 2000 AND 2200),
    kind         TEXT NOT NULL CHECK (kind IN ('initial', 'supplementary', 'transfer_in', 'transfer_out')),
    amount       DECIMAL(19, 2) NOT NULL CHECK (amount > 0),
    reference    TEXT NOT NULL CHECK (reference <> ''),
    reason       TEXT NOT NULL CHECK (reason <> ''),
    status       TEXT NOT NULL CHECK (status IN ('recorded', 'confirmed')),
    recorded_by  TEXT NOT NULL,
    recorded_at  TIMESTAMPTZ NOT NULL,
    confirmed_by TEXT,
    confirmed_at TIMESTAMPTZ,
    entry_id     UUID
);
CREATE INDEX IF NOT EXISTS budget_amendments_year_idx ON budget_amendments (fiscal_year, scheme, recorded_at);

-- What the last approval of a batch committed per scheme, the entry that
-- committed it, and the entries that later spent or gave it back.
CREATE TABLE IF NOT EXISTS budget_commitments (
    batch_id     UUID NOT NULL,
    scheme       TEXT NOT NULL,
    fiscal_year  INT NOT NULL,
    amount       DECIMAL(19, 2) NOT NULL,
    entry_id     UUID NOT NULL,
    spent_entry  UUID,
    released_entry UUID,
    committed_at TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (batch_id, scheme)
);

-- +goose Down
DROP TABLE IF EXISTS budget_commitments;
DROP TABLE IF EXISTS budget_amendments;
