// Package logging builds the JSON slog logger every orderq binary writes to
// stdout, with the service name on every line.
package logging

import (
	"io"
	"log/slog"
	"os"
	"strings"
)

// New returns a JSON logger for service. LOG_LEVEL (debug, info, warn, error)
// picks the level; info when unset or unknown.
func New(w io.Writer, service string, getenv func(string) string) *slog.Logger {
	var level slog.Level
	if err := level.UnmarshalText([]byte(strings.ToUpper(getenv("LOG_LEVEL")))); err != nil {
		level = slog.LevelInfo
	}
	return slog.New(slog.NewJSONHandler(w, &slog.HandlerOptions{Level: level})).With("service", service)
}

// Stdout is New writing to os.Stdout.
func Stdout(service string, getenv func(string) string) *slog.Logger {
	return New(os.Stdout, service, getenv)
}
