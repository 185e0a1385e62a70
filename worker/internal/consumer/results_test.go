package consumer

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/orderq/orderq/shared/message"
	"github.com/orderq/orderq/shared/mq"
	"github.com/orderq/orderq/shared/shard"
	"github.com/orderq/orderq/shared/testenv"
	"github.com/orderq/orderq/worker/internal/metrics"
	"github.com/orderq/orderq/worker/internal/stock"
)

func TestResultsQueueDropsTheOldestWhenFull(t *testing.T) {
	dropped := prometheus.NewCounter(prometheus.CounterOpts{Name: "dropped"})
	r := newResultsPublisher("amqp://unused", "test", dropped, quiet)
	for i := range resultsBacklog + 3 {
		r.send([]byte(fmt.Sprint(i)), nil)
	}
	if got := testutil.ToFloat64(dropped); got != 3 {
		t.Errorf("%v dropped, want 3", got)
	}
	if first := string((<-r.queue).body); first != "3" {
		t.Errorf("oldest kept is %s, want 3", first)
	}
}

// syncBuffer is a bytes.Buffer safe for concurrent use, for a logger.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// TestBlockedResultsDoNotHoldUpAcks raises a memory alarm on a broker of the
// test's own: the broker then blocks every connection that publishes. The
// consumer's connection only consumes and acknowledges, so the batches it
// applies meanwhile are acknowledged although their results cannot be
// published, and it stops within its grace.
func TestBlockedResultsDoNotHoldUpAcks(t *testing.T) {
	node := testenv.StartRabbitMQ(t, nil, "")
	e := newEnvOn(t, fmt.Sprintf("amqp://guest:guest@127.0.0.1:%d/", node.Port))
	item := e.item(t, 100)
	const messages = 5
	var ids []string
	for range messages {
		cmds := orders(item, 1)
		ids = append(ids, cmds[0].ID)
		body, err := message.EncodeCommands(cmds)
		if err != nil {
			t.Fatal(err)
		}
		e.publish(t, item, body)
	}
	node.Ctl(t, "set_vm_memory_high_watermark", "0")

	var logs syncBuffer
	log := slog.New(slog.NewJSONHandler(&logs, nil))
	m := metrics.New("test", shards)
	// One message a batch: a results message a batch, each after the first
	// meeting a blocked connection.
	c := New(Config{AMQPURL: e.url, Topology: mq.Topology{Shards: shards, MaxLength: 1000}, Prefetch: 100, BatchSize: 1},
		stock.NewStore(e.db, shards), m, log)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { c.Run(ctx); close(done) }()
	t.Cleanup(func() { cancel(); <-done })

	deadline := time.Now().Add(30 * time.Second)
	for {
		var n int64
		if err := e.db.Raw("SELECT COUNT(*) FROM report_order_lines WHERE order_id IN ?", ids).Scan(&n).Error; err != nil {
			t.Fatal(err)
		}
		if n == messages && strings.Contains(logs.String(), `"blocked":true`) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d of %d orders applied; log:\n%s", n, messages, logs.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
	start := time.Now()
	cancel()
	select {
	case <-done:
	case <-time.After(resultsGrace + 10*time.Second):
		t.Fatalf("the consumer did not stop within %s while its results connection was blocked", resultsGrace+10*time.Second)
	}
	t.Logf("stopped in %s, %v results messages dropped", time.Since(start).Round(time.Millisecond), testutil.ToFloat64(m.ResultsDropped))
	// Had an ack not reached the broker, closing the consumer's connection
	// would have put its message back on the queue.
	if q := queueLength(t, e, message.ShardQueue(shard.Of(item, shards))); q != 0 {
		t.Errorf("%d messages back on the queue after the consumer stopped: their acks were held up", q)
	}
}

func queueLength(t *testing.T, e *env, queue string) int {
	t.Helper()
	q, err := e.ch.QueueDeclarePassive(queue, true, false, false, false, nil)
	if err != nil {
		t.Fatal(err)
	}
	return q.Messages
}
