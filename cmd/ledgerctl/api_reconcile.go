package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"

	"github.com/ofii/allowances/internal/apiclient"
	"github.com/ofii/allowances/internal/cli"
	"github.com/ofii/allowances/internal/errs"
	"github.com/ofii/allowances/reconcile"
)

// sniffBytes is how much of a statement file is looked at to tell XML
// (camt) from text (CFONB 120).
const sniffBytes = 512

// sendStatement sends the statement file path ("-": standard input) to
// ledgerd as it reads it, in bounded memory whatever its size, declared as
// XML or text after its first bytes, and returns what ledgerd imported. A
// progress bar counts the bytes sent when the file is big (or comes from
// standard input) and stderr is a terminal, except with -o json.
func (a *app) sendStatement(ctx context.Context, c *apiclient.Client, path string) (reconcile.ImportResult, error) {
	var res reconcile.ImportResult
	src, name, size := a.stdin, "standard input", int64(-1)
	if path != "-" {
		f, err := os.Open(path)
		if err != nil {
			return res, cli.Usage(errs.Field("FILE", "%v", err))
		}
		defer f.Close()
		if fi, err := f.Stat(); err == nil {
			size = fi.Size()
		}
		src, name = f, filepath.Base(path)
	}
	br := bufio.NewReaderSize(src, 64<<10)
	head, err := br.Peek(sniffBytes)
	switch {
	case err != nil && !errors.Is(err, io.EOF) && !errors.Is(err, bufio.ErrBufferFull):
		return res, fmt.Errorf("read %s: %w", name, err)
	case err != nil && len(bytes.TrimSpace(head)) == 0:
		return res, cli.Usage(errs.Field("FILE", "%s is empty: a statement file is expected", name))
	}
	quiet := a.json() || (path != "-" && size < progressFrom)
	p := cli.NewBytesProgress(a.stderr, size, "sending "+name, quiet)
	defer p.Finish()
	body := &upload{r: br, p: p, done: "ledgerd imports " + name}
	err = c.Do(ctx, http.MethodPost, "/v1/statements", nil, statementType(head), body, &res)
	if body.err != nil {
		// The file could not be read to its end: ledgerd got a body cut
		// short, which it refuses whole.
		return res, fmt.Errorf("read %s: %w; nothing of it was imported", name, body.err)
	}
	return res, err
}

// statementType is the media type of a statement file that starts with
// head: XML for camt.053 and camt.054, text for CFONB 120.
func statementType(head []byte) string {
	head = bytes.TrimPrefix(head, []byte("\xef\xbb\xbf"))
	if bytes.HasPrefix(bytes.TrimLeft(head, " \t\r\n"), []byte("<")) {
		return "application/xml"
	}
	return "text/plain"
}

// upload is a body on its way to ledgerd: its bytes counted on p as they
// are read, and a failure to read it kept apart from the connection's.
type upload struct {
	r    io.Reader
	p    *cli.Progress
	done string // what p says once every byte is read: the server's turn
	n    int64
	err  error
}

func (u *upload) Read(b []byte) (int, error) {
	n, err := u.r.Read(b)
	u.n += int64(n)
	u.p.Set(u.n)
	switch {
	case errors.Is(err, io.EOF):
		u.p.Describe(u.done)
	case err != nil:
		u.err = err
	}
	return n, err
}
