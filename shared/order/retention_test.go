package order

import (
	"testing"
	"time"

	"gorm.io/gorm"

	"github.com/orderq/orderq/shared/database"
	"github.com/orderq/orderq/shared/message"
	"github.com/orderq/orderq/shared/orderstatus"
)

// age moves an order's decision (and creation) back by d.
func age(t *testing.T, db *gorm.DB, id string, d time.Duration) {
	t.Helper()
	err := db.WithContext(t.Context()).Exec(
		"UPDATE orders SET created_at = created_at - INTERVAL ? MICROSECOND, processed_at = processed_at - INTERVAL ? MICROSECOND WHERE id = ?",
		d.Microseconds(), d.Microseconds(), database.ID(id)).Error
	if err != nil {
		t.Fatalf("age order %s: %v", id, err)
	}
}

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

	// Deleted: a rejected order kept in order_lines, and one whose line
	// lives in its own row (most of a sale's), the oldest first.
	oldest := storeOrder(t, db, orderstatus.Rejected, &outOfStock)
	age(t, db, oldest.ID, old+time.Hour)
	inline := storeOrder(t, db, orderstatus.Rejected, &outOfStock)
	if err := db.WithContext(ctx).Exec("DELETE FROM order_lines WHERE order_id = ?", database.ID(inline.ID)).Error; err != nil {
		t.Fatalf("inline the line: %v", err)
	}
	if err := db.WithContext(ctx).Exec("UPDATE orders SET item_id = 7, quantity = 2 WHERE id = ?", database.ID(inline.ID)).Error; err != nil {
		t.Fatalf("inline the line: %v", err)
	}
	age(t, db, inline.ID, old)

	keep := map[string]string{}
	young := storeOrder(t, db, orderstatus.Rejected, &outOfStock)
	age(t, db, young.ID, 6*24*time.Hour)
	keep[young.ID] = "younger than the cut"
	for _, status := range []string{orderstatus.Pending, orderstatus.Confirmed, orderstatus.AwaitingPayment,
		orderstatus.Paid, orderstatus.Active, orderstatus.Fulfilled, orderstatus.Canceled} {
		var reason *string
		if status == orderstatus.Canceled {
			reason = &timeout
		}
		r := storeOrder(t, db, status, reason)
		age(t, db, r.ID, old)
		keep[r.ID] = status
	}
	// A cart rejected by its second part: its home line was reserved, then
	// released, and the ledger holds both by the order's id.
	cart := storeOrder(t, db, orderstatus.Rejected, &outOfStock)
	err := db.WithContext(ctx).Exec("UPDATE order_lines SET status = ?, reason = NULL WHERE order_id = ?", orderstatus.Released, database.ID(cart.ID)).Error
	if err == nil {
		err = db.WithContext(ctx).Exec(`INSERT INTO order_lines (order_id, line_no, item_id, quantity, customer_id, status, reason)
			VALUES (?, 1, 8, 1, 'c-1', ?, ?)`, database.ID(cart.ID), orderstatus.LineRejected, outOfStock).Error
	}
	if err == nil {
		err = db.WithContext(ctx).Exec(`INSERT INTO stock_movements (item_id, ref, kind, delta, created_at)
			VALUES (7, ?, 'order', -2, NOW(6)), (7, ?, 'release', 2, NOW(6))`, database.ID(cart.ID), database.ID(cart.ID)).Error
	}
	if err != nil {
		t.Fatalf("store rejected cart: %v", err)
	}
	age(t, db, cart.ID, old)
	keep[cart.ID] = "rejected cart with ledger entries"
	// A rejected order paid anyway: money to give back.
	refund := storeOrder(t, db, orderstatus.Rejected, &outOfStock)
	if _, err := Pay(ctx, db, event(refund.ID, PaymentSucceeded, 3000, "IDR")); err != nil {
		t.Fatalf("pay rejected order: %v", err)
	}
	age(t, db, refund.ID, old)
	keep[refund.ID] = "rejected order with a payment"

	movements := count(t, db, "SELECT COUNT(*) FROM stock_movements")
	payments := count(t, db, "SELECT COUNT(*) FROM payments")
	cutoff := time.Now().Add(-7 * 24 * time.Hour)

	// The select goes through orders_status_processed.
	var plan []struct {
		Table string
		Key   *string
	}
	sql := db.ToSQL(func(tx *gorm.DB) *gorm.DB { return candidates(tx, cutoff, 1000).Scan(&[]string{}) })
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
		if n := count(t, db, "SELECT COUNT(*) FROM report_order_lines WHERE order_id = ?", id); n != 0 {
			t.Errorf("%d lines of deleted order %s kept", n, id)
		}
	}
	for id, why := range keep {
		if n := count(t, db, "SELECT COUNT(*) FROM orders WHERE id = ?", database.ID(id)); n != 1 {
			t.Errorf("order %s (%s) deleted", id, why)
		}
		if n := count(t, db, "SELECT COUNT(*) FROM order_lines WHERE order_id = ?", database.ID(id)); n == 0 {
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
	const orders = 40
	for range orders {
		r := storeOrder(t, db, orderstatus.Rejected, &outOfStock)
		age(t, db, r.ID, time.Hour)
	}
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
}
