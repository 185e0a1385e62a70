package httpapi

import (
	"fmt"
	"net/http"
	"reflect"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/orderq/orderq/shared/message"
	"github.com/orderq/orderq/shared/orderstatus"
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
