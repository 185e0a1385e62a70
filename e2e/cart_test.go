package e2e

import (
	"database/sql"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net/http"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/orderq/orderq/shared/message"
)

// view is an order answer: the order with the status its customer sees,
// labelled in the request's language.
type view struct {
	message.Order
}

// placeCart places an order of lines ({item, quantity}) and returns its id.
func (c *client) placeCart(customer string, lines [][2]int64) (int, string) {
	body := map[string]any{"customer_id": customer}
	var ls []map[string]int64
	for _, l := range lines {
		ls = append(ls, map[string]int64{"item_id": l[0], "quantity": l[1]})
	}
	body["lines"] = ls
	var o view
	st := c.do("POST", "/api/v1/orders", body, nil, &o)
	return st, o.ID
}

func (c *client) view(id string) view {
	c.t.Helper()
	var o view
	if st := c.do("GET", "/api/v1/orders/"+id, nil, nil, &o); st != http.StatusOK {
		c.t.Fatalf("GET order %s: status %d", id, st)
	}
	return o
}

// settled waits until every order is final and no rejected or canceled order
// still holds stock, nor has a command waiting in the outbox.
func (s *system) settled(db *sql.DB) {
	s.t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for {
		var pending, holding, queued int
		if err := db.QueryRow("SELECT COUNT(*) FROM orders WHERE status = 'pending'").Scan(&pending); err != nil {
			s.t.Fatal(err)
		}
		if err := db.QueryRow(`SELECT COUNT(*) FROM order_lines l JOIN orders o ON o.id = l.order_id
			WHERE o.status IN ('rejected', 'canceled') AND l.status NOT IN ('rejected', 'released', 'pending')`).Scan(&holding); err != nil {
			s.t.Fatal(err)
		}
		if err := db.QueryRow("SELECT COUNT(*) FROM outbox").Scan(&queued); err != nil {
			s.t.Fatal(err)
		}
		if pending == 0 && holding == 0 && queued == 0 {
			return
		}
		if time.Now().After(deadline) {
			s.t.Fatalf("not settled after 60 s: %d orders pending, %d lines of dead orders holding stock, %d commands in the outbox",
				pending, holding, queued)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func TestCartsNeverOversellOrLeak(t *testing.T) {
	t.Parallel()
	s := newSystem(t)
	s.startWorker(nil)
	_, base := s.startGateway(nil)
	const orders, clients = 500, 50
	c := newClient(t, base, clients)
	initial := map[int64]int64{}
	var items []int64
	for i := range 5 {
		it := c.createItem(fmt.Sprintf("scarce-%d", i), int64(20+10*i), 0)
		items = append(items, it.ID)
		initial[it.ID] = it.Stock
	}

	ids := make(chan string, orders)
	var wg sync.WaitGroup
	work := make(chan int, orders)
	for i := range orders {
		work <- i
	}
	close(work)
	for range clients {
		wg.Go(func() {
			for i := range work {
				r := rand.New(rand.NewPCG(uint64(i), 7))
				var lines [][2]int64
				for _, j := range r.Perm(len(items))[:1+r.IntN(3)] {
					lines = append(lines, [2]int64{items[j], int64(1 + r.IntN(3))})
				}
				st, id := c.placeCart(fmt.Sprintf("cart-%d", i), lines)
				if st != http.StatusAccepted && st != http.StatusOK {
					t.Errorf("cart %d: status %d", i, st)
					continue
				}
				ids <- id
			}
		})
	}
	wg.Wait()
	close(ids)
	counts := map[string]int{}
	for id := range ids {
		counts[string(c.final(id).Status)]++
	}
	db := s.db()
	s.settled(db)
	if counts["confirmed"] == 0 || counts["rejected"] == 0 {
		t.Errorf("outcomes %v: the stock should let some carts through and not others", counts)
	}
	for _, item := range items {
		var reserved int64
		if err := db.QueryRow(`SELECT COALESCE(SUM(l.quantity), 0) FROM order_lines l JOIN orders o ON o.id = l.order_id
			WHERE l.item_id = ? AND o.status = 'confirmed' AND l.status = 'reserved'`, item).Scan(&reserved); err != nil {
			t.Fatal(err)
		}
		stock, balance := s.ledger(item)
		if stock < 0 || reserved+stock != initial[item] || balance != stock {
			t.Errorf("item %d: initial %d, stock %d, reserved by confirmed orders %d, ledger %d",
				item, initial[item], stock, reserved, balance)
		}
	}
	var partial int
	if err := db.QueryRow(`SELECT COUNT(*) FROM orders o WHERE o.status = 'confirmed'
		AND EXISTS (SELECT 1 FROM order_lines l WHERE l.order_id = o.id AND l.status <> 'reserved')`).Scan(&partial); err != nil {
		t.Fatal(err)
	}
	if partial != 0 {
		t.Errorf("%d confirmed orders with a line not reserved", partial)
	}
}

func TestOrderLifecycle(t *testing.T) {
	t.Parallel()
	s := newSystem(t)
	s.startWorker(nil)
	_, base := s.startGateway(nil)
	c := newClient(t, base, 2)
	a, b := c.createItem("tent", 3, 0), c.createItem("stove", 3, 0)
	st, id := c.placeCart("camper", [][2]int64{{a.ID, 1}, {b.ID, 2}})
	if st != http.StatusAccepted && st != http.StatusOK {
		t.Fatalf("cart: status %d", st)
	}
	if o := c.final(id); o.Status != "confirmed" {
		t.Fatalf("cart %s, want confirmed", o.Status)
	}
	steps := []struct {
		method, path string
		body         any
		headers      map[string]string
		status       int
		display      string
	}{
		{"GET", "", nil, nil, 200, "awaiting_payment"},
		// The back office's manual payment, and a refund: the admin's.
		{"POST", "/pay", nil, admin, 200, "processing"},
		{"POST", "/cancel", nil, admin, 200, "canceled"},
	}
	for i, step := range steps {
		var o view
		if got := c.do(step.method, "/api/v1/orders/"+id+step.path, step.body, step.headers, &o); got != step.status || o.DisplayStatus.Code != step.display {
			t.Fatalf("step %d %s %s: %d %q, want %d %q", i, step.method, step.path, got, o.DisplayStatus.Code, step.status, step.display)
		}
	}
	db := s.db()
	s.settled(db)
	for _, item := range []int64{a.ID, b.ID} {
		if stock, balance := s.ledger(item); stock != 3 || balance != 3 {
			t.Errorf("item %d after cancel: stock %d, ledger %d; want 3", item, stock, balance)
		}
	}
	// Canceled is final: paying now is refused.
	var e struct{ Error struct{ Code string } }
	if got := c.do("POST", "/api/v1/orders/"+id+"/pay", nil, admin, &e); got != http.StatusConflict || e.Error.Code != "invalid_transition" {
		t.Errorf("pay after cancel: %d %q, want 409 invalid_transition", got, e.Error.Code)
	}
}

func TestPaymentTimeoutReleasesOnce(t *testing.T) {
	t.Parallel()
	s := newSystem(t)
	timeout := map[string]string{"PAYMENT_TIMEOUT": "3s"}
	w := s.startWorker(timeout)
	_, base := s.startGateway(nil)
	c := newClient(t, base, 2)
	item := c.createItem("ticket", 5, 0)
	if st := c.do("PATCH", fmt.Sprintf("/api/v1/items/%d", item.ID), map[string]any{"price": 25000}, admin, nil); st != http.StatusOK {
		t.Fatalf("price the item: %d", st)
	}

	unpaid, paid := make([]string, 3), ""
	for i := range unpaid {
		st, o := c.order(item.ID, 1, fmt.Sprintf("late-%d", i), 10)
		if st != http.StatusOK || o.Status != "confirmed" {
			t.Fatalf("order %d: %d %s", i, st, o.Status)
		}
		unpaid[i] = o.ID
	}
	st, o := c.order(item.ID, 1, "prompt", 10)
	if st != http.StatusOK {
		t.Fatalf("order: %d", st)
	}
	paid = o.ID
	if o.Total == nil || *o.Total != 25000 {
		t.Fatalf("order total %v, want 25000", o.Total)
	}
	if got, outcome := c.payment("evt-prompt", paid, 25000); got != http.StatusOK || outcome != "paid" {
		t.Fatalf("payment: %d %s, want 200 paid", got, outcome)
	}
	// The worker dies before the timeout and comes back after it: the
	// cancellation still happens, once.
	w.stop(syscall.SIGKILL)
	time.Sleep(4 * time.Second)
	s.startWorker(timeout)

	db := s.db()
	deadline := time.Now().Add(30 * time.Second)
	for _, id := range unpaid {
		for {
			v := c.view(id)
			if v.Status == "canceled" {
				if v.Reason == nil || *v.Reason != message.ReasonPaymentTimeout || v.DisplayStatus.Code != "canceled" {
					t.Errorf("order %s canceled with %v, display %s", id, v.Reason, v.DisplayStatus.Code)
				}
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("order %s still %s after the payment timeout", id, v.Status)
			}
			time.Sleep(200 * time.Millisecond)
		}
	}
	s.settled(db)
	if v := c.view(paid); v.Status != "paid" {
		t.Errorf("paid order became %s", v.Status)
	}
	// A payment that arrives after the deadline canceled its order: the
	// order stays canceled and is flagged for a refund; its unit, released,
	// is not taken back. The same event again changes nothing more.
	for range 2 {
		if got, outcome := c.payment("evt-late", unpaid[0], 25000); got != http.StatusOK || outcome != "refund_required" {
			t.Fatalf("late payment: %d %s, want 200 refund_required", got, outcome)
		}
	}
	if v := c.view(unpaid[0]); v.Status != "canceled" || !v.RefundRequired {
		t.Errorf("late-paid order: %s, refund_required %v; want canceled and flagged", v.Status, v.RefundRequired)
	}
	var refunds struct{ Refunds []json.RawMessage }
	if st := c.do("GET", "/api/v1/payments/refunds", nil, admin, &refunds); st != http.StatusOK || len(refunds.Refunds) != 1 {
		t.Errorf("refund list: %d, %d refunds; want the late payment's one", st, len(refunds.Refunds))
	}
	s.settled(db)
	var releases, payments int
	if err := db.QueryRow("SELECT COUNT(*) FROM stock_movements WHERE item_id = ? AND kind = 'release'", item.ID).Scan(&releases); err != nil {
		t.Fatal(err)
	}
	if err := db.QueryRow("SELECT COUNT(*) FROM payments").Scan(&payments); err != nil {
		t.Fatal(err)
	}
	if stock, balance := s.ledger(item.ID); releases != len(unpaid) || stock != 4 || balance != 4 {
		t.Errorf("%d releases, stock %d, ledger %d; want %d releases and stock 4", releases, stock, balance, len(unpaid))
	}
	if payments != 2 {
		t.Errorf("%d payments stored, want 2 (the prompt one and the late one, once)", payments)
	}
}
