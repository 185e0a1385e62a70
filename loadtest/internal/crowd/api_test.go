package crowd

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/orderq/orderq/loadtest/internal/check"
	"github.com/orderq/orderq/shared/orderstatus"
)

// TestDoAnswers checks how each kind of answer of the gateway is reported: the
// crowd's error counts and retries rest on it.
func TestDoAnswers(t *testing.T) {
	mux := http.NewServeMux()
	mux.HandleFunc("/ok", func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Idempotency-Key") != "k1" || r.Header.Get("Content-Type") != "application/json" {
			http.Error(w, "headers not sent", http.StatusBadRequest)
			return
		}
		w.Header().Set("Server-Timing", "cache;desc=miss, wait;dur=12.5")
		w.WriteHeader(http.StatusAccepted)
		w.Write([]byte(`{"id":"o1","status":"pending"}`))
	})
	mux.HandleFunc("/busy", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Retry-After", "2")
		w.WriteHeader(http.StatusServiceUnavailable)
		w.Write([]byte(`{"error":{"code":"unavailable","message":"broker down"}}`))
	})
	mux.HandleFunc("/html", func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "  bad gateway  ", http.StatusBadGateway)
	})
	mux.HandleFunc("/garbled", func(w http.ResponseWriter, r *http.Request) {
		w.Write([]byte(`{"id":`))
	})
	mux.HandleFunc("/slow", func(w http.ResponseWriter, r *http.Request) {
		time.Sleep(300 * time.Millisecond)
	})
	srv := httptest.NewServer(mux)
	defer srv.Close()
	a := &api{base: srv.URL, client: newClient(2)}
	defer a.client.CloseIdleConnections()

	var o order
	ans, err := a.do(context.Background(), http.MethodPost, "/ok", header{"Idempotency-Key", "k1"}, []byte(`{}`), &o, http.StatusAccepted)
	if err != nil || ans.status != http.StatusAccepted || ans.waited != 12500*time.Microsecond || o.ID != "o1" || o.Status != orderstatus.Pending {
		t.Errorf("ok: answer %+v, order %+v, err %v", ans, o, err)
	}

	_, err = a.do(context.Background(), http.MethodGet, "/busy", header{}, nil, &o, http.StatusOK)
	var ae *APIError
	if !errors.As(err, &ae) || ae.Status != 503 || ae.Code != "unavailable" || ae.Message != "broker down" || ae.RetryAfter != 2*time.Second {
		t.Errorf("busy: %#v", err)
	}
	if !retryable(err) || !mayHavePublished(err) || cause(err) != "503 unavailable" {
		t.Errorf("busy: retryable %v, mayHavePublished %v, cause %q", retryable(err), mayHavePublished(err), cause(err))
	}

	_, err = a.do(context.Background(), http.MethodGet, "/html", header{}, nil, &o, http.StatusOK)
	if !errors.As(err, &ae) || ae.Status != 502 || ae.Code != "" || ae.Message != "bad gateway" {
		t.Errorf("html: %#v", err)
	}

	_, err = a.do(context.Background(), http.MethodGet, "/garbled", header{}, nil, &o, http.StatusOK)
	if cause(err) != "malformed_answer" {
		t.Errorf("garbled: %v, cause %q", err, cause(err))
	}

	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	_, err = a.do(ctx, http.MethodGet, "/slow", header{}, nil, &o, http.StatusOK)
	if !errors.Is(err, context.DeadlineExceeded) || cause(err) != "cancelled" {
		t.Errorf("slow: %v, cause %q", err, cause(err))
	}

	srv.Close()
	_, err = a.do(context.Background(), http.MethodGet, "/ok", header{}, nil, &o, http.StatusOK)
	if err == nil || cause(err) != "network" || !retryable(err) {
		t.Errorf("closed: %v, cause %q", err, cause(err))
	}
}

func TestServerWait(t *testing.T) {
	tests := []struct {
		header string
		want   time.Duration
	}{
		{"wait;dur=41.125", 41125 * time.Microsecond},
		{`db;dur=2, wait;desc="after accept";dur=7`, 7 * time.Millisecond},
		{"wait", 0},
		{"wait;dur=-1", 0},
		{"wait;dur=x", 0},
		{"waiting;dur=3", 0},
		{"", 0},
	}
	for _, tt := range tests {
		if got := serverWait(tt.header); got != tt.want {
			t.Errorf("serverWait(%q) = %v, want %v", tt.header, got, tt.want)
		}
	}
}

// TestBodyNamesTheCustomer: a buyer with a token is its subject and names no
// customer; a storefront names the buyer.
func TestBodyNamesTheCustomer(t *testing.T) {
	for _, tt := range []struct {
		auth  Auth
		named bool
	}{{AuthToken, false}, {AuthStorefront, true}, {AuthNone, true}} {
		r := &runner{cfg: Config{Auth: tt.auth}, items: []Item{{ID: 7}}}
		for _, o := range []*Order{
			{Order: check.Order{CustomerID: "c-3", Quantity: 1}},
			{Order: check.Order{CustomerID: "c-3", Quantity: 1}, Lines: []Line{{Item: 0, Quantity: 1}}},
		} {
			body, err := r.body(o)
			if err != nil {
				t.Fatal(err)
			}
			if got := strings.Contains(string(body), `"customer_id":"c-3"`); got != tt.named || (!tt.named && strings.Contains(string(body), "customer_id")) {
				t.Errorf("auth %s: body %s; want the customer named: %v", tt.auth, body, tt.named)
			}
		}
	}
}
