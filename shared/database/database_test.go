package database

import (
	"io"
	"log/slog"
	"testing"
)

var discard = slog.New(slog.NewTextHandler(io.Discard, nil))

func TestStatements(t *testing.T) {
	got := statements("-- comment\nCREATE TABLE a (\n  x INT\n);\n\nCREATE TABLE b (y INT);\n")
	if len(got) != 2 || got[0] != "CREATE TABLE a (\n  x INT\n)" || got[1] != "CREATE TABLE b (y INT)" {
		t.Errorf("statements = %q", got)
	}
}
