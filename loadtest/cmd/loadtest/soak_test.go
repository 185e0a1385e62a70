package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/orderq/orderq/loadtest/internal/gatewaytest"
	"github.com/orderq/orderq/loadtest/internal/ledger"
	"github.com/orderq/orderq/shared/cli"
)

// fakeStore measures the fake gateway as if it kept a database: its orders,
// in a table of 300 bytes an order, beside a table of items that never
// grows. fail, when set, is the error of the n-th measure (from 1).
type fakeStore struct {
	gw   *gatewaytest.Server
	fail func(n int) error

	mu sync.Mutex
	n  int
}

func (f *fakeStore) Size(ctx context.Context) (ledger.Size, error) {
	f.mu.Lock()
	f.n++
	n := f.n
	f.mu.Unlock()
	if f.fail != nil {
		if err := f.fail(n); err != nil {
			return ledger.Size{}, err
		}
	}
	orders := int64(f.gw.Orders())
	return ledger.Size{Orders: orders, Tables: []ledger.Table{
		{Name: "items", DataBytes: 16384},
		{Name: "orders", Rows: orders, DataBytes: 16384 + 200*orders, IndexBytes: 100 * orders},
	}}, nil
}

// soakDoc is what the tests read of a soak's JSON document.
type soakDoc struct {
	Version int `json:"version"`
	Header  struct {
		Command string `json:"command"`
		Target  struct {
			APIVersion string `json:"api_version"`
		} `json:"target"`
	} `json:"header"`
	StoreBefore *struct {
		Orders int64 `json:"orders"`
	} `json:"store_before"`
	Sales []struct {
		Sale           int     `json:"sale"`
		Item           int64   `json:"item"`
		FinalPerSecond float64 `json:"final_per_second"`
		Passed         bool    `json:"passed"`
		Store          *struct {
			Orders        int64   `json:"orders"`
			Bytes         int64   `json:"bytes"`
			BytesPerOrder float64 `json:"bytes_per_order"`
		} `json:"store"`
		StoreNote string `json:"store_note"`
		Run       struct {
			Orders struct {
				Sent     int `json:"sent"`
				Accepted int `json:"accepted"`
				Final    int `json:"final"`
			} `json:"orders"`
			Series struct {
				Seconds []struct {
					Accepted int `json:"accepted"`
				} `json:"seconds"`
			} `json:"series"`
		} `json:"run"`
	} `json:"sales"`
	Complete    bool     `json:"complete"`
	LastOfFirst *float64 `json:"last_of_first_percent"`
	Passed      bool     `json:"passed"`
}

// TestSoak runs three short sales against the fake gateway, measured as if
// it kept a database: a row a sale, each a new item, and the orders stored
// after each grow by exactly what the sale placed. The JSON and the HTML
// report have the soak's header, and every sale second by second.
func TestSoak(t *testing.T) {
	gw := gatewaytest.New(t, gatewaytest.Options{})
	path := filepath.Join(t.TempDir(), "soak.html")
	cfg, _, err := loadSoakConfig([]string{"--url", gw.URL, "--admin-token", "secret", jwtSecret, "--mysql-dsn=", "--json", "--report", path,
		"--sales", "3", "--stock", "50", "--rate", "150", "--duration", "1s", "--concurrency", "32", "--wait", "1", "--timeout", "20s"}, env(nil))
	if err != nil {
		t.Fatal(err)
	}
	var stdout, stderr bytes.Buffer
	if err := cfg.run(context.Background(), nil, &fakeStore{gw: gw}, &stdout, &stderr, false); err != nil {
		t.Fatalf("run: %v\n%s", err, &stderr)
	}
	var doc soakDoc
	if err := json.Unmarshal(stdout.Bytes(), &doc); err != nil {
		t.Fatalf("stdout is not JSON: %v\n%s", err, &stdout)
	}
	if doc.Version != 1 || !doc.Complete || !doc.Passed || len(doc.Sales) != 3 || doc.LastOfFirst == nil || doc.StoreBefore == nil ||
		doc.Header.Command != "loadtest soak" || doc.Header.Target.APIVersion != gatewaytest.APIVersion {
		t.Fatalf("document = %+v", doc)
	}
	orders, items := doc.StoreBefore.Orders, map[int64]bool{}
	for i, s := range doc.Sales {
		if s.Sale != i+1 || !s.Passed || s.FinalPerSecond <= 0 || s.Store == nil || items[s.Item] {
			t.Errorf("sale %d = %+v", i+1, s)
			continue
		}
		items[s.Item] = true
		// The fake stores every order it is sent, once, and accepts it. (On
		// a busy machine some orders slip at the in-flight cap: not sent.)
		if sent := s.Run.Orders.Sent; sent == 0 || s.Run.Orders.Accepted != sent || s.Store.Orders != orders+int64(sent) {
			t.Errorf("sale %d: %d sent, %d accepted; store %d orders after %d: not grown by the sale's orders",
				s.Sale, sent, s.Run.Orders.Accepted, s.Store.Orders, orders)
		}
		if want := float64(16384+16384+300*s.Store.Orders) / float64(s.Store.Orders); s.Store.Bytes != 16384+16384+300*s.Store.Orders ||
			s.Store.BytesPerOrder != float64(int64(want*10+0.5))/10 {
			t.Errorf("sale %d: store %+v", s.Sale, *s.Store)
		}
		orders = s.Store.Orders
		accepted := 0
		for _, sec := range s.Run.Series.Seconds {
			accepted += sec.Accepted
		}
		if accepted != s.Run.Orders.Accepted {
			t.Errorf("sale %d: its seconds hold %d accepted orders of %d", s.Sale, accepted, s.Run.Orders.Accepted)
		}
	}
	html, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"<title>loadtest soak</title>", "<h2>Run</h2>", `<pre class="soak">`, "invariants  PASS in all 3 sales",
		`aria-label="Throughput, per second"`, ">time since sale 1&#39;s first order was due (s)<", `aria-label="Accept latency, every order"`} {
		if !strings.Contains(string(html), want) {
			t.Errorf("the HTML report does not contain %q", want)
		}
	}

	// The table went to stderr, a row a sale, in the order of the sales.
	table := stderr.String()
	for _, want := range []string{"store before sale 1: 0 orders, 32.0 KiB", "\n   1  ", "\n   2  ", "\n   3  ",
		"      ledger not checked: --mysql-dsn is empty\n", "store       after sale 3: 0 → ", "invariants  PASS in all 3 sales",
		"tables after sale 3"} {
		if !strings.Contains(table, want) {
			t.Errorf("the table does not contain %q:\n%s", want, table)
		}
	}
	if i1, i2, i3 := strings.Index(table, "\n   1  "), strings.Index(table, "\n   2  "), strings.Index(table, "\n   3  "); !(i1 < i2 && i2 < i3) {
		t.Errorf("rows out of order:\n%s", table)
	}
}

// TestSoakStoreUnreadable: a store that cannot be measured before the first
// sale stops the soak before it starts; after a sale, the soak goes on, says
// so in the row, and fails once it is done.
func TestSoakStoreUnreadable(t *testing.T) {
	refused := errors.New("connection refused")
	tests := []struct {
		name    string
		failAt  int // the measure that fails: 1 is the one before the first sale
		rows    int
		stdout  []string
		err     string
		noSales bool
	}{
		{name: "before the first sale", failAt: 1, err: "measure the store: connection refused", noSales: true},
		{name: "after sale 1", failAt: 2, rows: 2,
			stdout: []string{"      store not read: measure the store: connection refused\n", "store       after sale 2: 0 → "},
			err:    "after sale 1: measure the store: connection refused"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			gw := gatewaytest.New(t, gatewaytest.Options{})
			cfg, _, err := loadSoakConfig([]string{"--url", gw.URL, "--admin-token", "secret", jwtSecret, "--mysql-dsn=",
				"--sales", "2", "--stock", "10", "--rate", "100", "--duration", "300ms", "--concurrency", "8", "--wait", "1"}, env(nil))
			if err != nil {
				t.Fatal(err)
			}
			store := &fakeStore{gw: gw, fail: func(n int) error {
				if n == tt.failAt {
					return refused
				}
				return nil
			}}
			var stdout, stderr bytes.Buffer
			err = cfg.run(context.Background(), nil, store, &stdout, &stderr, false)
			if cli.Code(err) != cli.ExitCannot || !errors.Is(err, refused) || !strings.Contains(err.Error(), tt.err) {
				t.Fatalf("run = %v (exit %d), want exit %d saying %q\nstdout:\n%s", err, cli.Code(err), cli.ExitCannot, tt.err, &stdout)
			}
			if tt.noSales && (gw.Orders() != 0 || stdout.Len() != 0) {
				t.Errorf("a sale ran (%d orders) or a row was written:\n%s", gw.Orders(), &stdout)
			}
			for _, want := range tt.stdout {
				if !strings.Contains(stdout.String(), want) {
					t.Errorf("stdout does not contain %q:\n%s", want, &stdout)
				}
			}
			if n := strings.Count(stdout.String(), "  PASS  "); n != tt.rows {
				t.Errorf("%d rows, want %d:\n%s", n, tt.rows, &stdout)
			}
		})
	}
}
