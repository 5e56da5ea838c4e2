package bench

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"regexp"
	"strconv"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/ofii/allowances/internal/db"
)

var dbName = regexp.MustCompile(`^[a-z_][a-z0-9_]{0,62}$`)

func validDatabaseName(name string) error {
	if !dbName.MatchString(name) {
		return fmt.Errorf("database: %q is not a name of lower-case letters, digits and _ (at most 63)", name)
	}
	switch name {
	case "postgres", "template0", "template1", "system", "defaultdb":
		return fmt.Errorf("database: %q is a system database and cannot be the scratch one", name)
	}
	return nil
}

// withDatabase returns dsn naming database name instead of its own, with
// extra parameters added, and the name of the database dsn named.
func withDatabase(dsn, name string, params map[string]string) (string, string, error) {
	if strings.Contains(dsn, "://") {
		u, err := url.Parse(dsn)
		if err != nil {
			return "", "", fmt.Errorf("parse DATABASE_URL: %w", err)
		}
		orig := strings.TrimPrefix(u.Path, "/")
		u.Path = "/" + name
		q := u.Query()
		for k, v := range params {
			q.Set(k, v)
		}
		u.RawQuery = q.Encode()
		return u.String(), orig, nil
	}
	cfg, err := pgconn.ParseConfig(dsn)
	if err != nil {
		return "", "", fmt.Errorf("parse DATABASE_URL: %w", err)
	}
	// In the keyword/value form a later keyword wins.
	out := dsn + " dbname=" + name
	for k, v := range params {
		out += " " + k + "=" + v
	}
	return out, cfg.Database, nil
}

// scratchURL is the URL of the scratch database on the server of dsn, with
// a pool of maxConns connections.
func scratchURL(dsn, name string, maxConns int) (string, error) {
	out, orig, err := withDatabase(dsn, name, map[string]string{"pool_max_conns": strconv.Itoa(maxConns)})
	if err != nil {
		return "", err
	}
	if orig == name {
		return "", fmt.Errorf("database: the scratch database %q is the one DATABASE_URL names; choose another", name)
	}
	return out, nil
}

// openScratch creates the scratch database and opens a pool on it.
func openScratch(ctx context.Context, dsn string) (*pgxpool.Pool, error) {
	// db.CreateDatabase takes a connection string without pool settings;
	// db.Open would create the database too, but without them.
	if err := db.CreateDatabase(ctx, dsnWithoutPool(dsn)); err != nil {
		return nil, err
	}
	return db.Open(ctx, dsn)
}

func dsnWithoutPool(dsn string) string {
	if strings.Contains(dsn, "://") {
		u, err := url.Parse(dsn)
		if err != nil {
			return dsn
		}
		q := u.Query()
		for k := range q {
			if strings.HasPrefix(k, "pool_") {
				q.Del(k)
			}
		}
		u.RawQuery = q.Encode()
		return u.String()
	}
	var keep []string
	for _, f := range strings.Fields(dsn) {
		if !strings.HasPrefix(f, "pool_") {
			keep = append(keep, f)
		}
	}
	return strings.Join(keep, " ")
}

// dropDatabase drops database name on the server of dsn, through a
// connection to its "postgres" database, closing other connections to it.
func dropDatabase(ctx context.Context, dsn, name string) error {
	if err := validDatabaseName(name); err != nil {
		return err
	}
	cfg, err := pgx.ParseConfig(dsnWithoutPool(dsn))
	if err != nil {
		return fmt.Errorf("parse DATABASE_URL: %w", err)
	}
	if cfg.Database == name {
		return fmt.Errorf("database: refusing to drop %q, the database DATABASE_URL names", name)
	}
	cfg.Database = "postgres"
	conn, err := pgx.ConnectConfig(ctx, cfg)
	if err != nil {
		return fmt.Errorf("connect to drop database %q: %w", name, err)
	}
	defer conn.Close(context.WithoutCancel(ctx))
	id := pgx.Identifier{name}.Sanitize()
	_, err = conn.Exec(ctx, "DROP DATABASE IF EXISTS "+id+" WITH (FORCE)")
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) && pgErr.Code == "42601" { // syntax error: CockroachDB
		_, err = conn.Exec(ctx, "DROP DATABASE IF EXISTS "+id+" CASCADE")
	}
	if err != nil {
		return fmt.Errorf("drop database %q: %w", name, err)
	}
	return nil
}
