package message

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/google/uuid"
)

// Version is the version of the bodies this package reads and writes.
const Version = 1

// ContentType is set on every message orderq publishes.
const ContentType = "application/json"

// Limits on an order, shared by the gateway's validation and the worker's decoder.
const (
	MaxQuantity       = 1000
	MaxCustomerIDLen  = 64
	MaxCommandsPerMsg = 1000
)

// Kind says what a command does.
type Kind string

const (
	KindOrder      Kind = "order"       // place an order for one item
	KindStock      Kind = "stock"       // change an item's stock by Delta or to Set
	KindDeleteItem Kind = "delete_item" // delete an item; later orders are rejected
)

// Command is one change to one item's state. ID is its idempotency key: an order
// id, or the id the gateway gave a stock change or deletion.
type Command struct {
	Kind       Kind      `json:"kind"`
	ID         string    `json:"id"`
	ItemID     int64     `json:"item_id"`
	AcceptedAt time.Time `json:"accepted_at"`

	// KindOrder
	Quantity   int    `json:"quantity,omitempty"`
	CustomerID string `json:"customer_id,omitempty"`

	// KindStock: exactly one of them.
	Delta *int64 `json:"delta,omitempty"`
	Set   *int64 `json:"set,omitempty"`
}

// Commands is the body of a message on a shard queue. All commands in it belong to
// the same shard and are applied in the order they appear.
type Commands struct {
	V        int       `json:"v"`
	Commands []Command `json:"commands"`
}

// ErrMalformed marks a body that can never be applied; such a message is
// dead-lettered.
var ErrMalformed = errors.New("malformed message")

// EncodeCommands writes the body for cmds.
func EncodeCommands(cmds []Command) ([]byte, error) {
	return json.Marshal(Commands{V: Version, Commands: cmds})
}

// DecodeCommands reads and validates a shard-queue body. Any error wraps
// ErrMalformed.
func DecodeCommands(body []byte) ([]Command, error) {
	var m Commands
	if err := decodeStrict(body, &m); err != nil {
		return nil, err
	}
	if m.V != Version {
		return nil, fmt.Errorf("%w: version %d, want %d", ErrMalformed, m.V, Version)
	}
	if len(m.Commands) == 0 || len(m.Commands) > MaxCommandsPerMsg {
		return nil, fmt.Errorf("%w: %d commands", ErrMalformed, len(m.Commands))
	}
	for i := range m.Commands {
		if err := m.Commands[i].Validate(); err != nil {
			return nil, fmt.Errorf("%w: command %d: %v", ErrMalformed, i, err)
		}
	}
	return m.Commands, nil
}

// Validate checks what a worker must be able to rely on.
func (c *Command) Validate() error {
	if _, err := uuid.Parse(c.ID); err != nil || len(c.ID) != 36 {
		return fmt.Errorf("id %q is not a uuid", c.ID)
	}
	if c.ItemID <= 0 {
		return fmt.Errorf("item_id %d is not positive", c.ItemID)
	}
	switch c.Kind {
	case KindOrder:
		if c.Quantity < 1 || c.Quantity > MaxQuantity {
			return fmt.Errorf("quantity %d out of range 1..%d", c.Quantity, MaxQuantity)
		}
		if err := ValidCustomerID(c.CustomerID); err != nil {
			return err
		}
		if c.Delta != nil || c.Set != nil {
			return errors.New("order carries a stock change")
		}
	case KindStock:
		if (c.Delta == nil) == (c.Set == nil) {
			return errors.New("stock change needs exactly one of delta and set")
		}
		if c.Set != nil && *c.Set < 0 {
			return fmt.Errorf("set %d is negative", *c.Set)
		}
	case KindDeleteItem:
	default:
		return fmt.Errorf("unknown kind %q", c.Kind)
	}
	return nil
}

// ValidCustomerID checks a customer id: 1 to MaxCustomerIDLen printable
// characters.
func ValidCustomerID(s string) error {
	if s == "" || utf8.RuneCountInString(s) > MaxCustomerIDLen {
		return fmt.Errorf("customer_id must be 1 to %d characters", MaxCustomerIDLen)
	}
	if !utf8.ValidString(s) {
		return errors.New("customer_id is not valid UTF-8")
	}
	for _, r := range s {
		if !unicode.IsPrint(r) {
			return errors.New("customer_id must be printable characters")
		}
	}
	return nil
}

// Order statuses and rejection reasons, as clients see them.
const (
	StatusPending   = "pending"
	StatusConfirmed = "confirmed"
	StatusRejected  = "rejected"

	ReasonOutOfStock    = "out_of_stock"
	ReasonItemNotFound  = "item_not_found"
	ReasonLimitExceeded = "limit_exceeded"
)

// Error codes a stock change or deletion can end with.
const (
	ErrCodeInsufficientStock = "insufficient_stock"
	ErrCodeItemNotFound      = "item_not_found"
)

// Order is an order as clients see it.
type Order struct {
	ID          string     `json:"id"`
	ItemID      int64      `json:"item_id"`
	Quantity    int        `json:"quantity"`
	CustomerID  string     `json:"customer_id"`
	Status      string     `json:"status"`
	Reason      *string    `json:"reason"`
	CreatedAt   time.Time  `json:"created_at"`
	ProcessedAt *time.Time `json:"processed_at"`
}

// Final reports whether the order's outcome is decided.
func (o *Order) Final() bool { return o.Status != StatusPending }

// Item is an item as clients see it.
type Item struct {
	ID             int64     `json:"id"`
	Name           string    `json:"name"`
	Stock          int64     `json:"stock"`
	MaxPerCustomer int       `json:"max_per_customer"`
	CreatedAt      time.Time `json:"created_at"`
	UpdatedAt      time.Time `json:"updated_at"`
}

// Result is the outcome of one command.
type Result struct {
	Kind   Kind   `json:"kind"`
	ID     string `json:"id"`
	ItemID int64  `json:"item_id"`
	Order  *Order `json:"order,omitempty"` // KindOrder: the final order
	Item   *Item  `json:"item,omitempty"`  // KindStock: the item after the change
	Error  string `json:"error,omitempty"` // KindStock, KindDeleteItem: why it was refused
}

// Results is the body of a message on the results exchange: the outcomes of one
// applied batch.
type Results struct {
	V       int      `json:"v"`
	Results []Result `json:"results"`
}

// EncodeResults writes the body for rs.
func EncodeResults(rs []Result) ([]byte, error) {
	return json.Marshal(Results{V: Version, Results: rs})
}

// DecodeResults reads a results body.
func DecodeResults(body []byte) ([]Result, error) {
	var m Results
	if err := decodeStrict(body, &m); err != nil {
		return nil, err
	}
	if m.V != Version {
		return nil, fmt.Errorf("%w: version %d, want %d", ErrMalformed, m.V, Version)
	}
	return m.Results, nil
}

func decodeStrict(body []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return fmt.Errorf("%w: %v", ErrMalformed, err)
	}
	if dec.More() {
		return fmt.Errorf("%w: trailing data", ErrMalformed)
	}
	return nil
}
