package httpapi

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/orderq/orderq/shared/message"
	"github.com/orderq/orderq/shared/orderstatus"
	"github.com/orderq/orderq/shared/shard"
)

// Statuses, short, for the tables below.
const (
	stPending   = orderstatus.Pending
	stConfirmed = orderstatus.Confirmed
	stRejected  = orderstatus.Rejected
	stAwaiting  = orderstatus.AwaitingPayment
	stPaid      = orderstatus.Paid
	stActive    = orderstatus.Active
	stFulfilled = orderstatus.Fulfilled
	stCanceled  = orderstatus.Canceled

	lnPending  = orderstatus.LinePending
	lnReserved = orderstatus.Reserved
	lnRejected = orderstatus.LineRejected
	lnReleased = orderstatus.Released
	lnTransit  = orderstatus.TransitForOutbound
	lnRent     = orderstatus.RentInProgress
	lnCleaning = orderstatus.PreparingAndCleaning
)

// labels are the display labels the contract promises, by language and code.
var labels = map[string]map[string]string{
	"id": {
		"processing": "Sedang Diproses", "awaiting_payment": "Menunggu Pembayaran", "shipped": "Pesanan Dikirim",
		"active": "Pesanan Aktif", "completed": "Selesai", "canceled": "Dibatalkan",
	},
	"en": {
		"processing": "Processing", "awaiting_payment": "Awaiting Payment", "shipped": "Shipped",
		"active": "Active", "completed": "Completed", "canceled": "Canceled",
	},
}

// cartBody is a JSON cart order; a line's quantity 0 is not sent.
func cartBody(customer string, lines ...message.Line) string {
	var b strings.Builder
	fmt.Fprintf(&b, `{"customer_id":%q,"lines":[`, customer)
	for i, l := range lines {
		if i > 0 {
			b.WriteByte(',')
		}
		if l.Quantity == 0 {
			fmt.Fprintf(&b, `{"item_id":%d}`, l.ItemID)
		} else {
			fmt.Fprintf(&b, `{"item_id":%d,"quantity":%d}`, l.ItemID, l.Quantity)
		}
	}
	b.WriteString("]}")
	return b.String()
}

// shardsOf is the number of shards the items are on.
func shardsOf(items ...int64) int {
	seen := map[int]bool{}
	for _, id := range items {
		seen[shard.Of(id, 4)] = true
	}
	return len(seen)
}

// topLevelKeys returns the members of the JSON object body.
func topLevelKeys(t *testing.T, body []byte) map[string]json.RawMessage {
	t.Helper()
	var top map[string]json.RawMessage
	if err := json.Unmarshal(body, &top); err != nil {
		t.Fatalf("body %s: %v", body, err)
	}
	return top
}

func TestCreateCartOrder(t *testing.T) {
	t.Parallel()
	db := testDB(t)
	seed := newTestServer(t, db)
	items := make([]int64, message.MaxLines+1)
	for i := range items {
		items[i] = seed.createItem(t, fmt.Sprintf("item %d", i), 10, 0).ID
	}
	// cart is a cart of the first n items; every third line sends no
	// quantity, which then is 1.
	cart := func(n int) []message.Line {
		lines := make([]message.Line, n)
		for i := range lines {
			lines[i] = message.Line{ItemID: items[i], Quantity: i % 3}
		}
		return lines
	}

	t.Run("accepted", func(t *testing.T) {
		tests := []struct {
			name  string
			lines []message.Line
		}{
			{"one line, quantity defaults to 1", cart(1)},
			{"three lines", cart(3)},
			{"fifty lines", cart(message.MaxLines)},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				t.Parallel()
				ts := newTestServer(t, db)
				rec := ts.serve(t, http.MethodPost, "/api/v1/orders", cartBody("c-cart", tt.lines...), nil)
				o := acceptedOrder(t, rec)
				var view message.Order
				decodeBody(t, rec, &view)

				want := make([]message.Line, len(tt.lines))
				var ids []int64
				for i, l := range tt.lines {
					want[i] = message.Line{No: i, ItemID: l.ItemID, Quantity: max(l.Quantity, 1)}
					ids = append(ids, l.ItemID)
				}
				if len(o.Lines) != len(want) {
					t.Fatalf("answered %d lines, want %d", len(o.Lines), len(want))
				}
				for i, l := range o.Lines {
					if l.ItemID != want[i].ItemID || l.Quantity != want[i].Quantity || l.Status != lnPending || l.Reason != nil {
						t.Errorf("line %d = %+v, want item %d, quantity %d, pending, no reason", i, l, want[i].ItemID, want[i].Quantity)
					}
				}
				if d := view.DisplayStatus; d.Code != "processing" || d.Label != labels["id"]["processing"] {
					t.Errorf("display_status = %+v, want processing, %q", d, labels["id"]["processing"])
				}
				top := topLevelKeys(t, rec.Body.Bytes())
				_, hasItem := top["item_id"]
				_, hasQuantity := top["quantity"]
				if single := len(want) == 1; hasItem != single || hasQuantity != single {
					t.Errorf("item_id present %v, quantity present %v; want both %v for %d lines", hasItem, hasQuantity, single, len(want))
				}
				if len(want) == 1 && (o.ItemID != want[0].ItemID || o.Quantity != want[0].Quantity) {
					t.Errorf("item_id %d, quantity %d; want the line's, %d and %d", o.ItemID, o.Quantity, want[0].ItemID, want[0].Quantity)
				}

				_, published := ts.sub.calls()
				if len(published) != 1 {
					t.Fatalf("published %d commands, want 1", len(published))
				}
				cmd := published[0]
				if err := cmd.Validate(); err != nil {
					t.Errorf("published an invalid command: %v", err)
				}
				if cmd.Kind != message.KindOrder || cmd.ID != o.ID || cmd.CustomerID != "c-cart" || !cmd.AcceptedAt.Equal(o.CreatedAt) {
					t.Errorf("published %s %s for %q at %v, want order %s for c-cart at %v",
						cmd.Kind, cmd.ID, cmd.CustomerID, cmd.AcceptedAt, o.ID, o.CreatedAt)
				}
				if !reflect.DeepEqual(cmd.Lines, want) {
					t.Errorf("published lines %+v, want %+v", cmd.Lines, want)
				}
				if wantParts := shardsOf(ids...); cmd.Parts != wantParts {
					t.Errorf("parts = %d, want %d, the shards of the lines", cmd.Parts, wantParts)
				}
			})
		}
	})

	t.Run("refused", func(t *testing.T) {
		line := func(i int) string { return fmt.Sprintf(`{"item_id":%d}`, items[i]) }
		tests := []struct {
			name     string
			body     string
			status   int
			code     string
			mentions string // the message names it
		}{
			{"no lines", `{"customer_id":"c-1","lines":[]}`, 422, "validation_failed", "lines"},
			{"51 lines", cartBody("c-1", cart(message.MaxLines+1)...), 422, "validation_failed", "lines"},
			{"the same item twice", cartBody("c-1", message.Line{ItemID: items[0]}, message.Line{ItemID: items[1]},
				message.Line{ItemID: items[0], Quantity: 2}), 422, "validation_failed", "lines[2].item_id"},
			{"a line without item_id", `{"customer_id":"c-1","lines":[` + line(0) + `,{"quantity":2}]}`,
				422, "validation_failed", "lines[1].item_id"},
			{"item_id 0 in a line", `{"customer_id":"c-1","lines":[{"item_id":0}]}`, 422, "validation_failed", "lines[0].item_id"},
			{"quantity 0 in line 3", `{"customer_id":"c-1","lines":[` + line(0) + "," + line(1) + "," + line(2) +
				fmt.Sprintf(`,{"item_id":%d,"quantity":0}]}`, items[3]), 422, "validation_failed", "lines[3].quantity"},
			{"quantity 1001 in line 3", `{"customer_id":"c-1","lines":[` + line(0) + "," + line(1) + "," + line(2) +
				fmt.Sprintf(`,{"item_id":%d,"quantity":1001}]}`, items[3]), 422, "validation_failed", "lines[3].quantity"},
			{"quantity as a string in a line", `{"customer_id":"c-1","lines":[{"item_id":1,"quantity":"2"}]}`,
				422, "validation_failed", "quantity"},
			{"unknown field in a line", `{"customer_id":"c-1","lines":[{"item_id":1,"size":"M"}]}`, 422, "validation_failed", "size"},
			{"lines not an array", `{"customer_id":"c-1","lines":{"item_id":1}}`, 422, "validation_failed", "lines"},
			{"item_id and lines", fmt.Sprintf(`{"customer_id":"c-1","item_id":%d,"lines":[%s]}`, items[0], line(1)),
				422, "validation_failed", "lines"},
			{"quantity and lines", fmt.Sprintf(`{"customer_id":"c-1","quantity":1,"lines":[%s]}`, line(1)),
				422, "validation_failed", "lines"},
			{"lines without customer_id", `{"lines":[` + line(0) + `]}`, 422, "validation_failed", "customer_id"},
			{"unknown item in line 2", cartBody("c-1", message.Line{ItemID: items[0]}, message.Line{ItemID: items[1]},
				message.Line{ItemID: items[len(items)-1] + 1000}), 404, "item_not_found", "lines[2]"},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				t.Parallel()
				ts := newTestServer(t, db)
				rec := ts.serve(t, http.MethodPost, "/api/v1/orders", tt.body, nil)
				assertError(t, rec, tt.status, tt.code)
				var e errorBody
				decodeBody(t, rec, &e)
				if !strings.Contains(e.Error.Message, tt.mentions) {
					t.Errorf("message %q does not name %s", e.Error.Message, tt.mentions)
				}
				if attempts, _ := ts.sub.calls(); len(attempts) != 0 {
					t.Errorf("submitted %d commands, want none", len(attempts))
				}
			})
		}
	})
}

func TestCreateCartOrderIdempotency(t *testing.T) {
	t.Parallel()
	db := testDB(t)
	seed := newTestServer(t, db)
	a, b, c := seed.createItem(t, "a", 10, 0).ID, seed.createItem(t, "b", 10, 0).ID, seed.createItem(t, "c", 10, 0).ID
	first := cartBody("c-1", message.Line{ItemID: a, Quantity: 2}, message.Line{ItemID: b})

	tests := []struct {
		name   string
		first  string // the first body, when not first
		second string
		reused bool // the second is 422 idempotency_key_reused
	}{
		{"same lines", "", first, false},
		{"same lines, other spelling", "", fmt.Sprintf(
			`{ "lines": [ {"quantity": 2, "item_id": %d}, {"item_id": %d, "quantity": 1} ], "customer_id": "c-1" }`, a, b), false},
		{"one line, sent as a cart and as a single item", cartBody("c-1", message.Line{ItemID: a, Quantity: 2}),
			orderBody(a, 2, "c-1"), false},
		{"other quantity in a line", "", cartBody("c-1", message.Line{ItemID: a, Quantity: 2}, message.Line{ItemID: b, Quantity: 2}), true},
		{"lines in another order", "", cartBody("c-1", message.Line{ItemID: b}, message.Line{ItemID: a, Quantity: 2}), true},
		{"a line fewer", "", cartBody("c-1", message.Line{ItemID: a, Quantity: 2}), true},
		{"a line more", "", cartBody("c-1", message.Line{ItemID: a, Quantity: 2}, message.Line{ItemID: b}, message.Line{ItemID: c}), true},
		{"another item in a line", "", cartBody("c-1", message.Line{ItemID: a, Quantity: 2}, message.Line{ItemID: c}), true},
		{"a single item", "", orderBody(a, 2, "c-1"), true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			ts := newTestServer(t, db)
			key := map[string]string{"Idempotency-Key": "cart-" + strings.ReplaceAll(tt.name, " ", "-")}
			body := first
			if tt.first != "" {
				body = tt.first
			}
			o := acceptedOrder(t, ts.serve(t, http.MethodPost, "/api/v1/orders", body, key))
			if want := keyedOrderID("c-1", key["Idempotency-Key"]); o.ID != want {
				t.Errorf("order id = %s, want %s, the id the key names", o.ID, want)
			}
			rec := ts.serve(t, http.MethodPost, "/api/v1/orders", tt.second, key)
			if tt.reused {
				assertError(t, rec, http.StatusUnprocessableEntity, "idempotency_key_reused")
			} else if again := acceptedOrder(t, rec); again.ID != o.ID || !again.CreatedAt.Equal(o.CreatedAt) || len(again.Lines) != len(o.Lines) {
				t.Errorf("retry answered %+v, want the first order %+v", again, o)
			}
			if _, published := ts.sub.calls(); len(published) != 1 || published[0].ID != o.ID {
				t.Errorf("published %+v, want only order %s", published, o.ID)
			}
		})
	}

	// Another gateway instance knows the cart once the worker stored it.
	t.Run("cart known from the database", func(t *testing.T) {
		t.Parallel()
		ts := newTestServer(t, db)
		const key = "cart-decided-elsewhere"
		decided := newCart("c-9", stConfirmed, time.Now().UTC().Truncate(time.Microsecond).Add(-time.Minute),
			[]int64{a, b}, lnReserved, lnReserved)
		decided.ID = keyedOrderID("c-9", key)
		decided = insertCart(t, db, decided)
		header := map[string]string{"Idempotency-Key": key}

		same := cartBody("c-9", message.Line{ItemID: a, Quantity: 1}, message.Line{ItemID: b, Quantity: 2})
		rec := ts.serve(t, http.MethodPost, "/api/v1/orders", same, header)
		if rec.Code != http.StatusOK {
			t.Fatalf("status = %d, want 200 for a decided order; body %s", rec.Code, rec.Body)
		}
		var got message.Order
		decodeBody(t, rec, &got)
		if got.ID != decided.ID || got.Status != stConfirmed || len(got.Lines) != 2 || got.DisplayStatus.Code != "awaiting_payment" {
			t.Errorf("answered %+v, want the decided order %s, awaiting payment", got, decided.ID)
		}
		other := cartBody("c-9", message.Line{ItemID: a, Quantity: 1}, message.Line{ItemID: b, Quantity: 3})
		assertError(t, ts.serve(t, http.MethodPost, "/api/v1/orders", other, header), http.StatusUnprocessableEntity, "idempotency_key_reused")
		if attempts, _ := ts.sub.calls(); len(attempts) != 0 {
			t.Errorf("submitted %d commands, want none", len(attempts))
		}
	})
}

// wantReleases returns the release lines an order's cancellation must queue,
// by routing key: every line holding stock, grouped by its item's shard.
func wantReleases(o message.Order) map[string][]message.Line {
	want := map[string][]message.Line{}
	for i, l := range o.Lines {
		switch l.Status {
		case lnReserved, lnTransit, lnRent, lnCleaning:
			key := message.RoutingKey(shard.Of(l.ItemID, 4))
			want[key] = append(want[key], message.Line{No: i, ItemID: l.ItemID, Quantity: l.Quantity})
		}
	}
	return want
}

// checkReleases checks that the outbox holds exactly the releases want of
// order id: one release command per shard.
func checkReleases(t *testing.T, got []queued, id string, want map[string][]message.Line) {
	t.Helper()
	byKey := map[string][]message.Line{}
	for _, q := range got {
		if err := q.Command.Validate(); err != nil {
			t.Errorf("queued an invalid command %+v: %v", q.Command, err)
		}
		if q.Command.Kind != message.KindRelease || q.Command.ID != id || q.Command.CustomerID != "" || q.Command.Parts != 0 {
			t.Errorf("queued %+v, want a release of order %s", q.Command, id)
		}
		if _, dup := byKey[q.RoutingKey]; dup {
			t.Errorf("two commands for routing key %s, want one per shard", q.RoutingKey)
		}
		byKey[q.RoutingKey] = q.Command.Lines
	}
	if len(want) == 0 {
		want = map[string][]message.Line{}
	}
	if !reflect.DeepEqual(byKey, want) {
		t.Errorf("releases by routing key %+v, want %+v", byKey, want)
	}
}

// checkStock checks that the items still have stock units each.
func checkStock(t *testing.T, ts *testServer, stock int64, items ...int64) {
	t.Helper()
	for _, id := range items {
		it, err := ts.store.Item(t.Context(), id)
		if err != nil {
			t.Fatalf("item %d: %v", id, err)
		}
		if it.Stock != stock {
			t.Errorf("item %d has stock %d, want %d: stock changes only through the worker", id, it.Stock, stock)
		}
	}
}

func TestOrderTransitions(t *testing.T) {
	t.Parallel()
	db := testDB(t)
	seed := newTestServer(t, db)
	a, b := seed.createItem(t, "a", 10, 0).ID, seed.createItem(t, "b", 10, 0).ID
	reserved := []orderstatus.LineStatus{lnReserved, lnReserved}

	tests := []struct {
		name    string
		from    orderstatus.Status       // the order's status
		lines   []orderstatus.LineStatus // its lines' statuses
		route   string                   // pay, cancel, or status: the back office's move to to
		to      orderstatus.Status
		want    orderstatus.Status // the order's status after; empty: 409 invalid_transition
		display string             // the display code after
	}{
		{"confirmed → awaiting_payment", stConfirmed, reserved, "status", stAwaiting, stAwaiting, "awaiting_payment"},
		{"confirmed → paid by the customer", stConfirmed, reserved, "pay", "", stPaid, "processing"},
		{"confirmed → paid by the back office", stConfirmed, reserved, "status", stPaid, stPaid, "processing"},
		{"awaiting_payment → paid by the customer", stAwaiting, reserved, "pay", "", stPaid, "processing"},
		{"awaiting_payment → paid by the back office", stAwaiting, reserved, "status", stPaid, stPaid, "processing"},
		{"paid → active", stPaid, reserved, "status", stActive, stActive, "active"},
		{"paid, a line in transit → active", stPaid, []orderstatus.LineStatus{lnReserved, lnTransit}, "status", stActive, stActive, "shipped"},
		{"active → fulfilled", stActive, []orderstatus.LineStatus{lnCleaning, lnRent}, "status", stFulfilled, stFulfilled, "completed"},
		{"confirmed → canceled by the customer", stConfirmed, reserved, "cancel", "", stCanceled, "canceled"},
		{"awaiting_payment → canceled by the customer", stAwaiting, reserved, "cancel", "", stCanceled, "canceled"},
		{"paid → canceled by the customer", stPaid, []orderstatus.LineStatus{lnTransit, lnReserved}, "cancel", "", stCanceled, "canceled"},
		{"confirmed → canceled by the back office", stConfirmed, reserved, "status", stCanceled, stCanceled, "canceled"},
		{"awaiting_payment → canceled by the back office", stAwaiting, reserved, "status", stCanceled, stCanceled, "canceled"},
		{"paid → canceled by the back office", stPaid, reserved, "status", stCanceled, stCanceled, "canceled"},

		{"pending → paid", stPending, []orderstatus.LineStatus{lnPending, lnPending}, "pay", "", "", ""},
		{"pending → canceled", stPending, []orderstatus.LineStatus{lnPending, lnPending}, "cancel", "", "", ""},
		{"pending → confirmed by the back office", stPending, []orderstatus.LineStatus{lnPending, lnPending}, "status", stConfirmed, "", ""},
		{"rejected → canceled", stRejected, []orderstatus.LineStatus{lnRejected, lnRejected}, "cancel", "", "", ""},
		{"rejected → paid", stRejected, []orderstatus.LineStatus{lnReleased, lnRejected}, "pay", "", "", ""},
		{"fulfilled → active", stFulfilled, []orderstatus.LineStatus{lnCleaning, lnCleaning}, "status", stActive, "", ""},
		{"canceled → paid", stCanceled, reserved, "pay", "", "", ""},
		{"canceled twice releases once", stCanceled, reserved, "cancel", "", "", ""},
		{"active → canceled by the customer", stActive, []orderstatus.LineStatus{lnRent, lnReserved}, "cancel", "", "", ""},
		{"active → canceled by the back office", stActive, []orderstatus.LineStatus{lnRent, lnReserved}, "status", stCanceled, "", ""},
		{"paid → awaiting_payment", stPaid, reserved, "status", stAwaiting, "", ""},
		{"paid → paid", stPaid, reserved, "pay", "", "", ""},
		{"awaiting_payment → active, skipping paid", stAwaiting, reserved, "status", stActive, "", ""},
		{"confirmed → fulfilled", stConfirmed, reserved, "status", stFulfilled, "", ""},
		{"confirmed → pending", stConfirmed, reserved, "status", stPending, "", ""},
		{"confirmed → rejected", stConfirmed, reserved, "status", stRejected, "", ""},
		{"unknown status", stConfirmed, reserved, "status", "shipped", "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			ts := newTestServer(t, db)
			o := newCart("c-move", tt.from, time.Now().UTC().Truncate(time.Microsecond).Add(-time.Hour), []int64{a, b}, tt.lines...)
			switch tt.from {
			case stRejected:
				reason := message.ReasonOutOfStock
				o.Reason, o.Lines[0].Reason = &reason, &reason
			case stCanceled:
				reason := message.ReasonCanceled
				o.Reason = &reason
			}
			o = insertCart(t, db, o)
			before := loadStored(t, db, o.ID)
			body := ""
			if tt.route == "status" {
				body = fmt.Sprintf(`{"status":%q}`, tt.to)
			}
			rec := ts.serve(t, http.MethodPost, "/api/v1/orders/"+o.ID+"/"+tt.route, body, nil)
			after := loadStored(t, db, o.ID)
			releases := outboxCommands(t, db, o.ID)
			checkStock(t, ts, 10, a, b)

			if tt.want == "" {
				assertError(t, rec, http.StatusConflict, "invalid_transition")
				if !reflect.DeepEqual(after, before) {
					t.Errorf("stored order changed:\n%+v\nwas\n%+v", after, before)
				}
				checkReleases(t, releases, o.ID, nil)
				return
			}

			if rec.Code != http.StatusOK {
				t.Fatalf("status = %d, want 200; body %s", rec.Code, rec.Body)
			}
			var got message.Order
			decodeBody(t, rec, &got)
			wantReason := o.Reason
			if tt.want == stCanceled {
				c := message.ReasonCanceled
				wantReason = &c
			}
			if got.ID != o.ID || got.Status != tt.want || !reflect.DeepEqual(got.Reason, wantReason) {
				t.Errorf("answered %s %s reason %v, want %s %s reason %v", got.ID, got.Status, derefString(got.Reason), o.ID, tt.want, derefString(wantReason))
			}
			if wantDisplay := (orderstatus.Display{Code: tt.display, Label: labels["id"][tt.display]}); got.DisplayStatus != wantDisplay {
				t.Errorf("display_status = %+v, want %+v", got.DisplayStatus, wantDisplay)
			}
			if !reflect.DeepEqual(got.Lines, o.Lines) {
				t.Errorf("lines = %+v, want unchanged %+v", got.Lines, o.Lines)
			}
			if !got.CreatedAt.Equal(o.CreatedAt) || !got.ProcessedAt.Equal(*o.ProcessedAt) || !got.UpdatedAt.After(o.UpdatedAt) {
				t.Errorf("created_at %v, processed_at %v, updated_at %v: want %v, %v and later than %v",
					got.CreatedAt, got.ProcessedAt, got.UpdatedAt, o.CreatedAt, *o.ProcessedAt, o.UpdatedAt)
			}

			if after.Status != tt.want || after.DisplayStatus.Code != tt.display || !reflect.DeepEqual(after.Reason, wantReason) ||
				!after.UpdatedAt.Equal(got.UpdatedAt) {
				t.Errorf("stored %+v, want status %s, display_status %s, reason %v, updated_at %v",
					after, tt.want, tt.display, derefString(wantReason), got.UpdatedAt)
			}
			if !reflect.DeepEqual(after.Lines, before.Lines) {
				t.Errorf("stored lines %+v, want unchanged %+v", after.Lines, before.Lines)
			}
			var want map[string][]message.Line
			if tt.want == stCanceled {
				want = wantReleases(o)
			}
			checkReleases(t, releases, o.ID, want)

			// This gateway answers for the order's new state at once.
			rec = ts.serve(t, http.MethodGet, "/api/v1/orders/"+o.ID, "", nil)
			var fetched message.Order
			decodeBody(t, rec, &fetched)
			if rec.Code != http.StatusOK || fetched.Status != tt.want || fetched.DisplayStatus != got.DisplayStatus {
				t.Errorf("GET = %d %s %+v, want 200 %s %+v", rec.Code, fetched.Status, fetched.DisplayStatus, tt.want, got.DisplayStatus)
			}
		})
	}
}

func derefString(p *string) any {
	if p == nil {
		return nil
	}
	return *p
}

// TestCancelReleasesStock cancels an order whose lines are on several shards:
// one release command per shard, holding exactly that shard's lines, is
// queued in the outbox; no stock changes here (the worker gives it back); and
// a second cancellation queues nothing more.
func TestCancelReleasesStock(t *testing.T) {
	t.Parallel()
	db := testDB(t)
	seed := newTestServer(t, db)
	var items []int64
	for i := range 6 {
		items = append(items, seed.createItem(t, fmt.Sprintf("item %d", i), 10, 0).ID)
	}
	if shardsOf(items...) < 2 || shardsOf(items...) == len(items) {
		t.Fatalf("items %v are on %d shards: want several shards, one with two lines", items, shardsOf(items...))
	}
	tests := []struct {
		name  string
		from  orderstatus.Status
		lines []orderstatus.LineStatus
		route string
		body  string
	}{
		{"by the customer, paid, some lines shipped", stPaid,
			[]orderstatus.LineStatus{lnTransit, lnReserved, lnReserved, lnTransit, lnReserved, lnReserved}, "cancel", ""},
		{"by the back office, awaiting payment", stAwaiting,
			[]orderstatus.LineStatus{lnReserved, lnReserved, lnReserved, lnReserved, lnReserved, lnReserved}, "status", `{"status":"canceled"}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			reg := prometheus.NewRegistry()
			ts := newTestServer(t, db, func(c *Config) { c.Registry = reg })
			o := insertCart(t, db, newCart("c-cancel", tt.from, time.Now().UTC().Truncate(time.Microsecond).Add(-time.Hour), items, tt.lines...))
			target := "/api/v1/orders/" + o.ID + "/" + tt.route

			rec := ts.serve(t, http.MethodPost, target, tt.body, map[string]string{"Accept-Language": "en"})
			if rec.Code != http.StatusOK {
				t.Fatalf("status = %d, want 200; body %s", rec.Code, rec.Body)
			}
			var got message.Order
			decodeBody(t, rec, &got)
			if got.Status != stCanceled || got.Reason == nil || *got.Reason != message.ReasonCanceled ||
				got.DisplayStatus != (orderstatus.Display{Code: "canceled", Label: "Canceled"}) {
				t.Errorf("answered %s, reason %v, display %+v; want canceled, reason canceled, display canceled/Canceled",
					got.Status, derefString(got.Reason), got.DisplayStatus)
			}
			want := wantReleases(o)
			checkReleases(t, outboxCommands(t, db, o.ID), o.ID, want)
			if stored := loadStored(t, db, o.ID); stored.Status != stCanceled || stored.DisplayStatus.Code != "canceled" {
				t.Errorf("stored status %s, display_status %s; want canceled, canceled", stored.Status, stored.DisplayStatus.Code)
			}
			checkStock(t, ts, 10, items...)

			rec = ts.serve(t, http.MethodPost, target, tt.body, nil)
			assertError(t, rec, http.StatusConflict, "invalid_transition")
			checkReleases(t, outboxCommands(t, db, o.ID), o.ID, want)
			if v := counterValue(t, reg, "orderq_gateway_orders_canceled_total"); v != 1 {
				t.Errorf("canceled counter %v, want 1: the refused second cancellation is not one", v)
			}
		})
	}
}

func TestLineTransitions(t *testing.T) {
	t.Parallel()
	db := testDB(t)
	seed := newTestServer(t, db)
	a, b, other := seed.createItem(t, "a", 10, 0).ID, seed.createItem(t, "b", 10, 0).ID, seed.createItem(t, "other", 10, 0).ID
	reserved := []orderstatus.LineStatus{lnReserved, lnReserved}
	english := map[string]string{"Accept-Language": "en-US,en;q=0.9"}

	tests := []struct {
		name    string
		order   orderstatus.Status
		lines   []orderstatus.LineStatus
		line    int // the line to move; -1: an item the order has no line for
		to      orderstatus.LineStatus
		query   string
		header  map[string]string
		status  int
		code    string
		display string // code after
		lang    string // of the label
	}{
		{"reserved → transit under paid", stPaid, reserved, 0, lnTransit, "", nil, 200, "", "shipped", "id"},
		{"reserved → transit, ?lang=en", stPaid, reserved, 1, lnTransit, "?lang=en", nil, 200, "", "shipped", "en"},
		{"reserved → transit, Accept-Language: en", stPaid, reserved, 0, lnTransit, "", english, 200, "", "shipped", "en"},
		{"?lang=id wins over Accept-Language", stPaid, reserved, 0, lnTransit, "?lang=id", english, 200, "", "shipped", "id"},
		{"reserved → transit under active", stActive, reserved, 1, lnTransit, "", nil, 200, "", "shipped", "id"},
		{"transit → rent_in_progress", stActive, []orderstatus.LineStatus{lnTransit, lnReserved}, 0, lnRent, "", nil, 200, "", "active", "id"},
		{"transit → rent, another line still in transit", stActive, []orderstatus.LineStatus{lnTransit, lnTransit}, 1, lnRent, "", nil, 200, "", "shipped", "id"},
		{"rent → preparing_and_cleaning, one line still rented", stActive, []orderstatus.LineStatus{lnRent, lnRent}, 0, lnCleaning, "", nil, 200, "", "active", "id"},
		{"rent → preparing_and_cleaning, the last line", stActive, []orderstatus.LineStatus{lnCleaning, lnRent}, 1, lnCleaning, "?lang=en", nil, 200, "", "completed", "en"},

		{"under awaiting_payment", stAwaiting, reserved, 0, lnTransit, "", nil, 409, "invalid_transition", "", ""},
		{"under confirmed", stConfirmed, reserved, 0, lnTransit, "", nil, 409, "invalid_transition", "", ""},
		{"under canceled", stCanceled, reserved, 0, lnTransit, "", nil, 409, "invalid_transition", "", ""},
		{"under fulfilled", stFulfilled, []orderstatus.LineStatus{lnRent, lnCleaning}, 0, lnCleaning, "", nil, 409, "invalid_transition", "", ""},
		{"skipping transit", stPaid, reserved, 0, lnRent, "", nil, 200, "", "processing", "id"},
		{"skipping rent", stActive, []orderstatus.LineStatus{lnTransit, lnReserved}, 0, lnCleaning, "", nil, 200, "", "active", "id"},
		{"backwards", stActive, []orderstatus.LineStatus{lnRent, lnReserved}, 0, lnTransit, "", nil, 409, "invalid_transition", "", ""},
		{"cleaning → reserved", stActive, []orderstatus.LineStatus{lnCleaning, lnReserved}, 0, lnReserved, "", nil, 409, "invalid_transition", "", ""},
		{"released → transit", stActive, []orderstatus.LineStatus{lnReleased, lnReserved}, 0, lnTransit, "", nil, 409, "invalid_transition", "", ""},
		{"released → reserved", stActive, []orderstatus.LineStatus{lnReleased, lnReserved}, 0, lnReserved, "", nil, 409, "invalid_transition", "", ""},
		{"reserved → rejected", stPaid, reserved, 0, lnRejected, "", nil, 409, "invalid_transition", "", ""},
		{"reserved → released", stPaid, reserved, 0, lnReleased, "", nil, 409, "invalid_transition", "", ""},
		{"where it is", stActive, []orderstatus.LineStatus{lnRent, lnReserved}, 0, lnRent, "", nil, 409, "invalid_transition", "", ""},
		{"unknown status", stPaid, reserved, 0, "lost", "", nil, 422, "validation_failed", "", ""},
		{"no line for the item", stPaid, reserved, -1, lnTransit, "", nil, 404, "line_not_found", "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			ts := newTestServer(t, db)
			o := insertCart(t, db, newCart("c-line", tt.order, time.Now().UTC().Truncate(time.Microsecond).Add(-time.Hour), []int64{a, b}, tt.lines...))
			item := other
			if tt.line >= 0 {
				item = o.Lines[tt.line].ItemID
			}
			before := loadStored(t, db, o.ID)
			target := fmt.Sprintf("/api/v1/orders/%s/lines/%d/status%s", o.ID, item, tt.query)
			rec := ts.serve(t, http.MethodPost, target, fmt.Sprintf(`{"status":%q}`, tt.to), tt.header)
			after := loadStored(t, db, o.ID)
			checkReleases(t, outboxCommands(t, db, o.ID), o.ID, nil)

			if tt.code != "" {
				assertError(t, rec, tt.status, tt.code)
				if !reflect.DeepEqual(after, before) {
					t.Errorf("stored order changed:\n%+v\nwas\n%+v", after, before)
				}
				return
			}
			if rec.Code != tt.status {
				t.Fatalf("status = %d, want %d; body %s", rec.Code, tt.status, rec.Body)
			}
			var got message.Order
			decodeBody(t, rec, &got)
			wantLines := append([]message.OrderLine(nil), o.Lines...)
			wantLines[tt.line].Status = tt.to
			wantLines[tt.line].Units = []message.Unit{}
			for n := 1; n <= wantLines[tt.line].Quantity; n++ {
				wantLines[tt.line].Units = append(wantLines[tt.line].Units, message.Unit{Unit: n, Status: tt.to})
			}
			if got.ID != o.ID || got.Status != tt.order || !reflect.DeepEqual(got.Lines, wantLines) {
				t.Errorf("answered %s %s lines %+v, want %s %s lines %+v", got.ID, got.Status, got.Lines, o.ID, tt.order, wantLines)
			}
			wantDisplay := orderstatus.Display{Code: tt.display, Label: labels[tt.lang][tt.display]}
			if got.DisplayStatus != wantDisplay {
				t.Errorf("display_status = %+v, want %+v", got.DisplayStatus, wantDisplay)
			}
			if !got.UpdatedAt.After(o.UpdatedAt) {
				t.Errorf("updated_at %v, want later than %v", got.UpdatedAt, o.UpdatedAt)
			}

			if after.Status != tt.order || after.DisplayStatus.Code != tt.display || !after.UpdatedAt.Equal(got.UpdatedAt) {
				t.Errorf("stored %+v, want status %s, display_status %s, updated_at %v", after, tt.order, tt.display, got.UpdatedAt)
			}
			for i, l := range after.Lines {
				if l.Status != wantLines[i].Status {
					t.Errorf("stored line %d is %s, want %s", i, l.Status, wantLines[i].Status)
				}
			}

			rec = ts.serve(t, http.MethodGet, "/api/v1/orders/"+o.ID+tt.query, "", tt.header)
			var fetched message.Order
			decodeBody(t, rec, &fetched)
			if rec.Code != http.StatusOK || !reflect.DeepEqual(fetched.Lines, wantLines) || fetched.DisplayStatus != wantDisplay {
				t.Errorf("GET = %d %+v %+v, want 200 %+v %+v", rec.Code, fetched.Lines, fetched.DisplayStatus, wantLines, wantDisplay)
			}
		})
	}
	checkStock(t, seed, 10, a, b, other)
}

func TestListOrders(t *testing.T) {
	t.Parallel()
	db := testDB(t)
	ts := newTestServer(t, db)
	a, b := ts.createItem(t, "a", 10, 0).ID, ts.createItem(t, "b", 10, 0).ID
	t0 := time.Now().UTC().Truncate(time.Second).Add(-24 * time.Hour)
	at := func(minutes int) time.Time { return t0.Add(time.Duration(minutes) * time.Minute) }
	r2 := []orderstatus.LineStatus{lnReserved, lnReserved}

	// Alice's orders a[i] are created i minutes after t0, Bob's in between.
	// They are stored out of creation order, so that the order is the query's.
	type spec struct {
		customer string
		status   orderstatus.Status
		created  time.Time
		lines    []orderstatus.LineStatus
		display  string
	}
	specs := map[string]spec{
		"a0": {"alice", stConfirmed, at(0), r2, "awaiting_payment"},
		"a1": {"alice", stCanceled, at(1), []orderstatus.LineStatus{lnReleased, lnReleased}, "canceled"},
		// Rejected, the newest: never listed.
		"a8": {"alice", stRejected, at(8), []orderstatus.LineStatus{lnReleased, lnRejected}, "canceled"},
		"a2": {"alice", stPaid, at(2), []orderstatus.LineStatus{lnTransit, lnReserved}, "shipped"},
		"a3": {"alice", stPending, at(3), []orderstatus.LineStatus{lnPending, lnPending}, "processing"},
		"a4": {"alice", stCanceled, at(4), r2, "canceled"},
		"a5": {"alice", stActive, at(5), []orderstatus.LineStatus{lnRent, lnReserved}, "active"},
		"a6": {"alice", stFulfilled, at(6), []orderstatus.LineStatus{lnCleaning, lnCleaning}, "completed"},
		"a7": {"alice", stPaid, at(7), r2, "processing"},
		"b0": {"bob", stPaid, at(1).Add(30 * time.Second), []orderstatus.LineStatus{lnTransit, lnTransit}, "shipped"},
		"b1": {"bob", stCanceled, at(3).Add(30 * time.Second), r2, "canceled"},
		"b2": {"bob", stAwaiting, at(5).Add(30 * time.Second), r2, "awaiting_payment"},
	}
	names := map[string]string{} // order id → name
	for _, name := range []string{"a3", "b1", "a0", "a7", "b2", "a1", "a5", "a8", "a4", "b0", "a6", "a2"} {
		s := specs[name]
		o := insertCart(t, db, newCart(s.customer, s.status, s.created, []int64{a, b}, s.lines...))
		names[o.ID] = name
	}
	before := func(tm time.Time) *time.Time { return &tm }

	tests := []struct {
		name      string
		query     string     // of the first page
		wantPages [][]string // order names of each page, following next_before
		wantNext  []*time.Time
		lang      string
	}{
		{"a customer's orders, newest first", "customer_id=alice",
			[][]string{{"a7", "a6", "a5", "a4", "a3", "a2", "a1", "a0"}}, []*time.Time{nil}, "id"},
		{"another customer's", "customer_id=bob", [][]string{{"b2", "b1", "b0"}}, []*time.Time{nil}, "id"},
		{"labels in English", "customer_id=bob&lang=en", [][]string{{"b2", "b1", "b0"}}, []*time.Time{nil}, "en"},
		{"canceled, not rejected", "customer_id=alice&display_status=canceled", [][]string{{"a4", "a1"}}, []*time.Time{nil}, "id"},
		{"processing: pending, and paid but not shipped", "customer_id=alice&display_status=processing",
			[][]string{{"a7", "a3"}}, []*time.Time{nil}, "id"},
		{"shipped", "customer_id=alice&display_status=shipped", [][]string{{"a2"}}, []*time.Time{nil}, "id"},
		{"shipped, the other customer", "customer_id=bob&display_status=shipped", [][]string{{"b0"}}, []*time.Time{nil}, "id"},
		{"awaiting_payment", "customer_id=alice&display_status=awaiting_payment", [][]string{{"a0"}}, []*time.Time{nil}, "id"},
		{"active", "customer_id=alice&display_status=active", [][]string{{"a5"}}, []*time.Time{nil}, "id"},
		{"completed", "customer_id=alice&display_status=completed", [][]string{{"a6"}}, []*time.Time{nil}, "id"},
		{"pages of 3", "customer_id=alice&limit=3",
			[][]string{{"a7", "a6", "a5"}, {"a4", "a3", "a2"}, {"a1", "a0"}}, []*time.Time{before(at(5)), before(at(2)), nil}, "id"},
		// Filtered before the limit: the newest two orders are not canceled.
		{"pages of 1, filtered", "customer_id=alice&display_status=canceled&limit=1",
			[][]string{{"a4"}, {"a1"}, {}}, []*time.Time{before(at(4)), before(at(1)), nil}, "id"},
		{"an exactly full page", "customer_id=alice&display_status=canceled&limit=2",
			[][]string{{"a4", "a1"}, {}}, []*time.Time{before(at(1)), nil}, "id"},
		{"before a time with an offset", "customer_id=alice&before=" + url.QueryEscape(at(4).In(time.FixedZone("WIB", 7*3600)).Format(time.RFC3339)),
			[][]string{{"a3", "a2", "a1", "a0"}}, []*time.Time{nil}, "id"},
		{"a customer without orders", "customer_id=carol", [][]string{{}}, []*time.Time{nil}, "id"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			query := tt.query
			for page := 0; ; page++ {
				if page >= len(tt.wantPages) {
					t.Fatalf("page %d: more pages than %d", page, len(tt.wantPages))
				}
				rec := ts.serve(t, http.MethodGet, "/api/v1/orders?"+query, "", nil)
				if rec.Code != http.StatusOK {
					t.Fatalf("page %d: status = %d; body %s", page, rec.Code, rec.Body)
				}
				var list struct {
					Orders       []message.Order `json:"orders"`
					NextBefore   *time.Time      `json:"next_before"`
					NextBeforeID *string         `json:"next_before_id"`
				}
				decodeBody(t, rec, &list)
				top := topLevelKeys(t, rec.Body.Bytes())
				if string(top["orders"]) == "null" {
					t.Errorf("page %d: orders is null, want an array", page)
				}
				got := []string{}
				for _, o := range list.Orders {
					name, ok := names[o.ID]
					if !ok {
						t.Fatalf("page %d: unknown order %s", page, o.ID)
					}
					got = append(got, name)
					s := specs[name]
					if want := (orderstatus.Display{Code: s.display, Label: labels[tt.lang][s.display]}); o.DisplayStatus != want {
						t.Errorf("%s: display_status %+v, want %+v", name, o.DisplayStatus, want)
					}
					if o.CustomerID != s.customer || o.Status != s.status || !o.CreatedAt.Equal(s.created) || len(o.Lines) != len(s.lines) {
						t.Errorf("%s: %+v, want customer %s, status %s, created %v, %d lines", name, o, s.customer, s.status, s.created, len(s.lines))
					}
				}
				if want := tt.wantPages[page]; !reflect.DeepEqual(got, want) {
					t.Errorf("page %d: orders %v, want %v", page, got, want)
				}
				want := tt.wantNext[page]
				if (list.NextBefore == nil) != (want == nil) || (want != nil && !list.NextBefore.Equal(*want)) {
					t.Errorf("page %d: next_before = %v, want %v", page, list.NextBefore, want)
				}
				if list.NextBefore == nil {
					if string(top["next_before"]) != "null" {
						t.Errorf("page %d: next_before is %s, want null", page, top["next_before"])
					}
					break
				}
				if list.NextBeforeID == nil || names[*list.NextBeforeID] != got[len(got)-1] {
					t.Errorf("page %d: next_before_id = %v, want the id of %s", page, list.NextBeforeID, got[len(got)-1])
					break
				}
				query = tt.query + "&before=" + url.QueryEscape(list.NextBefore.Format(time.RFC3339Nano)) + "&before_id=" + *list.NextBeforeID
			}
		})
	}
}

// Orders created in the same microsecond (a burst of one customer's carts)
// must each appear exactly once when paging one at a time.
func TestListOrdersPagesThroughTies(t *testing.T) {
	t.Parallel()
	db := testDB(t)
	ts := newTestServer(t, db)
	item := ts.createItem(t, "tie", 10, 0).ID
	created := time.Now().UTC().Truncate(time.Microsecond)
	want := map[string]bool{}
	for range 5 {
		o := insertCart(t, db, newCart("dora", stConfirmed, created, []int64{item}, lnReserved))
		want[o.ID] = true
	}
	seen := map[string]bool{}
	query := "customer_id=dora&limit=2"
	for page := 0; page < 10; page++ {
		rec := ts.serve(t, http.MethodGet, "/api/v1/orders?"+query, "", nil)
		if rec.Code != http.StatusOK {
			t.Fatalf("status = %d; body %s", rec.Code, rec.Body)
		}
		var list struct {
			Orders       []message.Order `json:"orders"`
			NextBefore   *time.Time      `json:"next_before"`
			NextBeforeID *string         `json:"next_before_id"`
		}
		decodeBody(t, rec, &list)
		for _, o := range list.Orders {
			if seen[o.ID] {
				t.Errorf("order %s listed twice", o.ID)
			}
			seen[o.ID] = true
		}
		if list.NextBefore == nil {
			break
		}
		query = "customer_id=dora&limit=2&before=" + url.QueryEscape(list.NextBefore.Format(time.RFC3339Nano)) + "&before_id=" + *list.NextBeforeID
	}
	if !reflect.DeepEqual(seen, want) {
		t.Errorf("listed %d of %d orders", len(seen), len(want))
	}
}

// TestKeyedOrderIDs: a key names one order id per customer, unguessable
// without the secret; a UUIDv7 key gives a UUIDv7 with the key's time, so
// that orders are stored in the order they were keyed.
func TestKeyedOrderIDs(t *testing.T) {
	t.Parallel()
	earlier, later := uuid.Must(uuid.NewV7()), uuid.Must(uuid.NewV7())
	for _, key := range []string{earlier.String(), "checkout-42", uuid.NewString()} {
		id := keyedOrderID("c-1", key)
		if again := keyedOrderID("c-1", key); again != id {
			t.Errorf("key %q: ids %s, then %s", key, id, again)
		}
		if other := keyedOrderID("c-2", key); other == id {
			t.Errorf("key %q: customers c-1 and c-2 share the id %s", key, id)
		}
		if other := (&Server{orderIDKey: []byte("another secret of at least 32 bytes")}).keyedOrderID("c-1", key); other == id {
			t.Errorf("key %q: another secret gives the same id %s", key, id)
		}
		u, err := uuid.Parse(id)
		if err != nil || u.Variant() != uuid.RFC4122 {
			t.Fatalf("key %q: id %s is not an RFC 9562 UUID (%v)", key, id, err)
		}
		k, _ := uuid.Parse(key)
		switch v7 := k.Version() == 7; {
		case v7 && (u.Version() != 7 || u.Time() != k.Time()):
			t.Errorf("UUIDv7 key %s: id %s (version %d), want a UUIDv7 of the key's time", key, id, u.Version())
		case !v7 && u.Version() != 8:
			t.Errorf("key %q: id %s of version %d, want 8", key, id, u.Version())
		}
	}
	if a, b := keyedOrderID("c-1", earlier.String()), keyedOrderID("c-9", later.String()); a[:13] > b[:13] {
		t.Errorf("ids %s and %s of keys %s and %s are not in the keys' order", a, b, earlier, later)
	}
}
