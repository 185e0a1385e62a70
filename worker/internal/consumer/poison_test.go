package consumer

import (
	"encoding/json"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	amqp "github.com/rabbitmq/amqp091-go"

	"github.com/orderq/orderq/shared/database"
	"github.com/orderq/orderq/shared/message"
	"github.com/orderq/orderq/shared/order"
	"github.com/orderq/orderq/shared/shard"
)

// TestUndecodableMessagesAreDeadLettered covers the poison the decoder must
// refuse besides bad commands: bodies that are not JSON at all, a version this
// worker does not know (even with commands it could read), trailing data, and
// a command published to the wrong shard. Each is dead-lettered; the good
// orders behind them on the same queue are applied.
func TestUndecodableMessagesAreDeadLettered(t *testing.T) {
	e := newEnv(t)
	item := e.item(t, 10)
	other := e.item(t, 10)
	for shard.Of(other, shards) == shard.Of(item, shards) {
		other = e.item(t, 10)
	}
	future, err := json.Marshal(message.Commands{V: message.Version + 1, Commands: orders(item, 1)})
	if err != nil {
		t.Fatal(err)
	}
	valid, err := message.EncodeCommands(orders(item, 1))
	if err != nil {
		t.Fatal(err)
	}
	misrouted, err := message.EncodeCommands(orders(other, 1))
	if err != nil {
		t.Fatal(err)
	}
	poison := map[string][]byte{
		"not JSON":                  []byte("not json at all"),
		"empty body":                {},
		"binary":                    {0xff, 0xfe, 0x00, 0x01},
		"JSON array":                []byte(`[{"v":1}]`),
		"unknown version":           future,
		"trailing data":             append(append([]byte{}, valid...), []byte(` {"v":1}`)...),
		"command of another shard":  misrouted,
		"unknown field in envelope": []byte(`{"v":1,"commands":[],"x":1}`),
	}
	e.start(t, nil)
	for name, body := range poison {
		t.Logf("publishing poison: %s", name)
		e.publish(t, item, body)
	}
	good := orders(item, 2)
	body, err := message.EncodeCommands(good)
	if err != nil {
		t.Fatal(err)
	}
	e.publish(t, item, body)

	deadline := time.Now().Add(30 * time.Second)
	for {
		var applied, dead int64
		if err := e.db.Raw("SELECT COUNT(*) FROM report_order_lines WHERE order_id IN ?", []string{good[0].ID, good[1].ID}).Scan(&applied).Error; err != nil {
			t.Fatal(err)
		}
		q, err := e.ch.QueueDeclarePassive(message.DeadQueue, true, false, false, false, amqp.Table{amqp.QueueTypeArg: amqp.QueueTypeQuorum})
		if err != nil {
			t.Fatal(err)
		}
		dead = int64(q.Messages)
		if applied == 2 && dead == int64(len(poison)) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d of 2 good orders applied, %d of %d poison messages dead-lettered", applied, dead, len(poison))
		}
		time.Sleep(50 * time.Millisecond)
	}
	var n int64
	if err := e.db.Raw("SELECT COUNT(*) FROM report_order_lines WHERE item_id = ?", other).Scan(&n).Error; err != nil {
		t.Fatal(err)
	}
	if n != 0 {
		t.Errorf("the misrouted order was applied (%d lines for item %d)", n, other)
	}
}

// TestUnknownOrderIsDeadLetteredWithItsReason: a release and a part of an
// order that is not stored are dead-lettered, each logged with why, and the
// orders around them on the same queue (in the same batch) are applied.
func TestUnknownOrderIsDeadLetteredWithItsReason(t *testing.T) {
	e := newEnv(t)
	var logs syncBuffer
	e.log = slog.New(slog.NewJSONHandler(&logs, nil))
	item := e.item(t, 10)
	release := message.Command{Kind: message.KindRelease, ID: uuid.NewString(), AcceptedAt: time.Now(),
		Lines: []message.Line{{No: 0, ItemID: item, Quantity: 1}}}
	part := message.Command{Kind: message.KindOrderPart, ID: uuid.NewString(), AcceptedAt: time.Now(), CustomerID: "c",
		Parts: 2, Lines: []message.Line{{No: 1, ItemID: item, Quantity: 1}}}
	before, after := orders(item, 1), orders(item, 1)
	// Published before the consumer starts, so that they arrive together.
	for _, cmds := range [][]message.Command{before, {release}, {part}, after} {
		body, err := message.EncodeCommands(cmds)
		if err != nil {
			t.Fatal(err)
		}
		e.publish(t, item, body)
	}
	e.start(t, nil)

	deadline := time.Now().Add(30 * time.Second)
	for {
		var applied int64
		if err := e.db.Raw("SELECT COUNT(*) FROM orders WHERE id IN ?", database.IDs([]string{before[0].ID, after[0].ID})).Scan(&applied).Error; err != nil {
			t.Fatal(err)
		}
		q, err := e.ch.QueueDeclarePassive(message.DeadQueue, true, false, false, false, amqp.Table{amqp.QueueTypeArg: amqp.QueueTypeQuorum})
		if err != nil {
			t.Fatal(err)
		}
		if applied == 2 && q.Messages == 2 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d of 2 good orders applied, %d of 2 messages dead-lettered", applied, q.Messages)
		}
		time.Sleep(50 * time.Millisecond)
	}
	waitQueueEmpty(t, e.ch, message.ShardQueue(shard.Of(item, shards)))
	out := logs.String()
	for _, cmd := range []message.Command{release, part} {
		found := false
		for _, line := range strings.Split(out, "\n") {
			if strings.Contains(line, `"msg":"dead-lettering message"`) && strings.Contains(line, cmd.ID) &&
				strings.Contains(line, order.ErrUnknownOrder.Error()) {
				found = true
			}
		}
		if !found {
			t.Errorf("no dead-lettering of the %s of unknown order %s logged with its reason:\n%s", cmd.Kind, cmd.ID, out)
		}
	}
	if s, _ := stockOf(t, e.db, item); s != 8 {
		t.Errorf("stock %d, want 8: the two good orders' units taken, nothing given back", s)
	}
}
