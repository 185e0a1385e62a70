package stock

import (
	"context"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"gorm.io/gorm"

	"github.com/orderq/orderq/shared/database"
	"github.com/orderq/orderq/shared/items"
	"github.com/orderq/orderq/shared/message"
	"github.com/orderq/orderq/shared/orderstatus"
	"github.com/orderq/orderq/shared/orderstore"
	"github.com/orderq/orderq/shared/shard"
)

// addPriced adds an item of stock units at price in currency, on shard s (on
// any when s < 0).
func addPriced(t *testing.T, db *gorm.DB, stock, price int64, currency string, s int) int64 {
	t.Helper()
	for {
		now := time.Now().UTC()
		row := items.Row{Name: "priced", Stock: stock, InitialStock: stock, Price: price, Currency: currency, CreatedAt: now, UpdatedAt: now}
		if err := db.Create(&row).Error; err != nil {
			t.Fatal(err)
		}
		if s < 0 || shard.Of(row.ID, shards) == s {
			return row.ID
		}
	}
}

// answered returns the order as the last of results carrying id has it: its
// newest state when rs are the results of several batches.
func answered(t *testing.T, rs []message.Result, id string) message.Order {
	t.Helper()
	for i := len(rs) - 1; i >= 0; i-- {
		if r := rs[i]; r.ID == id && r.Order != nil {
			return *r.Order
		}
	}
	t.Fatalf("no result for order %s", id)
	return message.Order{}
}

func loadOrder(t *testing.T, db *gorm.DB, id string) message.Order {
	t.Helper()
	o, err := orderstore.Load(context.Background(), db, id)
	if err != nil {
		t.Fatalf("load order %s: %v", id, err)
	}
	return o
}

// storedMoney is an order's total and currency, as stored (also while
// pending, when clients do not see them).
func storedMoney(t *testing.T, db *gorm.DB, id string) (*int64, *string) {
	t.Helper()
	var r struct {
		Total    *int64
		Currency *string
	}
	if err := db.Table("orders").Select("total, currency").Where("id = ?", database.ID(id)).Take(&r).Error; err != nil {
		t.Fatalf("load order row %s: %v", id, err)
	}
	return r.Total, r.Currency
}

func isMoney(total *int64, currency *string, wantTotal int64, wantCurrency string) bool {
	return total != nil && currency != nil && *total == wantTotal && *currency == wantCurrency
}

func unitPrices(o message.Order) []any {
	out := make([]any, len(o.Lines))
	for i, l := range o.Lines {
		if l.UnitPrice != nil {
			out[i] = *l.UnitPrice
		}
	}
	return out
}

func sameAny(a, b []any) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func TestOrderTotals(t *testing.T) {
	t.Parallel()
	db := openDB(t)
	s := NewStore(db, shards)

	t.Run("single line", func(t *testing.T) {
		item := addPriced(t, db, 5, 1500, "IDR", -1)
		won, lost := buy(item, 2, "a"), buy(item, 10, "b")
		rs := applyEach(t, s, won, lost)
		for _, o := range []message.Order{answered(t, rs, won.ID), loadOrder(t, db, won.ID)} {
			if o.Status != orderstatus.Confirmed || !isMoney(o.Total, o.Currency, 3000, "IDR") || !sameAny(unitPrices(o), []any{int64(1500)}) {
				t.Errorf("confirmed order %s, total %v %v, unit prices %v; want 3000 IDR at 1500", o.Status, o.Total, o.Currency, unitPrices(o))
			}
		}
		for _, o := range []message.Order{answered(t, rs, lost.ID), loadOrder(t, db, lost.ID)} {
			if o.Status != orderstatus.Rejected || o.Total != nil || o.Currency != nil || o.Lines[0].UnitPrice != nil {
				t.Errorf("rejected order %s, total %v %v, unit prices %v; want all null", o.Status, o.Total, o.Currency, unitPrices(o))
			}
		}
		if total, currency := storedMoney(t, db, lost.ID); total != nil || currency != nil {
			t.Errorf("rejected order stored with total %v %v", total, currency)
		}
	})

	t.Run("cart on one shard", func(t *testing.T) {
		a, b := addPriced(t, db, 5, 1000, "IDR", 1), addPriced(t, db, 5, 250, "IDR", 1)
		o := cart("c", [2]int64{a, 2}, [2]int64{b, 3})
		got := answered(t, applyEach(t, s, o), o.ID)
		if got.Status != orderstatus.Confirmed || !isMoney(got.Total, got.Currency, 2750, "IDR") ||
			!sameAny(unitPrices(got), []any{int64(1000), int64(250)}) {
			t.Errorf("order %s, total %v %v, unit prices %v; want confirmed 2750 IDR at 1000 and 250", got.Status, got.Total, got.Currency, unitPrices(got))
		}
	})

	t.Run("cart across shards adds its parts up", func(t *testing.T) {
		a, b, c := addPriced(t, db, 5, 1000, "IDR", 1), addPriced(t, db, 5, 300, "IDR", 2), addPriced(t, db, 5, 5, "IDR", 3)
		o := cart("d", [2]int64{a, 1}, [2]int64{b, 2}, [2]int64{c, 4})
		applyEach(t, s, o)
		if total, currency := storedMoney(t, db, o.ID); !isMoney(total, currency, 1000, "IDR") {
			t.Errorf("after the home part the row holds %v %v, want 1000 IDR", total, currency)
		}
		if pending := loadOrder(t, db, o.ID); pending.Status != orderstatus.Pending || pending.Total != nil || pending.Currency != nil {
			t.Errorf("pending order shows total %v %v, want none until decided", pending.Total, pending.Currency)
		}
		// A price changed after a line was reserved does not change the line.
		if err := db.Model(&items.Row{}).Where("id = ?", a).Update("price", 7777).Error; err != nil {
			t.Fatal(err)
		}
		got := answered(t, relay(t, db, s), o.ID)
		if got.Status != orderstatus.Confirmed || !isMoney(got.Total, got.Currency, 1000+600+20, "IDR") ||
			!sameAny(unitPrices(got), []any{int64(1000), int64(300), int64(5)}) {
			t.Errorf("order %s, total %v %v, unit prices %v; want confirmed 1620 IDR at 1000, 300 and 5", got.Status, got.Total, got.Currency, unitPrices(got))
		}
		if stored := loadOrder(t, db, o.ID); !isMoney(stored.Total, stored.Currency, 1620, "IDR") {
			t.Errorf("stored total %v %v, want 1620 IDR", stored.Total, stored.Currency)
		}
	})

	t.Run("cart across shards rejected by a part owes nothing", func(t *testing.T) {
		a, b := addPriced(t, db, 5, 1000, "IDR", 1), addPriced(t, db, 0, 300, "IDR", 2)
		o := cart("e", [2]int64{a, 1}, [2]int64{b, 1})
		applyEach(t, s, o)
		got := answered(t, relay(t, db, s), o.ID)
		if got.Status != orderstatus.Rejected || got.Total != nil || got.Currency != nil {
			t.Errorf("order %s, total %v %v; want rejected with no total", got.Status, got.Total, got.Currency)
		}
		if total, currency := storedMoney(t, db, o.ID); total != nil || currency != nil {
			t.Errorf("rejected cart stored with total %v %v", total, currency)
		}
		assertLedger(t, db, a, 5)
	})
}

func TestCurrencyMismatch(t *testing.T) {
	t.Parallel()
	db := openDB(t)
	s := NewStore(db, shards)

	t.Run("cart on one shard", func(t *testing.T) {
		a, b := addPriced(t, db, 5, 1000, "IDR", 1), addPriced(t, db, 5, 3, "USD", 1)
		o := cart("a", [2]int64{a, 1}, [2]int64{b, 1})
		got := answered(t, applyEach(t, s, o), o.ID)
		if got.Status != orderstatus.Rejected || got.Reason == nil || *got.Reason != message.ReasonCurrencyMismatch || got.Total != nil {
			t.Fatalf("order %s %v total %v, want rejected currency_mismatch without a total", got.Status, got.Reason, got.Total)
		}
		if l := got.Lines[1]; l.Reason == nil || *l.Reason != message.ReasonCurrencyMismatch || got.Lines[0].Reason != nil {
			t.Errorf("lines %+v, want the USD line to carry currency_mismatch and the other none", got.Lines)
		}
		for i, l := range got.Lines {
			if l.Status != orderstatus.LineRejected || l.UnitPrice != nil {
				t.Errorf("line %d: %s at %v, want rejected, never priced", i, l.Status, l.UnitPrice)
			}
		}
		assertLedger(t, db, a, 5)
		assertLedger(t, db, b, 5)
	})

	t.Run("cart across shards", func(t *testing.T) {
		a, b := addPriced(t, db, 5, 1000, "IDR", 1), addPriced(t, db, 5, 3, "USD", 2)
		o := cart("b", [2]int64{a, 2}, [2]int64{b, 1})
		applyEach(t, s, o)
		got := answered(t, relay(t, db, s), o.ID)
		if got.Status != orderstatus.Rejected || got.Reason == nil || *got.Reason != message.ReasonCurrencyMismatch || got.Total != nil {
			t.Errorf("order %s %v total %v, want rejected currency_mismatch without a total", got.Status, got.Reason, got.Total)
		}
		assertLedger(t, db, a, 5) // reserved by the home, released
		assertLedger(t, db, b, 5)
	})

	t.Run("one currency other than IDR", func(t *testing.T) {
		a, b := addPriced(t, db, 5, 250, "USD", 1), addPriced(t, db, 5, 100, "USD", 2)
		o := cart("c", [2]int64{a, 1}, [2]int64{b, 3})
		applyEach(t, s, o)
		got := answered(t, relay(t, db, s), o.ID)
		if got.Status != orderstatus.Confirmed || !isMoney(got.Total, got.Currency, 550, "USD") {
			t.Errorf("order %s, total %v %v; want confirmed 550 USD", got.Status, got.Total, got.Currency)
		}
	})
}

func TestUnpaidCap(t *testing.T) {
	t.Parallel()

	t.Run("within one batch", func(t *testing.T) {
		t.Parallel()
		db := openDB(t)
		s := NewStore(db, shards, MaxUnpaid(2))
		item := addItem(t, db, 10, 0)
		cmds := []message.Command{buy(item, 1, "a"), buy(item, 1, "b"), buy(item, 1, "a"), buy(item, 1, "a"), buy(item, 1, "b")}
		rs, err := s.Apply(context.Background(), cmds)
		if err != nil {
			t.Fatal(err)
		}
		want := []string{"confirmed", "confirmed", "confirmed", message.ReasonUnpaidLimit, "confirmed"}
		for i, c := range cmds {
			if got := outcome(rs, c.ID); got != want[i] {
				t.Errorf("order %d of %s: %s, want %s", i, c.CustomerID, got, want[i])
			}
		}
		assertLedger(t, db, item, 6)
	})

	t.Run("counts committed orders that are unpaid", func(t *testing.T) {
		t.Parallel()
		db := openDB(t)
		s := NewStore(db, shards, MaxUnpaid(2))
		item, soldOut := addItem(t, db, 10, 0), addItem(t, db, 0, 0)
		// Rejected orders hold nothing and do not count.
		rs := applyEach(t, s, buy(soldOut, 1, "c"), buy(soldOut, 1, "c"), buy(soldOut, 1, "c"))
		for _, r := range rs {
			if got := outcome(rs, r.ID); got != message.ReasonOutOfStock {
				t.Fatalf("order of a sold-out item: %s", got)
			}
		}
		first, second, third := buy(item, 1, "c"), buy(item, 1, "c"), buy(item, 1, "c")
		rs = applyEach(t, s, first, second, third)
		if got := []string{outcome(rs, first.ID), outcome(rs, second.ID), outcome(rs, third.ID)}; got[0] != "confirmed" || got[1] != "confirmed" || got[2] != message.ReasonUnpaidLimit {
			t.Fatalf("three orders: %v, want confirmed, confirmed, unpaid_limit", got)
		}
		// One awaiting payment still counts; paid and canceled no more.
		for _, move := range []struct {
			id   string
			to   orderstatus.Status
			want string
		}{
			{first.ID, orderstatus.AwaitingPayment, message.ReasonUnpaidLimit},
			{first.ID, orderstatus.Paid, "confirmed"},
		} {
			if _, err := orderstore.Move(context.Background(), db, move.id, move.to, shards, nil); err != nil {
				t.Fatal(err)
			}
			next := buy(item, 1, "c")
			if got := outcome(applyEach(t, s, next), next.ID); got != move.want {
				t.Errorf("with one order %s: next order %s, want %s", move.to, got, move.want)
			}
		}
		if _, err := orderstore.Move(context.Background(), db, second.ID, orderstatus.Canceled, shards, nil); err != nil {
			t.Fatal(err)
		}
		next, last := buy(item, 1, "c"), buy(item, 1, "c")
		rs = applyEach(t, s, next, last)
		if got := []string{outcome(rs, next.ID), outcome(rs, last.ID)}; got[0] != "confirmed" || got[1] != message.ReasonUnpaidLimit {
			t.Errorf("after a cancellation: %v, want confirmed, unpaid_limit", got)
		}
	})

	t.Run("a pending cart counts until a part rejects it", func(t *testing.T) {
		t.Parallel()
		db := openDB(t)
		s := NewStore(db, shards, MaxUnpaid(1))
		home, short, other := addItemOnShard(t, db, 5, 1), addItemOnShard(t, db, 0, 2), addItemOnShard(t, db, 5, 2)
		c := cart("d", [2]int64{home, 1}, [2]int64{short, 1})
		applyEach(t, s, c)
		blocked := buy(other, 1, "d")
		if got := outcome(applyEach(t, s, blocked), blocked.ID); got != message.ReasonUnpaidLimit {
			t.Fatalf("order beside a pending cart: %s, want unpaid_limit", got)
		}
		// The cart's part and a new order in one batch: the part rejects the
		// cart first, so the order is the customer's only unpaid one.
		part := takeOutbox(t, db, c.ID)
		next := buy(other, 1, "d")
		rs, err := s.Apply(context.Background(), []message.Command{part, next})
		if err != nil {
			t.Fatal(err)
		}
		if got := []string{outcome(rs, c.ID), outcome(rs, next.ID)}; got[0] != message.ReasonOutOfStock || got[1] != "confirmed" {
			t.Errorf("cart and order: %v, want out_of_stock, confirmed", got)
		}
		relay(t, db, s)
		assertLedger(t, db, home, 5)
		assertLedger(t, db, other, 4)
	})

	t.Run("a redelivered batch is counted once", func(t *testing.T) {
		t.Parallel()
		db := openDB(t)
		s := NewStore(db, shards, MaxUnpaid(2))
		item := addItem(t, db, 10, 0)
		a, b, c := buy(item, 1, "e"), buy(item, 1, "e"), buy(item, 1, "e")
		if _, err := s.Apply(context.Background(), []message.Command{a, b}); err != nil {
			t.Fatal(err)
		}
		rs, err := s.Apply(context.Background(), []message.Command{a, b, c})
		if err != nil {
			t.Fatal(err)
		}
		if got := []string{outcome(rs, a.ID), outcome(rs, b.ID), outcome(rs, c.ID)}; got[0] != "confirmed" || got[1] != "confirmed" || got[2] != message.ReasonUnpaidLimit {
			t.Errorf("redelivered with a new order: %v, want confirmed, confirmed, unpaid_limit", got)
		}
		assertLedger(t, db, item, 8)
	})

	t.Run("off at 0", func(t *testing.T) {
		t.Parallel()
		db := openDB(t)
		s := NewStore(db, shards, MaxUnpaid(0))
		item := addItem(t, db, 100, 0)
		var cmds []message.Command
		for range 8 {
			cmds = append(cmds, buy(item, 1, "f"))
		}
		for _, batch := range [][]message.Command{cmds[:5], cmds[5:]} {
			rs, err := s.Apply(context.Background(), batch)
			if err != nil {
				t.Fatal(err)
			}
			for _, c := range batch {
				if got := outcome(rs, c.ID); got != "confirmed" {
					t.Errorf("order %s: %s, want confirmed", c.ID, got)
				}
			}
		}
		assertLedger(t, db, item, 92)
	})

	t.Run("customer ids compare exactly", func(t *testing.T) {
		t.Parallel()
		db := openDB(t)
		s := NewStore(db, shards, MaxUnpaid(1))
		item, limited := addItem(t, db, 10, 0), addItem(t, db, 10, 1)
		// Each in its own batch, so that the database compares the ids.
		cmds := []message.Command{buy(item, 1, "Dave"), buy(item, 1, "dave"), buy(item, 1, "Dave")}
		rs := applyEach(t, s, cmds...)
		if got := []string{outcome(rs, cmds[0].ID), outcome(rs, cmds[1].ID), outcome(rs, cmds[2].ID)}; got[0] != "confirmed" || got[1] != "confirmed" || got[2] != message.ReasonUnpaidLimit {
			t.Errorf("unpaid cap of Dave and dave: %v, want confirmed, confirmed, unpaid_limit", got)
		}
		// The per-item limit too; the cap is off for this part.
		free := NewStore(db, shards)
		cmds = []message.Command{buy(limited, 1, "Erin"), buy(limited, 1, "erin"), buy(limited, 1, "Erin")}
		rs = applyEach(t, free, cmds...)
		if got := []string{outcome(rs, cmds[0].ID), outcome(rs, cmds[1].ID), outcome(rs, cmds[2].ID)}; got[0] != "confirmed" || got[1] != "confirmed" || got[2] != message.ReasonLimitExceeded {
			t.Errorf("limit per customer of Erin and erin: %v, want confirmed, confirmed, limit_exceeded", got)
		}
	})
}

// takeOutbox removes the command queued for order id from the outbox and
// returns it, for a test to apply where it chooses.
func takeOutbox(t *testing.T, db *gorm.DB, id string) message.Command {
	t.Helper()
	var rows []struct {
		ID   int64
		Body []byte
	}
	if err := db.Raw("SELECT id, body FROM outbox ORDER BY id").Scan(&rows).Error; err != nil {
		t.Fatal(err)
	}
	for _, r := range rows {
		cmds, err := message.DecodeCommands(r.Body)
		if err != nil {
			t.Fatal(err)
		}
		if len(cmds) == 1 && cmds[0].ID == id {
			if err := db.Exec("DELETE FROM outbox WHERE id = ?", r.ID).Error; err != nil {
				t.Fatal(err)
			}
			return cmds[0]
		}
	}
	t.Fatalf("nothing queued for order %s", id)
	return message.Command{}
}

// TestUnpaidCapCostsNothingWhenNothingSells: a batch none of whose orders can
// be confirmed runs no count of unpaid orders, and one that may does.
func TestUnpaidCapCostsNothingWhenNothingSells(t *testing.T) {
	t.Parallel()
	db := openDB(t)
	var counts atomic.Int64
	record := func(tx *gorm.DB) {
		if strings.Contains(tx.Statement.SQL.String(), "AS orders") {
			counts.Add(1)
		}
	}
	if err := db.Callback().Row().After("gorm:row").Register("test:count_unpaid", record); err != nil {
		t.Fatal(err)
	}
	if err := db.Callback().Query().After("gorm:query").Register("test:count_unpaid", record); err != nil {
		t.Fatal(err)
	}
	s := NewStore(db, shards, MaxUnpaid(1))
	soldOut, deleted, inStock := addItem(t, db, 0, 0), addItem(t, db, 5, 0), addItem(t, db, 5, 0)
	if err := db.Exec("UPDATE items SET deleted_at = NOW(6) WHERE id = ?", deleted).Error; err != nil {
		t.Fatal(err)
	}
	// A customer already at the cap, for the batches that may confirm.
	held := buy(inStock, 1, "held")
	applyEach(t, s, held)

	tests := []struct {
		name      string
		cmds      func() []message.Command
		want      []string
		wantCount int64
	}{
		{"sold out", func() []message.Command {
			return []message.Command{buy(soldOut, 1, "held"), buy(soldOut, 1, "x"), buy(soldOut, 2, "y")}
		}, []string{"out_of_stock", "out_of_stock", "out_of_stock"}, 0},
		{"deleted and unknown items", func() []message.Command {
			return []message.Command{buy(deleted, 1, "held"), buy(inStock+1_000_000, 1, "x")}
		}, []string{"item_not_found", "item_not_found"}, 0},
		{"more than the stock", func() []message.Command {
			return []message.Command{buy(inStock, 5, "held")}
		}, []string{"out_of_stock"}, 0},
		{"in stock", func() []message.Command {
			return []message.Command{buy(soldOut, 1, "x"), buy(inStock, 1, "held")}
		}, []string{"out_of_stock", message.ReasonUnpaidLimit}, 1},
		{"stock raised in the batch", func() []message.Command {
			return []message.Command{stockCmd(soldOut, ptr(1), nil), buy(soldOut, 1, "held")}
		}, []string{"ok", message.ReasonUnpaidLimit}, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := counts.Load()
			cmds := tt.cmds()
			rs, err := s.Apply(context.Background(), cmds)
			if err != nil {
				t.Fatal(err)
			}
			for i, c := range cmds {
				if got := outcome(rs, c.ID); got != tt.want[i] {
					t.Errorf("command %d: %s, want %s", i, got, tt.want[i])
				}
			}
			if got := counts.Load() - before; got != tt.wantCount {
				t.Errorf("%d counts of unpaid orders, want %d", got, tt.wantCount)
			}
		})
	}
}
