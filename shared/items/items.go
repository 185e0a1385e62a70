// Package items is the items table as both services read it: the gateway
// creates and edits items, the worker alone changes their stock.
package items

import (
	"time"

	"github.com/orderq/orderq/shared/message"
)

// Row is a row of items.
type Row struct {
	ID             int64
	Name           string
	Stock          int64
	InitialStock   int64
	MaxPerCustomer int
	CreatedAt      time.Time
	UpdatedAt      time.Time
	DeletedAt      *time.Time
}

// TableName is the table of Row.
func (Row) TableName() string { return "items" }

// Message returns the item as clients see it.
func (r *Row) Message() message.Item {
	return message.Item{ID: r.ID, Name: r.Name, Stock: r.Stock, MaxPerCustomer: r.MaxPerCustomer,
		CreatedAt: r.CreatedAt, UpdatedAt: r.UpdatedAt}
}
