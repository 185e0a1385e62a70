package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"gorm.io/gorm"

	"github.com/orderq/orderq/shared/cli"
	"github.com/orderq/orderq/shared/database"
	"github.com/orderq/orderq/shared/message"
	"github.com/orderq/orderq/shared/order"
	"github.com/orderq/orderq/shared/orderstore"
	"github.com/orderq/orderq/shared/testenv"
)

// books returns the DSN of a migrated database whose books hold: item 1 of
// stock 3 sold to a crowd of five (three confirmed, two rejected), and the
// ids of a confirmed order and a rejected one. The orders are decided and
// written as the worker does, through orderstore and order.Decide.
func books(t *testing.T) (dsn string, db *gorm.DB, confirmed string) {
	t.Helper()
	dsn = testenv.Database(t)
	db, err := database.Open(t.Context(), dsn, slog.New(slog.NewTextHandler(io.Discard, nil)), database.Options{MaxOpenConns: 2})
	if err != nil {
		t.Fatalf("migrate: %v", err)
	}
	t.Cleanup(func() {
		if err := database.Close(db); err != nil {
			t.Errorf("close database: %v", err)
		}
	})
	if err := db.Exec(`INSERT INTO items (id, name, stock, initial_stock, price, currency, created_at, updated_at)
		VALUES (1, 'sneaker', 3, 3, 1000, 'IDR', UTC_TIMESTAMP(6), UTC_TIMESTAMP(6))`).Error; err != nil {
		t.Fatalf("create item: %v", err)
	}
	var cmds []message.Command
	for i := range 5 {
		cmds = append(cmds, message.Command{Kind: message.KindOrder, ID: uuid.Must(uuid.NewV7()).String(),
			AcceptedAt: time.Now(), CustomerID: "c-" + string(rune('a'+i)), Parts: 1,
			Lines: []message.Line{{No: 0, ItemID: 1, Quantity: 1}}})
	}
	err = db.Transaction(func(tx *gorm.DB) error {
		b, err := orderstore.ReadBatch(tx, cmds, 1, 0, false)
		if err != nil {
			return err
		}
		d, err := order.Decide(b.State, cmds)
		if err != nil {
			return err
		}
		return orderstore.WriteBatch(tx, b, d, false)
	})
	if err != nil {
		t.Fatalf("sell: %v", err)
	}
	return dsn, db, cmds[0].ID
}

// runAudit runs orderqctl audit against dsn and returns its output and exit
// status.
func runAudit(t *testing.T, dsn string, args ...string) (string, int) {
	t.Helper()
	var stdout, stderr bytes.Buffer
	env := env{getenv: func(k string) string { return map[string]string{"MYSQL_DSN": dsn}[k] }, stdout: &stdout, stderr: &stderr}
	err := run(context.Background(), append([]string{"audit"}, args...), env)
	return stdout.String(), cli.Code(err)
}

func TestAuditOfBooksThatHold(t *testing.T) {
	t.Parallel()
	dsn, _, _ := books(t)
	out, code := runAudit(t, dsn)
	if code != cli.ExitOK || !strings.Contains(out, "the books hold: 1 items") {
		t.Fatalf("exit %d, output:\n%s", code, out)
	}
	out, code = runAudit(t, dsn, "--json")
	var r auditReport
	if err := json.Unmarshal([]byte(out), &r); err != nil || code != cli.ExitOK || len(r.Findings) != 0 || r.Items != 1 {
		t.Fatalf("--json: exit %d, %+v, %v; output:\n%s", code, r, err, out)
	}
}

// TestAuditFindsEachBreak breaks the books one way at a time, on purpose,
// and checks the audit names that and nothing else; what is only in flight
// (younger than --older) is no finding.
func TestAuditFindsEachBreak(t *testing.T) {
	t.Parallel()
	old := time.Now().UTC().Add(-2 * time.Minute)
	tests := []struct {
		name   string
		breaks func(t *testing.T, db *gorm.DB, confirmed string) []any // statements and their arguments, as pairs
		want   []string                                                // rules found, in order; none: the books hold
	}{
		{"the stock moved without the ledger", func(t *testing.T, db *gorm.DB, _ string) []any {
			return []any{"UPDATE items SET stock = stock + 1 WHERE id = 1"}
		}, []string{"ledger"}},
		{"a line gave its units back without the ledger", func(t *testing.T, db *gorm.DB, confirmed string) []any {
			return []any{"UPDATE order_lines SET status = 'released' WHERE order_id = ?", database.ID(confirmed)}
		}, []string{"held"}},
		{"a canceled order's line still holds, long after", func(t *testing.T, db *gorm.DB, confirmed string) []any {
			return []any{"UPDATE orders SET status = 'canceled', updated_at = ? WHERE id = ?", old, database.ID(confirmed)}
		}, []string{"closed_held"}},
		{"a canceled order's line still holds, its release in flight", func(t *testing.T, db *gorm.DB, confirmed string) []any {
			return []any{"UPDATE orders SET status = 'canceled', updated_at = UTC_TIMESTAMP(6) WHERE id = ?", database.ID(confirmed)}
		}, nil},
		{"a command queued long ago", func(t *testing.T, db *gorm.DB, _ string) []any {
			return []any{"INSERT INTO outbox (routing_key, body, created_at) VALUES ('shard.0', '{}', ?)", old}
		}, []string{"outbox"}},
		{"a command queued just now", func(t *testing.T, db *gorm.DB, _ string) []any {
			return []any{"INSERT INTO outbox (routing_key, body, created_at) VALUES ('shard.0', '{}', UTC_TIMESTAMP(6))"}
		}, nil},
		{"an order pending long ago", func(t *testing.T, db *gorm.DB, _ string) []any {
			o := &order.Order{ID: uuid.Must(uuid.NewV7()).String(), CustomerID: "c-z", Status: "pending", Parts: 2, PartsDone: 1,
				CreatedAt: old, UpdatedAt: old, Lines: []order.Line{{No: 0, ItemID: 1, Quantity: 1, Status: "pending"},
					{No: 1, ItemID: 2, Quantity: 1, Status: "pending"}}}
			if err := orderstore.Insert(db, []*order.Order{o}, false); err != nil {
				t.Fatalf("store pending order: %v", err)
			}
			return nil
		}, []string{"pending"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			dsn, db, confirmed := books(t)
			if stmt := tt.breaks(t, db, confirmed); stmt != nil {
				if err := db.Exec(stmt[0].(string), stmt[1:]...).Error; err != nil {
					t.Fatalf("break the books: %v", err)
				}
			}
			out, code := runAudit(t, dsn, "--json")
			var r auditReport
			if err := json.Unmarshal([]byte(out), &r); err != nil {
				t.Fatalf("decode the report: %v; output:\n%s", err, out)
			}
			var rules []string
			for _, f := range r.Findings {
				rules = append(rules, f.Rule)
				if f.Detail == "" || (f.ItemID == 0 && f.Order == "") && f.Rule != "outbox" {
					t.Errorf("finding %+v names nothing", f)
				}
			}
			if strings.Join(rules, ",") != strings.Join(tt.want, ",") {
				t.Errorf("findings %+v, want rules %v", r.Findings, tt.want)
			}
			if wantCode := map[bool]int{true: cli.ExitOK, false: cli.ExitFailed}[len(tt.want) == 0]; code != wantCode {
				t.Errorf("exit %d, want %d", code, wantCode)
			}
			if len(tt.want) > 0 {
				text, _ := runAudit(t, dsn)
				if !strings.Contains(text, tt.want[0]) || !strings.Contains(text, "1 findings") {
					t.Errorf("text report:\n%s", text)
				}
			}
		})
	}
}

func TestAuditCannotReadTheDatabase(t *testing.T) {
	t.Parallel()
	for _, dsn := range []string{"", "not a dsn", "root:@tcp(127.0.0.1:1)/orderq?timeout=1s"} {
		if out, code := runAudit(t, dsn); code != cli.ExitCannot {
			t.Errorf("MYSQL_DSN %q: exit %d, want %d; output %q", dsn, code, cli.ExitCannot, out)
		}
	}
	var stdout bytes.Buffer
	err := run(context.Background(), []string{"audit", "--older", "0s"}, env{getenv: func(string) string { return "" }, stdout: &stdout, stderr: io.Discard})
	if !errors.As(err, new(cli.UsageError)) {
		t.Errorf("--older 0s: %v, want a usage error", err)
	}
}
