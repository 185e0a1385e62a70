package httpapi

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/orderq/orderq/api-gateway/internal/results"
	"github.com/orderq/orderq/shared/message"
	"github.com/orderq/orderq/shared/mq"
	"github.com/orderq/orderq/shared/orderstatus"
)

func TestCreateItem(t *testing.T) {
	t.Parallel()
	db := testDB(t)
	tests := []struct {
		name    string
		body    string
		want    message.Item
		wantMax int
	}{
		{"with a limit per customer", `{"name":"sneaker","stock":100,"max_per_customer":2}`, message.Item{Name: "sneaker", Stock: 100, MaxPerCustomer: 2}, 2},
		{"without a limit per customer", `{"name":"hoodie","stock":0}`, message.Item{Name: "hoodie", Stock: 0, MaxPerCustomer: 0}, 0},
		{"bounds", `{"name":"` + strings.Repeat("é", maxNameLen) + `","stock":1000000000,"max_per_customer":1000000}`,
			message.Item{Name: strings.Repeat("é", maxNameLen), Stock: maxStock, MaxPerCustomer: maxPerCustomerCap}, maxPerCustomerCap},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			ts := newTestServer(t, db)
			rec := ts.serve(t, http.MethodPost, "/api/v1/items", tt.body, nil)
			if rec.Code != http.StatusCreated {
				t.Fatalf("status = %d, want 201; body %s", rec.Code, rec.Body)
			}
			var got message.Item
			decodeBody(t, rec, &got)
			if got.ID <= 0 || got.Name != tt.want.Name || got.Stock != tt.want.Stock || got.MaxPerCustomer != tt.want.MaxPerCustomer {
				t.Errorf("item = %+v, want %+v with an id", got, tt.want)
			}
			if got.CreatedAt.IsZero() || !got.UpdatedAt.Equal(got.CreatedAt) {
				t.Errorf("created_at %v, updated_at %v: want both set and equal", got.CreatedAt, got.UpdatedAt)
			}
			loc := rec.Header().Get("Location")
			if want := "/api/v1/items/" + strconv.FormatInt(got.ID, 10); loc != want {
				t.Fatalf("Location = %q, want %q", loc, want)
			}
			if _, published := ts.sub.calls(); len(published) != 0 {
				t.Errorf("creating an item published %d commands, want none", len(published))
			}

			rec = ts.serve(t, http.MethodGet, loc, "", nil)
			var fetched message.Item
			decodeBody(t, rec, &fetched)
			if rec.Code != http.StatusOK || fetched.ID != got.ID || fetched.Name != got.Name || fetched.Stock != got.Stock {
				t.Errorf("GET Location = %d %+v, want 200 %+v", rec.Code, fetched, got)
			}
		})
	}
}

func TestListItemsPagination(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t, testDB(t))
	var ids []int64
	for i := range 5 {
		ids = append(ids, ts.createItem(t, fmt.Sprintf("item %d", i), int64(i), 0).ID)
	}
	deleted := ts.createItem(t, "deleted", 1, 0)
	if err := ts.db.Exec("UPDATE items SET deleted_at = NOW(6) WHERE id = ?", deleted.ID).Error; err != nil {
		t.Fatal(err)
	}

	tests := []struct {
		name      string
		query     string    // of the first page
		wantPages [][]int64 // ids of each page, following next_after_id
		wantNext  []*int64  // next_after_id of each page
		wantRaw   string    // a fragment of the last page's JSON
	}{
		{name: "pages of 2", query: "?limit=2",
			wantPages: [][]int64{ids[0:2], ids[2:4], ids[4:5]}, wantNext: []*int64{&ids[1], &ids[3], nil}, wantRaw: `"next_after_id":null`},
		{name: "default limit, one page", query: "",
			wantPages: [][]int64{ids}, wantNext: []*int64{nil}, wantRaw: `"next_after_id":null`},
		{name: "after a given id", query: fmt.Sprintf("?after_id=%d&limit=10", ids[2]),
			wantPages: [][]int64{ids[3:]}, wantNext: []*int64{nil}},
		{name: "after the last id", query: fmt.Sprintf("?after_id=%d", deleted.ID),
			wantPages: [][]int64{{}}, wantNext: []*int64{nil}, wantRaw: `"items":[]`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			target := "/api/v1/items" + tt.query
			var raw string
			for page := 0; ; page++ {
				rec := ts.serve(t, http.MethodGet, target, "", nil)
				if rec.Code != http.StatusOK {
					t.Fatalf("page %d: status = %d; body %s", page, rec.Code, rec.Body)
				}
				raw = rec.Body.String()
				var list struct {
					Items       []message.Item `json:"items"`
					NextAfterID *int64         `json:"next_after_id"`
				}
				decodeBody(t, rec, &list)
				if page >= len(tt.wantPages) {
					t.Fatalf("page %d: more pages than %d", page, len(tt.wantPages))
				}
				var got []int64
				for _, it := range list.Items {
					got = append(got, it.ID)
				}
				if fmt.Sprint(got) != fmt.Sprint(tt.wantPages[page]) {
					t.Errorf("page %d: ids %v, want %v", page, got, tt.wantPages[page])
				}
				want := tt.wantNext[page]
				if (list.NextAfterID == nil) != (want == nil) || (want != nil && *list.NextAfterID != *want) {
					t.Errorf("page %d: next_after_id = %v, want %v", page, deref(list.NextAfterID), deref(want))
				}
				if list.NextAfterID == nil {
					break
				}
				target = fmt.Sprintf("/api/v1/items?limit=2&after_id=%d", *list.NextAfterID)
			}
			if !strings.Contains(raw, tt.wantRaw) {
				t.Errorf("last page %s does not contain %s", raw, tt.wantRaw)
			}
		})
	}
}

func deref(p *int64) any {
	if p == nil {
		return nil
	}
	return *p
}

func TestUpdateItem(t *testing.T) {
	t.Parallel()
	db := testDB(t)
	tests := []struct {
		name    string
		body    string
		wantNam string
		wantMax int
	}{
		{"name", `{"name":"renamed"}`, "renamed", 3},
		{"limit", `{"max_per_customer":0}`, "original", 0},
		{"both", `{"name":"both","max_per_customer":7}`, "both", 7},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			ts := newTestServer(t, db)
			item := ts.createItem(t, "original", 50, 3)
			time.Sleep(time.Millisecond) // so that updated_at moves
			rec := ts.serve(t, http.MethodPatch, fmt.Sprintf("/api/v1/items/%d", item.ID), tt.body, nil)
			if rec.Code != http.StatusOK {
				t.Fatalf("status = %d, want 200; body %s", rec.Code, rec.Body)
			}
			var got message.Item
			decodeBody(t, rec, &got)
			if got.ID != item.ID || got.Name != tt.wantNam || got.MaxPerCustomer != tt.wantMax || got.Stock != item.Stock {
				t.Errorf("item = %+v, want name %q, max_per_customer %d, stock %d", got, tt.wantNam, tt.wantMax, item.Stock)
			}
			if !got.CreatedAt.Equal(item.CreatedAt) || !got.UpdatedAt.After(item.UpdatedAt) {
				t.Errorf("created_at %v (was %v), updated_at %v (was %v): want created_at kept and updated_at later",
					got.CreatedAt, item.CreatedAt, got.UpdatedAt, item.UpdatedAt)
			}
			if _, published := ts.sub.calls(); len(published) != 0 {
				t.Errorf("a patch published %d commands, want none", len(published))
			}
		})
	}
}

// orderBody is a JSON order request.
func orderBody(itemID int64, quantity int, customer string) string {
	return fmt.Sprintf(`{"item_id":%d,"quantity":%d,"customer_id":%q}`, itemID, quantity, customer)
}

// acceptedOrder checks a 202 for a new pending order and returns it.
func acceptedOrder(t *testing.T, rec *httptest.ResponseRecorder) message.Order {
	t.Helper()
	if rec.Code != http.StatusAccepted {
		t.Fatalf("status = %d, want 202; body %s", rec.Code, rec.Body)
	}
	var o message.Order
	decodeBody(t, rec, &o)
	if loc, want := rec.Header().Get("Location"), "/api/v1/orders/"+o.ID; loc != want {
		t.Errorf("Location = %q, want %q", loc, want)
	}
	if o.Status != orderstatus.Pending || o.Reason != nil || o.ProcessedAt != nil || o.CreatedAt.IsZero() {
		t.Errorf("order = %+v, want pending with no reason, no processed_at and a created_at", o)
	}
	return o
}

func TestCreateOrder(t *testing.T) {
	t.Parallel()
	db := testDB(t)
	tests := []struct {
		name         string
		body         func(itemID int64) string
		wantQuantity int
		wantCustomer string
	}{
		{"quantity given", func(id int64) string { return orderBody(id, 3, "c-42") }, 3, "c-42"},
		{"quantity defaults to 1", func(id int64) string { return fmt.Sprintf(`{"item_id":%d,"customer_id":"c-7"}`, id) }, 1, "c-7"},
		{"largest quantity, 64 multibyte characters", func(id int64) string { return orderBody(id, 1000, strings.Repeat("é", 64)) }, 1000, strings.Repeat("é", 64)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			ts := newTestServer(t, db)
			item := ts.createItem(t, "sneaker", 10, 0)
			o := acceptedOrder(t, ts.serve(t, http.MethodPost, "/api/v1/orders", tt.body(item.ID), nil))
			if o.ItemID != item.ID || o.Quantity != tt.wantQuantity || o.CustomerID != tt.wantCustomer {
				t.Errorf("order = %+v, want item %d, quantity %d, customer %q", o, item.ID, tt.wantQuantity, tt.wantCustomer)
			}

			_, published := ts.sub.calls()
			if len(published) != 1 {
				t.Fatalf("published %d commands, want 1", len(published))
			}
			cmd := published[0]
			if err := cmd.Validate(); err != nil {
				t.Errorf("published an invalid command %+v: %v", cmd, err)
			}
			if cmd.Kind != message.KindOrder || cmd.ID != o.ID || len(cmd.Lines) != 1 || cmd.Lines[0].ItemID != item.ID ||
				cmd.Lines[0].Quantity != tt.wantQuantity || cmd.Parts != 1 || cmd.CustomerID != tt.wantCustomer || !cmd.AcceptedAt.Equal(o.CreatedAt) {
				t.Errorf("published %+v, want the order command of %+v", cmd, o)
			}

			// The gateway that accepted it answers for it while it is pending.
			rec := ts.serve(t, http.MethodGet, "/api/v1/orders/"+o.ID, "", nil)
			var got message.Order
			decodeBody(t, rec, &got)
			if rec.Code != http.StatusOK || got.ID != o.ID || got.Status != orderstatus.Pending {
				t.Errorf("GET order = %d %+v, want 200 pending", rec.Code, got)
			}
		})
	}
}

func TestCreateOrderIdempotency(t *testing.T) {
	t.Parallel()
	db := testDB(t)
	tests := []struct {
		name       string
		second     func(item, other int64) string // the retry's body; the first is orderBody(item, 2, "c-1")
		wantStatus int
		wantCode   string
	}{
		{"same body", func(id, _ int64) string { return orderBody(id, 2, "c-1") }, http.StatusAccepted, ""},
		{"same request, other spelling", func(id, _ int64) string {
			return fmt.Sprintf(`{ "customer_id": "c-1", "quantity": 2, "item_id": %d }`, id)
		}, http.StatusAccepted, ""},
		{"other quantity", func(id, _ int64) string { return orderBody(id, 3, "c-1") }, http.StatusUnprocessableEntity, "idempotency_key_reused"},
		{"other item", func(_, other int64) string { return orderBody(other, 2, "c-1") }, http.StatusUnprocessableEntity, "idempotency_key_reused"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			ts := newTestServer(t, db)
			item := ts.createItem(t, "sneaker", 10, 0)
			other := ts.createItem(t, "other", 10, 0)
			key := map[string]string{"Idempotency-Key": "key-" + strings.ReplaceAll(tt.name, " ", "-")}

			first := acceptedOrder(t, ts.serve(t, http.MethodPost, "/api/v1/orders", orderBody(item.ID, 2, "c-1"), key))
			if want := keyedOrderID("c-1", key["Idempotency-Key"]); first.ID != want {
				t.Errorf("order id = %s, want %s, the id the key names", first.ID, want)
			}
			rec := ts.serve(t, http.MethodPost, "/api/v1/orders", tt.second(item.ID, other.ID), key)
			if tt.wantCode != "" {
				assertError(t, rec, tt.wantStatus, tt.wantCode)
			} else {
				again := acceptedOrder(t, rec)
				if again.ID != first.ID || !again.CreatedAt.Equal(first.CreatedAt) {
					t.Errorf("retry answered order %s created %v, want %s created %v", again.ID, again.CreatedAt, first.ID, first.CreatedAt)
				}
			}
			if _, published := ts.sub.calls(); len(published) != 1 || published[0].ID != first.ID {
				t.Errorf("published %+v, want only order %s", published, first.ID)
			}
		})
	}

	// Another gateway instance (or this one after a restart) knows the order
	// once the worker stored it.
	t.Run("order known from the database", func(t *testing.T) {
		t.Parallel()
		ts := newTestServer(t, db)
		item := ts.createItem(t, "sneaker", 10, 0)
		const key = "decided-elsewhere"
		processed := time.Now().UTC().Truncate(time.Microsecond)
		decided := message.Order{ID: keyedOrderID("c-9", key), ItemID: item.ID, Quantity: 2, CustomerID: "c-9",
			Status: orderstatus.Confirmed, CreatedAt: processed.Add(-time.Second), ProcessedAt: &processed}
		insertOrder(t, db, decided)

		rec := ts.serve(t, http.MethodPost, "/api/v1/orders", orderBody(item.ID, 2, "c-9"), map[string]string{"Idempotency-Key": key})
		if rec.Code != http.StatusOK {
			t.Fatalf("status = %d, want 200 for a decided order; body %s", rec.Code, rec.Body)
		}
		var got message.Order
		decodeBody(t, rec, &got)
		if got.ID != decided.ID || got.Status != orderstatus.Confirmed || rec.Header().Get("Location") != "/api/v1/orders/"+decided.ID {
			t.Errorf("answered %+v (Location %q), want the decided order %s", got, rec.Header().Get("Location"), decided.ID)
		}
		rec = ts.serve(t, http.MethodPost, "/api/v1/orders", orderBody(item.ID, 1, "c-9"), map[string]string{"Idempotency-Key": key})
		assertError(t, rec, http.StatusUnprocessableEntity, "idempotency_key_reused")
		if attempts, _ := ts.sub.calls(); len(attempts) != 0 {
			t.Errorf("submitted %d commands, want none", len(attempts))
		}
	})

	t.Run("keys are per customer", func(t *testing.T) {
		t.Parallel()
		ts := newTestServer(t, db)
		item := ts.createItem(t, "sneaker", 10, 0)
		key := map[string]string{"Idempotency-Key": "shared-key"}
		a := acceptedOrder(t, ts.serve(t, http.MethodPost, "/api/v1/orders", orderBody(item.ID, 1, "alice"), key))
		b := acceptedOrder(t, ts.serve(t, http.MethodPost, "/api/v1/orders", orderBody(item.ID, 1, "bob"), key))
		if a.ID == b.ID {
			t.Errorf("two customers' orders with the same key got the same id %s", a.ID)
		}
		if _, published := ts.sub.calls(); len(published) != 2 {
			t.Errorf("published %d commands, want 2", len(published))
		}
	})
}

func TestCreateOrderBrokerUnavailable(t *testing.T) {
	t.Parallel()
	db := testDB(t)
	tests := []struct {
		name string
		err  error
		key  string
	}{
		{"broker unavailable, with key", fmt.Errorf("%w: not connected", mq.ErrUnavailable), "retry-me"},
		{"broker unavailable, without key", fmt.Errorf("%w: connection blocked by a resource alarm", mq.ErrUnavailable), ""},
		{"confirm timed out, with key", fmt.Errorf("publish: %w", context.DeadlineExceeded), "slow-broker"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var mu sync.Mutex
			failures := 1
			ts := newTestServer(t, db, func(c *Config) {
				c.Intake.(*fakeSubmitter).submit = func(context.Context, message.Command) error {
					mu.Lock()
					defer mu.Unlock()
					if failures > 0 {
						failures--
						return tt.err
					}
					return nil
				}
			})
			item := ts.createItem(t, "sneaker", 10, 0)
			header := map[string]string{"Idempotency-Key": tt.key}
			body := orderBody(item.ID, 1, "c-503")

			rec := ts.serve(t, http.MethodPost, "/api/v1/orders", body, header)
			assertError(t, rec, http.StatusServiceUnavailable, "unavailable")
			if got := rec.Header().Get("Retry-After"); got != "1" {
				t.Errorf("Retry-After = %q, want 1", got)
			}
			if attempts, published := ts.sub.calls(); len(attempts) != 1 || len(published) != 0 {
				t.Errorf("%d submitted, %d published; want 1 and 0", len(attempts), len(published))
			}

			// The key is not held by the failed request: the retry publishes.
			o := acceptedOrder(t, ts.serve(t, http.MethodPost, "/api/v1/orders", body, header))
			attempts, published := ts.sub.calls()
			if len(published) != 1 || published[0].ID != o.ID {
				t.Fatalf("published %+v after the retry, want only order %s", published, o.ID)
			}
			if tt.key != "" && (o.ID != keyedOrderID("c-503", tt.key) || attempts[0].ID != o.ID) {
				t.Errorf("failed attempt %s, retry %s: want both the id the key names, %s", attempts[0].ID, o.ID, keyedOrderID("c-503", tt.key))
			}
		})
	}
}

func TestCreateOrderUnknownItem(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t, testDB(t))
	live := ts.createItem(t, "live", 10, 0)
	gone := ts.createItem(t, "gone", 10, 0)
	ts.sub.submit = worker(ts.cache, gone)
	if rec := ts.serve(t, http.MethodDelete, fmt.Sprintf("/api/v1/items/%d", gone.ID), "", nil); rec.Code != http.StatusNoContent {
		t.Fatalf("delete: status = %d; body %s", rec.Code, rec.Body)
	}
	_, published := ts.sub.calls()
	before := len(published)

	tests := []struct {
		name   string
		itemID int64
		key    string
	}{
		{"never existed", live.ID + 1000, ""},
		{"never existed, with key", live.ID + 1000, "k-1"},
		{"deleted", gone.ID, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec := ts.serve(t, http.MethodPost, "/api/v1/orders", orderBody(tt.itemID, 1, "c-1"),
				map[string]string{"Idempotency-Key": tt.key})
			assertError(t, rec, http.StatusNotFound, "item_not_found")
			if _, published := ts.sub.calls(); len(published) != before {
				t.Errorf("published %d commands, want %d", len(published), before)
			}
		})
	}
}

// TestCapacity holds one request inside the intake with MaxInFlight 1: the
// next API request is refused with 429, operations endpoints still answer, and
// the slot is free again once the first request is done.
func TestCapacity(t *testing.T) {
	t.Parallel()
	entered, release := make(chan struct{}), make(chan struct{})
	var once sync.Once
	t.Cleanup(func() { once.Do(func() { close(release) }) })
	ts := newTestServer(t, testDB(t), func(c *Config) {
		c.MaxInFlight = 1
		c.Intake.(*fakeSubmitter).submit = func(ctx context.Context, _ message.Command) error {
			close(entered)
			select {
			case <-release:
				return nil
			case <-ctx.Done():
				return ctx.Err()
			}
		}
	})
	item := ts.createItem(t, "sneaker", 10, 0)

	held := make(chan *httptest.ResponseRecorder, 1)
	go func() {
		// Not ts.serve: t.Fatal must not be called from this goroutine.
		req := httptest.NewRequestWithContext(t.Context(), http.MethodPost, "/api/v1/orders", strings.NewReader(orderBody(item.ID, 1, "c-1")))
		req.Header.Set("X-API-Key", testStorefrontKey)
		rec := httptest.NewRecorder()
		ts.handler.ServeHTTP(rec, req)
		held <- rec
	}()
	select {
	case <-entered:
	case <-time.After(10 * time.Second):
		t.Fatal("the first request never reached the intake")
	}

	tests := []struct {
		name   string
		method string
		target string
		body   string
		status int
	}{
		{"list items", http.MethodGet, "/api/v1/items", "", http.StatusTooManyRequests},
		{"another order", http.MethodPost, "/api/v1/orders", orderBody(item.ID, 1, "c-2"), http.StatusTooManyRequests},
		{"bad input is refused for capacity first", http.MethodPost, "/api/v1/orders", "{", http.StatusTooManyRequests},
		{"healthz is not limited", http.MethodGet, "/healthz", "", http.StatusOK},
		{"readyz is not limited", http.MethodGet, "/readyz", "", http.StatusOK},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec := ts.serve(t, tt.method, tt.target, tt.body, nil)
			if tt.status == http.StatusTooManyRequests {
				assertError(t, rec, tt.status, "too_many_requests")
				if got := rec.Header().Get("Retry-After"); got != "1" {
					t.Errorf("Retry-After = %q, want 1", got)
				}
			} else if rec.Code != tt.status {
				t.Errorf("status = %d, want %d; body %s", rec.Code, tt.status, rec.Body)
			}
		})
	}
	if _, published := ts.sub.calls(); len(published) != 0 {
		t.Errorf("published %d commands while the first was held, want none", len(published))
	}

	once.Do(func() { close(release) })
	acceptedOrder(t, <-held)
	if rec := ts.serve(t, http.MethodGet, "/api/v1/items", "", nil); rec.Code != http.StatusOK {
		t.Errorf("after the held request: status = %d, want 200; body %s", rec.Code, rec.Body)
	}
	if _, published := ts.sub.calls(); len(published) != 1 {
		t.Errorf("published %d commands, want 1", len(published))
	}
}

// worker returns a submit that answers commands the way the worker would,
// through the results cache: orders are confirmed, stock changes applied to an
// item of the given stock, deletions applied.
func worker(cache *results.Cache, item message.Item) func(context.Context, message.Command) error {
	return func(_ context.Context, cmd message.Command) error {
		res := message.Result{Kind: cmd.Kind, ID: cmd.ID, ItemID: cmd.ItemID}
		now := time.Now().UTC()
		switch cmd.Kind {
		case message.KindOrder:
			res.Order = &message.Order{ID: cmd.ID, ItemID: cmd.Lines[0].ItemID, Quantity: cmd.Lines[0].Quantity,
				CustomerID: cmd.CustomerID, Status: orderstatus.Confirmed, CreatedAt: cmd.AcceptedAt, ProcessedAt: &now,
				Lines:         []message.OrderLine{{ItemID: cmd.Lines[0].ItemID, Quantity: cmd.Lines[0].Quantity, Status: orderstatus.Reserved}},
				DisplayStatus: orderstatus.Display{Code: orderstatus.ShowAwaitingPayment}}
		case message.KindStock:
			if cmd.ItemID != item.ID {
				res.Error = message.ErrCodeItemNotFound
				break
			}
			after := item
			if cmd.Set != nil {
				after.Stock = *cmd.Set
			} else {
				after.Stock += *cmd.Delta
			}
			if after.Stock < 0 {
				res.Error = message.ErrCodeInsufficientStock
				break
			}
			res.Item = &after
		case message.KindDeleteItem:
			if cmd.ItemID != item.ID {
				res.Error = message.ErrCodeItemNotFound
			}
		}
		// Delivered in the background, as the results subscriber would: the
		// handler is waiting for it or about to.
		go cache.Deliver([]message.Result{res})
		return nil
	}
}

func TestChangeStock(t *testing.T) {
	t.Parallel()
	db := testDB(t)
	tests := []struct {
		name      string
		body      string
		status    int
		wantStock int64
		code      string
	}{
		{"delta up", `{"delta":5}`, http.StatusOK, 15, ""},
		{"delta down to zero", `{"delta":-10}`, http.StatusOK, 0, ""},
		{"set", `{"set":1000}`, http.StatusOK, 1000, ""},
		{"below zero", `{"delta":-11}`, http.StatusConflict, 0, "insufficient_stock"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			ts := newTestServer(t, db)
			item := ts.createItem(t, "sneaker", 10, 0)
			ts.sub.submit = worker(ts.cache, item)
			rec := ts.serve(t, http.MethodPost, fmt.Sprintf("/api/v1/items/%d/stock", item.ID), tt.body, nil)
			if tt.code != "" {
				assertError(t, rec, tt.status, tt.code)
			} else {
				if rec.Code != tt.status {
					t.Fatalf("status = %d, want %d; body %s", rec.Code, tt.status, rec.Body)
				}
				var got message.Item
				decodeBody(t, rec, &got)
				if got.ID != item.ID || got.Stock != tt.wantStock {
					t.Errorf("item = %+v, want stock %d", got, tt.wantStock)
				}
			}
			_, published := ts.sub.calls()
			if len(published) != 1 || published[0].Kind != message.KindStock || published[0].ItemID != item.ID {
				t.Fatalf("published %+v, want one stock command for item %d", published, item.ID)
			}
			if err := published[0].Validate(); err != nil {
				t.Errorf("published an invalid command: %v", err)
			}
		})
	}
}

func TestDeleteItem(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t, testDB(t))
	item := ts.createItem(t, "sneaker", 10, 0)
	ts.sub.submit = worker(ts.cache, item)

	rec := ts.serve(t, http.MethodDelete, fmt.Sprintf("/api/v1/items/%d", item.ID), "", nil)
	if rec.Code != http.StatusNoContent || rec.Body.Len() != 0 {
		t.Fatalf("status = %d, want 204 without a body; body %s", rec.Code, rec.Body)
	}
	_, published := ts.sub.calls()
	if len(published) != 1 || published[0].Kind != message.KindDeleteItem || published[0].ItemID != item.ID {
		t.Fatalf("published %+v, want one deletion of item %d", published, item.ID)
	}
	// This gateway refuses the item's orders at once from now on.
	rec = ts.serve(t, http.MethodPost, "/api/v1/orders", orderBody(item.ID, 1, "c-1"), nil)
	assertError(t, rec, http.StatusNotFound, "item_not_found")
}

var serverTiming = regexp.MustCompile(`^wait;dur=[0-9]+\.[0-9]{3}$`)

func TestPreferWait(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t, testDB(t))
	item := ts.createItem(t, "sneaker", 10, 0)
	ts.sub.submit = worker(ts.cache, item)

	tests := []struct {
		name    string
		prefer  string
		status  int
		applied string
		final   orderstatus.Status
	}{
		{"wait for the outcome", "wait=5", http.StatusOK, "wait=5", orderstatus.Confirmed},
		{"among other preferences, quoted", `respond-async, wait="5"`, http.StatusOK, "wait=5", orderstatus.Confirmed},
		{"no wait", "", http.StatusAccepted, "", orderstatus.Pending},
		{"wait=0", "wait=0", http.StatusAccepted, "", orderstatus.Pending},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			rec := ts.serve(t, http.MethodPost, "/api/v1/orders", orderBody(item.ID, 1, "c-1"), map[string]string{"Prefer": tt.prefer})
			if rec.Code != tt.status {
				t.Fatalf("status = %d, want %d; body %s", rec.Code, tt.status, rec.Body)
			}
			if got := rec.Header().Get("Preference-Applied"); got != tt.applied {
				t.Errorf("Preference-Applied = %q, want %q", got, tt.applied)
			}
			// An answer that waited says for how long, in milliseconds.
			timing := rec.Header().Get("Server-Timing")
			if waited := tt.applied != ""; waited != serverTiming.MatchString(timing) {
				t.Errorf("Server-Timing = %q, want a wait's duration: %v", timing, waited)
			}
			var o message.Order
			decodeBody(t, rec, &o)
			if o.Status != tt.final {
				t.Errorf("status %q, want %q", o.Status, tt.final)
			}
			if loc := rec.Header().Get("Location"); loc != "/api/v1/orders/"+o.ID {
				t.Errorf("Location = %q", loc)
			}
		})
	}
}

func TestOperations(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t, testDB(t))
	down := newTestServer(t, ts.db, func(c *Config) { c.BrokerReady = func() bool { return false } })
	tests := []struct {
		name   string
		ts     *testServer
		target string
		status int
		want   string // a fragment of the body
	}{
		{"healthz", ts, "/healthz", http.StatusOK, `{"status":"ok"}`},
		{"readyz", ts, "/readyz", http.StatusOK, `"status":"ok"`},
		{"readyz, broker down", down, "/readyz", http.StatusServiceUnavailable, `"broker":"unavailable"`},
		// Metrics are served on METRICS_ADDR, never on the public port.
		{"no metrics on the API's port", ts, "/metrics", http.StatusNotFound, `"code":"not_found"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			// One request first, so that the request counter has a sample.
			tt.ts.serve(t, http.MethodGet, "/healthz", "", nil)
			rec := tt.ts.serve(t, http.MethodGet, tt.target, "", nil)
			if rec.Code != tt.status || !strings.Contains(rec.Body.String(), tt.want) {
				t.Errorf("status = %d, want %d; body %.300s, want it to contain %s", rec.Code, tt.status, rec.Body, tt.want)
			}
		})
	}
}

func TestDocs(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t, nil)
	tests := []struct {
		name        string
		target      string
		status      int
		contentType string
		contains    string
		excludes    string
	}{
		{"docs redirects to the UI", "/docs", http.StatusMovedPermanently, "", "", ""},
		{"index", "/docs/", http.StatusOK, "text/html", "./swagger-ui-bundle.js", "petstore"},
		{"index by name", "/docs/index.html", http.StatusOK, "text/html", "./swagger-initializer.js", "petstore"},
		{"initializer loads our document", "/docs/swagger-initializer.js", http.StatusOK, "text/javascript", `url: "/openapi.json"`, "petstore"},
		{"bundle is served from the binary", "/docs/swagger-ui-bundle.js", http.StatusOK, "text/javascript", "SwaggerUIBundle", ""},
		{"preset", "/docs/swagger-ui-standalone-preset.js", http.StatusOK, "text/javascript", "", ""},
		{"stylesheet", "/docs/swagger-ui.css", http.StatusOK, "text/css", ".swagger-ui", ""},
		{"document", "/openapi.json", http.StatusOK, "application/json", `"openapi": "3.0.3"`, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			rec := ts.serve(t, http.MethodGet, tt.target, "", nil)
			if rec.Code != tt.status {
				t.Fatalf("status = %d, want %d", rec.Code, tt.status)
			}
			if tt.status == http.StatusMovedPermanently {
				if loc := rec.Header().Get("Location"); loc != "/docs/" {
					t.Errorf("Location = %q, want /docs/", loc)
				}
				return
			}
			if ct := rec.Header().Get("Content-Type"); !strings.HasPrefix(ct, tt.contentType) {
				t.Errorf("Content-Type = %q, want %s", ct, tt.contentType)
			}
			body := rec.Body.String()
			if !strings.Contains(body, tt.contains) {
				t.Errorf("body does not contain %q", tt.contains)
			}
			if tt.excludes != "" && strings.Contains(body, tt.excludes) {
				t.Errorf("body contains %q", tt.excludes)
			}
			if strings.Contains(body, "://") && tt.contentType == "text/html" {
				t.Errorf("the page refers to another host: the UI must work offline")
			}
		})
	}

	rec := ts.serve(t, http.MethodGet, "/openapi.json", "", nil)
	if !json.Valid(rec.Body.Bytes()) || rec.Body.String() != string(openapiDoc) {
		t.Error("/openapi.json does not serve the embedded document")
	}
}

// TestGetFindsAResultTheGatewayMissed: the worker decided an order this
// gateway accepted, but its result never reached the cache (the gateway was
// reconnecting to the broker). A plain GET reads the database at once; a
// long-poll finds it at its first poll of the database.
func TestGetFindsAResultTheGatewayMissed(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t, testDB(t))
	item := ts.createItem(t, "sneaker", 10, 0)
	rec := ts.serve(t, http.MethodPost, "/api/v1/orders", orderBody(item.ID, 1, "c-1"), nil)
	if rec.Code != http.StatusAccepted {
		t.Fatalf("create: %d %s", rec.Code, rec.Body)
	}
	var pending message.Order
	decodeBody(t, rec, &pending)

	getStatus := func(target string) (orderstatus.Status, time.Duration) {
		start := time.Now()
		rec := ts.serve(t, http.MethodGet, target, "", nil)
		if rec.Code != http.StatusOK {
			t.Fatalf("GET %s: %d %s", target, rec.Code, rec.Body)
		}
		var o message.Order
		decodeBody(t, rec, &o)
		return o.Status, time.Since(start)
	}
	if status, _ := getStatus("/api/v1/orders/" + pending.ID); status != orderstatus.Pending {
		t.Fatalf("before the worker: status %q, want pending", status)
	}

	decided := pending
	decided.Status = orderstatus.Confirmed
	processed := time.Now().UTC().Truncate(time.Microsecond)
	decided.ProcessedAt = &processed
	insertOrder(t, ts.db, decided)

	if status, _ := getStatus("/api/v1/orders/" + pending.ID); status != orderstatus.Confirmed {
		t.Errorf("plain GET: status %q, want confirmed from the database", status)
	}
	status, took := getStatus("/api/v1/orders/" + pending.ID + "?wait=5")
	if status != orderstatus.Confirmed {
		t.Errorf("long-poll: status %q, want confirmed from the database", status)
	}
	if took > 3*time.Second {
		t.Errorf("long-poll took %v: it should find the order at its first poll (%v)", took, pollInterval)
	}
}
