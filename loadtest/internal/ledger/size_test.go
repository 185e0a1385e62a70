package ledger

import (
	"context"
	"database/sql"
	"testing"

	"github.com/orderq/orderq/shared/testenv"
)

// TestSize measures a database twice, with rows added in between: the
// lengths must be fresh (InnoDB alone would report the empty tables' for
// seconds), the orders counted, and every table listed.
func TestSize(t *testing.T) {
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
	// The columns that make orders' rows as wide as the schema's, roughly.
	exec(`CREATE TABLE orders (id CHAR(36) CHARACTER SET ascii NOT NULL PRIMARY KEY,
			customer_id VARCHAR(64) NOT NULL, status VARCHAR(20) NOT NULL, KEY orders_customer (customer_id))`,
		`CREATE TABLE stock_movements (id BIGINT NOT NULL AUTO_INCREMENT PRIMARY KEY, item_id BIGINT NOT NULL, delta BIGINT NOT NULL)`,
		`CREATE TABLE digits (d INT NOT NULL)`,
		`INSERT INTO digits VALUES (0), (1), (2), (3), (4), (5), (6), (7), (8), (9)`,
		// A view is no table: it holds nothing.
		`CREATE VIEW confirmed AS SELECT id FROM orders WHERE status = 'confirmed'`)
	r, err := Open(context.Background(), dsn)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { r.Close() })

	empty, err := r.Size(context.Background())
	if err != nil {
		t.Fatalf("Size: %v", err)
	}
	if got := names(empty); got != "digits,orders,stock_movements" || empty.Orders != 0 {
		t.Fatalf("Size of the empty store = %+v, tables %s", empty, got)
	}

	exec(`INSERT INTO orders (id, customer_id, status)
		SELECT UUID(), CONCAT('customer-', a.d, b.d, c.d, e.d), 'confirmed' FROM digits a, digits b, digits c, digits e`)
	full, err := r.Size(context.Background())
	if err != nil {
		t.Fatalf("Size: %v", err)
	}
	if full.Orders != 10000 || names(full) != "digits,orders,stock_movements" {
		t.Fatalf("Size = %+v", full)
	}
	before, after := table(t, empty, "orders"), table(t, full, "orders")
	// 10,000 rows of ≈ 100 bytes take far more than the empty table's page.
	if after.DataBytes < 500_000 || after.IndexBytes < 200_000 || after.DataBytes <= before.DataBytes || after.Rows < 5000 {
		t.Errorf("orders: %+v after 10,000 rows, %+v before: the sizes are stale", after, before)
	}
	if sm := table(t, full, "stock_movements"); sm.DataBytes <= 0 || sm.DataBytes > 100_000 {
		t.Errorf("stock_movements, empty, is %+v", sm)
	}
}

func TestSizeWithoutOrders(t *testing.T) {
	dsn := testenv.Database(t)
	r, err := Open(context.Background(), dsn)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { r.Close() })
	if _, err := r.Size(context.Background()); err == nil {
		t.Error("Size of a database without tables succeeded")
	}
}

func names(s Size) string {
	var out string
	for i, t := range s.Tables {
		if i > 0 {
			out += ","
		}
		out += t.Name
	}
	return out
}

func table(t *testing.T, s Size, name string) Table {
	t.Helper()
	for _, tb := range s.Tables {
		if tb.Name == name {
			return tb
		}
	}
	t.Fatalf("no table %s in %+v", name, s)
	return Table{}
}
