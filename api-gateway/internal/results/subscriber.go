package results

import (
	"context"
	"fmt"
	"log/slog"

	"github.com/google/uuid"
	amqp "github.com/rabbitmq/amqp091-go"

	"github.com/orderq/orderq/shared/message"
	"github.com/orderq/orderq/shared/mq"
	"github.com/orderq/orderq/shared/tracing"
)

// Subscribe feeds c from the results exchange until ctx is done, through a
// queue of this instance's own that the broker deletes when the instance goes,
// reconnecting whenever the connection is lost. With a tracer, each traced
// result gets a span (ReceiveSpan) in its order's trace.
func Subscribe(ctx context.Context, url, name string, c *Cache, tracer *tracing.Tracer, log *slog.Logger) {
	mq.Reconnect(ctx, log, "results subscription", func(ctx context.Context) (bool, error) {
		return subscribe(ctx, url, name, c, tracer, log)
	})
}

func subscribe(ctx context.Context, url, name string, c *Cache, tracer *tracing.Tracer, log *slog.Logger) (served bool, err error) {
	conn, err := mq.Dial(url, name)
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
	// permissions cover only orderq.* resources may declare it.
	q, err := ch.QueueDeclare(message.ResultsQueue(uuid.NewString()), false, true, true, false, amqp.Table{amqp.QueueTypeArg: amqp.QueueTypeClassic})
	if err != nil {
		return false, fmt.Errorf("declare results queue: %w", err)
	}
	if err := ch.QueueBind(q.Name, "", message.ResultsExchange, false, nil); err != nil {
		return false, fmt.Errorf("bind results queue: %w", err)
	}
	// What was announced while no queue of ours was bound never arrives:
	// the states cached before may be stale. From here on every change does.
	c.ForgetOrders()
	deliveries, err := ch.Consume(q.Name, "", true, true, false, false, nil)
	if err != nil {
		return false, fmt.Errorf("consume results: %w", err)
	}
	log.Info("results subscribed", "queue", q.Name)
	for {
		select {
		case <-ctx.Done():
			return true, nil
		case d, ok := <-deliveries:
			if !ok {
				return true, fmt.Errorf("results deliveries stopped")
			}
			rs, err := message.DecodeResults(d.Body)
			if err != nil {
				log.Error("unreadable results message", "message_id", d.MessageId, "err", err)
				continue
			}
			if tracer == nil {
				c.Deliver(rs)
				continue
			}
			spans := startReceive(tracer, d.Headers, rs)
			c.Deliver(rs)
			for _, span := range spans {
				span.End()
			}
		}
	}
}
