package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	amqp "github.com/rabbitmq/amqp091-go"

	"github.com/orderq/orderq/shared/cli"
	"github.com/orderq/orderq/shared/message"
	"github.com/orderq/orderq/shared/mq"
	"github.com/orderq/orderq/shared/testenv"
)

// deadLettered makes, on a vhost of its own with orderq's topology, two
// letters the worker refused on shard 0 (nacked, as a poison message is) and
// one the orders exchange could not route (key 9, no such shard). It returns
// the vhost's URL, a connection and a channel to it, and the letters' ids.
func deadLettered(t *testing.T) (string, *amqp.Connection, *amqp.Channel, []string) {
	t.Helper()
	url := testenv.Vhost(t)
	conn, err := mq.Dial(url, "orderqctl-test")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	if err := mq.DeclareTopology(conn, mq.Topology{Shards: 2, MaxLength: 1000}, slog.New(slog.NewTextHandler(io.Discard, nil))); err != nil {
		t.Fatal(err)
	}
	ch, err := conn.Channel()
	if err != nil {
		t.Fatal(err)
	}
	if err := ch.Confirm(false); err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, key := range []string{"0", "0", "9"} {
		id := uuid.NewString()
		body, err := message.EncodeCommands([]message.Command{{Kind: message.KindOrder, ID: uuid.NewString(),
			AcceptedAt: time.Now(), CustomerID: "c-1", Parts: 1, Lines: []message.Line{{ItemID: 1, Quantity: 1}}}})
		if err != nil {
			t.Fatal(err)
		}
		conf, err := ch.PublishWithDeferredConfirmWithContext(t.Context(), message.OrdersExchange, key, false, false,
			amqp.Publishing{MessageId: id, ContentType: message.ContentType, DeliveryMode: amqp.Persistent, Body: body})
		if err != nil {
			t.Fatal(err)
		}
		if ok, err := conf.WaitContext(t.Context()); !ok || err != nil {
			t.Fatalf("publish %s: confirmed %v, %v", id, ok, err)
		}
		ids = append(ids, id)
	}
	take(t, conn, message.ShardQueue(0), 2, func(d amqp.Delivery) error { return d.Nack(false, false) })
	waitLength(t, ch, message.DeadQueue, 3)
	return url, conn, ch, ids
}

// take consumes n messages of a shard queue (a single-active-consumer
// queue, which basic.get cannot read), settles each with settle, and returns
// them.
func take(t *testing.T, conn *amqp.Connection, queue string, n int, settle func(amqp.Delivery) error) []amqp.Delivery {
	t.Helper()
	ch, err := conn.Channel()
	if err != nil {
		t.Fatal(err)
	}
	defer ch.Close()
	msgs, err := ch.Consume(queue, "", false, false, false, false, nil)
	if err != nil {
		t.Fatalf("consume %s: %v", queue, err)
	}
	var got []amqp.Delivery
	for range n {
		select {
		case d := <-msgs:
			if err := settle(d); err != nil {
				t.Fatal(err)
			}
			got = append(got, d)
		case <-time.After(10 * time.Second):
			t.Fatalf("%d messages of %s, want %d", len(got), queue, n)
		}
	}
	return got
}

// get reads one message of the dead letters, waiting for it a while.
func get(t *testing.T, ch *amqp.Channel, queue string) amqp.Delivery {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		d, ok, err := ch.Get(queue, false)
		if err != nil {
			t.Fatalf("get from %s: %v", queue, err)
		}
		if ok {
			return d
		}
	}
	t.Fatalf("no message in %s", queue)
	return amqp.Delivery{}
}

// waitLength waits until queue holds n messages, ready to be read.
func waitLength(t *testing.T, ch *amqp.Channel, queue string, n int) {
	t.Helper()
	var q amqp.Queue
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		var err error
		if q, err = ch.QueueDeclarePassive(queue, true, false, false, false, nil); err != nil {
			t.Fatalf("queue %s: %v", queue, err)
		}
		if q.Messages == n {
			return
		}
	}
	t.Fatalf("queue %s holds %d messages, want %d", queue, q.Messages, n)
}

func runDeadLetters(t *testing.T, url string, args ...string) (string, int) {
	t.Helper()
	var stdout bytes.Buffer
	e := env{getenv: testenv.Env(map[string]string{"AMQP_URL": url}), stdout: &stdout, stderr: io.Discard}
	err := run(context.Background(), append([]string{"dead-letters"}, args...), e)
	return stdout.String(), cli.Code(err)
}

func TestDeadLetters(t *testing.T) {
	t.Parallel()
	url, conn, ch, ids := deadLettered(t)

	out, code := runDeadLetters(t, url, "list")
	if code != cli.ExitOK || !strings.Contains(out, "3 dead letters listed") || strings.Count(out, " rejected at ") != 2 ||
		strings.Count(out, " unroutable at ") != 1 {
		t.Fatalf("list: exit %d\n%s", code, out)
	}
	for _, id := range ids {
		if !strings.Contains(out, id) {
			t.Errorf("list does not name %s:\n%s", id, out)
		}
	}
	waitLength(t, ch, message.DeadQueue, 3) // listing keeps them

	out, code = runDeadLetters(t, url, "show", ids[1], "--json")
	var l letter
	if err := json.Unmarshal([]byte(out), &l); err != nil || code != cli.ExitOK {
		t.Fatalf("show: exit %d, %v\n%s", code, err, out)
	}
	if l.MessageID != ids[1] || l.Reason != "rejected" || l.Queue != message.ShardQueue(0) || l.RoutingKey != "0" ||
		len(l.Commands) != 1 || !strings.HasPrefix(l.Commands[0], "order ") || l.Body == "" {
		t.Errorf("show: %+v", l)
	}
	if _, code := runDeadLetters(t, url, "show", uuid.NewString()); code != cli.ExitFailed {
		t.Errorf("show of an unknown letter: exit %d, want %d", code, cli.ExitFailed)
	}

	// One letter, by id: back in its shard's queue, as it was published,
	// and no more a dead letter.
	if out, code := runDeadLetters(t, url, "redrive", ids[0]); code != cli.ExitOK || !strings.Contains(out, "1 dead letters re-driven") {
		t.Fatalf("redrive %s: exit %d\n%s", ids[0], code, out)
	}
	ack := func(d amqp.Delivery) error { return d.Ack(false) }
	if d := take(t, conn, message.ShardQueue(0), 1, ack)[0]; d.MessageId != ids[0] || d.Headers["x-death"] != nil {
		t.Errorf("re-driven message %s, headers %v; want %s without its death", d.MessageId, d.Headers, ids[0])
	}
	waitLength(t, ch, message.DeadQueue, 2)
	if _, code := runDeadLetters(t, url, "redrive", uuid.NewString()); code != cli.ExitFailed {
		t.Errorf("redrive of an unknown letter: exit %d, want %d", code, cli.ExitFailed)
	}
	waitLength(t, ch, message.DeadQueue, 2)

	// Every letter: the refused one goes back to shard 0; the unroutable one
	// is again unroutable, and the orders exchange dead-letters it again.
	if out, code := runDeadLetters(t, url, "redrive", "--all"); code != cli.ExitOK || !strings.Contains(out, "2 dead letters re-driven") {
		t.Fatalf("redrive --all: exit %d\n%s", code, out)
	}
	if d := take(t, conn, message.ShardQueue(0), 1, ack)[0]; d.MessageId != ids[1] {
		t.Errorf("shard 0 got %s, want %s", d.MessageId, ids[1])
	}
	waitLength(t, ch, message.DeadQueue, 1)
	if d := get(t, ch, message.DeadQueue); d.MessageId != ids[2] {
		t.Errorf("the dead letters hold %s, want the unroutable %s", d.MessageId, ids[2])
	}
}

func TestDeadLettersUsage(t *testing.T) {
	t.Parallel()
	for _, args := range [][]string{{}, {"list", "x"}, {"show"}, {"redrive"}, {"redrive", "--all", "x"}, {"purge"}} {
		if _, code := runDeadLetters(t, "amqp://127.0.0.1:1/", args...); code != cli.ExitUsage {
			t.Errorf("dead-letters %v: exit %d, want %d", args, code, cli.ExitUsage)
		}
	}
	if _, code := runDeadLetters(t, "amqp://guest:guest@127.0.0.1:1/", "list"); code != cli.ExitCannot {
		t.Errorf("an unreachable broker: exit %d, want %d", code, cli.ExitCannot)
	}
}
