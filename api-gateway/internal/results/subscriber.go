package results

import (
	"context"
	"errors"
	"fmt"
	"log/slog"

	"github.com/google/uuid"
	amqp "github.com/rabbitmq/amqp091-go"

	"github.com/orderq/orderq/shared/message"
	"github.com/orderq/orderq/shared/mq"
	"github.com/orderq/orderq/shared/tracing"
)

// Prefetch bounds the results messages delivered to the gateway and not yet
// taken into the cache. Without a bound the broker pushes whatever the
// results queue holds, and the client library buffers it without limit: a
// gateway that falls behind would grow its memory instead of leaving the
// backlog in its queue, where the broker's metrics show it.
const Prefetch = 256

// Subscribe feeds c from the results exchange until ctx is done, through a
// queue of this instance's own (orderq.results.<instance>) that the broker
// deletes when the instance goes, reconnecting whenever the connection is
// lost. With a tracer, each traced result gets a span (ReceiveSpan) in its
// order's trace.
func Subscribe(ctx context.Context, url, instance string, c *Cache, tracer *tracing.Tracer, log *slog.Logger) {
	mq.Reconnect(ctx, log, "results subscription", func(ctx context.Context) (bool, error) {
		return subscribe(ctx, url, instance, c, tracer, log)
	})
}

func subscribe(ctx context.Context, url, instance string, c *Cache, tracer *tracing.Tracer, log *slog.Logger) (served bool, err error) {
	conn, err := mq.Dial(url, "orderq-gateway-results "+instance)
	if err != nil {
		return false, err
	}
	defer conn.Close()
	ch, err := conn.Channel()
	if err != nil {
		return false, fmt.Errorf("open channel: %w", err)
	}
	if err := ch.ExchangeDeclare(message.ResultsExchange, amqp.ExchangeFanout, true, false, false, false, nil); err != nil {
		return false, fmt.Errorf("declare %s: %w", message.ResultsExchange, err)
	}
	// Named by us, not the broker (amq.gen-…), so that a user whose
	// permissions cover only orderq.* resources may declare it, and after
	// the instance, so that the broker's dashboard says whose it is.
	name := message.ResultsQueue(instance)
	q, err := declareResultsQueue(ch, name)
	var ae *amqp.Error
	if errors.As(err, &ae) && ae.Code == amqp.ResourceLocked {
		// Another connection holds the exclusive queue: a gateway with the
		// same INSTANCE, or this one's previous connection, which the
		// broker drops only once its heartbeats stop (a network that
		// stalled). Results must flow now, so under another name, still
		// the instance's; the refusal closed the channel.
		taken := name
		name = message.ResultsQueue(instance + "." + uuid.NewString()[:8])
		log.Warn("results queue held by another connection: is INSTANCE used by another gateway? Using another name",
			"queue", taken, "instance", instance, "instead", name)
		if ch, err = conn.Channel(); err != nil {
			return false, fmt.Errorf("open channel: %w", err)
		}
		q, err = declareResultsQueue(ch, name)
	}
	if err != nil {
		return false, fmt.Errorf("declare results queue: %w", err)
	}
	if err := ch.QueueBind(q.Name, "", message.ResultsExchange, false, nil); err != nil {
		return false, fmt.Errorf("bind results queue: %w", err)
	}
	// What was announced while no queue of ours was bound never arrives:
	// the states cached before may be stale. From here on every change does.
	c.ForgetOrders()
	if err := ch.Qos(Prefetch, 0, false); err != nil {
		return false, fmt.Errorf("results qos: %w", err)
	}
	tag := message.ResultsConsumerTag(instance)
	deliveries, err := ch.Consume(q.Name, tag, false, true, false, false, nil)
	if err != nil {
		return false, fmt.Errorf("consume results: %w", err)
	}
	log.Info("results subscribed", "queue", q.Name, "consumer_tag", tag)
	for {
		select {
		case <-ctx.Done():
			return true, nil
		case d, ok := <-deliveries:
			if !ok {
				return true, fmt.Errorf("results deliveries stopped")
			}
			if rs, err := message.DecodeResults(d.Body); err != nil {
				log.Error("unreadable results message", "message_id", d.MessageId, "err", err)
			} else {
				deliver(c, tracer, d.Headers, rs)
			}
			// Settled once in the cache (or known unreadable): each ack
			// makes room for one more delivery within Prefetch.
			if err := d.Ack(false); err != nil {
				return true, fmt.Errorf("ack results: %w", err)
			}
		}
	}
}

// deliver puts results into the cache, each traced one within its receive
// span.
func deliver(c *Cache, tracer *tracing.Tracer, headers amqp.Table, rs []message.Result) {
	if tracer == nil {
		c.Deliver(rs)
		return
	}
	spans := startReceive(tracer, headers, rs)
	c.Deliver(rs)
	for _, span := range spans {
		span.End()
	}
}

// declareResultsQueue declares a gateway's results queue: exclusive to its
// connection and deleted with it, a classic queue (it holds notifications,
// not orders).
func declareResultsQueue(ch *amqp.Channel, name string) (amqp.Queue, error) {
	return ch.QueueDeclare(name, false, true, true, false, amqp.Table{amqp.QueueTypeArg: amqp.QueueTypeClassic})
}
