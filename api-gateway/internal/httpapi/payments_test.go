package httpapi

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/prometheus/client_golang/prometheus"
	"gorm.io/gorm"

	"github.com/orderq/orderq/shared/database"
	"github.com/orderq/orderq/shared/message"
	"github.com/orderq/orderq/shared/order"
	"github.com/orderq/orderq/shared/orderstatus"
	"github.com/orderq/orderq/shared/orderstore"
)

// signature is an Orderq-Signature of body at t under secret.
func signature(secret string, t time.Time, body string) string {
	ts := strconv.FormatInt(t.Unix(), 10)
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write([]byte(ts + "." + body))
	return "t=" + ts + ",v1=" + hex.EncodeToString(mac.Sum(nil))
}

// provider is the header of a webhook call signed now with the test secret,
// without the admin's Authorization.
func provider(body string) map[string]string {
	return map[string]string{"Authorization": "", signatureHeader: signature(testWebhookSecret, time.Now(), body)}
}

func eventBody(eventID, orderID, status string, amount int64, currency string) string {
	return fmt.Sprintf(`{"event_id":%q,"order_id":%q,"status":%q,"amount":%d,"currency":%q}`, eventID, orderID, status, amount, currency)
}

// newPaymentServer is a test server with the webhook's secret, its metrics
// on reg.
func newPaymentServer(t *testing.T, db *gorm.DB, reg *prometheus.Registry) *testServer {
	t.Helper()
	return newTestServer(t, db, func(c *Config) {
		c.PaymentWebhookSecret = []byte(testWebhookSecret)
		c.Registry = reg
	})
}

// insertPriced stores an order of 2 units of item at 1500 IDR (3000 IDR in
// all) as the worker leaves it once decided status, processed at processed.
func insertPriced(t *testing.T, db *gorm.DB, item int64, status orderstatus.Status, processed time.Time) string {
	t.Helper()
	price, total, currency := int64(1500), int64(3000), "IDR"
	o := &order.Order{ID: uuid.NewString(), CustomerID: "c-pay", Status: status, Parts: 1, PartsDone: 1, Total: &total, Currency: &currency,
		CreatedAt: processed.Add(-time.Second), ProcessedAt: &processed, UpdatedAt: processed,
		Lines: []order.Line{{No: 0, ItemID: item, Quantity: 2, UnitPrice: &price, Status: orderstatus.Reserved}}}
	if status == orderstatus.Pending {
		o.Total, o.Currency, o.ProcessedAt, o.PartsDone = nil, nil, nil, 0
		o.Lines[0].Status, o.Lines[0].UnitPrice = orderstatus.LinePending, nil
	}
	if err := orderstore.Insert(db.WithContext(t.Context()), []*order.Order{o}, false); err != nil {
		t.Fatalf("insert order: %v", err)
	}
	return o.ID
}

// payments returns the payments stored for order id.
func payments(t *testing.T, db *gorm.DB, id string) []order.PaymentRecord {
	t.Helper()
	var rows []struct {
		EventID    string
		OrderID    database.ID
		Source     order.Source
		Status     order.PaymentStatus
		Amount     *int64
		Currency   *string
		Outcome    order.Outcome
		ReceivedAt time.Time
	}
	err := db.WithContext(t.Context()).Raw(`SELECT event_id, order_id, source, status, amount, currency, outcome, received_at
		FROM payments WHERE order_id = ? ORDER BY received_at`, database.ID(id)).Scan(&rows).Error
	if err != nil {
		t.Fatalf("load payments: %v", err)
	}
	records := make([]order.PaymentRecord, len(rows))
	for i, r := range rows {
		records[i] = order.PaymentRecord{EventID: r.EventID, OrderID: string(r.OrderID), Source: r.Source, Status: r.Status,
			Amount: r.Amount, Currency: r.Currency, Outcome: r.Outcome, ReceivedAt: r.ReceivedAt}
	}
	return records
}

// counterValue returns the value of the counter name gathered from reg.
func counterValue(t *testing.T, reg *prometheus.Registry, name string) float64 {
	t.Helper()
	families, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range families {
		if f.GetName() == name && len(f.GetMetric()) == 1 {
			return f.GetMetric()[0].GetCounter().GetValue()
		}
	}
	t.Fatalf("no counter %s", name)
	return 0
}

type paymentAnswerBody struct {
	EventID string        `json:"event_id"`
	Outcome order.Outcome `json:"outcome"`
	Order   message.Order `json:"order"`
}

func TestPaymentWebhook(t *testing.T) {
	t.Parallel()
	db := testDB(t)
	reg := prometheus.NewRegistry()
	ts := newPaymentServer(t, db, reg)
	item := ts.createItem(t, "sneaker", 10, 0)
	hourAgo := time.Now().UTC().Truncate(time.Microsecond).Add(-time.Hour)
	post := func(t *testing.T, body string) paymentAnswerBody {
		t.Helper()
		rec := ts.serve(t, http.MethodPost, "/api/v1/payments/webhook", body, provider(body))
		if rec.Code != http.StatusOK {
			t.Fatalf("status %d, want 200; body %s", rec.Code, rec.Body)
		}
		var got paymentAnswerBody
		decodeBody(t, rec, &got)
		return got
	}

	t.Run("pays a confirmed order once, however often delivered", func(t *testing.T) {
		t.Parallel()
		id := insertPriced(t, db, item.ID, orderstatus.Confirmed, hourAgo)
		body := eventBody("evt_paid_"+id, id, "succeeded", 3000, "IDR")
		first := post(t, body)
		if first.EventID != "evt_paid_"+id || first.Outcome != order.OutcomePaid || first.Order.ID != id ||
			first.Order.Status != orderstatus.Paid || first.Order.DisplayStatus.Code != orderstatus.ShowProcessing ||
			first.Order.Total == nil || *first.Order.Total != 3000 || first.Order.RefundRequired {
			t.Fatalf("answer %+v, want paid, the order paid at 3000", first)
		}
		if cached, ok := ts.cache.Order(id); !ok || cached.Status != orderstatus.Paid {
			t.Errorf("cache holds %+v (%v), want the paid order announced", cached, ok)
		}
		paid := loadStored(t, db, id)
		// Delivered again, signed anew as a provider's retry is.
		time.Sleep(2 * time.Millisecond)
		again := post(t, body)
		if again.Outcome != order.OutcomePaid || again.Order.Status != orderstatus.Paid || again.Order.RefundRequired {
			t.Errorf("second delivery: %+v, want the stored outcome paid and no refund", again)
		}
		if got := loadStored(t, db, id); got.Status != orderstatus.Paid || got.RefundRequired || !got.UpdatedAt.Equal(paid.UpdatedAt) {
			t.Errorf("order after the second delivery: %+v, want unchanged %+v", got, paid)
		}
		if rows := payments(t, db, id); len(rows) != 1 || rows[0].Outcome != order.OutcomePaid || rows[0].Source != order.SourceWebhook {
			t.Errorf("payments %+v, want one webhook payment, paid", rows)
		}
	})

	t.Run("wrong amount or currency changes nothing", func(t *testing.T) {
		t.Parallel()
		for _, tt := range []struct {
			name     string
			amount   int64
			currency string
		}{{"too little", 2999, "IDR"}, {"too much", 3001, "IDR"}, {"another currency", 3000, "USD"}} {
			t.Run(tt.name, func(t *testing.T) {
				id := insertPriced(t, db, item.ID, orderstatus.AwaitingPayment, hourAgo)
				before := loadStored(t, db, id)
				body := eventBody("evt_"+uuid.NewString(), id, "succeeded", tt.amount, tt.currency)
				for range 2 { // a mismatch delivered again is answered the same
					rec := ts.serve(t, http.MethodPost, "/api/v1/payments/webhook", body, provider(body))
					assertError(t, rec, http.StatusUnprocessableEntity, "amount_mismatch")
					if !strings.Contains(rec.Body.String(), "amount") {
						t.Errorf("message %s does not name the field", rec.Body)
					}
				}
				if got := loadStored(t, db, id); got.Status != orderstatus.AwaitingPayment || got.RefundRequired || !got.UpdatedAt.Equal(before.UpdatedAt) {
					t.Errorf("order %+v, want unchanged %+v", got, before)
				}
				if rows := payments(t, db, id); len(rows) != 1 || rows[0].Outcome != order.OutcomeAmountMismatch {
					t.Errorf("payments %+v, want one, amount_mismatch", rows)
				}
				// The right amount still pays it.
				if got := post(t, eventBody("evt_"+uuid.NewString(), id, "succeeded", 3000, "IDR")); got.Outcome != order.OutcomePaid {
					t.Errorf("then the right amount: %s, want paid", got.Outcome)
				}
			})
		}
	})

	t.Run("success after the payment deadline canceled it", func(t *testing.T) {
		// Not parallel: it expires every order confirmed an hour ago.
		id := insertPriced(t, db, item.ID, orderstatus.Confirmed, hourAgo.Add(-time.Hour))
		expired, err := orderstore.ExpireUnpaid(t.Context(), db, hourAgo.Add(-time.Minute), 100, 4)
		if err != nil {
			t.Fatal(err)
		}
		if !slices.ContainsFunc(expired, func(o message.Order) bool { return o.ID == id }) {
			t.Fatalf("order %s not expired", id)
		}
		before := loadStored(t, db, id)
		if before.Status != orderstatus.Canceled || before.Reason == nil || *before.Reason != message.ReasonPaymentTimeout {
			t.Fatalf("expired order %+v, want canceled payment_timeout", before)
		}
		releases := outboxCommands(t, db, id)
		stock := itemStock(t, ts, item.ID)
		refunds := counterValue(t, reg, "orderq_gateway_refunds_required_total")

		got := post(t, eventBody("evt_late_"+id, id, "succeeded", 3000, "IDR"))
		if got.Outcome != order.OutcomeRefundRequired || got.Order.Status != orderstatus.Canceled || !got.Order.RefundRequired ||
			got.Order.Reason == nil || *got.Order.Reason != message.ReasonPaymentTimeout {
			t.Errorf("answer %+v, want refund_required, the order still canceled by payment_timeout", got)
		}
		after := loadStored(t, db, id)
		if after.Status != orderstatus.Canceled || !after.RefundRequired || after.Lines[0].Status != before.Lines[0].Status {
			t.Errorf("order %+v lines %+v; want canceled, refund_required, lines as they were", after, after.Lines)
		}
		// The stock it gave back stays given back: nothing is queued, nothing
		// published, the item is as it was.
		if q := outboxCommands(t, db, id); len(q) != len(releases) {
			t.Errorf("outbox holds %d commands for the order, was %d", len(q), len(releases))
		}
		if _, published := ts.sub.calls(); len(published) != 0 {
			t.Errorf("published %d commands", len(published))
		}
		if s := itemStock(t, ts, item.ID); s != stock {
			t.Errorf("item stock %d, was %d", s, stock)
		}
		if v := counterValue(t, reg, "orderq_gateway_refunds_required_total"); v != refunds+1 {
			t.Errorf("refunds counter %v, want %v", v, refunds+1)
		}
		// Delivered again, it is not counted again.
		post(t, eventBody("evt_late_"+id, id, "succeeded", 3000, "IDR"))
		if v := counterValue(t, reg, "orderq_gateway_refunds_required_total"); v != refunds+1 {
			t.Errorf("refunds counter %v after a duplicate, want %v", v, refunds+1)
		}
		if rows := payments(t, db, id); len(rows) != 1 || rows[0].Outcome != order.OutcomeRefundRequired {
			t.Errorf("payments %+v, want one, refund_required", rows)
		}
	})

	t.Run("failure is recorded and the order stays payable", func(t *testing.T) {
		t.Parallel()
		id := insertPriced(t, db, item.ID, orderstatus.Confirmed, time.Now().UTC().Truncate(time.Microsecond))
		got := post(t, eventBody("evt_fail_"+id, id, "failed", 3000, "IDR"))
		if got.Outcome != order.OutcomeRecorded || got.Order.Status != orderstatus.Confirmed || got.Order.RefundRequired {
			t.Errorf("answer %+v, want recorded, the order still confirmed", got)
		}
		if got := post(t, eventBody("evt_retry_"+id, id, "succeeded", 3000, "IDR")); got.Outcome != order.OutcomePaid || got.Order.Status != orderstatus.Paid {
			t.Errorf("then a success: %+v, want paid", got)
		}
		if rows := payments(t, db, id); len(rows) != 2 || rows[0].Outcome != order.OutcomeRecorded || rows[1].Outcome != order.OutcomePaid {
			t.Errorf("payments %+v, want recorded then paid", rows)
		}
	})

	t.Run("pending and unknown orders store nothing", func(t *testing.T) {
		t.Parallel()
		pending := insertPriced(t, db, item.ID, orderstatus.Pending, time.Now().UTC())
		accepted := uuid.NewString() // accepted by this gateway, not yet decided
		ts.cache.Accepted(message.Order{ID: accepted, CustomerID: "c-pay", Status: orderstatus.Pending})
		for _, tt := range []struct {
			name   string
			id     string
			status int
			code   string
		}{
			{"pending", pending, http.StatusConflict, "order_pending"},
			{"accepted here, not decided", accepted, http.StatusConflict, "order_pending"},
			{"unknown", uuid.NewString(), http.StatusNotFound, "order_not_found"},
		} {
			t.Run(tt.name, func(t *testing.T) {
				body := eventBody("evt_"+uuid.NewString(), tt.id, "succeeded", 3000, "IDR")
				assertError(t, ts.serve(t, http.MethodPost, "/api/v1/payments/webhook", body, provider(body)), tt.status, tt.code)
				if rows := payments(t, db, tt.id); len(rows) != 0 {
					t.Errorf("stored %d payments, want none", len(rows))
				}
			})
		}
		if got := loadStored(t, db, pending); got.Status != orderstatus.Pending {
			t.Errorf("pending order became %s", got.Status)
		}
	})
}

func itemStock(t *testing.T, ts *testServer, id int64) int64 {
	t.Helper()
	it, err := ts.store.Item(t.Context(), id)
	if err != nil {
		t.Fatal(err)
	}
	return it.Stock
}

// TestPaymentWebhookRefuses checks every refusal: the status, the error, that
// the document lists the status, and that nothing was stored or changed.
func TestPaymentWebhookRefuses(t *testing.T) {
	t.Parallel()
	db := testDB(t)
	ts := newPaymentServer(t, db, nil)
	disabled := newTestServer(t, db, func(c *Config) { c.PaymentWebhookSecret = nil })
	item := ts.createItem(t, "sneaker", 10, 0)
	id := insertPriced(t, db, item.ID, orderstatus.Confirmed, time.Now().UTC().Truncate(time.Microsecond))
	body := eventBody("evt_refused", id, "succeeded", 3000, "IDR")
	now := time.Now()
	signed := func(b string) map[string]string { return provider(b) }
	with := func(sig string) map[string]string {
		return map[string]string{"Authorization": "", signatureHeader: sig}
	}
	good := signature(testWebhookSecret, now, body)
	_, goodV1, _ := strings.Cut(good, ",v1=")
	ts0 := strconv.FormatInt(now.Unix(), 10)
	doc := loadDoc(t)

	tests := []struct {
		name   string
		srv    *testServer
		body   string
		header map[string]string
		status int
		code   string
	}{
		{"no signature", ts, body, map[string]string{"Authorization": ""}, 401, "unauthorized"},
		{"webhook disabled", disabled, body, signed(body), 401, "unauthorized"},
		{"another secret", ts, body, with(signature("whsec_other", now, body)), 401, "unauthorized"},
		{"another body", ts, strings.Replace(body, "3000", "30", 1), signed(body), 401, "unauthorized"},
		{"stale time, a replay", ts, body, with(signature(testWebhookSecret, now.Add(-6*time.Minute), body)), 401, "unauthorized"},
		{"time in the future", ts, body, with(signature(testWebhookSecret, now.Add(6*time.Minute), body)), 401, "unauthorized"},
		{"time signed, another sent", ts, body, with("t=" + strconv.FormatInt(now.Unix()+1, 10) + ",v1=" + goodV1), 401, "unauthorized"},
		{"no time", ts, body, with("v1=" + goodV1), 401, "unauthorized"},
		{"two times", ts, body, with("t=" + ts0 + ",t=" + ts0 + ",v1=" + goodV1), 401, "unauthorized"},
		{"time not a number", ts, body, with("t=now,v1=" + goodV1), 401, "unauthorized"},
		{"no v1", ts, body, with("t=" + ts0), 401, "unauthorized"},
		{"v1 not hex", ts, body, with("t=" + ts0 + ",v1=zz" + goodV1[2:]), 401, "unauthorized"},
		{"v1 cut short", ts, body, with("t=" + ts0 + ",v1=" + goodV1[:32]), 401, "unauthorized"},
		{"not key=value", ts, body, with("garbage"), 401, "unauthorized"},
		{"a customer's token is no signature", ts, body, asCustomer(t, "c-pay"), 401, "unauthorized"},
		{"body over 64 KiB", ts, `{"event_id":"` + strings.Repeat("a", maxBody) + `"}`, with(good), 413, "body_too_large"},
		{"malformed JSON", ts, `{"event_id":`, signed(`{"event_id":`), 400, "invalid_json"},
		{"empty body", ts, "", signed(""), 400, "invalid_json"},
		{"trailing data", ts, body + "{}", signed(body + "{}"), 400, "invalid_json"},
	}
	// Events with one field changed (nil: left out), each signed.
	bad := map[string][2]any{
		"missing event_id":         {"event_id", nil},
		"event_id empty":           {"event_id", ""},
		"event_id with a space":    {"event_id", "evt 1"},
		"event_id not ASCII":       {"event_id", "évt"},
		"event_id of 129":          {"event_id", strings.Repeat("e", 129)},
		"event_id as number":       {"event_id", 1},
		"missing order_id":         {"order_id", nil},
		"order_id in upper case":   {"order_id", strings.ToUpper(id)},
		"order_id not a uuid":      {"order_id", "42"},
		"order_id with a space":    {"order_id", " " + id},
		"missing status":           {"status", nil},
		"unknown status":           {"status", "refunded"},
		"status in upper case":     {"status", "SUCCEEDED"},
		"status as array":          {"status", []string{"succeeded"}},
		"missing amount":           {"amount", nil},
		"negative amount":          {"amount", -1},
		"amount as float":          {"amount", 30.5},
		"amount as string":         {"amount", "3000"},
		"amount beyond int64":      {"amount", json.Number("99999999999999999999")},
		"missing currency":         {"currency", nil},
		"currency in lower case":   {"currency", "idr"},
		"currency unknown":         {"currency", "ZZZ"},
		"currency of no currency":  {"currency", "XXX"},
		"currency of four letters": {"currency", "IDRX"},
		"unknown field":            {"fee", 1},
	}
	for name, change := range bad {
		fields := map[string]any{"event_id": "evt_1", "order_id": id, "status": "succeeded", "amount": 3000, "currency": "IDR"}
		if change[1] == nil {
			delete(fields, change[0].(string))
		} else {
			fields[change[0].(string)] = change[1]
		}
		raw, err := json.Marshal(fields)
		if err != nil {
			t.Fatal(err)
		}
		b := string(raw)
		tests = append(tests, struct {
			name   string
			srv    *testServer
			body   string
			header map[string]string
			status int
			code   string
		}{name, ts, b, signed(b), 422, "validation_failed"})
	}
	tests = append(tests, struct {
		name   string
		srv    *testServer
		body   string
		header map[string]string
		status int
		code   string
	}{"null body", ts, "null", signed("null"), 422, "validation_failed"})
	before := loadStored(t, db, id)
	t.Run("refusals", func(t *testing.T) {
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				t.Parallel()
				rec := tt.srv.serve(t, http.MethodPost, "/api/v1/payments/webhook", tt.body, tt.header)
				assertError(t, rec, tt.status, tt.code)
				if tt.status == http.StatusUnauthorized && !strings.HasPrefix(rec.Header().Get("WWW-Authenticate"), signatureHeader) {
					t.Errorf("401 with WWW-Authenticate %q, want the %s scheme", rec.Header().Get("WWW-Authenticate"), signatureHeader)
				}
				if statuses, ok := doc.statuses(t, http.MethodPost, "/api/v1/payments/webhook"); !ok || !slices.Contains(statuses, tt.status) {
					t.Errorf("openapi.json lists %v for the webhook, not %d", statuses, tt.status)
				}
			})
		}
	})
	if rows := payments(t, db, id); len(rows) != 0 {
		t.Errorf("stored %d payments, want none", len(rows))
	}
	if got := loadStored(t, db, id); got.Status != before.Status || !got.UpdatedAt.Equal(before.UpdatedAt) {
		t.Errorf("order changed: %+v, want %+v", got, before)
	}
}

func TestPaymentWebhookSecretRotation(t *testing.T) {
	t.Parallel()
	db := testDB(t)
	ts := newPaymentServer(t, db, nil)
	item := ts.createItem(t, "sneaker", 10, 0)
	id := insertPriced(t, db, item.ID, orderstatus.Confirmed, time.Now().UTC().Truncate(time.Microsecond))
	body := eventBody("evt_rotated", id, "succeeded", 3000, "IDR")
	now := time.Now()
	old := signature("whsec_old", now, body)
	current := signature(testWebhookSecret, now, body)
	_, oldV1, _ := strings.Cut(old, ",v1=")
	_, currentV1, _ := strings.Cut(current, ",v1=")
	// Signed with the old secret and ours, in either order, with a scheme we
	// do not check in between.
	header := fmt.Sprintf("t=%d, v1=%s, v0=abc, v1=%s", now.Unix(), oldV1, currentV1)
	rec := ts.serve(t, http.MethodPost, "/api/v1/payments/webhook", body, map[string]string{"Authorization": "", signatureHeader: header})
	if rec.Code != http.StatusOK {
		t.Fatalf("status %d, want 200; body %s", rec.Code, rec.Body)
	}
	if got := loadStored(t, db, id); got.Status != orderstatus.Paid {
		t.Errorf("order %s, want paid", got.Status)
	}
}

func TestListRefunds(t *testing.T) {
	t.Parallel()
	db := testDB(t)
	ts := newPaymentServer(t, db, nil)
	item := ts.createItem(t, "sneaker", 10, 0)
	var want []string
	for i := range 3 {
		id := insertPriced(t, db, item.ID, orderstatus.Fulfilled, time.Now().UTC().Truncate(time.Microsecond))
		body := eventBody(fmt.Sprintf("evt_refund_%d", i), id, "succeeded", 3000, "IDR")
		if rec := ts.serve(t, http.MethodPost, "/api/v1/payments/webhook", body, provider(body)); rec.Code != http.StatusOK {
			t.Fatalf("webhook: %d %s", rec.Code, rec.Body)
		}
		want = append(want, fmt.Sprintf("evt_refund_%d", i))
	}
	paid := insertPriced(t, db, item.ID, orderstatus.Confirmed, time.Now().UTC().Truncate(time.Microsecond))
	if body := eventBody("evt_not_a_refund", paid, "succeeded", 3000, "IDR"); ts.serve(t, http.MethodPost, "/api/v1/payments/webhook", body, provider(body)).Code != http.StatusOK {
		t.Fatal("paying an order failed")
	}

	var got []string
	target := "/api/v1/payments/refunds?limit=2"
	for pages := 0; ; pages++ {
		if pages > 3 {
			t.Fatal("more pages than refunds")
		}
		rec := ts.serve(t, http.MethodGet, target, "", nil)
		if rec.Code != http.StatusOK {
			t.Fatalf("status %d; body %s", rec.Code, rec.Body)
		}
		var page refundList
		decodeBody(t, rec, &page)
		for _, r := range page.Refunds {
			if r.Order == nil || r.Order.ID != r.Payment.OrderID || !r.Order.RefundRequired || r.Payment.Outcome != order.OutcomeRefundRequired ||
				r.Payment.Amount == nil || *r.Payment.Amount != 3000 || r.Payment.Source != order.SourceWebhook {
				t.Errorf("refund %+v, want a flagged order with the event that flagged it", r)
			}
			got = append(got, r.Payment.EventID)
		}
		if page.NextAfter == nil {
			break
		}
		target = "/api/v1/payments/refunds?limit=2&after=" + url.QueryEscape(page.NextAfter.Format(time.RFC3339Nano)) +
			"&after_event_id=" + url.QueryEscape(*page.NextAfterEventID)
	}
	if !slices.Equal(got, want) {
		t.Errorf("refunds %v, want %v", got, want)
	}

	doc := loadDoc(t)
	for _, tt := range []struct {
		name, target string
		header       map[string]string
		status       int
		code         string
	}{
		{"a customer", "/api/v1/payments/refunds", asCustomer(t, "c-pay"), 403, "forbidden"},
		{"no credential", "/api/v1/payments/refunds", map[string]string{"Authorization": ""}, 401, "unauthorized"},
		{"limit 0", "/api/v1/payments/refunds?limit=0", nil, 422, "validation_failed"},
		{"limit 101", "/api/v1/payments/refunds?limit=101", nil, 422, "validation_failed"},
		{"after not a time", "/api/v1/payments/refunds?after=yesterday", nil, 422, "validation_failed"},
		{"after_event_id alone", "/api/v1/payments/refunds?after_event_id=evt_1", nil, 422, "validation_failed"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			rec := ts.serve(t, http.MethodGet, tt.target, "", tt.header)
			assertError(t, rec, tt.status, tt.code)
			if statuses, ok := doc.statuses(t, http.MethodGet, tt.target); !ok || !slices.Contains(statuses, tt.status) {
				t.Errorf("openapi.json lists %v, not %d", statuses, tt.status)
			}
		})
	}
}

// TestManualPaymentIsStored: the back office's payment is stored among the
// payments, in the move's transaction.
func TestManualPaymentIsStored(t *testing.T) {
	t.Parallel()
	db := testDB(t)
	ts := newPaymentServer(t, db, nil)
	item := ts.createItem(t, "sneaker", 10, 0)
	for _, tt := range []struct{ name, target, body string }{
		{"pay", "/pay", ""},
		{"status paid", "/status", `{"status":"paid"}`},
	} {
		t.Run(tt.name, func(t *testing.T) {
			id := insertPriced(t, db, item.ID, orderstatus.Confirmed, time.Now().UTC().Truncate(time.Microsecond))
			if rec := ts.serve(t, http.MethodPost, "/api/v1/orders/"+id+tt.target, tt.body, nil); rec.Code != http.StatusOK {
				t.Fatalf("status %d; body %s", rec.Code, rec.Body)
			}
			rows := payments(t, db, id)
			if len(rows) != 1 || rows[0].Source != order.SourceManual || rows[0].Outcome != order.OutcomePaid ||
				rows[0].Amount == nil || *rows[0].Amount != 3000 || rows[0].Currency == nil || *rows[0].Currency != "IDR" {
				t.Errorf("payments %+v, want one manual payment of 3000 IDR", rows)
			}
		})
	}
}
