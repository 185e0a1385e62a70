package store

import (
	"context"

	"github.com/orderq/orderq/shared/order"
	"github.com/orderq/orderq/shared/orderstore"
)

// Pay applies a payment event to its order (see orderstore.Pay).
func (s *Store) Pay(ctx context.Context, p order.Payment) (orderstore.Receipt, error) {
	return orderstore.Pay(ctx, s.db, p)
}

// Refunds lists the payment events that flagged their order refund_required,
// oldest first (see orderstore.Refunds).
func (s *Store) Refunds(ctx context.Context, after *orderstore.RefundCursor, limit int) (orderstore.RefundPage, error) {
	return orderstore.Refunds(ctx, s.db, after, limit)
}
