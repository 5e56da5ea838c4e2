package reconcile

import (
	"flag"
	"os"
	"testing"
)

// TestMain shortens the fuzzer's minimization when fuzzing, unless
// -fuzzminimizetime is given. The fuzzer minimizes every new interesting
// input for up to a minute by default, in time quadratic in its size: with
// statement files of a few kilobytes as seeds, a 20-second run would
// otherwise spend nearly all its time minimizing instead of fuzzing.
func TestMain(m *testing.M) {
	flag.Parse()
	fuzzing, minimizeSet := false, false
	flag.Visit(func(f *flag.Flag) {
		switch f.Name {
		case "test.fuzz":
			fuzzing = f.Value.String() != ""
		case "test.fuzzminimizetime":
			minimizeSet = true
		}
	})
	if fuzzing && !minimizeSet {
		if err := flag.Set("test.fuzzminimizetime", "3s"); err != nil {
			panic(err)
		}
	}
	os.Exit(m.Run())
}
