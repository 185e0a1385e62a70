package main

import (
	"context"
	"database/sql"
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/go-sql-driver/mysql"

	"github.com/orderq/orderq/shared/cli"
	"github.com/orderq/orderq/shared/orderstatus"
)

var auditCommand = command{
	name:    "audit",
	usage:   "audit [--older 1m] [--json]",
	summary: "check the books of a live database",
	about: `Checks the books of a running deployment's database, in one consistent
snapshot, through the report_ views (docs/api.md), and names what is broken:

  ledger       an item whose initial stock plus its ledger is not its stock
  held         an item whose units held by order lines are not what the
               ledger's reservations and releases took
  closed_held  a line still holding stock on a rejected or canceled order
               last changed longer ago than --older (its release is stuck)
  outbox       a queued command not published for longer than --older
  pending      an order still being decided for longer than --older

It changes nothing. Exit status 0: the books hold; 1: something is broken
(each finding is printed); 3: the database could not be read.

Environment: MYSQL_DSN (required), as the gateway and the worker read it.
`,
	flags: func(fs *flag.FlagSet) func(context.Context, env, []string) error {
		older := fs.Duration("older", time.Minute, "how long a release, a queued command or a decision may be in flight")
		asJSON := fs.Bool("json", false, "print one JSON document instead of lines of text")
		return func(ctx context.Context, e env, args []string) error {
			if err := noArgs("audit", args); err != nil {
				return err
			}
			if *older <= 0 {
				return cli.UsageError{Err: fmt.Errorf("--older %s: want a duration above 0", *older), Help: "orderqctl help audit"}
			}
			return audit(ctx, e, *older, *asJSON)
		}
	},
}

// finding is one thing an audit found broken.
type finding struct {
	Rule   string `json:"rule"`
	ItemID int64  `json:"item_id,omitempty"`
	Order  string `json:"order_id,omitempty"`
	Detail string `json:"detail"`
}

// auditReport is what an audit found.
type auditReport struct {
	At       time.Time `json:"at"`
	Items    int       `json:"items"`
	Findings []finding `json:"findings"`
}

// errBroken is an audit that found the books broken.
var errBroken = cli.Failure("the books do not hold")

func audit(ctx context.Context, e env, older time.Duration, asJSON bool) error {
	dsn := e.getenv("MYSQL_DSN")
	if dsn == "" {
		return errors.New("MYSQL_DSN is not set: it names the deployment's database")
	}
	cfg, err := mysql.ParseDSN(dsn)
	if err != nil {
		return fmt.Errorf("MYSQL_DSN: %w", err)
	}
	cfg.ParseTime = true
	conn, err := mysql.NewConnector(cfg)
	if err != nil {
		return fmt.Errorf("MYSQL_DSN: %w", err)
	}
	db := sql.OpenDB(conn)
	defer db.Close()
	r, err := readBooks(ctx, db, older)
	if err != nil {
		return fmt.Errorf("audit: %w", err)
	}
	if err := writeReport(e.stdout, r, asJSON); err != nil {
		return err
	}
	if len(r.Findings) > 0 {
		return errBroken
	}
	return nil
}

// readBooks reads every rule's findings in one read-only snapshot: the
// ledger, the lines and the stock are written in the same transactions, so
// they agree in any snapshot, under traffic too.
func readBooks(ctx context.Context, db *sql.DB, older time.Duration) (auditReport, error) {
	r := auditReport{Findings: []finding{}}
	tx, err := db.BeginTx(ctx, &sql.TxOptions{Isolation: sql.LevelRepeatableRead, ReadOnly: true})
	if err != nil {
		return r, err
	}
	defer tx.Rollback() // read only: nothing to commit
	if err := tx.QueryRowContext(ctx, `SELECT UTC_TIMESTAMP(6), (SELECT COUNT(*) FROM items)`).Scan(&r.At, &r.Items); err != nil {
		return r, fmt.Errorf("read items: %w", err)
	}
	cutoff := r.At.Add(-older)
	holding := inList(orderstatus.HoldingStatuses)
	rules := []struct {
		name, query string
		args        []any
		scan        func(*sql.Rows) (finding, error)
	}{
		{"ledger", `SELECT i.id, i.initial_stock, COALESCE(SUM(m.delta), 0), i.stock
			FROM items i LEFT JOIN report_stock_movements m ON m.item_id = i.id
			GROUP BY i.id, i.initial_stock, i.stock
			HAVING i.initial_stock + COALESCE(SUM(m.delta), 0) <> i.stock ORDER BY i.id`, nil,
			func(rows *sql.Rows) (finding, error) {
				var f finding
				var initial, moved, stock int64
				err := rows.Scan(&f.ItemID, &initial, &moved, &stock)
				f.Detail = fmt.Sprintf("initial stock %d + ledger %d = %d, but the stock is %d", initial, moved, initial+moved, stock)
				return f, err
			}},
		{"held", `SELECT item_id, SUM(held), SUM(taken) FROM (
				SELECT item_id, quantity AS held, 0 AS taken FROM report_order_lines WHERE status IN ` + holding + `
				UNION ALL
				SELECT item_id, 0, -delta FROM report_stock_movements WHERE kind IN ('order', 'release')
			) t GROUP BY item_id HAVING SUM(held) <> SUM(taken) ORDER BY item_id`, nil,
			func(rows *sql.Rows) (finding, error) {
				var f finding
				var held, taken int64
				err := rows.Scan(&f.ItemID, &held, &taken)
				f.Detail = fmt.Sprintf("order lines hold %d units, the ledger's reservations and releases took %d", held, taken)
				return f, err
			}},
		{"closed_held", `SELECT order_id, item_id, status, order_status, order_updated_at FROM report_order_lines
			WHERE order_status IN ('rejected', 'canceled') AND status IN ` + holding + ` AND order_updated_at < ?
			ORDER BY order_updated_at, order_id, line_no`, []any{cutoff},
			func(rows *sql.Rows) (finding, error) {
				var f finding
				var line, order string
				var at time.Time
				err := rows.Scan(&f.Order, &f.ItemID, &line, &order, &at)
				f.Detail = fmt.Sprintf("%s since %s, its line still %s: the release is stuck", order, at.Format(time.RFC3339), line)
				return f, err
			}},
		{"outbox", `SELECT id, routing_key, created_at FROM report_outbox WHERE created_at < ? ORDER BY id`, []any{cutoff},
			func(rows *sql.Rows) (finding, error) {
				var f finding
				var id int64
				var key string
				var at time.Time
				err := rows.Scan(&id, &key, &at)
				f.Detail = fmt.Sprintf("command %d for %s queued at %s, not published", id, key, at.Format(time.RFC3339))
				return f, err
			}},
		{"pending", `SELECT id, created_at FROM report_orders WHERE status = 'pending' AND created_at < ? ORDER BY created_at, id`, []any{cutoff},
			func(rows *sql.Rows) (finding, error) {
				var f finding
				var at time.Time
				err := rows.Scan(&f.Order, &at)
				f.Detail = fmt.Sprintf("pending since %s", at.Format(time.RFC3339))
				return f, err
			}},
	}
	for _, rule := range rules {
		rows, err := tx.QueryContext(ctx, rule.query, rule.args...)
		if err != nil {
			return r, fmt.Errorf("rule %s: %w", rule.name, err)
		}
		for rows.Next() {
			f, err := rule.scan(rows)
			if err != nil {
				rows.Close()
				return r, fmt.Errorf("rule %s: %w", rule.name, err)
			}
			f.Rule = rule.name
			r.Findings = append(r.Findings, f)
		}
		if err := rows.Close(); err != nil {
			return r, fmt.Errorf("rule %s: %w", rule.name, err)
		}
		if err := rows.Err(); err != nil {
			return r, fmt.Errorf("rule %s: %w", rule.name, err)
		}
	}
	return r, nil
}

// inList is statuses as an SQL list of literals; they are the program's own
// constants, never input.
func inList(statuses []orderstatus.LineStatus) string {
	quoted := make([]string, len(statuses))
	for i, s := range statuses {
		quoted[i] = "'" + string(s) + "'"
	}
	return "(" + strings.Join(quoted, ", ") + ")"
}

func writeReport(w io.Writer, r auditReport, asJSON bool) error {
	if asJSON {
		return writeJSON(w, r)
	}
	var b strings.Builder
	for _, f := range r.Findings {
		switch {
		case f.Order != "" && f.ItemID != 0:
			fmt.Fprintf(&b, "%-12s order %s, item %d: %s\n", f.Rule, f.Order, f.ItemID, f.Detail)
		case f.Order != "":
			fmt.Fprintf(&b, "%-12s order %s: %s\n", f.Rule, f.Order, f.Detail)
		case f.ItemID != 0:
			fmt.Fprintf(&b, "%-12s item %d: %s\n", f.Rule, f.ItemID, f.Detail)
		default:
			fmt.Fprintf(&b, "%-12s %s\n", f.Rule, f.Detail)
		}
	}
	if len(r.Findings) == 0 {
		fmt.Fprintf(&b, "the books hold: %d items, at %s\n", r.Items, r.At.Format(time.RFC3339))
	} else {
		fmt.Fprintf(&b, "%d findings: %d items, at %s\n", len(r.Findings), r.Items, r.At.Format(time.RFC3339))
	}
	_, err := io.WriteString(w, b.String())
	return err
}
