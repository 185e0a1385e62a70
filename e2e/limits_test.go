package e2e

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"
)

// limitsKey is the storefront key of TestExpensiveRequests' gateway.
const limitsKey = "e2e-limits-storefront-key-of-32-characters"

// TestExpensiveRequests sends the gateway requests built to be expensive — a
// 1 MB header, lists of 100 orders with a long Accept-Language, 10,000 idle
// long polls — and checks that each costs a bounded amount and leaves new
// orders served, at MAX_IN_FLIGHT=20.
func TestExpensiveRequests(t *testing.T) {
	s := newSystem(t)
	// Without a cap on unpaid orders: a customer's list leaves rejected
	// orders out, and the lists below are of 100 orders of one customer.
	s.startWorker(map[string]string{"MAX_UNPAID_PER_CUSTOMER": "0"})
	_, base := s.startGateway(map[string]string{
		"STOREFRONT_API_KEYS": limitsKey, "MAX_IN_FLIGHT": "20", "MAX_WAITERS": "1000", "RATE_LIMIT_PER_CUSTOMER": "0",
	})
	c := newClient(t, base, 50)
	item := c.createItem("sneaker", 1_000_000, 0)
	key := map[string]string{"X-API-Key": limitsKey}

	// served places one order and says how long its answer took, or why it
	// was not served: refused, or unanswered within 10 s.
	served := func() (time.Duration, error) {
		start := time.Now()
		st := c.do("POST", "/api/v1/orders", map[string]any{"item_id": item.ID, "customer_id": "fresh"}, key, nil)
		took := time.Since(start)
		switch {
		case st != http.StatusAccepted && st != http.StatusOK:
			return took, fmt.Errorf("a new order got %d, want 202", st)
		case took > 10*time.Second:
			return took, fmt.Errorf("a new order took %s", took)
		}
		return took, nil
	}

	t.Run("1 MB header", func(t *testing.T) {
		conn, err := net.Dial("tcp", strings.TrimPrefix(base, "http://"))
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		go func() {
			fmt.Fprintf(conn, "GET /api/v1/items HTTP/1.1\r\nHost: x\r\nX-Big: %s\r\n\r\n", strings.Repeat("a", 1<<20))
		}()
		conn.SetReadDeadline(time.Now().Add(10 * time.Second))
		resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
		if err != nil {
			t.Fatalf("read the answer to a 1 MB header: %v", err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusRequestHeaderFieldsTooLarge {
			t.Errorf("1 MB header: status %d, want 431", resp.StatusCode)
		}
		took, err := served()
		if err != nil {
			t.Fatalf("after a 1 MB header: %v", err)
		}
		t.Logf("a new order after it: %s", took)
	})

	t.Run("lists with a long Accept-Language", func(t *testing.T) {
		for i := range 100 {
			if st := c.do("POST", "/api/v1/orders", map[string]any{"item_id": item.ID, "customer_id": "lister"}, key, nil); st != http.StatusAccepted && st != http.StatusOK {
				t.Fatalf("order %d: status %d", i, st)
			}
		}
		// The longest header under the limit: a language list of 12 KiB.
		lang := strings.TrimSuffix(strings.Repeat("xx-YY;q=0.1,", 1000), ",")
		h := map[string]string{"X-API-Key": limitsKey, "Accept-Language": lang}
		eventually(t, func() bool {
			var list struct{ Orders []any }
			return c.do("GET", "/api/v1/orders?customer_id=lister&limit=100", nil, h, &list) == http.StatusOK && len(list.Orders) == 100
		})
		// Ten clients list without pause, half of MAX_IN_FLIGHT, while new
		// orders come in.
		var wg sync.WaitGroup
		var lists, slowest atomic.Int64
		stop := make(chan struct{})
		for range 10 {
			wg.Go(func() {
				for {
					select {
					case <-stop:
						return
					default:
					}
					start := time.Now()
					if st := c.do("GET", "/api/v1/orders?customer_id=lister&limit=100", nil, h, nil); st != http.StatusOK {
						t.Errorf("list: status %d", st)
					}
					lists.Add(1)
					took := int64(time.Since(start))
					for old := slowest.Load(); took > old && !slowest.CompareAndSwap(old, took); old = slowest.Load() {
					}
				}
			})
		}
		var slowestOrder time.Duration
		var err error
		for range 20 {
			var took time.Duration
			if took, err = served(); err != nil {
				break
			}
			slowestOrder = max(slowestOrder, took)
		}
		close(stop)
		wg.Wait()
		if err != nil {
			t.Fatalf("during lists of 100 orders with a 12 KiB Accept-Language: %v", err)
		}
		t.Logf("20 new orders during %d lists of 100 orders with a 12 KiB Accept-Language: slowest order %s, slowest list %s",
			lists.Load(), slowestOrder, time.Duration(slowest.Load()))
	})

	t.Run("10,000 idle long polls", func(t *testing.T) {
		ctx, cancel := context.WithCancel(t.Context())
		defer cancel()
		polls := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: -1, DisableKeepAlives: true}}
		var answered, waiting atomic.Int64
		var wg sync.WaitGroup
		for range 10_000 {
			wg.Go(func() {
				target := base + "/api/v1/orders/" + uuid.NewString() + "?wait=30"
				// A poll refused at capacity (429) retries, as Retry-After asks.
				for ctx.Err() == nil {
					req, err := http.NewRequestWithContext(ctx, "GET", target, nil)
					if err != nil {
						t.Error(err)
						return
					}
					req.Header.Set("X-API-Key", limitsKey)
					waiting.Add(1)
					resp, err := polls.Do(req)
					waiting.Add(-1)
					if err != nil {
						return // canceled at the end of the test
					}
					resp.Body.Close()
					switch resp.StatusCode {
					case http.StatusTooManyRequests:
						time.Sleep(100 * time.Millisecond)
						continue
					case http.StatusNotFound:
						answered.Add(1)
					default:
						t.Errorf("long poll of an unknown order: status %d, want 404", resp.StatusCode)
					}
					return
				}
			})
		}
		// Wait until MAX_WAITERS polls wait their 30 s and every other one was
		// answered at once: the order is unknown.
		eventually(t, func() bool { return answered.Load() == 9_000 && waiting.Load() == 1_000 })
		var slowestOrder time.Duration
		var err error
		for range 20 {
			var took time.Duration
			if took, err = served(); err != nil {
				break
			}
			slowestOrder = max(slowestOrder, took)
		}
		stillWaiting, atOnce := waiting.Load(), answered.Load()
		cancel()
		wg.Wait()
		if err != nil {
			t.Fatalf("among %d waiting long polls: %v", stillWaiting, err)
		}
		if stillWaiting != 1_000 {
			t.Errorf("%d long polls waiting while the orders were placed, want MAX_WAITERS (1000)", stillWaiting)
		}
		t.Logf("20 new orders among %d waiting long polls (%d answered at once): slowest %s", stillWaiting, atOnce, slowestOrder)
	})
}

// eventually polls cond until it holds, failing the test after 30 s.
func eventually(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not met within 30 s")
		}
		time.Sleep(50 * time.Millisecond)
	}
}
