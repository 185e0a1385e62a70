package database

import (
	"context"
	"database/sql"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"slices"
	"testing"
	"time"

	"github.com/orderq/orderq/shared/testenv"
)

// TestMoneyMigrationKeepsExistingData applies 0003 to a database holding
// data of the schema before it: every row stays, orders sold before prices
// get a total of 0 IDR, and customer ids compare exactly.
func TestMoneyMigrationKeepsExistingData(t *testing.T) {
	t.Parallel()
	dsn := testenv.Database(t)
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	raw, err := sql.Open("mysql", dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { raw.Close() })
	exec := func(q string, args ...any) {
		t.Helper()
		if _, err := raw.ExecContext(ctx, q, args...); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	// The schema as 0001 and 0002 left it, recorded as applied.
	exec(`CREATE TABLE schema_migrations (version INT NOT NULL PRIMARY KEY, applied_at DATETIME(6) NOT NULL) ENGINE=InnoDB`)
	for v, name := range []string{"0001_init.sql", "0002_rejected_line_in_order.sql"} {
		body, err := migrations.ReadFile("migrations/" + name)
		if err != nil {
			t.Fatal(err)
		}
		for _, stmt := range statements(string(body)) {
			exec(stmt)
		}
		exec("INSERT INTO schema_migrations (version, applied_at) VALUES (?, NOW(6))", v+1)
	}
	exec(`INSERT INTO items (id, name, stock, initial_stock, created_at, updated_at) VALUES (1, 'sneaker', 5, 7, NOW(6), NOW(6))`)
	const confirmed, rejected, pending = "00000000-0000-0000-0000-000000000001", "00000000-0000-0000-0000-000000000002", "00000000-0000-0000-0000-000000000003"
	exec(`INSERT INTO orders (id, customer_id, item_id, quantity, status, reason, display_status, parts, parts_done, created_at, updated_at) VALUES
		(?, 'Dave', NULL, NULL, 'confirmed', NULL, 'awaiting_payment', 1, 1, NOW(6), NOW(6)),
		(?, 'dave', 1, 3, 'rejected', 'out_of_stock', 'canceled', 1, 1, NOW(6), NOW(6)),
		(?, 'dave', NULL, NULL, 'pending', NULL, 'processing', 2, 1, NOW(6), NOW(6))`, confirmed, rejected, pending)
	exec(`INSERT INTO order_lines (order_id, line_no, item_id, quantity, customer_id, status) VALUES
		(?, 0, 1, 2, 'Dave', 'reserved'), (?, 0, 1, 1, 'dave', 'reserved'), (?, 1, 2, 1, 'dave', 'pending')`, confirmed, pending, pending)

	db, err := Open(ctx, dsn, slog.New(slog.NewTextHandler(io.Discard, nil)), Options{MaxOpenConns: 2})
	if err != nil {
		t.Fatalf("migrate a database with data: %v", err)
	}
	t.Cleanup(func() { Close(db) })

	var item struct {
		Stock    int64
		Price    int64
		Currency string
	}
	if err := db.Raw("SELECT stock, price, currency FROM items WHERE id = 1").Scan(&item).Error; err != nil {
		t.Fatal(err)
	}
	if item.Stock != 5 || item.Price != 0 || item.Currency != "IDR" {
		t.Errorf("item after the migration: %+v, want stock 5, price 0, IDR", item)
	}
	type orderRow struct {
		ID             string
		CustomerID     string
		Status         string
		Total          *int64
		Currency       *string
		RefundRequired bool
	}
	var orders []orderRow
	if err := db.Raw("SELECT id, customer_id, status, total, currency, refund_required FROM report_orders ORDER BY id").Scan(&orders).Error; err != nil {
		t.Fatal(err)
	}
	if len(orders) != 3 {
		t.Fatalf("%d orders after the migration, want 3", len(orders))
	}
	for _, o := range orders {
		sold := o.ID == confirmed
		if hasTotal := o.Total != nil && *o.Total == 0 && o.Currency != nil && *o.Currency == "IDR"; hasTotal != sold {
			t.Errorf("order %s (%s): total %v %v; want 0 IDR only for the confirmed one", o.ID, o.Status, o.Total, o.Currency)
		}
		if o.RefundRequired {
			t.Errorf("order %s flagged refund_required", o.ID)
		}
	}
	var lines []struct {
		OrderID   string
		LineNo    int
		UnitPrice *int64
	}
	if err := db.Raw("SELECT order_id, line_no, unit_price FROM report_order_lines ORDER BY order_id, line_no").Scan(&lines).Error; err != nil {
		t.Fatal(err)
	}
	if len(lines) != 4 {
		t.Fatalf("report_order_lines holds %d lines, want 4", len(lines))
	}
	for _, l := range lines {
		if priced := l.UnitPrice != nil && *l.UnitPrice == 0; priced != (l.OrderID == confirmed) {
			t.Errorf("line %s/%d: unit_price %v; want 0 only on the confirmed order's line", l.OrderID, l.LineNo, l.UnitPrice)
		}
	}
	for _, table := range []string{"report_orders", "order_lines", "report_order_lines"} {
		var n int64
		if err := db.Raw("SELECT COUNT(*) FROM " + table + " WHERE customer_id = 'dave'").Scan(&n).Error; err != nil {
			t.Fatal(err)
		}
		var m int64
		if err := db.Raw("SELECT COUNT(*) FROM " + table + " WHERE customer_id = 'Dave'").Scan(&m).Error; err != nil {
			t.Fatal(err)
		}
		if want := map[string][2]int64{"report_orders": {2, 1}, "order_lines": {2, 1}, "report_order_lines": {3, 1}}[table]; n != want[0] || m != want[1] {
			t.Errorf("%s: %d rows of dave and %d of Dave, want %d and %d", table, n, m, want[0], want[1])
		}
	}
	var versions []int
	if err := db.Raw("SELECT version FROM schema_migrations ORDER BY version").Scan(&versions).Error; err != nil {
		t.Fatal(err)
	}
	if want := versionsOf(embedded(t)); !slices.Equal(versions, want) {
		t.Errorf("schema_migrations %v, want %v", versions, want)
	}
	// A price below zero is refused by the database itself.
	if err := db.Exec("UPDATE items SET price = -1 WHERE id = 1").Error; err == nil {
		t.Error("a negative price was stored")
	}
}

// TestRejectedLinesMigration applies 0004 to lines written before it, which
// said released for a line whether or not it held stock: those the ledger
// shows no reservation for become rejected, the others stay released, and the
// line a rejected single-line order keeps in its row reads rejected.
func TestRejectedLinesMigration(t *testing.T) {
	t.Parallel()
	dsn := testenv.Database(t)
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	raw, err := sql.Open("mysql", dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { raw.Close() })
	exec := func(q string, args ...any) {
		t.Helper()
		if _, err := raw.ExecContext(ctx, q, args...); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	exec(`CREATE TABLE schema_migrations (version INT NOT NULL PRIMARY KEY, applied_at DATETIME(6) NOT NULL) ENGINE=InnoDB`)
	for v, name := range []string{"0001_init.sql", "0002_rejected_line_in_order.sql", "0003_money_and_payments.sql"} {
		body, err := migrations.ReadFile("migrations/" + name)
		if err != nil {
			t.Fatal(err)
		}
		for _, stmt := range statements(string(body)) {
			exec(stmt)
		}
		exec("INSERT INTO schema_migrations (version, applied_at) VALUES (?, NOW(6))", v+1)
	}
	// cart: rejected by line 1 after line 0 was reserved and released;
	// canceled: its one line reserved, released by the cancellation;
	// inlined: rejected at its decision, its line in its row.
	const cart, canceled, inlined = "00000000-0000-0000-0000-00000000000a", "00000000-0000-0000-0000-00000000000b", "00000000-0000-0000-0000-00000000000c"
	exec(`INSERT INTO items (id, name, stock, initial_stock, created_at, updated_at) VALUES
		(1, 'tent', 5, 5, NOW(6), NOW(6)), (2, 'stove', 0, 0, NOW(6), NOW(6))`)
	exec(`INSERT INTO orders (id, customer_id, item_id, quantity, status, reason, display_status, parts, parts_done, created_at, updated_at) VALUES
		(?, 'c', NULL, NULL, 'rejected', 'out_of_stock', 'canceled', 2, 2, NOW(6), NOW(6)),
		(?, 'c', NULL, NULL, 'canceled', 'canceled', 'canceled', 1, 1, NOW(6), NOW(6)),
		(?, 'c', 2, 1, 'rejected', 'out_of_stock', 'canceled', 1, 1, NOW(6), NOW(6))`, cart, canceled, inlined)
	exec(`INSERT INTO order_lines (order_id, line_no, item_id, quantity, unit_price, customer_id, status, reason) VALUES
		(?, 0, 1, 2, 0, 'c', 'released', NULL), (?, 1, 2, 1, NULL, 'c', 'released', 'out_of_stock'),
		(?, 0, 1, 1, 0, 'c', 'released', NULL)`, cart, cart, canceled)
	exec(`INSERT INTO stock_movements (item_id, ref, kind, delta, created_at) VALUES
		(1, ?, 'order', -2, NOW(6)), (1, ?, 'release', 2, NOW(6)), (1, ?, 'order', -1, NOW(6)), (1, ?, 'release', 1, NOW(6))`,
		cart, cart, canceled, canceled)

	db, err := Open(ctx, dsn, slog.New(slog.NewTextHandler(io.Discard, nil)), Options{MaxOpenConns: 2})
	if err != nil {
		t.Fatalf("migrate a database with data: %v", err)
	}
	t.Cleanup(func() { Close(db) })
	var lines []struct {
		OrderID string
		LineNo  int
		Status  string
	}
	if err := db.Raw("SELECT order_id, line_no, status FROM report_order_lines ORDER BY order_id, line_no").Scan(&lines).Error; err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	for _, l := range lines {
		got[fmt.Sprintf("%s/%d", l.OrderID, l.LineNo)] = l.Status
	}
	want := map[string]string{
		cart + "/0": "released", cart + "/1": "rejected", canceled + "/0": "released", inlined + "/0": "rejected",
	}
	if !maps.Equal(got, want) {
		t.Errorf("line statuses after the migration: %v, want %v", got, want)
	}
}
