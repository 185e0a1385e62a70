package httpapi

import (
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

func TestParseRateLimit(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, in string
		want     RateLimit
		wantErr  bool
	}{
		{name: "rate, burst twice it", in: "20", want: RateLimit{PerSecond: 20, Burst: 40}},
		{name: "rate and burst", in: "5,7", want: RateLimit{PerSecond: 5, Burst: 7}},
		{name: "spaces", in: " 5 , 7 ", want: RateLimit{PerSecond: 5, Burst: 7}},
		{name: "zero is no limit", in: "0", want: RateLimit{}},
		{name: "zero with a burst is no limit", in: "0,5", want: RateLimit{}},
		{name: "negative", in: "-1", wantErr: true},
		{name: "fraction", in: "0.5", wantErr: true},
		{name: "word", in: "fast", wantErr: true},
		{name: "empty", in: "", wantErr: true},
		{name: "burst zero", in: "5,0", wantErr: true},
		{name: "burst missing", in: "5,", wantErr: true},
		{name: "too high", in: "1000001", wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseRateLimit(tt.in)
			if (err != nil) != tt.wantErr || got != tt.want {
				t.Errorf("ParseRateLimit(%q) = %+v, %v; want %+v, error %v", tt.in, got, err, tt.want, tt.wantErr)
			}
		})
	}
}

func TestCustomerLimitsRefillAndSeparateCustomers(t *testing.T) {
	t.Parallel()
	cl := newCustomerLimits(RateLimit{PerSecond: 2, Burst: 3}, prometheus.NewRegistry())
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	cl.now = func() time.Time { return now }

	takes := func(customer string, n int) (allowed int) {
		for range n {
			if cl.take(customer) {
				allowed++
			}
		}
		return allowed
	}
	if got := takes("alice", 10); got != 3 {
		t.Errorf("a burst of 10 orders at once: %d allowed, want the burst of 3", got)
	}
	if got := takes("bob", 3); got != 3 {
		t.Errorf("another customer: %d of 3 allowed, want 3 (buckets are per customer)", got)
	}
	now = now.Add(time.Second)
	if got := takes("alice", 10); got != 2 {
		t.Errorf("a second later: %d allowed, want the 2 tokens a second brings", got)
	}
	now = now.Add(time.Hour)
	if got := takes("alice", 10); got != 3 {
		t.Errorf("after an idle hour: %d allowed, want a full burst of 3", got)
	}
}

func TestCustomerLimitsOffWhenZero(t *testing.T) {
	t.Parallel()
	if cl := newCustomerLimits(RateLimit{}, prometheus.NewRegistry()); cl != nil {
		t.Fatal("a zero RateLimit made a limiter")
	}
}

// TestOrderRateLimitPerCustomer places orders through the API: past its
// burst a customer gets 429 too_many_requests with Retry-After and nothing is
// published, while other customers, and requests refused before the limit
// applies, are not affected.
func TestOrderRateLimitPerCustomer(t *testing.T) {
	t.Parallel()
	// A rate so low that no token comes back during the test.
	ts := newTestServer(t, testDB(t), func(c *Config) { c.CustomerRate = RateLimit{PerSecond: 0.001, Burst: 2} })
	item := ts.createItem(t, "limited", 100, 0)
	order := func(customer string) string {
		return fmt.Sprintf(`{"item_id":%d,"quantity":1,"customer_id":%q}`, item.ID, customer)
	}

	// An invalid request is refused before the limit and spends no token.
	rec := ts.serve(t, "POST", "/api/v1/orders", fmt.Sprintf(`{"item_id":%d,"quantity":0,"customer_id":"greedy"}`, item.ID), nil)
	assertError(t, rec, http.StatusUnprocessableEntity, "validation_failed")
	for i := range 2 {
		if rec := ts.serve(t, "POST", "/api/v1/orders", order("greedy"), nil); rec.Code != http.StatusAccepted {
			t.Fatalf("order %d within the burst: %d %s", i, rec.Code, rec.Body)
		}
	}
	rec = ts.serve(t, "POST", "/api/v1/orders", order("greedy"), nil)
	assertError(t, rec, http.StatusTooManyRequests, "too_many_requests")
	if rec.Header().Get("Retry-After") == "" {
		t.Error("429 without Retry-After")
	}
	if rec := ts.serve(t, "POST", "/api/v1/orders", order("patient"), nil); rec.Code != http.StatusAccepted {
		t.Errorf("another customer's order: %d %s", rec.Code, rec.Body)
	}
	if _, published := ts.sub.calls(); len(published) != 3 {
		t.Errorf("%d orders published, want 3 (2 of greedy's, 1 of patient's)", len(published))
	}
}

func TestOrderRateLimitOff(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t, testDB(t))
	item := ts.createItem(t, "unlimited", 100, 0)
	body := fmt.Sprintf(`{"item_id":%d,"quantity":1,"customer_id":"busy"}`, item.ID)
	for i := range 50 {
		if rec := ts.serve(t, "POST", "/api/v1/orders", body, nil); rec.Code != http.StatusAccepted {
			t.Fatalf("order %d without a rate limit: %d %s", i, rec.Code, rec.Body)
		}
	}
}
