package ledger

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/orderq/orderq/loadtest/internal/check"
	"github.com/orderq/orderq/shared/database"
	"github.com/orderq/orderq/shared/testenv"
)

func TestRead(t *testing.T) {
	dsn, _, exec := schemaDB(t)
	exec(items([3]int64{1, 7, 10}, [3]int64{2, 5, 5}, [3]int64{3, 4, 10}),
		movements([2]int64{1, -1}, [2]int64{1, -2}, [2]int64{3, -1}, [2]int64{2, 0}))
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
	dsn, _, exec := schemaDB(t)
	// More items than one statement names, each k with stock k+1 and k
	// movements of -1 (so item k holds 1), except item 1500, unbalanced.
	const n = 2500
	var ids []int64
	for k := int64(1); k <= n; k++ {
		ids = append(ids, k)
	}
	for chunk := range slices.Chunk(ids, 500) {
		var rows [][3]int64
		var moves [][2]int64
		for _, k := range chunk {
			stock := int64(1)
			if k == 1500 {
				stock = 2
			}
			rows = append(rows, [3]int64{k, stock, k + 1})
			for range k % 4 { // a few movements each keeps the insert small
				moves = append(moves, [2]int64{k, -1})
			}
			moves = append(moves, [2]int64{k, -(k - k%4)})
		}
		exec(items(rows...), movements(moves...))
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

// schemaDB returns a database migrated to orderq's schema, its DSN, and a way
// to run statements in the test's goroutine.
func schemaDB(t *testing.T) (string, *sql.DB, func(qs ...string)) {
	t.Helper()
	dsn := testenv.Database(t)
	migrated, err := database.Open(t.Context(), dsn, slog.New(slog.NewTextHandler(io.Discard, nil)), database.Options{MaxOpenConns: 1})
	if err != nil {
		t.Fatalf("migrate: %v", err)
	}
	database.Close(migrated)
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
	return dsn, db, exec
}

// items inserts items from rows of (id, stock, initial_stock).
func items(rows ...[3]int64) string {
	values := make([]string, len(rows))
	for i, r := range rows {
		values[i] = fmt.Sprintf("(%d, 'item', %d, %d, NOW(6), NOW(6))", r[0], r[1], r[2])
	}
	return `INSERT INTO items (id, name, stock, initial_stock, created_at, updated_at) VALUES ` + strings.Join(values, ", ")
}

// movements inserts stock movements from rows of (item_id, delta), each of a
// stock change of its own.
func movements(rows ...[2]int64) string {
	values := make([]string, len(rows))
	for i, r := range rows {
		values[i] = fmt.Sprintf("(%d, UNHEX(REPLACE(UUID(), '-', '')), 'adjust', %d, NOW(6))", r[0], r[1])
	}
	return `INSERT INTO stock_movements (item_id, ref, kind, delta, created_at) VALUES ` + strings.Join(values, ", ")
}

// orderID is the id of the order a fixture names with one letter.
func orderID(name string) string {
	return fmt.Sprintf("00000000-0000-7000-8000-0000000000%02x", name[0])
}

// orders inserts orders from rows of (name, status).
func orders(rows ...[2]string) string {
	values := make([]string, len(rows))
	for i, r := range rows {
		values[i] = fmt.Sprintf("(UNHEX(REPLACE('%s', '-', '')), 'c', '%s', 'processing', 1, 1, NOW(6), NOW(6))", orderID(r[0]), r[1])
	}
	return `INSERT INTO orders (id, customer_id, status, display_status, parts, parts_done, created_at, updated_at) VALUES ` +
		strings.Join(values, ", ")
}

// line is a fixture's order line.
type line struct {
	order          string
	no             int
	item, quantity int
	status         string
}

func lines(rows ...line) string {
	values := make([]string, len(rows))
	for i, l := range rows {
		values[i] = fmt.Sprintf("(UNHEX(REPLACE('%s', '-', '')), %d, %d, %d, 'c', '%s')", orderID(l.order), l.no, l.item, l.quantity, l.status)
	}
	return `INSERT INTO order_lines (order_id, line_no, item_id, quantity, customer_id, status) VALUES ` + strings.Join(values, ", ")
}

const outboxRow = `INSERT INTO outbox (routing_key, body, created_at) VALUES ('shard.0', '{}', NOW(6))`

// settledCarts is a settled run over items 1 and 2 of stock 5: a confirmed
// (2 of item 1, 1 of item 2), b rejected on item 1 after item 2 reserved 3
// (released since), c confirmed (3 of item 2); item 9 is another run's, with
// a pending order.
var settledCarts = []string{
	items([3]int64{1, 3, 5}, [3]int64{2, 1, 5}, [3]int64{9, 5, 5}),
	movements([2]int64{1, -2}, [2]int64{2, -1}, [2]int64{2, -3}, [2]int64{2, 3}, [2]int64{2, -3}),
	orders([2]string{"a", "confirmed"}, [2]string{"b", "rejected"}, [2]string{"c", "confirmed"}, [2]string{"z", "pending"}),
	lines(line{"a", 0, 1, 2, "reserved"}, line{"a", 1, 2, 1, "reserved"},
		line{"b", 0, 1, 4, "rejected"}, line{"b", 1, 2, 3, "released"},
		line{"c", 0, 2, 3, "reserved"},
		line{"z", 0, 9, 1, "pending"}),
}

func TestReadCarts(t *testing.T) {
	dsn, _, exec := schemaDB(t)
	r, err := Open(context.Background(), dsn)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { r.Close() })
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
		orders([2]string{"q", "pending"}, [2]string{"r", "rejected"}, [2]string{"s", "confirmed"}, [2]string{"u", "canceled"}),
		lines(line{"q", 0, 1, 1, "reserved"}, line{"q", 1, 2, 1, "pending"},
			line{"r", 0, 2, 1, "reserved"}, line{"r", 1, 1, 1, "rejected"},
			line{"s", 0, 1, 1, "reserved"}, line{"s", 1, 2, 2, "released"},
			line{"u", 0, 1, 1, "released"}, line{"u", 1, 2, 1, "transit_for_outbound"}),
		outboxRow,
	)
	got, err = r.ReadCarts(context.Background(), ids)
	if err != nil {
		t.Fatalf("ReadCarts: %v", err)
	}
	want := check.Audit{Pending: 1, Outbox: 1, Holding: 2, Unreserved: []string{orderID("s") + " (item 2: released)"}}
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
	dsn, db, exec := schemaDB(t)
	r, err := Open(context.Background(), dsn)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { r.Close() })
	exec(settledCarts...)
	exec(outboxRow)
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
	exec(outboxRow)
	cancel()
	if _, err := r.WaitSettled(ctx, ids, time.Minute); !errors.Is(err, context.Canceled) {
		t.Errorf("WaitSettled after cancel: %v, want %v", err, context.Canceled)
	}
}
