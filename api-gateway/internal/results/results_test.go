package results

import (
	"context"
	"testing"
	"time"

	"github.com/orderq/orderq/shared/message"
	"github.com/orderq/orderq/shared/orderstatus"
)

func result(id string, status orderstatus.Status) message.Result {
	return message.Result{Kind: message.KindOrder, ID: id, Order: &message.Order{ID: id, Status: status}}
}

func TestWaitWokenByDelivery(t *testing.T) {
	c := NewCache()
	go func() {
		time.Sleep(20 * time.Millisecond)
		c.Deliver([]message.Result{result("a", orderstatus.Confirmed)})
	}()
	start := time.Now()
	r, ok := c.Wait(context.Background(), "a", 5*time.Second, time.Hour, nil)
	if !ok || r.Order.Status != orderstatus.Confirmed {
		t.Fatalf("Wait = %+v, %v", r, ok)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("woken after %v", d)
	}
	if len(c.waiters) != 0 {
		t.Errorf("%d waiters left", len(c.waiters))
	}
}

func TestWaitTimesOutAndPolls(t *testing.T) {
	c := NewCache()
	start := time.Now()
	polls := 0
	_, ok := c.Wait(context.Background(), "b", 120*time.Millisecond, 50*time.Millisecond, func() (message.Result, bool) {
		polls++
		return message.Result{}, false
	})
	if ok {
		t.Fatal("Wait found a result that never came")
	}
	if d := time.Since(start); d < 120*time.Millisecond || d > 2*time.Second {
		t.Errorf("timed out after %v, want 120ms", d)
	}
	if polls < 1 || polls > 2 {
		t.Errorf("%d polls in 120ms at a 50ms interval, want 1 or 2", polls)
	}

	r, ok := c.Wait(context.Background(), "b", time.Second, 10*time.Millisecond, func() (message.Result, bool) {
		return result("b", orderstatus.Rejected), true
	})
	if !ok || r.Order.Status != orderstatus.Rejected {
		t.Errorf("a poll's result was not returned: %+v, %v", r, ok)
	}

	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, ok := c.Wait(ctx, "b", time.Second, time.Hour, nil); ok {
		t.Error("Wait with an ended context found a result")
	}
}

func TestAcceptedAfterItsResultStaysFinal(t *testing.T) {
	c := NewCache()
	c.Deliver([]message.Result{result("c", orderstatus.Confirmed)})
	c.Accepted(message.Order{ID: "c", Status: orderstatus.Pending})
	if o, ok := c.Order("c"); !ok || o.Status != orderstatus.Confirmed {
		t.Errorf("Order = %+v, %v; want the final order", o, ok)
	}
	c.Accepted(message.Order{ID: "d", Status: orderstatus.Pending})
	if o, ok := c.Order("d"); !ok || o.Status != orderstatus.Pending {
		t.Errorf("Order = %+v, %v; want the pending order", o, ok)
	}
	c.Deliver([]message.Result{result("d", orderstatus.Rejected)})
	if o, _ := c.Order("d"); o.Status != orderstatus.Rejected {
		t.Errorf("after its result, Order = %+v", o)
	}
}

// state is a result carrying an order's state at updated, with its one line.
func state(id string, status orderstatus.Status, line orderstatus.LineStatus, updated time.Time) message.Result {
	return message.Result{Kind: message.KindOrder, ID: id, Order: &message.Order{ID: id, Status: status, UpdatedAt: updated,
		Lines: []message.OrderLine{{ItemID: 1, Quantity: 1, Status: line}}}}
}

// TestDeliverKeepsTheNewestState: announcements of one order cross on their
// way (a gateway's cancellation, the worker's release of its stock); the
// cache keeps the state with the latest UpdatedAt, whichever arrives last.
func TestDeliverKeepsTheNewestState(t *testing.T) {
	t0 := time.Date(2026, 5, 1, 10, 0, 0, 0, time.UTC)
	t1 := t0.Add(time.Microsecond)
	canceled := state("o", "canceled", "reserved", t0) // the gateway's cancellation
	released := state("o", "canceled", "released", t1) // the worker's release after it
	tests := []struct {
		name      string
		delivered []message.Result
		want      message.Result
	}{
		{"in order", []message.Result{canceled, released}, released},
		{"crossed", []message.Result{released, canceled}, released},
		{"one message", []message.Result{released, canceled}, released},
		{"the same state twice", []message.Result{released, released}, released},
		{"a pending state older than the decision", []message.Result{
			state("o", "confirmed", "reserved", t1), state("o", "pending", "reserved", t0),
		}, state("o", "confirmed", "reserved", t1)},
		{"equal times: the decision over a pending state", []message.Result{
			state("o", "confirmed", "reserved", t0), state("o", "pending", "reserved", t0),
		}, state("o", "confirmed", "reserved", t0)},
		{"equal times, both decided: the later arrival", []message.Result{
			state("o", "canceled", "reserved", t0), state("o", "canceled", "released", t0),
		}, state("o", "canceled", "released", t0)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := NewCache()
			if tt.name == "one message" {
				c.Deliver(tt.delivered)
			} else {
				for _, r := range tt.delivered {
					c.Deliver([]message.Result{r})
				}
			}
			got, ok := c.Order("o")
			if !ok || got.Status != tt.want.Order.Status || !got.UpdatedAt.Equal(tt.want.Order.UpdatedAt) ||
				got.Lines[0].Status != tt.want.Order.Lines[0].Status {
				t.Errorf("Order = %+v, %v; want %+v", got, ok, *tt.want.Order)
			}
		})
	}
}

// TestPendingStateWakesNoWaiter: a cart some of whose parts are decided is
// announced pending; the cache answers with it, and a waiter keeps waiting
// for the decision.
func TestPendingStateWakesNoWaiter(t *testing.T) {
	c := NewCache()
	t0 := time.Now()
	c.Accepted(message.Order{ID: "cart", Status: orderstatus.Pending, UpdatedAt: t0})
	part := state("cart", orderstatus.Pending, "reserved", t0.Add(time.Millisecond))
	decided := state("cart", orderstatus.Confirmed, "reserved", t0.Add(2*time.Millisecond))

	done := make(chan message.Result, 1)
	go func() {
		r, ok := c.Wait(context.Background(), "cart", 10*time.Second, time.Hour, nil)
		if !ok {
			r = message.Result{}
		}
		done <- r
	}()
	for {
		c.mu.Lock()
		n := len(c.waiters["cart"])
		c.mu.Unlock()
		if n == 1 {
			break
		}
		time.Sleep(time.Millisecond)
	}
	c.Deliver([]message.Result{part})
	if o, ok := c.Order("cart"); !ok || o.Status != orderstatus.Pending || o.Lines[0].Status != "reserved" {
		t.Errorf("after a part: Order = %+v, %v; want the announced pending state", o, ok)
	}
	if _, ok := c.Result("cart"); ok {
		t.Error("a pending state counts as the order's result")
	}
	select {
	case r := <-done:
		t.Fatalf("a pending state woke the waiter: %+v", r)
	case <-time.After(50 * time.Millisecond):
	}
	c.Deliver([]message.Result{decided})
	select {
	case r := <-done:
		if r.Order == nil || r.Order.Status != orderstatus.Confirmed {
			t.Errorf("waiter got %+v, want the confirmed order", r)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the decision did not wake the waiter")
	}
}

// TestForgetOrders: a subscription that restarts forgets the order states
// it may have missed changes of, and keeps what this gateway accepted and
// the outcomes of item commands.
func TestForgetOrders(t *testing.T) {
	c := NewCache()
	c.Accepted(message.Order{ID: "mine", Status: orderstatus.Pending})
	c.Deliver([]message.Result{result("theirs", orderstatus.Confirmed),
		{Kind: message.KindStock, ID: "restock", ItemID: 1, Item: &message.Item{ID: 1, Stock: 5}}})
	c.ForgetOrders()
	if o, ok := c.Order("mine"); !ok || o.Status != orderstatus.Pending {
		t.Errorf("accepted order: %+v, %v; want it kept", o, ok)
	}
	if o, ok := c.Order("theirs"); ok {
		t.Errorf("announced order kept: %+v", o)
	}
	if r, ok := c.Result("restock"); !ok || r.Item == nil {
		t.Errorf("stock change's outcome: %+v, %v; want it kept", r, ok)
	}
}
