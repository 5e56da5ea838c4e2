package reconcile

import (
	"bufio"
	"crypto/sha256"
	"encoding/hex"
	"hash"
	"io"
)

// source is a reader's input: it hashes every byte read and fails with
// ErrTooLarge once more than max bytes come, reading at most one byte past
// the limit.
type source struct {
	r   io.Reader
	max int64
	n   int64
	h   hash.Hash
	err error // the input's own failure, as opposed to the file's faults
}

func newSource(r io.Reader, max int64) *source {
	return &source{r: r, max: max, h: sha256.New()}
}

func (s *source) Read(p []byte) (int, error) {
	if s.n > s.max {
		return 0, ErrTooLarge
	}
	// Read at most one byte past the limit: enough to see the file is
	// over it.
	if rest := s.max + 1 - s.n; int64(len(p)) > rest {
		p = p[:rest]
	}
	n, err := s.r.Read(p)
	s.n += int64(n)
	if s.n > s.max {
		// Hand over the bytes up to the limit, so that the error comes
		// where the limit is reached, and fail on the next read.
		n -= int(s.n - s.max)
		err = nil
	}
	s.h.Write(p[:n])
	if err != nil && err != io.EOF {
		s.err = err
	}
	return n, err
}

// sum returns the hex SHA-256 of the bytes read so far.
func (s *source) sum() string { return hex.EncodeToString(s.h.Sum(nil)) }

// skipBOM drops a UTF-8 byte-order mark at the start of br, which some
// banks' exports begin with.
func skipBOM(br *bufio.Reader) {
	if b, err := br.Peek(3); err == nil && b[0] == 0xEF && b[1] == 0xBB && b[2] == 0xBF {
		_, _ = br.Discard(3)
	}
}
