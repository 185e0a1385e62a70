// Package store is the gateway's view of the database: it creates and edits
// items (never their stock, which only the worker changes), reads orders
// (concurrent reads by id share one query), and moves them through their
// lifecycle.
package store

import (
	"context"
	"errors"
	"fmt"
	"time"

	"gorm.io/gorm"

	"github.com/orderq/orderq/api-gateway/internal/recent"
	"github.com/orderq/orderq/shared/items"
	"github.com/orderq/orderq/shared/message"
	"github.com/orderq/orderq/shared/order"
	"github.com/orderq/orderq/shared/orderstatus"
	"github.com/orderq/orderq/shared/orderstore"
)

// IntakeReadTimeout bounds each database read of an order's intake.
const IntakeReadTimeout = 2 * time.Second

// ErrNoItem means the item does not exist (or was deleted).
var ErrNoItem = errors.New("item not found")

// Store reads and writes through gorm.
type Store struct {
	db      *gorm.DB
	known   *recent.Cache[int64, bool] // item id → exists, for the order hot path
	lookups *lookups
}

// New returns a Store over db.
func New(db *gorm.DB) *Store {
	return &Store{db: db, known: recent.New[int64, bool](100_000, 5*time.Second), lookups: newLookups(db)}
}

// NewItem is an item to create. Stock is its initial stock; Currency is
// items.DefaultCurrency when empty.
type NewItem struct {
	Name           string
	Stock          int64
	MaxPerCustomer int
	Price          int64
	Currency       string
}

// CreateItem stores a new item with its initial stock.
func (s *Store) CreateItem(ctx context.Context, it NewItem) (message.Item, error) {
	now := time.Now().UTC().Truncate(time.Microsecond)
	if it.Currency == "" {
		it.Currency = items.DefaultCurrency
	}
	row := items.Row{Name: it.Name, Stock: it.Stock, InitialStock: it.Stock, MaxPerCustomer: it.MaxPerCustomer,
		Price: it.Price, Currency: it.Currency, CreatedAt: now, UpdatedAt: now}
	if err := s.db.WithContext(ctx).Create(&row).Error; err != nil {
		return message.Item{}, fmt.Errorf("create item: %w", err)
	}
	s.known.Add(row.ID, true)
	return row.Message(), nil
}

// Item returns a live item.
func (s *Store) Item(ctx context.Context, id int64) (message.Item, error) {
	var row items.Row
	err := s.db.WithContext(ctx).Where("id = ? AND deleted_at IS NULL", id).Take(&row).Error
	if errors.Is(err, gorm.ErrRecordNotFound) {
		return message.Item{}, ErrNoItem
	}
	if err != nil {
		return message.Item{}, fmt.Errorf("get item: %w", err)
	}
	return row.Message(), nil
}

// ItemExists reports whether an item is live, from a short-lived cache: an item
// deleted a moment ago may still count as existing, and its orders are then
// rejected by the worker instead.
func (s *Store) ItemExists(ctx context.Context, id int64) (bool, error) {
	if ok, hit := s.known.Get(id); hit {
		return ok, nil
	}
	// Intake must not wait on a database that does not answer: past the
	// bound the order is published unchecked (see httpapi's createOrder).
	ctx, cancel := context.WithTimeout(ctx, IntakeReadTimeout)
	defer cancel()
	var n int64
	if err := s.db.WithContext(ctx).Model(&items.Row{}).Where("id = ? AND deleted_at IS NULL", id).Count(&n).Error; err != nil {
		return false, fmt.Errorf("look up item: %w", err)
	}
	s.known.Add(id, n > 0)
	return n > 0, nil
}

// ItemGone forgets a deleted item at once on this instance.
func (s *Store) ItemGone(id int64) { s.known.Add(id, false) }

// Items returns up to limit live items with ids above afterID, by id.
func (s *Store) Items(ctx context.Context, afterID int64, limit int) ([]message.Item, error) {
	var rows []items.Row
	err := s.db.WithContext(ctx).Where("id > ? AND deleted_at IS NULL", afterID).Order("id").Limit(limit).Find(&rows).Error
	if err != nil {
		return nil, fmt.Errorf("list items: %w", err)
	}
	list := make([]message.Item, len(rows))
	for i := range rows {
		list[i] = rows[i].Message()
	}
	return list, nil
}

// ItemPatch holds the fields of an item an admin may edit directly.
type ItemPatch struct {
	Name           *string
	MaxPerCustomer *int
	// Price and Currency apply to lines reserved from now on; an order keeps
	// the price its lines were reserved at.
	Price    *int64
	Currency *string
}

// UpdateItem applies p to a live item.
func (s *Store) UpdateItem(ctx context.Context, id int64, p ItemPatch) (message.Item, error) {
	set := map[string]any{"updated_at": time.Now().UTC().Truncate(time.Microsecond)}
	if p.Name != nil {
		set["name"] = *p.Name
	}
	if p.MaxPerCustomer != nil {
		set["max_per_customer"] = *p.MaxPerCustomer
	}
	if p.Price != nil {
		set["price"] = *p.Price
	}
	if p.Currency != nil {
		set["currency"] = *p.Currency
	}
	res := s.db.WithContext(ctx).Model(&items.Row{}).Where("id = ? AND deleted_at IS NULL", id).Updates(set)
	if res.Error != nil {
		return message.Item{}, fmt.Errorf("update item: %w", res.Error)
	}
	return s.Item(ctx, id)
}

// Order returns an order the worker decided, or decided the first part of.
func (s *Store) Order(ctx context.Context, id string) (message.Order, error) {
	return s.lookups.order(ctx, id)
}

// Orders lists a customer's orders, newest first.
func (s *Store) Orders(ctx context.Context, customer, display string, after *orderstore.Cursor, limit int) (orderstore.Page, error) {
	return orderstore.List(ctx, s.db, customer, display, after, limit)
}

// MoveOrder moves an order to status to, if may allows it (see orderstore.Move).
func (s *Store) MoveOrder(ctx context.Context, id string, to orderstatus.Status, shards int, may func(message.Order) error) (message.Order, error) {
	return orderstore.Move(ctx, s.db, id, to, shards, may)
}

// MoveLine moves an order's line of item to status to (see orderstore.MoveLine).
func (s *Store) MoveLine(ctx context.Context, id string, item int64, to orderstatus.LineStatus) (message.Order, error) {
	return orderstore.MoveLine(ctx, s.db, id, item, to)
}

// MoveUnits moves units of an order to status to, all or none (see
// orderstore.MoveUnits).
func (s *Store) MoveUnits(ctx context.Context, id string, to orderstatus.LineStatus, units []order.UnitRef) (message.Order, error) {
	return orderstore.MoveUnits(ctx, s.db, id, to, units)
}

// Ping reports whether the database answers.
func (s *Store) Ping(ctx context.Context) error {
	sqlDB, err := s.db.DB()
	if err != nil {
		return err
	}
	return sqlDB.PingContext(ctx)
}
