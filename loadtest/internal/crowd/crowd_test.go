package crowd_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/orderq/orderq/loadtest/internal/check"
	"github.com/orderq/orderq/loadtest/internal/crowd"
	"github.com/orderq/orderq/loadtest/internal/gatewaytest"
	"github.com/orderq/orderq/shared/token"
)

// config is a small, quick flash sale against url, its buyers with a token
// each.
func config(url string) crowd.Config {
	return crowd.Config{
		URL: url, AdminToken: gatewaytest.AdminToken,
		Auth: crowd.AuthToken, Tokens: token.Config{Secret: []byte(gatewaytest.JWTSecret)},
		Stock: 20, Orders: 120, Concurrency: 16, Quantity: 1, Wait: 1,
		Timeout:      20 * time.Second,
		Backoff:      time.Millisecond,
		MaxBackoff:   5 * time.Millisecond,
		PollInterval: 5 * time.Millisecond,
	}
}

func TestRunAgainstACorrectGateway(t *testing.T) {
	tests := []struct {
		name   string
		opts   gatewaytest.Options
		change func(*crowd.Config)
		// confirmed is the quantity the sale must confirm.
		confirmed int64
		// errors are error kinds that must have been counted.
		errors []string
		// polled is true when some order must have been seen final only by a poll.
		polled bool
	}{
		{name: "answers within Prefer wait", confirmed: 20},
		{
			name:      "accepts at once and is polled",
			opts:      gatewaytest.Options{Delay: 20 * time.Millisecond},
			change:    func(c *crowd.Config) { c.Wait = 0 },
			confirmed: 20,
			polled:    true,
		},
		{
			name:      "accepts at once and is long-polled",
			opts:      gatewaytest.Options{Delay: 20 * time.Millisecond},
			change:    func(c *crowd.Config) { c.Poll = true },
			confirmed: 20,
			polled:    true,
		},
		{
			name:      "demand below stock",
			change:    func(c *crowd.Config) { c.Stock = 500 },
			confirmed: 120,
		},
		{
			name:      "multi-unit orders",
			change:    func(c *crowd.Config) { c.Quantity = 3 },
			confirmed: 18,
		},
		{
			name: "limit per customer",
			change: func(c *crowd.Config) {
				c.Stock, c.Customers, c.MaxPerCustomer = 100, 10, 2
			},
			confirmed: 20,
		},
		{
			name:      "lost confirms are retried with the same key",
			opts:      gatewaytest.Options{FailEvery: 7},
			confirmed: 20,
			errors:    []string{"order 503 unavailable"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			gw := gatewaytest.New(t, tt.opts)
			cfg := config(gw.URL)
			if tt.change != nil {
				tt.change(&cfg)
			}
			res, err := crowd.Run(context.Background(), cfg)
			if err != nil {
				t.Fatalf("Run: %v", err)
			}
			if vs := check.VerifyItems(res.Records(nil)); len(vs) != 0 {
				t.Fatalf("violations against a correct gateway: %v", vs)
			}
			var accepted, final, polled int
			var confirmed int64
			for _, o := range res.Orders {
				if o.Accepted {
					accepted++
				}
				if o.Final() {
					final++
					if o.FinalAt.After(o.AcceptedAt) {
						polled++
					}
					if o.FinalAt.Before(o.AcceptedAt) || o.AcceptedAt.Before(o.SentAt) {
						t.Errorf("order %s: sent %v, accepted %v, final %v out of order", o.ID, o.SentAt, o.AcceptedAt, o.FinalAt)
					}
				}
				if o.Status == check.StatusConfirmed {
					confirmed += int64(o.Quantity)
				}
			}
			if accepted != cfg.Orders || final != cfg.Orders {
				t.Errorf("accepted %d, final %d of %d orders", accepted, final, cfg.Orders)
			}
			if tt.polled && polled == 0 {
				t.Error("no order was followed by polling")
			}
			if confirmed != tt.confirmed {
				t.Errorf("confirmed %d units, want %d", confirmed, tt.confirmed)
			}
			if want := cfg.Stock - tt.confirmed; res.FinalStocks[0] != want {
				t.Errorf("final stock %d, want %d", res.FinalStocks[0], want)
			}
			if got := gw.Orders(); got != cfg.Orders {
				t.Errorf("the gateway took %d orders for %d sent: retries were not idempotent", got, cfg.Orders)
			}
			for _, k := range tt.errors {
				if res.Errors[k] == 0 {
					t.Errorf("errors %v do not count %q", res.Errors, k)
				}
			}
			if len(tt.errors) == 0 && len(res.Errors) != 0 {
				t.Errorf("errors = %v, want none", res.Errors)
			}
			counted := 0
			for _, n := range res.Errors {
				counted += n
			}
			if len(res.Failures) != counted {
				t.Errorf("%d failures recorded, %d counted in %v", len(res.Failures), counted, res.Errors)
			}
			for _, f := range res.Failures {
				if f.Status != http.StatusServiceUnavailable || f.At.Before(res.Started) || f.At.After(res.Finished) {
					t.Errorf("failure %+v: want a 503 within the run, %v to %v", f, res.Started, res.Finished)
				}
			}
		})
	}
}

func TestRunAgainstABrokenGateway(t *testing.T) {
	tests := []struct {
		name    string
		opts    gatewaytest.Options
		timeout time.Duration
		want    []check.Rule
	}{
		{
			name:    "oversells",
			opts:    gatewaytest.Options{Oversell: true},
			timeout: 20 * time.Second,
			want:    []check.Rule{check.RuleStockNegative, check.RuleOversold},
		},
		{
			name:    "refuses valid orders",
			opts:    gatewaytest.Options{Forget: true},
			timeout: 20 * time.Second,
			want:    []check.Rule{check.RuleRefused},
		},
		{
			name:    "never decides",
			opts:    gatewaytest.Options{Hold: true},
			timeout: 300 * time.Millisecond,
			want:    []check.Rule{check.RuleNotFinal},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			gw := gatewaytest.New(t, tt.opts)
			cfg := config(gw.URL)
			cfg.Wait = 0
			cfg.Timeout = tt.timeout
			res, err := crowd.Run(context.Background(), cfg)
			if err != nil {
				t.Fatalf("Run: %v", err)
			}
			vs := check.VerifyItems(res.Records(nil))
			var got []check.Rule
			for _, v := range vs {
				got = append(got, v.Rule)
			}
			if !slices.Equal(got, tt.want) {
				t.Errorf("rules = %v, want %v: %v", got, tt.want, vs)
			}
		})
	}
}

func TestRunReadsBack(t *testing.T) {
	tests := []struct {
		name     string
		opts     gatewaytest.Options
		readBack bool
		gone     int // of the 20 confirmed
	}{
		{name: "every order still there", readBack: true},
		{name: "a store that loses orders", opts: gatewaytest.Options{LoseEvery: 4}, readBack: true, gone: 5},
		{name: "not read back", opts: gatewaytest.Options{LoseEvery: 4}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			gw := gatewaytest.New(t, tt.opts)
			cfg := config(gw.URL)
			cfg.ReadBack = tt.readBack
			res, err := crowd.Run(context.Background(), cfg)
			if err != nil {
				t.Fatalf("Run: %v", err)
			}
			gone := 0
			for _, o := range res.Orders {
				if o.Gone {
					gone++
					if o.Status != check.StatusConfirmed {
						t.Errorf("order %s is %s and gone: only confirmed orders are read back", o.ID, o.Status)
					}
				}
			}
			if gone != tt.gone {
				t.Errorf("%d orders gone, want %d", gone, tt.gone)
			}
			vs := check.VerifyItems(res.Records(nil))
			if lost := slices.ContainsFunc(vs, func(v check.Violation) bool { return v.Rule == check.RuleLost }); lost != (tt.gone > 0) {
				t.Errorf("violations %v: order_lost reported %v, want %v", vs, lost, tt.gone > 0)
			}
		})
	}
}

// TestRunReadBackFails checks that a read-back the gateway keeps failing
// fails the run: an order neither found nor missing proves nothing.
func TestRunReadBackFails(t *testing.T) {
	gw := gatewaytest.New(t, gatewaytest.Options{})
	target, err := url.Parse(gw.URL)
	if err != nil {
		t.Fatal(err)
	}
	proxy := httputil.NewSingleHostReverseProxy(target)
	// Orders are answered final to Prefer: wait; only the read-back reads
	// without a wait.
	front := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodGet && strings.HasPrefix(r.URL.Path, "/api/v1/orders/") && r.URL.Query().Get("wait") == "" {
			w.Header().Set("Retry-After", "1")
			http.Error(w, `{"error":{"code":"unavailable","message":"down"}}`, http.StatusServiceUnavailable)
			return
		}
		proxy.ServeHTTP(w, r)
	}))
	t.Cleanup(front.Close)
	cfg := config(front.URL)
	cfg.ReadBack = true
	if _, err := crowd.Run(context.Background(), cfg); err == nil || !strings.Contains(err.Error(), "read back order") {
		t.Errorf("Run = %v, want the read-back's failure", err)
	}
}

// TestRunRetriesReads checks that the reads after the crowd (the final
// stock, the read-back) ride out a gateway that is briefly unavailable.
func TestRunRetriesReads(t *testing.T) {
	gw := gatewaytest.New(t, gatewaytest.Options{})
	target, err := url.Parse(gw.URL)
	if err != nil {
		t.Fatal(err)
	}
	proxy := httputil.NewSingleHostReverseProxy(target)
	var mu sync.Mutex
	refused := map[string]bool{}
	front := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		read := r.Method == http.MethodGet && r.URL.Query().Get("wait") == ""
		mu.Lock()
		first := read && !refused[r.URL.Path]
		refused[r.URL.Path] = true
		mu.Unlock()
		if first {
			http.Error(w, `{"error":{"code":"unavailable","message":"down"}}`, http.StatusServiceUnavailable)
			return
		}
		proxy.ServeHTTP(w, r)
	}))
	t.Cleanup(front.Close)
	cfg := config(front.URL)
	cfg.ReadBack = true
	res, err := crowd.Run(context.Background(), cfg)
	if err != nil {
		t.Fatalf("Run: %v", err)
	}
	if res.FinalStocks[0] != 0 {
		t.Errorf("final stock %d, want 0", res.FinalStocks[0])
	}
	for _, o := range res.Orders {
		if o.Gone {
			t.Errorf("order %s gone after one 503", o.ID)
		}
	}
}

func TestRunSetupFailures(t *testing.T) {
	gw := gatewaytest.New(t, gatewaytest.Options{})
	closed := httptest.NewServer(http.NotFoundHandler())
	closed.Close()

	tests := []struct {
		name   string
		change func(*crowd.Config)
		status int // of the *crowd.APIError, 0 when none
		say    string
	}{
		{
			name:   "token refused",
			change: func(c *crowd.Config) { c.AdminToken = "wrong" },
			status: http.StatusUnauthorized,
			say:    "create item: gateway answered 401 unauthorized",
		},
		{
			name:   "gateway unreachable",
			change: func(c *crowd.Config) { c.URL = closed.URL },
			say:    "create item:",
		},
		{
			name:   "not a url",
			change: func(c *crowd.Config) { c.URL = "127.0.0.1:8080" },
			say:    "want http://host:port",
		},
		{
			name:   "quantity beyond the contract",
			change: func(c *crowd.Config) { c.Quantity = 1001 },
			say:    "quantity",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := config(gw.URL)
			tt.change(&cfg)
			_, err := crowd.Run(context.Background(), cfg)
			if err == nil {
				t.Fatal("Run succeeded, want an error")
			}
			if !strings.Contains(err.Error(), tt.say) {
				t.Errorf("error %q does not say %q", err, tt.say)
			}
			var ae *crowd.APIError
			if got := errors.As(err, &ae); got != (tt.status != 0) || (got && ae.Status != tt.status) {
				t.Errorf("error %v: want an APIError with status %d", err, tt.status)
			}
		})
	}
}

func TestRunInterrupted(t *testing.T) {
	gw := gatewaytest.New(t, gatewaytest.Options{Hold: true})
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	cfg := config(gw.URL)
	cfg.Wait = 0
	if _, err := crowd.Run(ctx, cfg); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Run = %v, want the context's error", err)
	}
}

func TestRunCatalogue(t *testing.T) {
	tests := []struct {
		name string
		opts gatewaytest.Options
		// broken gateways must be caught on some items, correct ones on none.
		want []check.Rule
	}{
		{name: "a correct gateway passes item by item"},
		{name: "an overselling gateway is caught", opts: gatewaytest.Options{Oversell: true},
			want: []check.Rule{check.RuleStockNegative, check.RuleOversold}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			gw := gatewaytest.New(t, tt.opts)
			cfg := config(gw.URL)
			cfg.Items, cfg.Stock, cfg.Orders, cfg.Seed = 30, 5, 400, 42
			var p crowd.Progress
			cfg.Progress = &p
			res, err := crowd.Run(context.Background(), cfg)
			if err != nil {
				t.Fatalf("Run: %v", err)
			}
			vs := check.VerifyItems(res.Records(nil))
			var got []check.Rule
			for _, v := range vs {
				got = append(got, v.Rule)
			}
			if !slices.Equal(got, tt.want) {
				t.Fatalf("rules = %v, want %v: %v", got, tt.want, vs)
			}
			if len(res.Items) != 30 || len(res.FinalStocks) != 30 {
				t.Fatalf("%d items, %d final stocks, want 30", len(res.Items), len(res.FinalStocks))
			}
			perItem := make([]int, len(res.Items))
			for _, o := range res.Orders {
				perItem[o.Item]++
			}
			// Zipf: the first item is the most demanded, and some item far
			// down the list is ordered less than the first.
			if slices.Max(perItem) != perItem[0] || perItem[0] <= perItem[len(perItem)-1] {
				t.Errorf("orders per item %v are not skewed towards the first", perItem)
			}
			if p.Items.Load() != 30 || p.Sent.Load() != 400 || p.Final.Load() != 400 || p.Accepted.Load() != 400 {
				t.Errorf("progress: %d items, %d sent, %d accepted, %d final", p.Items.Load(), p.Sent.Load(), p.Accepted.Load(), p.Final.Load())
			}
		})
	}
}

func TestRunCatalogueIsRepeatable(t *testing.T) {
	gw := gatewaytest.New(t, gatewaytest.Options{})
	choices := func() []int {
		cfg := config(gw.URL)
		cfg.Items, cfg.Orders, cfg.Seed = 10, 50, 7
		res, err := crowd.Run(context.Background(), cfg)
		if err != nil {
			t.Fatalf("Run: %v", err)
		}
		var items []int
		for _, o := range res.Orders {
			items = append(items, o.Item)
		}
		return items
	}
	if a, b := choices(), choices(); !slices.Equal(a, b) {
		t.Errorf("the same seed chose %v, then %v", a, b)
	}
}

func TestRunOpenLoop(t *testing.T) {
	tests := []struct {
		name        string
		opts        gatewaytest.Options
		concurrency int
		slips       bool // whether orders must have slipped
	}{
		{name: "keeps the rate", concurrency: 50},
		// Every order takes 50 ms to decide, and the crowd may hold 2: at 200
		// orders a second the schedule meets the cap.
		{name: "slips at the cap", opts: gatewaytest.Options{Delay: 50 * time.Millisecond}, concurrency: 2, slips: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			gw := gatewaytest.New(t, tt.opts)
			cfg := config(gw.URL)
			cfg.Orders = 0 // ignored with a rate
			cfg.Rate, cfg.Duration, cfg.Concurrency = 200, 500*time.Millisecond, tt.concurrency
			var p crowd.Progress
			cfg.Progress = &p
			res, err := crowd.Run(context.Background(), cfg)
			if err != nil {
				t.Fatalf("Run: %v", err)
			}
			if len(res.Orders) != 100 {
				t.Fatalf("%d orders planned, want rate × duration = 100", len(res.Orders))
			}
			sent := 0
			for _, o := range res.Orders {
				if o.Sent() {
					sent++
				}
			}
			if sent+res.Slipped != 100 || int(p.Slipped.Load()) != res.Slipped {
				t.Errorf("%d sent + %d slipped (progress %d) != 100 planned", sent, res.Slipped, p.Slipped.Load())
			}
			if tt.slips != (res.Slipped > 0) {
				t.Errorf("%d orders slipped, want slips: %v", res.Slipped, tt.slips)
			}
			if vs := check.VerifyItems(res.Records(nil)); len(vs) != 0 {
				t.Errorf("violations against a correct gateway: %v", vs)
			}
			// The schedule took its duration: it neither waited for answers
			// nor ran ahead of its slots.
			if d := res.ScheduleEnded.Sub(res.Started); d < cfg.Duration {
				t.Errorf("the schedule ended after %v, before its %v", d, cfg.Duration)
			}
			first, last := res.Orders[0].SentAt, time.Time{}
			for _, o := range res.Orders {
				if o.Sent() {
					last = o.SentAt
				}
			}
			if last.Sub(first) < 400*time.Millisecond && !tt.slips {
				t.Errorf("orders were sent over %v, not spread over the schedule", last.Sub(first))
			}
		})
	}
}

func TestRunSamplesStock(t *testing.T) {
	gw := gatewaytest.New(t, gatewaytest.Options{Delay: 2 * time.Millisecond})
	cfg := config(gw.URL)
	cfg.Concurrency, cfg.StockEvery = 2, 10*time.Millisecond
	res, err := crowd.Run(context.Background(), cfg)
	if err != nil {
		t.Fatalf("Run: %v", err)
	}
	n := len(res.StockSamples)
	if n < 3 {
		t.Fatalf("%d stock samples, want several", n)
	}
	if last := res.StockSamples[n-1]; res.StockSamples[0].Stock > cfg.Stock || last.Stock != res.FinalStocks[0] {
		t.Errorf("stock went from %d to %d, want from at most %d to the final %d",
			res.StockSamples[0].Stock, last.Stock, cfg.Stock, res.FinalStocks[0])
	}
	for i := 1; i < n; i++ {
		if res.StockSamples[i].Stock > res.StockSamples[i-1].Stock {
			t.Errorf("stock rose from %d to %d: a sale only takes stock", res.StockSamples[i-1].Stock, res.StockSamples[i].Stock)
		}
	}
}

func TestValidateOpenLoop(t *testing.T) {
	base := config("http://127.0.0.1:1")
	tests := []struct {
		name   string
		change func(*crowd.Config)
		say    string
	}{
		{name: "rate without duration", change: func(c *crowd.Config) { c.Rate = 10 }, say: "duration"},
		{name: "duration without rate", change: func(c *crowd.Config) { c.Duration = time.Second }, say: "rate"},
		{name: "less than one order", change: func(c *crowd.Config) { c.Rate, c.Duration = 0.1, time.Second }, say: "rate × duration"},
		{name: "zipf too flat", change: func(c *crowd.Config) { c.Items, c.ZipfS = 10, 1 }, say: "zipf-s"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := base
			tt.change(&c)
			if err := c.Validate(); err == nil || !strings.Contains(err.Error(), tt.say) {
				t.Errorf("Validate = %v, want an error about %q", err, tt.say)
			}
		})
	}
}

// cartsConfig is a small run of carts over 5 items against url.
func cartsConfig(url string) crowd.Config {
	cfg := config(url)
	cfg.Items, cfg.Stock, cfg.Orders, cfg.MaxLines, cfg.Quantity, cfg.Seed = 5, 10, 150, 3, 0, 42
	return cfg
}

// verifyCarts checks res as the carts command does without a database.
func verifyCarts(res *crowd.Result) []check.Violation {
	return check.VerifyCarts(check.CartRun{Items: res.Records(nil), Carts: res.Carts()})
}

func TestRunCarts(t *testing.T) {
	tests := []struct {
		name   string
		opts   gatewaytest.Options
		change func(*crowd.Config)
	}{
		{name: "answers within Prefer wait"},
		{name: "polled", opts: gatewaytest.Options{Delay: 5 * time.Millisecond}, change: func(c *crowd.Config) { c.Wait = 0 }},
		{name: "lost confirms are retried with the same key", opts: gatewaytest.Options{FailEvery: 7}},
		{name: "one line at most", change: func(c *crowd.Config) { c.MaxLines = 1 }},
		{name: "every item in every cart", change: func(c *crowd.Config) { c.MaxLines = 5 }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			gw := gatewaytest.New(t, tt.opts)
			cfg := cartsConfig(gw.URL)
			if tt.change != nil {
				tt.change(&cfg)
			}
			res, err := crowd.Run(context.Background(), cfg)
			if err != nil {
				t.Fatalf("Run: %v", err)
			}
			if vs := verifyCarts(res); len(vs) != 0 {
				t.Fatalf("violations against a correct gateway: %v", vs)
			}
			if got := gw.Orders(); got != cfg.Orders {
				t.Errorf("the gateway took %d carts for %d sent", got, cfg.Orders)
			}
			carts := res.Carts()
			if len(carts) != cfg.Orders {
				t.Fatalf("%d carts, want %d", len(carts), cfg.Orders)
			}
			confirmed := map[int64]int64{}
			statuses := map[string]int{}
			sizes := map[int]bool{}
			for _, c := range carts {
				statuses[c.Status]++
				sizes[len(c.Lines)] = true
				if len(c.Lines) < 1 || len(c.Lines) > cfg.MaxLines {
					t.Errorf("cart %s has %d lines, want 1…%d", c.ID, len(c.Lines), cfg.MaxLines)
				}
				items := map[int64]bool{}
				units := 0
				for _, l := range c.Lines {
					if items[l.Item] || l.Quantity < 1 || l.Quantity > crowd.MaxLineQuantity {
						t.Errorf("cart %s: line %+v repeats an item or asks for 1…%d units", c.ID, l, crowd.MaxLineQuantity)
					}
					items[l.Item] = true
					units += l.Quantity
					if c.Status == check.StatusConfirmed {
						confirmed[l.Item] += int64(l.Quantity)
					}
				}
				if units != c.Quantity {
					t.Errorf("cart %s: quantity %d, its lines %d", c.ID, c.Quantity, units)
				}
			}
			for _, o := range res.Orders {
				want := map[string]string{check.StatusConfirmed: "awaiting_payment", check.StatusRejected: "canceled"}[o.Status]
				if o.Display != want {
					t.Errorf("cart %s, %s, shows %q, want %q", o.ID, o.Status, o.Display, want)
				}
			}
			if statuses[check.StatusConfirmed] == 0 || statuses[check.StatusRejected] == 0 {
				t.Errorf("statuses %v: want carts confirmed and rejected", statuses)
			}
			if cfg.MaxLines > 1 && len(sizes) < 2 {
				t.Errorf("every cart had the same number of lines: %v", sizes)
			}
			for i, it := range res.Items {
				if got := res.FinalStocks[i] + confirmed[it.ID]; got != cfg.Stock {
					t.Errorf("item %d: final stock %d + confirmed %d != %d", it.ID, res.FinalStocks[i], confirmed[it.ID], cfg.Stock)
				}
			}
		})
	}
}

func TestRunCartsAgainstABrokenGateway(t *testing.T) {
	tests := []struct {
		name string
		opts gatewaytest.Options
		want []check.Rule
	}{
		{name: "oversells", opts: gatewaytest.Options{Oversell: true},
			want: []check.Rule{check.RuleStockNegative, check.RuleOversold}},
		{name: "leaks what rejected carts reserved", opts: gatewaytest.Options{Leak: true},
			want: []check.Rule{check.RuleStockMismatch}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			gw := gatewaytest.New(t, tt.opts)
			res, err := crowd.Run(context.Background(), cartsConfig(gw.URL))
			if err != nil {
				t.Fatalf("Run: %v", err)
			}
			vs := verifyCarts(res)
			var got []check.Rule
			for _, v := range vs {
				got = append(got, v.Rule)
			}
			if !slices.Equal(got, tt.want) {
				t.Errorf("rules = %v, want %v: %v", got, tt.want, vs)
			}
		})
	}
}

func TestRunCartsIsRepeatable(t *testing.T) {
	gw := gatewaytest.New(t, gatewaytest.Options{})
	lines := func() [][]crowd.Line {
		cfg := cartsConfig(gw.URL)
		cfg.Orders = 40
		res, err := crowd.Run(context.Background(), cfg)
		if err != nil {
			t.Fatalf("Run: %v", err)
		}
		var ls [][]crowd.Line
		for _, o := range res.Orders {
			var l []crowd.Line
			for _, x := range o.Lines {
				l = append(l, crowd.Line{Item: x.Item, Quantity: x.Quantity})
			}
			ls = append(ls, l)
		}
		return ls
	}
	a, b := lines(), lines()
	if !slices.EqualFunc(a, b, slices.Equal) {
		t.Errorf("the same seed chose %v, then %v", a, b)
	}
}

func TestReadStocks(t *testing.T) {
	gw := gatewaytest.New(t, gatewaytest.Options{})
	res, err := crowd.Run(context.Background(), cartsConfig(gw.URL))
	if err != nil {
		t.Fatalf("Run: %v", err)
	}
	want := slices.Clone(res.FinalStocks)
	res.FinalStocks = nil
	if err := res.ReadStocks(context.Background()); err != nil {
		t.Fatalf("ReadStocks: %v", err)
	}
	if !slices.Equal(res.FinalStocks, want) {
		t.Errorf("ReadStocks read %v, Run %v", res.FinalStocks, want)
	}
}

func TestValidateCarts(t *testing.T) {
	base := config("http://127.0.0.1:1")
	base.Items, base.MaxLines, base.Quantity = 5, 3, 0
	if err := base.Validate(); err != nil {
		t.Fatalf("Validate(carts) = %v", err)
	}
	tests := []struct {
		name   string
		change func(*crowd.Config)
		say    string
	}{
		{name: "more lines than items", change: func(c *crowd.Config) { c.MaxLines = 6 }, say: "at most items (5)"},
		{name: "more lines than the contract", change: func(c *crowd.Config) { c.Items, c.MaxLines = 100, 51 }, say: "max-lines must be within 1…50"},
		{name: "negative lines", change: func(c *crowd.Config) { c.MaxLines = -1 }, say: "max-lines"},
		{name: "single-item orders need a quantity", change: func(c *crowd.Config) { c.MaxLines = 0 }, say: "quantity"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := base
			tt.change(&c)
			if err := c.Validate(); err == nil || !strings.Contains(err.Error(), tt.say) {
				t.Errorf("Validate = %v, want an error about %q", err, tt.say)
			}
		})
	}
}

// TestRunAuthenticates runs the crowd in each way of authenticating against a
// fake that checks credentials as the gateway does: the right credential lets
// every order through, from the kind of caller it says; a wrong one stops the
// run at the first refusal, as a run that cannot be made.
func TestRunAuthenticates(t *testing.T) {
	secret := token.Config{Secret: []byte(gatewaytest.JWTSecret)}
	tests := []struct {
		name   string
		opts   gatewaytest.Options
		change func(*crowd.Config)
		// as is the kind of caller every order request must come from; empty
		// when the orders are refused.
		as string
		// refused is true when the gateway refuses the credential.
		refused bool
	}{
		{name: "a token per buyer", as: "customer"},
		{
			name: "tokens with the issuer and audience the gateway checks",
			opts: gatewaytest.Options{Issuer: "shop", Audience: "orderq"},
			change: func(c *crowd.Config) {
				c.Tokens.Issuer, c.Tokens.Audience = "shop", "orderq"
			},
			as: "customer",
		},
		{
			name:   "a storefront's key",
			change: func(c *crowd.Config) { c.Auth, c.APIKey = crowd.AuthStorefront, gatewaytest.APIKey },
			as:     "storefront",
		},
		{
			name:   "none, at a gateway with AUTH=off",
			opts:   gatewaytest.Options{AuthOff: true},
			change: func(c *crowd.Config) { c.Auth = "" },
			as:     "storefront",
		},
		{
			name:    "tokens of another secret",
			change:  func(c *crowd.Config) { c.Tokens.Secret = []byte(strings.Repeat("x", 32)) },
			refused: true,
		},
		{
			name:    "tokens without the audience the gateway checks",
			opts:    gatewaytest.Options{Audience: "orderq"},
			refused: true,
		},
		{
			name:    "a wrong key",
			change:  func(c *crowd.Config) { c.Auth, c.APIKey = crowd.AuthStorefront, "not-the-key" },
			refused: true,
		},
		{
			name:    "none, at a gateway that wants credentials",
			change:  func(c *crowd.Config) { c.Auth = crowd.AuthNone },
			refused: true,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			gw := gatewaytest.New(t, tt.opts)
			cfg := config(gw.URL)
			cfg.Tokens = secret
			cfg.Customers = 30 // fewer buyers than orders: each orders several times
			if tt.change != nil {
				tt.change(&cfg)
			}
			res, err := crowd.Run(context.Background(), cfg)
			if tt.refused {
				var ae *crowd.APIError
				if !errors.As(err, &ae) || ae.Status != http.StatusUnauthorized || !strings.Contains(err.Error(), "refused the buyers' credentials") {
					t.Fatalf("Run = %v, want the 401 that refused the buyers' credentials", err)
				}
				if got := gw.Orders(); got != 0 {
					t.Errorf("the gateway took %d orders", got)
				}
				return
			}
			if err != nil {
				t.Fatalf("Run: %v", err)
			}
			vs := check.VerifyItems(res.Records(nil))
			if len(vs) != 0 || len(res.Errors) != 0 {
				t.Fatalf("violations %v, errors %v", vs, res.Errors)
			}
			auths := gw.Auths()
			if len(auths) != 1 || auths[tt.as] < cfg.Orders {
				t.Errorf("the gateway saw order requests from %v, want at least %d, all from a %s", auths, cfg.Orders, tt.as)
			}
			tokens := gw.Tokens()
			if cfg.Auth != crowd.AuthToken {
				if len(tokens) != 0 || res.Tokens != 0 {
					t.Errorf("tokens sent %v, %d minted; want none", tokens, res.Tokens)
				}
				return
			}
			// One token per buyer, minted once and sent on every request.
			if len(tokens) != cfg.Customers || res.Tokens != cfg.Customers {
				t.Errorf("%d customers sent tokens, %d were minted; want %d", len(tokens), res.Tokens, cfg.Customers)
			}
			for sub, n := range tokens {
				if n != 1 {
					t.Errorf("customer %s sent %d different tokens, want 1", sub, n)
				}
			}
		})
	}
}

func TestValidateAuth(t *testing.T) {
	tests := []struct {
		name   string
		change func(*crowd.Config)
		say    string // "" when valid
	}{
		{name: "token", change: func(c *crowd.Config) {}},
		{name: "storefront", change: func(c *crowd.Config) { c.Auth, c.APIKey = crowd.AuthStorefront, "k" }},
		{name: "none", change: func(c *crowd.Config) { c.Auth = crowd.AuthNone }},
		{name: "unset is none", change: func(c *crowd.Config) { c.Auth = "" }},
		{name: "token without a secret", change: func(c *crowd.Config) { c.Tokens.Secret = nil }, say: "auth token needs"},
		{name: "token with a short secret", change: func(c *crowd.Config) { c.Tokens.Secret = []byte("short") }, say: "at least 32 bytes"},
		{name: "storefront without a key", change: func(c *crowd.Config) { c.Auth = crowd.AuthStorefront }, say: "storefront API key"},
		{name: "unknown", change: func(c *crowd.Config) { c.Auth = "basic" }, say: `auth "basic"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := config("http://127.0.0.1:1")
			tt.change(&c)
			err := c.Validate()
			if tt.say == "" && err != nil {
				t.Fatalf("Validate = %v", err)
			}
			if tt.say != "" && (err == nil || !strings.Contains(err.Error(), tt.say)) {
				t.Errorf("Validate = %v, want an error about %q", err, tt.say)
			}
		})
	}
}
