// Package crowd drives a running gateway like a crowd of buyers: it creates the
// items on sale, sends many orders for them at once over HTTP, and follows every
// accepted order until it is final, recording what each customer saw and when.
//
// A flash sale is one item; a catalogue is many, with a skewed (Zipf) demand;
// a run of carts is many items, each order a cart of several lines. The crowd
// runs closed-loop (Concurrency customers, each ordering again once
// their order is final) or open-loop (Rate orders a second on a fixed schedule,
// whatever the answers, with Concurrency as the cap on orders in flight).
//
// The buyers authenticate as Config.Auth says: each with a customer token of
// their own, minted before the run so that a request only sets a header, or
// through a storefront's API key.
package crowd

import (
	"context"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/google/uuid"

	"github.com/orderq/orderq/loadtest/internal/check"
	"github.com/orderq/orderq/shared/message"
	"github.com/orderq/orderq/shared/token"
)

// Config describes one sale.
type Config struct {
	URL        string // the gateway, without /api/v1
	AdminToken string // creates the items
	// Auth is how the buyers authenticate; "" is AuthNone.
	Auth Auth
	// Tokens signs the buyers' tokens of AuthToken: one each, minted before
	// the run, with the gateway's secret and its issuer and audience.
	Tokens token.Config
	// APIKey is the storefront's key of AuthStorefront.
	APIKey string

	Stock          int64 // initial stock of each item
	MaxPerCustomer int   // 0 means no limit
	// Items is how many items are on sale, each with Stock; 0 means 1. With
	// more, each order picks its item by a Zipf distribution: the k-th item
	// created (from 0) is chosen with a probability ∝ 1/(1+k)^ZipfS.
	Items int
	ZipfS float64 // > 1; default 1.1
	Seed  uint64  // of the item choice; 0 picks one, which the Result's Config records
	// MaxLines > 0 sends carts instead: each order has 1 to MaxLines lines
	// (uniformly) for distinct items drawn uniformly from Items, of 1 to
	// MaxLineQuantity units each. Quantity and ZipfS are not used then.
	MaxLines int

	Orders      int // closed loop: orders to send; with Rate it is Rate × Duration
	Concurrency int // closed loop: customers ordering at once; open loop: most orders in flight
	// Rate > 0 runs open-loop: Rate orders a second are started, evenly spread,
	// for Duration, however long the answers take.
	Rate     float64
	Duration time.Duration

	Quantity  int // per order
	Customers int // distinct customer ids; 0 means one per order
	// Wait is N of Prefer: wait=N on orders and ?wait=N on polls, in seconds;
	// 0 sends neither and polls every PollInterval.
	Wait int
	// Poll sends orders without Prefer: wait, so each is answered at the
	// broker's confirm, and follows them with polls (long-polls of Wait
	// seconds). Without it an order is accepted when the waiting answer's
	// Server-Timing says: the answer less the time the gateway held it.
	Poll bool
	// Timeout is the deadline for every order to be final; with Rate it starts
	// when the schedule ends.
	Timeout time.Duration

	// ReadBack reads every order answered confirmed back once the crowd is
	// done, as its buyer would (GET without a wait): one the gateway no
	// longer finds is Gone.
	ReadBack bool

	// StockEvery > 0 samples the first item's stock this often during the run.
	StockEvery time.Duration
	// Progress, when set, is kept up to date while the crowd runs.
	Progress *Progress

	// Tuning, with working defaults when zero.
	Attempts     int           // per order before giving up; default 5
	Backoff      time.Duration // before the second attempt, doubling after; default 100ms
	MaxBackoff   time.Duration // cap on back-off and on an honoured Retry-After; default 2s
	PollInterval time.Duration // least time between two polls of one order; default 100ms
}

// Limits from the HTTP contract, and of what one run can hold in memory.
const (
	MaxQuantity  = 1000
	MaxWait      = 30
	MaxOrders    = 5_000_000
	MaxCartLines = 50
)

// MaxLineQuantity is the most units a cart's line asks for.
const MaxLineQuantity = 3

// DefaultZipfS is the skew of a catalogue's demand when none is given.
const DefaultZipfS = 1.1

// Validate reports the first setting that cannot describe a sale.
func (c Config) Validate() error {
	u, err := url.Parse(c.URL)
	switch {
	case err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "":
		return fmt.Errorf("url %q: want http://host:port", c.URL)
	case c.Stock < 0:
		return errors.New("stock must be 0 or more")
	case c.MaxPerCustomer < 0:
		return errors.New("max-per-customer must be 0 (no limit) or more")
	case c.Items < 0:
		return errors.New("items must be 1 or more")
	case c.MaxLines < 0 || c.MaxLines > MaxCartLines:
		return fmt.Errorf("max-lines must be within 1…%d", MaxCartLines)
	case c.MaxLines > max(c.Items, 1):
		return fmt.Errorf("max-lines must be at most items (%d): a cart's items are distinct", max(c.Items, 1))
	case c.ZipfS != 0 && !(c.ZipfS > 1):
		return errors.New("zipf-s must be above 1")
	case c.Rate < 0 || math.IsNaN(c.Rate) || math.IsInf(c.Rate, 0):
		return errors.New("rate must be a positive number of orders a second")
	case c.Rate > 0 && c.Duration <= 0:
		return errors.New("rate needs a positive duration")
	case c.Rate == 0 && c.Duration != 0:
		return errors.New("duration needs a rate")
	case c.Rate > 0 && (planned(c.Rate, c.Duration) < 1 || planned(c.Rate, c.Duration) > MaxOrders):
		return fmt.Errorf("rate × duration must be 1…%d orders", MaxOrders)
	case c.Rate == 0 && (c.Orders < 1 || c.Orders > MaxOrders):
		return fmt.Errorf("orders must be within 1…%d", MaxOrders)
	case c.Concurrency < 1:
		return errors.New("concurrency must be 1 or more")
	case c.MaxLines == 0 && (c.Quantity < 1 || c.Quantity > MaxQuantity):
		return fmt.Errorf("quantity must be within 1…%d", MaxQuantity)
	case c.Customers < 0:
		return errors.New("customers must be 0 (one per order) or more")
	case c.Wait < 0 || c.Wait > MaxWait:
		return fmt.Errorf("wait must be within 0…%d seconds", MaxWait)
	case c.Timeout <= 0:
		return errors.New("timeout must be positive")
	case c.StockEvery < 0:
		return errors.New("stock sampling interval must be 0 (none) or positive")
	}
	return c.validAuth()
}

// planned is the number of orders an open-loop schedule starts.
func planned(rate float64, d time.Duration) int {
	n := math.Round(rate * d.Seconds())
	if n > MaxOrders+1 {
		return MaxOrders + 1
	}
	return int(n)
}

func (c Config) withDefaults() Config {
	c.Auth = c.auth()
	if c.Items == 0 {
		c.Items = 1
	}
	if c.ZipfS == 0 {
		c.ZipfS = DefaultZipfS
	}
	if c.Seed == 0 {
		c.Seed = rand.Uint64() | 1
	}
	if c.Rate > 0 {
		c.Orders = planned(c.Rate, c.Duration)
	}
	if c.Customers == 0 {
		c.Customers = c.Orders
	}
	if c.Attempts == 0 {
		c.Attempts = 5
	}
	if c.Backoff == 0 {
		c.Backoff = 100 * time.Millisecond
	}
	if c.MaxBackoff == 0 {
		c.MaxBackoff = 2 * time.Second
	}
	if c.PollInterval == 0 {
		c.PollInterval = 100 * time.Millisecond
	}
	return c
}

// OpenLoop reports whether the crowd keeps a schedule instead of a number of
// customers.
func (c Config) OpenLoop() bool { return c.Rate > 0 }

// Carts reports whether the crowd sends carts instead of single-item orders.
func (c Config) Carts() bool { return c.MaxLines > 0 }

// Progress counts what the crowd has done so far; a progress line reads it
// while the crowd runs.
type Progress struct {
	Items    atomic.Int64 // items created
	Sent     atomic.Int64 // orders sent
	Accepted atomic.Int64
	Final    atomic.Int64
	Errors   atomic.Int64 // failed requests
	Slipped  atomic.Int64 // open loop: orders the schedule could not start
}

// Order is one customer's order and what happened to it. A cart has Lines,
// and its Quantity is the units of all of them.
type Order struct {
	check.Order
	Item       int       // index of the item in Result.Items; a cart's first line's
	Lines      []Line    // a cart's lines; nil for a single-item order
	Display    string    // the display_status code last answered
	Key        string    // Idempotency-Key, the same on every attempt
	Attempts   int       // order requests sent
	SentAt     time.Time // first attempt started; zero when never sent
	AcceptedAt time.Time // 2xx answer; zero when not accepted
	FinalAt    time.Time // final status seen; zero when not final
	Err        string    // why it was not accepted

	buyer int // the customer's number: CustomerID is customerID(buyer)
}

// Sent reports whether the order was sent before the deadline.
func (o Order) Sent() bool { return !o.SentAt.IsZero() }

// Line is one line of a cart and what became of it.
type Line struct {
	Item     int // index of the item in Result.Items
	Quantity int
	Status   string // as last answered: pending, reserved, rejected, released, …
	Reason   string // why this line failed, as last answered
}

// Failure is one failed request: when it failed, and the status the gateway
// answered; 0 when no answer came (the network, a timeout, a malformed body).
type Failure struct {
	At     time.Time
	Status int
}

// StockSample is an item's stock as the gateway reported it at a moment.
type StockSample struct {
	At    time.Time
	Stock int64
}

// Result is a finished sale.
type Result struct {
	Config      Config  // with defaults applied
	Items       []Item  // as the gateway created them, the most demanded first
	FinalStocks []int64 // of Items, once the crowd was done
	Orders      []Order
	Errors      map[string]int // failed requests by kind, e.g. "order 503 unavailable"
	// Failures is every failed request Errors counts, with its time and
	// status, for the report's count of failures by the second.
	Failures []Failure
	// StockSamples is the first item's stock over the run, when sampled.
	StockSamples []StockSample
	// Open loop: orders the schedule could not start because Concurrency were
	// in flight, and the latest an order started after it was due.
	Slipped int
	Lag     time.Duration
	// Tokens is how many buyers' tokens were minted before the run (AuthToken),
	// and Minting how long that took.
	Tokens  int
	Minting time.Duration

	Started       time.Time // the first order was due
	ScheduleEnded time.Time // open loop: the last order's slot ended
	Finished      time.Time // the crowd was done
}

// Records returns the run as the checker sees it, one check.Run per item: the
// stock asked for, not the stock the gateway echoed, and only the orders that
// were sent. ledgers holds the items' ledgers by id; nil when not read. A run
// of carts leaves the items' orders out: they are the carts' lines, which
// check.VerifyCarts takes from Carts.
func (r *Result) Records(ledgers map[int64]check.Ledger) []check.Run {
	runs := make([]check.Run, len(r.Items))
	for i, it := range r.Items {
		runs[i] = check.Run{
			Item:           it.ID,
			InitialStock:   r.Config.Stock,
			MaxPerCustomer: r.Config.MaxPerCustomer,
			FinalStock:     r.FinalStocks[i],
			Carts:          r.Config.Carts(),
		}
		if l, ok := ledgers[it.ID]; ok {
			runs[i].Ledger = &l
		}
	}
	for _, o := range r.Orders {
		if o.Sent() && o.Lines == nil {
			runs[o.Item].Orders = append(runs[o.Item].Orders, o.Order)
		}
	}
	return runs
}

// Carts returns the carts that were sent, as the checker sees them.
func (r *Result) Carts() []check.Cart {
	var cs []check.Cart
	for _, o := range r.Orders {
		if !o.Sent() || o.Lines == nil {
			continue
		}
		c := check.Cart{Order: o.Order, Lines: make([]check.Line, len(o.Lines))}
		for i, l := range o.Lines {
			c.Lines[i] = check.Line{Item: r.Items[l.Item].ID, Quantity: l.Quantity, Status: l.Status, Reason: l.Reason}
		}
		cs = append(cs, c)
	}
	return cs
}

// ReadStocks reads the items' stocks into FinalStocks again, as Run does once
// the crowd is done: for a run whose stock still moves after every order is
// final, as a rejected cart's releases do.
func (r *Result) ReadStocks(ctx context.Context) error {
	client := newClient(1)
	defer client.CloseIdleConnections()
	run := &runner{
		cfg:   r.Config,
		api:   &api{base: strings.TrimRight(r.Config.URL, "/"), token: r.Config.AdminToken, client: client},
		items: r.Items,
	}
	stocks, err := run.finalStocks(ctx)
	if err != nil {
		return err
	}
	r.FinalStocks = stocks
	return nil
}

// setupTimeout bounds creating and reading one item; many take longer.
const setupTimeout = 30 * time.Second

// requestSlack is how much longer than its long-poll a request may take.
const requestSlack = 15 * time.Second

// Run creates the items, lets the crowd order them until every order is final
// or the deadline passes, and reads the items' final stock. It fails only when
// the sale could not be set up or observed; what the orders met is in the
// Result.
func Run(ctx context.Context, cfg Config) (*Result, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg = cfg.withDefaults()
	// A connection for each customer, and one for sampling the stock.
	client := newClient(cfg.Concurrency + 1)
	defer client.CloseIdleConnections()
	creds, err := newCredentials(ctx, cfg)
	if err != nil {
		return nil, err
	}
	r := &runner{
		cfg:      cfg,
		api:      &api{base: strings.TrimRight(cfg.URL, "/"), token: cfg.AdminToken, client: client},
		creds:    creds,
		errs:     map[string]int{},
		progress: cfg.Progress,
	}
	if r.progress == nil {
		r.progress = &Progress{}
	}

	items, err := r.createItems(ctx)
	if err != nil {
		return nil, err
	}
	r.items = items
	res := &Result{Config: cfg, Items: items, Orders: make([]Order, cfg.Orders), Tokens: len(creds.buyers), Minting: creds.minted}
	pick, pickCart := picker(cfg), cartPicker(cfg)
	for i := range res.Orders {
		buyer := i % cfg.Customers
		o := Order{
			Order: check.Order{CustomerID: customerID(buyer), Quantity: cfg.Quantity},
			Key:   uuid.Must(uuid.NewV7()).String(), // as docs/api.md advises: a time-ordered order id
			buyer: buyer,
		}
		if cfg.Carts() {
			o.Lines = pickCart()
			o.Item, o.Quantity = o.Lines[0].Item, 0
			for _, l := range o.Lines {
				o.Quantity += l.Quantity
			}
		} else {
			o.Item = pick()
		}
		res.Orders[i] = o
	}

	deadline := cfg.Timeout
	if cfg.OpenLoop() {
		deadline += cfg.Duration
	}
	dctx, cancel := context.WithTimeout(ctx, deadline)
	defer cancel()
	r.abort = cancel
	stopSampling := r.sampleStock(ctx, res)
	res.Started = time.Now()
	if cfg.OpenLoop() {
		r.openLoop(dctx, res)
	} else {
		r.closedLoop(dctx, res)
	}
	res.Finished = time.Now()
	stopSampling()
	res.Errors, res.Failures = r.errs, r.failures
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("sale interrupted: %w", err)
	}
	if r.denied != nil {
		return nil, fmt.Errorf("the gateway refused the buyers' credentials (auth %s): %w", cfg.Auth, r.denied)
	}

	if res.FinalStocks, err = r.finalStocks(ctx); err != nil {
		return nil, err
	}
	if cfg.StockEvery > 0 {
		res.StockSamples = append(res.StockSamples, StockSample{At: time.Now(), Stock: res.FinalStocks[0]})
	}
	if cfg.ReadBack {
		if err := r.readBack(ctx, res.Orders); err != nil {
			return nil, err
		}
	}
	return res, nil
}

// readBackConcurrency bounds the reads of readBack in flight.
const readBackConcurrency = 32

// readBack reads every confirmed order of orders again, several at once,
// and marks those the gateway answers 404 Gone. A read that keeps failing
// otherwise fails the whole: the run could not be observed.
func (r *runner) readBack(ctx context.Context, orders []Order) error {
	rctx, cancel := context.WithTimeout(ctx, setupTimeout+time.Duration(len(orders))*time.Millisecond)
	defer cancel()
	var (
		next     atomic.Int64
		wg       sync.WaitGroup
		once     sync.Once
		firstErr error
	)
	for range min(r.cfg.Concurrency, readBackConcurrency) {
		wg.Go(func() {
			for rctx.Err() == nil {
				i := int(next.Add(1) - 1)
				if i >= len(orders) {
					return
				}
				o := &orders[i]
				if !o.Accepted || o.Status != check.StatusConfirmed {
					continue
				}
				gone, err := r.gone(rctx, o)
				if err != nil {
					once.Do(func() { firstErr = fmt.Errorf("read back order %s: %w", o.ID, err); cancel() })
					return
				}
				o.Gone = gone
			}
		})
	}
	wg.Wait()
	if firstErr == nil {
		firstErr = rctx.Err()
	}
	return firstErr
}

// gone reads o as its buyer and reports whether the gateway no longer has it.
func (r *runner) gone(ctx context.Context, o *Order) (bool, error) {
	err := r.retrying(ctx, func(ctx context.Context) error {
		_, err := r.api.getOrder(ctx, r.creds.of(o.buyer), o.ID, 0)
		return err
	})
	var ae *APIError
	if errors.As(err, &ae) && ae.Status == http.StatusNotFound {
		return true, nil
	}
	return false, err
}

// retrying calls do until it succeeds, fails in a way another attempt cannot
// mend, or the attempts run out, pausing between attempts as placing an
// order does: a gateway that is briefly unavailable (429, 5xx, the network)
// must not cost a run its reading of the result.
func (r *runner) retrying(ctx context.Context, do func(context.Context) error) error {
	for attempt := 1; ; attempt++ {
		actx, cancel := context.WithTimeout(ctx, r.requestTimeout())
		err := do(actx)
		cancel()
		if err == nil || !retryable(err) || attempt >= r.cfg.Attempts || !Sleep(ctx, r.backoff(attempt, err)) {
			return err
		}
	}
}

// picker returns the item choice of cfg: always the one item, or Zipf over
// many, from cfg.Seed so that a run can be repeated.
func picker(cfg Config) func() int {
	if cfg.Items == 1 {
		return func() int { return 0 }
	}
	rng := rand.New(rand.NewPCG(cfg.Seed, cfg.Seed^0x9e3779b97f4a7c15))
	z := rand.NewZipf(rng, cfg.ZipfS, 1, uint64(cfg.Items-1))
	return func() int { return int(z.Uint64()) }
}

// cartPicker returns the lines of the next cart: 1 to MaxLines distinct items,
// drawn uniformly, of 1 to MaxLineQuantity units each, from cfg.Seed so that a
// run can be repeated. It is nil when cfg sends no carts.
func cartPicker(cfg Config) func() []Line {
	if !cfg.Carts() {
		return nil
	}
	rng := rand.New(rand.NewPCG(cfg.Seed, cfg.Seed^0x6a09e667f3bcc909))
	perm := make([]int, cfg.Items)
	for i := range perm {
		perm[i] = i
	}
	return func() []Line {
		lines := make([]Line, 1+rng.IntN(cfg.MaxLines))
		// A partial Fisher–Yates shuffle: the first len(lines) of perm are a
		// uniform sample of the items, whatever order earlier carts left.
		for i := range lines {
			j := i + rng.IntN(len(perm)-i)
			perm[i], perm[j] = perm[j], perm[i]
			lines[i] = Line{Item: perm[i], Quantity: 1 + rng.IntN(MaxLineQuantity)}
		}
		return lines
	}
}

// closedLoop lets Concurrency customers order one after another until every
// order was sent.
func (r *runner) closedLoop(ctx context.Context, res *Result) {
	var next atomic.Int64
	var wg sync.WaitGroup
	for range min(r.cfg.Concurrency, len(res.Orders)) {
		wg.Go(func() {
			for ctx.Err() == nil {
				i := int(next.Add(1) - 1)
				if i >= len(res.Orders) {
					return
				}
				r.follow(ctx, &res.Orders[i])
			}
		})
	}
	wg.Wait()
}

// openLoop starts the orders on schedule, at most Concurrency at once, and
// waits until every started order is done.
func (r *runner) openLoop(ctx context.Context, res *Result) {
	interval := time.Duration(float64(time.Second) / r.cfg.Rate)
	// A client goroutine for each order the cap lets fly, started up front:
	// a goroutine per order grew a fresh stack for every request, which cost
	// the crowd about 8 % of its CPU at 5,000 orders/s.
	due := make(chan int, r.cfg.Concurrency)
	var free atomic.Int64
	free.Store(int64(r.cfg.Concurrency))
	var wg sync.WaitGroup
	for range min(r.cfg.Concurrency, len(res.Orders)) {
		wg.Go(func() {
			for i := range due {
				r.follow(ctx, &res.Orders[i])
				free.Add(1)
			}
		})
	}
	p := schedule{n: len(res.Orders), interval: interval}.run(ctx, realClock{}, res.Started, func(i int) bool {
		if free.Add(-1) < 0 {
			free.Add(1)
			r.progress.Slipped.Add(1)
			return false
		}
		due <- i
		return true
	})
	close(due)
	wg.Wait()
	res.Slipped, res.Lag, res.ScheduleEnded = p.slipped, p.lag, p.ended
}

// createItems creates cfg.Items items, several at once, the most demanded
// first in the result whatever order the gateway numbered them in.
func (r *runner) createItems(ctx context.Context) ([]Item, error) {
	n := r.cfg.Items
	run := uuid.NewString()[:8]
	name := func(k int) string {
		if n == 1 {
			return "flashsale " + run
		}
		return fmt.Sprintf("catalogue %s #%d", run, k)
	}
	sctx, cancel := context.WithTimeout(ctx, setupTimeout+time.Duration(n)*10*time.Millisecond)
	defer cancel()
	items := make([]Item, n)
	var (
		next     atomic.Int64
		wg       sync.WaitGroup
		once     sync.Once
		firstErr error
	)
	for range min(n, r.cfg.Concurrency, 32) {
		wg.Go(func() {
			for sctx.Err() == nil {
				k := int(next.Add(1) - 1)
				if k >= n {
					return
				}
				it, err := r.api.createItem(sctx, name(k), r.cfg.Stock, r.cfg.MaxPerCustomer)
				if err != nil {
					once.Do(func() { firstErr = err; cancel() })
					return
				}
				items[k] = it
				r.progress.Items.Add(1)
			}
		})
	}
	wg.Wait()
	if firstErr == nil {
		// The deadline may have passed between two items.
		firstErr = sctx.Err()
	}
	if firstErr != nil {
		return nil, fmt.Errorf("create item: %w", firstErr)
	}
	return items, nil
}

// finalStocks reads every item's stock: one GET for one item, the item list
// from the first id on for many (the gateway numbers items in creation order,
// so a catalogue is a few pages, interleaved with whatever else was created
// meanwhile).
func (r *runner) finalStocks(ctx context.Context) ([]int64, error) {
	sctx, cancel := context.WithTimeout(ctx, setupTimeout+time.Duration(len(r.items))*time.Millisecond)
	defer cancel()
	stocks := make([]int64, len(r.items))
	if len(r.items) == 1 {
		var it Item
		err := r.retrying(sctx, func(ctx context.Context) (err error) {
			it, err = r.api.getItem(ctx, r.items[0].ID)
			return err
		})
		if err != nil {
			return nil, fmt.Errorf("read final stock of item %d: %w", r.items[0].ID, err)
		}
		stocks[0] = it.Stock
		return stocks, nil
	}
	index := make(map[int64]int, len(r.items))
	lo, hi := r.items[0].ID, r.items[0].ID
	for i, it := range r.items {
		index[it.ID] = i
		lo, hi = min(lo, it.ID), max(hi, it.ID)
	}
	found := 0
	after := lo - 1
	for found < len(r.items) {
		var page []Item
		var next *int64
		err := r.retrying(sctx, func(ctx context.Context) (err error) {
			page, next, err = r.api.listItems(ctx, after, listPage)
			return err
		})
		if err != nil {
			return nil, fmt.Errorf("read final stocks: %w", err)
		}
		for _, it := range page {
			if i, ok := index[it.ID]; ok {
				stocks[i] = it.Stock
				found++
			}
		}
		if next == nil || *next >= hi {
			break
		}
		after = *next
	}
	if found != len(r.items) {
		return nil, fmt.Errorf("read final stocks: the gateway listed %d of the %d items", found, len(r.items))
	}
	return stocks, nil
}

// listPage is the most items one list request returns (the contract's cap).
const listPage = 500

// sampleStock polls the first item's stock every StockEvery until the
// returned stop is called. A failed poll leaves a gap: the samples illustrate
// the run, the checker does not rely on them.
func (r *runner) sampleStock(ctx context.Context, res *Result) (stop func()) {
	if r.cfg.StockEvery <= 0 {
		return func() {}
	}
	sctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		id := r.items[0].ID
		for sctx.Err() == nil {
			start := time.Now()
			rctx, rcancel := context.WithTimeout(sctx, max(r.cfg.StockEvery, time.Second))
			it, err := r.api.getItem(rctx, id)
			rcancel()
			if err == nil {
				res.StockSamples = append(res.StockSamples, StockSample{At: time.Now(), Stock: it.Stock})
			}
			Sleep(sctx, r.cfg.StockEvery-time.Since(start))
		}
	}()
	return func() { cancel(); <-done }
}

// runner is the state the crowd's goroutines share.
type runner struct {
	cfg      Config
	api      *api
	creds    *credentials
	items    []Item
	progress *Progress

	mu       sync.Mutex
	errs     map[string]int
	failures []Failure
	// denied is the first answer that refused a buyer's credential, which
	// stops the run by abort: every other buyer would meet it too, and what
	// it proves is the setup's fault, not the gateway's.
	denied error
	abort  func()
}

// deny stops the run when err refused a buyer's credential, and reports
// whether it did.
func (r *runner) deny(err error) bool {
	var ae *APIError
	if !errors.As(err, &ae) || (ae.Status != http.StatusUnauthorized && ae.Status != http.StatusForbidden) {
		return false
	}
	r.mu.Lock()
	if r.denied == nil {
		r.denied = err
	}
	r.mu.Unlock()
	if r.abort != nil {
		r.abort()
	}
	return true
}

func (r *runner) count(phase string, err error) {
	r.progress.Errors.Add(1)
	f := Failure{At: time.Now()}
	var ae *APIError
	if errors.As(err, &ae) {
		f.Status = ae.Status
	}
	r.mu.Lock()
	r.errs[kind(phase, err)]++
	r.failures = append(r.failures, f)
	r.mu.Unlock()
}

// follow places o and then polls it until it is final or ctx ends, as a
// customer at a checkout page would.
func (r *runner) follow(ctx context.Context, o *Order) {
	body, err := r.body(o)
	if err != nil {
		o.Err = err.Error()
		return
	}
	if ctx.Err() != nil {
		return // past the deadline: never sent, so it cannot have been placed
	}
	o.SentAt = time.Now()
	r.progress.Sent.Add(1)
	ord, err := r.place(ctx, o, body)
	if err != nil {
		o.Err = err.Error()
		return
	}
	answered := time.Now()
	// An answer to Prefer: wait comes once the order is final; the gateway
	// says how long it held it after accepting the order, and accept is then.
	o.AcceptedAt = answered.Add(-ord.Waited)
	if o.AcceptedAt.Before(o.SentAt) {
		o.AcceptedAt = o.SentAt
	}
	o.Accepted, o.Uncertain, o.ID = true, false, ord.ID
	r.progress.Accepted.Add(1)
	r.see(o, &ord.Order)
	if o.Final() {
		o.FinalAt = answered
		r.progress.Final.Add(1)
		return
	}
	r.poll(ctx, o)
}

// place sends o until the gateway accepts it, refuses it, or the attempts run
// out. Every attempt carries the same Idempotency-Key and body, so the gateway
// makes one order of them however many got through.
func (r *runner) place(ctx context.Context, o *Order, body []byte) (order, error) {
	for attempt := 1; ; attempt++ {
		o.Attempts = attempt
		actx, cancel := context.WithTimeout(ctx, r.requestTimeout())
		ord, err := r.api.placeOrder(actx, r.creds.of(o.buyer), o.Key, body, r.preferWait())
		cancel()
		if err == nil && ord.ID == "" {
			err = fmt.Errorf("%w: order without id", errBadAnswer)
		}
		if err == nil {
			return ord, nil
		}
		r.count("order", err)
		if r.deny(err) {
			return order{}, err
		}
		if mayHavePublished(err) {
			o.Uncertain = true
		}
		if !retryable(err) {
			o.Refusal = cause(err)
			return order{}, err
		}
		if attempt >= r.cfg.Attempts || ctx.Err() != nil {
			return order{}, err
		}
		if !Sleep(ctx, r.backoff(attempt, err)) {
			return order{}, err
		}
	}
}

// preferWait is the Prefer: wait of an order, in seconds; 0 sends none.
func (r *runner) preferWait() int {
	if r.cfg.Poll {
		return 0
	}
	return r.cfg.Wait
}

// poll follows an accepted order until it is final. It never gives up before
// ctx does: the order exists, and only its final status tells whether the
// invariants hold.
func (r *runner) poll(ctx context.Context, o *Order) {
	failures := 0
	for ctx.Err() == nil {
		start := time.Now()
		actx, cancel := context.WithTimeout(ctx, r.requestTimeout())
		ord, err := r.api.getOrder(actx, r.creds.of(o.buyer), o.ID, r.cfg.Wait)
		cancel()
		if err != nil {
			if ctx.Err() != nil {
				return // the deadline, not the gateway
			}
			r.count("poll", err)
			if r.deny(err) {
				return
			}
			failures++
			Sleep(ctx, r.backoff(failures, err))
			continue
		}
		failures = 0
		r.see(o, &ord)
		if o.Final() {
			o.FinalAt = time.Now()
			r.progress.Final.Add(1)
			return
		}
		// A gateway that answers a long-poll at once must not be hammered.
		Sleep(ctx, r.cfg.PollInterval-time.Since(start))
	}
}

// body is the request of o: a single-item order or a cart. A buyer with a
// token of their own is the token's subject, and names no customer.
func (r *runner) body(o *Order) ([]byte, error) {
	customer := o.CustomerID
	if r.cfg.Auth == AuthToken {
		customer = ""
	}
	if o.Lines == nil {
		return json.Marshal(orderBody{ItemID: r.items[o.Item].ID, Quantity: o.Quantity, CustomerID: customer})
	}
	lines := make([]bodyLine, len(o.Lines))
	for i, l := range o.Lines {
		lines[i] = bodyLine{ItemID: r.items[l.Item].ID, Quantity: l.Quantity}
	}
	return json.Marshal(orderBody{CustomerID: customer, Lines: lines})
}

// orderBody is an order's request: a single item, or a cart's lines.
type orderBody struct {
	ItemID     int64      `json:"item_id,omitempty"`
	Quantity   int        `json:"quantity,omitempty"`
	CustomerID string     `json:"customer_id,omitempty"`
	Lines      []bodyLine `json:"lines,omitempty"`
}

// bodyLine is a line of a cart's request.
type bodyLine struct {
	ItemID   int64 `json:"item_id"`
	Quantity int   `json:"quantity"`
}

// see records what the gateway answered about o; a cart's line the answer
// lacks is left without a status.
func (r *runner) see(o *Order, ord *message.Order) {
	o.Status, o.Reason, o.Display = string(ord.Status), deref(ord.Reason), ord.DisplayStatus.Code
	for i := range o.Lines {
		l := &o.Lines[i]
		l.Status, l.Reason = "", ""
		id := r.items[l.Item].ID
		for _, al := range ord.Lines {
			if al.ItemID == id {
				l.Status, l.Reason = string(al.Status), deref(al.Reason)
				break
			}
		}
	}
}

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}

func (r *runner) requestTimeout() time.Duration {
	return time.Duration(r.cfg.Wait)*time.Second + requestSlack
}

// backoff is the pause before attempt+1: exponential, jittered so the crowd
// does not come back in one wave, and at least what Retry-After asks within the
// cap.
func (r *runner) backoff(attempt int, err error) time.Duration {
	d := r.cfg.Backoff << min(attempt-1, 20)
	var ae *APIError
	if errors.As(err, &ae) && ae.RetryAfter > d {
		d = ae.RetryAfter
	}
	d = min(d, r.cfg.MaxBackoff)
	return d/2 + rand.N(d/2+1)
}

// Sleep waits d or until ctx ends, and reports whether ctx is still live.
func Sleep(ctx context.Context, d time.Duration) bool {
	if d <= 0 {
		return ctx.Err() == nil
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}
