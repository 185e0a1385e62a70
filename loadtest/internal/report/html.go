package report

import (
	"bytes"
	"fmt"
	"html/template"
	"io"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/orderq/orderq/loadtest/internal/crowd"
)

// Timeline is a run over time, for the charts of the HTML page.
type Timeline struct {
	Bucket    time.Duration
	Accepted  []float64 // orders accepted per second, in each bucket from the start
	Final     []float64 // orders final per second, in each bucket
	StockItem int64     // the item whose stock was sampled
	Stock     []Point   // its stock: seconds from the start, units
	Latency   []Bin     // accept latencies, in logarithmic buckets
}

// Point is one sample of a series.
type Point struct {
	Seconds float64
	Value   float64
}

// Bin is one bucket of a histogram: the latencies in [Lo, Hi).
type Bin struct {
	Lo, Hi time.Duration
	Count  int
}

// NewTimeline buckets r's orders by when they were accepted and became final
// (100 ms buckets, 1 s for runs over 20 s), takes its stock samples, and bins
// its accept latencies.
func NewTimeline(r *crowd.Result) Timeline {
	t := Timeline{Bucket: 100 * time.Millisecond}
	span := r.Finished.Sub(r.Started)
	if span > 20*time.Second {
		t.Bucket = time.Second
	}
	n := int(span/t.Bucket) + 1
	t.Accepted, t.Final = make([]float64, n), make([]float64, n)
	perSecond := float64(time.Second) / float64(t.Bucket)
	bucket := func(at time.Time) int { return min(max(int(at.Sub(r.Started)/t.Bucket), 0), n-1) }
	var accept []time.Duration
	for _, o := range r.Orders {
		if !o.Accepted {
			continue
		}
		t.Accepted[bucket(o.AcceptedAt)] += perSecond
		accept = append(accept, o.AcceptedAt.Sub(o.SentAt))
		if o.Final() {
			t.Final[bucket(o.FinalAt)] += perSecond
		}
	}
	if len(r.Items) > 0 {
		t.StockItem = r.Items[0].ID
	}
	for _, s := range r.StockSamples {
		t.Stock = append(t.Stock, Point{Seconds: s.At.Sub(r.Started).Seconds(), Value: float64(s.Stock)})
	}
	t.Latency = histogram(accept)
	return t
}

// edges are the histogram's bucket bounds: 1-2-5 steps from 100 µs to 1 min.
var edges = func() []time.Duration {
	var es []time.Duration
	for d := 100 * time.Microsecond; d <= time.Minute; d *= 10 {
		es = append(es, d, 2*d, 5*d)
	}
	return es
}()

// histogram counts ds in the edges' buckets, from the first bucket with a
// latency to the last; below the first edge counts in the first bucket, above
// the last in the last.
func histogram(ds []time.Duration) []Bin {
	if len(ds) == 0 {
		return nil
	}
	bins := make([]Bin, len(edges)-1)
	for i := range bins {
		bins[i] = Bin{Lo: edges[i], Hi: edges[i+1]}
	}
	for _, d := range ds {
		i := 0
		for i < len(bins)-1 && d >= bins[i].Hi {
			i++
		}
		bins[i].Count++
	}
	lo, hi := 0, len(bins)-1
	for bins[lo].Count == 0 {
		lo++
	}
	for bins[hi].Count == 0 {
		hi--
	}
	return bins[lo : hi+1]
}

// Page is what the HTML report shows.
type Page struct {
	Title      string
	Summary    Summary
	Timeline   Timeline
	Comparison *Comparison // a compare run's table; nil for a single run
}

// WriteHTML writes p as one self-contained HTML file: the summary table, the
// comparison when there is one, and charts drawn as inline SVG (no script, no
// fetched asset), so it can be mailed or attached to a post-mortem as it is.
func WriteHTML(w io.Writer, p Page) error {
	var summary, comparison bytes.Buffer
	if err := p.Summary.WriteText(&summary); err != nil {
		return err
	}
	if p.Comparison != nil {
		if err := p.Comparison.WriteText(&comparison); err != nil {
			return err
		}
	}
	tl := p.Timeline
	secs := func(n int) []float64 {
		xs := make([]float64, n)
		for i := range xs {
			xs[i] = (float64(i) + 0.5) * tl.Bucket.Seconds()
		}
		return xs
	}
	span := float64(len(tl.Accepted)) * tl.Bucket.Seconds()
	stockX, stockY := make([]float64, len(tl.Stock)), make([]float64, len(tl.Stock))
	for i, pt := range tl.Stock {
		stockX[i], stockY[i] = pt.Seconds, pt.Value
		span = max(span, pt.Seconds)
	}
	charts := []chart{
		lineChart(fmt.Sprintf("Throughput (orders/s, %s buckets)", tl.Bucket), "seconds", span,
			series{Name: "accepted", X: secs(len(tl.Accepted)), Y: tl.Accepted},
			series{Name: "final", X: secs(len(tl.Final)), Y: tl.Final}),
	}
	if len(tl.Stock) > 0 {
		title := fmt.Sprintf("Stock of item %d (sampled)", tl.StockItem)
		if c := p.Summary.Catalogue; c != nil {
			title = fmt.Sprintf("Stock of item %d, the most demanded of %d (sampled)", tl.StockItem, c.Items)
		}
		charts = append(charts, lineChart(title, "seconds", span, series{Name: "stock", X: stockX, Y: stockY}))
	}
	charts = append(charts, barChart("Accept latency (orders per bucket, log scale of time)", tl.Latency))
	return page.Execute(w, struct {
		Page
		Text, Compare string
		Charts        []chart
	}{p, summary.String(), comparison.String(), charts})
}

// The charts' geometry, in SVG user units.
const (
	chartW, chartH                  = 760.0, 260.0
	padL, padR, padT, padB          = 64.0, 28.0, 28.0, 40.0
	plotW, plotH                    = chartW - padL - padR, chartH - padT - padB
	maxSteps                        = 6
	legendX, legendStep, legendBase = chartW - padR - 180, 90.0, 7.0
)

// chart is an SVG chart laid out for the template.
type chart struct {
	Title  string
	XLabel string
	Lines  []line
	Bars   []bar
	XTicks []tick
	YTicks []tick
}

type line struct {
	Name    string // also its CSS class
	Points  string // the polyline's points attribute
	LegendX float64
}

type bar struct {
	X, Y, W, H float64
	Tip        string
}

type tick struct {
	Pos   float64 // x for an x tick, y for a y tick
	Label string
}

// series is one named line of (x, y) values.
type series struct {
	Name string
	X, Y []float64
}

// lineChart draws ss over x from 0 to maxX, and y from 0 to their largest
// value, each axis rounded up to its next tick.
func lineChart(title, xlabel string, maxX float64, ss ...series) chart {
	c := chart{Title: title, XLabel: xlabel}
	top := 0.0
	for _, s := range ss {
		for _, y := range s.Y {
			top = max(top, y)
		}
	}
	var xs, ys []float64
	maxX, xs = axis(maxX, false)
	top, ys = axis(top, false)
	px := func(x float64) float64 { return padL + x/maxX*plotW }
	py := func(y float64) float64 { return padT + plotH - y/top*plotH }
	for i, s := range ss {
		pts := make([]string, len(s.X))
		for j := range s.X {
			pts[j] = fmt.Sprintf("%.1f,%.1f", px(s.X[j]), py(s.Y[j]))
		}
		c.Lines = append(c.Lines, line{Name: s.Name, Points: strings.Join(pts, " "), LegendX: legendX + float64(i)*legendStep})
	}
	for _, x := range xs {
		c.XTicks = append(c.XTicks, tick{Pos: px(x), Label: number(x)})
	}
	for _, y := range ys {
		c.YTicks = append(c.YTicks, tick{Pos: py(y), Label: number(y)})
	}
	return c
}

// barChart draws a histogram, one bar per bin, labelled at the bins' edges.
func barChart(title string, bins []Bin) chart {
	c := chart{Title: title, XLabel: "accept latency"}
	most := 0
	for _, b := range bins {
		most = max(most, b.Count)
	}
	top, ys := axis(float64(most), true)
	w := plotW / float64(max(len(bins), 1))
	for i, b := range bins {
		h := float64(b.Count) / top * plotH
		c.Bars = append(c.Bars, bar{
			X: padL + float64(i)*w + 1, Y: padT + plotH - h, W: w - 2, H: h,
			Tip: fmt.Sprintf("%s – %s: %d orders", b.Lo, b.Hi, b.Count),
		})
		c.XTicks = append(c.XTicks, tick{Pos: padL + float64(i)*w, Label: b.Lo.String()})
	}
	if len(bins) > 0 {
		c.XTicks = append(c.XTicks, tick{Pos: padL + plotW, Label: bins[len(bins)-1].Hi.String()})
	}
	for _, y := range ys {
		c.YTicks = append(c.YTicks, tick{Pos: padT + plotH - y/top*plotH, Label: number(y)})
	}
	return c
}

// axis returns the end of an axis that shows 0…v, and its ticks: at most
// six steps of 1, 2 or 5 times a power of ten (whole steps when whole).
func axis(v float64, whole bool) (end float64, ticks []float64) {
	step := niceCeil(v / maxSteps)
	if whole {
		step = max(step, 1)
	}
	n := max(math.Ceil(v/step-1e-9), 1)
	for i := 0.0; i <= n; i++ {
		ticks = append(ticks, i*step)
	}
	return n * step, ticks
}

// niceCeil rounds v up to 1, 2 or 5 times a power of ten; 1 for nothing.
func niceCeil(v float64) float64 {
	if v <= 0 {
		return 1
	}
	p := math.Pow(10, math.Floor(math.Log10(v)))
	for _, m := range []float64{1, 2, 5, 10} {
		if v <= m*p*(1+1e-9) {
			return m * p
		}
	}
	return 10 * p
}

func number(v float64) string {
	return strconv.FormatFloat(math.Round(v*1000)/1000, 'f', -1, 64)
}

var page = template.Must(template.New("page").Funcs(template.FuncMap{
	"geo": func() map[string]float64 {
		return map[string]float64{"W": chartW, "H": chartH, "L": padL, "T": padT, "R": padL + plotW, "B": padT + plotH,
			"LegendY": legendBase, "XLabelY": chartH - 4, "MidX": padL + plotW/2}
	},
}).Parse(`<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>{{.Title}}</title>
<style>
body { font: 14px/1.4 system-ui, sans-serif; margin: 2em auto; max-width: 960px; color: #222; }
pre { background: #f6f6f6; padding: 1em; overflow-x: auto; font-size: 12px; }
svg { display: block; margin: 1.5em 0; }
svg text { font: 11px system-ui, sans-serif; fill: #444; }
svg .title { font-size: 13px; font-weight: 600; fill: #222; }
svg .axis { stroke: #888; }
svg .grid { stroke: #e4e4e4; }
svg polyline { fill: none; stroke-width: 1.5; }
.accepted { stroke: #1f77b4; } .final { stroke: #ff7f0e; stroke-dasharray: 4 2; } .stock { stroke: #2ca02c; }
rect.bar { fill: #1f77b4; } rect.swatch-accepted { fill: #1f77b4; } rect.swatch-final { fill: #ff7f0e; } rect.swatch-stock { fill: #2ca02c; }
.pass { color: #2a7a2a; } .fail { color: #b00020; }
</style>
</head>
<body>
<h1>{{.Title}}</h1>
<p>Invariants: {{if .Summary.Invariants.Passed}}<strong class="pass">PASS</strong>{{else}}<strong class="fail">FAIL</strong> — {{len .Summary.Invariants.Violations}} violated{{end}}</p>
{{if .Compare}}<h2>Strategies</h2>
<pre class="comparison">{{.Compare}}</pre>
{{end}}<h2>Summary</h2>
<pre class="summary">{{.Text}}</pre>
<h2>Over time</h2>
{{$g := geo}}{{range .Charts}}<svg viewBox="0 0 {{$g.W}} {{$g.H}}" width="{{$g.W}}" height="{{$g.H}}" role="img" aria-label="{{.Title}}">
<text class="title" x="{{$g.L}}" y="16">{{.Title}}</text>
{{range .YTicks}}<line class="grid" x1="{{$g.L}}" x2="{{$g.R}}" y1="{{.Pos}}" y2="{{.Pos}}"/><text x="{{$g.L}}" dx="-6" y="{{.Pos}}" dy="4" text-anchor="end">{{.Label}}</text>
{{end}}{{range .XTicks}}<text x="{{.Pos}}" y="{{$g.B}}" dy="14" text-anchor="middle">{{.Label}}</text>
{{end}}<line class="axis" x1="{{$g.L}}" x2="{{$g.L}}" y1="{{$g.T}}" y2="{{$g.B}}"/><line class="axis" x1="{{$g.L}}" x2="{{$g.R}}" y1="{{$g.B}}" y2="{{$g.B}}"/>
<text x="{{$g.MidX}}" y="{{$g.XLabelY}}" text-anchor="middle">{{.XLabel}}</text>
{{range .Bars}}<rect class="bar" x="{{.X}}" y="{{.Y}}" width="{{.W}}" height="{{.H}}"><title>{{.Tip}}</title></rect>
{{end}}{{range .Lines}}<polyline class="{{.Name}}" points="{{.Points}}"/>
<rect class="swatch-{{.Name}}" x="{{.LegendX}}" y="{{$g.LegendY}}" width="10" height="10"/><text x="{{.LegendX}}" dx="14" y="{{$g.LegendY}}" dy="9">{{.Name}}</text>
{{end}}</svg>
{{end}}</body>
</html>
`))
