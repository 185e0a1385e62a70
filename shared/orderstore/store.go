// Package orderstore keeps orders in MySQL: it maps package order's orders to
// the rows of the schema and back, and holds every query of orders, their
// lines, payments and the stock ledger that the gateway and the worker run.
// No other package reads or writes those tables; SQL readers outside the
// programs read the report_ views (docs/api.md).
//
// Every change of a stored order is made under its row's lock (SELECT … FOR
// UPDATE) and stamped with an updated_at later than the one it had (see
// order.UpdatedAfter).
package orderstore

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
	"github.com/orderq/orderq/shared/order"
	"github.com/orderq/orderq/shared/orderstatus"
	"github.com/orderq/orderq/shared/outbox"
)

// Load returns an order with its lines, or order.ErrNotFound.
func Load(ctx context.Context, db *gorm.DB, id string) (message.Order, error) {
	o, err := load(db.WithContext(ctx), id, false)
	if err != nil {
		return message.Order{}, err
	}
	return o.message(), nil
}

// stored is an order as read, with the display code stored with it.
type stored struct {
	*order.Order
	display string
}

// message is the order as clients see it: with the display code it was
// stored with, which lists filter on.
func (s stored) message() message.Order {
	m := s.Message()
	m.DisplayStatus.Code = s.display
	return m
}

// LoadMany returns the orders with ids that exist, with their lines, by id.
func LoadMany(ctx context.Context, db *gorm.DB, ids []string) (map[string]message.Order, error) {
	var rows []orderRow
	if err := db.WithContext(ctx).Where("id IN ?", database.IDs(ids)).Find(&rows).Error; err != nil {
		return nil, fmt.Errorf("load orders: %w", err)
	}
	orders, err := withLines(db.WithContext(ctx), rows, false)
	if err != nil {
		return nil, err
	}
	found := make(map[string]message.Order, len(orders))
	for _, o := range orders {
		found[o.ID] = o.message()
	}
	return found, nil
}

// withLines returns the orders rows store, in the same order, with their
// lines read in one query (and locked, with lock).
func withLines(tx *gorm.DB, rows []orderRow, lock bool) ([]stored, error) {
	orders := make([]stored, len(rows))
	if len(rows) == 0 {
		return orders, nil
	}
	ids := make([]database.ID, len(rows))
	for i := range rows {
		ids[i] = database.ID(rows[i].ID)
	}
	q := tx
	if lock {
		q = q.Clauses(clause.Locking{Strength: "UPDATE"})
	}
	var lines []lineRow
	if err := q.Where("order_id IN ?", ids).Order("order_id, line_no").Find(&lines).Error; err != nil {
		return nil, fmt.Errorf("load order lines: %w", err)
	}
	byOrder := map[string][]lineRow{}
	for _, l := range lines {
		byOrder[l.OrderID] = append(byOrder[l.OrderID], l)
	}
	for i := range rows {
		o, err := orderOf(&rows[i], byOrder[rows[i].ID])
		if err != nil {
			return nil, fmt.Errorf("load order lines: %w", err)
		}
		orders[i] = stored{o, rows[i].DisplayStatus}
	}
	return orders, nil
}

// load reads an order and its lines, locked with lock.
func load(tx *gorm.DB, id string, lock bool) (stored, error) {
	q := tx
	if lock {
		q = q.Clauses(clause.Locking{Strength: "UPDATE"})
	}
	var r orderRow
	err := q.Where("id = ?", database.ID(id)).Take(&r).Error
	if errors.Is(err, gorm.ErrRecordNotFound) {
		return stored{}, order.ErrNotFound
	}
	if err != nil {
		return stored{}, fmt.Errorf("load order: %w", err)
	}
	orders, err := withLines(tx, []orderRow{r}, lock)
	if err != nil {
		return stored{}, err
	}
	return orders[0], nil
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
// Rejected orders are not listed: a customer's list holds the orders placed.
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
	var rows []orderRow
	if err := q.Order("created_at DESC, id DESC").Limit(limit).Find(&rows).Error; err != nil {
		return Page{}, fmt.Errorf("list orders: %w", err)
	}
	orders, err := withLines(db.WithContext(ctx), rows, false)
	if err != nil {
		return Page{}, err
	}
	page := Page{Orders: make([]message.Order, len(orders))}
	for i, o := range orders {
		page.Orders[i] = o.message()
	}
	if len(rows) == limit {
		last := rows[len(rows)-1]
		page.Next = &Cursor{Before: last.CreatedAt, ID: last.ID}
	}
	return page, nil
}

// Move moves an order to status to, if the lifecycle allows it from where it
// is and may, when set, allows the caller to move the order as it stands
// (checked under the order's lock; its error is returned). Moving to canceled
// queues the release of the stock its lines hold; moving to paid records the
// back office's payment.
func Move(ctx context.Context, db *gorm.DB, id string, to orderstatus.Status, shards int, may func(message.Order) error) (message.Order, error) {
	return change(ctx, db, id, func(tx *gorm.DB, s stored) error {
		if may != nil {
			if err := may(s.message()); err != nil {
				return err
			}
		}
		if err := move(tx, s.Order, to, message.ReasonCanceled, shards); err != nil {
			return err
		}
		if to == orderstatus.Paid {
			return insertPayment(tx, s.ManualPayment())
		}
		return nil
	})
}

// change runs f on the stored order id, locked, in one transaction, and
// returns the order as f left it.
func change(ctx context.Context, db *gorm.DB, id string, f func(tx *gorm.DB, s stored) error) (message.Order, error) {
	var out message.Order
	err := db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		s, err := load(tx, id, true)
		if err != nil {
			return err
		}
		if err := f(tx, s); err != nil {
			return err
		}
		out = s.Message()
		return nil
	})
	return out, err
}

// move moves a stored order, locked, to status to (a cancellation with
// reason), queues the releases of its stock and writes the change.
func move(tx *gorm.DB, o *order.Order, to orderstatus.Status, reason string, shards int) error {
	before := o.Clone()
	releases, err := o.Move(to, reason, shards, now())
	if err != nil {
		return err
	}
	if err := outbox.Add(tx, shards, releases...); err != nil {
		return err
	}
	return update(tx, before, o)
}

// MoveLine moves every unit of the line of item in an order to status to, if
// the lifecycle allows it for each.
func MoveLine(ctx context.Context, db *gorm.DB, id string, item int64, to orderstatus.LineStatus) (message.Order, error) {
	return change(ctx, db, id, func(tx *gorm.DB, s stored) error {
		before := s.Clone()
		if _, err := s.MoveLine(item, to, now()); err != nil {
			return err
		}
		return update(tx, before, s.Order)
	})
}

// MoveUnits moves units of an order to status to, all or none (see
// order.MoveUnits).
func MoveUnits(ctx context.Context, db *gorm.DB, id string, to orderstatus.LineStatus, units []order.UnitRef) (message.Order, error) {
	return change(ctx, db, id, func(tx *gorm.DB, s stored) error {
		before := s.Clone()
		if err := s.MoveUnits(to, units, now()); err != nil {
			return err
		}
		return update(tx, before, s.Order)
	})
}

// ExpireUnpaid cancels up to limit orders confirmed before cutoff and still
// unpaid, queuing the release of their stock, and returns them. Each is
// canceled at most once: the status changes in the same transaction as the
// releases are queued, and rows another process is expiring are skipped.
func ExpireUnpaid(ctx context.Context, db *gorm.DB, cutoff time.Time, limit, shards int) ([]message.Order, error) {
	var out []message.Order
	err := db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		var rows []orderRow
		err := tx.Clauses(clause.Locking{Strength: "UPDATE", Options: "SKIP LOCKED"}).
			Where("status IN ? AND processed_at < ?", []orderstatus.Status{orderstatus.Confirmed, orderstatus.AwaitingPayment}, cutoff).
			Order("processed_at").Limit(limit).Find(&rows).Error
		if err != nil || len(rows) == 0 {
			return err
		}
		orders, err := withLines(tx, rows, true)
		if err != nil {
			return err
		}
		for _, s := range orders {
			if err := move(tx, s.Order, orderstatus.Canceled, message.ReasonPaymentTimeout, shards); err != nil {
				return err
			}
			out = append(out, s.Message())
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("expire unpaid orders: %w", err)
	}
	return out, nil
}

// Pending counts the stored orders still pending: carts whose parts some
// shard has yet to decide.
func Pending(tx *gorm.DB) (int64, error) {
	var n int64
	if err := tx.Model(&orderRow{}).Where("status = ?", orderstatus.Pending).Count(&n).Error; err != nil {
		return 0, fmt.Errorf("count pending orders: %w", err)
	}
	return n, nil
}

// Insert stores new orders, each with its lines. With assumeNew an order
// whose id is stored already is no error of the statement: Insert then
// returns ErrAppliedBefore, having written part of the orders, and tx is to
// be rolled back.
func Insert(tx *gorm.DB, orders []*order.Order, assumeNew bool) error {
	if len(orders) == 0 {
		return nil
	}
	ors := make([]orderRow, 0, len(orders))
	var lines []lineRow
	for _, o := range orders {
		r, ls := rows(o)
		ors = append(ors, r)
		lines = append(lines, ls...)
	}
	q := tx
	if assumeNew {
		q = q.Clauses(clause.OnConflict{DoNothing: true})
	}
	res := q.Create(&ors)
	if res.Error != nil {
		return fmt.Errorf("insert orders: %w", res.Error)
	}
	if res.RowsAffected != int64(len(ors)) {
		return ErrAppliedBefore
	}
	if len(lines) > 0 {
		if err := tx.Create(&lines).Error; err != nil {
			return fmt.Errorf("insert order lines: %w", err)
		}
	}
	return nil
}

// update writes the changes of a stored order from before to o: its row, and
// each line that changed.
func update(tx *gorm.DB, before, o *order.Order) error {
	for _, l := range o.Lines {
		if b := before.Line(l.No); b != nil && b.Status == l.Status && equal(b.Reason, l.Reason) &&
			equal(b.UnitPrice, l.UnitPrice) && slices.Equal(b.Units, l.Units) {
			continue
		}
		err := tx.Model(&lineRow{}).Where("order_id = ? AND line_no = ?", database.ID(o.ID), l.No).
			Updates(map[string]any{"status": l.Status, "reason": l.Reason, "unit_price": l.UnitPrice,
				"units": unitCodes(l.Units)}).Error
		if err != nil {
			return fmt.Errorf("update order line: %w", err)
		}
	}
	r, _ := rows(o)
	err := tx.Model(&orderRow{}).Where("id = ?", database.ID(o.ID)).Updates(map[string]any{
		"status": r.Status, "listed_customer_id": r.ListedCustomerID, "reason": r.Reason,
		"display_status": r.DisplayStatus, "parts_done": r.PartsDone, "total": r.Total, "currency": r.Currency,
		"refund_required": r.RefundRequired, "processed_at": r.ProcessedAt, "updated_at": r.UpdatedAt,
	}).Error
	if err != nil {
		return fmt.Errorf("update order: %w", err)
	}
	return nil
}

func equal[T comparable](a, b *T) bool { return a == b || a != nil && b != nil && *a == *b }

// now is the time stored with a change, at the database's precision.
func now() time.Time { return time.Now().UTC().Truncate(time.Microsecond) }
