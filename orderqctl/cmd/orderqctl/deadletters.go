package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"

	"github.com/orderq/orderq/shared/cli"
	"github.com/orderq/orderq/shared/config"
	"github.com/orderq/orderq/shared/message"
	"github.com/orderq/orderq/shared/mq"
)

var deadLettersCommand = command{
	name:    "dead-letters",
	usage:   "dead-letters list|show ID|redrive (--all|ID…)",
	summary: "list, show or re-drive the dead letters",
	about: `Works on the queue of dead letters, orderq.orders.dead, without the shovel
plugin:

  list            each dead letter: its message id, why and where it died,
                  and what it holds (up to --limit)
  show ID         one dead letter whole: its headers and its body
  redrive --all   publishes every dead letter back to orderq.orders with the
  redrive ID…     routing key it died with, or only those named, each removed
                  from the dead letters once the broker confirmed it. The
                  worker applies a command once, so one that was in fact
                  applied before changes nothing.

A letter is read and put back (list, show): the queue keeps every letter, at
its back.

Environment: AMQP_URL (required), as the gateway and the worker read it.
`,
	flags: func(fs *flag.FlagSet) func(context.Context, env, []string) error {
		limit := fs.Int("limit", 100, "list: the most letters to list")
		all := fs.Bool("all", false, "redrive: every dead letter")
		asJSON := fs.Bool("json", false, "list, show: print JSON instead of text")
		return func(ctx context.Context, e env, args []string) error {
			return deadLetters(ctx, e, args, *limit, *all, *asJSON)
		}
	},
}

// letter is a dead letter as listed.
type letter struct {
	MessageID  string     `json:"message_id"`
	Reason     string     `json:"reason"`      // rejected, expired, maxlen, delivery_limit; unroutable without x-death
	Queue      string     `json:"queue"`       // where it died
	RoutingKey string     `json:"routing_key"` // the key it is re-driven with
	DiedAt     time.Time  `json:"died_at"`
	Commands   []string   `json:"commands"` // kind and id of each command it holds
	Body       string     `json:"body,omitempty"`
	Headers    amqp.Table `json:"headers,omitempty"`
}

func deadLetters(ctx context.Context, e env, args []string, limit int, all, asJSON bool) error {
	const help = "orderqctl help dead-letters"
	if len(args) == 0 {
		return cli.UsageError{Err: errors.New("list, show or redrive?"), Help: help}
	}
	verb, ids := args[0], args[1:]
	switch {
	case verb == "list" && len(ids) == 0 && limit > 0:
	case verb == "show" && len(ids) == 1:
	case verb == "redrive" && (all != (len(ids) > 0)):
	default:
		return cli.UsageError{Err: fmt.Errorf("dead-letters %s: see the usage", strings.Join(args, " ")), Help: help}
	}
	url := config.String(e.getenv, "AMQP_URL", "")
	if url == "" {
		return errors.New("AMQP_URL is not set: it names the deployment's broker and vhost")
	}
	conn, err := mq.Dial(url, "orderqctl")
	if err != nil {
		return err
	}
	defer conn.Close()
	// Letters read and not acknowledged go back to the queue when the channel
	// closes.
	ch, err := conn.Channel()
	if err != nil {
		return fmt.Errorf("open channel: %w", err)
	}
	defer ch.Close()
	q, err := ch.QueueDeclarePassive(message.DeadQueue, true, false, false, false, amqp.Table{amqp.QueueTypeArg: amqp.QueueTypeQuorum})
	if err != nil {
		return fmt.Errorf("the dead letters' queue %s: %w", message.DeadQueue, err)
	}
	switch verb {
	case "list":
		return listLetters(e, ch, min(limit, q.Messages), asJSON)
	case "show":
		return showLetter(e, ch, q.Messages, ids[0], asJSON)
	default:
		return redrive(ctx, e, conn, ch, q.Messages, ids)
	}
}

// each gets up to n letters, in turn, and calls f with each until it returns false.
func each(ch *amqp.Channel, n int, f func(d amqp.Delivery) (bool, error)) error {
	for range n {
		d, ok, err := ch.Get(message.DeadQueue, false)
		if err != nil {
			return fmt.Errorf("read a dead letter: %w", err)
		}
		if !ok {
			return nil
		}
		more, err := f(d)
		if err != nil || !more {
			return err
		}
	}
	return nil
}

func listLetters(e env, ch *amqp.Channel, n int, asJSON bool) error {
	letters := []letter{}
	err := each(ch, n, func(d amqp.Delivery) (bool, error) {
		letters = append(letters, describe(d, false))
		return true, nil
	})
	if err != nil {
		return err
	}
	if asJSON {
		return writeJSON(e.stdout, letters)
	}
	for _, l := range letters {
		fmt.Fprintf(e.stdout, "%s  %s at %s, from %s (key %s): %s\n", l.MessageID, l.Reason,
			l.DiedAt.Format(time.RFC3339), l.Queue, l.RoutingKey, strings.Join(l.Commands, ", "))
	}
	_, err = fmt.Fprintf(e.stdout, "%d dead letters listed\n", len(letters))
	return err
}

func showLetter(e env, ch *amqp.Channel, n int, id string, asJSON bool) error {
	var found *letter
	err := each(ch, n, func(d amqp.Delivery) (bool, error) {
		if d.MessageId != id {
			return true, nil
		}
		l := describe(d, true)
		found = &l
		return false, nil
	})
	if err != nil {
		return err
	}
	if found == nil {
		return cli.Failure(fmt.Sprintf("no dead letter %s", id))
	}
	if asJSON {
		return writeJSON(e.stdout, found)
	}
	_, err = fmt.Fprintf(e.stdout, "message %s\n%s at %s, from %s (key %s)\ncommands: %s\nheaders: %v\nbody: %s\n",
		found.MessageID, found.Reason, found.DiedAt.Format(time.RFC3339), found.Queue, found.RoutingKey,
		strings.Join(found.Commands, ", "), found.Headers, found.Body)
	return err
}

// redrive publishes the letters named (every one, when ids is empty) back to
// the orders exchange, on a channel of its own in confirm mode, and removes
// each from the dead letters once its publication is confirmed.
func redrive(ctx context.Context, e env, conn *amqp.Connection, ch *amqp.Channel, n int, ids []string) error {
	pub, err := conn.Channel()
	if err != nil {
		return fmt.Errorf("open channel: %w", err)
	}
	defer pub.Close()
	if err := pub.Confirm(false); err != nil {
		return fmt.Errorf("confirm mode: %w", err)
	}
	left := slices.Clone(ids)
	moved := 0
	err = each(ch, n, func(d amqp.Delivery) (bool, error) {
		if len(ids) > 0 {
			i := slices.Index(left, d.MessageId)
			if i < 0 {
				return true, nil
			}
			left = slices.Delete(left, i, i+1)
		}
		l := describe(d, false)
		headers := amqp.Table{}
		for k, v := range d.Headers {
			if !strings.HasPrefix(k, "x-death") && !strings.HasPrefix(k, "x-first-death") && !strings.HasPrefix(k, "x-last-death") {
				headers[k] = v
			}
		}
		conf, err := pub.PublishWithDeferredConfirmWithContext(ctx, message.OrdersExchange, l.RoutingKey, true, false, amqp.Publishing{
			Headers: headers, ContentType: d.ContentType, DeliveryMode: amqp.Persistent, MessageId: d.MessageId,
			Timestamp: d.Timestamp, Type: d.Type, Body: d.Body,
		})
		if err != nil {
			return false, fmt.Errorf("re-drive %s: %w", d.MessageId, err)
		}
		if ok, err := conf.WaitContext(ctx); err != nil || !ok {
			return false, fmt.Errorf("re-drive %s: the broker did not confirm it (%v); it stays a dead letter", d.MessageId, err)
		}
		if err := d.Ack(false); err != nil {
			return false, fmt.Errorf("re-drive %s: published, but not removed from the dead letters: %w", d.MessageId, err)
		}
		moved++
		fmt.Fprintf(e.stdout, "%s re-driven to %s with key %s\n", d.MessageId, message.OrdersExchange, l.RoutingKey)
		return len(ids) == 0 || len(left) > 0, nil
	})
	if err != nil {
		return err
	}
	fmt.Fprintf(e.stdout, "%d dead letters re-driven\n", moved)
	if len(left) > 0 {
		return cli.Failure(fmt.Sprintf("no dead letter %s", strings.Join(left, ", ")))
	}
	return nil
}

// describe reads what a dead letter says of itself: the x-death entry of the
// queue it died in (a letter the orders exchange could not route has none,
// and keeps its own routing key), and the commands of its body.
func describe(d amqp.Delivery, whole bool) letter {
	l := letter{MessageID: d.MessageId, Reason: "unroutable", Queue: "-", RoutingKey: d.RoutingKey, DiedAt: d.Timestamp}
	if deaths, ok := d.Headers["x-death"].([]any); ok && len(deaths) > 0 {
		if death, ok := deaths[0].(amqp.Table); ok {
			l.Reason, _ = death["reason"].(string)
			l.Queue, _ = death["queue"].(string)
			if keys, ok := death["routing-keys"].([]any); ok && len(keys) > 0 {
				l.RoutingKey, _ = keys[0].(string)
			}
			if at, ok := death["time"].(time.Time); ok {
				l.DiedAt = at
			}
		}
	}
	if cmds, err := message.DecodeCommands(d.Body); err == nil {
		for _, c := range cmds {
			l.Commands = append(l.Commands, string(c.Kind)+" "+c.ID)
		}
	} else {
		l.Commands = []string{"undecodable: " + err.Error()}
	}
	if whole {
		l.Body, l.Headers = string(d.Body), d.Headers
	}
	return l
}

// writeJSON writes v as an indented JSON document.
func writeJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}
