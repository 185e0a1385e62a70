package database

import (
	"context"
	"errors"
	"io"
	"io/fs"
	"log/slog"
	"sync"
	"testing"

	"github.com/go-sql-driver/mysql"

	"github.com/orderq/orderq/shared/testenv"
)

var discard = slog.New(slog.NewTextHandler(io.Discard, nil))

func TestOpenCreatesAndMigratesConcurrently(t *testing.T) {
	dsn := testenv.Database(t)
	// Open must create a missing database itself: drop the one testenv made.
	cfg, _ := mysql.ParseDSN(dsn)
	cfg.DBName = cfg.DBName + "_new"
	dsn = cfg.FormatDSN()
	t.Cleanup(func() {
		db, err := Open(context.Background(), dsn, discard, Options{})
		if err == nil {
			db.Exec("DROP DATABASE " + cfg.DBName)
			Close(db)
		}
	})

	var wg sync.WaitGroup
	errs := make([]error, 4)
	for i := range errs {
		wg.Go(func() {
			db, err := Open(context.Background(), dsn, discard, Options{})
			if err == nil {
				Close(db)
			}
			errs[i] = err
		})
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("open %d: %v", i, err)
		}
	}
	db, err := Open(context.Background(), dsn, discard, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer Close(db)
	var applied int
	db.Raw("SELECT COUNT(*) FROM schema_migrations").Scan(&applied)
	if files, _ := fs.Glob(migrations, "migrations/*.sql"); applied != len(files) {
		t.Errorf("schema_migrations has %d rows, want %d", applied, len(files))
	}
	// The CHECK constraint must hold: stock can never go below zero.
	if err := db.Exec("INSERT INTO items (name, stock, initial_stock, created_at, updated_at) VALUES ('x', -1, 0, NOW(), NOW())").Error; err == nil {
		t.Error("inserted an item with negative stock")
	}
}

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
