package orderstore

import (
	"bytes"
	"errors"
	"reflect"
	"strings"
	"testing"

	"github.com/orderq/orderq/shared/database"
	"github.com/orderq/orderq/shared/message"
	"github.com/orderq/orderq/shared/order"
	"github.com/orderq/orderq/shared/orderstatus"
)

// TestUnitsAreStoredCompactly: a line's units take a byte each in its row
// while they differ and nothing once they agree again, and read back as
// they were moved.
func TestUnitsAreStoredCompactly(t *testing.T) {
	db := openDB(t)
	o := newOrder(t, orderstatus.Paid, nil)
	o.Lines[0].Quantity = message.MaxQuantity
	insert(t, db, o)
	if s := loadStored(t, db, o.ID); s.Lines[0].Units != nil {
		t.Fatalf("a new line stores units %q, want NULL", s.Lines[0].Units)
	}

	// Every other unit in transit: one byte a unit.
	var odd []order.UnitRef
	for n := 1; n <= message.MaxQuantity; n += 2 {
		odd = append(odd, order.UnitRef{ItemID: 7, Unit: n})
	}
	moved, err := MoveUnits(t.Context(), db, o.ID, orderstatus.TransitForOutbound, odd)
	if err != nil {
		t.Fatalf("move units: %v", err)
	}
	s := loadStored(t, db, o.ID)
	if want := bytes.Repeat([]byte("tr"), message.MaxQuantity/2); !bytes.Equal(s.Lines[0].Units, want) {
		t.Errorf("stored units %.20q…, want %.20q…", s.Lines[0].Units, want)
	}
	if s.Lines[0].Status != orderstatus.Reserved || s.Row.DisplayStatus != orderstatus.ShowShipped {
		t.Errorf("line %s, display %s; want reserved (its earliest unit) and shipped", s.Lines[0].Status, s.Row.DisplayStatus)
	}
	loaded, err := Load(t.Context(), db, o.ID)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(loaded.Lines, moved.Lines) || len(loaded.Lines[0].Units) != message.MaxQuantity ||
		loaded.Lines[0].Units[0].Status != orderstatus.TransitForOutbound || loaded.Lines[0].Units[1].Status != orderstatus.Reserved {
		t.Errorf("loaded lines differ from those moved, or are not every other unit in transit")
	}

	// Refused moves change nothing, not even updated_at.
	refused := []struct {
		name  string
		to    orderstatus.LineStatus
		units []order.UnitRef
		want  error
	}{
		{"backwards, with a good move", orderstatus.Reserved, []order.UnitRef{{ItemID: 7, Unit: 2}, {ItemID: 7, Unit: 1}}, order.ErrInvalidTransition},
		{"an unknown unit", orderstatus.TransitForOutbound, []order.UnitRef{{ItemID: 7, Unit: 2}, {ItemID: 7, Unit: 1001}}, order.ErrUnitNotFound},
	}
	for _, r := range refused {
		if _, err := MoveUnits(t.Context(), db, o.ID, r.to, r.units); !errors.Is(err, r.want) {
			t.Errorf("%s: %v, want %v", r.name, err, r.want)
		}
		if after := loadStored(t, db, o.ID); !reflect.DeepEqual(after, s) {
			t.Errorf("%s changed the stored order", r.name)
		}
	}

	// The line endpoint's move of the rest makes the line uniform again.
	if _, err := MoveLine(t.Context(), db, o.ID, 7, orderstatus.TransitForOutbound); !errors.Is(err, order.ErrInvalidTransition) {
		t.Errorf("moving a line half in transit to transit: %v, want %v", err, order.ErrInvalidTransition)
	}
	var even []order.UnitRef
	for n := 2; n <= message.MaxQuantity; n += 2 {
		even = append(even, order.UnitRef{ItemID: 7, Unit: n})
	}
	if _, err := MoveUnits(t.Context(), db, o.ID, orderstatus.TransitForOutbound, even); err != nil {
		t.Fatal(err)
	}
	if s := loadStored(t, db, o.ID); s.Lines[0].Units != nil || s.Lines[0].Status != orderstatus.TransitForOutbound {
		t.Errorf("every unit in transit: line %s with units %.20q, want transit_for_outbound and NULL", s.Lines[0].Status, s.Lines[0].Units)
	}
}

// TestUnitsMoveOnlyUnderAPaidOrActiveOrder: the order's status is checked
// under its lock, and a refused move stores nothing.
func TestUnitsMoveOnlyUnderAPaidOrActiveOrder(t *testing.T) {
	db := openDB(t)
	for _, st := range []orderstatus.Status{orderstatus.Confirmed, orderstatus.AwaitingPayment, orderstatus.Canceled, orderstatus.Fulfilled} {
		o := storeOrder(t, db, st, nil)
		before := loadStored(t, db, o.ID)
		_, err := MoveUnits(t.Context(), db, o.ID, orderstatus.TransitForOutbound, []order.UnitRef{{ItemID: 7, Unit: 1}})
		if !errors.Is(err, order.ErrInvalidTransition) {
			t.Errorf("%s: %v, want %v", st, err, order.ErrInvalidTransition)
		}
		if after := loadStored(t, db, o.ID); !reflect.DeepEqual(after, before) {
			t.Errorf("%s: a refused move changed the stored order", st)
		}
	}
	if _, err := MoveUnits(t.Context(), db, newID(t), orderstatus.TransitForOutbound, []order.UnitRef{{ItemID: 7, Unit: 1}}); !errors.Is(err, order.ErrNotFound) {
		t.Errorf("an unknown order: %v, want %v", err, order.ErrNotFound)
	}
}

// TestAnUnknownUnitCodeIsAnError: a status code this build does not know (a
// newer one's) is not read as some status.
func TestAnUnknownUnitCodeIsAnError(t *testing.T) {
	db := openDB(t)
	o := storeOrder(t, db, orderstatus.Paid, nil)
	if err := db.Exec("UPDATE order_lines SET units = ? WHERE order_id = ?", "r?", database.ID(o.ID)).Error; err != nil {
		t.Fatal(err)
	}
	if _, err := Load(t.Context(), db, o.ID); err == nil || !strings.Contains(err.Error(), "no status has") {
		t.Errorf("Load = %v, want an error naming the unknown code", err)
	}
}
