package httpapi

import (
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/google/uuid"
	"gorm.io/gorm"

	"github.com/orderq/orderq/api-gateway/internal/auth"
	"github.com/orderq/orderq/api-gateway/internal/results"
	"github.com/orderq/orderq/api-gateway/internal/store"
	"github.com/orderq/orderq/shared/database"
	"github.com/orderq/orderq/shared/message"
	"github.com/orderq/orderq/shared/order"
	"github.com/orderq/orderq/shared/orderstatus"
	"github.com/orderq/orderq/shared/orderstore"
	"github.com/orderq/orderq/shared/shard"
	"github.com/orderq/orderq/shared/testenv"
)

// The test server's credentials.
const (
	testAdminToken    = "test-admin-token-of-32-characters-or-more"
	testStorefrontKey = "test-storefront-key-of-32-characters-or-more"
	testJWTSecret     = "test-customer-jwt-secret-of-32-bytes-or-more"
	testOrderIDSecret = "test-order-id-secret-of-32-bytes-or-more"
	testWebhookSecret = "test-payment-webhook-secret-of-32-bytes"
	testTokenLifetime = time.Hour
	testIssuer        = "https://id.example"
	testAudience      = "orderq"
)

// testAuth is the test server's authentication with cfg's credentials.
func testAuth(t testing.TB, cfg auth.Config) *auth.Authenticator {
	t.Helper()
	a, err := auth.New(context.Background(), cfg, nil)
	if err != nil {
		t.Fatalf("auth: %v", err)
	}
	return a
}

// testAuthConfig accepts the admin token, the storefront key, and customer
// tokens signed with testJWTSecret for testIssuer and testAudience.
var testAuthConfig = auth.Config{
	AdminToken: testAdminToken, StorefrontKeys: []string{testStorefrontKey}, JWTSecret: []byte(testJWTSecret),
	Issuer: testIssuer, Audience: testAudience,
}

// customerToken is a valid token of customer sub; mod may change its claims.
func customerToken(t testing.TB, sub string, mod ...func(jwt.MapClaims)) string {
	t.Helper()
	now := time.Now()
	claims := jwt.MapClaims{"sub": sub, "iat": now.Unix(), "exp": now.Add(testTokenLifetime).Unix(),
		"iss": testIssuer, "aud": testAudience}
	for _, f := range mod {
		f(claims)
	}
	tok, err := jwt.NewWithClaims(jwt.SigningMethodHS256, claims).SignedString([]byte(testJWTSecret))
	if err != nil {
		t.Fatalf("sign token: %v", err)
	}
	return tok
}

// asCustomer is the header of a request by customer sub.
func asCustomer(t testing.TB, sub string) map[string]string {
	return map[string]string{"Authorization": "Bearer " + customerToken(t, sub)}
}

// asStorefront is the header of a request by the storefront.
var asStorefront = map[string]string{"Authorization": "", "X-API-Key": testStorefrontKey}

// keyedOrderID is the order id the test server derives from a customer's
// Idempotency-Key.
func keyedOrderID(customer, key string) string {
	return (&Server{orderIDKey: []byte(testOrderIDSecret)}).keyedOrderID(customer, key)
}

// fakeSubmitter stands in for the intake. It records every command it is
// given; submit, when set, decides the outcome (nil: the broker confirmed).
type fakeSubmitter struct {
	submit func(ctx context.Context, cmd message.Command) error

	mu        sync.Mutex
	attempts  []message.Command
	published []message.Command
}

func (f *fakeSubmitter) Submit(ctx context.Context, cmd message.Command) error {
	f.mu.Lock()
	f.attempts = append(f.attempts, cmd)
	f.mu.Unlock()
	var err error
	if f.submit != nil {
		err = f.submit(ctx, cmd)
	}
	if err == nil {
		f.mu.Lock()
		f.published = append(f.published, cmd)
		f.mu.Unlock()
	}
	return err
}

// Announce records nothing: announcements only refresh other gateways' caches.
func (f *fakeSubmitter) Announce(context.Context, []message.Result) error { return nil }

// calls returns copies of the commands submitted and of those that were
// published (the submit succeeded).
func (f *fakeSubmitter) calls() (attempts, published []message.Command) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]message.Command(nil), f.attempts...), append([]message.Command(nil), f.published...)
}

// testLogger writes warnings and errors to the test's output, so a failing
// test shows what the server logged.
func testLogger(t testing.TB) *slog.Logger {
	t.Helper()
	return slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelWarn}))
}

// testDB returns a migrated database of the test's own, dropped when it ends.
func testDB(t testing.TB) *gorm.DB {
	t.Helper()
	dsn := testenv.Database(t)
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	db, err := database.Open(ctx, dsn, testLogger(t), database.Options{MaxOpenConns: 8})
	if err != nil {
		t.Fatalf("open test database: %v", err)
	}
	t.Cleanup(func() {
		if err := database.Close(db); err != nil {
			t.Errorf("close test database: %v", err)
		}
	})
	return db
}

// testServer is the API over a test database and a fake intake.
type testServer struct {
	handler http.Handler
	db      *gorm.DB
	store   *store.Store
	cache   *results.Cache
	sub     *fakeSubmitter
}

// newTestServer serves the API over db with the admin token testAdminToken;
// configure may change the Config (the store, cache and intake are already set).
func newTestServer(t testing.TB, db *gorm.DB, configure ...func(*Config)) *testServer {
	t.Helper()
	ts := &testServer{db: db, store: store.New(db), cache: results.NewCache(), sub: &fakeSubmitter{}}
	cfg := Config{
		Store:       ts.store,
		Intake:      ts.sub,
		Cache:       ts.cache,
		Shards:      4,
		BrokerReady: func() bool { return true },
		Auth:        testAuth(t, testAuthConfig),
		Log:         testLogger(t),

		OrderIDSecret: []byte(testOrderIDSecret),
	}
	for _, f := range configure {
		f(&cfg)
	}
	ts.handler = New(cfg)
	return ts
}

// serve sends one request, as the admin unless header sets Authorization (see
// asCustomer, asStorefront); a header with an empty value is not sent.
func (ts *testServer) serve(t testing.TB, method, target, body string, header map[string]string) *httptest.ResponseRecorder {
	t.Helper()
	req := httptest.NewRequestWithContext(t.Context(), method, target, strings.NewReader(body))
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	req.Header.Set("Authorization", "Bearer "+testAdminToken)
	for k, v := range header {
		if v == "" {
			req.Header.Del(k)
			continue
		}
		req.Header.Set(k, v)
	}
	rec := httptest.NewRecorder()
	ts.handler.ServeHTTP(rec, req)
	return rec
}

// createItem stores an item directly, as an admin would have.
func (ts *testServer) createItem(t testing.TB, name string, stock int64, maxPerCustomer int) message.Item {
	t.Helper()
	item, err := ts.store.CreateItem(t.Context(), store.NewItem{Name: name, Stock: stock, MaxPerCustomer: maxPerCustomer})
	if err != nil {
		t.Fatalf("create item: %v", err)
	}
	return item
}

// rowCounts are the rows of the tables the gateway writes: items, and orders'
// lifecycle moves (which queue stock releases in the outbox).
type rowCounts struct {
	Items, Orders, OrderLines, Outbox int64
}

func countRows(t *testing.T, db *gorm.DB) rowCounts {
	t.Helper()
	var n rowCounts
	err := db.WithContext(t.Context()).Raw(`SELECT
		(SELECT COUNT(*) FROM items) AS items,
		(SELECT COUNT(*) FROM orders) AS orders,
		(SELECT COUNT(*) FROM order_lines) AS order_lines,
		(SELECT COUNT(*) FROM outbox) AS outbox`).Scan(&n).Error
	if err != nil {
		t.Fatalf("count rows: %v", err)
	}
	return n
}

// insertOrder stores a single-line order as the worker does once it decided it:
// o's status, reason and times, its one line (o.ItemID, o.Quantity) reserved.
func insertOrder(t *testing.T, db *gorm.DB, o message.Order) {
	t.Helper()
	stored := &order.Order{ID: o.ID, CustomerID: o.CustomerID, Status: o.Status, Reason: o.Reason, Parts: 1, PartsDone: 1,
		CreatedAt: o.CreatedAt, ProcessedAt: o.ProcessedAt, UpdatedAt: o.CreatedAt,
		Lines: []order.Line{{No: 0, ItemID: o.ItemID, Quantity: o.Quantity, Status: orderstatus.Reserved}}}
	if err := orderstore.Insert(db.WithContext(t.Context()), []*order.Order{stored}, false); err != nil {
		t.Fatalf("insert order: %v", err)
	}
}

// insertCart stores an order with its lines as the worker leaves them: o's
// status, reason, times and line statuses as given (line numbers are the
// positions in o.Lines), display_status derived as the worker derives it. It
// returns the order as stored: as the API answers it, but for the label of
// its display status, which the gateway adds in the request's language.
func insertCart(t testing.TB, db *gorm.DB, o message.Order) message.Order {
	t.Helper()
	stored := &order.Order{ID: o.ID, CustomerID: o.CustomerID, Status: o.Status, Reason: o.Reason,
		CreatedAt: o.CreatedAt, ProcessedAt: o.ProcessedAt, UpdatedAt: o.CreatedAt, Lines: make([]order.Line, len(o.Lines))}
	parts := map[int]bool{}
	for i, l := range o.Lines {
		stored.Lines[i] = order.Line{No: i, ItemID: l.ItemID, Quantity: l.Quantity, UnitPrice: l.UnitPrice,
			Status: l.Status, Reason: l.Reason}
		parts[shard.Of(l.ItemID, 4)] = true
	}
	stored.Parts, stored.PartsDone = len(parts), len(parts)
	if o.Status == orderstatus.Pending {
		stored.PartsDone = 0 // a part is still being decided
	}
	if err := orderstore.Insert(db.WithContext(t.Context()), []*order.Order{stored}, false); err != nil {
		t.Fatalf("insert order %s: %v", o.ID, err)
	}
	return loadStored(t, db, o.ID)
}

// newCart returns an order of customer in status with one line per item, of
// quantity 1 and the given line status, created at created (processed a
// second later unless pending).
func newCart(customer string, status orderstatus.Status, created time.Time, items []int64, lineStatuses ...orderstatus.LineStatus) message.Order {
	o := message.Order{ID: uuid.NewString(), CustomerID: customer, Status: status, CreatedAt: created}
	if status != orderstatus.Pending {
		processed := created.Add(time.Second)
		o.ProcessedAt = &processed
	}
	for i, item := range items {
		o.Lines = append(o.Lines, message.OrderLine{ItemID: item, Quantity: i + 1, Status: lineStatuses[i]})
	}
	return o
}

// loadStored returns an order as stored, with the display code stored with it.
func loadStored(t testing.TB, db *gorm.DB, id string) message.Order {
	t.Helper()
	o, err := orderstore.Load(t.Context(), db, id)
	if err != nil {
		t.Fatalf("load order %s: %v", id, err)
	}
	return o
}

// queued is a command in the outbox with the routing key it will be sent with.
type queued struct {
	RoutingKey string
	Command    message.Command
}

// outboxCommands returns the commands the outbox holds for order id.
func outboxCommands(t *testing.T, db *gorm.DB, id string) []queued {
	t.Helper()
	var rows []struct {
		RoutingKey string
		Body       []byte
	}
	if err := db.WithContext(t.Context()).Raw("SELECT routing_key, body FROM outbox ORDER BY id").Scan(&rows).Error; err != nil {
		t.Fatalf("read outbox: %v", err)
	}
	var out []queued
	for _, r := range rows {
		cmds, err := message.DecodeCommands(r.Body)
		if err != nil {
			t.Fatalf("outbox row %s: %v", r.Body, err)
		}
		for _, c := range cmds {
			if c.ID == id {
				out = append(out, queued{RoutingKey: r.RoutingKey, Command: c})
			}
		}
	}
	return out
}

// assertError checks that rec is exactly {"error":{"code":code,"message":"…"}}
// with status and a non-empty message.
func assertError(t *testing.T, rec *httptest.ResponseRecorder, status int, code string) {
	t.Helper()
	if rec.Code != status {
		t.Errorf("status = %d, want %d; body %s", rec.Code, status, rec.Body)
	}
	if ct := rec.Header().Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
		t.Errorf("Content-Type = %q, want application/json", ct)
	}
	var top map[string]json.RawMessage
	if err := json.Unmarshal(rec.Body.Bytes(), &top); err != nil {
		t.Fatalf("error body %q is not a JSON object: %v", rec.Body, err)
	}
	if len(top) != 1 || top["error"] == nil {
		t.Fatalf("error body %s: want exactly one top-level key, error", rec.Body)
	}
	var inner map[string]json.RawMessage
	if err := json.Unmarshal(top["error"], &inner); err != nil {
		t.Fatalf("error body %s: error is not an object: %v", rec.Body, err)
	}
	if len(inner) != 2 || inner["code"] == nil || inner["message"] == nil {
		t.Fatalf("error body %s: want error to hold exactly code and message", rec.Body)
	}
	var gotCode, message string
	if err := json.Unmarshal(inner["code"], &gotCode); err != nil {
		t.Errorf("error body %s: code is not a string", rec.Body)
	}
	if err := json.Unmarshal(inner["message"], &message); err != nil {
		t.Errorf("error body %s: message is not a string", rec.Body)
	}
	if gotCode != code {
		t.Errorf("error code = %q, want %q; message %q", gotCode, code, message)
	}
	if strings.TrimSpace(message) == "" {
		t.Errorf("error body %s: message is empty", rec.Body)
	}
}

// decodeBody decodes rec's JSON body strictly into v.
func decodeBody(t testing.TB, rec *httptest.ResponseRecorder, v any) {
	t.Helper()
	dec := json.NewDecoder(strings.NewReader(rec.Body.String()))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		t.Fatalf("decode response %s: %v", rec.Body, err)
	}
}
