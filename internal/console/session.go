package console

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/ofii/allowances/internal/db"
)

// Session is one person signed in to the console, held by the server: the
// browser holds only the random token whose SHA-256 is the row's key.
type Session struct {
	idHash   []byte
	Subject  string   // the ID token's subject, or the demo person's name
	Name     string   // the name the audit trail records
	Roles    []string // the roles of the staff API
	csrf     []byte
	Created  time.Time
	LastSeen time.Time
	Expires  time.Time // the absolute end
}

// Has reports whether the session holds one of roles.
func (s *Session) Has(roles ...string) bool {
	for _, r := range roles {
		if slices.Contains(s.Roles, r) {
			return true
		}
	}
	return false
}

// CSRFToken is the token every form of the session carries: an HMAC of the
// session's own secret, so that a token of another session is refused.
func (s *Session) CSRFToken() string {
	m := hmac.New(sha256.New, s.csrf)
	m.Write([]byte("console form"))
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}

// CheckCSRF reports whether token is the session's form token, in constant
// time.
func (s *Session) CheckCSRF(token string) bool {
	return token != "" && subtle.ConstantTimeCompare([]byte(token), []byte(s.CSRFToken())) == 1
}

// ErrNoSession is the error of a token that names no live session: unknown,
// revoked, idle too long or past its absolute end.
var ErrNoSession = errors.New("no live console session")

// Sessions are the console's sessions in the database.
type Sessions struct {
	pool  db.Beginner
	idle  time.Duration
	max   time.Duration
	now   func() time.Time
	touch time.Duration // last_seen_at is written again only once this old
}

// NewSessions returns the sessions of pool that end after idle without use
// or max after sign-in, on the clock now.
func NewSessions(pool db.Beginner, idle, max time.Duration, now func() time.Time) *Sessions {
	if now == nil {
		now = time.Now
	}
	return &Sessions{pool: pool, idle: idle, max: max, now: now, touch: min(time.Minute, idle/4)}
}

func hashToken(token string) []byte {
	h := sha256.Sum256([]byte(token))
	return h[:]
}

func randomBytes(n int) ([]byte, error) {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		return nil, fmt.Errorf("random bytes: %w", err)
	}
	return b, nil
}

// Create opens a session for a person and returns the token for its cookie.
// Sessions ended more than a day ago are deleted on the way.
func (st *Sessions) Create(ctx context.Context, subject, name string, roles []string) (string, *Session, error) {
	if subject == "" || name == "" || len(roles) == 0 {
		return "", nil, errors.New("a session needs a subject, a name and at least one role")
	}
	raw, err := randomBytes(32)
	if err != nil {
		return "", nil, err
	}
	secret, err := randomBytes(32)
	if err != nil {
		return "", nil, err
	}
	token := base64.RawURLEncoding.EncodeToString(raw)
	now := st.now().UTC()
	s := &Session{idHash: hashToken(token), Subject: subject, Name: name, Roles: slices.Clone(roles), csrf: secret,
		Created: now, LastSeen: now, Expires: now.Add(st.max)}
	err = db.InTx(ctx, st.pool, func(ctx context.Context, tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `DELETE FROM console_sessions WHERE expires_at < $1`, now.Add(-24*time.Hour)); err != nil {
			return err
		}
		_, err := tx.Exec(ctx, `INSERT INTO console_sessions (id_hash, subject, name, roles, csrf_secret, created_at, last_seen_at, expires_at)
			VALUES ($1, $2, $3, $4, $5, $6, $6, $7)`, s.idHash, subject, name, strings.Join(roles, "+"), secret, now, s.Expires)
		return err
	})
	if err != nil {
		return "", nil, fmt.Errorf("open a console session: %w", err)
	}
	return token, s, nil
}

// Get returns the live session of token, recording that it was used; a
// token of no live session is ErrNoSession.
func (st *Sessions) Get(ctx context.Context, token string) (*Session, error) {
	if token == "" || len(token) > 100 {
		return nil, ErrNoSession
	}
	id := hashToken(token)
	var s *Session
	now := st.now().UTC()
	err := db.InTx(ctx, st.pool, func(ctx context.Context, tx pgx.Tx) error {
		s = nil
		var roles string
		var revoked *time.Time
		r := Session{idHash: id}
		err := tx.QueryRow(ctx, `SELECT subject, name, roles, csrf_secret, created_at, last_seen_at, expires_at, revoked_at
			FROM console_sessions WHERE id_hash = $1`, id).Scan(&r.Subject, &r.Name, &roles, &r.csrf, &r.Created, &r.LastSeen, &r.Expires, &revoked)
		if errors.Is(err, pgx.ErrNoRows) {
			return nil
		}
		if err != nil {
			return err
		}
		if revoked != nil || !now.Before(r.Expires) || now.Sub(r.LastSeen) >= st.idle {
			return nil
		}
		r.Roles = strings.Split(roles, "+")
		if now.Sub(r.LastSeen) >= st.touch {
			if _, err := tx.Exec(ctx, `UPDATE console_sessions SET last_seen_at = $2 WHERE id_hash = $1`, id, now); err != nil {
				return err
			}
			r.LastSeen = now
		}
		s = &r
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("read a console session: %w", err)
	}
	if s == nil {
		return nil, ErrNoSession
	}
	return s, nil
}

// Revoke ends the session of token at once (sign-out); a token of no
// session is not an error.
func (st *Sessions) Revoke(ctx context.Context, token string) error {
	if token == "" || len(token) > 100 {
		return nil
	}
	now := st.now().UTC()
	err := db.InTx(ctx, st.pool, func(ctx context.Context, tx pgx.Tx) error {
		_, err := tx.Exec(ctx, `UPDATE console_sessions SET revoked_at = $2 WHERE id_hash = $1 AND revoked_at IS NULL`, hashToken(token), now)
		return err
	})
	if err != nil {
		return fmt.Errorf("revoke a console session: %w", err)
	}
	return nil
}
