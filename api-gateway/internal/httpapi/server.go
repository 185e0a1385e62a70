// Package httpapi is the gateway's HTTP API (openapi.json): items, orders,
// operations and the OpenAPI document. It is the only package that knows gin.
package httpapi

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"runtime/debug"
	"strconv"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/orderq/orderq/api-gateway/internal/auth"
	"github.com/orderq/orderq/api-gateway/internal/results"
	"github.com/orderq/orderq/api-gateway/internal/store"
	"github.com/orderq/orderq/shared/message"
	"github.com/orderq/orderq/shared/tracing"
)

// Submitter publishes a command and returns once the broker confirmed it, and
// announces order changes to every gateway instance.
type Submitter interface {
	Submit(ctx context.Context, cmd message.Command) error
	Announce(ctx context.Context, rs []message.Result) error
}

// Config is what the API needs.
type Config struct {
	Store       *store.Store
	Intake      Submitter
	Cache       *results.Cache
	Shards      int
	BrokerReady func() bool // connected and not blocked
	// Auth tells who each request comes from.
	Auth *auth.Authenticator
	// OrderIDSecret keys the order ids derived from Idempotency-Keys.
	OrderIDSecret []byte
	// PaymentWebhookSecret keys the payment provider's webhook signatures;
	// empty: the webhook is disabled (401).
	PaymentWebhookSecret []byte
	MaxInFlight          int // concurrent API requests before 429; 0 means 5000
	// MaxWaiters bounds the requests waiting for an order to be decided (long
	// polls and Prefer: wait), apart from MaxInFlight; 0 means 1000.
	MaxWaiters int
	// CustomerRate limits each customer's orders (429 past it); zero: none.
	CustomerRate RateLimit
	// Registry receives the API's metrics. The caller serves it, on a port of
	// its own: metrics describe the shop's traffic and are not the public's.
	// Nil: a registry nobody serves.
	Registry *prometheus.Registry
	// Tracer, when set, gives each API request a server span
	// (traceRequest); nil: off.
	Tracer *tracing.Tracer
	Log    *slog.Logger
}

// Server serves the API.
type Server struct {
	store       *store.Store
	intake      Submitter
	cache       *results.Cache
	shards      int
	brokerReady func() bool
	auth        *auth.Authenticator
	orderIDKey  []byte
	// webhookSecret is Config.PaymentWebhookSecret.
	webhookSecret []byte
	inFlight      chan struct{}
	waiters       chan struct{}
	customers     *customerLimits // nil: no per-customer limit
	log           *slog.Logger
	metrics       *metrics
	tracer        *tracing.Tracer // nil: off
}

// New returns the API's handler.
func New(cfg Config) http.Handler {
	if cfg.MaxInFlight <= 0 {
		cfg.MaxInFlight = 5000
	}
	if cfg.MaxWaiters <= 0 {
		cfg.MaxWaiters = 1000
	}
	s := &Server{
		store: cfg.Store, intake: cfg.Intake, cache: cfg.Cache, shards: cfg.Shards, brokerReady: cfg.BrokerReady,
		auth: cfg.Auth, orderIDKey: cfg.OrderIDSecret, webhookSecret: cfg.PaymentWebhookSecret,
		inFlight: make(chan struct{}, cfg.MaxInFlight), waiters: make(chan struct{}, cfg.MaxWaiters),
		log: cfg.Log, metrics: newMetrics(cfg.Registry), tracer: cfg.Tracer,
	}
	// Read at each scrape from the places taken, so the hot path pays nothing.
	s.metrics.registry.MustRegister(
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "orderq_gateway_requests_in_flight",
			Help: "API requests being served, of MAX_IN_FLIGHT; a request waiting for an order's outcome counts among the waiters instead.",
		}, func() float64 { return float64(len(s.inFlight)) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "orderq_gateway_waiters",
			Help: "Requests waiting for an order to be decided (long polls and Prefer: wait), of MAX_WAITERS.",
		}, func() float64 { return float64(len(s.waiters)) }))
	s.customers = newCustomerLimits(cfg.CustomerRate, s.metrics.registry)
	return s.routes()
}

func (s *Server) routes() *gin.Engine {
	gin.SetMode(gin.ReleaseMode)
	r := gin.New()
	r.HandleMethodNotAllowed = true
	r.ContextWithFallback = true
	if s.tracer != nil {
		r.Use(s.traceRequest)
	}
	r.Use(s.recoverer, s.observe)
	r.NoRoute(func(c *gin.Context) { s.fail(c, newError(http.StatusNotFound, "not_found", "no such endpoint")) })
	r.NoMethod(func(c *gin.Context) {
		s.fail(c, newError(http.StatusMethodNotAllowed, "method_not_allowed", "method not allowed on this endpoint"))
	})

	r.GET("/healthz", s.healthz)
	r.GET("/readyz", s.readyz)
	r.GET("/openapi.json", s.openapi)
	r.GET("/docs", s.docs)
	r.GET("/docs/*file", s.docs)

	// Who may do what: anyone reads items; customers, storefronts and admins
	// order (orders.go says whose orders each may see); admins alone
	// administer items and move orders.
	api := r.Group("/api/v1", s.limit, s.identify)
	api.GET("/items", s.listItems)
	api.GET("/items/:id", s.getItem)
	admin := api.Group("", s.require(auth.Admin))
	admin.POST("/items", s.createItem)
	admin.PATCH("/items/:id", s.updateItem)
	admin.POST("/items/:id/stock", s.changeStock)
	admin.DELETE("/items/:id", s.deleteItem)
	orders := api.Group("", s.require(auth.Customer))
	orders.POST("/orders", s.createOrder)
	orders.GET("/orders", s.listOrders)
	orders.GET("/orders/:id", s.getOrder)
	orders.POST("/orders/:id/cancel", s.cancelOrder)
	admin.POST("/orders/:id/pay", s.payOrder)
	admin.POST("/orders/:id/status", s.setOrderStatus)
	admin.POST("/orders/:id/lines/:item_id/status", s.setLineStatus)
	admin.POST("/orders/:id/lines/:item_id/units/:unit/status", s.setUnitStatus)
	admin.POST("/orders/:id/units/status", s.setUnitsStatus)
	api.POST("/payments/webhook", s.paymentWebhook)
	admin.GET("/payments/refunds", s.listRefunds)
	return r
}

// limit answers 429 when MaxInFlight requests are being served already: a
// crowd must meet a clear "retry" rather than a queue of goroutines. A request
// that goes on to wait for an order gives its place back first (see wait).
func (s *Server) limit(c *gin.Context) {
	select {
	case s.inFlight <- struct{}{}:
		held := true
		c.Set(ctxLeave, func() {
			if held {
				held = false
				<-s.inFlight
			}
		})
		defer func() {
			if held {
				<-s.inFlight
			}
		}()
		c.Next()
	default:
		s.metrics.rejected.Inc()
		s.fail(c, newError(http.StatusTooManyRequests, "too_many_requests", "the gateway is at capacity; retry shortly"))
	}
}

// Keys of what a request carries in its gin context.
const (
	ctxIdentity = "orderq.identity"
	ctxLeave    = "orderq.leave_in_flight"
	ctxLang     = "orderq.lang"
)

// identify finds who sent the request. A credential that is sent must be
// valid, whatever the route: a wrong one is 401, never taken for anonymous.
func (s *Server) identify(c *gin.Context) {
	id, err := s.auth.Identify(c.GetHeader("Authorization"), c.GetHeader("X-API-Key"))
	if err != nil {
		s.unauthorized(c, err)
		return
	}
	c.Set(ctxIdentity, id)
	c.Next()
}

// identity returns who sent the request (identify ran first).
func identity(c *gin.Context) auth.Identity {
	id, _ := c.Get(ctxIdentity)
	return id.(auth.Identity)
}

// require lets a request through only from role or a more trusted one:
// without a credential it is 401, with one that does not reach role 403.
func (s *Server) require(role auth.Role) gin.HandlerFunc {
	return func(c *gin.Context) {
		switch id := identity(c); {
		case id.Role >= role:
			c.Next()
		case id.Role == auth.Anonymous:
			s.unauthorized(c, nil)
		default:
			s.fail(c, forbidden("this needs the %s credential; a %s may not do it", role, id.Role))
		}
	}
}

func forbidden(format string, args ...any) *apiError {
	return newError(http.StatusForbidden, "forbidden", format, args...)
}

// unauthorized answers 401 for a missing credential (err nil) or a wrong one.
// Every 401 names the scheme that would be accepted (RFC 9110, section
// 15.5.2; RFC 6750, section 3, for the error of a wrong token). Why a
// credential was refused is logged at debug level, never told the caller.
func (s *Server) unauthorized(c *gin.Context, err error) {
	if err == nil {
		c.Header("WWW-Authenticate", `Bearer realm="orderq"`)
		s.fail(c, newError(http.StatusUnauthorized, "unauthorized",
			"this needs a credential: Authorization: Bearer <token>, or X-API-Key"))
		return
	}
	s.log.Debug("credential refused", "path", c.Request.URL.Path, "err", err)
	c.Header("WWW-Authenticate", `Bearer realm="orderq", error="invalid_token"`)
	msg := "the credential is not valid"
	switch {
	case errors.Is(err, auth.ErrAmbiguous):
		msg = "send one credential: Authorization or X-API-Key, not both"
	case errors.Is(err, auth.ErrExpired):
		msg = "the token has expired"
	}
	s.fail(c, newError(http.StatusUnauthorized, "unauthorized", "%s", msg))
}

func (s *Server) recoverer(c *gin.Context) {
	defer func() {
		if p := recover(); p != nil {
			if p == http.ErrAbortHandler {
				panic(p)
			}
			s.log.Error("panic serving request", "method", c.Request.Method, "path", c.Request.URL.Path,
				"panic", p, "stack", string(debug.Stack()))
			s.fail(c, newError(http.StatusInternalServerError, "internal", "internal error"))
		}
	}()
	c.Next()
}

// observe counts and times requests by route, and logs them: failures always,
// the rest at debug level (at ten thousand orders a second an access log line
// each would cost more than the order).
func (s *Server) observe(c *gin.Context) {
	start := time.Now()
	c.Next()
	route := c.FullPath()
	if route == "" {
		route = "unmatched"
	}
	status := c.Writer.Status()
	elapsed := time.Since(start)
	s.metrics.requests.WithLabelValues(c.Request.Method, route, strconv.Itoa(status)).Inc()
	s.metrics.seconds.WithLabelValues(c.Request.Method, route).Observe(elapsed.Seconds())
	// 503s are logged once, with their cause, where they are decided.
	level := slog.LevelDebug
	if status >= 500 && status != http.StatusServiceUnavailable {
		level = slog.LevelError
	}
	if ctx := c.Request.Context(); s.log.Enabled(ctx, level) {
		s.log.Log(ctx, level, "request", "method", c.Request.Method, "path", c.Request.URL.Path,
			"status", status, "duration_ms", float64(elapsed.Microseconds())/1000)
	}
}

type metrics struct {
	registry *prometheus.Registry
	requests *prometheus.CounterVec
	seconds  *prometheus.HistogramVec
	accepted prometheus.Counter
	rejected prometheus.Counter
	// Requests that found every waiter's place taken and answered without
	// waiting.
	waitersFull prometheus.Counter
	// Payment events that flagged their order refund_required.
	refundsRequired prometheus.Counter
	// Orders canceled through the API.
	canceled prometheus.Counter
}

func newMetrics(reg *prometheus.Registry) *metrics {
	if reg == nil {
		reg = prometheus.NewRegistry()
	}
	m := &metrics{
		registry: reg,
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "orderq_gateway_requests_total", Help: "HTTP requests by method, route and status.",
		}, []string{"method", "route", "status"}),
		seconds: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "orderq_gateway_request_seconds", Help: "HTTP request duration by method and route.",
			Buckets: prometheus.ExponentialBuckets(0.0005, 2, 16),
		}, []string{"method", "route"}),
		accepted: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "orderq_gateway_orders_accepted_total", Help: "Orders confirmed by the broker and answered 202 or 200.",
		}),
		rejected: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "orderq_gateway_capacity_rejections_total", Help: "Requests answered 429 because the gateway was at capacity.",
		}),
	}
	m.waitersFull = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "orderq_gateway_waiters_full_total", Help: "Requests that answered without waiting because MAX_WAITERS requests were waiting.",
	})
	m.refundsRequired = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "orderq_gateway_refunds_required_total", Help: "Payment events that flagged their order refund_required (money to give back).",
	})
	m.canceled = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "orderq_gateway_orders_canceled_total", Help: "Orders canceled through the API: by their customer or storefront while unpaid, or by an operator.",
	})
	m.registry.MustRegister(m.requests, m.seconds, m.accepted, m.rejected, m.waitersFull, m.refundsRequired, m.canceled,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}

func (s *Server) healthz(c *gin.Context) { c.JSON(http.StatusOK, gin.H{"status": "ok"}) }

// readyz is 200 only while the broker takes messages and the database answers.
func (s *Server) readyz(c *gin.Context) {
	ctx, cancel := context.WithTimeout(c.Request.Context(), 2*time.Second)
	defer cancel()
	checks := gin.H{"broker": "ok", "database": "ok"}
	ready := true
	if !s.brokerReady() {
		checks["broker"], ready = "unavailable", false
	}
	if err := s.store.Ping(ctx); err != nil {
		checks["database"], ready = "unavailable", false
	}
	if !ready {
		c.Header("Retry-After", "1")
		c.JSON(http.StatusServiceUnavailable, gin.H{"status": "unavailable", "checks": checks})
		return
	}
	c.JSON(http.StatusOK, gin.H{"status": "ok", "checks": checks})
}
