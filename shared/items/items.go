// Package items is the items table as both services read it: the gateway
// creates and edits items, the worker alone changes their stock.
package items

import (
	"time"

	"github.com/orderq/orderq/shared/message"
)

// DefaultCurrency is the currency of an item created without one, and of
// every item created before items had prices (they cost 0).
const DefaultCurrency = "IDR"

// Row is a row of items.
type Row struct {
	ID             int64
	Name           string
	Stock          int64
	InitialStock   int64
	MaxPerCustomer int
	Price          int64  // minor units of Currency
	Currency       string // ISO 4217
	CreatedAt      time.Time
	UpdatedAt      time.Time
	DeletedAt      *time.Time
}

// TableName is the table of Row.
func (Row) TableName() string { return "items" }

// Message returns the item as clients see it.
func (r *Row) Message() message.Item {
	return message.Item{ID: r.ID, Name: r.Name, Stock: r.Stock, MaxPerCustomer: r.MaxPerCustomer,
		Price: r.Price, Currency: r.Currency, CreatedAt: r.CreatedAt, UpdatedAt: r.UpdatedAt}
}
