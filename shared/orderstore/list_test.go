package orderstore

import (
	"errors"
	"reflect"
	"testing"
	"time"

	"github.com/google/uuid"
	"gorm.io/gorm"

	"github.com/orderq/orderq/shared/message"
	"github.com/orderq/orderq/shared/order"
	"github.com/orderq/orderq/shared/orderstatus"
)

func TestLoad(t *testing.T) {
	t.Parallel()
	db := openDB(t)
	outOfStock := message.ReasonOutOfStock
	confirmed := storeOrder(t, db, orderstatus.Confirmed, nil)
	rejected := storeOrder(t, db, orderstatus.Rejected, &outOfStock)
	cart := rejectedCart(t)
	insert(t, db, cart)
	for _, o := range []*order.Order{confirmed, rejected, cart} {
		got, err := Load(t.Context(), db, o.ID)
		if err != nil {
			t.Fatalf("load %s: %v", o.ID, err)
		}
		if want := o.Message(); !reflect.DeepEqual(got, want) {
			t.Errorf("loaded %+v, want %+v", got, want)
		}
	}
	unknown := uuid.NewString()
	if _, err := Load(t.Context(), db, unknown); !errors.Is(err, order.ErrNotFound) {
		t.Errorf("load of an unknown order: %v, want ErrNotFound", err)
	}
	many, err := LoadMany(t.Context(), db, []string{confirmed.ID, unknown, cart.ID})
	if err != nil {
		t.Fatalf("load many: %v", err)
	}
	want := map[string]message.Order{confirmed.ID: confirmed.Message(), cart.ID: cart.Message()}
	if !reflect.DeepEqual(many, want) {
		t.Errorf("LoadMany = %+v, want %+v", many, want)
	}
}

func TestListShowsTheOrdersPlacedNewestFirst(t *testing.T) {
	t.Parallel()
	db := openDB(t)
	outOfStock := message.ReasonOutOfStock
	at := time.Now().UTC().Truncate(time.Microsecond).Add(-time.Hour)
	var placed []*order.Order // newest first
	var orders []*order.Order
	for i, status := range []orderstatus.Status{orderstatus.Confirmed, orderstatus.Paid, orderstatus.Rejected,
		orderstatus.AwaitingPayment, orderstatus.Canceled, orderstatus.Rejected, orderstatus.Pending} {
		var reason *string
		if status == orderstatus.Rejected {
			reason = &outOfStock
		}
		o := newOrder(t, status, reason)
		// Two orders at each instant: the page's cursor is to break the tie.
		o.CreatedAt = at.Add(time.Duration(i/2) * time.Second)
		orders = append(orders, o)
		if status != orderstatus.Rejected {
			placed = append([]*order.Order{o}, placed...)
		}
	}
	other := newOrder(t, orderstatus.Confirmed, nil)
	other.CustomerID = "c-2"
	insert(t, db, append(orders, other)...)
	// Orders created at the same instant are listed by id, the newest first.
	for i := 0; i+1 < len(placed); i++ {
		if a, b := placed[i], placed[i+1]; a.CreatedAt.Equal(b.CreatedAt) && a.ID < b.ID {
			placed[i], placed[i+1] = b, a
		}
	}

	list := func(t *testing.T, display string, limit int) []string {
		t.Helper()
		var ids []string
		var after *Cursor
		for pages := 0; ; pages++ {
			if pages > len(orders) {
				t.Fatal("more pages than orders")
			}
			page, err := List(t.Context(), db, "c-1", display, after, limit)
			if err != nil {
				t.Fatalf("list: %v", err)
			}
			if len(page.Orders) > limit {
				t.Fatalf("a page of %d orders, limit %d", len(page.Orders), limit)
			}
			for _, o := range page.Orders {
				if o.CustomerID != "c-1" || o.Status == orderstatus.Rejected {
					t.Errorf("listed %+v", o)
				}
				ids = append(ids, o.ID)
			}
			if page.Next == nil {
				return ids
			}
			after = page.Next
		}
	}
	var want []string
	for _, o := range placed {
		want = append(want, o.ID)
	}
	for _, limit := range []int{1, 2, 3, 100} {
		if got := list(t, "", limit); !reflect.DeepEqual(got, want) {
			t.Errorf("pages of %d: %v, want %v", limit, got, want)
		}
	}
	var awaiting []string
	for _, o := range placed {
		if o.Display() == orderstatus.ShowAwaitingPayment {
			awaiting = append(awaiting, o.ID)
		}
	}
	if got := list(t, orderstatus.ShowAwaitingPayment, 1); len(awaiting) != 2 || !reflect.DeepEqual(got, awaiting) {
		t.Errorf("awaiting payment: %v, want %v (two)", got, awaiting)
	}
}

// TestInsertOfAStoredOrder: a batch taken for new orders (assumeNew) that
// holds a stored one fails with ErrAppliedBefore, to be rolled back and read
// again; the stored order stays as it was.
func TestInsertOfAStoredOrder(t *testing.T) {
	t.Parallel()
	db := openDB(t)
	stored := storeOrder(t, db, orderstatus.Confirmed, nil)
	again := stored.Clone()
	again.Status = orderstatus.Rejected
	fresh := newOrder(t, orderstatus.Confirmed, nil)
	for _, assumeNew := range []bool{true, false} {
		err := db.WithContext(t.Context()).Transaction(func(tx *gorm.DB) error {
			return Insert(tx, []*order.Order{fresh, again}, assumeNew)
		})
		if assumeNew && !errors.Is(err, ErrAppliedBefore) {
			t.Errorf("insert assuming new orders: %v, want ErrAppliedBefore", err)
		}
		if !assumeNew && (err == nil || errors.Is(err, ErrAppliedBefore)) {
			t.Errorf("insert: %v, want a duplicate key", err)
		}
		if got, err := Load(t.Context(), db, stored.ID); err != nil || !reflect.DeepEqual(got, stored.Message()) {
			t.Errorf("the stored order became %+v (%v), want %+v", got, err, stored.Message())
		}
		if _, err := Load(t.Context(), db, fresh.ID); !errors.Is(err, order.ErrNotFound) {
			t.Errorf("the new order of the batch: %v, want ErrNotFound (rolled back)", err)
		}
	}
}

// TestPending counts the orders still being decided, and no other.
func TestPending(t *testing.T) {
	db := openDB(t)
	for _, st := range []orderstatus.Status{orderstatus.Pending, orderstatus.Confirmed, orderstatus.Rejected, orderstatus.Pending} {
		storeOrder(t, db, st, nil)
	}
	if n, err := Pending(db.WithContext(t.Context())); err != nil || n != 2 {
		t.Errorf("Pending = %d, %v; want 2", n, err)
	}
}
