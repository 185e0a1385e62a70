package report

import (
	"bytes"
	"encoding/json"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/orderq/orderq/loadtest/internal/check"
	"github.com/orderq/orderq/loadtest/internal/crowd"
)

// carts is a run of three carts over items 10 and 11 of stock 3: a took 2 of
// item 10 and 1 of item 11; b was rejected for item 10's stock; c is still
// pending; one more was never sent.
func carts() *crowd.Result {
	t0 := time.Date(2024, 12, 12, 0, 0, 0, 0, time.UTC)
	at := func(ms int) time.Time { return t0.Add(time.Duration(ms) * time.Millisecond) }
	cart := func(id, status, reason, display string, final int, lines ...crowd.Line) crowd.Order {
		o := crowd.Order{
			Order: check.Order{ID: id, CustomerID: "c-" + id, Accepted: true, Status: status, Reason: reason},
			Lines: lines, Display: display, SentAt: at(0), AcceptedAt: at(100),
		}
		if final >= 0 {
			o.FinalAt = at(final)
		}
		for _, l := range lines {
			o.Quantity += l.Quantity
		}
		return o
	}
	return &crowd.Result{
		Config: crowd.Config{Stock: 3, Items: 2, MaxLines: 2, Seed: 7, Orders: 4, Concurrency: 2,
			Customers: 4, Wait: 5, Timeout: time.Minute},
		Items:       []crowd.Item{{ID: 11, Stock: 3}, {ID: 10, Stock: 3}}, // created in any order
		FinalStocks: []int64{2, 1},
		Orders: []crowd.Order{
			cart("a", check.StatusConfirmed, "", "awaiting_payment", 100,
				crowd.Line{Item: 1, Quantity: 2, Status: "reserved"}, crowd.Line{Item: 0, Quantity: 1, Status: "reserved"}),
			cart("b", check.StatusRejected, check.ReasonOutOfStock, "canceled", 500,
				crowd.Line{Item: 0, Quantity: 1, Status: "reserved"}, crowd.Line{Item: 1, Quantity: 3, Status: "rejected", Reason: check.ReasonOutOfStock}),
			cart("c", check.StatusPending, "", "processing", -1, crowd.Line{Item: 0, Quantity: 1, Status: "pending"}),
			{Order: check.Order{CustomerID: "c-d", Quantity: 1}, Lines: []crowd.Line{{Item: 1, Quantity: 1}}},
		},
		Errors:   map[string]int{},
		Started:  t0,
		Finished: at(1000),
	}
}

func TestBuildCarts(t *testing.T) {
	two, zero := int64(2), int64(0)
	in := Input{
		Result:  carts(),
		Ledgers: map[int64]check.Ledger{10: {InitialStock: 3, Movements: -2, Stock: 1}, 11: {InitialStock: 3, Movements: -1, Stock: 2}},
		Held:    map[int64]int64{10: 2, 11: 0},
		Audit:   &check.Audit{Waited: 30 * time.Second, Pending: 1, Holding: 1},
		Violations: []check.Violation{{Rule: check.RuleNotSettled, Message: "after 30s, 1 orders were pending"},
			{Rule: check.RuleLeaked, Message: "item 11: 1 units are held by no confirmed order"}},
	}
	s := Build(in)
	if s.Item != nil || s.Catalogue != nil {
		t.Errorf("a run of carts has neither item nor catalogue: %+v, %+v", s.Item, s.Catalogue)
	}
	want := &Carts{Items: 2, StockPerItem: 3, MaxLines: 2, MaxLineQuantity: crowd.MaxLineQuantity, Seed: 7, Lines: 5,
		InitialStock: 6, FinalStock: 3, Confirmed: 3,
		Display: map[string]int{"awaiting_payment": 1, "canceled": 1, "processing": 1},
		Settle:  &Settle{Settled: false, WaitMS: 30000, Pending: 1, Holding: 1},
		PerItem: []CartItem{
			{ID: 10, InitialStock: 3, FinalStock: 1, ConfirmedQuantity: 2, Reserved: &two},
			{ID: 11, InitialStock: 3, FinalStock: 2, ConfirmedQuantity: 1, Reserved: &zero},
		},
	}
	if !reflect.DeepEqual(s.Carts, want) {
		t.Errorf("carts =\n%+v\nwant\n%+v", s.Carts, want)
	}
	// 2 accepted by 100ms, 2 final (3 lines) by 500ms.
	if tp := (Throughput{AcceptedPerSecond: 30, FinalPerSecond: 4, LinesPerSecond: 8}); s.Throughput != tp {
		t.Errorf("throughput = %+v, want %+v", s.Throughput, tp)
	}

	var buf bytes.Buffer
	if err := s.WriteText(&buf); err != nil {
		t.Fatal(err)
	}
	for _, line := range []string{
		"carts         2 items of stock 3, 1–2 lines of 1–3 units each (seed 7): stock 6 → 3, confirmed quantity 3 in 5 lines sent\n",
		"crowd         2 at once, 4 customers, wait 5s, timeout 1m0s\n",
		"throughput    30.0 carts/s accepted, 4.0 carts/s final, 8.0 lines/s final over 1.000s\n",
		"display       awaiting_payment 1, canceled 1, processing 1\n",
		"settled       NO, after 30.00s: 1 orders pending, 0 outbox rows, 1 rejected or canceled lines holding stock\n",
		"item          initial  stock  confirmed  reserved\n" +
			"10            3        1      2          2\n" +
			"11            3        2      1          0\n" +
			"ledger        2 items: initial 6, movements -3, stock 3\n",
		"invariants    FAIL: 2 violated\n  - not_settled: after 30s",
	} {
		if !strings.Contains(buf.String(), line) {
			t.Errorf("text report does not contain %q:\n%s", line, &buf)
		}
	}

	// Without the database: no settle, no reserved column.
	s = Build(Input{Result: carts(), LedgerNote: "--mysql-dsn is empty"})
	buf.Reset()
	if err := s.WriteText(&buf); err != nil {
		t.Fatal(err)
	}
	for _, line := range []string{"settled       not checked: the database was not read\n", "10            3        1      2          -\n"} {
		if !strings.Contains(buf.String(), line) {
			t.Errorf("text report does not contain %q:\n%s", line, &buf)
		}
	}

	buf.Reset()
	if err := s.WriteJSON(&buf); err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Carts struct {
			PerItem []map[string]any `json:"per_item"`
			Settle  *Settle          `json:"settle"`
		} `json:"carts"`
		Throughput map[string]float64 `json:"throughput"`
	}
	if err := json.Unmarshal(buf.Bytes(), &doc); err != nil {
		t.Fatal(err)
	}
	if len(doc.Carts.PerItem) != 2 || doc.Carts.PerItem[0]["reserved"] != nil || doc.Carts.Settle != nil || doc.Throughput["lines_per_second"] != 8 {
		t.Errorf("JSON = %s", &buf)
	}
}

func TestWriteCartItemsIsBounded(t *testing.T) {
	items := make([]CartItem, cartItemRows+5)
	for i := range items {
		items[i] = CartItem{ID: int64(i + 1), InitialStock: 1}
	}
	var buf bytes.Buffer
	writeCartItems(&buf, items)
	if got := strings.Count(buf.String(), "\n"); got != cartItemRows+2 {
		t.Errorf("%d lines, want a header, %d items and a note:\n%s", got, cartItemRows, &buf)
	}
	if !strings.Contains(buf.String(), "and 5 more items") {
		t.Errorf("no note of the items left out:\n%s", &buf)
	}
}
