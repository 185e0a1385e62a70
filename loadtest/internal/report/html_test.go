package report

import (
	"bytes"
	"encoding/xml"
	"io"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/orderq/orderq/loadtest/internal/check"
	"github.com/orderq/orderq/loadtest/internal/crowd"
)

// sale is a synthetic flash sale of 2 s: 10 orders accepted a second, each
// final 150 ms later, with accept latencies from 1 to 50 ms, and the stock
// falling from 20 to 0, sampled every 100 ms.
func sale() *crowd.Result {
	t0 := time.Date(2024, 12, 12, 0, 0, 0, 0, time.UTC)
	r := &crowd.Result{
		Config:      crowd.Config{Stock: 20, Orders: 20, Concurrency: 5, Quantity: 1, Customers: 20, Wait: 5, Timeout: time.Minute},
		Items:       []crowd.Item{{ID: 7, Stock: 20}},
		FinalStocks: []int64{0},
		Errors:      map[string]int{},
		Started:     t0,
		Finished:    t0.Add(2 * time.Second),
	}
	latencies := []time.Duration{time.Millisecond, 3 * time.Millisecond, 8 * time.Millisecond, 50 * time.Millisecond}
	for i := range 20 {
		sent := t0.Add(time.Duration(i) * 100 * time.Millisecond)
		acc := sent.Add(latencies[i%len(latencies)])
		r.Orders = append(r.Orders, crowd.Order{
			Order:  check.Order{ID: string(rune('a' + i)), CustomerID: "c", Quantity: 1, Accepted: true, Status: check.StatusConfirmed},
			SentAt: sent, AcceptedAt: acc, FinalAt: acc.Add(150 * time.Millisecond),
		})
	}
	for i := range 21 {
		r.StockSamples = append(r.StockSamples, crowd.StockSample{At: t0.Add(time.Duration(i) * 100 * time.Millisecond), Stock: int64(20 - i)})
	}
	return r
}

func TestNewTimeline(t *testing.T) {
	tl := NewTimeline(sale())
	if tl.Bucket != 100*time.Millisecond || len(tl.Accepted) != 21 || len(tl.Final) != 21 {
		t.Fatalf("timeline: bucket %v, %d accepted and %d final buckets", tl.Bucket, len(tl.Accepted), len(tl.Final))
	}
	sum := func(xs []float64) (s float64) {
		for _, x := range xs {
			s += x
		}
		return s
	}
	// One order per 100 ms bucket is 10 a second; the sums are orders × 10.
	if sum(tl.Accepted) != 200 || sum(tl.Final) != 200 || tl.Accepted[0] != 10 {
		t.Errorf("accepted %v, final %v", tl.Accepted, tl.Final)
	}
	if tl.StockItem != 7 || len(tl.Stock) != 21 || tl.Stock[20] != (Point{Seconds: 2, Value: 0}) {
		t.Errorf("stock of item %d: %v", tl.StockItem, tl.Stock)
	}
	// 1 ms, 3 ms, 8 ms and 50 ms, five each: bins from [1ms, 2ms) to [50ms, 100ms).
	var counts []int
	for _, b := range tl.Latency {
		counts = append(counts, b.Count)
	}
	if got := tl.Latency[0].Lo; got != time.Millisecond || len(counts) != 6 ||
		counts[0] != 5 || counts[1] != 5 || counts[2] != 5 || counts[5] != 5 {
		t.Errorf("histogram from %v: %v", got, counts)
	}
}

func TestWriteHTML(t *testing.T) {
	r := sale()
	s := Build(Input{Result: r, LedgerNote: "--mysql-dsn is empty",
		Violations: []check.Violation{{Rule: check.RuleOversold, Message: "21 units <were> confirmed"}}})
	cmp := Compare(CompareCrowd{Orders: 20, Concurrency: 5, Stock: 20, Quantity: 1}, []Strategy{NewStrategy("orderq", "the gateway", s)})
	var buf bytes.Buffer
	if err := WriteHTML(&buf, Page{Title: "loadtest flashsale", Summary: s, Timeline: NewTimeline(r), Comparison: &cmp}); err != nil {
		t.Fatalf("WriteHTML: %v", err)
	}
	html := buf.String()

	for _, want := range []string{
		"<title>loadtest flashsale</title>",
		`<polyline class="accepted" points="`,
		`<polyline class="final" points="`,
		`<polyline class="stock" points="`,
		`<rect class="bar"`,
		"Stock of item 7 (sampled)",
		"1ms – 2ms: 5 orders",
		"item          7: stock 20 → 0, confirmed quantity 20", // the summary table
		"oversold: 21 units &lt;were&gt; confirmed",            // escaped
		`<strong class="fail">FAIL</strong>`,                   // the verdict
		"orderq",                                               // the comparison
	} {
		if !strings.Contains(html, want) {
			t.Errorf("the page does not contain %q", want)
		}
	}
	// Self-contained: nothing fetched, nothing run.
	for _, banned := range []string{"<script", "src=", "href=", "ZgotmplZ"} {
		if strings.Contains(html, banned) {
			t.Errorf("the page contains %q", banned)
		}
	}
	// One point per bucket for the throughput lines, one per sample for the stock.
	for class, n := range map[string]int{"accepted": 21, "final": 21, "stock": 21} {
		m := regexp.MustCompile(`<polyline class="` + class + `" points="([^"]*)"`).FindStringSubmatch(html)
		if m == nil || len(strings.Fields(m[1])) != n {
			t.Errorf("%s line: %v, want %d points", class, m, n)
		}
	}
	// Every chart is well-formed SVG.
	svgs := regexp.MustCompile(`(?s)<svg .*?</svg>`).FindAllString(html, -1)
	if len(svgs) != 3 {
		t.Fatalf("%d charts, want 3", len(svgs))
	}
	for _, svg := range svgs {
		d := xml.NewDecoder(strings.NewReader(svg))
		for {
			_, err := d.Token()
			if err == io.EOF {
				break
			}
			if err != nil {
				t.Fatalf("chart is not well-formed: %v\n%s", err, svg)
			}
		}
	}
}

func TestWriteHTMLWithoutSamples(t *testing.T) {
	r := sale()
	r.StockSamples = nil
	r.Orders = nil
	var buf bytes.Buffer
	if err := WriteHTML(&buf, Page{Title: "empty", Summary: Build(Input{Result: r}), Timeline: NewTimeline(r)}); err != nil {
		t.Fatalf("WriteHTML: %v", err)
	}
	if strings.Contains(buf.String(), `class="stock"`) || strings.Contains(buf.String(), "NaN") {
		t.Errorf("a run without samples or orders drew a stock line or NaN:\n%s", &buf)
	}
}

func TestNiceCeil(t *testing.T) {
	for in, want := range map[float64]float64{0: 1, 0.3: 0.5, 1: 1, 1.1: 2, 3: 5, 7: 10, 10: 10, 4200: 5000, 18000: 20000} {
		if got := niceCeil(in); got != want {
			t.Errorf("niceCeil(%v) = %v, want %v", in, got, want)
		}
	}
}

func TestAxis(t *testing.T) {
	tests := []struct {
		v     float64
		whole bool
		end   float64
		ticks int
	}{
		{v: 0, end: 1, ticks: 2},
		{v: 2.1, end: 2.5, ticks: 6},
		{v: 10.1, end: 12, ticks: 7},
		{v: 20, end: 20, ticks: 5},
		{v: 4321, end: 5000, ticks: 6},
		{v: 5, whole: true, end: 5, ticks: 6},
		{v: 1, whole: true, end: 1, ticks: 2},
		{v: 3, whole: true, end: 3, ticks: 4},
	}
	for _, tt := range tests {
		end, ticks := axis(tt.v, tt.whole)
		if end != tt.end || len(ticks) != tt.ticks || ticks[len(ticks)-1] != end {
			t.Errorf("axis(%v, %v) = %v, %v; want end %v with %d ticks", tt.v, tt.whole, end, ticks, tt.end, tt.ticks)
		}
	}
}
