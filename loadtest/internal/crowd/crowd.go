// Package crowd drives a running gateway like a flash-sale crowd: it creates an
// item, sends many orders for it at once over HTTP, and follows every accepted
// order until it is final, recording what each customer saw and when.
package crowd

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/google/uuid"

	"github.com/orderq/orderq/loadtest/internal/check"
)

// Config describes one flash sale.
type Config struct {
	URL            string // the gateway, without /api/v1
	AdminToken     string
	Stock          int64 // initial stock of the item
	MaxPerCustomer int   // 0 means no limit
	Orders         int
	Concurrency    int // customers ordering at the same time
	Quantity       int // per order
	Customers      int // distinct customer ids; 0 means one per order
	// Wait is N of Prefer: wait=N on orders and ?wait=N on polls, in seconds;
	// 0 sends neither and polls every PollInterval.
	Wait    int
	Timeout time.Duration // for every order to be final

	// Tuning, with working defaults when zero.
	Attempts     int           // per order before giving up; default 5
	Backoff      time.Duration // before the second attempt, doubling after; default 100ms
	MaxBackoff   time.Duration // cap on back-off and on an honoured Retry-After; default 2s
	PollInterval time.Duration // least time between two polls of one order; default 100ms
	Client       *http.Client  // default NewClient(Concurrency)
}

// Limits from the HTTP contract.
const (
	MaxQuantity = 1000
	MaxWait     = 30
)

// Validate reports the first setting that cannot describe a flash sale.
func (c Config) Validate() error {
	u, err := url.Parse(c.URL)
	switch {
	case err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "":
		return fmt.Errorf("url %q: want http://host:port", c.URL)
	case c.Stock < 0:
		return errors.New("stock must be 0 or more")
	case c.MaxPerCustomer < 0:
		return errors.New("max-per-customer must be 0 (no limit) or more")
	case c.Orders < 1:
		return errors.New("orders must be 1 or more")
	case c.Concurrency < 1:
		return errors.New("concurrency must be 1 or more")
	case c.Quantity < 1 || c.Quantity > MaxQuantity:
		return fmt.Errorf("quantity must be within 1…%d", MaxQuantity)
	case c.Customers < 0:
		return errors.New("customers must be 0 (one per order) or more")
	case c.Wait < 0 || c.Wait > MaxWait:
		return fmt.Errorf("wait must be within 0…%d seconds", MaxWait)
	case c.Timeout <= 0:
		return errors.New("timeout must be positive")
	}
	return nil
}

func (c Config) withDefaults() Config {
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

// NewClient returns a client that keeps a connection per concurrent customer,
// so the crowd measures the gateway and not connection set-up. It has no overall
// timeout: each request carries its own, longer than its long-poll.
func NewClient(concurrency int) *http.Client {
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.MaxIdleConns = concurrency
	t.MaxIdleConnsPerHost = concurrency
	return &http.Client{Transport: t}
}

// Order is one customer's order and what happened to it.
type Order struct {
	check.Order
	Key        string    // Idempotency-Key, the same on every attempt
	Attempts   int       // order requests sent
	SentAt     time.Time // first attempt started; zero when never sent
	AcceptedAt time.Time // 2xx answer; zero when not accepted
	FinalAt    time.Time // final status seen; zero when not final
	Err        string    // why it was not accepted
}

// Sent reports whether the order was sent before the deadline.
func (o Order) Sent() bool { return !o.SentAt.IsZero() }

// Result is a finished flash sale.
type Result struct {
	Config     Config // with defaults applied
	Item       Item   // as the gateway created it
	FinalStock int64  // the item's stock once the crowd was done
	Orders     []Order
	Errors     map[string]int // failed requests by kind, e.g. "order 503 unavailable"
	Started    time.Time      // the first order was sent
	Finished   time.Time      // the crowd was done
}

// Record returns the run as the checker sees it: the stock asked for, not the
// stock the gateway echoed, and only the orders that were sent.
func (r *Result) Record(ledger *check.Ledger) check.Run {
	run := check.Run{
		InitialStock:   r.Config.Stock,
		MaxPerCustomer: r.Config.MaxPerCustomer,
		FinalStock:     r.FinalStock,
		Ledger:         ledger,
	}
	for _, o := range r.Orders {
		if o.Sent() {
			run.Orders = append(run.Orders, o.Order)
		}
	}
	return run
}

// setupTimeout bounds creating and reading the item.
const setupTimeout = 30 * time.Second

// requestSlack is how much longer than its long-poll a request may take.
const requestSlack = 15 * time.Second

// Run creates the item, lets the crowd order it until every order is final or
// cfg.Timeout passes, and reads the item's final stock. It fails only when the
// sale could not be set up or observed; what the orders met is in the Result.
func Run(ctx context.Context, cfg Config) (*Result, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg = cfg.withDefaults()
	client := cfg.Client
	if client == nil {
		client = NewClient(cfg.Concurrency)
		defer client.CloseIdleConnections()
	}
	r := &runner{
		cfg:  cfg,
		api:  &api{base: strings.TrimRight(cfg.URL, "/"), token: cfg.AdminToken, client: client},
		errs: map[string]int{},
	}

	sctx, cancel := context.WithTimeout(ctx, setupTimeout)
	name := "flashsale " + uuid.NewString()[:8]
	item, err := r.api.createItem(sctx, name, cfg.Stock, cfg.MaxPerCustomer)
	cancel()
	if err != nil {
		return nil, fmt.Errorf("create item: %w", err)
	}

	r.item = item.ID
	res := &Result{Config: cfg, Item: item, Orders: make([]Order, cfg.Orders)}
	for i := range res.Orders {
		res.Orders[i] = Order{
			Order: check.Order{CustomerID: fmt.Sprintf("c-%d", i%cfg.Customers), Quantity: cfg.Quantity},
			Key:   uuid.NewString(),
		}
	}

	dctx, cancel := context.WithTimeout(ctx, cfg.Timeout)
	defer cancel()
	res.Started = time.Now()
	var next atomic.Int64
	var wg sync.WaitGroup
	for range min(cfg.Concurrency, cfg.Orders) {
		wg.Go(func() {
			for dctx.Err() == nil {
				i := int(next.Add(1) - 1)
				if i >= len(res.Orders) {
					return
				}
				r.follow(dctx, &res.Orders[i])
			}
		})
	}
	wg.Wait()
	res.Finished = time.Now()
	res.Errors = r.errs
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("flash sale interrupted: %w", err)
	}

	sctx, cancel = context.WithTimeout(ctx, setupTimeout)
	defer cancel()
	final, err := r.api.getItem(sctx, item.ID)
	if err != nil {
		return nil, fmt.Errorf("read final stock of item %d: %w", item.ID, err)
	}
	res.FinalStock = final.Stock
	return res, nil
}

// runner is the state the crowd's goroutines share.
type runner struct {
	cfg  Config
	api  *api
	item int64

	mu   sync.Mutex
	errs map[string]int
}

func (r *runner) count(phase string, err error) {
	r.mu.Lock()
	r.errs[kind(phase, err)]++
	r.mu.Unlock()
}

// follow places o and then polls it until it is final or ctx ends, as a
// customer at a checkout page would.
func (r *runner) follow(ctx context.Context, o *Order) {
	body, err := json.Marshal(map[string]any{
		"item_id": r.item, "quantity": o.Quantity, "customer_id": o.CustomerID,
	})
	if err != nil {
		o.Err = err.Error()
		return
	}
	if ctx.Err() != nil {
		return // past the deadline: never sent, so it cannot have been placed
	}
	o.SentAt = time.Now()
	ord, err := r.place(ctx, o, body)
	if err != nil {
		o.Err = err.Error()
		return
	}
	o.AcceptedAt = time.Now()
	o.Accepted, o.Uncertain, o.ID = true, false, ord.ID
	o.see(ord)
	if o.Final() {
		o.FinalAt = o.AcceptedAt
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
		ord, err := r.api.placeOrder(actx, o.Key, body, r.cfg.Wait)
		cancel()
		if err == nil && ord.ID == "" {
			err = fmt.Errorf("%w: order without id", errBadAnswer)
		}
		if err == nil {
			return ord, nil
		}
		r.count("order", err)
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
		if !sleep(ctx, r.backoff(attempt, err)) {
			return order{}, err
		}
	}
}

// poll follows an accepted order until it is final. It never gives up before
// ctx does: the order exists, and only its final status tells whether the
// invariants hold.
func (r *runner) poll(ctx context.Context, o *Order) {
	failures := 0
	for ctx.Err() == nil {
		start := time.Now()
		actx, cancel := context.WithTimeout(ctx, r.requestTimeout())
		ord, err := r.api.getOrder(actx, o.ID, r.cfg.Wait)
		cancel()
		if err != nil {
			if ctx.Err() != nil {
				return // the deadline, not the gateway
			}
			r.count("poll", err)
			failures++
			sleep(ctx, r.backoff(failures, err))
			continue
		}
		failures = 0
		o.see(ord)
		if o.Final() {
			o.FinalAt = time.Now()
			return
		}
		// A gateway that answers a long-poll at once must not be hammered.
		sleep(ctx, r.cfg.PollInterval-time.Since(start))
	}
}

func (o *Order) see(ord order) {
	o.Status, o.Reason = ord.Status, ""
	if ord.Reason != nil {
		o.Reason = *ord.Reason
	}
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

// sleep waits d or until ctx ends, and reports whether ctx is still live.
func sleep(ctx context.Context, d time.Duration) bool {
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
