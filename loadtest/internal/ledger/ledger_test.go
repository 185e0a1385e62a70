package ledger

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"strings"
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

func TestReadMany(t *testing.T) {
	dsn := testenv.Database(t)
	db, err := sql.Open("mysql", dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	for _, q := range []string{
		`CREATE TABLE items (id BIGINT NOT NULL AUTO_INCREMENT PRIMARY KEY,
			stock BIGINT NOT NULL, initial_stock BIGINT NOT NULL)`,
		`CREATE TABLE stock_movements (id BIGINT NOT NULL AUTO_INCREMENT PRIMARY KEY,
			item_id BIGINT NOT NULL, delta BIGINT NOT NULL)`,
	} {
		if _, err := db.Exec(q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	// More items than one statement names, each k with stock k+1 and k
	// movements of -1 (so item k holds 1), except item 1500, unbalanced.
	const n = 2500
	var ids []int64
	for k := int64(1); k <= n; k++ {
		ids = append(ids, k)
	}
	for chunk := range slices.Chunk(ids, 500) {
		var items, moves []string
		for _, k := range chunk {
			stock := int64(1)
			if k == 1500 {
				stock = 2
			}
			items = append(items, fmt.Sprintf("(%d, %d, %d)", k, stock, k+1))
			for range k % 4 { // a few movements each keeps the insert small
				moves = append(moves, fmt.Sprintf("(%d, -1)", k))
			}
			moves = append(moves, fmt.Sprintf("(%d, %d)", k, -(k-k%4)))
		}
		for _, q := range []string{
			"INSERT INTO items (id, stock, initial_stock) VALUES " + strings.Join(items, ","),
			"INSERT INTO stock_movements (item_id, delta) VALUES " + strings.Join(moves, ","),
		} {
			if _, err := db.Exec(q); err != nil {
				t.Fatalf("insert: %v", err)
			}
		}
	}
	r, err := Open(context.Background(), dsn)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { r.Close() })

	got, err := r.ReadMany(context.Background(), ids)
	if err != nil {
		t.Fatalf("ReadMany: %v", err)
	}
	if len(got) != n {
		t.Fatalf("ReadMany returned %d ledgers, want %d", len(got), n)
	}
	for _, k := range ids {
		want := check.Ledger{InitialStock: k + 1, Movements: -k, Stock: 1}
		if k == 1500 {
			want.Stock = 2
		}
		if got[k] != want {
			t.Errorf("item %d: ledger %+v, want %+v", k, got[k], want)
		}
	}
	// The same answers as Read, one item at a time.
	for _, k := range []int64{1, 999, 1000, 1001, 1500, n} {
		one, err := r.Read(context.Background(), k)
		if err != nil || one != got[k] {
			t.Errorf("Read(%d) = %+v, %v; ReadMany said %+v", k, one, err, got[k])
		}
	}

	if _, err := r.ReadMany(context.Background(), []int64{1, n + 1}); !errors.Is(err, ErrNoItem) {
		t.Errorf("ReadMany with a missing item: %v, want %v", err, ErrNoItem)
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
