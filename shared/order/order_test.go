package order

import (
	"errors"
	"reflect"
	"slices"
	"testing"
	"time"

	"github.com/orderq/orderq/shared/message"
	"github.com/orderq/orderq/shared/orderstatus"
	"github.com/orderq/orderq/shared/shard"
)

func TestUpdatedAfter(t *testing.T) {
	prev := time.Date(2026, 5, 1, 10, 0, 0, 1000, time.UTC)
	tests := []struct {
		name string
		now  time.Time
		want time.Time
	}{
		{"later", prev.Add(time.Second), prev.Add(time.Second)},
		{"same microsecond", prev.Add(999 * time.Nanosecond), prev.Add(time.Microsecond)},
		{"same instant", prev, prev.Add(time.Microsecond)},
		{"a clock behind", prev.Add(-time.Minute), prev.Add(time.Microsecond)},
		{"truncated to the microsecond", prev.Add(1500 * time.Nanosecond), prev.Add(time.Microsecond)},
		{"in another zone", prev.Add(time.Hour).In(time.FixedZone("WIB", 7*3600)), prev.Add(time.Hour)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := UpdatedAfter(prev, tt.now)
			if !got.Equal(tt.want) || got.Location() != time.UTC {
				t.Errorf("UpdatedAfter(%v, %v) = %v, want %v UTC", prev, tt.now, got, tt.want)
			}
			if !got.After(prev) {
				t.Errorf("%v is not after %v", got, prev)
			}
		})
	}
}

var lifecycleNow = time.Date(2026, 5, 1, 10, 0, 0, 0, time.UTC)

// lifecycleOrder returns a single-line order of 2 units of item 7 at 1500 IDR
// each (total 3000 IDR) in status, decided an hour before lifecycleNow, as
// the worker and the lifecycle leave it: rejected orders have no total and
// never held anything, canceled ones released their line.
func lifecycleOrder(status orderstatus.Status, reason *string) *Order {
	decided := lifecycleNow.Add(-time.Hour)
	price, total, currency := int64(1500), int64(3000), "IDR"
	o := &Order{ID: "0190a0b2-7c4e-7d3a-9f10-2b3c4d5e6f70", CustomerID: "c-1", Status: status, Reason: reason, Parts: 1, PartsDone: 1,
		Total: &total, Currency: &currency, CreatedAt: decided, ProcessedAt: &decided, UpdatedAt: decided,
		Lines: []Line{{No: 0, ItemID: 7, Quantity: 2, UnitPrice: &price, Status: orderstatus.Reserved}}}
	l := &o.Lines[0]
	switch status {
	case orderstatus.Pending:
		o.Total, o.Currency, o.ProcessedAt, o.PartsDone = nil, nil, nil, 0
		l.Status, l.UnitPrice = orderstatus.LinePending, nil
	case orderstatus.Rejected:
		o.Total, o.Currency, l.UnitPrice = nil, nil, nil
		l.Status, l.Reason = orderstatus.LineRejected, reason
	case orderstatus.Canceled:
		l.Status = orderstatus.Released
	case orderstatus.Fulfilled:
		l.Status = orderstatus.PreparingAndCleaning
	}
	return o
}

func TestMove(t *testing.T) {
	const shards = 4
	canceled, timeout := message.ReasonCanceled, message.ReasonPaymentTimeout
	tests := []struct {
		from, to orderstatus.Status
		reason   string
		ok       bool
	}{
		{orderstatus.Confirmed, orderstatus.AwaitingPayment, canceled, true},
		{orderstatus.Confirmed, orderstatus.Paid, canceled, true},
		{orderstatus.AwaitingPayment, orderstatus.Paid, canceled, true},
		{orderstatus.Paid, orderstatus.Active, canceled, true},
		{orderstatus.Active, orderstatus.Fulfilled, canceled, true},
		{orderstatus.Confirmed, orderstatus.Canceled, canceled, true},
		{orderstatus.AwaitingPayment, orderstatus.Canceled, timeout, true},
		{orderstatus.Paid, orderstatus.Canceled, canceled, true},
		// The worker alone decides a pending order; rejected, canceled and
		// fulfilled are final.
		{orderstatus.Pending, orderstatus.Confirmed, canceled, false},
		{orderstatus.Pending, orderstatus.Canceled, canceled, false},
		{orderstatus.Rejected, orderstatus.Canceled, canceled, false},
		{orderstatus.Canceled, orderstatus.Paid, canceled, false},
		{orderstatus.Canceled, orderstatus.Canceled, canceled, false},
		{orderstatus.Fulfilled, orderstatus.Active, canceled, false},
		{orderstatus.Active, orderstatus.Canceled, canceled, false},
		{orderstatus.Paid, orderstatus.Paid, canceled, false},
		{orderstatus.Paid, orderstatus.AwaitingPayment, canceled, false},
	}
	for _, tt := range tests {
		t.Run(string(tt.from)+"→"+string(tt.to), func(t *testing.T) {
			o := lifecycleOrder(tt.from, nil)
			before := o.Clone()
			releases, err := o.Move(tt.to, tt.reason, shards, lifecycleNow)
			if !tt.ok {
				if !errors.Is(err, ErrInvalidTransition) || releases != nil {
					t.Fatalf("Move = %v, %v; want ErrInvalidTransition and no releases", releases, err)
				}
				if !reflect.DeepEqual(o, before) {
					t.Errorf("a refused move changed the order: %+v, was %+v", o, before)
				}
				return
			}
			if err != nil {
				t.Fatalf("Move: %v", err)
			}
			want := before.Clone()
			want.Status, want.UpdatedAt = tt.to, lifecycleNow
			var wantReleases []message.Command
			if tt.to == orderstatus.Canceled {
				want.Reason = &tt.reason
				wantReleases = []message.Command{{Kind: message.KindRelease, ID: o.ID, AcceptedAt: lifecycleNow,
					Lines: []message.Line{{No: 0, ItemID: 7, Quantity: 2}}}}
			}
			if !reflect.DeepEqual(o, want) {
				t.Errorf("moved order %+v, want %+v", o, want)
			}
			if !reflect.DeepEqual(releases, wantReleases) {
				t.Errorf("releases %+v, want %+v", releases, wantReleases)
			}
		})
	}
}

// itemsOnShards returns n items each on a shard of its own, and one more
// on the shard of the first.
func itemsOnShards(t *testing.T, n, shards int) (ids []int64, sameAsFirst int64) {
	t.Helper()
	seen := map[int]bool{}
	for id := int64(1); id < 10000; id++ {
		s := shard.Of(id, shards)
		switch {
		case !seen[s] && len(ids) < n:
			seen[s] = true
			ids = append(ids, id)
		case len(ids) > 0 && sameAsFirst == 0 && s == shard.Of(ids[0], shards):
			sameAsFirst = id
		}
		if len(ids) == n && sameAsFirst != 0 {
			return ids, sameAsFirst
		}
	}
	t.Fatalf("no %d items on different shards", n)
	return nil, 0
}

func TestReleasesGivesBackWhatTheLinesHoldByShard(t *testing.T) {
	const shards = 4
	its, sameAsFirst := itemsOnShards(t, 4, shards)
	o := lifecycleOrder(orderstatus.Paid, nil)
	o.Lines = []Line{
		{No: 0, ItemID: its[0], Quantity: 1, Status: orderstatus.Reserved},
		{No: 1, ItemID: its[1], Quantity: 2, Status: orderstatus.TransitForOutbound},
		{No: 2, ItemID: sameAsFirst, Quantity: 3, Status: orderstatus.RentInProgress},
		{No: 3, ItemID: its[2], Quantity: 4, Status: orderstatus.Released},
		{No: 4, ItemID: its[3], Quantity: 5, Status: orderstatus.LineRejected},
		{No: 5, ItemID: its[1] + 10000, Quantity: 6, Status: orderstatus.PreparingAndCleaning},
	}
	// The last line's item may be on any shard: its release goes with the
	// others of that shard.
	groups := map[int][]message.Line{}
	var order []int
	for _, l := range []message.Line{{No: 0, ItemID: its[0], Quantity: 1}, {No: 1, ItemID: its[1], Quantity: 2},
		{No: 2, ItemID: sameAsFirst, Quantity: 3}, {No: 5, ItemID: its[1] + 10000, Quantity: 6}} {
		s := shard.Of(l.ItemID, shards)
		if groups[s] == nil {
			order = append(order, s)
		}
		groups[s] = append(groups[s], l)
	}
	var want []message.Command
	for _, s := range order {
		want = append(want, message.Command{Kind: message.KindRelease, ID: o.ID, AcceptedAt: lifecycleNow, Lines: groups[s]})
	}
	before := o.Clone()
	got := o.Releases(shards, lifecycleNow.In(time.FixedZone("WIB", 7*3600)))
	if !reflect.DeepEqual(got, want) {
		t.Errorf("Releases = %+v, want %+v", got, want)
	}
	if !reflect.DeepEqual(o, before) {
		t.Errorf("Releases changed the order: %+v, was %+v", o, before)
	}
	for _, c := range got {
		if c.AcceptedAt.Location() != time.UTC {
			t.Errorf("release accepted at %v, want UTC", c.AcceptedAt)
		}
	}
	if got := lifecycleOrder(orderstatus.Canceled, nil).Releases(shards, lifecycleNow); len(got) != 0 {
		t.Errorf("an order holding nothing releases %+v", got)
	}
}

func TestMoveLine(t *testing.T) {
	tests := []struct {
		name  string
		order orderstatus.Status
		line  orderstatus.LineStatus
		item  int64
		to    orderstatus.LineStatus
		want  error
	}{
		{"paid, shipped", orderstatus.Paid, orderstatus.Reserved, 7, orderstatus.TransitForOutbound, nil},
		{"active, rented", orderstatus.Active, orderstatus.TransitForOutbound, 7, orderstatus.RentInProgress, nil},
		{"active, cleaning", orderstatus.Active, orderstatus.RentInProgress, 7, orderstatus.PreparingAndCleaning, nil},
		{"no such item", orderstatus.Paid, orderstatus.Reserved, 8, orderstatus.TransitForOutbound, ErrLineNotFound},
		{"not paid yet", orderstatus.AwaitingPayment, orderstatus.Reserved, 7, orderstatus.TransitForOutbound, ErrInvalidTransition},
		{"canceled", orderstatus.Canceled, orderstatus.Released, 7, orderstatus.TransitForOutbound, ErrInvalidTransition},
		{"skipping a step", orderstatus.Paid, orderstatus.Reserved, 7, orderstatus.RentInProgress, nil},
		{"back", orderstatus.Active, orderstatus.PreparingAndCleaning, 7, orderstatus.Reserved, ErrInvalidTransition},
		{"where it is", orderstatus.Active, orderstatus.RentInProgress, 7, orderstatus.RentInProgress, ErrInvalidTransition},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o := lifecycleOrder(tt.order, nil)
			o.Lines[0].Status = tt.line
			before := o.Clone()
			l, err := o.MoveLine(tt.item, tt.to, lifecycleNow)
			if tt.want != nil {
				if !errors.Is(err, tt.want) || l != nil {
					t.Fatalf("MoveLine = %+v, %v; want %v", l, err, tt.want)
				}
				if !reflect.DeepEqual(o, before) {
					t.Errorf("a refused move changed the order: %+v, was %+v", o, before)
				}
				return
			}
			if err != nil {
				t.Fatalf("MoveLine: %v", err)
			}
			if l != o.Line(0) {
				t.Errorf("MoveLine returned %p, not the order's line %p", l, o.Line(0))
			}
			want := before.Clone()
			want.Lines[0].Status, want.UpdatedAt = tt.to, lifecycleNow
			if !reflect.DeepEqual(o, want) {
				t.Errorf("moved %+v, want %+v", o, want)
			}
		})
	}
}

// unitsOrder is an order of status with a line of 3 units of item 7 in
// units and a line of 2 units of item 8, both reserved.
func unitsOrder(status orderstatus.Status, units ...orderstatus.LineStatus) *Order {
	o := lifecycleOrder(status, nil)
	o.Lines[0].Quantity = 3
	o.Lines[0].setUnits(units)
	o.Lines = append(o.Lines, Line{No: 1, ItemID: 8, Quantity: 2, UnitPrice: o.Lines[0].UnitPrice, Status: orderstatus.Reserved})
	return o
}

// TestMoveUnits moves units of two lines, all or none: each refused move
// leaves the order exactly as it was.
func TestMoveUnits(t *testing.T) {
	const (
		r = orderstatus.Reserved
		x = orderstatus.TransitForOutbound
		n = orderstatus.RentInProgress
		c = orderstatus.PreparingAndCleaning
	)
	type units = []orderstatus.LineStatus
	tests := []struct {
		name  string
		order orderstatus.Status
		from  units // of item 7's three units
		to    orderstatus.LineStatus
		move  []UnitRef
		want  error
		// What items 7 and 8 are left with.
		line7, line8 orderstatus.LineStatus
		units7       units
	}{
		{"one unit, the others stay", orderstatus.Paid, units{r, r, r}, x, []UnitRef{{7, 2}}, nil, r, r, units{r, x, r}},
		{"the design's example", orderstatus.Active, units{r, n, c}, x, []UnitRef{{7, 1}}, nil, x, r, units{x, n, c}},
		{"units of two lines at once", orderstatus.Active, units{x, n, c}, c, []UnitRef{{7, 1}, {7, 2}, {8, 1}}, nil, c, r, nil},
		{"the last unit makes the line uniform", orderstatus.Active, units{n, n, c}, c, []UnitRef{{7, 1}, {7, 2}}, nil, c, r, nil},
		{"skipping a step", orderstatus.Active, units{r, r, r}, n, []UnitRef{{7, 3}}, nil, r, r, units{r, r, n}},
		{"backwards", orderstatus.Active, units{x, n, c}, x, []UnitRef{{7, 1}, {7, 2}}, ErrInvalidTransition, "", "", nil},
		{"where it is", orderstatus.Active, units{x, n, c}, n, []UnitRef{{7, 2}}, ErrInvalidTransition, "", "", nil},
		{"one of many may not move", orderstatus.Active, units{r, r, c}, n, []UnitRef{{7, 1}, {8, 2}, {7, 3}}, ErrInvalidTransition, "", "", nil},
		{"an unknown unit", orderstatus.Active, units{r, r, r}, x, []UnitRef{{7, 1}, {7, 4}}, ErrUnitNotFound, "", "", nil},
		{"unit 0", orderstatus.Active, units{r, r, r}, x, []UnitRef{{7, 0}}, ErrUnitNotFound, "", "", nil},
		{"an item the order has no line of", orderstatus.Active, units{r, r, r}, x, []UnitRef{{7, 1}, {9, 1}}, ErrUnitNotFound, "", "", nil},
		{"the order not paid yet", orderstatus.AwaitingPayment, units{r, r, r}, x, []UnitRef{{7, 1}}, ErrInvalidTransition, "", "", nil},
		{"the order fulfilled", orderstatus.Fulfilled, units{c, c, c}, c, []UnitRef{{7, 1}}, ErrInvalidTransition, "", "", nil},
		{"back to reserved", orderstatus.Paid, units{x, r, r}, r, []UnitRef{{7, 1}}, ErrInvalidTransition, "", "", nil},
		{"released", orderstatus.Paid, units{r, r, r}, orderstatus.Released, []UnitRef{{7, 1}}, ErrInvalidTransition, "", "", nil},
		{"no unit named", orderstatus.Paid, units{r, r, r}, x, nil, ErrInvalidTransition, "", "", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o := unitsOrder(tt.order, tt.from...)
			before := o.Clone()
			err := o.MoveUnits(tt.to, tt.move, lifecycleNow)
			if tt.want != nil {
				if !errors.Is(err, tt.want) {
					t.Fatalf("MoveUnits = %v, want %v", err, tt.want)
				}
				if !reflect.DeepEqual(o, before) {
					t.Errorf("a refused move changed the order: %+v, was %+v", o, before)
				}
				return
			}
			if err != nil {
				t.Fatalf("MoveUnits: %v", err)
			}
			l7, l8 := o.Line(0), o.Line(1)
			if l7.Status != tt.line7 || l8.Status != tt.line8 || !slices.Equal(l7.Units, tt.units7) {
				t.Errorf("lines %s %v and %s %v, want %s %v and %s", l7.Status, l7.Units, l8.Status, l8.Units, tt.line7, tt.units7, tt.line8)
			}
			if !o.UpdatedAt.Equal(lifecycleNow) {
				t.Errorf("updated_at %v, want %v", o.UpdatedAt, lifecycleNow)
			}
		})
	}
}

// TestUnitsShow: what an order's units show, and the display they make.
func TestUnitsShow(t *testing.T) {
	o := unitsOrder(orderstatus.Active, orderstatus.TransitForOutbound, orderstatus.RentInProgress, orderstatus.PreparingAndCleaning)
	m := o.Message()
	want := [][]message.Unit{
		{{Unit: 1, Status: orderstatus.TransitForOutbound}, {Unit: 2, Status: orderstatus.RentInProgress}, {Unit: 3, Status: orderstatus.PreparingAndCleaning}},
		{{Unit: 1, Status: orderstatus.Reserved}, {Unit: 2, Status: orderstatus.Reserved}},
	}
	for i, l := range m.Lines {
		if !reflect.DeepEqual(l.Units, want[i]) {
			t.Errorf("line %d's units %+v, want %+v", i, l.Units, want[i])
		}
	}
	if m.Lines[0].Status != orderstatus.TransitForOutbound || m.DisplayStatus.Code != orderstatus.ShowShipped {
		t.Errorf("line status %s and display %s, want the earliest unit's and shipped", m.Lines[0].Status, m.DisplayStatus.Code)
	}
	// Selesai needs every unit of every line cleaned.
	if err := o.MoveUnits(orderstatus.PreparingAndCleaning, []UnitRef{{7, 1}, {7, 2}}, lifecycleNow); err != nil {
		t.Fatal(err)
	}
	if got := o.Display(); got != orderstatus.ShowActive {
		t.Errorf("display %s with item 8 still reserved, want active", got)
	}
	if _, err := o.MoveLine(8, orderstatus.PreparingAndCleaning, lifecycleNow); err != nil {
		t.Fatal(err)
	}
	if got := o.Display(); got != orderstatus.ShowCompleted {
		t.Errorf("display %s with every unit cleaned, want completed", got)
	}
	// A released line's units are released; lines never reserved have none.
	canceled := lifecycleOrder(orderstatus.Canceled, nil).Message()
	if u := canceled.Lines[0].Units; len(u) != 2 || u[0].Status != orderstatus.Released {
		t.Errorf("a released line's units %+v, want 2 released", u)
	}
	for _, st := range []orderstatus.Status{orderstatus.Pending, orderstatus.Rejected} {
		if u := lifecycleOrder(st, nil).Message().Lines[0].Units; u == nil || len(u) != 0 {
			t.Errorf("a %s line's units %#v, want none (an empty list)", st, u)
		}
	}
}

// TestChangesStampALaterUpdatedAt: every change is later than the order's
// last, even one stamped by a clock ahead of this one.
func TestChangesStampALaterUpdatedAt(t *testing.T) {
	ahead := lifecycleNow.Add(time.Hour)
	changes := map[string]func(o *Order) error{
		"move": func(o *Order) error { _, err := o.Move(orderstatus.AwaitingPayment, "", 4, lifecycleNow); return err },
		"cancel": func(o *Order) error {
			_, err := o.Move(orderstatus.Canceled, message.ReasonCanceled, 4, lifecycleNow)
			return err
		},
		"pay": func(o *Order) error {
			_, err := o.Pay(Payment{EventID: "e", OrderID: o.ID, Status: PaymentSucceeded, Amount: 3000, Currency: "IDR"}, lifecycleNow)
			return err
		},
	}
	for name, change := range changes {
		t.Run(name, func(t *testing.T) {
			o := lifecycleOrder(orderstatus.Confirmed, nil)
			o.UpdatedAt = ahead
			if err := change(o); err != nil {
				t.Fatal(err)
			}
			if want := ahead.Add(time.Microsecond); !o.UpdatedAt.Equal(want) {
				t.Errorf("updated_at %v, want %v", o.UpdatedAt, want)
			}
		})
	}
	t.Run("line move", func(t *testing.T) {
		o := lifecycleOrder(orderstatus.Paid, nil)
		o.UpdatedAt = ahead
		if _, err := o.MoveLine(7, orderstatus.TransitForOutbound, lifecycleNow); err != nil {
			t.Fatal(err)
		}
		if want := ahead.Add(time.Microsecond); !o.UpdatedAt.Equal(want) {
			t.Errorf("updated_at %v, want %v", o.UpdatedAt, want)
		}
	})
}

func TestMessage(t *testing.T) {
	t.Run("confirmed", func(t *testing.T) {
		o := lifecycleOrder(orderstatus.Confirmed, nil)
		m := o.Message()
		want := message.Order{ID: o.ID, ItemID: 7, Quantity: 2, CustomerID: "c-1", Status: orderstatus.Confirmed,
			Lines: []message.OrderLine{{ItemID: 7, Quantity: 2, UnitPrice: o.Lines[0].UnitPrice, Status: orderstatus.Reserved,
				Units: []message.Unit{{Unit: 1, Status: orderstatus.Reserved}, {Unit: 2, Status: orderstatus.Reserved}}}},
			Total: o.Total, Currency: o.Currency, CreatedAt: o.CreatedAt, ProcessedAt: o.ProcessedAt, UpdatedAt: o.UpdatedAt,
			DisplayStatus: orderstatus.Display{Code: orderstatus.ShowAwaitingPayment}}
		if !reflect.DeepEqual(m, want) {
			t.Errorf("Message() = %+v, want %+v", m, want)
		}
	})
	t.Run("pending cart", func(t *testing.T) {
		// A pending cart's total so far is no price anyone owes yet.
		o := lifecycleOrder(orderstatus.Pending, nil)
		total, currency := int64(1500), "IDR"
		o.Total, o.Currency, o.Parts = &total, &currency, 2
		o.Lines = append(o.Lines, Line{No: 1, ItemID: 8, Quantity: 1, Status: orderstatus.LinePending})
		m := o.Message()
		if m.Total != nil || m.Currency != nil {
			t.Errorf("a pending order shows a total: %v %v", m.Total, m.Currency)
		}
		if m.ItemID != 0 || m.Quantity != 0 || len(m.Lines) != 2 || m.Lines[1].ItemID != 8 || m.Lines[1].Status != orderstatus.LinePending {
			t.Errorf("a cart's message %+v, want its two lines and no single item", m)
		}
		if m.DisplayStatus != (orderstatus.Display{Code: orderstatus.ShowProcessing}) {
			t.Errorf("display %+v, want processing", m.DisplayStatus)
		}
	})
	t.Run("display follows the lines", func(t *testing.T) {
		o := lifecycleOrder(orderstatus.Active, nil)
		o.Lines[0].Status = orderstatus.TransitForOutbound
		if got := o.Display(); got != orderstatus.ShowShipped {
			t.Errorf("Display() = %s, want %s", got, orderstatus.ShowShipped)
		}
		if got := o.Message().DisplayStatus.Code; got != orderstatus.ShowShipped {
			t.Errorf("Message().DisplayStatus.Code = %s, want %s", got, orderstatus.ShowShipped)
		}
	})
}

func TestCloneSharesNothing(t *testing.T) {
	o := unitsOrder(orderstatus.Paid, orderstatus.Reserved, orderstatus.TransitForOutbound, orderstatus.Reserved)
	c := o.Clone()
	if !reflect.DeepEqual(c, o) {
		t.Fatalf("Clone() = %+v, want %+v", c, o)
	}
	c.Lines[0].Status, c.Status, c.Lines[0].Units[0] = orderstatus.TransitForOutbound, orderstatus.Active, orderstatus.RentInProgress
	if o.Lines[0].Status != orderstatus.Reserved || o.Status != orderstatus.Paid || o.Lines[0].Units[0] != orderstatus.Reserved {
		t.Errorf("changing the clone changed the order: %+v", o)
	}
	if o.Line(0) != &o.Lines[0] || o.Line(2) != nil {
		t.Errorf("Line(0) = %p, Line(2) = %p; want %p and nil", o.Line(0), o.Line(2), &o.Lines[0])
	}
}
