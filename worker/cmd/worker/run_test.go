package main

import (
	"context"
	"database/sql"
	"fmt"
	"net"
	"os"
	"os/signal"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	_ "github.com/go-sql-driver/mysql"
	"github.com/google/uuid"
	amqp "github.com/rabbitmq/amqp091-go"
	"go.uber.org/goleak"

	"github.com/orderq/orderq/shared/message"
	"github.com/orderq/orderq/shared/mq"
	"github.com/orderq/orderq/shared/orderstatus"
	"github.com/orderq/orderq/shared/shard"
	"github.com/orderq/orderq/shared/testenv"
)

// TestMain checks that nothing run started outlives it: consumers, the
// results publisher, the outbox relay, the payment timeouts, the servers.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

const testShards = 2

func testEnv(t *testing.T) map[string]string {
	t.Helper()
	return map[string]string{
		"AMQP_URL": testenv.Vhost(t), "MYSQL_DSN": testenv.Database(t), "SHARDS": fmt.Sprint(testShards),
		"METRICS_ADDR": "127.0.0.1:0", "DEBUG_ADDR": "127.0.0.1:0",
		// Small batches: many of them in flight when the signal comes.
		"WORKER_BATCH_SIZE": "20", "WORKER_PREFETCH": "100",
	}
}

// worker is run in-process, stopped by SIGTERM.
type worker struct {
	log  *testenv.Log
	done chan struct{}
	err  error
}

func startWorker(t *testing.T, env map[string]string) *worker {
	t.Helper()
	w := &worker{log: testenv.NewLog(t), done: make(chan struct{})}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM)
	go func() {
		defer close(w.done)
		defer stop()
		w.err = run(ctx, w.log.Logger, testenv.Env(env))
	}()
	t.Cleanup(func() {
		// A failed test must not leave run to the next one.
		stop()
		<-w.done
	})
	w.log.Await(t, "broker connected", time.Minute)
	return w
}

// terminate sends the process SIGTERM and waits for run to return nil within
// bound.
func (w *worker) terminate(t *testing.T, bound time.Duration) {
	t.Helper()
	if err := syscall.Kill(os.Getpid(), syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case <-w.done:
		if w.err != nil {
			t.Fatalf("run: %v", w.err)
		}
	case <-time.After(bound):
		t.Fatalf("run did not return within %s of SIGTERM", bound)
	}
}

// items creates one item on each shard, with stock enough for every order.
func items(t *testing.T, db *sql.DB) [testShards]int64 {
	t.Helper()
	var ids [testShards]int64
	found := 0
	for found < testShards {
		res, err := db.Exec("INSERT INTO items (name, stock, initial_stock, created_at, updated_at) VALUES ('x', 1000000, 1000000, NOW(6), NOW(6))")
		if err != nil {
			t.Fatal(err)
		}
		id, err := res.LastInsertId()
		if err != nil {
			t.Fatal(err)
		}
		if s := shard.Of(id, testShards); ids[s] == 0 {
			ids[s] = id
			found++
		}
	}
	return ids
}

// feed publishes, confirmed, messages of orders on both shards until quit is
// closed, and returns the ids of the orders the broker confirmed. Each message
// carries single-item orders and a cart whose other line is on the other
// shard, so the outbox relay has work too.
func feed(t *testing.T, url string, item [testShards]int64, quit <-chan struct{}) func() []string {
	t.Helper()
	conn, err := mq.Dial(url, "worker shutdown test")
	if err != nil {
		t.Fatal(err)
	}
	ch, err := conn.Channel()
	if err != nil {
		t.Fatal(err)
	}
	if err := ch.Confirm(false); err != nil {
		t.Fatal(err)
	}
	var ids []string
	var ferr error
	done := make(chan struct{})
	go func() {
		defer close(done)
		defer conn.Close()
		defer func() {
			if ferr != nil {
				t.Errorf("publish orders: %v", ferr)
			}
		}()
		for i := 0; ; i++ {
			select {
			case <-quit:
				return
			default:
			}
			s := i % testShards
			cmds := make([]message.Command, 10)
			for j := range cmds {
				cmds[j] = message.Command{Kind: message.KindOrder, ID: uuid.NewString(), Parts: 1, AcceptedAt: time.Now(),
					CustomerID: "c-" + uuid.NewString()[:12], Lines: []message.Line{{No: 0, ItemID: item[s], Quantity: 1}}}
			}
			cmds[0].Parts = 2
			cmds[0].Lines = append(cmds[0].Lines, message.Line{No: 1, ItemID: item[1-s], Quantity: 1})
			for j := range cmds {
				if err := cmds[j].Validate(); err != nil {
					ferr = err
					return
				}
			}
			body, err := message.EncodeCommands(cmds)
			if err != nil {
				ferr = err
				return
			}
			dc, err := ch.PublishWithDeferredConfirm(message.OrdersExchange, message.RoutingKey(s), false, false,
				amqp.Publishing{ContentType: message.ContentType, DeliveryMode: amqp.Persistent, Body: body})
			if err != nil {
				ferr = err
				return
			}
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			ok, err := dc.WaitContext(ctx)
			cancel()
			if err != nil || !ok {
				ferr = fmt.Errorf("not confirmed: %v", err)
				return
			}
			for _, c := range cmds {
				ids = append(ids, c.ID)
			}
			time.Sleep(2 * time.Millisecond)
		}
	}()
	return func() []string {
		t.Helper()
		<-done
		if ferr != nil {
			t.FailNow()
		}
		return ids
	}
}

// queued reads the ids of the orders on the shard queues without
// acknowledging them (they go back when the channel closes); only while no
// worker consumes, when this is the queues' single active consumer.
func queued(t *testing.T, url string) map[string]int {
	t.Helper()
	conn, err := mq.Dial(url, "worker shutdown test")
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	ch, err := conn.Channel()
	if err != nil {
		t.Fatal(err)
	}
	ids := map[string]int{}
	for n := range testShards {
		q, err := ch.QueueDeclarePassive(message.ShardQueue(n), true, false, false, false, nil)
		if err != nil {
			t.Fatal(err)
		}
		if q.Messages == 0 {
			continue
		}
		deliveries, err := ch.Consume(q.Name, "", false, false, false, false, nil)
		if err != nil {
			t.Fatal(err)
		}
		timeout := time.After(30 * time.Second)
		for range q.Messages {
			var d amqp.Delivery
			select {
			case d = <-deliveries:
			case <-timeout:
				t.Fatalf("%s: fewer than the %d messages it said it held", q.Name, q.Messages)
			}
			cmds, err := message.DecodeCommands(d.Body)
			if err != nil {
				t.Fatal(err)
			}
			for _, c := range cmds {
				// The outbox's parts of a cart carry the cart's id: only
				// the orders as published count.
				if c.Kind == message.KindOrder {
					ids[c.ID]++
				}
			}
		}
	}
	return ids
}

// statuses returns every order's status.
func statuses(t *testing.T, db *sql.DB) map[string]string {
	t.Helper()
	rows, err := db.Query("SELECT id, status FROM report_orders")
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	m := map[string]string{}
	for rows.Next() {
		var id, status string
		if err := rows.Scan(&id, &status); err != nil {
			t.Fatal(err)
		}
		m[id] = status
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return m
}

func count(t *testing.T, db *sql.DB, query string) int {
	t.Helper()
	var n int
	if err := db.QueryRow(query).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

// TestRunShutsDownInOrderOnSIGTERM runs the worker in-process while orders
// and carts stream in, and sends the process SIGTERM mid-load. run must
// return nil within a bound, having stopped each stage once and in order, and
// every batch it committed must be acknowledged: no committed order is still
// on a queue, and none published is lost. A second run takes the rest, and
// then every order published is in the database once, final, with the
// ledger balanced and the outbox empty. TestMain checks that nothing either
// run started is still running.
func TestRunShutsDownInOrderOnSIGTERM(t *testing.T) {
	env := testEnv(t)
	w := startWorker(t, env)
	db, err := sql.Open("mysql", env["MYSQL_DSN"])
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	item := items(t, db)
	quit := make(chan struct{})
	published := feed(t, env["AMQP_URL"], item, quit)

	deadline := time.Now().Add(time.Minute)
	for count(t, db, "SELECT COUNT(*) FROM orders WHERE status <> 'pending'") < 300 {
		if time.Now().After(deadline) || t.Failed() {
			t.Fatal("fewer than 300 orders decided after a minute")
		}
		time.Sleep(10 * time.Millisecond)
	}
	w.terminate(t, 10*time.Second)
	close(quit)
	ids := published()

	want := []string{"shutting down", "stopping deployment watch", "stopping consumer", "stopping rejected retention", "stopping payment timeouts",
		"stopping outbox backlog", "stopping outbox relay", "stopping outbox broker connection", "stopping debug server", "stopping metrics server",
		"stopping tracing", "stopping database", "stopped"}
	var got []string
	for _, m := range w.log.Messages(t) {
		if slices.Contains(want, m) {
			got = append(got, m)
		}
	}
	if !slices.Equal(got, want) {
		t.Errorf("shutdown logged %q, want %q", got, want)
	}

	// With no worker running, each order is in the database or on a queue,
	// never both (committed, not acknowledged) and never neither (lost).
	stored, onQueue := statuses(t, db), queued(t, env["AMQP_URL"])
	for _, id := range ids {
		_, inDB := stored[id]
		switch n := onQueue[id]; {
		case inDB && n > 0:
			t.Errorf("order %s was committed but its message is still queued: its batch was not acknowledged", id)
		case !inDB && n == 0:
			t.Errorf("order %s was confirmed by the broker but is neither stored nor queued", id)
		case n > 1:
			t.Errorf("order %s is on the queues %d times", id, n)
		}
	}
	t.Logf("stopped with %d of %d orders stored, %d queued", len(stored), len(ids), len(onQueue))

	w = startWorker(t, env)
	deadline = time.Now().Add(2 * time.Minute)
	for {
		stored = statuses(t, db)
		final := 0
		for _, id := range ids {
			if st := stored[id]; st == string(orderstatus.Confirmed) || st == string(orderstatus.Rejected) {
				final++
			}
		}
		if final == len(ids) && count(t, db, "SELECT COUNT(*) FROM outbox") == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d of %d orders final after 2 minutes, %d outbox rows", final, len(ids), count(t, db, "SELECT COUNT(*) FROM outbox"))
		}
		time.Sleep(50 * time.Millisecond)
	}
	if len(stored) != len(ids) {
		t.Errorf("%d orders stored, %d published", len(stored), len(ids))
	}
	if n := count(t, db, `SELECT COUNT(*) FROM items i WHERE i.stock <> i.initial_stock +
		COALESCE((SELECT SUM(delta) FROM stock_movements m WHERE m.item_id = i.id), 0)`); n != 0 {
		t.Errorf("%d items whose ledger does not balance", n)
	}
	w.terminate(t, 10*time.Second)
}

// TestRunStopsWhenAServerFails gives the worker a metrics address that is
// taken: the metrics server fails once the worker has started, and run must
// stop everything else and return that error.
func TestRunStopsWhenAServerFails(t *testing.T) {
	taken, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer taken.Close()
	env := testEnv(t)
	env["METRICS_ADDR"] = taken.Addr().String()
	log := testenv.NewLog(t)
	var runErr error
	done := make(chan struct{})
	go func() { runErr = run(context.Background(), log.Logger, testenv.Env(env)); close(done) }()
	select {
	case <-done:
	case <-time.After(time.Minute):
		t.Fatal("run did not return within a minute")
	}
	if runErr == nil || !strings.Contains(runErr.Error(), "metrics server") || !strings.Contains(runErr.Error(), "listen") {
		t.Fatalf("run = %v, want the metrics server's listen error", runErr)
	}
	msgs := log.Messages(t)
	for _, m := range []string{"stopping consumer", "stopping outbox relay", "stopping database"} {
		if !slices.Contains(msgs, m) {
			t.Errorf("not logged: %q", m)
		}
	}
	if msgs[len(msgs)-1] != "stopped" {
		t.Errorf("last logged %q, want \"stopped\"", msgs[len(msgs)-1])
	}
}
