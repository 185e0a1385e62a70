package report

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"github.com/orderq/orderq/loadtest/internal/check"
	"github.com/orderq/orderq/loadtest/internal/crowd"
)

// catalogue is a run of three items of stock 2, open-loop: item 10 sold out to
// three orders, item 11 sold one, item 12 was not ordered; one order slipped.
func catalogue() *crowd.Result {
	t0 := time.Date(2024, 12, 12, 0, 0, 0, 0, time.UTC)
	at := func(ms int) time.Time { return t0.Add(time.Duration(ms) * time.Millisecond) }
	o := func(item int, id, status string, sent int) crowd.Order {
		return crowd.Order{
			Order:  check.Order{ID: id, CustomerID: "c-" + id, Quantity: 1, Accepted: true, Status: status},
			Item:   item,
			SentAt: at(sent), AcceptedAt: at(sent + 5), FinalAt: at(sent + 5),
		}
	}
	return &crowd.Result{
		Config: crowd.Config{Stock: 2, Items: 3, ZipfS: 1.5, Seed: 9, Orders: 5, Concurrency: 4, Quantity: 1,
			Customers: 5, Wait: 5, Timeout: time.Minute, Rate: 5, Duration: time.Second},
		Items:       []crowd.Item{{ID: 10, Stock: 2}, {ID: 11, Stock: 2}, {ID: 12, Stock: 2}},
		FinalStocks: []int64{0, 1, 2},
		Orders: []crowd.Order{
			o(0, "a", check.StatusConfirmed, 0),
			o(1, "b", check.StatusConfirmed, 200),
			o(0, "c", check.StatusConfirmed, 400),
			o(0, "d", check.StatusRejected, 600),
			{Order: check.Order{CustomerID: "c-e", Quantity: 1}, Item: 1}, // slipped
		},
		Errors:        map[string]int{},
		Slipped:       1,
		Lag:           1500 * time.Microsecond,
		Started:       t0,
		ScheduleEnded: at(1000),
		Finished:      at(1000),
	}
}

func TestBuildCatalogue(t *testing.T) {
	ledgers := map[int64]check.Ledger{
		10: {InitialStock: 2, Movements: -2, Stock: 0},
		11: {InitialStock: 2, Movements: -1, Stock: 1},
		12: {InitialStock: 2, Movements: 0, Stock: 2},
	}
	s := Build(Input{Result: catalogue(), Ledgers: ledgers})
	if s.Item != nil {
		t.Errorf("a catalogue has no single item: %+v", s.Item)
	}
	want := Catalogue{Items: 3, StockPerItem: 2, ZipfS: 1.5, Seed: 9, InitialStock: 6, FinalStock: 3,
		ConfirmedQuantity: 3, Ordered: 2, SoldOut: 1, Hottest: Hottest{ID: 10, Orders: 3, ConfirmedQuantity: 2, FinalStock: 0}}
	if s.Catalogue == nil || *s.Catalogue != want {
		t.Errorf("catalogue = %+v, want %+v", s.Catalogue, want)
	}
	if s.Orders != (Orders{Planned: 5, Sent: 4, Accepted: 4, Final: 4}) {
		t.Errorf("orders = %+v", s.Orders)
	}
	wantSchedule := Schedule{TargetPerSecond: 5, DurationSeconds: 1, SentPerSecond: 4, Slipped: 1, MaxLagMS: 1.5}
	if s.Schedule == nil || *s.Schedule != wantSchedule {
		t.Errorf("schedule = %+v, want %+v", s.Schedule, wantSchedule)
	}
	if l := s.Ledger; !l.Checked || l.Items != 3 || *l.InitialStock != 6 || *l.Movements != -3 || *l.Stock != 3 {
		t.Errorf("ledger = %+v, want the sums over 3 items", l)
	}

	var buf bytes.Buffer
	if err := s.WriteText(&buf); err != nil {
		t.Fatal(err)
	}
	for _, line := range []string{
		"catalogue     3 items of stock 2, Zipf s 1.5 (seed 9): stock 6 → 3, confirmed quantity 3, no limit per customer\n",
		"demand        2 items ordered, 1 sold out; hottest item 10: 3 orders, confirmed quantity 2, stock → 0\n",
		"crowd         at most 4 in flight, quantity 1, 5 customers, wait 5s, timeout 1m0s after the schedule\n",
		"schedule      open loop, 5/s for 1s: sent 4.0/s, 1 slipped at the in-flight cap, latest start 1.5ms behind\n",
		"ledger        3 items: initial 6, movements -3, stock 3\n",
	} {
		if !strings.Contains(buf.String(), line) {
			t.Errorf("text report does not contain %q:\n%s", line, &buf)
		}
	}
	if strings.Contains(buf.String(), "\nitem ") {
		t.Errorf("text report of a catalogue has an item line:\n%s", &buf)
	}
}
