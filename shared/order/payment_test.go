package order

import (
	"errors"
	"reflect"
	"testing"

	"github.com/orderq/orderq/shared/message"
	"github.com/orderq/orderq/shared/orderstatus"
)

func TestPayOutcomes(t *testing.T) {
	timeout, outOfStock := message.ReasonPaymentTimeout, message.ReasonOutOfStock
	tests := []struct {
		name       string
		status     orderstatus.Status
		reason     *string
		event      PaymentStatus
		amount     int64
		currency   string
		want       Outcome
		wantStatus orderstatus.Status
		wantRefund bool
	}{
		{"confirmed, paid in full", orderstatus.Confirmed, nil, PaymentSucceeded, 3000, "IDR", OutcomePaid, orderstatus.Paid, false},
		{"awaiting payment, paid in full", orderstatus.AwaitingPayment, nil, PaymentSucceeded, 3000, "IDR", OutcomePaid, orderstatus.Paid, false},
		{"too little", orderstatus.Confirmed, nil, PaymentSucceeded, 2999, "IDR", OutcomeAmountMismatch, orderstatus.Confirmed, false},
		{"too much", orderstatus.AwaitingPayment, nil, PaymentSucceeded, 3001, "IDR", OutcomeAmountMismatch, orderstatus.AwaitingPayment, false},
		{"another currency", orderstatus.Confirmed, nil, PaymentSucceeded, 3000, "USD", OutcomeAmountMismatch, orderstatus.Confirmed, false},
		{"failed", orderstatus.Confirmed, nil, PaymentFailed, 3000, "IDR", OutcomeRecorded, orderstatus.Confirmed, false},
		{"failed, and too little", orderstatus.Confirmed, nil, PaymentFailed, 1, "IDR", OutcomeAmountMismatch, orderstatus.Confirmed, false},
		{"failed for a canceled order", orderstatus.Canceled, &timeout, PaymentFailed, 3000, "IDR", OutcomeRecorded, orderstatus.Canceled, false},
		{"after the payment deadline", orderstatus.Canceled, &timeout, PaymentSucceeded, 3000, "IDR", OutcomeRefundRequired, orderstatus.Canceled, true},
		{"canceled, and too little", orderstatus.Canceled, &timeout, PaymentSucceeded, 1, "IDR", OutcomeAmountMismatch, orderstatus.Canceled, false},
		{"rejected", orderstatus.Rejected, &outOfStock, PaymentSucceeded, 3000, "IDR", OutcomeRefundRequired, orderstatus.Rejected, true},
		// A rejected order has no total: whatever arrived is to give back.
		{"rejected, any amount", orderstatus.Rejected, &outOfStock, PaymentSucceeded, 1, "USD", OutcomeRefundRequired, orderstatus.Rejected, true},
		{"failed for a rejected order", orderstatus.Rejected, &outOfStock, PaymentFailed, 3000, "IDR", OutcomeRecorded, orderstatus.Rejected, false},
		{"paid already", orderstatus.Paid, nil, PaymentSucceeded, 3000, "IDR", OutcomeRefundRequired, orderstatus.Paid, true},
		{"active", orderstatus.Active, nil, PaymentSucceeded, 3000, "IDR", OutcomeRefundRequired, orderstatus.Active, true},
		{"fulfilled", orderstatus.Fulfilled, nil, PaymentSucceeded, 3000, "IDR", OutcomeRefundRequired, orderstatus.Fulfilled, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o := lifecycleOrder(tt.status, tt.reason)
			before := o.Clone()
			p := Payment{EventID: "evt_1", OrderID: o.ID, Status: tt.event, Amount: tt.amount, Currency: tt.currency}
			rec, err := o.Pay(p, lifecycleNow)
			if err != nil {
				t.Fatalf("Pay: %v", err)
			}
			amount, currency := tt.amount, tt.currency
			wantRec := PaymentRecord{EventID: p.EventID, OrderID: o.ID, Source: SourceWebhook, Status: tt.event,
				Amount: &amount, Currency: &currency, Outcome: tt.want, ReceivedAt: lifecycleNow}
			if !reflect.DeepEqual(rec, wantRec) {
				t.Errorf("record %+v, want %+v", rec, wantRec)
			}
			// Only the status, the refund flag and, when either changed,
			// updated_at; never the lines: stock is neither taken back nor
			// given back by a payment.
			want := before.Clone()
			want.Status, want.RefundRequired = tt.wantStatus, tt.wantRefund
			if tt.want == OutcomePaid || tt.wantRefund {
				want.UpdatedAt = lifecycleNow
			}
			if !reflect.DeepEqual(o, want) {
				t.Errorf("order after the payment %+v, want %+v", o, want)
			}
		})
	}
}

func TestPayWithoutATotal(t *testing.T) {
	// An order decided before orders had a total has nothing to compare
	// with.
	o := lifecycleOrder(orderstatus.Confirmed, nil)
	o.Total, o.Currency = nil, nil
	before := o.Clone()
	rec, err := o.Pay(Payment{EventID: "evt_1", OrderID: o.ID, Status: PaymentSucceeded, Amount: 3000, Currency: "IDR"}, lifecycleNow)
	if err != nil || rec.Outcome != OutcomeAmountMismatch {
		t.Fatalf("Pay = %s, %v; want amount_mismatch", rec.Outcome, err)
	}
	if !reflect.DeepEqual(o, before) {
		t.Errorf("a mismatch changed the order: %+v, was %+v", o, before)
	}
}

func TestPayRefusesAPendingOrder(t *testing.T) {
	o := lifecycleOrder(orderstatus.Pending, nil)
	before := o.Clone()
	rec, err := o.Pay(Payment{EventID: "evt_1", OrderID: o.ID, Status: PaymentSucceeded, Amount: 3000, Currency: "IDR"}, lifecycleNow)
	if !errors.Is(err, ErrPending) || rec != (PaymentRecord{}) {
		t.Fatalf("Pay = %+v, %v; want no record and ErrPending", rec, err)
	}
	if !reflect.DeepEqual(o, before) {
		t.Errorf("the pending order changed: %+v, was %+v", o, before)
	}
}

func TestManualPayment(t *testing.T) {
	o := lifecycleOrder(orderstatus.AwaitingPayment, nil)
	if _, err := o.Move(orderstatus.Paid, "", 4, lifecycleNow); err != nil {
		t.Fatal(err)
	}
	want := PaymentRecord{EventID: "manual:" + o.ID, OrderID: o.ID, Source: SourceManual, Status: PaymentSucceeded,
		Amount: o.Total, Currency: o.Currency, Outcome: OutcomePaid, ReceivedAt: o.UpdatedAt}
	if got := o.ManualPayment(); !reflect.DeepEqual(got, want) || *got.Amount != 3000 || *got.Currency != "IDR" {
		t.Errorf("ManualPayment() = %+v, want %+v (3000 IDR)", got, want)
	}
	// A provider's success afterwards is money twice.
	rec, err := o.Pay(Payment{EventID: "evt_1", OrderID: o.ID, Status: PaymentSucceeded, Amount: 3000, Currency: "IDR"}, lifecycleNow)
	if err != nil || rec.Outcome != OutcomeRefundRequired || !o.RefundRequired || o.Status != orderstatus.Paid {
		t.Errorf("webhook after the manual payment: %s, %v, order %s refund %v; want refund_required", rec.Outcome, err, o.Status, o.RefundRequired)
	}
}
