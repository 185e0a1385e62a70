package stock

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/google/uuid"
	"gorm.io/gorm"

	"github.com/orderq/orderq/shared/database"
	"github.com/orderq/orderq/shared/message"
	"github.com/orderq/orderq/shared/order"
	"github.com/orderq/orderq/shared/orderstatus"
	"github.com/orderq/orderq/shared/orderstore"
)

// outboxed takes the commands the outbox holds, oldest first, as the relay
// would, without applying them.
func outboxed(t *testing.T, db *gorm.DB) []message.Command {
	t.Helper()
	var rows []struct {
		ID   int64
		Body []byte
	}
	if err := db.Raw("SELECT id, body FROM outbox ORDER BY id").Scan(&rows).Error; err != nil {
		t.Fatalf("read outbox: %v", err)
	}
	var cmds []message.Command
	for _, r := range rows {
		cs, err := message.DecodeCommands(r.Body)
		if err != nil {
			t.Fatalf("outbox row %d: %v", r.ID, err)
		}
		if err := db.Exec("DELETE FROM outbox WHERE id = ?", r.ID).Error; err != nil {
			t.Fatalf("delete outbox row %d: %v", r.ID, err)
		}
		cmds = append(cmds, cs...)
	}
	return cmds
}

// published returns the one result a batch's results hold for order id,
// after checking that it carries the order as stored, and with kind.
func published(t *testing.T, db *gorm.DB, rs []message.Result, id string, kind message.Kind) message.Order {
	t.Helper()
	var found []message.Result
	for _, r := range rs {
		if r.ID == id {
			found = append(found, r)
		}
	}
	if len(found) != 1 || found[0].Order == nil {
		t.Fatalf("%d results for order %s, want 1 with the order: %+v", len(found), id, found)
	}
	if found[0].Kind != kind {
		t.Errorf("result of kind %s, want %s", found[0].Kind, kind)
	}
	got := *found[0].Order
	if stored := loadOrder(t, db, id); !sameOrder(got, stored) {
		t.Errorf("published %+v\nstored    %+v", got, stored)
	}
	return got
}

func lineStatuses(o message.Order) []orderstatus.LineStatus {
	st := make([]orderstatus.LineStatus, len(o.Lines))
	for i, l := range o.Lines {
		st[i] = l.Status
	}
	return st
}

func assertLines(t *testing.T, o message.Order, want ...orderstatus.LineStatus) {
	t.Helper()
	if got := lineStatuses(o); !slices.Equal(got, want) {
		t.Errorf("lines %v, want %v", got, want)
	}
}

// TestEveryChangeIsPublished: whatever a batch changes in an order — its
// decision, a part decided on another shard, a release — the batch's results
// carry the order as stored after it, once, with an updated_at later than
// the state before it, so that a gateway's cache, which keeps the newest
// state, takes it.
func TestEveryChangeIsPublished(t *testing.T) {
	t.Parallel()
	db := openDB(t)
	s := NewStore(db, shards)
	apply := func(t *testing.T, cmds ...message.Command) []message.Result {
		t.Helper()
		rs, err := s.Apply(context.Background(), cmds)
		if err != nil {
			t.Fatalf("apply: %v", err)
		}
		return rs
	}

	t.Run("decision, once however often the batch holds the order", func(t *testing.T) {
		item := addItem(t, db, 5, 0)
		o := buy(item, 2, "d1")
		got := published(t, db, apply(t, o, o), o.ID, message.KindOrder)
		if got.Status != orderstatus.Confirmed {
			t.Errorf("order %s, want confirmed", got.Status)
		}
		assertLines(t, got, orderstatus.Reserved)
	})

	t.Run("rejected at its decision: its line never held stock", func(t *testing.T) {
		item := addItem(t, db, 1, 0)
		o := buy(item, 2, "d2")
		got := published(t, db, apply(t, o), o.ID, message.KindOrder)
		if got.Status != orderstatus.Rejected || got.Lines[0].Reason == nil || *got.Lines[0].Reason != message.ReasonOutOfStock {
			t.Errorf("order %s, line %+v; want rejected out_of_stock", got.Status, got.Lines[0])
		}
		assertLines(t, got, orderstatus.LineRejected)
	})

	t.Run("a cart: its home part, each other part, its decision", func(t *testing.T) {
		a, b, c := addItemOnShard(t, db, 2, 1), addItemOnShard(t, db, 2, 2), addItemOnShard(t, db, 2, 3)
		o := cart("p1", [2]int64{a, 1}, [2]int64{b, 1}, [2]int64{c, 1})
		home := published(t, db, apply(t, o), o.ID, message.KindOrder)
		if home.Status != orderstatus.Pending {
			t.Fatalf("after its home part: %s, want pending", home.Status)
		}
		assertLines(t, home, orderstatus.Reserved, orderstatus.LinePending, orderstatus.LinePending)
		parts := outboxed(t, db)
		if len(parts) != 2 {
			t.Fatalf("%d parts queued, want 2", len(parts))
		}
		part := published(t, db, apply(t, parts[0]), o.ID, message.KindOrderPart)
		if part.Status != orderstatus.Pending || !part.UpdatedAt.After(home.UpdatedAt) {
			t.Errorf("after a part: %s at %v, want pending after %v", part.Status, part.UpdatedAt, home.UpdatedAt)
		}
		assertLines(t, part, orderstatus.Reserved, orderstatus.Reserved, orderstatus.LinePending)
		decided := published(t, db, apply(t, parts[1]), o.ID, message.KindOrder)
		if decided.Status != orderstatus.Confirmed || !decided.UpdatedAt.After(part.UpdatedAt) {
			t.Errorf("after the last part: %s at %v, want confirmed after %v", decided.Status, decided.UpdatedAt, part.UpdatedAt)
		}
		assertLines(t, decided, orderstatus.Reserved, orderstatus.Reserved, orderstatus.Reserved)
	})

	t.Run("a cart rejected by a part: the release of its home line", func(t *testing.T) {
		a, b := addItemOnShard(t, db, 2, 1), addItemOnShard(t, db, 0, 2)
		o := cart("p2", [2]int64{a, 1}, [2]int64{b, 1})
		apply(t, o)
		decided := published(t, db, apply(t, outboxed(t, db)...), o.ID, message.KindOrder)
		if decided.Status != orderstatus.Rejected {
			t.Fatalf("order %s, want rejected", decided.Status)
		}
		assertLines(t, decided, orderstatus.Reserved, orderstatus.LineRejected)
		released := published(t, db, apply(t, outboxed(t, db)...), o.ID, message.KindRelease)
		assertLines(t, released, orderstatus.Released, orderstatus.LineRejected)
		if !released.UpdatedAt.After(decided.UpdatedAt) {
			t.Errorf("released at %v, not after the decision at %v", released.UpdatedAt, decided.UpdatedAt)
		}
		assertLedger(t, db, a, 2)
	})

	t.Run("a cancellation's release, after a change stamped by a clock ahead", func(t *testing.T) {
		item := addItem(t, db, 3, 0)
		o := buy(item, 2, "r1")
		apply(t, o)
		canceled, err := orderstore.Move(context.Background(), db, o.ID, orderstatus.Canceled, shards, nil)
		if err != nil {
			t.Fatalf("cancel: %v", err)
		}
		assertLines(t, canceled, orderstatus.Reserved) // until its shard gives the stock back
		// The gateway that canceled it runs a minute ahead of this worker.
		ahead := canceled.UpdatedAt.Add(time.Minute)
		if err := db.Table("orders").Where("id = ?", database.ID(o.ID)).Update("updated_at", ahead).Error; err != nil {
			t.Fatal(err)
		}
		releases := outboxed(t, db)
		released := published(t, db, apply(t, releases...), o.ID, message.KindRelease)
		if released.Status != orderstatus.Canceled || !released.UpdatedAt.After(ahead) {
			t.Errorf("after the release: %s at %v, want canceled after %v", released.Status, released.UpdatedAt, ahead)
		}
		assertLines(t, released, orderstatus.Released)
		assertLedger(t, db, item, 3)

		// Applied again (a redelivery), it changes nothing and publishes the
		// order as it stands.
		again := published(t, db, apply(t, releases...), o.ID, message.KindRelease)
		if !sameOrder(again, released) {
			t.Errorf("release applied again published %+v, want %+v", again, released)
		}
		assertLedger(t, db, item, 3)
	})
}

// TestUnknownOrderIsRefused: a part or a release of an order that is not
// stored can never be applied; the batch holding it is refused with
// ErrUnknownOrder (the consumer then applies its messages one by one and
// dead-letters that one), and nothing of it is applied.
func TestUnknownOrderIsRefused(t *testing.T) {
	t.Parallel()
	db := openDB(t)
	s := NewStore(db, shards)
	tests := []struct {
		name string
		cmd  func(item int64) message.Command
	}{
		{"release", func(item int64) message.Command {
			return message.Command{Kind: message.KindRelease, ID: uuid.NewString(), AcceptedAt: time.Now(),
				Lines: []message.Line{{No: 0, ItemID: item, Quantity: 1}}}
		}},
		{"part", func(item int64) message.Command {
			return message.Command{Kind: message.KindOrderPart, ID: uuid.NewString(), AcceptedAt: time.Now(), CustomerID: "u",
				Parts: 2, Lines: []message.Line{{No: 1, ItemID: item, Quantity: 1}}}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			item := addItem(t, db, 5, 0)
			good, bad := buy(item, 1, "u1"), tt.cmd(item)
			rs, err := s.Apply(context.Background(), []message.Command{good, bad})
			if !errors.Is(err, order.ErrUnknownOrder) {
				t.Fatalf("Apply = %d results, %v; want ErrUnknownOrder", len(rs), err)
			}
			var n int64
			if err := db.Table("orders").Where("id IN ?", database.IDs([]string{good.ID, bad.ID})).Count(&n).Error; err != nil {
				t.Fatal(err)
			}
			if n != 0 {
				t.Errorf("%d orders of the refused batch stored", n)
			}
			assertLedger(t, db, item, 5)
			// The good command alone, as the consumer retries it, applies.
			if got := outcome(applyEach(t, s, good), good.ID); got != string(orderstatus.Confirmed) {
				t.Errorf("the good order alone: %s, want confirmed", got)
			}
		})
	}
}
