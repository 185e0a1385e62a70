package httpapi

import (
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/orderq/orderq/shared/message"
)

func TestItemPrices(t *testing.T) {
	t.Parallel()
	db := testDB(t)
	ts := newTestServer(t, db)
	tests := []struct {
		name         string
		body         string
		wantPrice    int64
		wantCurrency string
	}{
		{"defaults", `{"name":"free","stock":1}`, 0, "IDR"},
		{"priced", `{"name":"sneaker","stock":1,"price":150000,"currency":"USD"}`, 150000, "USD"},
		{"price only", `{"name":"hoodie","stock":1,"price":99}`, 99, "IDR"},
		{"bounds", `{"name":"gold","stock":1,"price":1000000000000,"currency":"JPY"}`, 1_000_000_000_000, "JPY"},
		{"a name in another script", `{"name":"سبز كفش 👟","stock":1,"price":1}`, 1, "IDR"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			rec := ts.serve(t, http.MethodPost, "/api/v1/items", tt.body, nil)
			if rec.Code != http.StatusCreated {
				t.Fatalf("status %d, want 201; body %s", rec.Code, rec.Body)
			}
			var created message.Item
			decodeBody(t, rec, &created)
			rec = ts.serve(t, http.MethodGet, fmt.Sprintf("/api/v1/items/%d", created.ID), "", nil)
			var fetched message.Item
			decodeBody(t, rec, &fetched)
			for _, got := range []message.Item{created, fetched} {
				if got.Price != tt.wantPrice || got.Currency != tt.wantCurrency {
					t.Errorf("item %+v, want price %d %s", got, tt.wantPrice, tt.wantCurrency)
				}
			}
		})
	}

	t.Run("patch", func(t *testing.T) {
		t.Parallel()
		item := ts.createItem(t, "sneaker", 5, 0)
		for _, step := range []struct {
			body         string
			wantPrice    int64
			wantCurrency string
		}{
			{`{"price":2500}`, 2500, "IDR"},
			{`{"currency":"EUR"}`, 2500, "EUR"},
			{`{"price":0,"currency":"IDR","name":"sneaker, blue"}`, 0, "IDR"},
		} {
			rec := ts.serve(t, http.MethodPatch, fmt.Sprintf("/api/v1/items/%d", item.ID), step.body, nil)
			if rec.Code != http.StatusOK {
				t.Fatalf("%s: status %d; body %s", step.body, rec.Code, rec.Body)
			}
			var got message.Item
			decodeBody(t, rec, &got)
			if got.Price != step.wantPrice || got.Currency != step.wantCurrency || got.Stock != 5 {
				t.Errorf("%s: item %+v, want price %d %s and stock 5", step.body, got, step.wantPrice, step.wantCurrency)
			}
		}
	})
}

// TestItemValidationNamesTheField checks that a refused price, currency or
// name is answered with a message naming the field.
func TestItemValidationNamesTheField(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t, testDB(t))
	item := ts.createItem(t, "sneaker", 5, 0)
	patch := fmt.Sprintf("/api/v1/items/%d", item.ID)
	tests := []struct {
		method, target, body, field string
	}{
		{http.MethodPost, "/api/v1/items", `{"name":"x","stock":1,"price":-5}`, "price"},
		{http.MethodPost, "/api/v1/items", `{"name":"x","stock":1,"price":1000000000001}`, "price"},
		{http.MethodPost, "/api/v1/items", `{"name":"x","stock":1,"price":1.25}`, "price"},
		{http.MethodPost, "/api/v1/items", `{"name":"x","stock":1,"currency":"usd"}`, "currency"},
		{http.MethodPost, "/api/v1/items", `{"name":"x","stock":1,"currency":"ABC"}`, "currency"},
		{http.MethodPost, "/api/v1/items", `{"name":"a\u0000b","stock":1}`, "name"},
		{http.MethodPost, "/api/v1/items", `{"name":"a\u009bb","stock":1}`, "name"},
		{http.MethodPost, "/api/v1/items", `{"name":"invoice\u202Efdp.exe","stock":1}`, "name"},
		{http.MethodPost, "/api/v1/items", `{"name":"\u2066x\u2069","stock":1}`, "name"},
		{http.MethodPatch, patch, `{"price":-1}`, "price"},
		{http.MethodPatch, patch, `{"currency":"US"}`, "currency"},
		{http.MethodPatch, patch, `{"name":"line\nbreak"}`, "name"},
		{http.MethodPatch, patch, `{"name":"\u202Bx"}`, "name"},
	}
	t.Run("cases", func(t *testing.T) {
		for _, tt := range tests {
			t.Run(tt.method+" "+tt.body, func(t *testing.T) {
				t.Parallel()
				rec := ts.serve(t, tt.method, tt.target, tt.body, nil)
				assertError(t, rec, http.StatusUnprocessableEntity, "validation_failed")
				var body errorBody
				decodeBody(t, rec, &body)
				if !strings.HasPrefix(body.Error.Message, tt.field) {
					t.Errorf("message %q does not start with the field %s", body.Error.Message, tt.field)
				}
			})
		}
	})
	got, err := ts.store.Item(t.Context(), item.ID)
	if err != nil {
		t.Fatal(err)
	}
	if got.Name != item.Name || got.Price != item.Price || got.Currency != item.Currency || !got.UpdatedAt.Equal(item.UpdatedAt) {
		t.Errorf("item changed to %+v, want %+v", got, item)
	}
}
