package httpapi

import (
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"golang.org/x/time/rate"

	"github.com/orderq/orderq/api-gateway/internal/recent"
)

// RateLimit bounds the orders one customer may place: PerSecond on average,
// Burst at once. The zero value is no limit.
type RateLimit struct {
	PerSecond float64
	Burst     int
}

// ParseRateLimit reads RATE_LIMIT_PER_CUSTOMER: "N" is N orders a second with
// bursts of 2N, "N,B" sets the burst too, "0" is no limit.
func ParseRateLimit(v string) (RateLimit, error) {
	perSecond, burst, hasBurst := strings.Cut(strings.TrimSpace(v), ",")
	n, err := strconv.Atoi(strings.TrimSpace(perSecond))
	if err != nil || n < 0 || n > 1_000_000 {
		return RateLimit{}, fmt.Errorf("%q: want orders per second, a whole number from 0 (no limit) to 1000000, optionally followed by \",burst\"", v)
	}
	if n == 0 {
		return RateLimit{}, nil
	}
	l := RateLimit{PerSecond: float64(n), Burst: 2 * n}
	if hasBurst {
		b, err := strconv.Atoi(strings.TrimSpace(burst))
		if err != nil || b < 1 || b > 1_000_000 {
			return RateLimit{}, fmt.Errorf("%q: burst must be a whole number from 1 to 1000000", v)
		}
		l.Burst = b
	}
	return l, nil
}

// maxLimitedCustomers bounds the limiters kept: past it the least recently
// seen customer's is dropped (it starts full again if that customer returns).
const maxLimitedCustomers = 10_000

// customerLimits holds a token bucket per customer. A bucket is dropped once
// it has been idle long enough to be full again, so dropping it changes
// nothing; the LRU bounds the memory a crowd of distinct ids can take (the
// gateway's MaxInFlight bounds their rate).
type customerLimits struct {
	limit    RateLimit
	now      func() time.Time
	rejected prometheus.Counter

	mu      sync.Mutex // makes get-or-create one step
	buckets *recent.Cache[string, *rate.Limiter]
}

func newCustomerLimits(l RateLimit, reg prometheus.Registerer) *customerLimits {
	if l.PerSecond <= 0 {
		return nil
	}
	rejected := prometheus.NewCounter(prometheus.CounterOpts{
		Name: "orderq_gateway_customer_rate_rejections_total",
		Help: "Orders answered 429 because their customer exceeded RATE_LIMIT_PER_CUSTOMER.",
	})
	reg.MustRegister(rejected)
	l.Burst = max(l.Burst, 1)
	// Idle this long, a bucket is full again.
	refill := time.Duration(float64(l.Burst) / l.PerSecond * float64(time.Second))
	ttl := refill + time.Second
	return &customerLimits{limit: l, now: time.Now, rejected: rejected,
		buckets: recent.New[string, *rate.Limiter](maxLimitedCustomers, ttl)}
}

// take spends one token of customer's bucket and reports whether there was one.
func (cl *customerLimits) take(customer string) bool {
	cl.mu.Lock()
	b, ok := cl.buckets.Get(customer)
	if !ok {
		b = rate.NewLimiter(rate.Limit(cl.limit.PerSecond), cl.limit.Burst)
	}
	// Adding again restarts the idle time: a customer who keeps ordering
	// keeps an empty bucket, never a fresh one.
	cl.buckets.Add(customer, b)
	cl.mu.Unlock()
	return b.AllowN(cl.now(), 1)
}

// allow answers whether customerID may place another order now; if not, the
// error is the 429 to send (fail adds Retry-After: with at least one token a
// second the next one comes within it).
func (s *Server) allow(customerID string) error {
	if s.customers == nil || s.customers.take(customerID) {
		return nil
	}
	s.customers.rejected.Inc()
	return newError(http.StatusTooManyRequests, "too_many_requests",
		"too many orders from this customer; retry shortly")
}
