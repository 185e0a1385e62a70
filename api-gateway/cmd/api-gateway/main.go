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
	"net/http/pprof"
	"os"
	"os/signal"
	"syscall"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"

	"github.com/orderq/orderq/api-gateway/internal/httpapi"
	"github.com/orderq/orderq/api-gateway/internal/intake"
	"github.com/orderq/orderq/api-gateway/internal/results"
	"github.com/orderq/orderq/api-gateway/internal/store"
	"github.com/orderq/orderq/shared/config"
	"github.com/orderq/orderq/shared/database"
	"github.com/orderq/orderq/shared/logging"
	"github.com/orderq/orderq/shared/mq"
)

// Config is the gateway's configuration.
type Config struct {
	config.Common
	HTTPAddr    string
	DebugAddr   string // pprof, off when empty
	AdminToken  string
	MaxInFlight int
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
	c := Config{Common: common, HTTPAddr: config.String(getenv, "HTTP_ADDR", ":8080"), AdminToken: getenv("ADMIN_TOKEN"),
		DebugAddr: getenv("DEBUG_ADDR")}
	if c.MaxInFlight, err = config.Int(getenv, "MAX_IN_FLIGHT", 5000, 1, 1_000_000); err != nil {
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

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	log := logging.Stdout("api-gateway", os.Getenv)
	config.TuneGC(os.Getenv)
	if err := run(ctx, log, os.Getenv); err != nil {
		log.Error("api-gateway stopped", "err", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, log *slog.Logger, getenv func(string) string) error {
	cfg, err := loadConfig(getenv)
	if err != nil {
		return fmt.Errorf("config: %w", err)
	}
	log.Info("starting", "config", cfg.Common, "http_addr", cfg.HTTPAddr, "admin_token_set", cfg.AdminToken != "",
		"rate_limit_per_customer", cfg.CustomerRate.PerSecond, "rate_limit_burst", cfg.CustomerRate.Burst,
		"publish_linger", cfg.PublishLinger.String())

	openCtx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	db, err := database.Open(openCtx, cfg.MySQLDSN, log, database.Options{})
	if err != nil {
		return err
	}
	defer database.Close(db)
	if err := database.CheckShards(openCtx, db, cfg.Shards); err != nil {
		return err
	}
	st := store.New(db)

	// Background work outlives the HTTP server's shutdown, so requests in
	// flight can still publish and wait; it stops after the server.
	bg, stopBG := context.WithCancel(context.WithoutCancel(ctx))
	defer stopBG()
	host, _ := os.Hostname()
	pub := mq.NewPublisher(mq.PublisherConfig{
		URL: cfg.AMQPURL, Name: "orderq-gateway " + host,
		Setup: func(ch *amqp.Channel) error { return mq.DeclareTopology(ch, cfg.Shards) },
	}, log)
	go pub.Run(bg)
	in := intake.New(pub, intake.Config{Shards: cfg.Shards, Linger: cfg.PublishLinger})
	go in.Run(bg)
	cache := results.NewCache()
	go results.Subscribe(bg, cfg.AMQPURL, "orderq-gateway-results "+host, cache, log)

	srv := &http.Server{
		Handler: httpapi.New(httpapi.Config{
			Store: st, Intake: in, Cache: cache, Shards: cfg.Shards, BrokerReady: pub.Ready,
			AdminToken: cfg.AdminToken, MaxInFlight: cfg.MaxInFlight, CustomerRate: cfg.CustomerRate,
			Metrics: in.Collectors(), Log: log,
		}),
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       10 * time.Second,
		WriteTimeout:      45 * time.Second, // longer than the longest wait (30 s)
		IdleTimeout:       2 * time.Minute,
	}
	if cfg.DebugAddr != "" {
		// Profiles on a port of their own, never the public one.
		go func() {
			mux := http.NewServeMux()
			mux.HandleFunc("/debug/pprof/", pprof.Index)
			mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
			mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
			log.Info("debug listening", "addr", cfg.DebugAddr)
			dbg := &http.Server{Addr: cfg.DebugAddr, Handler: mux, ReadHeaderTimeout: 5 * time.Second}
			if err := dbg.ListenAndServe(); err != nil {
				log.Warn("debug server", "err", err)
			}
		}()
	}
	ln, err := net.Listen("tcp", cfg.HTTPAddr)
	if err != nil {
		return fmt.Errorf("listen: %w", err)
	}
	log.Info("listening", "addr", ln.Addr().String())
	serveErr := make(chan error, 1)
	go func() { serveErr <- srv.Serve(ln) }()

	select {
	case err := <-serveErr:
		return fmt.Errorf("serve: %w", err)
	case <-ctx.Done():
	}
	log.Info("shutting down")
	defer log.Info("stopped")
	shutdown, cancelShutdown := context.WithTimeout(context.Background(), 35*time.Second)
	defer cancelShutdown()
	if err := srv.Shutdown(shutdown); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("shutdown: %w", err)
	}
	return nil
}
