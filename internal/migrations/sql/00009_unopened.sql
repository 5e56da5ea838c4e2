-- Facts before their opening: a beneficiary's changes, payees and
-- overpayments are kept even when its rights opening has not arrived yet
-- (a replay, a partition moved), and take effect once it has. Staff list
-- the beneficiaries that wait for an opening too long.
--
-- No transaction: CockroachDB does not let a statement use a column added
-- in the same transaction. Each statement may run again (see 00001).

-- +goose NO TRANSACTION
-- +goose Up
-- When the first fact waiting for a rights opening was applied; NULL once
-- the beneficiary has an opening, or while it has no such fact (a grant
-- alone waits for nothing).
ALTER TABLE beneficiaries ADD COLUMN IF NOT EXISTS unopened_since TIMESTAMPTZ;

UPDATE beneficiaries SET unopened_since = (
    SELECT min(e.applied_at) FROM events e
    WHERE e.beneficiary_id = beneficiaries.id
      AND e.type IN ('ada.household_changed', 'ada.accommodation_changed', 'ada.suspended', 'ada.resumed',
                     'ada.rights_closed', 'beneficiary.payee_changed', 'overpayment.established'))
WHERE NOT EXISTS (SELECT 1 FROM ada_facts f WHERE f.beneficiary_id = beneficiaries.id AND f.kind = 'opened');

CREATE INDEX IF NOT EXISTS beneficiaries_unopened_idx ON beneficiaries (unopened_since, id) WHERE unopened_since IS NOT NULL;

-- +goose Down
DROP INDEX IF EXISTS beneficiaries_unopened_idx;
ALTER TABLE beneficiaries DROP COLUMN IF EXISTS unopened_since;
