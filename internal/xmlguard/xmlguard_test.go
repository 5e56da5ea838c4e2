package xmlguard

import (
	"encoding/xml"
	"errors"
	"strings"
	"testing"
)

// TestTokenLimit reads tokens of at most the limit, then fails on the one
// that passes it, having read no more than the limit past the last mark.
// The decoder hands over the text read so far before it fails.
func TestTokenLimit(t *testing.T) {
	const max = 100
	doc := "<a>" + strings.Repeat("x", max-2) + "</a><b>" + strings.Repeat("y", 10*max) + "</b>"
	g := NewReader(strings.NewReader(doc), max)
	d := xml.NewDecoder(g)
	var texts []string
	var err error
	for {
		var tok xml.Token
		tok, err = d.Token()
		if err != nil {
			break
		}
		if end := g.Offset(); end-g.mark > max {
			t.Fatalf("a token of %d bytes", end-g.mark)
		}
		g.Mark()
		if c, ok := tok.(xml.CharData); ok {
			texts = append(texts, string(c))
		}
	}
	if !errors.Is(err, ErrTokenTooLong) {
		t.Fatalf("err = %v, want ErrTokenTooLong", err)
	}
	if len(texts) != 2 || len(texts[0]) != max-2 || len(texts[1]) > max {
		t.Fatalf("texts read %q, want the first and at most %d bytes of the second", texts, max)
	}
	if g.Offset() > int64(len("<a>")+max-2+len("</a><b>")+max) {
		t.Fatalf("read %d bytes", g.Offset())
	}
}

// TestRead bounds Read as ReadByte.
func TestRead(t *testing.T) {
	g := NewReader(strings.NewReader(strings.Repeat("z", 50)), 10)
	buf := make([]byte, 64)
	n, err := g.Read(buf)
	if n != 10 || err != nil {
		t.Fatalf("Read = %d, %v; want 10 bytes", n, err)
	}
	if _, err := g.Read(buf); !errors.Is(err, ErrTokenTooLong) {
		t.Fatalf("second Read = %v, want ErrTokenTooLong", err)
	}
	g.Mark()
	if n, err := g.Read(buf); n != 10 || err != nil {
		t.Fatalf("Read after Mark = %d, %v", n, err)
	}
}
