package httpapi

import (
	"fmt"
	"net/http"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"gorm.io/gorm"

	"github.com/orderq/orderq/shared/message"
	"github.com/orderq/orderq/shared/order"
	"github.com/orderq/orderq/shared/orderstatus"
	"github.com/orderq/orderq/shared/orderstore"
)

// TestUnitMoves moves the units of an active order of two lines (3 units of
// item a, 2 of item b) step by step through the unit endpoints and the line
// endpoint. Each refused step answers its error and leaves the stored order
// exactly as the step before left it.
func TestUnitMoves(t *testing.T) {
	t.Parallel()
	db := testDB(t)
	ts := newTestServer(t, db)
	a, b := ts.createItem(t, "a", 10, 0).ID, ts.createItem(t, "b", 10, 0).ID
	created := time.Now().UTC().Truncate(time.Microsecond).Add(-time.Hour)
	newOrder := func(status orderstatus.Status) message.Order {
		o := newCart("c-unit", status, created, []int64{a, b}, lnReserved, lnReserved)
		o.Lines[0].Quantity, o.Lines[1].Quantity = 3, 2
		return insertCart(t, db, o)
	}
	o := newOrder(stActive)
	path := "/api/v1/orders/" + o.ID
	unit := func(item int64, n string) string { return fmt.Sprintf("%s/lines/%d/units/%s/status", path, item, n) }
	bulk := path + "/units/status"
	moveBody := func(to orderstatus.LineStatus, units ...[2]int64) string {
		body := fmt.Sprintf(`{"status":%q,"units":[`, to)
		for i, u := range units {
			if i > 0 {
				body += ","
			}
			body += fmt.Sprintf(`{"item_id":%d,"unit":%d}`, u[0], u[1])
		}
		return body + "]}"
	}
	const r, x, n, c = lnReserved, lnTransit, lnRent, lnCleaning
	type units = []orderstatus.LineStatus

	steps := []struct {
		name, target, body string
		status             int
		code               string // of a refusal
		a, b               units  // the units after a move
		display            string
	}{
		{"one unit in transit", unit(a, "1"), `{"status":"transit_for_outbound"}`, 200, "", units{x, r, r}, units{r, r}, "shipped"},
		{"units of both lines rented", bulk, moveBody(n, [2]int64{a, 2}, [2]int64{b, 1}), 200, "", units{x, n, r}, units{n, r}, "shipped"},
		{"the design's example: one in transit, one rented, one cleaned", unit(a, "3"), `{"status":"preparing_and_cleaning"}`, 200, "",
			units{x, n, c}, units{n, r}, "shipped"},
		{"refused: one unit of many backwards", bulk, moveBody(x, [2]int64{b, 2}, [2]int64{a, 2}), 409, "invalid_transition", nil, nil, ""},
		{"refused: a unit where it is", unit(a, "2"), `{"status":"rent_in_progress"}`, 409, "invalid_transition", nil, nil, ""},
		{"refused: back to reserved", unit(a, "1"), `{"status":"reserved"}`, 409, "invalid_transition", nil, nil, ""},
		{"refused: released", unit(b, "2"), `{"status":"released"}`, 409, "invalid_transition", nil, nil, ""},
		{"refused: the line endpoint, one unit there already", path + fmt.Sprintf("/lines/%d/status", a), `{"status":"rent_in_progress"}`,
			409, "invalid_transition", nil, nil, ""},
		{"refused: an unknown unit among good ones", bulk, moveBody(c, [2]int64{a, 1}, [2]int64{a, 4}), 404, "unit_not_found", nil, nil, ""},
		{"refused: an item the order has no line of", bulk, moveBody(c, [2]int64{a, 1}, [2]int64{b + 1000, 1}), 404, "unit_not_found", nil, nil, ""},
		{"refused: one unknown unit", unit(b, "3"), `{"status":"rent_in_progress"}`, 404, "unit_not_found", nil, nil, ""},
		{"refused: unit 0", unit(a, "0"), `{"status":"rent_in_progress"}`, 400, "invalid_id", nil, nil, ""},
		{"refused: unit abc", unit(a, "abc"), `{"status":"rent_in_progress"}`, 400, "invalid_id", nil, nil, ""},
		{"refused: unit -1", unit(a, "-1"), `{"status":"rent_in_progress"}`, 400, "invalid_id", nil, nil, ""},
		{"refused: a unit named twice", bulk, moveBody(c, [2]int64{a, 1}, [2]int64{a, 1}), 422, "validation_failed", nil, nil, ""},
		{"refused: no units", bulk, `{"status":"preparing_and_cleaning","units":[]}`, 422, "validation_failed", nil, nil, ""},
		{"refused: units missing", bulk, `{"status":"preparing_and_cleaning"}`, 422, "validation_failed", nil, nil, ""},
		{"refused: a null unit", bulk, `{"status":"preparing_and_cleaning","units":[null]}`, 422, "validation_failed", nil, nil, ""},
		{"refused: unit missing", bulk, fmt.Sprintf(`{"status":"preparing_and_cleaning","units":[{"item_id":%d}]}`, a), 422, "validation_failed", nil, nil, ""},
		{"refused: item_id 0", bulk, `{"status":"preparing_and_cleaning","units":[{"item_id":0,"unit":1}]}`, 422, "validation_failed", nil, nil, ""},
		{"refused: unit as a string", bulk, fmt.Sprintf(`{"status":"preparing_and_cleaning","units":[{"item_id":%d,"unit":"1"}]}`, a), 422, "validation_failed", nil, nil, ""},
		{"refused: an unknown field", bulk, fmt.Sprintf(`{"status":"preparing_and_cleaning","units":[{"item_id":%d,"unit":1,"line":0}]}`, a), 422, "validation_failed", nil, nil, ""},
		{"refused: an unknown status", bulk, moveBody("returned", [2]int64{a, 1}), 422, "validation_failed", nil, nil, ""},
		{"refused: no status", bulk, fmt.Sprintf(`{"units":[{"item_id":%d,"unit":1}]}`, a), 422, "validation_failed", nil, nil, ""},
		{"refused: malformed JSON", bulk, `{"status":`, 400, "invalid_json", nil, nil, ""},
		{"refused: an unknown order", "/api/v1/orders/" + uuid.NewString() + "/units/status", moveBody(c, [2]int64{a, 1}), 404, "order_not_found", nil, nil, ""},
		{"unit 1 on to rent", unit(a, "1"), `{"status":"rent_in_progress"}`, 200, "", units{n, n, c}, units{n, r}, "active"},
		{"the line endpoint moves every unit of a line", path + fmt.Sprintf("/lines/%d/status", b), `{"status":"preparing_and_cleaning"}`, 200, "",
			units{n, n, c}, units{c, c}, "active"},
		{"every unit cleaned", bulk + "?lang=en", moveBody(c, [2]int64{a, 1}, [2]int64{a, 2}), 200, "", units{c, c, c}, units{c, c}, "completed"},
	}
	before := loadStored(t, db, o.ID)
	for _, s := range steps {
		rec := ts.serve(t, http.MethodPost, s.target, s.body, nil)
		after := loadStored(t, db, o.ID)
		if s.code != "" {
			assertError(t, rec, s.status, s.code)
			if !reflect.DeepEqual(after, before) {
				t.Errorf("%s: the stored order changed:\n%+v\nwas\n%+v", s.name, after, before)
			}
			continue
		}
		if rec.Code != s.status {
			t.Fatalf("%s: status %d, want %d; body %s", s.name, rec.Code, s.status, rec.Body)
		}
		var got message.Order
		decodeBody(t, rec, &got)
		for i, want := range []units{s.a, s.b} {
			if gotUnits := unitStatuses(got.Lines[i]); !reflect.DeepEqual(gotUnits, want) {
				t.Errorf("%s: line %d answered with units %v, want %v", s.name, i, gotUnits, want)
			}
			if storedUnits := unitStatuses(after.Lines[i]); !reflect.DeepEqual(storedUnits, want) {
				t.Errorf("%s: line %d stored with units %v, want %v", s.name, i, storedUnits, want)
			}
			if earliest := orderstatus.Earliest(want); got.Lines[i].Status != earliest {
				t.Errorf("%s: line %d is %s, want %s (its earliest unit)", s.name, i, got.Lines[i].Status, earliest)
			}
		}
		if got.DisplayStatus.Code != s.display || after.DisplayStatus.Code != s.display || !got.UpdatedAt.After(before.UpdatedAt) {
			t.Errorf("%s: display %s, stored %s, updated_at %v; want %s, later than %v",
				s.name, got.DisplayStatus.Code, after.DisplayStatus.Code, got.UpdatedAt, s.display, before.UpdatedAt)
		}
		before = after
	}

	// Units move only while the order is paid or active.
	for _, st := range []orderstatus.Status{stConfirmed, stAwaiting, stCanceled, stFulfilled} {
		o := newOrder(st)
		stored := loadStored(t, db, o.ID)
		rec := ts.serve(t, http.MethodPost, "/api/v1/orders/"+o.ID+"/units/status", moveBody(x, [2]int64{a, 1}), nil)
		assertError(t, rec, http.StatusConflict, "invalid_transition")
		if after := loadStored(t, db, o.ID); !reflect.DeepEqual(after, stored) {
			t.Errorf("under %s, a refused move changed the stored order", st)
		}
	}
	checkStock(t, ts, 10, a, b)
}

// unitStatuses are the statuses of a line's units, in their order.
func unitStatuses(l message.OrderLine) []orderstatus.LineStatus {
	statuses := make([]orderstatus.LineStatus, len(l.Units))
	for i, u := range l.Units {
		if u.Unit != i+1 {
			return nil // numbered wrong: no list matches
		}
		statuses[i] = u.Status
	}
	return statuses
}

// paidOrder stores a paid order of customer with a line of quantity units
// of each item, units 1, 3, 5, … of each line in transit when mixed.
func paidOrder(b *testing.B, db *gorm.DB, customer string, quantity int, mixed bool, items ...int64) string {
	b.Helper()
	now := time.Now().UTC().Truncate(time.Microsecond)
	price, currency := int64(1000), "IDR"
	total := price * int64(quantity*len(items))
	o := &order.Order{ID: uuid.NewString(), CustomerID: customer, Status: orderstatus.Paid, Parts: 1, PartsDone: 1,
		Total: &total, Currency: &currency, CreatedAt: now, ProcessedAt: &now, UpdatedAt: now}
	for i, item := range items {
		l := order.Line{No: i, ItemID: item, Quantity: quantity, UnitPrice: &price, Status: orderstatus.Reserved}
		if mixed && quantity > 1 {
			l.Units = make([]orderstatus.LineStatus, quantity)
			for n := range l.Units {
				l.Units[n] = orderstatus.Reserved
				if n%2 == 0 {
					l.Units[n] = orderstatus.TransitForOutbound
				}
			}
		}
		o.Lines = append(o.Lines, l)
	}
	if err := orderstore.Insert(db.WithContext(b.Context()), []*order.Order{o}, false); err != nil {
		b.Fatalf("store order: %v", err)
	}
	return o.ID
}

// BenchmarkMoveUnits is the back office's bulk move of 1,000 units in one
// request through the API, on a real database: every other unit of two lines
// of 1,000 (units 2, 4, …), so that both lines are left with their units in
// two statuses and the answer lists 2,000 units. Each request has a fresh
// paid order; storing it is not timed.
func BenchmarkMoveUnits(b *testing.B) {
	db := testDB(b)
	ts := newTestServer(b, db)
	items := []int64{ts.createItem(b, "tent", 1_000_000_000, 0).ID, ts.createItem(b, "stove", 1_000_000_000, 0).ID}
	var units []string
	for _, item := range items {
		for n := 2; n <= message.MaxQuantity; n += 2 {
			units = append(units, fmt.Sprintf(`{"item_id":%d,"unit":%d}`, item, n))
		}
	}
	body := `{"status":"transit_for_outbound","units":[` + strings.Join(units, ",") + `]}`
	b.ReportMetric(float64(len(body)), "B/request")
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		id := paidOrder(b, db, "c-bench", message.MaxQuantity, false, items...)
		b.StartTimer()
		rec := ts.serve(b, http.MethodPost, "/api/v1/orders/"+id+"/units/status", body, nil)
		if rec.Code != http.StatusOK {
			b.Fatalf("move: %d %s", rec.Code, rec.Body)
		}
		if i == 0 {
			b.ReportMetric(float64(rec.Body.Len()), "B/answer")
		}
	}
}

// BenchmarkListOrdersWithUnits is a customer's page of 100 orders through the
// API, on a real database: each order a line of 3 units, or of 1,000, half of
// them in transit.
func BenchmarkListOrdersWithUnits(b *testing.B) {
	for _, quantity := range []int{3, message.MaxQuantity} {
		b.Run(fmt.Sprintf("units=%d", quantity), func(b *testing.B) {
			db := testDB(b)
			ts := newTestServer(b, db)
			item := ts.createItem(b, "tent", 1_000_000_000, 0).ID
			for range 100 {
				paidOrder(b, db, "c-bench", quantity, true, item)
			}
			target := "/api/v1/orders?customer_id=c-bench&limit=100"
			for i := 0; i < b.N; i++ {
				rec := ts.serve(b, http.MethodGet, target, "", nil)
				if rec.Code != http.StatusOK {
					b.Fatalf("list: %d %s", rec.Code, rec.Body)
				}
				if i == 0 {
					var page orderList
					decodeBody(b, rec, &page)
					if len(page.Orders) != 100 || len(page.Orders[0].Lines[0].Units) != quantity {
						b.Fatalf("listed %d orders, want 100 with %d units each", len(page.Orders), quantity)
					}
					b.ReportMetric(float64(rec.Body.Len()), "B/answer")
				}
			}
		})
	}
}
