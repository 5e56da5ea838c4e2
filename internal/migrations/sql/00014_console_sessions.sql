-- The staff console's sessions, held by the server: the browser keeps only
-- a random token in a cookie, and the row is found by the token's SHA-256,
-- so that the table holds no token that works. A session ends when it is
-- idle too long (last_seen_at), at its absolute end (expires_at) or when
-- its holder signs out (revoked_at); every form of the session carries a
-- token derived from csrf_secret.

-- +goose NO TRANSACTION
-- Each statement commits on its own and may run again (see 00001).
-- +goose Up
CREATE TABLE IF NOT EXISTS console_sessions (
    id_hash      BYTEA PRIMARY KEY,
    subject      TEXT NOT NULL,
    name         TEXT NOT NULL,
    roles        TEXT NOT NULL,
    csrf_secret  BYTEA NOT NULL,
    created_at   TIMESTAMPTZ NOT NULL,
    last_seen_at TIMESTAMPTZ NOT NULL,
    expires_at   TIMESTAMPTZ NOT NULL,
    revoked_at   TIMESTAMPTZ
);
CREATE INDEX IF NOT EXISTS console_sessions_expires ON console_sessions (expires_at);

-- +goose Down
DROP TABLE IF EXISTS console_sessions;
