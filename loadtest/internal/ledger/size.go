package ledger

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
)

// Table is one table of orderq's database and how big it is.
type Table struct {
	Name       string
	Rows       int64 // InnoDB's estimate, not a count
	DataBytes  int64 // the rows: the clustered index
	IndexBytes int64 // the secondary indexes
}

// Size is how big orderq's database is: every table of it, so that a table
// the schema adds is counted without naming it here.
type Size struct {
	Orders int64   // rows of orders, counted
	Tables []Table // by name
}

// Size measures the database: each table's data_length and index_length
// from information_schema, and the rows of orders counted. InnoDB updates a
// table's lengths only when it recalculates its statistics, in the background
// some seconds after a tenth of its rows changed (MySQL 8 caches them for a
// day on top), so ANALYZE TABLE refreshes them first: it samples a few pages
// of each index, and reads the sizes from the tablespace. That needs SELECT
// and INSERT on the tables; it changes no row. Counting the orders scans the
// smallest index of the table: call it between sales, not during one.
func (r *Reader) Size(ctx context.Context) (Size, error) {
	var s Size
	var names []string
	err := each(ctx, r.db, `
		SELECT table_name FROM information_schema.tables
		WHERE table_schema = DATABASE() AND table_type = 'BASE TABLE'
		ORDER BY table_name`, nil, func(rows *sql.Rows) error {
		var name string
		if err := rows.Scan(&name); err != nil {
			return err
		}
		names = append(names, name)
		return nil
	})
	if err != nil {
		return s, fmt.Errorf("list tables: %w", err)
	}
	if len(names) == 0 {
		return s, errors.New("list tables: the database has none (does --mysql-dsn name orderq's database?)")
	}
	quoted := make([]string, len(names))
	for i, n := range names {
		quoted[i] = "`" + strings.ReplaceAll(n, "`", "``") + "`"
	}
	// Local: a replica need not redo it.
	err = each(ctx, r.db, "ANALYZE NO_WRITE_TO_BINLOG TABLE "+strings.Join(quoted, ", "), nil, func(rows *sql.Rows) error {
		var table, op, kind, text string
		if err := rows.Scan(&table, &op, &kind, &text); err != nil {
			return err
		}
		if strings.EqualFold(kind, "error") {
			return fmt.Errorf("%s: %s", table, text)
		}
		return nil
	})
	if err != nil {
		return s, fmt.Errorf("analyze tables (to refresh their sizes; needs SELECT and INSERT on them): %w", err)
	}
	err = each(ctx, r.db, `
		SELECT table_name, COALESCE(table_rows, 0), COALESCE(data_length, 0), COALESCE(index_length, 0)
		FROM information_schema.tables
		WHERE table_schema = DATABASE() AND table_type = 'BASE TABLE'
		ORDER BY table_name`, nil, func(rows *sql.Rows) error {
		var t Table
		if err := rows.Scan(&t.Name, &t.Rows, &t.DataBytes, &t.IndexBytes); err != nil {
			return err
		}
		s.Tables = append(s.Tables, t)
		return nil
	})
	if err != nil {
		return s, fmt.Errorf("read table sizes: %w", err)
	}
	if err := r.db.QueryRowContext(ctx, `SELECT COUNT(*) FROM orders`).Scan(&s.Orders); err != nil {
		return s, fmt.Errorf("count orders: %w", err)
	}
	return s, nil
}
