package cli

import (
	"io"
	"os"
	"time"

	"github.com/schollz/progressbar/v3"
)

// Progress shows the advance of long work on a terminal. Its methods do
// nothing when it is silent, and a nil *Progress is silent.
type Progress struct {
	bar *progressbar.ProgressBar
}

// NewProgress returns a progress indicator on w for work of total units, or
// a spinner counting units when total is -1. It is silent when quiet is set
// (JSON output, for instance) or when w is not a terminal, so that logs and
// pipes never receive it.
func NewProgress(w io.Writer, total int64, description string, quiet bool) *Progress {
	if quiet || !IsTerminal(w) {
		return &Progress{}
	}
	bar := progressbar.NewOptions64(total,
		progressbar.OptionSetWriter(w),
		progressbar.OptionSetDescription(description),
		progressbar.OptionShowCount(),
		progressbar.OptionShowIts(),
		progressbar.OptionSetItsString("lines"),
		progressbar.OptionThrottle(100*time.Millisecond),
		progressbar.OptionSpinnerType(14),
		progressbar.OptionClearOnFinish(),
	)
	return &Progress{bar: bar}
}

// Add records n more units done.
func (p *Progress) Add(n int) {
	if p != nil && p.bar != nil {
		_ = p.bar.Add(n)
	}
}

// Set records that n units are done in all.
func (p *Progress) Set(n int64) {
	if p != nil && p.bar != nil {
		_ = p.bar.Set64(n)
	}
}

// Finish clears the indicator from the terminal.
func (p *Progress) Finish() {
	if p != nil && p.bar != nil {
		_ = p.bar.Finish()
	}
}

// IsTerminal reports whether w is a terminal (a character device), the only
// place where progress is worth drawing.
func IsTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	fi, err := f.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0
}
