package httpapi

import (
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/orderq/orderq/shared/message"
)

// TestBadInput sends every endpoint requests it must refuse, and checks each
// answer's status and error body, that the status is one the OpenAPI document
// lists for the operation, and that nothing was published or written (no
// order moved, no release queued).
func TestBadInput(t *testing.T) {
	t.Parallel()
	db := testDB(t)
	seed := newTestServer(t, db).createItem(t, "sneaker", 10, 0)
	item := fmt.Sprintf("/api/v1/items/%d", seed.ID)
	const unknownItem = "/api/v1/items/999999"
	order := fmt.Sprintf(`{"item_id":%d,"quantity":1,"customer_id":"c-1"}`, seed.ID)
	orderID := uuid.NewString()
	huge := func(prefix string) string { return prefix + strings.Repeat("a", maxBody) + `"}` }
	noAuth := map[string]string{"Authorization": ""}
	doc := loadDoc(t)
	// Two decided orders for the lifecycle routes: one that may still move,
	// one that may not.
	created := time.Now().UTC().Truncate(time.Microsecond).Add(-time.Hour)
	confirmed := insertCart(t, db, newCart("c-1", stConfirmed, created, []int64{seed.ID}, lnReserved))
	fulfilled := insertCart(t, db, newCart("c-1", stFulfilled, created, []int64{seed.ID}, lnCleaning))
	move := "/api/v1/orders/" + confirmed.ID
	done := "/api/v1/orders/" + fulfilled.ID
	unknownOrder := "/api/v1/orders/" + orderID
	line := fmt.Sprintf("%s/lines/%d/status", move, seed.ID)
	cart := func(lines string) string { return `{"customer_id":"c-1","lines":` + lines + `}` }

	tests := []struct {
		name    string
		method  string
		target  string
		body    string
		header  map[string]string
		noAdmin bool // the gateway has no ADMIN_TOKEN
		status  int
		code    string
	}{
		// POST /api/v1/orders
		{name: "order: malformed JSON", method: "POST", target: "/api/v1/orders", body: `{"item_id":`, status: 400, code: "invalid_json"},
		{name: "order: empty body", method: "POST", target: "/api/v1/orders", body: "", status: 400, code: "invalid_json"},
		{name: "order: blank body", method: "POST", target: "/api/v1/orders", body: " \n\t", status: 400, code: "invalid_json"},
		{name: "order: array body", method: "POST", target: "/api/v1/orders", body: `[1,2]`, status: 400, code: "invalid_json"},
		{name: "order: string body", method: "POST", target: "/api/v1/orders", body: `"order"`, status: 400, code: "invalid_json"},
		{name: "order: second object after the first", method: "POST", target: "/api/v1/orders", body: order + order, status: 400, code: "invalid_json"},
		{name: "order: garbage after the object", method: "POST", target: "/api/v1/orders", body: order + " x", status: 400, code: "invalid_json"},
		{name: "order: null body", method: "POST", target: "/api/v1/orders", body: `null`, status: 422, code: "validation_failed"},
		{name: "order: a key twice", method: "POST", target: "/api/v1/orders", body: fmt.Sprintf(`{"item_id":%d,"customer_id":"c-1","customer_id":"c-2"}`, seed.ID), status: 400, code: "invalid_json"},
		{name: "order: a key twice, in another case", method: "POST", target: "/api/v1/orders", body: fmt.Sprintf(`{"item_id":%d,"customer_id":"c-1","CUSTOMER_ID":"c-2"}`, seed.ID), status: 400, code: "invalid_json"},
		{name: "order: a key twice, escaped", method: "POST", target: "/api/v1/orders", body: fmt.Sprintf(`{"item_id":%d,"customer_id":"c-1","\u0063ustomer_id":"c-2"}`, seed.ID), status: 400, code: "invalid_json"},
		{name: "order: a key twice in a line", method: "POST", target: "/api/v1/orders", body: cart(fmt.Sprintf(`[{"item_id":%d,"quantity":1,"quantity":2}]`, seed.ID)), status: 400, code: "invalid_json"},
		{name: "order: invalid UTF-8", method: "POST", target: "/api/v1/orders", body: fmt.Sprintf("{\"item_id\":%d,\"customer_id\":\"c-\xff\"}", seed.ID), status: 400, code: "invalid_json"},
		{name: "order: a control character", method: "POST", target: "/api/v1/orders", body: fmt.Sprintf(`{"item_id":%d,"customer_id":"c-\u0007"}`, seed.ID), status: 422, code: "validation_failed"},
		{name: "order: unknown field", method: "POST", target: "/api/v1/orders", body: `{"item_id":1,"customer_id":"c-1","coupon":"x"}`, status: 422, code: "validation_failed"},
		{name: "order: quantity as string", method: "POST", target: "/api/v1/orders", body: `{"item_id":1,"quantity":"1","customer_id":"c-1"}`, status: 422, code: "validation_failed"},
		{name: "order: quantity as float", method: "POST", target: "/api/v1/orders", body: `{"item_id":1,"quantity":1.5,"customer_id":"c-1"}`, status: 422, code: "validation_failed"},
		{name: "order: quantity 0", method: "POST", target: "/api/v1/orders", body: `{"item_id":1,"quantity":0,"customer_id":"c-1"}`, status: 422, code: "validation_failed"},
		{name: "order: quantity 1001", method: "POST", target: "/api/v1/orders", body: `{"item_id":1,"quantity":1001,"customer_id":"c-1"}`, status: 422, code: "validation_failed"},
		{name: "order: negative quantity", method: "POST", target: "/api/v1/orders", body: `{"item_id":1,"quantity":-1,"customer_id":"c-1"}`, status: 422, code: "validation_failed"},
		{name: "order: item_id as string", method: "POST", target: "/api/v1/orders", body: `{"item_id":"1","customer_id":"c-1"}`, status: 422, code: "validation_failed"},
		{name: "order: item_id 0", method: "POST", target: "/api/v1/orders", body: `{"item_id":0,"customer_id":"c-1"}`, status: 422, code: "validation_failed"},
		{name: "order: negative item_id", method: "POST", target: "/api/v1/orders", body: `{"item_id":-5,"customer_id":"c-1"}`, status: 422, code: "validation_failed"},
		{name: "order: item_id beyond int64", method: "POST", target: "/api/v1/orders", body: `{"item_id":99999999999999999999,"customer_id":"c-1"}`, status: 422, code: "validation_failed"},
		{name: "order: missing item_id", method: "POST", target: "/api/v1/orders", body: `{"quantity":1,"customer_id":"c-1"}`, status: 422, code: "validation_failed"},
		{name: "order: missing customer_id", method: "POST", target: "/api/v1/orders", body: `{"item_id":1,"quantity":1}`, status: 422, code: "validation_failed"},
		{name: "order: empty customer_id", method: "POST", target: "/api/v1/orders", body: `{"item_id":1,"customer_id":""}`, status: 422, code: "validation_failed"},
		{name: "order: customer_id of 65 characters", method: "POST", target: "/api/v1/orders", body: `{"item_id":1,"customer_id":"` + strings.Repeat("c", 65) + `"}`, status: 422, code: "validation_failed"},
		{name: "order: customer_id of 65 multibyte characters", method: "POST", target: "/api/v1/orders", body: `{"item_id":1,"customer_id":"` + strings.Repeat("é", 65) + `"}`, status: 422, code: "validation_failed"},
		{name: "order: customer_id with a bell", method: "POST", target: "/api/v1/orders", body: `{"item_id":1,"customer_id":"c\u0007"}`, status: 422, code: "validation_failed"},
		{name: "order: customer_id with a newline", method: "POST", target: "/api/v1/orders", body: `{"item_id":1,"customer_id":"a\nb"}`, status: 422, code: "validation_failed"},
		{name: "order: customer_id as number", method: "POST", target: "/api/v1/orders", body: `{"item_id":1,"customer_id":42}`, status: 422, code: "validation_failed"},
		{name: "order: body over 64 KiB", method: "POST", target: "/api/v1/orders", body: huge(`{"item_id":1,"customer_id":"`), status: 413, code: "body_too_large"},
		{name: "order: Prefer wait=31", method: "POST", target: "/api/v1/orders", body: order, header: map[string]string{"Prefer": "wait=31"}, status: 422, code: "validation_failed"},
		{name: "order: Prefer wait=x", method: "POST", target: "/api/v1/orders", body: order, header: map[string]string{"Prefer": "wait=x"}, status: 422, code: "validation_failed"},
		{name: "order: Prefer wait=-1", method: "POST", target: "/api/v1/orders", body: order, header: map[string]string{"Prefer": "respond-async, wait=-1"}, status: 422, code: "validation_failed"},
		{name: "order: Idempotency-Key of 256 characters", method: "POST", target: "/api/v1/orders", body: order, header: map[string]string{"Idempotency-Key": strings.Repeat("k", 256)}, status: 422, code: "validation_failed"},
		{name: "order: Idempotency-Key with a space", method: "POST", target: "/api/v1/orders", body: order, header: map[string]string{"Idempotency-Key": "my key"}, status: 422, code: "validation_failed"},
		{name: "order: Idempotency-Key not ASCII", method: "POST", target: "/api/v1/orders", body: order, header: map[string]string{"Idempotency-Key": "clé"}, status: 422, code: "validation_failed"},
		{name: "order: unknown item", method: "POST", target: "/api/v1/orders", body: `{"item_id":999999,"customer_id":"c-1"}`, status: 404, code: "item_not_found"},
		{name: "order: unknown item with Idempotency-Key", method: "POST", target: "/api/v1/orders", body: `{"item_id":999999,"customer_id":"c-1"}`, header: map[string]string{"Idempotency-Key": "k-unknown"}, status: 404, code: "item_not_found"},

		{name: "order: cart without lines", method: "POST", target: "/api/v1/orders", body: cart(`[]`), status: 422, code: "validation_failed"},
		{name: "order: cart of null lines", method: "POST", target: "/api/v1/orders", body: `{"customer_id":"c-1","lines":[null]}`, status: 422, code: "validation_failed"},
		{name: "order: cart lines not an array", method: "POST", target: "/api/v1/orders", body: cart(`{"item_id":1}`), status: 422, code: "validation_failed"},
		{name: "order: cart line not an object", method: "POST", target: "/api/v1/orders", body: cart(`[1]`), status: 422, code: "validation_failed"},
		{name: "order: cart line quantity 0", method: "POST", target: "/api/v1/orders", body: cart(fmt.Sprintf(`[{"item_id":%d,"quantity":0}]`, seed.ID)), status: 422, code: "validation_failed"},
		{name: "order: cart line of a duplicate item", method: "POST", target: "/api/v1/orders", body: cart(fmt.Sprintf(`[{"item_id":%d},{"item_id":%d}]`, seed.ID, seed.ID)), status: 422, code: "validation_failed"},
		{name: "order: cart of 51 lines", method: "POST", target: "/api/v1/orders", body: cart(`[` + strings.Repeat(`{"item_id":1},`, 50) + `{"item_id":1}]`), status: 422, code: "validation_failed"},
		{name: "order: item_id and lines", method: "POST", target: "/api/v1/orders", body: fmt.Sprintf(`{"customer_id":"c-1","item_id":%d,"lines":[{"item_id":%d}]}`, seed.ID, seed.ID), status: 422, code: "validation_failed"},
		{name: "order: cart with an unknown item", method: "POST", target: "/api/v1/orders", body: cart(fmt.Sprintf(`[{"item_id":%d},{"item_id":999999}]`, seed.ID)), status: 404, code: "item_not_found"},

		// GET /api/v1/orders
		{name: "list orders: no customer_id", method: "GET", target: "/api/v1/orders", status: 422, code: "validation_failed"},
		{name: "list orders: empty customer_id", method: "GET", target: "/api/v1/orders?customer_id=", status: 422, code: "validation_failed"},
		{name: "list orders: customer_id of 65 characters", method: "GET", target: "/api/v1/orders?customer_id=" + strings.Repeat("c", 65), status: 422, code: "validation_failed"},
		{name: "list orders: customer_id with a control character", method: "GET", target: "/api/v1/orders?customer_id=c%07", status: 422, code: "validation_failed"},
		{name: "list orders: unknown display_status", method: "GET", target: "/api/v1/orders?customer_id=c-1&display_status=lost", status: 422, code: "validation_failed"},
		{name: "list orders: display_status in capitals", method: "GET", target: "/api/v1/orders?customer_id=c-1&display_status=SHIPPED", status: 422, code: "validation_failed"},
		{name: "list orders: display_status an order status", method: "GET", target: "/api/v1/orders?customer_id=c-1&display_status=paid", status: 422, code: "validation_failed"},
		{name: "list orders: limit 0", method: "GET", target: "/api/v1/orders?customer_id=c-1&limit=0", status: 422, code: "validation_failed"},
		{name: "list orders: limit 101", method: "GET", target: "/api/v1/orders?customer_id=c-1&limit=101", status: 422, code: "validation_failed"},
		{name: "list orders: limit abc", method: "GET", target: "/api/v1/orders?customer_id=c-1&limit=abc", status: 422, code: "validation_failed"},
		{name: "list orders: limit -1", method: "GET", target: "/api/v1/orders?customer_id=c-1&limit=-1", status: 422, code: "validation_failed"},
		{name: "list orders: before a word", method: "GET", target: "/api/v1/orders?customer_id=c-1&before=yesterday", status: 422, code: "validation_failed"},
		{name: "list orders: before a date", method: "GET", target: "/api/v1/orders?customer_id=c-1&before=2025-01-02", status: 422, code: "validation_failed"},
		{name: "list orders: before without a zone", method: "GET", target: "/api/v1/orders?customer_id=c-1&before=2025-01-02T15:04:05", status: 422, code: "validation_failed"},
		{name: "list orders: before a Unix time", method: "GET", target: "/api/v1/orders?customer_id=c-1&before=1735830245", status: 422, code: "validation_failed"},

		// POST /api/v1/orders/{id}/pay, /cancel
		{name: "pay: not a uuid", method: "POST", target: "/api/v1/orders/not-a-uuid/pay", status: 400, code: "invalid_id"},
		{name: "pay: uppercase uuid", method: "POST", target: "/api/v1/orders/" + strings.ToUpper(orderID) + "/pay", status: 400, code: "invalid_id"},
		{name: "pay: unknown order", method: "POST", target: unknownOrder + "/pay", status: 404, code: "order_not_found"},
		{name: "pay: fulfilled order", method: "POST", target: done + "/pay", status: 409, code: "invalid_transition"},
		{name: "cancel: not a uuid", method: "POST", target: "/api/v1/orders/123/cancel", status: 400, code: "invalid_id"},
		{name: "cancel: unknown order", method: "POST", target: unknownOrder + "/cancel", status: 404, code: "order_not_found"},
		{name: "cancel: fulfilled order", method: "POST", target: done + "/cancel", status: 409, code: "invalid_transition"},
		{name: "GET on pay", method: "GET", target: move + "/pay", status: 405, code: "method_not_allowed"},

		// POST /api/v1/orders/{id}/status
		{name: "order status: no Authorization", method: "POST", target: move + "/status", body: `{"status":"paid"}`, header: noAuth, status: 401, code: "unauthorized"},
		{name: "order status: wrong token", method: "POST", target: move + "/status", body: `{"status":"paid"}`, header: map[string]string{"Authorization": "Bearer wrong"}, status: 401, code: "unauthorized"},
		{name: "order status: ADMIN_TOKEN unset", method: "POST", target: move + "/status", body: `{"status":"paid"}`, noAdmin: true, status: 401, code: "unauthorized"},
		{name: "order status: not a uuid", method: "POST", target: "/api/v1/orders/abc/status", body: `{"status":"paid"}`, status: 400, code: "invalid_id"},
		{name: "order status: malformed JSON", method: "POST", target: move + "/status", body: `{"status":`, status: 400, code: "invalid_json"},
		{name: "order status: empty body", method: "POST", target: move + "/status", body: "", status: 400, code: "invalid_json"},
		{name: "order status: array body", method: "POST", target: move + "/status", body: `["paid"]`, status: 400, code: "invalid_json"},
		{name: "order status: trailing data", method: "POST", target: move + "/status", body: `{"status":"paid"} {}`, status: 400, code: "invalid_json"},
		{name: "order status: missing status", method: "POST", target: move + "/status", body: `{}`, status: 422, code: "validation_failed"},
		{name: "order status: null status", method: "POST", target: move + "/status", body: `{"status":null}`, status: 422, code: "validation_failed"},
		{name: "order status: empty status", method: "POST", target: move + "/status", body: `{"status":""}`, status: 422, code: "validation_failed"},
		{name: "order status: status as number", method: "POST", target: move + "/status", body: `{"status":3}`, status: 422, code: "validation_failed"},
		{name: "order status: unknown field", method: "POST", target: move + "/status", body: `{"status":"paid","note":"x"}`, status: 422, code: "validation_failed"},
		{name: "order status: body over 64 KiB", method: "POST", target: move + "/status", body: huge(`{"status":"`), status: 413, code: "body_too_large"},
		{name: "order status: unknown order", method: "POST", target: unknownOrder + "/status", body: `{"status":"paid"}`, status: 404, code: "order_not_found"},
		{name: "order status: forbidden move", method: "POST", target: move + "/status", body: `{"status":"fulfilled"}`, status: 409, code: "invalid_transition"},
		{name: "order status: unknown status", method: "POST", target: move + "/status", body: `{"status":"lost"}`, status: 409, code: "invalid_transition"},

		// POST /api/v1/orders/{id}/lines/{item_id}/status
		{name: "line status: no Authorization", method: "POST", target: line, body: `{"status":"transit_for_outbound"}`, header: noAuth, status: 401, code: "unauthorized"},
		{name: "line status: ADMIN_TOKEN unset", method: "POST", target: line, body: `{"status":"transit_for_outbound"}`, noAdmin: true, status: 401, code: "unauthorized"},
		{name: "line status: order id not a uuid", method: "POST", target: fmt.Sprintf("/api/v1/orders/abc/lines/%d/status", seed.ID), body: `{"status":"transit_for_outbound"}`, status: 400, code: "invalid_id"},
		{name: "line status: item_id abc", method: "POST", target: move + "/lines/abc/status", body: `{"status":"transit_for_outbound"}`, status: 400, code: "invalid_id"},
		{name: "line status: item_id 0", method: "POST", target: move + "/lines/0/status", body: `{"status":"transit_for_outbound"}`, status: 400, code: "invalid_id"},
		{name: "line status: item_id -1", method: "POST", target: move + "/lines/-1/status", body: `{"status":"transit_for_outbound"}`, status: 400, code: "invalid_id"},
		{name: "line status: item_id 1.5", method: "POST", target: move + "/lines/1.5/status", body: `{"status":"transit_for_outbound"}`, status: 400, code: "invalid_id"},
		{name: "line status: item_id beyond int64", method: "POST", target: move + "/lines/99999999999999999999/status", body: `{"status":"transit_for_outbound"}`, status: 400, code: "invalid_id"},
		{name: "line status: malformed JSON", method: "POST", target: line, body: `{"status"`, status: 400, code: "invalid_json"},
		{name: "line status: empty body", method: "POST", target: line, body: "", status: 400, code: "invalid_json"},
		{name: "line status: missing status", method: "POST", target: line, body: `{}`, status: 422, code: "validation_failed"},
		{name: "line status: empty status", method: "POST", target: line, body: `{"status":""}`, status: 422, code: "validation_failed"},
		{name: "line status: status as array", method: "POST", target: line, body: `{"status":["x"]}`, status: 422, code: "validation_failed"},
		{name: "line status: body over 64 KiB", method: "POST", target: line, body: huge(`{"status":"`), status: 413, code: "body_too_large"},
		{name: "line status: unknown order", method: "POST", target: fmt.Sprintf("%s/lines/%d/status", unknownOrder, seed.ID), body: `{"status":"transit_for_outbound"}`, status: 404, code: "order_not_found"},
		{name: "line status: no line for the item", method: "POST", target: move + "/lines/999999/status", body: `{"status":"transit_for_outbound"}`, status: 404, code: "line_not_found"},
		{name: "line status: under a confirmed order", method: "POST", target: line, body: `{"status":"transit_for_outbound"}`, status: 409, code: "invalid_transition"},

		// POST /api/v1/items
		{name: "create item: malformed JSON", method: "POST", target: "/api/v1/items", body: `{"name":"x",`, status: 400, code: "invalid_json"},
		{name: "create item: empty body", method: "POST", target: "/api/v1/items", body: "", status: 400, code: "invalid_json"},
		{name: "create item: trailing data", method: "POST", target: "/api/v1/items", body: `{"name":"x","stock":1} {}`, status: 400, code: "invalid_json"},
		{name: "create item: unknown field", method: "POST", target: "/api/v1/items", body: `{"name":"x","stock":1,"colour":"red"}`, status: 422, code: "validation_failed"},
		{name: "create item: missing name", method: "POST", target: "/api/v1/items", body: `{"stock":1}`, status: 422, code: "validation_failed"},
		{name: "create item: empty name", method: "POST", target: "/api/v1/items", body: `{"name":"","stock":1}`, status: 422, code: "validation_failed"},
		{name: "create item: blank name", method: "POST", target: "/api/v1/items", body: `{"name":"   ","stock":1}`, status: 422, code: "validation_failed"},
		{name: "create item: name of 201 characters", method: "POST", target: "/api/v1/items", body: `{"name":"` + strings.Repeat("n", 201) + `","stock":1}`, status: 422, code: "validation_failed"},
		{name: "create item: name as number", method: "POST", target: "/api/v1/items", body: `{"name":5,"stock":1}`, status: 422, code: "validation_failed"},
		{name: "create item: missing stock", method: "POST", target: "/api/v1/items", body: `{"name":"x"}`, status: 422, code: "validation_failed"},
		{name: "create item: stock -1", method: "POST", target: "/api/v1/items", body: `{"name":"x","stock":-1}`, status: 422, code: "validation_failed"},
		{name: "create item: stock above max", method: "POST", target: "/api/v1/items", body: `{"name":"x","stock":1000000001}`, status: 422, code: "validation_failed"},
		{name: "create item: stock as string", method: "POST", target: "/api/v1/items", body: `{"name":"x","stock":"10"}`, status: 422, code: "validation_failed"},
		{name: "create item: stock as float", method: "POST", target: "/api/v1/items", body: `{"name":"x","stock":1.5}`, status: 422, code: "validation_failed"},
		{name: "create item: max_per_customer -1", method: "POST", target: "/api/v1/items", body: `{"name":"x","stock":1,"max_per_customer":-1}`, status: 422, code: "validation_failed"},
		{name: "create item: max_per_customer above max", method: "POST", target: "/api/v1/items", body: `{"name":"x","stock":1,"max_per_customer":1000001}`, status: 422, code: "validation_failed"},
		{name: "create item: price -1", method: "POST", target: "/api/v1/items", body: `{"name":"x","stock":1,"price":-1}`, status: 422, code: "validation_failed"},
		{name: "create item: price above max", method: "POST", target: "/api/v1/items", body: `{"name":"x","stock":1,"price":1000000000001}`, status: 422, code: "validation_failed"},
		{name: "create item: price as float", method: "POST", target: "/api/v1/items", body: `{"name":"x","stock":1,"price":10.5}`, status: 422, code: "validation_failed"},
		{name: "create item: price as string", method: "POST", target: "/api/v1/items", body: `{"name":"x","stock":1,"price":"10"}`, status: 422, code: "validation_failed"},
		{name: "create item: currency in lower case", method: "POST", target: "/api/v1/items", body: `{"name":"x","stock":1,"currency":"idr"}`, status: 422, code: "validation_failed"},
		{name: "create item: currency unknown", method: "POST", target: "/api/v1/items", body: `{"name":"x","stock":1,"currency":"ABC"}`, status: 422, code: "validation_failed"},
		{name: "create item: currency of no currency", method: "POST", target: "/api/v1/items", body: `{"name":"x","stock":1,"currency":"XXX"}`, status: 422, code: "validation_failed"},
		{name: "create item: currency of 4 letters", method: "POST", target: "/api/v1/items", body: `{"name":"x","stock":1,"currency":"IDRR"}`, status: 422, code: "validation_failed"},
		{name: "create item: currency empty", method: "POST", target: "/api/v1/items", body: `{"name":"x","stock":1,"currency":""}`, status: 422, code: "validation_failed"},
		{name: "create item: currency as number", method: "POST", target: "/api/v1/items", body: `{"name":"x","stock":1,"currency":360}`, status: 422, code: "validation_failed"},
		{name: "create item: name with a newline", method: "POST", target: "/api/v1/items", body: `{"name":"a\nb","stock":1}`, status: 422, code: "validation_failed"},
		{name: "create item: name with a tab", method: "POST", target: "/api/v1/items", body: `{"name":"a\tb","stock":1}`, status: 422, code: "validation_failed"},
		{name: "create item: name with NUL", method: "POST", target: "/api/v1/items", body: `{"name":"a\u0000b","stock":1}`, status: 422, code: "validation_failed"},
		{name: "create item: name with DEL", method: "POST", target: "/api/v1/items", body: `{"name":"a\u007fb","stock":1}`, status: 422, code: "validation_failed"},
		{name: "create item: name with a C1 control", method: "POST", target: "/api/v1/items", body: `{"name":"a\u0085b","stock":1}`, status: 422, code: "validation_failed"},
		{name: "create item: name with a right-to-left override", method: "POST", target: "/api/v1/items", body: `{"name":"shoe\u202egpj.exe","stock":1}`, status: 422, code: "validation_failed"},
		{name: "create item: name with a left-to-right embedding", method: "POST", target: "/api/v1/items", body: `{"name":"\u202ashoe","stock":1}`, status: 422, code: "validation_failed"},
		{name: "create item: name with a first strong isolate", method: "POST", target: "/api/v1/items", body: `{"name":"shoe\u2068x","stock":1}`, status: 422, code: "validation_failed"},
		{name: "create item: name with a pop directional isolate", method: "POST", target: "/api/v1/items", body: `{"name":"shoe\u2069","stock":1}`, status: 422, code: "validation_failed"},
		{name: "create item: body over 64 KiB", method: "POST", target: "/api/v1/items", body: huge(`{"name":"`), status: 413, code: "body_too_large"},
		{name: "create item: no Authorization", method: "POST", target: "/api/v1/items", body: `{"name":"x","stock":1}`, header: noAuth, status: 401, code: "unauthorized"},
		{name: "create item: wrong token", method: "POST", target: "/api/v1/items", body: `{"name":"x","stock":1}`, header: map[string]string{"Authorization": "Bearer wrong"}, status: 401, code: "unauthorized"},
		{name: "create item: Basic scheme", method: "POST", target: "/api/v1/items", body: `{"name":"x","stock":1}`, header: map[string]string{"Authorization": "Basic " + testAdminToken}, status: 401, code: "unauthorized"},
		{name: "create item: bare token without scheme", method: "POST", target: "/api/v1/items", body: `{"name":"x","stock":1}`, header: map[string]string{"Authorization": testAdminToken}, status: 401, code: "unauthorized"},
		{name: "create item: Bearer without token", method: "POST", target: "/api/v1/items", body: `{"name":"x","stock":1}`, header: map[string]string{"Authorization": "Bearer"}, status: 401, code: "unauthorized"},
		{name: "create item: ADMIN_TOKEN unset", method: "POST", target: "/api/v1/items", body: `{"name":"x","stock":1}`, noAdmin: true, status: 401, code: "unauthorized"},
		{name: "create item: ADMIN_TOKEN unset, empty Bearer", method: "POST", target: "/api/v1/items", body: `{"name":"x","stock":1}`, header: map[string]string{"Authorization": "Bearer "}, noAdmin: true, status: 401, code: "unauthorized"},

		// PATCH /api/v1/items/{id}
		{name: "patch item: stock", method: "PATCH", target: item, body: `{"stock":5}`, status: 422, code: "validation_failed"},
		{name: "patch item: stock with a name", method: "PATCH", target: item, body: `{"name":"y","stock":5}`, status: 422, code: "validation_failed"},
		{name: "patch item: empty object", method: "PATCH", target: item, body: `{}`, status: 422, code: "validation_failed"},
		{name: "patch item: blank name", method: "PATCH", target: item, body: `{"name":" "}`, status: 422, code: "validation_failed"},
		{name: "patch item: name of 201 characters", method: "PATCH", target: item, body: `{"name":"` + strings.Repeat("n", 201) + `"}`, status: 422, code: "validation_failed"},
		{name: "patch item: max_per_customer -1", method: "PATCH", target: item, body: `{"max_per_customer":-1}`, status: 422, code: "validation_failed"},
		{name: "patch item: valid name, max_per_customer above max", method: "PATCH", target: item, body: `{"name":"y","max_per_customer":1000001}`, status: 422, code: "validation_failed"},
		{name: "patch item: unknown field", method: "PATCH", target: item, body: `{"colour":"red"}`, status: 422, code: "validation_failed"},
		{name: "patch item: malformed JSON", method: "PATCH", target: item, body: `{"name":`, status: 400, code: "invalid_json"},
		{name: "patch item: empty body", method: "PATCH", target: item, body: "", status: 400, code: "invalid_json"},
		{name: "patch item: body over 64 KiB", method: "PATCH", target: item, body: huge(`{"name":"`), status: 413, code: "body_too_large"},
		{name: "patch item: id abc", method: "PATCH", target: "/api/v1/items/abc", body: `{"name":"y"}`, status: 400, code: "invalid_id"},
		{name: "patch item: id 0", method: "PATCH", target: "/api/v1/items/0", body: `{"name":"y"}`, status: 400, code: "invalid_id"},
		{name: "patch item: no Authorization", method: "PATCH", target: item, body: `{"name":"y"}`, header: noAuth, status: 401, code: "unauthorized"},
		{name: "patch item: ADMIN_TOKEN unset", method: "PATCH", target: item, body: `{"name":"y"}`, noAdmin: true, status: 401, code: "unauthorized"},
		{name: "patch item: unknown item", method: "PATCH", target: unknownItem, body: `{"name":"y"}`, status: 404, code: "item_not_found"},
		{name: "patch item: price -1", method: "PATCH", target: item, body: `{"price":-1}`, status: 422, code: "validation_failed"},
		{name: "patch item: price above max", method: "PATCH", target: item, body: `{"price":1000000000001}`, status: 422, code: "validation_failed"},
		{name: "patch item: null price", method: "PATCH", target: item, body: `{"price":null}`, status: 422, code: "validation_failed"},
		{name: "patch item: currency in lower case", method: "PATCH", target: item, body: `{"currency":"usd"}`, status: 422, code: "validation_failed"},
		{name: "patch item: currency unknown", method: "PATCH", target: item, body: `{"currency":"QQQ"}`, status: 422, code: "validation_failed"},
		{name: "patch item: valid price, bad currency", method: "PATCH", target: item, body: `{"price":100,"currency":"US"}`, status: 422, code: "validation_failed"},
		{name: "patch item: name with a control character", method: "PATCH", target: item, body: `{"name":"y\u0007"}`, status: 422, code: "validation_failed"},
		{name: "patch item: name with a right-to-left isolate", method: "PATCH", target: item, body: `{"name":"\u2067y"}`, status: 422, code: "validation_failed"},

		// POST /api/v1/items/{id}/stock
		{name: "stock: delta 0", method: "POST", target: item + "/stock", body: `{"delta":0}`, status: 422, code: "validation_failed"},
		{name: "stock: delta and set", method: "POST", target: item + "/stock", body: `{"delta":1,"set":5}`, status: 422, code: "validation_failed"},
		{name: "stock: neither delta nor set", method: "POST", target: item + "/stock", body: `{}`, status: 422, code: "validation_failed"},
		{name: "stock: null delta", method: "POST", target: item + "/stock", body: `{"delta":null}`, status: 422, code: "validation_failed"},
		{name: "stock: set -1", method: "POST", target: item + "/stock", body: `{"set":-1}`, status: 422, code: "validation_failed"},
		{name: "stock: set above max", method: "POST", target: item + "/stock", body: `{"set":1000000001}`, status: 422, code: "validation_failed"},
		{name: "stock: delta below -max", method: "POST", target: item + "/stock", body: `{"delta":-1000000001}`, status: 422, code: "validation_failed"},
		{name: "stock: delta as string", method: "POST", target: item + "/stock", body: `{"delta":"5"}`, status: 422, code: "validation_failed"},
		{name: "stock: delta as float", method: "POST", target: item + "/stock", body: `{"delta":1.5}`, status: 422, code: "validation_failed"},
		{name: "stock: unknown field", method: "POST", target: item + "/stock", body: `{"add":5}`, status: 422, code: "validation_failed"},
		{name: "stock: malformed JSON", method: "POST", target: item + "/stock", body: `{"delta":}`, status: 400, code: "invalid_json"},
		{name: "stock: body over 64 KiB", method: "POST", target: item + "/stock", body: huge(`{"x":"`), status: 413, code: "body_too_large"},
		{name: "stock: id abc", method: "POST", target: "/api/v1/items/abc/stock", body: `{"delta":1}`, status: 400, code: "invalid_id"},
		{name: "stock: id -1", method: "POST", target: "/api/v1/items/-1/stock", body: `{"delta":1}`, status: 400, code: "invalid_id"},
		{name: "stock: wrong token", method: "POST", target: item + "/stock", body: `{"delta":1}`, header: map[string]string{"Authorization": "Bearer " + testAdminToken + "x"}, status: 401, code: "unauthorized"},
		{name: "stock: unknown item", method: "POST", target: unknownItem + "/stock", body: `{"delta":1}`, status: 404, code: "item_not_found"},

		// DELETE /api/v1/items/{id}
		{name: "delete item: id abc", method: "DELETE", target: "/api/v1/items/abc", status: 400, code: "invalid_id"},
		{name: "delete item: id 0", method: "DELETE", target: "/api/v1/items/0", status: 400, code: "invalid_id"},
		{name: "delete item: no Authorization", method: "DELETE", target: item, header: noAuth, status: 401, code: "unauthorized"},
		{name: "delete item: ADMIN_TOKEN unset", method: "DELETE", target: item, noAdmin: true, status: 401, code: "unauthorized"},
		{name: "delete item: unknown item", method: "DELETE", target: unknownItem, status: 404, code: "item_not_found"},

		// GET /api/v1/items/{id}
		{name: "get item: id abc", method: "GET", target: "/api/v1/items/abc", status: 400, code: "invalid_id"},
		{name: "get item: id 0", method: "GET", target: "/api/v1/items/0", status: 400, code: "invalid_id"},
		{name: "get item: id -1", method: "GET", target: "/api/v1/items/-1", status: 400, code: "invalid_id"},
		{name: "get item: id 1.5", method: "GET", target: "/api/v1/items/1.5", status: 400, code: "invalid_id"},
		{name: "get item: id beyond int64", method: "GET", target: "/api/v1/items/99999999999999999999", status: 400, code: "invalid_id"},
		{name: "get item: unknown item", method: "GET", target: unknownItem, status: 404, code: "item_not_found"},

		// GET /api/v1/items
		{name: "list items: limit 0", method: "GET", target: "/api/v1/items?limit=0", status: 422, code: "validation_failed"},
		{name: "list items: limit 501", method: "GET", target: "/api/v1/items?limit=501", status: 422, code: "validation_failed"},
		{name: "list items: limit abc", method: "GET", target: "/api/v1/items?limit=abc", status: 422, code: "validation_failed"},
		{name: "list items: limit -1", method: "GET", target: "/api/v1/items?limit=-1", status: 422, code: "validation_failed"},
		{name: "list items: after_id -1", method: "GET", target: "/api/v1/items?after_id=-1", status: 422, code: "validation_failed"},
		{name: "list items: after_id abc", method: "GET", target: "/api/v1/items?after_id=abc", status: 422, code: "validation_failed"},

		// GET /api/v1/orders/{id}
		{name: "get order: not a uuid", method: "GET", target: "/api/v1/orders/not-a-uuid", status: 400, code: "invalid_id"},
		{name: "get order: uppercase uuid", method: "GET", target: "/api/v1/orders/" + strings.ToUpper(orderID), status: 400, code: "invalid_id"},
		{name: "get order: uuid without hyphens", method: "GET", target: "/api/v1/orders/" + strings.ReplaceAll(orderID, "-", ""), status: 400, code: "invalid_id"},
		{name: "get order: urn uuid", method: "GET", target: "/api/v1/orders/urn:uuid:" + orderID, status: 400, code: "invalid_id"},
		{name: "get order: wait -1", method: "GET", target: "/api/v1/orders/" + orderID + "?wait=-1", status: 422, code: "validation_failed"},
		{name: "get order: wait 31", method: "GET", target: "/api/v1/orders/" + orderID + "?wait=31", status: 422, code: "validation_failed"},
		{name: "get order: wait abc", method: "GET", target: "/api/v1/orders/" + orderID + "?wait=abc", status: 422, code: "validation_failed"},
		{name: "get order: wait 1.5", method: "GET", target: "/api/v1/orders/" + orderID + "?wait=1.5", status: 422, code: "validation_failed"},
		{name: "get order: unknown order", method: "GET", target: "/api/v1/orders/" + orderID, status: 404, code: "order_not_found"},

		// Routing
		{name: "unknown API route", method: "GET", target: "/api/v1/customers", status: 404, code: "not_found"},
		{name: "unknown route", method: "GET", target: "/nope", status: 404, code: "not_found"},
		{name: "unknown docs file", method: "GET", target: "/docs/nope.js", status: 404, code: "not_found"},
		{name: "docs path escaping the UI", method: "GET", target: "/docs/../openapi.json", status: 404, code: "not_found"},
		{name: "PUT on an item", method: "PUT", target: item, body: `{"name":"y"}`, status: 405, code: "method_not_allowed"},
		{name: "DELETE on an order", method: "DELETE", target: "/api/v1/orders/" + orderID, status: 405, code: "method_not_allowed"},
		{name: "POST on healthz", method: "POST", target: "/healthz", status: 405, code: "method_not_allowed"},
	}

	t.Run("cases", func(t *testing.T) {
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				t.Parallel()
				ts := newTestServer(t, db, func(c *Config) {
					if tt.noAdmin {
						noAdmin := testAuthConfig
						noAdmin.AdminToken = ""
						c.Auth = testAuth(t, noAdmin)
					}
				})
				before := countRows(t, db)
				rec := ts.serve(t, tt.method, tt.target, tt.body, tt.header)

				assertError(t, rec, tt.status, tt.code)
				switch tt.status {
				case http.StatusUnauthorized:
					if rec.Header().Get("WWW-Authenticate") == "" {
						t.Error("401 without WWW-Authenticate")
					}
				case http.StatusMethodNotAllowed:
					if rec.Header().Get("Allow") == "" {
						t.Error("405 without Allow")
					}
				}
				if statuses, ok := doc.statuses(t, tt.method, tt.target); ok && !slices.Contains(statuses, tt.status) {
					t.Errorf("openapi.json lists %v for %s %s, not %d", statuses, tt.method, tt.target, tt.status)
				}
				if attempts, _ := ts.sub.calls(); len(attempts) != 0 {
					t.Errorf("submitted %d commands, want none: %+v", len(attempts), attempts)
				}
				if after := countRows(t, db); after != before {
					t.Errorf("rows = %+v, want unchanged %+v", after, before)
				}
			})
		}
	})

	for _, o := range []message.Order{confirmed, fulfilled} {
		if got := loadStored(t, db, o.ID); got.Status != o.Status || !got.UpdatedAt.Equal(o.UpdatedAt) || got.Lines[0].Status != o.Lines[0].Status {
			t.Errorf("seeded order changed: %+v, want %+v", got, o)
		}
	}
	got, err := newTestServer(t, db).store.Item(t.Context(), seed.ID)
	if err != nil {
		t.Fatalf("seeded item: %v", err)
	}
	if got.Name != seed.Name || got.Stock != seed.Stock || got.MaxPerCustomer != seed.MaxPerCustomer || !got.UpdatedAt.Equal(seed.UpdatedAt) {
		t.Errorf("seeded item changed: %+v, want %+v", got, seed)
	}
}
