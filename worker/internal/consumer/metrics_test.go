package consumer

import (
	"context"
	"strconv"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/orderq/orderq/shared/message"
	"github.com/orderq/orderq/shared/mq"
	"github.com/orderq/orderq/shared/shard"
	"github.com/orderq/orderq/worker/internal/metrics"
	"github.com/orderq/orderq/worker/internal/stock"
)

// TestMetricsOfAShard checks what the worker's metrics say of a shard it
// consumes: the outcomes, each order's time from accept to decision, that
// this instance holds the shard and not the other, the stock of the item it
// sells; and that it shows nothing of the shards once it stops.
func TestMetricsOfAShard(t *testing.T) {
	e := newEnv(t)
	item := e.item(t, 3)
	cmds := orders(item, 5)
	accepted := time.Now().Add(-time.Second)
	for i := range cmds {
		cmds[i].AcceptedAt = accepted
	}
	body, err := message.EncodeCommands(cmds)
	if err != nil {
		t.Fatal(err)
	}
	m := metrics.New("w1", shards)
	c := New(Config{AMQPURL: e.url, Topology: mq.Topology{Shards: shards, MaxLength: 1000}, Prefetch: 100, BatchSize: 100,
		Linger: time.Millisecond, Instance: "w1"}, stock.NewStore(e.db, shards, stock.OnStockChange(m.StockChanged)), m, e.log)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { c.Run(ctx); close(done) }()
	t.Cleanup(func() { cancel(); <-done })

	e.publish(t, item, body)
	confirmed, outOfStock := m.Commands.WithLabelValues("order", "confirmed"), m.Commands.WithLabelValues("order", "out_of_stock")
	deadline := time.Now().Add(30 * time.Second)
	for testutil.ToFloat64(confirmed)+testutil.ToFloat64(outOfStock) < 5 {
		if time.Now().After(deadline) {
			t.Fatalf("after 30 s: %v confirmed, %v out of stock; want 5 orders decided", testutil.ToFloat64(confirmed), testutil.ToFloat64(outOfStock))
		}
		time.Sleep(10 * time.Millisecond)
	}
	if got := testutil.ToFloat64(confirmed); got != 3 {
		t.Errorf("%v confirmed, want 3", got)
	}
	families, err := m.Registry.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range families {
		if f.GetName() != "orderq_worker_accept_to_final_seconds" {
			continue
		}
		h := f.GetMetric()[0].GetHistogram()
		if h.GetSampleCount() != 5 || h.GetSampleSum() < 5 {
			t.Errorf("accept to final: %d orders, %v s in all; want 5, each a second or more", h.GetSampleCount(), h.GetSampleSum())
		}
	}
	home := shard.Of(item, shards)
	// Counted before the reads below, which would make a missing series.
	if n := testutil.CollectAndCount(m.ShardActive); n != shards {
		t.Errorf("ShardActive has %d series, want one a shard (%d)", n, shards)
	}
	if got := testutil.ToFloat64(m.ShardActive.WithLabelValues(strconv.Itoa(home))); got != 1 {
		t.Errorf("shard %d, which delivered the orders: active %v, want 1", home, got)
	}
	if got := testutil.ToFloat64(m.ShardActive.WithLabelValues(strconv.Itoa(1 - home))); got != 0 {
		t.Errorf("shard %d, which delivered nothing: active %v, want 0", 1-home, got)
	}
	if got := testutil.ToFloat64(m.ItemStock.WithLabelValues(strconv.FormatInt(item, 10))); got != 0 {
		t.Errorf("item %d: stock %v, want 0", item, got)
	}

	cancel()
	<-done
	if n := testutil.CollectAndCount(m.ShardActive) + testutil.CollectAndCount(m.ItemStock); n != 0 {
		t.Errorf("a stopped consumer still shows %d series of its shards", n)
	}
}
