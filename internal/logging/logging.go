// Package logging builds the structured logger of the programs from the
// LOG_LEVEL and LOG_FORMAT settings.
package logging

import (
	"io"
	"log/slog"
)

// New returns a JSON (or text) slog logger at the given level name; an
// unknown level means info.
func New(w io.Writer, level, format string) *slog.Logger {
	var l slog.Level
	if err := l.UnmarshalText([]byte(level)); err != nil {
		l = slog.LevelInfo
	}
	opts := &slog.HandlerOptions{Level: l}
	if format == "text" {
		return slog.New(slog.NewTextHandler(w, opts))
	}
	return slog.New(slog.NewJSONHandler(w, opts))
}
