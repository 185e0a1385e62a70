// Package retention deletes rejected orders once they are older than the
// retention, in small batches, so the orders table does not grow with every
// refused order of every sale. Nothing else is ever deleted: see
// orderstore.DeleteRejected for what a rejected order must not have to go. Every
// worker replica may run it: each order is deleted once, by whichever
// replica locks it first.
package retention

import (
	"context"
	"log/slog"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"gorm.io/gorm"

	"github.com/orderq/orderq/shared/mq"
	"github.com/orderq/orderq/shared/orderstore"
)

// Config says how much is deleted and how often.
type Config struct {
	// Keep is how long a rejected order is kept after its decision; 0
	// keeps every one, and Run returns at once.
	Keep time.Duration
	// Interval is the time between rounds.
	Interval time.Duration
	// Batch is the most orders deleted in one transaction, and Batches the
	// most transactions in a round; the rest waits for the next round.
	Batch, Batches int
	// Pause is the time between two batches of a round, so that the
	// deletions never hold the database for long.
	Pause time.Duration
}

// Defaults are the worker's settings but for Keep.
var Defaults = Config{Interval: time.Minute, Batch: 1000, Batches: 100, Pause: 100 * time.Millisecond}

// Run deletes rejected orders older than cfg.Keep until ctx is done, a round
// every cfg.Interval, counting them in deleted. A database error ends the
// round; the next one tries again.
func Run(ctx context.Context, db *gorm.DB, cfg Config, deleted prometheus.Counter, log *slog.Logger) {
	if cfg.Keep <= 0 {
		return
	}
	for mq.Sleep(ctx, cfg.Interval) {
		total := 0
		for i := 0; i < cfg.Batches; i++ {
			if i > 0 && !mq.Sleep(ctx, cfg.Pause) {
				break
			}
			n, err := orderstore.DeleteRejected(ctx, db, time.Now().Add(-cfg.Keep), cfg.Batch)
			if err != nil {
				if ctx.Err() == nil {
					log.Warn("rejected orders retention", "err", err)
				}
				break
			}
			total += n
			deleted.Add(float64(n))
			if n < cfg.Batch {
				break
			}
		}
		if total > 0 {
			log.Info("rejected orders deleted", "orders", total, "retention", cfg.Keep.String())
		}
	}
}
