package httpapi

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/orderq/orderq/api-gateway/internal/results"
	"github.com/orderq/orderq/api-gateway/internal/store"
	"github.com/orderq/orderq/shared/database"
	"github.com/orderq/orderq/shared/message"
	"github.com/orderq/orderq/shared/testenv"
)

// checkingSubmitter confirms every command, as a healthy broker would, and
// remembers the ones it was given since the last reset and any that were not
// valid: one invalid command would make a whole coalesced message poison.
type checkingSubmitter struct {
	mu        sync.Mutex
	submitted int
	invalid   []string
}

func (s *checkingSubmitter) Submit(_ context.Context, cmd message.Command) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.submitted++
	if err := cmd.Validate(); err != nil {
		s.invalid = append(s.invalid, fmt.Sprintf("%+v: %v", cmd, err))
	}
	return nil
}

func (s *checkingSubmitter) Announce(context.Context, []message.Result) error { return nil }

func (s *checkingSubmitter) reset() (submitted int, invalid []string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	submitted, invalid = s.submitted, s.invalid
	s.submitted, s.invalid = 0, nil
	return submitted, invalid
}

// FuzzCreateOrder sends POST /api/v1/orders arbitrary bodies, Idempotency-Keys
// and Prefer headers. Whatever arrives, the answer is never a 5xx; an error is
// always the contract's {"error": {"code", "message"}} and submits nothing;
// an accepted order is an order with a Location; and no invalid command is
// ever handed to the intake.
func FuzzCreateOrder(f *testing.F) {
	db, err := database.Open(context.Background(), testenv.Database(f), slog.New(slog.NewTextHandler(io.Discard, nil)),
		database.Options{MaxOpenConns: 4})
	if err != nil {
		f.Fatalf("open test database: %v", err)
	}
	f.Cleanup(func() { database.Close(db) })
	st := store.New(db)
	var items []int64
	for i, stock := range []int64{5, 0, 1000} {
		item, err := st.CreateItem(context.Background(), store.NewItem{Name: fmt.Sprintf("fuzz-%d", i), Stock: stock, MaxPerCustomer: i})
		if err != nil {
			f.Fatalf("create item: %v", err)
		}
		items = append(items, item.ID)
	}
	sub := &checkingSubmitter{}
	handler := New(Config{
		Store: st, Intake: sub, Cache: results.NewCache(), Shards: 4,
		BrokerReady: func() bool { return true }, Auth: testAuth(f, testAuthConfig), OrderIDSecret: []byte(testOrderIDSecret),
		Log: slog.New(slog.NewTextHandler(io.Discard, nil)),
	})

	a, b, c := items[0], items[1], items[2]
	for _, seed := range []struct{ body, key, prefer string }{
		{fmt.Sprintf(`{"item_id":%d,"quantity":1,"customer_id":"c-1"}`, a), "", ""},
		{fmt.Sprintf(`{"item_id":%d,"customer_id":"c-2"}`, b), "k-1", "wait=0"},
		{fmt.Sprintf(`{"item_id":%d,"quantity":1000,"customer_id":"é ü 漢字"}`, c), "k-2", "respond-async, wait=0"},
		{fmt.Sprintf(`{"item_id":%d,"quantity":2,"customer_id":"c-1"}`, a), "k-1", ""},
		{fmt.Sprintf(`{"customer_id":"c-3","lines":[{"item_id":%d,"quantity":1},{"item_id":%d,"quantity":2}]}`, a, c), "", ""},
		{fmt.Sprintf(`{"customer_id":"c-3","lines":[{"item_id":%d},{"item_id":%d}]}`, a, a), "", ""},
		{fmt.Sprintf(`{"item_id":%d,"customer_id":"c-4","lines":[]}`, a), "", ""},
		{`{"item_id":999999,"customer_id":"c-1"}`, "", ""},
		{`{"item_id":1,"quantity":0,"customer_id":""}`, "", "wait=31"},
		{`{"item_id":"1","quantity":1.5,"customer_id":42}`, "clé", "wait=x"},
		{`{"item_id":99999999999999999999}`, strings.Repeat("k", 256), ""},
		{`{"item_id":1,"customer_id":"c\u0000"}`, "a b", ""},
		{`[1,2]`, "", ""},
		{`null`, "", ""},
		{`{"item_id":1,"customer_id":"c"} x`, "", ""},
		{`{"item_id":`, "", ""},
		{"", "", ""},
	} {
		f.Add(seed.body, seed.key, seed.prefer)
	}

	f.Fuzz(func(t *testing.T, body, key, prefer string) {
		req := httptest.NewRequestWithContext(t.Context(), http.MethodPost, "/api/v1/orders", strings.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("X-API-Key", testStorefrontKey)
		if key != "" {
			req.Header.Set("Idempotency-Key", key)
		}
		if prefer != "" {
			req.Header.Set("Prefer", prefer)
		}
		rec := httptest.NewRecorder()
		handler.ServeHTTP(rec, req)
		submitted, invalid := sub.reset()

		if len(invalid) > 0 {
			t.Fatalf("invalid command submitted: %s\nbody %q, key %q, prefer %q", invalid, body, key, prefer)
		}
		switch {
		case rec.Code >= 500:
			t.Fatalf("status %d for body %q, key %q, prefer %q: %s", rec.Code, body, key, prefer, rec.Body)
		case rec.Code == http.StatusAccepted || rec.Code == http.StatusOK:
			var o message.Order
			if err := json.Unmarshal(rec.Body.Bytes(), &o); err != nil || o.ID == "" {
				t.Fatalf("accepted answer is not an order (%v): %s", err, rec.Body)
			}
			if rec.Header().Get("Location") != "/api/v1/orders/"+o.ID {
				t.Fatalf("accepted order %s with Location %q", o.ID, rec.Header().Get("Location"))
			}
		default:
			if submitted > 0 {
				t.Fatalf("status %d, yet %d commands were submitted: body %q", rec.Code, submitted, body)
			}
			checkErrorShape(t, rec)
		}
	})
}

// checkErrorShape checks that rec is exactly {"error":{"code":…,"message":…}}
// with a snake_case code and a message, as JSON.
func checkErrorShape(t *testing.T, rec *httptest.ResponseRecorder) {
	t.Helper()
	if ct := rec.Header().Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
		t.Fatalf("status %d with Content-Type %q", rec.Code, ct)
	}
	var top map[string]map[string]any
	if err := json.Unmarshal(rec.Body.Bytes(), &top); err != nil || len(top) != 1 || len(top["error"]) != 2 {
		t.Fatalf("status %d: error body %s is not {\"error\": {\"code\", \"message\"}} (%v)", rec.Code, rec.Body, err)
	}
	code, _ := top["error"]["code"].(string)
	msg, _ := top["error"]["message"].(string)
	if code == "" || strings.Trim(code, "abcdefghijklmnopqrstuvwxyz_") != "" || strings.TrimSpace(msg) == "" {
		t.Fatalf("status %d: error body %s needs a snake_case code and a message", rec.Code, rec.Body)
	}
}
