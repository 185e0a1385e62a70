package report

import (
	"bytes"
	"encoding/json"
	"slices"
	"strings"
	"testing"

	"github.com/orderq/orderq/loadtest/internal/check"
)

// summary is a finished sale of one item, as Build would make it.
func summary(stock, confirmed, final int64, finalPerSecond float64, vs ...check.Violation) Summary {
	return Summary{
		Item:       &Item{ID: 1, InitialStock: stock, ConfirmedQuantity: confirmed, FinalStock: final},
		Throughput: Throughput{FinalPerSecond: finalPerSecond},
		Latency:    Latency{OrderToFinal: Stats{P50: 2, P99: 40}},
		Errors:     map[string]int{"order 503 unavailable": 2, "poll network": 1},
		Invariants: Invariants{Passed: len(vs) == 0, Violations: vs},
	}
}

func TestNewStrategy(t *testing.T) {
	tests := []struct {
		name                  string
		s                     Summary
		oversold, lostUpdates int64
	}{
		{name: "correct", s: summary(50, 50, 0, 1), oversold: 0, lostUpdates: 0},
		{name: "sold more than stock, stock kept", s: summary(50, 300, 12, 1), oversold: 250, lostUpdates: 262},
		{name: "stock lost without an order", s: summary(50, 40, 5, 1), oversold: 0, lostUpdates: 5},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			st := NewStrategy("x", "about", tt.s)
			if st.Oversold != tt.oversold || st.LostUpdates != tt.lostUpdates || st.Errors != 3 || st.P50 != 2 || st.P99 != 40 {
				t.Errorf("strategy = %+v, want oversold %d, lost updates %d, 3 errors", st, tt.oversold, tt.lostUpdates)
			}
		})
	}
}

func TestCompare(t *testing.T) {
	broken := check.Violation{Rule: check.RuleOversold, Message: "300 units were confirmed, but the item had only 50"}
	rows := []Strategy{
		NewStrategy("naive", "read-modify-write", summary(50, 300, 12, 5000, broken)),
		NewStrategy("forupdate", "locks", summary(50, 50, 0, 2000)),
		NewStrategy("atomic", "conditional update", summary(50, 50, 0, 3000)),
		NewStrategy("orderq", "queue", summary(50, 50, 0, 9000)),
	}
	c := Compare(CompareCrowd{Orders: 400, Concurrency: 32, Stock: 50, Quantity: 1, NaiveWindowMS: 1, RedisWriteEveryMS: 100}, rows)
	if c.Ratio == nil || *c.Ratio != 3 || c.Baseline != "atomic" {
		t.Fatalf("ratio %v over %q, want 3 over atomic (naive is not a baseline)", c.Ratio, c.Baseline)
	}
	var buf bytes.Buffer
	if err := c.WriteText(&buf); err != nil {
		t.Fatal(err)
	}
	text := buf.String()
	for _, want := range []string{
		"400 orders of quantity 1, 32 at once, for stock 50 (naive read-modify-write window 1.0ms)",
		"strategy",
		"lost updates",
		"FAIL (1)",
		"orderq: 3.00× the final throughput of the best locking strategy (atomic)",
		"naive (read-modify-write) broke:\n  - oversold: 300 units were confirmed",
	} {
		if !strings.Contains(text, want) {
			t.Errorf("table does not contain %q:\n%s", want, text)
		}
	}
	if strings.Contains(text, "redis writes") {
		t.Errorf("the table names the redis writer's interval without a redis row:\n%s", text)
	}
	if n := strings.Count(text, "PASS"); n != 3 {
		t.Errorf("%d strategies pass in the table, want 3:\n%s", n, text)
	}

	buf.Reset()
	if err := c.WriteJSON(&buf); err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Ratio      float64 `json:"orderq_ratio"`
		Strategies []struct {
			Name        string `json:"name"`
			Oversold    int64  `json:"oversold_units"`
			LostUpdates int64  `json:"lost_updates"`
			Passed      bool   `json:"passed"`
			Run         struct {
				Version int `json:"version"`
			} `json:"run"`
		} `json:"strategies"`
	}
	if err := json.Unmarshal(buf.Bytes(), &doc); err != nil {
		t.Fatalf("JSON: %v", err)
	}
	if doc.Ratio != 3 || len(doc.Strategies) != 4 || doc.Strategies[0].Oversold != 250 || doc.Strategies[0].Passed ||
		!doc.Strategies[3].Passed {
		t.Errorf("JSON = %+v", doc)
	}
}

// TestCompareLostOrders checks the column of lost orders, and the note of a
// strategy's fault.
func TestCompareLostOrders(t *testing.T) {
	lostSummary := func(stock, confirmed, final int64, lost int, vs ...check.Violation) Summary {
		s := summary(stock, confirmed, final, 100, vs...)
		s.Orders.Lost = &lost
		return s
	}
	lost := check.Violation{Rule: check.RuleLost, Message: "7 of 57 orders confirmed to their buyers were not found when read back"}
	redis := NewStrategy("redis", "Lua script", lostSummary(50, 57, 0, 7, lost))
	redis.Fault = "Redis SIGKILLed 2s into the run, restarted empty 1s later"
	rows := []Strategy{NewStrategy("atomic", "conditional update", lostSummary(50, 50, 0, 0)), redis,
		NewStrategy("orderq", "queue", lostSummary(50, 50, 0, 0))}
	c := Compare(CompareCrowd{Orders: 400, Concurrency: 32, Stock: 50, Quantity: 1, NaiveWindowMS: 1, RedisWriteEveryMS: 100}, rows)
	var buf bytes.Buffer
	if err := c.WriteText(&buf); err != nil {
		t.Fatal(err)
	}
	text := buf.String()
	header, rest, _ := strings.Cut(text, "\n\n")
	lines := strings.Split(rest, "\n")
	if header != "400 orders of quantity 1, 32 at once, for stock 50 (naive read-modify-write window 1.0ms; redis writes to MySQL every 100.0ms)" {
		t.Errorf("header %q", header)
	}
	// The column of lost orders is the one after lost updates.
	cols := strings.Fields(strings.ReplaceAll(strings.ReplaceAll(lines[0], "lost updates", "lost_updates"), "lost orders", "lost_orders"))
	at := slices.Index(cols, "lost_orders")
	if at < 0 || cols[at-1] != "lost_updates" {
		t.Fatalf("columns %v", cols)
	}
	for i, want := range []string{"0", "7", "0"} {
		if got := strings.Fields(lines[1+i])[at]; got != want {
			t.Errorf("%s: lost orders %s, want %s:\n%s", rows[i].Name, got, want, text)
		}
	}
	for _, want := range []string{
		"\nredis: Redis SIGKILLed 2s into the run, restarted empty 1s later\n",
		"  - order_lost: 7 of 57 orders confirmed",
	} {
		if !strings.Contains(text, want) {
			t.Errorf("table does not contain %q:\n%s", want, text)
		}
	}

	buf.Reset()
	if err := c.WriteJSON(&buf); err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Crowd struct {
			RedisWriteEveryMS float64 `json:"redis_write_every_ms"`
		} `json:"crowd"`
		Strategies []struct {
			Name       string `json:"name"`
			LostOrders *int   `json:"lost_orders"`
			Fault      string `json:"fault"`
		} `json:"strategies"`
	}
	if err := json.Unmarshal(buf.Bytes(), &doc); err != nil {
		t.Fatalf("JSON: %v", err)
	}
	if doc.Crowd.RedisWriteEveryMS != 100 || len(doc.Strategies) != 3 {
		t.Fatalf("JSON = %+v", doc)
	}
	for i, want := range []int{0, 7, 0} {
		s := doc.Strategies[i]
		if s.LostOrders == nil || *s.LostOrders != want || (s.Fault != "") != (s.Name == "redis") {
			t.Errorf("JSON strategy %s: lost orders %v, fault %q; want %d", s.Name, s.LostOrders, s.Fault, want)
		}
	}
}

func TestCompareWithoutBaseline(t *testing.T) {
	c := Compare(CompareCrowd{}, []Strategy{NewStrategy("naive", "", summary(5, 5, 0, 10)), NewStrategy("orderq", "", summary(5, 5, 0, 10))})
	if c.Ratio != nil {
		t.Errorf("ratio %v without forupdate or atomic", *c.Ratio)
	}
	var buf bytes.Buffer
	c.WriteText(&buf)
	if strings.Contains(buf.String(), "×") {
		t.Errorf("table states a ratio:\n%s", &buf)
	}
}
