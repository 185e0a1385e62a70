package ledger

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"testing"
	"time"

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

// cartsDB creates the columns ReadCarts uses, as the schema in shared/database
// defines them, and returns a Reader of it, the database, and a way to run
// statements in the test's goroutine.
func cartsDB(t *testing.T) (*Reader, *sql.DB, func(qs ...string)) {
	t.Helper()
	dsn := testenv.Database(t)
	db, err := sql.Open("mysql", dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	exec := func(qs ...string) {
		t.Helper()
		for _, q := range qs {
			if _, err := db.Exec(q); err != nil {
				t.Fatalf("%s: %v", q, err)
			}
		}
	}
	exec(
		`CREATE TABLE items (id BIGINT NOT NULL AUTO_INCREMENT PRIMARY KEY,
			stock BIGINT NOT NULL, initial_stock BIGINT NOT NULL)`,
		`CREATE TABLE stock_movements (id BIGINT NOT NULL AUTO_INCREMENT PRIMARY KEY,
			item_id BIGINT NOT NULL, delta BIGINT NOT NULL)`,
		`CREATE TABLE orders (id CHAR(36) CHARACTER SET ascii NOT NULL PRIMARY KEY,
			status VARCHAR(20) CHARACTER SET ascii NOT NULL)`,
		`CREATE TABLE order_lines (order_id CHAR(36) CHARACTER SET ascii NOT NULL, line_no INT NOT NULL,
			item_id BIGINT NOT NULL, quantity INT NOT NULL, status VARCHAR(24) CHARACTER SET ascii NOT NULL,
			PRIMARY KEY (order_id, line_no))`,
		`CREATE TABLE outbox (id BIGINT NOT NULL AUTO_INCREMENT PRIMARY KEY, body MEDIUMBLOB NOT NULL)`,
	)
	r, err := Open(context.Background(), dsn)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { r.Close() })
	return r, db, exec
}

// settledCarts is a settled run over items 1 and 2 of stock 5: a confirmed
// (2 of item 1, 1 of item 2), b rejected on item 1 after item 2 reserved 3
// (released since), c confirmed (3 of item 2); item 9 is another run's, with
// a pending order.
var settledCarts = []string{
	`INSERT INTO items (id, stock, initial_stock) VALUES (1, 3, 5), (2, 1, 5), (9, 5, 5)`,
	`INSERT INTO stock_movements (item_id, delta) VALUES (1, -2), (2, -1), (2, -3), (2, 3), (2, -3)`,
	`INSERT INTO orders (id, status) VALUES ('a', 'confirmed'), ('b', 'rejected'), ('c', 'confirmed'), ('z', 'pending')`,
	`INSERT INTO order_lines (order_id, line_no, item_id, quantity, status) VALUES
		('a', 0, 1, 2, 'reserved'), ('a', 1, 2, 1, 'reserved'),
		('b', 0, 1, 4, 'rejected'), ('b', 1, 2, 3, 'released'),
		('c', 0, 2, 3, 'reserved'),
		('z', 0, 9, 1, 'pending')`,
}

func TestReadCarts(t *testing.T) {
	r, _, exec := cartsDB(t)
	exec(settledCarts...)
	ids := []int64{1, 2}

	got, err := r.ReadCarts(context.Background(), ids)
	if err != nil {
		t.Fatalf("ReadCarts: %v", err)
	}
	wantLedgers := map[int64]check.Ledger{1: {InitialStock: 5, Movements: -2, Stock: 3}, 2: {InitialStock: 5, Movements: -4, Stock: 1}}
	if !maps.Equal(got.Ledgers, wantLedgers) || !maps.Equal(got.Held, map[int64]int64{1: 2, 2: 4}) {
		t.Errorf("settled: ledgers %v, held %v; want %v, held 1:2 2:4", got.Ledgers, got.Held, wantLedgers)
	}
	if !got.Audit.Settled() || len(got.Audit.Unreserved) != 0 {
		t.Errorf("settled: audit %+v", got.Audit)
	}

	// Now in flight: q pending, r rejected still holding 1 of item 2 (its
	// line on item 1 never held any), an outbox row, and s confirmed with a
	// released line.
	exec(
		`INSERT INTO orders (id, status) VALUES ('q', 'pending'), ('r', 'rejected'), ('s', 'confirmed'), ('u', 'canceled')`,
		`INSERT INTO order_lines (order_id, line_no, item_id, quantity, status) VALUES
			('q', 0, 1, 1, 'reserved'), ('q', 1, 2, 1, 'pending'),
			('r', 0, 2, 1, 'reserved'), ('r', 1, 1, 1, 'rejected'),
			('s', 0, 1, 1, 'reserved'), ('s', 1, 2, 2, 'released'),
			('u', 0, 1, 1, 'released'), ('u', 1, 2, 1, 'transit_for_outbound')`,
		`INSERT INTO outbox (body) VALUES ('{}')`,
	)
	got, err = r.ReadCarts(context.Background(), ids)
	if err != nil {
		t.Fatalf("ReadCarts: %v", err)
	}
	want := check.Audit{Pending: 1, Outbox: 1, Holding: 2, Unreserved: []string{"s (item 2: released)"}}
	if a := got.Audit; a.Pending != want.Pending || a.Outbox != want.Outbox || a.Holding != want.Holding ||
		!slices.Equal(a.Unreserved, want.Unreserved) || a.Settled() {
		t.Errorf("in flight: audit %+v, want %+v", a, want)
	}
	if !maps.Equal(got.Held, map[int64]int64{1: 3, 2: 4}) {
		t.Errorf("in flight: held %v, want 1:3 2:4", got.Held)
	}

	if _, err := r.ReadCarts(context.Background(), []int64{1, 7}); !errors.Is(err, ErrNoItem) {
		t.Errorf("ReadCarts with a missing item: %v, want %v", err, ErrNoItem)
	}
}

func TestWaitSettled(t *testing.T) {
	r, db, exec := cartsDB(t)
	exec(settledCarts...)
	exec(`INSERT INTO outbox (body) VALUES ('{}')`)
	ids := []int64{1, 2}

	got, err := r.WaitSettled(context.Background(), ids, 150*time.Millisecond)
	if err != nil {
		t.Fatalf("WaitSettled: %v", err)
	}
	if got.Audit.Settled() || got.Audit.Outbox != 1 || got.Audit.Waited < 150*time.Millisecond {
		t.Errorf("never settled: audit %+v, want 1 outbox row after at least 150ms", got.Audit)
	}

	published := make(chan error, 1)
	go func() {
		time.Sleep(200 * time.Millisecond)
		_, err := db.Exec(`DELETE FROM outbox`)
		published <- err
	}()
	got, err = r.WaitSettled(context.Background(), ids, time.Minute)
	if err != nil {
		t.Fatalf("WaitSettled: %v", err)
	}
	if err := <-published; err != nil {
		t.Fatalf("delete outbox: %v", err)
	}
	if !got.Audit.Settled() || got.Audit.Waited < 150*time.Millisecond || got.Audit.Waited > 30*time.Second {
		t.Errorf("settling: audit %+v, want settled after about 200ms", got.Audit)
	}

	ctx, cancel := context.WithCancel(context.Background())
	exec(`INSERT INTO outbox (body) VALUES ('{}')`)
	cancel()
	if _, err := r.WaitSettled(ctx, ids, time.Minute); !errors.Is(err, context.Canceled) {
		t.Errorf("WaitSettled after cancel: %v, want %v", err, context.Canceled)
	}
}
