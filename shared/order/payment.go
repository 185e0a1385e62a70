package order

import (
	"context"
	"errors"
	"fmt"
	"time"

	"gorm.io/gorm"

	"github.com/orderq/orderq/shared/database"
	"github.com/orderq/orderq/shared/message"
	"github.com/orderq/orderq/shared/orderstatus"
)

// Source says where a payment event came from.
type Source string

// Sources of payment events.
const (
	SourceWebhook Source = "webhook" // the payment provider's signed webhook
	SourceManual  Source = "manual"  // the back office's move of an order to paid
)

// PaymentStatus is what the provider says of a payment.
type PaymentStatus string

// Payment statuses.
const (
	PaymentSucceeded PaymentStatus = "succeeded"
	PaymentFailed    PaymentStatus = "failed"
)

// Outcome is what a payment event did.
type Outcome string

// Outcomes of payment events.
const (
	// OutcomePaid: the event paid the order.
	OutcomePaid Outcome = "paid"
	// OutcomeRecorded: a failed payment, stored; the order stays as it was
	// (payable, if it was).
	OutcomeRecorded Outcome = "recorded"
	// OutcomeRefundRequired: money arrived for an order it cannot pay (it was
	// canceled, rejected or paid already); the order is flagged
	// refund_required and its status, and its stock, stay as they are.
	OutcomeRefundRequired Outcome = "refund_required"
	// OutcomeAmountMismatch: the amount or currency is not the order's total;
	// stored, the order unchanged.
	OutcomeAmountMismatch Outcome = "amount_mismatch"
)

// ErrPending is returned by Pay for an order whose parts are still being
// decided: it has no total to pay yet. Nothing is stored, so the provider's
// retry is applied once the order is decided.
var ErrPending = errors.New("order is pending")

// Payment is a payment event as the provider reports it.
type Payment struct {
	EventID  string // the provider's id of the event, unique
	OrderID  string
	Status   PaymentStatus
	Amount   int64 // minor units of Currency
	Currency string
}

// PaymentRow is a row of payments: an event and what it did.
type PaymentRow struct {
	EventID string `gorm:"primaryKey"`
	OrderID string `gorm:"serializer:uuid"`
	Source  Source
	Status  PaymentStatus
	// Amount and Currency are nil only for a manual payment of an order
	// without a total (decided before orders had one).
	Amount     *int64
	Currency   *string
	Outcome    Outcome
	ReceivedAt time.Time
}

// TableName is the table of PaymentRow.
func (PaymentRow) TableName() string { return "payments" }

// Receipt is what Pay did with an event.
type Receipt struct {
	Payment PaymentRow
	Order   message.Order // as it stands after the event
	// Duplicate: the event was applied before; Payment is what it did then,
	// and nothing changed now.
	Duplicate bool
}

// errSeen is a payment event that is stored already.
var errSeen = errors.New("payment event applied before")

// Pay applies a payment event from the provider, in one transaction that
// stores it: an event id seen before returns the stored outcome and changes
// nothing. Otherwise, under the order's lock, an event whose amount or
// currency is not the order's total is amount_mismatch; a failure is
// recorded; a success pays a payable order and flags any other
// refund_required (its stock is never taken back from anyone: canceled and
// rejected orders gave theirs back). An unknown order is ErrNotFound, a
// pending one ErrPending, and neither stores anything.
func Pay(ctx context.Context, db *gorm.DB, p Payment) (Receipt, error) {
	var rc Receipt
	err := db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		var seen PaymentRow
		switch err := tx.Where("event_id = ?", p.EventID).Take(&seen).Error; {
		case err == nil:
			return errSeen
		case !errors.Is(err, gorm.ErrRecordNotFound):
			return fmt.Errorf("look up payment: %w", err)
		}
		r, lines, err := load(tx, p.OrderID, true)
		if err != nil {
			return err
		}
		if r.Status == orderstatus.Pending {
			return ErrPending
		}
		row := PaymentRow{EventID: p.EventID, OrderID: p.OrderID, Source: SourceWebhook, Status: p.Status,
			Amount: &p.Amount, Currency: &p.Currency, Outcome: decidePayment(r, p), ReceivedAt: now()}
		switch row.Outcome {
		case OutcomePaid:
			// shards is only read to cancel.
			if err := setStatus(tx, r, lines, orderstatus.Paid, nil, 0); err != nil {
				return err
			}
		case OutcomeRefundRequired:
			if err := flagRefund(tx, r); err != nil {
				return err
			}
		}
		// Two deliveries of one event at once both miss it above; the
		// primary key lets one in, and the other returns what that one did.
		if err := tx.Create(&row).Error; errors.Is(err, gorm.ErrDuplicatedKey) {
			return errSeen
		} else if err != nil {
			return fmt.Errorf("store payment: %w", err)
		}
		rc = Receipt{Payment: row, Order: Message(r, lines)}
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

// decidePayment is the outcome of an event for an order that is not pending.
func decidePayment(r *Row, p Payment) Outcome {
	switch {
	case r.Status == orderstatus.Rejected:
		// Never confirmed, it never had a total to compare with and owes
		// nothing: a success is money to give back, whatever the amount.
		if p.Status == PaymentSucceeded {
			return OutcomeRefundRequired
		}
		return OutcomeRecorded
	case r.Total == nil || r.Currency == nil || p.Amount != *r.Total || p.Currency != *r.Currency:
		return OutcomeAmountMismatch
	case p.Status != PaymentSucceeded:
		return OutcomeRecorded
	case orderstatus.Payable(r.Status):
		return OutcomePaid
	default:
		return OutcomeRefundRequired
	}
}

func flagRefund(tx *gorm.DB, r *Row) error {
	r.RefundRequired, r.UpdatedAt = true, UpdatedAfter(r.UpdatedAt, now())
	err := tx.Model(&Row{}).Where("id = ?", database.ID(r.ID)).
		Updates(map[string]any{"refund_required": true, "updated_at": r.UpdatedAt}).Error
	if err != nil {
		return fmt.Errorf("flag refund: %w", err)
	}
	return nil
}

// seenPayment returns what a stored event did, with its order as it stands.
func seenPayment(ctx context.Context, db *gorm.DB, eventID string) (Receipt, error) {
	var row PaymentRow
	if err := db.WithContext(ctx).Where("event_id = ?", eventID).Take(&row).Error; err != nil {
		return Receipt{}, fmt.Errorf("read payment %s: %w", eventID, err)
	}
	o, err := Load(ctx, db, row.OrderID)
	if err != nil {
		return Receipt{}, err
	}
	return Receipt{Payment: row, Order: o, Duplicate: true}, nil
}

// recordManualPayment stores the back office's payment of r, in the
// transaction that moves it to paid. An order is paid once, so its order id
// names the event.
func recordManualPayment(tx *gorm.DB, r *Row) error {
	row := PaymentRow{EventID: "manual:" + r.ID, OrderID: r.ID, Source: SourceManual, Status: PaymentSucceeded,
		Amount: r.Total, Currency: r.Currency, Outcome: OutcomePaid, ReceivedAt: r.UpdatedAt}
	if err := tx.Create(&row).Error; err != nil {
		return fmt.Errorf("store manual payment: %w", err)
	}
	return nil
}

// Refund is a payment event that flagged its order refund_required, with the
// order as it stands (nil if it is no longer stored).
type Refund struct {
	Payment PaymentRow
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
	q := db.WithContext(ctx).Where("outcome = ?", OutcomeRefundRequired)
	if after != nil {
		q = q.Where("received_at > ? OR (received_at = ? AND event_id > ?)", after.After, after.After, after.EventID)
	}
	var rows []PaymentRow
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
		page.Refunds[i].Payment = rows[i]
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

// now is the time stored with a change, at the database's precision.
func now() time.Time { return time.Now().UTC().Truncate(time.Microsecond) }
