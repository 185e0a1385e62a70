package e2e

import (
	"fmt"
	"net/http"
	"regexp"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"

	"github.com/orderq/orderq/shared/message"
	"github.com/orderq/orderq/shared/orderstatus"
)

// ledger returns an item's stock and its initial stock plus every movement.
func (s *system) ledger(item int64) (stock, balance int64) {
	s.t.Helper()
	err := s.db().QueryRow(`SELECT i.stock, i.initial_stock + COALESCE((SELECT SUM(delta) FROM stock_movements m WHERE m.item_id = i.id), 0)
		FROM items i WHERE i.id = ?`, item).Scan(&stock, &balance)
	if err != nil {
		s.t.Fatal(err)
	}
	return stock, balance
}

func TestFlashSale(t *testing.T) {
	t.Parallel()
	s := newSystem(t)
	s.startWorker(nil)
	_, base := s.startGateway(nil)
	const stock, orders, clients = 100, 2000, 200
	c := newClient(t, base, clients)
	item := c.createItem("flash", stock, 0)

	ids := make(chan string, orders)
	work := make(chan int, orders)
	for i := range orders {
		work <- i
	}
	close(work)
	var wg sync.WaitGroup
	for range clients {
		wg.Go(func() {
			for i := range work {
				st, o := c.order(item.ID, 1, fmt.Sprintf("buyer-%d", i), 0)
				if st != http.StatusAccepted && st != http.StatusOK {
					t.Errorf("order %d: status %d", i, st)
					continue
				}
				ids <- o.ID
			}
		})
	}
	wg.Wait()
	close(ids)

	counts := map[string]int{}
	seen := map[string]bool{}
	for id := range ids {
		if seen[id] {
			t.Errorf("order id %s returned twice", id)
		}
		seen[id] = true
		o := c.final(id)
		key := string(o.Status)
		if o.Reason != nil {
			key += "/" + *o.Reason
		}
		counts[key]++
	}
	if len(seen) != orders || counts["confirmed"] != stock || counts["rejected/out_of_stock"] != orders-stock {
		t.Errorf("%d orders accepted, outcomes %v; want %d accepted, %d confirmed, %d rejected/out_of_stock",
			len(seen), counts, orders, stock, orders-stock)
	}
	if got := c.item(item.ID).Stock; got != 0 {
		t.Errorf("stock %d after the sale, want 0", got)
	}
	if st, balance := s.ledger(item.ID); st != balance {
		t.Errorf("ledger unbalanced: stock %d, initial + movements %d", st, balance)
	}
}

func TestFirstComeFirstServed(t *testing.T) {
	t.Parallel()
	s := newSystem(t)
	s.startWorker(nil)
	_, base := s.startGateway(nil)
	c := newClient(t, base, 1)
	item := c.createItem("scarce", 5, 0)

	var ids []string
	for i := range 15 {
		// Not waiting for the outcome: order i+1 is sent as soon as order i is
		// accepted, so several are queued at once.
		st, o := c.order(item.ID, 1, fmt.Sprintf("c-%d", i), 0)
		if st != http.StatusAccepted && st != http.StatusOK {
			t.Fatalf("order %d: status %d", i, st)
		}
		ids = append(ids, o.ID)
	}
	for i, id := range ids {
		o := c.final(id)
		want := orderstatus.Confirmed
		if i >= 5 {
			want = orderstatus.Rejected
		}
		if o.Status != want {
			t.Errorf("order %d: %s, want %s", i, o.Status, want)
		}
	}
}

func TestItemLifecycleThroughTheQueue(t *testing.T) {
	t.Parallel()
	s := newSystem(t)
	s.startWorker(nil)
	_, base := s.startGateway(nil)
	c := newClient(t, base, 4)
	item := c.createItem("lifecycle", 1, 2)

	if st, o := c.order(item.ID, 1, "alice", 10); st != http.StatusOK || o.Status != orderstatus.Confirmed {
		t.Fatalf("first order: %d %+v", st, o)
	}
	if st, o := c.order(item.ID, 1, "bob", 10); st != http.StatusOK || o.Reason == nil || *o.Reason != message.ReasonOutOfStock {
		t.Fatalf("order without stock: %d %+v", st, o)
	}
	var got message.Item
	if st := c.do("POST", fmt.Sprintf("/api/v1/items/%d/stock", item.ID), map[string]any{"delta": 10}, admin, &got); st != http.StatusOK || got.Stock != 10 {
		t.Fatalf("restock: %d %+v", st, got)
	}
	if st, o := c.order(item.ID, 2, "alice", 10); st != http.StatusOK || o.Reason == nil || *o.Reason != message.ReasonLimitExceeded {
		t.Fatalf("order over the customer limit: %d %+v", st, o)
	}
	var errBody struct{ Error struct{ Code string } }
	if st := c.do("POST", fmt.Sprintf("/api/v1/items/%d/stock", item.ID), map[string]any{"delta": -11}, admin, &errBody); st != http.StatusConflict || errBody.Error.Code != "insufficient_stock" {
		t.Fatalf("over-withdrawal: %d %+v", st, errBody)
	}
	if st := c.do("POST", fmt.Sprintf("/api/v1/items/%d/stock", item.ID), map[string]any{"set": 3}, admin, &got); st != http.StatusOK || got.Stock != 3 {
		t.Fatalf("set stock: %d %+v", st, got)
	}
	if st := c.do("DELETE", fmt.Sprintf("/api/v1/items/%d", item.ID), nil, admin, nil); st != http.StatusNoContent {
		t.Fatalf("delete: %d", st)
	}
	if st := c.do("GET", fmt.Sprintf("/api/v1/items/%d", item.ID), nil, nil, nil); st != http.StatusNotFound {
		t.Errorf("deleted item: GET status %d, want 404", st)
	}
	if st, _ := c.order(item.ID, 1, "carol", 0); st != http.StatusNotFound {
		t.Errorf("order for a deleted item: status %d, want 404", st)
	}
	if st, balance := s.ledger(item.ID); st != 3 || balance != 3 {
		t.Errorf("stock %d, ledger %d; want 3 and 3", st, balance)
	}
}

func TestShardCountMismatchIsRefused(t *testing.T) {
	t.Parallel()
	s := newSystem(t)
	s.startWorker(nil)
	p, _ := s.start("worker", map[string]string{"SHARDS": "8", "METRICS_ADDR": "127.0.0.1:0"}, `"msg":"worker stopped"`)
	if err := <-p.done; err == nil {
		t.Error("a worker with another shard count exited 0")
	}
	if out := p.output(); !strings.Contains(out, "SHARDS=8 but this deployment runs 4 shards") {
		t.Errorf("no clear error about the shard count:\n%s", out)
	}
}

// TestGracefulShutdown sends SIGTERM to the worker and then the gateway while a
// crowd buys, and restarts each: the worker commits and acknowledges the batch
// in hand, the gateway finishes the requests in flight (or answers 503), both
// stop each of their goroutines once, in order, and exit 0 within a bound, and
// afterwards nothing is lost or doubled.
func TestGracefulShutdown(t *testing.T) {
	t.Parallel()
	s := newSystem(t)
	w := s.startWorker(nil)
	g, base := s.startGateway(nil)
	item := newClient(t, base, 1).createItem("shutdown", faultStock, 0)
	// What each program stops, in this order: first what takes work in, last
	// what that work used.
	stages := map[string][]string{
		"gateway": {"http", "deployment watch", "intake", "results subscription", "broker connection", "metrics server", "tracing", "database"},
		"worker":  {"deployment watch", "consumer", "rejected retention", "payment timeouts", "outbox backlog", "outbox relay", "outbox broker connection", "metrics server", "tracing", "database"},
	}
	stopCleanly := func(name string, p *process) {
		t.Helper()
		// stop gives up after 30 s: the bound on a graceful exit.
		if err := p.stop(syscall.SIGTERM); err != nil {
			t.Errorf("%s: %v", name, err)
		}
		var want, got []string
		for _, st := range stages[name] {
			want = append(want, "stopping "+st)
		}
		want = append(want, "stopped")
		for _, m := range regexp.MustCompile(`"msg":"(stopping [^"]*|stopped)"`).FindAllStringSubmatch(p.output(), -1) {
			got = append(got, m[1])
		}
		if !slices.Equal(got, want) {
			t.Errorf("%s stopped %q, want %q:\n%s", name, got, want, p.output())
		}
	}

	cr := newCrowd(t, base, item.ID, faultOrders, faultClients)
	cr.lostOK.Store(true) // while the gateway restarts
	cr.start()

	cr.waitAccepted(faultOrders / 4)
	stopCleanly("worker", w)
	// With no worker running the database holds still: none of its orders
	// may be on a queue still, or the worker committed a batch it did not
	// acknowledge.
	var applied []string
	rows, err := s.db().Query("SELECT id FROM report_orders")
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var id string
		rows.Scan(&id)
		applied = append(applied, id)
	}
	rows.Close()
	queued := s.queuedOrderIDs(4)
	for _, id := range applied {
		if queued[id] {
			t.Errorf("order %s was committed but its message is still queued: the worker did not acknowledge its last batch", id)
		}
	}
	t.Logf("worker stopped with %d orders applied and %d waiting on the queues", len(applied), len(queued))
	w = s.startWorker(nil)

	cr.waitAccepted(faultOrders * 3 / 5)
	stopCleanly("gateway", g)
	g, base = s.startGateway(nil)
	cr.setBase(base)

	cr.wait()
	t.Log(cr.summary())
	for st, n := range cr.statuses {
		if st != http.StatusAccepted && st != http.StatusOK && st != http.StatusServiceUnavailable {
			t.Errorf("%d answers with status %d; during a shutdown only 202, 200 or 503 may be", n, st)
		}
	}
	// A request the gateway read is answered; only new connections to a
	// gateway that is gone may fail.
	for kind, n := range cr.lost {
		if kind != "refused" {
			t.Errorf("%d requests lost their answer: %s", n, kind)
		}
	}
	s.checkSale(item.ID, cr.acceptedIDs())
	stopCleanly("worker", w)
	stopCleanly("gateway", g)
}
