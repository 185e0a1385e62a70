package order

import (
	"reflect"
	"testing"
	"time"

	"github.com/orderq/orderq/shared/orderstatus"
)

func TestInlineKeepsOnlyARejectedSingleLineInTheRow(t *testing.T) {
	reason, other := "out_of_stock", "limit_exceeded"
	now := time.Now()
	row := func(status string, reason *string) Row {
		return Row{ID: "o1", CustomerID: "c", Status: status, Reason: reason, Parts: 1, PartsDone: 1, CreatedAt: now, UpdatedAt: now}
	}
	line := func(no int, item int64, status string, reason *string) LineRow {
		return LineRow{OrderID: "o1", LineNo: no, ItemID: item, Quantity: 2, CustomerID: "c", Status: status, Reason: reason}
	}
	reasonCopy := reason // the same reason, another pointer
	tests := []struct {
		name   string
		row    Row
		lines  []LineRow
		inline bool
	}{
		{"rejected single line", row(orderstatus.Rejected, &reason), []LineRow{line(0, 7, orderstatus.LineRejected, &reasonCopy)}, true},
		{"confirmed", row(orderstatus.Confirmed, nil), []LineRow{line(0, 7, orderstatus.Reserved, nil)}, false},
		{"pending", row(orderstatus.Pending, nil), []LineRow{line(0, 7, orderstatus.LinePending, nil)}, false},
		{"rejected cart", row(orderstatus.Rejected, &reason),
			[]LineRow{line(0, 7, orderstatus.LineRejected, &reason), line(1, 8, orderstatus.LineRejected, nil)}, false},
		{"line with another reason", row(orderstatus.Rejected, &reason), []LineRow{line(0, 7, orderstatus.LineRejected, &other)}, false},
		{"line reserved", row(orderstatus.Rejected, &reason), []LineRow{line(0, 7, orderstatus.Reserved, &reason)}, false},
		// A line that held stock and gave it back is not what the row keeps.
		{"line released", row(orderstatus.Rejected, &reason), []LineRow{line(0, 7, orderstatus.Released, &reason)}, false},
		{"line numbered 1", row(orderstatus.Rejected, &reason), []LineRow{line(1, 7, orderstatus.LineRejected, &reason)}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := tt.row
			stored := Inline(&r, tt.lines)
			if inlined := stored == nil; inlined != tt.inline {
				t.Fatalf("inlined: %v, want %v", inlined, tt.inline)
			}
			if !tt.inline && (!reflect.DeepEqual(stored, tt.lines) || r.ItemID != nil || r.Quantity != nil) {
				t.Fatalf("lines %+v and row %+v changed", stored, r)
			}
			// Whichever way it was stored, the order reads back the same.
			if got, want := Message(&r, Lines(&r, stored)), Message(&tt.row, tt.lines); !reflect.DeepEqual(got, want) {
				t.Errorf("read back %+v, want %+v", got, want)
			}
		})
	}
}
