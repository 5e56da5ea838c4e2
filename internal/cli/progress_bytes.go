package cli

import (
	"io"
	"time"

	"github.com/schollz/progressbar/v3"
)

// NewBytesProgress is NewProgress for work counted in bytes, such as a file
// sent to the server: total bytes, or a spinner counting them when total is
// -1. It is silent on the same terms.
func NewBytesProgress(w io.Writer, total int64, description string, quiet bool) *Progress {
	if quiet || !IsTerminal(w) {
		return &Progress{}
	}
	bar := progressbar.NewOptions64(total,
		progressbar.OptionSetWriter(w),
		progressbar.OptionSetDescription(description),
		progressbar.OptionShowBytes(true),
		progressbar.OptionShowTotalBytes(true),
		progressbar.OptionThrottle(100*time.Millisecond),
		progressbar.OptionSpinnerType(14),
		progressbar.OptionClearOnFinish(),
	)
	return &Progress{bar: bar}
}

// Describe changes what the indicator says is being done.
func (p *Progress) Describe(description string) {
	if p != nil && p.bar != nil {
		p.bar.Describe(description)
	}
}
