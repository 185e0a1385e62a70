package httpapi

import (
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/google/uuid"
)

// TestBadInput sends every endpoint requests it must refuse, and checks each
// answer's status and error body, that the status is one the OpenAPI document
// lists for the operation, and that nothing was published or written.
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

		// POST /api/v1/items
		{name: "create item: malformed JSON", method: "POST", target: "/api/v1/items", body: `{"name":"x",`, status: 400, code: "invalid_json"},
		{name: "create item: empty body", method: "POST", target: "/api/v1/items", body: "", status: 400, code: "invalid_json"},
		{name: "create item: trailing data", method: "POST", target: "/api/v1/items", body: `{"name":"x","stock":1} {}`, status: 400, code: "invalid_json"},
		{name: "create item: unknown field", method: "POST", target: "/api/v1/items", body: `{"name":"x","stock":1,"price":3}`, status: 422, code: "validation_failed"},
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
						c.AdminToken = ""
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

	got, err := newTestServer(t, db).store.Item(t.Context(), seed.ID)
	if err != nil {
		t.Fatalf("seeded item: %v", err)
	}
	if got.Name != seed.Name || got.Stock != seed.Stock || got.MaxPerCustomer != seed.MaxPerCustomer || !got.UpdatedAt.Equal(seed.UpdatedAt) {
		t.Errorf("seeded item changed: %+v, want %+v", got, seed)
	}
}
