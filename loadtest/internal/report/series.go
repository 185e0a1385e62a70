package report

import (
	"net/http"
	"slices"
	"time"

	"github.com/orderq/orderq/loadtest/internal/crowd"
)

// Series is a run second by second, from when its first order was due.
type Series struct {
	Started time.Time `json:"started"` // the first order was due, UTC
	// Seconds covers the run to its end; the last second may be cut short.
	Seconds []Second `json:"seconds"`
	// Stock is the first item's stock as sampled during the run; nil when it
	// was not (only a run with an HTML report samples it).
	Stock *StockSeries `json:"stock,omitempty"`
}

// Second is what happened in one second of a run: [Second, Second+1) after
// the series started. Throughput is the orders sent, accepted and seen final
// in it; each latency is of the orders whose span ended in it (accepted, or
// seen final); the failures are requests that failed in it.
type Second struct {
	Second        int   `json:"second"`
	Sent          int   `json:"sent"`
	Accepted      int   `json:"accepted"`
	Final         int   `json:"final"`
	Accept        Stats `json:"accept"`
	AcceptToFinal Stats `json:"accept_to_final"`
	OrderToFinal  Stats `json:"order_to_final"`
	Errors        int   `json:"errors"`     // every failed request, 429 and 503 included
	TooMany       int   `json:"status_429"` // answered 429: a limit was reached
	Unavailable   int   `json:"status_503"` // answered 503: the broker or the database away
}

// StockSeries is one item's stock over a run.
type StockSeries struct {
	Item    int64        `json:"item"`
	Samples []StockPoint `json:"samples"`
}

// StockPoint is one sample of a stock, at Seconds after the series started.
type StockPoint struct {
	Seconds float64 `json:"seconds"`
	Stock   int64   `json:"stock"`
}

// spans are the latencies of one second's orders while a series is built.
type spans struct {
	accept, toFinal, total []time.Duration
}

// NewSeries buckets r by the second: what its orders did, when their spans
// ended, and when its requests failed.
func NewSeries(r *crowd.Result) Series {
	s := Series{Started: UTC(r.Started)}
	n := max(int((r.Finished.Sub(r.Started)+time.Second-1)/time.Second), 1)
	at := func(t time.Time) int { return min(max(int(t.Sub(r.Started)/time.Second), 0), n-1) }
	s.Seconds = make([]Second, n)
	ended := make([]spans, n) // by the second each span ended in
	for i := range s.Seconds {
		s.Seconds[i].Second = i
	}
	for _, o := range r.Orders {
		if !o.Sent() {
			continue
		}
		s.Seconds[at(o.SentAt)].Sent++
		if !o.Accepted {
			continue
		}
		i := at(o.AcceptedAt)
		s.Seconds[i].Accepted++
		ended[i].accept = append(ended[i].accept, o.AcceptedAt.Sub(o.SentAt))
		if o.Final() {
			j := at(o.FinalAt)
			s.Seconds[j].Final++
			ended[j].toFinal = append(ended[j].toFinal, o.FinalAt.Sub(o.AcceptedAt))
			ended[j].total = append(ended[j].total, o.FinalAt.Sub(o.SentAt))
		}
	}
	for i, sp := range ended {
		s.Seconds[i].Accept, s.Seconds[i].AcceptToFinal, s.Seconds[i].OrderToFinal = stats(sp.accept), stats(sp.toFinal), stats(sp.total)
	}
	for _, f := range r.Failures {
		sec := &s.Seconds[at(f.At)]
		sec.Errors++
		switch f.Status {
		case http.StatusTooManyRequests:
			sec.TooMany++
		case http.StatusServiceUnavailable:
			sec.Unavailable++
		}
	}
	if len(r.StockSamples) > 0 {
		st := &StockSeries{Samples: make([]StockPoint, len(r.StockSamples))}
		if len(r.Items) > 0 {
			st.Item = r.Items[0].ID
		}
		for i, p := range r.StockSamples {
			st.Samples[i] = StockPoint{Seconds: seconds(p.At.Sub(r.Started)), Stock: p.Stock}
		}
		s.Stock = st
	}
	return s
}

// Histograms are the three spans of an order's life, binned by latency.
type Histograms struct {
	Accept        []Bin `json:"accept"`
	AcceptToFinal []Bin `json:"accept_to_final"`
	OrderToFinal  []Bin `json:"order_to_final"`
}

// Bin is one bin of a histogram: the orders whose latency was in [LoMS,
// HiMS); HiMS is nil for the last bin, which has no upper bound.
type Bin struct {
	LoMS  float64  `json:"lo_ms"`
	HiMS  *float64 `json:"hi_ms"`
	Count int      `json:"count"`
}

// binEdges are the histograms' bin bounds: ten a decade from 100 µs to 100 s,
// log-spaced, at the rounded steps of the R10 series of preferred numbers
// (1, 1.25, 1.6, 2, 2.5, 3.15, 4, 5, 6.3, 8), so a bound reads as a round
// number. Below the first bound is one more bin, and from the last one on.
var binEdges = func() []time.Duration {
	steps := []time.Duration{100, 125, 160, 200, 250, 315, 400, 500, 630, 800}
	var es []time.Duration
	for decade := time.Microsecond; decade <= 100*time.Millisecond; decade *= 10 {
		for _, s := range steps {
			es = append(es, s*decade)
		}
	}
	return append(es, 100*time.Second)
}()

// histogram bins ds by binEdges, from the first bin that holds a latency to
// the last; none for no latency.
func histogram(ds []time.Duration) []Bin {
	counts := make([]int, len(binEdges)+1) // counts[i] holds [binEdges[i-1], binEdges[i])
	for _, d := range ds {
		i, found := slices.BinarySearch(binEdges, d)
		if found {
			i++ // a latency on a bound belongs to the bin it opens
		}
		counts[i]++
	}
	return bins(counts)
}

// mergeBins sums histograms, as the chart of a soak sums its sales'.
func mergeBins(hs ...[]Bin) []Bin {
	counts := make([]int, len(binEdges)+1)
	for _, h := range hs {
		for _, b := range h {
			i := len(binEdges)
			if b.HiMS != nil {
				i = slices.IndexFunc(binEdges, func(e time.Duration) bool { return ms(e) == *b.HiMS })
			}
			counts[i] += b.Count
		}
	}
	return bins(counts)
}

// bins lists counts, as histogram counts them, from the first bin that holds
// a latency to the last.
func bins(counts []int) []Bin {
	lo := slices.IndexFunc(counts, func(n int) bool { return n > 0 })
	if lo < 0 {
		return []Bin{}
	}
	hi := len(counts) - 1
	for counts[hi] == 0 {
		hi--
	}
	bs := make([]Bin, 0, hi-lo+1)
	for i := lo; i <= hi; i++ {
		b := Bin{Count: counts[i]}
		if i > 0 {
			b.LoMS = ms(binEdges[i-1])
		}
		if i < len(binEdges) {
			h := ms(binEdges[i])
			b.HiMS = &h
		}
		bs = append(bs, b)
	}
	return bs
}
