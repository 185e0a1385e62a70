package database

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"testing/fstest"
	"time"

	"github.com/go-sql-driver/mysql"

	"github.com/orderq/orderq/shared/testenv"
)

// openRaw opens dsn with database/sql, closed when the test ends.
func openRaw(t *testing.T, dsn string) *sql.DB {
	t.Helper()
	db, err := sql.Open("mysql", dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

func mustExec(t *testing.T, db interface {
	ExecContext(context.Context, string, ...any) (sql.Result, error)
}, q string, args ...any) {
	t.Helper()
	if _, err := db.ExecContext(context.Background(), q, args...); err != nil {
		t.Fatalf("%s: %v", q, err)
	}
}

// schemaOf returns the definition of every table and view of db's database,
// by name, as the server shows it, without what differs between two
// databases of one schema (the database's name, AUTO_INCREMENT counters).
func schemaOf(t *testing.T, db *sql.DB) map[string]string {
	t.Helper()
	var database string
	if err := db.QueryRow("SELECT DATABASE()").Scan(&database); err != nil {
		t.Fatal(err)
	}
	rows, err := db.Query("SELECT table_name, table_type FROM information_schema.tables WHERE table_schema = DATABASE()")
	if err != nil {
		t.Fatal(err)
	}
	kinds := map[string]string{}
	for rows.Next() {
		var name, kind string
		if err := rows.Scan(&name, &kind); err != nil {
			t.Fatal(err)
		}
		kinds[name] = kind
	}
	if err := errors.Join(rows.Err(), rows.Close()); err != nil {
		t.Fatal(err)
	}
	counter := regexp.MustCompile(` AUTO_INCREMENT=\d+`)
	out := map[string]string{}
	for name, kind := range kinds {
		var got, def string
		if kind == "VIEW" {
			var charset, collation string
			err = db.QueryRow("SHOW CREATE VIEW `"+name+"`").Scan(&got, &def, &charset, &collation)
		} else {
			err = db.QueryRow("SHOW CREATE TABLE `"+name+"`").Scan(&got, &def)
		}
		if err != nil {
			t.Fatalf("show %s: %v", name, err)
		}
		def = strings.ReplaceAll(def, "`"+database+"`.", "")
		out[name] = counter.ReplaceAllString(def, "")
	}
	return out
}

// sameSchema fails the test where got's schema differs from want's.
func sameSchema(t *testing.T, got, want map[string]string) {
	t.Helper()
	for _, name := range slices.Sorted(maps.Keys(want)) {
		switch g, ok := got[name]; {
		case !ok:
			t.Errorf("%s is missing", name)
		case g != want[name]:
			t.Errorf("%s differs:\n%s\nwant\n%s", name, g, want[name])
		}
	}
	for name := range got {
		if _, ok := want[name]; !ok {
			t.Errorf("%s should not be there", name)
		}
	}
}

// appliedVersions returns the versions schema_migrations records, and the
// number of rows of schema_migration_progress.
func appliedVersions(t *testing.T, db *sql.DB) ([]int, int) {
	t.Helper()
	rows, err := db.Query("SELECT version FROM schema_migrations ORDER BY version")
	if err != nil {
		t.Fatal(err)
	}
	var versions []int
	for rows.Next() {
		var v int
		if err := rows.Scan(&v); err != nil {
			t.Fatal(err)
		}
		versions = append(versions, v)
	}
	if err := errors.Join(rows.Err(), rows.Close()); err != nil {
		t.Fatal(err)
	}
	var partial int
	if err := db.QueryRow("SELECT COUNT(*) FROM schema_migration_progress").Scan(&partial); err != nil {
		t.Fatal(err)
	}
	return versions, partial
}

func embedded(t *testing.T) []migration {
	t.Helper()
	ms, err := loadMigrations(schema)
	if err != nil {
		t.Fatal(err)
	}
	if len(ms) == 0 {
		t.Fatal("no migrations embedded")
	}
	return ms
}

func versionsOf(ms []migration) []int {
	var vs []int
	for _, m := range ms {
		vs = append(vs, m.version)
	}
	return vs
}

// before returns the embedded migrations older than version, as a source.
func before(t *testing.T, version int) fs.FS {
	t.Helper()
	src := fstest.MapFS{}
	for _, m := range embedded(t) {
		if m.version < version {
			body, err := fs.ReadFile(schema, m.name)
			if err != nil {
				t.Fatal(err)
			}
			src[m.name] = &fstest.MapFile{Data: body}
		}
	}
	return src
}

// referenceSchema migrates a fresh database the plain way, alone, and
// returns its schema.
func referenceSchema(t *testing.T) map[string]string {
	t.Helper()
	db := openRaw(t, testenv.Database(t))
	if err := migrate(t.Context(), db, testenv.NewLog(t).Logger, schema, time.Minute); err != nil {
		t.Fatal(err)
	}
	return schemaOf(t, db)
}

// migratedBy returns the names of the migrations log says were applied.
func migratedBy(t *testing.T, log *testenv.Log) []string {
	t.Helper()
	var names []string
	for _, r := range log.Records(t) {
		if r["msg"] == "schema migrated" {
			names = append(names, fmt.Sprint(r["migration"]))
		}
	}
	return names
}

// TestOpenMigratesOnceWhenProcessesStartTogether starts processes' worth of
// Open at once on a database that does not exist yet: each gets a working
// database, one of them applies every migration, in order, and the others
// apply none, having waited for it.
func TestOpenMigratesOnceWhenProcessesStartTogether(t *testing.T) {
	t.Parallel()
	want := referenceSchema(t)
	ms := embedded(t)
	cfg, err := mysql.ParseDSN(testenv.Database(t))
	if err != nil {
		t.Fatal(err)
	}
	cfg.DBName += "_new" // Open creates it
	dsn := cfg.FormatDSN()
	t.Cleanup(func() {
		server := *cfg
		server.DBName = ""
		db, err := sql.Open("mysql", server.FormatDSN())
		if err != nil {
			t.Errorf("drop %s: %v", cfg.DBName, err)
			return
		}
		defer db.Close()
		if _, err := db.Exec("DROP DATABASE IF EXISTS `" + cfg.DBName + "`"); err != nil {
			t.Errorf("drop %s: %v", cfg.DBName, err)
		}
	})

	const processes = 8
	logs := make([]*testenv.Log, processes)
	errs := make([]error, processes)
	start := make(chan struct{})
	var wg sync.WaitGroup
	for i := range processes {
		logs[i] = testenv.NewLog(t)
		wg.Go(func() {
			<-start
			db, err := Open(t.Context(), dsn, logs[i].Logger, Options{MaxOpenConns: 2})
			if err == nil {
				err = Close(db)
			}
			errs[i] = err
		})
	}
	close(start)
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("process %d: %v", i, err)
		}
	}
	var names []string
	for _, m := range ms {
		names = append(names, m.name)
	}
	migrators := 0
	for i, log := range logs {
		switch got := migratedBy(t, log); {
		case len(got) == 0:
		case slices.Equal(got, names):
			migrators++
		default:
			t.Errorf("process %d applied %v, want all of %v or none", i, got, names)
		}
	}
	if migrators != 1 {
		t.Errorf("%d processes applied the migrations, want 1", migrators)
	}

	db := openRaw(t, dsn)
	versions, partial := appliedVersions(t, db)
	if !slices.Equal(versions, versionsOf(ms)) || partial != 0 {
		t.Errorf("schema_migrations %v with %d partly applied, want %v and none", versions, partial, versionsOf(ms))
	}
	sameSchema(t, schemaOf(t, db), want)
	if _, err := db.Exec("INSERT INTO items (name, stock, initial_stock, created_at, updated_at) VALUES ('x', -1, 0, NOW(), NOW())"); err == nil {
		t.Error("inserted an item with negative stock")
	}
}

// TestMigrateAfterWaitingAppliesNothing holds the migration lock while
// another process waits for it, migrates the database meanwhile as that other
// process would, and releases it: the waiting process reads the versions
// only once it holds the lock, so it applies nothing.
func TestMigrateAfterWaitingAppliesNothing(t *testing.T) {
	t.Parallel()
	dsn := testenv.Database(t)
	db := openRaw(t, dsn)
	ctx := t.Context()
	holder, err := db.Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer holder.Close()
	var database string
	if err := holder.QueryRowContext(ctx, "SELECT DATABASE()").Scan(&database); err != nil {
		t.Fatal(err)
	}
	var got int
	if err := holder.QueryRowContext(ctx, "SELECT GET_LOCK(?, 0)", lockName(database)).Scan(&got); err != nil || got != 1 {
		t.Fatalf("take the lock: %d, %v", got, err)
	}

	log := testenv.NewLog(t)
	done := make(chan error, 1)
	waiter := openRaw(t, dsn)
	go func() { done <- migrate(ctx, waiter, log.Logger, schema, time.Minute) }()
	// Wait until it waits for the lock.
	deadline := time.Now().Add(30 * time.Second)
	for {
		var waiting int
		err := db.QueryRow(`SELECT COUNT(*) FROM information_schema.processlist
			WHERE db = DATABASE() AND info LIKE 'SELECT GET_LOCK(%'`).Scan(&waiting)
		if err != nil {
			t.Fatal(err)
		}
		if waiting > 0 {
			break
		}
		select {
		case err := <-done:
			t.Fatalf("migrate returned while the lock was held: %v", err)
		default:
		}
		if time.Now().After(deadline) {
			t.Fatal("migrate never waited for the lock")
		}
		time.Sleep(20 * time.Millisecond)
	}
	// What the process holding the lock does: every migration, recorded.
	mustExec(t, holder, `CREATE TABLE schema_migrations (version INT NOT NULL PRIMARY KEY, applied_at DATETIME(6) NOT NULL) ENGINE=InnoDB`)
	for _, m := range embedded(t) {
		for _, stmt := range m.statements {
			mustExec(t, holder, stmt)
		}
		mustExec(t, holder, "INSERT INTO schema_migrations (version, applied_at) VALUES (?, NOW(6))", m.version)
	}
	if err := holder.QueryRowContext(ctx, "SELECT RELEASE_LOCK(?)", lockName(database)).Scan(&got); err != nil || got != 1 {
		t.Fatalf("release the lock: %d, %v", got, err)
	}
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("migrate after waiting: %v", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("migrate still waits after the lock was released")
	}
	if names := migratedBy(t, log); len(names) > 0 {
		t.Errorf("the process that waited applied %v, want nothing", names)
	}
	if versions, partial := appliedVersions(t, db); !slices.Equal(versions, versionsOf(embedded(t))) || partial != 0 {
		t.Errorf("schema_migrations %v with %d partly applied", versions, partial)
	}
}

// TestMigrateLock: a process that cannot have its database's lock within its
// wait refuses to migrate, naming the connection that holds it, and changes
// nothing; a lock on one database holds up no other.
func TestMigrateLock(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	locked, other := openRaw(t, testenv.Database(t)), openRaw(t, testenv.Database(t))
	holder, err := locked.Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer holder.Close()
	var database string
	var holderID, got int
	if err := holder.QueryRowContext(ctx, "SELECT DATABASE(), CONNECTION_ID()").Scan(&database, &holderID); err != nil {
		t.Fatal(err)
	}
	if err := holder.QueryRowContext(ctx, "SELECT GET_LOCK(?, 0)", lockName(database)).Scan(&got); err != nil || got != 1 {
		t.Fatalf("take the lock: %d, %v", got, err)
	}

	err = migrate(ctx, locked, testenv.NewLog(t).Logger, schema, time.Second)
	if err == nil || !strings.Contains(err.Error(), lockName(database)) || !strings.Contains(err.Error(), fmt.Sprintf("connection %d", holderID)) {
		t.Errorf("migrate with the lock held elsewhere: %v, want an error naming the lock and connection %d", err, holderID)
	}
	var tables int
	if err := locked.QueryRow("SELECT COUNT(*) FROM information_schema.tables WHERE table_schema = DATABASE()").Scan(&tables); err != nil {
		t.Fatal(err)
	}
	if tables != 0 {
		t.Errorf("%d tables made without the lock", tables)
	}
	if err := migrate(ctx, other, testenv.NewLog(t).Logger, schema, time.Second); err != nil {
		t.Errorf("migrate another database meanwhile: %v", err)
	}

	if err := holder.QueryRowContext(ctx, "SELECT RELEASE_LOCK(?)", lockName(database)).Scan(&got); err != nil || got != 1 {
		t.Fatalf("release the lock: %d, %v", got, err)
	}
	if err := migrate(ctx, locked, testenv.NewLog(t).Logger, schema, time.Second); err != nil {
		t.Fatalf("migrate once the lock is free: %v", err)
	}
	// The lock went with the migrating session: it is free again.
	var free int
	if err := locked.QueryRow("SELECT IS_FREE_LOCK(?)", lockName(database)).Scan(&free); err != nil || free != 1 {
		t.Errorf("IS_FREE_LOCK after migrating: %d, %v", free, err)
	}
}

func TestLockName(t *testing.T) {
	t.Parallel()
	for _, db := range []string{"orderq", "orderq_test_0123456789ab", strings.Repeat("d", 64)} {
		name := lockName(db)
		if len(name) > 64 || !strings.HasPrefix(name, "orderq.migrate:") {
			t.Errorf("lockName(%q) = %q: want orderq.migrate:… of at most 64 characters", db, name)
		}
		if lockName(db+"x") == name {
			t.Errorf("databases %q and %qx share lock %q", db, db, name)
		}
	}
}

// TestMigrateResumesAStatementInDoubt stops a migration, as a crash would, at
// every statement of every migration: once the statement was committed but
// not recorded, once before it was sent. Both leave it in doubt, and the next
// migrate finishes the schema as a migration never stopped does.
func TestMigrateResumesAStatementInDoubt(t *testing.T) {
	t.Parallel()
	want := referenceSchema(t)
	ms := embedded(t)
	for _, m := range ms {
		for k := range m.statements {
			for _, sent := range []bool{true, false} {
				if !sent && k > 0 {
					continue // the same as a stop after statement k-1, and as a normal start
				}
				name := fmt.Sprintf("%s/statement %d of %d/", m.name, k+1, len(m.statements))
				if sent {
					name += "committed"
				} else {
					name += "not sent"
				}
				t.Run(name, func(t *testing.T) {
					t.Parallel()
					db := openRaw(t, testenv.Database(t))
					log := testenv.NewLog(t)
					if err := migrate(t.Context(), db, log.Logger, before(t, m.version), time.Minute); err != nil {
						t.Fatal(err)
					}
					upTo := k
					if sent {
						upTo = k + 1
					}
					for _, stmt := range m.statements[:upTo] {
						mustExec(t, db, stmt)
					}
					mustExec(t, db, "INSERT INTO schema_migration_progress (version, statements_done, in_doubt, updated_at) VALUES (?, ?, TRUE, NOW(6))", m.version, k)

					if err := migrate(t.Context(), db, log.Logger, schema, time.Minute); err != nil {
						t.Fatalf("migrate after the stop: %v", err)
					}
					versions, partial := appliedVersions(t, db)
					if !slices.Equal(versions, versionsOf(ms)) || partial != 0 {
						t.Errorf("schema_migrations %v with %d partly applied, want %v and none", versions, partial, versionsOf(ms))
					}
					sameSchema(t, schemaOf(t, db), want)
				})
			}
		}
	}
}

// TestMigrateRunsARefusedStatementAsNew: a statement the server refused was
// not applied, so the next start runs it again, from there, as new, and it
// fails the same way (a duplicate column is not taken for one applied
// before) until the migration is fixed; then the migration completes, its
// statements committed before the refusal not run twice.
func TestMigrateRunsARefusedStatementAsNew(t *testing.T) {
	t.Parallel()
	db := openRaw(t, testenv.Database(t))
	log := testenv.NewLog(t).Logger
	broken := fstest.MapFS{
		"0001_t.sql": {Data: []byte("CREATE TABLE t (a INT);\n")},
		"0002_v.sql": {Data: []byte("CREATE TABLE v (c INT);\n-- a mistake: t has a\nALTER TABLE t ADD COLUMN a INT;\n")},
	}
	for try := range 2 {
		err := migrate(t.Context(), db, log, broken, time.Minute)
		var me *mysql.MySQLError
		if !errors.As(err, &me) || me.Number != 1060 || !strings.Contains(err.Error(), "0002_v.sql: statement 2 of 2") {
			t.Fatalf("try %d: %v, want 0002_v.sql's statement 2 refused with a duplicate column", try+1, err)
		}
		var done int
		var inDoubt bool
		if err := db.QueryRow("SELECT statements_done, in_doubt FROM schema_migration_progress WHERE version = 2").Scan(&done, &inDoubt); err != nil {
			t.Fatal(err)
		}
		if done != 1 || inDoubt {
			t.Errorf("try %d: progress %d statements, in doubt %v; want 1, not in doubt", try+1, done, inDoubt)
		}
	}
	fixed := fstest.MapFS{"0001_t.sql": broken["0001_t.sql"], "0002_v.sql": {Data: []byte("CREATE TABLE v (c INT);\nALTER TABLE t ADD COLUMN b INT;\n")}}
	if err := migrate(t.Context(), db, log, fixed, time.Minute); err != nil {
		t.Fatalf("the fixed migration: %v", err)
	}
	var columns string
	if err := db.QueryRow("SELECT GROUP_CONCAT(column_name ORDER BY ordinal_position) FROM information_schema.columns WHERE table_schema = DATABASE() AND table_name = 't'").Scan(&columns); err != nil {
		t.Fatal(err)
	}
	if columns != "a,b" {
		t.Errorf("t has columns %s, want a,b", columns)
	}
	if versions, partial := appliedVersions(t, db); !slices.Equal(versions, []int{1, 2}) || partial != 0 {
		t.Errorf("schema_migrations %v with %d partly applied, want [1 2] and none", versions, partial)
	}
}

// TestMigrationFiles checks what makes a migration safe to run again by
// hand or by a process resuming it: every table and view is made with IF
// NOT EXISTS or OR REPLACE, and every data change names the rows it changes,
// so that a second run changes nothing more. Versions run 1, 2, … without a
// gap.
func TestMigrationFiles(t *testing.T) {
	t.Parallel()
	name := regexp.MustCompile(`^\d{4}_[a-z0-9_]+\.sql$`)
	space := regexp.MustCompile(`\s+`)
	for i, m := range embedded(t) {
		if m.version != i+1 {
			t.Errorf("%s: version %d, want %d", m.name, m.version, i+1)
		}
		if !name.MatchString(m.name) {
			t.Errorf("%s: name it NNNN_what_it_does.sql", m.name)
		}
		if len(m.statements) == 0 {
			t.Errorf("%s has no statement", m.name)
		}
		for j, stmt := range m.statements {
			s := strings.ToUpper(space.ReplaceAllString(stmt, " "))
			switch {
			case strings.HasPrefix(s, "CREATE TABLE ") && !strings.HasPrefix(s, "CREATE TABLE IF NOT EXISTS "):
				t.Errorf("%s, statement %d: CREATE TABLE IF NOT EXISTS", m.name, j+1)
			case strings.HasPrefix(s, "CREATE VIEW "):
				t.Errorf("%s, statement %d: CREATE OR REPLACE VIEW", m.name, j+1)
			case (strings.HasPrefix(s, "UPDATE ") || strings.HasPrefix(s, "DELETE ")) && !strings.Contains(s, " WHERE "):
				t.Errorf("%s, statement %d: a data change needs a WHERE that leaves the rows it changed", m.name, j+1)
			}
		}
	}
}
