// Package order reads orders and moves them through their lifecycle after the
// worker decided them: payment, cancellation, fulfilment, the payment
// timeout, and the deletion of rejected orders past their retention. Whatever gives stock back does so by queuing release commands
// through the outbox, so that each item's stock still has a single writer.
package order

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"gorm.io/gorm"
	"gorm.io/gorm/clause"

	"github.com/orderq/orderq/shared/database"
	"github.com/orderq/orderq/shared/message"
	"github.com/orderq/orderq/shared/orderstatus"
	"github.com/orderq/orderq/shared/outbox"
	"github.com/orderq/orderq/shared/shard"
)

// Sentinel errors.
var (
	ErrNotFound          = errors.New("order not found")
	ErrLineNotFound      = errors.New("order line not found")
	ErrInvalidTransition = errors.New("invalid status transition")
)

// Row is a row of orders.
type Row struct {
	ID         string `gorm:"serializer:uuid"`
	CustomerID string
	// ListedCustomerID is CustomerID, nil while the order is rejected: the
	// customer index holds the orders a customer's list shows (see Listed).
	ListedCustomerID *string
	// ItemID and Quantity are the line of a single-line order rejected at
	// its decision, kept here instead of in order_lines (see Inline); nil
	// for every other order.
	ItemID        *int64
	Quantity      *int
	Status        string
	Reason        *string
	DisplayStatus string
	Parts         int
	PartsDone     int
	// Total and Currency add up the reserved lines as parts decide them;
	// clients see them once the order is decided confirmed (see Message).
	Total          *int64
	Currency       *string
	RefundRequired bool
	CreatedAt      time.Time
	ProcessedAt    *time.Time
	UpdatedAt      time.Time
}

// TableName is the table of Row.
func (Row) TableName() string { return "orders" }

// BeforeCreate derives ListedCustomerID for whoever inserts the row.
func (r *Row) BeforeCreate(*gorm.DB) error {
	r.ListedCustomerID = Listed(r)
	return nil
}

// LineRow is a row of order_lines.
type LineRow struct {
	OrderID    string `gorm:"serializer:uuid"`
	LineNo     int
	ItemID     int64
	Quantity   int
	UnitPrice  *int64
	CustomerID string
	Status     string
	Reason     *string
}

// TableName is the table of LineRow.
func (LineRow) TableName() string { return "order_lines" }

// Message returns the order as clients see it; lines must be in line order.
func Message(r *Row, lines []LineRow) message.Order {
	o := message.Order{ID: r.ID, CustomerID: r.CustomerID, Status: r.Status, Reason: r.Reason,
		RefundRequired: r.RefundRequired, CreatedAt: r.CreatedAt, ProcessedAt: r.ProcessedAt, UpdatedAt: r.UpdatedAt,
		Lines: make([]message.OrderLine, len(lines))}
	// A pending cart's total is the sum of its parts decided so far, not a
	// price anyone owes yet.
	if r.Status != orderstatus.Pending {
		o.Total, o.Currency = r.Total, r.Currency
	}
	for i, l := range lines {
		o.Lines[i] = message.OrderLine{ItemID: l.ItemID, Quantity: l.Quantity, UnitPrice: l.UnitPrice, Status: l.Status, Reason: l.Reason}
	}
	if len(lines) == 1 {
		o.ItemID, o.Quantity = lines[0].ItemID, lines[0].Quantity
	}
	return o
}

// Inline returns the lines of a new order to store in order_lines. A
// single-line order rejected at its decision keeps its line in r instead: the
// line is rejected with the order's reason, never held stock and never
// changes again, so Lines rebuilds it exactly. Under a flash sale's crowd nearly every
// order is one, and its line's row was half the cost of storing it.
func Inline(r *Row, lines []LineRow) []LineRow {
	if len(lines) != 1 || r.Status != orderstatus.Rejected || r.Reason == nil {
		return lines
	}
	l := lines[0]
	if l.Reason == nil || *l.Reason != *r.Reason {
		return lines
	}
	if l.Reason = r.Reason; l != inlined(r, l.ItemID, l.Quantity) {
		return lines
	}
	r.ItemID, r.Quantity = &l.ItemID, &l.Quantity
	return nil
}

// Listed is the ListedCustomerID of an order in r's status: a customer's
// list holds the orders placed, not those rejected. A flash sale's crowd is
// nearly all rejected orders; with no customer in their index entries, those
// are added at the end of the index instead of on random pages.
func Listed(r *Row) *string {
	if r.Status == orderstatus.Rejected {
		return nil
	}
	c := r.CustomerID
	return &c
}

// Lines returns an order's lines: stored, as read from order_lines, or the
// line Inline kept in r.
func Lines(r *Row, stored []LineRow) []LineRow {
	if len(stored) > 0 || r.ItemID == nil || r.Quantity == nil {
		return stored
	}
	return []LineRow{inlined(r, *r.ItemID, *r.Quantity)}
}

// inlined is the line a rejected single-line order keeps in its row.
func inlined(r *Row, item int64, quantity int) LineRow {
	return LineRow{OrderID: r.ID, LineNo: 0, ItemID: item, Quantity: quantity, CustomerID: r.CustomerID,
		Status: orderstatus.LineRejected, Reason: r.Reason}
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

// Display returns the display code of an order and its lines.
func Display(status string, lines []LineRow) string {
	statuses := make([]string, len(lines))
	for i, l := range lines {
		statuses[i] = l.Status
	}
	return orderstatus.Code(status, statuses)
}

// Load returns an order with its lines.
func Load(ctx context.Context, db *gorm.DB, id string) (message.Order, error) {
	r, lines, err := load(db.WithContext(ctx), id, false)
	if err != nil {
		return message.Order{}, err
	}
	return Message(r, lines), nil
}

// LoadMany returns the orders with ids that exist, with their lines, by id.
func LoadMany(ctx context.Context, db *gorm.DB, ids []string) (map[string]message.Order, error) {
	var rows []Row
	if err := db.WithContext(ctx).Where("id IN ?", database.IDs(ids)).Find(&rows).Error; err != nil {
		return nil, fmt.Errorf("load orders: %w", err)
	}
	orders, err := messages(ctx, db, rows)
	if err != nil {
		return nil, err
	}
	found := make(map[string]message.Order, len(orders))
	for _, o := range orders {
		found[o.ID] = o
	}
	return found, nil
}

// messages returns rows as clients see them, in the same order, with their
// lines read in one query.
func messages(ctx context.Context, db *gorm.DB, rows []Row) ([]message.Order, error) {
	orders := make([]message.Order, len(rows))
	if len(rows) == 0 {
		return orders, nil
	}
	ids := make([]database.ID, len(rows))
	for i := range rows {
		ids[i] = database.ID(rows[i].ID)
	}
	var lines []LineRow
	if err := db.WithContext(ctx).Where("order_id IN ?", ids).Order("order_id, line_no").Find(&lines).Error; err != nil {
		return nil, fmt.Errorf("load order lines: %w", err)
	}
	byOrder := map[string][]LineRow{}
	for _, l := range lines {
		byOrder[l.OrderID] = append(byOrder[l.OrderID], l)
	}
	for i := range rows {
		orders[i] = Message(&rows[i], Lines(&rows[i], byOrder[rows[i].ID]))
	}
	return orders, nil
}

func load(tx *gorm.DB, id string, lock bool) (*Row, []LineRow, error) {
	// A fresh chain per statement: a gorm chain reused keeps its conditions.
	q := func() *gorm.DB {
		if lock {
			return tx.Clauses(clause.Locking{Strength: "UPDATE"})
		}
		return tx
	}
	var r Row
	err := q().Where("id = ?", database.ID(id)).Take(&r).Error
	if errors.Is(err, gorm.ErrRecordNotFound) {
		return nil, nil, ErrNotFound
	}
	if err != nil {
		return nil, nil, fmt.Errorf("load order: %w", err)
	}
	var lines []LineRow
	if err := q().Where("order_id = ?", database.ID(id)).Order("line_no").Find(&lines).Error; err != nil {
		return nil, nil, fmt.Errorf("load order lines: %w", err)
	}
	return &r, Lines(&r, lines), nil
}

// Page is a page of a customer's orders, newest first.
type Page struct {
	Orders []message.Order
	Next   *Cursor // where the next page starts, nil on the last
}

// Cursor is a position in a customer's orders: before an order's creation
// time, or, with ID, before that order among those created at the same time.
type Cursor struct {
	Before time.Time
	ID     string
}

// List returns up to limit orders of a customer after cursor (from the newest
// when nil), newest first, only those whose display code is display when set.
// Rejected orders are not listed (see Listed).
func List(ctx context.Context, db *gorm.DB, customer, display string, after *Cursor, limit int) (Page, error) {
	q := db.WithContext(ctx).Where("listed_customer_id = ?", customer)
	if display != "" {
		q = q.Where("display_status = ?", display)
	}
	switch {
	case after == nil:
	case after.ID == "":
		q = q.Where("created_at < ?", after.Before)
	default:
		q = q.Where("created_at < ? OR (created_at = ? AND id < ?)", after.Before, after.Before, database.ID(after.ID))
	}
	var rows []Row
	if err := q.Order("created_at DESC, id DESC").Limit(limit).Find(&rows).Error; err != nil {
		return Page{}, fmt.Errorf("list orders: %w", err)
	}
	orders, err := messages(ctx, db, rows)
	if err != nil {
		return Page{}, err
	}
	page := Page{Orders: orders}
	if len(rows) == limit {
		last := rows[len(rows)-1]
		page.Next = &Cursor{Before: last.CreatedAt, ID: last.ID}
	}
	return page, nil
}

// Move moves an order to status to, if the lifecycle allows it from where it
// is and may, when set, allows the caller to move the order as it stands
// (checked under the order's lock; its error is returned). Moving to canceled
// queues the release of the stock its lines hold.
func Move(ctx context.Context, db *gorm.DB, id, to string, shards int, may func(message.Order) error) (message.Order, error) {
	var out message.Order
	err := db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		r, lines, err := load(tx, id, true)
		if err != nil {
			return err
		}
		if may != nil {
			if err := may(Message(r, lines)); err != nil {
				return err
			}
		}
		if !orderstatus.CanMove(r.Status, to) {
			return fmt.Errorf("%w: order is %s, cannot become %s", ErrInvalidTransition, r.Status, to)
		}
		var reason *string
		if to == orderstatus.Canceled {
			c := message.ReasonCanceled
			reason = &c
		}
		if err := setStatus(tx, r, lines, to, reason, shards); err != nil {
			return err
		}
		if to == orderstatus.Paid {
			if err := recordManualPayment(tx, r); err != nil {
				return err
			}
		}
		out = Message(r, lines)
		return nil
	})
	return out, err
}

// setStatus writes an order's new status; canceling queues the releases.
func setStatus(tx *gorm.DB, r *Row, lines []LineRow, to string, reason *string, shards int) error {
	if to == orderstatus.Canceled {
		if err := outbox.Add(tx, shards, Releases(r.ID, lines, shards)...); err != nil {
			return err
		}
	}
	r.Status, r.UpdatedAt = to, UpdatedAfter(r.UpdatedAt, time.Now())
	if reason != nil {
		r.Reason = reason
	}
	r.DisplayStatus = Display(to, lines)
	err := tx.Model(&Row{}).Where("id = ?", database.ID(r.ID)).Updates(map[string]any{
		"status": r.Status, "reason": r.Reason, "display_status": r.DisplayStatus, "updated_at": r.UpdatedAt,
	}).Error
	if err != nil {
		return fmt.Errorf("update order: %w", err)
	}
	return nil
}

// MoveLine moves the line of item in an order to status to, if the lifecycle
// allows it.
func MoveLine(ctx context.Context, db *gorm.DB, id string, item int64, to string) (message.Order, error) {
	var out message.Order
	err := db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		r, lines, err := load(tx, id, true)
		if err != nil {
			return err
		}
		i := slices.IndexFunc(lines, func(l LineRow) bool { return l.ItemID == item })
		if i < 0 {
			return ErrLineNotFound
		}
		if !orderstatus.CanMoveLine(r.Status, lines[i].Status, to) {
			return fmt.Errorf("%w: order is %s and the line %s, the line cannot become %s",
				ErrInvalidTransition, r.Status, lines[i].Status, to)
		}
		lines[i].Status = to
		if err := tx.Model(&LineRow{}).Where("order_id = ? AND line_no = ?", database.ID(id), lines[i].LineNo).
			Update("status", to).Error; err != nil {
			return fmt.Errorf("update order line: %w", err)
		}
		r.DisplayStatus, r.UpdatedAt = Display(r.Status, lines), UpdatedAfter(r.UpdatedAt, time.Now())
		if err := tx.Model(&Row{}).Where("id = ?", database.ID(id)).Updates(map[string]any{
			"display_status": r.DisplayStatus, "updated_at": r.UpdatedAt,
		}).Error; err != nil {
			return fmt.Errorf("update order: %w", err)
		}
		out = Message(r, lines)
		return nil
	})
	return out, err
}

// ExpireUnpaid cancels up to limit orders confirmed before cutoff and still
// unpaid, queuing the release of their stock, and returns them. Each is
// canceled at most once: the status changes in the same transaction as the
// releases are queued, and rows another process is expiring are skipped.
func ExpireUnpaid(ctx context.Context, db *gorm.DB, cutoff time.Time, limit, shards int) ([]message.Order, error) {
	var out []message.Order
	err := db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		var rows []Row
		err := tx.Clauses(clause.Locking{Strength: "UPDATE", Options: "SKIP LOCKED"}).
			Where("status IN ? AND processed_at < ?", []string{orderstatus.Confirmed, orderstatus.AwaitingPayment}, cutoff).
			Order("processed_at").Limit(limit).Find(&rows).Error
		if err != nil || len(rows) == 0 {
			return err
		}
		reason := message.ReasonPaymentTimeout
		for i := range rows {
			var lines []LineRow
			if err := tx.Where("order_id = ?", database.ID(rows[i].ID)).Order("line_no").Find(&lines).Error; err != nil {
				return fmt.Errorf("load order lines: %w", err)
			}
			if err := setStatus(tx, &rows[i], lines, orderstatus.Canceled, &reason, shards); err != nil {
				return err
			}
			out = append(out, Message(&rows[i], lines))
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("expire unpaid orders: %w", err)
	}
	return out, nil
}

// Releases returns the commands that give back the stock lines hold, one per
// shard, each to be applied by that shard's worker.
func Releases(orderID string, lines []LineRow, shards int) []message.Command {
	byShard := map[int][]message.Line{}
	var order []int
	for _, l := range lines {
		if !orderstatus.Holds(l.Status) {
			continue
		}
		s := shard.Of(l.ItemID, shards)
		if _, ok := byShard[s]; !ok {
			order = append(order, s)
		}
		byShard[s] = append(byShard[s], message.Line{No: l.LineNo, ItemID: l.ItemID, Quantity: l.Quantity})
	}
	cmds := make([]message.Command, 0, len(order))
	for _, s := range order {
		cmds = append(cmds, message.Command{Kind: message.KindRelease, ID: orderID,
			AcceptedAt: time.Now().UTC(), Lines: byShard[s]})
	}
	return cmds
}
