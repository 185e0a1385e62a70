// Package ledger reads an item's stock ledger from orderq's database, the one
// place the load tester looks past the HTTP API: the ledger is how a sale is
// audited, so a run checks it balances. For a run of carts it also reads what
// the orders' lines hold, and waits until the system has settled; for a soak,
// how big the database has grown.
package ledger

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/go-sql-driver/mysql"

	"github.com/orderq/orderq/loadtest/internal/check"
)

// ErrNoItem is returned for an item the database does not hold.
var ErrNoItem = errors.New("item not in the database")

// Reader reads ledgers from one database.
type Reader struct {
	db *sql.DB
}

// Open connects to the database named by dsn and checks that it answers, so a
// wrong DSN fails before the sale rather than after it.
func Open(ctx context.Context, dsn string) (*Reader, error) {
	cfg, err := mysql.ParseDSN(dsn)
	if err != nil {
		return nil, fmt.Errorf("parse mysql dsn: %w", err)
	}
	conn, err := mysql.NewConnector(cfg)
	if err != nil {
		return nil, fmt.Errorf("mysql dsn: %w", err)
	}
	db := sql.OpenDB(conn)
	db.SetMaxOpenConns(2)
	if err := db.PingContext(ctx); err != nil {
		db.Close()
		return nil, fmt.Errorf("connect to mysql at %s: %w", cfg.Addr, err)
	}
	return &Reader{db: db}, nil
}

// Close closes the connection pool.
func (r *Reader) Close() error { return r.db.Close() }

// Read returns the item's initial stock, the sum of its stock movements and its
// stock. One statement reads all three from one snapshot, so a worker still
// writing cannot make a balanced ledger look unbalanced.
func (r *Reader) Read(ctx context.Context, itemID int64) (check.Ledger, error) {
	var l check.Ledger
	err := r.db.QueryRowContext(ctx, `
		SELECT i.initial_stock, COALESCE(SUM(m.delta), 0), i.stock
		FROM items i LEFT JOIN report_stock_movements m ON m.item_id = i.id
		WHERE i.id = ?
		GROUP BY i.id, i.initial_stock, i.stock`, itemID).Scan(&l.InitialStock, &l.Movements, &l.Stock)
	if errors.Is(err, sql.ErrNoRows) {
		return l, fmt.Errorf("read ledger of item %d: %w", itemID, ErrNoItem)
	}
	if err != nil {
		return l, fmt.Errorf("read ledger of item %d: %w", itemID, err)
	}
	return l, nil
}

// readChunk bounds how many ids one statement names.
const readChunk = 1000

// ReadMany returns the ledgers of many items by id, as Read does for one, in
// one grouped statement per thousand items rather than a round trip each. An
// id the database does not hold is an error wrapping ErrNoItem.
func (r *Reader) ReadMany(ctx context.Context, ids []int64) (map[int64]check.Ledger, error) {
	return readMany(ctx, r.db, ids)
}

// querier is a pool or a transaction.
type querier interface {
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
}

func readMany(ctx context.Context, q querier, ids []int64) (map[int64]check.Ledger, error) {
	out := make(map[int64]check.Ledger, len(ids))
	for chunk := range slices.Chunk(ids, readChunk) {
		rows, err := q.QueryContext(ctx, `
			SELECT i.id, i.initial_stock, COALESCE(SUM(m.delta), 0), i.stock
			FROM items i LEFT JOIN report_stock_movements m ON m.item_id = i.id
			WHERE i.id IN `+in(chunk)+`
			GROUP BY i.id, i.initial_stock, i.stock`, args(chunk)...)
		if err != nil {
			return nil, fmt.Errorf("read ledgers: %w", err)
		}
		for rows.Next() {
			var id int64
			var l check.Ledger
			if err := rows.Scan(&id, &l.InitialStock, &l.Movements, &l.Stock); err != nil {
				rows.Close()
				return nil, fmt.Errorf("read ledgers: %w", err)
			}
			out[id] = l
		}
		err = rows.Err()
		rows.Close()
		if err != nil {
			return nil, fmt.Errorf("read ledgers: %w", err)
		}
	}
	var missing []int64
	for _, id := range ids {
		if _, ok := out[id]; !ok {
			missing = append(missing, id)
		}
	}
	if len(missing) > 0 {
		return nil, fmt.Errorf("read ledgers: %d items, e.g. %d: %w", len(missing), missing[0], ErrNoItem)
	}
	return out, nil
}

// in is the list of placeholders for ids: (?,?,…).
func in(ids []int64) string { return "(?" + strings.Repeat(",?", len(ids)-1) + ")" }

func args(ids []int64) []any {
	as := make([]any, len(ids))
	for i, id := range ids {
		as[i] = id
	}
	return as
}

// Carts is what the database holds about a run of carts' items, read in one
// snapshot.
type Carts struct {
	Ledgers map[int64]check.Ledger // by item id
	// Held is, by item id, the quantity in reserved lines of confirmed orders.
	Held  map[int64]int64
	Audit check.Audit
}

// ReadCarts reads the ledgers of the items ids, what their orders' lines hold,
// and what is still in flight: orders pending, outbox rows, lines of rejected
// or canceled orders holding stock. One read-only transaction reads it all from
// one snapshot, so a worker still writing cannot make the sums disagree.
func (r *Reader) ReadCarts(ctx context.Context, ids []int64) (Carts, error) {
	c := Carts{Held: make(map[int64]int64, len(ids))}
	tx, err := r.db.BeginTx(ctx, &sql.TxOptions{Isolation: sql.LevelRepeatableRead, ReadOnly: true})
	if err != nil {
		return c, fmt.Errorf("read carts: %w", err)
	}
	defer tx.Rollback() // read only: nothing to commit
	// The snapshot is taken at the first read, so every read is in this one.
	if c.Ledgers, err = readMany(ctx, tx, ids); err != nil {
		return c, err
	}
	if err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM outbox`).Scan(&c.Audit.Outbox); err != nil {
		return c, fmt.Errorf("read outbox: %w", err)
	}
	pending, unreserved := map[string]bool{}, map[string]string{}
	for chunk := range slices.Chunk(ids, readChunk) {
		a := args(chunk)
		err := each(ctx, tx, `
			SELECT item_id, SUM(quantity)
			FROM report_order_lines
			WHERE item_id IN `+in(chunk)+` AND order_status = 'confirmed' AND status = 'reserved'
			GROUP BY item_id`, a, func(rows *sql.Rows) error {
			var id, n int64
			if err := rows.Scan(&id, &n); err != nil {
				return err
			}
			c.Held[id] = n
			return nil
		})
		if err != nil {
			return c, fmt.Errorf("read reserved lines: %w", err)
		}
		err = each(ctx, tx, `
			SELECT DISTINCT order_id
			FROM report_order_lines
			WHERE item_id IN `+in(chunk)+` AND order_status = 'pending'`, a, func(rows *sql.Rows) error {
			var id string
			if err := rows.Scan(&id); err != nil {
				return err
			}
			pending[id] = true
			return nil
		})
		if err != nil {
			return c, fmt.Errorf("read pending orders: %w", err)
		}
		var holding int
		err = tx.QueryRowContext(ctx, `
			SELECT COUNT(*)
			FROM report_order_lines
			WHERE item_id IN `+in(chunk)+` AND order_status IN ('rejected', 'canceled')
			  AND status NOT IN ('rejected', 'released', 'pending')`, a...).Scan(&holding)
		if err != nil {
			return c, fmt.Errorf("read lines holding stock: %w", err)
		}
		c.Audit.Holding += holding
		err = each(ctx, tx, `
			SELECT order_id, item_id, status
			FROM report_order_lines
			WHERE item_id IN `+in(chunk)+` AND order_status = 'confirmed' AND status <> 'reserved'`, a, func(rows *sql.Rows) error {
			var id, status string
			var item int64
			if err := rows.Scan(&id, &item, &status); err != nil {
				return err
			}
			if _, ok := unreserved[id]; !ok {
				unreserved[id] = fmt.Sprintf("%s (item %d: %s)", id, item, status)
			}
			return nil
		})
		if err != nil {
			return c, fmt.Errorf("read confirmed orders' lines: %w", err)
		}
	}
	for _, id := range ids {
		if _, ok := c.Held[id]; !ok {
			c.Held[id] = 0
		}
	}
	c.Audit.Pending = len(pending)
	for _, id := range slices.Sorted(maps.Keys(unreserved)) {
		c.Audit.Unreserved = append(c.Audit.Unreserved, unreserved[id])
	}
	return c, nil
}

// each runs a query and calls scan for every row.
func each(ctx context.Context, q querier, query string, args []any, scan func(*sql.Rows) error) error {
	rows, err := q.QueryContext(ctx, query, args...)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		if err := scan(rows); err != nil {
			return err
		}
	}
	return rows.Err()
}

// settlePoll is how often WaitSettled looks again.
const settlePoll = 50 * time.Millisecond

// WaitSettled reads the carts of the items ids, as ReadCarts does, until the
// system has settled (check.Audit.Settled) or within has passed, and returns
// the last read with the time waited in its Audit. A cart rejected on one
// shard gives back what its other lines reserved through their shards'
// queues, after it was answered: only a settled system adds up. Not settling
// in time is no error, but what the checker reports.
func (r *Reader) WaitSettled(ctx context.Context, ids []int64, within time.Duration) (Carts, error) {
	start := time.Now()
	for {
		c, err := r.ReadCarts(ctx, ids)
		if err != nil {
			return c, err
		}
		c.Audit.Waited = time.Since(start)
		if c.Audit.Settled() || c.Audit.Waited >= within {
			return c, nil
		}
		t := time.NewTimer(min(settlePoll, within-c.Audit.Waited))
		select {
		case <-ctx.Done():
			t.Stop()
			return c, fmt.Errorf("wait for the system to settle: %w", ctx.Err())
		case <-t.C:
		}
	}
}
