package orderstore

import (
	"fmt"
	"time"

	"github.com/orderq/orderq/shared/order"
	"github.com/orderq/orderq/shared/orderstatus"
)

// The rows of the schema's tables (shared/database/migrations), as this
// package alone reads and writes them.

// orderRow is a row of orders.
type orderRow struct {
	ID         string `gorm:"serializer:uuid"`
	CustomerID string
	// ListedCustomerID is CustomerID, nil while the order is rejected: the
	// customer index holds the orders a customer's list shows. A flash
	// sale's crowd is nearly all rejected orders; with no customer in their
	// index entries, those are added at the end of the index instead of on
	// random pages.
	ListedCustomerID *string
	// ItemID and Quantity are the line of a single-line order rejected at
	// its decision, kept here instead of in order_lines (see inline); nil
	// for every other order.
	ItemID        *int64
	Quantity      *int
	Status        orderstatus.Status
	Reason        *string
	DisplayStatus string // the order's Display, for lists to filter on
	Parts         int
	PartsDone     int
	Total         *int64
	Currency      *string
	// RefundRequired flags an order a payment arrived for that cannot pay it.
	RefundRequired bool
	CreatedAt      time.Time
	ProcessedAt    *time.Time
	UpdatedAt      time.Time
}

func (orderRow) TableName() string { return "orders" }

// lineRow is a row of order_lines. CustomerID repeats the order's, for the
// per-customer limit.
type lineRow struct {
	OrderID    string `gorm:"serializer:uuid"`
	LineNo     int
	ItemID     int64
	Quantity   int
	UnitPrice  *int64
	CustomerID string
	Status     orderstatus.LineStatus
	Reason     *string
	// Units holds the statuses of the line's units, a byte each
	// (orderstatus.UnitCode), while they differ; NULL while every unit is in
	// Status. A line of a thousand units costs a thousand bytes in its own
	// row, and moving them all is one row's update.
	Units []byte
}

func (lineRow) TableName() string { return "order_lines" }

// paymentRow is a row of payments: an event and what it did.
type paymentRow struct {
	EventID    string `gorm:"primaryKey"`
	OrderID    string `gorm:"serializer:uuid"`
	Source     order.Source
	Status     order.PaymentStatus
	Amount     *int64
	Currency   *string
	Outcome    order.Outcome
	ReceivedAt time.Time
}

func (paymentRow) TableName() string { return "payments" }

func (r *paymentRow) record() order.PaymentRecord { return order.PaymentRecord(*r) }

// movementRow is a row of stock_movements, the stock ledger.
type movementRow struct {
	ID        int64 `gorm:"primaryKey"`
	ItemID    int64
	Ref       string `gorm:"serializer:uuid"`
	Kind      order.MovementKind
	Delta     int64
	CreatedAt time.Time
}

func (movementRow) TableName() string { return "stock_movements" }

// itemCommandRow is a row of item_commands: a stock change or deletion
// applied, so that a redelivery is recognised even when the change was
// refused and moved no stock.
type itemCommandRow struct {
	ID        string `gorm:"serializer:uuid"`
	ItemID    int64
	Kind      string
	Error     *string
	AppliedAt time.Time
}

func (itemCommandRow) TableName() string { return "item_commands" }

// rows returns the rows that store o: its order row and the rows of its
// lines for order_lines. A single-line order rejected at its decision keeps
// its line in its order row instead: the line is rejected with the order's
// reason, never held stock and never changes again, so orderOf rebuilds it
// exactly. Under a flash sale's crowd nearly every order is one, and its
// line's row was half the cost of storing it.
func rows(o *order.Order) (orderRow, []lineRow) {
	r := orderRow{ID: o.ID, CustomerID: o.CustomerID, Status: o.Status, Reason: o.Reason, DisplayStatus: o.Display(),
		Parts: o.Parts, PartsDone: o.PartsDone, Total: o.Total, Currency: o.Currency, RefundRequired: o.RefundRequired,
		CreatedAt: o.CreatedAt, ProcessedAt: o.ProcessedAt, UpdatedAt: o.UpdatedAt}
	r.ListedCustomerID = listed(o)
	if l, ok := inline(o); ok {
		r.ItemID, r.Quantity = &l.ItemID, &l.Quantity
		return r, nil
	}
	lines := make([]lineRow, len(o.Lines))
	for i, l := range o.Lines {
		lines[i] = lineRow{OrderID: o.ID, LineNo: l.No, ItemID: l.ItemID, Quantity: l.Quantity, UnitPrice: l.UnitPrice,
			CustomerID: o.CustomerID, Status: l.Status, Reason: l.Reason, Units: unitCodes(l.Units)}
	}
	return r, lines
}

// unitCodes encodes the statuses of a line's units for lineRow.Units.
func unitCodes(units []orderstatus.LineStatus) []byte {
	if units == nil {
		return nil
	}
	codes := make([]byte, len(units))
	for i, u := range units {
		codes[i], _ = orderstatus.UnitCode(u)
	}
	return codes
}

// unitStatuses decodes lineRow.Units. A code no status has is an error: a
// newer program's status this one does not know.
func unitStatuses(codes []byte) ([]orderstatus.LineStatus, error) {
	if codes == nil {
		return nil, nil
	}
	units := make([]orderstatus.LineStatus, len(codes))
	for i, c := range codes {
		s, ok := orderstatus.UnitStatus(c)
		if !ok {
			return nil, fmt.Errorf("unit %d has status code %q, which no status has", i+1, c)
		}
		units[i] = s
	}
	return units, nil
}

// listed is the ListedCustomerID of o.
func listed(o *order.Order) *string {
	if o.Status == orderstatus.Rejected {
		return nil
	}
	c := o.CustomerID
	return &c
}

// inline returns the line a rejected single-line order keeps in its row,
// and whether o is such an order.
func inline(o *order.Order) (order.Line, bool) {
	if len(o.Lines) != 1 || o.Status != orderstatus.Rejected || o.Reason == nil {
		return order.Line{}, false
	}
	l := o.Lines[0]
	if l.Reason == nil || *l.Reason != *o.Reason {
		return order.Line{}, false
	}
	l.Reason = o.Reason
	if want := inlined(o, l.ItemID, l.Quantity); l.No != want.No || l.UnitPrice != nil || l.Status != want.Status || l.Units != nil {
		return order.Line{}, false
	}
	return l, true
}

// inlined is the line a rejected single-line order keeps in its row.
func inlined(o *order.Order, item int64, quantity int) order.Line {
	return order.Line{No: 0, ItemID: item, Quantity: quantity, Status: orderstatus.LineRejected, Reason: o.Reason}
}

// orderOf returns the order r and its lines (in line order) store.
func orderOf(r *orderRow, lines []lineRow) (*order.Order, error) {
	o := &order.Order{ID: r.ID, CustomerID: r.CustomerID, Status: r.Status, Reason: r.Reason, Parts: r.Parts,
		PartsDone: r.PartsDone, Total: r.Total, Currency: r.Currency, RefundRequired: r.RefundRequired,
		CreatedAt: r.CreatedAt, ProcessedAt: r.ProcessedAt, UpdatedAt: r.UpdatedAt, Lines: make([]order.Line, len(lines))}
	for i, l := range lines {
		units, err := unitStatuses(l.Units)
		if err != nil {
			return nil, fmt.Errorf("order %s, line %d: %w", r.ID, l.LineNo, err)
		}
		o.Lines[i] = order.Line{No: l.LineNo, ItemID: l.ItemID, Quantity: l.Quantity, UnitPrice: l.UnitPrice,
			Status: l.Status, Reason: l.Reason, Units: units}
	}
	if len(lines) == 0 && r.ItemID != nil && r.Quantity != nil {
		o.Lines = []order.Line{inlined(o, *r.ItemID, *r.Quantity)}
	}
	return o, nil
}
