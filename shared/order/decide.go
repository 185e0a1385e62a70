package order

import (
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/orderq/orderq/shared/items"
	"github.com/orderq/orderq/shared/message"
	"github.com/orderq/orderq/shared/orderstatus"
	"github.com/orderq/orderq/shared/shard"
)

// State is what a shard's batch of commands is decided against: the stored
// state its commands name, read in the batch's transaction, and the
// deployment's settings. Decide changes it in place.
type State struct {
	Shards    int
	MaxUnpaid int       // unpaid orders a customer may hold; 0: no cap
	Now       time.Time // the batch's time, at the database's precision
	// Items are the items the commands name that exist (deleted ones too).
	Items map[int64]*items.Row
	// Orders are the stored orders the commands name; every other order is
	// new. Decide adds the new ones.
	Orders map[string]*Order
	// Applied are the stock changes and deletions among the commands that
	// were applied before.
	Applied map[string]AppliedCommand
	// Held is the quantity each customer of the commands holds of each
	// item with a per-customer limit.
	Held map[CustomerItem]int
	// Unpaid counts the unpaid orders of the customers Counted names; a
	// customer missing from it has no order the batch can confirm.
	Unpaid map[string]int
}

// CustomerItem is a customer and an item.
type CustomerItem struct {
	Customer string
	Item     int64
}

// AppliedCommand is a stock change or deletion as applied: its error code
// when it changed nothing.
type AppliedCommand struct {
	ID        string
	ItemID    int64
	Kind      message.Kind
	Error     *string
	AppliedAt time.Time
}

// Movement is one change of an item's stock in the ledger. For every item,
// its initial stock plus the sum of its movements is its stock.
type Movement struct {
	ItemID    int64
	Ref       string // the order or stock change that moved it
	Kind      MovementKind
	Delta     int64
	CreatedAt time.Time
}

// MovementKind says what moved the stock.
type MovementKind string

// Movement kinds.
const (
	MovementOrder   MovementKind = "order"   // a line reserved it
	MovementRelease MovementKind = "release" // a line gave it back
	MovementAdjust  MovementKind = "adjust"  // a stock change
)

// Decision is what a batch decided: what to store and what to publish.
type Decision struct {
	// Results are to publish once it is stored: the state of every order
	// the batch changed or saw again, once each, and the outcome of every
	// stock change and deletion.
	Results []message.Result
	New     []*Order // orders to insert
	// Changed are the stored orders it changed (State.Orders' entries).
	Changed   []*Order
	Movements []Movement
	Applied   []AppliedCommand // stock changes and deletions applied now
	Outbox    []message.Command
	Items     []*items.Row // items whose stock or deletion changed
}

// ErrUnknownOrder is a part or a release of an order that is not stored. Both
// are sent only for a stored order (in the transaction that stored or
// changed it), so such a command is not one to apply, now or later.
var ErrUnknownOrder = errors.New("order not found")

// Decide decides cmds, in order, against s, changing s, and returns what to
// store and publish. It reads nothing but s: the same state and commands
// always decide the same way.
//
// An order is decided by its home shard (that of its first line) for the
// lines it holds, all or nothing, in arrival order against each item's stock
// and per-customer limit and the customer's count of unpaid orders; an order
// spanning shards is written pending and its other parts forwarded through
// the outbox, and the shard that decides its last part decides it:
// confirmed if every line is reserved, else rejected with the reason of the
// first line that failed, releasing what its lines hold. A release gives
// back what this shard's lines of an order hold, once. A command applied
// before (a redelivery) is not applied again: its order is published as it
// stands, a stock change answers its stored outcome.
func Decide(s *State, cmds []message.Command) (*Decision, error) {
	d := &decider{State: s, d: &Decision{}, publish: map[*Order]message.Kind{}, changed: map[*Order]bool{},
		fresh: map[*Order]bool{}, items: map[int64]bool{}}
	done := map[string]bool{} // stock changes and deletions seen in this batch
	for i := range cmds {
		c := &cmds[i]
		switch c.Kind {
		case message.KindOrder:
			d.order(c)
		case message.KindOrderPart:
			if err := d.orderPart(c); err != nil {
				return nil, err
			}
		case message.KindRelease:
			if err := d.release(c); err != nil {
				return nil, err
			}
		case message.KindStock, message.KindDeleteItem:
			if done[c.ID] {
				continue
			}
			done[c.ID] = true
			if c.Kind == message.KindStock {
				d.stock(c)
			} else {
				d.deleteItem(c)
			}
		}
	}
	for _, o := range d.published {
		m := o.Message()
		d.d.Results = append(d.d.Results, message.Result{Kind: d.publish[o], ID: o.ID, Order: &m})
	}
	for _, o := range d.published {
		if d.changed[o] && !d.fresh[o] {
			d.d.Changed = append(d.d.Changed, o)
		}
	}
	ids := make([]int64, 0, len(d.items))
	for id := range d.items {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	for _, id := range ids {
		d.d.Items = append(d.d.Items, s.Items[id])
	}
	return d.d, nil
}

// decider decides one batch.
type decider struct {
	*State
	d *Decision
	// published are the orders to publish, in the order the batch first met
	// them; publish is the kind of each one's result: KindOrder once the
	// batch decided it or saw its order command again, else the kind of the
	// last command that changed or saw it.
	published []*Order
	publish   map[*Order]message.Kind
	changed   map[*Order]bool // orders changed
	fresh     map[*Order]bool // orders new in this batch
	items     map[int64]bool  // items whose row changed
}

// Counted returns the customers whose unpaid orders deciding cmds must
// count (State.Unpaid), given the items and orders read: without a cap, or
// when no order of the batch can be confirmed (a sold-out item's crowd),
// none. An order may be confirmed when every line its home decides finds its
// item and the stock as read: in a batch of orders stock only falls, so any
// other order fails whatever the cap. A stock change or release in the batch
// can raise it, so then every new order's customer is counted.
//
// The one caveat: each shard counts what the others committed, so orders of
// one customer decided at the same instant on different shards may each pass
// the cap, at most one extra order per shard (more only if that instant's
// batch on a shard holds several orders of the customer).
func (s *State) Counted(cmds []message.Command) []string {
	if s.MaxUnpaid == 0 {
		return nil
	}
	stockMayRise := slices.ContainsFunc(cmds, func(c message.Command) bool {
		return c.Kind == message.KindStock || c.Kind == message.KindRelease
	})
	seen := map[string]bool{}
	var customers []string
	for i := range cmds {
		c := &cmds[i]
		if c.Kind != message.KindOrder || seen[c.CustomerID] || s.Orders[c.ID] != nil {
			continue
		}
		if !stockMayRise && !s.mayReserve(c) {
			continue
		}
		seen[c.CustomerID] = true
		customers = append(customers, c.CustomerID)
	}
	return customers
}

// mayReserve reports whether c's home lines find their items and enough
// stock as read.
func (s *State) mayReserve(c *message.Command) bool {
	for _, l := range OwnLines(c, s.Shards) {
		item := s.Items[l.ItemID]
		if item == nil || item.DeletedAt != nil || item.Stock < int64(l.Quantity) {
			return false
		}
	}
	return true
}

// OwnLines returns the lines of c its shard decides: an order's home lines,
// every line of another command.
func OwnLines(c *message.Command, shards int) []message.Line {
	if c.Kind != message.KindOrder {
		return c.Lines
	}
	home := shard.Of(c.Home(), shards)
	var own []message.Line
	for _, l := range c.Lines {
		if shard.Of(l.ItemID, shards) == home {
			own = append(own, l)
		}
	}
	return own
}

// OwnItems returns the items c's shard reads to decide it.
func OwnItems(c *message.Command, shards int) []int64 {
	if c.ItemID != 0 {
		return []int64{c.ItemID}
	}
	lines := OwnLines(c, shards)
	ids := make([]int64, len(lines))
	for i, l := range lines {
		ids[i] = l.ItemID
	}
	return ids
}

// overUnpaid reports whether a customer holds as many unpaid orders as the
// cap allows.
func (d *decider) overUnpaid(customer string) bool {
	return d.MaxUnpaid > 0 && d.Unpaid[customer] >= d.MaxUnpaid
}

// see marks an order's state for the results, as of the end of the batch:
// one result per order, however many of its commands the batch holds.
func (d *decider) see(o *Order, kind message.Kind) {
	switch k, ok := d.publish[o]; {
	case !ok:
		d.published = append(d.published, o)
	case k == message.KindOrder:
		return // its decision, or its order seen again, names the result
	}
	d.publish[o] = kind
}

// touch marks a stored order changed by the batch, with an updated_at later
// than the one it had.
func (d *decider) touch(o *Order) {
	d.changed[o] = true
	o.stamp(d.Now)
}

func (d *decider) order(c *message.Command) {
	if o, ok := d.Orders[c.ID]; ok {
		// Applied before, or earlier in this batch: publish it again.
		d.see(o, message.KindOrder)
		return
	}
	o := &Order{ID: c.ID, CustomerID: c.CustomerID, Status: orderstatus.Pending, Parts: c.Parts, PartsDone: 1,
		CreatedAt: c.AcceptedAt.UTC().Truncate(time.Microsecond), UpdatedAt: d.Now}
	for _, l := range c.Lines {
		o.Lines = append(o.Lines, Line{No: l.No, ItemID: l.ItemID, Quantity: l.Quantity, Status: orderstatus.LinePending})
	}
	d.Orders[c.ID] = o
	d.fresh[o] = true
	d.d.New = append(d.d.New, o)
	ok := d.reserve(o, OwnLines(c, d.Shards), true)
	if ok && d.MaxUnpaid > 0 {
		d.Unpaid[c.CustomerID]++ // pending or confirmed: unpaid either way
	}
	switch {
	case !ok:
		// The home part failed: the order is rejected without asking the
		// other shards, and none of its lines ever held stock.
		for i := range o.Lines {
			if o.Lines[i].Status == orderstatus.LinePending {
				o.Lines[i].Status = orderstatus.LineRejected
			}
		}
		d.finish(o)
	case c.Parts == 1:
		d.finish(o)
	default:
		d.forward(o, c)
		d.see(o, message.KindOrder)
	}
}

// forward queues the parts of an order other shards decide.
func (d *decider) forward(o *Order, c *message.Command) {
	home := shard.Of(c.Home(), d.Shards)
	byShard := map[int][]message.Line{}
	var shards []int
	for _, l := range c.Lines {
		s := shard.Of(l.ItemID, d.Shards)
		if s == home {
			continue
		}
		if _, ok := byShard[s]; !ok {
			shards = append(shards, s)
		}
		byShard[s] = append(byShard[s], l)
	}
	for _, s := range shards {
		d.d.Outbox = append(d.d.Outbox, message.Command{Kind: message.KindOrderPart, ID: c.ID, AcceptedAt: c.AcceptedAt,
			CustomerID: c.CustomerID, Parts: c.Parts, Lines: byShard[s]})
	}
}

func (d *decider) orderPart(c *message.Command) error {
	o, ok := d.Orders[c.ID]
	if !ok {
		// A part is forwarded only in the transaction that stores its order.
		return fmt.Errorf("part of order %s: %w", c.ID, ErrUnknownOrder)
	}
	line := o.Line(c.Lines[0].No)
	if line == nil || line.Status != orderstatus.LinePending || o.Status != orderstatus.Pending {
		d.see(o, message.KindOrderPart) // applied before
		return nil
	}
	d.reserve(o, c.Lines, false)
	o.PartsDone++
	d.touch(o)
	d.see(o, message.KindOrderPart)
	if o.PartsDone == o.Parts {
		d.finish(o)
		if _, counted := d.Unpaid[o.CustomerID]; counted && o.Status == orderstatus.Rejected {
			d.Unpaid[o.CustomerID]-- // counted while pending, unpaid no more
		}
	}
	return nil
}

// reserve decides a part's lines all or nothing. A failing line is rejected
// with its reason, the others of the part rejected without one. Every line
// must be priced in the order's currency, that of its first reserved line.
// The home part (home) is refused too when the customer holds as many unpaid
// orders as the cap allows, with the reason on its first line. A reserved
// line takes its item's price, which the order's total adds up.
func (d *decider) reserve(o *Order, lines []message.Line, home bool) bool {
	failed, reason := -1, ""
	currency, priced := "", o.Currency != nil
	if priced {
		currency = *o.Currency
	}
	for _, l := range lines {
		item := d.Items[l.ItemID]
		switch {
		case item == nil || item.DeletedAt != nil:
			reason = message.ReasonItemNotFound
		case priced && item.Currency != currency:
			reason = message.ReasonCurrencyMismatch
		case item.MaxPerCustomer > 0 && d.Held[CustomerItem{o.CustomerID, l.ItemID}]+l.Quantity > item.MaxPerCustomer:
			reason = message.ReasonLimitExceeded
		case item.Stock < int64(l.Quantity):
			reason = message.ReasonOutOfStock
		default:
			if !priced {
				currency, priced = item.Currency, true
			}
			continue
		}
		failed = l.No
		break
	}
	if failed < 0 && home && d.overUnpaid(o.CustomerID) {
		failed, reason = lines[0].No, message.ReasonUnpaidLimit
	}
	var total int64
	if o.Total != nil {
		total = *o.Total
	}
	for _, l := range lines {
		line := o.Line(l.No)
		if failed >= 0 {
			line.Status = orderstatus.LineRejected
			if l.No == failed {
				line.Reason = &reason
			}
			continue
		}
		line.Status = orderstatus.Reserved
		item := d.Items[l.ItemID]
		price := item.Price
		line.UnitPrice = &price
		total += int64(l.Quantity) * price
		item.Stock -= int64(l.Quantity)
		d.Held[CustomerItem{o.CustomerID, l.ItemID}] += l.Quantity
		d.move(item, o.ID, MovementOrder, -int64(l.Quantity))
	}
	if failed < 0 {
		o.Total, o.Currency = &total, &currency
	}
	return failed < 0
}

// finish decides an order whose parts are all decided: confirmed if every line
// is reserved, else rejected with the reason of the first line that failed,
// releasing what its lines hold.
func (d *decider) finish(o *Order) {
	o.Status = orderstatus.Confirmed
	for _, l := range o.Lines {
		if l.Reason != nil {
			o.Status, o.Reason = orderstatus.Rejected, l.Reason
			break
		}
	}
	if o.Status == orderstatus.Rejected {
		d.d.Outbox = append(d.d.Outbox, o.Releases(d.Shards, d.Now)...)
		o.Total, o.Currency = nil, nil // owes nothing
	}
	now := d.Now
	o.ProcessedAt = &now
	d.changed[o] = true
	d.see(o, message.KindOrder)
}

// release gives back the stock this shard's lines of an order hold. A line
// released before is left alone, so a release applies once; the order is
// published either way.
func (d *decider) release(c *message.Command) error {
	o, ok := d.Orders[c.ID]
	if !ok {
		// A release is queued only in the transaction that rejects or
		// cancels its stored order.
		return fmt.Errorf("release of order %s: %w", c.ID, ErrUnknownOrder)
	}
	d.see(o, message.KindRelease)
	released := false
	for _, l := range c.Lines {
		line := o.Line(l.No)
		if line == nil || !orderstatus.Holds(line.Status) {
			continue
		}
		line.Status, line.Units = orderstatus.Released, nil
		released = true
		if item := d.Items[l.ItemID]; item != nil {
			item.Stock += int64(line.Quantity)
			d.move(item, o.ID, MovementRelease, int64(line.Quantity))
		}
	}
	if released {
		d.touch(o)
	}
	return nil
}

func (d *decider) stock(c *message.Command) {
	res := message.Result{Kind: c.Kind, ID: c.ID, ItemID: c.ItemID}
	item := d.Items[c.ItemID]
	if seen, ok := d.Applied[c.ID]; ok {
		if seen.Error != nil {
			res.Error = *seen.Error
		} else if item != nil {
			res.Item = itemMessage(item)
		}
		d.d.Results = append(d.d.Results, res)
		return
	}
	switch {
	case item == nil || item.DeletedAt != nil:
		res.Error = message.ErrCodeItemNotFound
	default:
		delta := int64(0)
		if c.Delta != nil {
			delta = *c.Delta
		} else {
			delta = *c.Set - item.Stock
		}
		if item.Stock+delta < 0 {
			res.Error = message.ErrCodeInsufficientStock
			break
		}
		if delta != 0 {
			item.Stock += delta
			d.move(item, c.ID, MovementAdjust, delta)
		}
		res.Item = itemMessage(item)
	}
	d.record(c, res.Error)
	d.d.Results = append(d.d.Results, res)
}

func (d *decider) deleteItem(c *message.Command) {
	res := message.Result{Kind: c.Kind, ID: c.ID, ItemID: c.ItemID}
	if seen, ok := d.Applied[c.ID]; ok {
		if seen.Error != nil {
			res.Error = *seen.Error
		}
		d.d.Results = append(d.d.Results, res)
		return
	}
	item := d.Items[c.ItemID]
	if item == nil || item.DeletedAt != nil {
		res.Error = message.ErrCodeItemNotFound
	} else {
		now := d.Now
		item.DeletedAt = &now
		item.UpdatedAt = now
		d.items[item.ID] = true
	}
	d.record(c, res.Error)
	d.d.Results = append(d.d.Results, res)
}

func (d *decider) move(item *items.Row, ref string, kind MovementKind, delta int64) {
	item.UpdatedAt = d.Now
	d.items[item.ID] = true
	d.d.Movements = append(d.d.Movements, Movement{ItemID: item.ID, Ref: ref, Kind: kind, Delta: delta, CreatedAt: d.Now})
}

func (d *decider) record(c *message.Command, errCode string) {
	a := AppliedCommand{ID: c.ID, ItemID: c.ItemID, Kind: c.Kind, AppliedAt: d.Now}
	if errCode != "" {
		a.Error = &errCode
	}
	d.d.Applied = append(d.d.Applied, a)
}

func itemMessage(r *items.Row) *message.Item {
	m := r.Message()
	return &m
}
