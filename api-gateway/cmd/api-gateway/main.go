// Command api-gateway is orderq's HTTP front door: it administers items, takes
// orders, publishes them to their item's shard queue with publisher confirms,
// and serves their results.
package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	amqp "github.com/rabbitmq/amqp091-go"

	"github.com/orderq/orderq/api-gateway/internal/auth"
	"github.com/orderq/orderq/api-gateway/internal/httpapi"
	"github.com/orderq/orderq/api-gateway/internal/intake"
	"github.com/orderq/orderq/api-gateway/internal/results"
	"github.com/orderq/orderq/api-gateway/internal/store"
	"github.com/orderq/orderq/shared/cli"
	"github.com/orderq/orderq/shared/config"
	"github.com/orderq/orderq/shared/database"
	"github.com/orderq/orderq/shared/deployment"
	"github.com/orderq/orderq/shared/lifetime"
	"github.com/orderq/orderq/shared/logging"
	"github.com/orderq/orderq/shared/mq"
	"github.com/orderq/orderq/shared/ops"
	"github.com/orderq/orderq/shared/tracing"
)

// Config is the gateway's configuration.
type Config struct {
	config.Common
	HTTPAddr    string
	MetricsAddr string // /metrics, never on HTTPAddr
	DebugAddr   string // pprof, off when empty
	Auth        auth.Config
	// OrderIDSecret keys the order ids derived from Idempotency-Keys.
	OrderIDSecret []byte
	// PaymentWebhookSecret signs the payment provider's webhook; empty: off.
	PaymentWebhookSecret []byte
	MaxInFlight          int
	MaxWaiters           int
	// PublishLinger is how long a shard's message of orders waits for more
	// after its first.
	PublishLinger time.Duration
	// CustomerRate is RATE_LIMIT_PER_CUSTOMER: orders per second and burst
	// per customer.
	CustomerRate httpapi.RateLimit
}

func loadConfig(getenv func(string) string) (Config, error) {
	common, err := config.LoadCommon(getenv)
	if err != nil {
		return Config{}, err
	}
	c := Config{Common: common, HTTPAddr: config.String(getenv, "HTTP_ADDR", ":8080"), DebugAddr: getenv("DEBUG_ADDR"),
		MetricsAddr: config.String(getenv, "METRICS_ADDR", ":9090")}
	if c.Auth, err = loadAuth(getenv); err != nil {
		return c, err
	}
	c.OrderIDSecret = []byte(getenv("ORDER_ID_SECRET"))
	switch {
	case len(c.OrderIDSecret) == 0 && c.Auth.Open:
		c.OrderIDSecret = []byte(openOrderIDSecret)
	case len(c.OrderIDSecret) < auth.MinSecretLen:
		return c, fmt.Errorf("ORDER_ID_SECRET must be set, at least %d bytes: it keys the order ids of Idempotency-Keys, "+
			"and every gateway needs the same one", auth.MinSecretLen)
	}
	c.PaymentWebhookSecret = []byte(getenv("PAYMENT_WEBHOOK_SECRET"))
	if n := len(c.PaymentWebhookSecret); n > 0 && n < auth.MinSecretLen {
		return c, fmt.Errorf("PAYMENT_WEBHOOK_SECRET must be at least %d bytes", auth.MinSecretLen)
	}
	if c.MaxInFlight, err = config.Int(getenv, "MAX_IN_FLIGHT", 5000, 1, 1_000_000); err != nil {
		return c, err
	}
	if c.MaxWaiters, err = config.Int(getenv, "MAX_WAITERS", 1000, 1, 1_000_000); err != nil {
		return c, err
	}
	if c.PublishLinger, err = config.Duration(getenv, "PUBLISH_LINGER", 5*time.Millisecond, 0, time.Second); err != nil {
		return c, err
	}
	if c.CustomerRate, err = httpapi.ParseRateLimit(config.String(getenv, "RATE_LIMIT_PER_CUSTOMER", "20")); err != nil {
		return c, fmt.Errorf("RATE_LIMIT_PER_CUSTOMER=%w", err)
	}
	return c, nil
}

// openOrderIDSecret keys order ids under AUTH=off when ORDER_ID_SECRET is
// unset: a local try has no secret to keep.
const openOrderIDSecret = "orderq-auth-off-order-ids-are-not-secret"

// loadAuth reads which credentials the gateway accepts.
func loadAuth(getenv func(string) string) (auth.Config, error) {
	a := auth.Config{
		AdminToken: getenv("ADMIN_TOKEN"), JWTSecret: []byte(getenv("CUSTOMER_JWT_SECRET")),
		JWKSFile: getenv("CUSTOMER_JWKS_FILE"), JWKSURL: getenv("CUSTOMER_JWKS_URL"),
		Issuer: getenv("CUSTOMER_JWT_ISSUER"), Audience: getenv("CUSTOMER_JWT_AUDIENCE"),
	}
	for k := range strings.SplitSeq(getenv("STOREFRONT_API_KEYS"), ",") {
		if k = strings.TrimSpace(k); k != "" {
			a.StorefrontKeys = append(a.StorefrontKeys, k)
		}
	}
	switch v := getenv("AUTH"); v {
	case "", "on":
	case "off":
		a.Open = true
	default:
		return a, fmt.Errorf("AUTH=%q: want on (the default) or off", v)
	}
	return a, a.Validate()
}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	// The first signal starts the shutdown; a second one ends the program at once.
	context.AfterFunc(ctx, stop)
	log := logging.Stdout("api-gateway", os.Getenv)
	config.TuneGC(os.Getenv)
	if err := run(ctx, log, os.Getenv); err != nil {
		log.Error("api-gateway stopped", "err", err)
		os.Exit(cli.Code(err))
	}
}

// Bounds of the HTTP server's shutdown. With waiting requests answered at
// once when it begins, the slowest request left is one whose lookup
// (10 s at most) and publish (a 5 s confirm timeout) both take their
// longest: httpDrain lets it finish. The connections still open then are
// cut, which ends their requests' contexts; httpCut bounds the wait for
// those requests to return.
const (
	httpDrain = 20 * time.Second
	httpCut   = 5 * time.Second
)

// run serves until ctx is done, then shuts down in order (see
// lifetime.Group): the HTTP server stops taking requests and finishes those
// in flight, the intake publishes what it holds, then the results
// subscription, the broker connection, the debug and metrics servers and the
// database stop. A goroutine that fails stops the gateway the same way, and
// run returns its error.
func run(ctx context.Context, log *slog.Logger, getenv func(string) string) error {
	cfg, err := loadConfig(getenv)
	if err != nil {
		// A bad setting is a usage error (exit 2); anything else stopped
		// work that could not be done (exit 3), as for every orderq command.
		return cli.UsageError{Err: fmt.Errorf("config: %w", err), Help: "docs/api.md"}
	}
	if cfg.Auth.Open {
		log.Warn("AUTH=off: requests without a credential act as a storefront, for any customer; never expose this gateway")
	}
	log.Info("starting", "config", cfg.Common, "http_addr", cfg.HTTPAddr, "metrics_addr", cfg.MetricsAddr,
		"debug_addr", cfg.DebugAddr, "admin_token_set", cfg.Auth.AdminToken != "",
		"storefront_keys", len(cfg.Auth.StorefrontKeys), "customer_tokens", cfg.Auth.Customers(),
		"payment_webhook", len(cfg.PaymentWebhookSecret) > 0, "max_waiters", cfg.MaxWaiters,
		"rate_limit_per_customer", cfg.CustomerRate.PerSecond, "rate_limit_burst", cfg.CustomerRate.Burst,
		"publish_linger", cfg.PublishLinger.String())

	openCtx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	db, err := database.Open(openCtx, cfg.MySQLDSN, log, database.Options{})
	if err != nil {
		return err
	}
	// Everything run starts from here on is stopped by g, last started
	// first; an early return stops what was started.
	g := lifetime.New(log)
	defer g.Stop()
	g.Defer("database", func() error { return database.Close(db) })
	if err := deployment.Check(openCtx, db, cfg.Shards); err != nil {
		return err
	}
	tracer, closeTracing, err := tracing.Setup(ctx, cfg.Tracing, "api-gateway", log)
	if err != nil {
		return err
	}
	g.Defer("tracing", closeTracing)
	st := store.New(db)
	authn, err := auth.New(ctx, cfg.Auth, log)
	if err != nil {
		return fmt.Errorf("auth: %w", err)
	}

	// Metrics and profiles on ports of their own, never the public one.
	reg := prometheus.NewRegistry()
	metricsLn, err := ops.Listen(cfg.MetricsAddr)
	if err != nil {
		return fmt.Errorf("METRICS_ADDR: %w", err)
	}
	log.Info("metrics listening", "addr", metricsLn.Addr().String())
	metrics := http.NewServeMux()
	metrics.Handle("GET /metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	g.Go("metrics server", func(ctx context.Context) error { return ops.Serve(ctx, metricsLn, metrics) })
	if cfg.DebugAddr != "" {
		debugLn, err := ops.Listen(cfg.DebugAddr)
		if err != nil {
			return fmt.Errorf("DEBUG_ADDR: %w", err)
		}
		log.Info("debug listening", "addr", debugLn.Addr().String())
		g.Go("debug server", func(ctx context.Context) error { return ops.Serve(ctx, debugLn, ops.Profiles()) })
	}

	topology := cfg.Topology()
	pub := mq.NewPublisher(mq.PublisherConfig{
		URL: cfg.AMQPURL, Name: "orderq-gateway " + cfg.Instance,
		Setup: func(conn *amqp.Connection) error { return mq.DeclareTopology(conn, topology, log) },
	}, log)
	g.Go("broker connection", func(ctx context.Context) error { pub.Run(ctx); return nil })
	cache := results.NewCache()
	g.Go("results subscription", func(ctx context.Context) error {
		results.Subscribe(ctx, cfg.AMQPURL, cfg.Instance, cache, tracer, log)
		return nil
	})
	in := intake.New(pub, intake.Config{Shards: cfg.Shards, Linger: cfg.PublishLinger, Tracer: tracer})
	g.Go("intake", func(ctx context.Context) error { in.Run(ctx); return nil })
	// orderqctl shards change pauses the intake, and the gateway stops once
	// the count changed: it must restart with the new one.
	g.Go("deployment watch", func(ctx context.Context) error {
		return deployment.Watch(ctx, db, cfg.Shards, log, func(open bool) {
			in.SetOpen(open)
			log.Info("intake", "open", open)
		})
	})

	reg.MustRegister(in.Collectors()...)
	reg.MustRegister(ops.BuildInfo("api-gateway", cfg.Instance))
	requests := newInflight()
	srv := &http.Server{
		Handler: requests.track(httpapi.New(httpapi.Config{
			Store: st, Intake: in, Cache: cache, Shards: cfg.Shards, BrokerReady: pub.Ready,
			Auth: authn, OrderIDSecret: cfg.OrderIDSecret, PaymentWebhookSecret: cfg.PaymentWebhookSecret,
			MaxInFlight: cfg.MaxInFlight, MaxWaiters: cfg.MaxWaiters, CustomerRate: cfg.CustomerRate,
			Registry: reg, Tracer: tracer, Log: log,
		})),
		ReadHeaderTimeout: 5 * time.Second,
		// With the 4 KiB net/http adds, at most 16 KiB of headers; past that 431.
		MaxHeaderBytes: 12 << 10,
		ReadTimeout:    10 * time.Second,
		WriteTimeout:   45 * time.Second, // longer than the longest wait (30 s)
		IdleTimeout:    2 * time.Minute,
	}
	// Requests waiting for an outcome answer at once with what is known.
	srv.RegisterOnShutdown(cache.Close)
	ln, err := net.Listen("tcp", cfg.HTTPAddr)
	if err != nil {
		return fmt.Errorf("listen: %w", err)
	}
	log.Info("listening", "addr", ln.Addr().String())
	g.Go("http", func(ctx context.Context) error { return serve(ctx, srv, ln, requests) })
	return g.Wait(ctx)
}

// serve serves the API on ln until ctx is done or the server fails, then
// shuts it down: no new connection is taken, and the requests in flight are
// finished, within httpDrain; the connections left are then cut, and serve
// waits for their requests to return, within httpCut.
func serve(ctx context.Context, srv *http.Server, ln net.Listener, requests *inflight) error {
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	var err error
	select {
	case err = <-served:
		err = fmt.Errorf("serve: %w", err)
	case <-ctx.Done():
	}
	drain, cancel := context.WithTimeout(context.Background(), httpDrain)
	defer cancel()
	if serr := srv.Shutdown(drain); serr != nil {
		srv.Close()
		err = errors.Join(err, fmt.Errorf("requests still in flight %s after the shutdown began: %w", httpDrain, serr))
	}
	if ctx.Err() != nil {
		<-served // http.ErrServerClosed, at once
	}
	select {
	case <-requests.close():
	case <-time.After(httpCut):
		err = errors.Join(err, fmt.Errorf("requests still running %s after their connections were cut", httpCut))
	}
	return err
}

// inflight counts the requests being served, so that the shutdown knows when
// the last one returned even when the server gave up waiting for them (a
// request runs on after its connection is cut, until it notices). Once
// closed it refuses further requests, so that none starts after the wait.
// Atomics, not a mutex: every request passes here twice.
type inflight struct {
	n      atomic.Int64
	closed atomic.Bool
	idle   chan struct{} // closed once closed and n is 0
	once   sync.Once
}

func newInflight() *inflight { return &inflight{idle: make(chan struct{})} }

func (f *inflight) track(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !f.enter() {
			w.Header().Set("Retry-After", "1")
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusServiceUnavailable)
			w.Write([]byte(`{"error":{"code":"unavailable","message":"the gateway is shutting down; retry shortly"}}`))
			return
		}
		defer f.leave()
		h.ServeHTTP(w, r)
	})
}

// enter counts a request before it looks at closed, so that close, which sets
// closed before it looks at the count, never misses one.
func (f *inflight) enter() bool {
	f.n.Add(1)
	if f.closed.Load() {
		f.leave()
		return false
	}
	return true
}

func (f *inflight) leave() {
	if f.n.Add(-1) == 0 && f.closed.Load() {
		f.once.Do(func() { close(f.idle) })
	}
}

// close refuses further requests and returns a channel closed once none is
// being served.
func (f *inflight) close() <-chan struct{} {
	f.closed.Store(true)
	if f.n.Load() == 0 {
		f.once.Do(func() { close(f.idle) })
	}
	return f.idle
}
