package stock

import (
	"context"
	"io"
	"log/slog"
	"strconv"
	"testing"
	"time"

	"github.com/google/uuid"
	"gorm.io/gorm"

	"github.com/orderq/orderq/shared/database"
	"github.com/orderq/orderq/shared/message"
	"github.com/orderq/orderq/shared/testenv"
)

func openDB(t *testing.T) *gorm.DB {
	t.Helper()
	db, err := database.Open(context.Background(), testenv.Database(t), slog.New(slog.NewTextHandler(io.Discard, nil)), database.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { database.Close(db) })
	return db
}

func addItem(t *testing.T, db *gorm.DB, stock int64, maxPer int) int64 {
	t.Helper()
	now := time.Now().UTC()
	row := itemRow{Name: "item", Stock: stock, InitialStock: stock, MaxPerCustomer: maxPer, CreatedAt: now, UpdatedAt: now}
	if err := db.Create(&row).Error; err != nil {
		t.Fatal(err)
	}
	return row.ID
}

func order(item int64, qty int, customer string) message.Command {
	return message.Command{Kind: message.KindOrder, ID: uuid.NewString(), ItemID: item, Quantity: qty, CustomerID: customer, AcceptedAt: time.Now()}
}

func stockCmd(item int64, delta, set *int64) message.Command {
	return message.Command{Kind: message.KindStock, ID: uuid.NewString(), ItemID: item, Delta: delta, Set: set}
}

func ptr(n int64) *int64 { return &n }

// outcome is a result in one word: confirmed, a rejection reason, ok or an error code.
func outcome(r message.Result) string {
	switch {
	case r.Order != nil && r.Order.Reason != nil:
		return *r.Order.Reason
	case r.Order != nil:
		return r.Order.Status
	case r.Error != "":
		return r.Error
	}
	return "ok"
}

func TestApplyDecides(t *testing.T) {
	t.Parallel()
	db := openDB(t)
	s := NewStore(db)
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
				return []message.Command{order(i, 1, "a"), order(i, 1, "b"), order(i, 1, "c")}
			},
			want: []string{"confirmed", "confirmed", "out_of_stock"}, wantStock: 0,
		},
		{
			name: "a large order does not block a later small one", stock: 3,
			cmds: func(i int64) []message.Command {
				return []message.Command{order(i, 5, "a"), order(i, 3, "b")}
			},
			want: []string{"out_of_stock", "confirmed"}, wantStock: 0,
		},
		{
			name: "per-customer limit", stock: 10, maxPer: 2,
			cmds: func(i int64) []message.Command {
				return []message.Command{order(i, 2, "a"), order(i, 1, "a"), order(i, 3, "b"), order(i, 1, "b")}
			},
			want: []string{"confirmed", "limit_exceeded", "limit_exceeded", "confirmed"}, wantStock: 7,
		},
		{
			name: "unknown item", stock: 1,
			cmds: func(i int64) []message.Command { return []message.Command{order(i+1_000_000, 1, "a")} },
			want: []string{"item_not_found"}, wantStock: 1,
		},
		{
			name: "stock changes in line with orders", stock: 1,
			cmds: func(i int64) []message.Command {
				return []message.Command{order(i, 1, "a"), order(i, 1, "b"), stockCmd(i, ptr(2), nil), order(i, 1, "c"),
					stockCmd(i, ptr(-5), nil), stockCmd(i, nil, ptr(10)), order(i, 4, "d")}
			},
			want: []string{"confirmed", "out_of_stock", "ok", "confirmed", "insufficient_stock", "ok", "confirmed"}, wantStock: 6,
		},
		{
			name: "deleted item rejects later orders", stock: 5,
			cmds: func(i int64) []message.Command {
				return []message.Command{order(i, 1, "a"), {Kind: message.KindDeleteItem, ID: uuid.NewString(), ItemID: i},
					order(i, 1, "b"), stockCmd(i, ptr(1), nil), {Kind: message.KindDeleteItem, ID: uuid.NewString(), ItemID: i}}
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
			if len(results) != len(cmds) {
				t.Fatalf("%d results for %d commands", len(results), len(cmds))
			}
			for i, r := range results {
				if r.ID != cmds[i].ID || outcome(r) != tt.want[i] {
					t.Errorf("command %d: got %s (id %s), want %s", i, outcome(r), r.ID, tt.want[i])
				}
			}
			assertLedger(t, db, item, tt.wantStock)
		})
	}
}

func TestApplyIsIdempotent(t *testing.T) {
	t.Parallel()
	db := openDB(t)
	s := NewStore(db)
	item := addItem(t, db, 2, 0)
	cmds := []message.Command{order(item, 1, "a"), stockCmd(item, ptr(-1), nil), order(item, 1, "b"), stockCmd(item, ptr(-1), nil)}
	first, err := s.Apply(context.Background(), cmds)
	if err != nil {
		t.Fatal(err)
	}
	// A redelivery: the same commands again, and a duplicate inside one batch.
	again, err := s.Apply(context.Background(), append(cmds, cmds[0]))
	if err != nil {
		t.Fatal(err)
	}
	for i := range cmds {
		if outcome(first[i]) != outcome(again[i]) {
			t.Errorf("command %d: first %s, again %s", i, outcome(first[i]), outcome(again[i]))
		}
	}
	if outcome(again[4]) != outcome(first[0]) {
		t.Errorf("duplicate in batch: got %s, want %s", outcome(again[4]), outcome(first[0]))
	}
	want := []string{"confirmed", "ok", "out_of_stock", "insufficient_stock"}
	for i := range want {
		if outcome(first[i]) != want[i] {
			t.Errorf("command %d: got %s, want %s", i, outcome(first[i]), want[i])
		}
	}
	assertLedger(t, db, item, 0)
	var orders int64
	db.Model(&orderRow{}).Where("item_id = ?", item).Count(&orders)
	if orders != 2 {
		t.Errorf("%d order rows, want 2", orders)
	}
}

// assertLedger checks the stock and that initial + movements = stock.
func assertLedger(t *testing.T, db *gorm.DB, item, want int64) {
	t.Helper()
	var row itemRow
	if err := db.Where("id = ?", item).Take(&row).Error; err != nil {
		t.Fatal(err)
	}
	var moved int64
	db.Model(&movementRow{}).Select("COALESCE(SUM(delta), 0)").Where("item_id = ?", item).Scan(&moved)
	if row.Stock != want {
		t.Errorf("stock %d, want %d", row.Stock, want)
	}
	if row.InitialStock+moved != row.Stock {
		t.Errorf("ledger unbalanced: initial %d + movements %d != stock %d", row.InitialStock, moved, row.Stock)
	}
}

func BenchmarkApply(b *testing.B) {
	for _, size := range []int{1, 100, 500} {
		b.Run("batch="+itoa(size), func(b *testing.B) {
			db, err := database.Open(context.Background(), testenv.Database(b), slog.New(slog.NewTextHandler(io.Discard, nil)), database.Options{})
			if err != nil {
				b.Fatal(err)
			}
			defer database.Close(db)
			now := time.Now().UTC()
			row := itemRow{Name: "hot", Stock: 1 << 40, InitialStock: 1 << 40, CreatedAt: now, UpdatedAt: now}
			db.Create(&row)
			s := NewStore(db)
			b.ResetTimer()
			for b.Loop() {
				cmds := make([]message.Command, size)
				for i := range cmds {
					cmds[i] = order(row.ID, 1, "c"+itoa(i))
				}
				if _, err := s.Apply(context.Background(), cmds); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.N*size)/b.Elapsed().Seconds(), "orders/s")
		})
	}
}

func itoa(n int) string { return strconv.Itoa(n) }
