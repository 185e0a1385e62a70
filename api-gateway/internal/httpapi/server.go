// Package httpapi is the gateway's HTTP API (CONTRACT.md): items, orders,
// operations and the OpenAPI document. It is the only package that knows gin.
package httpapi

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"log/slog"
	"net/http"
	"runtime/debug"
	"strconv"
	"strings"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/orderq/orderq/api-gateway/internal/results"
	"github.com/orderq/orderq/api-gateway/internal/store"
	"github.com/orderq/orderq/shared/message"
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
	AdminToken  string      // empty: item writes are refused
	MaxInFlight int         // concurrent API requests before 429; 0 means 5000
	// CustomerRate limits each customer's orders (429 past it); zero: none.
	CustomerRate RateLimit
	// Metrics are served at /metrics along with the API's own.
	Metrics []prometheus.Collector
	Log     *slog.Logger
}

// Server serves the API.
type Server struct {
	store       *store.Store
	intake      Submitter
	cache       *results.Cache
	shards      int
	brokerReady func() bool
	adminHash   []byte
	inFlight    chan struct{}
	customers   *customerLimits // nil: no per-customer limit
	log         *slog.Logger
	metrics     *metrics
}

// New returns the API's handler.
func New(cfg Config) http.Handler {
	if cfg.MaxInFlight <= 0 {
		cfg.MaxInFlight = 5000
	}
	s := &Server{
		store: cfg.Store, intake: cfg.Intake, cache: cfg.Cache, shards: cfg.Shards, brokerReady: cfg.BrokerReady,
		inFlight: make(chan struct{}, cfg.MaxInFlight), log: cfg.Log, metrics: newMetrics(),
	}
	s.metrics.registry.MustRegister(cfg.Metrics...)
	s.customers = newCustomerLimits(cfg.CustomerRate, s.metrics.registry)
	if cfg.AdminToken != "" {
		h := sha256.Sum256([]byte(cfg.AdminToken))
		s.adminHash = h[:]
	}
	return s.routes()
}

func (s *Server) routes() *gin.Engine {
	gin.SetMode(gin.ReleaseMode)
	r := gin.New()
	r.HandleMethodNotAllowed = true
	r.ContextWithFallback = true
	r.Use(s.recoverer, s.observe)
	r.NoRoute(func(c *gin.Context) { s.fail(c, newError(http.StatusNotFound, "not_found", "no such endpoint")) })
	r.NoMethod(func(c *gin.Context) {
		s.fail(c, newError(http.StatusMethodNotAllowed, "method_not_allowed", "method not allowed on this endpoint"))
	})

	r.GET("/healthz", s.healthz)
	r.GET("/readyz", s.readyz)
	r.GET("/metrics", gin.WrapH(promhttp.HandlerFor(s.metrics.registry, promhttp.HandlerOpts{})))
	r.GET("/openapi.json", s.openapi)
	r.GET("/docs", s.docs)
	r.GET("/docs/*file", s.docs)

	api := r.Group("/api/v1", s.limit)
	api.GET("/items", s.listItems)
	api.GET("/items/:id", s.getItem)
	admin := api.Group("", s.admin)
	admin.POST("/items", s.createItem)
	admin.PATCH("/items/:id", s.updateItem)
	admin.POST("/items/:id/stock", s.changeStock)
	admin.DELETE("/items/:id", s.deleteItem)
	api.POST("/orders", s.createOrder)
	api.GET("/orders", s.listOrders)
	api.GET("/orders/:id", s.getOrder)
	api.POST("/orders/:id/pay", s.payOrder)
	api.POST("/orders/:id/cancel", s.cancelOrder)
	admin.POST("/orders/:id/status", s.setOrderStatus)
	admin.POST("/orders/:id/lines/:item_id/status", s.setLineStatus)
	return r
}

// limit answers 429 when MaxInFlight requests are being served already: a
// crowd must meet a clear "retry" rather than a queue of goroutines.
func (s *Server) limit(c *gin.Context) {
	select {
	case s.inFlight <- struct{}{}:
		defer func() { <-s.inFlight }()
		c.Next()
	default:
		s.metrics.rejected.Inc()
		s.fail(c, newError(http.StatusTooManyRequests, "too_many_requests", "the gateway is at capacity; retry shortly"))
	}
}

// admin lets a request through only with the admin token, compared in
// constant time.
func (s *Server) admin(c *gin.Context) {
	if s.adminHash == nil {
		s.unauthorized(c, "item administration is disabled: the gateway has no ADMIN_TOKEN")
		return
	}
	// The scheme name is case-insensitive (RFC 9110, section 11.1).
	scheme, token, _ := strings.Cut(c.GetHeader("Authorization"), " ")
	ok := strings.EqualFold(scheme, "Bearer")
	h := sha256.Sum256([]byte(token))
	if !ok || subtle.ConstantTimeCompare(h[:], s.adminHash) != 1 {
		s.unauthorized(c, "missing or wrong admin token")
		return
	}
	c.Next()
}

// unauthorized answers 401. Every 401 names the scheme that would be accepted
// (RFC 9110, section 15.5.2), also while no token is configured.
func (s *Server) unauthorized(c *gin.Context, message string) {
	c.Header("WWW-Authenticate", `Bearer realm="orderq"`)
	s.fail(c, newError(http.StatusUnauthorized, "unauthorized", "%s", message))
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
}

func newMetrics() *metrics {
	m := &metrics{
		registry: prometheus.NewRegistry(),
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
	m.registry.MustRegister(m.requests, m.seconds, m.accepted, m.rejected,
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
