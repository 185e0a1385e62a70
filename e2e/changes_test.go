package e2e

import (
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/orderq/orderq/shared/message"
	"github.com/orderq/orderq/shared/orderstatus"
	"github.com/orderq/orderq/shared/shard"
)

// shown is what a GET of an order must show: its status, the status its
// customer sees, and its lines' statuses in line order; reason, when set,
// the order's.
type shown struct {
	status          orderstatus.Status
	display, reason string
	lines           []orderstatus.LineStatus
}

func (w shown) of(v view) bool {
	lines := make([]orderstatus.LineStatus, len(v.Lines))
	for i, l := range v.Lines {
		lines[i] = l.Status
	}
	return v.Status == w.status && v.DisplayStatus.Code == w.display && slices.Equal(lines, w.lines) &&
		(w.reason == "" || v.Reason != nil && *v.Reason == w.reason)
}

func (v view) summary() string {
	lines := make([]orderstatus.LineStatus, len(v.Lines))
	for i, l := range v.Lines {
		lines[i] = l.Status
	}
	reason := "-"
	if v.Reason != nil {
		reason = *v.Reason
	}
	return fmt.Sprintf("%s (%s, %s) lines %v updated %s", v.Status, reason, v.DisplayStatus.Code, lines,
		v.UpdatedAt.Format(time.RFC3339Nano))
}

// shows polls GET /api/v1/orders/{id} on every gateway of cs, without
// waiting, until each shows the order as want says, and fails the test
// when one does not within within.
func shows(t *testing.T, within time.Duration, id string, want shown, cs ...*client) {
	t.Helper()
	deadline := time.Now().Add(within)
	for i, c := range cs {
		for {
			var v view
			st := c.do("GET", "/api/v1/orders/"+id, nil, nil, &v)
			if st == http.StatusOK && want.of(v) {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("gateway %d shows order %s as %d %s after %s; want %s (%s, %s) lines %v",
					i, id, st, v.summary(), within, want.status, want.reason, want.display, want.lines)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
}

// on returns c reporting to t, for a subtest.
func (c *client) on(t *testing.T) *client {
	cc := *c
	cc.t = t
	return &cc
}

// placed places an order of qty units of item, on c, waiting for its
// outcome, and returns its id.
func (c *client) placed(item int64, qty int, customer string) string {
	c.t.Helper()
	st, o := c.order(item, qty, customer, 10)
	if st != http.StatusOK {
		c.t.Fatalf("order %d of item %d: status %d", qty, item, st)
	}
	return o.ID
}

// pricedItem creates an item of stock units at price IDR whose shard is not
// one of avoid (of shards), and returns it.
func (c *client) pricedItem(name string, stock, price int64, shards int, avoid ...int) message.Item {
	c.t.Helper()
	for {
		item := c.createItem(name, stock, 0)
		if st := c.do("PATCH", "/api/v1/items/"+strconv.FormatInt(item.ID, 10), map[string]any{"price": price}, admin, nil); st != http.StatusOK {
			c.t.Fatalf("price item %d: status %d", item.ID, st)
		}
		if !slices.Contains(avoid, shard.Of(item.ID, shards)) {
			return item
		}
	}
}

// TestEveryChangeReachesEveryGateway: whatever changes an order — its
// decision, a cart's part decided on another shard and the release that
// follows, a cancellation with its release, a payment, a status move, a line
// move — GET /orders/{id} shows the new state, lines included, within
// seconds, on the gateway that made the change and on the other one, whose
// cache held the order before.
func TestEveryChangeReachesEveryGateway(t *testing.T) {
	t.Parallel()
	s := newSystem(t)
	shards, err := strconv.Atoi(s.env["SHARDS"])
	if err != nil {
		t.Fatal(err)
	}
	s.startWorker(nil)
	_, baseA := s.startGateway(nil)
	_, baseB := s.startGateway(nil)
	a, b := newClient(t, baseA, 2), newClient(t, baseB, 2)
	const price, within = 25000, 5 * time.Second
	tent := a.pricedItem("tent", 20, price, shards)
	stove := a.pricedItem("stove", 20, price, shards, shard.Of(tent.ID, shards))
	gone := a.pricedItem("sold out", 0, price, shards, shard.Of(tent.ID, shards))

	t.Run("decision", func(t *testing.T) {
		a, b := a.on(t), b.on(t)
		id := a.placed(tent.ID, 1, "d-1")
		shows(t, within, id, shown{status: "confirmed", display: "awaiting_payment", lines: []orderstatus.LineStatus{"reserved"}}, b, a)
		// Rejected at once: its line never held stock.
		st, o := b.order(gone.ID, 1, "d-2", 10)
		if st != http.StatusOK {
			t.Fatalf("order of the sold-out item: status %d", st)
		}
		shows(t, within, o.ID, shown{status: "rejected", display: "canceled", reason: message.ReasonOutOfStock,
			lines: []orderstatus.LineStatus{"rejected"}}, a, b)
	})

	t.Run("cart part on another shard", func(t *testing.T) {
		a, b := a.on(t), b.on(t)
		st, id := a.placeCart("p-1", [][2]int64{{tent.ID, 1}, {stove.ID, 2}})
		if st != http.StatusAccepted && st != http.StatusOK {
			t.Fatalf("cart: status %d", st)
		}
		shows(t, within, id, shown{status: "confirmed", display: "awaiting_payment", lines: []orderstatus.LineStatus{"reserved", "reserved"}}, b, a)
		// The other shard's part fails: the home line, reserved when the
		// cart was decided, is released after it.
		before := b.item(tent.ID).Stock
		st, id = b.placeCart("p-2", [][2]int64{{tent.ID, 1}, {gone.ID, 1}})
		if st != http.StatusAccepted && st != http.StatusOK {
			t.Fatalf("cart: status %d", st)
		}
		shows(t, within, id, shown{status: "rejected", display: "canceled", reason: message.ReasonOutOfStock,
			lines: []orderstatus.LineStatus{"released", "rejected"}}, a, b)
		if after := a.item(tent.ID).Stock; after != before {
			t.Errorf("tent stock %d after the rejected cart, want %d back", after, before)
		}
	})

	t.Run("cancel with its release", func(t *testing.T) {
		a, b := a.on(t), b.on(t)
		id := a.placed(tent.ID, 2, "c-1")
		shows(t, within, id, shown{status: "confirmed", display: "awaiting_payment", lines: []orderstatus.LineStatus{"reserved"}}, b, a)
		before := a.item(tent.ID).Stock
		if st := a.do("POST", "/api/v1/orders/"+id+"/cancel", nil, nil, nil); st != http.StatusOK {
			t.Fatalf("cancel: status %d", st)
		}
		shows(t, within, id, shown{status: "canceled", display: "canceled", reason: message.ReasonCanceled,
			lines: []orderstatus.LineStatus{"released"}}, b, a)
		if after := b.item(tent.ID).Stock; after != before+2 {
			t.Errorf("tent stock %d after the cancellation, want %d", after, before+2)
		}
	})

	// One order through payment and fulfilment, each change on one gateway.
	id := a.placed(stove.ID, 1, "f-1")
	shows(t, within, id, shown{status: "confirmed", display: "awaiting_payment", lines: []orderstatus.LineStatus{"reserved"}}, b, a)

	t.Run("webhook payment", func(t *testing.T) {
		a, b := a.on(t), b.on(t)
		if st, outcome := b.payment("evt-"+id, id, price); st != http.StatusOK || outcome != "paid" {
			t.Fatalf("payment: %d %s, want 200 paid", st, outcome)
		}
		shows(t, within, id, shown{status: "paid", display: "processing", lines: []orderstatus.LineStatus{"reserved"}}, a, b)
	})

	t.Run("status move", func(t *testing.T) {
		a, b := a.on(t), b.on(t)
		if st := a.do("POST", "/api/v1/orders/"+id+"/status", map[string]any{"status": "active"}, admin, nil); st != http.StatusOK {
			t.Fatalf("move to active: status %d", st)
		}
		shows(t, within, id, shown{status: "active", display: "active", lines: []orderstatus.LineStatus{"reserved"}}, b, a)
	})

	t.Run("line move", func(t *testing.T) {
		a, b := a.on(t), b.on(t)
		path := fmt.Sprintf("/api/v1/orders/%s/lines/%d/status", id, stove.ID)
		if st := b.do("POST", path, map[string]any{"status": "transit_for_outbound"}, admin, nil); st != http.StatusOK {
			t.Fatalf("move the line: status %d", st)
		}
		shows(t, within, id, shown{status: "active", display: "shipped", lines: []orderstatus.LineStatus{"transit_for_outbound"}}, a, b)
	})
}

// TestPaymentDeadlineReachesEveryGateway: an order not paid in time is
// canceled by the worker, and its stock released by its shard; both
// gateways, which cached it confirmed, show it canceled with its line
// released within seconds.
func TestPaymentDeadlineReachesEveryGateway(t *testing.T) {
	t.Parallel()
	s := newSystem(t)
	const timeout = 2 * time.Second
	s.startWorker(map[string]string{"PAYMENT_TIMEOUT": timeout.String()})
	_, baseA := s.startGateway(nil)
	_, baseB := s.startGateway(nil)
	a, b := newClient(t, baseA, 2), newClient(t, baseB, 2)
	item := a.createItem("ticket", 3, 0)
	id := a.placed(item.ID, 1, "late")
	shows(t, timeout/2, id, shown{status: "confirmed", display: "awaiting_payment", lines: []orderstatus.LineStatus{"reserved"}}, b, a)
	shows(t, timeout+5*time.Second, id, shown{status: "canceled", display: "canceled", reason: message.ReasonPaymentTimeout,
		lines: []orderstatus.LineStatus{"released"}}, a, b)
	if st := b.item(item.ID).Stock; st != 3 {
		t.Errorf("stock %d after the payment deadline, want 3", st)
	}
}
