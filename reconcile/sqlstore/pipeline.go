package sqlstore

import (
	"context"
	"errors"
	"fmt"

	"github.com/ofii/allowances/reconcile"
)

// lineChunk is a chunk of lines read from a file, with where it ends in
// the file, for the messages of a chunk that fails.
type lineChunk struct {
	lines []*stLine
	stmt  string // the id of the statement of its last line
	last  int    // the index of its last line
}

// errStopped stops the reading of a file whose storing failed.
var errStopped = errors.New("storing stopped")

// walkChunks reads the lines of rd, keeps those keep returns, and hands
// them to store a chunk of size at a time, in the order of the file. The
// file is read one chunk ahead of store, in a goroutine of its own, so
// that the reading of a chunk and the writing of the one before overlap:
// at most two chunks are held at once. The first error stops both.
func walkChunks(ctx context.Context, rd reconcile.Reader, size int, keep func(reconcile.Statement, reconcile.Line) (*stLine, bool),
	store func([]*stLine) error) error {
	chunks := make(chan lineChunk)
	stop := make(chan struct{})
	read := make(chan error, 1)
	go func() {
		defer close(chunks)
		var c lineChunk
		send := func() error {
			select {
			case chunks <- c:
				c = lineChunk{lines: make([]*stLine, 0, size)}
				return nil
			case <-stop:
				return errStopped
			case <-ctx.Done():
				return ctx.Err()
			}
		}
		c.lines = make([]*stLine, 0, size)
		_, err := reconcile.Walk(rd, func(st reconcile.Statement, l reconcile.Line) error {
			x, ok := keep(st, l)
			if !ok {
				return nil
			}
			c.lines, c.stmt, c.last = append(c.lines, x), st.ID, l.Index
			if len(c.lines) >= size {
				return send()
			}
			return nil
		})
		if err == nil && len(c.lines) > 0 {
			err = send()
		}
		read <- err
	}()
	for c := range chunks {
		if err := store(c.lines); err != nil {
			// The reader stops at its next chunk, which nobody takes.
			close(stop)
			<-read
			return fmt.Errorf("statement %s line %d: %w", c.stmt, c.last, err)
		}
	}
	return <-read
}
