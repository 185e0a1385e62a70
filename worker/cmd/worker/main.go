// Command worker applies orderq's shard queues to the database: one active
// consumer per shard, batched transactions, results published back to the
// gateways.
package main

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"runtime"
	"syscall"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"

	"github.com/orderq/orderq/shared/cli"
	"github.com/orderq/orderq/shared/config"
	"github.com/orderq/orderq/shared/database"
	"github.com/orderq/orderq/shared/deployment"
	"github.com/orderq/orderq/shared/lifetime"
	"github.com/orderq/orderq/shared/logging"
	"github.com/orderq/orderq/shared/mq"
	"github.com/orderq/orderq/shared/ops"
	"github.com/orderq/orderq/shared/outbox"
	"github.com/orderq/orderq/shared/tracing"
	"github.com/orderq/orderq/worker/internal/consumer"
	"github.com/orderq/orderq/worker/internal/expiry"
	"github.com/orderq/orderq/worker/internal/metrics"
	"github.com/orderq/orderq/worker/internal/retention"
	"github.com/orderq/orderq/worker/internal/stock"
)

// Config is the worker's configuration.
type Config struct {
	config.Common
	MetricsAddr string
	DebugAddr   string // pprof, off when empty
	Prefetch    int
	BatchSize   int
	Linger      time.Duration
	// PaymentTimeout is how long a confirmed order may stay unpaid.
	PaymentTimeout time.Duration
	// MaxUnpaidPerCustomer caps the unpaid orders a customer may hold; 0: none.
	MaxUnpaidPerCustomer int
	// RejectedRetention is how long a rejected order is kept; 0: for ever.
	RejectedRetention time.Duration
}

func loadConfig(getenv func(string) string) (Config, error) {
	common, err := config.LoadCommon(getenv)
	if err != nil {
		return Config{}, err
	}
	c := Config{Common: common, MetricsAddr: config.String(getenv, "METRICS_ADDR", ":9091"), DebugAddr: getenv("DEBUG_ADDR")}
	if c.BatchSize, err = config.Int(getenv, "WORKER_BATCH_SIZE", 500, 1, 10000); err != nil {
		return c, err
	}
	if c.Prefetch, err = config.Int(getenv, "WORKER_PREFETCH", 1000, 1, 65535); err != nil {
		return c, err
	}
	if c.Linger, err = config.Duration(getenv, "WORKER_LINGER", 2*time.Millisecond, 0, time.Second); err != nil {
		return c, err
	}
	if c.PaymentTimeout, err = config.Duration(getenv, "PAYMENT_TIMEOUT", 15*time.Minute, time.Second, 30*24*time.Hour); err != nil {
		return c, err
	}
	if c.MaxUnpaidPerCustomer, err = config.Int(getenv, "MAX_UNPAID_PER_CUSTOMER", 5, 0, 1000); err != nil {
		return c, err
	}
	if c.RejectedRetention, err = config.Duration(getenv, "REJECTED_RETENTION", 7*24*time.Hour, 0, 10*365*24*time.Hour); err != nil {
		return c, err
	}
	return c, nil
}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	// The first signal starts the shutdown; a second one ends the program at once.
	context.AfterFunc(ctx, stop)
	log := logging.Stdout("worker", os.Getenv)
	config.TuneGC(os.Getenv)
	// One processor unless GOMAXPROCS says otherwise: the worker applies a
	// shard's batches one at a time and mostly waits on the database. With
	// two, at 5,000 orders/s Go's scheduler parked and woke threads between
	// batches, and the worker spent a third more CPU an order (44 against
	// 33 µs); at full load the two did the same.
	if os.Getenv("GOMAXPROCS") == "" {
		runtime.GOMAXPROCS(1)
	}
	if err := run(ctx, log, os.Getenv); err != nil {
		log.Error("worker stopped", "err", err)
		os.Exit(cli.Code(err))
	}
}

// run works until ctx is done, then shuts down in order (see
// lifetime.Group): the consumer stops taking deliveries, commits and
// acknowledges each shard's batch in hand and publishes the results it still
// holds (within 2 s), then the retention of rejected orders, the payment
// timeouts, the outbox's backlog watch and the outbox relay finish the work in hand (a row not published stays for the next start), then the
// outbox's broker connection, the debug and metrics servers and the database
// stop. A goroutine that fails stops the worker the same way, and run returns
// its error.
func run(ctx context.Context, log *slog.Logger, getenv func(string) string) error {
	cfg, err := loadConfig(getenv)
	if err != nil {
		// A bad setting is a usage error (exit 2); anything else stopped
		// work that could not be done (exit 3), as for every orderq command.
		return cli.UsageError{Err: fmt.Errorf("config: %w", err), Help: "docs/api.md"}
	}
	log.Info("starting", "config", cfg.Common, "metrics_addr", cfg.MetricsAddr, "debug_addr", cfg.DebugAddr,
		"batch_size", cfg.BatchSize, "payment_timeout", cfg.PaymentTimeout.String(), "rejected_retention", cfg.RejectedRetention.String(), "prefetch", cfg.Prefetch, "linger", cfg.Linger.String())

	openCtx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	db, err := database.Open(openCtx, cfg.MySQLDSN, log, database.Options{MaxOpenConns: cfg.Shards + 4})
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
	tracer, closeTracing, err := tracing.Setup(ctx, cfg.Tracing, "worker", log)
	if err != nil {
		return err
	}
	g.Defer("tracing", closeTracing)

	m := metrics.New(cfg.Instance, cfg.Shards)
	g.Go("metrics server", func(ctx context.Context) error { return m.Serve(ctx, cfg.MetricsAddr, log) })
	if cfg.DebugAddr != "" {
		ln, err := ops.Listen(cfg.DebugAddr)
		if err != nil {
			return fmt.Errorf("DEBUG_ADDR: %w", err)
		}
		log.Info("debug listening", "addr", ln.Addr().String())
		g.Go("debug server", func(ctx context.Context) error { return ops.Serve(ctx, ln, ops.Profiles()) })
	}

	store := stock.NewStore(db, cfg.Shards, stock.MaxUnpaid(cfg.MaxUnpaidPerCustomer), stock.OnStockChange(m.StockChanged))
	topology := cfg.Topology()
	pub := mq.NewPublisher(mq.PublisherConfig{
		URL: cfg.AMQPURL, Name: "orderq-worker-outbox " + cfg.Instance,
		Setup: func(conn *amqp.Connection) error { return mq.DeclareTopology(conn, topology, log) },
	}, log)
	g.Go("outbox broker connection", func(ctx context.Context) error { pub.Run(ctx); return nil })
	g.Go("outbox relay", func(ctx context.Context) error {
		outbox.Relay(ctx, db, pub, store.Outboxed(), time.Second, log)
		return nil
	})
	g.Go("outbox backlog", func(ctx context.Context) error {
		outbox.Watch(ctx, db, 5*time.Second, func(b outbox.Backlog) {
			m.OutboxRows.Set(float64(b.Rows))
			m.OutboxOldest.Set(b.Oldest.Seconds())
		}, log)
		return nil
	})
	g.Go("payment timeouts", func(ctx context.Context) error {
		expiry.Run(ctx, db, pub, cfg.PaymentTimeout, min(cfg.PaymentTimeout/4, 10*time.Second), cfg.Shards, m.PaymentTimeouts, log)
		return nil
	})
	if cfg.RejectedRetention > 0 {
		rc := retention.Defaults
		rc.Keep = cfg.RejectedRetention
		g.Go("rejected retention", func(ctx context.Context) error {
			retention.Run(ctx, db, rc, m.RejectedDeleted, log)
			return nil
		})
	}

	c := consumer.New(consumer.Config{
		AMQPURL: cfg.AMQPURL, Topology: topology, Prefetch: cfg.Prefetch, BatchSize: cfg.BatchSize, Linger: cfg.Linger,
		Tracer: tracer, Instance: cfg.Instance,
	}, store, m, log)
	g.Go("consumer", func(ctx context.Context) error { c.Run(ctx); return nil })
	// The worker stops once the deployment's shard count changed (orderqctl
	// shards change): it must restart with the new one.
	g.Go("deployment watch", func(ctx context.Context) error {
		return deployment.Watch(ctx, db, cfg.Shards, log, func(bool) {})
	})
	return g.Wait(ctx)
}
