package database

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/go-sql-driver/mysql"
	"gorm.io/gorm"

	"github.com/orderq/orderq/shared/testenv"
)

func TestUnavailableClassifies(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		err  error
		want bool
	}{
		{"nil", nil, false},
		{"marked", fmt.Errorf("%w: no answer", ErrUnavailable), true},
		{"server shutting down", &mysql.MySQLError{Number: 1053, Message: "Server shutdown in progress"}, true},
		{"too many connections", &mysql.MySQLError{Number: 1040, Message: "Too many connections"}, true},
		{"gone away, wrapped", fmt.Errorf("apply: %w", &mysql.MySQLError{Number: 2006, Message: "MySQL server has gone away"}), true},
		{"lost connection", &mysql.MySQLError{Number: 2013, Message: "Lost connection to server during query"}, true},
		{"deadline", fmt.Errorf("look up: %w", context.DeadlineExceeded), true},
		{"syntax error", &mysql.MySQLError{Number: 1064, Message: "You have an error in your SQL syntax"}, false},
		{"deadlock", &mysql.MySQLError{Number: 1213, Message: "Deadlock found"}, false},
		{"duplicate key", fmt.Errorf("insert: %w", gorm.ErrDuplicatedKey), false},
		{"no row", gorm.ErrRecordNotFound, false},
		{"canceled", context.Canceled, false},
		{"other", errors.New("boom"), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := Unavailable(tt.err); got != tt.want {
				t.Errorf("Unavailable(%v) = %v, want %v", tt.err, got, tt.want)
			}
		})
	}
}

// TestUnavailableWhenTheServerCrashes classifies what really comes back from
// a pool whose server was SIGKILLed with statements in flight, while it is
// down, and once it is back.
func TestUnavailableWhenTheServerCrashes(t *testing.T) {
	t.Parallel()
	m := testenv.StartMariaDB(t, nil)
	dsn := fmt.Sprintf("root@tcp(127.0.0.1:%d)/orderq?parseTime=true&charset=utf8mb4", m.Port)
	ctx := t.Context()
	db, err := Open(ctx, dsn, discard, Options{MaxOpenConns: 4})
	if err != nil {
		t.Fatalf("open: %v", err)
	}
	t.Cleanup(func() {
		if err := Close(db); err != nil {
			t.Errorf("close: %v", err)
		}
	})
	// Every connection of the pool open, so the crash breaks idle ones too.
	var wg sync.WaitGroup
	errs := make([]error, 4)
	for i := range errs {
		wg.Go(func() { errs[i] = db.WithContext(ctx).Exec("DO SLEEP(0.1)").Error })
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		t.Fatalf("fill the pool: %v", err)
	}

	refused := []struct {
		name string
		err  error
	}{
		{"syntax error", db.WithContext(ctx).Exec("SELEC 1").Error},
		{"duplicate key", db.WithContext(ctx).Exec("INSERT INTO orderq_meta (name, value) VALUES ('k', '1'), ('k', '2')").Error},
	}
	for _, r := range refused {
		if r.err == nil || Unavailable(r.err) {
			t.Errorf("%s: %v; want an error that is not unavailability", r.name, r.err)
		}
	}

	inFlight := make(chan error, 1)
	go func() { inFlight <- db.WithContext(ctx).Exec("DO SLEEP(30)").Error }()
	tx := db.WithContext(ctx).Begin()
	if tx.Error != nil {
		t.Fatalf("begin: %v", tx.Error)
	}
	if err := tx.Exec("INSERT INTO orderq_meta (name, value) VALUES ('crash', '1')").Error; err != nil {
		t.Fatalf("insert in the transaction: %v", err)
	}
	time.Sleep(200 * time.Millisecond) // the sleep reached the server
	m.Kill()

	var n int64
	down := []struct {
		name string
		err  error
	}{
		{"statement in flight", <-inFlight},
		{"commit of an open transaction", tx.Commit().Error},
		{"query on the pool", db.WithContext(ctx).Raw("SELECT COUNT(*) FROM orderq_meta").Scan(&n).Error},
		{"ping", Ping(ctx, db)},
		{"open", func() error {
			_, err := Open(ctx, dsn, discard, Options{})
			return err
		}()},
	}
	for _, d := range down {
		if d.err == nil || !Unavailable(d.err) {
			t.Errorf("%s with the server down: %v; want unavailability", d.name, d.err)
		}
		t.Logf("%s: %v", d.name, d.err)
	}

	m.Restart()
	if err := db.WithContext(ctx).Raw("SELECT COUNT(*) FROM orderq_meta WHERE name = 'crash'").Scan(&n).Error; err != nil {
		t.Fatalf("query after the restart: %v", err)
	}
	if n != 0 {
		t.Errorf("the transaction the crash cut short left %d rows", n)
	}
}
