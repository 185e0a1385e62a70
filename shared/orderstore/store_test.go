package orderstore

import (
	"context"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/google/uuid"
	"gorm.io/gorm"

	"github.com/orderq/orderq/shared/database"
	"github.com/orderq/orderq/shared/order"
	"github.com/orderq/orderq/shared/orderstatus"
	"github.com/orderq/orderq/shared/testenv"
)

func openDB(t *testing.T) *gorm.DB {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	db, err := database.Open(ctx, testenv.Database(t), slog.New(slog.NewTextHandler(io.Discard, nil)), database.Options{MaxOpenConns: 8})
	if err != nil {
		t.Fatalf("open test database: %v", err)
	}
	t.Cleanup(func() {
		if err := database.Close(db); err != nil {
			t.Errorf("close test database: %v", err)
		}
	})
	return db
}

// newID returns a new order id: time-ordered, as the gateway's.
func newID(t *testing.T) string {
	t.Helper()
	id, err := uuid.NewV7()
	if err != nil {
		t.Fatalf("new id: %v", err)
	}
	return id.String()
}

// newOrder returns a single-line order of 2 units of item 7 at 1500 IDR
// each (total 3000 IDR) in status, decided now, as the worker and the
// lifecycle leave it: a pending order has no decision yet, rejected orders
// have no total and never held anything, canceled ones released their line.
func newOrder(t *testing.T, status orderstatus.Status, reason *string) *order.Order {
	t.Helper()
	now := time.Now().UTC().Truncate(time.Microsecond)
	price, total, currency := int64(1500), int64(3000), "IDR"
	o := &order.Order{ID: newID(t), CustomerID: "c-1", Status: status, Reason: reason, Parts: 1, PartsDone: 1,
		Total: &total, Currency: &currency, CreatedAt: now, ProcessedAt: &now, UpdatedAt: now,
		Lines: []order.Line{{No: 0, ItemID: 7, Quantity: 2, UnitPrice: &price, Status: orderstatus.Reserved}}}
	l := &o.Lines[0]
	switch status {
	case orderstatus.Pending:
		o.Total, o.Currency, o.ProcessedAt, o.PartsDone = nil, nil, nil, 0
		l.Status = orderstatus.LinePending
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

// rejectedCart returns a cart of two lines rejected by the part of its
// second line (out of stock): its first line never held stock either.
func rejectedCart(t *testing.T) *order.Order {
	t.Helper()
	now := time.Now().UTC().Truncate(time.Microsecond)
	reason := "out_of_stock"
	return &order.Order{ID: newID(t), CustomerID: "c-1", Status: orderstatus.Rejected, Reason: &reason, Parts: 2, PartsDone: 2,
		CreatedAt: now, ProcessedAt: &now, UpdatedAt: now, Lines: []order.Line{
			{No: 0, ItemID: 7, Quantity: 2, Status: orderstatus.LineRejected},
			{No: 1, ItemID: 8, Quantity: 1, Status: orderstatus.LineRejected, Reason: &reason},
		}}
}

// aged moves o's creation, decision and last change back by d.
func aged(o *order.Order, d time.Duration) *order.Order {
	o.CreatedAt = o.CreatedAt.Add(-d)
	o.UpdatedAt = o.UpdatedAt.Add(-d)
	if o.ProcessedAt != nil {
		at := o.ProcessedAt.Add(-d)
		o.ProcessedAt = &at
	}
	return o
}

// insert stores new orders, in one transaction.
func insert(t *testing.T, db *gorm.DB, orders ...*order.Order) {
	t.Helper()
	err := db.WithContext(t.Context()).Transaction(func(tx *gorm.DB) error {
		return Insert(tx, orders, false)
	})
	if err != nil {
		t.Fatalf("store orders: %v", err)
	}
}

// storeOrder stores newOrder(status, reason) and returns it.
func storeOrder(t *testing.T, db *gorm.DB, status orderstatus.Status, reason *string) *order.Order {
	t.Helper()
	o := newOrder(t, status, reason)
	insert(t, db, o)
	return o
}

// held is what the database holds of an order and its payments.
type held struct {
	Row      orderRow
	Lines    []lineRow    // its rows in order_lines
	Order    *order.Order // as read: with the line its row keeps, if it does
	Payments []paymentRow
	Outbox   int64
}

func loadStored(t *testing.T, db *gorm.DB, id string) held {
	t.Helper()
	var s held
	q := db.WithContext(t.Context())
	if err := q.Where("id = ?", database.ID(id)).Take(&s.Row).Error; err != nil {
		t.Fatalf("load order %s: %v", id, err)
	}
	if err := q.Where("order_id = ?", database.ID(id)).Order("line_no").Find(&s.Lines).Error; err != nil {
		t.Fatalf("load lines: %v", err)
	}
	o, err := orderOf(&s.Row, s.Lines)
	if err != nil {
		t.Fatalf("read order %s: %v", id, err)
	}
	s.Order = o
	if err := q.Where("order_id = ?", database.ID(id)).Order("received_at, event_id").Find(&s.Payments).Error; err != nil {
		t.Fatalf("load payments: %v", err)
	}
	if err := q.Raw("SELECT COUNT(*) FROM outbox").Scan(&s.Outbox).Error; err != nil {
		t.Fatalf("count outbox: %v", err)
	}
	return s
}

// lineStatuses are the statuses of lines, in their order.
func lineStatuses(lines []order.Line) []orderstatus.LineStatus {
	statuses := make([]orderstatus.LineStatus, len(lines))
	for i, l := range lines {
		statuses[i] = l.Status
	}
	return statuses
}
