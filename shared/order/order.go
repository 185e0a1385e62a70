// Package order is the order as the business knows it: an order and its
// lines, the moves of its lifecycle after the worker decided it (payment,
// cancellation, fulfilment, the payment timeout), the stock it gives back,
// its money, what a customer sees of it, and the decision itself (Decide).
// Everything here is pure: package orderstore keeps orders in MySQL, and the
// statuses and their rules are package orderstatus's.
//
// Whatever gives stock back does so by release commands (Releases), which
// the caller queues through the outbox, so that each item's stock still has
// a single writer: its shard's worker.
package order

import (
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/orderq/orderq/shared/message"
	"github.com/orderq/orderq/shared/orderstatus"
	"github.com/orderq/orderq/shared/shard"
)

// Sentinel errors.
var (
	ErrNotFound          = errors.New("order not found")
	ErrLineNotFound      = errors.New("order line not found")
	ErrUnitNotFound      = errors.New("order unit not found")
	ErrInvalidTransition = errors.New("invalid status transition")
)

// Order is an order with its lines.
type Order struct {
	ID         string
	CustomerID string
	Status     orderstatus.Status
	Reason     *string // why it was rejected or canceled
	// Parts is how many shards decide the order's lines, PartsDone how many
	// did: the order is pending until all did.
	Parts     int
	PartsDone int
	// Total and Currency add up the reserved lines as parts decide them;
	// clients see them once the order is decided confirmed (see Message),
	// and a rejected order has none: it owes nothing.
	Total          *int64
	Currency       *string
	RefundRequired bool // money arrived that cannot pay it
	CreatedAt      time.Time
	ProcessedAt    *time.Time // when it was decided
	// UpdatedAt is later for every change than for the one before (see
	// UpdatedAfter).
	UpdatedAt time.Time
	Lines     []Line // in line order
}

// Line is one item of an order. A line that was reserved has Quantity units,
// numbered from 1, each with its status.
type Line struct {
	No        int // its position in the order, from 0
	ItemID    int64
	Quantity  int
	UnitPrice *int64 // the item's price when the line was reserved
	// Status is the line's, and while it holds stock the earliest its
	// units are in (orderstatus.Earliest).
	Status orderstatus.LineStatus
	Reason *string // why the line failed, on the line that did
	// Units are the statuses of units 1…Quantity while they are not all
	// the same; nil while every unit is in Status.
	Units []orderstatus.LineStatus
}

// HasUnits reports whether the line has units: it was reserved.
func (l *Line) HasUnits() bool {
	return orderstatus.Holds(l.Status) || l.Status == orderstatus.Released
}

// Unit returns the status of unit n of the line, which must have it.
func (l *Line) Unit(n int) orderstatus.LineStatus {
	if l.Units == nil {
		return l.Status
	}
	return l.Units[n-1]
}

// setUnits sets the statuses of the line's units 1…Quantity.
func (l *Line) setUnits(units []orderstatus.LineStatus) {
	l.Status = orderstatus.Earliest(units)
	if slices.ContainsFunc(units, func(s orderstatus.LineStatus) bool { return s != l.Status }) {
		l.Units = units
	} else {
		l.Units = nil
	}
}

// UnitRef names a unit of an order: unit Unit, from 1, of the line of ItemID.
type UnitRef struct {
	ItemID int64
	Unit   int
}

// Line returns the line numbered no, nil if there is none.
func (o *Order) Line(no int) *Line {
	for i := range o.Lines {
		if o.Lines[i].No == no {
			return &o.Lines[i]
		}
	}
	return nil
}

// Clone returns a copy of o that shares nothing with it.
func (o *Order) Clone() *Order {
	c := *o
	c.Lines = slices.Clone(o.Lines)
	for i := range c.Lines {
		c.Lines[i].Units = slices.Clone(c.Lines[i].Units)
	}
	return &c
}

// Display returns the display code of the order: what its customer sees.
func (o *Order) Display() string {
	return orderstatus.Code(o.Status, o.unitStatuses())
}

// unitStatuses returns the statuses the order's units are in, each once
// (for a line without units, its status).
func (o *Order) unitStatuses() []orderstatus.LineStatus {
	var statuses []orderstatus.LineStatus
	add := func(s orderstatus.LineStatus) {
		if !slices.Contains(statuses, s) {
			statuses = append(statuses, s)
		}
	}
	for _, l := range o.Lines {
		add(l.Status)
		for _, u := range l.Units {
			add(u)
		}
	}
	return statuses
}

// Message returns the order as clients see it, with its display code as of
// now (a stored order's is the one stored with it: see package orderstore).
func (o *Order) Message() message.Order {
	m := message.Order{ID: o.ID, CustomerID: o.CustomerID, Status: o.Status, Reason: o.Reason,
		RefundRequired: o.RefundRequired, CreatedAt: o.CreatedAt, ProcessedAt: o.ProcessedAt, UpdatedAt: o.UpdatedAt,
		Lines: make([]message.OrderLine, len(o.Lines)), DisplayStatus: orderstatus.Display{Code: o.Display()}}
	// A pending cart's total is the sum of its parts decided so far, not a
	// price anyone owes yet.
	if o.Status != orderstatus.Pending {
		m.Total, m.Currency = o.Total, o.Currency
	}
	for i, l := range o.Lines {
		m.Lines[i] = message.OrderLine{ItemID: l.ItemID, Quantity: l.Quantity, UnitPrice: l.UnitPrice, Status: l.Status,
			Reason: l.Reason, Units: []message.Unit{}}
		if l.HasUnits() {
			m.Lines[i].Units = make([]message.Unit, l.Quantity)
			for n := 1; n <= l.Quantity; n++ {
				m.Lines[i].Units[n-1] = message.Unit{Unit: n, Status: l.Unit(n)}
			}
		}
	}
	if len(o.Lines) == 1 {
		m.ItemID, m.Quantity = o.Lines[0].ItemID, o.Lines[0].Quantity
	}
	return m
}

// UpdatedAfter is the updated_at of a change made at now to an order last
// updated at prev: now, or a microsecond after prev when now is not later
// (another process's clock, or the same microsecond). Every writer changes an
// order under its row's lock and stamps the change with it, so an order's
// states are ordered by updated_at, and two different states never share
// one: a gateway's cache keeps the newest state whichever announcement
// arrives first.
func UpdatedAfter(prev, now time.Time) time.Time {
	now = now.UTC().Truncate(time.Microsecond)
	if next := prev.UTC().Truncate(time.Microsecond).Add(time.Microsecond); now.Before(next) {
		return next
	}
	return now
}

// stamp marks a change made at now.
func (o *Order) stamp(now time.Time) { o.UpdatedAt = UpdatedAfter(o.UpdatedAt, now) }

// Move moves the order to status to, if the lifecycle allows it from where it
// is, and returns the releases to queue: moving to canceled gives back the
// stock its lines hold. An order whose payment time ran out is canceled with
// reason payment_timeout, any other with canceled.
func (o *Order) Move(to orderstatus.Status, reason string, shards int, now time.Time) ([]message.Command, error) {
	if !orderstatus.CanMove(o.Status, to) {
		return nil, fmt.Errorf("%w: order is %s, cannot become %s", ErrInvalidTransition, o.Status, to)
	}
	var releases []message.Command
	if to == orderstatus.Canceled {
		releases = o.Releases(shards, now)
		o.Reason = &reason
	}
	o.Status = to
	o.stamp(now)
	return releases, nil
}

// MoveLine moves every unit of the line of item to status to, if the
// lifecycle allows it for each, and returns the line.
func (o *Order) MoveLine(item int64, to orderstatus.LineStatus, now time.Time) (*Line, error) {
	l := o.lineOf(item)
	if l == nil {
		return nil, ErrLineNotFound
	}
	units := make([]UnitRef, l.Quantity)
	for n := range units {
		units[n] = UnitRef{ItemID: item, Unit: n + 1}
	}
	if err := o.MoveUnits(to, units, now); err != nil {
		return nil, err
	}
	return l, nil
}

// MoveUnits moves units of the order to status to, all or none: if one does
// not exist or may not move there, nothing moves.
func (o *Order) MoveUnits(to orderstatus.LineStatus, units []UnitRef, now time.Time) error {
	if len(units) == 0 {
		return fmt.Errorf("%w: no unit to move", ErrInvalidTransition)
	}
	moved := map[int64][]orderstatus.LineStatus{}
	for _, u := range units {
		l := o.lineOf(u.ItemID)
		if l == nil || !l.HasUnits() || u.Unit < 1 || u.Unit > l.Quantity {
			return fmt.Errorf("%w: the order has no unit %d of item %d", ErrUnitNotFound, u.Unit, u.ItemID)
		}
		statuses, ok := moved[u.ItemID]
		if !ok {
			statuses = make([]orderstatus.LineStatus, l.Quantity)
			for n := range statuses {
				statuses[n] = l.Unit(n + 1)
			}
			moved[u.ItemID] = statuses
		}
		if from := l.Unit(u.Unit); !orderstatus.CanMoveUnit(o.Status, from, to) {
			return fmt.Errorf("%w: order is %s and unit %d of item %d %s, the unit cannot become %s",
				ErrInvalidTransition, o.Status, u.Unit, u.ItemID, from, to)
		}
		statuses[u.Unit-1] = to
	}
	for item, statuses := range moved {
		o.lineOf(item).setUnits(statuses)
	}
	o.stamp(now)
	return nil
}

// lineOf returns the line of item, nil if there is none.
func (o *Order) lineOf(item int64) *Line {
	i := slices.IndexFunc(o.Lines, func(l Line) bool { return l.ItemID == item })
	if i < 0 {
		return nil
	}
	return &o.Lines[i]
}

// Releases returns the commands that give back the stock the order's lines
// hold, one per shard, each to be applied by that shard's worker.
func (o *Order) Releases(shards int, now time.Time) []message.Command {
	byShard := map[int][]message.Line{}
	var order []int
	for _, l := range o.Lines {
		if !orderstatus.Holds(l.Status) {
			continue
		}
		s := shard.Of(l.ItemID, shards)
		if _, ok := byShard[s]; !ok {
			order = append(order, s)
		}
		byShard[s] = append(byShard[s], message.Line{No: l.No, ItemID: l.ItemID, Quantity: l.Quantity})
	}
	cmds := make([]message.Command, 0, len(order))
	for _, s := range order {
		cmds = append(cmds, message.Command{Kind: message.KindRelease, ID: o.ID, AcceptedAt: now.UTC(), Lines: byShard[s]})
	}
	return cmds
}
