package report

import (
	"bytes"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/orderq/orderq/loadtest/internal/check"
	"github.com/orderq/orderq/loadtest/internal/crowd"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata")

func TestPercentile(t *testing.T) {
	ms := func(ns ...int) []time.Duration {
		ds := make([]time.Duration, len(ns))
		for i, n := range ns {
			ds[i] = time.Duration(n) * time.Millisecond
		}
		return ds
	}
	ten := ms(1, 2, 3, 4, 5, 6, 7, 8, 9, 10)
	hundred := make([]time.Duration, 100)
	for i := range hundred {
		hundred[i] = time.Duration(i+1) * time.Millisecond
	}
	tests := []struct {
		name   string
		sorted []time.Duration
		p      float64
		want   time.Duration
	}{
		{name: "empty", sorted: nil, p: 50, want: 0},
		{name: "one value", sorted: ms(7), p: 99, want: 7 * time.Millisecond},
		{name: "median of ten", sorted: ten, p: 50, want: 5 * time.Millisecond},
		{name: "p90 of ten", sorted: ten, p: 90, want: 9 * time.Millisecond},
		{name: "p99 of ten is the max", sorted: ten, p: 99, want: 10 * time.Millisecond},
		{name: "p100", sorted: ten, p: 100, want: 10 * time.Millisecond},
		{name: "tiny p is the min", sorted: ten, p: 0.1, want: 1 * time.Millisecond},
		{name: "p0 is the min", sorted: ten, p: 0, want: 1 * time.Millisecond},
		{name: "median of two is the lower", sorted: ms(1, 2), p: 50, want: 1 * time.Millisecond},
		{name: "p99 of a hundred", sorted: hundred, p: 99, want: 99 * time.Millisecond},
		{name: "p99.9 of a hundred", sorted: hundred, p: 99.9, want: 100 * time.Millisecond},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := Percentile(tt.sorted, tt.p); got != tt.want {
				t.Errorf("Percentile(p%v) = %v, want %v", tt.p, got, tt.want)
			}
		})
	}
}

// result is a small run: one order confirmed at once, one rejected after a
// poll, one left pending, one of unknown fate and one never sent.
func result() *crowd.Result {
	t0 := time.Date(2024, 12, 12, 0, 0, 0, 0, time.UTC)
	at := func(ms int) time.Time { return t0.Add(time.Duration(ms) * time.Millisecond) }
	accepted := func(id, status, reason string, sent, acc, final int) crowd.Order {
		o := crowd.Order{
			Order:  check.Order{ID: id, CustomerID: "c-" + id, Quantity: 1, Accepted: true, Status: status, Reason: reason},
			SentAt: at(sent), AcceptedAt: at(acc), Attempts: 1,
		}
		if final >= 0 {
			o.FinalAt = at(final)
		}
		return o
	}
	return &crowd.Result{
		Config: crowd.Config{Stock: 1, Orders: 5, Concurrency: 2, Quantity: 1, Customers: 5, Wait: 5, Timeout: 2 * time.Minute,
			Auth: crowd.AuthToken},
		Tokens:  5,
		Minting: 2 * time.Millisecond,
		Items:   []crowd.Item{{ID: 42, Stock: 1}},
		Orders: []crowd.Order{
			accepted("a", check.StatusConfirmed, "", 0, 10, 10),
			accepted("b", check.StatusRejected, check.ReasonOutOfStock, 0, 20, 120),
			accepted("c", check.StatusPending, "", 5, 30, -1),
			{Order: check.Order{CustomerID: "c-d", Quantity: 1, Uncertain: true}, SentAt: at(8), Attempts: 5, Err: "gateway answered 503"},
			{Order: check.Order{CustomerID: "c-e", Quantity: 1}},
		},
		FinalStocks: []int64{0},
		Errors:      map[string]int{"order 503 unavailable": 5},
		Failures: []crowd.Failure{{At: at(8), Status: 503}, {At: at(108), Status: 503}, {At: at(308), Status: 503},
			{At: at(708), Status: 503}, {At: at(1000), Status: 503}},
		Started:  t0,
		Finished: at(1000),
	}
}

func TestBuild(t *testing.T) {
	s := Build(Input{Result: result(), LedgerNote: "--mysql-dsn is empty"})
	want := Summary{
		Version:        Version,
		Item:           &Item{ID: 42, InitialStock: 1, FinalStock: 0, ConfirmedQuantity: 1},
		Crowd:          Crowd{Concurrency: 2, Quantity: 1, Customers: 5, WaitSeconds: 5, TimeoutSeconds: 120, Auth: "token", Tokens: 5, MintMS: 2},
		Orders:         Orders{Planned: 5, Sent: 4, Accepted: 3, Final: 2, NotAccepted: 1, Uncertain: 1},
		ElapsedSeconds: 1,
		// 3 accepted by 30ms, 2 final by 120ms.
		Throughput: Throughput{AcceptedPerSecond: 100, FinalPerSecond: 16.7},
		Latency: Latency{
			Accept:        Stats{Count: 3, P50: 20, P90: 25, P99: 25, Max: 25},
			AcceptToFinal: Stats{Count: 2, P50: 0, P90: 100, P99: 100, Max: 100},
			OrderToFinal:  Stats{Count: 2, P50: 10, P90: 120, P99: 120, Max: 120},
		},
		// Each span's latencies binned, and the run by the second.
		Histograms: Histograms{
			Accept:        histogram([]time.Duration{10 * time.Millisecond, 20 * time.Millisecond, 25 * time.Millisecond}),
			AcceptToFinal: histogram([]time.Duration{0, 100 * time.Millisecond}),
			OrderToFinal:  histogram([]time.Duration{10 * time.Millisecond, 120 * time.Millisecond}),
		},
		Series:     NewSeries(result()),
		Statuses:   map[string]int{"confirmed": 1, "rejected": 1, "pending": 1},
		Reasons:    map[string]int{"out_of_stock": 1},
		Errors:     map[string]int{"order 503 unavailable": 5},
		Ledger:     Ledger{Note: "--mysql-dsn is empty"},
		Invariants: Invariants{Passed: true, Violations: []check.Violation{}},
	}
	if !reflect.DeepEqual(s, want) {
		t.Errorf("Build =\n%+v\nwant\n%+v", s, want)
	}
}

// TestBuildReadBack checks the count of lost orders: confirmed orders that
// were read back and not found, absent when none were read back.
func TestBuildReadBack(t *testing.T) {
	r := result()
	if s := Build(Input{Result: r}); s.Orders.Lost != nil {
		t.Errorf("lost %d without a read-back", *s.Orders.Lost)
	}
	r.Config.ReadBack = true
	if s := Build(Input{Result: r}); s.Orders.Lost == nil || *s.Orders.Lost != 0 {
		t.Errorf("lost %v, want 0 of a read-back that found every order", s.Orders.Lost)
	}
	r.Orders[0].Gone = true // confirmed
	r.Orders[1].Gone = true // rejected: no loss
	s := Build(Input{Result: r})
	if s.Orders.Lost == nil || *s.Orders.Lost != 1 {
		t.Fatalf("lost %v, want 1", s.Orders.Lost)
	}
	var text, doc bytes.Buffer
	if err := s.WriteText(&text); err != nil {
		t.Fatal(err)
	}
	if want := "1 not accepted (1 of unknown fate); read back, 1 confirmed not found\n"; !strings.Contains(text.String(), want) {
		t.Errorf("text report does not contain %q:\n%s", want, &text)
	}
	if err := s.WriteJSON(&doc); err != nil {
		t.Fatal(err)
	}
	if want := `"lost": 1`; !strings.Contains(doc.String(), want) {
		t.Errorf("JSON does not contain %q:\n%s", want, &doc)
	}
}

func TestWrite(t *testing.T) {
	failed := Input{
		Result:  result(),
		Ledgers: map[int64]check.Ledger{42: {InitialStock: 1, Movements: -1, Stock: 0}},
		Violations: []check.Violation{
			{Rule: check.RuleNotFinal, Message: "1 of 3 accepted orders are not final: c (pending)"},
		},
	}
	tests := []struct {
		name   string
		in     Input
		header *Header
		json   bool
		golden string
	}{
		{name: "text, passed", in: Input{Result: result(), LedgerNote: "--mysql-dsn is empty"}, golden: "passed.txt"},
		{name: "text, failed", in: failed, golden: "failed.txt"},
		{name: "json, passed", in: Input{Result: result(), LedgerNote: "--mysql-dsn is empty"}, header: header(), json: true, golden: "passed.json"},
		{name: "json, failed", in: failed, json: true, golden: "failed.json"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := Build(tt.in)
			s.Header = tt.header
			var buf bytes.Buffer
			write := s.WriteText
			if tt.json {
				write = s.WriteJSON
			}
			if err := write(&buf); err != nil {
				t.Fatalf("write: %v", err)
			}
			golden(t, tt.golden, buf.Bytes())
			if tt.json {
				var back Summary
				if err := json.Unmarshal(buf.Bytes(), &back); err != nil {
					t.Fatalf("the JSON does not read back: %v", err)
				}
				if !reflect.DeepEqual(back, s) {
					t.Errorf("the JSON reads back as\n%+v\nnot\n%+v", back, s)
				}
			}
		})
	}
}

func TestWriteTextListsViolations(t *testing.T) {
	s := Build(Input{Result: result(), Violations: []check.Violation{
		{Rule: check.RuleOversold, Message: "3 units were confirmed, but the item had only 1"},
		{Rule: check.RuleStockNegative, Message: "the gateway reports stock -2 for the item: it went below zero"},
	}})
	var buf bytes.Buffer
	if err := s.WriteText(&buf); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		"FAIL: 2 violated",
		"  - oversold: 3 units were confirmed, but the item had only 1\n",
		"  - stock_negative: the gateway reports stock -2",
	} {
		if !strings.Contains(buf.String(), want) {
			t.Errorf("text report does not contain %q:\n%s", want, buf.String())
		}
	}
}

// golden compares got with testdata/name, or rewrites the file under -update.
func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run with -update to create it)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s differs from the golden file:\n--- got\n%s\n--- want\n%s", name, got, want)
	}
}
