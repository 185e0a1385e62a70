package orderstore

import (
	"reflect"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/orderq/orderq/shared/order"
	"github.com/orderq/orderq/shared/orderstatus"
)

// inlineCase is an order, and whether its row keeps its line (see inline).
type inlineCase struct {
	name   string
	order  *order.Order
	inline bool
}

func inlineCases() []inlineCase {
	reason, other := "out_of_stock", "limit_exceeded"
	now := time.Now().UTC().Truncate(time.Microsecond)
	price := int64(1500)
	ord := func(status orderstatus.Status, reason *string, lines ...order.Line) *order.Order {
		return &order.Order{ID: uuid.Must(uuid.NewV7()).String(), CustomerID: "c", Status: status, Reason: reason, Parts: 1, PartsDone: 1,
			CreatedAt: now, ProcessedAt: &now, UpdatedAt: now, Lines: lines}
	}
	line := func(no int, item int64, status orderstatus.LineStatus, reason *string) order.Line {
		return order.Line{No: no, ItemID: item, Quantity: 2, Status: status, Reason: reason}
	}
	reasonCopy := reason // the same reason, another pointer
	reserved := line(0, 7, orderstatus.Reserved, nil)
	reserved.UnitPrice = &price
	priced := line(0, 7, orderstatus.LineRejected, &reason)
	priced.UnitPrice = &price
	return []inlineCase{
		{"rejected single line", ord(orderstatus.Rejected, &reason, line(0, 7, orderstatus.LineRejected, &reasonCopy)), true},
		{"confirmed", ord(orderstatus.Confirmed, nil, reserved), false},
		{"pending", ord(orderstatus.Pending, nil, line(0, 7, orderstatus.LinePending, nil)), false},
		{"rejected cart", ord(orderstatus.Rejected, &reason,
			line(0, 7, orderstatus.LineRejected, &reason), line(1, 8, orderstatus.LineRejected, nil)), false},
		{"line with another reason", ord(orderstatus.Rejected, &reason, line(0, 7, orderstatus.LineRejected, &other)), false},
		{"line reserved", ord(orderstatus.Rejected, &reason, line(0, 7, orderstatus.Reserved, &reason)), false},
		// A line that held stock and gave it back is not what the row keeps.
		{"line released", ord(orderstatus.Rejected, &reason, line(0, 7, orderstatus.Released, &reason)), false},
		{"line numbered 1", ord(orderstatus.Rejected, &reason, line(1, 7, orderstatus.LineRejected, &reason)), false},
		{"line with a price", ord(orderstatus.Rejected, &reason, priced), false},
	}
}

func TestInlineKeepsOnlyARejectedSingleLineInTheRow(t *testing.T) {
	for _, tt := range inlineCases() {
		t.Run(tt.name, func(t *testing.T) {
			want := tt.order.Clone()
			r, lines := rows(tt.order)
			if inlined := lines == nil; inlined != tt.inline {
				t.Fatalf("inlined: %v, want %v", inlined, tt.inline)
			}
			if !reflect.DeepEqual(tt.order, want) {
				t.Fatalf("rows changed the order: %+v, was %+v", tt.order, want)
			}
			if tt.inline && (r.ItemID == nil || *r.ItemID != want.Lines[0].ItemID || r.Quantity == nil || *r.Quantity != want.Lines[0].Quantity) {
				t.Fatalf("row %+v does not keep the line %+v", r, want.Lines[0])
			}
			if !tt.inline {
				if r.ItemID != nil || r.Quantity != nil {
					t.Fatalf("row %+v keeps a line", r)
				}
				if len(lines) != len(want.Lines) {
					t.Fatalf("%d line rows, want %d", len(lines), len(want.Lines))
				}
				for i, l := range lines {
					w := want.Lines[i]
					if l.OrderID != want.ID || l.CustomerID != want.CustomerID || l.LineNo != w.No || l.ItemID != w.ItemID ||
						l.Quantity != w.Quantity || !equal(l.UnitPrice, w.UnitPrice) || l.Status != w.Status || !equal(l.Reason, w.Reason) {
						t.Errorf("line row %+v, want line %+v of order %s", l, w, want.ID)
					}
				}
			}
			// Whichever way it was stored, the order reads back the same.
			got, err := orderOf(&r, lines)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, want) {
				t.Errorf("read back %+v, want %+v", got, want)
			}
		})
	}
}

// TestInlineRoundTrip: stored and loaded, each order reads back as it was
// stored, whether its row keeps its line or not.
func TestInlineRoundTrip(t *testing.T) {
	t.Parallel()
	db := openDB(t)
	cases := inlineCases()
	orders := make([]*order.Order, len(cases))
	for i, tt := range cases {
		orders[i] = tt.order
	}
	insert(t, db, orders...)
	for _, tt := range cases {
		t.Run(tt.name, func(t *testing.T) {
			s := loadStored(t, db, tt.order.ID)
			if inlined := len(s.Lines) == 0 && s.Row.ItemID != nil; inlined != tt.inline {
				t.Errorf("stored inline: %v (%d rows in order_lines), want %v", inlined, len(s.Lines), tt.inline)
			}
			got, err := Load(t.Context(), db, tt.order.ID)
			if err != nil {
				t.Fatalf("load: %v", err)
			}
			if want := tt.order.Message(); !reflect.DeepEqual(got, want) {
				t.Errorf("loaded %+v, want %+v", got, want)
			}
			if n := count(t, db, "SELECT COUNT(*) FROM report_order_lines WHERE order_id = ?", tt.order.ID); n != int64(len(tt.order.Lines)) {
				t.Errorf("report_order_lines shows %d lines, want %d", n, len(tt.order.Lines))
			}
		})
	}
}
