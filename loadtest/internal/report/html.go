package report

import (
	"bytes"
	"fmt"
	"html/template"
	"io"
	"maps"
	"math"
	"slices"
	"strings"
	"time"
)

// Page is what an HTML report shows: its header, then one run (a flash
// sale, a catalogue, a run of carts; or the run a comparison charts, with
// the comparison's table), or a soak's sales one after another.
type Page struct {
	Title      string
	Header     *Header
	Summary    *Summary
	Comparison *Comparison // with Summary, the strategy charted
	Soak       *Soak       // instead of Summary
}

// WriteHTML writes p as one self-contained HTML file: the header, the
// tables as the text report has them, and charts drawn as inline SVG (no
// script, no fetched asset), so it can be mailed or attached to a
// post-mortem as it is. The charts draw what the JSON report holds: the
// series second by second, and the latency histograms.
func WriteHTML(w io.Writer, p Page) error {
	v := view{Page: p}
	var text, comparison, soak bytes.Buffer
	var tl timeline
	switch {
	case p.Summary != nil:
		if err := p.Summary.WriteText(&text); err != nil {
			return err
		}
		if p.Comparison != nil {
			if err := p.Comparison.WriteText(&comparison); err != nil {
				return err
			}
		}
		v.Passed, v.Violated = p.Summary.Invariants.Passed, len(p.Summary.Invariants.Violations)
		tl = runTimeline(p.Summary)
	case p.Soak != nil:
		if err := p.Soak.WriteText(&soak); err != nil {
			return err
		}
		v.Passed, v.Violated = p.Soak.Passed, len(p.Soak.Failed)
		v.Unit = "sales"
		tl = soakTimeline(p.Soak)
	default:
		return fmt.Errorf("html report %q: nothing to show", p.Title)
	}
	v.Text, v.Compare, v.SoakText = text.String(), comparison.String(), soak.String()
	v.Charts, v.Histograms = tl.charts()
	if h := p.Header; h != nil {
		v.Head = newHeadView(*h)
	}
	return page.Execute(w, v)
}

// view is the page as the template reads it.
type view struct {
	Page
	Head                    *headView
	Passed                  bool
	Violated                int    // invariants violated; with Unit "sales", sales that violated one
	Unit                    string // of Violated: "" for invariants
	Text, Compare, SoakText string
	Charts, Histograms      []chart
}

// headView is the header written out for people.
type headView struct {
	Started, Finished, Took string
	Target, Build, Host     string
	CommandLine             string
	Flags, Environment      []keyValue
}

type keyValue struct{ Key, Value string }

func newHeadView(h Header) *headView {
	v := &headView{
		Started:     h.Started.Format(time.RFC3339Nano),
		Finished:    h.Finished.Format(time.RFC3339Nano),
		Took:        h.Finished.Sub(h.Started).Round(time.Millisecond).String(),
		CommandLine: shellWords(append(strings.Fields(h.Command), h.Args...)),
		Flags:       sortedPairs(h.Flags),
		Environment: sortedPairs(h.Environment),
	}
	t := h.Target
	v.Target = t.URL
	if t.URL == "" {
		v.Target = "none"
	}
	if t.APIVersion != "" {
		v.Target += ", API version " + t.APIVersion
	}
	if t.Note != "" {
		v.Target += " (" + t.Note + ")"
	}
	b := h.Build
	v.Build = strings.TrimSpace(b.Path + " " + b.Version)
	if b.Revision != "" {
		v.Build += ", commit " + b.Revision
		if b.Time != "" {
			v.Build += " of " + b.Time
		}
		if b.Modified != nil && *b.Modified {
			v.Build += ", with changes not committed"
		}
	}
	v.Build += ", " + b.GoVersion
	if b.Note != "" {
		v.Build += " (" + b.Note + ")"
	}
	host := h.Host
	v.Host = fmt.Sprintf("%s/%s, %d CPUs, GOMAXPROCS %d", host.OS, host.Arch, host.CPUs, host.GOMAXPROCS)
	if host.Name != "" {
		v.Host = host.Name + ": " + v.Host
	}
	return v
}

func sortedPairs(m map[string]string) []keyValue {
	kvs := make([]keyValue, 0, len(m))
	for _, k := range slices.Sorted(maps.Keys(m)) {
		kvs = append(kvs, keyValue{k, m[k]})
	}
	return kvs
}

// shellWords joins words as a POSIX shell reads them back: a word with
// anything but letters, digits and -_=.,:/@+% in single quotes.
func shellWords(words []string) string {
	quoted := make([]string, len(words))
	for i, w := range words {
		plain := w != "" && strings.IndexFunc(w, func(r rune) bool {
			return !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune("-_=.,:/@+%", r))
		}) < 0
		if plain {
			quoted[i] = w
		} else {
			quoted[i] = "'" + strings.ReplaceAll(w, "'", `'\''`) + "'"
		}
	}
	return strings.Join(quoted, " ")
}

// timeline is what the charts draw: the seconds of one run or of a soak's
// sales on one axis, x the middle of each in seconds from the origin, and
// the histograms of all their orders.
type timeline struct {
	xlabel     string
	span       float64 // seconds the x axis covers
	x          []float64
	starts     []bool // the first second of each of a soak's sales; nil for one run
	seconds    []Second
	hists      Histograms
	stock      *StockSeries
	stockTitle string
}

func runTimeline(s *Summary) timeline {
	t := timeline{xlabel: "time since the first order was due (s)", seconds: s.Series.Seconds, hists: s.Histograms, stock: s.Series.Stock}
	for i := range t.seconds {
		t.x = append(t.x, float64(i)+0.5)
	}
	t.span = float64(len(t.seconds))
	if st := t.stock; st != nil {
		for _, p := range st.Samples {
			t.span = max(t.span, p.Seconds)
		}
		t.stockTitle = fmt.Sprintf("Stock of item %d, sampled", st.Item)
		if c := s.Catalogue; c != nil {
			t.stockTitle = fmt.Sprintf("Stock of item %d, the most demanded of %d, sampled", st.Item, c.Items)
		}
	}
	return t
}

// soakTimeline places each sale's seconds at its own start after the first
// sale's, and sums the sales' histograms.
func soakTimeline(k *Soak) timeline {
	t := timeline{xlabel: "time since sale 1's first order was due (s)"}
	var acc, toFinal, total [][]Bin
	for _, sale := range k.Sales {
		run := sale.Run
		offset := run.Series.Started.Sub(k.Sales[0].Run.Series.Started).Seconds()
		for i, sec := range run.Series.Seconds {
			t.x = append(t.x, offset+float64(i)+0.5)
			t.starts = append(t.starts, i == 0)
			t.seconds = append(t.seconds, sec)
		}
		t.span = offset + float64(len(run.Series.Seconds))
		acc, toFinal, total = append(acc, run.Histograms.Accept), append(toFinal, run.Histograms.AcceptToFinal), append(total, run.Histograms.OrderToFinal)
	}
	t.hists = Histograms{Accept: mergeBins(acc...), AcceptToFinal: mergeBins(toFinal...), OrderToFinal: mergeBins(total...)}
	return t
}

// charts lays out the charts over time and the histograms.
func (t timeline) charts() (over, dists []chart) {
	values := func(f func(Second) float64) []float64 {
		ys := make([]float64, len(t.seconds))
		for i, s := range t.seconds {
			ys[i] = f(s)
		}
		return ys
	}
	throughput := []series{
		{Name: "sent", X: t.x, Starts: t.starts, Y: values(func(s Second) float64 { return float64(s.Sent) })},
		{Name: "accepted", X: t.x, Starts: t.starts, Y: values(func(s Second) float64 { return float64(s.Accepted) })},
		{Name: "final", X: t.x, Starts: t.starts, Y: values(func(s Second) float64 { return float64(s.Final) })},
	}
	failures := []series{
		{Name: "all", X: t.x, Starts: t.starts, Y: values(func(s Second) float64 { return float64(s.Errors) })},
		{Name: "429", X: t.x, Starts: t.starts, Y: values(func(s Second) float64 { return float64(s.TooMany) })},
		{Name: "503", X: t.x, Starts: t.starts, Y: values(func(s Second) float64 { return float64(s.Unavailable) })},
	}
	over = append(over, lineChart("Throughput, per second", t.xlabel, "orders/s", t.span, linear(top(throughput), false), throughput...))
	for _, span := range []struct {
		title string
		of    func(Second) Stats
	}{
		{"Accept latency, per second", func(s Second) Stats { return s.Accept }},
		{"Accept → final latency, per second", func(s Second) Stats { return s.AcceptToFinal }},
		{"Order → final latency, per second", func(s Second) Stats { return s.OrderToFinal }},
	} {
		over = append(over, t.latencyChart(span.title, span.of))
	}
	over = append(over, lineChart("Failed requests, per second", t.xlabel, "requests/s", t.span, linear(top(failures), true), failures...))
	if st := t.stock; st != nil {
		x, y := make([]float64, len(st.Samples)), make([]float64, len(st.Samples))
		for i, p := range st.Samples {
			x[i], y[i] = p.Seconds, float64(p.Stock)
		}
		s := series{Name: "stock", X: x, Y: y}
		over = append(over, lineChart(t.stockTitle, t.xlabel, "units in stock", t.span, linear(top([]series{s}), true), s))
	}
	dists = []chart{
		histogramChart("Accept latency, every order", t.hists.Accept),
		histogramChart("Accept → final latency, every order", t.hists.AcceptToFinal),
		histogramChart("Order → final latency, every order", t.hists.OrderToFinal),
	}
	return over, dists
}

// latencyChart draws the percentiles of one span second by second, on a
// logarithmic scale: a max far above the median leaves both readable. A
// second without orders is a gap; a latency of 0 (an order final in the
// answer that accepted it) is drawn on the axis.
func (t timeline) latencyChart(title string, of func(Second) Stats) chart {
	pick := []struct {
		name string
		f    func(Stats) float64
	}{
		{"p50", func(s Stats) float64 { return s.P50 }},
		{"p90", func(s Stats) float64 { return s.P90 }},
		{"p99", func(s Stats) float64 { return s.P99 }},
		{"max", func(s Stats) float64 { return s.Max }},
	}
	lo, hi, orders := math.Inf(1), 0.0, false
	ss := make([]series, len(pick))
	for i, p := range pick {
		ss[i] = series{Name: p.name, X: t.x, Starts: t.starts, Y: make([]float64, len(t.seconds))}
		for j, sec := range t.seconds {
			st := of(sec)
			v := p.f(st)
			switch {
			case st.Count == 0:
				v = math.NaN()
			case v > 0:
				lo, hi = min(lo, v), max(hi, v)
			}
			orders = orders || st.Count > 0
			ss[i].Y[j] = v
		}
	}
	var note string
	switch {
	case !orders:
		lo, hi, note = 1, 10, "no orders"
	case hi == 0:
		lo, hi, note = 1, 10, "every latency 0 ms"
	}
	y := logarithmic(lo, hi)
	for i := range ss {
		for j, v := range ss[i].Y {
			if v <= 0 {
				ss[i].Y[j] = y.lo
			}
		}
	}
	c := lineChart(title, t.xlabel, "ms (log scale)", t.span, y, ss...)
	c.Note = note
	return c
}

// top is the largest value of ss; 0 for none.
func top(ss []series) float64 {
	m := 0.0
	for _, s := range ss {
		for _, y := range s.Y {
			if !math.IsNaN(y) {
				m = max(m, y)
			}
		}
	}
	return m
}

var page = template.Must(template.New("page").Funcs(template.FuncMap{
	"geo": func() map[string]float64 {
		return map[string]float64{"W": chartW, "H": chartH, "L": padL, "T": padT, "R": padL + plotW, "B": padT + plotH,
			"TitleY": 18, "LegendY": 9, "XLabelY": chartH - 8, "MidX": padL + plotW/2, "NegMidY": -(padT + plotH/2), "YLabelX": 16}
	},
}).Parse(`<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>{{.Title}}</title>
<style>
body { font: 14px/1.4 system-ui, sans-serif; margin: 2em auto; max-width: 960px; color: #222; }
pre { background: #f6f6f6; padding: 1em; overflow-x: auto; font-size: 12px; }
table.header { border-collapse: collapse; font-size: 13px; }
table.header th { text-align: left; vertical-align: top; padding: 2px 1em 2px 0; white-space: nowrap; }
table.header td { padding: 2px 0; }
table.header code { font-size: 12px; }
svg { display: block; margin: 1.5em 0; }
svg text { font: 11px system-ui, sans-serif; fill: #444; }
svg .title { font-size: 13px; font-weight: 600; fill: #222; }
svg .label { font-size: 12px; fill: #222; }
svg .note { font-size: 13px; fill: #888; }
svg .axis { stroke: #888; }
svg .grid { stroke: #e4e4e4; }
svg path.line { fill: none; stroke-width: 1.5; stroke-linejoin: round; }
/* The first line is wide and pale, the others dashed, so that lines which
   coincide (every failure a 503, every order sent accepted) all show. */
path.c0 { stroke: #1f77b4; stroke-width: 3; stroke-opacity: 0.5; } path.c1 { stroke: #ff7f0e; }
path.c2 { stroke: #2ca02c; stroke-dasharray: 6 3; } path.c3 { stroke: #d62728; stroke-dasharray: 2 2; }
.swatch.c0, circle.c0 { fill: #1f77b4; } .swatch.c1, circle.c1 { fill: #ff7f0e; } .swatch.c2, circle.c2 { fill: #2ca02c; } .swatch.c3, circle.c3 { fill: #d62728; }
rect.bar { fill: #1f77b4; }
.pass { color: #2a7a2a; } .fail { color: #b00020; }
</style>
</head>
<body>
<h1>{{.Title}}</h1>
<p>Invariants: {{if .Passed}}<strong class="pass">PASS</strong>{{else}}<strong class="fail">FAIL</strong> — {{.Violated}} {{if .Unit}}{{.Unit}} violated one{{else}}violated{{end}}{{end}}</p>
{{with .Head}}<h2>Run</h2>
<table class="header">
<tr><th>started</th><td>{{.Started}}</td></tr>
<tr><th>finished</th><td>{{.Finished}} (after {{.Took}})</td></tr>
<tr><th>target</th><td>{{.Target}}</td></tr>
<tr><th>load tester</th><td>{{.Build}}</td></tr>
<tr><th>host</th><td>{{.Host}}</td></tr>
<tr><th>command</th><td><code class="command">{{.CommandLine}}</code></td></tr>
<tr><th>flags</th><td>{{range .Flags}}<code class="flag">--{{.Key}}={{.Value}}</code> {{end}}</td></tr>
<tr><th>environment</th><td>{{range .Environment}}<code class="env">{{.Key}}={{.Value}}</code> {{else}}none read{{end}}</td></tr>
</table>
{{end}}{{if .Compare}}<h2>Strategies</h2>
<pre class="comparison">{{.Compare}}</pre>
{{end}}{{if .Text}}<h2>Summary</h2>
<pre class="summary">{{.Text}}</pre>
{{end}}{{if .SoakText}}<h2>Sales</h2>
<pre class="soak">{{.SoakText}}</pre>
{{end}}<h2>Over time</h2>
<p>A point is one second. Throughput counts the orders sent, accepted and
seen final in it. A latency is of the orders whose span ended in it: accept
from the first attempt sent to accepted, accept → final from accepted to the
final status seen, order → final from the first attempt sent to the final
status seen. Failed requests are every request answered with anything but
a success, or not answered; 429 and 503 among them.</p>
{{range .Charts}}{{template "chart" .}}{{end}}<h2>Latency distributions</h2>
<p>Every order in bins ten to a decade, from 100 µs to 100 s.</p>
{{range .Histograms}}{{template "chart" .}}{{end}}</body>
</html>
{{define "chart"}}{{$g := geo}}<svg viewBox="0 0 {{$g.W}} {{$g.H}}" width="{{$g.W}}" height="{{$g.H}}" role="img" aria-label="{{.Title}}">
<text class="title" x="{{$g.L}}" y="{{$g.TitleY}}">{{.Title}}</text>
{{range .YTicks}}<line class="grid" x1="{{$g.L}}" x2="{{$g.R}}" y1="{{.Pos}}" y2="{{.Pos}}"/><text x="{{$g.L}}" dx="-6" y="{{.Pos}}" dy="4" text-anchor="end">{{.Label}}</text>
{{end}}{{range .XTicks}}<text x="{{.Pos}}" y="{{$g.B}}" dy="14" text-anchor="middle">{{.Label}}</text>
{{end}}<line class="axis" x1="{{$g.L}}" x2="{{$g.L}}" y1="{{$g.T}}" y2="{{$g.B}}"/><line class="axis" x1="{{$g.L}}" x2="{{$g.R}}" y1="{{$g.B}}" y2="{{$g.B}}"/>
<text class="label x-label" x="{{$g.MidX}}" y="{{$g.XLabelY}}" text-anchor="middle">{{.XLabel}}</text>
<text class="label y-label" transform="rotate(-90)" x="{{$g.NegMidY}}" y="{{$g.YLabelX}}" text-anchor="middle">{{.YLabel}}</text>
{{with .Note}}<text class="note" x="{{$g.MidX}}" y="{{$g.T}}" dy="40" text-anchor="middle">{{.}}</text>
{{end}}{{range .Bars}}<rect class="bar" x="{{.X}}" y="{{.Y}}" width="{{.W}}" height="{{.H}}"><title>{{.Tip}}</title></rect>
{{end}}{{range .Lines}}{{$l := .}}{{if .Path}}<path class="line {{.Class}}" data-name="{{.Name}}" d="{{.Path}}"><title>{{.Name}}</title></path>
{{end}}{{range .Dots}}<circle class="{{$l.Class}}" data-name="{{$l.Name}}" cx="{{.X}}" cy="{{.Y}}" r="2.5"><title>{{$l.Name}}</title></circle>
{{end}}<rect class="swatch {{.Class}}" x="{{.LegendX}}" y="{{$g.LegendY}}" width="10" height="10"/><text x="{{.LegendX}}" dx="14" y="{{$g.LegendY}}" dy="9">{{.Name}}</text>
{{end}}</svg>
{{end}}`))
