// Package expiry cancels confirmed orders that were not paid in time and gives
// their stock back. Every worker replica may run it: each order is canceled
// once, by whichever replica locks it first.
package expiry

import (
	"context"
	"log/slog"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	amqp "github.com/rabbitmq/amqp091-go"
	"gorm.io/gorm"

	"github.com/orderq/orderq/shared/message"
	"github.com/orderq/orderq/shared/mq"
	"github.com/orderq/orderq/shared/orderstore"
)

// Publisher publishes one message and returns once the broker confirmed it.
type Publisher interface {
	Publish(ctx context.Context, exchange, key string, msg amqp.Publishing) error
}

// Run cancels orders unpaid for longer than timeout until ctx is done,
// checking every interval, and tells the gateways (through the results
// exchange) so their caches show the cancellation. Its lines still hold their
// stock then; the shards that release it publish the order again. Each
// cancellation counts in canceled.
func Run(ctx context.Context, db *gorm.DB, pub Publisher, timeout, interval time.Duration, shards int,
	canceled prometheus.Counter, log *slog.Logger) {
	for mq.Sleep(ctx, interval) {
		for {
			expired, err := orderstore.ExpireUnpaid(ctx, db, time.Now().Add(-timeout), 100, shards)
			if err != nil {
				if ctx.Err() == nil {
					log.Warn("payment timeout sweep", "err", err)
				}
				break
			}
			if len(expired) == 0 {
				break
			}
			canceled.Add(float64(len(expired)))
			results := make([]message.Result, len(expired))
			for i := range expired {
				log.Info("order canceled: payment timeout", "order_id", expired[i].ID)
				results[i] = message.Result{Kind: message.KindOrder, ID: expired[i].ID, Order: &expired[i]}
			}
			body, err := message.EncodeResults(results)
			if err != nil {
				log.Error("encode expired orders", "err", err)
				continue
			}
			if err := pub.Publish(ctx, message.ResultsExchange, "", amqp.Publishing{ContentType: message.ContentType, Body: body}); err != nil {
				log.Warn("publish expired orders", "err", err)
			}
		}
	}
}
