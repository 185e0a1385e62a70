package report

import (
	"fmt"
	"math"
	"strconv"
	"strings"
	"unicode/utf8"
)

// The charts' geometry, in SVG user units.
const (
	chartW, chartH         = 760.0, 280.0
	padL, padR, padT, padB = 76.0, 20.0, 34.0, 46.0
	plotW, plotH           = chartW - padL - padR, chartH - padT - padB
	maxSteps               = 6
	// A legend entry is a swatch, its name, and a space before the next;
	// charW is about what a letter of the legend's font takes.
	swatchW, legendGap, charW = 14.0, 16.0, 6.5
)

// chart is an SVG chart laid out for the template.
type chart struct {
	Title  string
	XLabel string // with its unit
	YLabel string // with its unit
	Note   string // said in the plot when it is empty or flat, and why
	Lines  []line
	Bars   []bar
	XTicks []tick
	YTicks []tick
}

// line is one series of a chart: its path and the dots of points that stand
// alone (a second between two gaps).
type line struct {
	Name    string
	Class   string // its colour: c0, c1, …
	Path    string // the path's d attribute; empty when every point stands alone
	Dots    []dot
	LegendX float64
}

type dot struct{ X, Y float64 }

type bar struct {
	X, Y, W, H float64
	Tip        string
}

type tick struct {
	Pos   float64 // x for an x tick, y for a y tick
	Label string
}

// series is one named line of (x, y) values; a NaN y is no value, and
// leaves a gap. Starts, when set, marks the points a line starts afresh at
// (a soak's sales).
type series struct {
	Name   string
	X, Y   []float64
	Starts []bool
}

// scale maps values of one axis onto [0, 1]: linearly, by their logarithm,
// or by the logarithm of 1 + the value (counts, where 0 must show).
type scale struct {
	lo, hi float64
	f      func(float64) float64
	ticks  []float64
}

func (s scale) frac(v float64) float64 {
	return (s.f(v) - s.f(s.lo)) / (s.f(s.hi) - s.f(s.lo))
}

func identity(v float64) float64 { return v }

// linear is a scale from 0 to top rounded up to its next tick: at most six
// steps of 1, 2 or 5 times a power of ten (whole steps when whole).
func linear(top float64, whole bool) scale {
	step := niceCeil(top / maxSteps)
	if whole {
		step = max(step, 1)
	}
	n := max(math.Ceil(top/step-1e-9), 1)
	s := scale{lo: 0, hi: n * step, f: identity}
	for i := 0.0; i <= n; i++ {
		s.ticks = append(s.ticks, i*step)
	}
	return s
}

// logarithmic is a scale from lo to hi (both above 0) widened to the 1, 2
// or 5 times a power of ten around them, with a tick at each such value,
// when it spans at most two decades; else widened to the powers of ten
// around them, with a tick at each.
func logarithmic(lo, hi float64) scale {
	lo, hi = niceFloor(lo), niceCeil(hi)
	if hi <= lo {
		hi = niceCeil(lo * 1.5)
	}
	few := hi/lo <= 100*(1+1e-9)
	if !few {
		lo, hi = math.Pow(10, math.Floor(math.Log10(lo)+1e-9)), math.Pow(10, math.Ceil(math.Log10(hi)-1e-9))
	}
	s := scale{lo: lo, hi: hi, f: math.Log10}
	for p := math.Pow(10, math.Floor(math.Log10(lo))); p <= hi*(1+1e-9); p *= 10 {
		for _, m := range []float64{1, 2, 5} {
			if v := m * p; v >= lo*(1-1e-9) && v <= hi*(1+1e-9) && (few || m == 1) {
				s.ticks = append(s.ticks, v)
			}
		}
	}
	return s
}

// countScale is a scale of counts from 0 to top by the logarithm of 1 + a count,
// so a bin of one order shows beside one of a million: ticks at 0 and at
// 1, 2 and 5 times the powers of ten up to top (only the powers past 100).
func countScale(top float64) scale {
	up := niceCeil(max(top, 1))
	if up > 100 {
		up = math.Pow(10, math.Ceil(math.Log10(top)-1e-9))
	}
	s := scale{lo: 0, hi: up, f: func(v float64) float64 { return math.Log10(1 + v) }, ticks: []float64{0}}
	for p := 1.0; p <= up*(1+1e-9); p *= 10 {
		for _, m := range []float64{1, 2, 5} {
			if v := m * p; v <= up*(1+1e-9) && (up <= 100 || m == 1) {
				s.ticks = append(s.ticks, v)
			}
		}
	}
	return s
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

// niceFloor rounds v (above 0) down to 1, 2 or 5 times a power of ten.
func niceFloor(v float64) float64 {
	p := math.Pow(10, math.Floor(math.Log10(v)))
	for _, m := range []float64{5, 2, 1} {
		if v >= m*p*(1-1e-9) {
			return m * p
		}
	}
	return p
}

// lineChart draws ss over x from 0 to span, against y.
func lineChart(title, xlabel, ylabel string, span float64, y scale, ss ...series) chart {
	c := chart{Title: title, XLabel: xlabel, YLabel: ylabel}
	x := linear(span, false)
	px := func(v float64) float64 { return padL + x.frac(v)*plotW }
	py := func(v float64) float64 { return padT + plotH - y.frac(v)*plotH }
	// The legend ends at the plot's right edge.
	legendX := chartW - padR
	for _, s := range ss {
		legendX -= swatchW + float64(utf8.RuneCountInString(s.Name))*charW + legendGap
	}
	legendX += legendGap
	for i, s := range ss {
		l := line{Name: s.Name, Class: fmt.Sprintf("c%d", i), LegendX: round(legendX, 1)}
		legendX += swatchW + float64(utf8.RuneCountInString(s.Name))*charW + legendGap
		var path strings.Builder
		var run []dot // the points since the last gap
		flush := func() {
			switch len(run) {
			case 0:
			case 1:
				l.Dots = append(l.Dots, run[0])
			default:
				for j, p := range run {
					cmd := " L"
					if j == 0 {
						cmd = " M"
					}
					fmt.Fprintf(&path, "%s%.1f,%.1f", cmd, p.X, p.Y)
				}
			}
			run = run[:0]
		}
		for j := range s.X {
			if math.IsNaN(s.Y[j]) || (s.Starts != nil && s.Starts[j]) {
				flush()
			}
			if !math.IsNaN(s.Y[j]) {
				run = append(run, dot{X: round(px(s.X[j]), 1), Y: round(py(s.Y[j]), 1)})
			}
		}
		flush()
		l.Path = strings.TrimSpace(path.String())
		c.Lines = append(c.Lines, l)
	}
	for _, v := range x.ticks {
		c.XTicks = append(c.XTicks, tick{Pos: round(px(v), 1), Label: number(v)})
	}
	for _, v := range y.ticks {
		c.YTicks = append(c.YTicks, tick{Pos: round(py(v), 1), Label: number(v)})
	}
	return c
}

// histogramChart draws bins as bars of one width each: the bins are
// log-spaced, so the x axis is a logarithmic one of latency. The x ticks
// are at the powers of ten among the bins' bounds, and at both ends.
func histogramChart(title string, bins []Bin) chart {
	c := chart{Title: title, XLabel: "latency (log scale)", YLabel: "orders (log scale)"}
	if len(bins) == 0 {
		c.Note = "no orders"
	}
	top := 0
	for _, b := range bins {
		top = max(top, b.Count)
	}
	y := countScale(float64(top))
	w := plotW / float64(max(len(bins), 1))
	ticked := map[int]bool{}
	at := func(i int, v float64) {
		ticked[i] = true
		c.XTicks = append(c.XTicks, tick{Pos: round(padL+float64(i)*w, 1), Label: latency(v)})
	}
	for i, b := range bins {
		h := y.frac(float64(b.Count)) * plotH
		c.Bars = append(c.Bars, bar{X: round(padL+float64(i)*w+1, 1), Y: round(padT+plotH-h, 1), W: round(max(w-2, 1), 1), H: round(h, 1), Tip: binTip(b)})
		if e := math.Log10(b.LoMS); b.LoMS > 0 && math.Abs(e-math.Round(e)) < 1e-9 {
			at(i, b.LoMS)
		}
	}
	// The ends are labelled unless a power of ten is labelled near them.
	near := func(i int) bool { return ticked[i] || ticked[i-1] || ticked[i+1] || ticked[i-2] || ticked[i+2] }
	if n := len(bins); n > 0 {
		if !near(0) {
			at(0, bins[0].LoMS)
		}
		if hi := bins[n-1].HiMS; hi != nil && !near(n) {
			at(n, *hi)
		}
	}
	for _, v := range y.ticks {
		c.YTicks = append(c.YTicks, tick{Pos: round(padT+plotH-y.frac(v)*plotH, 1), Label: number(v)})
	}
	return c
}

func binTip(b Bin) string {
	if b.HiMS == nil {
		return fmt.Sprintf("%s and more: %d orders", latency(b.LoMS), b.Count)
	}
	return fmt.Sprintf("%s – %s: %d orders", latency(b.LoMS), latency(*b.HiMS), b.Count)
}

// latency writes milliseconds in the unit that reads best: µs, ms or s.
func latency(ms float64) string {
	switch {
	case ms == 0:
		return "0"
	case ms < 1:
		return number(ms*1000) + "µs"
	case ms < 1000:
		return number(ms) + "ms"
	default:
		return number(ms/1000) + "s"
	}
}

func number(v float64) string {
	return strconv.FormatFloat(math.Round(v*1000)/1000, 'f', -1, 64)
}
