package httpapi

import (
	"context"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/go-sql-driver/mysql"
	"github.com/google/uuid"
	"gorm.io/gorm"

	"github.com/orderq/orderq/api-gateway/internal/store"
	"github.com/orderq/orderq/shared/database"
	"github.com/orderq/orderq/shared/message"
	"github.com/orderq/orderq/shared/orderstatus"
	"github.com/orderq/orderq/shared/testenv"
)

// cuttableDB returns a migrated database of the test's own reached through a
// proxy, and the proxy, to cut the line.
func cuttableDB(t *testing.T) (*gorm.DB, *testenv.Proxy) {
	t.Helper()
	cfg, err := mysql.ParseDSN(testenv.Database(t))
	if err != nil {
		t.Fatalf("parse dsn: %v", err)
	}
	proxy := testenv.NewProxy(t, cfg.Addr)
	cfg.Addr = proxy.Addr()
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	db, err := database.Open(ctx, cfg.FormatDSN(), testLogger(t), database.Options{MaxOpenConns: 8})
	if err != nil {
		t.Fatalf("open test database: %v", err)
	}
	t.Cleanup(func() {
		if err := database.Close(db); err != nil {
			t.Errorf("close test database: %v", err)
		}
	})
	return db, proxy
}

// TestDatabaseUnavailable cuts the gateway's line to the database: every
// operation that needs it answers 503 with Retry-After, never 500; orders are
// still accepted (the worker decides them once the database is back), except
// for an item known to be missing; and everything answers again once the line
// is back.
func TestDatabaseUnavailable(t *testing.T) {
	t.Parallel()
	db, proxy := cuttableDB(t)
	ts := newPaymentServer(t, db, nil)
	// Items this gateway has not looked up yet: created by another instance.
	other := store.New(db)
	var items [2]message.Item
	for i := range items {
		it, err := other.CreateItem(t.Context(), store.NewItem{Name: fmt.Sprintf("unseen-%d", i), Stock: 10})
		if err != nil {
			t.Fatalf("create item: %v", err)
		}
		items[i] = it
	}
	gone := ts.createItem(t, "gone", 10, 0)
	ts.store.ItemGone(gone.ID)
	now := time.Now().UTC().Truncate(time.Microsecond)
	stored := message.Order{ID: uuid.NewString(), CustomerID: "c-db", ItemID: items[0].ID, Quantity: 1,
		Status: orderstatus.Confirmed, CreatedAt: now, ProcessedAt: &now}
	insertOrder(t, db, stored)
	doc := loadDoc(t)

	proxy.Cut()
	item := fmt.Sprintf("/api/v1/items/%d", items[0].ID)
	ord := "/api/v1/orders/" + stored.ID
	webhook := eventBody("evt-db", stored.ID, "succeeded", 1500, "IDR")
	unavailable := []struct {
		name, method, target, body string
		header                     map[string]string
	}{
		{"list items", "GET", "/api/v1/items", "", nil},
		{"get item", "GET", item, "", nil},
		{"create item", "POST", "/api/v1/items", `{"name":"new","stock":1}`, nil},
		{"update item", "PATCH", item, `{"name":"renamed"}`, nil},
		{"change stock", "POST", item + "/stock", `{"delta":1}`, nil},
		{"delete item", "DELETE", item, "", nil},
		{"list orders", "GET", "/api/v1/orders?customer_id=c-db", "", nil},
		{"get order", "GET", ord, "", nil},
		{"pay order", "POST", ord + "/pay", "", nil},
		{"cancel order", "POST", ord + "/cancel", "", asCustomer(t, "c-db")},
		{"move order", "POST", ord + "/status", `{"status":"awaiting_payment"}`, nil},
		{"move line", "POST", fmt.Sprintf("%s/lines/%d/status", ord, items[0].ID), `{"status":"transit_for_outbound"}`, nil},
		{"move unit", "POST", fmt.Sprintf("%s/lines/%d/units/1/status", ord, items[0].ID), `{"status":"transit_for_outbound"}`, nil},
		{"move units", "POST", ord + "/units/status", fmt.Sprintf(`{"status":"transit_for_outbound","units":[{"item_id":%d,"unit":1}]}`, items[0].ID), nil},
		{"payment webhook", "POST", "/api/v1/payments/webhook", webhook, provider(webhook)},
		{"list refunds", "GET", "/api/v1/payments/refunds", "", nil},
	}
	for _, tt := range unavailable {
		t.Run(tt.name, func(t *testing.T) {
			rec := ts.serve(t, tt.method, tt.target, tt.body, tt.header)
			assertError(t, rec, http.StatusServiceUnavailable, "unavailable")
			if got := rec.Header().Get("Retry-After"); got != "1" {
				t.Errorf("Retry-After = %q, want 1", got)
			}
			if !strings.Contains(rec.Body.String(), "database is unavailable") {
				t.Errorf("body %s does not say the database is unavailable", rec.Body)
			}
			if statuses, ok := doc.statuses(t, tt.method, tt.target); !ok || !slices.Contains(statuses, http.StatusServiceUnavailable) {
				t.Errorf("openapi.json lists %v for %s %s, not 503", statuses, tt.method, tt.target)
			}
		})
	}
	if _, published := ts.sub.calls(); len(published) != 0 {
		t.Fatalf("published %d commands for requests the database refused, want none", len(published))
	}
	t.Run("readyz", func(t *testing.T) {
		rec := ts.serve(t, "GET", "/readyz", "", nil)
		if rec.Code != http.StatusServiceUnavailable || !strings.Contains(rec.Body.String(), `"database":"unavailable"`) {
			t.Errorf("readyz: %d %s, want 503 naming the database", rec.Code, rec.Body)
		}
	})

	accepted := []struct {
		name, body, key string
	}{
		{"order", orderBody(items[0].ID, 1, "c-1"), ""},
		{"keyed order", orderBody(items[0].ID, 1, "c-2"), "k-outage"},
		{"cart", cartBody("c-3", message.Line{ItemID: items[0].ID, Quantity: 1}, message.Line{ItemID: items[1].ID, Quantity: 2}), "k-cart"},
		{"unknown item", orderBody(items[1].ID+1000, 1, "c-4"), ""},
	}
	for _, tt := range accepted {
		t.Run(tt.name, func(t *testing.T) {
			_, before := ts.sub.calls()
			rec := ts.serve(t, "POST", "/api/v1/orders", tt.body, map[string]string{"Idempotency-Key": tt.key})
			o := acceptedOrder(t, rec)
			_, published := ts.sub.calls()
			if len(published) != len(before)+1 || published[len(published)-1].ID != o.ID {
				t.Fatalf("order %s not published", o.ID)
			}
			if tt.key != "" && o.ID != keyedOrderID(o.CustomerID, tt.key) {
				t.Errorf("order id %s, want the key's %s", o.ID, keyedOrderID(o.CustomerID, tt.key))
			}
		})
	}
	t.Run("item known to be missing", func(t *testing.T) {
		_, before := ts.sub.calls()
		rec := ts.serve(t, "POST", "/api/v1/orders", orderBody(gone.ID, 1, "c-5"), nil)
		assertError(t, rec, http.StatusNotFound, "item_not_found")
		if _, published := ts.sub.calls(); len(published) != len(before) {
			t.Errorf("published an order of a deleted item")
		}
	})

	proxy.Restore()
	if rec := ts.serve(t, "GET", ord, "", nil); rec.Code != http.StatusOK {
		t.Errorf("get order with the database back: %d %s", rec.Code, rec.Body)
	}
	if rec := ts.serve(t, "GET", "/readyz", "", nil); rec.Code != http.StatusOK {
		t.Errorf("readyz with the database back: %d %s", rec.Code, rec.Body)
	}
}

// TestDatabaseErrorIsNotUnavailable keeps a database that answers with an
// error a 500: a statement it refuses is a bug, not an outage.
func TestDatabaseErrorIsNotUnavailable(t *testing.T) {
	t.Parallel()
	db := testDB(t)
	ts := newTestServer(t, db)
	item := ts.createItem(t, "sneaker", 10, 0)
	// The items table gone: every read of it is refused (error 1146).
	if err := db.Exec("RENAME TABLE items TO items_away").Error; err != nil {
		t.Fatalf("rename items: %v", err)
	}
	rec := ts.serve(t, "GET", fmt.Sprintf("/api/v1/items/%d", item.ID), "", nil)
	assertError(t, rec, http.StatusInternalServerError, "internal")
	if rec.Header().Get("Retry-After") != "" {
		t.Errorf("500 with Retry-After %q", rec.Header().Get("Retry-After"))
	}
}
