package retention

import (
	"context"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"go.uber.org/goleak"
	"gorm.io/gorm"

	"github.com/orderq/orderq/shared/database"
	"github.com/orderq/orderq/shared/message"
	"github.com/orderq/orderq/shared/order"
	"github.com/orderq/orderq/shared/orderstatus"
	"github.com/orderq/orderq/shared/orderstore"
	"github.com/orderq/orderq/shared/testenv"
)

// TestMain checks that Run does not outlive its context.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

func openDB(t *testing.T) *gorm.DB {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	db, err := database.Open(ctx, testenv.Database(t), slog.New(slog.NewTextHandler(io.Discard, nil)), database.Options{MaxOpenConns: 4})
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

// storeOrders stores n single-line orders decided age ago, as the worker
// stores them: rejected out_of_stock (their line in their own row) or
// confirmed (their line reserved), and returns their ids.
func storeOrders(t *testing.T, db *gorm.DB, n int, status orderstatus.Status, age time.Duration) []string {
	t.Helper()
	at := time.Now().UTC().Add(-age).Truncate(time.Microsecond)
	var orders []*order.Order
	var ids []string
	for range n {
		o := &order.Order{ID: uuid.NewString(), CustomerID: "c-1", Status: status, Parts: 1, PartsDone: 1,
			CreatedAt: at, ProcessedAt: &at, UpdatedAt: at,
			Lines: []order.Line{{No: 0, ItemID: 7, Quantity: 1}}}
		switch status {
		case orderstatus.Rejected:
			reason := message.ReasonOutOfStock
			o.Reason, o.Lines[0].Status, o.Lines[0].Reason = &reason, orderstatus.LineRejected, &reason
		case orderstatus.Confirmed:
			price, currency := int64(100), "IDR"
			o.Total, o.Currency, o.Lines[0].Status, o.Lines[0].UnitPrice = &price, &currency, orderstatus.Reserved, &price
		default:
			t.Fatalf("storeOrders: no order to store in status %s", status)
		}
		orders = append(orders, o)
		ids = append(ids, o.ID)
	}
	if err := orderstore.Insert(db.WithContext(t.Context()), orders, false); err != nil {
		t.Fatalf("store orders: %v", err)
	}
	var lines int64
	if err := db.WithContext(t.Context()).Table("order_lines").Where("order_id IN ?", database.IDs(ids)).Count(&lines).Error; err != nil {
		t.Fatalf("count order lines: %v", err)
	}
	want := int64(n) // a line each, in order_lines
	if status == orderstatus.Rejected {
		want = 0
	}
	if lines != want {
		t.Fatalf("%d order_lines rows for %d %s orders, want %d", lines, n, status, want)
	}
	return ids
}

func countOrders(t *testing.T, db *gorm.DB, status orderstatus.Status) int64 {
	t.Helper()
	var n int64
	if err := db.WithContext(t.Context()).Raw("SELECT COUNT(*) FROM report_orders WHERE status = ?", status).Scan(&n).Error; err != nil {
		t.Fatalf("count orders: %v", err)
	}
	return n
}

// run runs Run until the test ends, or stop is called, which waits for it
// to return.
func run(t *testing.T, db *gorm.DB, cfg Config, deleted prometheus.Counter, log *slog.Logger) (stop func()) {
	t.Helper()
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan struct{})
	go func() {
		defer close(done)
		Run(ctx, db, cfg, deleted, log)
	}()
	stop = func() {
		cancel()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			t.Fatal("Run did not return within 10 s of its context's end")
		}
	}
	t.Cleanup(stop)
	return stop
}

func TestRunDeletesOldRejectedOrdersInBatches(t *testing.T) {
	t.Parallel()
	db := openDB(t)
	storeOrders(t, db, 25, orderstatus.Rejected, 2*time.Hour)
	storeOrders(t, db, 3, orderstatus.Rejected, 30*time.Minute)
	storeOrders(t, db, 4, orderstatus.Confirmed, 2*time.Hour)
	deleted := prometheus.NewCounter(prometheus.CounterOpts{Name: "deleted"})
	log := testenv.NewLog(t)
	stop := run(t, db, Config{Keep: time.Hour, Interval: 10 * time.Millisecond, Batch: 10, Batches: 100, Pause: time.Millisecond},
		deleted, log.Logger)

	r := log.Await(t, "rejected orders deleted", 30*time.Second)
	stop()
	if r["orders"] != float64(25) {
		t.Errorf("logged %v orders deleted, want 25 in one round: %v", r["orders"], r)
	}
	if got := testutil.ToFloat64(deleted); got != 25 {
		t.Errorf("counted %v deleted, want 25", got)
	}
	if n := countOrders(t, db, orderstatus.Rejected); n != 3 {
		t.Errorf("%d rejected orders left, want the 3 younger than the retention", n)
	}
	if n := countOrders(t, db, orderstatus.Confirmed); n != 4 {
		t.Errorf("%d confirmed orders left, want 4", n)
	}
}

func TestRunBoundsARound(t *testing.T) {
	t.Parallel()
	db := openDB(t)
	storeOrders(t, db, 12, orderstatus.Rejected, 2*time.Hour)
	deleted := prometheus.NewCounter(prometheus.CounterOpts{Name: "deleted"})
	log := testenv.NewLog(t)
	// The first round ends at its bound, with orders left for the next.
	stop := run(t, db, Config{Keep: time.Hour, Interval: 10 * time.Millisecond, Batch: 5, Batches: 2, Pause: time.Millisecond},
		deleted, log.Logger)
	first := log.Await(t, "rejected orders deleted", 30*time.Second)
	stop()
	if first["orders"] != float64(10) {
		t.Errorf("the first round deleted %v orders, want 10 (2 batches of 5): %v", first["orders"], first)
	}
}

func TestRunZeroKeepsEverything(t *testing.T) {
	t.Parallel()
	db := openDB(t)
	storeOrders(t, db, 3, orderstatus.Rejected, 365*24*time.Hour)
	deleted := prometheus.NewCounter(prometheus.CounterOpts{Name: "deleted"})
	done := make(chan struct{})
	go func() {
		defer close(done)
		// Never canceled: with nothing to keep for, Run returns at once.
		Run(context.Background(), db, Config{Interval: time.Millisecond, Batch: 10, Batches: 10}, deleted, slog.New(slog.DiscardHandler))
	}()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("Run with a retention of 0 did not return")
	}
	if n := countOrders(t, db, orderstatus.Rejected); n != 3 {
		t.Errorf("%d rejected orders left, want 3", n)
	}
	if got := testutil.ToFloat64(deleted); got != 0 {
		t.Errorf("counted %v deleted, want 0", got)
	}
}

func TestRunStopsOnCancel(t *testing.T) {
	t.Parallel()
	db := openDB(t)
	deleted := prometheus.NewCounter(prometheus.CounterOpts{Name: "deleted"})
	stop := run(t, db, Config{Keep: time.Hour, Interval: time.Hour, Batch: 10, Batches: 10, Pause: time.Hour},
		deleted, slog.New(slog.DiscardHandler))
	stop() // fails the test unless Run returns
}
