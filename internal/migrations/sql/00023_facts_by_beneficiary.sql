-- ADA facts and payees are keyed by beneficiary: every read takes them by
-- beneficiary (a timeline, the monthly run, the payee in force), none by
-- event id, and the event id is already unique in events, which is written
-- in the same transaction. Their primary keys become the indexes they were
-- read by, and those indexes go: an applied event writes one index entry
-- fewer per fact and per payee, and no longer one at a random place of an
-- index of random UUIDs. On CockroachDB the rows of a beneficiary are then
-- stored together.
--
-- Each statement may run again (see 00001): dropping and adding the
-- primary key in one statement is how both PostgreSQL and CockroachDB
-- change it without a secondary index on the old key.

-- +goose NO TRANSACTION
-- +goose Up
ALTER TABLE ada_facts DROP CONSTRAINT IF EXISTS ada_facts_pkey,
    ADD CONSTRAINT ada_facts_pkey PRIMARY KEY (beneficiary_id, kind, effective, event_id);
DROP INDEX IF EXISTS ada_facts_beneficiary_idx;

ALTER TABLE payees DROP CONSTRAINT IF EXISTS payees_pkey,
    ADD CONSTRAINT payees_pkey PRIMARY KEY (beneficiary_id, since, event_id);
DROP INDEX IF EXISTS payees_beneficiary_idx;

-- +goose Down
CREATE INDEX IF NOT EXISTS payees_beneficiary_idx ON payees (beneficiary_id, since);
ALTER TABLE payees DROP CONSTRAINT IF EXISTS payees_pkey, ADD CONSTRAINT payees_pkey PRIMARY KEY (event_id);

CREATE INDEX IF NOT EXISTS ada_facts_beneficiary_idx ON ada_facts (beneficiary_id, kind, effective);
ALTER TABLE ada_facts DROP CONSTRAINT IF EXISTS ada_facts_pkey, ADD CONSTRAINT ada_facts_pkey PRIMARY KEY (event_id);
