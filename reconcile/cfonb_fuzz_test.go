package reconcile

import (
	"bytes"
	"strings"
	"testing"
)

// FuzzReadCFONB feeds the CFONB reader arbitrary bytes: it must never
// panic, must refuse with a *FormatError, and what it accepts must balance.
func FuzzReadCFONB(f *testing.F) {
	for _, s := range cfonbSamples {
		f.Add(readTestdata(f, s.file))
	}
	sample := string(readTestdata(f, "cfonb_multi.txt"))
	lines := strings.Split(sample, "\n")
	f.Add([]byte(strings.Join(lines[:12], "\n")))                                          // the first statement
	f.Add([]byte(lines[0] + "\n" + lines[2] + "\n" + lines[11] + "\n"))                    // an orphan 05
	f.Add([]byte(lines[0] + "\n" + lines[1][:119] + "\n" + lines[11] + "\n"))              // a record of 119
	f.Add([]byte(lines[0] + "\n" + setCols(lines[1], 104, "X") + "\n" + lines[11] + "\n")) // a bad sign

	f.Fuzz(func(t *testing.T, data []byte) {
		checkFuzzed(t, NewCFONBReader(bytes.NewReader(data), Options{MaxBytes: 1 << 20}))
	})
}
