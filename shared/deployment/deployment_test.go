package deployment

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"sync"
	"testing"
	"time"

	"gorm.io/gorm"

	"github.com/orderq/orderq/shared/database"
	"github.com/orderq/orderq/shared/testenv"
)

func openDB(t *testing.T) *gorm.DB {
	t.Helper()
	db, err := database.Open(t.Context(), testenv.Database(t), slog.New(slog.DiscardHandler), database.Options{MaxOpenConns: 8})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { database.Close(db) })
	return db
}

func TestCheck(t *testing.T) {
	db := openDB(t)
	if err := Check(t.Context(), db, 4); err != nil {
		t.Fatalf("first check: %v", err)
	}
	if err := Check(t.Context(), db, 4); err != nil {
		t.Fatalf("same count again: %v", err)
	}
	if err := Check(t.Context(), db, 8); !errors.Is(err, ErrShardsMismatch) {
		t.Fatalf("other count: err = %v, want ErrShardsMismatch", err)
	}
}

// TestChange: the count changes only with nothing left to route by the old
// one, and only from the count the caller names; a Guard of the old count
// fails after it, and one in a transaction still open holds it back.
func TestChange(t *testing.T) {
	db := openDB(t)
	ctx := t.Context()
	if err := Check(ctx, db, 4); err != nil {
		t.Fatal(err)
	}
	drained := func(*gorm.DB) error { return nil }
	left := errors.New("a command is left")
	if err := Change(ctx, db, 4, 8, func(*gorm.DB) error { return left }); !errors.Is(err, left) {
		t.Fatalf("Change with a command left: %v, want drained's refusal", err)
	}
	if err := Change(ctx, db, 2, 8, drained); !errors.Is(err, ErrShardsMismatch) {
		t.Fatalf("Change from a count the deployment does not run: %v", err)
	}
	if st, err := Read(ctx, db); err != nil || st.Shards != 4 {
		t.Fatalf("after refused changes: %+v, %v; want 4 shards", st, err)
	}

	// A transaction routing by 4 holds the change back until it ends.
	tx := db.Begin()
	if err := Guard(tx, 4); err != nil {
		t.Fatal(err)
	}
	changed := make(chan error, 1)
	go func() { changed <- Change(context.WithoutCancel(ctx), db, 4, 8, drained) }()
	select {
	case err := <-changed:
		t.Fatalf("Change did not wait for a transaction routing by the old count: %v", err)
	case <-time.After(300 * time.Millisecond):
	}
	if err := tx.Commit().Error; err != nil {
		t.Fatal(err)
	}
	if err := <-changed; err != nil {
		t.Fatalf("Change: %v", err)
	}
	if err := db.Transaction(func(tx *gorm.DB) error { return Guard(tx, 4) }); !errors.Is(err, ErrShardsChanged) {
		t.Errorf("Guard of the old count after the change: %v, want ErrShardsChanged", err)
	}
	if err := db.Transaction(func(tx *gorm.DB) error { return Guard(tx, 8) }); err != nil {
		t.Errorf("Guard of the new count: %v", err)
	}
	if err := Check(ctx, db, 4); !errors.Is(err, ErrShardsMismatch) {
		t.Errorf("a program of the old count starting: %v, want ErrShardsMismatch", err)
	}
}

// TestWatch: the intake's changes reach the watcher, and a change of the
// count ends it with ErrShardsChanged.
func TestWatch(t *testing.T) {
	db := openDB(t)
	ctx := t.Context()
	if err := Check(ctx, db, 4); err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var seen []bool
	done := make(chan error, 1)
	go func() {
		done <- Watch(ctx, db, 4, slog.New(slog.NewTextHandler(io.Discard, nil)), func(open bool) {
			mu.Lock()
			seen = append(seen, open)
			mu.Unlock()
		})
	}()
	waitSeen := func(want ...bool) {
		t.Helper()
		deadline := time.Now().Add(5 * time.Second)
		for {
			mu.Lock()
			got := append([]bool(nil), seen...)
			mu.Unlock()
			if len(got) == len(want) {
				for i := range got {
					if got[i] != want[i] {
						t.Fatalf("intake seen %v, want %v", got, want)
					}
				}
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("intake seen %v, want %v", got, want)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	waitSeen(true)
	if err := SetIntake(ctx, db, false); err != nil {
		t.Fatal(err)
	}
	waitSeen(true, false)
	if err := SetIntake(ctx, db, true); err != nil {
		t.Fatal(err)
	}
	waitSeen(true, false, true)
	if err := Change(ctx, db, 4, 6, func(*gorm.DB) error { return nil }); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-done:
		if !errors.Is(err, ErrShardsChanged) {
			t.Errorf("Watch ended with %v, want ErrShardsChanged", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Watch went on after the count changed")
	}
}
