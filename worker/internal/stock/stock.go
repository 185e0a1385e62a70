// Package stock applies a shard's commands to the database: it decides orders
// in arrival order against each item's stock and per-customer limit, applies
// stock changes and deletions, and writes orders, the stock ledger and the new
// stock in one transaction per batch.
//
// It is the only writer of items.stock. Commands are idempotent by id: a command
// applied before (a redelivery after a crash between commit and ack) is not
// applied again; its stored outcome is returned instead.
package stock

import (
	"context"
	"fmt"
	"time"

	"gorm.io/gorm"
	"gorm.io/gorm/clause"

	"github.com/orderq/orderq/shared/message"
)

// Store applies batches of commands.
type Store struct {
	db *gorm.DB
}

// NewStore returns a Store over db.
func NewStore(db *gorm.DB) *Store { return &Store{db: db} }

// Apply applies cmds, in order, in one transaction and returns one result per
// command, in the same order. On error nothing was applied.
func (s *Store) Apply(ctx context.Context, cmds []message.Command) ([]message.Result, error) {
	var results []message.Result
	err := s.db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		b, err := load(tx, cmds)
		if err != nil {
			return err
		}
		results = b.decide(cmds, time.Now().UTC().Truncate(time.Microsecond))
		return b.write(tx)
	})
	if err != nil {
		return nil, fmt.Errorf("apply batch: %w", err)
	}
	return results, nil
}

// batch is the state a transaction reads, changes in memory, and writes back.
type batch struct {
	items      map[int64]*itemRow
	seenOrders map[string]*orderRow       // applied before, by id
	seenCmds   map[string]*itemCommandRow // applied before, by id
	totals     map[customerItem]int       // confirmed quantity per customer and limited item

	orders    []orderRow
	movements []movementRow
	itemCmds  []itemCommandRow
	changed   map[int64]bool
}

type customerItem struct {
	customer string
	item     int64
}

// load reads, and locks, everything the commands may touch.
func load(tx *gorm.DB, cmds []message.Command) (*batch, error) {
	b := &batch{
		items:      map[int64]*itemRow{},
		seenOrders: map[string]*orderRow{},
		seenCmds:   map[string]*itemCommandRow{},
		totals:     map[customerItem]int{},
		changed:    map[int64]bool{},
	}
	var orderIDs, cmdIDs []string
	itemIDs := map[int64]bool{}
	for i := range cmds {
		if cmds[i].Kind == message.KindOrder {
			orderIDs = append(orderIDs, cmds[i].ID)
		} else {
			cmdIDs = append(cmdIDs, cmds[i].ID)
		}
		itemIDs[cmds[i].ItemID] = true
	}
	if len(orderIDs) > 0 {
		var seen []orderRow
		if err := tx.Where("id IN ?", orderIDs).Find(&seen).Error; err != nil {
			return nil, fmt.Errorf("load applied orders: %w", err)
		}
		for i := range seen {
			b.seenOrders[seen[i].ID] = &seen[i]
		}
	}
	if len(cmdIDs) > 0 {
		var seen []itemCommandRow
		if err := tx.Where("id IN ?", cmdIDs).Find(&seen).Error; err != nil {
			return nil, fmt.Errorf("load applied commands: %w", err)
		}
		for i := range seen {
			b.seenCmds[seen[i].ID] = &seen[i]
		}
	}

	ids := make([]int64, 0, len(itemIDs))
	for id := range itemIDs {
		ids = append(ids, id)
	}
	// The single consumer per shard already serialises these rows; the lock
	// keeps an operator's manual UPDATE from slipping in between read and write.
	var items []itemRow
	if err := tx.Clauses(clause.Locking{Strength: "UPDATE"}).Where("id IN ?", ids).Find(&items).Error; err != nil {
		return nil, fmt.Errorf("load items: %w", err)
	}
	var limited []int64
	for i := range items {
		b.items[items[i].ID] = &items[i]
		if items[i].MaxPerCustomer > 0 {
			limited = append(limited, items[i].ID)
		}
	}
	if len(limited) > 0 {
		var customers []string
		for i := range cmds {
			if cmds[i].Kind == message.KindOrder {
				customers = append(customers, cmds[i].CustomerID)
			}
		}
		var rows []struct {
			ItemID     int64
			CustomerID string
			Total      int
		}
		err := tx.Model(&orderRow{}).Select("item_id, customer_id, SUM(quantity) AS total").
			Where("item_id IN ? AND customer_id IN ? AND status = ?", limited, customers, message.StatusConfirmed).
			Group("item_id, customer_id").Scan(&rows).Error
		if err != nil {
			return nil, fmt.Errorf("load customer totals: %w", err)
		}
		for _, r := range rows {
			b.totals[customerItem{r.CustomerID, r.ItemID}] = r.Total
		}
	}
	return b, nil
}

// decide runs the commands in order against the loaded state.
func (b *batch) decide(cmds []message.Command, now time.Time) []message.Result {
	results := make([]message.Result, len(cmds))
	done := map[string]int{} // command id → index of its result, for duplicates within the batch
	for i := range cmds {
		c := &cmds[i]
		if j, ok := done[c.ID]; ok {
			results[i] = results[j]
			continue
		}
		done[c.ID] = i
		switch c.Kind {
		case message.KindOrder:
			results[i] = b.order(c, now)
		case message.KindStock:
			results[i] = b.stock(c, now)
		case message.KindDeleteItem:
			results[i] = b.deleteItem(c, now)
		}
	}
	return results
}

func (b *batch) order(c *message.Command, now time.Time) message.Result {
	if seen, ok := b.seenOrders[c.ID]; ok {
		return message.Result{Kind: c.Kind, ID: c.ID, ItemID: c.ItemID, Order: seen.order()}
	}
	row := orderRow{ID: c.ID, ItemID: c.ItemID, Quantity: c.Quantity, CustomerID: c.CustomerID,
		Status: message.StatusRejected, CreatedAt: c.AcceptedAt.UTC().Truncate(time.Microsecond), ProcessedAt: &now}
	reject := func(reason string) { row.Reason = &reason }
	item := b.items[c.ItemID]
	key := customerItem{c.CustomerID, c.ItemID}
	switch {
	case item == nil || item.DeletedAt != nil:
		reject(message.ReasonItemNotFound)
	case item.MaxPerCustomer > 0 && b.totals[key]+c.Quantity > item.MaxPerCustomer:
		reject(message.ReasonLimitExceeded)
	case item.Stock < int64(c.Quantity):
		reject(message.ReasonOutOfStock)
	default:
		row.Status = message.StatusConfirmed
		item.Stock -= int64(c.Quantity)
		b.totals[key] += c.Quantity
		b.move(item, c.ID, movementOrder, -int64(c.Quantity), now)
	}
	b.orders = append(b.orders, row)
	return message.Result{Kind: c.Kind, ID: c.ID, ItemID: c.ItemID, Order: row.order()}
}

func (b *batch) stock(c *message.Command, now time.Time) message.Result {
	res := message.Result{Kind: c.Kind, ID: c.ID, ItemID: c.ItemID}
	item := b.items[c.ItemID]
	if seen, ok := b.seenCmds[c.ID]; ok {
		if seen.Error != nil {
			res.Error = *seen.Error
		} else if item != nil {
			res.Item = item.item()
		}
		return res
	}
	switch {
	case item == nil || item.DeletedAt != nil:
		res.Error = message.ErrCodeItemNotFound
	default:
		delta := int64(0)
		if c.Delta != nil {
			delta = *c.Delta
		} else {
			delta = *c.Set - item.Stock
		}
		if item.Stock+delta < 0 {
			res.Error = message.ErrCodeInsufficientStock
			break
		}
		if delta != 0 {
			item.Stock += delta
			b.move(item, c.ID, movementAdjust, delta, now)
		}
		res.Item = item.item()
	}
	b.record(c, res.Error, now)
	return res
}

func (b *batch) deleteItem(c *message.Command, now time.Time) message.Result {
	res := message.Result{Kind: c.Kind, ID: c.ID, ItemID: c.ItemID}
	if seen, ok := b.seenCmds[c.ID]; ok {
		if seen.Error != nil {
			res.Error = *seen.Error
		}
		return res
	}
	item := b.items[c.ItemID]
	if item == nil || item.DeletedAt != nil {
		res.Error = message.ErrCodeItemNotFound
	} else {
		item.DeletedAt = &now
		item.UpdatedAt = now
		b.changed[item.ID] = true
	}
	b.record(c, res.Error, now)
	return res
}

func (b *batch) move(item *itemRow, ref, kind string, delta int64, now time.Time) {
	item.UpdatedAt = now
	b.changed[item.ID] = true
	b.movements = append(b.movements, movementRow{ItemID: item.ID, Ref: ref, Kind: kind, Delta: delta, CreatedAt: now})
}

func (b *batch) record(c *message.Command, errCode string, now time.Time) {
	row := itemCommandRow{ID: c.ID, ItemID: c.ItemID, Kind: string(c.Kind), AppliedAt: now}
	if errCode != "" {
		row.Error = &errCode
	}
	b.itemCmds = append(b.itemCmds, row)
}

// write stores what decide changed.
func (b *batch) write(tx *gorm.DB) error {
	if len(b.orders) > 0 {
		if err := tx.Create(&b.orders).Error; err != nil {
			return fmt.Errorf("insert orders: %w", err)
		}
	}
	if len(b.movements) > 0 {
		if err := tx.Create(&b.movements).Error; err != nil {
			return fmt.Errorf("insert stock movements: %w", err)
		}
	}
	if len(b.itemCmds) > 0 {
		if err := tx.Create(&b.itemCmds).Error; err != nil {
			return fmt.Errorf("insert item commands: %w", err)
		}
	}
	for id := range b.changed {
		item := b.items[id]
		err := tx.Model(&itemRow{}).Where("id = ?", id).Updates(map[string]any{
			"stock": item.Stock, "updated_at": item.UpdatedAt, "deleted_at": item.DeletedAt,
		}).Error
		if err != nil {
			return fmt.Errorf("update item %d: %w", id, err)
		}
	}
	return nil
}
