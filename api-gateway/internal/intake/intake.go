// Package intake turns accepted commands into confirmed messages on their shard
// queues. Requests for the same shard that arrive while a publish is in flight,
// or within a short linger after the first, are coalesced into one message and
// one confirm: under a crowd this divides the broker's per-message work by the
// batch size.
package intake

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/google/uuid"
	"github.com/prometheus/client_golang/prometheus"
	amqp "github.com/rabbitmq/amqp091-go"
	"go.opentelemetry.io/otel/trace"

	"github.com/orderq/orderq/shared/deployment"
	"github.com/orderq/orderq/shared/message"
	"github.com/orderq/orderq/shared/mq"
	"github.com/orderq/orderq/shared/shard"
	"github.com/orderq/orderq/shared/tracing"
)

// Publisher publishes one message and returns once the broker confirmed it.
type Publisher interface {
	Publish(ctx context.Context, exchange, key string, msg amqp.Publishing) error
}

// Config sizes an Intake.
type Config struct {
	Shards   int
	MaxBatch int // most commands in one message; 0 means 500
	// Parallel is the publishes in flight per shard; 0 means 1. One at a time
	// makes the batches largest: with 4, a hot item's orders went out ten to a
	// message, and the broker spent a third more CPU on them.
	Parallel int
	// Linger is how long a message waits for more commands after its first;
	// 0 sends it at once. At 5,000 orders/s for a hot item, a linger of 6 ms
	// made its messages four times fewer (1,006 instead of 3,931 in 10 s),
	// and the broker's CPU per order fell from 61 to 35 µs.
	Linger time.Duration
	// Tracer, when set, gives each command submitted within a sampled trace
	// a send span (SendSpan) in it; nil: off.
	Tracer *tracing.Tracer
}

// Intake publishes commands, coalesced per shard.
type Intake struct {
	pub    Publisher
	cfg    Config
	queues []chan *request

	// mu is held for reading while a request is queued, and for writing to
	// close the intake: once closed is set nothing more is queued, so
	// what the queues hold when closing is closed is all they will hold.
	mu      sync.RWMutex
	closed  bool
	closing chan struct{}
	// paused is set while the deployment's intake is closed (SetOpen).
	paused atomic.Bool

	publishSeconds  prometheus.Histogram
	publishCommands prometheus.Histogram
}

type request struct {
	cmd  message.Command
	done chan error
	span trace.Span // the command's send span; nil when not tracing
}

// New returns an Intake; call Run to start it.
func New(pub Publisher, cfg Config) *Intake {
	if cfg.MaxBatch <= 0 {
		cfg.MaxBatch = 500
	}
	if cfg.Parallel <= 0 {
		cfg.Parallel = 1
	}
	in := &Intake{pub: pub, cfg: cfg, queues: make([]chan *request, cfg.Shards), closing: make(chan struct{}),
		publishSeconds: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "orderq_gateway_publish_seconds",
			Help:    "Time from publishing a message of commands to the broker's confirm (or failure).",
			Buckets: prometheus.ExponentialBuckets(0.0005, 2, 14),
		}),
		publishCommands: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "orderq_gateway_publish_commands",
			Help:    "Commands coalesced into one published message.",
			Buckets: prometheus.ExponentialBuckets(1, 2, 10),
		}),
	}
	for i := range in.queues {
		in.queues[i] = make(chan *request, cfg.MaxBatch*cfg.Parallel)
	}
	return in
}

// ErrStopped is Submit's error once the intake stopped: the gateway is
// shutting down, and the client should retry (on another instance).
var ErrStopped = fmt.Errorf("order intake stopped: %w", mq.ErrUnavailable)

// ErrPaused is Submit's error while the deployment's intake is closed: its
// shard count is being changed, and the client should retry shortly.
var ErrPaused = fmt.Errorf("%w while the deployment's shard count changes: %w", deployment.ErrIntakePaused, mq.ErrUnavailable)

// SetOpen opens the intake, or pauses it: while paused, Submit refuses
// every command with ErrPaused. What was queued before goes out.
func (in *Intake) SetOpen(open bool) { in.paused.Store(!open) }

// Run publishes until ctx is done. Then it takes no more requests (Submit
// returns ErrStopped), publishes those it holds, each answered with its
// confirm or failure as before, and returns. Call it once.
func (in *Intake) Run(ctx context.Context) {
	// The publishes in hand are not cut short by ctx: each ends with its
	// confirm, or the publisher's timeout.
	pctx := context.WithoutCancel(ctx)
	var wg sync.WaitGroup
	for n := range in.queues {
		for range in.cfg.Parallel {
			wg.Go(func() { in.loop(pctx, n) })
		}
	}
	<-ctx.Done()
	in.mu.Lock()
	in.closed = true
	in.mu.Unlock()
	close(in.closing)
	wg.Wait()
}

// Submit publishes cmd to its item's shard and returns nil once the broker
// confirmed it. cmd must be valid: one invalid command would make the whole
// message it shares with others undeliverable.
func (in *Intake) Submit(ctx context.Context, cmd message.Command) error {
	if err := cmd.Validate(); err != nil {
		return fmt.Errorf("submit: %w", err)
	}
	r := &request{cmd: cmd, done: make(chan error, 1)}
	if in.cfg.Tracer != nil && trace.SpanContextFromContext(ctx).IsSampled() {
		r.span = in.startSend(ctx, cmd)
	}
	if err := in.enqueue(ctx, r); err != nil {
		if r.span != nil {
			endSend(r.span, err)
		}
		return err
	}
	select {
	case err := <-r.done:
		return err
	case <-ctx.Done():
		// The outcome is unknown: the caller must not report success.
		return ctx.Err()
	}
}

// enqueue queues r on its shard, unless the intake stopped.
func (in *Intake) enqueue(ctx context.Context, r *request) error {
	in.mu.RLock()
	defer in.mu.RUnlock()
	if in.closed {
		return ErrStopped
	}
	if in.paused.Load() {
		return ErrPaused
	}
	select {
	case in.queues[shard.Of(r.cmd.Home(), in.cfg.Shards)] <- r:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Collectors are the intake's metrics: how long a publish waits for its
// confirm, and how many commands share one.
func (in *Intake) Collectors() []prometheus.Collector {
	return []prometheus.Collector{in.publishSeconds, in.publishCommands}
}

// Announce publishes results to every gateway instance: a change of an order
// after its decision, so no instance's cache keeps the old state.
func (in *Intake) Announce(ctx context.Context, rs []message.Result) error {
	body, err := message.EncodeResults(rs)
	if err != nil {
		return fmt.Errorf("encode results: %w", err)
	}
	return in.pub.Publish(ctx, message.ResultsExchange, "", amqp.Publishing{
		ContentType: message.ContentType, Timestamp: time.Now(), Body: body,
	})
}

func (in *Intake) loop(ctx context.Context, n int) {
	q := in.queues[n]
	batch := make([]*request, 0, in.cfg.MaxBatch)
	linger := time.NewTimer(0)
	<-linger.C
	for {
		batch = batch[:0]
		select {
		case r := <-q:
			batch = append(batch, r)
		case <-in.closing:
			// Nothing more is queued: publish what is, without lingering.
			select {
			case r := <-q:
				batch = append(batch, r)
			default:
				return
			}
		}
		if in.cfg.Linger > 0 {
			linger.Reset(in.cfg.Linger)
		fill:
			for len(batch) < in.cfg.MaxBatch {
				select {
				case r := <-q:
					batch = append(batch, r)
				case <-linger.C:
					break fill
				case <-in.closing:
					break fill
				}
			}
			linger.Stop()
		}
	more:
		for len(batch) < in.cfg.MaxBatch {
			select {
			case r := <-q:
				batch = append(batch, r)
			default:
				break more
			}
		}
		start := time.Now()
		err := in.publish(ctx, n, batch)
		in.publishSeconds.Observe(time.Since(start).Seconds())
		in.publishCommands.Observe(float64(len(batch)))
		for _, r := range batch {
			if r.span != nil {
				endSend(r.span, err)
			}
			r.done <- err
		}
	}
}

func (in *Intake) publish(ctx context.Context, n int, batch []*request) error {
	cmds := make([]message.Command, len(batch))
	for i, r := range batch {
		cmds[i] = r.cmd
	}
	body, err := message.EncodeCommands(cmds)
	if err != nil {
		return fmt.Errorf("encode commands: %w", err)
	}
	msg := amqp.Publishing{
		ContentType:  message.ContentType,
		DeliveryMode: amqp.Persistent,
		MessageId:    uuid.NewString(),
		Timestamp:    time.Now(),
		Type:         "orderq.commands",
		Body:         body,
	}
	if in.cfg.Tracer != nil {
		msg.Headers = in.traced(n, batch, msg.MessageId)
	}
	return in.pub.Publish(ctx, message.OrdersExchange, message.RoutingKey(n), msg)
}
