package e2e

import (
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/orderq/orderq/shared/message"
	"github.com/orderq/orderq/shared/orderstatus"
)

// orderOne places a one-unit order with an Idempotency-Key, and returns the
// status, the Retry-After header and the order answered.
func orderOne(t *testing.T, base string, item int64, key string) (int, string, message.Order) {
	t.Helper()
	hc := &http.Client{Timeout: 30 * time.Second}
	st, h, o, err := postOrder(hc, base, fmt.Sprintf(`{"item_id":%d,"quantity":1,"customer_id":"c-bounded"}`, item), key)
	if err != nil {
		t.Fatalf("POST /api/v1/orders: %v", err)
	}
	return st, h.Get("Retry-After"), o
}

// TestFullShardQueueAnswers503 bounds the shard queues to a few messages and
// runs no worker. Once the item's queue is full, the next order is 503 with
// Retry-After, never 202: the broker refused its message. When a worker
// starts, every order answered 202 is applied, none answered 503 is, and the
// refused one goes through when retried with its Idempotency-Key.
func TestFullShardQueueAnswers503(t *testing.T) {
	t.Parallel()
	const limit = 3
	s := newSystem(t)
	_, base := s.startGateway(map[string]string{"SHARD_QUEUE_MAX_LENGTH": fmt.Sprint(limit), "PUBLISH_LINGER": "0"})
	c := newClient(t, base, 1)
	item := c.createItem("bounded", 100, 0)

	// One order a message: one client, no linger.
	var accepted []string
	refusedKey := ""
	for i := range limit + 3 {
		key := fmt.Sprintf("bounded-%d", i)
		st, retry, o := orderOne(t, base, item.ID, key)
		if st == http.StatusAccepted {
			accepted = append(accepted, o.ID)
			continue
		}
		if st != http.StatusServiceUnavailable || retry == "" {
			t.Fatalf("order %d: status %d, Retry-After %q; want 202, or 503 with Retry-After once the queue is full", i, st, retry)
		}
		refusedKey = key
		break
	}
	t.Logf("%d orders accepted, then 503", len(accepted))
	// A quorum queue takes one message past its limit before it refuses.
	if refusedKey == "" || len(accepted) < limit || len(accepted) > limit+1 {
		t.Fatalf("%d orders accepted on a queue bounded to %d messages, refused: %v", len(accepted), limit, refusedKey != "")
	}
	if st := c.do("GET", "/readyz", nil, nil, nil); st != http.StatusOK {
		t.Errorf("/readyz with one shard full: %d; the other shards still take orders", st)
	}

	w := s.startWorker(map[string]string{"SHARD_QUEUE_MAX_LENGTH": fmt.Sprint(limit)})
	for _, id := range accepted {
		if o := c.final(id); o.Status != orderstatus.Confirmed {
			t.Errorf("accepted order %s ended %s, want confirmed", id, o.Status)
		}
	}
	var applied int
	if err := s.db().QueryRow("SELECT COUNT(*) FROM report_order_lines WHERE item_id = ?", item.ID).Scan(&applied); err != nil {
		t.Fatal(err)
	}
	if applied != len(accepted) {
		t.Errorf("%d orders applied, %d accepted: the refused order was applied", applied, len(accepted))
	}
	// The queue drained: the refused order, retried, is accepted.
	deadline := time.Now().Add(30 * time.Second)
	for {
		st, _, o := orderOne(t, base, item.ID, refusedKey)
		if st == http.StatusAccepted {
			if o := c.final(o.ID); o.Status != orderstatus.Confirmed {
				t.Errorf("the retried order ended %s", o.Status)
			}
			break
		}
		if st != http.StatusServiceUnavailable || time.Now().After(deadline) {
			t.Fatalf("retry of the refused order: status %d", st)
		}
		time.Sleep(200 * time.Millisecond)
	}
	if strings.Contains(w.output(), "used as they are") {
		t.Errorf("the worker found queues of an earlier version:\n%s", w.output())
	}
}
