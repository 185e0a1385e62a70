package consumer

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	amqp "github.com/rabbitmq/amqp091-go"
	"go.uber.org/goleak"
	"gorm.io/gorm"

	"github.com/orderq/orderq/shared/database"
	"github.com/orderq/orderq/shared/items"
	"github.com/orderq/orderq/shared/message"
	"github.com/orderq/orderq/shared/mq"
	"github.com/orderq/orderq/shared/orderstatus"
	"github.com/orderq/orderq/shared/shard"
	"github.com/orderq/orderq/shared/testenv"
	"github.com/orderq/orderq/shared/tracing"
	"github.com/orderq/orderq/worker/internal/metrics"
	"github.com/orderq/orderq/worker/internal/stock"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

const shards = 2

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

type env struct {
	url string
	db  *gorm.DB
	ch  *amqp.Channel // a confirm-mode channel for the test's own publishing
	log *slog.Logger  // the consumer's; quiet unless a test reads it
	// tracer is the consumer's; nil, tracing off, unless a test sets it.
	tracer *tracing.Tracer
}

func newEnv(t *testing.T) *env {
	t.Helper()
	return newEnvOn(t, testenv.Vhost(t))
}

// newEnvOn is newEnv on the broker at url.
func newEnvOn(t *testing.T, url string) *env {
	t.Helper()
	e := &env{url: url, log: quiet}
	db, err := database.Open(context.Background(), testenv.Database(t), quiet, database.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { database.Close(db) })
	e.db = db
	conn, err := mq.Dial(e.url, "consumer test")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	if e.ch, err = conn.Channel(); err != nil {
		t.Fatal(err)
	}
	if err := mq.DeclareTopology(conn, mq.Topology{Shards: shards, MaxLength: 1000}, quiet); err != nil {
		t.Fatal(err)
	}
	if err := e.ch.Confirm(false); err != nil {
		t.Fatal(err)
	}
	return e
}

func (e *env) item(t *testing.T, stock int64) int64 {
	t.Helper()
	now := time.Now().UTC()
	row := items.Row{Name: "x", Stock: stock, InitialStock: stock, Currency: items.DefaultCurrency, CreatedAt: now, UpdatedAt: now}
	if err := e.db.Create(&row).Error; err != nil {
		t.Fatal(err)
	}
	return row.ID
}

// publish sends body to item's shard and waits for the confirm.
func (e *env) publish(t *testing.T, item int64, body []byte) {
	t.Helper()
	e.publishWith(t, item, body, nil)
}

// publishWith publishes as publish does, with headers.
func (e *env) publishWith(t *testing.T, item int64, body []byte, headers amqp.Table) {
	t.Helper()
	dc, err := e.ch.PublishWithDeferredConfirm(message.OrdersExchange, message.RoutingKey(shard.Of(item, shards)), false, false,
		amqp.Publishing{ContentType: message.ContentType, Headers: headers, Body: body})
	if err != nil {
		t.Fatal(err)
	}
	if ok, err := dc.WaitContext(context.Background()); err != nil || !ok {
		t.Fatalf("not confirmed: %v", err)
	}
}

// results subscribes to the results exchange.
func (e *env) results(t *testing.T) <-chan amqp.Delivery {
	t.Helper()
	q, err := e.ch.QueueDeclare("", false, true, true, false, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := e.ch.QueueBind(q.Name, "", message.ResultsExchange, false, nil); err != nil {
		t.Fatal(err)
	}
	d, err := e.ch.Consume(q.Name, "", true, true, false, false, nil)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// start runs a consumer until the test ends or stop is called.
func (e *env) start(t *testing.T, afterCommit func() error) (stop func()) {
	t.Helper()
	c := New(Config{AMQPURL: e.url, Topology: mq.Topology{Shards: shards, MaxLength: 1000}, Prefetch: 100, BatchSize: 100,
		Linger: time.Millisecond, Tracer: e.tracer}, stock.NewStore(e.db, shards), metrics.New("test", shards), e.log)
	c.afterCommit = afterCommit
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { c.Run(ctx); close(done) }()
	var once sync.Once
	stop = func() { once.Do(func() { cancel(); <-done }) }
	t.Cleanup(stop)
	return stop
}

func orders(item int64, n int) []message.Command {
	cmds := make([]message.Command, n)
	for i := range cmds {
		cmds[i] = message.Command{Kind: message.KindOrder, ID: uuid.NewString(), Parts: 1,
			Lines: []message.Line{{ItemID: item, Quantity: 1}}, CustomerID: "c" + uuid.NewString()[:8], AcceptedAt: time.Now()}
	}
	return cmds
}

func stockOf(t *testing.T, db *gorm.DB, item int64) (stock, movements int64) {
	t.Helper()
	if err := db.Raw("SELECT stock FROM items WHERE id = ?", item).Scan(&stock).Error; err != nil {
		t.Fatal(err)
	}
	if err := db.Raw("SELECT COUNT(*) FROM report_stock_movements WHERE item_id = ?", item).Scan(&movements).Error; err != nil {
		t.Fatal(err)
	}
	return stock, movements
}

func TestCrashBetweenCommitAndAck(t *testing.T) {
	e := newEnv(t)
	item := e.item(t, 3)
	cmds := orders(item, 5)
	body, err := message.EncodeCommands(cmds)
	if err != nil {
		t.Fatal(err)
	}
	results := e.results(t)

	crashed := make(chan struct{})
	var once sync.Once
	stop := e.start(t, func() error {
		once.Do(func() { close(crashed) })
		return errors.New("crash before ack")
	})
	e.publish(t, item, body)
	select {
	case <-crashed:
	case <-time.After(30 * time.Second):
		t.Fatal("the batch was never committed")
	}
	stop()

	stockAfterCrash, movesAfterCrash := stockOf(t, e.db, item)
	if stockAfterCrash != 0 || movesAfterCrash != 3 {
		t.Fatalf("after the committed batch: stock %d, movements %d; want 0 and 3", stockAfterCrash, movesAfterCrash)
	}

	// Restart: the unacknowledged message comes back and must not be applied
	// again, but its stored results must be published.
	e.start(t, nil)
	got := map[string]message.Result{}
	deadline := time.After(30 * time.Second)
	for len(got) < len(cmds) {
		select {
		case d := <-results:
			rs, err := message.DecodeResults(d.Body)
			if err != nil {
				t.Fatal(err)
			}
			for _, r := range rs {
				got[r.ID] = r
			}
		case <-deadline:
			t.Fatalf("results for %d of %d orders re-published", len(got), len(cmds))
		}
	}
	confirmed := 0
	for i, c := range cmds {
		r := got[c.ID]
		if r.Order == nil {
			t.Fatalf("order %d: no order in result", i)
		}
		if r.Order.Status == orderstatus.Confirmed {
			confirmed++
			if i >= 3 {
				t.Errorf("order %d confirmed, but only the first 3 had stock", i)
			}
		}
	}
	if confirmed != 3 {
		t.Errorf("%d confirmed, want 3", confirmed)
	}
	// The redelivery is acknowledged: nothing left on the queue.
	waitQueueEmpty(t, e.ch, message.ShardQueue(shard.Of(item, shards)))
	if s, m := stockOf(t, e.db, item); s != stockAfterCrash || m != movesAfterCrash {
		t.Errorf("redelivery applied again: stock %d, movements %d; want %d, %d", s, m, stockAfterCrash, movesAfterCrash)
	}
}

func TestPoisonMessageIsDeadLetteredAndShardMovesOn(t *testing.T) {
	e := newEnv(t)
	item := e.item(t, 10)
	e.start(t, nil)
	e.publish(t, item, []byte(`{"v":1,"commands":[{"kind":"order","id":"not-a-uuid"}]}`))
	e.publish(t, item, []byte(`{"v":99,"commands":[]}`))
	good := orders(item, 2)
	body, err := message.EncodeCommands(good)
	if err != nil {
		t.Fatal(err)
	}
	e.publish(t, item, body)

	deadline := time.Now().Add(30 * time.Second)
	for {
		var n int64
		if err := e.db.Raw("SELECT COUNT(*) FROM report_order_lines WHERE item_id = ?", item).Scan(&n).Error; err != nil {
			t.Fatal(err)
		}
		if n == 2 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d of 2 good orders applied", n)
		}
		time.Sleep(50 * time.Millisecond)
	}
	q, err := e.ch.QueueDeclarePassive(message.DeadQueue, true, false, false, false, amqp.Table{amqp.QueueTypeArg: amqp.QueueTypeQuorum})
	if err != nil {
		t.Fatal(err)
	}
	if q.Messages != 2 {
		t.Errorf("dead-letter queue holds %d messages, want 2", q.Messages)
	}
}

func waitQueueEmpty(t *testing.T, ch *amqp.Channel, queue string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		q, err := ch.QueueDeclarePassive(queue, true, false, false, false, nil)
		if err != nil {
			t.Fatal(err)
		}
		if q.Messages == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s still holds %d messages", queue, q.Messages)
		}
		time.Sleep(100 * time.Millisecond)
	}
}
