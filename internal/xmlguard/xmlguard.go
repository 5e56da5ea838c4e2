// Package xmlguard bounds the memory encoding/xml takes to read one token.
//
// The decoder buffers a token whole before it returns it: a text node, a
// start tag with its attributes, a comment or a CDATA section of any size
// is held in memory at once, and a document of one 200 MB value takes
// gigabytes. A Reader stands between the decoder and the input and fails
// as soon as more than a set number of bytes have been read since the last
// token boundary, so that no token can grow past that limit before the
// caller sees the error. The decoder hands over the text it has read when
// the Reader fails within a text node, as a last CharData of at most the
// limit, and returns the error on the next call.
package xmlguard

import (
	"bufio"
	"errors"
	"io"
)

// ErrTokenTooLong is returned by Reader once more than its limit of bytes
// have been read since the last Mark.
var ErrTokenTooLong = errors.New("xml token too long")

// Reader is the input of an xml.Decoder that refuses long tokens. It is an
// io.ByteReader, which the decoder reads byte by byte without a buffer of
// its own; the caller calls Mark after each token the decoder returns.
type Reader struct {
	br   *bufio.Reader
	max  int64
	n    int64 // bytes read
	mark int64 // n at the last Mark
}

// NewReader returns a Reader of r that fails with ErrTokenTooLong once more
// than max bytes have been read since the last Mark (or the start). r is
// used as is when it is a *bufio.Reader, else buffered.
func NewReader(r io.Reader, max int) *Reader {
	br, ok := r.(*bufio.Reader)
	if !ok {
		br = bufio.NewReaderSize(r, 16<<10)
	}
	return &Reader{br: br, max: int64(max)}
}

// Mark sets the token boundary: the bytes read so far belong to tokens the
// decoder has returned. The decoder may have read one byte of the next
// token, which then counts towards it.
func (g *Reader) Mark() { g.mark = g.n }

// Offset returns the number of bytes read.
func (g *Reader) Offset() int64 { return g.n }

// ReadByte reads one byte, or fails with ErrTokenTooLong.
func (g *Reader) ReadByte() (byte, error) {
	if g.n-g.mark >= g.max {
		return 0, ErrTokenTooLong
	}
	b, err := g.br.ReadByte()
	if err == nil {
		g.n++
	}
	return b, err
}

// Read reads into p no more bytes than the current token may still take,
// or fails with ErrTokenTooLong.
func (g *Reader) Read(p []byte) (int, error) {
	rest := g.max - (g.n - g.mark)
	if rest <= 0 {
		return 0, ErrTokenTooLong
	}
	if int64(len(p)) > rest {
		p = p[:rest]
	}
	n, err := g.br.Read(p)
	g.n += int64(n)
	return n, err
}
