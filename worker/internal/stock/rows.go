package stock

import "time"

// The rows this package reads and writes besides packages order's and items';
// the schema is shared/database's.

type movementRow struct {
	ID        int64 `gorm:"primaryKey"`
	ItemID    int64
	Ref       string `gorm:"serializer:uuid"`
	Kind      string
	Delta     int64
	CreatedAt time.Time
}

func (movementRow) TableName() string { return "stock_movements" }

type itemCommandRow struct {
	ID        string `gorm:"serializer:uuid"`
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
