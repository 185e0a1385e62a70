package e2e

import (
	"bufio"
	"database/sql"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
)

// The data of the build before money, payments and authentication (commit
// bcbcb0c): its schema (testdata/bcbcb0c: migrations 0001 and 0002 as they
// were then, kept here as they were and not recomputed from today's files),
// and orders of every shape written the way its worker and gateway wrote
// them. TestUpgradeKeepsOrders migrates it with today's programs and reads
// every order and item back through the API.

// oldLine is a line as that build stored it. held: the line reserved stock,
// so the ledger has its reservation (and, once released, its release).
type oldLine struct {
	item   int64
	qty    int
	status string
	reason string
	held   bool
}

// oldOrder is an order as that build stored it.
type oldOrder struct {
	name      string
	customer  string
	status    string
	reason    string
	display   string // the display code it stored, and answered
	parts     int
	partsDone int
	// inline: a single-line order rejected at its decision, its line kept in
	// its own row (orders.item_id, orders.quantity), none in order_lines.
	inline  bool
	lines   []oldLine
	decided bool          // processed_at is set
	later   time.Duration // updated_at after processed_at (a move, a release)
}

// The items of that build: id, name, initial stock, max per customer.
var oldItems = []struct {
	id      int64
	name    string
	initial int64
	maxPer  int
	deleted bool
}{
	{1, "sneaker", 10, 2, false},
	{2, "cap", 5, 0, false},
	{3, "bag", 3, 0, false},
	{4, "discontinued", 2, 0, true},
}

// oldOrders are orders of every shape that build wrote. Customer ids differ
// by case on purpose: Dave and dave are two customers.
var oldOrders = []oldOrder{
	{name: "single line confirmed", customer: "Dave", status: "confirmed", display: "awaiting_payment", parts: 1, partsDone: 1, decided: true,
		lines: []oldLine{{item: 1, qty: 1, status: "reserved", held: true}}},
	{name: "rejected inline, out of stock", customer: "dave", status: "rejected", reason: "out_of_stock", display: "canceled", parts: 1, partsDone: 1, decided: true, inline: true,
		lines: []oldLine{{item: 2, qty: 9, status: "released", reason: "out_of_stock"}}},
	{name: "rejected inline, limit exceeded", customer: "Dave", status: "rejected", reason: "limit_exceeded", display: "canceled", parts: 1, partsDone: 1, decided: true, inline: true,
		lines: []oldLine{{item: 1, qty: 3, status: "released", reason: "limit_exceeded"}}},
	{name: "rejected inline, item not found", customer: "dave", status: "rejected", reason: "item_not_found", display: "canceled", parts: 1, partsDone: 1, decided: true, inline: true,
		lines: []oldLine{{item: 99, qty: 1, status: "released", reason: "item_not_found"}}},
	{name: "cart pending on its second shard", customer: "carol", status: "pending", display: "processing", parts: 2, partsDone: 1,
		lines: []oldLine{{item: 1, qty: 1, status: "reserved", held: true}, {item: 2, qty: 1, status: "pending"}}},
	{name: "cart confirmed", customer: "carol", status: "confirmed", display: "awaiting_payment", parts: 2, partsDone: 2, decided: true,
		lines: []oldLine{{item: 2, qty: 2, status: "reserved", held: true}, {item: 3, qty: 1, status: "reserved", held: true}}},
	{name: "cart rejected by its second shard, the first released", customer: "dave", status: "rejected", reason: "out_of_stock", display: "canceled", parts: 2, partsDone: 2, decided: true, later: time.Millisecond,
		lines: []oldLine{{item: 1, qty: 1, status: "released", held: true}, {item: 3, qty: 5, status: "released", reason: "out_of_stock"}}},
	{name: "cart rejected at home", customer: "Dave", status: "rejected", reason: "out_of_stock", display: "canceled", parts: 2, partsDone: 1, decided: true,
		lines: []oldLine{{item: 3, qty: 9, status: "released", reason: "out_of_stock"}, {item: 2, qty: 1, status: "released"}}},
	{name: "paid", customer: "erin", status: "paid", display: "processing", parts: 1, partsDone: 1, decided: true, later: time.Minute,
		lines: []oldLine{{item: 2, qty: 1, status: "reserved", held: true}}},
	{name: "canceled", customer: "erin", status: "canceled", reason: "canceled", display: "canceled", parts: 1, partsDone: 1, decided: true, later: 2 * time.Minute,
		lines: []oldLine{{item: 3, qty: 1, status: "released", held: true}}},
	{name: "canceled by the payment deadline", customer: "frank", status: "canceled", reason: "payment_timeout", display: "canceled", parts: 1, partsDone: 1, decided: true, later: 15 * time.Minute,
		lines: []oldLine{{item: 1, qty: 1, status: "released", held: true}}},
	{name: "active, lines in fulfilment", customer: "gina", status: "active", display: "shipped", parts: 2, partsDone: 2, decided: true, later: time.Hour,
		lines: []oldLine{{item: 1, qty: 1, status: "transit_for_outbound", held: true}, {item: 2, qty: 1, status: "rent_in_progress", held: true}}},
	{name: "fulfilled", customer: "gina", status: "fulfilled", display: "completed", parts: 1, partsDone: 1, decided: true, later: 2 * time.Hour,
		lines: []oldLine{{item: 3, qty: 1, status: "preparing_and_cleaning", held: true}}},
}

// labels are that build's Indonesian labels of the display codes.
var oldLabels = map[string]string{
	"processing": "Sedang Diproses", "awaiting_payment": "Menunggu Pembayaran", "shipped": "Pesanan Dikirim",
	"active": "Pesanan Aktif", "completed": "Selesai", "canceled": "Dibatalkan",
}

// answeredLine and answeredOrder are the fields that build answered for an
// order (GET /api/v1/orders/{id}); today's answer has more.
type answeredLine struct {
	ItemID   int64   `json:"item_id"`
	Quantity int     `json:"quantity"`
	Status   string  `json:"status"`
	Reason   *string `json:"reason"`
}

type answeredOrder struct {
	ID            string         `json:"id"`
	ItemID        int64          `json:"item_id,omitempty"`
	Quantity      int            `json:"quantity,omitempty"`
	CustomerID    string         `json:"customer_id"`
	Status        string         `json:"status"`
	Reason        *string        `json:"reason"`
	Lines         []answeredLine `json:"lines"`
	CreatedAt     time.Time      `json:"created_at"`
	ProcessedAt   *time.Time     `json:"processed_at"`
	UpdatedAt     time.Time      `json:"updated_at"`
	DisplayStatus struct {
		Code  string `json:"code"`
		Label string `json:"label"`
	} `json:"display_status"`
}

// answeredKeys are the keys of every order answer then; item_id and quantity
// were there for a single-line order only.
var answeredKeys = []string{"id", "customer_id", "status", "reason", "lines", "created_at", "processed_at", "updated_at", "display_status"}

type answeredItem struct {
	ID             int64     `json:"id"`
	Name           string    `json:"name"`
	Stock          int64     `json:"stock"`
	MaxPerCustomer int       `json:"max_per_customer"`
	CreatedAt      time.Time `json:"created_at"`
	UpdatedAt      time.Time `json:"updated_at"`
}

// lineStatusToday is a line's status as answered today: since migration 0004
// a line that never held stock is rejected, and released says only that a
// line held stock and gave it back. Every other field reads as it did.
func lineStatusToday(l oldLine) string {
	if l.status == "released" && !l.held {
		return "rejected"
	}
	return l.status
}

func strPtr(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}

// sqlStatements splits a migration file as the build that ran it did: at
// semicolons ending a line, without comment lines.
func sqlStatements(t *testing.T, path string) []string {
	t.Helper()
	body, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	var cur strings.Builder
	for line := range strings.Lines(string(body)) {
		trimmed := strings.TrimSpace(line)
		if trimmed == "" || strings.HasPrefix(trimmed, "--") {
			continue
		}
		cur.WriteString(line)
		if strings.HasSuffix(trimmed, ";") {
			out = append(out, strings.TrimSuffix(strings.TrimSpace(cur.String()), ";"))
			cur.Reset()
		}
	}
	if len(out) == 0 {
		t.Fatalf("%s holds no statement", path)
	}
	return out
}

// migratedBy returns the migrations a process's log says it applied.
func migratedBy(t *testing.T, p *process) []string {
	t.Helper()
	var names []string
	sc := bufio.NewScanner(strings.NewReader(p.output()))
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		var r struct{ Msg, Migration string }
		if json.Unmarshal(sc.Bytes(), &r) == nil && r.Msg == "schema migrated" {
			names = append(names, r.Migration)
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return names
}

// migrationFiles returns the names of today's migrations, in version order.
func migrationFiles(t *testing.T) []string {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(repoRoot, "shared", "database", "migrations", "*.sql"))
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for i, f := range files {
		name := filepath.Base(f)
		if v, err := strconv.Atoi(strings.SplitN(name, "_", 2)[0]); err != nil || v != i+1 {
			t.Fatalf("migration %s: want version %d", name, i+1)
		}
		names = append(names, name)
	}
	if len(names) < 3 {
		t.Fatalf("%d migrations: the tests here expect 0001, 0002 and later ones", len(names))
	}
	return names
}

// migratedOnce checks that the processes, started together, applied want
// (in order) between them, all by one of them, and that the database
// records every migration.
func migratedOnce(t *testing.T, db *sql.DB, want []string, ps ...*process) {
	t.Helper()
	var got []string
	migrators := 0
	for _, p := range ps {
		if names := migratedBy(t, p); len(names) > 0 {
			migrators++
			got = append(got, names...)
		}
	}
	if !slices.Equal(got, want) || migrators > 1 {
		t.Errorf("%d of %d processes applied %v between them; want %v, all by one", migrators, len(ps), got, want)
	}
	rows, err := db.Query("SELECT version FROM schema_migrations ORDER BY version")
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var versions []int
	for rows.Next() {
		var v int
		if err := rows.Scan(&v); err != nil {
			t.Fatal(err)
		}
		versions = append(versions, v)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	if n := len(migrationFiles(t)); len(versions) != n || versions[n-1] != n {
		t.Errorf("schema_migrations %v, want 1 to %d", versions, n)
	}
}

// TestProcessesStartingTogetherMigrateOnce starts two gateways and two
// workers at once on an empty database: every one starts, and one of them
// applies every migration, once.
func TestProcessesStartingTogetherMigrateOnce(t *testing.T) {
	t.Parallel()
	s := newSystem(t)
	var ls []launching
	for range 2 {
		ls = append(ls, s.launch("worker", map[string]string{"METRICS_ADDR": "127.0.0.1:0"}, workerReady),
			s.launch("api-gateway", map[string]string{"HTTP_ADDR": "127.0.0.1:0", "METRICS_ADDR": "127.0.0.1:0"}, gatewayReady))
	}
	var ps []*process
	for _, l := range ls {
		p, _ := s.await(l)
		ps = append(ps, p)
	}
	migratedOnce(t, s.db(), migrationFiles(t), ps...)
}

// TestUpgradeKeepsOrders fills a database as the build of commit bcbcb0c
// left it, starts a worker and a gateway of today on it at once (both
// migrate at start-up: one of them applies every later migration, once),
// and reads back every order, as its customer, and every item: each field
// that build answered reads as it did, lists and their display filter find
// the same orders, and the stock ledger still adds up.
func TestUpgradeKeepsOrders(t *testing.T) {
	t.Parallel()
	s := newSystem(t)
	db := s.db()
	exec := func(q string, args ...any) {
		t.Helper()
		if _, err := db.Exec(q, args...); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}

	// The schema as that build made it, recorded as it recorded it.
	exec(`CREATE TABLE IF NOT EXISTS schema_migrations (
		version INT NOT NULL PRIMARY KEY, applied_at DATETIME(6) NOT NULL) ENGINE=InnoDB`)
	for v, name := range []string{"0001_init.sql", "0002_rejected_line_in_order.sql"} {
		for _, stmt := range sqlStatements(t, filepath.Join("testdata", "bcbcb0c", name)) {
			exec(stmt)
		}
		exec("INSERT INTO schema_migrations (version, applied_at) VALUES (?, NOW(6))", v+1)
	}
	exec("INSERT IGNORE INTO orderq_meta (name, value) VALUES ('shards', ?)", s.env["SHARDS"])

	// Its rows. Times are three hours ago and later, to the microsecond, as
	// it stored them.
	base := time.Now().UTC().Add(-3 * time.Hour).Truncate(time.Microsecond)
	stock := map[int64]int64{}
	for _, it := range oldItems {
		stock[it.id] = it.initial
		var deleted any
		if it.deleted {
			deleted = base.Add(time.Second)
			exec("INSERT INTO item_commands (id, item_id, kind, error, applied_at) VALUES (?, ?, 'delete_item', NULL, ?)", uuid.NewString(), it.id, deleted)
		}
		exec("INSERT INTO items (id, name, stock, initial_stock, max_per_customer, created_at, updated_at, deleted_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
			it.id, it.name, it.initial, it.initial, it.maxPer, base, base, deleted)
	}
	// A restock of item 2, and one refused.
	restock := uuid.NewString()
	exec("INSERT INTO item_commands (id, item_id, kind, error, applied_at) VALUES (?, 2, 'stock', NULL, ?), (?, 3, 'stock', 'insufficient_stock', ?)",
		restock, base.Add(time.Second), uuid.NewString(), base.Add(time.Second))
	exec("INSERT INTO stock_movements (item_id, ref, kind, delta, created_at) VALUES (2, ?, 'adjust', 3, ?)", restock, base.Add(time.Second))
	stock[2] += 3
	movements := 1

	want := map[string]answeredOrder{}
	var ids []string
	for i, o := range oldOrders {
		id := uuid.NewString()
		ids = append(ids, id)
		created := base.Add(time.Duration(i+1) * time.Minute)
		var processed *time.Time
		updated := created.Add(time.Millisecond)
		if o.decided {
			p := created.Add(time.Millisecond)
			processed = &p
			updated = p.Add(o.later)
		}
		var item, qty any
		if o.inline {
			item, qty = o.lines[0].item, o.lines[0].qty
		}
		exec(`INSERT INTO orders (id, customer_id, item_id, quantity, status, reason, display_status, parts, parts_done, created_at, processed_at, updated_at)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
			id, o.customer, item, qty, o.status, strPtr(o.reason), o.display, o.parts, o.partsDone, created, processed, updated)
		for n, l := range o.lines {
			if !o.inline {
				exec("INSERT INTO order_lines (order_id, line_no, item_id, quantity, customer_id, status, reason) VALUES (?, ?, ?, ?, ?, ?, ?)",
					id, n, l.item, l.qty, o.customer, l.status, strPtr(l.reason))
			}
			if !l.held {
				continue
			}
			exec("INSERT INTO stock_movements (item_id, ref, kind, delta, created_at) VALUES (?, ?, 'order', ?, ?)", l.item, id, -l.qty, created.Add(time.Millisecond))
			stock[l.item] -= int64(l.qty)
			movements++
			if l.status == "released" {
				exec("INSERT INTO stock_movements (item_id, ref, kind, delta, created_at) VALUES (?, ?, 'release', ?, ?)", l.item, id, l.qty, updated)
				stock[l.item] += int64(l.qty)
				movements++
			}
		}

		a := answeredOrder{ID: id, CustomerID: o.customer, Status: o.status, Reason: strPtr(o.reason),
			CreatedAt: created, ProcessedAt: processed, UpdatedAt: updated}
		for _, l := range o.lines {
			a.Lines = append(a.Lines, answeredLine{ItemID: l.item, Quantity: l.qty, Status: lineStatusToday(l), Reason: strPtr(l.reason)})
		}
		if len(o.lines) == 1 {
			a.ItemID, a.Quantity = o.lines[0].item, o.lines[0].qty
		}
		a.DisplayStatus.Code, a.DisplayStatus.Label = o.display, oldLabels[o.display]
		want[id] = a
	}
	for id, n := range stock {
		if n < 0 {
			t.Fatalf("the fixture sells item %d below zero", id)
		}
		exec("UPDATE items SET stock = ? WHERE id = ?", n, id)
	}

	// Today's programs, started together: each migrates before it serves.
	w := s.launch("worker", map[string]string{"METRICS_ADDR": "127.0.0.1:0", "PAYMENT_TIMEOUT": "720h"}, workerReady)
	g := s.launch("api-gateway", map[string]string{"HTTP_ADDR": "127.0.0.1:0", "METRICS_ADDR": "127.0.0.1:0"}, gatewayReady)
	worker, _ := s.await(w)
	gateway, addr := s.await(g)
	api := "http://" + addr
	waitReady(t, api, http.StatusOK)

	t.Run("each later migration applied once, by one process", func(t *testing.T) {
		all := migrationFiles(t)
		migratedOnce(t, db, all[2:], worker, gateway)
	})

	c := newClient(t, api, 4)
	t.Run("every order reads as it did, to its customer", func(t *testing.T) {
		for i, id := range ids {
			o := oldOrders[i]
			var raw map[string]json.RawMessage
			if st := c.customer(o.customer).do("GET", "/api/v1/orders/"+id, nil, nil, &raw); st != http.StatusOK {
				t.Errorf("%s: GET as %s: status %d", o.name, o.customer, st)
				continue
			}
			for _, k := range answeredKeys {
				if _, ok := raw[k]; !ok {
					t.Errorf("%s: the answer has no %q", o.name, k)
				}
			}
			body, err := json.Marshal(raw)
			if err != nil {
				t.Fatal(err)
			}
			var got answeredOrder
			if err := json.Unmarshal(body, &got); err != nil {
				t.Fatalf("%s: %v", o.name, err)
			}
			gotJSON, err := json.Marshal(got)
			if err != nil {
				t.Fatal(err)
			}
			wantJSON, err := json.Marshal(want[id])
			if err != nil {
				t.Fatal(err)
			}
			if string(gotJSON) != string(wantJSON) {
				t.Errorf("%s:\n got %s\nwant %s", o.name, gotJSON, wantJSON)
			}
			// Another customer, even one whose id differs only by case,
			// is told it does not exist.
			other := strings.ToUpper(o.customer)
			if other == o.customer {
				other = strings.ToLower(o.customer)
			}
			if st := c.customer(other).do("GET", "/api/v1/orders/"+id, nil, nil, nil); st != http.StatusNotFound {
				t.Errorf("%s: GET as %s: status %d, want 404", o.name, other, st)
			}
		}
	})

	t.Run("lists find each customer's orders but the rejected, newest first, and filter on the display status", func(t *testing.T) {
		customers := map[string]bool{}
		for _, o := range oldOrders {
			customers[o.customer] = true
		}
		for customer := range customers {
			for _, display := range []string{"", "processing", "awaiting_payment", "shipped", "completed", "canceled"} {
				var wantIDs []string
				for i := len(oldOrders) - 1; i >= 0; i-- {
					if o := oldOrders[i]; o.customer == customer && o.status != "rejected" && (display == "" || o.display == display) {
						wantIDs = append(wantIDs, ids[i])
					}
				}
				var list struct {
					Orders []answeredOrder `json:"orders"`
				}
				path := "/api/v1/orders?limit=100"
				if display != "" {
					path += "&display_status=" + display
				}
				if st := c.customer(customer).do("GET", path, nil, nil, &list); st != http.StatusOK {
					t.Errorf("%s %s: status %d", customer, path, st)
					continue
				}
				var gotIDs []string
				for _, o := range list.Orders {
					gotIDs = append(gotIDs, o.ID)
				}
				if !slices.Equal(gotIDs, wantIDs) {
					t.Errorf("%s %s: %v, want %v", customer, path, gotIDs, wantIDs)
				}
			}
		}
	})

	t.Run("every item reads as it did, and the ledger adds up", func(t *testing.T) {
		for _, it := range oldItems {
			var raw map[string]json.RawMessage
			st := c.do("GET", fmt.Sprintf("/api/v1/items/%d", it.id), nil, nil, &raw)
			if it.deleted {
				if st != http.StatusNotFound {
					t.Errorf("deleted item %d: status %d, want 404", it.id, st)
				}
				continue
			}
			if st != http.StatusOK {
				t.Errorf("item %d: status %d", it.id, st)
				continue
			}
			body, err := json.Marshal(raw)
			if err != nil {
				t.Fatal(err)
			}
			var got answeredItem
			if err := json.Unmarshal(body, &got); err != nil {
				t.Fatal(err)
			}
			wantItem := answeredItem{ID: it.id, Name: it.name, Stock: stock[it.id], MaxPerCustomer: it.maxPer, CreatedAt: base, UpdatedAt: base}
			if got != wantItem {
				t.Errorf("item %d: %+v, want %+v", it.id, got, wantItem)
			}
		}
		var n int
		if err := db.QueryRow("SELECT COUNT(*) FROM stock_movements").Scan(&n); err != nil {
			t.Fatal(err)
		}
		if n != movements {
			t.Errorf("%d stock movements, want the %d written before", n, movements)
		}
		var broken int
		err := db.QueryRow(`SELECT COUNT(*) FROM items i WHERE i.initial_stock + COALESCE((SELECT SUM(m.delta)
			FROM stock_movements m WHERE m.item_id = i.id), 0) != i.stock`).Scan(&broken)
		if err != nil {
			t.Fatal(err)
		}
		if broken != 0 {
			t.Errorf("%d items break initial_stock + Σ movements = stock", broken)
		}
	})

	t.Run("a new order is decided on the migrated database", func(t *testing.T) {
		st, o := c.customer("helen").order(3, 1, "", 10)
		if st != http.StatusOK || o.Status != "confirmed" {
			t.Errorf("new order: status %d, %+v; want 200 confirmed", st, o)
		}
	})
}
