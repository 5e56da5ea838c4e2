package sqlstore_test

import (
	"context"
	"errors"
	"net/url"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/ofii/allowances/internal/db"
	"github.com/ofii/allowances/internal/dbtest"
	"github.com/ofii/allowances/ledger/sqlstore"
)

// TestChooseBulkMethod: BULK_WRITE=auto writes with COPY where the role
// may, as the owner of the database may, and with INSERTs where it may
// not; copy and insert are taken as they are.
func TestChooseBulkMethod(t *testing.T) {
	ctx := context.Background()
	pool, dsn := dbtest.MustOpen(t)
	for _, c := range []struct {
		setting string
		want    sqlstore.BulkMethod
	}{{"auto", sqlstore.BulkCopy}, {"copy", sqlstore.BulkCopy}, {"insert", sqlstore.BulkInsert}} {
		got, err := sqlstore.ChooseBulkMethod(ctx, pool, c.setting)
		if err != nil || got != c.want {
			t.Errorf("%s as the owner: %v, %v; want %v", c.setting, got, err, c.want)
		}
	}
	if _, err := sqlstore.ChooseBulkMethod(ctx, pool, "fast"); err == nil || err.Error() != `BULK_WRITE: "fast" is not auto, copy or insert` {
		t.Errorf("BULK_WRITE=fast: %v", err)
	}

	// A role that may read the postings but not write them may not COPY.
	const reader = "ledger_reader"
	admin, err := pgx.Connect(ctx, dbtest.BaseURL())
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close(ctx)
	if _, err := admin.Exec(ctx, "CREATE ROLE "+reader+" LOGIN"); err != nil {
		var pgErr *pgconn.PgError
		if !errors.As(err, &pgErr) || (pgErr.Code != "42710" && pgErr.Code != "23505") {
			t.Fatal(err)
		}
	}
	if _, err := pool.Exec(ctx, "GRANT SELECT ON postings TO "+reader); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _, _ = pool.Exec(ctx, "REVOKE ALL ON postings FROM "+reader) })
	u, _ := url.Parse(dsn)
	u.User = url.User(reader)
	rp, err := db.Open(ctx, u.String())
	if err != nil {
		t.Fatal(err)
	}
	defer rp.Close()
	got, err := sqlstore.ChooseBulkMethod(ctx, rp, "auto")
	if err != nil || got != sqlstore.BulkInsert {
		t.Errorf("auto as a role that may not write: %v, %v; want insert", got, err)
	}
	var n int
	if err := pool.QueryRow(ctx, "SELECT count(*) FROM postings").Scan(&n); err != nil || n != 0 {
		t.Errorf("the try left %d postings (%v)", n, err)
	}
}
