// Package mq is orderq's RabbitMQ plumbing: dialling, declaring the topology,
// publishing with confirms over a connection that heals itself, and back-off.
//
// amqp091-go does not reconnect, so every long-lived user here runs its
// connection under Reconnect: it dials, declares, serves until the connection
// closes, backs off with jitter and starts again. Notification channels are
// buffered and always drained, as the library's documentation asks, so a
// blocked reader can never stall the connection.
package mq

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"strings"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"

	"github.com/orderq/orderq/shared/message"
)

// Dial connects to a node of the broker urls names — one URL, or the
// comma-separated URLs of a cluster's nodes — with a heartbeat and a
// connection name that shows in the management dashboard. It tries each node
// once, from a random one: programs spread over the nodes, and a program
// whose node is lost reconnects (see Reconnect) to one that is not.
func Dial(urls, name string) (*amqp.Connection, error) {
	nodes := Nodes(urls)
	start := rand.IntN(len(nodes))
	var errs []error
	for i := range nodes {
		url := nodes[(start+i)%len(nodes)]
		props := amqp.NewConnectionProperties()
		props.SetClientConnectionName(name)
		conn, err := amqp.DialConfig(url, amqp.Config{
			Heartbeat:  5 * time.Second,
			Locale:     "en_US",
			Properties: props,
			Dial:       amqp.DefaultDial(5 * time.Second),
		})
		if err == nil {
			return conn, nil
		}
		if len(nodes) == 1 {
			return nil, fmt.Errorf("dial broker: %w", err)
		}
		errs = append(errs, fmt.Errorf("node %d of %d: %w", (start+i)%len(nodes)+1, len(nodes), err))
	}
	return nil, fmt.Errorf("dial broker: no node of %d answered: %w", len(nodes), errors.Join(errs...))
}

// Nodes splits AMQP_URL's value into the URLs of the nodes it names.
func Nodes(urls string) []string {
	var nodes []string
	for u := range strings.SplitSeq(urls, ",") {
		if u = strings.TrimSpace(u); u != "" {
			nodes = append(nodes, u)
		}
	}
	if len(nodes) == 0 {
		return []string{urls} // for amqp's own error
	}
	return nodes
}

// Topology is what DeclareTopology declares beyond the fixed names.
type Topology struct {
	Shards int
	// MaxLength is the most messages a shard queue holds. Past it the broker
	// refuses a publish with a nack (x-overflow reject-publish), which a
	// Publisher reports as ErrUnavailable: the gateway answers 503, and the
	// outbox keeps its row to publish again.
	MaxLength int
	// QuorumSize is how many nodes hold each quorum queue: a cluster of
	// fewer holds them on every node; 0 leaves it to the broker.
	QuorumSize int
}

// DeclareTopology declares the exchanges and queues of message's doc comment.
// Declaring is idempotent, so every process does it at every (re)connect and
// whoever comes first creates them.
//
// A queue's arguments are fixed when it is created, and the broker refuses a
// declaration with other ones (PRECONDITION_FAILED, which also closes the
// channel). A queue that an older version created without an argument of
// this one's (the bound, the replication size, the leader placement), or with
// another value, is then used as it is, once a passive declaration showed it
// exists, and one warning names the policy command that bounds the shard
// queues: refusing to start would stop a running shop for settings it ran
// without.
func DeclareTopology(conn *amqp.Connection, t Topology, log *slog.Logger) error {
	ch, err := conn.Channel()
	if err != nil {
		return fmt.Errorf("declare topology: open channel: %w", err)
	}
	// ch is replaced after a refused declaration; close the last one.
	defer func() { ch.Close() }()
	if err := ch.ExchangeDeclare(message.DeadExchange, amqp.ExchangeFanout, true, false, false, false, nil); err != nil {
		return fmt.Errorf("declare %s: %w", message.DeadExchange, err)
	}
	// asIs are the queues of an earlier version used as they are, refused
	// the broker's refusal of the first.
	var asIs []string
	var refused string
	declare := func(q string, args amqp.Table) error {
		args[amqp.QueueTypeArg] = amqp.QueueTypeQuorum
		if t.QuorumSize > 0 {
			args["x-quorum-initial-group-size"] = t.QuorumSize
		}
		// A new queue's leader goes to the node with the fewest leaders,
		// not the declarer's: shards spread over the cluster.
		args["x-queue-leader-locator"] = "balanced"
		_, err := ch.QueueDeclare(q, true, false, false, false, args)
		var ae *amqp.Error
		if errors.As(err, &ae) && ae.Code == amqp.PreconditionFailed {
			if ch, err = conn.Channel(); err != nil {
				return fmt.Errorf("declare topology: open channel: %w", err)
			}
			if _, err = ch.QueueDeclarePassive(q, true, false, false, false, nil); err == nil {
				asIs = append(asIs, q)
				if refused == "" {
					refused = ae.Reason
				}
			}
		}
		if err != nil {
			return fmt.Errorf("declare %s: %w", q, err)
		}
		return nil
	}
	if err := declare(message.DeadQueue, amqp.Table{}); err != nil {
		return err
	}
	if err := ch.QueueBind(message.DeadQueue, "", message.DeadExchange, false, nil); err != nil {
		return fmt.Errorf("bind %s: %w", message.DeadQueue, err)
	}
	if err := ch.ExchangeDeclare(message.OrdersExchange, amqp.ExchangeDirect, true, false, false, false, amqp.Table{
		"alternate-exchange": message.DeadExchange,
	}); err != nil {
		return fmt.Errorf("declare %s: %w", message.OrdersExchange, err)
	}
	for n := range t.Shards {
		q := message.ShardQueue(n)
		err := declare(q, amqp.Table{
			amqp.SingleActiveConsumerArg: true,
			"x-delivery-limit":           message.DeliveryLimit,
			"x-dead-letter-exchange":     message.DeadExchange,
			"x-max-length":               t.MaxLength,
			"x-overflow":                 "reject-publish",
		})
		if err != nil {
			return err
		}
		if err := ch.QueueBind(q, message.RoutingKey(n), message.OrdersExchange, false, nil); err != nil {
			return fmt.Errorf("bind %s: %w", q, err)
		}
	}
	if err := ch.ExchangeDeclare(message.ResultsExchange, amqp.ExchangeFanout, true, false, false, false, nil); err != nil {
		return fmt.Errorf("declare %s: %w", message.ResultsExchange, err)
	}
	if len(asIs) > 0 {
		log.Warn("queues of an earlier version used as they are: they exist with other arguments than this version declares "+
			"(a bound, a replication size or a leader placement they lack); run the command in fix to bound the shard queues, "+
			"and see the README for their replication",
			"queues", asIs, "broker_said", refused, "fix", BoundCommand(conn.Config.Vhost, t.MaxLength))
	}
	return nil
}

// ShardQueuePattern matches every shard queue's name and no other queue's, as
// a policy's pattern.
const ShardQueuePattern = `^orderq\.orders\.[0-9]+$`

// BoundCommand is the rabbitmqctl command that bounds vhost's shard queues to
// maxLength messages, refusing publishes past it, as DeclareTopology's
// arguments do for queues it creates. A policy applies to queues that exist,
// quorum queues included.
func BoundCommand(vhost string, maxLength int) string {
	return fmt.Sprintf(`rabbitmqctl set_policy --vhost '%s' --apply-to queues orderq-shard-bound '%s' '{"max-length":%d,"overflow":"reject-publish"}'`,
		strings.ReplaceAll(vhost, "'", `'\''`), ShardQueuePattern, maxLength)
}

// Reconnect runs serve until ctx is done, again each time it returns, after a
// back-off that grows until a connection gets as far as serving (served). what
// names the connection in the warning each loss is logged with.
func Reconnect(ctx context.Context, log *slog.Logger, what string, serve func(context.Context) (served bool, err error)) {
	bo := Backoff{Min: 100 * time.Millisecond, Max: 5 * time.Second}
	for {
		served, err := serve(ctx)
		if ctx.Err() != nil {
			return
		}
		if served {
			bo.Reset()
		}
		wait := bo.Next()
		log.Warn(what+" lost, reconnecting", "err", err, "retry_in", wait.String())
		if !Sleep(ctx, wait) {
			return
		}
	}
}

// Backoff yields growing, jittered waits between reconnect attempts.
type Backoff struct {
	Min, Max time.Duration
	next     time.Duration
}

// Next returns the wait before the next attempt: full jitter over a doubling
// ceiling, so that many processes that lost the broker together do not return
// together.
func (b *Backoff) Next() time.Duration {
	if b.next < b.Min {
		b.next = b.Min
	}
	d := b.next/2 + rand.N(b.next/2+1)
	b.next = min(b.next*2, b.Max)
	return d
}

// Reset starts the waits from Min again, after a connection that worked.
func (b *Backoff) Reset() { b.next = 0 }

// Sleep waits d or until ctx is done, and reports whether ctx is still live.
func Sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}
