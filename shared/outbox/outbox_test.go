package outbox

import (
	"context"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/google/uuid"
	"gorm.io/gorm"

	"github.com/orderq/orderq/shared/database"
	"github.com/orderq/orderq/shared/message"
	"github.com/orderq/orderq/shared/testenv"
)

func TestBacklog(t *testing.T) {
	t.Parallel()
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	ctx := context.Background()
	db, err := database.Open(ctx, testenv.Database(t), quiet, database.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { database.Close(db) })

	b, err := ReadBacklog(ctx, db)
	if err != nil {
		t.Fatal(err)
	}
	if b != (Backlog{}) {
		t.Errorf("empty outbox: backlog %+v, want none", b)
	}

	release := func() message.Command {
		return message.Command{Kind: message.KindRelease, ID: uuid.NewString(), AcceptedAt: time.Now(),
			Lines: []message.Line{{ItemID: 1, Quantity: 1}}}
	}
	if err := db.Transaction(func(tx *gorm.DB) error { return Add(tx, 4, release(), release()) }); err != nil {
		t.Fatal(err)
	}
	// The oldest row, by id, written 90 s ago: its age is what the alert on
	// outbox rows older than a minute reads.
	if err := db.Exec("UPDATE outbox SET created_at = ? ORDER BY id LIMIT 1", time.Now().UTC().Add(-90*time.Second)).Error; err != nil {
		t.Fatal(err)
	}
	if b, err = ReadBacklog(ctx, db); err != nil {
		t.Fatal(err)
	}
	if b.Rows != 2 || b.Oldest < 90*time.Second || b.Oldest > 100*time.Second {
		t.Errorf("backlog %+v, want 2 rows, the oldest 90 s old", b)
	}

	reported := make(chan Backlog, 1)
	wctx, stop := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		Watch(wctx, db, time.Hour, func(b Backlog) { reported <- b }, quiet)
		close(done)
	}()
	select {
	case got := <-reported:
		if got.Rows != 2 {
			t.Errorf("Watch reported %+v, want 2 rows", got)
		}
	case <-time.After(10 * time.Second):
		t.Error("Watch reported nothing at its start")
	}
	stop()
	<-done
}
