package database

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"database/sql/driver"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"path"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/go-sql-driver/mysql"
)

// How migrating at start-up behaves (docs/migrations.md says it for
// operators):
//
//   - One process migrates a database at a time. It holds a MySQL named lock
//     (GET_LOCK), per database, on the one connection that then reads the
//     applied versions and runs every statement; a process that waited for
//     the lock reads the versions only once it has it, so it finds the other's
//     work done and applies nothing. A process that cannot get the lock within
//     lockTimeout refuses to start, naming the connection that holds it.
//   - A migration is recorded in schema_migrations in the transaction of its
//     last statement, and each statement's progress in
//     schema_migration_progress in the transaction of that statement. MySQL
//     and MariaDB commit a DDL statement on its own, atomically (MySQL 8,
//     MariaDB 10.6 and later), before the record: a process that dies in
//     between leaves that one statement in doubt, marked so before it was
//     sent. The next process runs it again and, if the server answers that
//     what it creates is already there (a duplicate column, key, constraint
//     or table), takes it as applied. Only the statement in doubt is read
//     that way: one the server refused while the process lived is run again
//     as it is, and fails the same way until it is fixed.
//   - Statements that can say IF NOT EXISTS or OR REPLACE do, and data
//     changes are guarded by what they change (TestMigrationFiles), so that
//     running one twice is harmless even by hand.

// lockTimeout is how long a process waits for another's migration before it
// refuses to start; it waits in rounds of lockRound, logging each. It is
// under the minute both programs give Open, so that the refusal, naming the
// connection that holds the lock, comes before their own deadline.
const (
	lockTimeout = 50 * time.Second
	lockRound   = 5 * time.Second
)

// ddlLockWait is lock_wait_timeout, in seconds, of the migrating session. A
// DDL statement first waits for the table's metadata lock, and while it waits
// every later query of that table queues behind it: an old process holding a
// transaction open would stall the whole table. This bounds the stall; the
// statement then fails (nothing applied) and the next start tries again.
const ddlLockWait = 30

// migration is one file of migrations: its version, its name and its
// statements.
type migration struct {
	version    int
	name       string
	statements []string
}

// progress is how far a migration not yet recorded got: done statements
// committed, and whether the next one was sent without its outcome being
// recorded (inDoubt).
type progress struct {
	done    int
	inDoubt bool
}

// loadMigrations reads the *.sql files at the root of source, in version
// order. A file's name starts with its version: 0004_something.sql.
func loadMigrations(source fs.FS) ([]migration, error) {
	files, err := fs.Glob(source, "*.sql")
	if err != nil {
		return nil, fmt.Errorf("list migrations: %w", err)
	}
	var out []migration
	for _, f := range files {
		prefix, _, _ := strings.Cut(f, "_")
		version, err := strconv.Atoi(prefix)
		if err != nil || version <= 0 {
			return nil, fmt.Errorf("migration %s: its name must start with its version, as 0004_name.sql", f)
		}
		body, err := fs.ReadFile(source, f)
		if err != nil {
			return nil, fmt.Errorf("read migration %s: %w", f, err)
		}
		out = append(out, migration{version: version, name: path.Base(f), statements: statements(string(body))})
	}
	slices.SortFunc(out, func(a, b migration) int { return a.version - b.version })
	for i := 1; i < len(out); i++ {
		if out[i].version == out[i-1].version {
			return nil, fmt.Errorf("migrations %s and %s have the same version", out[i-1].name, out[i].name)
		}
	}
	return out, nil
}

// migrate applies the migrations of source that the database has not
// recorded, in order, holding the database's migration lock.
func migrate(ctx context.Context, db *sql.DB, log *slog.Logger, source fs.FS, lockWait time.Duration) error {
	ms, err := loadMigrations(source)
	if err != nil {
		return err
	}
	conn, err := db.Conn(ctx)
	if err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	// The session ends with the migration: that releases the lock whatever
	// happened, and leaves no session setting in the pool.
	defer endSession(conn)
	var database string
	if err := conn.QueryRowContext(ctx, "SELECT DATABASE()").Scan(&database); err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	name := lockName(database)
	if err := acquire(ctx, conn, name, lockWait, log); err != nil {
		return err
	}
	defer func() {
		// Best effort: endSession ends the session, which releases it anyway.
		conn.ExecContext(context.WithoutCancel(ctx), "DO RELEASE_LOCK(?)", name)
	}()
	if _, err := conn.ExecContext(ctx, "SET SESSION lock_wait_timeout = "+strconv.Itoa(ddlLockWait)); err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	for _, ddl := range []string{
		`CREATE TABLE IF NOT EXISTS schema_migrations (
			version INT NOT NULL PRIMARY KEY, applied_at DATETIME(6) NOT NULL) ENGINE=InnoDB`,
		// A row while a migration is partly applied: statements_done of its
		// statements are committed, and with in_doubt the next one was sent
		// and may have been committed without its record.
		`CREATE TABLE IF NOT EXISTS schema_migration_progress (
			version INT NOT NULL PRIMARY KEY, statements_done INT NOT NULL, in_doubt BOOLEAN NOT NULL,
			updated_at DATETIME(6) NOT NULL) ENGINE=InnoDB`,
	} {
		if _, err := conn.ExecContext(ctx, ddl); err != nil {
			return fmt.Errorf("migrate: %w", err)
		}
	}
	applied, partial, err := readState(ctx, conn)
	if err != nil {
		return err
	}
	var unknown []int
	for v := range applied {
		if !slices.ContainsFunc(ms, func(m migration) bool { return m.version == v }) {
			unknown = append(unknown, v)
		}
	}
	if len(unknown) > 0 {
		slices.Sort(unknown)
		log.Warn("the database has migrations this build does not know: it was migrated by a newer one", "versions", unknown)
	}
	for _, m := range ms {
		if applied[m.version] {
			continue
		}
		if err := apply(ctx, conn, m, partial[m.version], log); err != nil {
			return err
		}
	}
	return nil
}

// lockName is the migration lock of a database. Lock names are the
// server's, so each database has its own: tests and deployments sharing a
// server never wait for each other. MySQL takes at most 64 characters.
func lockName(database string) string {
	name := "orderq.migrate:" + database
	if len(name) > 64 {
		sum := sha256.Sum256([]byte(database))
		name = "orderq.migrate:" + hex.EncodeToString(sum[:16])
	}
	return name
}

// acquire takes the named lock on conn, waiting up to wait for another
// process to release it.
func acquire(ctx context.Context, conn *sql.Conn, name string, wait time.Duration, log *slog.Logger) error {
	deadline := time.Now().Add(wait)
	for {
		round := max(min(time.Until(deadline), lockRound), 0)
		var got sql.NullInt64
		err := conn.QueryRowContext(ctx, "SELECT GET_LOCK(?, ?)", name, int((round+time.Second-1)/time.Second)).Scan(&got)
		switch {
		case err != nil:
			return fmt.Errorf("migrate: take lock %s: %w", name, err)
		case !got.Valid:
			return fmt.Errorf("migrate: take lock %s: the server answered NULL", name)
		case got.Int64 == 1:
			return nil
		}
		var holder sql.NullInt64
		if err := conn.QueryRowContext(ctx, "SELECT IS_USED_LOCK(?)", name).Scan(&holder); err != nil {
			return fmt.Errorf("migrate: look up lock %s: %w", name, err)
		}
		if !time.Now().Before(deadline) {
			return fmt.Errorf("migrate: another process (MySQL connection %d) has held lock %s for more than %s: "+
				"it is migrating, or hangs (see docs/migrations.md)", holder.Int64, name, wait)
		}
		log.Info("waiting for another process to migrate the database", "lock", name, "holder_connection_id", holder.Int64)
	}
}

// endSession closes conn's session rather than returning it to the pool.
func endSession(conn *sql.Conn) {
	conn.Raw(func(any) error { return driver.ErrBadConn })
	conn.Close()
}

func readState(ctx context.Context, conn *sql.Conn) (map[int]bool, map[int]progress, error) {
	applied := map[int]bool{}
	rows, err := conn.QueryContext(ctx, "SELECT version FROM schema_migrations")
	if err != nil {
		return nil, nil, fmt.Errorf("migrate: read versions: %w", err)
	}
	for rows.Next() {
		var v int
		if err := rows.Scan(&v); err != nil {
			rows.Close()
			return nil, nil, fmt.Errorf("migrate: read versions: %w", err)
		}
		applied[v] = true
	}
	if err := errors.Join(rows.Err(), rows.Close()); err != nil {
		return nil, nil, fmt.Errorf("migrate: read versions: %w", err)
	}
	partial := map[int]progress{}
	rows, err = conn.QueryContext(ctx, "SELECT version, statements_done, in_doubt FROM schema_migration_progress")
	if err != nil {
		return nil, nil, fmt.Errorf("migrate: read progress: %w", err)
	}
	for rows.Next() {
		var v int
		var p progress
		if err := rows.Scan(&v, &p.done, &p.inDoubt); err != nil {
			rows.Close()
			return nil, nil, fmt.Errorf("migrate: read progress: %w", err)
		}
		partial[v] = p
	}
	if err := errors.Join(rows.Err(), rows.Close()); err != nil {
		return nil, nil, fmt.Errorf("migrate: read progress: %w", err)
	}
	return applied, partial, nil
}

// apply runs m's statements from where p says it stopped, each in a
// transaction with its record.
func apply(ctx context.Context, conn *sql.Conn, m migration, p progress, log *slog.Logger) error {
	if p.done > len(m.statements) {
		return fmt.Errorf("migrate %s: %d statements recorded done, but the file has %d: it changed after it was partly applied",
			m.name, p.done, len(m.statements))
	}
	if p.done > 0 || p.inDoubt {
		log.Warn("resuming a schema migration that stopped part way", "migration", m.name,
			"statements_done", p.done, "statements", len(m.statements), "in_doubt", p.inDoubt)
	}
	for i := p.done; i < len(m.statements); i++ {
		inDoubt := p.inDoubt && i == p.done
		if !inDoubt {
			if err := setProgress(ctx, conn, m.version, i, true); err != nil {
				return fmt.Errorf("migrate %s: %w", m.name, err)
			}
		}
		refused := false
		err := inTx(ctx, conn, func(tx *sql.Tx) error {
			if _, err := tx.ExecContext(ctx, m.statements[i]); err != nil {
				refused = refusedByServer(err)
				return err
			}
			return record(ctx, tx, m, i+1)
		})
		switch {
		case err == nil:
		case inDoubt && refused && appliedBefore(err):
			log.Warn("schema migration statement was applied before the process that sent it stopped", "migration", m.name,
				"statement", i+1, "answer", err.Error())
			if err := inTx(ctx, conn, func(tx *sql.Tx) error { return record(ctx, tx, m, i+1) }); err != nil {
				return fmt.Errorf("migrate %s: %w", m.name, err)
			}
		default:
			if refused && !inDoubt {
				// The server refused it, so nothing of it was applied: the
				// next start runs it as new, not as one in doubt. (A
				// statement in doubt stays so: refused now, it may still
				// have been applied by the process that sent it first.)
				if perr := setProgress(context.WithoutCancel(ctx), conn, m.version, i, false); perr != nil {
					err = errors.Join(err, perr)
				}
			}
			return fmt.Errorf("migrate %s: statement %d of %d: %w", m.name, i+1, len(m.statements), err)
		}
	}
	if len(m.statements) == 0 {
		if err := inTx(ctx, conn, func(tx *sql.Tx) error { return record(ctx, tx, m, 0) }); err != nil {
			return fmt.Errorf("migrate %s: %w", m.name, err)
		}
	}
	log.Info("schema migrated", "migration", m.name)
	return nil
}

// record writes, in tx, that done statements of m are committed: its
// progress, or, for the last, the migration itself.
func record(ctx context.Context, tx *sql.Tx, m migration, done int) error {
	if done < len(m.statements) {
		return setProgress(ctx, tx, m.version, done, false)
	}
	if _, err := tx.ExecContext(ctx, "INSERT INTO schema_migrations (version, applied_at) VALUES (?, NOW(6))", m.version); err != nil {
		return fmt.Errorf("record migration: %w", err)
	}
	if _, err := tx.ExecContext(ctx, "DELETE FROM schema_migration_progress WHERE version = ?", m.version); err != nil {
		return fmt.Errorf("record migration: %w", err)
	}
	return nil
}

type execer interface {
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
}

func setProgress(ctx context.Context, db execer, version, done int, inDoubt bool) error {
	_, err := db.ExecContext(ctx, `INSERT INTO schema_migration_progress (version, statements_done, in_doubt, updated_at)
		VALUES (?, ?, ?, NOW(6)) ON DUPLICATE KEY UPDATE
		statements_done = VALUES(statements_done), in_doubt = VALUES(in_doubt), updated_at = VALUES(updated_at)`,
		version, done, inDoubt)
	if err != nil {
		return fmt.Errorf("record migration progress: %w", err)
	}
	return nil
}

// inTx runs f in a transaction on conn. A DDL statement in it commits on its
// own, and what follows it is then committed statement by statement: the
// transaction binds a data change to its record, and a DDL statement only
// precedes its record.
func inTx(ctx context.Context, conn *sql.Conn, f func(*sql.Tx) error) error {
	tx, err := conn.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	if err := f(tx); err != nil {
		tx.Rollback()
		return err
	}
	return tx.Commit()
}

// refusedByServer reports whether the server answered a statement with an
// error that means it did not apply it, rather than that the statement's fate
// is unknown (the session killed, the server shutting down or gone).
func refusedByServer(err error) bool {
	var me *mysql.MySQLError
	if !errors.As(err, &me) {
		return false
	}
	switch me.Number {
	case 1053, // ER_SERVER_SHUTDOWN
		1927, // ER_CONNECTION_KILLED
		2006, // CR_SERVER_GONE_ERROR
		2013: // CR_SERVER_LOST
		return false
	}
	return true
}

// appliedBefore reports whether the server refused a statement because what
// it creates is there already, or what it drops or renames is gone.
func appliedBefore(err error) bool {
	var me *mysql.MySQLError
	if !errors.As(err, &me) {
		return false
	}
	switch me.Number {
	case 1050, // ER_TABLE_EXISTS_ERROR
		1051, // ER_BAD_TABLE_ERROR: a dropped table
		1054, // ER_BAD_FIELD_ERROR: a renamed or dropped column
		1060, // ER_DUP_FIELDNAME
		1061, // ER_DUP_KEYNAME
		1091, // ER_CANT_DROP_FIELD_OR_KEY
		1146, // ER_NO_SUCH_TABLE: a renamed table
		1826, // ER_FK_DUP_NAME, and MariaDB's duplicate CHECK constraint
		3822: // MySQL's ER_CHECK_CONSTRAINT_DUP_NAME
		return true
	}
	return false
}

// statements splits a migration into statements at semicolons that end a line,
// dropping comment lines.
func statements(body string) []string {
	var out []string
	var cur strings.Builder
	for _, line := range strings.Split(body, "\n") {
		trimmed := strings.TrimSpace(line)
		if trimmed == "" || strings.HasPrefix(trimmed, "--") {
			continue
		}
		cur.WriteString(line)
		cur.WriteString("\n")
		if strings.HasSuffix(trimmed, ";") {
			out = append(out, strings.TrimSuffix(strings.TrimSpace(cur.String()), ";"))
			cur.Reset()
		}
	}
	if s := strings.TrimSpace(cur.String()); s != "" {
		out = append(out, s)
	}
	return out
}
