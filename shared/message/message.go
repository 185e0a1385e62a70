package message

import (
	"errors"
	"fmt"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/bytedance/sonic"
	"github.com/google/uuid"

	"github.com/orderq/orderq/shared/orderstatus"
)

// Version is the version of the bodies this package reads and writes.
const Version = 1

// ContentType is set on every message orderq publishes.
const ContentType = "application/json"

// Limits on an order, shared by the gateway's validation and the worker's decoder.
const (
	MaxQuantity       = 1000
	MaxCustomerIDLen  = 64
	MaxLines          = 50
	MaxCommandsPerMsg = 1000
)

// Kind says what a command does.
type Kind string

const (
	// KindOrder places an order. It goes to the shard of its first line (the
	// order's home), which decides its own lines and forwards the others as
	// KindOrderPart commands.
	KindOrder Kind = "order"
	// KindOrderPart asks another shard to decide its lines of an order.
	KindOrderPart Kind = "order_part"
	// KindRelease gives back the stock an order holds on this shard's lines
	// (the order was rejected, canceled or timed out).
	KindRelease    Kind = "release"
	KindStock      Kind = "stock"       // change an item's stock by Delta or to Set
	KindDeleteItem Kind = "delete_item" // delete an item; later orders are rejected
)

// Line is one item of an order. No is its position in the order, from 0.
type Line struct {
	No       int   `json:"no"`
	ItemID   int64 `json:"item_id"`
	Quantity int   `json:"quantity"`
}

// Command is one change to the state of one shard's items. ID is its
// idempotency key: the order id (for KindOrder, KindOrderPart, KindRelease), or
// the id the gateway gave a stock change or deletion.
type Command struct {
	Kind       Kind      `json:"kind"`
	ID         string    `json:"id"`
	AcceptedAt time.Time `json:"accepted_at"`

	// KindStock, KindDeleteItem.
	ItemID int64 `json:"item_id,omitempty"`

	// KindOrder: all lines; KindOrderPart, KindRelease: this shard's lines.
	Lines      []Line `json:"lines,omitempty"`
	CustomerID string `json:"customer_id,omitempty"` // KindOrder, KindOrderPart
	Parts      int    `json:"parts,omitempty"`       // KindOrder, KindOrderPart: shards the order spans

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
	return JSON.Marshal(Commands{V: Version, Commands: cmds})
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
	switch c.Kind {
	case KindOrder, KindOrderPart:
		if err := validLines(c.Lines, c.Kind == KindOrder); err != nil {
			return err
		}
		if err := ValidCustomerID(c.CustomerID); err != nil {
			return err
		}
		if c.Parts < 1 || c.Parts > MaxLines || (c.Kind == KindOrderPart && c.Parts < 2) {
			return fmt.Errorf("parts %d out of range", c.Parts)
		}
	case KindRelease:
		if err := validLines(c.Lines, false); err != nil {
			return err
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
	switch c.Kind {
	case KindStock, KindDeleteItem:
		if c.ItemID <= 0 {
			return fmt.Errorf("item_id %d is not positive", c.ItemID)
		}
		if c.Lines != nil || c.CustomerID != "" || c.Parts != 0 {
			return fmt.Errorf("%s carries order fields", c.Kind)
		}
	default:
		if c.ItemID != 0 || c.Delta != nil || c.Set != nil {
			return fmt.Errorf("%s carries item fields", c.Kind)
		}
	}
	return nil
}

// validLines checks lines: 1 to MaxLines, distinct items, quantities in range;
// numbered 0, 1, … when whole (a part carries a subset of the numbers).
func validLines(lines []Line, whole bool) error {
	if len(lines) == 0 || len(lines) > MaxLines {
		return fmt.Errorf("%d lines, want 1 to %d", len(lines), MaxLines)
	}
	items := make(map[int64]bool, len(lines))
	nos := make(map[int]bool, len(lines))
	for i, l := range lines {
		switch {
		case l.ItemID <= 0:
			return fmt.Errorf("line %d: item_id %d is not positive", i, l.ItemID)
		case l.Quantity < 1 || l.Quantity > MaxQuantity:
			return fmt.Errorf("line %d: quantity %d out of range 1..%d", i, l.Quantity, MaxQuantity)
		case items[l.ItemID]:
			return fmt.Errorf("line %d: item %d appears twice", i, l.ItemID)
		case whole && l.No != i, l.No < 0 || l.No >= MaxLines || nos[l.No]:
			return fmt.Errorf("line %d: bad line number %d", i, l.No)
		}
		items[l.ItemID] = true
		nos[l.No] = true
	}
	return nil
}

// Items returns the items a command touches.
func (c *Command) Items() []int64 {
	if c.ItemID != 0 {
		return []int64{c.ItemID}
	}
	ids := make([]int64, len(c.Lines))
	for i, l := range c.Lines {
		ids[i] = l.ItemID
	}
	return ids
}

// Home returns the item whose shard a command is routed to: for an order, its
// first line's; for the others, any of their items (all are on one shard).
func (c *Command) Home() int64 {
	if c.ItemID != 0 {
		return c.ItemID
	}
	return c.Lines[0].ItemID
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

// Rejection reasons.
const (
	ReasonOutOfStock     = "out_of_stock"
	ReasonItemNotFound   = "item_not_found"
	ReasonLimitExceeded  = "limit_exceeded"
	ReasonPaymentTimeout = "payment_timeout"
	ReasonCanceled       = "canceled"
	// ReasonCurrencyMismatch: the line's item is priced in another currency
	// than the order's (that of its first reserved line).
	ReasonCurrencyMismatch = "currency_mismatch"
	// ReasonUnpaidLimit: the customer already held as many unpaid orders as
	// the worker's MAX_UNPAID_PER_CUSTOMER allows.
	ReasonUnpaidLimit = "unpaid_limit"
)

// Error codes a stock change or deletion can end with.
const (
	ErrCodeInsufficientStock = "insufficient_stock"
	ErrCodeItemNotFound      = "item_not_found"
)

// Order is an order as clients see it. ItemID and Quantity repeat the line of
// a single-line order, so clients of single-item orders need not read Lines.
type Order struct {
	ID         string             `json:"id"`
	ItemID     int64              `json:"item_id,omitempty"`
	Quantity   int                `json:"quantity,omitempty"`
	CustomerID string             `json:"customer_id"`
	Status     orderstatus.Status `json:"status"`
	Reason     *string            `json:"reason"`
	Lines      []OrderLine        `json:"lines"`
	// Total is Σ quantity × unit_price of the lines, in Currency (minor
	// units); both are fixed when the order is decided confirmed and null
	// until then, and for good when it is rejected.
	Total    *int64  `json:"total"`
	Currency *string `json:"currency"`
	// RefundRequired flags an order a payment arrived for that could not pay
	// it (it was canceled, rejected or paid already): the money goes back.
	RefundRequired bool       `json:"refund_required"`
	CreatedAt      time.Time  `json:"created_at"`
	ProcessedAt    *time.Time `json:"processed_at"`
	UpdatedAt      time.Time  `json:"updated_at"`
	// DisplayStatus is what the customer sees, as it was stored with the
	// order's last change: lists filter on the same value.
	DisplayStatus orderstatus.Display `json:"display_status"`
}

// OrderLine is one line of an order with its own status: pending until its
// shard decided it, then reserved (it holds stock) or rejected (it never held
// any; Reason says why when the line itself failed); a reserved line is
// released when it gives its stock back. A line that was reserved has
// Quantity units, which move on through the fulfilment states each on its
// own; the line's status is then the earliest its units are in.
type OrderLine struct {
	ItemID   int64 `json:"item_id"`
	Quantity int   `json:"quantity"`
	// UnitPrice is the item's price when the line was reserved; null for a
	// line that never was.
	UnitPrice *int64                 `json:"unit_price"`
	Status    orderstatus.LineStatus `json:"status"`
	Reason    *string                `json:"reason"`
	// Units are the line's units in order, none for a line never reserved.
	Units []Unit `json:"units"`
}

// Unit is one unit of a line: Unit is its number in the line, from 1.
type Unit struct {
	Unit   int                    `json:"unit"`
	Status orderstatus.LineStatus `json:"status"`
}

// Final reports whether the order's outcome is decided.
func (o *Order) Final() bool { return o.Status.Final() }

// Item is an item as clients see it.
type Item struct {
	ID             int64     `json:"id"`
	Name           string    `json:"name"`
	Stock          int64     `json:"stock"`
	MaxPerCustomer int       `json:"max_per_customer"`
	Price          int64     `json:"price"`    // in minor units of Currency
	Currency       string    `json:"currency"` // ISO 4217, upper case
	CreatedAt      time.Time `json:"created_at"`
	UpdatedAt      time.Time `json:"updated_at"`
}

// Result is the outcome of one command.
type Result struct {
	Kind   Kind   `json:"kind"`
	ID     string `json:"id"`
	ItemID int64  `json:"item_id"`
	// Order is the order's state after the batch or change that produced
	// the result: decided or still pending (a cart some of whose parts are
	// decided), released, paid, moved, … Its UpdatedAt orders its states.
	Order *Order `json:"order,omitempty"`
	Item  *Item  `json:"item,omitempty"`  // KindStock: the item after the change
	Error string `json:"error,omitempty"` // KindStock, KindDeleteItem: why it was refused
}

// Results is the body of a message on the results exchange: the outcomes of one
// applied batch.
type Results struct {
	V       int      `json:"v"`
	Results []Result `json:"results"`
}

// EncodeResults writes the body for rs.
func EncodeResults(rs []Result) ([]byte, error) {
	return JSON.Marshal(Results{V: Version, Results: rs})
}

// DecodeResults reads a results body. Unlike commands, results are read
// leniently: a field added by a newer worker is ignored (an incompatible change
// gets a new Version), and every gateway reads every result, where a strict
// decoder cost three times the allocations.
func DecodeResults(body []byte) ([]Result, error) {
	var m Results
	if err := JSON.Unmarshal(body, &m); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrMalformed, err)
	}
	if m.V != Version {
		return nil, fmt.Errorf("%w: version %d, want %d", ErrMalformed, m.V, Version)
	}
	return m.Results, nil
}

func decodeStrict(body []byte, v any) error {
	if err := Strict.Unmarshal(body, v); err != nil {
		return fmt.Errorf("%w: %v", ErrMalformed, err)
	}
	return nil
}

// JSON is sonic configured to behave as encoding/json does, except that what
// a type's MarshalJSON writes (times) is trusted rather than re-validated.
// Messages go through it, and the gateway renders its answers with it: every
// order crosses the broker twice as JSON, and sonic took a third of
// encoding/json's CPU for it.
var JSON = jsonConfig.Froze()

// Strict is JSON refusing unknown fields, for what must be understood in full:
// a command, a request's body.
var Strict = func() sonic.API {
	c := jsonConfig
	c.DisallowUnknownFields = true
	return c.Froze()
}()

var jsonConfig = sonic.Config{
	EscapeHTML: true, SortMapKeys: true, CopyString: true, ValidateString: true, NoValidateJSONMarshaler: true,
}
