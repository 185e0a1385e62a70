package report

import (
	"bytes"
	"encoding/xml"
	"fmt"
	"io"
	"maps"
	"math"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/orderq/orderq/loadtest/internal/check"
	"github.com/orderq/orderq/loadtest/internal/crowd"
)

// sale is a synthetic flash sale of 2 s: 10 orders sent a second, each
// final 150 ms after it was accepted, with accept latencies from 1 to 50
// ms; a 503 and a 429 in the first second; and the stock falling from 20
// to 0, sampled every 100 ms.
func sale() *crowd.Result {
	t0 := time.Date(2024, 12, 12, 0, 0, 0, 0, time.UTC)
	r := &crowd.Result{
		Config:      crowd.Config{Stock: 20, Orders: 20, Concurrency: 5, Quantity: 1, Customers: 20, Wait: 5, Timeout: time.Minute},
		Items:       []crowd.Item{{ID: 7, Stock: 20}},
		FinalStocks: []int64{0},
		Errors:      map[string]int{"order 503 unavailable": 1, "order 429 rate_limited": 1},
		Failures:    []crowd.Failure{{At: t0.Add(200 * time.Millisecond), Status: 503}, {At: t0.Add(700 * time.Millisecond), Status: 429}},
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

// header is a command's header, as the load tester makes one.
func header() *Header {
	modified := true
	t0 := time.Date(2024, 12, 12, 0, 0, 0, 0, time.UTC)
	return &Header{
		Command: "loadtest flashsale",
		Args:    []string{"--url", "http://gw:8080", "--admin-token=***", "--stock", "20", "--json"},
		Flags:   map[string]string{"url": "http://gw:8080", "admin-token": "***", "stock": "20", "json": "true"},
		Environment: map[string]string{
			"CUSTOMER_JWT_SECRET": "***",
		},
		Started:  t0.Add(-time.Second),
		Finished: t0.Add(2 * time.Second),
		Target:   Target{URL: "http://gw:8080", APIVersion: "1.0.0"},
		Build: Binary{Path: "github.com/orderq/orderq/loadtest/cmd/loadtest", Version: "(devel)", GoVersion: "go1.26.8",
			Revision: "05be915785abf99e63b608c2888daf5e5dc7ded9", Time: "2026-12-01T17:14:53Z", Modified: &modified},
		Host: Host{Name: "bench-1", OS: "linux", Arch: "amd64", CPUs: 2, GOMAXPROCS: 2},
	}
}

func writeHTML(t *testing.T, p Page) string {
	t.Helper()
	var buf bytes.Buffer
	if err := WriteHTML(&buf, p); err != nil {
		t.Fatalf("WriteHTML: %v", err)
	}
	html := buf.String()
	// Self-contained: nothing fetched, nothing run.
	for _, banned := range []string{"<script", "src=", "href=", "ZgotmplZ", "NaN", "Inf"} {
		if strings.Contains(html, banned) {
			t.Errorf("the page contains %q", banned)
		}
	}
	return html
}

// charts returns the page's charts by title, each checked to be
// well-formed SVG.
func charts(t *testing.T, html string) map[string]string {
	t.Helper()
	byTitle := map[string]string{}
	for _, svg := range regexp.MustCompile(`(?s)<svg .*?</svg>`).FindAllString(html, -1) {
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
		title := regexp.MustCompile(`aria-label="([^"]*)"`).FindStringSubmatch(svg)[1]
		byTitle[title] = svg
	}
	return byTitle
}

func TestWriteHTML(t *testing.T) {
	r := sale()
	s := Build(Input{Result: r, LedgerNote: "--mysql-dsn is empty",
		Violations: []check.Violation{{Rule: check.RuleOversold, Message: "21 units <were> confirmed"}}})
	cmp := Compare(CompareCrowd{Orders: 20, Concurrency: 5, Stock: 20, Quantity: 1}, []Strategy{NewStrategy("orderq", "the gateway", s)})
	html := writeHTML(t, Page{Title: "loadtest flashsale", Header: header(), Summary: &s, Comparison: &cmp})

	for _, want := range []string{
		"<title>loadtest flashsale</title>",
		// The header.
		"<tr><th>started</th><td>2024-12-11T23:59:59Z</td></tr>",
		"<tr><th>finished</th><td>2024-12-12T00:00:02Z (after 3s)</td></tr>",
		"<tr><th>target</th><td>http://gw:8080, API version 1.0.0</td></tr>",
		"<tr><th>load tester</th><td>github.com/orderq/orderq/loadtest/cmd/loadtest (devel), commit 05be915785abf99e63b608c2888daf5e5dc7ded9 of 2026-12-01T17:14:53Z, with changes not committed, go1.26.8</td></tr>",
		"<tr><th>host</th><td>bench-1: linux/amd64, 2 CPUs, GOMAXPROCS 2</td></tr>",
		`<code class="command">loadtest flashsale --url http://gw:8080 &#39;--admin-token=***&#39; --stock 20 --json</code>`,
		`<code class="flag">--admin-token=***</code> <code class="flag">--json=true</code> <code class="flag">--stock=20</code> <code class="flag">--url=http://gw:8080</code>`,
		`<code class="env">CUSTOMER_JWT_SECRET=***</code>`,
		// The tables, escaped, and the verdict.
		"item          7: stock 20 → 0, confirmed quantity 20",
		"oversold: 21 units &lt;were&gt; confirmed",
		`<strong class="fail">FAIL</strong> — 1 violated`,
		`<pre class="comparison">`,
	} {
		if !strings.Contains(html, want) {
			t.Errorf("the page does not contain %q", want)
		}
	}

	// Every chart, with its axes labelled in their units.
	cs := charts(t, html)
	wantCharts := map[string][]string{
		"Throughput, per second":              {"orders/s", "sent", "accepted", "final"},
		"Accept latency, per second":          {"ms (log scale)", "p50", "p90", "p99", "max"},
		"Accept → final latency, per second":  {"ms (log scale)", "p50", "max"},
		"Order → final latency, per second":   {"ms (log scale)", "p99"},
		"Failed requests, per second":         {"requests/s", "all", "429", "503"},
		"Stock of item 7, sampled":            {"units in stock", "stock"},
		"Accept latency, every order":         {"orders (log scale)", "latency (log scale)", "1ms – 1.25ms: 5 orders", "50ms – 63ms: 5 orders"},
		"Accept → final latency, every order": {"orders (log scale)", "latency (log scale)", "125ms – 160ms: 20 orders"},
		"Order → final latency, every order":  {"orders (log scale)", "latency (log scale)"},
	}
	if len(cs) != len(wantCharts) {
		t.Errorf("%d charts, want %d: %v", len(cs), len(wantCharts), slices.Sorted(maps.Keys(cs)))
	}
	for title, fragments := range wantCharts {
		svg, ok := cs[title]
		if !ok {
			t.Errorf("no chart %q", title)
			continue
		}
		if !strings.Contains(title, "every order") {
			fragments = append(fragments, "time since the first order was due (s)")
		}
		for _, f := range fragments {
			if !strings.Contains(svg, ">"+f+"<") {
				t.Errorf("chart %q does not say %q", title, f)
			}
		}
	}
	// A point a second for the series, one a sample for the stock.
	for title, lines := range map[string]map[string]int{
		"Throughput, per second":      {"sent": 2, "accepted": 2, "final": 2},
		"Accept latency, per second":  {"p50": 2, "max": 2},
		"Failed requests, per second": {"all": 2, "429": 2, "503": 2},
		"Stock of item 7, sampled":    {"stock": 21},
	} {
		for name, n := range lines {
			if got := linePoints(cs[title], name); got != n {
				t.Errorf("%s: line %s has %d points, want %d", title, name, got, n)
			}
		}
	}
	if got := strings.Count(cs["Accept latency, every order"], `<rect class="bar"`); got != len(s.Histograms.Accept) || got != 18 {
		t.Errorf("accept histogram: %d bars for %d bins, want 18 (1 ms to 63 ms)", got, len(s.Histograms.Accept))
	}
}

// linePoints counts the points the line named name draws in svg: in its
// path, and as dots.
func linePoints(svg, name string) int {
	n := 0
	for _, m := range regexp.MustCompile(`<path class="line c\d" data-name="`+regexp.QuoteMeta(name)+`" d="([^"]*)"`).FindAllStringSubmatch(svg, -1) {
		n += strings.Count(m[1], ",")
	}
	return n + strings.Count(svg, `data-name="`+name+`" cx=`)
}

func TestWriteHTMLSoak(t *testing.T) {
	var sales []SoakSale
	for n := 1; n <= 2; n++ {
		r := recorded()
		// The second sale starts a minute after the first.
		shift := time.Duration(n-1) * time.Minute
		r.Started, r.Finished = r.Started.Add(shift), r.Finished.Add(shift)
		for i := range r.Orders {
			o := &r.Orders[i]
			for _, at := range []*time.Time{&o.SentAt, &o.AcceptedAt, &o.FinalAt} {
				if !at.IsZero() {
					*at = at.Add(shift)
				}
			}
		}
		r.StockSamples = nil
		sales = append(sales, NewSoakSale(n, Build(Input{Result: r, LedgerNote: "--mysql-dsn is empty"}), nil, "--mysql-dsn is empty"))
	}
	k := NewSoak(SoakCrowd{Sales: 2, TargetPerSecond: 3, DurationSeconds: 2, Concurrency: 3, Quantity: 1, Stock: 5}, nil, "--mysql-dsn is empty", sales)
	h := header()
	h.Command = "loadtest soak"
	html := writeHTML(t, Page{Title: "loadtest soak", Header: h, Soak: &k})
	for _, want := range []string{`<pre class="soak">`, "invariants  PASS in all 2 sales", `<strong class="pass">PASS</strong>`,
		`<code class="command">loadtest soak`} {
		if !strings.Contains(html, want) {
			t.Errorf("the page does not contain %q", want)
		}
	}
	cs := charts(t, html)
	tp := cs["Throughput, per second"]
	if !strings.Contains(tp, ">time since sale 1&#39;s first order was due (s)<") {
		t.Errorf("the throughput chart's x axis is not the soak's:\n%s", tp)
	}
	// Each sale's three seconds, the line broken between the sales.
	m := regexp.MustCompile(`data-name="sent" d="([^"]*)"`).FindStringSubmatch(tp)
	if m == nil || strings.Count(m[1], "M") != 2 || strings.Count(m[1], ",") != 6 {
		t.Errorf("sent line %v: want two runs of three points", m)
	}
	// The histograms are of both sales' orders.
	hist := cs["Accept latency, every order"]
	if !strings.Contains(hist, ">10ms – 12.5ms: 2 orders<") || !strings.Contains(hist, ">1s – 1.25s: 2 orders<") {
		t.Errorf("the accept histogram is not both sales':\n%s", hist)
	}
}

func TestWriteHTMLWithoutSamples(t *testing.T) {
	r := sale()
	r.StockSamples, r.Orders, r.Failures = nil, nil, nil
	s := Build(Input{Result: r})
	html := writeHTML(t, Page{Title: "empty", Summary: &s})
	if strings.Contains(html, "Stock of item") || strings.Contains(html, "<h2>Run</h2>") {
		t.Errorf("a run without samples drew a stock chart, or one without a header a header")
	}
	if n := strings.Count(html, `>no orders<`); n != 6 {
		t.Errorf("%d charts say they have no orders, want the 3 latencies and the 3 histograms", n)
	}
}

// TestLatencyChartOfZeros: orders answered final by the request that placed
// them, with no Server-Timing, spend 0 ms from accepted to final; a
// logarithmic chart draws them on its axis, and says so.
func TestLatencyChartOfZeros(t *testing.T) {
	zero := Stats{Count: 3}
	tl := timeline{span: 2, x: []float64{0.5, 1.5}, seconds: []Second{{AcceptToFinal: zero}, {AcceptToFinal: zero}}}
	c := tl.latencyChart("zeros", func(s Second) Stats { return s.AcceptToFinal })
	if c.Note != "every latency 0 ms" {
		t.Errorf("note %q", c.Note)
	}
	bottom := fmt.Sprintf("%.1f", padT+plotH)
	for _, l := range c.Lines {
		if l.Path != "M"+fmt.Sprintf("%.1f", padL+plotW/4)+","+bottom+" L"+fmt.Sprintf("%.1f", padL+3*plotW/4)+","+bottom {
			t.Errorf("line %s: %q, want both points on the x axis", l.Name, l.Path)
		}
	}
}

func TestWriteHTMLOfNothing(t *testing.T) {
	if err := WriteHTML(io.Discard, Page{Title: "nothing"}); err == nil {
		t.Error("a page of neither a run nor a soak was written")
	}
}

func TestLineChartGaps(t *testing.T) {
	nan := math.NaN()
	c := lineChart("t", "x", "y", 21, linear(6, false), series{Name: "s",
		X:      []float64{0.5, 1.5, 2.5, 3.5, 4.5, 5.5, 6.5},
		Y:      []float64{1, nan, 3, 4, 5, 6, 7},
		Starts: []bool{true, false, false, true, false, false, true}})
	l := c.Lines[0]
	// 0.5 stands alone before a missing value, 2.5 before a start afresh,
	// and so does 6.5; 3.5 to 5.5 are joined.
	if strings.Count(l.Path, "M") != 1 || strings.Count(l.Path, ",") != 3 || len(l.Dots) != 3 {
		t.Errorf("path %q, dots %v: want one segment of three points and three dots", l.Path, l.Dots)
	}
}

func TestScales(t *testing.T) {
	tests := []struct {
		name   string
		s      scale
		lo, hi float64
		ticks  []float64
	}{
		{name: "linear of nothing", s: linear(0, false), lo: 0, hi: 1, ticks: []float64{0, 1}},
		{name: "linear", s: linear(4321, false), lo: 0, hi: 5000, ticks: []float64{0, 1000, 2000, 3000, 4000, 5000}},
		{name: "linear, whole steps", s: linear(3, true), lo: 0, hi: 3, ticks: []float64{0, 1, 2, 3}},
		{name: "linear, fractions", s: linear(2.1, false), lo: 0, hi: 2.5, ticks: []float64{0, 0.5, 1, 1.5, 2, 2.5}},
		{name: "log within two decades", s: logarithmic(3, 80), lo: 2, hi: 100, ticks: []float64{2, 5, 10, 20, 50, 100}},
		{name: "log over decades", s: logarithmic(0.7, 4000), lo: 0.1, hi: 10000, ticks: []float64{0.1, 1, 10, 100, 1000, 10000}},
		{name: "log of one value", s: logarithmic(10, 10), lo: 10, hi: 20, ticks: []float64{10, 20}},
		{name: "counts of nothing", s: countScale(0), lo: 0, hi: 1, ticks: []float64{0, 1}},
		{name: "few counts", s: countScale(7), lo: 0, hi: 10, ticks: []float64{0, 1, 2, 5, 10}},
		{name: "many counts", s: countScale(4321), lo: 0, hi: 10000, ticks: []float64{0, 1, 10, 100, 1000, 10000}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ticks := make([]float64, len(tt.s.ticks))
			for i, v := range tt.s.ticks {
				ticks[i] = math.Round(v*1e6) / 1e6
			}
			if math.Abs(tt.s.lo-tt.lo) > 1e-9 || math.Abs(tt.s.hi-tt.hi) > 1e-9 || !slices.Equal(ticks, tt.ticks) {
				t.Errorf("scale %v…%v, ticks %v; want %v…%v, ticks %v", tt.s.lo, tt.s.hi, ticks, tt.lo, tt.hi, tt.ticks)
			}
			if f := tt.s.frac(tt.s.lo); math.Abs(f) > 1e-9 {
				t.Errorf("frac(lo) = %v, want 0", f)
			}
			if f := tt.s.frac(tt.s.hi); math.Abs(f-1) > 1e-9 {
				t.Errorf("frac(hi) = %v, want 1", f)
			}
		})
	}
	// On counts, one shows above nothing and below ten.
	c := countScale(1000)
	if f0, f1, f10 := c.frac(0), c.frac(1), c.frac(10); !(f0 == 0 && f1 > 0.05 && f1 < f10) {
		t.Errorf("counts: frac(0) %v, frac(1) %v, frac(10) %v", f0, f1, f10)
	}
}

func TestNiceCeil(t *testing.T) {
	for in, want := range map[float64]float64{0: 1, 0.3: 0.5, 1: 1, 1.1: 2, 3: 5, 7: 10, 10: 10, 4200: 5000, 18000: 20000} {
		if got := niceCeil(in); got != want {
			t.Errorf("niceCeil(%v) = %v, want %v", in, got, want)
		}
	}
	for in, want := range map[float64]float64{0.3: 0.2, 1: 1, 1.9: 1, 3: 2, 7: 5, 10: 10, 4200: 2000} {
		if got := niceFloor(in); got != want {
			t.Errorf("niceFloor(%v) = %v, want %v", in, got, want)
		}
	}
}

func TestLatencyLabels(t *testing.T) {
	for in, want := range map[float64]string{0: "0", 0.1: "100µs", 0.315: "315µs", 1: "1ms", 63: "63ms", 1000: "1s", 12500: "12.5s", 100000: "100s"} {
		if got := latency(in); got != want {
			t.Errorf("latency(%v) = %q, want %q", in, got, want)
		}
	}
}

func TestShellWords(t *testing.T) {
	got := shellWords([]string{"loadtest", "flashsale", "--url=http://h:1/x", "--mysql-dsn=", "it's", "a b", "--admin-token=***"})
	if want := `loadtest flashsale --url=http://h:1/x --mysql-dsn= 'it'\''s' 'a b' '--admin-token=***'`; got != want {
		t.Errorf("shellWords = %s\nwant         %s", got, want)
	}
}
