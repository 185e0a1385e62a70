package store

import (
	"context"

	"github.com/orderq/orderq/shared/order"
)

// Pay applies a payment event to its order (see order.Pay).
func (s *Store) Pay(ctx context.Context, p order.Payment) (order.Receipt, error) {
	return order.Pay(ctx, s.db, p)
}

// Refunds lists the payment events that flagged their order refund_required,
// oldest first (see order.Refunds).
func (s *Store) Refunds(ctx context.Context, after *order.RefundCursor, limit int) (order.RefundPage, error) {
	return order.Refunds(ctx, s.db, after, limit)
}
