package yardstick_test

import (
	"context"
	"database/sql"
	"encoding/json"
	"io"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/orderq/orderq/loadtest/internal/check"
	"github.com/orderq/orderq/loadtest/internal/crowd"
	"github.com/orderq/orderq/loadtest/internal/redistest"
	"github.com/orderq/orderq/loadtest/internal/yardstick"
	"github.com/orderq/orderq/shared/testenv"
)

// start serves o's strategy on a fresh database (and for redis, a Redis of
// the test's own), stopped when the test ends.
func start(t *testing.T, o yardstick.Options) (*yardstick.Server, *sql.DB) {
	t.Helper()
	dsn := testenv.Database(t)
	o.DSN, o.Pool = dsn, 32
	if o.Strategy == yardstick.Redis && o.RedisURL == "" {
		o.RedisURL = redistest.Start(t).URL()
	}
	srv, err := yardstick.Start(context.Background(), o)
	if err != nil {
		t.Fatalf("Start(%s): %v", o.Strategy, err)
	}
	t.Cleanup(func() {
		if err := srv.Close(context.Background()); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	db, err := sql.Open("mysql", dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return srv, db
}

// TestStrategiesUnderACrowd runs a small crowd against each strategy: the
// locking ones and redis (whose Redis lives) must keep every invariant and
// every order, the naive one must lose updates.
func TestStrategiesUnderACrowd(t *testing.T) {
	tests := []struct {
		strategy string
		// window widens naive's race so that it is lost on any machine.
		window  time.Duration
		correct bool
	}{
		{strategy: yardstick.Atomic, correct: true},
		{strategy: yardstick.ForUpdate, correct: true},
		{strategy: yardstick.Redis, correct: true},
		{strategy: yardstick.Naive, window: 5 * time.Millisecond},
	}
	for _, tt := range tests {
		t.Run(tt.strategy, func(t *testing.T) {
			srv, db := start(t, yardstick.Options{Strategy: tt.strategy, Window: tt.window})
			res, err := crowd.Run(context.Background(), crowd.Config{
				URL: srv.URL, Stock: 50, Orders: 400, Concurrency: 32, Quantity: 1, Wait: 1, ReadBack: true,
				Timeout: 30 * time.Second, Backoff: time.Millisecond, MaxBackoff: 5 * time.Millisecond,
			})
			if err != nil {
				t.Fatalf("crowd: %v", err)
			}
			vs := check.VerifyItems(res.Records(nil))
			var confirmed, stored int64
			for _, o := range res.Orders {
				if o.Status == check.StatusConfirmed {
					confirmed++
				}
				if !o.Final() || !o.FinalAt.Equal(o.AcceptedAt) {
					t.Errorf("order %s: %q, not final in the answer", o.ID, o.Status)
				}
				if o.Gone {
					t.Errorf("order %s: confirmed, and not found when read back", o.ID)
				}
			}
			if err := db.QueryRow(`SELECT COUNT(*) FROM orders WHERE status = 'confirmed'`).Scan(&stored); err != nil {
				t.Fatal(err)
			}
			if stored != confirmed {
				t.Errorf("%d orders confirmed to the crowd, %d stored", confirmed, stored)
			}
			lost := 50 - confirmed - res.FinalStocks[0]
			if tt.correct {
				if len(vs) != 0 || confirmed != 50 || res.FinalStocks[0] != 0 {
					t.Errorf("confirmed %d, stock %d, violations %v; want 50, 0, none", confirmed, res.FinalStocks[0], vs)
				}
				return
			}
			if lost == 0 {
				t.Errorf("naive lost no update: confirmed %d, stock %d", confirmed, res.FinalStocks[0])
			}
			if len(vs) == 0 {
				t.Errorf("the checker passed naive with confirmed %d and stock %d", confirmed, res.FinalStocks[0])
			}
			t.Logf("naive: confirmed %d of stock 50, final stock %d, violations %v", confirmed, res.FinalStocks[0], vs)
		})
	}
}

// TestContract checks the part of the gateway's contract the crowd relies on.
func TestContract(t *testing.T) {
	for _, strategy := range yardstick.Strategies {
		t.Run(strategy, func(t *testing.T) {
			srv, _ := start(t, yardstick.Options{Strategy: strategy})
			call := func(method, path, key, body string) (int, map[string]any) {
				t.Helper()
				req, err := http.NewRequest(method, srv.URL+path, strings.NewReader(body))
				if err != nil {
					t.Fatal(err)
				}
				if key != "" {
					req.Header.Set("Idempotency-Key", key)
				}
				resp, err := http.DefaultClient.Do(req)
				if err != nil {
					t.Fatal(err)
				}
				defer resp.Body.Close()
				data, _ := io.ReadAll(resp.Body)
				var doc map[string]any
				if err := json.Unmarshal(data, &doc); err != nil {
					t.Fatalf("%s %s: %d %q is not JSON", method, path, resp.StatusCode, data)
				}
				return resp.StatusCode, doc
			}
			errCode := func(doc map[string]any) any {
				e, _ := doc["error"].(map[string]any)
				return e["code"]
			}

			status, it := call("POST", "/api/v1/items", "", `{"name":"phone","stock":2,"max_per_customer":0}`)
			if status != http.StatusCreated || it["stock"] != 2.0 {
				t.Fatalf("create item: %d %v", status, it)
			}
			id := int(it["id"].(float64))
			order := func(key string) (int, map[string]any) {
				return call("POST", "/api/v1/orders", key, `{"item_id":`+itoa(id)+`,"quantity":1,"customer_id":"c-1"}`)
			}

			status, first := order("k-1")
			if status != http.StatusOK || first["status"] != "confirmed" || first["reason"] != nil {
				t.Fatalf("order: %d %v", status, first)
			}
			status, again := order("k-1")
			if status != http.StatusOK || again["id"] != first["id"] || again["status"] != "confirmed" {
				t.Errorf("the same key again: %d %v, want the first order %v", status, again, first["id"])
			}
			order("k-2")
			status, late := order("k-3")
			if status != http.StatusOK || late["status"] != "rejected" || late["reason"] != "out_of_stock" {
				t.Errorf("order past the stock: %d %v", status, late)
			}
			if status, it := call("GET", "/api/v1/items/"+itoa(id), "", ""); status != http.StatusOK || it["stock"] != 0.0 {
				t.Errorf("item after 2 of 2 sold: %d %v (a retried key must not take stock twice)", status, it)
			}
			if status, got := call("GET", "/api/v1/orders/"+first["id"].(string), "", ""); status != http.StatusOK || got["status"] != "confirmed" {
				t.Errorf("get order: %d %v", status, got)
			}

			for _, tc := range []struct {
				method, path, body string
				status             int
				code               string
			}{
				{"POST", "/api/v1/orders", `{"item_id":999,"quantity":1,"customer_id":"c"}`, 404, "item_not_found"},
				{"POST", "/api/v1/orders", `{"item_id":1,"quantity":0,"customer_id":"c"}`, 422, "validation_failed"},
				{"POST", "/api/v1/orders", `{"item_id":1,"quantity":1,"customer_id":""}`, 422, "validation_failed"},
				{"POST", "/api/v1/orders", `{`, 400, "invalid_json"},
				{"POST", "/api/v1/items", `{"name":"x","stock":1,"max_per_customer":2}`, 422, "validation_failed"},
				{"GET", "/api/v1/items/999", "", 404, "item_not_found"},
				{"GET", "/api/v1/orders/0b4b2a84-6f2c-4f5e-9d0a-2b8c9a1e0f11", "", 404, "order_not_found"},
				{"GET", "/api/v1/orders/nope", "", 400, "validation_failed"},
			} {
				if status, doc := call(tc.method, tc.path, "", tc.body); status != tc.status || errCode(doc) != tc.code {
					t.Errorf("%s %s %s: %d %v, want %d %s", tc.method, tc.path, tc.body, status, doc, tc.status, tc.code)
				}
			}
		})
	}
}

func TestCreateDatabase(t *testing.T) {
	server := testenv.Require(t, "TEST_MYSQL_DSN")
	ctx := context.Background()
	name := yardstick.Database("test")
	if !strings.HasPrefix(name, "orderq_compare_test_") {
		t.Errorf("database name %q", name)
	}
	dsn, drop, err := yardstick.CreateDatabase(ctx, server, name)
	if err != nil {
		t.Fatalf("CreateDatabase: %v", err)
	}
	srv, err := yardstick.Start(ctx, yardstick.Options{Strategy: yardstick.Atomic, DSN: dsn})
	if err != nil {
		drop(ctx)
		t.Fatalf("Start on the new database: %v", err)
	}
	srv.Close(ctx)
	if err := drop(ctx); err != nil {
		t.Fatalf("drop: %v", err)
	}
	db, err := sql.Open("mysql", server)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var n int
	if err := db.QueryRow(`SELECT COUNT(*) FROM information_schema.schemata WHERE schema_name = ?`, name).Scan(&n); err != nil || n != 0 {
		t.Errorf("database %s still there (%d, %v)", name, n, err)
	}
}

func TestStartRefuses(t *testing.T) {
	if _, err := yardstick.Start(context.Background(), yardstick.Options{Strategy: "optimistic"}); err == nil ||
		!strings.Contains(err.Error(), `unknown strategy "optimistic"`) {
		t.Errorf("Start with an unknown strategy: %v", err)
	}
	if _, err := yardstick.Start(context.Background(), yardstick.Options{Strategy: yardstick.Atomic, DSN: "root:@tcp(127.0.0.1:1)/x"}); err == nil {
		t.Error("Start succeeded against a closed port")
	}
	if _, err := yardstick.Start(context.Background(), yardstick.Options{Strategy: yardstick.Redis, DSN: "root:@tcp(127.0.0.1:1)/x"}); err == nil ||
		!strings.Contains(err.Error(), "needs a Redis URL") {
		t.Errorf("Start of redis without a Redis: %v", err)
	}
	dsn := testenv.Database(t)
	if _, err := yardstick.Start(context.Background(), yardstick.Options{Strategy: yardstick.Redis, DSN: dsn, RedisURL: "redis://127.0.0.1:1"}); err == nil ||
		!strings.Contains(err.Error(), "connect to redis at 127.0.0.1:1") {
		t.Errorf("Start of redis against a closed port: %v", err)
	}
}

func itoa(n int) string { return strconv.Itoa(n) }
