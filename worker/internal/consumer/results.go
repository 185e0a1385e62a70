package consumer

import (
	"context"
	"fmt"
	"log/slog"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	amqp "github.com/rabbitmq/amqp091-go"

	"github.com/orderq/orderq/shared/message"
	"github.com/orderq/orderq/shared/mq"
)

// resultsBacklog is how many results messages (one a batch) wait while the
// results connection is down or blocked. It bounds the worker's memory, not
// correctness: a result that does not reach a gateway is found in the
// database, at the gateway's next poll.
const resultsBacklog = 256

// resultsPublisher publishes each batch's results on a connection of its own.
// A broker holds up a publishing connection (a resource alarm blocks it, flow
// control slows it), and the acknowledgements of the consumer's connection
// share its socket: on one connection a held-up results publish would hold
// up the acks, and with them the shard. Here the consumer hands results over
// without waiting; they wait in a bounded queue while the connection is down
// or blocked, and when the queue is full the oldest are dropped and counted.
// Results are a notification, published without confirms as before: the
// gateways wake their waiters with them, and fall back to the database.
type resultsPublisher struct {
	url, name string
	queue     chan resultsMessage
	dropped   prometheus.Counter
	log       *slog.Logger

	conn atomic.Pointer[amqp.Connection] // the live connection, for stop
}

// resultsMessage is a batch's results, and the trace contexts of those
// traced (tracing.Header; nil when none is).
type resultsMessage struct {
	body    []byte
	headers amqp.Table
}

func newResultsPublisher(url, name string, dropped prometheus.Counter, log *slog.Logger) *resultsPublisher {
	return &resultsPublisher{url: url, name: name, queue: make(chan resultsMessage, resultsBacklog), dropped: dropped, log: log}
}

// send queues body with headers for publishing, dropping the oldest queued
// message when the queue is full. It never blocks. Safe for concurrent use
// until close.
func (r *resultsPublisher) send(body []byte, headers amqp.Table) {
	for {
		select {
		case r.queue <- resultsMessage{body: body, headers: headers}:
			return
		default:
		}
		select {
		case <-r.queue:
			r.dropped.Inc()
		default:
		}
	}
}

// run publishes until ctx is done, or until the queue is closed and drained.
func (r *resultsPublisher) run(ctx context.Context) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	mq.Reconnect(ctx, r.log, "results connection", func(ctx context.Context) (bool, error) {
		served, drained, err := r.serve(ctx)
		if drained {
			cancel()
		}
		return served, err
	})
}

// stop closes the queue once nothing sends any more, and waits for run
// (done) to publish what is queued, for at most grace; then it stops run,
// cutting short a publish the broker holds up.
func (r *resultsPublisher) stop(cancel context.CancelFunc, done <-chan struct{}, grace time.Duration) {
	close(r.queue)
	t := time.NewTimer(grace)
	defer t.Stop()
	select {
	case <-done:
		return
	case <-t.C:
	}
	if n := len(r.queue); n > 0 {
		r.dropped.Add(float64(n))
		r.log.Warn("results not published at shutdown", "messages", n)
	}
	cancel()
	if conn := r.conn.Load(); conn != nil {
		// A write into a blocked connection waits until the broker reads
		// again; a deadline ends it.
		conn.CloseDeadline(time.Now().Add(100 * time.Millisecond))
	}
	<-done
}

func (r *resultsPublisher) serve(ctx context.Context) (served, drained bool, err error) {
	conn, err := mq.Dial(r.url, r.name)
	if err != nil {
		return false, false, err
	}
	defer conn.Close()
	ch, err := conn.Channel()
	if err != nil {
		return false, false, fmt.Errorf("open results channel: %w", err)
	}
	closed := conn.NotifyClose(make(chan *amqp.Error, 1))
	chClosed := ch.NotifyClose(make(chan *amqp.Error, 1))
	blockings := conn.NotifyBlocked(make(chan amqp.Blocking, 4))
	r.conn.Store(conn)
	defer r.conn.Store(nil)

	blocked := false
	for {
		// While blocked, nothing is written: a write would wait for the
		// broker, and the queue sheds what does not fit meanwhile.
		queue := r.queue
		if blocked {
			queue = nil
		}
		select {
		case <-ctx.Done():
			return true, false, nil
		case b, ok := <-blockings:
			if ok {
				blocked = b.Active
				r.log.Warn("results connection flow control", "blocked", b.Active, "reason", b.Reason)
			}
		case e := <-closed:
			return true, false, fmt.Errorf("results connection closed: %v", e)
		case e := <-chClosed:
			return true, false, fmt.Errorf("results channel closed: %v", e)
		case m, ok := <-queue:
			if !ok {
				return true, true, nil
			}
			if err := ch.Publish(message.ResultsExchange, "", false, false, amqp.Publishing{
				ContentType: message.ContentType, Headers: m.headers, Body: m.body, Timestamp: time.Now(),
			}); err != nil {
				r.dropped.Inc()
				return true, false, fmt.Errorf("publish results: %w", err)
			}
		}
	}
}
