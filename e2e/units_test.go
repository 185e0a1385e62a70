package e2e

import (
	"fmt"
	"net/http"
	"slices"
	"testing"

	"github.com/orderq/orderq/shared/message"
	"github.com/orderq/orderq/shared/orderstatus"
)

// TestRentalUnits plays the example of the status design this project
// started from, over HTTP against the real programs: an active order of one
// line of three units, whose units the back office moves one by one and in
// bulk, as its customer sees it and finds it by display_status.
func TestRentalUnits(t *testing.T) {
	t.Parallel()
	s := newSystem(t)
	s.startWorker(nil)
	_, base := s.startGateway(nil)
	c := newClient(t, base, 2)
	renter := c.customer("renter")
	tent := c.createItem("tent", 5, 0)

	st, placed := renter.order(tent.ID, 3, "", 10)
	if st != http.StatusOK || placed.Status != orderstatus.Confirmed {
		t.Fatalf("order: %d %s, want 200 confirmed", st, placed.Status)
	}
	id := placed.ID
	for _, move := range []struct{ path, status string }{{"/pay", ""}, {"/status", "active"}} {
		var body any
		if move.status != "" {
			body = map[string]string{"status": move.status}
		}
		if st := c.do("POST", "/api/v1/orders/"+id+move.path, body, admin, nil); st != http.StatusOK {
			t.Fatalf("POST %s: %d", move.path, st)
		}
	}

	unitsOf := func(units ...int) []map[string]int64 {
		var refs []map[string]int64
		for _, u := range units {
			refs = append(refs, map[string]int64{"item_id": tent.ID, "unit": int64(u)})
		}
		return refs
	}
	moveUnits := func(to string, units ...int) int {
		return c.do("POST", "/api/v1/orders/"+id+"/units/status", map[string]any{"status": to, "units": unitsOf(units...)}, admin, nil)
	}
	moveUnit := func(unit int, to string) int {
		return c.do("POST", fmt.Sprintf("/api/v1/orders/%s/lines/%d/units/%d/status", id, tent.ID, unit), map[string]string{"status": to}, admin, nil)
	}
	// sees checks what the customer sees of the order, and that their list
	// finds it under its display code only.
	sees := func(step string, units []orderstatus.LineStatus, code, lang, label string) {
		t.Helper()
		var o view
		if st := renter.do("GET", "/api/v1/orders/"+id+"?lang="+lang, nil, nil, &o); st != http.StatusOK {
			t.Fatalf("%s: GET %d", step, st)
		}
		var got []orderstatus.LineStatus
		for i, u := range o.Lines[0].Units {
			if u.Unit != i+1 {
				t.Errorf("%s: unit %d listed as %d", step, i+1, u.Unit)
			}
			got = append(got, u.Status)
		}
		if !slices.Equal(got, units) || o.Lines[0].Status != orderstatus.Earliest(units) {
			t.Errorf("%s: line %s with units %v, want %v", step, o.Lines[0].Status, got, units)
		}
		if o.DisplayStatus.Code != code || o.DisplayStatus.Label != label {
			t.Errorf("%s: display %+v, want %s %q", step, o.DisplayStatus, code, label)
		}
		for _, filter := range orderstatus.Codes {
			var list struct{ Orders []message.Order }
			if st := renter.do("GET", "/api/v1/orders?display_status="+filter, nil, nil, &list); st != http.StatusOK {
				t.Fatalf("%s: list %s: %d", step, filter, st)
			}
			found := slices.ContainsFunc(list.Orders, func(o message.Order) bool { return o.ID == id })
			if found != (filter == code) {
				t.Errorf("%s: the list of %s finds the order: %v, want %v", step, filter, found, filter == code)
			}
		}
	}
	const (
		r = orderstatus.Reserved
		x = orderstatus.TransitForOutbound
		n = orderstatus.RentInProgress
		k = orderstatus.PreparingAndCleaning
	)
	sees("active, nothing shipped", []orderstatus.LineStatus{r, r, r}, "active", "id", "Pesanan Aktif")

	// Unit 1 in transit, unit 2 rented, unit 3 cleaned.
	if st := moveUnits("transit_for_outbound", 1, 2, 3); st != http.StatusOK {
		t.Fatalf("every unit in transit: %d", st)
	}
	if st := moveUnits("rent_in_progress", 2, 3); st != http.StatusOK {
		t.Fatalf("units 2 and 3 rented: %d", st)
	}
	if st := moveUnit(3, "preparing_and_cleaning"); st != http.StatusOK {
		t.Fatalf("unit 3 cleaned: %d", st)
	}
	sees("the design's example", []orderstatus.LineStatus{x, n, k}, "shipped", "id", "Pesanan Dikirim")

	// Refused, all or nothing: unit 1 may go on, unit 3 may not go back.
	if st := moveUnits("rent_in_progress", 1, 3); st != http.StatusConflict {
		t.Errorf("a bulk move with one unit backwards: %d, want 409", st)
	}
	if st := moveUnits("rent_in_progress", 1, 4); st != http.StatusNotFound {
		t.Errorf("a bulk move naming unit 4 of 3: %d, want 404", st)
	}
	sees("after the refused moves", []orderstatus.LineStatus{x, n, k}, "shipped", "id", "Pesanan Dikirim")

	if st := moveUnit(1, "rent_in_progress"); st != http.StatusOK {
		t.Fatalf("unit 1 rented: %d", st)
	}
	sees("unit 1 on to rent", []orderstatus.LineStatus{n, n, k}, "active", "id", "Pesanan Aktif")

	if st := moveUnits("preparing_and_cleaning", 1, 2); st != http.StatusOK {
		t.Fatalf("units 1 and 2 cleaned: %d", st)
	}
	sees("every unit cleaned", []orderstatus.LineStatus{k, k, k}, "completed", "id", "Selesai")
	sees("every unit cleaned, in English", []orderstatus.LineStatus{k, k, k}, "completed", "en", "Completed")

	// The units held stock all along, as one line of three.
	if stock, balance := s.ledger(tent.ID); stock != 2 || balance != 2 {
		t.Errorf("stock %d, ledger %d; want 2 (3 of 5 held by the order)", stock, balance)
	}
}
