package orderstore

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/orderq/orderq/shared/message"
	"github.com/orderq/orderq/shared/order"
	"github.com/orderq/orderq/shared/orderstatus"
)

func event(orderID string, status order.PaymentStatus, amount int64, currency string) order.Payment {
	return order.Payment{EventID: "evt_" + uuid.NewString(), OrderID: orderID, Status: status, Amount: amount, Currency: currency}
}

func TestPayOutcomes(t *testing.T) {
	t.Parallel()
	db := openDB(t)
	timeout, outOfStock := message.ReasonPaymentTimeout, message.ReasonOutOfStock
	tests := []struct {
		name       string
		status     orderstatus.Status
		reason     *string
		status2    order.PaymentStatus
		amount     int64
		currency   string
		want       order.Outcome
		wantStatus orderstatus.Status
		wantRefund bool
	}{
		{"confirmed, paid in full", orderstatus.Confirmed, nil, order.PaymentSucceeded, 3000, "IDR", order.OutcomePaid, orderstatus.Paid, false},
		{"awaiting payment, paid in full", orderstatus.AwaitingPayment, nil, order.PaymentSucceeded, 3000, "IDR", order.OutcomePaid, orderstatus.Paid, false},
		{"too little", orderstatus.Confirmed, nil, order.PaymentSucceeded, 2999, "IDR", order.OutcomeAmountMismatch, orderstatus.Confirmed, false},
		{"too much", orderstatus.AwaitingPayment, nil, order.PaymentSucceeded, 3001, "IDR", order.OutcomeAmountMismatch, orderstatus.AwaitingPayment, false},
		{"another currency", orderstatus.Confirmed, nil, order.PaymentSucceeded, 3000, "USD", order.OutcomeAmountMismatch, orderstatus.Confirmed, false},
		{"failed", orderstatus.Confirmed, nil, order.PaymentFailed, 3000, "IDR", order.OutcomeRecorded, orderstatus.Confirmed, false},
		{"failed for a canceled order", orderstatus.Canceled, &timeout, order.PaymentFailed, 3000, "IDR", order.OutcomeRecorded, orderstatus.Canceled, false},
		{"after the payment deadline", orderstatus.Canceled, &timeout, order.PaymentSucceeded, 3000, "IDR", order.OutcomeRefundRequired, orderstatus.Canceled, true},
		{"rejected", orderstatus.Rejected, &outOfStock, order.PaymentSucceeded, 3000, "IDR", order.OutcomeRefundRequired, orderstatus.Rejected, true},
		{"paid already", orderstatus.Paid, nil, order.PaymentSucceeded, 3000, "IDR", order.OutcomeRefundRequired, orderstatus.Paid, true},
		{"active", orderstatus.Active, nil, order.PaymentSucceeded, 3000, "IDR", order.OutcomeRefundRequired, orderstatus.Active, true},
		{"fulfilled", orderstatus.Fulfilled, nil, order.PaymentSucceeded, 3000, "IDR", order.OutcomeRefundRequired, orderstatus.Fulfilled, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			r := storeOrder(t, db, tt.status, tt.reason)
			before := loadStored(t, db, r.ID)
			p := event(r.ID, tt.status2, tt.amount, tt.currency)
			rc, err := Pay(t.Context(), db, p)
			if err != nil {
				t.Fatalf("pay: %v", err)
			}
			if rc.Payment.Outcome != tt.want || rc.Duplicate {
				t.Errorf("outcome %s (duplicate %v), want %s", rc.Payment.Outcome, rc.Duplicate, tt.want)
			}
			if rc.Order.ID != r.ID || rc.Order.Status != tt.wantStatus || rc.Order.RefundRequired != tt.wantRefund {
				t.Errorf("answered order %s %s refund %v, want %s %s refund %v",
					rc.Order.ID, rc.Order.Status, rc.Order.RefundRequired, r.ID, tt.wantStatus, tt.wantRefund)
			}
			after := loadStored(t, db, r.ID)
			if after.Row.Status != tt.wantStatus || after.Row.RefundRequired != tt.wantRefund {
				t.Errorf("stored order %s refund %v, want %s refund %v", after.Row.Status, after.Row.RefundRequired, tt.wantStatus, tt.wantRefund)
			}
			if want := orderstatus.Code(tt.wantStatus, lineStatuses(after.Order.Lines)); after.Row.DisplayStatus != want || rc.Order.DisplayStatus.Code != want {
				t.Errorf("display_status %s, answered %s, want %s", after.Row.DisplayStatus, rc.Order.DisplayStatus.Code, want)
			}
			if changed := !after.Row.UpdatedAt.Equal(before.Row.UpdatedAt); changed != (tt.want == order.OutcomePaid || tt.wantRefund) {
				t.Errorf("updated_at changed: %v, want a change only when the order did", changed)
			}
			// Stock is never taken back, nor given back, by a payment.
			if after.Outbox != before.Outbox || !reflect.DeepEqual(after.Order.Lines, before.Order.Lines) {
				t.Errorf("lines %+v and %d outbox rows, were %+v and %d", after.Order.Lines, after.Outbox, before.Order.Lines, before.Outbox)
			}
			if len(after.Payments) != 1 {
				t.Fatalf("%d payments stored, want 1", len(after.Payments))
			}
			got := after.Payments[0]
			if got.EventID != p.EventID || got.Source != order.SourceWebhook || got.Status != tt.status2 || got.Outcome != tt.want ||
				got.Amount == nil || *got.Amount != tt.amount || got.Currency == nil || *got.Currency != tt.currency || got.ReceivedAt.IsZero() {
				t.Errorf("stored payment %+v, want event %s %s %d %s → %s", got, p.EventID, tt.status2, tt.amount, tt.currency, tt.want)
			}
		})
	}
}

func TestPayRefusesWhatItCannotApply(t *testing.T) {
	t.Parallel()
	db := openDB(t)
	pending := storeOrder(t, db, orderstatus.Pending, nil)
	tests := []struct {
		name string
		id   string
		want error
	}{
		{"pending order", pending.ID, order.ErrPending},
		{"unknown order", uuid.NewString(), order.ErrNotFound},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := event(tt.id, order.PaymentSucceeded, 3000, "IDR")
			if _, err := Pay(t.Context(), db, p); !errors.Is(err, tt.want) {
				t.Fatalf("pay: %v, want %v", err, tt.want)
			}
			var n int64
			if err := db.WithContext(t.Context()).Model(&paymentRow{}).Where("event_id = ?", p.EventID).Count(&n).Error; err != nil {
				t.Fatal(err)
			}
			if n != 0 {
				t.Errorf("%d payments stored, want none: the provider's retry must be applied", n)
			}
		})
	}
	if got := loadStored(t, db, pending.ID); got.Row.Status != orderstatus.Pending || got.Row.RefundRequired {
		t.Errorf("pending order became %s (refund %v)", got.Row.Status, got.Row.RefundRequired)
	}
}

func TestPayDuplicateEvent(t *testing.T) {
	t.Parallel()
	db := openDB(t)
	tests := []struct {
		name   string
		status orderstatus.Status
		event  order.PaymentStatus
		amount int64
		want   order.Outcome
	}{
		{"paid", orderstatus.Confirmed, order.PaymentSucceeded, 3000, order.OutcomePaid},
		{"refund", orderstatus.Canceled, order.PaymentSucceeded, 3000, order.OutcomeRefundRequired},
		{"mismatch", orderstatus.Confirmed, order.PaymentSucceeded, 1, order.OutcomeAmountMismatch},
		{"failure", orderstatus.Confirmed, order.PaymentFailed, 3000, order.OutcomeRecorded},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			r := storeOrder(t, db, tt.status, nil)
			p := event(r.ID, tt.event, tt.amount, "IDR")
			first, err := Pay(t.Context(), db, p)
			if err != nil {
				t.Fatal(err)
			}
			afterFirst := loadStored(t, db, r.ID)
			// The same event again, also while others deliver it at once.
			const deliveries = 4
			var wg sync.WaitGroup
			receipts := make([]Receipt, deliveries)
			errs := make([]error, deliveries)
			for i := range deliveries {
				wg.Go(func() { receipts[i], errs[i] = Pay(context.Background(), db, p) })
			}
			wg.Wait()
			for i := range deliveries {
				if errs[i] != nil {
					t.Fatalf("delivery %d: %v", i, errs[i])
				}
				if rc := receipts[i]; !rc.Duplicate || rc.Payment.Outcome != tt.want || rc.Order.Status != first.Order.Status {
					t.Errorf("delivery %d: outcome %s duplicate %v order %s, want %s duplicate, order %s",
						i, rc.Payment.Outcome, rc.Duplicate, rc.Order.Status, tt.want, first.Order.Status)
				}
			}
			again := loadStored(t, db, r.ID)
			if len(again.Payments) != 1 || !again.Row.UpdatedAt.Equal(afterFirst.Row.UpdatedAt) || again.Row.Status != afterFirst.Row.Status {
				t.Errorf("after the duplicates: %d payments, order %s updated %v; want 1, %s updated %v",
					len(again.Payments), again.Row.Status, again.Row.UpdatedAt, afterFirst.Row.Status, afterFirst.Row.UpdatedAt)
			}
		})
	}

	t.Run("first deliveries at once", func(t *testing.T) {
		t.Parallel()
		r := storeOrder(t, db, orderstatus.Confirmed, nil)
		p := event(r.ID, order.PaymentSucceeded, 3000, "IDR")
		const deliveries = 6
		var wg sync.WaitGroup
		receipts := make([]Receipt, deliveries)
		errs := make([]error, deliveries)
		for i := range deliveries {
			wg.Go(func() { receipts[i], errs[i] = Pay(context.Background(), db, p) })
		}
		wg.Wait()
		applied := 0
		for i := range deliveries {
			if errs[i] != nil {
				t.Fatalf("delivery %d: %v", i, errs[i])
			}
			if receipts[i].Payment.Outcome != order.OutcomePaid {
				t.Errorf("delivery %d: %s, want paid", i, receipts[i].Payment.Outcome)
			}
			if !receipts[i].Duplicate {
				applied++
			}
		}
		if applied != 1 {
			t.Errorf("applied %d times, want once", applied)
		}
		if got := loadStored(t, db, r.ID); got.Row.Status != orderstatus.Paid || got.Row.RefundRequired || len(got.Payments) != 1 {
			t.Errorf("order %s refund %v with %d payments, want paid, no refund, 1 payment", got.Row.Status, got.Row.RefundRequired, len(got.Payments))
		}
	})
}

func TestManualPaymentIsRecorded(t *testing.T) {
	t.Parallel()
	db := openDB(t)
	r := storeOrder(t, db, orderstatus.AwaitingPayment, nil)
	o, err := Move(t.Context(), db, r.ID, orderstatus.Paid, 4, nil)
	if err != nil {
		t.Fatal(err)
	}
	if o.Status != orderstatus.Paid || o.Total == nil || *o.Total != 3000 || o.Currency == nil || *o.Currency != "IDR" {
		t.Errorf("moved order %+v, want paid, 3000 IDR", o)
	}
	got := loadStored(t, db, r.ID)
	if len(got.Payments) != 1 {
		t.Fatalf("%d payments, want 1", len(got.Payments))
	}
	p := got.Payments[0]
	if p.Source != order.SourceManual || p.Status != order.PaymentSucceeded || p.Outcome != order.OutcomePaid ||
		p.Amount == nil || *p.Amount != 3000 || p.Currency == nil || *p.Currency != "IDR" || !p.ReceivedAt.Equal(got.Row.UpdatedAt) {
		t.Errorf("manual payment %+v, want manual, succeeded, paid, 3000 IDR at the move", p)
	}
	// A provider's success afterwards is money twice: refunded.
	rc, err := Pay(t.Context(), db, event(r.ID, order.PaymentSucceeded, 3000, "IDR"))
	if err != nil {
		t.Fatal(err)
	}
	if rc.Payment.Outcome != order.OutcomeRefundRequired || !rc.Order.RefundRequired {
		t.Errorf("webhook after the manual payment: %s, refund %v; want refund_required", rc.Payment.Outcome, rc.Order.RefundRequired)
	}
	// Other moves record nothing.
	c := storeOrder(t, db, orderstatus.Confirmed, nil)
	if _, err := Move(t.Context(), db, c.ID, orderstatus.AwaitingPayment, 4, nil); err != nil {
		t.Fatal(err)
	}
	if got := loadStored(t, db, c.ID); len(got.Payments) != 0 {
		t.Errorf("a move to awaiting_payment stored %d payments", len(got.Payments))
	}
}

func TestRefundsPageOldestFirst(t *testing.T) {
	t.Parallel()
	db := openDB(t)
	var want []string
	for i := range 5 {
		r := storeOrder(t, db, orderstatus.Canceled, nil)
		p := event(r.ID, order.PaymentSucceeded, 3000, "IDR")
		p.EventID = fmt.Sprintf("evt_%d", i)
		if _, err := Pay(t.Context(), db, p); err != nil {
			t.Fatal(err)
		}
		want = append(want, p.EventID)
	}
	// Neither a payment nor a mismatch is a refund.
	paid := storeOrder(t, db, orderstatus.Confirmed, nil)
	if _, err := Pay(t.Context(), db, event(paid.ID, order.PaymentSucceeded, 3000, "IDR")); err != nil {
		t.Fatal(err)
	}
	if _, err := Pay(t.Context(), db, event(storeOrder(t, db, orderstatus.Confirmed, nil).ID, order.PaymentSucceeded, 1, "IDR")); err != nil {
		t.Fatal(err)
	}
	var got []string
	var after *RefundCursor
	for pages := 0; ; pages++ {
		if pages > 5 {
			t.Fatal("more pages than refunds")
		}
		page, err := Refunds(t.Context(), db, after, 2)
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range page.Refunds {
			if r.Order == nil || r.Order.ID != r.Payment.OrderID || !r.Order.RefundRequired {
				t.Errorf("refund %s: order %+v, want its flagged order", r.Payment.EventID, r.Order)
			}
			got = append(got, r.Payment.EventID)
		}
		if page.Next == nil {
			break
		}
		after = page.Next
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("refunds %v, want %v", got, want)
	}
}

// TestEveryChangeStampsALaterUpdatedAt: an order last changed by a process
// whose clock runs ahead (a worker's release, say) still gets a later
// updated_at from every change here, so that the gateways' caches, which keep
// the newest state, take the change.
func TestEveryChangeStampsALaterUpdatedAt(t *testing.T) {
	t.Parallel()
	db := openDB(t)
	ahead := time.Now().UTC().Add(time.Hour).Truncate(time.Microsecond)
	future := func(t *testing.T, status orderstatus.Status) *order.Order {
		t.Helper()
		o := newOrder(t, status, nil)
		o.UpdatedAt = ahead
		insert(t, db, o)
		return o
	}
	tests := []struct {
		name   string
		status orderstatus.Status
		change func(t *testing.T, id string) (message.Order, error)
	}{
		{"status move", orderstatus.Confirmed, func(t *testing.T, id string) (message.Order, error) {
			return Move(t.Context(), db, id, orderstatus.AwaitingPayment, 4, nil)
		}},
		{"cancel", orderstatus.Confirmed, func(t *testing.T, id string) (message.Order, error) {
			return Move(t.Context(), db, id, orderstatus.Canceled, 4, nil)
		}},
		{"line move", orderstatus.Paid, func(t *testing.T, id string) (message.Order, error) {
			return MoveLine(t.Context(), db, id, 7, orderstatus.TransitForOutbound)
		}},
		{"payment", orderstatus.Confirmed, func(t *testing.T, id string) (message.Order, error) {
			rc, err := Pay(t.Context(), db, event(id, order.PaymentSucceeded, 3000, "IDR"))
			return rc.Order, err
		}},
		{"refund flag", orderstatus.Paid, func(t *testing.T, id string) (message.Order, error) {
			rc, err := Pay(t.Context(), db, event(id, order.PaymentSucceeded, 3000, "IDR"))
			return rc.Order, err
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			r := future(t, tt.status)
			o, err := tt.change(t, r.ID)
			if err != nil {
				t.Fatalf("change: %v", err)
			}
			if !o.UpdatedAt.After(ahead) {
				t.Errorf("answered updated_at %v, not after the stored %v", o.UpdatedAt, ahead)
			}
			if got := loadStored(t, db, r.ID).Row.UpdatedAt; !got.Equal(o.UpdatedAt) {
				t.Errorf("stored updated_at %v, answered %v", got, o.UpdatedAt)
			}
		})
	}
}
