package store

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"
	"gorm.io/gorm"

	"github.com/orderq/orderq/shared/database"
	"github.com/orderq/orderq/shared/order"
	"github.com/orderq/orderq/shared/orderstatus"
	"github.com/orderq/orderq/shared/orderstore"
	"github.com/orderq/orderq/shared/testenv"
)

func testDB(t *testing.T) *gorm.DB {
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

// TestOrderCoalescesConcurrentReads: many requests reading orders at once get
// each their own order (or order.ErrNotFound), from a few queries.
func TestOrderCoalescesConcurrentReads(t *testing.T) {
	db := testDB(t)
	s := New(db)
	now := time.Now().UTC().Truncate(time.Microsecond)
	var stored []string
	var orders []*order.Order
	for i := range 50 {
		o := &order.Order{ID: uuid.NewString(), CustomerID: "c", Status: orderstatus.Rejected, Parts: 1, PartsDone: 1,
			CreatedAt: now, UpdatedAt: now}
		for line := range 1 + i%2 {
			o.Lines = append(o.Lines, order.Line{No: line, ItemID: int64(100 + line), Quantity: line + 1, Status: orderstatus.LineRejected})
		}
		stored = append(stored, o.ID)
		orders = append(orders, o)
	}
	if err := orderstore.Insert(db, orders, false); err != nil {
		t.Fatal(err)
	}
	var queries atomic.Int32
	if err := db.Callback().Query().After("gorm:query").Register("count", func(*gorm.DB) { queries.Add(1) }); err != nil {
		t.Fatal(err)
	}

	const readers = 300
	start := make(chan struct{})
	var wg sync.WaitGroup
	for i := range readers {
		wg.Go(func() {
			<-start
			id := uuid.NewString() // never stored
			if i%2 == 0 {
				id = stored[i%len(stored)]
			}
			o, err := s.Order(t.Context(), id)
			switch {
			case i%2 == 1:
				if !errors.Is(err, order.ErrNotFound) {
					t.Errorf("missing order %s: %+v, %v; want order.ErrNotFound", id, o, err)
				}
			case err != nil:
				t.Errorf("order %s: %v", id, err)
			case o.ID != id || o.Status != orderstatus.Rejected || len(o.Lines) != 1+(i%len(stored))%2:
				t.Errorf("order %s: got %+v", id, o)
			default:
				for n, l := range o.Lines {
					if l.ItemID != int64(100+n) || l.Quantity != n+1 {
						t.Errorf("order %s line %d: %+v", id, n, l)
					}
				}
			}
		})
	}
	close(start)
	wg.Wait()
	// Each round is one query of the orders and at most one of their lines.
	if n := queries.Load(); n >= readers/3 {
		t.Errorf("%d queries for %d reads: not coalesced", n, readers)
	}
	t.Logf("%d queries for %d reads", queries.Load(), readers)
}

func TestOrderGivesUpWithItsContext(t *testing.T) {
	s := New(testDB(t))
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if _, err := s.Order(ctx, uuid.NewString()); !errors.Is(err, context.Canceled) {
		t.Errorf("err = %v, want context.Canceled", err)
	}
	// The query it started still serves the next reader.
	if _, err := s.Order(t.Context(), uuid.NewString()); !errors.Is(err, order.ErrNotFound) {
		t.Errorf("err = %v, want order.ErrNotFound", err)
	}
}
