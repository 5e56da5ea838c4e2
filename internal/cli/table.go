package cli

import (
	"bytes"
	"fmt"
	"io"
	"regexp"
	"strings"
	"text/tabwriter"
	"unicode/utf8"
)

// Table writes rows in aligned columns. Columns whose cells are all numbers
// (blank cells aside) are aligned on the right, header included, so that
// amounts line up on their decimal point; the others on the left. Rows are
// kept until Flush, which writes them all.
type Table struct {
	w      io.Writer
	header []string
	rows   [][]string
}

// NewTable returns a table writing to w, with a header row when header is
// not empty (a table without one lists "name value" pairs).
func NewTable(w io.Writer, header ...string) *Table {
	return &Table{w: w, header: header}
}

// Row adds a row. Tabs and line breaks inside a cell become spaces.
func (t *Table) Row(cells ...string) {
	row := make([]string, len(cells))
	for i, c := range cells {
		row[i] = strings.Map(func(r rune) rune {
			if r == '\t' || r == '\n' || r == '\r' {
				return ' '
			}
			return r
		}, c)
	}
	t.rows = append(t.rows, row)
}

var number = regexp.MustCompile(`^[-+]?[0-9]+(\.[0-9]+)?$`)

// Flush writes the header and the rows.
func (t *Table) Flush() error {
	ncol := len(t.header)
	for _, r := range t.rows {
		ncol = max(ncol, len(r))
	}
	right := make([]bool, ncol)
	width := make([]int, ncol)
	for c := range ncol {
		numeric, seen := true, false
		for _, r := range t.rows {
			if c >= len(r) || r[c] == "" {
				continue
			}
			seen = true
			if !number.MatchString(r[c]) {
				numeric = false
			}
			width[c] = max(width[c], utf8.RuneCountInString(r[c]))
		}
		right[c] = numeric && seen
		if c < len(t.header) {
			width[c] = max(width[c], utf8.RuneCountInString(t.header[c]))
		}
	}
	var buf bytes.Buffer
	tw := tabwriter.NewWriter(&buf, 0, 8, 2, ' ', 0)
	line := func(r []string) {
		cells := make([]string, ncol)
		for c := range ncol {
			if c < len(r) {
				cells[c] = r[c]
			}
			if right[c] {
				cells[c] = strings.Repeat(" ", width[c]-utf8.RuneCountInString(cells[c])) + cells[c]
			}
		}
		fmt.Fprintln(tw, strings.Join(cells, "\t"))
	}
	if len(t.header) > 0 {
		line(t.header)
	}
	for _, r := range t.rows {
		line(r)
	}
	_ = tw.Flush() // writes to a buffer, which cannot fail
	// Blank trailing cells leave padding at the end of lines; drop it.
	var out bytes.Buffer
	for l := range strings.Lines(buf.String()) {
		out.WriteString(strings.TrimRight(l, " \n"))
		out.WriteByte('\n')
	}
	if _, err := t.w.Write(out.Bytes()); err != nil {
		return fmt.Errorf("write table: %w", err)
	}
	return nil
}
