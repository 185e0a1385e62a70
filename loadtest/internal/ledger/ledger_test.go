package ledger

import (
	"context"
	"database/sql"
	"errors"
	"testing"

	"github.com/orderq/orderq/loadtest/internal/check"
	"github.com/orderq/orderq/shared/testenv"
)

func TestRead(t *testing.T) {
	dsn := testenv.Database(t)
	db, err := sql.Open("mysql", dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	// The columns Read uses, as the schema in shared/database defines them.
	for _, q := range []string{
		`CREATE TABLE items (id BIGINT NOT NULL AUTO_INCREMENT PRIMARY KEY,
			stock BIGINT NOT NULL, initial_stock BIGINT NOT NULL)`,
		`CREATE TABLE stock_movements (id BIGINT NOT NULL AUTO_INCREMENT PRIMARY KEY,
			item_id BIGINT NOT NULL, delta BIGINT NOT NULL)`,
		`INSERT INTO items (id, stock, initial_stock) VALUES (1, 7, 10), (2, 5, 5), (3, 4, 10)`,
		`INSERT INTO stock_movements (item_id, delta) VALUES (1, -1), (1, -2), (3, -1), (2, 0)`,
	} {
		if _, err := db.Exec(q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	r, err := Open(context.Background(), dsn)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { r.Close() })

	tests := []struct {
		name string
		item int64
		want check.Ledger
		err  error
	}{
		{name: "balanced", item: 1, want: check.Ledger{InitialStock: 10, Movements: -3, Stock: 7}},
		{name: "untouched", item: 2, want: check.Ledger{InitialStock: 5, Movements: 0, Stock: 5}},
		{name: "unbalanced", item: 3, want: check.Ledger{InitialStock: 10, Movements: -1, Stock: 4}},
		{name: "missing", item: 9, err: ErrNoItem},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := r.Read(context.Background(), tt.item)
			if !errors.Is(err, tt.err) {
				t.Fatalf("Read(%d) error = %v, want %v", tt.item, err, tt.err)
			}
			if err == nil && got != tt.want {
				t.Errorf("Read(%d) = %+v, want %+v", tt.item, got, tt.want)
			}
		})
	}
}

func TestOpenRefusesAnUnreachableDatabase(t *testing.T) {
	if _, err := Open(context.Background(), "root:@tcp(127.0.0.1:1)/orderq"); err == nil {
		t.Fatal("Open succeeded against a closed port")
	}
	if _, err := Open(context.Background(), "not a dsn"); err == nil {
		t.Fatal("Open accepted a malformed DSN")
	}
}
