package report

import (
	"bytes"
	"encoding/json"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/orderq/orderq/loadtest/internal/check"
)

func TestNewStore(t *testing.T) {
	tests := []struct {
		name     string
		orders   int64
		tables   []Table
		bytes    int64
		perOrder float64
		order    []string // the tables' names, as listed
	}{
		{
			name:   "largest first, ties by name",
			orders: 3,
			tables: []Table{
				{Name: "items", DataBytes: 16384, IndexBytes: 0},
				{Name: "orders", DataBytes: 600, IndexBytes: 400},
				{Name: "order_lines", DataBytes: 500, IndexBytes: 500},
				{Name: "stock_movements", DataBytes: 2000, IndexBytes: 1000},
			},
			bytes:    16384 + 1000 + 1000 + 3000,
			perOrder: 7128,
			order:    []string{"items", "stock_movements", "order_lines", "orders"},
		},
		{name: "no order", orders: 0, tables: []Table{{Name: "orders", DataBytes: 16384, IndexBytes: 32768}}, bytes: 49152, perOrder: 0, order: []string{"orders"}},
		{name: "rounded per order", orders: 3, tables: []Table{{Name: "orders", DataBytes: 1000}}, bytes: 1000, perOrder: 333.3, order: []string{"orders"}},
		{name: "no table", orders: 0, bytes: 0, order: []string{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in := slices.Clone(tt.tables)
			s := NewStore(tt.orders, tt.tables)
			var names []string
			for _, tb := range s.Tables {
				names = append(names, tb.Name)
			}
			if s.Orders != tt.orders || s.Bytes != tt.bytes || s.BytesPerOrder != tt.perOrder || !slices.Equal(names, tt.order) || s.Tables == nil {
				t.Errorf("NewStore = %+v (tables %v), want %d bytes, %v an order, tables %v", s, names, tt.bytes, tt.perOrder, tt.order)
			}
			if !reflect.DeepEqual(in, tt.tables) {
				t.Errorf("NewStore reordered its argument: %v", tt.tables)
			}
		})
	}
}

// soakSale is sale n of a soak: its summary as Build would make it, and the
// store after it of orders orders.
func soakSale(n int, finalPerSecond float64, orders int64, vs ...check.Violation) SoakSale {
	s := summary(1000, 1000, 0, finalPerSecond, vs...)
	s.Item.ID = int64(40 + n)
	s.Latency.Accept = Stats{P50: 20, P99: 80.5}
	s.Latency.AcceptToFinal = Stats{P50: 30, P99: 1250}
	s.Schedule = &Schedule{TargetPerSecond: 10000, DurationSeconds: 30, Slipped: 10 * n}
	s.Ledger = Ledger{Checked: true}
	store := NewStore(orders, []Table{
		{Name: "orders", RowsEstimate: orders, DataBytes: 200 * orders, IndexBytes: 150 * orders},
		{Name: "stock_movements", RowsEstimate: orders / 300, DataBytes: 16384 + 30*orders, IndexBytes: 40 * orders},
		{Name: "items", RowsEstimate: int64(n), DataBytes: 16384},
	})
	return NewSoakSale(n, s, store, "")
}

var soakCrowd = SoakCrowd{Sales: 3, TargetPerSecond: 10000, DurationSeconds: 30, Concurrency: 1000, Quantity: 1, Stock: 1000, Auth: "token"}

func TestNewSoak(t *testing.T) {
	broken := check.Violation{Rule: check.RuleOversold, Message: "1001 units were confirmed, but the item had only 1000"}
	tests := []struct {
		name        string
		sales       []SoakSale
		complete    bool
		lastOfFirst float64 // -1: none
		failed      []int
	}{
		{name: "slowing down", sales: []SoakSale{soakSale(1, 9900, 300000), soakSale(2, 8400, 600000), soakSale(3, 4950, 900000)},
			complete: true, lastOfFirst: 50, failed: []int{}},
		{name: "one sale", sales: []SoakSale{soakSale(1, 9900, 300000)}, lastOfFirst: -1, failed: []int{}},
		{name: "no sale", lastOfFirst: -1, failed: []int{}},
		{name: "a first sale of nothing", sales: []SoakSale{soakSale(1, 0, 0), soakSale(2, 10, 5)}, lastOfFirst: -1, failed: []int{}},
		{name: "broken sales", sales: []SoakSale{soakSale(1, 9000, 1), soakSale(2, 9000, 2, broken), soakSale(3, 9900, 3, broken)},
			complete: true, lastOfFirst: 110, failed: []int{2, 3}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := NewSoak(soakCrowd, nil, "", tt.sales)
			if s.Complete != tt.complete || !slices.Equal(s.Failed, tt.failed) || s.Passed != (len(tt.failed) == 0) || s.Sales == nil {
				t.Errorf("NewSoak = complete %v, failed %v, passed %v; want %v, %v", s.Complete, s.Failed, s.Passed, tt.complete, tt.failed)
			}
			switch {
			case tt.lastOfFirst < 0 && s.LastOfFirst != nil:
				t.Errorf("last of first = %v, want none", *s.LastOfFirst)
			case tt.lastOfFirst >= 0 && (s.LastOfFirst == nil || *s.LastOfFirst != tt.lastOfFirst):
				t.Errorf("last of first = %v, want %v", s.LastOfFirst, tt.lastOfFirst)
			}
		})
	}
}

func TestNewSoakSale(t *testing.T) {
	sale := soakSale(2, 8400, 600000)
	want := SoakSale{Sale: 2, Item: 42, FinalPerSecond: 8400, Slipped: 20, AcceptP99: 80.5, AcceptToFinalP99: 1250, Passed: true}
	got := sale
	got.Store, got.Run = nil, Summary{}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("NewSoakSale = %+v, want %+v", got, want)
	}
	if sale.Store == nil || sale.Store.Orders != 600000 || sale.Run.Item == nil {
		t.Errorf("store %+v, run %+v", sale.Store, sale.Run)
	}
}

func TestWriteSoak(t *testing.T) {
	broken := check.Violation{Rule: check.RuleOversold, Message: "1001 units were confirmed, but the item had only 1000"}
	before := NewStore(0, []Table{{Name: "orders", DataBytes: 16384, IndexBytes: 32768}, {Name: "items", DataBytes: 16384}})
	slowing := NewSoak(soakCrowd, before, "", []SoakSale{soakSale(1, 9871.2, 300000), soakSale(2, 8402.5, 600000), soakSale(3, 4950.3, 900000)})

	unread := soakSale(2, 8402.5, 0, broken)
	unread.Store, unread.StoreNote = nil, "measure the store: count orders: connection refused"
	stopped := NewSoak(soakCrowd, before, "", []SoakSale{soakSale(1, 9871.2, 300000), unread})

	tests := []struct {
		name   string
		soak   Soak
		json   bool
		golden string
	}{
		{name: "text", soak: slowing, golden: "soak.txt"},
		{name: "text, stopped, failed, store unread", soak: stopped, golden: "soak-stopped.txt"},
		{name: "json", soak: slowing, json: true, golden: "soak.json"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var buf bytes.Buffer
			write := tt.soak.WriteText
			if tt.json {
				write = tt.soak.WriteJSON
			}
			if err := write(&buf); err != nil {
				t.Fatalf("write: %v", err)
			}
			golden(t, tt.golden, buf.Bytes())
			if tt.json {
				var back Soak
				if err := json.Unmarshal(buf.Bytes(), &back); err != nil {
					t.Fatalf("the JSON does not read back: %v", err)
				}
				if !reflect.DeepEqual(back, tt.soak) {
					t.Errorf("the JSON reads back as\n%+v\nnot\n%+v", back, tt.soak)
				}
			}
		})
	}
}

// TestWriteSoakRow: rows written one at a time, as each sale ends, line up
// with the header, and say what could not be read unless the head did.
func TestWriteSoakRow(t *testing.T) {
	var head bytes.Buffer
	if err := WriteSoakHead(&head, soakCrowd, nil, "--mysql-dsn is empty"); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimRight(head.String(), "\n"), "\n")
	header := []rune(lines[len(lines)-1])

	noDB := soakSale(1, 123.4, 0)
	noDB.Store, noDB.StoreNote = nil, "--mysql-dsn is empty"
	noDB.Run.Ledger = Ledger{Note: "--mysql-dsn is empty"}
	noLedger := soakSale(3, 99999.9, 12345678)
	noLedger.Run.Ledger = Ledger{Note: "read ledger of item 43: connection refused"}
	tests := []struct {
		name  string
		sale  SoakSale
		note  string // why the database is not read at all
		want  []string
		avoid []string
	}{
		{name: "read", sale: soakSale(2, 8402.5, 600000), want: []string{"PASS", "600000", "240.4 MiB", "420\n"}, avoid: []string{"not checked", "not read"}},
		{name: "no database", sale: noDB, note: "--mysql-dsn is empty", want: []string{"PASS", " -\n"}, avoid: []string{"not checked", "not read"}},
		{name: "ledger unread", sale: noLedger, want: []string{"      ledger not checked: read ledger of item 43: connection refused\n"}},
		{name: "violations", sale: soakSale(4, 1, 1, check.Violation{Rule: check.RuleNotFinal, Message: "2 of 9 accepted orders are not final"}),
			want: []string{"FAIL (1)", "\n      - not_final: 2 of 9 accepted orders are not final\n"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var buf bytes.Buffer
			if err := WriteSoakRow(&buf, tt.sale, tt.note); err != nil {
				t.Fatal(err)
			}
			row := []rune(strings.SplitN(buf.String(), "\n", 2)[0])
			if len(row) != len(header) {
				t.Errorf("row is %d wide, the header %d:\n%s\n%s", len(row), len(header), string(header), string(row))
			}
			// A number ends where its header does; the verdict starts where
			// its header does.
			for _, name := range []string{"sale", "final/s", "slipped", "accept p99", "accept→final p99", "orders", "store", "bytes/order"} {
				end := runeIndex(header, name) + len([]rune(name)) - 1
				if end >= len(row) || row[end] == ' ' || (end+1 < len(row) && row[end+1] != ' ') {
					t.Errorf("column %q does not end where its header does:\n%s\n%s", name, string(header), string(row))
				}
			}
			if at := runeIndex(header, "invariants"); row[at] == ' ' || row[at-1] != ' ' {
				t.Errorf("the verdict does not start under its header:\n%s\n%s", string(header), string(row))
			}
			for _, want := range tt.want {
				if !strings.Contains(buf.String(), want) {
					t.Errorf("row does not contain %q:\n%s", want, &buf)
				}
			}
			for _, avoid := range tt.avoid {
				if strings.Contains(buf.String(), avoid) {
					t.Errorf("row contains %q:\n%s", avoid, &buf)
				}
			}
		})
	}
}

func TestSize(t *testing.T) {
	tests := []struct {
		n    int64
		want string
	}{
		{0, "0.0 KiB"},
		{16384, "16.0 KiB"},
		{1<<20 - 1, "1024.0 KiB"},
		{1 << 20, "1.0 MiB"},
		{262 << 20, "262.0 MiB"},
		{10 << 30, "10.00 GiB"},
	}
	for _, tt := range tests {
		if got := size(tt.n); got != tt.want {
			t.Errorf("size(%d) = %q, want %q", tt.n, got, tt.want)
		}
	}
}

// runeIndex is the index in runes of the first sub in s.
func runeIndex(s []rune, sub string) int {
	i := strings.Index(string(s), sub)
	if i < 0 {
		return -1
	}
	return len([]rune(string(s)[:i]))
}
