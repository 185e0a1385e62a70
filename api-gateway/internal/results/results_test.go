package results

import (
	"context"
	"testing"
	"time"

	"github.com/orderq/orderq/shared/message"
)

func result(id string, status string) message.Result {
	return message.Result{Kind: message.KindOrder, ID: id, Order: &message.Order{ID: id, Status: status}}
}

func TestWaitWokenByDelivery(t *testing.T) {
	c := NewCache()
	go func() {
		time.Sleep(20 * time.Millisecond)
		c.Deliver([]message.Result{result("a", message.StatusConfirmed)})
	}()
	start := time.Now()
	r, ok := c.Wait(context.Background(), "a", 5*time.Second, time.Hour, nil)
	if !ok || r.Order.Status != message.StatusConfirmed {
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
		return result("b", message.StatusRejected), true
	})
	if !ok || r.Order.Status != message.StatusRejected {
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
	c.Deliver([]message.Result{result("c", message.StatusConfirmed)})
	c.Accepted(message.Order{ID: "c", Status: message.StatusPending})
	if o, ok := c.Order("c"); !ok || o.Status != message.StatusConfirmed {
		t.Errorf("Order = %+v, %v; want the final order", o, ok)
	}
	c.Accepted(message.Order{ID: "d", Status: message.StatusPending})
	if o, ok := c.Order("d"); !ok || o.Status != message.StatusPending {
		t.Errorf("Order = %+v, %v; want the pending order", o, ok)
	}
	c.Deliver([]message.Result{result("d", message.StatusRejected)})
	if o, _ := c.Order("d"); o.Status != message.StatusRejected {
		t.Errorf("after its result, Order = %+v", o)
	}
}
