package order

import (
	"errors"
	"time"

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

// PaymentRecord is a payment event as stored: what it said and what it did.
type PaymentRecord struct {
	EventID string
	OrderID string
	Source  Source
	Status  PaymentStatus
	// Amount and Currency are nil only for a manual payment of an order
	// without a total (decided before orders had one).
	Amount     *int64
	Currency   *string
	Outcome    Outcome
	ReceivedAt time.Time
}

// Pay applies a payment event received at now to the order, which is not
// pending (ErrPending): an event whose amount or currency is not the
// order's total is amount_mismatch; a failure is recorded; a success pays a
// payable order and flags any other refund_required (its stock is never
// taken back from anyone: canceled and rejected orders gave theirs back).
// It returns the event's record.
func (o *Order) Pay(p Payment, now time.Time) (PaymentRecord, error) {
	if o.Status == orderstatus.Pending {
		return PaymentRecord{}, ErrPending
	}
	rec := PaymentRecord{EventID: p.EventID, OrderID: o.ID, Source: SourceWebhook, Status: p.Status,
		Amount: &p.Amount, Currency: &p.Currency, Outcome: o.paymentOutcome(p), ReceivedAt: now}
	switch rec.Outcome {
	case OutcomePaid:
		o.Status = orderstatus.Paid
		o.stamp(now)
	case OutcomeRefundRequired:
		o.RefundRequired = true
		o.stamp(now)
	}
	return rec, nil
}

// paymentOutcome is what event p does to the order, which is not pending.
func (o *Order) paymentOutcome(p Payment) Outcome {
	switch {
	case o.Status == orderstatus.Rejected:
		// Never confirmed, it never had a total to compare with and owes
		// nothing: a success is money to give back, whatever the amount.
		if p.Status == PaymentSucceeded {
			return OutcomeRefundRequired
		}
		return OutcomeRecorded
	case o.Total == nil || o.Currency == nil || p.Amount != *o.Total || p.Currency != *o.Currency:
		return OutcomeAmountMismatch
	case p.Status != PaymentSucceeded:
		return OutcomeRecorded
	case orderstatus.Payable(o.Status):
		return OutcomePaid
	default:
		return OutcomeRefundRequired
	}
}

// ManualPayment is the record of the back office's payment of the order, as
// it moves to paid. An order is paid once, so its id names the event.
func (o *Order) ManualPayment() PaymentRecord {
	return PaymentRecord{EventID: "manual:" + o.ID, OrderID: o.ID, Source: SourceManual, Status: PaymentSucceeded,
		Amount: o.Total, Currency: o.Currency, Outcome: OutcomePaid, ReceivedAt: o.UpdatedAt}
}
