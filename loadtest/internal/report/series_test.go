package report

import (
	"math"
	"reflect"
	"testing"
	"time"

	"github.com/orderq/orderq/loadtest/internal/check"
	"github.com/orderq/orderq/loadtest/internal/crowd"
)

// recorded is a run of 2.5 s as the crowd records one: orders sent,
// accepted and seen final at known moments, failed requests, and the stock
// sampled twice.
func recorded() *crowd.Result {
	t0 := time.Date(2024, 12, 12, 0, 0, 0, 0, time.UTC)
	at := func(ms int) time.Time { return t0.Add(time.Duration(ms) * time.Millisecond) }
	order := func(id string, sent, acc, final int) crowd.Order {
		o := crowd.Order{Order: check.Order{ID: id, CustomerID: "c-" + id, Quantity: 1}}
		if sent >= 0 {
			o.SentAt = at(sent)
		}
		if acc >= 0 {
			o.Accepted, o.Status, o.AcceptedAt = true, check.StatusPending, at(acc)
		}
		if final >= 0 {
			o.Status, o.FinalAt = check.StatusConfirmed, at(final)
		}
		return o
	}
	return &crowd.Result{
		Config: crowd.Config{Stock: 5, Orders: 6, Concurrency: 3, Quantity: 1, Customers: 6, Wait: 5, Timeout: time.Minute},
		Items:  []crowd.Item{{ID: 9, Stock: 5}},
		Orders: []crowd.Order{
			order("a", 0, 10, 30),
			order("b", 100, 1100, 1200),
			order("c", 900, 950, 2100),
			order("d", 1500, -1, -1), // never accepted
			order("e", -1, -1, -1),   // never sent
			order("f", 2000, 2400, -1),
		},
		FinalStocks: []int64{2},
		Errors:      map[string]int{"order 429 rate_limited": 1, "order 503 unavailable": 2, "poll network": 1, "order 500 internal": 1},
		Failures: []crowd.Failure{
			{At: at(300), Status: 429}, {At: at(1200), Status: 503}, {At: at(1300), Status: 503},
			{At: at(2499), Status: 0}, {At: at(2500), Status: 500}, // the run's last moment counts in its last second
		},
		StockSamples: []crowd.StockSample{{At: at(0), Stock: 5}, {At: at(1250), Stock: 3}},
		Started:      t0,
		Finished:     at(2500),
	}
}

func TestNewSeries(t *testing.T) {
	got := NewSeries(recorded())
	want := Series{
		Started: time.Date(2024, 12, 12, 0, 0, 0, 0, time.UTC),
		Seconds: []Second{
			{
				Second: 0, Sent: 3, Accepted: 2, Final: 1,
				Accept:        Stats{Count: 2, P50: 10, P90: 50, P99: 50, Max: 50}, // a 10 ms, c 50 ms
				AcceptToFinal: Stats{Count: 1, P50: 20, P90: 20, P99: 20, Max: 20},
				OrderToFinal:  Stats{Count: 1, P50: 30, P90: 30, P99: 30, Max: 30},
				Errors:        1, TooMany: 1,
			},
			{
				Second: 1, Sent: 1, Accepted: 1, Final: 1,
				Accept:        Stats{Count: 1, P50: 1000, P90: 1000, P99: 1000, Max: 1000}, // b
				AcceptToFinal: Stats{Count: 1, P50: 100, P90: 100, P99: 100, Max: 100},
				OrderToFinal:  Stats{Count: 1, P50: 1100, P90: 1100, P99: 1100, Max: 1100},
				Errors:        2, Unavailable: 2,
			},
			{
				Second: 2, Sent: 1, Accepted: 1, Final: 1,
				Accept:        Stats{Count: 1, P50: 400, P90: 400, P99: 400, Max: 400},     // f
				AcceptToFinal: Stats{Count: 1, P50: 1150, P90: 1150, P99: 1150, Max: 1150}, // c
				OrderToFinal:  Stats{Count: 1, P50: 1200, P90: 1200, P99: 1200, Max: 1200},
				Errors:        2,
			},
		},
		Stock: &StockSeries{Item: 9, Samples: []StockPoint{{Seconds: 0, Stock: 5}, {Seconds: 1.25, Stock: 3}}},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("NewSeries =\n%+v\nwant\n%+v", got, want)
	}
}

func TestNewSeriesOfAnEmptyRun(t *testing.T) {
	r := recorded()
	r.Orders, r.Failures, r.StockSamples = nil, nil, nil
	r.Finished = r.Started
	got := NewSeries(r)
	// One second, empty: a report always has a series to draw.
	if len(got.Seconds) != 1 || got.Seconds[0] != (Second{}) || got.Stock != nil {
		t.Errorf("NewSeries of nothing = %+v", got)
	}
}

func TestBinEdges(t *testing.T) {
	if len(binEdges) != 61 || binEdges[0] != 100*time.Microsecond || binEdges[60] != 100*time.Second {
		t.Fatalf("%d edges from %v to %v, want 61 from 100µs to 100s", len(binEdges), binEdges[0], binEdges[len(binEdges)-1])
	}
	for i := range binEdges[:len(binEdges)-1] {
		if binEdges[i+1] <= binEdges[i] {
			t.Errorf("edge %d (%v) is not above edge %d (%v)", i+1, binEdges[i+1], i, binEdges[i])
		}
		// Log-spaced: ten a decade, each within 2 % of 10^(1/10) times the last.
		if r := float64(binEdges[i+1]) / float64(binEdges[i]); math.Abs(r/math.Pow(10, 0.1)-1) > 0.02 {
			t.Errorf("edges %v → %v: ratio %.3f", binEdges[i], binEdges[i+1], r)
		}
		if i+10 < len(binEdges) && binEdges[i+10] != 10*binEdges[i] {
			t.Errorf("edge %d is %v, want 10 × %v", i+10, binEdges[i+10], binEdges[i])
		}
	}
}

func TestHistogram(t *testing.T) {
	hi := func(ms float64) *float64 { return &ms }
	us := func(n int) time.Duration { return time.Duration(n) * time.Microsecond }
	tests := []struct {
		name  string
		ds    []time.Duration
		first Bin
		last  Bin
		n     int         // bins, from the first with a latency to the last
		at    map[int]Bin // some bins, by index
	}{
		{name: "nothing", n: 0},
		{
			name:  "one bin",
			ds:    []time.Duration{us(1300), us(1599)},
			first: Bin{LoMS: 1.25, HiMS: hi(1.6), Count: 2},
			last:  Bin{LoMS: 1.25, HiMS: hi(1.6), Count: 2},
			n:     1,
		},
		{
			name:  "empty bins between two",
			ds:    []time.Duration{time.Millisecond, us(1900)},
			first: Bin{LoMS: 1, HiMS: hi(1.25), Count: 1},
			last:  Bin{LoMS: 1.6, HiMS: hi(2), Count: 1},
			n:     3,
			at:    map[int]Bin{1: {LoMS: 1.25, HiMS: hi(1.6), Count: 0}},
		},
		{
			name: "below the first bound, on bounds, beyond the last",
			ds: []time.Duration{us(50), us(100), us(124), us(125), us(3150),
				100 * time.Second, 2 * time.Minute},
			first: Bin{LoMS: 0, HiMS: hi(0.1), Count: 1},
			last:  Bin{LoMS: 100000, HiMS: nil, Count: 2},
			n:     62,
			at: map[int]Bin{
				1:  {LoMS: 0.1, HiMS: hi(0.125), Count: 2}, // a latency on a bound opens its bin
				2:  {LoMS: 0.125, HiMS: hi(0.16), Count: 1},
				16: {LoMS: 3.15, HiMS: hi(4), Count: 1},
				60: {LoMS: 80000, HiMS: hi(100000), Count: 0},
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			bins := histogram(tt.ds)
			if len(bins) != tt.n || bins == nil {
				t.Fatalf("%d bins (%v), want %d", len(bins), bins, tt.n)
			}
			total := 0
			for _, b := range bins {
				total += b.Count
			}
			if total != len(tt.ds) {
				t.Errorf("the bins hold %d latencies, want %d", total, len(tt.ds))
			}
			if tt.n == 0 {
				return
			}
			if !reflect.DeepEqual(bins[0], tt.first) || !reflect.DeepEqual(bins[len(bins)-1], tt.last) {
				t.Errorf("bins from %s to %s, want %s to %s", binTip(bins[0]), binTip(bins[len(bins)-1]), binTip(tt.first), binTip(tt.last))
			}
			for i, want := range tt.at {
				if !reflect.DeepEqual(bins[i], want) {
					t.Errorf("bin %d is %s, want %s", i, binTip(bins[i]), binTip(want))
				}
			}
		})
	}
}

func TestMergeBins(t *testing.T) {
	a := []time.Duration{time.Millisecond, 3 * time.Millisecond, 200 * time.Second}
	b := []time.Duration{50 * time.Microsecond, 3 * time.Millisecond, 40 * time.Millisecond}
	got := mergeBins(histogram(a), histogram(b), histogram(nil))
	if want := histogram(append(a, b...)); !reflect.DeepEqual(got, want) {
		t.Errorf("mergeBins =\n%v\nwant the histogram of both\n%v", got, want)
	}
}
