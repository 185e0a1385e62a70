package httpapi

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/google/uuid"
	"gorm.io/gorm"

	"github.com/orderq/orderq/shared/message"
	"github.com/orderq/orderq/shared/order"
	"github.com/orderq/orderq/shared/orderstatus"
	"github.com/orderq/orderq/shared/orderstore"
)

// caller is one kind of credential a request may carry.
type caller struct {
	name   string
	header func(t *testing.T) map[string]string
}

// callers are every credential of the access matrix: the valid ones, and
// the ones that must never count as any identity.
var callers = []caller{
	{"anonymous", func(*testing.T) map[string]string { return map[string]string{"Authorization": ""} }},
	{"customer A", func(t *testing.T) map[string]string { return asCustomer(t, "alice") }},
	{"customer B", func(t *testing.T) map[string]string { return asCustomer(t, "bob") }},
	{"storefront", func(*testing.T) map[string]string { return asStorefront }},
	{"admin", func(*testing.T) map[string]string { return nil }},
	{"expired token", func(t *testing.T) map[string]string {
		return bearer(customerToken(t, "alice", func(c jwt.MapClaims) { c["exp"] = time.Now().Add(-time.Hour).Unix() }))
	}},
	{"wrongly signed token", func(t *testing.T) map[string]string {
		tok, err := jwt.NewWithClaims(jwt.SigningMethodHS256, jwt.MapClaims{"sub": "alice", "exp": time.Now().Add(time.Hour).Unix(),
			"iss": testIssuer, "aud": testAudience}).SignedString([]byte("another-secret-that-is-32-bytes-long!"))
		if err != nil {
			t.Fatal(err)
		}
		return bearer(tok)
	}},
	{"alg none token", func(t *testing.T) map[string]string {
		tok, err := jwt.NewWithClaims(jwt.SigningMethodNone, jwt.MapClaims{"sub": "alice", "exp": time.Now().Add(time.Hour).Unix(),
			"iss": testIssuer, "aud": testAudience}).SignedString(jwt.UnsafeAllowNoneSignatureType)
		if err != nil {
			t.Fatal(err)
		}
		return bearer(tok)
	}},
	{"wrong issuer token", func(t *testing.T) map[string]string {
		return bearer(customerToken(t, "alice", func(c jwt.MapClaims) { c["iss"] = "https://evil.example" }))
	}},
	{"wrong API key", func(*testing.T) map[string]string {
		return map[string]string{"Authorization": "", "X-API-Key": testStorefrontKey + "-not"}
	}},
	{"wrong admin token", func(*testing.T) map[string]string { return bearer(testAdminToken + "-not") }},
}

func bearer(tok string) map[string]string { return map[string]string{"Authorization": "Bearer " + tok} }

// valid names the callers with a valid credential; every other caller of
// the matrix carries a credential that is refused.
var valid = map[string]bool{"anonymous": true, "customer A": true, "customer B": true, "storefront": true, "admin": true}

// TestAccessMatrix sends every endpoint a request from every caller and
// checks the status each gets, and that a refused request (401, 403, 404)
// publishes nothing and writes nothing.
func TestAccessMatrix(t *testing.T) {
	t.Parallel()
	db := testDB(t)
	ts := newTestServer(t, db)
	// Stock changes and deletions are answered at once, as a worker would.
	ts.sub.submit = func(_ context.Context, cmd message.Command) error {
		res := message.Result{Kind: cmd.Kind, ID: cmd.ID, ItemID: cmd.ItemID}
		if cmd.Kind == message.KindStock {
			res.Item = &message.Item{ID: cmd.ItemID, Name: "x", Stock: 1}
		}
		if cmd.Kind != message.KindOrder {
			ts.cache.Deliver([]message.Result{res})
		}
		return nil
	}
	item := ts.createItem(t, "sneaker", 1000, 0)
	itemPath := "/api/v1/items/" + strconv.FormatInt(item.ID, 10)
	created := time.Now().UTC().Truncate(time.Second)
	// aliceOrder stores an order of alice in status, with one line of item.
	aliceOrder := func(status orderstatus.Status, line orderstatus.LineStatus) string {
		o := newCart("alice", status, created, []int64{item.ID}, line)
		insertCart(t, db, o)
		return "/api/v1/orders/" + o.ID
	}
	newOrder := fmt.Sprintf(`{"item_id":%d}`, item.ID)
	forAlice := orderBody(item.ID, 1, "alice")
	forBob := orderBody(item.ID, 1, "bob")

	// want is the status each caller gets; callers with a refused credential
	// get 401 on every /api/v1 route, unless refused is set.
	type want map[string]int
	all := func(status int) want {
		return want{"anonymous": status, "customer A": status, "customer B": status, "storefront": status, "admin": status}
	}
	adminOnly := func(status int) want {
		return want{"anonymous": 401, "customer A": 403, "customer B": 403, "storefront": 403, "admin": status}
	}
	tests := []struct {
		name    string
		method  string
		target  func() string // called for each caller: a fresh target where the request changes it
		body    string
		want    want
		refused int // what a refused credential gets; 0: 401
	}{
		{name: "healthz", method: "GET", target: fixed("/healthz"), want: all(200), refused: 200},
		{name: "readyz", method: "GET", target: fixed("/readyz"), want: all(200), refused: 200},
		{name: "openapi", method: "GET", target: fixed("/openapi.json"), want: all(200), refused: 200},
		{name: "docs", method: "GET", target: fixed("/docs/"), want: all(200), refused: 200},
		{name: "list items", method: "GET", target: fixed("/api/v1/items"), want: all(200)},
		{name: "get item", method: "GET", target: fixed(itemPath), want: all(200)},
		{name: "create item", method: "POST", target: fixed("/api/v1/items"), body: `{"name":"x","stock":1}`, want: adminOnly(201)},
		{name: "patch item", method: "PATCH", target: fixed(itemPath), body: `{"name":"y"}`, want: adminOnly(200)},
		{name: "change stock", method: "POST", target: fixed(itemPath + "/stock"), body: `{"delta":1}`, want: adminOnly(200)},
		{name: "delete item", method: "DELETE", target: func() string {
			return "/api/v1/items/" + strconv.FormatInt(ts.createItem(t, "doomed", 1, 0).ID, 10)
		}, want: adminOnly(204)},
		{name: "order, no customer_id", method: "POST", target: fixed("/api/v1/orders"), body: newOrder,
			want: want{"anonymous": 401, "customer A": 202, "customer B": 202, "storefront": 422, "admin": 422}},
		{name: "order for alice", method: "POST", target: fixed("/api/v1/orders"), body: forAlice,
			want: want{"anonymous": 401, "customer A": 202, "customer B": 403, "storefront": 202, "admin": 202}},
		{name: "order for bob", method: "POST", target: fixed("/api/v1/orders"), body: forBob,
			want: want{"anonymous": 401, "customer A": 403, "customer B": 202, "storefront": 202, "admin": 202}},
		{name: "list own orders", method: "GET", target: fixed("/api/v1/orders"),
			want: want{"anonymous": 401, "customer A": 200, "customer B": 200, "storefront": 422, "admin": 422}},
		{name: "list alice's orders", method: "GET", target: fixed("/api/v1/orders?customer_id=alice"),
			want: want{"anonymous": 401, "customer A": 200, "customer B": 403, "storefront": 200, "admin": 200}},
		{name: "get alice's order", method: "GET", target: func() string { return aliceOrder(orderstatus.Confirmed, orderstatus.Reserved) },
			want: want{"anonymous": 401, "customer A": 200, "customer B": 404, "storefront": 200, "admin": 200}},
		{name: "wait on alice's order", method: "GET", target: func() string { return aliceOrder(orderstatus.Confirmed, orderstatus.Reserved) + "?wait=1" },
			want: want{"anonymous": 401, "customer A": 200, "customer B": 404, "storefront": 200, "admin": 200}},
		{name: "get an unknown order", method: "GET", target: func() string { return "/api/v1/orders/" + uuid.NewString() },
			want: want{"anonymous": 401, "customer A": 404, "customer B": 404, "storefront": 404, "admin": 404}},
		{name: "cancel alice's unpaid order", method: "POST", target: func() string {
			return aliceOrder(orderstatus.Confirmed, orderstatus.Reserved) + "/cancel"
		}, want: want{"anonymous": 401, "customer A": 200, "customer B": 404, "storefront": 200, "admin": 200}},
		{name: "cancel alice's paid order (a refund)", method: "POST", target: func() string {
			return aliceOrder(orderstatus.Paid, orderstatus.Reserved) + "/cancel"
		}, want: want{"anonymous": 401, "customer A": 403, "customer B": 404, "storefront": 403, "admin": 200}},
		{name: "pay by hand", method: "POST", target: func() string {
			return aliceOrder(orderstatus.Confirmed, orderstatus.Reserved) + "/pay"
		}, want: adminOnly(200)},
		{name: "move an order", method: "POST", target: func() string {
			return aliceOrder(orderstatus.Confirmed, orderstatus.Reserved) + "/status"
		}, body: `{"status":"awaiting_payment"}`, want: adminOnly(200)},
		{name: "move a line", method: "POST", target: func() string {
			return aliceOrder(orderstatus.Paid, orderstatus.Reserved) + "/lines/" + strconv.FormatInt(item.ID, 10) + "/status"
		}, body: `{"status":"transit_for_outbound"}`, want: adminOnly(200)},
		{name: "move a unit", method: "POST", target: func() string {
			return aliceOrder(orderstatus.Paid, orderstatus.Reserved) + "/lines/" + strconv.FormatInt(item.ID, 10) + "/units/1/status"
		}, body: `{"status":"transit_for_outbound"}`, want: adminOnly(200)},
		{name: "move units", method: "POST", target: func() string {
			return aliceOrder(orderstatus.Paid, orderstatus.Reserved) + "/units/status"
		}, body: `{"status":"transit_for_outbound","units":[{"item_id":` + strconv.FormatInt(item.ID, 10) + `,"unit":1}]}`, want: adminOnly(200)},
		{name: "payment webhook without a signature", method: "POST", target: fixed("/api/v1/payments/webhook"),
			body: `{"event_id":"e-1","order_id":"` + uuid.NewString() + `","status":"succeeded","amount":0,"currency":"IDR"}`, want: all(401)},
		{name: "refund list", method: "GET", target: fixed("/api/v1/payments/refunds"), want: adminOnly(200)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for _, cl := range callers {
				t.Run(cl.name, func(t *testing.T) {
					status, ok := tt.want[cl.name]
					switch {
					case ok:
					case valid[cl.name]:
						t.Fatalf("no expected status for %s", cl.name)
					case tt.refused != 0:
						status = tt.refused
					default:
						status = http.StatusUnauthorized
					}
					target := tt.target()
					id, _ := strings.CutPrefix(strings.Split(target, "?")[0], "/api/v1/orders/")
					id, _, _ = strings.Cut(id, "/")
					var stored *message.Order
					if _, err := uuid.Parse(id); err == nil {
						if s, found := tryLoadStored(t, db, id); found {
							stored = &s
						}
					}
					rowsBefore := countRows(t, db)
					_, publishedBefore := ts.sub.calls()

					rec := ts.serve(t, tt.method, target, tt.body, cl.header(t))
					if rec.Code != status {
						t.Fatalf("%s %s as %s = %d, want %d; body %s", tt.method, target, cl.name, rec.Code, status, rec.Body)
					}
					if status == http.StatusUnauthorized && rec.Header().Get("WWW-Authenticate") == "" {
						t.Error("401 without WWW-Authenticate")
					}
					if status != http.StatusUnauthorized && status != http.StatusForbidden && status != http.StatusNotFound {
						return
					}
					assertError(t, rec, status, map[int]string{401: "unauthorized", 403: "forbidden", 404: "order_not_found"}[status])
					if after := countRows(t, db); after != rowsBefore {
						t.Errorf("rows = %+v after a refusal, want unchanged %+v", after, rowsBefore)
					}
					if _, published := ts.sub.calls(); len(published) != len(publishedBefore) {
						t.Errorf("a refused request published %d commands", len(published)-len(publishedBefore))
					}
					if stored != nil {
						if after := loadStored(t, db, id); !reflect.DeepEqual(after, *stored) {
							t.Errorf("order after a refusal = %+v, want unchanged %+v", after, *stored)
						}
					}
				})
			}
		})
	}
}

func fixed(target string) func() string { return func() string { return target } }

// tryLoadStored is loadStored for an order that may not exist.
func tryLoadStored(t *testing.T, db *gorm.DB, id string) (message.Order, bool) {
	t.Helper()
	o, err := orderstore.Load(t.Context(), db, id)
	if errors.Is(err, order.ErrNotFound) {
		return message.Order{}, false
	}
	if err != nil {
		t.Fatalf("look up order %s: %v", id, err)
	}
	return o, true
}
