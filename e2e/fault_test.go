package e2e

import (
	"encoding/json"
	"fmt"
	"maps"
	"net/http"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/orderq/orderq/shared/message"
	"github.com/orderq/orderq/shared/orderstatus"
	"github.com/orderq/orderq/shared/shard"
)

// The fault tests: a crowd of customers buys a scarce item while the line
// between a process and the broker or the database is cut, or the worker is
// killed; afterwards every accepted order is final exactly once and the stock
// adds up.

const (
	faultStock   = 300
	faultOrders  = 3000
	faultClients = 50
	// crashOrders is a crowd that lasts past a database crash and restart.
	crashOrders = 10000
	// outage is how long a line stays cut: long enough for the processes to
	// notice and retry a few times, short next to the test.
	outage = 2 * time.Second
)

func TestGatewayBrokerConnectionCut(t *testing.T) {
	t.Parallel()
	s := newSystem(t)
	s.startWorker(nil)
	proxy, url := s.proxyBroker()
	_, base := s.startGateway(map[string]string{"AMQP_URL": url})
	item := newClient(t, base, 1).createItem("gateway-cut", faultStock, 0)

	cr := newCrowd(t, base, item.ID, faultOrders, faultClients)
	cr.start()
	cr.waitAccepted(faultOrders / 5)
	proxy.Cut()
	t.Logf("cut the gateway's broker line with %d orders accepted", cr.accepted.Load())
	waitReady(t, base, http.StatusServiceUnavailable)

	// While the broker is out of reach an order is refused with 503 and
	// Retry-After, never accepted; the same key gets the order afterwards.
	probe := fmt.Sprintf(`{"item_id":%d,"quantity":1,"customer_id":"probe"}`, item.ID)
	hc := &http.Client{Timeout: 30 * time.Second}
	st, header, _, err := postOrder(hc, base, probe, "probe-key")
	if err != nil || st != http.StatusServiceUnavailable || header.Get("Retry-After") == "" {
		t.Errorf("order during the outage: status %d, Retry-After %q, err %v; want 503 with Retry-After", st, header.Get("Retry-After"), err)
	}
	time.Sleep(outage)
	proxy.Restore()
	restored := time.Now()
	waitReady(t, base, http.StatusOK)
	t.Logf("ready again %v after the line was restored, with %d orders accepted", time.Since(restored).Round(time.Millisecond), cr.accepted.Load())
	st, _, probed, err := postOrder(hc, base, probe, "probe-key")
	if err != nil || (st != http.StatusAccepted && st != http.StatusOK) {
		t.Fatalf("the refused order retried after the outage: status %d, err %v", st, err)
	}

	cr.wait()
	t.Log(cr.summary())
	if cr.statuses[http.StatusServiceUnavailable] == 0 {
		t.Log("no crowd order met the outage (the probe did)")
	}
	confirmed := s.checkSale(item.ID, append(cr.acceptedIDs(), probed.ID))
	t.Logf("%d confirmed", confirmed)
}

func TestWorkerBrokerConnectionCut(t *testing.T) {
	t.Parallel()
	s := newSystem(t)
	proxy, url := s.proxyBroker()
	w := s.startWorker(map[string]string{"AMQP_URL": url})
	_, base := s.startGateway(nil)
	item := newClient(t, base, 1).createItem("worker-cut", faultStock, 0)

	cr := newCrowd(t, base, item.ID, faultOrders, faultClients)
	cr.start()
	cr.waitAccepted(faultOrders / 4)
	proxy.Cut()
	t.Logf("cut the worker's broker line with %d orders accepted, %d decided", cr.accepted.Load(), s.decided(item.ID))
	waitLog(t, w, 1, `"msg":"broker connection lost, reconnecting"`)
	time.Sleep(outage)
	proxy.Restore()
	restored := time.Now()
	// The consumer's line (the worker's outbox publisher logs its own).
	waitLog(t, w, 2, `"msg":"broker connected"`, `"shards"`)
	t.Logf("worker reconnected %v after the line was restored; %d orders accepted, %d decided", time.Since(restored).Round(time.Millisecond), cr.accepted.Load(), s.decided(item.ID))

	cr.wait()
	t.Log(cr.summary())
	s.checkSale(item.ID, cr.acceptedIDs())
}

func TestWorkerKilledMidLoad(t *testing.T) {
	t.Parallel()
	s := newSystem(t)
	w := s.startWorker(nil)
	_, base := s.startGateway(nil)
	item := newClient(t, base, 1).createItem("worker-kill", faultStock, 0)

	cr := newCrowd(t, base, item.ID, faultOrders, faultClients)
	cr.start()
	for _, at := range []int{faultOrders / 5, faultOrders / 2, faultOrders * 4 / 5} {
		cr.waitAccepted(at)
		w.stop(syscall.SIGKILL)
		t.Logf("killed the worker with %d orders accepted, %d decided", cr.accepted.Load(), s.decided(item.ID))
		w = s.startWorker(nil)
	}
	cr.wait()
	t.Log(cr.summary())
	s.checkSale(item.ID, cr.acceptedIDs())
}

// TestDatabaseOutage cuts the worker's line to the database: orders accepted
// meanwhile stay on the queue, unacknowledged, and are decided in the order
// they were accepted once the database is back.
func TestDatabaseOutage(t *testing.T) {
	t.Parallel()
	s := newSystem(t)
	proxy, dsn := s.proxyDatabase()
	w := s.startWorker(map[string]string{"MYSQL_DSN": dsn})
	_, base := s.startGateway(nil)
	c := newClient(t, base, 1)
	const stock, before, during = 5, 2, 13
	item := c.createItem("db-outage", stock, 0)

	var ids []string
	for i := range before {
		st, o := c.order(item.ID, 1, fmt.Sprintf("c-%d", i), 10)
		if st != http.StatusOK || o.Status != orderstatus.Confirmed {
			t.Fatalf("order %d before the outage: %d %+v", i, st, o)
		}
		ids = append(ids, o.ID)
	}
	proxy.Cut()
	for i := before; i < before+during; i++ {
		st, o := c.order(item.ID, 1, fmt.Sprintf("c-%d", i), 0)
		if st != http.StatusAccepted {
			t.Fatalf("order %d during the outage: status %d", i, st)
		}
		ids = append(ids, o.ID)
	}
	waitLog(t, w, 1, `"msg":"database error, retrying the batch"`)

	// Nothing was decided, and nothing was acknowledged: the orders wait on
	// their queue, one message each (a sequential client is never coalesced).
	db := s.db()
	if r := s.sale(db, item.ID); len(r.orders) != before {
		t.Errorf("%d orders in the database during the outage, want the %d from before", len(r.orders), before)
	}
	queue := message.ShardQueue(shard.Of(item.ID, 4))
	deadline := time.Now().Add(30 * time.Second)
	for n := s.queueDepth(queue); n != during; n = s.queueDepth(queue) {
		if time.Now().After(deadline) {
			t.Fatalf("%s holds %d messages during the outage, want %d", queue, n, during)
		}
		time.Sleep(250 * time.Millisecond)
	}
	time.Sleep(outage)
	proxy.Restore()
	restored := time.Now()

	for i, id := range ids {
		o := c.final(id)
		want := orderstatus.Confirmed
		if i >= stock {
			want = orderstatus.Rejected
		}
		if o.Status != want {
			t.Errorf("order %d: %s, want %s (first come, first served)", i, o.Status, want)
		}
	}
	t.Logf("all %d orders final %v after the database came back", len(ids), time.Since(restored).Round(time.Millisecond))
	s.checkSale(item.ID, ids)
	deadline = time.Now().Add(30 * time.Second)
	for n := s.queueDepth(queue); n != 0; n = s.queueDepth(queue) {
		if time.Now().After(deadline) {
			t.Fatalf("%s still holds %d messages after the outage", queue, n)
		}
		time.Sleep(250 * time.Millisecond)
	}
}

// TestDatabaseCrash SIGKILLs the database, a server of the test's own, under
// a crowd and restarts it after the outage: the gateway keeps accepting
// orders (the worker decides them once the database is back), answers 503
// with Retry-After what needs the database meanwhile, and never 500; every
// accepted order ends final once, and the stock adds up.
func TestDatabaseCrash(t *testing.T) {
	t.Parallel()
	s := newSystem(t)
	mdb := s.privateDatabase()
	s.startWorker(nil)
	// Items are made on another gateway: the crowd's gateway has looked up
	// only the crowd's item (at its first order) when the database goes.
	_, other := s.startGateway(nil)
	_, base := s.startGateway(nil)
	item := newClient(t, other, 1).createItem("db-crash", faultStock, 0)
	unseen := newClient(t, other, 1).createItem("db-crash-unseen", 10, 0)
	c := newClient(t, base, 1)

	cr := newCrowd(t, base, item.ID, crashOrders, faultClients)
	cr.start()
	cr.waitAccepted(crashOrders / 5)
	mdb.Kill()
	killed, atKill := time.Now(), cr.accepted.Load()
	t.Logf("killed the database with %d orders accepted", atKill)
	waitReady(t, base, http.StatusServiceUnavailable)

	// What needs the database answers 503 with Retry-After meanwhile.
	for _, path := range []string{fmt.Sprintf("/api/v1/items/%d", item.ID), "/api/v1/orders?customer_id=probe"} {
		var body struct {
			Error struct{ Code, Message string }
		}
		req, err := http.NewRequest(http.MethodGet, base+path, nil)
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("X-API-Key", storefrontKey)
		resp, err := c.http.Do(req)
		if err != nil {
			t.Fatalf("GET %s during the outage: %v", path, err)
		}
		err = json.NewDecoder(resp.Body).Decode(&body)
		resp.Body.Close()
		if err != nil {
			t.Fatalf("GET %s during the outage: %d, body: %v", path, resp.StatusCode, err)
		}
		if resp.StatusCode != http.StatusServiceUnavailable || resp.Header.Get("Retry-After") == "" ||
			body.Error.Code != "unavailable" || !strings.Contains(body.Error.Message, "database") {
			t.Errorf("GET %s during the outage: %d, Retry-After %q, %+v; want 503 unavailable with Retry-After",
				path, resp.StatusCode, resp.Header.Get("Retry-After"), body.Error)
		}
	}

	// Orders of an item the gateway cannot look up are accepted all the
	// same; the worker decides them once the database is back.
	probes := map[int64]string{unseen.ID: string(orderstatus.Confirmed), unseen.ID + 1000: string(orderstatus.Rejected) + "/" + message.ReasonItemNotFound}
	probed := map[int64]string{}
	for id := range probes {
		st, header, o, err := postOrder(c.http, base, fmt.Sprintf(`{"item_id":%d,"quantity":1,"customer_id":"probe"}`, id), fmt.Sprintf("probe-%d", id))
		if err != nil || (st != http.StatusAccepted && st != http.StatusOK) {
			t.Fatalf("order of item %d during the outage: status %d, Retry-After %q, err %v; want 202", id, st, header.Get("Retry-After"), err)
		}
		probed[id] = o.ID
	}

	time.Sleep(outage - time.Since(killed))
	mdb.Restart()
	atRestart := cr.accepted.Load()
	t.Logf("restarted the database %v after the kill; %d orders accepted while it was down",
		time.Since(killed).Round(time.Millisecond), atRestart-atKill)
	waitReady(t, base, http.StatusOK)
	t.Logf("ready again %v after the kill, with %d orders accepted", time.Since(killed).Round(time.Millisecond), cr.accepted.Load())

	cr.wait()
	t.Log(cr.summary())
	cr.mu.Lock()
	statuses := maps.Clone(cr.statuses)
	cr.mu.Unlock()
	t.Logf("answers to the crowd: %d×202, %d×200, %d×503, %d×500 (all: %v); accepted %d before the kill, %d while the database was down, %d after",
		statuses[http.StatusAccepted], statuses[http.StatusOK], statuses[http.StatusServiceUnavailable],
		statuses[http.StatusInternalServerError], statuses, atKill, atRestart-atKill, cr.accepted.Load()-atRestart)
	if n := statuses[http.StatusInternalServerError]; n != 0 {
		t.Errorf("%d answers were 500", n)
	}
	confirmed := s.checkSale(item.ID, cr.acceptedIDs())
	t.Logf("%d confirmed", confirmed)
	for id, want := range probes {
		o := c.final(probed[id])
		got := string(o.Status)
		if o.Reason != nil {
			got += "/" + *o.Reason
		}
		if got != want {
			t.Errorf("order of item %d accepted during the outage ended %s, want %s", id, got, want)
		}
	}
}
