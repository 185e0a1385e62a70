package httpapi

import (
	"bytes"
	"encoding/json"
	"testing"
	"time"

	ginjson "github.com/gin-gonic/gin/codec/json"

	"github.com/orderq/orderq/shared/message"
	"github.com/orderq/orderq/shared/orderstatus"
)

// TestAnswersAsEncodingJSON checks that answers are byte for byte what
// encoding/json would write: clients may compare or sign them.
func TestAnswersAsEncodingJSON(t *testing.T) {
	reason := "out_of_stock"
	at := time.Date(2026, 11, 22, 3, 4, 5, 123456000, time.FixedZone("WIB", 7*3600))
	for _, v := range []any{
		message.Order{ID: "0190a0b2-7c4e-7d3a-9f10-2b3c4d5e6f70", ItemID: 7, Quantity: 2,
			CustomerID: "pembeli <é&\u2028>", Status: orderstatus.Rejected, Reason: &reason, CreatedAt: at, ProcessedAt: &at,
			UpdatedAt: at.UTC(), Lines: []message.OrderLine{{ItemID: 7, Quantity: 2, Status: orderstatus.LineRejected, Reason: &reason}},
			DisplayStatus: orderstatus.Display{Code: orderstatus.ShowCanceled, Label: "Dibatalkan"}},
		message.Order{ID: "x", Status: orderstatus.Pending},
		map[string]any{"error": map[string]string{"code": "invalid_request", "message": `quantity "x" <b>`}},
		[]message.Item{{ID: 1, Name: "Kopi \"susu\"", Stock: 0, UpdatedAt: at}},
	} {
		want, err := json.Marshal(v)
		if err != nil {
			t.Fatal(err)
		}
		got, err := ginjson.API.Marshal(v)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, want) {
			t.Errorf("answer differs from encoding/json:\ngot  %s\nwant %s", got, want)
		}
	}
}
