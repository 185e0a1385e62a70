package consumer

import (
	"encoding/json"
	"testing"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"

	"github.com/orderq/orderq/shared/message"
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
	valid, _ := message.EncodeCommands(orders(item, 1))
	misrouted, _ := message.EncodeCommands(orders(other, 1))
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
	body, _ := message.EncodeCommands(good)
	e.publish(t, item, body)

	deadline := time.Now().Add(30 * time.Second)
	for {
		var applied, dead int64
		e.db.Raw("SELECT COUNT(*) FROM all_order_lines WHERE order_id IN ?", []string{good[0].ID, good[1].ID}).Scan(&applied)
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
	e.db.Raw("SELECT COUNT(*) FROM all_order_lines WHERE item_id = ?", other).Scan(&n)
	if n != 0 {
		t.Errorf("the misrouted order was applied (%d lines for item %d)", n, other)
	}
}
