// Package outbox sends commands decided inside a database transaction exactly
// when that transaction commits: Add writes them in the transaction, Relay
// publishes what was committed and deletes each row once the broker confirmed
// it. A crash in between publishes a row again; every command is idempotent by
// its id, so that is harmless.
package outbox

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/google/uuid"
	amqp "github.com/rabbitmq/amqp091-go"
	"gorm.io/gorm"
	"gorm.io/gorm/clause"

	"github.com/orderq/orderq/shared/deployment"
	"github.com/orderq/orderq/shared/message"
	"github.com/orderq/orderq/shared/mq"
	"github.com/orderq/orderq/shared/shard"
)

type row struct {
	ID         int64 `gorm:"primaryKey"`
	RoutingKey string
	Body       []byte
	CreatedAt  time.Time
}

func (row) TableName() string { return "outbox" }

// Add queues cmds for publishing when tx commits, each to its shard.
func Add(tx *gorm.DB, shards int, cmds ...message.Command) error {
	if len(cmds) == 0 {
		return nil
	}
	if err := deployment.Guard(tx, shards); err != nil {
		return fmt.Errorf("outbox: %w", err)
	}
	rows := make([]row, len(cmds))
	now := time.Now().UTC()
	for i := range cmds {
		body, err := message.EncodeCommands(cmds[i : i+1])
		if err != nil {
			return fmt.Errorf("outbox: %w", err)
		}
		rows[i] = row{RoutingKey: message.RoutingKey(shard.Of(cmds[i].Home(), shards)), Body: body, CreatedAt: now}
	}
	if err := tx.Create(&rows).Error; err != nil {
		return fmt.Errorf("outbox: %w", err)
	}
	return nil
}

// Publisher publishes one message and returns once the broker confirmed it.
type Publisher interface {
	Publish(ctx context.Context, exchange, key string, msg amqp.Publishing) error
}

// Relay publishes committed rows until ctx is done: at once when poke
// receives, and every interval otherwise (for rows other processes wrote).
// Several relays may run: each takes rows the others have not locked. When
// ctx is done, the rows in hand are published and deleted (or, when a
// publish fails, left) before Relay returns; the others stay for the next
// relay to run.
func Relay(ctx context.Context, db *gorm.DB, pub Publisher, poke <-chan struct{}, interval time.Duration, log *slog.Logger) {
	tick := time.NewTicker(interval)
	defer tick.Stop()
	for {
		for ctx.Err() == nil {
			n, err := relayOnce(ctx, db, pub)
			if err != nil {
				if ctx.Err() == nil {
					log.Warn("outbox relay", "err", err)
				}
				break
			}
			if n == 0 {
				break
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-poke:
		case <-tick.C:
		}
	}
}

const (
	relayBatch = 100
	// relayTimeout bounds one batch: its publishes wait for their confirms
	// (the publisher bounds each), then its rows are deleted.
	relayTimeout = 15 * time.Second
)

// relayOnce publishes and deletes up to relayBatch rows in one transaction,
// which shutdown (ctx) does not cut short: a batch cut between its publishes
// and its delete would be published again.
func relayOnce(ctx context.Context, db *gorm.DB, pub Publisher) (int, error) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), relayTimeout)
	defer cancel()
	var n int
	err := db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		var rows []row
		err := tx.Clauses(clause.Locking{Strength: "UPDATE", Options: "SKIP LOCKED"}).
			Order("id").Limit(relayBatch).Find(&rows).Error
		if err != nil || len(rows) == 0 {
			return err
		}
		// Published concurrently: the rows are independent commands, and one
		// confirm wait each in turn would cap the relay at a few hundred a second.
		ids := make([]int64, len(rows))
		errs := make([]error, len(rows))
		var wg sync.WaitGroup
		for i := range rows {
			ids[i] = rows[i].ID
			wg.Go(func() {
				errs[i] = pub.Publish(ctx, message.OrdersExchange, rows[i].RoutingKey, amqp.Publishing{
					ContentType: message.ContentType, DeliveryMode: amqp.Persistent,
					MessageId: uuid.NewString(), Timestamp: time.Now(), Type: "orderq.commands", Body: rows[i].Body,
				})
			})
		}
		wg.Wait()
		if err := errors.Join(errs...); err != nil {
			return fmt.Errorf("publish outbox rows: %w", err)
		}
		n = len(rows)
		return tx.Where("id IN ?", ids).Delete(&row{}).Error
	})
	return n, err
}

// Backlog is what the outbox holds: its rows, committed and not yet
// published, and the age of the oldest (0 when there is none).
type Backlog struct {
	Rows   int64
	Oldest time.Duration
}

// ReadBacklog reads the outbox's backlog. A relay deletes each row once
// published, so the table holds the backlog alone and stays small while the
// relays keep up.
func ReadBacklog(ctx context.Context, db *gorm.DB) (Backlog, error) {
	var b Backlog
	if err := db.WithContext(ctx).Model(&row{}).Count(&b.Rows).Error; err != nil {
		return b, fmt.Errorf("outbox backlog: %w", err)
	}
	if b.Rows == 0 {
		return b, nil
	}
	var oldest []row
	if err := db.WithContext(ctx).Select("id", "created_at").Order("id").Limit(1).Find(&oldest).Error; err != nil {
		return b, fmt.Errorf("outbox backlog: %w", err)
	}
	if len(oldest) > 0 {
		b.Oldest = max(time.Since(oldest[0].CreatedAt), 0)
	}
	return b, nil
}

// Watch reads the backlog every interval and hands it to report until ctx is
// done. A read that fails is logged and reported as nothing: the next one
// tries again.
func Watch(ctx context.Context, db *gorm.DB, interval time.Duration, report func(Backlog), log *slog.Logger) {
	for {
		rctx, cancel := context.WithTimeout(ctx, interval)
		b, err := ReadBacklog(rctx, db)
		cancel()
		if err != nil && ctx.Err() == nil {
			log.Warn("outbox backlog", "err", err)
		}
		if err == nil {
			report(b)
		}
		if !mq.Sleep(ctx, interval) {
			return
		}
	}
}
