package database

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"testing"

	"github.com/orderq/orderq/shared/testenv"
)

var discard = slog.New(slog.NewTextHandler(io.Discard, nil))

func TestCheckShards(t *testing.T) {
	db, err := Open(context.Background(), testenv.Database(t), discard, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer Close(db)
	ctx := context.Background()
	if err := CheckShards(ctx, db, 4); err != nil {
		t.Fatalf("first check: %v", err)
	}
	if err := CheckShards(ctx, db, 4); err != nil {
		t.Fatalf("same count again: %v", err)
	}
	if err := CheckShards(ctx, db, 8); !errors.Is(err, ErrShardsMismatch) {
		t.Fatalf("other count: err = %v, want ErrShardsMismatch", err)
	}
}

func TestStatements(t *testing.T) {
	got := statements("-- comment\nCREATE TABLE a (\n  x INT\n);\n\nCREATE TABLE b (y INT);\n")
	if len(got) != 2 || got[0] != "CREATE TABLE a (\n  x INT\n)" || got[1] != "CREATE TABLE b (y INT)" {
		t.Errorf("statements = %q", got)
	}
}
