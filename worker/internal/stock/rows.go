package stock

import (
	"time"

	"github.com/orderq/orderq/shared/message"
)

// The rows this package reads and writes besides package order's; the schema
// is shared/database's.

type itemRow struct {
	ID             int64
	Name           string
	Stock          int64
	InitialStock   int64
	MaxPerCustomer int
	CreatedAt      time.Time
	UpdatedAt      time.Time
	DeletedAt      *time.Time
}

func (itemRow) TableName() string { return "items" }

func (r *itemRow) item() *message.Item {
	return &message.Item{ID: r.ID, Name: r.Name, Stock: r.Stock, MaxPerCustomer: r.MaxPerCustomer,
		CreatedAt: r.CreatedAt, UpdatedAt: r.UpdatedAt}
}

type movementRow struct {
	ID        int64 `gorm:"primaryKey"`
	ItemID    int64
	Ref       string
	Kind      string
	Delta     int64
	CreatedAt time.Time
}

func (movementRow) TableName() string { return "stock_movements" }

type itemCommandRow struct {
	ID        string
	ItemID    int64
	Kind      string
	Error     *string
	AppliedAt time.Time
}

func (itemCommandRow) TableName() string { return "item_commands" }

// Movement kinds in the ledger.
const (
	movementOrder   = "order"
	movementRelease = "release"
	movementAdjust  = "adjust"
)
