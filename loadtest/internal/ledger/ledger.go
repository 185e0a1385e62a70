// Package ledger reads an item's stock ledger from orderq's database, the one
// place the load tester looks past the HTTP API: the ledger is how a sale is
// audited, so a run checks it balances.
package ledger

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"strings"

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
		FROM items i LEFT JOIN stock_movements m ON m.item_id = i.id
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

// readChunk bounds how many ids one statement of ReadMany names.
const readChunk = 1000

// ReadMany returns the ledgers of many items by id, as Read does for one, in
// one grouped statement per thousand items rather than a round trip each. An
// id the database does not hold is an error wrapping ErrNoItem.
func (r *Reader) ReadMany(ctx context.Context, ids []int64) (map[int64]check.Ledger, error) {
	out := make(map[int64]check.Ledger, len(ids))
	for chunk := range slices.Chunk(ids, readChunk) {
		args := make([]any, len(chunk))
		for i, id := range chunk {
			args[i] = id
		}
		rows, err := r.db.QueryContext(ctx, `
			SELECT i.id, i.initial_stock, COALESCE(SUM(m.delta), 0), i.stock
			FROM items i LEFT JOIN stock_movements m ON m.item_id = i.id
			WHERE i.id IN (?`+strings.Repeat(",?", len(chunk)-1)+`)
			GROUP BY i.id, i.initial_stock, i.stock`, args...)
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
