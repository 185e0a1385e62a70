package report

import (
	"fmt"
	"io"
	"slices"
	"strings"
	"text/tabwriter"

	"github.com/orderq/orderq/loadtest/internal/check"
)

// Comparison is one crowd run against several stock strategies in turn.
type Comparison struct {
	Version    int          `json:"version"`
	Header     *Header      `json:"header,omitempty"`
	Crowd      CompareCrowd `json:"crowd"`
	Strategies []Strategy   `json:"strategies"`
	// Ratio is orderq's final throughput over the best of the locking
	// strategies (forupdate, atomic) that ran; Baseline names that best one.
	// Both are absent unless orderq and one of them ran.
	Ratio    *float64 `json:"orderq_ratio,omitempty"`
	Baseline string   `json:"ratio_baseline,omitempty"`
}

// CompareCrowd is the crowd every strategy met.
type CompareCrowd struct {
	Orders        int     `json:"orders"`
	Concurrency   int     `json:"concurrency"`
	Stock         int64   `json:"stock"`
	Quantity      int     `json:"quantity"`
	NaiveWindowMS float64 `json:"naive_window_ms"`
	// RedisWriteEveryMS is how often the redis strategy's writer takes the
	// orders Redis holds to MySQL.
	RedisWriteEveryMS float64 `json:"redis_write_every_ms"`
}

// Strategy is how one strategy fared.
type Strategy struct {
	Name           string  `json:"name"`
	About          string  `json:"about"`
	FinalPerSecond float64 `json:"final_per_second"`
	P50            float64 `json:"p50_ms"` // order sent → final status seen
	P99            float64 `json:"p99_ms"`
	Confirmed      int64   `json:"confirmed_quantity"`
	FinalStock     int64   `json:"final_stock"`
	// Oversold is the units confirmed beyond the stock.
	Oversold int64 `json:"oversold_units"`
	// LostUpdates is the units the stock lost or gained without a confirmed
	// order: |initial − confirmed − final|.
	LostUpdates int64 `json:"lost_updates"`
	// LostOrders is the orders confirmed to their buyers that the strategy's
	// store no longer had when they were read back after the run.
	LostOrders int `json:"lost_orders"`
	// Fault is what was done to the strategy during its run; empty when
	// nothing was.
	Fault      string            `json:"fault,omitempty"`
	Errors     int               `json:"errors"` // failed requests
	Passed     bool              `json:"passed"`
	Violations []check.Violation `json:"violations"`
	Run        Summary           `json:"run"`
}

// NewStrategy condenses the summary of one strategy's run.
func NewStrategy(name, about string, s Summary) Strategy {
	st := Strategy{
		Name: name, About: about,
		FinalPerSecond: s.Throughput.FinalPerSecond,
		P50:            s.Latency.OrderToFinal.P50,
		P99:            s.Latency.OrderToFinal.P99,
		Passed:         s.Invariants.Passed,
		Violations:     s.Invariants.Violations,
		Run:            s,
	}
	var initial int64
	if it := s.Item; it != nil {
		initial, st.Confirmed, st.FinalStock = it.InitialStock, it.ConfirmedQuantity, it.FinalStock
	}
	st.Oversold = max(st.Confirmed-initial, 0)
	st.LostUpdates = initial - st.Confirmed - st.FinalStock
	if st.LostUpdates < 0 {
		st.LostUpdates = -st.LostUpdates
	}
	if s.Orders.Lost != nil {
		st.LostOrders = *s.Orders.Lost
	}
	for _, n := range s.Errors {
		st.Errors += n
	}
	return st
}

// orderq's name among the strategies, and the locking strategies its ratio
// is taken against.
const orderq = "orderq"

// redisStrategy is the strategy whose writer's interval the table names.
const redisStrategy = "redis"

var lockingStrategies = []string{"forupdate", "atomic"}

// Compare lays the strategies' results side by side.
func Compare(crowd CompareCrowd, strategies []Strategy) Comparison {
	c := Comparison{Version: Version, Crowd: crowd, Strategies: strategies}
	var oq, best *Strategy
	for i := range strategies {
		s := &strategies[i]
		switch {
		case s.Name == orderq:
			oq = s
		case slices.Contains(lockingStrategies, s.Name) && (best == nil || s.FinalPerSecond > best.FinalPerSecond):
			best = s
		}
	}
	if oq != nil && best != nil && best.FinalPerSecond > 0 {
		r := round(oq.FinalPerSecond/best.FinalPerSecond, 2)
		c.Ratio, c.Baseline = &r, best.Name
	}
	return c
}

// WriteJSON writes c as an indented JSON document.
func (c Comparison) WriteJSON(w io.Writer) error { return writeJSON(w, c) }

// WriteText writes c as one table for people, then every violation.
func (c Comparison) WriteText(w io.Writer) error {
	var b strings.Builder
	redis := ""
	if slices.ContainsFunc(c.Strategies, func(s Strategy) bool { return s.Name == redisStrategy }) {
		redis = fmt.Sprintf("; redis writes to MySQL every %s", millis(c.Crowd.RedisWriteEveryMS))
	}
	fmt.Fprintf(&b, "%d orders of quantity %d, %d at once, for stock %d (naive read-modify-write window %s%s)\n\n",
		c.Crowd.Orders, c.Crowd.Quantity, c.Crowd.Concurrency, c.Crowd.Stock, millis(c.Crowd.NaiveWindowMS), redis)
	// Numbers align right; the names, padded to one width, read from the left.
	width := len("strategy")
	for _, s := range c.Strategies {
		width = max(width, len(s.Name))
	}
	tw := tabwriter.NewWriter(&b, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintf(tw, "%-*s\tfinal/s\tp50\tp99\tconfirmed\tstock\toversold\tlost updates\tlost orders\terrors\tinvariants\t\n", width, "strategy")
	for _, s := range c.Strategies {
		verdict := "PASS"
		if !s.Passed {
			verdict = fmt.Sprintf("FAIL (%d)", len(s.Violations))
		}
		fmt.Fprintf(tw, "%-*s\t%.1f\t%s\t%s\t%d\t%d\t%d\t%d\t%d\t%d\t%s\t\n", width, s.Name, s.FinalPerSecond,
			millis(s.P50), millis(s.P99), s.Confirmed, s.FinalStock, s.Oversold, s.LostUpdates, s.LostOrders, s.Errors, verdict)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	if c.Ratio != nil {
		fmt.Fprintf(&b, "\norderq: %.2f× the final throughput of the best locking strategy (%s)\n", *c.Ratio, c.Baseline)
	}
	for _, s := range c.Strategies {
		if s.Fault != "" {
			fmt.Fprintf(&b, "\n%s: %s\n", s.Name, s.Fault)
		}
	}
	for _, s := range c.Strategies {
		if len(s.Violations) == 0 {
			continue
		}
		fmt.Fprintf(&b, "\n%s (%s) broke:\n", s.Name, s.About)
		for _, v := range s.Violations {
			fmt.Fprintf(&b, "  - %s\n", v)
		}
	}
	_, err := io.WriteString(w, b.String())
	return err
}
