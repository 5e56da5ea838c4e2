-- Eligibility: the events read from the eligibility topic, the facts they
-- state about each beneficiary, and the records that could not be applied.
-- Same rules as the ledger: natural or UUID keys, BIGINT counts,
-- DECIMAL(19,2) money, nothing that CockroachDB or PostgreSQL lacks.
--
-- No foreign keys: the store checks every reference before writing (an
-- event for an unknown beneficiary or grant becomes a dead letter), and a
-- per-row check would slow the bulk inserts of a batch of events.

-- +goose NO TRANSACTION
-- Each statement commits on its own and may run again: CockroachDB applies
-- schema changes outside transactions, so a migration stopped part-way is
-- finished by running it again.
-- +goose Up
CREATE TABLE IF NOT EXISTS beneficiaries (
    id             TEXT PRIMARY KEY,
    -- The earliest occurred_at among the beneficiary's applied events.
    first_seen     TIMESTAMPTZ NOT NULL,
    created_at     TIMESTAMPTZ NOT NULL
);

-- The idempotency record: one row per applied event, written in the same
-- transaction as its effects. A second event with the same id changes
-- nothing. An invalid event is never recorded here, so that a later valid
-- copy can still apply.
CREATE TABLE IF NOT EXISTS events (
    event_id       UUID PRIMARY KEY,
    type           TEXT NOT NULL,
    beneficiary_id TEXT NOT NULL,
    occurred_at    TIMESTAMPTZ NOT NULL,
    src_topic      TEXT NOT NULL,
    src_partition  BIGINT NOT NULL,
    src_offset     BIGINT NOT NULL,
    payload        BYTEA NOT NULL, -- the record's value, byte for byte
    applied_at     TIMESTAMPTZ NOT NULL
);
CREATE INDEX IF NOT EXISTS events_beneficiary_idx ON events (beneficiary_id, occurred_at);

-- The ADA facts, one per event. effective is the day the fact takes effect:
-- the event's "from", and for a closure its last day of rights. An opening
-- carries the household, accommodation and territory it opens with.
CREATE TABLE IF NOT EXISTS ada_facts (
    event_id       UUID PRIMARY KEY,
    beneficiary_id TEXT NOT NULL,
    kind           TEXT NOT NULL CHECK (kind IN ('opened', 'closed', 'household', 'accommodation', 'suspended', 'resumed')),
    effective      DATE NOT NULL,
    occurred_at    TIMESTAMPTZ NOT NULL,
    adults         BIGINT,
    children       BIGINT,
    accommodated   BOOLEAN,
    territory      TEXT,
    reason         TEXT NOT NULL DEFAULT ''
);
CREATE INDEX IF NOT EXISTS ada_facts_beneficiary_idx ON ada_facts (beneficiary_id, kind, effective);

-- Payees of ADA payments, from rights openings and payee changes, in force
-- from the moment their event occurred. Grant payees stay with their grants.
CREATE TABLE IF NOT EXISTS payees (
    event_id       UUID PRIMARY KEY,
    beneficiary_id TEXT NOT NULL,
    since          TIMESTAMPTZ NOT NULL,
    name           TEXT NOT NULL,
    iban           TEXT NOT NULL,
    bic            TEXT NOT NULL DEFAULT ''
);
CREATE INDEX IF NOT EXISTS payees_beneficiary_idx ON payees (beneficiary_id, since);

CREATE TABLE IF NOT EXISTS return_grants (
    grant_id                  TEXT PRIMARY KEY,
    event_id                  UUID NOT NULL,
    beneficiary_id            TEXT NOT NULL,
    decided_at                TIMESTAMPTZ NOT NULL,
    country                   TEXT NOT NULL,
    adults                    BIGINT NOT NULL,
    children                  BIGINT NOT NULL,
    removal_order_notified_on DATE NOT NULL,
    validated_on              DATE NOT NULL,
    increased_rate            BOOLEAN NOT NULL,
    travel_document           BOOLEAN NOT NULL,
    scheme                    TEXT NOT NULL DEFAULT '',
    departure_date            DATE NOT NULL,
    payee_name                TEXT NOT NULL,
    payee_iban                TEXT NOT NULL,
    payee_bic                 TEXT NOT NULL DEFAULT ''
);
CREATE INDEX IF NOT EXISTS return_grants_beneficiary_idx ON return_grants (beneficiary_id);

CREATE TABLE IF NOT EXISTS reinsertion_grants (
    grant_id       TEXT PRIMARY KEY,
    event_id       UUID NOT NULL,
    beneficiary_id TEXT NOT NULL,
    decided_at     TIMESTAMPTZ NOT NULL,
    level          TEXT NOT NULL CHECK (level IN ('social', 'employment', 'business_creation')),
    amount         DECIMAL(19, 2) NOT NULL,
    adults         BIGINT NOT NULL DEFAULT 0,
    children       BIGINT NOT NULL DEFAULT 0,
    payee_name     TEXT NOT NULL,
    payee_iban     TEXT NOT NULL,
    payee_bic      TEXT NOT NULL DEFAULT ''
);
CREATE INDEX IF NOT EXISTS reinsertion_grants_beneficiary_idx ON reinsertion_grants (beneficiary_id);

-- A tranche is written with its grant; its release fills released_on.
CREATE TABLE IF NOT EXISTS reinsertion_tranches (
    grant_id         TEXT NOT NULL,
    tranche_id       TEXT NOT NULL,
    position         BIGINT NOT NULL,
    amount           DECIMAL(19, 2) NOT NULL,
    released_on      DATE,
    release_event_id UUID,
    PRIMARY KEY (grant_id, tranche_id)
);

CREATE TABLE IF NOT EXISTS overpayments (
    overpayment_id TEXT PRIMARY KEY,
    event_id       UUID NOT NULL,
    beneficiary_id TEXT NOT NULL,
    established_at TIMESTAMPTZ NOT NULL,
    amount         DECIMAL(19, 2) NOT NULL CHECK (amount > 0),
    reason         TEXT NOT NULL DEFAULT '',
    fraud          BOOLEAN NOT NULL
);
CREATE INDEX IF NOT EXISTS overpayments_beneficiary_idx ON overpayments (beneficiary_id);

-- Records that could not be applied, with their original key and value and
-- the reason, kept for staff and written to the dead-letter topic (an
-- outbox: published_at is set once the topic has them). A record is kept
-- once per source offset, however often it is redelivered.
CREATE TABLE IF NOT EXISTS dead_letters (
    id             UUID PRIMARY KEY,
    src_topic      TEXT NOT NULL,
    src_partition  BIGINT NOT NULL,
    src_offset     BIGINT NOT NULL,
    record_key     BYTEA,
    value          BYTEA NOT NULL,
    error          TEXT NOT NULL,
    field          TEXT NOT NULL DEFAULT '',
    event_id       UUID,
    type           TEXT NOT NULL DEFAULT '',
    beneficiary_id TEXT NOT NULL DEFAULT '',
    received_at    TIMESTAMPTZ NOT NULL,
    published_at   TIMESTAMPTZ,
    CONSTRAINT dead_letters_source_key UNIQUE (src_topic, src_partition, src_offset)
);
CREATE INDEX IF NOT EXISTS dead_letters_received_idx ON dead_letters (received_at DESC, id DESC);
CREATE INDEX IF NOT EXISTS dead_letters_unpublished_idx ON dead_letters (received_at, id) WHERE published_at IS NULL;

-- +goose Down
DROP TABLE IF EXISTS dead_letters;
DROP TABLE IF EXISTS overpayments;
DROP TABLE IF EXISTS reinsertion_tranches;
DROP TABLE IF EXISTS reinsertion_grants;
DROP TABLE IF EXISTS return_grants;
DROP TABLE IF EXISTS payees;
DROP TABLE IF EXISTS ada_facts;
DROP TABLE IF EXISTS events;
DROP TABLE IF EXISTS beneficiaries;
