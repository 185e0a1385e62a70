package crowd_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/orderq/orderq/loadtest/internal/check"
	"github.com/orderq/orderq/loadtest/internal/crowd"
	"github.com/orderq/orderq/loadtest/internal/gatewaytest"
)

// config is a small, quick flash sale against url.
func config(url string) crowd.Config {
	return crowd.Config{
		URL: url, AdminToken: "secret",
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
			if vs := check.Verify(res.Record(nil)); len(vs) != 0 {
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
			if want := cfg.Stock - tt.confirmed; res.FinalStock != want {
				t.Errorf("final stock %d, want %d", res.FinalStock, want)
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
			vs := check.Verify(res.Record(nil))
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
