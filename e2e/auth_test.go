package e2e

import (
	"fmt"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/orderq/orderq/shared/message"
	"github.com/orderq/orderq/shared/orderstatus"
)

// TestFlashSaleWithCustomerTokens is a flash sale in which every buyer has a
// customer token of their own and names no customer in the body: the buyer
// is the token's subject. A bot with one token tries to buy for 50 customers
// at once: every order naming another customer is refused with 403, and its
// own get no more than the item's limit per customer. The sale's invariants
// hold on the database.
func TestFlashSaleWithCustomerTokens(t *testing.T) {
	t.Parallel()
	s := newSystem(t)
	s.startWorker(nil)
	_, base := s.startGateway(nil)
	const stock, buyers, ordersEach, clients = 60, 200, 2, 50
	c := newClient(t, base, clients)
	item := c.createItem("tokens", stock, 1)

	var (
		mu  sync.Mutex
		ids []string
		// sub of each accepted order, as its answer names the customer
		owner = map[string]string{}
	)
	accepted := func(who *client, sub string, st int, o message.Order) {
		t.Helper()
		if st != http.StatusAccepted && st != http.StatusOK {
			t.Errorf("order of %s: status %d", sub, st)
			return
		}
		if o.ID == "" || o.CustomerID != sub {
			t.Errorf("order of %s accepted as %+v: the customer is the token's", sub, o)
			return
		}
		mu.Lock()
		ids, owner[o.ID] = append(ids, o.ID), sub
		mu.Unlock()
	}

	work := make(chan int, buyers)
	for i := range buyers {
		work <- i
	}
	close(work)
	var wg sync.WaitGroup
	for range clients {
		wg.Go(func() {
			for i := range work {
				sub := fmt.Sprintf("buyer-%d", i)
				buyer := c.customer(sub)
				for range ordersEach {
					st, o := buyer.order(item.ID, 1, "", 0)
					accepted(buyer, sub, st, o)
				}
			}
		})
	}
	// The bot, during the sale: one token, 50 customers named, its own
	// first; then a few more orders for itself.
	wg.Go(func() {
		bot := c.customer("bot")
		for i := range 50 {
			named := "bot"
			if i > 0 {
				named = fmt.Sprintf("victim-%d", i)
			}
			st, o := bot.order(item.ID, 1, named, 0)
			if named == "bot" {
				accepted(bot, "bot", st, o)
				continue
			}
			if st != http.StatusForbidden {
				t.Errorf("the bot's order for %s: status %d, want 403", named, st)
			}
		}
		for range 4 {
			st, o := bot.order(item.ID, 1, "", 0)
			accepted(bot, "bot", st, o)
		}
	})
	wg.Wait()

	// Every order final, each seen by its own customer.
	outcomes := map[string]int{}
	for _, id := range ids {
		o := c.customer(owner[id]).final(id)
		key := string(o.Status)
		if o.Reason != nil {
			key += "/" + *o.Reason
		}
		outcomes[key]++
	}
	t.Logf("%d orders accepted: %v", len(ids), outcomes)
	for key := range outcomes {
		switch key {
		case string(orderstatus.Confirmed), string(orderstatus.Rejected) + "/" + message.ReasonOutOfStock, string(orderstatus.Rejected) + "/" + message.ReasonLimitExceeded:
		default:
			t.Errorf("orders ended %s", key)
		}
	}
	if want := buyers*ordersEach + 5; len(ids) != want {
		t.Errorf("%d orders accepted, want %d", len(ids), want)
	}

	r := s.sale(s.db(), item.ID)
	for _, id := range ids {
		if _, ok := r.orders[id]; !ok {
			t.Errorf("accepted order %s is not in the database", id)
		}
	}
	if len(r.orders) != len(ids) {
		t.Errorf("the database holds %d orders of the item, %d were accepted: a refused order was taken", len(r.orders), len(ids))
	}
	switch {
	case r.stock < 0:
		t.Errorf("stock %d below zero", r.stock)
	case r.stock != r.balance:
		t.Errorf("ledger unbalanced: stock %d, initial + movements %d", r.stock, r.balance)
	case int64(r.confirmed) != r.initial-r.stock:
		t.Errorf("%d orders confirmed, want initial %d − remaining %d", r.confirmed, r.initial, r.stock)
	case r.movements != r.confirmed:
		t.Errorf("%d stock movements for %d confirmed orders", r.movements, r.confirmed)
	case r.stock != 0:
		// 201 customers for 60 units, one each: the stock sells out.
		t.Errorf("stock %d left with more customers than units", r.stock)
	}
	rows, err := s.db().Query(`SELECT customer_id, COUNT(*) FROM report_order_lines
		WHERE item_id = ? AND order_status = 'confirmed' GROUP BY customer_id HAVING COUNT(*) > 1`, item.ID)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	for rows.Next() {
		var customer string
		var n int
		if err := rows.Scan(&customer, &n); err != nil {
			t.Fatal(err)
		}
		t.Errorf("customer %s has %d confirmed orders, the limit is 1", customer, n)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
}

// TestCustomersSeeOnlyTheirOwnOrders: customer B cannot read, wait on, list
// or cancel customer A's order; to B it does not exist (404), and naming A in
// B's list is refused (403). A still can.
func TestCustomersSeeOnlyTheirOwnOrders(t *testing.T) {
	t.Parallel()
	s := newSystem(t)
	s.startWorker(nil)
	_, base := s.startGateway(nil)
	c := newClient(t, base, 4)
	item := c.createItem("private", 5, 0)
	alice, bob := c.customer("alice"), c.customer("bob")

	st, a := alice.order(item.ID, 1, "", 10)
	if st != http.StatusOK || a.Status != orderstatus.Confirmed || a.CustomerID != "alice" {
		t.Fatalf("alice's order: %d %+v", st, a)
	}
	st, b := bob.order(item.ID, 1, "", 10)
	if st != http.StatusOK || b.Status != orderstatus.Confirmed {
		t.Fatalf("bob's order: %d %+v", st, b)
	}

	type list struct{ Orders []message.Order }
	ids := func(l list) map[string]bool {
		m := map[string]bool{}
		for _, o := range l.Orders {
			m[o.ID] = true
		}
		return m
	}
	var e struct{ Error struct{ Code string } }
	if st := bob.do("GET", "/api/v1/orders/"+a.ID, nil, nil, &e); st != http.StatusNotFound {
		t.Errorf("bob reads alice's order: %d, want 404", st)
	}
	start := time.Now()
	if st := bob.do("GET", "/api/v1/orders/"+a.ID+"?wait=2", nil, nil, nil); st != http.StatusNotFound {
		t.Errorf("bob waits on alice's order: %d, want 404", st)
	}
	t.Logf("bob's wait on alice's order answered after %v", time.Since(start).Round(time.Millisecond))
	if st := bob.do("POST", "/api/v1/orders/"+a.ID+"/cancel", nil, nil, nil); st != http.StatusNotFound {
		t.Errorf("bob cancels alice's order: %d, want 404", st)
	}
	var l list
	if st := bob.do("GET", "/api/v1/orders", nil, nil, &l); st != http.StatusOK || ids(l)[a.ID] || !ids(l)[b.ID] {
		t.Errorf("bob's list: %d, %d orders (alice's among them: %v, his own: %v)", st, len(l.Orders), ids(l)[a.ID], ids(l)[b.ID])
	}
	if st := bob.do("GET", "/api/v1/orders?customer_id=alice", nil, nil, &e); st != http.StatusForbidden {
		t.Errorf("bob lists alice's orders: %d, want 403", st)
	}
	if st := bob.do("GET", "/api/v1/orders?customer_id=bob", nil, nil, &l); st != http.StatusOK || !ids(l)[b.ID] {
		t.Errorf("bob lists his own orders by name: %d %v", st, ids(l))
	}

	// Alice still sees her order as it was, and may cancel it herself.
	var got message.Order
	if st := alice.do("GET", "/api/v1/orders/"+a.ID, nil, nil, &got); st != http.StatusOK || got.Status != orderstatus.Confirmed {
		t.Errorf("alice reads her order after bob's attempts: %d %s, want 200 confirmed", st, got.Status)
	}
	if st := alice.do("GET", "/api/v1/orders", nil, nil, &l); st != http.StatusOK || !ids(l)[a.ID] || ids(l)[b.ID] {
		t.Errorf("alice's list: %d %v", st, ids(l))
	}
	if st := alice.do("POST", "/api/v1/orders/"+a.ID+"/cancel", nil, nil, &got); st != http.StatusOK || got.Status != orderstatus.Canceled {
		t.Errorf("alice cancels her order: %d %s, want 200 canceled", st, got.Status)
	}

	// Without a credential, items are public and orders are not.
	anon := c.anonymous()
	if st := anon.do("GET", fmt.Sprintf("/api/v1/items/%d", item.ID), nil, nil, nil); st != http.StatusOK {
		t.Errorf("anonymous item read: %d, want 200", st)
	}
	if st, _ := anon.order(item.ID, 1, "alice", 0); st != http.StatusUnauthorized {
		t.Errorf("anonymous order: %d, want 401", st)
	}
}
