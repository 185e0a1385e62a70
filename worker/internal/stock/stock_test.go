package stock

import (
	"context"
	"io"
	"log/slog"
	"reflect"
	"strconv"
	"testing"
	"time"

	"github.com/google/uuid"
	"gorm.io/gorm"

	"github.com/orderq/orderq/shared/database"
	"github.com/orderq/orderq/shared/items"
	"github.com/orderq/orderq/shared/message"
	"github.com/orderq/orderq/shared/orderstatus"
	"github.com/orderq/orderq/shared/orderstore"
	"github.com/orderq/orderq/shared/shard"
	"github.com/orderq/orderq/shared/testenv"
)

const shards = 4

func openDB(t testing.TB) *gorm.DB {
	t.Helper()
	db, err := database.Open(context.Background(), testenv.Database(t), slog.New(slog.NewTextHandler(io.Discard, nil)), database.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { database.Close(db) })
	return db
}

func addItem(t testing.TB, db *gorm.DB, stock int64, maxPer int) int64 {
	t.Helper()
	now := time.Now().UTC()
	row := items.Row{Name: "item", Stock: stock, InitialStock: stock, MaxPerCustomer: maxPer, Currency: items.DefaultCurrency,
		CreatedAt: now, UpdatedAt: now}
	if err := db.Create(&row).Error; err != nil {
		t.Fatal(err)
	}
	return row.ID
}

// addItemOnShard adds items until one lands on shard s, so tests can place
// an order's lines on the shards they need.
func addItemOnShard(t testing.TB, db *gorm.DB, stock int64, s int) int64 {
	t.Helper()
	for {
		if id := addItem(t, db, stock, 0); shard.Of(id, shards) == s {
			return id
		}
	}
}

func buy(item int64, qty int, customer string) message.Command {
	return cart(customer, [2]int64{item, int64(qty)})
}

// cart is an order of several lines, each {item, quantity}.
func cart(customer string, lines ...[2]int64) message.Command {
	c := message.Command{Kind: message.KindOrder, ID: uuid.NewString(), CustomerID: customer, AcceptedAt: time.Now()}
	shardsSeen := map[int]bool{}
	for i, l := range lines {
		c.Lines = append(c.Lines, message.Line{No: i, ItemID: l[0], Quantity: int(l[1])})
		shardsSeen[shard.Of(l[0], shards)] = true
	}
	c.Parts = len(shardsSeen)
	return c
}

func stockCmd(item int64, delta, set *int64) message.Command {
	return message.Command{Kind: message.KindStock, ID: uuid.NewString(), ItemID: item, Delta: delta, Set: set}
}

func ptr(n int64) *int64 { return &n }

// outcome is a result in one word: confirmed, a rejection reason, ok or an
// error code; "none" when the command has no result (yet). Of several results
// for id (those of several batches), the last one's.
func outcome(results []message.Result, id string) string {
	for i := len(results) - 1; i >= 0; i-- {
		r := results[i]
		if r.ID != id {
			continue
		}
		switch {
		case r.Order != nil && r.Order.Reason != nil:
			return *r.Order.Reason
		case r.Order != nil:
			return string(r.Order.Status)
		case r.Error != "":
			return r.Error
		}
		return "ok"
	}
	return "none"
}

// applyEach applies commands one batch each, as separate deliveries would be,
// and returns all results.
func applyEach(t *testing.T, s *Store, cmds ...message.Command) []message.Result {
	t.Helper()
	var all []message.Result
	for _, c := range cmds {
		rs, err := s.Apply(context.Background(), []message.Command{c})
		if err != nil {
			t.Fatal(err)
		}
		all = append(all, rs...)
	}
	return all
}

// relay applies what the outbox holds, as the relay and the other shards'
// workers would, until it is empty, and returns the results.
func relay(t *testing.T, db *gorm.DB, s *Store) []message.Result {
	t.Helper()
	var all []message.Result
	for {
		var rows []struct {
			ID   int64
			Body []byte
		}
		if err := db.Raw("SELECT id, body FROM outbox ORDER BY id").Scan(&rows).Error; err != nil {
			t.Fatalf("read outbox: %v", err)
		}
		if len(rows) == 0 {
			return all
		}
		for _, r := range rows {
			cmds, err := message.DecodeCommands(r.Body)
			if err != nil {
				t.Fatal(err)
			}
			if err := db.Exec("DELETE FROM outbox WHERE id = ?", r.ID).Error; err != nil {
				t.Fatalf("delete outbox row %d: %v", r.ID, err)
			}
			all = append(all, applyEach(t, s, cmds...)...)
		}
	}
}

func TestApplyDecides(t *testing.T) {
	t.Parallel()
	db := openDB(t)
	s := NewStore(db, shards)
	tests := []struct {
		name      string
		stock     int64
		maxPer    int
		cmds      func(item int64) []message.Command
		want      []string
		wantStock int64
	}{
		{
			name: "first come first served", stock: 2,
			cmds: func(i int64) []message.Command {
				return []message.Command{buy(i, 1, "a"), buy(i, 1, "b"), buy(i, 1, "c")}
			},
			want: []string{"confirmed", "confirmed", "out_of_stock"}, wantStock: 0,
		},
		{
			name: "a large order does not block a later small one", stock: 3,
			cmds: func(i int64) []message.Command {
				return []message.Command{buy(i, 5, "a"), buy(i, 3, "b")}
			},
			want: []string{"out_of_stock", "confirmed"}, wantStock: 0,
		},
		{
			name: "per-customer limit", stock: 10, maxPer: 2,
			cmds: func(i int64) []message.Command {
				return []message.Command{buy(i, 2, "a"), buy(i, 1, "a"), buy(i, 3, "b"), buy(i, 1, "b")}
			},
			want: []string{"confirmed", "limit_exceeded", "limit_exceeded", "confirmed"}, wantStock: 7,
		},
		{
			name: "unknown item", stock: 1,
			cmds: func(i int64) []message.Command { return []message.Command{buy(i+1_000_000, 1, "a")} },
			want: []string{"item_not_found"}, wantStock: 1,
		},
		{
			name: "stock changes in line with orders", stock: 1,
			cmds: func(i int64) []message.Command {
				return []message.Command{buy(i, 1, "a"), buy(i, 1, "b"), stockCmd(i, ptr(2), nil), buy(i, 1, "c"),
					stockCmd(i, ptr(-5), nil), stockCmd(i, nil, ptr(10)), buy(i, 4, "d")}
			},
			want: []string{"confirmed", "out_of_stock", "ok", "confirmed", "insufficient_stock", "ok", "confirmed"}, wantStock: 6,
		},
		{
			name: "deleted item rejects later orders", stock: 5,
			cmds: func(i int64) []message.Command {
				return []message.Command{buy(i, 1, "a"), {Kind: message.KindDeleteItem, ID: uuid.NewString(), ItemID: i},
					buy(i, 1, "b"), stockCmd(i, ptr(1), nil), {Kind: message.KindDeleteItem, ID: uuid.NewString(), ItemID: i}}
			},
			want: []string{"confirmed", "ok", "item_not_found", "item_not_found", "item_not_found"}, wantStock: 4,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			item := addItem(t, db, tt.stock, tt.maxPer)
			cmds := tt.cmds(item)
			results, err := s.Apply(context.Background(), cmds)
			if err != nil {
				t.Fatal(err)
			}
			for i, c := range cmds {
				if got := outcome(results, c.ID); got != tt.want[i] {
					t.Errorf("command %d: got %s, want %s", i, got, tt.want[i])
				}
			}
			assertLedger(t, db, item, tt.wantStock)
		})
	}
}

func TestApplyIsIdempotent(t *testing.T) {
	t.Parallel()
	db := openDB(t)
	s := NewStore(db, shards)
	item := addItem(t, db, 2, 0)
	cmds := []message.Command{buy(item, 1, "a"), stockCmd(item, ptr(-1), nil), buy(item, 1, "b"), stockCmd(item, ptr(-1), nil)}
	first, err := s.Apply(context.Background(), cmds)
	if err != nil {
		t.Fatal(err)
	}
	// A redelivery: the same commands again, and a duplicate inside one batch.
	again, err := s.Apply(context.Background(), append(cmds, cmds[0]))
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"confirmed", "ok", "out_of_stock", "insufficient_stock"}
	for i, c := range cmds {
		if got := outcome(first, c.ID); got != want[i] {
			t.Errorf("command %d: got %s, want %s", i, got, want[i])
		}
		if got := outcome(again, c.ID); got != want[i] {
			t.Errorf("command %d applied again: got %s, want %s", i, got, want[i])
		}
	}
	assertLedger(t, db, item, 0)
	var orders int64
	if err := db.Table("report_order_lines").Where("item_id = ?", item).Count(&orders).Error; err != nil {
		t.Fatal(err)
	}
	if orders != 2 {
		t.Errorf("%d order lines, want 2", orders)
	}
}

// TestApplyOrdersSeenBefore: a batch of orders alone is applied as if all were
// new; one that was applied before must still be neither decided nor counted
// again, among new orders of the same batch.
func TestApplyOrdersSeenBefore(t *testing.T) {
	t.Parallel()
	db := openDB(t)
	s := NewStore(db, shards)
	item := addItem(t, db, 4, 2)
	a, b := buy(item, 1, "a"), buy(item, 1, "b")
	c, d, e := buy(item, 1, "c"), buy(item, 1, "a"), buy(item, 1, "e")
	batches := [][]message.Command{
		{a, b},
		// a and b again (a redelivery, or a retry published twice) among new
		// orders: c and customer a's second order take the last two units.
		{c, a, d, b},
		{e, a},
	}
	want := []map[*message.Command]string{
		{&a: "confirmed", &b: "confirmed"},
		{&c: "confirmed", &a: "confirmed", &d: "confirmed", &b: "confirmed"},
		{&e: "out_of_stock", &a: "confirmed"},
	}
	for i, cmds := range batches {
		results, err := s.Apply(context.Background(), cmds)
		if err != nil {
			t.Fatalf("batch %d: %v", i, err)
		}
		for cmd, w := range want[i] {
			if got := outcome(results, cmd.ID); got != w {
				t.Errorf("batch %d, order of %s: %s, want %s", i, cmd.CustomerID, got, w)
			}
		}
	}
	assertLedger(t, db, item, 0)
	var orders int64
	if err := db.Table("report_orders").Count(&orders).Error; err != nil {
		t.Fatal(err)
	}
	if orders != 5 {
		t.Errorf("%d orders stored, want 5", orders)
	}
}

// TestRejectedOrderKeepsItsLineInItsRow: a single-line order rejected at its
// decision is stored without an order_lines row, and reads back, from the
// database and on a redelivery, as it was answered.
func TestRejectedOrderKeepsItsLineInItsRow(t *testing.T) {
	t.Parallel()
	db := openDB(t)
	s := NewStore(db, shards)
	item := addItem(t, db, 1, 0)
	won, lost := buy(item, 1, "a"), buy(item, 1, "b")
	first, err := s.Apply(context.Background(), []message.Command{won, lost})
	if err != nil {
		t.Fatal(err)
	}
	if outcome(first, won.ID) != "confirmed" || outcome(first, lost.ID) != "out_of_stock" {
		t.Fatalf("outcomes %s, %s; want confirmed, out_of_stock", outcome(first, won.ID), outcome(first, lost.ID))
	}
	lineRows := map[string]int64{}
	inline := map[string]bool{}
	for _, id := range []string{won.ID, lost.ID} {
		var n int64
		if err := db.Table("order_lines").Where("order_id = ?", database.ID(id)).Count(&n).Error; err != nil {
			t.Fatal(err)
		}
		lineRows[id] = n
		var row struct {
			ItemID   *int64
			Quantity *int
		}
		if err := db.Table("orders").Select("item_id, quantity").Where("id = ?", database.ID(id)).Take(&row).Error; err != nil {
			t.Fatalf("order row %s: %v", id, err)
		}
		inline[id] = row.ItemID != nil && *row.ItemID == item && row.Quantity != nil && *row.Quantity == 1
	}
	if lineRows[won.ID] != 1 || lineRows[lost.ID] != 0 {
		t.Errorf("order_lines rows: confirmed order %d, rejected order %d; want 1 and 0", lineRows[won.ID], lineRows[lost.ID])
	}
	if inline[won.ID] || !inline[lost.ID] {
		t.Errorf("line in the orders row: confirmed order %t, rejected order %t; want false and true", inline[won.ID], inline[lost.ID])
	}
	answered := func(rs []message.Result, id string) message.Order {
		for _, r := range rs {
			if r.ID == id && r.Order != nil {
				return *r.Order
			}
		}
		t.Fatalf("no result for %s", id)
		return message.Order{}
	}
	want := answered(first, lost.ID)
	if len(want.Lines) != 1 || want.Lines[0].Status != orderstatus.LineRejected || want.Lines[0].Reason == nil {
		t.Fatalf("rejected order answered with lines %+v", want.Lines)
	}
	stored, err := orderstore.Load(context.Background(), db, lost.ID)
	if err != nil {
		t.Fatal(err)
	}
	// Times come back from the database at its precision.
	if !sameOrder(stored, want) {
		t.Errorf("stored order %+v, answered %+v", stored, want)
	}
	// A redelivery, with an order seen before in the batch, is answered the same.
	again, err := s.Apply(context.Background(), []message.Command{lost, buy(item, 1, "c")})
	if err != nil {
		t.Fatal(err)
	}
	if got := answered(again, lost.ID); !sameOrder(got, want) {
		t.Errorf("redelivered order answered %+v, first %+v", got, want)
	}
	assertLedger(t, db, item, 0)
}

// sameOrder compares orders as clients see them, times to the microsecond.
func sameOrder(a, b message.Order) bool {
	norm := func(o message.Order) message.Order {
		o.CreatedAt, o.UpdatedAt = o.CreatedAt.UTC().Truncate(time.Microsecond), o.UpdatedAt.UTC().Truncate(time.Microsecond)
		if o.ProcessedAt != nil {
			p := o.ProcessedAt.UTC().Truncate(time.Microsecond)
			o.ProcessedAt = &p
		}
		return o
	}
	x, y := norm(a), norm(b)
	return reflect.DeepEqual(x, y)
}

func TestMultiItemOrders(t *testing.T) {
	t.Parallel()
	db := openDB(t)
	s := NewStore(db, shards)

	t.Run("one shard, all or nothing", func(t *testing.T) {
		a, b := addItemOnShard(t, db, 5, 0), addItemOnShard(t, db, 1, 0)
		ok, short := cart("c1", [2]int64{a, 2}, [2]int64{b, 1}), cart("c2", [2]int64{a, 2}, [2]int64{b, 1})
		rs := applyEach(t, s, ok, short)
		if got := outcome(rs, ok.ID); got != "confirmed" {
			t.Errorf("first cart %s, want confirmed", got)
		}
		if got := outcome(rs, short.ID); got != "out_of_stock" {
			t.Errorf("second cart %s, want out_of_stock", got)
		}
		assertLedger(t, db, a, 3)
		assertLedger(t, db, b, 0)
	})

	t.Run("across shards, confirmed when every part reserves", func(t *testing.T) {
		a, b, c := addItemOnShard(t, db, 2, 1), addItemOnShard(t, db, 2, 2), addItemOnShard(t, db, 2, 3)
		o := cart("c3", [2]int64{a, 1}, [2]int64{b, 2}, [2]int64{c, 1})
		if rs := applyEach(t, s, o); outcome(rs, o.ID) != "pending" {
			t.Fatalf("after the home part: %s, want pending", outcome(rs, o.ID))
		}
		got, err := orderstore.Load(context.Background(), db, o.ID)
		if err != nil || got.Status != orderstatus.Pending || got.Lines[0].Status != orderstatus.Reserved || got.Lines[1].Status != orderstatus.LinePending {
			t.Fatalf("after the home part: %+v, %v", got, err)
		}
		if rs := relay(t, db, s); outcome(rs, o.ID) != "confirmed" {
			t.Fatalf("after every part: %s, want confirmed", outcome(rs, o.ID))
		}
		assertLedger(t, db, a, 1)
		assertLedger(t, db, b, 0)
		assertLedger(t, db, c, 1)
	})

	t.Run("across shards, a failing part releases the others", func(t *testing.T) {
		// The failing part's line never held stock: rejected; the others
		// held theirs and gave it back: released.
		a, b, c := addItemOnShard(t, db, 2, 1), addItemOnShard(t, db, 0, 2), addItemOnShard(t, db, 2, 3)
		o := cart("c4", [2]int64{a, 1}, [2]int64{b, 1}, [2]int64{c, 1})
		applyEach(t, s, o)
		rs := relay(t, db, s)
		if got := outcome(rs, o.ID); got != "out_of_stock" {
			t.Fatalf("order %s, want out_of_stock", got)
		}
		for _, item := range []int64{a, c} {
			assertLedger(t, db, item, 2)
		}
		assertLedger(t, db, b, 0)
		got, err := orderstore.Load(context.Background(), db, o.ID)
		if err != nil {
			t.Fatal(err)
		}
		for i, want := range []orderstatus.LineStatus{orderstatus.Released, orderstatus.LineRejected, orderstatus.Released} {
			if l := got.Lines[i]; l.Status != want {
				t.Errorf("line %d: %s, want %s", i, l.Status, want)
			}
		}
		if got.Lines[1].Reason == nil || *got.Lines[1].Reason != "out_of_stock" {
			t.Errorf("failing line carries no reason: %+v", got.Lines[1])
		}
	})

	t.Run("home part fails, nothing asked of the others", func(t *testing.T) {
		a, b := addItemOnShard(t, db, 0, 1), addItemOnShard(t, db, 5, 2)
		o := cart("c5", [2]int64{a, 1}, [2]int64{b, 1})
		if rs := applyEach(t, s, o); outcome(rs, o.ID) != "out_of_stock" {
			t.Fatalf("order %s, want out_of_stock at once", outcome(rs, o.ID))
		}
		var queued int64
		if err := db.Raw("SELECT COUNT(*) FROM outbox").Scan(&queued).Error; err != nil {
			t.Fatal(err)
		}
		if queued != 0 {
			t.Errorf("%d commands queued for a rejected order", queued)
		}
		assertLedger(t, db, b, 5)
	})

	t.Run("release applies once", func(t *testing.T) {
		a := addItemOnShard(t, db, 3, 1)
		o := buy(a, 2, "c6")
		applyEach(t, s, o)
		rel := message.Command{Kind: message.KindRelease, ID: o.ID, Lines: o.Lines, AcceptedAt: time.Now()}
		applyEach(t, s, rel, rel)
		assertLedger(t, db, a, 3)
	})
}

// assertLedger checks the stock and that initial + movements = stock.
func assertLedger(t *testing.T, db *gorm.DB, item, want int64) {
	t.Helper()
	var row items.Row
	if err := db.Where("id = ?", item).Take(&row).Error; err != nil {
		t.Fatal(err)
	}
	var moved int64
	if err := db.Table("report_stock_movements").Select("COALESCE(SUM(delta), 0)").Where("item_id = ?", item).Scan(&moved).Error; err != nil {
		t.Fatal(err)
	}
	if row.Stock != want {
		t.Errorf("item %d: stock %d, want %d", item, row.Stock, want)
	}
	if row.InitialStock+moved != row.Stock {
		t.Errorf("item %d: ledger unbalanced: initial %d + movements %d != stock %d", item, row.InitialStock, moved, row.Stock)
	}
}

func BenchmarkApply(b *testing.B) {
	for _, size := range []int{1, 100, 500} {
		b.Run("batch="+strconv.Itoa(size), func(b *testing.B) {
			db := openDB(b)
			item := addItem(b, db, 1<<40, 0)
			s := NewStore(db, shards)
			for b.Loop() {
				cmds := make([]message.Command, size)
				for i := range cmds {
					cmds[i] = buy(item, 1, "c"+strconv.Itoa(i))
				}
				if _, err := s.Apply(context.Background(), cmds); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.N*size)/b.Elapsed().Seconds(), "orders/s")
		})
	}
}
