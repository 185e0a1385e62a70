package intake

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"
	dto "github.com/prometheus/client_model/go"
	amqp "github.com/rabbitmq/amqp091-go"

	"github.com/orderq/orderq/shared/config"
	"github.com/orderq/orderq/shared/message"
	"github.com/orderq/orderq/shared/mq"
	"github.com/orderq/orderq/shared/shard"
	"github.com/orderq/orderq/shared/testenv"
)

// recorder is a Publisher that records what it publishes, taking delay per
// publish as a broker's confirm would, and failing with err when set.
type recorder struct {
	delay time.Duration
	err   error

	mu   sync.Mutex
	msgs []amqp.Publishing
	keys []string
}

func (r *recorder) Publish(_ context.Context, _, key string, msg amqp.Publishing) error {
	time.Sleep(r.delay)
	r.mu.Lock()
	defer r.mu.Unlock()
	r.msgs = append(r.msgs, msg)
	r.keys = append(r.keys, key)
	return r.err
}

func order(item int64) message.Command {
	return message.Command{Kind: message.KindOrder, ID: uuid.NewString(), CustomerID: "c", Parts: 1,
		Lines: []message.Line{{ItemID: item, Quantity: 1}}, AcceptedAt: time.Now()}
}

func start(t *testing.T, pub Publisher, cfg Config) *Intake {
	t.Helper()
	in := New(pub, cfg)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { in.Run(ctx); close(done) }()
	t.Cleanup(func() { cancel(); <-done })
	return in
}

func TestSubmitCoalescesConcurrentRequests(t *testing.T) {
	pub := &recorder{delay: 20 * time.Millisecond}
	in := start(t, pub, Config{Shards: 4, MaxBatch: 50, Parallel: 1})
	const n = 200
	var wg sync.WaitGroup
	var failed atomic.Int32
	for range n {
		wg.Go(func() {
			if err := in.Submit(context.Background(), order(7)); err != nil {
				failed.Add(1)
			}
		})
	}
	wg.Wait()
	if failed.Load() != 0 {
		t.Fatalf("%d submits failed", failed.Load())
	}
	total := 0
	for i, m := range pub.msgs {
		cmds, err := message.DecodeCommands(m.Body)
		if err != nil {
			t.Fatal(err)
		}
		if len(cmds) > 50 {
			t.Errorf("message %d carries %d commands, more than MaxBatch", i, len(cmds))
		}
		if want := message.RoutingKey(shard.Of(7, 4)); pub.keys[i] != want {
			t.Errorf("message %d routed to %q, want %q", i, pub.keys[i], want)
		}
		total += len(cmds)
	}
	if total != n {
		t.Errorf("%d commands published, want %d", total, n)
	}
	// One publish in flight per shard and 20 ms each: 200 requests that wait
	// for each other's confirms must share messages.
	if len(pub.msgs) >= n/2 {
		t.Errorf("%d messages for %d concurrent requests: not coalesced", len(pub.msgs), n)
	}
	// The metrics saw every message, its commands and its confirm's wait.
	var commands, seconds dto.Metric
	if err := in.publishCommands.Write(&commands); err != nil {
		t.Fatal(err)
	}
	if err := in.publishSeconds.Write(&seconds); err != nil {
		t.Fatal(err)
	}
	if h := commands.GetHistogram(); h.GetSampleCount() != uint64(len(pub.msgs)) || h.GetSampleSum() != n {
		t.Errorf("publish_commands: %d samples summing to %v, want %d summing to %d", h.GetSampleCount(), h.GetSampleSum(), len(pub.msgs), n)
	}
	if h := seconds.GetHistogram(); h.GetSampleCount() != uint64(len(pub.msgs)) || h.GetSampleSum() < 0.02*float64(len(pub.msgs)) {
		t.Errorf("publish_seconds: %d samples summing to %vs, want %d of at least 20 ms", h.GetSampleCount(), h.GetSampleSum(), len(pub.msgs))
	}
}

func TestSubmitLingersForMoreCommands(t *testing.T) {
	pub := &recorder{}
	in := start(t, pub, Config{Shards: 4, Linger: 300 * time.Millisecond})
	var wg sync.WaitGroup
	errs := make(chan error, 2)
	begin := time.Now()
	wg.Go(func() { errs <- in.Submit(context.Background(), order(7)) })
	time.Sleep(50 * time.Millisecond)
	wg.Go(func() { errs <- in.Submit(context.Background(), order(7)) })
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	// The broker confirms at once, so only the linger can have joined them.
	if len(pub.msgs) != 1 {
		t.Fatalf("%d messages, want the two orders in one", len(pub.msgs))
	}
	if cmds, err := message.DecodeCommands(pub.msgs[0].Body); err != nil || len(cmds) != 2 {
		t.Fatalf("message carries %d commands (%v), want 2", len(cmds), err)
	}
	if d := time.Since(begin); d < 300*time.Millisecond {
		t.Errorf("confirmed after %v, before the linger ended", d)
	}
}

func TestSubmitReportsFailureToEveryRequestOfTheMessage(t *testing.T) {
	pub := &recorder{delay: 10 * time.Millisecond, err: mq.ErrUnavailable}
	in := start(t, pub, Config{Shards: 1})
	var wg sync.WaitGroup
	var ok atomic.Int32
	for range 20 {
		wg.Go(func() {
			if err := in.Submit(context.Background(), order(1)); !errors.Is(err, mq.ErrUnavailable) {
				t.Errorf("err = %v, want ErrUnavailable", err)
			} else {
				ok.Add(1)
			}
		})
	}
	wg.Wait()
	if ok.Load() != 20 {
		t.Errorf("%d of 20 requests told of the failure", ok.Load())
	}
}

// TestRunPublishesWhatItHoldsWhenStopped stops the intake while it holds
// requests queued behind a slow publish and lingering ones: each is published
// and answered with its confirm, none is failed or left waiting, and a request
// after the stop is refused as unavailable (a 503).
func TestRunPublishesWhatItHoldsWhenStopped(t *testing.T) {
	pub := &recorder{delay: 50 * time.Millisecond}
	in := New(pub, Config{Shards: 2, MaxBatch: 10, Linger: time.Second})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { in.Run(ctx); close(done) }()
	const n = 30
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for i := range n {
		wg.Go(func() { errs <- in.Submit(context.Background(), order(int64(i%4+1))) })
	}
	// The linger holds every shard's first message for a second: stop before.
	time.Sleep(100 * time.Millisecond)
	cancel()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("Run did not return within 5 s of its stop")
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Errorf("a request held at the stop failed: %v", err)
		}
	}
	total := 0
	for _, m := range pub.msgs {
		cmds, err := message.DecodeCommands(m.Body)
		if err != nil {
			t.Fatal(err)
		}
		total += len(cmds)
	}
	if total != n {
		t.Errorf("%d commands published, want %d", total, n)
	}
	if err := in.Submit(context.Background(), order(1)); !errors.Is(err, ErrStopped) || !errors.Is(err, mq.ErrUnavailable) {
		t.Errorf("Submit after the stop = %v, want ErrStopped, an ErrUnavailable", err)
	}
}

func TestSubmitRefusesAnInvalidCommand(t *testing.T) {
	pub := &recorder{}
	in := start(t, pub, Config{Shards: 1})
	bad := order(1)
	bad.Lines[0].Quantity = 0
	if err := in.Submit(context.Background(), bad); err == nil {
		t.Fatal("an invalid command was accepted")
	}
	if len(pub.msgs) != 0 {
		t.Errorf("%d messages published", len(pub.msgs))
	}
}

// BenchmarkSubmit measures the publish path against the real broker: the
// confirmed publisher and the coalescing intake, with 200 concurrent callers
// on one hot item.
func BenchmarkSubmit(b *testing.B) {
	url := testenv.Vhost(b)
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	pub := mq.NewPublisher(mq.PublisherConfig{URL: url, Name: "bench",
		Setup: func(conn *amqp.Connection) error {
			return mq.DeclareTopology(conn, mq.Topology{Shards: 4, MaxLength: config.DefaultShardQueueMaxLength}, log)
		}}, log)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go pub.Run(ctx)
	if err := pub.WaitReady(ctx); err != nil {
		b.Fatal(err)
	}
	in := New(pub, Config{Shards: 4})
	go in.Run(ctx)
	b.SetParallelism(100) // 200 callers on 2 cores
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if err := in.Submit(ctx, order(42)); err != nil {
				b.Error(err)
			}
		}
	})
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "orders/s")
}
