package yardstick_test

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/orderq/orderq/loadtest/internal/check"
	"github.com/orderq/orderq/loadtest/internal/crowd"
	"github.com/orderq/orderq/loadtest/internal/redistest"
	"github.com/orderq/orderq/loadtest/internal/yardstick"
	"github.com/orderq/orderq/shared/testenv"
)

// TestRedisCrash kills the redis strategy's Redis in the middle of a sale
// and starts it again empty. The writer waits a minute between batches, so
// every order confirmed before the crash is still in Redis when it dies:
// those orders are lost, and the stock reloaded from MySQL, which never saw
// them, sells their units again. The checker must say both.
func TestRedisCrash(t *testing.T) {
	ctx := context.Background()
	rs := redistest.Start(t)
	srv, db := start(t, yardstick.Options{Strategy: yardstick.Redis, RedisURL: rs.URL(), WriteEvery: time.Minute})

	const before = 20 // orders final before the crash
	progress := &crowd.Progress{}
	crashed := make(chan error, 1)
	go func() {
		for deadline := time.Now().Add(30 * time.Second); progress.Final.Load() < before; time.Sleep(time.Millisecond) {
			if time.Now().After(deadline) {
				crashed <- errors.New("the crowd never got as far as the crash")
				return
			}
		}
		if err := rs.Kill(); err != nil {
			crashed <- err
			return
		}
		time.Sleep(300 * time.Millisecond) // orders meet a Redis that is gone
		crashed <- rs.Restart(ctx)
	}()
	res, err := crowd.Run(ctx, crowd.Config{
		URL: srv.URL, Stock: 200, Orders: 600, Concurrency: 16, Quantity: 1, Wait: 1, ReadBack: true, Progress: progress,
		// The crowd retries through the outage, as Retry-After asks.
		Timeout: 30 * time.Second, Backoff: 50 * time.Millisecond, MaxBackoff: 2 * time.Second,
	})
	if err != nil {
		t.Fatalf("crowd: %v", err)
	}
	if err := <-crashed; err != nil {
		t.Fatalf("crash: %v", err)
	}

	vs := check.VerifyItems(res.Records(nil))
	rules := make([]check.Rule, len(vs))
	for i, v := range vs {
		rules[i] = v.Rule
	}
	for _, want := range []check.Rule{check.RuleOversold, check.RuleLost} {
		if !slices.Contains(rules, want) {
			t.Errorf("the checker does not report %s after the crash: %v", want, vs)
		}
	}
	if res.Errors["order 503 unavailable"] == 0 {
		t.Errorf("no order met the outage as 503: errors %v", res.Errors)
	}

	// The read-back agrees with MySQL: a lost order is not there, every
	// other confirmed order is.
	lost := 0
	for _, o := range res.Orders {
		if o.Status != check.StatusConfirmed {
			continue
		}
		var n int
		if err := db.QueryRow(`SELECT COUNT(*) FROM orders WHERE id = ?`, o.ID).Scan(&n); err != nil {
			t.Fatal(err)
		}
		if o.Gone {
			lost++
		}
		if o.Gone != (n == 0) {
			t.Errorf("order %s: gone %v, yet MySQL holds %d of it", o.ID, o.Gone, n)
		}
	}
	if lost < before {
		t.Errorf("%d orders lost; the %d confirmed before the crash were all in Redis only", lost, before)
	}
	t.Logf("lost %d orders; violations %v", lost, vs)
}

// TestRedisUnavailable checks the answers while Redis is gone, and that the
// stock comes back from MySQL once it is back.
func TestRedisUnavailable(t *testing.T) {
	ctx := context.Background()
	rs := redistest.Start(t)
	srv, _ := start(t, yardstick.Options{Strategy: yardstick.Redis, RedisURL: rs.URL()})
	call := func(method, path, body string) (int, http.Header, map[string]any) {
		t.Helper()
		req, err := http.NewRequest(method, srv.URL+path, strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		data, err := io.ReadAll(resp.Body)
		if err != nil {
			t.Fatal(err)
		}
		var doc map[string]any
		if err := json.Unmarshal(data, &doc); err != nil {
			t.Fatalf("%s %s: %d %q is not JSON", method, path, resp.StatusCode, data)
		}
		return resp.StatusCode, resp.Header, doc
	}
	status, _, it := call("POST", "/api/v1/items", `{"name":"phone","stock":3}`)
	if status != http.StatusCreated {
		t.Fatalf("create item: %d %v", status, it)
	}
	id := itoa(int(it["id"].(float64)))
	order := `{"item_id":` + id + `,"quantity":1,"customer_id":"c-1"}`
	if status, _, o := call("POST", "/api/v1/orders", order); status != http.StatusOK || o["status"] != "confirmed" {
		t.Fatalf("order: %d %v", status, o)
	}
	// A stock read waits for the writer: the order is in MySQL then.
	if status, _, it := call("GET", "/api/v1/items/"+id, ""); status != http.StatusOK || it["stock"] != 2.0 {
		t.Fatalf("item after an order: %d %v", status, it)
	}

	if err := rs.Kill(); err != nil {
		t.Fatal(err)
	}
	for _, r := range []struct{ method, path, body string }{
		{"POST", "/api/v1/orders", order},
		{"GET", "/api/v1/items/" + id, ""},
		{"GET", "/api/v1/orders/0b4b2a84-6f2c-4f5e-9d0a-2b8c9a1e0f11", ""},
		{"POST", "/api/v1/items", `{"name":"tablet","stock":1}`},
	} {
		status, h, doc := call(r.method, r.path, r.body)
		e, _ := doc["error"].(map[string]any)
		if status != http.StatusServiceUnavailable || h.Get("Retry-After") == "" || e["code"] != "unavailable" {
			t.Errorf("%s %s with Redis gone: %d, Retry-After %q, %v; want 503 unavailable with Retry-After",
				r.method, r.path, status, h.Get("Retry-After"), doc)
		}
	}

	if err := rs.Restart(ctx); err != nil {
		t.Fatal(err)
	}
	// Redis came back empty; the stock is MySQL's.
	if status, _, it := call("GET", "/api/v1/items/"+id, ""); status != http.StatusOK || it["stock"] != 2.0 {
		t.Fatalf("item after the restart: %d %v", status, it)
	}
	if status, _, o := call("POST", "/api/v1/orders", order); status != http.StatusOK || o["status"] != "confirmed" {
		t.Errorf("order after the restart: %d %v", status, o)
	}
	if status, _, it := call("GET", "/api/v1/items/"+id, ""); status != http.StatusOK || it["stock"] != 1.0 {
		t.Errorf("item after an order on the reloaded stock: %d %v", status, it)
	}
}

// TestRedisCloseCleans checks that Close writes the orders Redis holds to
// MySQL and leaves nothing of the server's in Redis: a Redis given to a comparison
// may be one that others use.
func TestRedisCloseCleans(t *testing.T) {
	ctx := context.Background()
	rs := redistest.Start(t)
	dsn := testenv.Database(t)
	srv, err := yardstick.Start(ctx, yardstick.Options{Strategy: yardstick.Redis, DSN: dsn, RedisURL: rs.URL(), WriteEvery: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	rdb := redis.NewClient(&redis.Options{Addr: rs.Addr, Protocol: 2})
	t.Cleanup(func() { rdb.Close() })
	if err := rdb.Set(ctx, "someone-else", "1", 0).Err(); err != nil {
		t.Fatal(err)
	}
	// Orders confirmed by Redis, not yet written: the writer waits a minute.
	resp, err := http.Post(srv.URL+"/api/v1/items", "application/json", strings.NewReader(`{"name":"phone","stock":5}`))
	if err != nil {
		t.Fatal(err)
	}
	var it struct{ ID int }
	err = json.NewDecoder(resp.Body).Decode(&it)
	resp.Body.Close()
	if err != nil || resp.StatusCode != http.StatusCreated {
		t.Fatalf("create item: %s (%v)", resp.Status, err)
	}
	for i := range 5 {
		resp, err := http.Post(srv.URL+"/api/v1/orders", "application/json",
			strings.NewReader(`{"item_id":`+itoa(it.ID)+`,"customer_id":"c-`+itoa(i)+`"}`))
		if err != nil {
			t.Fatal(err)
		}
		var o map[string]any
		err = json.NewDecoder(resp.Body).Decode(&o)
		resp.Body.Close()
		if err != nil || o["status"] != "confirmed" {
			t.Fatalf("order %d: %s %v (%v)", i, resp.Status, o, err)
		}
	}
	if err := srv.Close(ctx); err != nil {
		t.Fatalf("Close: %v", err)
	}
	keys, err := rdb.Keys(ctx, "*").Result()
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(keys, []string{"someone-else"}) {
		t.Errorf("keys left in redis: %v", keys)
	}
	db, err := sql.Open("mysql", dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var stored, stock int
	if err := db.QueryRow(`SELECT COUNT(*) FROM orders WHERE status = 'confirmed'`).Scan(&stored); err != nil {
		t.Fatal(err)
	}
	if err := db.QueryRow(`SELECT stock FROM items WHERE id = ?`, it.ID).Scan(&stock); err != nil {
		t.Fatal(err)
	}
	if stored != 5 || stock != 0 {
		t.Errorf("after Close MySQL holds %d confirmed orders and stock %d; want 5 and 0", stored, stock)
	}
}
