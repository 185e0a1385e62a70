package orderstore

import (
	"context"
	"fmt"
	"time"

	"gorm.io/gorm"
	"gorm.io/gorm/clause"

	"github.com/orderq/orderq/shared/database"
	"github.com/orderq/orderq/shared/orderstatus"
)

// deletable selects rejected orders that nothing else refers to: no line
// that holds or ever held stock (every line rejected), no entry in the stock
// ledger (a cart whose reserved lines were released keeps its order, which
// the ledger names by id) and no payment (a payment of a rejected order is
// money to give back). Rejected is final and such an order changes no more,
// except that a payment may still arrive, under the order's lock.
const deletable = `o.status = ? AND o.processed_at < ?
  AND NOT EXISTS (SELECT 1 FROM order_lines l WHERE l.order_id = o.id AND l.status <> ?)
  AND NOT EXISTS (SELECT 1 FROM stock_movements m WHERE m.ref = o.id)
  AND NOT EXISTS (SELECT 1 FROM payments p WHERE p.order_id = o.id)`

// DeleteRejected deletes up to limit rejected orders decided before cutoff,
// the oldest first, with their lines, in one transaction, and returns how
// many it deleted. Orders with ledger entries or payments are kept (see
// deletable), and so is every order in any other status.
//
// The candidates are found by a plain read, which locks nothing, so the
// worker's inserts into order_lines and stock_movements never wait for it;
// the transaction then locks them by primary key, skipping those another
// process holds (another worker's retention, or a payment), checks them again
// under the lock and deletes them, and their lines, by primary key, which
// locks those rows alone. Several processes running
// it at once delete each order once.
func DeleteRejected(ctx context.Context, db *gorm.DB, cutoff time.Time, limit int) (int, error) {
	db = db.WithContext(ctx)
	var ids []database.ID
	err := candidates(db, cutoff, limit).Scan(&ids).Error
	if err != nil {
		return 0, fmt.Errorf("find rejected orders to delete: %w", err)
	}
	if len(ids) == 0 {
		return 0, nil
	}
	var n int
	err = db.Transaction(func(tx *gorm.DB) error {
		var locked []database.ID
		err := tx.Model(&orderRow{}).Clauses(clause.Locking{Strength: "UPDATE", Options: "SKIP LOCKED"}).
			Where("id IN ? AND status = ?", ids, orderstatus.Rejected).Pluck("id", &locked).Error
		if err != nil || len(locked) == 0 {
			return err
		}
		// Under the lock, after the locking read: this read sees whatever
		// committed before, a payment included.
		var gone []database.ID
		err = tx.Table("orders o").Select("o.id").
			Where("o.id IN ? AND "+deletable, locked, orderstatus.Rejected, cutoff, orderstatus.LineRejected).
			Scan(&gone).Error
		if err != nil || len(gone) == 0 {
			return err
		}
		// Each line by its whole primary key, one statement a line: a
		// delete by order_id, or by a list of keys (which MariaDB reads as
		// a range of order_id), would also lock the gaps beside them, where
		// the worker inserts the lines of new orders. Most rejected orders
		// keep their line in their own row and have none here.
		var lines []lineRow
		if err := tx.Select("order_id", "line_no").Where("order_id IN ?", gone).Find(&lines).Error; err != nil {
			return fmt.Errorf("find order lines: %w", err)
		}
		for _, l := range lines {
			if err := tx.Where("order_id = ? AND line_no = ?", database.ID(l.OrderID), l.LineNo).Delete(&lineRow{}).Error; err != nil {
				return fmt.Errorf("delete order lines: %w", err)
			}
		}
		res := tx.Where("id IN ?", gone).Delete(&orderRow{})
		if res.Error != nil {
			return fmt.Errorf("delete orders: %w", res.Error)
		}
		n = int(res.RowsAffected)
		return nil
	})
	if err != nil {
		return 0, fmt.Errorf("delete rejected orders: %w", err)
	}
	return n, nil
}

// candidates selects up to limit deletable orders, the oldest first, through
// the key orders_status_processed.
func candidates(db *gorm.DB, cutoff time.Time, limit int) *gorm.DB {
	return db.Table("orders o").Select("o.id").
		Where(deletable, orderstatus.Rejected, cutoff, orderstatus.LineRejected).
		Order("o.processed_at").Limit(limit)
}
