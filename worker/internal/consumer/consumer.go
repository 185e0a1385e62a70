// Package consumer runs the worker's side of the shard queues: one consumer per
// shard (RabbitMQ's single-active-consumer makes it the only active one across
// replicas), which takes the deliveries at hand as a batch, applies them in one
// transaction and only then acknowledges them, handing the results to a
// publisher on a connection of its own.
package consumer

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"sync"
	"time"

	"github.com/go-sql-driver/mysql"
	amqp "github.com/rabbitmq/amqp091-go"
	"go.opentelemetry.io/otel/trace"
	"gorm.io/gorm"

	"github.com/orderq/orderq/shared/message"
	"github.com/orderq/orderq/shared/mq"
	"github.com/orderq/orderq/shared/order"
	"github.com/orderq/orderq/shared/shard"
	"github.com/orderq/orderq/shared/tracing"
	"github.com/orderq/orderq/worker/internal/metrics"
	"github.com/orderq/orderq/worker/internal/stock"
)

// Config configures a Consumer.
type Config struct {
	AMQPURL   string
	Topology  mq.Topology   // what it declares, and the shards it consumes
	Prefetch  int           // unacknowledged deliveries per shard
	BatchSize int           // most commands applied in one transaction
	Linger    time.Duration // how long a batch waits for more deliveries after its first
	// Tracer, when set, continues the traces of the commands that carry one
	// (trace.go); nil: off.
	Tracer *tracing.Tracer
	// Instance is INSTANCE: in the connections' names and the consumer tags.
	Instance string
}

// Consumer consumes every shard queue.
type Consumer struct {
	cfg     Config
	store   *stock.Store
	log     *slog.Logger
	metrics *metrics.Metrics
	results *resultsPublisher

	// afterCommit, when set, runs after a batch committed and before its results
	// are handed over and it is acknowledged; an error from it drops the connection as
	// a crash would. Tests use it to crash at exactly that point.
	afterCommit func() error
}

// New returns a Consumer.
func New(cfg Config, store *stock.Store, m *metrics.Metrics, log *slog.Logger) *Consumer {
	return &Consumer{cfg: cfg, store: store, metrics: m, log: log,
		results: newResultsPublisher(cfg.AMQPURL, "orderq-worker-results "+cfg.Instance, m.ResultsDropped, log)}
}

// resultsGrace bounds the wait at shutdown for the results still queued.
const resultsGrace = 2 * time.Second

// Run consumes until ctx is done, reconnecting whenever the broker connection is
// lost. On shutdown each shard finishes and acknowledges the batch in hand, and
// the results still queued are published, within resultsGrace.
func (c *Consumer) Run(ctx context.Context) {
	rctx, stopResults := context.WithCancel(context.WithoutCancel(ctx))
	defer stopResults()
	resultsDone := make(chan struct{})
	go func() { c.results.run(rctx); close(resultsDone) }()
	mq.Reconnect(ctx, c.log, "broker connection", c.serve)
	c.results.stop(stopResults, resultsDone, resultsGrace)
}

func (c *Consumer) serve(ctx context.Context) (served bool, err error) {
	conn, err := mq.Dial(c.cfg.AMQPURL, "orderq-worker "+c.cfg.Instance)
	if err != nil {
		return false, err
	}
	defer conn.Close()
	if err := mq.DeclareTopology(conn, c.cfg.Topology, c.log); err != nil {
		return false, err
	}
	closed := conn.NotifyClose(make(chan *amqp.Error, 1))
	c.log.Info("broker connected", "shards", c.cfg.Topology.Shards)

	sctx, cancel := context.WithCancel(ctx)
	defer cancel()
	errs := make(chan error, c.cfg.Topology.Shards)
	var wg sync.WaitGroup
	for n := range c.cfg.Topology.Shards {
		wg.Go(func() { errs <- c.consume(sctx, conn, n) })
	}
	select {
	case <-ctx.Done():
	case e := <-closed:
		err = fmt.Errorf("connection closed: %v", e)
	case err = <-errs:
	}
	cancel()
	wg.Wait()
	return true, err
}

// delivery is a delivery with its decoded commands, or why it could not be
// decoded.
type delivery struct {
	amqp.Delivery
	cmds []message.Command
	err  error
	// traced are the commands that continue a trace, and arrived the time
	// the delivery arrived; both only when tracing.
	traced  []tracedCommand
	arrived time.Time
}

// consume runs shard n's queue until ctx is done or the channel fails.
func (c *Consumer) consume(ctx context.Context, conn *amqp.Connection, n int) error {
	ch, err := conn.Channel()
	if err != nil {
		return fmt.Errorf("shard %d: open channel: %w", n, err)
	}
	defer ch.Close()
	if err := ch.Qos(c.cfg.Prefetch, 0, false); err != nil {
		return fmt.Errorf("shard %d: qos: %w", n, err)
	}
	deliveries, err := ch.Consume(message.ShardQueue(n), message.ShardConsumerTag(c.cfg.Instance, n), false, false, false, false, nil)
	if err != nil {
		return fmt.Errorf("shard %d: consume: %w", n, err)
	}
	// With single active consumer the broker tells a consumer nothing of
	// being the active one but its deliveries: until the first, this
	// instance may be a standby.
	active := c.metrics.ShardActive.WithLabelValues(strconv.Itoa(n))
	active.Set(0)
	defer c.metrics.ForgetShard(n)
	for {
		var first amqp.Delivery
		select {
		case <-ctx.Done():
			return nil
		case d, ok := <-deliveries:
			if !ok {
				return fmt.Errorf("shard %d: deliveries stopped", n)
			}
			first = d
		}
		active.Set(1)
		// Take what arrives within a moment of the first delivery: under load
		// the broker streams the backlog, and the library hands it over one
		// delivery at a time, so "what is already here" alone would make
		// batches of one.
		batch := []delivery{c.decode(first, n)}
		count := len(batch[0].cmds)
		linger := time.NewTimer(c.cfg.Linger)
	more:
		for count < c.cfg.BatchSize {
			select {
			case d, ok := <-deliveries:
				if !ok {
					break more
				}
				batch = append(batch, c.decode(d, n))
				count += len(batch[len(batch)-1].cmds)
			case <-linger.C:
				break more
			}
		}
		linger.Stop()
		if err := c.process(ctx, n, batch); err != nil {
			return fmt.Errorf("shard %d: %w", n, err)
		}
	}
}

func (c *Consumer) decode(d amqp.Delivery, n int) delivery {
	cmds, err := message.DecodeCommands(d.Body)
	if err == nil {
		err = c.misrouted(cmds, n)
	}
	if err != nil {
		return delivery{Delivery: d, err: err}
	}
	if c.cfg.Tracer != nil {
		return c.traces(delivery{Delivery: d, cmds: cmds})
	}
	return delivery{Delivery: d, cmds: cmds}
}

// misrouted checks that every command belongs on shard n: an order by its
// first line, the others by all their items.
func (c *Consumer) misrouted(cmds []message.Command, n int) error {
	for i := range cmds {
		items := cmds[i].Items()
		if cmds[i].Kind == message.KindOrder {
			items = []int64{cmds[i].Home()}
		}
		for _, item := range items {
			if s := shard.Of(item, c.cfg.Topology.Shards); s != n {
				return fmt.Errorf("%w: item %d belongs to shard %d, not %d", message.ErrMalformed, item, s, n)
			}
		}
	}
	return nil
}

// process applies a batch and settles its deliveries. An error means the
// channel is unusable; the deliveries not yet settled will be redelivered.
func (c *Consumer) process(ctx context.Context, n int, batch []delivery) error {
	var good []delivery
	var cmds []message.Command
	for _, d := range batch {
		if d.err != nil {
			if err := c.deadLetter(d, n); err != nil {
				return err
			}
			continue
		}
		good = append(good, d)
		cmds = append(cmds, d.cmds...)
	}
	if len(good) == 0 {
		return nil
	}
	start := time.Now()
	results, err := c.apply(ctx, cmds)
	if permanent(err) {
		if len(good) == 1 {
			good[0].err = err
			return c.deadLetter(good[0], n)
		}
		// One of the messages cannot be applied: apply them one by one so the
		// others go through and only that one is dead-lettered.
		c.log.Warn("batch refused, applying its messages one by one", "shard", n, "err", err)
		for _, d := range good {
			if err := c.process(ctx, n, []delivery{d}); err != nil {
				return err
			}
		}
		return nil
	}
	if err != nil {
		return err
	}
	took := time.Since(start)
	label := strconv.Itoa(n)
	c.metrics.ApplySeconds.WithLabelValues(label).Observe(took.Seconds())
	c.metrics.BatchSize.WithLabelValues(label).Observe(float64(len(cmds)))
	if c.afterCommit != nil {
		if err := c.afterCommit(); err != nil {
			return err
		}
	}
	c.count(results)
	var spans []trace.Span
	var headers amqp.Table
	if c.cfg.Tracer != nil {
		spans, headers = c.startProcess(n, good, len(cmds), start, start.Add(took), results)
	}
	// Results are the fast path to waiting clients; the database is the truth,
	// so a lost results message costs latency, never correctness. A crash
	// after the ack loses the results still queued; before it, the
	// redelivery publishes them again.
	if body, err := message.EncodeResults(results); err != nil {
		c.log.Error("encode results", "shard", n, "err", err)
	} else {
		c.results.send(body, headers)
	}
	err = good[len(good)-1].Ack(true)
	if err != nil {
		err = fmt.Errorf("ack: %w", err)
	}
	endSpans(spans, err)
	return err
}

// apply applies cmds, retrying with back-off while the database is unreachable
// or the transaction hit a deadlock. It gives up only on shutdown, leaving the
// batch unacknowledged, or on an error retrying cannot cure.
func (c *Consumer) apply(ctx context.Context, cmds []message.Command) ([]message.Result, error) {
	bo := mq.Backoff{Min: 50 * time.Millisecond, Max: 5 * time.Second}
	for {
		// The attempt in hand is not cut short by shutdown: it commits or fails
		// on its own.
		actx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
		results, err := c.store.Apply(actx, cmds)
		cancel()
		if err == nil || permanent(err) {
			return results, err
		}
		c.metrics.DBRetries.Inc()
		wait := bo.Next()
		c.log.Warn("database error, retrying the batch", "commands", len(cmds), "err", err, "retry_in", wait.String())
		if !mq.Sleep(ctx, wait) {
			return nil, fmt.Errorf("shutting down with a batch not applied: %w", err)
		}
	}
}

// permanent reports whether err is the database refusing this batch (bad data,
// a violated constraint), or the store a command it can never apply (a part
// or release of an order that is not stored), rather than a passing fault
// (connection lost, deadlock, lock wait timeout, server shutting down).
func permanent(err error) bool {
	if err == nil {
		return false
	}
	if errors.Is(err, order.ErrUnknownOrder) ||
		errors.Is(err, gorm.ErrDuplicatedKey) || errors.Is(err, gorm.ErrCheckConstraintViolated) {
		return true
	}
	var me *mysql.MySQLError
	if !errors.As(err, &me) {
		return false
	}
	switch me.Number {
	case 1205, 1213, // lock wait timeout, deadlock
		1040, 1053, 1927, 2006, 2013, // too many connections, shutdown, killed, gone away
		1290, 1836: // read-only (fail-over in progress)
		return false
	}
	return true
}

func (c *Consumer) deadLetter(d delivery, n int) error {
	c.log.Error("dead-lettering message", "shard", n, "message_id", d.MessageId, "err", d.err)
	c.metrics.DeadLettered.Inc()
	if len(d.traced) > 0 {
		c.traceDeadLetter(d, n)
	}
	if err := d.Nack(false, false); err != nil {
		return fmt.Errorf("nack: %w", err)
	}
	return nil
}

// count counts the outcomes of a batch's commands. A batch publishes the
// state of every order it changed; one still pending (a cart some of whose
// parts are decided) is counted once decided, and a release, like an order,
// by its order's reason (why the stock came back: canceled, payment_timeout,
// a cart's failed line). An order decided here is timed from its accept.
func (c *Consumer) count(results []message.Result) {
	for _, r := range results {
		outcome := "ok"
		if o := r.Order; r.Kind == message.KindOrder && o != nil && o.Final() && o.ProcessedAt != nil {
			c.metrics.AcceptToFinal.Observe(o.ProcessedAt.Sub(o.CreatedAt).Seconds())
		}
		switch {
		case r.Order != nil && !r.Order.Final():
			continue
		case r.Order != nil && r.Order.Reason != nil:
			outcome = *r.Order.Reason
		case r.Order != nil:
			outcome = string(r.Order.Status)
		case r.Error != "":
			outcome = r.Error
		}
		c.metrics.Commands.WithLabelValues(string(r.Kind), outcome).Inc()
	}
}
