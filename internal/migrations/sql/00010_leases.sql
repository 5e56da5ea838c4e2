-- Leases: a long job (a run, a release, the sender, the fetchers, an import,
-- the matching) holds the lease of its name while it works, renewing it
-- before it expires; another process, or the same one after a restart,
-- takes over a lease that expired and resumes the job where it stopped.
-- No advisory locks: CockroachDB has none. token changes at each taking, so
-- that a holder that lost its lease can never renew or release the next
-- holder's.

-- +goose NO TRANSACTION
-- Each statement commits on its own and may run again (see 00001).
-- +goose Up
CREATE TABLE IF NOT EXISTS leases (
    name        TEXT PRIMARY KEY CHECK (length(name) BETWEEN 1 AND 200),
    holder      TEXT NOT NULL,
    token       UUID NOT NULL,
    taken_at    TIMESTAMPTZ NOT NULL,
    renewed_at  TIMESTAMPTZ NOT NULL,
    expires_at  TIMESTAMPTZ NOT NULL
);

-- +goose Down
DROP TABLE IF EXISTS leases;
