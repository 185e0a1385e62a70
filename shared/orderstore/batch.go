package orderstore

import (
	"errors"
	"fmt"
	"slices"
	"strings"

	"gorm.io/gorm"
	"gorm.io/gorm/clause"

	"github.com/orderq/orderq/shared/database"
	"github.com/orderq/orderq/shared/items"
	"github.com/orderq/orderq/shared/message"
	"github.com/orderq/orderq/shared/order"
	"github.com/orderq/orderq/shared/orderstatus"
	"github.com/orderq/orderq/shared/outbox"
)

// Batch is a shard's batch of commands as read in its transaction: the state
// to decide it against (order.Decide), and the orders as they were read.
type Batch struct {
	State  *order.State
	before map[string]*order.Order
}

// ErrAppliedBefore is an order of a batch read as new (ReadBatch's
// assumeNew) that was stored already: the transaction is to be rolled back
// and the batch read again.
var ErrAppliedBefore = errors.New("an order of the batch was applied before")

// ReadBatch reads, in tx, what deciding cmds needs: the stored orders they
// name with their lines, the stock changes and deletions applied before,
// their items, what their customers hold of items with a per-customer limit,
// and the unpaid orders of the customers order.State.Counted names. It locks
// every row the batch may change. With assumeNew (a batch of orders alone,
// as a flash sale's) orders are not read: each is taken for new, and
// WriteBatch fails with ErrAppliedBefore if one was not.
func ReadBatch(tx *gorm.DB, cmds []message.Command, shards, maxUnpaid int, assumeNew bool) (*Batch, error) {
	s := &order.State{
		Shards:    shards,
		MaxUnpaid: maxUnpaid,
		Now:       now(),
		Items:     map[int64]*items.Row{},
		Orders:    map[string]*order.Order{},
		Applied:   map[string]order.AppliedCommand{},
		Held:      map[order.CustomerItem]int{},
		Unpaid:    map[string]int{},
	}
	b := &Batch{State: s, before: map[string]*order.Order{}}
	var orderIDs, cmdIDs, customers []string
	itemIDs := map[int64]bool{}
	for i := range cmds {
		c := &cmds[i]
		switch c.Kind {
		case message.KindStock, message.KindDeleteItem:
			cmdIDs = append(cmdIDs, c.ID)
		default:
			orderIDs = append(orderIDs, c.ID)
			if c.CustomerID != "" {
				customers = append(customers, c.CustomerID)
			}
		}
		for _, id := range order.OwnItems(c, shards) {
			itemIDs[id] = true
		}
	}
	if len(orderIDs) > 0 && !assumeNew {
		// Locked in id order: parts of one order decided on two shards at once
		// meet on its row, and a common lock order keeps them from deadlocking.
		slices.Sort(orderIDs)
		var rows []orderRow
		if err := tx.Clauses(clause.Locking{Strength: "UPDATE"}).Where("id IN ?", database.IDs(orderIDs)).Order("id").Find(&rows).Error; err != nil {
			return nil, fmt.Errorf("load orders: %w", err)
		}
		orders, err := withLines(tx, rows, true)
		if err != nil {
			return nil, err
		}
		for _, o := range orders {
			s.Orders[o.ID] = o.Order
			b.before[o.ID] = o.Clone()
		}
	}
	if len(cmdIDs) > 0 {
		var seen []itemCommandRow
		if err := tx.Where("id IN ?", database.IDs(cmdIDs)).Find(&seen).Error; err != nil {
			return nil, fmt.Errorf("load applied commands: %w", err)
		}
		for _, r := range seen {
			s.Applied[r.ID] = order.AppliedCommand{ID: r.ID, ItemID: r.ItemID, Kind: message.Kind(r.Kind), Error: r.Error, AppliedAt: r.AppliedAt}
		}
	}
	ids := make([]int64, 0, len(itemIDs))
	for id := range itemIDs {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	// The single consumer per shard already serialises these rows; the lock
	// keeps an operator's manual UPDATE from slipping in between read and write.
	var rows []items.Row
	if err := tx.Clauses(clause.Locking{Strength: "UPDATE"}).Where("id IN ?", ids).Find(&rows).Error; err != nil {
		return nil, fmt.Errorf("load items: %w", err)
	}
	var limited []int64
	for i := range rows {
		s.Items[rows[i].ID] = &rows[i]
		if rows[i].MaxPerCustomer > 0 {
			limited = append(limited, rows[i].ID)
		}
	}
	if len(limited) > 0 && len(customers) > 0 {
		var held []struct {
			ItemID     int64
			CustomerID string
			Total      int
		}
		err := tx.Model(&lineRow{}).Select("item_id, customer_id, SUM(quantity) AS total").
			Where("item_id IN ? AND customer_id IN ? AND status IN ?", limited, customers, orderstatus.HoldingStatuses).
			Group("item_id, customer_id").Scan(&held).Error
		if err != nil {
			return nil, fmt.Errorf("load customer totals: %w", err)
		}
		for _, h := range held {
			s.Held[order.CustomerItem{Customer: h.CustomerID, Item: h.ItemID}] = h.Total
		}
	}
	if err := countUnpaid(tx, s, s.Counted(cmds)); err != nil {
		return nil, err
	}
	return b, nil
}

// countUnpaid reads how many unpaid orders customers hold, in one query.
func countUnpaid(tx *gorm.DB, s *order.State, customers []string) error {
	if len(customers) == 0 {
		return nil
	}
	var rows []struct {
		CustomerID string
		Orders     int
	}
	err := tx.Model(&orderRow{}).Select("listed_customer_id AS customer_id, COUNT(*) AS orders").
		Where("listed_customer_id IN ? AND display_status IN ? AND status IN ?", customers, unpaidDisplays, orderstatus.Unpaid).
		Group("listed_customer_id").Scan(&rows).Error
	if err != nil {
		return fmt.Errorf("count unpaid orders: %w", err)
	}
	for _, c := range customers {
		s.Unpaid[c] = 0
	}
	for _, r := range rows {
		s.Unpaid[r.CustomerID] = r.Orders
	}
	return nil
}

// unpaidDisplays are the display codes of unpaid orders: display_status,
// derived from the status, narrows countUnpaid's scan of a customer's index
// entries to them.
var unpaidDisplays = func() []string {
	var displays []string
	for _, st := range orderstatus.Unpaid {
		if d := orderstatus.Code(st, nil); !slices.Contains(displays, d) {
			displays = append(displays, d)
		}
	}
	return displays
}()

// WriteBatch stores what deciding b changed (d), in b's transaction tx.
func WriteBatch(tx *gorm.DB, b *Batch, d *order.Decision, assumeNew bool) error {
	for _, o := range d.Changed {
		if err := update(tx, b.before[o.ID], o); err != nil {
			return err
		}
	}
	fresh := slices.Clone(d.New)
	slices.SortFunc(fresh, func(a, b *order.Order) int { return strings.Compare(a.ID, b.ID) })
	if err := Insert(tx, fresh, assumeNew); err != nil {
		return err
	}
	if len(d.Movements) > 0 {
		rows := make([]movementRow, len(d.Movements))
		for i, m := range d.Movements {
			rows[i] = movementRow{ItemID: m.ItemID, Ref: m.Ref, Kind: m.Kind, Delta: m.Delta, CreatedAt: m.CreatedAt}
		}
		if err := tx.Create(&rows).Error; err != nil {
			return fmt.Errorf("insert stock movements: %w", err)
		}
	}
	if len(d.Applied) > 0 {
		rows := make([]itemCommandRow, len(d.Applied))
		for i, a := range d.Applied {
			rows[i] = itemCommandRow{ID: a.ID, ItemID: a.ItemID, Kind: string(a.Kind), Error: a.Error, AppliedAt: a.AppliedAt}
		}
		if err := tx.Create(&rows).Error; err != nil {
			return fmt.Errorf("insert item commands: %w", err)
		}
	}
	if err := outbox.Add(tx, b.State.Shards, d.Outbox...); err != nil {
		return err
	}
	for _, item := range d.Items {
		err := tx.Model(&items.Row{}).Where("id = ?", item.ID).Updates(map[string]any{
			"stock": item.Stock, "updated_at": item.UpdatedAt, "deleted_at": item.DeletedAt,
		}).Error
		if err != nil {
			return fmt.Errorf("update item %d: %w", item.ID, err)
		}
	}
	return nil
}
