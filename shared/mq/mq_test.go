package mq

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"

	"github.com/orderq/orderq/shared/message"
	"github.com/orderq/orderq/shared/testenv"
)

// logBuffer collects a logger's JSON lines; safe for concurrent use.
type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *logBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *logBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

func newLog() (*slog.Logger, *logBuffer) {
	var b logBuffer
	return slog.New(slog.NewJSONHandler(&b, nil)), &b
}

// startPublisher runs a Publisher that declares t on the vhost at url, until
// the test ends.
func startPublisher(tb testing.TB, url string, topo Topology, log *slog.Logger) *Publisher {
	tb.Helper()
	p := NewPublisher(PublisherConfig{URL: url, Name: "mq test",
		Setup: func(conn *amqp.Connection) error { return DeclareTopology(conn, topo, log) }}, log)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { p.Run(ctx); close(done) }()
	tb.Cleanup(func() { cancel(); <-done })
	wctx, wcancel := context.WithTimeout(ctx, 30*time.Second)
	defer wcancel()
	if err := p.WaitReady(wctx); err != nil {
		tb.Fatalf("publisher not connected: %v", err)
	}
	return p
}

// fill publishes to shard 0 until the broker refuses a message, and returns
// how many it confirmed. It fails the test if the refusal is not
// ErrUnavailable or does not come within limit+1 messages (a quorum queue
// takes one message past its limit before it refuses).
func fill(t *testing.T, p *Publisher, limit int) int {
	t.Helper()
	for i := range limit + 2 {
		err := p.Publish(context.Background(), message.OrdersExchange, message.RoutingKey(0), amqp.Publishing{Body: []byte("x")})
		if err == nil {
			continue
		}
		if !errors.Is(err, ErrUnavailable) {
			t.Fatalf("message %d refused with %v, want ErrUnavailable", i, err)
		}
		if i < limit {
			t.Fatalf("message %d refused, before the limit of %d: %v", i, limit, err)
		}
		return i
	}
	t.Fatalf("%d messages confirmed on a queue bounded to %d", limit+2, limit)
	return 0
}

// queueLength is the number of messages ready on queue.
func queueLength(t *testing.T, url, queue string) int {
	t.Helper()
	conn, err := Dial(url, "mq test inspect")
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	ch, err := conn.Channel()
	if err != nil {
		t.Fatal(err)
	}
	q, err := ch.QueueDeclarePassive(queue, true, false, false, false, nil)
	if err != nil {
		t.Fatal(err)
	}
	return q.Messages
}

func TestShardQueueRefusesPastItsLength(t *testing.T) {
	t.Parallel()
	url := testenv.Vhost(t)
	log, logs := newLog()
	p := startPublisher(t, url, Topology{Shards: 2, MaxLength: 3}, log)
	confirmed := fill(t, p, 3)
	if got := queueLength(t, url, message.ShardQueue(0)); got != confirmed {
		t.Errorf("%s holds %d messages, %d were confirmed", message.ShardQueue(0), got, confirmed)
	}
	// The other shard is bounded on its own.
	if err := p.Publish(context.Background(), message.OrdersExchange, message.RoutingKey(1), amqp.Publishing{Body: []byte("x")}); err != nil {
		t.Errorf("publish to shard 1: %v", err)
	}
	if strings.Contains(logs.String(), "used as they are") {
		t.Errorf("warned about queues this version created:\n%s", logs)
	}
}

// TestQueueOfAnOlderVersionIsUsedAndCanBeBounded declares a shard queue as
// the version before the bound did, then starts a publisher of this version:
// it must start, use the queue, and warn once with a command that bounds it.
func TestQueueOfAnOlderVersionIsUsedAndCanBeBounded(t *testing.T) {
	t.Parallel()
	url := testenv.Vhost(t)
	conn, err := Dial(url, "mq test old version")
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	ch, err := conn.Channel()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ch.QueueDeclare(message.ShardQueue(1), true, false, false, false, amqp.Table{
		amqp.QueueTypeArg:            amqp.QueueTypeQuorum,
		amqp.SingleActiveConsumerArg: true,
		"x-delivery-limit":           message.DeliveryLimit,
		"x-dead-letter-exchange":     message.DeadExchange,
	}); err != nil {
		t.Fatal(err)
	}

	log, logs := newLog()
	p := startPublisher(t, url, Topology{Shards: 3, MaxLength: 3}, log)
	// Declared afresh, bounded: shard 0. Used as it was: shard 1.
	fill(t, p, 3)
	for range 5 {
		if err := p.Publish(context.Background(), message.OrdersExchange, message.RoutingKey(1), amqp.Publishing{Body: []byte("x")}); err != nil {
			t.Fatalf("publish to the unbounded queue: %v", err)
		}
	}
	if got := queueLength(t, url, message.ShardQueue(1)); got != 5 {
		t.Fatalf("%s holds %d messages, want 5", message.ShardQueue(1), got)
	}

	out := logs.String()
	var warning string
	for line := range strings.Lines(out) {
		if strings.Contains(line, "used as they are") {
			if warning != "" {
				t.Errorf("more than one warning for one declaration:\n%s", out)
			}
			warning = line
		}
	}
	if !strings.Contains(warning, `"queues":["orderq.orders.1"]`) || !strings.Contains(warning, "x-max-length") {
		t.Fatalf("no warning naming the unbounded queue and the broker's refusal:\n%s", out)
	}
	vhost := url[strings.LastIndex(url, "/")+1:]
	fix := BoundCommand(vhost, 3)
	if !strings.Contains(warning, `"fix":`) || !strings.Contains(warning, "orderq-shard-bound") {
		t.Fatalf("the warning does not carry the command %s:\n%s", fix, warning)
	}

	// The command, run as printed, bounds the queue that exists.
	if _, err := exec.LookPath("rabbitmqctl"); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatal("rabbitmqctl is needed to check the policy command")
		}
		t.Skip("rabbitmqctl is not installed")
	}
	if out, err := exec.Command("sh", "-c", fix).CombinedOutput(); err != nil {
		t.Fatalf("%s: %v\n%s", fix, err, out)
	}
	t.Cleanup(func() {
		// The vhost goes with the test; the policy would go with it.
		exec.Command("rabbitmqctl", "clear_policy", "--vhost", vhost, "orderq-shard-bound").Run()
	})
	deadline := time.Now().Add(30 * time.Second)
	for {
		err := p.Publish(context.Background(), message.OrdersExchange, message.RoutingKey(1), amqp.Publishing{Body: []byte("x")})
		if errors.Is(err, ErrUnavailable) {
			break
		}
		if err != nil {
			t.Fatalf("publish: %v", err)
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s still takes messages 30 s after the policy (%d queued)", message.ShardQueue(1), queueLength(t, url, message.ShardQueue(1)))
		}
		time.Sleep(100 * time.Millisecond)
	}
	// The dead-letter queue matches no shard pattern.
	if out, err := exec.Command("rabbitmqctl", "list_queues", "--vhost", vhost, "--no-table-headers", "-q", "name", "policy").CombinedOutput(); err != nil {
		t.Fatalf("list_queues: %v: %s", err, out)
	} else {
		for line := range strings.Lines(string(out)) {
			f := strings.Fields(line)
			bound := len(f) == 2 && f[1] == "orderq-shard-bound"
			if shard := strings.HasPrefix(f[0], "orderq.orders.") && f[0] != message.DeadQueue; shard != bound {
				t.Errorf("queue %s: policy %v", f[0], f[1:])
			}
		}
	}
}

func TestBoundCommand(t *testing.T) {
	tests := []struct {
		name, vhost string
		max         int
		want        string
	}{
		{"default vhost", "/", 100000, `rabbitmqctl set_policy --vhost '/' --apply-to queues orderq-shard-bound '^orderq\.orders\.[0-9]+$' '{"max-length":100000,"overflow":"reject-publish"}'`},
		{"quote in the vhost", "shop's", 5, `rabbitmqctl set_policy --vhost 'shop'\''s' --apply-to queues orderq-shard-bound '^orderq\.orders\.[0-9]+$' '{"max-length":5,"overflow":"reject-publish"}'`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := BoundCommand(tt.vhost, tt.max); got != tt.want {
				t.Errorf("got  %s\nwant %s", got, tt.want)
			}
		})
	}
}

// TestPublisherRedialsWhenEveryPublishIsRefused: a connection whose every
// publish the broker refuses for a ConfirmTimeout is given up for another
// (here the only node again: a full queue refuses on any connection), and a
// confirmed publish in between keeps it.
func TestPublisherRedialsWhenEveryPublishIsRefused(t *testing.T) {
	t.Parallel()
	url := testenv.Vhost(t)
	log, logs := newLog()
	topo := Topology{Shards: 2, MaxLength: 1}
	p := NewPublisher(PublisherConfig{URL: url, Name: "mq test", ConfirmTimeout: 300 * time.Millisecond,
		Setup: func(conn *amqp.Connection) error { return DeclareTopology(conn, topo, log) }}, log)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { p.Run(ctx); close(done) }()
	t.Cleanup(func() { cancel(); <-done })
	if err := p.WaitReady(ctx); err != nil {
		t.Fatal(err)
	}
	publish := func(shard int) error {
		return p.Publish(ctx, message.OrdersExchange, message.RoutingKey(shard), amqp.Publishing{Body: []byte("x")})
	}
	// The results exchange routes to no queue here, and the broker confirms
	// what it routes nowhere.
	confirmed := func() error {
		return p.Publish(ctx, message.ResultsExchange, "", amqp.Publishing{Body: []byte("x")})
	}
	// Shard 0 full after one message (a quorum queue takes one past its
	// bound): its publishes are refused from here on.
	fill(t, p, 1)
	const redialed = "another connection"
	// Refusals with a confirm in between, each within ConfirmTimeout of the
	// last confirm: no redial.
	for range 6 {
		if err := publish(0); !errors.Is(err, ErrUnavailable) {
			t.Fatalf("publish to the full shard 0: %v, want ErrUnavailable", err)
		}
		if err := confirmed(); err != nil {
			t.Fatalf("publish to the results exchange: %v", err)
		}
		time.Sleep(100 * time.Millisecond)
	}
	if strings.Contains(logs.String(), redialed) {
		t.Fatalf("redialed although publishes were confirmed meanwhile:\n%s", logs)
	}
	// Every publish refused for longer than ConfirmTimeout: a redial.
	deadline := time.Now().Add(10 * time.Second)
	for !strings.Contains(logs.String(), redialed) {
		if time.Now().After(deadline) {
			t.Fatalf("no redial after 10 s of refused publishes:\n%s", logs)
		}
		if err := publish(0); !errors.Is(err, ErrUnavailable) {
			t.Fatalf("publish to the full shard 0: %v, want ErrUnavailable", err)
		}
		time.Sleep(50 * time.Millisecond)
	}
	wctx, wcancel := context.WithTimeout(ctx, 10*time.Second)
	defer wcancel()
	for {
		if err := confirmed(); err == nil {
			break
		}
		if wctx.Err() != nil {
			t.Fatal("no confirmed publish after the redial")
		}
		time.Sleep(50 * time.Millisecond)
	}
}
