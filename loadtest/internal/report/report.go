// Package report summarises a sale: throughput, latency percentiles, outcomes,
// errors and the invariants, as a table for people or as a JSON document whose
// shape stays stable for machines, and as a self-contained HTML page with
// charts for a post-mortem. The JSON and the HTML also hold the run second by
// second, the latencies in histograms, and a header: when the run was,
// against what, by which build, on which host, with which flags. It also lays
// out the comparison of strategies, and a soak's sales.
package report

import (
	"cmp"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"math"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/orderq/orderq/loadtest/internal/check"
	"github.com/orderq/orderq/loadtest/internal/crowd"
)

// Version is the JSON document's version; it changes only when a field changes
// meaning or goes away.
const Version = 1

// Input is what a summary is made of.
type Input struct {
	Result     *crowd.Result
	Ledgers    map[int64]check.Ledger // by item id; nil when not read
	LedgerNote string                 // why they were not read
	Violations []check.Violation
	// A run of carts, from the database once the system settled; nil when not
	// read. Held is by item id the quantity in reserved lines of confirmed orders.
	Held  map[int64]int64
	Audit *check.Audit
}

// Summary is the report of one sale: Item for a flash sale, Catalogue for many
// items, Carts for a run of carts; Schedule when the crowd ran open-loop.
// Header is the command's, and nil in a sale of a comparison or a soak,
// whose document has it.
type Summary struct {
	Version        int            `json:"version"`
	Header         *Header        `json:"header,omitempty"`
	Item           *Item          `json:"item,omitempty"`
	Catalogue      *Catalogue     `json:"catalogue,omitempty"`
	Carts          *Carts         `json:"carts,omitempty"`
	Crowd          Crowd          `json:"crowd"`
	Schedule       *Schedule      `json:"schedule,omitempty"`
	Orders         Orders         `json:"orders"`
	ElapsedSeconds float64        `json:"elapsed_seconds"`
	Throughput     Throughput     `json:"throughput"`
	Latency        Latency        `json:"latency"`
	Histograms     Histograms     `json:"histograms"`
	Series         Series         `json:"series"`
	Statuses       map[string]int `json:"statuses"` // of accepted orders
	Reasons        map[string]int `json:"reasons"`  // of rejected orders
	Errors         map[string]int `json:"errors"`   // failed requests by kind
	Ledger         Ledger         `json:"ledger"`
	Invariants     Invariants     `json:"invariants"`
}

// Item is the item on sale.
type Item struct {
	ID                int64 `json:"id"`
	InitialStock      int64 `json:"initial_stock"`
	FinalStock        int64 `json:"final_stock"`
	ConfirmedQuantity int64 `json:"confirmed_quantity"`
	MaxPerCustomer    int   `json:"max_per_customer"`
}

// Catalogue is the items on sale, in sums over them.
type Catalogue struct {
	Items             int     `json:"items"`
	StockPerItem      int64   `json:"stock_per_item"`
	ZipfS             float64 `json:"zipf_s"`
	Seed              uint64  `json:"seed"`
	InitialStock      int64   `json:"initial_stock"`
	FinalStock        int64   `json:"final_stock"`
	ConfirmedQuantity int64   `json:"confirmed_quantity"`
	MaxPerCustomer    int     `json:"max_per_customer"`
	Ordered           int     `json:"items_ordered"`  // items at least one order was sent for
	SoldOut           int     `json:"items_sold_out"` // items whose final stock is 0
	Hottest           Hottest `json:"hottest"`
}

// Hottest is the item most orders were sent for.
type Hottest struct {
	ID                int64 `json:"id"`
	Orders            int   `json:"orders"`
	ConfirmedQuantity int64 `json:"confirmed_quantity"`
	FinalStock        int64 `json:"final_stock"`
}

// Carts is a run of carts: how they were drawn, what they held, and per item
// what they took.
type Carts struct {
	Items           int            `json:"items"`
	StockPerItem    int64          `json:"stock_per_item"`
	MaxLines        int            `json:"max_lines"`
	MaxLineQuantity int            `json:"max_line_quantity"`
	Seed            uint64         `json:"seed"`
	Lines           int            `json:"lines"`              // of the carts sent
	InitialStock    int64          `json:"initial_stock"`      // of all items
	FinalStock      int64          `json:"final_stock"`        // of all items, as the gateway reports it
	Confirmed       int64          `json:"confirmed_quantity"` // in lines of carts answered confirmed
	Display         map[string]int `json:"display_statuses"`   // of accepted carts, by display code
	// Settle is how the system settled after the crowd; nil when the
	// database was not read.
	Settle  *Settle    `json:"settle,omitempty"`
	PerItem []CartItem `json:"per_item"` // by id
}

// CartItem is one item of a run of carts.
type CartItem struct {
	ID                int64 `json:"id"`
	InitialStock      int64 `json:"initial_stock"`
	FinalStock        int64 `json:"final_stock"`        // as the gateway reports it, once settled
	ConfirmedQuantity int64 `json:"confirmed_quantity"` // in lines of carts answered confirmed
	// Reserved is what the database holds in reserved lines of confirmed
	// orders; nil when it was not read.
	Reserved *int64 `json:"reserved,omitempty"`
}

// Settle is what was still in flight when the system was seen settled, or
// when the time to settle ran out.
type Settle struct {
	Settled bool    `json:"settled"`
	WaitMS  float64 `json:"wait_ms"`
	Pending int     `json:"pending_orders"`
	Outbox  int     `json:"outbox_rows"`
	Holding int     `json:"lines_holding_stock"` // of rejected or canceled orders
}

// Crowd is how the sale was driven.
type Crowd struct {
	Concurrency    int     `json:"concurrency"`
	Quantity       int     `json:"quantity"`
	Customers      int     `json:"customers"`
	WaitSeconds    int     `json:"wait_seconds"`
	Poll           bool    `json:"poll"` // orders sent without Prefer: wait, then polled
	TimeoutSeconds float64 `json:"timeout_seconds"`
	// Auth is how the buyers authenticated: token, storefront or none.
	// With token, Tokens were minted before the run, in MintMS.
	Auth   string  `json:"auth"`
	Tokens int     `json:"tokens,omitempty"`
	MintMS float64 `json:"mint_ms,omitempty"`
}

// Schedule is how well an open-loop crowd kept its rate.
type Schedule struct {
	TargetPerSecond float64 `json:"target_per_second"`
	DurationSeconds float64 `json:"duration_seconds"`
	SentPerSecond   float64 `json:"sent_per_second"` // achieved
	// Slipped orders were due while Concurrency were in flight, and not sent.
	Slipped  int     `json:"slipped"`
	MaxLagMS float64 `json:"max_lag_ms"` // the latest an order started after it was due
}

// Orders counts the orders by how far they got.
type Orders struct {
	Planned     int `json:"planned"`
	Sent        int `json:"sent"`
	Accepted    int `json:"accepted"`
	Final       int `json:"final"`
	NotAccepted int `json:"not_accepted"`
	Uncertain   int `json:"uncertain"` // not accepted, yet possibly placed
	// Lost is the confirmed orders the gateway no longer found when they
	// were read back after the run; absent when they were not read back.
	Lost *int `json:"lost,omitempty"`
}

// Throughput is orders per second from the first order sent to the last one
// accepted, and to the last one final.
type Throughput struct {
	AcceptedPerSecond float64 `json:"accepted_per_second"`
	FinalPerSecond    float64 `json:"final_per_second"`
	// Carts: lines of the final carts per second, to the last one final.
	LinesPerSecond float64 `json:"lines_per_second,omitempty"`
}

// Latency has the distributions of the three spans of an order's life.
type Latency struct {
	Accept        Stats `json:"accept"`          // first attempt sent → accepted (2xx answer, less the gateway's wait for final)
	AcceptToFinal Stats `json:"accept_to_final"` // accepted → final status seen
	OrderToFinal  Stats `json:"order_to_final"`  // first attempt sent → final status seen
}

// Stats is a latency distribution in milliseconds.
type Stats struct {
	Count int     `json:"count"`
	P50   float64 `json:"p50_ms"`
	P90   float64 `json:"p90_ms"`
	P99   float64 `json:"p99_ms"`
	Max   float64 `json:"max_ms"`
}

// Ledger is the items' stock ledger, when it was read; with many items the
// amounts are sums over them.
type Ledger struct {
	Checked      bool   `json:"checked"`
	Note         string `json:"note,omitempty"`
	Items        int    `json:"items,omitempty"` // ledgers read, when more than one item
	InitialStock *int64 `json:"initial_stock,omitempty"`
	Movements    *int64 `json:"movements,omitempty"`
	Stock        *int64 `json:"stock,omitempty"`
}

// Invariants is the checker's verdict.
type Invariants struct {
	Passed     bool              `json:"passed"`
	Violations []check.Violation `json:"violations"`
}

// Build summarises in.
func Build(in Input) Summary {
	r := in.Result
	s := Summary{
		Version: Version,
		Crowd: Crowd{
			Concurrency:    r.Config.Concurrency,
			Quantity:       r.Config.Quantity,
			Customers:      r.Config.Customers,
			WaitSeconds:    r.Config.Wait,
			Poll:           r.Config.Poll,
			TimeoutSeconds: r.Config.Timeout.Seconds(),
			Auth:           string(cmp.Or(r.Config.Auth, crowd.AuthNone)),
			Tokens:         r.Tokens,
			MintMS:         ms(r.Minting),
		},
		Orders:         Orders{Planned: len(r.Orders)},
		ElapsedSeconds: seconds(r.Finished.Sub(r.Started)),
		Statuses:       map[string]int{check.StatusConfirmed: 0, check.StatusRejected: 0, check.StatusPending: 0},
		Reasons:        map[string]int{},
		Errors:         map[string]int{},
		Ledger:         Ledger{Note: in.LedgerNote},
		Invariants:     Invariants{Passed: len(in.Violations) == 0, Violations: in.Violations},
	}
	maps.Copy(s.Errors, r.Errors)
	if s.Invariants.Violations == nil {
		s.Invariants.Violations = []check.Violation{}
	}
	if in.Ledgers != nil {
		var l check.Ledger
		for _, it := range r.Items {
			one := in.Ledgers[it.ID]
			l.InitialStock += one.InitialStock
			l.Movements += one.Movements
			l.Stock += one.Stock
		}
		s.Ledger = Ledger{Checked: true, InitialStock: &l.InitialStock, Movements: &l.Movements, Stock: &l.Stock}
		if len(r.Items) > 1 {
			s.Ledger.Items = len(r.Items)
		}
	}

	var accept, toFinal, total []time.Duration
	var lastAccept, lastFinal time.Time
	sent := make([]int, len(r.Items))
	confirmed := make([]int64, len(r.Items))
	for _, o := range r.Orders {
		if !o.Sent() {
			continue
		}
		s.Orders.Sent++
		sent[o.Item]++
		if !o.Accepted {
			s.Orders.NotAccepted++
			if o.Uncertain {
				s.Orders.Uncertain++
			}
			continue
		}
		s.Orders.Accepted++
		accept = append(accept, o.AcceptedAt.Sub(o.SentAt))
		lastAccept = later(lastAccept, o.AcceptedAt)
		status := o.Status
		if status == "" {
			status = "none"
		}
		s.Statuses[status]++
		if o.Status == check.StatusConfirmed {
			confirmed[o.Item] += int64(o.Quantity)
		}
		if o.Reason != "" {
			s.Reasons[o.Reason]++
		}
		if o.Final() {
			s.Orders.Final++
			toFinal = append(toFinal, o.FinalAt.Sub(o.AcceptedAt))
			total = append(total, o.FinalAt.Sub(o.SentAt))
			lastFinal = later(lastFinal, o.FinalAt)
		}
	}
	if r.Config.ReadBack {
		lost := 0
		for _, o := range r.Orders {
			if o.Gone && o.Accepted && o.Status == check.StatusConfirmed {
				lost++
			}
		}
		s.Orders.Lost = &lost
	}
	s.Latency = Latency{Accept: stats(accept), AcceptToFinal: stats(toFinal), OrderToFinal: stats(total)}
	s.Histograms = Histograms{Accept: histogram(accept), AcceptToFinal: histogram(toFinal), OrderToFinal: histogram(total)}
	s.Series = NewSeries(r)
	s.Throughput = Throughput{
		AcceptedPerSecond: rate(s.Orders.Accepted, r.Started, lastAccept),
		FinalPerSecond:    rate(s.Orders.Final, r.Started, lastFinal),
	}

	switch {
	case r.Config.Carts():
		s.Carts = buildCarts(in)
		finalLines := 0
		for _, o := range r.Orders {
			if o.Sent() && o.Accepted && o.Final() {
				finalLines += len(o.Lines)
			}
		}
		s.Throughput.LinesPerSecond = rate(finalLines, r.Started, lastFinal)
	case len(r.Items) == 1:
		s.Item = &Item{
			ID:                r.Items[0].ID,
			InitialStock:      r.Config.Stock,
			FinalStock:        r.FinalStocks[0],
			ConfirmedQuantity: confirmed[0],
			MaxPerCustomer:    r.Config.MaxPerCustomer,
		}
	default:
		c := &Catalogue{
			Items:          len(r.Items),
			StockPerItem:   r.Config.Stock,
			ZipfS:          r.Config.ZipfS,
			Seed:           r.Config.Seed,
			InitialStock:   r.Config.Stock * int64(len(r.Items)),
			MaxPerCustomer: r.Config.MaxPerCustomer,
		}
		hot := 0
		for i := range r.Items {
			c.FinalStock += r.FinalStocks[i]
			c.ConfirmedQuantity += confirmed[i]
			if sent[i] > 0 {
				c.Ordered++
			}
			if r.FinalStocks[i] == 0 {
				c.SoldOut++
			}
			if sent[i] > sent[hot] {
				hot = i
			}
		}
		c.Hottest = Hottest{ID: r.Items[hot].ID, Orders: sent[hot], ConfirmedQuantity: confirmed[hot], FinalStock: r.FinalStocks[hot]}
		s.Catalogue = c
	}

	if r.Config.OpenLoop() {
		s.Schedule = &Schedule{
			TargetPerSecond: r.Config.Rate,
			DurationSeconds: r.Config.Duration.Seconds(),
			SentPerSecond:   rate(s.Orders.Sent, r.Started, r.ScheduleEnded),
			Slipped:         r.Slipped,
			MaxLagMS:        ms(r.Lag),
		}
	}
	return s
}

// buildCarts summarises a run of carts: per item, what confirmed carts took as
// answered, and what the database holds.
func buildCarts(in Input) *Carts {
	r := in.Result
	c := &Carts{
		Items:           len(r.Items),
		StockPerItem:    r.Config.Stock,
		MaxLines:        r.Config.MaxLines,
		MaxLineQuantity: crowd.MaxLineQuantity,
		Seed:            r.Config.Seed,
		InitialStock:    r.Config.Stock * int64(len(r.Items)),
		Display:         map[string]int{},
		PerItem:         make([]CartItem, len(r.Items)),
	}
	confirmed := make([]int64, len(r.Items))
	for _, o := range r.Orders {
		if !o.Sent() {
			continue
		}
		c.Lines += len(o.Lines)
		if !o.Accepted {
			continue
		}
		if o.Display != "" {
			c.Display[o.Display]++
		}
		if o.Status == check.StatusConfirmed {
			for _, l := range o.Lines {
				confirmed[l.Item] += int64(l.Quantity)
			}
		}
	}
	for i, it := range r.Items {
		c.PerItem[i] = CartItem{ID: it.ID, InitialStock: r.Config.Stock, FinalStock: r.FinalStocks[i], ConfirmedQuantity: confirmed[i]}
		if n, ok := in.Held[it.ID]; ok {
			c.PerItem[i].Reserved = &n
		}
		c.FinalStock += r.FinalStocks[i]
		c.Confirmed += confirmed[i]
	}
	// Items are created several at once, so their ids come in any order.
	slices.SortFunc(c.PerItem, func(a, b CartItem) int { return cmp.Compare(a.ID, b.ID) })
	if a := in.Audit; a != nil {
		c.Settle = &Settle{Settled: a.Settled(), WaitMS: ms(a.Waited), Pending: a.Pending, Outbox: a.Outbox, Holding: a.Holding}
	}
	return c
}

// Percentile returns the p-th percentile (0 < p ≤ 100) of sorted by the
// nearest-rank method: a latency some order really had, never an interpolation.
func Percentile(sorted []time.Duration, p float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	rank := int(math.Ceil(p / 100 * float64(len(sorted))))
	return sorted[min(max(rank, 1), len(sorted))-1]
}

func stats(ds []time.Duration) Stats {
	slices.Sort(ds)
	s := Stats{Count: len(ds)}
	if len(ds) > 0 {
		s.P50, s.P90, s.P99 = ms(Percentile(ds, 50)), ms(Percentile(ds, 90)), ms(Percentile(ds, 99))
		s.Max = ms(ds[len(ds)-1])
	}
	return s
}

func rate(n int, from, to time.Time) float64 {
	d := to.Sub(from)
	if n == 0 || d <= 0 {
		return 0
	}
	return round(float64(n)/d.Seconds(), 1)
}

func later(a, b time.Time) time.Time {
	if b.After(a) {
		return b
	}
	return a
}

func ms(d time.Duration) float64 { return round(float64(d)/float64(time.Millisecond), 3) }

func seconds(d time.Duration) float64 { return round(d.Seconds(), 3) }

func round(x float64, digits int) float64 {
	p := math.Pow(10, float64(digits))
	return math.Round(x*p) / p
}

// writeJSON writes v as an indented JSON document.
func writeJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

// WriteJSON writes s as an indented JSON document.
func (s Summary) WriteJSON(w io.Writer) error { return writeJSON(w, s) }

// WriteText writes s as a table for people.
func (s Summary) WriteText(w io.Writer) error {
	var b strings.Builder
	tw := tabwriter.NewWriter(&b, 0, 0, 2, ' ', 0)
	limit := func(n int) string {
		if n > 0 {
			return fmt.Sprintf("at most %d per customer", n)
		}
		return "no limit per customer"
	}
	if it := s.Item; it != nil {
		fmt.Fprintf(tw, "item\t%d: stock %d → %d, confirmed quantity %d, %s\n",
			it.ID, it.InitialStock, it.FinalStock, it.ConfirmedQuantity, limit(it.MaxPerCustomer))
	}
	if c := s.Catalogue; c != nil {
		fmt.Fprintf(tw, "catalogue\t%d items of stock %d, Zipf s %g (seed %d): stock %d → %d, confirmed quantity %d, %s\n",
			c.Items, c.StockPerItem, c.ZipfS, c.Seed, c.InitialStock, c.FinalStock, c.ConfirmedQuantity, limit(c.MaxPerCustomer))
		fmt.Fprintf(tw, "demand\t%d items ordered, %d sold out; hottest item %d: %d orders, confirmed quantity %d, stock → %d\n",
			c.Ordered, c.SoldOut, c.Hottest.ID, c.Hottest.Orders, c.Hottest.ConfirmedQuantity, c.Hottest.FinalStock)
	}
	if c := s.Carts; c != nil {
		fmt.Fprintf(tw, "carts\t%d items of stock %d, 1–%d lines of 1–%d units each (seed %d): stock %d → %d, confirmed quantity %d in %d lines sent\n",
			c.Items, c.StockPerItem, c.MaxLines, c.MaxLineQuantity, c.Seed, c.InitialStock, c.FinalStock, c.Confirmed, c.Lines)
	}
	timeout := time.Duration(s.Crowd.TimeoutSeconds * float64(time.Second))
	quantity := fmt.Sprintf(", quantity %d", s.Crowd.Quantity)
	if s.Carts != nil {
		quantity = ""
	}
	if sc := s.Schedule; sc != nil {
		fmt.Fprintf(tw, "crowd\tat most %d in flight%s, %d customers, %s, timeout %s after the schedule\n",
			s.Crowd.Concurrency, quantity, s.Crowd.Customers, waiting(s.Crowd), timeout)
		fmt.Fprintf(tw, "schedule\topen loop, %g/s for %s: sent %.1f/s, %d slipped at the in-flight cap, latest start %s behind\n",
			sc.TargetPerSecond, time.Duration(sc.DurationSeconds*float64(time.Second)), sc.SentPerSecond, sc.Slipped, millis(sc.MaxLagMS))
	} else {
		fmt.Fprintf(tw, "crowd\t%d at once%s, %d customers, %s, timeout %s\n",
			s.Crowd.Concurrency, quantity, s.Crowd.Customers, waiting(s.Crowd), timeout)
	}
	fmt.Fprintf(tw, "auth\t%s\n", authLine(s.Crowd))
	lost := ""
	if s.Orders.Lost != nil {
		lost = fmt.Sprintf("; read back, %d confirmed not found", *s.Orders.Lost)
	}
	fmt.Fprintf(tw, "orders\t%d planned, %d sent, %d accepted, %d final, %d not accepted (%d of unknown fate)%s\n",
		s.Orders.Planned, s.Orders.Sent, s.Orders.Accepted, s.Orders.Final, s.Orders.NotAccepted, s.Orders.Uncertain, lost)
	if s.Carts != nil {
		fmt.Fprintf(tw, "throughput\t%.1f carts/s accepted, %.1f carts/s final, %.1f lines/s final over %.3fs\n",
			s.Throughput.AcceptedPerSecond, s.Throughput.FinalPerSecond, s.Throughput.LinesPerSecond, s.ElapsedSeconds)
	} else {
		fmt.Fprintf(tw, "throughput\t%.1f accepted/s, %.1f final/s over %.3fs\n",
			s.Throughput.AcceptedPerSecond, s.Throughput.FinalPerSecond, s.ElapsedSeconds)
	}
	fmt.Fprintf(tw, "statuses\t%s\n", counts(s.Statuses, check.StatusConfirmed, check.StatusRejected, check.StatusPending))
	fmt.Fprintf(tw, "reasons\t%s\n", counts(s.Reasons))
	if c := s.Carts; c != nil {
		fmt.Fprintf(tw, "display\t%s\n", counts(c.Display))
	}
	fmt.Fprintf(tw, "errors\t%s\n", counts(s.Errors))
	if c := s.Carts; c != nil {
		switch st := c.Settle; {
		case st == nil:
			fmt.Fprintf(tw, "settled\tnot checked: the database was not read\n")
		case st.Settled:
			fmt.Fprintf(tw, "settled\tafter %s: no order pending, outbox empty, no rejected or canceled line holding stock\n", millis(st.WaitMS))
		default:
			fmt.Fprintf(tw, "settled\tNO, after %s: %d orders pending, %d outbox rows, %d rejected or canceled lines holding stock\n",
				millis(st.WaitMS), st.Pending, st.Outbox, st.Holding)
		}
		// Before the ledger line, which ends its columns: aligned with the
		// latency table's they would be hard to read.
		writeCartItems(tw, c.PerItem)
	}
	switch {
	case !s.Ledger.Checked:
		fmt.Fprintf(tw, "ledger\tnot checked: %s\n", s.Ledger.Note)
	case s.Ledger.Items > 0:
		fmt.Fprintf(tw, "ledger\t%d items: initial %d, movements %d, stock %d\n",
			s.Ledger.Items, *s.Ledger.InitialStock, *s.Ledger.Movements, *s.Ledger.Stock)
	default:
		fmt.Fprintf(tw, "ledger\tinitial %d, movements %d, stock %d\n",
			*s.Ledger.InitialStock, *s.Ledger.Movements, *s.Ledger.Stock)
	}
	fmt.Fprintf(tw, "latency\tcount\tp50\tp90\tp99\tmax\n")
	for _, l := range []struct {
		name string
		s    Stats
	}{{"accept", s.Latency.Accept}, {"accept→final", s.Latency.AcceptToFinal}, {"order→final", s.Latency.OrderToFinal}} {
		fmt.Fprintf(tw, "%s\t%d\t%s\t%s\t%s\t%s\n", l.name, l.s.Count,
			millis(l.s.P50), millis(l.s.P90), millis(l.s.P99), millis(l.s.Max))
	}
	if s.Invariants.Passed {
		fmt.Fprintf(tw, "invariants\tPASS\n")
	} else {
		fmt.Fprintf(tw, "invariants\tFAIL: %d violated\n", len(s.Invariants.Violations))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	for _, v := range s.Invariants.Violations {
		fmt.Fprintf(&b, "  - %s\n", v)
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// cartItemRows bounds the per-item table of the text report; the JSON has
// every item.
const cartItemRows = 20

// writeCartItems writes the per-item table of a run of carts.
func writeCartItems(w io.Writer, items []CartItem) {
	fmt.Fprintf(w, "item\tinitial\tstock\tconfirmed\treserved\n")
	for _, it := range items[:min(len(items), cartItemRows)] {
		reserved := "-"
		if it.Reserved != nil {
			reserved = strconv.FormatInt(*it.Reserved, 10)
		}
		fmt.Fprintf(w, "%d\t%d\t%d\t%d\t%s\n", it.ID, it.InitialStock, it.FinalStock, it.ConfirmedQuantity, reserved)
	}
	if more := len(items) - cartItemRows; more > 0 {
		fmt.Fprintf(w, "…\tand %d more items (--json lists them all)\n", more)
	}
}

// counts lists m as "key n, …", the keys in first in that order, then the rest
// sorted.
func counts(m map[string]int, first ...string) string {
	if len(m) == 0 {
		return "none"
	}
	keys := slices.Clone(first)
	for _, k := range slices.Sorted(maps.Keys(m)) {
		if !slices.Contains(first, k) {
			keys = append(keys, k)
		}
	}
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = fmt.Sprintf("%s %d", k, m[k])
	}
	return strings.Join(parts, ", ")
}

// authLine says how the buyers authenticated.
func authLine(c Crowd) string {
	switch crowd.Auth(c.Auth) {
	case crowd.AuthToken:
		return fmt.Sprintf("token: a customer token per buyer, %d minted in %s before the run", c.Tokens, millis(c.MintMS))
	case crowd.AuthStorefront:
		return "storefront: X-API-Key, the customer named in the body"
	default:
		return "none: no credential (a gateway with AUTH=off)"
	}
}

// waiting says how the crowd waited for outcomes.
func waiting(c Crowd) string {
	if c.Poll {
		return fmt.Sprintf("no Prefer: wait, long-polls of %ds", c.WaitSeconds)
	}
	return fmt.Sprintf("wait %ds", c.WaitSeconds)
}

func millis(v float64) string {
	if v >= 1000 {
		return fmt.Sprintf("%.2fs", v/1000)
	}
	return fmt.Sprintf("%.1fms", v)
}
