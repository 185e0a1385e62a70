package orderstore

import (
	"testing"
	"time"

	"gorm.io/gorm"

	"github.com/orderq/orderq/shared/database"
	"github.com/orderq/orderq/shared/message"
	"github.com/orderq/orderq/shared/order"
	"github.com/orderq/orderq/shared/orderstatus"
)

func count(t *testing.T, db *gorm.DB, query string, args ...any) int64 {
	t.Helper()
	var n int64
	if err := db.WithContext(t.Context()).Raw(query, args...).Scan(&n).Error; err != nil {
		t.Fatalf("%s: %v", query, err)
	}
	return n
}

func TestDeleteRejected(t *testing.T) {
	t.Parallel()
	db := openDB(t)
	ctx := t.Context()
	outOfStock, timeout := message.ReasonOutOfStock, message.ReasonPaymentTimeout
	old := 8 * 24 * time.Hour

	// Deleted: a rejected order kept in order_lines (a cart), and one whose
	// line lives in its own row (most of a sale's), the oldest first.
	oldest := aged(rejectedCart(t), old+time.Hour)
	insert(t, db, oldest)
	if n := count(t, db, "SELECT COUNT(*) FROM order_lines WHERE order_id = ?", database.ID(oldest.ID)); n != 2 {
		t.Fatalf("the rejected cart has %d rows in order_lines, want 2", n)
	}
	inline := aged(newOrder(t, orderstatus.Rejected, &outOfStock), old)
	insert(t, db, inline)
	if n := count(t, db, "SELECT COUNT(*) FROM order_lines WHERE order_id = ?", database.ID(inline.ID)); n != 0 {
		t.Fatalf("the rejected single-line order has %d rows in order_lines, want its line in its own row", n)
	}

	keep := map[string]string{}
	young := aged(newOrder(t, orderstatus.Rejected, &outOfStock), 6*24*time.Hour)
	insert(t, db, young)
	keep[young.ID] = "younger than the cut"
	for _, status := range []orderstatus.Status{orderstatus.Pending, orderstatus.Confirmed, orderstatus.AwaitingPayment,
		orderstatus.Paid, orderstatus.Active, orderstatus.Fulfilled, orderstatus.Canceled} {
		var reason *string
		if status == orderstatus.Canceled {
			reason = &timeout
		}
		o := aged(newOrder(t, status, reason), old)
		insert(t, db, o)
		keep[o.ID] = string(status)
	}
	// A cart rejected by its second part: its home line was reserved, then
	// released, and the ledger holds both by the order's id.
	cart := aged(rejectedCart(t), old)
	price, at := int64(1500), cart.ProcessedAt.Add(-time.Second)
	cart.Lines[0].UnitPrice, cart.Lines[0].Status = &price, orderstatus.Released
	err := db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		return WriteBatch(tx, &Batch{State: &order.State{Shards: 4}}, &order.Decision{New: []*order.Order{cart}, Movements: []order.Movement{
			{ItemID: 7, Ref: cart.ID, Kind: order.MovementOrder, Delta: -2, CreatedAt: at},
			{ItemID: 7, Ref: cart.ID, Kind: order.MovementRelease, Delta: 2, CreatedAt: *cart.ProcessedAt},
		}}, false)
	})
	if err != nil {
		t.Fatalf("store rejected cart: %v", err)
	}
	if n := count(t, db, "SELECT COUNT(*) FROM report_stock_movements WHERE ref = ?", cart.ID); n != 2 {
		t.Fatalf("the ledger holds %d entries of the rejected cart, want 2", n)
	}
	keep[cart.ID] = "rejected cart with ledger entries"
	// A rejected order paid anyway: money to give back.
	refund := aged(newOrder(t, orderstatus.Rejected, &outOfStock), old)
	insert(t, db, refund)
	if _, err := Pay(ctx, db, event(refund.ID, order.PaymentSucceeded, 3000, "IDR")); err != nil {
		t.Fatalf("pay rejected order: %v", err)
	}
	keep[refund.ID] = "rejected order with a payment"

	movements := count(t, db, "SELECT COUNT(*) FROM stock_movements")
	payments := count(t, db, "SELECT COUNT(*) FROM payments")
	cutoff := time.Now().Add(-7 * 24 * time.Hour)

	// The select goes through orders_status_processed.
	var plan []struct {
		Table string
		Key   *string
	}
	sql := db.ToSQL(func(tx *gorm.DB) *gorm.DB { return candidates(tx, cutoff, 1000).Scan(&[]database.ID{}) })
	if err := db.WithContext(ctx).Raw("EXPLAIN " + sql).Scan(&plan).Error; err != nil {
		t.Fatalf("explain %s: %v", sql, err)
	}
	if len(plan) == 0 || plan[0].Table != "o" || plan[0].Key == nil || *plan[0].Key != "orders_status_processed" {
		t.Errorf("the select of orders does not use orders_status_processed: %+v", plan)
	}

	if n, err := DeleteRejected(ctx, db, cutoff, 1); err != nil || n != 1 {
		t.Fatalf("DeleteRejected(limit 1) = %d, %v; want 1, nil", n, err)
	}
	if count(t, db, "SELECT COUNT(*) FROM orders WHERE id = ?", database.ID(oldest.ID)) != 0 {
		t.Fatalf("the oldest rejected order was not deleted first")
	}
	if n, err := DeleteRejected(ctx, db, cutoff, 1000); err != nil || n != 1 {
		t.Fatalf("DeleteRejected = %d, %v; want 1, nil", n, err)
	}
	if n, err := DeleteRejected(ctx, db, cutoff, 1000); err != nil || n != 0 {
		t.Fatalf("DeleteRejected again = %d, %v; want 0, nil", n, err)
	}

	for _, id := range []string{oldest.ID, inline.ID} {
		if n := count(t, db, "SELECT COUNT(*) FROM orders WHERE id = ?", database.ID(id)); n != 0 {
			t.Errorf("rejected order %s kept", id)
		}
		if n := count(t, db, "SELECT COUNT(*) FROM order_lines WHERE order_id = ?", database.ID(id)); n != 0 {
			t.Errorf("%d lines of deleted order %s kept", n, id)
		}
	}
	for id, why := range keep {
		if n := count(t, db, "SELECT COUNT(*) FROM orders WHERE id = ?", database.ID(id)); n != 1 {
			t.Errorf("order %s (%s) deleted", id, why)
		}
		// Wherever they are kept: a rejected single-line order keeps its
		// line in its own row.
		if n := count(t, db, "SELECT COUNT(*) FROM report_order_lines WHERE order_id = ?", id); n == 0 {
			t.Errorf("lines of order %s (%s) deleted", id, why)
		}
	}
	if n := count(t, db, "SELECT COUNT(*) FROM stock_movements"); n != movements {
		t.Errorf("stock_movements: %d rows, want %d", n, movements)
	}
	if n := count(t, db, "SELECT COUNT(*) FROM payments"); n != payments {
		t.Errorf("payments: %d rows, want %d", n, payments)
	}
}

func TestDeleteRejectedConcurrently(t *testing.T) {
	t.Parallel()
	db := openDB(t)
	outOfStock := message.ReasonOutOfStock
	// Half of them keep their line in their own row, half are carts with
	// their lines in order_lines.
	const orders = 40
	var rejected []*order.Order
	for i := range orders {
		if i%2 == 0 {
			rejected = append(rejected, aged(newOrder(t, orderstatus.Rejected, &outOfStock), time.Hour))
		} else {
			rejected = append(rejected, aged(rejectedCart(t), time.Hour))
		}
	}
	insert(t, db, rejected...)
	cutoff := time.Now().Add(-time.Minute)
	total := make(chan int, 4)
	for range 4 {
		go func() {
			sum := 0
			for {
				n, err := DeleteRejected(t.Context(), db, cutoff, 5)
				if err != nil {
					t.Errorf("DeleteRejected: %v", err)
				}
				if err != nil || n == 0 {
					break
				}
				sum += n
			}
			total <- sum
		}()
	}
	sum := 0
	for range 4 {
		sum += <-total
	}
	if sum != orders {
		t.Errorf("deleted %d orders in all, want %d", sum, orders)
	}
	if n := count(t, db, "SELECT COUNT(*) FROM orders"); n != 0 {
		t.Errorf("%d orders left", n)
	}
	if n := count(t, db, "SELECT COUNT(*) FROM order_lines"); n != 0 {
		t.Errorf("%d order lines left", n)
	}
}
