package orderstore

import (
	"context"
	"errors"
	"fmt"
	"time"

	"gorm.io/gorm"

	"github.com/orderq/orderq/shared/message"
	"github.com/orderq/orderq/shared/order"
)

// Receipt is what Pay did with an event.
type Receipt struct {
	Payment order.PaymentRecord
	Order   message.Order // as it stands after the event
	// Duplicate: the event was applied before; Payment is what it did then,
	// and nothing changed now.
	Duplicate bool
}

// errSeen is a payment event that is stored already.
var errSeen = errors.New("payment event applied before")

// Pay applies a payment event from the provider (order.Order.Pay), in one
// transaction that stores it, under the order's lock: an event id seen
// before returns the stored outcome and changes nothing. An unknown order is
// order.ErrNotFound, a pending one order.ErrPending, and neither stores
// anything.
func Pay(ctx context.Context, db *gorm.DB, p order.Payment) (Receipt, error) {
	var rc Receipt
	err := db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		var seen paymentRow
		switch err := tx.Where("event_id = ?", p.EventID).Take(&seen).Error; {
		case err == nil:
			return errSeen
		case !errors.Is(err, gorm.ErrRecordNotFound):
			return fmt.Errorf("look up payment: %w", err)
		}
		s, err := load(tx, p.OrderID, true)
		if err != nil {
			return err
		}
		o, before := s.Order, s.Clone()
		rec, err := o.Pay(p, now())
		if err != nil {
			return err
		}
		rc.Order = s.message()
		if o.UpdatedAt != before.UpdatedAt {
			if err := update(tx, before, o); err != nil {
				return err
			}
			rc.Order = o.Message()
		}
		// Two deliveries of one event at once both miss it above; the
		// primary key lets one in, and the other returns what that one did.
		if err := insertPayment(tx, rec); err != nil {
			return err
		}
		rc.Payment = rec
		return nil
	})
	if errors.Is(err, errSeen) {
		return seenPayment(ctx, db, p.EventID)
	}
	if err != nil {
		return Receipt{}, fmt.Errorf("apply payment %s: %w", p.EventID, err)
	}
	return rc, nil
}

// insertPayment stores a payment event; one stored already is errSeen.
func insertPayment(tx *gorm.DB, rec order.PaymentRecord) error {
	row := paymentRow(rec)
	if err := tx.Create(&row).Error; errors.Is(err, gorm.ErrDuplicatedKey) {
		return errSeen
	} else if err != nil {
		return fmt.Errorf("store payment: %w", err)
	}
	return nil
}

// seenPayment returns what a stored event did, with its order as it stands.
func seenPayment(ctx context.Context, db *gorm.DB, eventID string) (Receipt, error) {
	var row paymentRow
	if err := db.WithContext(ctx).Where("event_id = ?", eventID).Take(&row).Error; err != nil {
		return Receipt{}, fmt.Errorf("read payment %s: %w", eventID, err)
	}
	o, err := Load(ctx, db, row.OrderID)
	if err != nil {
		return Receipt{}, err
	}
	return Receipt{Payment: row.record(), Order: o, Duplicate: true}, nil
}

// Refund is a payment event that flagged its order refund_required, with the
// order as it stands (nil if it is no longer stored).
type Refund struct {
	Payment order.PaymentRecord
	Order   *message.Order
}

// RefundCursor is a position in the refunds: after the event received at
// After with id EventID.
type RefundCursor struct {
	After   time.Time
	EventID string
}

// RefundPage is a page of refunds, oldest first.
type RefundPage struct {
	Refunds []Refund
	Next    *RefundCursor // where the next page starts, nil on the last
}

// Refunds returns up to limit events that flagged their order
// refund_required, after cursor (from the oldest when nil), oldest first.
func Refunds(ctx context.Context, db *gorm.DB, after *RefundCursor, limit int) (RefundPage, error) {
	q := db.WithContext(ctx).Where("outcome = ?", order.OutcomeRefundRequired)
	if after != nil {
		q = q.Where("received_at > ? OR (received_at = ? AND event_id > ?)", after.After, after.After, after.EventID)
	}
	var rows []paymentRow
	if err := q.Order("received_at, event_id").Limit(limit).Find(&rows).Error; err != nil {
		return RefundPage{}, fmt.Errorf("list refunds: %w", err)
	}
	ids := make([]string, len(rows))
	for i := range rows {
		ids[i] = rows[i].OrderID
	}
	var orders map[string]message.Order
	if len(ids) > 0 {
		var err error
		if orders, err = LoadMany(ctx, db, ids); err != nil {
			return RefundPage{}, err
		}
	}
	page := RefundPage{Refunds: make([]Refund, len(rows))}
	for i := range rows {
		page.Refunds[i].Payment = rows[i].record()
		if o, ok := orders[rows[i].OrderID]; ok {
			page.Refunds[i].Order = &o
		}
	}
	if len(rows) == limit {
		last := rows[len(rows)-1]
		page.Next = &RefundCursor{After: last.ReceivedAt, EventID: last.EventID}
	}
	return page, nil
}
