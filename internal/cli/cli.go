// Package cli holds what the operator commands share to talk to a person at
// a shell: aligned tables, indented JSON, amounts written the same way
// everywhere, progress on long work, strict decoding of input files, and
// the mapping of errors to messages and exit statuses.
package cli

import (
	"encoding/json"
	"fmt"
	"io"
)

// Format is how a command writes its result on standard output.
type Format string

// The output formats.
const (
	FormatTable Format = "table" // aligned columns for people
	FormatJSON  Format = "json"  // indented JSON for scripts
)

// ParseFormat reads the value of an --output flag.
func ParseFormat(s string) (Format, error) {
	switch f := Format(s); f {
	case FormatTable, FormatJSON:
		return f, nil
	}
	return "", fmt.Errorf("output format %q is not table or json", s)
}

// WriteJSON writes v to w as indented JSON followed by a newline.
func WriteJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	if err := enc.Encode(v); err != nil {
		return fmt.Errorf("write JSON: %w", err)
	}
	return nil
}
